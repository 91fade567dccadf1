import Datasets
import Foundation
import Networks
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
            var c = TrainingConfig()
            c.optimizer = .adam
            c.learningRate = 0.01
            c.weightDecay = 0
            c.schedule = .cosine
            c.steps = 1000
            return c
        }
        /// Head: Adam, lr 0.01, no weight decay, cosine, 20 epochs over the labelled images.
        public static var head: TrainingConfig {
            var c = TrainingConfig()
            c.optimizer = .adam
            c.learningRate = 0.01
            c.weightDecay = 0
            c.schedule = .cosine
            c.epochs = 20
            return c
        }
        /// Optional fine-tuning after the recipe (beyond the paper): KD (T 4, α 0.9) on the whole unfrozen
        /// student with SGD, momentum 0.9, lr 0.01, weight decay 5e-4, cosine.
        public static var finetune: TrainingConfig {
            var c = TrainingConfig()
            c.optimizer = .sgd
            c.learningRate = 0.01
            c.weightDecay = 5e-4
            c.schedule = .cosine
            c.epochs = 1
            return c
        }
    }

    /// Mimics teacher stage `teacherStage` with student stage `studentStage` (0-based).
    ///
    /// The input passes through student stages 0...k (frozen ones in eval mode) and teacher stages 0...k
    /// (eval mode, no gradients). Loss = MSE(align(student_k), teacher_k). What trains: the student's
    /// not-frozen parameters in stages 0...k plus the adapter — so freezing earlier stages (the paper's recipe)
    /// or not (an ablation) is the caller's choice. Labels are never used: batches hold every training image,
    /// labelled or not (`TrainImages.all`). The validation split's first `distanceImages` images give the
    /// normalised feature distance and cosine similarity at the end of each epoch; the distance before
    /// training is stored in `record.distanceBefore`.
    ///
    /// Without augmentation, and when the run visits its images more than once, the teacher's stage-k maps and
    /// (when stages 1...k-1 are frozen) their output are computed once per run (`FeatureCache`); the validation
    /// images' likewise. The record's `cached` hyper-parameter says what was cached, its `compute` counts every
    /// forward and backward (`ComputeCost`), and its `seconds` include the caches and the distance measurements.
    /// - Parameters:
    ///   - adapter: an adapter kept from an earlier mimic of this stage, reused when its channels fit.
    ///   - pool: average-pool the larger feature map when spatial sizes differ (else that is an error).
    ///   - runName: the record's name (default `mimic stage K`; FitNets' hint stage passes `fitnet hint`).
    /// - Returns: the run record and the alignment used (its adapter is kept for this stage only).
    /// - Throws: `DistillationError` (mismatches, nothing to train, empty splits), `TensorError` when data do not fit.
    public static func mimic(
        student: Model, stage k: Int, teacher: Model, teacherStage tk: Int, data: DataSplits,
        config: TrainingConfig, adapter: Adapter? = nil, pool: Bool = false, runName: String? = nil,
        observer: TrainingObserver, command: String, modelName: String
    ) throws -> (RunRecord, FeatureAlignment) {
        let setupStart = Date()
        try config.validate()
        try checkStage(student, k, "student")
        try checkStage(teacher, tk, "teacher")
        let all = try data.batches(.train, batchSize: config.batchSize, shuffle: false, images: .all)
        guard all.count > 0 else { throw DistillationError.emptySplit("train") }
        let probe = try data.batches(.train, batchSize: 2, shuffle: false, images: .all).batch(0).images
        let (ps, pt) = try withNoGrad {
            (
                try student.forward(probe, throughStage: k, training: false).shape,
                try teacher.forward(probe, throughStage: tk, training: false).shape
            )
        }
        let alignment = try FeatureAlignment.plan(
            student: ps, teacher: pt, stage: k, pool: pool, existing: adapter, seed: config.seed &+ 17)
        let units = student.stages[0...k].flatMap(\.modules)
        guard tensors(of: student, units: units).contains(where: \.requiresGrad) else {
            throw DistillationError.nothingToTrain(
                what: k == 0 ? "student stage 1" : "every student stage 1...\(k + 1)")
        }
        let split = validationSplit(data)
        var hp = config.hyperParameters
        hp["teacher_stage"] = "\(tk + 1)"
        hp["adapter"] = alignment.adapter == nil ? "identity" : "1x1 conv + BN"
        if alignment.poolTo != nil { hp["pool"] = "adaptive average" }
        let record = RunRecord(
            name: runName ?? "mimic stage \(k + 1)", method: "mimic", model: modelName, command: command,
            seed: config.seed,
            hyperParameters: hp, stage: k, validationSplit: split.rawValue)

        // What one image costs through each part (CostProfile), for the record's compute.
        let image = data.train.imageShape
        let sc = try CostProfile(student, imageShape: image)
        let tc = try CostProfile(teacher, imageShape: image)
        let stageUnits = student.stages[k].range
        let studentUnits = 0..<stageUnits.upperBound
        let prefixUnits = 0..<stageUnits.lowerBound
        let teacherUnits = 0..<teacher.stages[tk].range.upperBound
        let adapterMACs = try alignment.adapter.map { try $0.profile([1] + ps.dropFirst()).macs } ?? 0

        // Without augmentation the teacher's targets and a frozen prefix's outputs are the same every epoch:
        // compute them once when the run sees its images more than once, then each step runs only what learns.
        let prefixFrozen = k > 0 && student.stages[0..<k].allSatisfy(\.isFrozen)
        let steps = config.totalSteps(batchesPerEpoch: all.count)
        let visits = ComputeBudget.visits(
            steps: steps, images: all.order.count, batchSize: config.batchSize, batchesPerEpoch: all.count)
        var budget = FeatureCache.memoryBudget
        var cached: [String] = []
        func cache(
            _ split: DataSplits.Split, _ what: String, macs: Int, maxImages: Int? = nil,
            _ compute: @escaping (Tensor) throws -> Tensor
        ) throws -> FeatureCache? {
            guard
                let c = try FeatureCache.build(
                    data, split: split, images: .all, budget: budget, maxImages: maxImages, compute)
            else { return nil }
            budget -= c.bytes
            record.compute.caches += macs * c.images
            cached.append(what)
            return c
        }
        let payTrain = FeatureCache.pays(visits: visits, images: all.order.count)
        let targets =
            payTrain
            ? try cache(.train, "teacher stage \(tk + 1)", macs: tc.forward(teacherUnits)) {
                try alignment.teacher(try teacher.forward($0, throughStage: tk, training: false))
            } : nil
        let prefix =
            payTrain && prefixFrozen
            ? try cache(.train, "student stages 1...\(k)", macs: sc.forward(prefixUnits)) {
                try student.forward($0, throughStage: k - 1, training: false)
            } : nil
        // The validation images are measured before training and after every epoch: always worth caching.
        let valTargets = try cache(
            split, "\(split.rawValue) teacher stage \(tk + 1)", macs: tc.forward(teacherUnits),
            maxImages: distanceImages
        ) {
            try alignment.teacher(try teacher.forward($0, throughStage: tk, training: false))
        }
        let valPrefix =
            prefixFrozen
            ? try cache(
                split, "\(split.rawValue) student stages 1...\(k)", macs: sc.forward(prefixUnits),
                maxImages: distanceImages
            ) {
                try student.forward($0, throughStage: k - 1, training: false)
            } : nil
        if !cached.isEmpty {
            hp["cached"] = cached.joined(separator: " + ")
            record.hyperParameters = hp
        }

        func distance() throws -> (FeatureMetrics, Int) {
            var acc = FeatureDistance()
            try withNoGrad {
                for batch in try data.batches(split, batchSize: 256, shuffle: false) {
                    if acc.images >= distanceImages { break }
                    try Cancellation.check()
                    let s =
                        try valPrefix.map { try student.forward(stage: k, $0.gather(batch.indices), training: false) }
                        ?? student.forward(batch.images, throughStage: k, training: false)
                    let t =
                        try valTargets?.gather(batch.indices)
                        ?? alignment.teacher(try teacher.forward(batch.images, throughStage: tk, training: false))
                    try acc.add(student: try alignment.student(s, training: false), teacher: t, stage: k)
                }
            }
            let perImage =
                (valPrefix == nil ? sc.forward(studentUnits) : sc.forward(stageUnits)) + adapterMACs
                + (valTargets == nil ? tc.forward(teacherUnits) : 0)
            return (acc.result, perImage * acc.images)
        }
        let (before, beforeMACs) = try distance()
        record.distanceBefore = before.distance
        record.compute.evaluation += beforeMACs
        record.seconds += Date().timeIntervalSince(setupStart)

        let stepCost = ComputeCost(
            training: (prefix == nil ? sc.trainingStep(studentUnits) : sc.trainingStep(stageUnits)) + 3 * adapterMACs,
            teacher: targets == nil ? tc.forward(teacherUnits) : 0)
        try Trainer.run(
            record, trainable: tensors(of: student, units: units) + alignment.parameters,
            guarded: allState(student) + alignment.state, data: data, config: config, images: .all, stepCost: stepCost,
            observer: observer, what: "student stages 1...\(k + 1)",
            step: { batch in
                let target =
                    try targets?.gather(batch.indices)
                    ?? withNoGrad {
                        try alignment.teacher(try teacher.forward(batch.images, throughStage: tk, training: false))
                    }
                let output =
                    try prefix.map { try student.forward(stage: k, $0.gather(batch.indices), training: true) }
                    ?? student.forward(batch.images, throughStage: k, training: true)
                return try mseLoss(try alignment.student(output, training: true), target)
            },
            validate: { _ in
                let (m, macs) = try distance()
                return EpochMetrics(featureDistance: m.distance, cosine: m.cosine, macs: macs)
            })
        return (record, alignment)
    }

    /// Whether the student's head parameters have the same names and shapes as the teacher's (so
    /// `trainHead(fromTeacher:)` can start from them).
    public static func headsMatch(_ student: Model, _ teacher: Model) -> Bool {
        let mine = headState(student)
        let theirs = Dictionary(headState(teacher).map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a })
        return !mine.isEmpty && mine.count == theirs.count && mine.allSatisfy { theirs[$0.0] == $0.1.shape }
    }

    /// Trains only the student's head (pooling + classifier) with cross-entropy on the labelled training images;
    /// the backbone runs in eval mode without gradients for the whole run (as if frozen), so without augmentation
    /// its output `[N, C, H, W]` is computed once per run (`FeatureCache`), for the training and the validation
    /// images alike; the record's `compute` counts those caches and the head's steps.
    /// - Parameter fromTeacher: first copy the teacher's head parameters (every name and shape must match).
    /// - Throws: `DistillationError.incompatible` when `fromTeacher` is asked and the heads differ; training errors.
    public static func trainHead(
        student: Model, teacher: Model? = nil, fromTeacher: Bool = false, data: DataSplits,
        config: TrainingConfig, observer: TrainingObserver, command: String, modelName: String
    ) throws -> RunRecord {
        let setupStart = Date()
        try config.validate()
        if fromTeacher {
            guard let teacher else { throw DistillationError.incompatible("from_teacher needs a teacher") }
            guard headsMatch(student, teacher) else {
                let describe = { (m: Model) in
                    headState(m).map { "\($0.0) \(formatShape($0.1.shape))" }.joined(separator: ", ")
                }
                throw DistillationError.incompatible(
                    "from_teacher: the heads differ (student \(describe(student)); teacher \(describe(teacher)))")
            }
            let theirs = Dictionary(headState(teacher).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
            for (name, t) in headState(student) { t.data = theirs[name]!.data }
        }
        let last = student.stages.count - 1
        let split = validationSplit(data)
        var hp = config.hyperParameters
        if fromTeacher { hp["from_teacher"] = "true" }
        let record = RunRecord(
            name: "head", method: "head", model: modelName, command: command, seed: config.seed,
            hyperParameters: hp, validationSplit: split.rawValue)
        let labelled = try data.batches(.train, batchSize: config.batchSize, shuffle: false, images: .labelled)
        guard labelled.count > 0 else { throw DistillationError.emptySplit("labelled train") }
        let costs = try CostProfile(student, imageShape: data.train.imageShape)
        let backboneUnits = 0..<student.stages[last].range.upperBound
        let headUnits = student.head.range
        let steps = config.totalSteps(batchesPerEpoch: labelled.count)
        let visits = ComputeBudget.visits(
            steps: steps, images: labelled.order.count, batchSize: config.batchSize, batchesPerEpoch: labelled.count)
        var budget = FeatureCache.memoryBudget
        var cached: [String] = []
        func cache(_ split: DataSplits.Split, _ images: TrainImages) throws -> FeatureCache? {
            let c = try FeatureCache.build(data, split: split, images: images, budget: budget) {
                try student.forward($0, throughStage: last, training: false)
            }
            if let c {
                budget -= c.bytes
                record.compute.caches += costs.forward(backboneUnits) * c.images
                cached.append(split.rawValue)
            }
            return c
        }
        let backbone =
            FeatureCache.pays(visits: visits, images: labelled.order.count) ? try cache(.train, .labelled) : nil
        // The validation images go through the backbone once per validation: cached when there is more than one.
        let valBackbone =
            config.validations(steps: steps, batchesPerEpoch: labelled.count) > 1 ? try cache(split, .all) : nil
        if !cached.isEmpty {
            hp["cached"] = "student stages 1...\(last + 1) (\(cached.joined(separator: ", ")))"
            record.hyperParameters = hp
        }
        record.seconds += Date().timeIntervalSince(setupStart)
        let stepCost = ComputeCost(
            training: costs.trainingStep(headUnits) + (backbone == nil ? costs.forward(backboneUnits) : 0))
        try Trainer.run(
            record, trainable: tensors(of: student, units: student.head.modules), guarded: allState(student),
            data: data, config: config, images: .labelled, stepCost: stepCost, observer: observer, what: "the head",
            step: { batch in
                let features =
                    try backbone?.gather(batch.indices)
                    ?? withNoGrad { try student.forward(batch.images, throughStage: last, training: false) }
                return try crossEntropy(
                    try student.forwardHead(features, training: true), targets: batch.labels,
                    labelSmoothing: config.labelSmoothing)
            },
            validate: { _ in
                let e = try evaluate(data: data, split: split) { batch in
                    try student.forwardHead(
                        try valBackbone?.gather(batch.indices)
                            ?? student.forward(batch.images, throughStage: last, training: false), training: false)
                }
                let perImage = costs.forward(headUnits) + (valBackbone == nil ? costs.forward(backboneUnits) : 0)
                return EpochMetrics(top1: e.top1, valLoss: e.loss, macs: perImage * e.count)
            })
        return record
    }

    /// The whole recipe: for each stage, mimic then freeze; then train the head; then, when `finetune` is
    /// given, unfreeze the whole student and train it with KD (beyond the paper's recipe). Returns one record
    /// per stage, one for the head (and one for the fine-tuning), a table (stage, steps, loss, distance
    /// before → after, cosine, time, compute), and the alignment (adapter) each stage used.
    /// - Parameters:
    ///   - headFrom: the model whose head the student's head starts from (nil: its own initialisation).
    ///   - finetune: configuration of the fine-tuning KD run (epochs, optimizer), or nil for none.
    /// - Throws: as `mimic`, `trainHead` and `Baselines.kd`; `DistillationError.incompatible` when stage counts differ.
    public static func recipe(
        student: Model, teacher: Model, data: DataSplits, stageConfig: TrainingConfig,
        headConfig: TrainingConfig, pool: Bool = false, headFrom: Model? = nil, finetune: TrainingConfig? = nil,
        observer: TrainingObserver, command: String, modelName: String
    ) throws -> (records: [RunRecord], table: String, alignments: [Int: FeatureAlignment]) {
        guard student.stages.count == teacher.stages.count else {
            throw DistillationError.incompatible(
                "student has \(student.stages.count) stages, teacher \(teacher.stages.count); split them to the same "
                    + "count"
            )
        }
        try stageConfig.validate()
        try headConfig.validate()
        try finetune?.validate()
        var records: [RunRecord] = []
        var alignments: [Int: FeatureAlignment] = [:]
        for k in student.stages.indices {
            let (record, alignment) = try mimic(
                student: student, stage: k, teacher: teacher, teacherStage: k, data: data, config: stageConfig,
                pool: pool, observer: observer, command: command, modelName: modelName)
            records.append(record)
            alignments[k] = alignment
            guard record.status == .completed else { return (records, stageTable(records), alignments) }
            try student.freeze(.stage(k))
        }
        let head = try trainHead(
            student: student, teacher: headFrom, fromTeacher: headFrom != nil, data: data, config: headConfig,
            observer: observer, command: command, modelName: modelName)
        records.append(head)
        if let finetune, head.status == .completed {
            try student.unfreeze(.all)
            let run = try Baselines.kd(
                student: student, teacher: teacher, data: data, config: finetune, unlabelled: true,
                observer: observer, command: command, modelName: modelName, runName: "finetune")
            run.method = "finetune"
            records.append(run)
        }
        return (records, stageTable(records), alignments)
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

/// Validation top-1 and loss of a classifier (the per-epoch metrics of classification runs), and their cost:
/// one forward pass of `forwardMACs` per image.
func classificationMetrics(_ model: Model, _ data: DataSplits, _ split: DataSplits.Split, forwardMACs: Int) throws
    -> EpochMetrics
{
    let e = try evaluate(model, data: data, split: split)
    return EpochMetrics(top1: e.top1, valLoss: e.loss, macs: forwardMACs * e.count)
}
