import Storage

/// Image storage of a `Dataset`, row-major `[N, C, H, W]` (NCHW, as PyTorch).
///
/// `uint8` keeps raw 0...255 pixels (1 byte each: Fashion-MNIST train is 47 MB); `float32` holds
/// images that came as Float32 `.npy` arrays, taken to be already in `[0, 1]`.
public enum Pixels: Sendable, Equatable {
    /// Raw bytes 0...255; scaled by 1/255 when batched.
    case uint8([UInt8])
    /// Floats used as given (expected in `[0, 1]`).
    case float32([Float])

    /// Number of stored values (`N * C * H * W`).
    public var count: Int {
        switch self {
        case .uint8(let values): return values.count
        case .float32(let values): return values.count
        }
    }
}

/// One split of labelled images (e.g. Fashion-MNIST train): pixels `[N, C, H, W]`, labels `[N]`.
///
/// Immutable value; `subset(_:)` makes the train/val/limit selections used by `DataSplits`.
public struct Dataset: Sendable {
    /// Short name shown in summaries, e.g. `"fashion-mnist/train"`.
    public var name: String
    /// The images, `[N, C, H, W]` row-major.
    public let pixels: Pixels
    /// Class index of each image, each in `0..<classNames.count`.
    public let labels: [Int]
    /// Channels `C` (1 for grey, 3 for RGB).
    public let channels: Int
    /// Image height `H` in pixels.
    public let height: Int
    /// Image width `W` in pixels.
    public let width: Int
    /// Human-readable class names; their count is the number of classes.
    public let classNames: [String]
    /// Augmentation used for training when the user gives none (CIFAR: crop 4 + flip; others: crop 2).
    public var defaultAugmentation: Augmentation

    /// Creates a data set after checking that pixels fill `[labels.count, C, H, W]` and every label
    /// is a class index.
    /// - Throws: `DatasetError.invalidOption` on a size mismatch, `.labelOutOfRange` on a bad label
    ///   (naming `name`).
    public init(
        name: String, pixels: Pixels, labels: [Int], channels: Int, height: Int, width: Int,
        classNames: [String], defaultAugmentation: Augmentation = Augmentation()
    ) throws {
        guard channels > 0, height > 0, width > 0, pixels.count == labels.count * channels * height * width else {
            throw DatasetError.invalidOption(
                name: name,
                reason: "\(pixels.count) pixel values do not fill [\(labels.count), \(channels), \(height), \(width)]")
        }
        try Dataset.checkLabels(labels, classCount: classNames.count, path: name)
        self.init(
            unchecked: name, pixels: pixels, labels: labels, channels: channels, height: height,
            width: width, classNames: classNames, defaultAugmentation: defaultAugmentation)
    }

    init(
        unchecked name: String, pixels: Pixels, labels: [Int], channels: Int, height: Int, width: Int,
        classNames: [String], defaultAugmentation: Augmentation
    ) {
        self.name = name
        self.pixels = pixels
        self.labels = labels
        self.channels = channels
        self.height = height
        self.width = width
        self.classNames = classNames
        self.defaultAugmentation = defaultAugmentation
    }

    /// Number of images `N`.
    public var count: Int { labels.count }
    /// Shape of one image, `[C, H, W]`.
    public var imageShape: [Int] { [channels, height, width] }
    /// Number of classes (`classNames.count`).
    public var classCount: Int { classNames.count }
    /// Values per image, `C * H * W`.
    public var imageSize: Int { channels * height * width }

    /// How many images each class has, `[classCount]`.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for label in labels { counts[label] += 1 }
        return counts
    }

    /// Image `index` as `C * H * W` floats in `[0, 1]` (bytes divided by 255), CHW order.
    /// - Precondition: `0 <= index < count`.
    public func image(_ index: Int) -> [Float] {
        precondition(index >= 0 && index < count, "image \(index) of \(count)")
        let range = index * imageSize..<(index + 1) * imageSize
        switch pixels {
        case .uint8(let values): return values[range].map { Float($0) / 255 }
        case .float32(let values): return Array(values[range])
        }
    }

    /// The images at `indices` (in that order), same classes and shape.
    /// - Precondition: every index is in `0..<count` (callers pass indices they computed).
    public func subset(_ indices: [Int], name: String? = nil) -> Dataset {
        let size = imageSize
        func gather<T>(_ values: [T]) -> [T] {
            var out = [T]()
            out.reserveCapacity(indices.count * size)
            for i in indices { out.append(contentsOf: values[i * size..<(i + 1) * size]) }
            return out
        }
        let picked: Pixels
        switch pixels {
        case .uint8(let values): picked = .uint8(gather(values))
        case .float32(let values): picked = .float32(gather(values))
        }
        return Dataset(
            unchecked: name ?? self.name, pixels: picked, labels: indices.map { labels[$0] },
            channels: channels, height: height, width: width, classNames: classNames,
            defaultAugmentation: defaultAugmentation)
    }

    /// One line for the REPL's `data` command, e.g.
    /// `fashion-mnist/train: 60000 images [1, 28, 28], 10 classes (T-shirt/top, Trouser, ...)`.
    public var summary: String {
        let names = classNames.prefix(10).joined(separator: ", ") + (classCount > 10 ? ", ..." : "")
        return "\(name): \(counted(count, "image")) [\(channels), \(height), \(width)], "
            + "\(counted(classCount, "class")) (\(names))"
    }

    /// - Throws: `DatasetError.labelOutOfRange` for the first label outside `0..<classCount`.
    static func checkLabels(_ labels: [Int], classCount: Int, path: String) throws {
        if let index = labels.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
            throw DatasetError.labelOutOfRange(path: path, index: index, label: labels[index], classCount: classCount)
        }
    }

    /// Numbered classes `"0"`, ..., `"L"` for the labels of a file without class names, `L` the largest label.
    /// A label far above all the others (more than twice the next largest plus one, and at least 16: a 255 or
    /// 99999 among 0...9) is refused rather than making hundreds of empty classes: class ids must run 0..<K.
    /// - Throws: `DatasetError.labelOutOfRange` for a negative label or one of `maximumClasses` or more,
    ///   `.badValues` for an outlying label, naming `path` and the sample.
    static func numberedClasses(forLabels values: [Int], path: String) throws -> [String] {
        if let index = values.firstIndex(where: { $0 < 0 || $0 >= maximumClasses }) {
            throw DatasetError.labelOutOfRange(
                path: path, index: index, label: values[index], classCount: maximumClasses)
        }
        guard let largest = values.max() else { return numberedClasses(1) }
        let next = values.lazy.filter { $0 < largest }.max() ?? -1
        if largest >= 16, largest > 2 * (next + 1), let index = values.firstIndex(of: largest) {
            let others = next < 0 ? "no other label" : "the other labels lie in 0...\(next)"
            throw DatasetError.badValues(
                path: path,
                reason: "label \(largest) of sample \(index) stands far above the rest (\(others)); class ids must run"
                    + " 0..<K: remap the labels rather than make \(largest + 1) classes")
        }
        return numberedClasses(largest + 1)
    }

    /// Largest class count a file without class names may imply (labels are class indices below it).
    public static let maximumClasses = 100_000

    /// Class names `"0"`, `"1"`, ... for sets without names (MNIST digits, plain IDX/NumPy files).
    static func numberedClasses(_ count: Int) -> [String] { (0..<count).map(String.init) }
}
