import Datasets
import Foundation
import Networks
import Tensors

/// Optimizer choice of a training command.
public enum OptimizerKind: String, CaseIterable, Codable {
    /// SGD with momentum (and weight decay), the CIFAR/KD default.
    case sgd
    /// SGD with Nesterov momentum.
    case nesterov
    /// Adam with L2 weight decay.
    case adam
    /// AdamW (decoupled weight decay).
    case adamw
}

/// Learning-rate schedule of a training command, applied per optimizer step.
public enum ScheduleKind: String, CaseIterable, Codable {
    /// Constant learning rate.
    case constant
    /// Cosine annealing to 0 over the run (`CosineAnnealingLR`).
    case cosine
    /// × 0.1 at 50% and 75% of the run (`MultiStepLR`, the CIFAR recipe).
    case step
}

/// Hyper-parameters shared by every training command. Defaults follow the CIFAR/KD literature
/// (RepDistiller): SGD, momentum 0.9, weight decay 5e-4, cosine schedule; the REPL fills `learningRate` and
/// `batchSize` from its session options `lr` and `batch` unless a command gives them. SSKD's mimic and head
/// have their own defaults (`SSKDDefaults`).
public struct TrainingConfig: Equatable {
    /// Passes over the training images (ignored when `steps` is set).
    public var epochs: Int = 1
    /// The budget in optimizer steps; when set, the run ends after exactly this many steps (the last epoch
    /// may be partial) and `epochs` is derived from it.
    public var steps: Int?
    public var batchSize: Int = 128
    public var learningRate: Float = 0.05
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var optimizer: OptimizerKind = .sgd
    public var schedule: ScheduleKind = .cosine
    /// Linear warm-up steps at the start (0 = none).
    public var warmupSteps: Int = 0
    /// Cross-entropy label smoothing ε (classification losses only).
    public var labelSmoothing: Float = 0
    /// Seed of batch order and augmentation (mixed with the data's seed and the epoch).
    public var seed: UInt64 = 0
    /// Early stop: end the run when the validation metric (feature distance for mimic runs, top-1 otherwise)
    /// has not improved for this many validations in a row; nil = never. The last weights are kept.
    public var patience: Int?
    /// Validate every this many epochs (and always after the last one); validation is counted in the run's compute.
    public var validateEvery: Int = 1

    public init() {}

    /// Checks ranges before any work.
    /// - Throws: `DistillationError.invalidOption` naming the option.
    public func validate() throws {
        guard epochs >= 1 else {
            throw DistillationError.invalidOption(name: "epochs", reason: "must be at least 1, got \(epochs)")
        }
        if let steps, steps < 1 {
            throw DistillationError.invalidOption(name: "steps", reason: "must be at least 1, got \(steps)")
        }
        if let patience, patience < 1 {
            throw DistillationError.invalidOption(name: "patience", reason: "must be at least 1, got \(patience)")
        }
        guard validateEvery >= 1 else {
            throw DistillationError.invalidOption(name: "val_every", reason: "must be at least 1, got \(validateEvery)")
        }
        guard batchSize >= 1 && batchSize <= 65_536 else {
            throw DistillationError.invalidOption(name: "batch", reason: "must be in 1...65536, got \(batchSize)")
        }
        guard learningRate > 0 && learningRate.isFinite else {
            throw DistillationError.invalidOption(name: "lr", reason: "must be positive, got \(learningRate)")
        }
        guard (0..<1).contains(momentum) else {
            throw DistillationError.invalidOption(name: "momentum", reason: "must be in [0, 1), got \(momentum)")
        }
        guard weightDecay >= 0 else {
            throw DistillationError.invalidOption(name: "wd", reason: "must be non-negative, got \(weightDecay)")
        }
        guard (0...1).contains(labelSmoothing) else {
            throw DistillationError.invalidOption(name: "smoothing", reason: "must be in [0, 1], got \(labelSmoothing)")
        }
    }

