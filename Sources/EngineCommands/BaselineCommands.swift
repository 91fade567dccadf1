import Datasets
import Distillation
import Foundation
import Language
import Networks
import Tensors

// The distillation baselines SSKD is compared with: kd (Hinton), fitnet (FitNets), at (attention transfer).

extension Session {
    func registerBaselineCommands() {
        commands.register(
            CommandSpec(
                "kd", summary: "Hinton KD: alpha*T^2*KL(teacher_T || student_T) + (1-alpha)*CE",
                arguments: [
                    ArgumentSpec("student", .object("model"), "the student"),
                    ArgumentSpec("teacher", .object("model"), "the teacher"),
                ],
                options: classificationOptions + [
                    OptionSpec(
                        "unlabelled", .bool, default: .bool(false),
                        "also train on the unlabelled images (data labels=N), on the soft term alone"),
                    OptionSpec(
                        "budget", .any,
                        "train for the compute another model's runs spent (a model), "
                            + "or this many GMAC (a number), instead of epochs"),
                ] + kdOptions,
                example: "kd student teacher T=4 alpha=0.9 epochs=5"
            ) { inv, session in
                var (s, t, config, data) = try session.distillationInputs(inv)
                let kd = try KDOptions(inv)
                let unlabelled = try inv.bool("unlabelled")
                if inv.has("budget") {
                    config.steps = try session.budgetSteps(inv) {
                        try Baselines.kdCost(
                            student: s.model, teacher: t.model, data: data.splits, config: config,
                            unlabelled: unlabelled)
                    }
                }
                session.print(
                    String(
                        format: "kd: T=%g alpha=%g (soft term scaled by T^2 = %g)", kd.shownTemperature,
                        kd.shownAlpha, kd.shownTemperature * kd.shownTemperature)
                        + (unlabelled ? "; unlabelled images: soft term only" : ""))
                return try session.train(inv, model: s, label: "kd", teacher: t, data: data) { context in
                    [
                        try Baselines.kd(
                            student: s.model, teacher: t.model, temperature: kd.temperature, alpha: kd.alpha,
                            data: data.splits, config: config, unlabelled: unlabelled, context: context)
                    ]
                }
            })

        commands.register(
            CommandSpec(
                "fitnet", summary: "FitNets: regress a student stage onto the teacher's (hint), then KD",
                arguments: [
                    ArgumentSpec("student", .object("model"), "the student"),
                    ArgumentSpec("teacher", .object("model"), "the teacher"),
                ],
                options: classificationOptions + [
                    OptionSpec("hint", .integer, default: .number(2), "the hinted stage (1-based)"),
                    OptionSpec(
                        "hint_epochs", .integer, default: .number(1), bounds: .atLeast(1), "epochs of the hint stage"),
                    OptionSpec(
                        "hint_lr", .number, default: typed(SSKD.Defaults.mimic.learningRate), bounds: .positive,
                        "learning rate of the hint stage (Adam, as mimic)"),
                    OptionSpec(
                        "budget", .any,
                        "the whole compute (hint + KD) of another model's runs (a model) "
                            + "or this many GMAC; KD gets what the hint stage leaves"),
                    OptionSpec("pool", .bool, default: .bool(false), "average-pool when the hint maps differ in size"),
                ] + kdOptions,
                example: "fitnet student teacher hint=2 hint_epochs=1 epochs=4"
            ) { inv, session in
                let (s, t, config, data) = try session.distillationInputs(inv)
                let hint = try inv.int("hint")
                let hintEpochs = try inv.int("hint_epochs")
                let kd = try KDOptions(inv)
                guard (1...s.model.stages.count).contains(hint) else {
                    throw inv.error("hint must be a stage 1...\(s.model.stages.count), got \(hint)", at: "hint")
                }
                var hintConfig = SSKD.Defaults.mimic
                hintConfig.learningRate = Float(try inv.double("hint_lr"))
                try validate(hintConfig, inv, names: ["lr": "hint_lr"])
                let budget = inv.has("budget") ? try session.budgetMACs(inv) : nil
                return try session.train(inv, model: s, label: "fitnet", teacher: t, data: data) { context in
                    try Baselines.fitnet(
                        student: s.model, teacher: t.model, hintStage: hint - 1, hintEpochs: hintEpochs,
                        hintConfig: hintConfig, temperature: kd.temperature, alpha: kd.alpha,
                        pool: try inv.bool("pool"), data: data.splits, config: config, budget: budget,
                        context: context)
                }
            })

        commands.register(
            CommandSpec(
                "at",
                summary:
                    "attention transfer: CE + beta/2 * sum over stages of the L2 distance of normalised attention maps",
                arguments: [
                    ArgumentSpec("student", .object("model"), "the student"),
                    ArgumentSpec("teacher", .object("model"), "the teacher"),
                ],
                options: classificationOptions + [
                    OptionSpec("beta", .number, default: .number(1000), "weight of the attention term"),
                    OptionSpec(
                        "budget", .any,
                        "train for the compute another model's runs spent (a model), "
                            + "or this many GMAC (a number), instead of epochs"),
                ],
                example: "at student teacher beta=1000 epochs=5"
            ) { inv, session in
                var (s, t, config, data) = try session.distillationInputs(inv)
                if inv.has("budget") {
                    config.steps = try session.budgetSteps(inv) {
                        try Baselines.atCost(student: s.model, teacher: t.model, data: data.splits, config: config)
                    }
                }
                return try session.train(inv, model: s, label: "at", teacher: t, data: data) { context in
                    [
                        try Baselines.attentionTransfer(
                            student: s.model, teacher: t.model, beta: Float(try inv.double("beta")), data: data.splits,
                            config: config, context: context)
                    ]
                }
            })
    }
}

/// Hinton KD's options, declared once for `kd` and the KD part of `fitnet`.
let kdOptions = [
    OptionSpec("T", .number, default: .number(4), bounds: .positive, "KD temperature"),
    OptionSpec("alpha", .number, default: .number(0.9), bounds: .unitInterval, "KD weight of the soft-target term"),
]

/// The values of `kdOptions` in one call.
struct KDOptions {
    /// `T=` as typed (for the `kd:` line).
    let shownTemperature: Double
    /// `alpha=` as typed.
    let shownAlpha: Double
    /// `T=`, the softmax temperature.
    var temperature: Float { Float(shownTemperature) }
    /// `alpha=`, the weight of the soft-target term.
    var alpha: Float { Float(shownAlpha) }

    /// Reads `T=` and `alpha=` (bounds checked when the arguments were bound).
    init(_ inv: Invocation) throws {
        shownTemperature = try inv.double("T")
        shownAlpha = try inv.double("alpha")
    }
}
