import Datasets
import Foundation
import Networks
import Tensors

/// The methods SSKD is compared with, each on the same training loop and budget:
/// scratch (cross-entropy only), KD (Hinton et al. 2015), FitNets (Romero et al. 2015) and
/// attention transfer (Zagoruyko & Komodakis 2017). The teacher always runs in eval mode without gradients.
public enum Baselines {
    /// Trains every not-frozen parameter of `model` with cross-entropy (with label smoothing ε if set) on the
    /// labelled training images; the record's `compute` counts its steps and validations (`ComputeCost`).
    /// - Throws: `DistillationError.nothingToTrain` when all is frozen; training errors.
    public static func scratch(
        _ model: Model, data: DataSplits, config: TrainingConfig, observer: TrainingObserver,
        command: String, modelName: String, runName: String = "scratch"
    ) throws -> RunRecord {
        let split = validationSplit(data)
        let record = RunRecord(
            name: runName, method: "scratch", model: modelName, command: command, seed: config.seed,
            hyperParameters: config.hyperParameters, validationSplit: split.rawValue)
        let costs = try CostProfile(model, imageShape: data.train.imageShape)
        try Trainer.run(
            record, trainable: model.parameters(), guarded: allState(model), data: data, config: config,
            stepCost: ComputeCost(training: costs.trainingStep(costs.all)), observer: observer, what: modelName,
            step: { batch in
                try crossEntropy(
                    try model.forward(batch.images, training: true), targets: batch.labels,
                    labelSmoothing: config.labelSmoothing)
            },
            validate: { _ in try classificationMetrics(model, data, split, forwardMACs: costs.forward(costs.all)) })
        return record
    }

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

    /// The KD loss of Hinton et al. (2015): α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE(s, y).
    /// The T² factor keeps the soft-target gradients on the scale of the hard-target ones.
    /// - Throws: `TensorError` when logits and labels disagree.
    public static func kdLoss(
        student s: Tensor, teacher t: Tensor, labels: [Int], temperature: Float, alpha: Float,
        labelSmoothing: Float = 0
    ) throws -> Tensor {
        let soft =
            try klDivergence(student: s, teacher: t, temperature: temperature) * (alpha * temperature * temperature)
        let hard = try crossEntropy(s, targets: labels, labelSmoothing: labelSmoothing) * (1 - alpha)
        return try soft + hard
    }

    /// The KD loss over a batch in which some images have no label (label −1, `TrainImages.all`): the mean over
    /// images of α_i·T²·KL_i + (1 − α_i)·CE_i, with α_i = `alpha` for a labelled image and 1 for an unlabelled
    /// one (its loss is the soft term alone). With every image labelled it is `kdLoss` (label smoothing is
    /// applied only then).
    /// - Throws: `TensorError` when logits and labels disagree.
    public static func kdLossWithUnlabelled(
        student s: Tensor, teacher t: Tensor, labels: [Int], temperature: Float, alpha: Float,
        labelSmoothing: Float = 0
    ) throws -> Tensor {
        guard labels.contains(where: { $0 < 0 }) else {
            return try kdLoss(
                student: s, teacher: t, labels: labels, temperature: temperature, alpha: alpha,
                labelSmoothing: labelSmoothing)
        }
        guard s.rank == 2, s.shape == t.shape, labels.count == s.shape[0] else {
            throw TensorError.shapeMismatch(op: "kd", lhs: s.shape, rhs: t.shape)
        }
        let n = s.shape[0]
        let c = s.shape[1]
        // Constants: the teacher's softened distribution p_t and log p_t, the per-image soft weight α_i, and the
        // one-hot labels (all zero for an unlabelled image, so its label never enters the loss).
        let logPt = (t * (1 / temperature)).logSoftmax().data
        let pt = Tensor(shape: [n, c], data: logPt.map { expf($0) })
        let weights = Tensor(shape: [n, 1], data: labels.map { $0 < 0 ? 1 : alpha })
        var onehot = [Float](repeating: 0, count: n * c)
        for (i, y) in labels.enumerated() where y >= 0 {
            guard y < c else {
                throw TensorError.invalidArgument(
                    op: "kd", reason: "label \(y) of image \(i) is not below \(c) classes")
            }
            onehot[i * c + y] = 1
        }
        let rowKL = try pt * (Tensor(shape: [n, c], data: logPt) - (s * (1 / temperature)).logSoftmax())
        let soft = try (rowKL * weights).sum() * (temperature * temperature / Float(n))
        let hard = try (Tensor(shape: [n, c], data: onehot) * s.logSoftmax()).sum() * (-(1 - alpha) / Float(n))
        return try soft + hard
    }

