import CImageCodecs
import Foundation
import Storage

#if canImport(Glibc)
    import Glibc
#endif

/// The size every image of an ImageFolder is resized to (`data DIR size=[H, W]`), in pixels.
public struct ImageSize: Sendable, Equatable, CustomStringConvertible {
    /// Height `H` in pixels.
    public var height: Int
    /// Width `W` in pixels.
    public var width: Int

    /// - Parameters: height `H` and width `W` in pixels (the reader checks them against `maximumImagePixels`).
    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    /// `[H, W]`, as PyTorch writes sizes.
    public var description: String { "[\(height), \(width)]" }
}

/// Options of `DatasetLoader.imageFolder(_:options:)`.
public struct ImageFolderOptions {
    /// Resize every image to this size (bilinear, see `DatasetLoader.resizeBilinear`); nil = all images must
    /// already have one size.
    public var size: ImageSize?
    /// For a folder without `test/` (or `val/`): how many images to hold out as the test split (seeded,
    /// class-balanced, like `val=`). Must be nil when the folder has a test split of its own.
    public var testCount: Int?
    /// Seed of the test hold-out.
    public var seed: UInt64
    /// Polled before each file is read; when it returns true the reader throws `CancellationError` (Ctrl-C).
    public var isCancelled: () -> Bool

    /// Defaults: no resize, no hold-out, seed 0, never cancelled.
    public init(
        size: ImageSize? = nil, testCount: Int? = nil, seed: UInt64 = 0,
        isCancelled: @escaping () -> Bool = { false }
    ) {
        self.size = size
        self.testCount = testCount
        self.seed = seed
        self.isCancelled = isCancelled
    }
}

/// What `DatasetLoader.imageFolder(_:options:)` read: both splits and lines telling where they came from.
public struct ImageFolderData: Sendable {
    /// The train split, `[N, C, H, W]` uint8 pixels.
    public let train: Dataset
    /// The test split (from `test/`, `val/`, or held out of train), same shape and classes.
    public let test: Dataset
    /// Lines for the REPL to print before the splits: the folders read, file counts by format, the image
    /// shape and conversions, files skipped. File names in them are escaped (`DatasetLoader.printable`).
    public let notes: [String]
}

/// Reader of torchvision `datasets.ImageFolder` layouts of PNG and JPEG files.
///
/// Layout (torchvision `ImageFolder`/`DatasetFolder`): one sub-folder per class, class names = the sub-folder
/// names sorted by code point (Python's `sorted`), class index = position in that order; the images of a class
/// are every file below its folder, sub-folders included (`os.walk(followlinks=True)` order: folders sorted by
/// path, files by name). A root holding `train/` is read as split folders: `train/` and `test/`, or `val/` when
/// there is no `test/` (ImageNet's layout); both must have the same class folders. Any other folder is one split
/// of class folders (torchvision's `ImageFolder(root)` on one split): every image is a train image and the test
/// split is empty, unless `testCount` holds a seeded, class-balanced test split out of it.
///
/// Files: `.png`, `.jpg`, `.jpeg` (case-insensitive, the PNG and JPEG part of torchvision's `IMG_EXTENSIONS`)
/// that are regular files (symbolic links followed). Names starting with `.` (files and folders) are skipped,
/// and so is everything else; the notes count them. The format is taken from the content (PNG signature or
/// JPEG SOI), not the extension. Decoding: libpng 1.6's simplified API (to 8-bit sRGB; 16-bit files scaled to
/// 8 bits, taken as sRGB when they carry no colour-space chunk) and libjpeg-turbo (JDCT_ISLOW, fancy upsampling,
/// as PIL). Channels: 1 when every image of both splits is grayscale (PNG gray or gray+alpha, one-component
/// JPEG), else 3 (R, G, B; gray copied to the three, alpha dropped without compositing as PIL's
/// `convert("RGB")`, CMYK JPEGs converted). Pixels are stored as bytes, scaled to `[0, 1]` (/255) in batches.
///
/// Bounds, checked from the headers before any pixel is decoded: `maximumImagePixels` per image,
/// `maximumImageFileBytes` per file, `maximumImageFolderBytes` for all decoded pixels of both splits.
extension DatasetLoader {
    /// Extensions read, lowercase: PNG and JPEG of torchvision's `IMG_EXTENSIONS`.
    public static let imageExtensions = ["png", "jpg", "jpeg"]
    /// The rest of torchvision's `IMG_EXTENSIONS`: skipped like other files, but counted apart in the notes.
    static let unsupportedImageExtensions = ["ppm", "bmp", "pgm", "tif", "tiff", "webp"]
    /// Most pixels (width × height) one image may have: 2^26 (67,108,864, e.g. 8192 × 8192).
    public static let maximumImagePixels = 1 << 26
    /// Largest image file read, in bytes: 1 GiB.
    public static let maximumImageFileBytes = 1 << 30
    /// Most decoded pixel bytes (N × C × H × W over train and test) an ImageFolder may hold: 8 GiB, or a quarter
    /// of the machine's physical memory when that is less (training makes Float32 batches and caches on top).
    public static var maximumImageFolderBytes: Int {
        min(1 << 33, Int(clamping: ProcessInfo.processInfo.physicalMemory / 4))
    }

