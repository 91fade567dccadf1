import Foundation

/// Readers for the IDX format of the MNIST family (MNIST, Fashion-MNIST, KMNIST, EMNIST).
///
/// Spec (Yann LeCun's MNIST page): big-endian magic `00 00 08 0R` (`08` = unsigned byte, `R` = rank),
/// then `R` big-endian UInt32 sizes, then the bytes. Images are rank 3 `[N, H, W]` (`*-idx3-ubyte`),
/// labels rank 1 `[N]` (`*-idx1-ubyte`). Files may be raw or gzipped (`.gz`).
extension DatasetLoader {
    /// Where Debian's `dataset-fashion-mnist` package installs the gzipped IDX files.
    public static let defaultFashionMNISTRoot = "/usr/share/datasets/fashion-mnist"

    /// The ten Fashion-MNIST classes, in label order (Xiao et al., arXiv 1708.07747).
    public static let fashionMNISTClasses = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Fashion-MNIST train (60,000) or test (10,000) images `[N, 1, 28, 28]` from
    /// `root/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`.
    /// - Throws: `DatasetError` naming the file (missing, bad magic, truncated, counts, labels >= 10).
    public static func fashionMNIST(root: String = defaultFashionMNISTRoot, train: Bool) throws -> Dataset {
        try mnistFolder(root, name: "fashion-mnist", train: train, classNames: fashionMNISTClasses)
    }

    /// torchvision's folder for each data set under its `root` (`root/FashionMNIST/raw/...`).
    public static let torchvisionFolders = ["fashion-mnist": "FashionMNIST", "mnist": "MNIST", "kmnist": "KMNIST"]

