import Datasets
import Foundation
import Networks
import Storage
import Tensors

/// The methods SSKD is compared with, each a `TrainingMethod` on the one training loop and budget:
/// scratch (cross-entropy only), KD (Hinton et al. 2015), FitNets (Romero et al. 2015) and
/// attention transfer (Zagoruyko & Komodakis 2017). The teacher always runs in eval mode without gradients.
/// Their losses are in BaselineLosses.swift, their cost arithmetic (for budgets) in BaselineCosts.swift.
public enum Baselines {
    /// The defaults of the methods' own hyper-parameters, the one place each is defined.
    public enum Defaults {
        /// KD temperature T (Hinton et al. 2015; RepDistiller's CIFAR setting).
        public static let temperature: Float = 4
        /// KD weight α of the soft-target term (RepDistiller's CIFAR setting).
        public static let alpha: Float = 0.9
        /// Attention-transfer weight β (Zagoruyko & Komodakis 2017, their code's value).
        public static let beta: Float = 1000
        /// FitNets' hinted stage, 0-based: the second stage (the REPL's `hint=2`).
        public static let hintStage = 1
        /// Epochs of FitNets' hint stage.
        public static let hintEpochs = 1
    }

    /// The KD temperatures accepted: 0.1 to 100. Hinton et al. use 1 to 20; much below 0.1 the softened
    /// distributions are one-hot in Float32 and the soft term is 0 (nothing is learned), much above 100 they are
    /// uniform.
    public static let temperatureRange: ClosedRange<Double> = 0.1...100

    /// Trains every not-frozen parameter of `model` with cross-entropy (with label smoothing ε if set) on the
    /// labelled training images; the record (named after its method unless `context.runName` is set) counts its
    /// steps and validations in `compute` (`ComputeCost`). Its method says what trained (`scratchMethod(_:)`):
    /// `scratch` with no stage frozen, `train-frozen` with some, `head` with all.
    /// - Throws: `DistillationError.nothingToTrain` when all is frozen; training errors.
    public static func scratch(_ model: Model, data: DataSplits, config: TrainingConfig, context: RunContext) throws
        -> RunRecord
    {
        let method = try TrainingMethod.classifier(
            model, method: scratchMethod(model), data: data, cancellation: context.cancellation
        ) { batch in
            try crossEntropy(
                try model.forward(batch.images, training: true), targets: batch.labels,
                labelSmoothing: config.labelSmoothing)
        }
        return try Trainer.run(method, data: data, config: config, context: context)
    }

    /// The method of a cross-entropy run of `model` (`scratch(_:data:config:context:)`) after its frozen stages:
    /// `scratch` when nothing is frozen, `head` when every stage is and the head is not (only the head trains), else
    /// `train-frozen` (some stages, or the head, frozen). Anything that groups runs by method (a `scratch` baseline)
    /// thus never takes a partly frozen model's run for one from scratch.
    public static func scratchMethod(_ model: Model) -> String {
        let frozen = model.stages.filter(\.isFrozen).count
        if model.head.isFrozen { return "train-frozen" }
        return frozen == 0 ? "scratch" : frozen == model.stages.count ? "head" : "train-frozen"
    }

    /// Hinton KD: the student trained on `kdLoss` against the teacher's logits `[N, K]`, on the labelled training
    /// images; with `unlabelled`, on every training image, the unlabelled ones through the soft term alone
    /// (`kdLossWithUnlabelled`, α = 1 on them). Without augmentation, when the run visits its images more than
    /// once, the teacher's logits are computed once (`FeatureCache`) instead of every step; the record's
    /// `compute` counts the teacher either way. The record is named `kd` unless `context.runName` is set.
    /// - Throws: `DistillationError` for T ≤ 0, α outside [0, 1], or differing class counts; training errors.
    public static func kd(
        student: Model, teacher: Model, temperature: Float = Defaults.temperature, alpha: Float = Defaults.alpha,
        data: DataSplits, config: TrainingConfig, unlabelled: Bool = false, context: RunContext
    ) throws -> RunRecord {
        let setupStart = Date()
        guard temperatureRange.contains(Double(temperature)) else {
            throw DistillationError.invalidOption(
                name: "T",
                reason: "must be in \(temperatureRange.lowerBound)...\(temperatureRange.upperBound), got \(temperature)"
            )
        }
        guard (0...1).contains(alpha) else {
            throw DistillationError.invalidOption(name: "alpha", reason: "must be in [0, 1], got \(alpha)")
        }
        try config.validate()
        var hp = ["T": "\(temperature)", "alpha": "\(alpha)"]
        if unlabelled { hp["unlabelled"] = "true" }
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
            ? try FeatureCache.build(
                data, images: images, budget: FeatureCache.memoryBudget, cancellation: context.cancellation,
                progress: ProgressReporter(context.observer, task: "feature cache: teacher logits")
            ) {
                try teacher.forward($0, training: false)
            } : nil
        if logits != nil { hp["cached"] = "teacher logits" }
        let method = try TrainingMethod.classifier(
            student, costs: sc, method: "kd", hyperParameters: hp, images: images,
            stepTeacherMACs: logits == nil ? tc.forward(tc.all) : 0,
            setupCost: ComputeCost(caches: logits.map { tc.forward(tc.all) * $0.images } ?? 0),
            setupStarted: setupStart, data: data, cancellation: context.cancellation
        ) { batch in
            let t =
                try logits?.gather(batch.indices) ?? withNoGrad { try teacher.forward(batch.images, training: false) }
            let s = try student.forward(batch.images, training: true)
            guard s.shape == t.shape else {
                throw DistillationError.incompatible(
                    "kd: student logits \(formatShape(s.shape)) and teacher logits \(formatShape(t.shape)) differ")
            }
            return try kdLossWithUnlabelled(
                student: s, teacher: t, labels: batch.labels, temperature: temperature, alpha: alpha,
                labelSmoothing: config.labelSmoothing)
        }
        return try Trainer.run(method, data: data, config: config, context: context)
    }

