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
                options: trainingOptions(SSKD.Defaults.mimic) + [
                    OptionSpec(
                        "pool", .bool, default: .bool(false),
                        "average-pool the larger feature map when spatial sizes differ")
                ],
                example: "mimic student.stage[1] teacher.stage[1] steps=500"
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
                let config = try TrainingOptions(inv).config
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
                        pool: try inv.bool("pool"), context: context)
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
                    ArgumentSpec("student", .object("model"), "the student"),
                    ArgumentSpec("teacher", .object("model"), "the teacher"),
                ],
                options: trainingOptions(SSKD.Defaults.mimic, epochs: "stage_epochs") + [
                    OptionSpec(
                        "head_epochs", .integer, default: .number(Double(SSKD.Defaults.head.epochs)),
                        bounds: .atLeast(1),
                        "epochs of the head"),
                    OptionSpec(
                        "head_lr", .number, default: typed(SSKD.Defaults.head.learningRate), bounds: .positive,
                        "learning rate of the head"
                    ),
                    OptionSpec(
                        "head_optimizer", .word(choices: OptimizerKind.allCases.map(\.rawValue)),
                        default: .string(SSKD.Defaults.head.optimizer.rawValue), "optimizer of the head"),
                    OptionSpec(
                        "from_teacher", .any,
                        "a teacher whose head the head starts from, or false "
                            + "(default: the teacher, when the heads' names and shapes match)"),
                    OptionSpec(
                        "finetune", .integer, default: .number(0),
                        "then unfreeze the student and train it this many epochs with KD (T=4, alpha=0.9; beyond the "
                            + "paper)"
                    ),
                    OptionSpec(
                        "finetune_lr", .number, default: typed(SSKD.Defaults.finetune.learningRate), bounds: .positive,
                        "learning rate of the fine-tuning (SGD, momentum 0.9, wd 5e-4, cosine)"),
                    OptionSpec(
                        "pool", .bool, default: .bool(false), "average-pool the larger map when stage sizes differ"),
                ],
                example: "sskd student teacher steps=500 head_epochs=20"
            ) { inv, session in
                let s = try inv.object("student", as: ModelObject.self)
                let t = try inv.object("teacher", as: ModelObject.self)
                guard s !== t else { throw inv.error("student and teacher are the same model", at: "teacher") }
                let stage = try TrainingOptions(inv, epochs: "stage_epochs").config
                var head = SSKD.Defaults.head
                head.epochs = try inv.int("head_epochs")
                head.learningRate = Float(try inv.double("head_lr"))
                head.optimizer = OptimizerKind(rawValue: try inv.string("head_optimizer")) ?? .adam
                head.batchSize = stage.batchSize
                head.seed = stage.seed
                head.labelSmoothing = stage.labelSmoothing
                try validate(head, inv, names: ["epochs": "head_epochs", "lr": "head_lr"])
                var finetune: TrainingConfig?
                if try inv.int("finetune") != 0 {
                    var f = SSKD.Defaults.finetune
                    f.epochs = try inv.int("finetune")
                    f.learningRate = Float(try inv.double("finetune_lr"))
                    f.batchSize = stage.batchSize
                    f.seed = stage.seed
                    try validate(f, inv, names: ["epochs": "finetune", "lr": "finetune_lr"])
                    finetune = f
                }
                let data = try session.workspace.data(inv)
                try session.checkFits(s, data, inv, at: "student")
                try session.checkFits(t, data, inv, at: "teacher")
                let headFrom = try session.headTeacher(inv, student: s, teacher: t)
                let result = try session.train(inv, model: s, label: "sskd", teacher: t, data: data) { context in
                    let (records, alignments) = try SSKD.recipe(
                        student: s.model, teacher: t.model, data: data.splits, stageConfig: stage,
                        headConfig: head, pool: try inv.bool("pool"), headFrom: headFrom?.model,
                        finetune: finetune, context: context)
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
