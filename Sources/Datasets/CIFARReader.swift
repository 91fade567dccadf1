import Foundation

/// Readers for the binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky, 2009;
/// https://www.cs.toronto.edu/~kriz/cifar.html).
///
/// CIFAR-10 records are 1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows
/// top to bottom), 10,000 per file: `data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`.
/// CIFAR-100 records are 1 coarse + 1 fine label byte + 3072 pixel bytes in `train.bin`/`test.bin`.
/// The pixels are already CHW, so images are `[N, 3, 32, 32]` uint8.
extension DatasetLoader {
    /// CIFAR-10 class names when the folder has no `batches.meta.txt`.
    public static let cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer",
                                        "dog", "frog", "horse", "ship", "truck"]

    /// CIFAR-10 train (50,000) or test (10,000) images `[N, 3, 32, 32]` from `dir` (or its
    /// `cifar-10-batches-bin` subfolder). Class names from `batches.meta.txt` when present.
    /// Default augmentation: random crop with padding 4 and horizontal flip.
    /// - Throws: `DatasetError.missingFile`, `.truncated` (size not a whole number of records),
    ///   `.labelOutOfRange`, `.badHeader` (meta file with the wrong number of names).
    public static func cifar10(dir: String, train: Bool) throws -> Dataset {
        let root = try cifarRoot(dir, marker: "test_batch.bin", subfolder: "cifar-10-batches-bin")
        let files = train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        let names = try classNames(root + "/batches.meta.txt", count: 10) ?? cifar10Classes
        return try readCIFAR(files.map { root + "/" + $0 }, labelBytes: 1, labelOffset: 0, classNames: names,
                             name: "cifar10/\(train ? "train" : "test")")
    }

    /// CIFAR-100 train (50,000) or test (10,000) images `[N, 3, 32, 32]` from `dir` (or its
    /// `cifar-100-binary` subfolder), with the 100 fine labels, or the 20 coarse ones when `coarse`.
    /// Names from `fine_label_names.txt` / `coarse_label_names.txt` when present, else `"0"`, `"1"`, ...
    /// - Throws: as `cifar10(dir:train:)`.
    public static func cifar100(dir: String, train: Bool, coarse: Bool = false) throws -> Dataset {
        let root = try cifarRoot(dir, marker: "test.bin", subfolder: "cifar-100-binary")
        let count = coarse ? 20 : 100
        let names = try classNames(root + (coarse ? "/coarse_label_names.txt" : "/fine_label_names.txt"), count: count)
            ?? Dataset.numberedClasses(count)
        return try readCIFAR([root + (train ? "/train.bin" : "/test.bin")], labelBytes: 2, labelOffset: coarse ? 0 : 1,
                             classNames: names, name: "cifar100\(coarse ? "-coarse" : "")/\(train ? "train" : "test")")
    }

    /// Concatenates the records of `files`; each record is `labelBytes` labels then 3 * 32 * 32 pixels.
    private static func readCIFAR(_ files: [String], labelBytes: Int, labelOffset: Int, classNames: [String],
                                  name: String) throws -> Dataset {
        var pixels = [UInt8]()
        var labels = [Int]()
        for file in files {
            let (filePixels, fileLabels) = try parseCIFAR(FileBytes.contents(file), path: file, labelBytes: labelBytes,
                                                          labelOffset: labelOffset, classCount: classNames.count)
            pixels += filePixels
            labels += fileLabels
        }
        return Dataset(unchecked: name, pixels: .uint8(pixels), labels: labels, channels: 3, height: 32, width: 32,
                       classNames: classNames, defaultAugmentation: Augmentation(cropPadding: 4, horizontalFlip: true))
    }

    /// The pixels `[N, 3, 32, 32]` and labels of one CIFAR binary file's bytes: records of `labelBytes`
    /// label bytes (the one used at `labelOffset`) and 3 * 32 * 32 pixel bytes.
    /// - Throws: `DatasetError.truncated` (not a whole, non-zero number of records), `.labelOutOfRange`
    ///   (a label not below `classCount`), naming `path`.
    static func parseCIFAR(_ data: [UInt8], path: String, labelBytes: Int, labelOffset: Int,
                           classCount: Int) throws -> (pixels: [UInt8], labels: [Int]) {
        let imageSize = 3 * 32 * 32
        let recordSize = labelBytes + imageSize
        guard data.count % recordSize == 0, data.count > 0 else {
            throw DatasetError.truncated(path: path, expectedBytes: (data.count / recordSize + 1) * recordSize,
                                         actualBytes: data.count)
        }
        let records = data.count / recordSize
        var pixels = [UInt8](), labels = [Int]()
        pixels.reserveCapacity(records * imageSize)
        labels.reserveCapacity(records)
        for r in 0..<records {
            let start = r * recordSize
            labels.append(Int(data[start + labelOffset]))
            pixels += data[(start + labelBytes)..<(start + recordSize)]
        }
        try Dataset.checkLabels(labels, classCount: classCount, path: path)
        return (pixels, labels)
    }

    /// `dir` itself when it holds `marker`, else `dir/subfolder` when that does.
    private static func cifarRoot(_ dir: String, marker: String, subfolder: String) throws -> String {
        for candidate in [dir, dir + "/" + subfolder] where FileManager.default.fileExists(atPath: candidate + "/" + marker) {
            return candidate
        }
        throw DatasetError.missingFile(path: dir + "/" + marker)
    }

    /// The non-empty lines of a class-name file, or nil when it does not exist.
    /// - Throws: `DatasetError.badHeader` when it has not exactly `count` names.
    private static func classNames(_ path: String, count: Int) throws -> [String]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try parseClassNames(FileBytes.contents(path), path: path, count: count)
    }

    /// The non-empty, trimmed lines of a class-name file's bytes.
    /// - Throws: `DatasetError.badHeader` naming `path` when there are not exactly `count` names.
    static func parseClassNames(_ bytes: [UInt8], path: String, count: Int) throws -> [String] {
        let text = String(decoding: bytes, as: UTF8.self)
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard names.count == count else {
            throw DatasetError.badHeader(path: path, reason: "\(names.count) class names, expected \(count)")
        }
        return names
    }
}
