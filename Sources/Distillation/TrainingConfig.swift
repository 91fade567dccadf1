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
/// (RepDistiller): SGD, momentum 0.9, weight decay 5e-4, cosine schedule (`Defaults`); learning rate 0.1 and
/// batch 64 are also the defaults of the REPL's session options `lr` and `batch`, which fill these fields unless a
/// command gives them. SSKD's mimic and head have their own defaults (`SSKD.Defaults`).
public struct TrainingConfig: Equatable {
    /// The default of every field, the one place each is defined (commands read their option defaults here).
    public enum Defaults {
        /// Passes over the training images.
        public static let epochs = 1
        /// Images per mini-batch (the session option `batch` starts here).
        public static let batchSize = 64
        /// Peak learning rate (the session option `lr` starts here).
        public static let learningRate: Float = 0.1
        /// SGD momentum (sgd, nesterov).
        public static let momentum: Float = 0.9
        /// Weight decay (L2 for SGD and Adam, decoupled for AdamW).
        public static let weightDecay: Float = 5e-4
        /// Optimizer.
        public static let optimizer = OptimizerKind.sgd
        /// Learning-rate schedule over the run's steps.
        public static let schedule = ScheduleKind.cosine
        /// Linear warm-up steps (none).
        public static let warmupSteps = 0
        /// Cross-entropy label smoothing ε (none).
        public static let labelSmoothing: Float = 0
        /// Validate after every epoch.
        public static let validateEvery = 1
    }

    /// The accepted ranges that `validate()` checks and the commands declare as their options' bounds, each
    /// defined here once. The learning rate must be positive and finite, the weight decay non-negative.
    public enum Limits {
        /// The least epochs, steps, patience and validation interval (`val_every`).
        public static let minimumCount = 1
        /// Images per mini-batch.
        public static let batchSize = 1...65_536
        /// SGD momentum (1 would never forget a gradient).
        public static let momentum: Range<Float> = 0..<1
        /// Label smoothing ε.
        public static let labelSmoothing: ClosedRange<Float> = 0...1
    }

    /// Passes over the training images (ignored when `steps` is set).
    public var epochs = Defaults.epochs
    /// The budget in optimizer steps; when set, the run ends after exactly this many steps (the last epoch
    /// may be partial) and `epochs` is derived from it.
    public var steps: Int?
    /// Images per mini-batch.
    public var batchSize = Defaults.batchSize
    /// Peak learning rate (after warm-up, before the schedule's decay).
    public var learningRate = Defaults.learningRate
    /// SGD momentum (sgd and nesterov only).
    public var momentum = Defaults.momentum
    /// Weight decay.
    public var weightDecay = Defaults.weightDecay
    /// Optimizer.
    public var optimizer = Defaults.optimizer
    /// Learning-rate schedule, applied per optimizer step.
    public var schedule = Defaults.schedule
    /// Linear warm-up steps at the start (0 = none).
    public var warmupSteps = Defaults.warmupSteps
    /// Cross-entropy label smoothing ε (classification losses only).
    public var labelSmoothing = Defaults.labelSmoothing
    /// Seed of batch order and augmentation (mixed with the data's seed and the epoch).
    public var seed: UInt64 = 0
    /// Early stop: end the run when the validation metric (feature distance for mimic runs, top-1 otherwise)
    /// has not improved for this many validations in a row; nil = never. The last weights are kept.
    public var patience: Int?
    /// Validate every this many epochs (and always after the last one); validation is counted in the run's compute.
    public var validateEvery = Defaults.validateEvery

    public init() {}

    /// Checks the fields against `Limits` before any work (the REPL checks its options' bounds when it binds them;
    /// this is the check for API callers).
    /// - Throws: `DistillationError.invalidOption` naming the option (`epochs`, `steps`, `patience`, `val_every`,
    ///   `batch`, `lr`, `momentum`, `wd`, `smoothing`) and the bound.
    public func validate() throws {
        let least = Limits.minimumCount
        let counts = [("epochs", epochs), ("steps", steps), ("patience", patience), ("val_every", validateEvery)]
        for case (let name, let value?) in counts where value < least {
            throw DistillationError.invalidOption(name: name, reason: "must be at least \(least), got \(value)")
        }
        guard Limits.batchSize.contains(batchSize) else {
            throw DistillationError.invalidOption(
                name: "batch",
                reason: "must be in \(Limits.batchSize.lowerBound)...\(Limits.batchSize.upperBound), got \(batchSize)")
        }
        guard learningRate > 0 && learningRate.isFinite else {
            throw DistillationError.invalidOption(name: "lr", reason: "must be positive, got \(learningRate)")
        }
        guard Limits.momentum.contains(momentum) else {
            let m = Limits.momentum
            throw DistillationError.invalidOption(
                name: "momentum", reason: "must be in [\(g(m.lowerBound)), \(g(m.upperBound))), got \(momentum)")
        }
        guard weightDecay >= 0 else {
            throw DistillationError.invalidOption(name: "wd", reason: "must be non-negative, got \(weightDecay)")
        }
        guard Limits.labelSmoothing.contains(labelSmoothing) else {
            let l = Limits.labelSmoothing
            throw DistillationError.invalidOption(
                name: "smoothing", reason: "must be in [\(g(l.lowerBound)), \(g(l.upperBound))], got \(labelSmoothing)")
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

    /// The common hyper-parameters as report strings: every field that shaped the run (momentum for SGD and
    /// Nesterov only; label smoothing, warm-up, patience and the validation interval when set).
    public var hyperParameters: [String: String] {
        var hp = [
            "batch": "\(batchSize)", "lr": g(learningRate), "optimizer": optimizer.rawValue,
            "wd": g(weightDecay), "schedule": schedule.rawValue, "seed": "\(seed)",
        ]
        if optimizer == .sgd || optimizer == .nesterov { hp["momentum"] = g(momentum) }
        if let steps { hp["steps"] = "\(steps)" } else { hp["epochs"] = "\(epochs)" }
        if labelSmoothing > 0 { hp["smoothing"] = g(labelSmoothing) }
        if warmupSteps > 0 { hp["warmup"] = "\(warmupSteps)" }
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

/// A Float as `%g` writes it (0.9, 5e-04 → 0.0005, 1).
private func g(_ value: Float) -> String { String(format: "%g", Double(value)) }
