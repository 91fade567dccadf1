import Foundation
import Storage

/// Which training images `DataSplits.batches(.train, ...)` serves when only some keep their labels (`labels=`).
public enum TrainImages: Sendable {
    /// Only the labelled images (`DataSplits.labelled`), with their labels.
    case labelled
    /// Every training image; an unlabelled one carries the label -1 in `Batch.labels`.
    case all
}

/// Options turning a loaded train/test pair into `DataSplits` (the REPL's `data ... val=5000 limit=1000 seed=1`).
public struct DataConfig: Sendable, Equatable {
    /// Number of train images held out (class-balanced, seeded) as the validation split; 0 = none.
    public var validation: Int
    /// When set, train and test are each cut to at most this many images (class-balanced, seeded),
    /// after the validation hold-out; for quick demos and tests.
    public var limit: Int?
    /// When set, only this many training images keep their labels (class-balanced, seeded, chosen after
    /// the hold-out and the limit); the others stay in `train` as unlabelled images. Must be in
    /// `1...train.count`; `train.count` labels every image.
    public var labels: Int?
    /// Seed of the hold-out, the limit, the labelled subset, the per-epoch shuffle and the augmentation.
    public var seed: UInt64
    /// Train-time augmentation; nil = the data set's default (CIFAR: crop 4 + flip; MNIST family: crop 2).
    public var augmentation: Augmentation?
    /// Per-channel normalisation.
    public var normalization: Normalization

    /// Defaults: no validation split, no limit, every image labelled, seed 0, the data set's augmentation,
    /// mean/std computed on the full train split.
    public init(
        validation: Int = 0, limit: Int? = nil, labels: Int? = nil, seed: UInt64 = 0, augmentation: Augmentation? = nil,
        normalization: Normalization = .computed
    ) {
        self.validation = validation
        self.limit = limit
        self.labels = labels
        self.seed = seed
        self.augmentation = augmentation
        self.normalization = normalization
    }
}

/// The train / validation / test splits of one data set, with the normalisation and augmentation
/// every batch uses.
public struct DataSplits: Sendable {
    /// Which split to draw batches from.
    public enum Split: String, Sendable, CaseIterable { case train, val, test }

    /// Training images (what is left after the validation hold-out, then `limit`), labelled or not.
    public let train: Dataset
    /// Sorted indices into `train` of the images whose labels may be used: a seeded class-balanced
    /// `labelCount` of them with `labels=`, else all of `0..<train.count`.
    public let labelled: [Int]
    /// The `labels=` count given (`DataConfig.labels`); nil when every image is labelled.
    public let labelCount: Int?
    /// Held-out validation images, taken from the original train split (empty when `validation == 0`).
    public let val: Dataset
    /// Test images (cut to `limit` when set).
    public let test: Dataset
    /// Per-channel mean subtracted after scaling to `[0, 1]`, `[C]`.
    public let mean: [Float]
    /// Per-channel standard deviation divided by, `[C]` (never 0).
    public let std: [Float]
    /// The normalisation in force: `"computed"` (on the full train split), `"none"` (pixels/255 only),
    /// `"given"`, or a preset's name (`"cifar10"`, `"half"`, ...).
    public let normalizationName: String
    /// Augmentation of train batches.
    public let augmentation: Augmentation
    /// Seed of the shuffle and augmentation streams.
    public let seed: UInt64

    /// Fixes mean/std (`.computed`: on all of `fullTrain`), splits `fullTrain` into train/val, applies
    /// `limit`, then picks the labelled images.
    /// - Throws: `DatasetError.invalidOption` naming the option: `test` when `train` and `test` differ in
    ///   image shape or classes, `val` when negative or leaving no training image, `limit` when not
    ///   positive, `labels` when outside `1...train.count` (after hold-out and limit), `normalize` for
    ///   an unknown preset, a preset of another channel count, or given values that are not one mean
    ///   and one positive std per channel.
    public init(train fullTrain: Dataset, test fullTest: Dataset, config: DataConfig = DataConfig()) throws {
        guard fullTrain.imageShape == fullTest.imageShape, fullTrain.classNames == fullTest.classNames else {
            throw DatasetError.invalidOption(
                name: "test",
                reason:
                    "\(fullTest.name) \(fullTest.imageShape) with \(fullTest.classCount) classes does not match "
                    + "\(fullTrain.name) \(fullTrain.imageShape) with \(fullTrain.classCount) classes"
            )
        }
        guard config.validation >= 0, config.validation < fullTrain.count else {
            throw DatasetError.invalidOption(
                name: "val", reason: "\(config.validation) must be in 0..<\(fullTrain.count) (the train size)")
        }
        if let limit = config.limit, limit <= 0 {
            throw DatasetError.invalidOption(name: "limit", reason: "\(limit) must be positive")
        }
        (mean, std, normalizationName) = try config.normalization.resolve(for: fullTrain)
        let heldOut = Sampling.balanced(
            labels: fullTrain.labels, classCount: fullTrain.classCount,
            count: config.validation, seed: Sampling.mix(config.seed, 1))
        var isHeldOut = [Bool](repeating: false, count: fullTrain.count)
        for i in heldOut { isHeldOut[i] = true }
        let base = fullTrain.name.hasSuffix("/train") ? String(fullTrain.name.dropLast(6)) : fullTrain.name
        var train = fullTrain.subset((0..<fullTrain.count).filter { !isHeldOut[$0] })
        var test = fullTest
        val = fullTrain.subset(heldOut, name: base + "/val")
        if let limit = config.limit {
            func cut(_ d: Dataset, tag: UInt64) -> Dataset {
                d.count <= limit
                    ? d
                    : d.subset(
                        Sampling.balanced(
                            labels: d.labels, classCount: d.classCount, count: limit,
                            seed: Sampling.mix(config.seed, tag)))
            }
            train = cut(train, tag: 2)
            test = cut(test, tag: 3)
        }
        if let n = config.labels, !(1...train.count).contains(n) {
            throw DatasetError.invalidOption(
                name: "labels",
                reason: "\(n) must be in 1...\(train.count) (the train images left after the hold-out and limit)")
        }
        self.train = train
        self.test = test
        labelCount = config.labels
        labelled =
            config.labels.map {
                Sampling.balanced(
                    labels: train.labels, classCount: train.classCount, count: $0,
                    seed: Sampling.mix(config.seed, 4))
            } ?? Array(0..<train.count)
        augmentation = config.augmentation ?? fullTrain.defaultAugmentation
        seed = config.seed
    }

