import Datasets
import Foundation
import Networks
import Storage
import Tensors

/// Stage-by-Stage Knowledge Distillation (Gao et al., "An Embarrassingly Simple Approach for Knowledge
/// Distillation", arXiv 1812.01819): the student's stage k is trained to reproduce the teacher's stage-k
/// feature map with an L2 loss, then frozen; after the last stage only the head is trained on the labels.
/// No loss weight is tuned.
public enum SSKD {
    /// Images of the validation split the per-epoch feature distance is measured on (the first ones, in order).
    public static let distanceImages = 5000

    /// The defaults of `mimic`, the one-shot `sskd` and SSKD's head, chosen by the sweep in docs/method.md
    /// ("Defaults"): feature regression converges far faster with Adam than with SGD, the final top-1 follows
    /// the last stage's distance, and the head on a frozen backbone needs many cheap epochs.
    public enum Defaults {
        /// Mimic: Adam, lr 0.01, no weight decay, cosine to 0 over the stage, a budget of 1,000 steps per stage.
        public static var mimic: TrainingConfig {
            var c = adamCosine
            c.steps = 1000
            return c
        }
        /// Head: Adam, lr 0.01, no weight decay, cosine, 20 epochs over the labelled images.
        public static var head: TrainingConfig {
            var c = adamCosine
            c.epochs = 20
            return c
        }
        /// What mimic and head share: Adam, lr 0.01, no weight decay, cosine.
        private static var adamCosine: TrainingConfig {
            var c = TrainingConfig()
            c.optimizer = .adam
            c.learningRate = 0.01
            c.weightDecay = 0
            c.schedule = .cosine
            return c
        }
        /// Optional fine-tuning after the recipe (beyond the paper): KD (`Baselines.Defaults`: T 4, α 0.9) on the
        /// whole unfrozen student for 1 epoch, lr 0.01, and otherwise `TrainingConfig.Defaults` (SGD, momentum
        /// 0.9, weight decay 5e-4, cosine).
        public static var finetune: TrainingConfig {
            var c = TrainingConfig()
            c.learningRate = 0.01
            return c
        }
    }

    /// The whole recipe: for each stage, mimic then freeze; then train the head; then, when `finetune` is
    /// given, unfreeze the whole student and train it with KD (beyond the paper's recipe). Returns one record
    /// per stage, one for the head (and one for the fine-tuning), and the alignment (adapter) each stage used.
    ///
    /// Without augmentation each stage builds its caches from the previous stage's (`StageCaches`): the teacher's
    /// stage-k targets are teacher stage k on its cached stage-(k−1) maps, the frozen prefix's output is stage k−1 on
    /// its cached inputs, and the head's input is the last stage on its cached inputs, so each stage of either network
    /// runs once per training and validation image over the recipe instead of once per later stage. The records count
    /// what ran; the values are those of computing from the images (`RecipeCacheTests`).
    /// - Parameters:
    ///   - headFrom: the model whose head the student's head starts from (nil: its own initialisation).
    ///   - finetune: configuration of the fine-tuning KD run (epochs, optimizer), or nil for none.
    /// - Throws: as `mimic`, `trainHead` and `Baselines.kd`; `DistillationError.incompatible` when stage counts differ.
    public static func recipe(
        student: Model, teacher: Model, data: DataSplits, stageConfig: TrainingConfig,
        headConfig: TrainingConfig, pool: Bool = false, headFrom: Model? = nil, finetune: TrainingConfig? = nil,
        context: RunContext
    ) throws -> (records: [RunRecord], alignments: [Int: FeatureAlignment]) {
        guard student.stages.count == teacher.stages.count else {
            throw DistillationError.incompatible(
                "student has \(counted(student.stages.count, "stage")), teacher \(teacher.stages.count); "
                    + "split them to the same count"
            )
        }
        try stageConfig.validate()
        try headConfig.validate()
        try finetune?.validate()
        let stageContext = context.named(nil)
        var records: [RunRecord] = []
        var alignments: [Int: FeatureAlignment] = [:]
        // Each stage starts from the caches the previous one built (the teacher's maps, the frozen prefix's output).
        var inputs: StageCaches?
        for k in student.stages.indices {
            let (record, alignment, next) = try mimicRun(
                student: student, stage: k, teacher: teacher, teacherStage: k, data: data, config: stageConfig,
                pool: pool, inputs: inputs, context: stageContext)
            inputs = nil
            records.append(record)
            alignments[k] = alignment
            guard record.status == .completed else { return (records, alignments) }
            try student.freeze(.stage(k))
            inputs = next
        }
        let head = try trainHead(
            student: student, teacher: headFrom, fromTeacher: headFrom != nil, data: data, config: headConfig,
            inputs: inputs, context: stageContext)
        inputs = nil
        records.append(head)
        if let finetune, head.status == .completed {
            try student.unfreeze(.all)
            let run = try Baselines.kd(
                student: student, teacher: teacher, data: data, config: finetune, unlabelled: true,
                context: context.named("finetune"))
            run.method = "finetune"
            records.append(run)
        }
        return (records, alignments)
    }

    /// A table of SSKD runs: one row per mimicked stage, one for the head (and one for fine-tuning), with
    /// steps, last loss, distance before → after, cosine, top-1, wall time and compute.
    public static func stageTable(_ records: [RunRecord]) -> String {
        var lines = ["stage     steps  loss      distance before -> after  cosine  top-1    time     compute"]
        for r in records {
            let name = r.stage.map { "\($0 + 1)" } ?? r.name
            let loss = r.lastLoss.map { String(format: abs($0) < 1e4 ? "%.4f" : "%.3g", $0) } ?? "-"
            let number = { (v: Double?) in v.map { String(format: "%.4f", $0) } ?? "-" }
            let dist = r.stage == nil ? "-" : number(r.distanceBefore) + " -> " + number(r.epochs.last?.featureDistance)
            let cos = r.epochs.last?.cosine.map { String(format: "%.4f", $0) } ?? "-"
            let top1 = r.lastTop1.map { String(format: "%.2f%%", $0) } ?? "-"
            lines.append(
                name.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + String(r.steps.count).padding(toLength: 7, withPad: " ", startingAt: 0)
                    + loss.padding(toLength: 10, withPad: " ", startingAt: 0).prefix(9) + " "
                    + dist.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + cos.padding(toLength: 8, withPad: " ", startingAt: 0)
                    + top1.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(format: "%.1fs", r.seconds).padding(toLength: 9, withPad: " ", startingAt: 0)
                    + ComputeCost.format(r.compute.total))
        }
        return lines.joined(separator: "\n")
    }

    /// Throws `DistillationError.incompatible` unless `model` has a stage `k` (0-based); `role` names it.
    static func checkStage(_ model: Model, _ k: Int, _ role: String) throws {
        guard model.stages.indices.contains(k) else {
            throw DistillationError.incompatible("\(role) has no stage \(k + 1) (it has \(model.stages.count))")
        }
    }
}