    /// Optimizer steps of a run over `batchesPerEpoch` batches per epoch: `steps`, else epochs × batches.
    public func totalSteps(batchesPerEpoch: Int) -> Int { steps ?? epochs * batchesPerEpoch }

    /// Validations of a run of `steps` steps: after every `validateEvery`-th epoch and after the last one.
    public func validations(steps: Int, batchesPerEpoch: Int) -> Int {
        let epochs = (steps + batchesPerEpoch - 1) / batchesPerEpoch
        return epochs / validateEvery + (epochs % validateEvery == 0 ? 0 : 1)
    }

    /// Whether epoch `epoch` (1-based) of `epochCount` ends with a validation.
    func validates(epoch: Int, of epochCount: Int) -> Bool { epoch % validateEvery == 0 || epoch == epochCount }

    /// The common hyper-parameters as report strings.
    public var hyperParameters: [String: String] {
        let g = { (v: Float) in String(format: "%g", Double(v)) }
        var hp = [
            "batch": "\(batchSize)", "lr": g(learningRate), "optimizer": optimizer.rawValue,
            "wd": g(weightDecay), "schedule": schedule.rawValue, "seed": "\(seed)",
        ]
        if optimizer == .sgd || optimizer == .nesterov { hp["momentum"] = g(momentum) }
        if let steps { hp["steps"] = "\(steps)" } else { hp["epochs"] = "\(epochs)" }
        if let patience { hp["patience"] = "\(patience)" }
        if validateEvery > 1 { hp["val_every"] = "\(validateEvery)" }
        return hp
    }

    func makeOptimizer(_ parameters: [Tensor]) throws -> Optimizer {
        switch optimizer {
        case .sgd, .nesterov:
            return try SGD(
                parameters, lr: learningRate, momentum: momentum, weightDecay: weightDecay,
                nesterov: optimizer == .nesterov && momentum > 0)
        case .adam, .adamw:
            return try Adam(parameters, lr: learningRate, weightDecay: weightDecay, decoupled: optimizer == .adamw)
        }
    }

    func scheduleFor(totalSteps: Int) -> LearningRateSchedule {
        let main: LearningRateSchedule
        let rest = max(1, totalSteps - warmupSteps)
        switch schedule {
        case .constant: main = .constant
        case .cosine: main = .cosine(total: rest, minimum: 0)
        case .step: main = .multiStep(milestones: [rest / 2, rest * 3 / 4], gamma: 0.1)
        }
        return warmupSteps > 0 ? .warmup(steps: warmupSteps, startFactor: 0.1, then: main) : main
    }
}

/// Metrics measured at the end of an epoch, and what measuring them cost.
public struct EpochMetrics {
    public var top1: Double?, valLoss: Double?, featureDistance: Double?, cosine: Double?
    /// MACs the measurement spent (added to the record's `compute.evaluation`).
    public var macs: Int
    public init(
        top1: Double? = nil, valLoss: Double? = nil, featureDistance: Double? = nil, cosine: Double? = nil,
        macs: Int = 0
    ) {
        self.top1 = top1
        self.valLoss = valLoss
        self.featureDistance = featureDistance
        self.cosine = cosine
        self.macs = macs
    }

    /// The number early stopping watches, oriented so that larger is better: −distance for mimic runs, else
    /// top-1, else −loss.
    var score: Double? { featureDistance.map { -$0 } ?? top1 ?? valLoss.map { -$0 } }
}

