import Datasets
import Distillation
import Foundation
import Language
import Networks
import Tensors

// The options every training command shares, and the `TrainingConfig` built from them.

/// Options every training command takes, declared once: type, default, bounds, help. `defaults` gives a command's
/// own defaults (SSKD's mimic: `SSKD.Defaults.mimic`, a budget in steps); without it `TrainingConfig()`'s apply
/// (epochs 1, SGD) with the session's `lr` and `batch`. `epochs`/`steps` rename the budget options (`stage_epochs`).
func trainingOptions(_ defaults: TrainingConfig? = nil, epochs: String = "epochs", steps: String = "steps")
    -> [OptionSpec]
{
    let base = defaults ?? TrainingConfig()
    let own = defaults != nil
    return [
        OptionSpec(
            epochs, .integer, default: own ? nil : .number(Double(base.epochs)), bounds: .atLeast(1),
            own ? "passes over the training images, instead of \(steps)" : "passes over the training images"),
        OptionSpec(
            steps, .integer, default: defaults?.steps.map { .number(Double($0)) }, bounds: .atLeast(1),
            "optimizer steps, instead of \(epochs); the last epoch may be partial"),
        OptionSpec(
            "lr", .number, default: defaults.map { typed($0.learningRate) }, session: own ? nil : "lr",
            bounds: .positive, "peak learning rate"),
        OptionSpec("batch", .integer, session: "batch", "mini-batch size"),
        OptionSpec(
            "momentum", .number, default: typed(base.momentum), bounds: .unitIntervalOpenAbove,
            "SGD momentum (sgd, nesterov only)"),
        OptionSpec("wd", .number, default: typed(base.weightDecay), bounds: .nonNegative, "weight decay"),
        OptionSpec(
            "optimizer", .word(choices: OptimizerKind.allCases.map(\.rawValue)),
            default: .string(base.optimizer.rawValue),
            "optimizer"),
        OptionSpec(
            "schedule", .word(choices: ScheduleKind.allCases.map(\.rawValue)), default: .string(base.schedule.rawValue),
            "learning-rate schedule over the run's steps"),
        OptionSpec("warmup", .integer, default: .number(Double(base.warmupSteps)), "linear warm-up steps"),
        OptionSpec(
            "smoothing", .number, default: typed(base.labelSmoothing), bounds: .unitInterval,
            "label smoothing of the cross-entropy"),
        OptionSpec("seed", .integer, session: "seed", bounds: .nonNegative, "seed of batch order and augmentation"),
        OptionSpec(
            "patience", .integer, bounds: .atLeast(1),
            "stop early after this many validations without improvement; default: never"),
        OptionSpec(
            "val_every", .integer, default: .number(Double(base.validateEvery)), bounds: .atLeast(1),
            "validate every this many epochs, and after the last"),
        OptionSpec("data", .object("dataset"), "data set (default: the current one)"),
    ]
}

/// A Float default as the number a user types (0.01, not 0.009999999776482582).
func typed(_ value: Float) -> Value { .number(Double("\(value)") ?? Double(value)) }

/// Options of the classification commands (train, kd, fitnet, at).
let classificationOptions = trainingOptions()

/// The training options of one command call (`trainingOptions`), read once into the run's `TrainingConfig`.
/// Their bounds were checked when the arguments were bound; `TrainingConfig.validate()` runs again as a backstop.
struct TrainingOptions {
    /// The hyper-parameters of the run.
    var config = TrainingConfig()

    /// Reads the options of `inv`. `epochs`/`steps` name the command's budget options (`stage_epochs`/`steps` for
    /// `sskd`): whichever the user gave wins, neither is the default.
    /// - Throws: an error at `steps` when both are given.
    init(_ inv: Invocation, epochs: String = "epochs", steps: String = "steps") throws {
        if inv.isGiven(epochs) && inv.isGiven(steps) {
            throw inv.error("give '\(epochs)' or '\(steps)', not both", at: steps)
        }
        if inv.has(epochs) { config.epochs = try inv.int(epochs) }
        if inv.has(steps) && !inv.isGiven(epochs) { config.steps = try inv.int(steps) }
        config.learningRate = Float(try inv.double("lr"))
        config.batchSize = try inv.int("batch")
        config.momentum = Float(try inv.double("momentum"))
        config.weightDecay = Float(try inv.double("wd"))
        config.optimizer = OptimizerKind(rawValue: try inv.string("optimizer")) ?? config.optimizer
        config.schedule = ScheduleKind(rawValue: try inv.string("schedule")) ?? config.schedule
        config.warmupSteps = try inv.int("warmup")
        config.labelSmoothing = Float(try inv.double("smoothing"))
        config.seed = UInt64(try inv.int("seed"))
        if inv.has("patience") { config.patience = try inv.int("patience") }
        config.validateEvery = try inv.int("val_every")
        try validate(config, inv, names: ["epochs": epochs, "steps": steps])
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