    /// The data set behind `split`.
    public func dataset(_ split: Split) -> Dataset {
        switch split {
        case .train: return train
        case .val: return val
        case .test: return test
        }
    }

    /// Mini-batches of `split`. With `shuffle` (default: only for `.train`) the order is a fresh
    /// permutation per epoch, seeded by (data seed, epoch, `seed` when given), and train batches are
    /// augmented from the same seed; otherwise the order is fixed and nothing is augmented (evaluation).
    /// The last partial batch is kept. The next batch is assembled on a background thread while the
    /// current one is in use.
    ///
    /// For `.train`, `images` says which images: `.labelled` only those in `labelled` (the permutation
    /// is over them), `.all` every training image, each unlabelled one with label -1 (no label) in
    /// `Batch.labels`, so its true label never reaches the caller through a batch. `Batch.indices` are
    /// indices into `train` either way. `.val` and `.test` ignore `images`.
    /// - Parameter seed: mixed with the data's own seed into the shuffle and augmentation seed, so a
    ///   training run's `seed=` changes its batch order; nil keeps the data's order alone.
    /// - Throws: `DatasetError.invalidOption` when `batchSize < 1` or `epoch < 0`.
    public func batches(
        _ split: Split, batchSize: Int, epoch: Int = 0, shuffle: Bool? = nil, seed: UInt64? = nil,
        images: TrainImages = .labelled
    ) throws -> BatchSequence {
        guard batchSize >= 1 else {
            throw DatasetError.invalidOption(name: "batch", reason: "\(batchSize) must be at least 1")
        }
        guard epoch >= 0 else { throw DatasetError.invalidOption(name: "epoch", reason: "\(epoch) must be at least 0") }
        let data = dataset(split)
        let training = shuffle ?? (split == .train)
        let epochSeed =
            seed.map { Sampling.mix(self.seed, 100, UInt64(epoch), $0) } ?? Sampling.mix(self.seed, 100, UInt64(epoch))
        let pool = split == .train && images == .labelled ? labelled : Array(0..<data.count)
        let order = training ? Sampling.permutation(pool.count, seed: epochSeed).map { pool[$0] } : pool
        var isLabelled: [Bool]?
        if split == .train, images == .all, labelled.count < train.count {
            isLabelled = [Bool](repeating: false, count: train.count)
            for i in labelled { isLabelled?[i] = true }
        }
        let augment = training && split == .train ? augmentation : .none
        return BatchSequence(
            dataset: data, order: order, batchSize: batchSize, mean: mean, std: std,
            augmentation: augment, seed: epochSeed, isLabelled: isLabelled)
    }

    /// What the `val` line of `summary` adds when no validation split is held out.
    public static let noValidationNote =
        " (no validation split: per-epoch top-1 is measured on test, for monitoring only; "
        + "val=N holds one out)"

    /// Several lines for the REPL's `data` command: each split (and how many train images are labelled),
    /// the shape, classes and preprocessing, e.g.
    /// `normalize: computed (full train split) mean [0.2860] std [0.3530]; augmentation: crop 2; seed 1`.
    public var summary: String {
        var labels = ""
        if labelCount != nil {
            labels =
                labelled.count == train.count
                ? "; all \(train.count) labelled"
                : "; \(labelled.count) labelled (class-balanced, seed \(seed)), \(train.count - labelled.count) "
                    + "unlabelled"
        }
        let values = "mean \(Normalization.format(mean)) std \(Normalization.format(std))"
        let normalize: String
        switch normalizationName {
        case "computed": normalize = "computed (full train split) " + values
        case "none": normalize = "none (pixels/255)"
        default: normalize = normalizationName + " " + values
        }
        let valLine =
            "\(val.name): \(counted(val.count, "image"))"
            + (val.count > 0
                ? ""
                : test.count > 0
                    ? Self.noValidationNote
                    : " (no validation or test split: training "
                        + "measures no per-epoch top-1; val=N holds one out)")
        return [
            train.summary + labels, valLine, "\(test.name): \(counted(test.count, "image"))",
            "normalize: \(normalize); augmentation: \(augmentation); seed \(seed)",
        ]
        .joined(separator: "\n")
    }
}
