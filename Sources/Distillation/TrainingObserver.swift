import Foundation

/// Where a training run reports, as structured events: every batch (for a progress display), every epoch's
/// results, a run that ended before its planned last step, and how FitNets shared a compute budget; also the
/// batches of the passes that are not training steps (evaluation, the gap report, building a feature cache), when
/// a `ProgressReporter` is given to them. Drawing and wording are the observer's (the interpreter's console
/// observer); this module does no terminal I/O.
public protocol TrainingObserver: AnyObject {
    /// After every optimizer step.
    func batchEnded(_ progress: BatchProgress)
    /// After every epoch, once its validation (if any) is measured and recorded.
    func epochEnded(_ progress: EpochProgress)
    /// The run ended early: `record.status` says how (`.diverged`, `.interrupted`, or `.completed` by early
    /// stopping) and `record.stopReason` why.
    func runStopped(_ record: RunRecord)
    /// FitNets sized its KD run to what its hint stage left of a compute budget (`Baselines.fitnet` `budget`).
    func budgetShared(_ share: BudgetShare)
    /// After every batch of a pass given a `ProgressReporter`: `evaluate`, `GapReport.measure`, a feature cache.
    func passProgressed(_ progress: PassProgress)
}

extension TrainingObserver {
    /// Ignores the progress of passes (an observer that follows training only).
    public func passProgressed(_ progress: PassProgress) {}
}

/// Where a pass over a split's batches reports its progress: the observer, and what the pass does.
public struct ProgressReporter {
    /// Receives `passProgressed` after every batch.
    public var observer: TrainingObserver
    /// What the pass does, as the observer shows it: `eval teacher on test`, `gap: student on test`.
    public var task: String

    /// A reporter of the passes named `task` to `observer`.
    public init(_ observer: TrainingObserver, task: String) {
        self.observer = observer
        self.task = task
    }

    /// The same observer for a pass named `task`.
    public func named(_ task: String) -> ProgressReporter { ProgressReporter(observer, task: task) }
}

/// The state of a pass (not a training step) after one batch.
public struct PassProgress {
    /// What the pass does (`ProgressReporter.task`).
    public var task: String
    /// Images done so far and the images of the whole pass.
    public var images: Int, total: Int
    /// Throughput so far (images per second).
    public var imagesPerSecond: Double
    /// Estimated seconds to the end of the pass, at that throughput.
    public var eta: Double
}

/// Counts the images of one pass and reports them after every batch, when a reporter is given.
struct PassMeter {
    let reporter: ProgressReporter?
    let total: Int
    private let start = Date()
    private var images = 0

    /// A meter of a pass over `total` images reporting to `reporter` (nil: counts nothing).
    init(_ reporter: ProgressReporter?, total: Int) {
        self.reporter = reporter
        self.total = total
    }

    /// Adds a batch of `count` images and reports the pass so far.
    mutating func add(_ count: Int) {
        guard let reporter else { return }
        images += count
        let elapsed = max(Date().timeIntervalSince(start), 1e-9)
        let rate = Double(images) / elapsed
        reporter.observer.passProgressed(
            PassProgress(
                task: reporter.task, images: images, total: total, imagesPerSecond: rate,
                eta: Double(max(total - images, 0)) / max(rate, 1e-9)))
    }
}

/// The state of a run after one batch.
public struct BatchProgress {
    /// Run name (`sskd stage 2`).
    public var run: String
    /// 1-based epoch and the run's epoch count.
    public var epoch: Int, epochs: Int
    /// 1-based batch within the epoch and the epoch's batch count.
    public var batch: Int, batches: Int
    /// This batch's loss.
    public var loss: Double
    /// Mean loss of the epoch's batches so far, weighted by their images: what the epoch line reports as `loss`
    /// once the epoch ends.
    public var meanLoss: Double
    /// Training throughput over the epoch so far (images per second).
    public var imagesPerSecond: Double
    /// Estimated seconds to the end of the run.
    public var eta: Double
}

/// The end of one epoch: its entry as recorded, and the epoch's training throughput.
public struct EpochProgress {
    /// The run (its name and validation split).
    public var record: RunRecord
    /// The epoch's entry, as appended to `record.epochs`.
    public var epoch: RunRecord.Epoch
    /// Epochs the run plans.
    public var epochs: Int
    /// Training images per second over the epoch (validation included in the time).
    public var imagesPerSecond: Double
}

/// How `Baselines.fitnet` shared a compute budget (MACs) between its hint stage and its KD run.
public struct BudgetShare {
    /// The whole budget.
    public var budget: Int
    /// What the hint stage spent (`RunRecord.compute.total`).
    public var hintStage: Int
    /// KD steps the rest buys, nil when it does not pay for one.
    public var kdSteps: Int?
    /// What those steps cost, or one step when `kdSteps` is nil.
    public var kdCost: Int

    /// Why there is no KD run, when `kdSteps` is nil (the hint record's `stopReason`).
    public var shortfall: String {
        "the hint stage spent \(ComputeCost.format(hintStage)) of the budget \(ComputeCost.format(budget)); "
            + "what is left does not pay for one KD step (\(ComputeCost.format(kdCost)))"
    }
}