    /// Hinton KD: the student trained on `kdLoss` against the teacher's logits, on the labelled training images;
    /// with `unlabelled`, on every training image, the unlabelled ones through the soft term alone
    /// (`kdLossWithUnlabelled`, α = 1 on them). Without augmentation, when the run visits its images more than
    /// once, the teacher's logits are computed once (`FeatureCache`) instead of every step; the record's
    /// `compute` counts the teacher either way.
    /// - Throws: `DistillationError` for T ≤ 0, α outside [0, 1], or differing class counts; training errors.
    public static func kd(
        student: Model, teacher: Model, temperature: Float = 4, alpha: Float = 0.9, data: DataSplits,
        config: TrainingConfig, unlabelled: Bool = false, observer: TrainingObserver, command: String,
        modelName: String, runName: String = "kd"
    ) throws -> RunRecord {
        let setupStart = Date()
        guard temperature > 0 else {
            throw DistillationError.invalidOption(name: "T", reason: "must be positive, got \(temperature)")
        }
        guard (0...1).contains(alpha) else {
            throw DistillationError.invalidOption(name: "alpha", reason: "must be in [0, 1], got \(alpha)")
        }
        try config.validate()
        let split = validationSplit(data)
        var hp = config.hyperParameters
        hp["T"] = "\(temperature)"
        hp["alpha"] = "\(alpha)"
        if unlabelled { hp["unlabelled"] = "true" }
        let record = RunRecord(
            name: runName, method: "kd", model: modelName, command: command, seed: config.seed,
            hyperParameters: hp, validationSplit: split.rawValue)
        let images: TrainImages = unlabelled ? .all : .labelled
        let pool = try data.batches(.train, batchSize: config.batchSize, shuffle: false, images: images)
        guard pool.count > 0 else { throw DistillationError.emptySplit(unlabelled ? "train" : "labelled train") }
        let sc = try CostProfile(student, imageShape: data.train.imageShape)
        let tc = try CostProfile(teacher, imageShape: data.train.imageShape)
        let steps = config.totalSteps(batchesPerEpoch: pool.count)
        let visits = ComputeBudget.visits(
            steps: steps, images: pool.order.count, batchSize: config.batchSize, batchesPerEpoch: pool.count)
        let logits =
            FeatureCache.pays(visits: visits, images: pool.order.count)
            ? try FeatureCache.build(data, images: images, budget: FeatureCache.memoryBudget) {
                try teacher.forward($0, training: false)
            } : nil
        if let logits {
            record.compute.caches += tc.forward(tc.all) * logits.images
            hp["cached"] = "teacher logits"
            record.hyperParameters = hp
        }
        record.seconds += Date().timeIntervalSince(setupStart)
        try Trainer.run(
            record, trainable: student.parameters(), guarded: allState(student), data: data, config: config,
            images: images,
            stepCost: ComputeCost(training: sc.trainingStep(sc.all), teacher: logits == nil ? tc.forward(tc.all) : 0),
            observer: observer, what: modelName,
            step: { batch in
                let t =
                    try logits?.gather(batch.indices)
                    ?? withNoGrad { try teacher.forward(batch.images, training: false) }
                let s = try student.forward(batch.images, training: true)
                guard s.shape == t.shape else {
                    throw DistillationError.incompatible(
                        "kd: student logits \(formatShape(s.shape)) and teacher logits \(formatShape(t.shape)) differ")
                }
                return try kdLossWithUnlabelled(
                    student: s, teacher: t, labels: batch.labels, temperature: temperature, alpha: alpha,
                    labelSmoothing: config.labelSmoothing)
            },
            validate: { _ in try classificationMetrics(student, data, split, forwardMACs: sc.forward(sc.all)) })
        return record
    }

