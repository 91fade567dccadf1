import Datasets
import Foundation
import Networks
import Tensors

extension SSKD {
    /// Whether the student's head parameters have the same names and shapes as the teacher's (so
    /// `trainHead(fromTeacher:)` can start from them).
    public static func headsMatch(_ student: Model, _ teacher: Model) -> Bool {
        let mine = headState(student)
        let theirs = Dictionary(headState(teacher).map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a })
        return !mine.isEmpty && mine.count == theirs.count && mine.allSatisfy { theirs[$0.0] == $0.1.shape }
    }

    /// Trains only the student's head (pooling + classifier) with cross-entropy on the labelled training images,
    /// SSKD's last step (Gao et al. 2018, §3); the backbone runs in eval mode without gradients for the whole run
    /// (as if frozen), so without augmentation its output `[N, C, H, W]` is computed once per run
    /// (`FeatureCache`), for the training and the validation images alike; the record's `compute` counts those
    /// caches and the head's steps. The record is named `head` unless `context.runName` is set.
    /// - Parameter fromTeacher: first copy the teacher's head parameters (every name and shape must match).
    /// - Throws: `DistillationError.incompatible` when `fromTeacher` is asked and the heads differ; training errors.
    public static func trainHead(
        student: Model, teacher: Model? = nil, fromTeacher: Bool = false, data: DataSplits,
        config: TrainingConfig, context: RunContext
    ) throws -> RunRecord {
        try trainHead(
            student: student, teacher: teacher, fromTeacher: fromTeacher, data: data, config: config, inputs: nil,
            context: context)
    }

    /// `trainHead`, given the caches the last stage of a recipe left (`inputs`): with the inputs of the frozen last
    /// stage cached, the backbone's output is that stage on them (the earlier stages do not run again).
    static func trainHead(
        student: Model, teacher: Model?, fromTeacher: Bool, data: DataSplits, config: TrainingConfig,
        inputs: StageCaches?, context: RunContext
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
        var hp: [String: String] = fromTeacher ? ["from_teacher": "true"] : [:]
        let labelled = try data.batches(.train, batchSize: config.batchSize, shuffle: false, images: .labelled)
        guard labelled.count > 0 else { throw DistillationError.emptySplit("labelled train") }
        let costs = try CostProfile(student, imageShape: data.train.imageShape)
        let backboneUnits = 0..<student.stages[last].range.upperBound
        let headUnits = student.head.range
        let steps = config.totalSteps(batchesPerEpoch: labelled.count)
        let visits = ComputeBudget.visits(
            steps: steps, images: labelled.order.count, batchSize: config.batchSize, batchesPerEpoch: labelled.count)
        var caches = FeatureCaches(cancellation: context.cancellation, observer: context.observer)
        caches.reserve(inputs?.bytes ?? 0)
        func source(_ split: DataSplits.Split) -> CacheSource? {
            guard let inputs, inputs.studentStage == last, student.stages[last].isFrozen,
                let c = inputs.student[split]
            else { return nil }
            return CacheSource(cache: c, macs: costs.forward(student.stages[last].range)) {
                try student.forward(stage: last, $0, training: false)
            }
        }
        func cache(_ split: DataSplits.Split, _ images: TrainImages) throws -> FeatureCache? {
            try caches.build(
                data, split: split, images: images, name: split.rawValue, macs: costs.forward(backboneUnits),
                from: source(split)
            ) {
                try student.forward($0, throughStage: last, training: false)
            }
        }
        let backbone =
            FeatureCache.pays(visits: visits, images: labelled.order.count) ? try cache(.train, .labelled) : nil
        // The validation images go through the backbone once per validation: cached when there is more than one.
        let valBackbone =
            config.validations(steps: steps, batchesPerEpoch: labelled.count) > 1 ? try cache(split, .all) : nil
        if !caches.cached.isEmpty {
            hp["cached"] = "student stages 1...\(last + 1) (\(caches.cached.joined(separator: ", ")))"
        }
        let method = TrainingMethod(
            method: "head", name: "head", hyperParameters: hp,
            trainable: tensors(of: student, units: student.head.modules), guarded: allState(student),
            what: "the head", images: .labelled,
            stepCost: ComputeCost(
                training: costs.trainingStep(headUnits) + (backbone == nil ? costs.forward(backboneUnits) : 0)),
            setupCost: caches.setup, setupStarted: setupStart,
            step: { batch in
                let features =
                    try backbone?.gather(batch.indices)
                    ?? withNoGrad { try student.forward(batch.images, throughStage: last, training: false) }
                return try crossEntropy(
                    try student.forwardHead(features, training: true), targets: batch.labels,
                    labelSmoothing: config.labelSmoothing)
            },
            validate: { _, progress in
                let e = try evaluate(
                    data: data, split: split, cancellation: context.cancellation, progress: progress
                ) { batch in
                    try student.forwardHead(
                        try valBackbone?.gather(batch.indices)
                            ?? student.forward(batch.images, throughStage: last, training: false), training: false)
                }
                let perImage = costs.forward(headUnits) + (valBackbone == nil ? costs.forward(backboneUnits) : 0)
                return EpochMetrics(top1: e.top1, valLoss: e.loss, macs: perImage * e.count)
            })
        return try Trainer.run(method, data: data, config: config, context: context)
    }

    /// The state (parameters and buffers) of `model`'s head, by dotted name.
    static func headState(_ model: Model) -> [(String, Tensor)] {
        let paths = model.head.modules
        return model.stateDict().filter { name, _ in paths.contains { name.hasPrefix($0 + ".") } }
    }
}