/// The one training loop every command uses (scratch, KD, FitNets, AT, SSKD mimic and head).
///
/// Per batch: set the scheduled learning rate, zero gradients, compute the loss with `step`, check it is
/// finite, backpropagate, update. Per epoch (and after the last step of a `steps` budget): measure `validate`,
/// record, report a line, and keep a copy of every tensor in `guarded` as the last good state. A NaN/Inf loss
/// restores that state and ends the run with status `.diverged` naming the step and the loss; Ctrl-C
/// (`observer.shouldStop`) ends it after the current batch with status `.interrupted`, models intact; `patience`
/// ends it early (status `.completed`, `stopReason` says why).
public enum Trainer {
    /// Runs the loop and fills `record` (epochs, steps, and `compute`: `stepCost` per image of every step,
    /// plus what `validate` reports).
    /// - Parameters:
    ///   - trainable: tensors the optimizer updates (frozen ones are filtered out).
    ///   - guarded: every tensor (parameters and buffers) to restore on divergence.
    ///   - images: which training images the batches hold (`.all` for label-free losses: unlabelled images then
    ///     carry label −1).
    ///   - stepCost: MACs per image of one step, split into student training and teacher forwards.
    ///   - step: the loss for one batch (with the graph recorded).
    ///   - validate: metrics at the end of epoch `e` (1-based).
    /// - Throws: `DistillationError.nothingToTrain` when `trainable` has no unfrozen tensor, `.emptySplit` when no
    ///   training image is selected, `.invalidOption("patience")` when `patience` is set and `data` has no
    ///   validation split; errors of `step`.
    public static func run(
        _ record: RunRecord, trainable: [Tensor], guarded: [Tensor], data: DataSplits,
        config: TrainingConfig, images: TrainImages = .labelled, stepCost: ComputeCost = ComputeCost(),
        observer: TrainingObserver, what: String,
        step: (Batch) throws -> Tensor, validate: (Int) throws -> EpochMetrics
    ) throws {
        try config.validate()
        if config.patience != nil && data.val.count == 0 {
            throw DistillationError.invalidOption(
                name: "patience",
                reason: "stops on validation numbers, and this data has "
                    + "no validation split (early stopping on test numbers selects on the test set); hold one out "
                    + "with data ... val=N"
            )
        }
        let params = trainable.filter(\.requiresGrad)
        guard !params.isEmpty else { throw DistillationError.nothingToTrain(what: what) }
        let perEpoch = try data.batches(
            .train, batchSize: config.batchSize, epoch: 0, seed: config.seed, images: images
        ).count
        guard perEpoch > 0 else { throw DistillationError.emptySplit(images == .all ? "train" : "labelled train") }
        let totalSteps = config.totalSteps(batchesPerEpoch: perEpoch)
        let epochCount = (totalSteps + perEpoch - 1) / perEpoch
        let optimizer = try config.makeOptimizer(params)
        let schedule = config.scheduleFor(totalSteps: totalSteps)
        var lastGood = guarded.map(\.data)
        let start = Date()
        var stepIndex = 0
        var best = -Double.infinity
        var sinceBest = 0
        defer { record.seconds += Date().timeIntervalSince(start) }
        epochs: for epoch in 1...epochCount {
            let batches = try data.batches(
                .train, batchSize: config.batchSize, epoch: epoch - 1, seed: config.seed, images: images)
            let batchesThisEpoch = min(batches.count, totalSteps - stepIndex)
            let epochStart = Date()
            var lossSum = 0.0
            var seen = 0
            var batchNumber = 0
            for batch in batches {
                if batchNumber == batchesThisEpoch { break }
                optimizer.learningRate = schedule.rate(at: stepIndex, base: config.learningRate)
                optimizer.zeroGrad()
                let loss = try step(batch)
                let value = Double(loss.item)
                let n = batch.indices.count
                record.compute.training += stepCost.training * n
                record.compute.teacher += stepCost.teacher * n
                guard value.isFinite else {
                    for (t, d) in zip(guarded, lastGood) { t.data = d }
                    for p in params { p.zeroGrad() }
                    record.status = .diverged
                    record.stopReason =
                        "loss became \(value) at step \(stepIndex + 1) (epoch \(epoch)); weights restored to "
                        + (epoch == 1 ? "the start of the run" : "the end of epoch \(epoch - 1)")
                    observer.report("\(record.name): stopped, \(record.stopReason!)")
                    return
                }
                try loss.backward()
                optimizer.step()
                stepIndex += 1
                batchNumber += 1
                lossSum += value * Double(n)
                seen += n
                record.steps.append(
                    .init(step: stepIndex, epoch: epoch, loss: value, learningRate: Double(optimizer.learningRate)))
                let elapsed = Date().timeIntervalSince(epochStart)
                let rate = Double(seen) / max(elapsed, 1e-9)
                let remaining = Double(totalSteps - stepIndex) * elapsed / Double(batchNumber)
                observer.batchEnded(
                    BatchProgress(
                        run: record.name, epoch: epoch, epochs: epochCount, batch: batchNumber,
                        batches: batchesThisEpoch, loss: value, imagesPerSecond: rate, eta: remaining))
                if observer.shouldStop {
                    record.status = .interrupted
                    record.stopReason =
                        "interrupted at step \(stepIndex) (epoch \(epoch), batch \(batchNumber)/\(batchesThisEpoch))"
                    observer.report("\(record.name): \(record.stopReason!); models are consistent")
                    break epochs
                }
            }
            let metrics: EpochMetrics
            do {
                // Data with neither a val nor a test split (a single ImageFolder split) has nothing to validate on.
                let canValidate = data.val.count > 0 || data.test.count > 0
                metrics =
                    canValidate && config.validates(epoch: epoch, of: epochCount) ? try validate(epoch) : EpochMetrics()
            } catch DistillationError.interrupted {
                // Ctrl-C during the validation pass: the steps of this epoch happened, so the run is kept, as
                // interrupted.
                record.status = .interrupted
                record.stopReason = "interrupted while validating after step \(stepIndex) (epoch \(epoch))"
                observer.report("\(record.name): \(record.stopReason!); models are consistent")
                break epochs
            }
            record.compute.evaluation += metrics.macs
            if let bad = [metrics.valLoss, metrics.top1, metrics.featureDistance].compactMap({ $0 }).first(where: {
                !$0.isFinite
            }) {
                for (t, d) in zip(guarded, lastGood) { t.data = d }
                record.status = .diverged
                record.stopReason =
                    "validation gave \(bad) after epoch \(epoch); weights restored to "
                    + (epoch == 1 ? "the start of the run" : "the end of epoch \(epoch - 1)")
                observer.report("\(record.name): stopped, \(record.stopReason!)")
                return
            }
            let entry = RunRecord.Epoch(
                epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)), top1: metrics.top1,
                valLoss: metrics.valLoss, featureDistance: metrics.featureDistance, cosine: metrics.cosine,
                seconds: record.seconds + Date().timeIntervalSince(start))
            record.epochs.append(entry)
            lastGood = guarded.map(\.data)
            observer.report(
                record.epochLine(
                    entry, of: epochCount,
                    imagesPerSecond: Double(seen) / max(Date().timeIntervalSince(epochStart), 1e-9)))
            if let patience = config.patience, let score = metrics.score {
                if score > best {
                    best = score
                    sinceBest = 0
                } else {
                    sinceBest += 1
                }
                if sinceBest >= patience && epoch < epochCount {
                    record.stopReason =
                        "early stop after epoch \(epoch) of \(epochCount): no improvement in \(patience) validation(s)"
                    observer.report("\(record.name): \(record.stopReason!)")
                    break epochs
                }
            }
        }
    }
}

/// Tensors of a model's units (parameters, or parameters and buffers) whose dotted names start with one of `paths`.
func tensors(of model: Model, units paths: [String], buffers: Bool = false) -> [Tensor] {
    let entries = buffers ? model.stateDict() : model.namedParameters()
    return entries.filter { name, _ in paths.contains { name.hasPrefix($0 + ".") } }.map(\.1)
}

/// Every parameter and buffer of `model` (what a divergence restores).
func allState(_ model: Model) -> [Tensor] { model.stateDict().map(\.1) }
