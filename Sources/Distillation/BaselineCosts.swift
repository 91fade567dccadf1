import Datasets
import Foundation
import Networks
import Tensors

extension Baselines {
    /// The whole cost in MACs of a `scratch` run of `steps` steps with `config` (training and validation),
    /// as its record will count it: for sizing a scratch baseline to another method's compute.
    /// - Throws: `TensorError` when the data do not fit the model; `DistillationError.emptySplit`.
    public static func scratchCost(_ model: Model, data: DataSplits, config: TrainingConfig) throws -> (Int) -> Int {
        try runCost(student: model, data: data, config: config)
    }

    /// The whole cost in MACs of a `kd` run of `steps` steps (teacher logits cached when that pays and
    /// augmentation is off, student training, validation), as its record will count it.
    /// - Throws: `TensorError` when the data do not fit the models; `DistillationError.emptySplit`.
    public static func kdCost(
        student: Model, teacher: Model, data: DataSplits, config: TrainingConfig,
        unlabelled: Bool = false
    ) throws -> (Int) -> Int {
        let tc = try CostProfile(teacher, imageShape: data.train.imageShape)
        return try runCost(
            student: student, data: data, config: config, images: unlabelled ? .all : .labelled,
            teacherPerImage: tc.forward(tc.all), teacherCached: data.augmentation == .none)
    }

    /// The cost arithmetic every classification method's record follows, as a function of the step count:
    /// the student's training steps over `images`, the teacher's forward per image-visit (or, when
    /// `teacherCached` and the run visits its images more than once, once per image: `FeatureCache.pays`), and
    /// one forward pass of the student over the validation split per validation.
    /// - Throws: `TensorError` when the data do not fit the model; `DistillationError.emptySplit`.
    static func runCost(
        student: Model, data: DataSplits, config: TrainingConfig, images: TrainImages = .labelled,
        teacherPerImage: Int = 0, teacherCached: Bool = false
    ) throws -> (Int) -> Int {
        let sc = try CostProfile(student, imageShape: data.train.imageShape)
        let pool = try data.batches(.train, batchSize: config.batchSize, shuffle: false, images: images)
        guard pool.count > 0 else { throw DistillationError.emptySplit(images == .all ? "train" : "labelled train") }
        let validation = sc.forward(sc.all) * data.dataset(validationSplit(data)).count
        let perImage = sc.trainingStep(sc.all)
        let count = pool.order.count
        let bpe = pool.count
        let batch = config.batchSize
        return { steps in
            let visits = ComputeBudget.visits(steps: steps, images: count, batchSize: batch, batchesPerEpoch: bpe)
            let teacher =
                (teacherCached && FeatureCache.pays(visits: visits, images: count) ? count : visits) * teacherPerImage
            return teacher + visits * perImage + config.validations(steps: steps, batchesPerEpoch: bpe) * validation
        }
    }

    /// The whole cost in MACs of an `attentionTransfer` run of `steps` steps (the teacher's backbone every step,
    /// student training, validation), as its record will count it.
    /// - Throws: `TensorError` when the data do not fit the models; `DistillationError.emptySplit`.
    public static func atCost(student: Model, teacher: Model, data: DataSplits, config: TrainingConfig) throws -> (Int)
        -> Int
    {
        let tc = try CostProfile(teacher, imageShape: data.train.imageShape)
        return try runCost(
            student: student, data: data, config: config,
            teacherPerImage: tc.forward(0..<(teacher.stages.last?.range.upperBound ?? 0)))
    }
}
