import Datasets
import Distillation
import Foundation
import Language
import Networks
import Tensors

// The options every training command shares, and the `TrainingConfig` built from them.

/// Options every training command takes, declared once. `defaults` gives a command's own defaults (SSKD's
/// mimic: `SSKD.Defaults.mimic`, a budget in steps); without it the classification defaults apply (epochs 1,
/// SGD, the session's `lr`).
func trainingOptions(_ defaults: TrainingConfig? = nil, epochs: String = "epochs", steps: String = "steps")
    -> [OptionSpec]
{
    let d = defaults
    return [
        OptionSpec(
            epochs, .integer, default: d == nil ? .number(1) : nil,
            d == nil ? "passes over the training images" : "passes over the training images, instead of \(steps)"),
        OptionSpec(
            steps, .integer, default: d?.steps.map { .number(Double($0)) },
            "optimizer steps, instead of \(epochs); the last epoch may be partial"),
        OptionSpec(
            "lr", .number, default: d.map { typed($0.learningRate) }, session: d == nil ? "lr" : nil,
            "peak learning rate"),
        OptionSpec("batch", .integer, session: "batch", "mini-batch size"),
        OptionSpec("momentum", .number, default: .number(0.9), "SGD momentum (sgd, nesterov only)"),
        OptionSpec("wd", .number, default: typed(d?.weightDecay ?? 5e-4), "weight decay"),
        OptionSpec(
            "optimizer", .word(choices: OptimizerKind.allCases.map(\.rawValue)),
            default: .string((d?.optimizer ?? .sgd).rawValue),
            "optimizer"),
        OptionSpec(
            "schedule", .word(choices: ScheduleKind.allCases.map(\.rawValue)), default: .string("cosine"),
            "learning-rate schedule over the run's steps"),
        OptionSpec("warmup", .integer, default: .number(0), "linear warm-up steps"),
        OptionSpec("smoothing", .number, default: .number(0), "label smoothing of the cross-entropy"),
        OptionSpec("seed", .integer, session: "seed", "seed of batch order and augmentation"),
        OptionSpec("patience", .integer, "stop early after this many validations without improvement; default: never"),
        OptionSpec("val_every", .integer, default: .number(1), "validate every this many epochs, and after the last"),
        OptionSpec("data", .object("dataset"), "data set (default: the current one)"),
    ]
}

/// A Float default as the number a user types (0.01, not 0.009999999776482582).
func typed(_ value: Float) -> Value { .number(Double("\(value)") ?? Double(value)) }

/// Options of the classification commands (train, kd, fitnet, at).
let classificationOptions = trainingOptions()

extension Session {
    /// The `TrainingConfig` of a training command's options. `epochs`/`steps` name the command's budget options
    /// (`stage_epochs`/`steps` for `sskd`): whichever the user gave wins, both is an error, neither is the default.
    func trainingConfig(_ inv: Invocation, epochs: String = "epochs", steps: String = "steps") throws -> TrainingConfig
    {
        var c = TrainingConfig()
        if inv.isGiven(epochs) && inv.isGiven(steps) {
            throw inv.error("give '\(epochs)' or '\(steps)', not both", at: steps)
        }
        if inv.has(epochs) { c.epochs = try inv.int(epochs) }
        if inv.has(steps) && !inv.isGiven(epochs) { c.steps = try inv.int(steps) }
        c.learningRate = Float(try inv.double("lr"))
        c.batchSize = try inv.int("batch")
        c.momentum = Float(try inv.double("momentum"))
        c.weightDecay = Float(try inv.double("wd"))
        c.optimizer = OptimizerKind(rawValue: try inv.string("optimizer")) ?? .sgd
        c.schedule = ScheduleKind(rawValue: try inv.string("schedule")) ?? .cosine
        c.warmupSteps = try inv.int("warmup")
        c.labelSmoothing = Float(try inv.double("smoothing"))
        guard try inv.int("seed") >= 0 else {
            throw inv.error("option 'seed': must be non-negative, got \(try inv.int("seed"))", at: "seed")
        }
        c.seed = UInt64(try inv.int("seed"))
        if inv.has("patience") { c.patience = try inv.int("patience") }
        c.validateEvery = try inv.int("val_every")
        try check(c, inv, names: ["epochs": epochs, "steps": steps])
        return c
    }

    /// Validates `config`, reporting a bad value at the option the user wrote (`names` maps the config's option
    /// names to the command's, e.g. epochs → stage_epochs).
    func check(_ config: TrainingConfig, _ inv: Invocation, names: [String: String] = [:]) throws {
        do { try config.validate() } catch let e as DistillationError {
            if case .invalidOption(let name, let reason) = e {
                let given = names[name] ?? name
                throw inv.error("option '\(given)': \(reason)", at: inv.has(given) ? given : nil)
            }
            throw inv.error("\(e)")
        }
    }
}
