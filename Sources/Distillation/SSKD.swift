import Datasets
import Foundation
import Networks
import Tensors

/// Stage-by-Stage Knowledge Distillation (Gao et al., "An Embarrassingly Simple Approach for Knowledge
/// Distillation", arXiv 1812.01819): the student's stage k is trained to reproduce the teacher's stage-k
/// feature map with an L2 loss, then frozen; after the last stage only the head is trained on the labels.
/// No loss weight is tuned.
public enum SSKD {
    /// Mimics teacher stage `teacherStage` with student stage `studentStage` (0-based).
    ///
    /// The input passes through student stages 0...k (frozen ones in eval mode) and teacher stages 0...k
    /// (eval mode, no gradients). Loss = MSE(align(student_k), teacher_k). What trains: the student's
    /// not-frozen parameters in stages 0...k plus the adapter — so freezing earlier stages (the paper's recipe)
    /// or not (an ablation) is the caller's choice. Per epoch the validation split gives the normalised feature
    /// distance and cosine similarity; the distance before training is stored in `record.distanceBefore`.
    /// Without augmentation the teacher's stage-k maps and, when stages 1...k-1 are frozen, their output are
    /// computed once per run (`FeatureCache`, up to 2 GiB) instead of every step; the record's `cached`
    /// hyper-parameter says what was cached.
    /// - Parameters:
    ///   - adapter: an adapter kept from an earlier mimic of this stage, reused when its channels fit.
    ///   - pool: average-pool the larger feature map when spatial sizes differ (else that is an error).
    /// - Returns: the run record and the alignment used (its adapter is kept for this stage only).
    /// - Throws: `DistillationError` (mismatches, nothing to train, empty splits), `TensorError` when data do not fit.
    public static func mimic(student: Model, stage k: Int, teacher: Model, teacherStage tk: Int, data: DataSplits,
                             config: TrainingConfig, adapter: Adapter? = nil, pool: Bool = false,
                             observer: TrainingObserver, command: String, modelName: String) throws -> (RunRecord, FeatureAlignment) {
        try checkStage(student, k, "student"); try checkStage(teacher, tk, "teacher")
        let probe = try data.batches(.train, batchSize: 2, shuffle: false).batch(0).images
        let (ps, pt) = try withNoGrad {
            (try student.forward(probe, throughStage: k, training: false).shape, try teacher.forward(probe, throughStage: tk, training: false).shape)
        }
        let alignment = try FeatureAlignment.plan(student: ps, teacher: pt, stage: k, pool: pool, existing: adapter, seed: config.seed &+ 17)
        let units = student.stages[0...k].flatMap(\.modules)
        guard tensors(of: student, units: units).contains(where: \.requiresGrad) else {
            throw DistillationError.nothingToTrain(what: k == 0 ? "student stage 1" : "every student stage 1...\(k + 1)")
        }
        let split = validationSplit(data)
        var hp = config.hyperParameters
        hp["teacher_stage"] = "\(tk + 1)"; hp["adapter"] = alignment.adapter == nil ? "identity" : "1x1 conv + BN"
        if alignment.poolTo != nil { hp["pool"] = "adaptive average" }
        let record = RunRecord(name: "mimic stage \(k + 1)", method: "mimic", model: modelName, command: command, seed: config.seed,
                               hyperParameters: hp, stage: k, validationSplit: split.rawValue)
        let limit = 5000
        record.distanceBefore = try featureMetrics(student: student, stage: k, teacher: teacher, stage: tk, alignment: alignment,
                                                   data: data, split: split, limit: limit).distance
        // Without augmentation the teacher's targets and a frozen prefix's outputs are the same every epoch:
        // compute them once (FeatureCache), then each step runs only the stages that learn.
        let targets = try FeatureCache.build(data, budget: FeatureCache.memoryBudget) {
            try alignment.teacher(try teacher.forward($0, throughStage: tk, training: false))
        }
        let prefixFrozen = k > 0 && student.stages[0..<k].allSatisfy(\.isFrozen)
        let prefix = prefixFrozen
            ? try FeatureCache.build(data, budget: FeatureCache.memoryBudget - (targets?.bytes ?? 0)) {
                try student.forward($0, throughStage: k - 1, training: false)
            } : nil
        if targets != nil || prefix != nil {
            hp["cached"] = [targets.map { _ in "teacher stage \(tk + 1)" }, prefix.map { _ in "student stages 1...\(k)" }]
                .compactMap { $0 }.joined(separator: " + ")
            record.hyperParameters = hp
        }
        try Trainer.run(record, trainable: tensors(of: student, units: units) + alignment.parameters,
                        guarded: allState(student) + alignment.state, data: data, config: config, observer: observer,
                        what: "student stages 1...\(k + 1)",
                        step: { batch in
                            let target = try targets?.gather(batch.indices)
                                ?? withNoGrad { try alignment.teacher(try teacher.forward(batch.images, throughStage: tk, training: false)) }
                            let output = try prefix.map { try student.forward(stage: k, $0.gather(batch.indices), training: true) }
                                ?? student.forward(batch.images, throughStage: k, training: true)
                            return try mseLoss(try alignment.student(output, training: true), target)
                        },
                        validate: { _ in
                            let m = try featureMetrics(student: student, stage: k, teacher: teacher, stage: tk, alignment: alignment,
                                                       data: data, split: split, limit: limit)
                            return EpochMetrics(featureDistance: m.distance, cosine: m.cosine)
                        })
        return (record, alignment)
    }

