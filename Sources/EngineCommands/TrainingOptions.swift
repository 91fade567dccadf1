import Datasets
import Distillation
import Foundation
import Language
import Networks
import Tensors

// The options every training command shares, and the `TrainingConfig` built from them.

/// The options every training command takes, each declared once with its type, default, bounds and help.
/// Defaults and bounds come from `TrainingConfig.Defaults`/`Limits`, or from a command's own configuration
/// (SSKD's mimic: `SSKD.Defaults.mimic`, a budget in steps). `TrainingOptions` reads a call's values through the
/// same declarations.
struct TrainingDeclarations {
    let epochs: TypedOption<Int>
    let steps: TypedOption<Int>
    let lr: TypedOption<Double>
    let batch = TrainingDeclarations.batch
    let momentum: TypedOption<Double>
    let wd: TypedOption<Double>
    let optimizer: TypedOption<OptimizerKind>
    let schedule: TypedOption<ScheduleKind>
    let warmup: TypedOption<Int>
    let smoothing: TypedOption<Double>
    /// Why `smoothing=` is refused, for a command whose loss has no cross-entropy (mimic); nil where it applies.
    let smoothingRefusal: String?
    let seed = TypedOption<Int>.integer(
        "seed", session: "seed", bounds: .nonNegative, "seed of batch order and augmentation")
    let patience = TypedOption<Int>.integer(
        "patience", bounds: .atLeast(TrainingConfig.Limits.minimumCount),
        "stop early after this many validations without improvement; default: never")
    let validateEvery: TypedOption<Int>
    let data = DataOption.data

    /// `batch=`, the same for every command that has it (its default and bounds are the session option's).
    static let batch = TypedOption<Int>.integer("batch", session: "batch", "mini-batch size")

    /// The options of the classification commands (train, kd, fitnet, at): `TrainingConfig.Defaults` with the
    /// session's `lr` and `batch`.
    static let classification = TrainingDeclarations()

    /// The declarations with `defaults` (a command's own configuration; nil: `TrainingConfig.Defaults` with the
    /// session's `lr`), the budget options named `epochs` and `steps` (`stage_epochs` for `sskd`); `noSmoothing`,
    /// when given, says why the command refuses `smoothing=` (its loss has no cross-entropy).
    init(
        _ defaults: TrainingConfig? = nil, epochs: String = "epochs", steps: String = "steps",
        noSmoothing: String? = nil
    ) {
        let base = defaults ?? TrainingConfig()
        let own = defaults != nil
        let least = Bounds.atLeast(TrainingConfig.Limits.minimumCount)
        self.epochs = .integer(
            epochs, default: own ? nil : base.epochs, bounds: least,
            own ? "passes over the training images, instead of \(steps)" : "passes over the training images")
        self.steps = .integer(
            steps, default: defaults?.steps, bounds: least,
            "optimizer steps, instead of \(epochs); the last epoch may be partial")
        lr = .number(
            "lr", default: defaults.map { typed($0.learningRate) }, session: own ? nil : "lr", bounds: .positive,
            "peak learning rate")
        momentum = .number(
            "momentum", default: typed(base.momentum), bounds: .interval(TrainingConfig.Limits.momentum),
            "SGD momentum (sgd, nesterov only)")
        wd = .number("wd", default: typed(base.weightDecay), bounds: .nonNegative, "weight decay")
        optimizer = .choice("optimizer", default: base.optimizer, "optimizer")
        schedule = .choice("schedule", default: base.schedule, "learning-rate schedule over the run's steps")
        warmup = .integer("warmup", default: base.warmupSteps, "linear warm-up steps")
        smoothing = .number(
            "smoothing", default: typed(base.labelSmoothing), bounds: .interval(TrainingConfig.Limits.labelSmoothing),
            "label smoothing of the cross-entropy")
        smoothingRefusal = noSmoothing
        validateEvery = .integer(
            "val_every", default: base.validateEvery, bounds: least,
            "validate every this many epochs, and after the last")
    }

    /// The declarations in the order `help` lists them (without `smoothing=` when the command refuses it).
    var specs: [OptionSpec] {
        [
            epochs.spec, steps.spec, lr.spec, batch.spec, momentum.spec, wd.spec, optimizer.spec, schedule.spec,
            warmup.spec,
        ] + (smoothingRefusal == nil ? [smoothing.spec] : []) + [
            seed.spec, patience.spec, validateEvery.spec, data.spec,
        ]
    }

    /// The options the command refuses, with why (`CommandSpec.refused`): `smoothing` when it has no cross-entropy.
    var refused: [String: String] { smoothingRefusal.map { [smoothing.name: $0] } ?? [:] }
}

