import Foundation
import Storage

/// How a rank-4 NumPy image array is laid out. Images always end up `[N, C, H, W]`.
public enum ImageLayout: String, Sendable {
    /// `[N, H, W, C]` when the last size is at most 4 (e.g. Keras CIFAR `(50000, 32, 32, 3)`),
    /// else `[N, C, H, W]` when the second size is at most 4.
    case auto
    /// `[N, C, H, W]` (PyTorch).
    case nchw
    /// `[N, H, W, C]` (NumPy/TensorFlow); transposed to NCHW on load.
    case nhwc
}

/// Readers for NumPy `.npy` arrays and `.npz` archives of them.
///
/// `.npy` spec: numpy.lib.format (magic `\x93NUMPY`, version 1.0/2.0/3.0, a Python-dict header with
/// `descr`, `fortran_order`, `shape`). Images: `uint8` (`|u1`, 0...255, divided by 255 when batched) or
/// little-endian `float32`/`float64` (`<f4`, `<f8`: taken to be in `[0, 1]` already; float64 is rounded to
/// Float32 on load), rank 3 `[N, H, W]` or rank 4 (see `ImageLayout`). Labels: any little-endian integer
/// type (`int64`, `int32`, `uint8`, ...), shape `[N]` or `[N, 1]`.
/// `.npz` is a zip archive (PKWARE APPNOTE) of `.npy` members, stored or deflated, zip64 allowed.
extension DatasetLoader {
    /// Images and labels from two `.npy` files. Classes as in `idx(images:labels:)`; no default augmentation.
    /// - Throws: `DatasetError.missingFile`, `.badNpyHeader`, `.truncated`, `.countMismatch`,
    ///   `.labelOutOfRange`, `.invalidOption` (ambiguous layout).
    public static func npy(
        images: String, labels: String, name: String? = nil, classNames: [String]? = nil,
        layout: ImageLayout = .auto
    ) throws -> Dataset {
        try npy(
            imageBytes: FileBytes.contents(images), imagesPath: images, labelBytes: FileBytes.contents(labels),
            labelsPath: labels, name: name, classNames: classNames, layout: layout)
    }

    /// `npy(images:labels:)` on the two files' bytes; the paths are named in errors.
    /// - Throws: as `npy(images:labels:)`, except `.missingFile`.
    static func npy(
        imageBytes: [UInt8], imagesPath images: String, labelBytes: [UInt8], labelsPath labels: String,
        name: String? = nil, classNames: [String]? = nil, layout: ImageLayout = .auto
    ) throws -> Dataset {
        let imageArray = try imageBytes.withUnsafeBytes { try NpyArray(parsing: $0, path: images) }
        let labelArray = try labelBytes.withUnsafeBytes { try NpyArray(parsing: $0, path: labels) }
        return try makeDataset(
            imageArray, labelArray, name: name ?? URL(fileURLWithPath: images).lastPathComponent,
            classNames: classNames, layout: layout)
    }

    /// Keras's array names in a `.npz` (`mnist.npz`): train images, train labels, test images, test labels.
    public static let defaultNpzKeys = ["x_train", "y_train", "x_test", "y_test"]

    /// Images and labels from two members of a `.npz` archive (Keras `mnist.npz` uses
    /// `x_train`/`y_train`/`x_test`/`y_test`). Keys may omit the `.npy` suffix.
    /// - Throws: `DatasetError.badZip` (not a zip, member missing (listing those there), unsupported
    ///   compression), plus the errors of `npy(images:labels:)`.
    public static func npz(
        _ path: String, imagesKey: String = "x_train", labelsKey: String = "y_train",
        name: String? = nil, classNames: [String]? = nil,
        layout: ImageLayout = .auto
    ) throws -> Dataset {
        try npz(
            bytes: FileBytes.contents(path), path: path, imagesKey: imagesKey, labelsKey: labelsKey, name: name,
            classNames: classNames, layout: layout)
    }

