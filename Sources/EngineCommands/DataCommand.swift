import Datasets
import Distillation
import Foundation
import Language
import Networks
import Storage
import Tensors

// data: load a data set, split it, make it the current data.

extension Session {
    func registerDataCommand() {
        commands.register(
            CommandSpec(
                "data", summary: "load a data set and split it into train, val and test (it becomes the current data)",
                arguments: [
                    ArgumentSpec(
                        "name", .valueOrWord,
                        DatasetLoader.standardNames.joined(separator: ", ")
                            + ", an .npz file, or an ImageFolder directory",
                        completion: [.values(DatasetLoader.standardNames), .files])
                ],
                options: DataOptions.specs,
                example: "data fashion-mnist val=5000"
            ) { inv, session in
                let name = inv.value("name").display
                let o = try DataOptions(inv)
                let normalization = try dataNormalization(o.normalize, inv)
                var keys: [String]?
                if let value = o.keys {
                    guard name.hasSuffix(".npz") else {
                        throw inv.error("option 'keys': only for .npz files", at: DataOptions.keys)
                    }
                    let items: [Value]
                    if case .list(let list) = value { items = list } else { items = [] }
                    let names = items.compactMap { v -> String? in
                        if case .string(let s) = v { return s } else { return nil }
                    }
                    guard items.count == 4, names.count == 4 else {
                        throw inv.error(
                            "option 'keys': expects 4 array names [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES,"
                                + " TEST_LABELS], got \(value.literal)", at: DataOptions.keys)
                    }
                    keys = names
                }
                let sets: (train: Dataset, test: Dataset)
                let imageFolder = DatasetLoader.isImageFolder(name)
                if !imageFolder {
                    for (option, given) in [
                        (DataOptions.size.name, o.size != nil), (DataOptions.test.name, o.test != nil),
                    ]
                    where given {
                        throw inv.error("option '\(option)': only for an ImageFolder directory", at: option)
                    }
                }
                if imageFolder && o.path != nil {
                    throw inv.error(
                        "option 'path': not for an ImageFolder directory (the directory is the name)",
                        at: DataOptions.path)
                }
                let folderOptions = imageFolder ? try imageFolderOptions(o, inv, session) : nil
                var notes = [String]()
                do {
                    if let folderOptions {
                        let folder = try DatasetLoader.imageFolder(name, options: folderOptions)
                        (sets, notes) = ((folder.train, folder.test), folder.notes)
                    } else if name.hasSuffix(".npz") {
                        sets = try DatasetLoader.npzSplits(name, keys: keys ?? DatasetLoader.defaultNpzKeys, name: name)
                    } else {
                        sets = try DatasetLoader.standard(name, path: o.path)
                    }
                } catch {
                    try session.checkInterrupt()  // Ctrl-C stopped an ImageFolder read (CancellationError)
                    throw inv.error("\(error)", at: "name")
                }
                try session.checkInterrupt()  // Ctrl-C while reading the files: the previous data stays current
                guard sets.train.count > 0 else {
                    throw inv.error("\(sets.train.name) has no training images", at: "name")
                }
                guard o.validation < sets.train.count else {
                    throw inv.error(
                        "option 'val': must be less than the \(sets.train.count) train images, got \(o.validation)",
                        at: DataOptions.validation)
                }
                var config = DataConfig(
                    validation: o.validation, limit: o.limit, labels: o.labels, seed: UInt64(max(0, o.seed)),
                    normalization: normalization)
                if let augment = o.augment {
                    config.augmentation = augment ? sets.train.defaultAugmentation : Augmentation.none
                }
                let splits: DataSplits
                do { splits = try DataSplits(train: sets.train, test: sets.test, config: config) } catch let
                    DatasetError.invalidOption(option, reason)
                {
                    throw inv.error("option '\(option)': \(reason)", at: inv.has(option) ? option : nil)
                } catch { throw inv.error("\(error)") }
                let object = DataObject(name: name, splits: splits)
                if !imageFolder && !name.hasSuffix(".npz") {
                    let fashion = ["fashion-mnist", "fashion"].contains(name.lowercased())
                    object.path = o.path ?? (fashion ? DatasetLoader.defaultFashionMNISTRoot : nil)
                }
                session.workspace.data = object
                for note in notes { session.print(note) }
                session.print(splits.summary)
                // Loaded models whose checkpoint records other data are warned about now, not only at their next use.
                for case (_, .object(let model as ModelObject)) in session.bindings.sorted(by: { $0.key < $1.key }) {
                    session.warnIfDataDiffers(model, object)
                }
                return .object(object)
            })

    }
}

/// The words `normalize=` takes.
let normalizationWords = ["computed", "none"] + Normalization.presetNames

