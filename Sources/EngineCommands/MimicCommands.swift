import Datasets
import Distillation
import Foundation
import Language
import Networks
import Tensors

// mimic (one SSKD step) and sskd (the whole recipe).

extension Session {
    func registerMimicCommands() {
        commands.register(
            CommandSpec(
                "mimic", summary: "SSKD step: train a student stage to reproduce a teacher stage's feature map (L2)",
                arguments: [
                    ArgumentSpec("student", .object("part"), "the student stage, e.g. student.stage[2]"),
                    ArgumentSpec("teacher", .object("part"), "the teacher stage, e.g. teacher.stage[2]"),
                ],
                options: MimicOptions.training.specs + [MimicOptions.pool.spec, TeacherProtection.force.spec],
                example: "mimic student.stage[1] teacher.stage[1] steps=500",
                refused: MimicOptions.training.refused
            ) { inv, session in
                let s = try inv.object("student", as: ModelPart.self)
                let t = try inv.object("teacher", as: ModelPart.self)
                guard let k = s.stage else {
                    throw inv.error("mimic needs a student stage (student.stage[k]), got \(s.label)", at: "student")
                }
                guard let tk = t.stage else {
                    throw inv.error("mimic needs a teacher stage (teacher.stage[k]), got \(t.label)", at: "teacher")
                }
                guard s.owner !== t.owner else {
                    throw inv.error("student and teacher are the same model", at: "teacher")
                }
                let config = try TrainingOptions(inv, MimicOptions.training).config
                let pool = try inv.get(MimicOptions.pool)
                let data = try session.workspace.data(inv)
                try session.checkFits(s.owner, data, inv, at: "student")
                try session.checkFits(t.owner, data, inv, at: "teacher")
                return try session.train(
                    inv, model: s.owner, label: "mimic", teacher: t.owner,
                    data: data
                ) { context in
                    let (record, alignment) = try SSKD.mimic(
                        student: s.owner.model, stage: k, teacher: t.owner.model, teacherStage: tk,
                        data: data.splits, config: config, adapter: s.owner.alignments[k]?.adapter,
                        pool: pool, context: context)
                    s.owner.alignments[k] = alignment
                    s.owner.mimicTeacher = t.owner
                    if s.owner.distanceBefore[k] == nil { s.owner.distanceBefore[k] = record.distanceBefore }
                    session.warnIfFartherFromTeacher(record, learningRate: config.learningRate)
                    return [record]
                }
            })

        commands.register(
            CommandSpec(
                "sskd", summary: "the whole SSKD recipe: mimic and freeze each stage in turn, then train the head",
                arguments: [
                    ModelArguments.student.spec, ModelArguments.teacher.spec,
                ],
                options: SSKDOptions.training.specs + SSKDOptions.specs + [TeacherProtection.force.spec],
                example: "sskd student teacher steps=500 head_epochs=20"
            ) { inv, session in
                let (s, t) = (try inv.get(ModelArguments.student), try inv.get(ModelArguments.teacher))
                guard s !== t else { throw inv.error("student and teacher are the same model", at: "teacher") }
                let sskd = try SSKDOptions(inv)
                let stage = sskd.stage
                let data = try session.workspace.data(inv)
                try session.checkFits(s, data, inv, at: "student")
                try session.checkFits(t, data, inv, at: "teacher")
                let headFrom = try session.headTeacher(inv, student: s, teacher: t)
                let result = try session.train(inv, model: s, label: "sskd", teacher: t, data: data) { context in
                    let (records, alignments) = try SSKD.recipe(
                        student: s.model, teacher: t.model, data: data.splits, stageConfig: stage,
                        headConfig: sskd.head, pool: sskd.pool, headFrom: headFrom?.model,
                        finetune: sskd.finetune, context: context)
                    for r in records {
                        if let k = r.stage, s.distanceBefore[k] == nil { s.distanceBefore[k] = r.distanceBefore }
                    }
                    s.alignments.merge(alignments) { _, new in new }
                    s.mimicTeacher = t
                    for r in records where r.stage != nil {
                        session.warnIfFartherFromTeacher(r, learningRate: stage.learningRate)
                    }
                    session.print(SSKD.stageTable(records))
                    return records
                }
                return result
            })
    }
}

/// The options of `mimic` beyond training, whose defaults are SSKD's (`SSKD.Defaults.mimic`).
enum MimicOptions {
    /// Training options with mimic's defaults (Adam, lr 0.01, a budget in steps).
    static let training = TrainingDeclarations(
        SSKD.Defaults.mimic,
        noSmoothing: "mimic's loss is the feature MSE to the teacher's stage, with no labels to smooth")
    /// `pool=`.
    static let pool = TypedOption<Bool>.bool(
        "pool", default: false, "average-pool the larger feature map when spatial sizes differ")
}