    /// Train and test splits from one `.npz` archive, read once: `keys` names the train images, train
    /// labels, test images and test labels (default `defaultNpzKeys`). Both splits are named `name`
    /// (default: the file name).
    /// - Throws: `DatasetError.invalidOption` (`keys` not 4 names), and the errors of `npz(_:)`.
    public static func npzSplits(
        _ path: String, keys: [String] = defaultNpzKeys, name: String? = nil,
        layout: ImageLayout = .auto
    ) throws -> (train: Dataset, test: Dataset) {
        guard keys.count == 4 else {
            throw DatasetError.invalidOption(
                name: "keys",
                reason: "needs 4 array names (train images, train labels,"
                    + " test images, test labels), got \(keys.count)")
        }
        let bytes = try FileBytes.contents(path)
        let name = name ?? URL(fileURLWithPath: path).lastPathComponent
        var train = try npz(
            bytes: bytes, path: path, imagesKey: keys[0], labelsKey: keys[1], name: name + "/train",
            layout: layout)
        var test = try npz(
            bytes: bytes, path: path, imagesKey: keys[2], labelsKey: keys[3], name: name + "/test",
            layout: layout)
        // The classes are 0...the largest label of either split (a small test split may lack the last class).
        if train.classCount != test.classCount {
            let classes = Dataset.numberedClasses(max(train.classCount, test.classCount))
            train = try npz(
                bytes: bytes, path: path, imagesKey: keys[0], labelsKey: keys[1], name: name + "/train",
                classNames: classes, layout: layout)
            test = try npz(
                bytes: bytes, path: path, imagesKey: keys[2], labelsKey: keys[3], name: name + "/test",
                classNames: classes, layout: layout)
        }
        return (train, test)
    }

    /// `npz(_:)` on the archive's bytes; `path` is named in errors.
    /// - Throws: as `npz(_:)`, except `.missingFile`.
    static func npz(
        bytes: [UInt8], path: String, imagesKey: String = "x_train", labelsKey: String = "y_train",
        name: String? = nil, classNames: [String]? = nil, layout: ImageLayout = .auto
    ) throws -> Dataset {
        let archive = try FileBytes.mapping { try ZipArchive(bytes, path: path) }
        let (imageArray, labelArray) = (try archive.npyMember(imagesKey), try archive.npyMember(labelsKey))
        return try makeDataset(
            imageArray, labelArray, name: name ?? "\(URL(fileURLWithPath: path).lastPathComponent):\(imagesKey)",
            classNames: classNames, layout: layout)
    }

