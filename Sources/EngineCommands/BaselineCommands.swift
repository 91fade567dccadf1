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
                    ModelArguments.student.spec, ModelArguments.teacher.spec,
                ],
                options: TrainingDeclarations.classification.specs + [
                    BaselineOption.unlabelled.spec, BudgetOption.budget.spec,
                ] + KDOptions.specs + [TeacherProtection.force.spec],
                example: "kd student teacher T=4 alpha=0.9 epochs=5"
            ) { inv, session in
                var (s, t, config, data) = try session.distillationInputs(inv)
                let kd = try KDOptions(inv)
                let unlabelled = try inv.get(BaselineOption.unlabelled)
                if inv.isGiven(BudgetOption.budget) {
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
                    ModelArguments.student.spec, ModelArguments.teacher.spec,
                ],
                options: TrainingDeclarations.classification.specs + FitNetOptions.specs + KDOptions.specs + [
                    TeacherProtection.force.spec
                ],
                example: "fitnet student teacher hint=2 hint_epochs=1 epochs=4"
            ) { inv, session in
                let (s, t, config, data) = try session.distillationInputs(inv)
                let fitnet = try FitNetOptions(inv)
                let kd = try KDOptions(inv)
                guard (1...s.model.stages.count).contains(fitnet.hint) else {
                    throw inv.error(
                        "hint must be a stage 1...\(s.model.stages.count), got \(fitnet.hint)", at: FitNetOptions.hint)
                }
                var hintConfig = SSKD.Defaults.mimic
                hintConfig.learningRate = fitnet.hintLearningRate
                try validate(hintConfig, inv, names: ["lr": FitNetOptions.hintLR.name])
                let budget = inv.isGiven(BudgetOption.budget) ? try session.budgetMACs(inv) : nil
                return try session.train(inv, model: s, label: "fitnet", teacher: t, data: data) { context in
                    try Baselines.fitnet(
                        student: s.model, teacher: t.model, hintStage: fitnet.hint - 1, hintEpochs: fitnet.hintEpochs,
                        hintConfig: hintConfig, temperature: kd.temperature, alpha: kd.alpha,
                        pool: fitnet.pool, data: data.splits, config: config, budget: budget,
                        context: context)
                }
            })

        commands.register(
            CommandSpec(
                "at",
                summary:
                    "attention transfer: CE + beta/2 * sum over stages of the L2 distance of normalised attention maps",
                arguments: [
                    ModelArguments.student.spec, ModelArguments.teacher.spec,
                ],
                options: TrainingDeclarations.classification.specs + [
                    BaselineOption.beta.spec, BudgetOption.budget.spec, TeacherProtection.force.spec,
                ],
                example: "at student teacher beta=1000 epochs=5"
            ) { inv, session in
                var (s, t, config, data) = try session.distillationInputs(inv)
                let beta = Float(try inv.get(BaselineOption.beta))
                if inv.isGiven(BudgetOption.budget) {
                    config.steps = try session.budgetSteps(inv) {
                        try Baselines.atCost(student: s.model, teacher: t.model, data: data.splits, config: config)
                    }
                }
                return try session.train(inv, model: s, label: "at", teacher: t, data: data) { context in
                    [
                        try Baselines.attentionTransfer(
                            student: s.model, teacher: t.model, beta: beta, data: data.splits,
                            config: config, context: context)
                    ]
                }
            })
    }
}

/// Hinton KD's options (`kd`, and the KD part of `fitnet`), with `Baselines.Defaults`, read once per call.
struct KDOptions {
    /// `T=`, the softmax temperature.
    static let temperature = TypedOption<Double>.number(
        "T", default: typed(Baselines.Defaults.temperature),
        bounds: .within(Baselines.temperatureRange),
        "KD temperature")
    /// `alpha=`, the weight of the soft-target term.
    static let alpha = TypedOption<Double>.number(
        "alpha", default: typed(Baselines.Defaults.alpha), bounds: .unitInterval, "KD weight of the soft-target term")
    /// The declarations in help order.
    static let specs = [temperature.spec, alpha.spec]