    /// FitNets: a hint stage regresses student stage `hintStage` onto the same teacher stage through an adapter
    /// (a 1x1 conv + BN regressor) for `hintEpochs`, training student stages 0...hint with `hintConfig`'s optimizer
    /// and learning rate (feature regression wants Adam, as SSKD's mimic); then KD for `config.epochs`, or, with
    /// `budget` (MACs), for as many steps as the budget leaves after the hint stage (reported through
    /// `TrainingObserver.budgetShared`).
    /// - Returns: the hint record (`fitnet hint`) and the KD record (`fitnet`).
    /// - Throws: as `SSKD.mimic` and `kd`.
    public static func fitnet(
        student: Model, teacher: Model, hintStage: Int, hintEpochs: Int, hintConfig hintBase: TrainingConfig? = nil,
        temperature: Float = Defaults.temperature, alpha: Float = Defaults.alpha, pool: Bool = false,
        data: DataSplits, config: TrainingConfig, budget: Int? = nil, context: RunContext
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
            config: hintConfig, adapter: regressor, pool: pool, context: context.named("fitnet hint"))
        hint.method = "hint"
        guard hint.status == .completed else { return [hint] }
        var kdConfig = config
        if let budget {
            let cost = try kdCost(student: student, teacher: teacher, data: data, config: config)
            let left = budget - hint.compute.total
            var share = BudgetShare(budget: budget, hintStage: hint.compute.total, kdSteps: nil, kdCost: cost(1))
            guard cost(1) <= left else {
                hint.stopReason = share.shortfall
                context.observer.budgetShared(share)
                return [hint]
            }
            kdConfig.steps = ComputeBudget.steps(budget: left, cost: cost)
            share.kdSteps = kdConfig.steps
            share.kdCost = cost(kdConfig.steps!)
            context.observer.budgetShared(share)
        }
        let rest = try kd(
            student: student, teacher: teacher, temperature: temperature, alpha: alpha, data: data, config: kdConfig,
            context: context.named("fitnet"))
        rest.method = "fitnet"
        rest.hyperParameters["hint_stage"] = "\(hintStage + 1)"
        rest.hyperParameters["hint_epochs"] = "\(hintEpochs)"
        return [hint, rest]
    }

    /// Attention transfer (Zagoruyko & Komodakis 2017, eq. 2): CE + β/2 · Σ_stages mean((Q_s − Q_t)²) with Q the
    /// normalised attention maps `[N, H·W]` of every stage (`attentionMap`). Stage maps must agree in spatial
    /// size. The record is named `at` unless `context.runName` is set.
    /// - Throws: `DistillationError` when stage counts or spatial sizes differ; training errors.
    public static func attentionTransfer(
        student: Model, teacher: Model, beta: Float = Defaults.beta, data: DataSplits, config: TrainingConfig,
        context: RunContext
    ) throws -> RunRecord {
        guard student.stages.count == teacher.stages.count else {
            throw DistillationError.incompatible(
                "at: student has \(counted(student.stages.count, "stage")), teacher \(teacher.stages.count)")
        }
        let sc = try CostProfile(student, imageShape: data.train.imageShape)
        let tc = try CostProfile(teacher, imageShape: data.train.imageShape)
        let method = try TrainingMethod.classifier(
            student, costs: sc, method: "at", hyperParameters: ["beta": "\(beta)"],
            stepTeacherMACs: tc.forward(0..<(teacher.stages.last?.range.upperBound ?? 0)), data: data,
            cancellation: context.cancellation
        ) { batch in
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
        }
        return try Trainer.run(method, data: data, config: config, context: context)
    }
}