    private static func makeDataset(
        _ images: NpyArray, _ labels: NpyArray, name: String, classNames: [String]?,
        layout: ImageLayout
    ) throws -> Dataset {
        let s = images.shape
        guard s.count == 3 || s.count == 4, s.dropFirst().allSatisfy({ $0 > 0 }) else {
            throw DatasetError.badNpyHeader(
                path: images.path,
                reason: "images need shape (N, H, W), (N, H, W, C) or"
                    + " (N, C, H, W), got \(s)")
        }
        var nhwc = false
        if s.count == 4 {
            switch layout {
            case .nchw: nhwc = false
            case .nhwc: nhwc = true
            case .auto:
                guard s[3] <= 4 || s[1] <= 4 else {
                    throw DatasetError.invalidOption(
                        name: "layout", reason: "\(images.path): cannot tell NCHW from NHWC in \(s); pass nchw or nhwc")
                }
                nhwc = s[3] <= 4
            }
        }
        let (c, h, w) = s.count == 3 ? (1, s[1], s[2]) : nhwc ? (s[3], s[1], s[2]) : (s[1], s[2], s[3])
        guard labels.shape.count == 1 || labels.shape.count == 2 && labels.shape[1] == 1 else {
            throw DatasetError.badNpyHeader(
                path: labels.path, reason: "labels need shape (N,) or (N, 1), got \(labels.shape)")
        }
        let values: [Int]
        switch labels.values {
        case .integers(let v): values = v
        case .bytes(let v): values = v.map(Int.init)
        case .floats:
            throw DatasetError.badNpyHeader(
                path: labels.path,
                reason: "labels must be integers, got \(labels.descr)"
                    + " \(labels.shape)")
        }
        guard s[0] == values.count else {
            throw DatasetError.countMismatch(
                images: images.path, imageCount: s[0], labels: labels.path, labelCount: values.count)
        }
        let classes = try classNames ?? Dataset.numberedClasses(forLabels: values, path: labels.path)
        try Dataset.checkLabels(values, classCount: classes.count, path: labels.path)
        let pixels: Pixels
        switch images.values {
        case .bytes(let v): pixels = .uint8(nhwc ? toNCHW(v, n: s[0], h: h, w: w, c: c) : v)
        case .floats(let v):
            if let bad = v.firstIndex(where: { !$0.isFinite }) {
                throw DatasetError.badNpyHeader(
                    path: images.path,
                    reason: "pixel \(bad) of image \(bad / max(c * h * w, 1)) is \(v[bad]); images must be finite")
            }
            // Float pixels are taken at ToTensor() scale; 0-255 or already-normalised arrays would be silently wrong.
            if let low = v.min(), let high = v.max(), low < -1e-3 || high > 1 + 1e-3 {
                throw DatasetError.badValues(
                    path: images.path,
                    reason: "float pixels must be in [0, 1] (torchvision ToTensor() scale; "
                        + "normalize= is applied on top), got values in [\(low), \(high)]"
                        + (high > 2 && low >= 0 ? ": divide them by 255, or store uint8" : ""))
            }
            pixels = .float32(nhwc ? toNCHW(v, n: s[0], h: h, w: w, c: c) : v)
        case .integers:
            throw DatasetError.badNpyHeader(
                path: images.path,
                reason: "images must be uint8, float32 or float64, got"
                    + " \(images.descr) \(images.shape)")
        }
        return Dataset(
            unchecked: name, pixels: pixels, labels: values, channels: c, height: h, width: w,
            classNames: classes, defaultAugmentation: Augmentation())
    }

    /// `[N, H, W, C]` → `[N, C, H, W]`.
    private static func toNCHW<T>(_ v: [T], n: Int, h: Int, w: Int, c: Int) -> [T] {
        var out = v
        let plane = h * w
        for i in 0..<n {
            let base = i * plane * c
            for p in 0..<plane { for ch in 0..<c { out[base + ch * plane + p] = v[base + p * c + ch] } }
        }
        return out
    }
}

extension ZipArchive {
    /// The `.npy` array stored as `key` or `key.npy`, its errors naming `path:member`.
    /// - Throws: `DatasetError.badZip` (missing member, unsupported method, CRC mismatch), `.badNpyHeader`,
    /// `.truncated`.
    func npyMember(_ key: String) throws -> NpyArray {
        let name = names.contains(key) ? key : key + ".npy"
        guard let bytes = try FileBytes.mapping({ try read(name) }) else {
            let keys = names.map { $0.hasSuffix(".npy") ? String($0.dropLast(4)) : $0 }
            let has = keys.map { printable($0) }.joined(separator: ", ")
            throw DatasetError.badZip(path: path, reason: "no member '\(printable(key))' (has: \(has))")
        }
        return try bytes.withUnsafeBytes { try NpyArray(parsing: $0, path: "\(path):\(name)") }
    }
}

/// A decoded `.npy` array (C order, little-endian).
struct NpyArray {
    enum Values {
        case bytes([UInt8])
        case floats([Float])
        case integers([Int])
    }
    let path: String
    let descr: String
    let shape: [Int]
    let values: Values