/// The `normalize=` option of `data`: `computed`, `none`, a preset name, or `[[MEAN, ...], [STD, ...]]`
/// (one mean and one std per channel; `DataSplits` checks the counts and signs against the data).
/// - Throws: an error at `normalize` for any other value, with the closest word as a suggestion.
func dataNormalization(_ value: Value, _ inv: Invocation) throws -> Normalization {
    let words = normalizationWords
    switch value {
    case .string("computed"): return .computed
    case .string("none"): return .none
    case .string(let word) where words.contains(word): return .preset(word)
    case .list(let pair) where pair.count == 2:
        func numbers(_ v: Value) -> [Float]? {
            guard case .list(let items) = v, !items.isEmpty else { return nil }
            let values = items.compactMap { item -> Float? in
                if case .number(let x) = item { return Float(x) } else { return nil }
            }
            return values.count == items.count ? values : nil
        }
        if let mean = numbers(pair[0]), let std = numbers(pair[1]) { return .given(mean: mean, std: std) }
    default: break
    }
    var message =
        "option 'normalize': expected " + words.joined(separator: ", ")
        + " or [[MEAN, ...], [STD, ...]], got \(value.literal)"
    if case .string(let word) = value { message += didYouMean(word, words) }
    throw inv.error(message, at: DataOptions.normalize)
}

/// The `size=`, `test=` and `seed=` options of `data DIR` for an ImageFolder, Ctrl-C polled between files.
/// - Throws: an error at `size` unless it is a whole number N (N x N) or a list [H, W] of them, each within the
///   declared bound.
func imageFolderOptions(_ o: DataOptions, _ inv: Invocation, _ session: Session) throws -> ImageFolderOptions {
    var size: ImageSize?
    if let value = o.size {
        let sides: [Int]?
        switch value {
        case .list(let items) where items.count == 2: sides = items.compactMap(\.integer)
        case .number: sides = value.integer.map { [$0, $0] }
        default: sides = nil
        }
        guard let sides, sides.count == 2, sides.allSatisfy({ Limits.imageSide.contains($0) }) else {
            throw inv.error(
                "option 'size': expected N or [H, W] with whole numbers in "
                    + "\(Limits.imageSide.lowerBound)...\(Limits.imageSide.upperBound), got \(value.literal)",
                at: DataOptions.size)
        }
        size = ImageSize(height: sides[0], width: sides[1])
    }
    return ImageFolderOptions(
        size: size, testCount: o.test, seed: UInt64(max(0, o.seed)), isCancelled: { session.interruptRequested })
}

/// The options of `data`, each declared once and read once per call.
struct DataOptions {
    /// `val=`.
    static let validation = TypedOption<Int>.integer(
        "val", default: 0, bounds: Limits.heldOut, "images held out of train for validation (seeded, class-balanced)")
    /// `limit=`.
    static let limit = TypedOption<Int>.integer(
        "limit", bounds: Limits.images, "keep a seeded class-balanced subset of this many train (and test) images")
    /// `labels=`.
    static let labels = TypedOption<Int>.integer(
        "labels", bounds: Limits.images,
        "keep labels on a seeded class-balanced subset of this many train images; the rest are unlabelled")
    /// `normalize=`, read by `dataNormalization`.
    static let normalize = TypedOption<Value>.value(
        "normalize", type: .valueOrWord, default: .string("computed"), completion: [.values(normalizationWords)],
        "computed (full train split), none (pixels/255), a preset (" + Normalization.presetNames.joined(separator: ", ")
            + ") or [[MEAN, ...], [STD, ...]]")
    /// `seed=`.
    static let seed = TypedOption<Int>.integer(
        "seed", session: "seed", "seed of the hold-out, subset, shuffling and augmentation")
    /// `augment=`.
    static let augment = TypedOption<Bool>.bool(
        "augment", "random crop (+ flip for CIFAR) on train batches; default: the data set's")
    /// `path=`.
    static let path = TypedOption<String>.path(
        "path", "folder of the files, or torchvision's root (default: the Debian package's for fashion-mnist)")
    /// `keys=`.
    static let keys = TypedOption<Value>.value(
        "keys", type: .valueOrWord,
        "the .npz arrays: [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS] (default: [x_train, y_train, "
            + "x_test, y_test])")
    /// `size=`, read by `imageFolderOptions`.
    static let size = TypedOption<Value>.value(
        "size", each: .range(Limits.imageSide),
        "ImageFolder: resize every image to [H, W] (or N for N x N), bilinear")
    /// `test=`.
    static let test = TypedOption<Int>.integer(
        "test", bounds: Limits.images,
        "ImageFolder without test/: images held out as the test split (seeded, "
            + "class-balanced)")
    /// The declarations in help order.
    static let specs = [
        validation.spec, limit.spec, labels.spec, normalize.spec, seed.spec, augment.spec, path.spec, keys.spec,
        size.spec, test.spec,
    ]

    let validation: Int
    let limit: Int?
    let labels: Int?
    let normalize: Value
    let seed: Int
    let augment: Bool?
    let path: String?
    let keys: Value?
    let size: Value?
    let test: Int?

    /// Reads the options of `inv`.
    init(_ inv: Invocation) throws {
        validation = try inv.get(Self.validation)
        limit = try inv.optional(Self.limit)
        labels = try inv.optional(Self.labels)
        normalize = try inv.get(Self.normalize)
        seed = try inv.get(Self.seed)
        augment = try inv.optional(Self.augment)
        path = try inv.optional(Self.path)
        keys = try inv.optional(Self.keys)
        size = try inv.optional(Self.size)
        test = try inv.optional(Self.test)
    }
}