/// The training options of one command call, read once into the run's `TrainingConfig`. Their bounds were
/// checked when the arguments were bound; `TrainingConfig.validate()` runs again as a backstop.
struct TrainingOptions {
    /// The hyper-parameters of the run.
    var config = TrainingConfig()

    /// Reads the options of `inv` declared by `declarations`: whichever of the budget options the user gave wins,
    /// neither is the default.
    /// - Throws: an error at the steps option when both budget options are given. (A command that refuses
    ///   `smoothing=` does not declare it: the binding of its arguments refuses it, `CommandSpec.refused`.)
    init(_ inv: Invocation, _ declarations: TrainingDeclarations = .classification) throws {
        let d = declarations
        if inv.isGiven(d.epochs) && inv.isGiven(d.steps) {
            throw inv.error("give '\(d.epochs.name)' or '\(d.steps.name)', not both", at: d.steps)
        }
        if let epochs = try inv.optional(d.epochs) { config.epochs = epochs }
        if let steps = try inv.optional(d.steps), !inv.isGiven(d.epochs) { config.steps = steps }
        config.learningRate = Float(try inv.get(d.lr))
        config.batchSize = try inv.get(d.batch)
        config.momentum = Float(try inv.get(d.momentum))
        config.weightDecay = Float(try inv.get(d.wd))
        config.optimizer = try inv.get(d.optimizer)
        config.schedule = try inv.get(d.schedule)
        config.warmupSteps = try inv.get(d.warmup)
        if d.smoothingRefusal == nil { config.labelSmoothing = Float(try inv.get(d.smoothing)) }
        config.seed = UInt64(try inv.get(d.seed))
        config.patience = try inv.optional(d.patience)
        config.validateEvery = try inv.get(d.validateEvery)
        try validate(config, inv, names: ["epochs": d.epochs.name, "steps": d.steps.name])
    }
}

/// `data=`: the data set a command works on instead of the current one (`Workspace.data(_:)` reads it).
enum DataOption {
    static let data = TypedOption<DataObject>.object("data", "dataset", "data set (default: the current one)")
}

/// A Float default as the number a user types (0.01, not 0.009999999776482582).
func typed(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

extension Bounds {
    /// `[lower, upper)` of a Float range (momentum), as `TrainingConfig.Limits` defines it.
    static func interval(_ range: Range<Float>) -> Bounds {
        let (lower, upper) = (typed(range.lowerBound), typed(range.upperBound))
        return Bounds("be in [\(Value.format(lower)), \(Value.format(upper)))") { $0 >= lower && $0 < upper }
    }

    /// `[lower, upper]` of a Float range (label smoothing), as `TrainingConfig.Limits` defines it.
    static func interval(_ range: ClosedRange<Float>) -> Bounds {
        let (lower, upper) = (typed(range.lowerBound), typed(range.upperBound))
        return Bounds("be in [\(Value.format(lower)), \(Value.format(upper))]") { (lower...upper).contains($0) }
    }
}

/// Validates `config`, reporting a bad value at the option the user wrote (`names` maps the config's option
/// names to the command's, e.g. epochs → stage_epochs).
func validate(_ config: TrainingConfig, _ inv: Invocation, names: [String: String] = [:]) throws {
    do { try config.validate() } catch let e as DistillationError {
        if case .invalidOption(let name, let reason) = e {
            let given = names[name] ?? name
            throw inv.error("option '\(given)': \(reason)", at: inv.has(given) ? given : nil)
        }
        throw inv.error("\(e)")
    }
}

extension SessionOptions {
    /// `batch`, the session's mini-batch size (declared by `installEngine`).
    var batch: Int { value("batch")?.integer ?? TrainingConfig.Defaults.batchSize }
}

extension Session {
    /// Declares the session options of training, with `TrainingConfig`'s defaults and limits: `batch` and `lr`
    /// (listed before `terminal` in `show options`).
    func declareTrainingOptions() {
        options.declare(
            SessionOption(
                "batch", .integer, default: .number(Double(TrainingConfig.Defaults.batchSize)),
                "mini-batch size for training and evaluation", bounds: .range(TrainingConfig.Limits.batchSize)),
            before: "terminal")
        options.declare(
            SessionOption(
                "lr", .number, default: .number(typed(TrainingConfig.Defaults.learningRate)), "default learning rate",
                bounds: Bounds("be positive and finite") { $0 > 0 && $0.isFinite }),
            before: "terminal")
    }
}