    /// Trains only the student's head (pooling + classifier) with cross-entropy on the labels; the backbone
    /// runs in eval mode without gradients for the whole run (as if frozen), so without augmentation its
    /// output `[N, C, H, W]` is computed once per run (`FeatureCache`).
    /// - Parameter fromTeacher: first copy the teacher's head parameters when every name and shape matches.
    /// - Throws: `DistillationError.incompatible` when `fromTeacher` is asked and the heads differ; training errors.
    public static func trainHead(student: Model, teacher: Model? = nil, fromTeacher: Bool = false, data: DataSplits,
                                 config: TrainingConfig, observer: TrainingObserver, command: String, modelName: String) throws -> RunRecord {
        if fromTeacher {
            guard let teacher else { throw DistillationError.incompatible("from_teacher needs a teacher") }
            let mine = headState(student), theirs = Dictionary(headState(teacher).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
            guard mine.count == theirs.count, mine.allSatisfy({ theirs[$0.0]?.shape == $0.1.shape }) else {
                throw DistillationError.incompatible("from_teacher: the heads differ (student \(mine.map { "\($0.0) \(formatShape($0.1.shape))" }.joined(separator: ", ")); teacher \(headState(teacher).map { "\($0.0) \(formatShape($0.1.shape))" }.joined(separator: ", ")))")
            }
            for (name, t) in mine { t.data = theirs[name]!.data }
        }
        let last = student.stages.count - 1
        let split = validationSplit(data)
        var hp = config.hyperParameters
        if fromTeacher { hp["from_teacher"] = "true" }
        // The backbone runs in eval mode without gradients: without augmentation its output is computed once.
        let backbone = try FeatureCache.build(data, budget: FeatureCache.memoryBudget) {
            try student.forward($0, throughStage: last, training: false)
        }
        if backbone != nil { hp["cached"] = "student stages 1...\(last + 1)" }
        let record = RunRecord(name: "head", method: "head", model: modelName, command: command, seed: config.seed,
                               hyperParameters: hp, validationSplit: split.rawValue)
        try Trainer.run(record, trainable: tensors(of: student, units: student.head.modules), guarded: allState(student),
                        data: data, config: config, observer: observer, what: "the head",
                        step: { batch in
                            let features = try backbone?.gather(batch.indices)
                                ?? withNoGrad { try student.forward(batch.images, throughStage: last, training: false) }
                            return try crossEntropy(try student.forwardHead(features, training: true), targets: batch.labels,
                                                    labelSmoothing: config.labelSmoothing)
                        },
                        validate: { _ in try classificationMetrics(student, data, split) })
        return record
    }

    /// The whole recipe: for each stage, mimic then freeze; then train the head. Returns one record per
    /// stage and one for the head, a table (stage, epochs, loss, distance before → after, cosine, time), and
    /// the alignment (adapter) each stage used.
    /// - Throws: as `mimic` and `trainHead`; `DistillationError.incompatible` when stage counts differ.
    public static func recipe(student: Model, teacher: Model, data: DataSplits, stageConfig: TrainingConfig,
                              headConfig: TrainingConfig, pool: Bool = false, headFromTeacher: Bool = false,
                              observer: TrainingObserver, command: String, modelName: String) throws -> (records: [RunRecord], table: String, alignments: [Int: FeatureAlignment]) {
        guard student.stages.count == teacher.stages.count else {
            throw DistillationError.incompatible("student has \(student.stages.count) stages, teacher \(teacher.stages.count); split them to the same count")
        }
        var records: [RunRecord] = []
        var alignments: [Int: FeatureAlignment] = [:]
        for k in student.stages.indices {
            let (record, alignment) = try mimic(student: student, stage: k, teacher: teacher, teacherStage: k, data: data, config: stageConfig,
                                        pool: pool, observer: observer, command: command, modelName: modelName)
            records.append(record)
            alignments[k] = alignment
            guard record.status == .completed else { return (records, stageTable(records), alignments) }
            try student.freeze(.stage(k))
        }
        let head = try trainHead(student: student, teacher: teacher, fromTeacher: headFromTeacher, data: data, config: headConfig,
                                 observer: observer, command: command, modelName: modelName)
        records.append(head)
        return (records, stageTable(records), alignments)
    }

    /// A table of SSKD runs: one row per mimicked stage and one for the head.
    public static func stageTable(_ records: [RunRecord]) -> String {
        var lines = ["stage  epochs  loss      distance before -> after  cosine  top-1    time"]
        for r in records {
            let name = r.stage.map { "\($0 + 1)" } ?? "head"
            let loss = r.lastLoss.map { String(format: "%.4f", $0) } ?? "-"
            let dist = r.stage == nil ? "-" : String(format: "%.4f -> %.4f", r.distanceBefore ?? .nan, r.epochs.last?.featureDistance ?? .nan)
            let cos = r.epochs.last?.cosine.map { String(format: "%.4f", $0) } ?? "-"
            let top1 = r.lastTop1.map { String(format: "%.2f%%", $0) } ?? "-"
            lines.append(name.padding(toLength: 7, withPad: " ", startingAt: 0) + String(r.epochs.count).padding(toLength: 8, withPad: " ", startingAt: 0)
                         + loss.padding(toLength: 10, withPad: " ", startingAt: 0) + dist.padding(toLength: 26, withPad: " ", startingAt: 0)
                         + cos.padding(toLength: 8, withPad: " ", startingAt: 0) + top1.padding(toLength: 9, withPad: " ", startingAt: 0)
                         + String(format: "%.1fs", r.seconds))
        }
        return lines.joined(separator: "\n")
    }

    static func headState(_ model: Model) -> [(String, Tensor)] {
        let paths = model.head.modules
        return model.stateDict().filter { name, _ in paths.contains { name.hasPrefix($0 + ".") } }
    }

    static func checkStage(_ model: Model, _ k: Int, _ role: String) throws {
        guard model.stages.indices.contains(k) else {
            throw DistillationError.incompatible("\(role) has no stage \(k + 1) (it has \(model.stages.count))")
        }
    }
}

/// Validation top-1 and loss of a classifier (the per-epoch metrics of classification runs).
func classificationMetrics(_ model: Model, _ data: DataSplits, _ split: DataSplits.Split) throws -> EpochMetrics {
    let e = try evaluate(model, data: data, split: split)
    return EpochMetrics(top1: e.top1, valLoss: e.loss)
}
