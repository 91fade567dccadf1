import Foundation

/// What one training command did: the record the reports, plots and exports draw from.
///
/// Units: loss in nats (cross-entropy) or squared feature units (mimic MSE); top-1 in percent;
/// times in seconds. Steps count optimizer updates from 1 across the whole run.
public final class RunRecord: Codable {
    /// Why a run ended.
    public enum Status: String, Codable { case completed, interrupted, diverged }

    /// One optimizer step.
    public struct Step: Codable, Equatable {
        public var step: Int, epoch: Int, loss: Double, learningRate: Double
    }
    /// The end of one epoch.
    public struct Epoch: Codable, Equatable {
        public var epoch: Int
        /// Mean training loss over the epoch's batches.
        public var trainLoss: Double
        /// Validation top-1 (%) for classification runs.
        public var top1: Double?
        /// Validation loss (cross-entropy) for classification runs.
        public var valLoss: Double?
        /// Normalised feature distance MSE/Var(teacher) on the validation split (mimic runs).
        public var featureDistance: Double?
        /// Mean cosine similarity of flattened student and teacher features (mimic runs).
        public var cosine: Double?
        /// Seconds since the run started.
        public var seconds: Double
    }

    /// Short run name as the user sees it: `scratch`, `kd`, `sskd stage 2`, ...
    public var name: String
    /// Method: `scratch`, `train-frozen` (cross-entropy with some stages frozen), `kd`, `fitnet`, `at`, `mimic`,
    /// `head` (SSKD's head, or cross-entropy with every stage frozen), `hint`, `finetune`.
    public var method: String
    /// The model trained (bound name in the session, or architecture).
    public var model: String
    /// The command line that started it.
    public var command: String
    /// Seed of shuffling, augmentation and new weights.
    public var seed: UInt64
    /// Hyper-parameters as shown in reports (`lr=0.05`, `T=4`, `alpha=0.9`).
    public var hyperParameters: [String: String]
    /// 0-based student stage for mimic/hint runs.
    public var stage: Int?
    /// Normalised feature distance before training (mimic runs).
    public var distanceBefore: Double?
    /// The split validation metrics were measured on (`val` or `test`).
    public var validationSplit: String
    public var steps: [Step] = []
    public var epochs: [Epoch] = []
    public var status: Status = .completed
    /// Human explanation when interrupted or diverged (names the step and the loss).
    public var stopReason: String?
    /// Wall time in seconds of the whole command's part for this run: training, validation, the distance
    /// before a mimic, and the building of every feature cache it used.
    public var seconds: Double = 0
    /// Compute spent, in MACs, by part (training, teacher forwards, caches, evaluation); see `ComputeCost`.
    public var compute = ComputeCost()

    /// Creates an empty record.
    public init(
        name: String, method: String, model: String, command: String, seed: UInt64,
        hyperParameters: [String: String], stage: Int? = nil, validationSplit: String
    ) {
        self.name = name
        self.method = method
        self.model = model
        self.command = command
        self.seed = seed
        self.hyperParameters = hyperParameters
        self.stage = stage
        self.validationSplit = validationSplit
    }

    /// Best validation top-1 over epochs (%), if measured.
    public var bestTop1: Double? { epochs.compactMap(\.top1).max() }
    /// Last validation top-1 (%), if measured.
    public var lastTop1: Double? { epochs.last?.top1 }
    /// Last epoch's mean training loss.
    public var lastLoss: Double? { epochs.last?.trainLoss ?? steps.last?.loss }
    /// Hyper-parameters as `key=value` in key order.
    public var hyperParameterText: String {
        hyperParameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    /// The record as pretty-printed JSON (keys sorted).
    /// - Throws: `EncodingError` only for non-finite numbers, which the training loop never stores.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Per-step rows (`step, epoch, loss, lr`) as named columns, the data behind `plot loss`.
    public var stepColumns: [(String, [String])] {
        [
            ("run", steps.map { _ in name }), ("step", steps.map { String($0.step) }),
            ("epoch", steps.map { String($0.epoch) }),
            ("loss", steps.map { String($0.loss) }), ("lr", steps.map { String($0.learningRate) }),
        ]
    }

    /// Per-epoch rows as named columns, the data behind `plot acc` and `plot gap`.
    public var epochColumns: [(String, [String])] {
        func opt(_ v: Double?) -> String { v.map { String($0) } ?? "" }
        return [
            ("run", epochs.map { _ in name }), ("epoch", epochs.map { String($0.epoch) }),
            ("train_loss", epochs.map { String($0.trainLoss) }), ("top1", epochs.map { opt($0.top1) }),
            ("val_loss", epochs.map { opt($0.valLoss) }), ("feature_distance", epochs.map { opt($0.featureDistance) }),
            ("cosine", epochs.map { opt($0.cosine) }), ("seconds", epochs.map { String($0.seconds) }),
        ]
    }
}