    /// True when `path` names a folder and is not one of `standardNames` (nor `fashion`): `data DIR` then
    /// reads it with `imageFolder(_:options:)`.
    public static func isImageFolder(_ path: String) -> Bool {
        let key = path.lowercased()
        return !standardNames.contains(key) && key != "fashion" && fileKind(path) == .directory
    }

    /// Train and test splits `[N, C, H, W]` (uint8) of the ImageFolder at `root`; see the extension's
    /// documentation for the layout, formats, channels and bounds.
    ///
    /// Images of different sizes are an error unless `options.size` is given; then each image whose size
    /// differs is resized to it with `resizeBilinear`. Default augmentation: random crop with padding
    /// `min(H, W) / 8` plus horizontal flip for RGB (CIFAR's 4 at 32 pixels), padding `min(H, W) / 14` and no
    /// flip for gray (Fashion-MNIST's 2 at 28 pixels), at least 1.
    /// - Throws: `DatasetError.missingFile` (no such folder), `.badImageFolder` (no class folders, a class
    ///   without images, classes differing between splits, mixed sizes,
    ///   too much data, a file name that is not UTF-8), `.badImage` (empty, corrupt, truncated, too large or
    ///   unreadable file, naming it), `.invalidOption` (`test` out of range or given with a test folder,
    ///   `size` out of range), `CancellationError` when `options.isCancelled()` turns true.
    public static func imageFolder(_ root: String, options: ImageFolderOptions = ImageFolderOptions()) throws
        -> ImageFolderData
    {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        guard fileKind(root) == .directory else { throw DatasetError.missingFile(path: root) }
        if let size = options.size {
            guard size.height >= 1, size.width >= 1, size.height <= maximumImagePixels / size.width else {
                throw DatasetError.invalidOption(
                    name: "size", reason: "\(size) must be positive with at most \(maximumImagePixels) pixels")
            }
        }
        let trainDir = root + "/train"
        var testDir: String?
        if fileKind(trainDir) == .directory {
            testDir = [root + "/test", root + "/val"].first { fileKind($0) == .directory }
        }
        let splitFolders = fileKind(trainDir) == .directory
        let trainRoot = splitFolders ? trainDir : root
        if testDir != nil, let count = options.testCount {
            throw DatasetError.invalidOption(
                name: "test",
                reason: "\(count) images to hold out, but \(printable(root)) has its own test split "
                    + "(\(printable(testDir ?? ""))); test= is for a folder without one")
        }
        var scan = Scan()
        let classes = try classFolders(trainRoot)
        let trainFiles = try scan.files(trainRoot, classes: classes, cancelled: options.isCancelled)
        var testFiles = [ImageFile]()
        if let testDir {
            let testClasses = try classFolders(testDir)
            guard testClasses == classes else {
                func list(_ names: [String]) -> String { names.prefix(3).map(printable).joined(separator: ", ") }
                let missing = classes.filter { !testClasses.contains($0) }
                let extra = testClasses.filter { !classes.contains($0) }
                let parts =
                    (missing.isEmpty ? [] : ["lacks " + list(missing)])
                    + (extra.isEmpty ? [] : ["has no train counterpart for " + list(extra)])
                throw DatasetError.badImageFolder(
                    path: testDir,
                    reason: "its class folders differ from \(printable(trainRoot))'s: it "
                        + parts.joined(separator: " and "))
            }
            testFiles = try scan.files(testDir, classes: classes, cancelled: options.isCancelled)
        }

        // The test split of a single folder: a seeded class-balanced hold-out, chosen before anything is decoded.
        var heldOut = [Bool](repeating: false, count: trainFiles.count)
        if testDir == nil, let count = options.testCount {
            guard count >= 1, count < trainFiles.count else {
                throw DatasetError.invalidOption(
                    name: "test",
                    reason: "\(count) must be in 1..<\(trainFiles.count) (the images in \(printable(trainRoot)))")
            }
            for i in Sampling.balanced(
                labels: trainFiles.map(\.label), classCount: classes.count, count: count,
                seed: Sampling.mix(options.seed, 5))
            { heldOut[i] = true }
        }
        let allFiles = trainFiles + testFiles
        // Decoding may expand the files as inflating does (a PNG of zeros by 1000:1): the images at their own sizes
        // may hold at most `InflationLimit` times the bytes of their files.
        let decoded = allFiles.reduce(0) { $0 + $1.width * $1.height * ($1.gray ? 1 : 3) }
        let stored = allFiles.reduce(0) { $0 + $1.fileBytes }
        guard InflationLimit.allows(decoded, from: stored) else {
            throw DatasetError.badImageFolder(
                path: root,
                reason:
                    "its \(allFiles.count) image files of \(stored) bytes decode to \(decoded) bytes of pixels,"
                    + " more than \(InflationLimit.ratio):1 (real images compress far less)")
        }
        let channels = allFiles.allSatisfy(\.gray) ? 1 : 3
        let size = try commonSize(allFiles, options.size, root: root)
        let imageBytes = channels * size.height * size.width
        guard allFiles.count <= maximumImageFolderBytes / imageBytes else {
            throw DatasetError.badImageFolder(
                path: root,
                reason: "\(allFiles.count) images of [\(channels), \(size.height), \(size.width)] need "
                    + "\(allFiles.count * imageBytes) bytes, more than the limit of \(maximumImageFolderBytes) "
                    + "(8 GiB or a quarter of this machine's memory, the smaller); pass a smaller size=")
        }

        let base = datasetBase(root)
        let names = classes.map(printable)
        let p = min(size.height, size.width)
        let augmentation =
            channels == 3
            ? Augmentation(cropPadding: max(1, p / 8), horizontalFlip: true)
            : Augmentation(cropPadding: max(1, p / 14))
        func dataset(_ files: [ImageFile], _ name: String) throws -> Dataset {
            let pixels = try decode(files, channels: channels, size: size, cancelled: options.isCancelled)
            return Dataset(
                unchecked: name, pixels: .uint8(pixels), labels: files.map(\.label), channels: channels,
                height: size.height, width: size.width, classNames: names, defaultAugmentation: augmentation)
        }
        let train = try dataset(trainFiles.indices.filter { !heldOut[$0] }.map { trainFiles[$0] }, base + "/train")
        let heldOutFiles = trainFiles.indices.filter { heldOut[$0] }.map { trainFiles[$0] }
        let test = try dataset(testDir == nil ? heldOutFiles : testFiles, base + "/test")

        let pngs = allFiles.filter { $0.format == SSKD_IMAGE_PNG }.count
        let source =
            testDir.map {
                "\(test.count) from \(printable($0))" + ($0.hasSuffix("/val") ? " (val/ as the test split)" : "")
            }
            ?? (options.testCount == nil
                ? "none (a single split: pass test=N to hold N out, or add a test/ folder)"
                : "\(test.count) held out of them (class-balanced, seed \(options.seed))")
        var notes = [
            "\(printable(base)): ImageFolder of \(classes.count) classes: \(trainFiles.count) images from "
                + "\(printable(trainRoot)), test \(source); \(pngs) PNG, \(allFiles.count - pngs) JPEG"
        ]
        let resized = allFiles.filter { $0.height != size.height || $0.width != size.width }.count
        var shape =
            "images [\(channels), \(size.height), \(size.width)] "
            + (channels == 1
                ? "(all grayscale)"
                : allFiles.contains(where: \.gray) ? "(RGB; gray ones expanded)" : "(RGB)")
        if allFiles.contains(where: \.alpha) { shape += "; alpha dropped" }
        if resized > 0 { shape += "; \(resized) resized to \(size) (bilinear)" }
        notes.append(shape)
        if let skipped = scan.skippedSummary { notes.append(skipped) }
        return ImageFolderData(train: train, test: test, notes: notes)
    }

    /// `text` safe to print on a terminal (`Storage.printable`): used for file and folder names in messages.
    public static func printable(_ text: String) -> String { Storage.printable(text, limit: 4096) }
    /// The data set's name: the root folder's name, or its parent's when the root is a `train`/`test`/`val` split.
    static func datasetBase(_ root: String) -> String {
        let url = URL(fileURLWithPath: root)
        let last = url.standardizedFileURL.lastPathComponent
        if ["train", "test", "val"].contains(last) {
            let parent = url.standardizedFileURL.deletingLastPathComponent().lastPathComponent
            if !parent.isEmpty && parent != "/" { return parent }
        }
        return last.isEmpty ? "images" : last
    }
}
