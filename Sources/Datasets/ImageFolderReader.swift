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

    /// Bilinear resize of an `[H, W, C]` (channel-interleaved) uint8 image to `[toHeight, toWidth, C]`, as
    /// PyTorch's `interpolate(mode="bilinear", align_corners=False, antialias=False)` (torchvision
    /// `Resize(antialias=False)` on tensors): output pixel `(y, x)` samples the input at
    /// `sy = max(0, (y + 0.5) * H / toHeight - 0.5)` (likewise `sx`), weighting its two neighbouring rows and
    /// columns (the last one repeated at the border) by distance; the result is rounded to the nearest integer,
    /// halves up. No antialiasing: shrinking by more than 2 skips pixels (PIL's resize, which torchvision uses on
    /// PIL images, averages them).
    /// - Precondition: `pixels.count == height * width * channels` and all sizes positive (the reader's own
    ///   sizes; never file data unchecked).
    public static func resizeBilinear(
        _ pixels: [UInt8], height: Int, width: Int, channels: Int,
        toHeight: Int, toWidth: Int
    ) -> [UInt8] {
        precondition(pixels.count == height * width * channels && toHeight > 0 && toWidth > 0, "resizeBilinear sizes")
        func taps(_ n: Int, _ size: Int) -> [(Int, Int, Double)] {
            let scale = Double(size) / Double(n)
            return (0..<n).map { i in
                let source = max(0, (Double(i) + 0.5) * scale - 0.5)
                let i0 = min(Int(source), size - 1)
                return (i0, min(i0 + 1, size - 1), source - Double(i0))
            }
        }
        let rows = taps(toHeight, height)
        let columns = taps(toWidth, width)
        var out = [UInt8](repeating: 0, count: toHeight * toWidth * channels)
        for (y, (y0, y1, wy)) in rows.enumerated() {
            for (x, (x0, x1, wx)) in columns.enumerated() {
                for c in 0..<channels {
                    func at(_ r: Int, _ q: Int) -> Double { Double(pixels[(r * width + q) * channels + c]) }
                    let top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
                    let bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
                    let value = top * (1 - wy) + bottom * wy
                    out[(y * toWidth + x) * channels + c] = UInt8(min(255, max(0, (value + 0.5).rounded(.down))))
                }
            }
        }
        return out
    }

    /// `text` safe to print on a terminal (`Storage.printable`): used for file and folder names in messages.
    public static func printable(_ text: String) -> String { Storage.printable(text, limit: 4096) }

    // MARK: - Folders

    enum FileKind { case directory, regular, other, missing }

    /// What `path` is, symbolic links followed (a dangling link is `.missing`).
    static func fileKind(_ path: String) -> FileKind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .regular
        default: return .other
        }
    }

    /// The entries of `dir` (not `.` and `..`), unsorted.
    /// - Throws: `DatasetError.unreadable` when it cannot be listed, `.badImageFolder` for a name that is not UTF-8.
    static func entries(_ dir: String) throws -> [String] {
        guard let handle = opendir(dir) else {
            throw DatasetError.unreadable(path: printable(dir), reason: String(cString: strerror(errno)))
        }
        defer { closedir(handle) }
        var names = [String]()
        while let entry = readdir(handle) {
            let bytes = withUnsafeBytes(of: &entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            guard let name = String(validating: bytes, as: UTF8.self) else {
                throw DatasetError.badImageFolder(
                    path: dir,
                    reason: "the name of entry \(printable(String(decoding: bytes, as: UTF8.self))) is not UTF-8; "
                        + "rename it")
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Python's `sorted` on strings: by Unicode code point.
    static func codePointOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    /// The class folders of `dir`: its sub-folders not starting with `.`, sorted by code point.
    /// - Throws: `DatasetError.badImageFolder` when there is none, and the errors of `entries`.
    static func classFolders(_ dir: String) throws -> [String] {
        let classes = try entries(dir).filter { !$0.hasPrefix(".") && fileKind(dir + "/" + $0) == .directory }
            .sorted(by: codePointOrder)
        guard !classes.isEmpty else {
            throw DatasetError.badImageFolder(
                path: dir, reason: "no class folders (an ImageFolder holds one sub-folder of images per class)")
        }
        return classes
    }

    /// One image file found by the scan, with what its header says.
    struct ImageFile {
        let path: String
        let label: Int
        let format: Int
        let width: Int
        let height: Int
        let gray: Bool
        let alpha: Bool
    }

    /// Lists and probes the image files of class folders, counting what it skips.
    struct Scan {
        var hidden = 0, other = 0, unsupported = 0

        /// The image files of `classes` under `dir`, label = class position, in torchvision's order, each
        /// probed (format, size, gray, alpha).
        /// - Throws: `DatasetError.badImageFolder` for a class without images, `.badImage` for a file that
        ///   is empty, too large, unreadable or whose header is not PNG/JPEG, `CancellationError`.
        mutating func files(_ dir: String, classes: [String], cancelled: () -> Bool) throws -> [ImageFile] {
            var files = [ImageFile]()
            for (label, name) in classes.enumerated() {
                let classDir = dir + "/" + name
                var folders = [(path: String, files: [String])]()
                var visited = Set<[UInt64]>()
                try walk(classDir, depth: 0, into: &folders, visited: &visited)
                let paths = folders.sorted { codePointOrder($0.path, $1.path) }
                    .flatMap { folder in folder.files.sorted(by: codePointOrder).map { folder.path + "/" + $0 } }
                guard !paths.isEmpty else {
                    throw DatasetError.badImageFolder(
                        path: classDir, reason: "class folder without .png, .jpg or .jpeg files")
                }
                for path in paths {
                    if cancelled() { throw CancellationError() }
                    let bytes = try readImage(path)
                    let info = try probe(bytes, path: path)
                    files.append(
                        ImageFile(
                            path: path, label: label, format: Int(info.format), width: Int(info.width),
                            height: Int(info.height), gray: info.gray != 0, alpha: info.alpha != 0))
                }
            }
            return files
        }

        /// Collects `dir` and the folders below it (symbolic links followed, each real folder once), each with
        /// its image file names; counts what is skipped.
        private mutating func walk(
            _ dir: String, depth: Int, into folders: inout [(path: String, files: [String])],
            visited: inout Set<[UInt64]>
        ) throws {
            var info = stat()
            guard depth < 64, stat(dir, &info) == 0,
                visited.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted
            else {
                return
            }
            var files = [String]()
            for name in try entries(dir) {
                let path = dir + "/" + name
                let kind = fileKind(path)
                if name.hasPrefix(".") {
                    if kind != .directory { hidden += 1 }
                    continue
                }
                if kind == .directory {
                    try walk(path, depth: depth + 1, into: &folders, visited: &visited)
                    continue
                }
                let ext =
                    name.split(separator: ".", omittingEmptySubsequences: false).last
                    .map { $0.lowercased() } ?? ""
                if kind == .regular && name.contains(".") && imageExtensions.contains(ext) {
                    files.append(name)
                } else if name.contains(".") && unsupportedImageExtensions.contains(ext) {
                    unsupported += 1
                } else {
                    other += 1
                }
            }
            folders.append((dir, files))
        }

        /// `skipped N files: ...` or nil when nothing was skipped.
        var skippedSummary: String? {
            guard hidden + other + unsupported > 0 else { return nil }
            var parts = [String]()
            if unsupported > 0 {
                parts.append(
                    "\(unsupported) \(unsupportedImageExtensions.map { "." + $0 }.joined(separator: "/")) "
                        + "(only PNG and JPEG are read)")
            }
            if hidden > 0 { parts.append("\(hidden) hidden") }
            if other > 0 { parts.append("\(other) not .png/.jpg/.jpeg") }
            let count = hidden + other + unsupported
            return "skipped \(count) file" + (count == 1 ? "" : "s") + ": " + parts.joined(separator: ", ")
        }
    }

    /// The bytes of image file `path`, after checking it is a non-empty regular file of at most
    /// `maximumImageFileBytes`.
    /// - Throws: `DatasetError.badImage` (empty, too large, not a regular file), `.missingFile`, `.unreadable`.
    static func readImage(_ path: String) throws -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else { throw DatasetError.missingFile(path: printable(path)) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw DatasetError.badImage(path: path, reason: "not a regular file")
        }
        guard info.st_size > 0 else { throw DatasetError.badImage(path: path, reason: "empty file (0 bytes)") }
        guard info.st_size <= maximumImageFileBytes else {
            throw DatasetError.badImage(
                path: path, reason: "\(info.st_size) bytes, more than the limit of \(maximumImageFileBytes)")
        }
        do { return try FileBytes.contents(path) } catch DatasetError.unreadable(_, let reason) {
            throw DatasetError.badImage(path: path, reason: "cannot read: \(reason)")
        } catch DatasetError.missingFile {
            throw DatasetError.missingFile(path: printable(path))
        }
    }

    /// What the header of the PNG or JPEG `bytes` says, after checking it against `maximumImagePixels`.
    /// - Throws: `DatasetError.badImage` naming `path` (not PNG/JPEG, corrupt header, too many pixels).
    static func probe(_ bytes: [UInt8], path: String) throws -> sskd_image_info {
        var info = sskd_image_info()
        try codec(path) { sskd_image_probe(bytes, bytes.count, &info, $0, $1) }
        guard UInt64(info.width) * UInt64(info.height) <= UInt64(maximumImagePixels) else {
            throw DatasetError.badImage(
                path: path,
                reason: "\(info.width) x \(info.height) pixels, more than the limit "
                    + "of \(maximumImagePixels) (2^26)")
        }
        return info
    }

    /// The pixels `[height, width, channels]` (interleaved, `channels` 1 or 3) of the PNG or JPEG `bytes`, whose
    /// header gave `height` x `width`.
    /// - Throws: `DatasetError.badImage` naming `path` (corrupt or truncated data, another size than the header's).
    static func decodePixels(_ bytes: [UInt8], path: String, height: Int, width: Int, channels: Int) throws -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: height * width * channels)
        _ = try pixels.withUnsafeMutableBufferPointer { out in
            try codec(path) {
                sskd_image_decode(
                    bytes, bytes.count, Int32(channels), out.baseAddress, out.count,
                    UInt64(maximumImagePixels), $0, $1)
            }
        }
        return pixels
    }

    /// Runs a codec call with a message buffer; a non-zero status becomes `DatasetError.badImage` naming `path`.
    @discardableResult
    static func codec(_ path: String, _ call: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws -> String {
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
        let text = printable(String(cString: message))
        guard status == Int32(SSKD_IMAGE_OK) else { throw DatasetError.badImage(path: path, reason: text) }
        return text
    }

    /// The one size of all images (or `given`).
    /// - Throws: `DatasetError.badImageFolder` naming two files of different sizes when `given` is nil.
    static func commonSize(_ files: [ImageFile], _ given: ImageSize?, root: String) throws -> ImageSize {
        if let given { return given }
        guard let first = files.first else { throw DatasetError.badImageFolder(path: root, reason: "no images") }
        if let other = files.first(where: { $0.height != first.height || $0.width != first.width }) {
            throw DatasetError.badImageFolder(
                path: root,
                reason: "images differ in size: \(printable(first.path)) is "
                    + "[\(first.height), \(first.width)] but \(printable(other.path)) is "
                    + "[\(other.height), \(other.width)] ([H, W]); pass size=[H, W] "
                    + "(or size=N) to resize every image")
        }
        return ImageSize(height: first.height, width: first.width)
    }

    /// Decodes `files` into `[N, C, H, W]` bytes, resizing those of another size.
    /// - Throws: `DatasetError.badImage` naming the file, `CancellationError`.
    static func decode(_ files: [ImageFile], channels: Int, size: ImageSize, cancelled: () -> Bool) throws -> [UInt8] {
        let plane = size.height * size.width
        let imageBytes = channels * plane
        var pixels = [UInt8](repeating: 0, count: files.count * imageBytes)
        for (n, file) in files.enumerated() {
            if cancelled() { throw CancellationError() }
            var decoded = try decodePixels(
                readImage(file.path), path: file.path, height: file.height,
                width: file.width, channels: channels)
            if file.height != size.height || file.width != size.width {
                decoded = resizeBilinear(
                    decoded, height: file.height, width: file.width, channels: channels,
                    toHeight: size.height, toWidth: size.width)
            }
            // HWC to CHW.
            pixels.withUnsafeMutableBufferPointer { out in
                let start = n * imageBytes
                for p in 0..<plane {
                    for c in 0..<channels { out[start + c * plane + p] = decoded[p * channels + c] }
                }
            }
        }
        return pixels
    }

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