    /// `T=` as typed (for the `kd:` line).
    let shownTemperature: Double
    /// `alpha=` as typed.
    let shownAlpha: Double
    /// `T=`, the softmax temperature.
    var temperature: Float { Float(shownTemperature) }
    /// `alpha=`, the weight of the soft-target term.
    var alpha: Float { Float(shownAlpha) }

    /// Reads `T=` and `alpha=` (bounds checked when the arguments were bound).
    /// - Throws: an error at `smoothing` when it is given with `alpha=1`: the loss then has no cross-entropy term,
    ///   so label smoothing would change nothing.
    init(_ inv: Invocation) throws {
        shownTemperature = try inv.get(Self.temperature)
        shownAlpha = try inv.get(Self.alpha)
        let smoothing = TrainingDeclarations.classification.smoothing
        if shownAlpha == 1 && inv.isGiven(smoothing) {
            throw inv.error(
                "option 'smoothing': with alpha=1 the KD loss is the soft term alone, with no cross-entropy to "
                    + "smooth; give alpha below 1 or drop smoothing=",
                at: smoothing)
        }
    }
}

/// The hint stage of `fitnet`, read once per call. The stage's upper bound depends on the student (checked by
/// the command); the declaration holds the static part.
struct FitNetOptions {
    /// `hint=`, the hinted stage (1-based).
    static let hint = TypedOption<Int>.integer(
        "hint", default: Baselines.Defaults.hintStage + 1, bounds: .atLeast(1), "the hinted stage (1-based)")
    /// `hint_epochs=`.
    static let hintEpochs = TypedOption<Int>.integer(
        "hint_epochs", default: Baselines.Defaults.hintEpochs, bounds: .atLeast(TrainingConfig.Limits.minimumCount),
        "epochs of the hint stage")
    /// `hint_lr=`, Adam as mimic (`SSKD.Defaults.mimic`).
    static let hintLR = TypedOption<Double>.number(
        "hint_lr", default: typed(SSKD.Defaults.mimic.learningRate), bounds: .positive,
        "learning rate of the hint stage (Adam, as mimic)")
    /// `pool=`.
    static let pool = TypedOption<Bool>.bool(
        "pool", default: false, "average-pool when the hint maps differ in size")
    /// The declarations in help order, with fitnet's `budget=`.
    static let specs = [
        hint.spec, hintEpochs.spec, hintLR.spec,
        BudgetOption.budget.described(
            "the whole compute (hint + KD) of another model's runs (a model) "
                + "or this many GMAC; KD gets what the hint stage leaves"
        ).spec,
        pool.spec,
    ]

    /// The hinted stage, 1-based.
    let hint: Int
    /// Epochs of the hint stage.
    let hintEpochs: Int
    /// Learning rate of the hint stage.
    let hintLearningRate: Float
    /// Whether to average-pool the larger hint map.
    let pool: Bool

    /// Reads the hint options of `inv`.
    init(_ inv: Invocation) throws {
        hint = try inv.get(Self.hint)
        hintEpochs = try inv.get(Self.hintEpochs)
        hintLearningRate = Float(try inv.get(Self.hintLR))
        pool = try inv.get(Self.pool)
    }
}

/// The options of `kd` and `at` beyond training and KD.
enum BaselineOption {
    /// `unlabelled=` of `kd`.
    static let unlabelled = TypedOption<Bool>.bool(
        "unlabelled", default: false, "also train on the unlabelled images (data labels=N), on the soft term alone")
    /// `beta=` of `at`, the weight of the attention term (`Baselines.Defaults.beta`).
    static let beta = TypedOption<Double>.number(
        "beta", default: typed(Baselines.Defaults.beta), "weight of the attention term")
}
