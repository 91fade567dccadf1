import Datasets
import Distillation
import Foundation
import Language
import Networks
import Tensors

// train: a model from scratch, or only its head (SSKD's last step).

extension Session {
    func registerTrainCommand() {
        commands.register(
            CommandSpec(
                "train",
                summary:
                    "train a model from scratch with cross-entropy, or only its head (SSKD's last step; the head's "
                    + "defaults: \(headDefaults))",
                arguments: [ArgumentSpec("target", .any, "a model, or student.head")],
                options: TrainingDeclarations.classification.specs + [
                    HeadOption.fromTeacher.described(
                        "head only: a teacher whose head the head starts from, or false "
                            + "(default: the teacher the student mimicked, when the heads' names and shapes match)"
                    ).spec,
                    BudgetOption.budget.described(
                        "model only: train for the compute another model's runs spent (a model), "
                            + "or this many GMAC (a number), instead of epochs"
                    ).spec,
                    TeacherProtection.force.spec,
                ],
                example: "train student.head from_teacher=teacher"
            ) { inv, session in
                let (owner, part, label) = try modelPart(inv, "target", session)
                if case .all = part {
                } else if case .head = part {
                } else {
                    throw inv.error(
                        "train takes a model or its head; train \(label) with 'mimic', or freeze the rest and 'train' "
                            + "the model",
                        at: "target")
                }
                let declared = TrainingDeclarations.classification
                var config = try TrainingOptions(inv).config
                let data = try session.workspace.data(inv)
                try session.checkFits(owner, data, inv, at: "target")
                if case .head = part {
                    // The head has SSKD's own defaults (SSKD.Defaults.head) for every option not given.
                    let d = SSKD.Defaults.head
                    if !inv.isGiven(declared.epochs) && !inv.isGiven(declared.steps) {
                        config.epochs = d.epochs
                        config.steps = nil
                    }
                    if !inv.isGiven(declared.lr) { config.learningRate = d.learningRate }
                    if !inv.isGiven(declared.optimizer) { config.optimizer = d.optimizer }
                    if !inv.isGiven(declared.wd) { config.weightDecay = d.weightDecay }
                    guard !inv.isGiven(BudgetOption.budget) else {
                        throw inv.error("budget= sizes a whole model's training, not a head's", at: BudgetOption.budget)
                    }
                    let teacher = try session.headTeacher(inv, student: owner, teacher: owner.mimicTeacher)
                    return try session.train(inv, model: owner, label: "head", teacher: teacher, data: data) {
                        context in
                        [
                            try SSKD.trainHead(
                                student: owner.model, teacher: teacher?.model, fromTeacher: teacher != nil,
                                data: data.splits,
                                config: config, context: context)
                        ]
                    }
                }
                guard !inv.isGiven(HeadOption.fromTeacher) else {
                    throw inv.error("from_teacher= is for 'train MODEL.head'", at: HeadOption.fromTeacher)
                }
                if inv.isGiven(BudgetOption.budget) {
                    config.steps = try session.budgetSteps(inv) {
                        try Baselines.scratchCost(owner.model, data: data.splits, config: config)
                    }
                }
                return try session.train(inv, model: owner, label: "train", data: data) { context in
                    [
                        try Baselines.scratch(
                            owner.model, data: data.splits, config: config,
                            context: context.named(trainRunName(owner.model)))
                    ]
                }
            })
    }
}

/// The name of `train MODEL`'s run, after what it trains: `scratch` with nothing frozen (the method's own name),
/// `head (stages 1-3 frozen)` when only the head is trainable, `train (stages 1-2 frozen)` when some stages are,
/// `train (head frozen)` or `train (stage 1, head frozen)` when the head is.
func trainRunName(_ model: Model) -> String? {
    let frozen = model.stages.indices.filter { model.stages[$0].isFrozen }.map { $0 + 1 }
    let headFrozen = model.head.isFrozen
    guard !frozen.isEmpty || headFrozen else { return nil }
    if !headFrozen && frozen.count == model.stages.count { return "head (\(stageList(frozen)) frozen)" }
    let parts = (frozen.isEmpty ? [] : [stageList(frozen)]) + (headFrozen ? ["head"] : [])
    return "train (\(parts.joined(separator: ", ")) frozen)"
}

/// `SSKD.Defaults.head` as `train`'s summary quotes it: `20 epochs, Adam, lr 0.01, wd 0`.
private var headDefaults: String {
    let h = SSKD.Defaults.head
    return "\(h.epochs) epochs, \(h.optimizer.title), lr \(shown(h.learningRate)), wd \(shown(h.weightDecay))"
}

/// The option of a head's training (`train MODEL.head`, `sskd`): the teacher whose head the head starts from.
enum HeadOption {
    /// `from_teacher=`: a model, or false for the head's own initialisation; `Session.headTeacher` reads it.
    static let fromTeacher = TypedOption<Value>.value(
        "from_teacher", completion: [.values(["false"])],
        "a teacher whose head the head starts from, or false "
            + "(default: the teacher, when the heads' names and shapes match)")
}