    /// Parses a whole `.npy` file. Sizes from the header are checked against the byte count before allocating.
    /// - Throws: `DatasetError.badNpyHeader`, `.truncated`.
    init(parsing raw: UnsafeRawBufferPointer, path: String) throws {
        func bad(_ reason: String) -> DatasetError { .badNpyHeader(path: path, reason: printable(reason)) }
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        guard raw.count >= 10, Array(raw[0..<6]) == magic else { throw bad("no \\x93NUMPY magic") }
        let major = raw[6]
        guard (1...3).contains(major) else { throw bad("unknown format version \(major)") }
        let lengthBytes = major == 1 ? 2 : 4
        guard raw.count >= 8 + lengthBytes else { throw bad("file ends inside the header length") }
        let headerLength = (0..<lengthBytes).reversed().reduce(0) { $0 << 8 | Int(raw[8 + $1]) }
        let start = 8 + lengthBytes + headerLength
        guard raw.count >= start else {
            throw DatasetError.truncated(path: path, expectedBytes: start, actualBytes: raw.count)
        }
        let header = String(decoding: UnsafeRawBufferPointer(rebasing: raw[(8 + lengthBytes)..<start]), as: UTF8.self)

        func value(of key: String) throws -> Substring {
            guard let keyRange = header.range(of: "'\(key)':") else { throw bad("no '\(key)' in \(header)") }
            return header[keyRange.upperBound...].drop { $0 == " " }
        }
        let descrText = try value(of: "descr")
        guard let quote = descrText.first, quote == "'" || quote == "\"",
            let end = descrText.dropFirst().firstIndex(of: quote)
        else { throw bad("unreadable descr in \(header)") }
        descr = String(descrText[descrText.index(after: descrText.startIndex)..<end])
        if try value(of: "fortran_order").hasPrefix("True") { throw bad("fortran_order arrays are not supported") }
        let shapeText = try value(of: "shape")
        guard shapeText.first == "(", let close = shapeText.firstIndex(of: ")") else {
            throw bad("unreadable shape in \(header)")
        }
        let sizes = shapeText[shapeText.index(after: shapeText.startIndex)..<close]
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        shape = try sizes.map { text in
            guard let size = Int(text), size >= 0 else { throw bad("bad size '\(text)' in shape") }
            return size
        }
        self.path = path

        // descr: byte order (<, |, =), kind (u, i, f), item size in bytes.
        let order = descr.first ?? " "
        let kind = descr.dropFirst().first ?? " "
        guard "<|=".contains(order), let itemSize = Int(descr.dropFirst(2)), [1, 2, 4, 8].contains(itemSize),
            kind == "u" || kind == "i" || kind == "f" && itemSize >= 4
        else {
            throw bad("unsupported dtype '\(descr)' (need uint8, float32, float64 or little-endian integers)")
        }
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw bad("shape \(shape) is too large") }
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow, raw.count - start >= bytes else {
            throw DatasetError.truncated(
                path: path, expectedBytes: overflow ? Int.max : start + bytes, actualBytes: raw.count)
        }
        let body = UnsafeRawBufferPointer(rebasing: raw[start..<(start + bytes)])
        switch (kind, itemSize) {
        case ("u", 1): values = .bytes(Array(body))
        case ("f", 4):  // little-endian file on a little-endian host (x86-64, arm64): a plain copy
            values = .floats(
                [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: body)
                    initialized = count
                })
        case ("f", _):  // float64, rounded to Float32 (out-of-range values become infinite and are refused later)
            values = .floats(
                (0..<count).map {
                    Float(Double(bitPattern: body.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
                })
        default:
            values = .integers(
                (0..<count).map { i in
                    let o = i * itemSize
                    switch (kind, itemSize) {
                    case ("u", 2): return Int(body.loadUnaligned(fromByteOffset: o, as: UInt16.self))
                    case ("u", 4): return Int(body.loadUnaligned(fromByteOffset: o, as: UInt32.self))
                    case ("u", _):
                        return Int(truncatingIfNeeded: body.loadUnaligned(fromByteOffset: o, as: UInt64.self))
                    case (_, 1): return Int(body.load(fromByteOffset: o, as: Int8.self))
                    case (_, 2): return Int(body.loadUnaligned(fromByteOffset: o, as: Int16.self))
                    case (_, 4): return Int(body.loadUnaligned(fromByteOffset: o, as: Int32.self))
                    default: return Int(body.loadUnaligned(fromByteOffset: o, as: Int64.self))
                    }
                })
        }
    }
}