    /// An MNIST-format folder (MNIST, KMNIST, Fashion-MNIST, one EMNIST split): finds the one
    /// `*train-images*idx3-ubyte[.gz]` / `*train-labels*idx1-ubyte[.gz]` pair (or `t10k`/`test` for
    /// the test split) and reads it with `idx(images:labels:)`. The files are searched in `dir` itself,
    /// then, when `name` is one of `torchvisionFolders`, in torchvision's layout: `dir/FashionMNIST/raw`
    /// (`dir` is torchvision's `root`), then `dir/raw` (`dir` is `root/FashionMNIST`).
    /// - Throws: `DatasetError.missingFile` when `dir` is not a folder, `.missingFiles` naming the folders
    ///   searched when none holds the images, `.invalidOption` when several files match, plus the errors of
    ///   `idx(images:labels:)`.
    public static func mnistFolder(
        _ dir: String, name: String, train: Bool,
        classNames: [String]? = nil
    ) throws -> Dataset {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isFolder), isFolder.boolValue else {
            throw DatasetError.missingFile(path: dir)
        }
        let folders = [dir] + (torchvisionFolders[name].map { ["\(dir)/\($0)/raw", "\(dir)/raw"] } ?? [])
        let holdsImages = { (folder: String) in try findIDX(in: folder, kind: "images", rank: 3, train: train) != nil }
        guard let folder = try folders.first(where: holdsImages),
            let images = try findIDX(in: folder, kind: "images", rank: 3, train: train)
        else {
            throw DatasetError.missingFiles(
                wanted: "\(train ? "train" : "t10k")-images-idx3-ubyte[.gz]",
                folders: folders)
        }
        guard let labels = try findIDX(in: folder, kind: "labels", rank: 1, train: train) else {
            throw DatasetError.missingFile(path: "\(folder)/\(train ? "train" : "t10k")-labels-idx1-ubyte[.gz]")
        }
        return try idx(
            images: images, labels: labels, name: "\(name)/\(train ? "train" : "test")",
            classNames: classNames)
    }

    /// Any MNIST-format image/label pair: images `[N, 1, H, W]` uint8, labels `[N]`.
    /// `classNames` fixes the classes (labels must lie below its count); without it the classes are
    /// `"0"..."K-1"` with `K` = largest label + 1. Default augmentation: random crop, padding 2.
    /// - Throws: `DatasetError.missingFile`, `.unreadableGzip`, `.badMagic`, `.badHeader`,
    ///   `.truncated`, `.countMismatch`, `.labelOutOfRange`.
    public static func idx(
        images: String, labels: String, name: String? = nil,
        classNames: [String]? = nil
    ) throws -> Dataset {
        try idx(
            imageBytes: FileBytes.read(images), imagesPath: images, labelBytes: FileBytes.read(labels),
            labelsPath: labels, name: name, classNames: classNames)
    }

    /// `idx(images:labels:)` on the (already inflated) bytes of the two files; the paths are named in errors.
    /// - Throws: `DatasetError.badMagic`, `.badHeader`, `.truncated`, `.countMismatch`, `.labelOutOfRange`.
    static func idx(
        imageBytes: [UInt8], imagesPath images: String, labelBytes: [UInt8], labelsPath labels: String,
        name: String? = nil, classNames: [String]? = nil
    ) throws -> Dataset {
        let (imageDims, pixels) = try parseIDX(imageBytes, path: images, rank: 3)
        let (labelDims, labelValues) = try parseIDX(labelBytes, path: labels, rank: 1)
        guard imageDims[0] == labelDims[0] else {
            throw DatasetError.countMismatch(
                images: images, imageCount: imageDims[0],
                labels: labels, labelCount: labelDims[0])
        }
        let values = labelValues.map(Int.init)
        let classes = try classNames ?? Dataset.numberedClasses(forLabels: values, path: labels)
        try Dataset.checkLabels(values, classCount: classes.count, path: labels)
        return Dataset(
            unchecked: name ?? URL(fileURLWithPath: images).lastPathComponent, pixels: .uint8(pixels),
            labels: values, channels: 1, height: imageDims[1], width: imageDims[2],
            classNames: classes, defaultAugmentation: Augmentation(cropPadding: 2))
    }

    /// Parses one unsigned-byte IDX file of rank `rank` (its bytes, inflated): its sizes and its
    /// `product(sizes)` bytes. Sizes are checked against the byte count before the payload is copied.
    /// - Throws: `DatasetError.truncated`, `.badMagic`, `.badHeader` naming `path`.
    static func parseIDX(_ bytes: [UInt8], path: String, rank: Int) throws -> (dims: [Int], bytes: [UInt8]) {
        guard bytes.count >= 4 else {
            throw DatasetError.truncated(path: path, expectedBytes: 4, actualBytes: bytes.count)
        }
        guard bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08, Int(bytes[3]) == rank else {
            let found = bytes[0..<4].map { String(format: "%02x", $0) }.joined()
            throw DatasetError.badMagic(
                path: path, expected: String(format: "000008%02x (unsigned bytes, rank %d)", rank, rank),
                found: found)
        }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DatasetError.truncated(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        let dims = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * d + $1]) } }
        let (payload, overflow) = dims.reduce((1, false)) { acc, dim in
            let (product, o) = acc.0.multipliedReportingOverflow(by: dim)
            return (product, acc.1 || o)
        }
        guard !overflow, dims.dropFirst().allSatisfy({ $0 > 0 }) else {
            throw DatasetError.badHeader(path: path, reason: "sizes \(dims) are not a valid image/label array")
        }
        guard bytes.count - headerSize >= payload else {
            throw DatasetError.truncated(path: path, expectedBytes: headerSize + payload, actualBytes: bytes.count)
        }
        return (dims, Array(bytes[headerSize..<(headerSize + payload)]))
    }

    /// The single file in `dir` for this split and kind, e.g. `t10k-labels-idx1-ubyte.gz`; nil when there
    /// is none (or `dir` is not a readable folder).
    /// - Throws: `DatasetError.invalidOption` when several files match.
    private static func findIDX(in dir: String, kind: String, rank: Int, train: Bool) throws -> String? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        let splitWords = train ? ["train-\(kind)"] : ["t10k-\(kind)", "test-\(kind)"]
        let matches = entries.filter { entry in
            splitWords.contains { entry.contains($0) } && entry.contains("idx\(rank)-ubyte")
        }.sorted()
        // A folder may hold both `x-ubyte` and `x-ubyte.gz` (torchvision keeps both); prefer the raw file.
        let distinct = matches.filter { !($0.hasSuffix(".gz") && matches.contains(String($0.dropLast(3)))) }
        guard let file = distinct.first else { return nil }
        guard distinct.count == 1 else {
            throw DatasetError.invalidOption(
                name: dir,
                reason: "several \(kind) files match: "
                    + "\(distinct.map(printable).joined(separator: ", ")); pass the paths")
        }
        return "\(dir)/\(file)"
    }
}