/// The options of `sskd`, read once per call into the configurations of its stages, head and fine-tuning.
struct SSKDOptions {
    /// The stages' training options: mimic's defaults, the epoch budget named `stage_epochs`.
    static let training = TrainingDeclarations(SSKD.Defaults.mimic, epochs: "stage_epochs")
    /// `head_epochs=`.
    static let headEpochs = TypedOption<Int>.integer(
        "head_epochs", default: SSKD.Defaults.head.epochs, bounds: .atLeast(TrainingConfig.Limits.minimumCount),
        "epochs of the head")
    /// `head_lr=`.
    static let headLR = TypedOption<Double>.number(
        "head_lr", default: typed(SSKD.Defaults.head.learningRate), bounds: .positive, "learning rate of the head")
    /// `head_optimizer=`.
    static let headOptimizer = TypedOption<OptimizerKind>.choice(
        "head_optimizer", default: SSKD.Defaults.head.optimizer, "optimizer of the head")
    /// `finetune=`: epochs of KD on the whole student after the recipe; 0 for none.
    static let finetune = TypedOption<Int>.integer(
        "finetune", default: 0, bounds: .zeroOrAtLeast(TrainingConfig.Limits.minimumCount),
        "then unfreeze the student and train it this many epochs with KD (T=\(shown(Baselines.Defaults.temperature)), "
            + "alpha=\(shown(Baselines.Defaults.alpha)); beyond the paper)")
    /// `finetune_lr=`.
    static let finetuneLR: TypedOption<Double> = {
        let f = SSKD.Defaults.finetune
        return .number(
            "finetune_lr", default: typed(f.learningRate), bounds: .positive,
            "learning rate of the fine-tuning (\(f.optimizer.title), momentum \(shown(f.momentum)), "
                + "wd \(shown(f.weightDecay)), \(f.schedule.rawValue))")
    }()
    /// `pool=`.
    static let pool = TypedOption<Bool>.bool(
        "pool", default: false, "average-pool the larger map when stage sizes differ")
    /// The declarations after the training options, in help order.
    static let specs = [
        headEpochs.spec, headLR.spec, headOptimizer.spec, HeadOption.fromTeacher.spec, finetune.spec, finetuneLR.spec,
        pool.spec,
    ]

    /// Each stage's mimic run.
    let stage: TrainingConfig
    /// The head's run (`SSKD.Defaults.head` with the options, the stages' batch, seed and label smoothing).
    let head: TrainingConfig
    /// The fine-tuning run, nil for `finetune=0`.
    let finetune: TrainingConfig?
    /// Whether to average-pool the larger feature map.
    let pool: Bool

    /// Reads the options of `inv`.
    /// - Throws: an error at the option for a configuration `TrainingConfig.validate()` refuses.
    init(_ inv: Invocation) throws {
        stage = try TrainingOptions(inv, Self.training).config
        var head = SSKD.Defaults.head
        head.epochs = try inv.get(Self.headEpochs)
        head.learningRate = Float(try inv.get(Self.headLR))
        head.optimizer = try inv.get(Self.headOptimizer)
        head.batchSize = stage.batchSize
        head.seed = stage.seed
        head.labelSmoothing = stage.labelSmoothing
        try validate(head, inv, names: ["epochs": Self.headEpochs.name, "lr": Self.headLR.name])
        self.head = head
        let epochs = try inv.get(Self.finetune)
        if epochs != 0 {
            var f = SSKD.Defaults.finetune
            f.epochs = epochs
            f.learningRate = Float(try inv.get(Self.finetuneLR))
            f.batchSize = stage.batchSize
            f.seed = stage.seed
            try validate(f, inv, names: ["epochs": Self.finetune.name, "lr": Self.finetuneLR.name])
            finetune = f
        } else {
            finetune = nil
        }
        pool = try inv.get(Self.pool)
    }
}

/// A Float as `%g` writes it (0.9, 0.0005, 4), for help lines quoting a default.
func shown(_ value: Float) -> String { String(format: "%g", Double(value)) }

extension OptimizerKind {
    /// The name as papers write it (SGD, Nesterov, Adam, AdamW), for help lines quoting a default.
    var title: String {
        switch self {
        case .sgd: return "SGD"
        case .nesterov: return "Nesterov"
        case .adam: return "Adam"
        case .adamw: return "AdamW"
        }
    }
}
