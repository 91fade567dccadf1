/// Where a training run reports, as structured events: every batch (for a progress display), every epoch's
/// results, a run that ended before its planned last step, and how FitNets shared a compute budget. Drawing
/// and wording are the observer's (the interpreter's console observer); this module does no terminal I/O.
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
