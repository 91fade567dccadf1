import Datasets
import Foundation
import Networks
import Tensors

/// One training method as data, run by the one loop, `Trainer.run(_:data:config:context:)`: what its
/// `RunRecord` says, what trains, what one step costs and computes, and what an epoch's validation measures.
/// Each method (scratch, KD, FitNets, AT, SSKD's mimic and head) builds one and hands it to the Trainer.
public struct TrainingMethod {
    /// The record's method: `scratch`, `train-frozen`, `kd`, `fitnet`, `at`, `mimic`, `head`, `hint`, `finetune`.
    public var method: String
    /// The record's name unless the context names the run (`RunContext.runName`).
    public var name: String
    /// Method-specific hyper-parameters (`T`, `alpha`, `cached`...), added to the configuration's own
    /// (`TrainingConfig.hyperParameters`) in the record.
    public var hyperParameters: [String: String]
    /// The 0-based student stage a mimic trains (`RunRecord.stage`).
    public var stage: Int?
    /// Tensors the optimizer updates (frozen ones are filtered out).
    public var trainable: [Tensor]
    /// Every tensor (parameters and buffers) restored when the run diverges.
    public var guarded: [Tensor]
    /// What `DistillationError.nothingToTrain` names when `trainable` has no unfrozen tensor (nil: the
    /// context's model name).
    public var what: String?
    /// Which training images the batches hold (`.all` for label-free losses: unlabelled images carry label −1).
    public var images: TrainImages
    /// MACs per image of one step, split into student training and teacher forwards (`ComputeCost`).
    public var stepCost: ComputeCost
    /// What the method spent before its first step (feature caches, a mimic's distance before training), in MACs.
    public var setupCost: ComputeCost
    /// When that setup began: the record's `seconds` count from then (nil: from the first step).
    public var setupStarted: Date?
    /// Normalised feature distance before training (mimic runs; `RunRecord.distanceBefore`).
    public var distanceBefore: Double?
    /// The loss of one batch, with the graph recorded (a scalar tensor).
    public var step: (Batch) throws -> Tensor
    /// The metrics at the end of epoch `e` (1-based) and what measuring them cost; the pass reports its images to
    /// the given reporter (the run's observer: a progress bar on a terminal).
    public var validate: (Int, ProgressReporter) throws -> EpochMetrics

    /// A method; see the properties.
    public init(
        method: String, name: String, hyperParameters: [String: String] = [:], stage: Int? = nil,
        trainable: [Tensor], guarded: [Tensor], what: String? = nil, images: TrainImages = .labelled,
        stepCost: ComputeCost, setupCost: ComputeCost = ComputeCost(), setupStarted: Date? = nil,
        distanceBefore: Double? = nil, step: @escaping (Batch) throws -> Tensor,
        validate: @escaping (Int, ProgressReporter) throws -> EpochMetrics
    ) {
        self.method = method
        self.name = name
        self.hyperParameters = hyperParameters
        self.stage = stage
        self.trainable = trainable
        self.guarded = guarded
        self.what = what
        self.images = images
        self.stepCost = stepCost
        self.setupCost = setupCost
        self.setupStarted = setupStarted
        self.distanceBefore = distanceBefore
        self.step = step
        self.validate = validate
    }

    /// A method that trains every unfrozen parameter of the classifier `model` (all its state guarded) and
    /// validates its top-1 and loss on the validation split (`validationSplit`), one forward pass per image:
    /// scratch, KD, AT and FitNets' KD stage.
    /// - Parameters:
    ///   - costs: `model`'s `CostProfile` for the data's images, when the caller already has it.
    ///   - stepTeacherMACs: teacher MACs per image of one step (0 when it does not run or is cached).
    /// - Throws: `TensorError` when the data do not fit the model.
    static func classifier(
        _ model: Model, costs: CostProfile? = nil, method: String, hyperParameters: [String: String] = [:],
        images: TrainImages = .labelled, stepTeacherMACs: Int = 0, setupCost: ComputeCost = ComputeCost(),
        setupStarted: Date? = nil, data: DataSplits, cancellation: Cancellation,
        step: @escaping (Batch) throws -> Tensor
    ) throws -> TrainingMethod {
        let costs = try costs ?? CostProfile(model, imageShape: data.train.imageShape)
        let split = validationSplit(data)
        return TrainingMethod(
            method: method, name: method, hyperParameters: hyperParameters, trainable: model.parameters(),
            guarded: allState(model), images: images,
            stepCost: ComputeCost(training: costs.trainingStep(costs.all), teacher: stepTeacherMACs),
            setupCost: setupCost, setupStarted: setupStarted, step: step,
            validate: { _, progress in
                let e = try evaluate(model, data: data, split: split, cancellation: cancellation, progress: progress)
                return EpochMetrics(top1: e.top1, valLoss: e.loss, macs: costs.forward(costs.all) * e.count)
            })
    }
}

/// Metrics measured at the end of an epoch, and what measuring them cost.
public struct EpochMetrics {
    /// Validation top-1 (%), loss (nats), normalised feature distance and cosine; nil when not measured.
    public var top1: Double?, valLoss: Double?, featureDistance: Double?, cosine: Double?
    /// MACs the measurement spent (added to the record's `compute.evaluation`).
    public var macs: Int

    /// Metrics; every one defaults to not measured, `macs` to 0.
    public init(
        top1: Double? = nil, valLoss: Double? = nil, featureDistance: Double? = nil, cosine: Double? = nil,
        macs: Int = 0
    ) {
        self.top1 = top1
        self.valLoss = valLoss
        self.featureDistance = featureDistance
        self.cosine = cosine
        self.macs = macs
    }

    /// The number early stopping watches, oriented so that larger is better: −distance for mimic runs, else
    /// top-1, else −loss.
    var score: Double? { featureDistance.map { -$0 } ?? top1 ?? valLoss.map { -$0 } }
}

/// Tensors of a model's units (parameters, or parameters and buffers) whose dotted names start with one of `paths`.
func tensors(of model: Model, units paths: [String], buffers: Bool = false) -> [Tensor] {
    let entries = buffers ? model.stateDict() : model.namedParameters()
    return entries.filter { name, _ in paths.contains { name.hasPrefix($0 + ".") } }.map(\.1)
}

/// Every parameter and buffer of `model` (what a divergence restores).
func allState(_ model: Model) -> [Tensor] { model.stateDict().map(\.1) }