    /// FitNets: a hint stage regresses student stage `hintStage` onto the same teacher stage through an adapter
    /// (a 1x1 conv + BN regressor) for `hintEpochs`, training student stages 0...hint with `hintConfig`'s optimizer
    /// and learning rate (feature regression wants Adam, as SSKD's mimic); then KD for `config.epochs`, or, with
    /// `budget` (MACs), for as many steps as the budget leaves after the hint stage.
    /// - Returns: the hint record and the KD record.
    /// - Throws: as `SSKD.mimic` and `kd`.
    public static func fitnet(
        student: Model, teacher: Model, hintStage: Int, hintEpochs: Int, hintConfig hintBase: TrainingConfig? = nil,
        temperature: Float = 4, alpha: Float = 0.9, pool: Bool = false, data: DataSplits, config: TrainingConfig,
        budget: Int? = nil, observer: TrainingObserver, command: String, modelName: String
    ) throws -> [RunRecord] {
        var hintConfig = hintBase ?? config
        hintConfig.epochs = hintEpochs
        hintConfig.steps = nil
        hintConfig.batchSize = config.batchSize
        hintConfig.seed = config.seed
        let probe = try data.batches(.train, batchSize: 2, shuffle: false).batch(0).images
        let channels = try withNoGrad { try student.forward(probe, throughStage: hintStage, training: false).shape[1] }
        let teacherChannels = try withNoGrad {
            try teacher.forward(probe, throughStage: hintStage, training: false).shape[1]
        }
        // FitNets always regresses through a learned regressor, even when channel counts match.
        let regressor = Adapter(from: channels, to: teacherChannels, seed: config.seed &+ 29)
        let (hint, _) = try SSKD.mimic(
            student: student, stage: hintStage, teacher: teacher, teacherStage: hintStage, data: data,
            config: hintConfig, adapter: regressor, pool: pool, runName: "fitnet hint",
            observer: observer, command: command, modelName: modelName)
        hint.method = "hint"
        guard hint.status == .completed else { return [hint] }
        var kdConfig = config
        if let budget {
            let cost = try kdCost(student: student, teacher: teacher, data: data, config: config)
            let left = budget - hint.compute.total
            guard cost(1) <= left else {
                hint.stopReason =
                    "the hint stage spent \(ComputeCost.format(hint.compute.total)) of the budget "
                    + "\(ComputeCost.format(budget)); what is left does not pay for one KD step "
                    + "(\(ComputeCost.format(cost(1))))"
                observer.report("fitnet: \(hint.stopReason!); no KD run")
                return [hint]
            }
            kdConfig.steps = ComputeBudget.steps(budget: left, cost: cost)
            observer.report(
                "budget: \(kdConfig.steps!) KD steps, \(ComputeCost.format(cost(kdConfig.steps!))) + hint stage "
                    + "\(ComputeCost.format(hint.compute.total)) of \(ComputeCost.format(budget))")
        }
        let rest = try kd(
            student: student, teacher: teacher, temperature: temperature, alpha: alpha, data: data, config: kdConfig,
            observer: observer, command: command, modelName: modelName, runName: "fitnet")
        rest.method = "fitnet"
        rest.hyperParameters["hint_stage"] = "\(hintStage + 1)"
        rest.hyperParameters["hint_epochs"] = "\(hintEpochs)"
        return [hint, rest]
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

    /// Attention map of a feature `[N, C, H, W]`: mean over channels of squared activations, flattened to
    /// `[N, H·W]` and L2-normalised per image (Zagoruyko & Komodakis 2017, their code's `at(x)`).
    /// - Throws: `TensorError` for a map that is not `[N, C, H, W]`.
    public static func attentionMap(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4 else {
            throw TensorError.invalidShape(op: "attention", shape: x.shape, reason: "is not [N, C, H, W]")
        }
        let a = try x.pow(2).mean(axes: [1]).reshaped([x.shape[0], -1])
        let norm = (try a.pow(2).sum(axes: [1], keepDims: true) + 1e-12).sqrt()
        return try a / norm
    }

    /// Attention transfer: CE + β/2 · Σ_stages mean((Q_s − Q_t)²) with Q the normalised attention maps of
    /// every stage (β = 1000 in the paper's code). Stage maps must agree in spatial size.
    /// - Throws: `DistillationError` when stage counts or spatial sizes differ; training errors.
    public static func attentionTransfer(
        student: Model, teacher: Model, beta: Float = 1000, data: DataSplits,
        config: TrainingConfig, observer: TrainingObserver, command: String,
        modelName: String
    ) throws -> RunRecord {
        guard student.stages.count == teacher.stages.count else {
            throw DistillationError.incompatible(
                "at: student has \(student.stages.count) stages, teacher \(teacher.stages.count)")
        }
        let split = validationSplit(data)
        var hp = config.hyperParameters
        hp["beta"] = "\(beta)"
        let record = RunRecord(
            name: "at", method: "at", model: modelName, command: command, seed: config.seed,
            hyperParameters: hp, validationSplit: split.rawValue)
        let sc = try CostProfile(student, imageShape: data.train.imageShape)
        let tc = try CostProfile(teacher, imageShape: data.train.imageShape)
        let teacherBackbone = 0..<(teacher.stages.last?.range.upperBound ?? 0)
        try Trainer.run(
            record, trainable: student.parameters(), guarded: allState(student), data: data, config: config,
            stepCost: ComputeCost(training: sc.trainingStep(sc.all), teacher: tc.forward(teacherBackbone)),
            observer: observer, what: modelName,
            step: { batch in
                let tf = try withNoGrad { try teacher.features(batch.images, training: false) }
                let sf = try student.features(batch.images, training: true)
                let logits = try student.forwardHead(sf[sf.count - 1], training: true)
                var loss = try crossEntropy(logits, targets: batch.labels, labelSmoothing: config.labelSmoothing)
                for (k, (s, t)) in zip(sf, tf).enumerated() {
                    guard s.rank == 4, s.shape[0] == t.shape[0], s.shape[2...] == t.shape[2...] else {
                        throw DistillationError.spatialMismatch(student: s.shape, teacher: t.shape, stage: k)
                    }
                    let d = try attentionMap(s) - attentionMap(t)
                    loss = try loss + (try d.pow(2).mean() * (beta / 2))
                }
                return loss
            },
            validate: { _ in try classificationMetrics(student, data, split, forwardMACs: sc.forward(sc.all)) })
        return record
    }
}
