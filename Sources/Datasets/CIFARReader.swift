import Foundation
import Storage

/// Readers for CIFAR-10 and CIFAR-100 (Krizhevsky, 2009; https://www.cs.toronto.edu/~kriz/cifar.html),
/// binary and python versions.
///
/// Binary version: CIFAR-10 records are 1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue,
/// rows top to bottom), 10,000 per file: `data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`.
/// CIFAR-100 records are 1 coarse + 1 fine label byte + 3072 pixel bytes in `train.bin`/`test.bin`.
///
/// Python version: each file is a pickle (protocol 2, written by Python 2) of a dict with `data`, a NumPy
/// uint8 array `[N, 3072]` in the same pixel order, and `labels` (CIFAR-10) or `fine_labels` and
/// `coarse_labels` (CIFAR-100), lists of ints: `data_batch_1` ... `data_batch_5`, `test_batch`,
/// `batches.meta` (`label_names`) in `cifar-10-batches-py/`; `train`, `test`, `meta` (`fine_label_names`,
/// `coarse_label_names`) in `cifar-100-python/`. Keys may be `bytes` (Python 2 `str`) or `str` (a file
/// re-pickled by Python 3). They are read by `NumPyPickle`, which allows no global but NumPy's array
/// reconstruction.
///
/// Either way the pixels are already CHW, so images are `[N, 3, 32, 32]` uint8.
extension DatasetLoader {
    /// CIFAR-10 class names when the folder has no `batches.meta.txt` (binary) or `batches.meta` (python).
    public static let cifar10Classes = [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ]

    /// CIFAR-10 train (50,000) or test (10,000) images `[N, 3, 32, 32]` from the first of `dir`,
    /// `dir/cifar-10-batches-bin`, `dir/cifar-10-batches-py` that holds `test_batch.bin` (binary version)
    /// or `test_batch` (python version). Class names from `batches.meta.txt` / `batches.meta` when present.
    /// Default augmentation: random crop with padding 4 and horizontal flip.
    /// - Throws: `DatasetError.missingFile` (`dir` or one batch file missing), `.missingFiles` (naming the
    ///   folders searched), `.truncated` (size not a whole number of records), `.labelOutOfRange`,
    ///   `.badHeader` (meta file with the wrong number of names), `.badPickle` (python version: malformed,
    ///   a forbidden global, `data` not uint8 `[N, 3072]`, labels missing or not `N` ints).
    public static func cifar10(dir: String, train: Bool) throws -> Dataset {
        let (root, python) = try cifarFolder(
            dir, set: "CIFAR-10", binary: ("test_batch.bin", "cifar-10-batches-bin"),
            python: ("test_batch", "cifar-10-batches-py"))
        let name = "cifar10/\(train ? "train" : "test")"
        if python {
            let files = train ? (1...5).map { "data_batch_\($0)" } : ["test_batch"]
            let names = try pickledClassNames(root + "/batches.meta", key: "label_names", count: 10) ?? cifar10Classes
            return try readCIFAR(files.map { root + "/" + $0 }, classNames: names, name: name) {
                try parseCIFARPickle($0, path: $1, labelsKey: "labels", classCount: names.count)
            }
        }
        let files = train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        let names = try classNames(root + "/batches.meta.txt", count: 10) ?? cifar10Classes
        return try readCIFAR(files.map { root + "/" + $0 }, classNames: names, name: name) {
            try parseCIFAR($0, path: $1, labelBytes: 1, labelOffset: 0, classCount: names.count)
        }
    }

    /// CIFAR-100 train (50,000) or test (10,000) images `[N, 3, 32, 32]` from the first of `dir`,
    /// `dir/cifar-100-binary`, `dir/cifar-100-python` that holds `test.bin` (binary) or `test` (python),
    /// with the 100 fine labels, or the 20 coarse ones when `coarse`. Names from `fine_label_names.txt` /
    /// `coarse_label_names.txt` (binary) or `meta` (python) when present, else `"0"`, `"1"`, ...
    /// - Throws: as `cifar10(dir:train:)`.
    public static func cifar100(dir: String, train: Bool, coarse: Bool = false) throws -> Dataset {
        let (root, python) = try cifarFolder(
            dir, set: "CIFAR-100", binary: ("test.bin", "cifar-100-binary"),
            python: ("test", "cifar-100-python"))
        let count = coarse ? 20 : 100
        let kind = coarse ? "coarse" : "fine"
        let name = "cifar100\(coarse ? "-coarse" : "")/\(train ? "train" : "test")"
        if python {
            let names =
                try pickledClassNames(root + "/meta", key: "\(kind)_label_names", count: count)
                ?? Dataset.numberedClasses(count)
            return try readCIFAR([root + (train ? "/train" : "/test")], classNames: names, name: name) {
                try parseCIFARPickle($0, path: $1, labelsKey: "\(kind)_labels", classCount: names.count)
            }
        }
        let names = try classNames(root + "/\(kind)_label_names.txt", count: count) ?? Dataset.numberedClasses(count)
        return try readCIFAR([root + (train ? "/train.bin" : "/test.bin")], classNames: names, name: name) {
            try parseCIFAR($0, path: $1, labelBytes: 2, labelOffset: coarse ? 0 : 1, classCount: names.count)
        }
    }

    /// The data set `name` of the images and labels `parse` reads from each of `files` (CIFAR's 3 × 32 × 32
    /// images; default augmentation: random crop with padding 4 and horizontal flip).
    /// - Throws: what `FileBytes.contents` and `parse` throw.
    private static func readCIFAR(
        _ files: [String], classNames: [String], name: String,
        parse: (_ bytes: [UInt8], _ path: String) throws -> (pixels: [UInt8], labels: [Int])
    ) throws -> Dataset {
        var pixels = [UInt8]()
        var labels = [Int]()
        for file in files {
            let (filePixels, fileLabels) = try parse(FileBytes.contents(file), file)
            pixels += filePixels
            labels += fileLabels
        }
        return Dataset(
            unchecked: name, pixels: .uint8(pixels), labels: labels, channels: 3, height: 32, width: 32,
            classNames: classNames, defaultAugmentation: Augmentation(cropPadding: 4, horizontalFlip: true))
    }

    /// The pixels `[N, 3, 32, 32]` and labels of one CIFAR binary file's bytes: records of `labelBytes`
    /// label bytes (the one used at `labelOffset`) and 3 * 32 * 32 pixel bytes.
    /// - Throws: `DatasetError.truncated` (not a whole, non-zero number of records), `.labelOutOfRange`
    ///   (a label not below `classCount`), naming `path`.
    static func parseCIFAR(
        _ data: [UInt8], path: String, labelBytes: Int, labelOffset: Int,
        classCount: Int
    ) throws -> (pixels: [UInt8], labels: [Int]) {
        let imageSize = 3 * 32 * 32
        let recordSize = labelBytes + imageSize
        guard data.count % recordSize == 0, data.count > 0 else {
            throw DatasetError.truncated(
                path: path, expectedBytes: (data.count / recordSize + 1) * recordSize,
                actualBytes: data.count)
        }
        let records = data.count / recordSize
        var pixels = [UInt8]()
        var labels = [Int]()
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

    /// The first of `dir`, `dir/binary.folder`, `dir/python.folder` holding `binary.marker` (binary
    /// version) or `python.marker` (python version), and which version it holds.
    /// - Throws: `DatasetError.missingFile` when `dir` is not a folder, `.missingFiles` naming the folders tried.
    private static func cifarFolder(
        _ dir: String, set: String, binary: (marker: String, folder: String),
        python: (marker: String, folder: String)
    ) throws -> (root: String, python: Bool) {
        func isFile(_ path: String) -> Bool {
            var isFolder: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && !isFolder.boolValue
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isFolder), isFolder.boolValue else {
            throw DatasetError.missingFile(path: dir)
        }
        let folders = [dir, dir + "/" + binary.folder, dir + "/" + python.folder]
        for folder in folders {
            if isFile(folder + "/" + binary.marker) { return (folder, false) }
            if isFile(folder + "/" + python.marker) { return (folder, true) }
        }
        throw DatasetError.missingFiles(
            wanted: "\(set) \(binary.marker) (binary version) or \(python.marker)"
                + " (python version)", folders: folders)
    }

    /// The pixels `[N, 3, 32, 32]` and labels of one python-version file's bytes: `data` must be a uint8
    /// array `[N, 3072]` (N > 0) and `labelsKey` a list (or 1-D integer array) of `N` labels below `classCount`.
    /// - Throws: `DatasetError.badPickle` (malformed, forbidden global, missing key, wrong dtype, shape or
    ///   count), `.labelOutOfRange`, naming `path`.
    static func parseCIFARPickle(
        _ bytes: [UInt8], path: String, labelsKey: String,
        classCount: Int
    ) throws -> (pixels: [UInt8], labels: [Int]) {
        let (root, heap) = try NumPyPickle.load(bytes, path: path)
        func bad(_ reason: String) -> DatasetError { .badPickle(path: path, reason: reason) }
        let dict = try pickledDict(root, heap, path: path)
        guard let dataValue = dict[bytes: "data"] ?? dict["data"] else {
            throw bad("no key 'data' (has: \(keys(dict)))")
        }
        guard case .object(let i) = dataValue, case .array(let array?) = heap.objects[i] else {
            throw bad("'data' is not a NumPy array")
        }
        guard array.dtype == "u1", array.shape.count == 2, array.shape[0] > 0, array.shape[1] == 3 * 32 * 32 else {
            throw bad("'data' is \(array.described), expected u1 [N, 3072] (N > 0 images of 3 × 32 × 32 bytes)")
        }
        guard let labelsValue = dict[bytes: labelsKey] ?? dict[labelsKey] else {
            throw bad("no key '\(labelsKey)' (has: \(keys(dict)))")
        }
        var labels = heap.ints(labelsValue)
        if case .object(let j) = labelsValue, case .array(let a?) = heap.objects[j], a.shape.count == 1 {
            labels = a.integers
        }
        guard let labels else { throw bad("'\(labelsKey)' is not a list of integers") }
        guard labels.count == array.shape[0] else {
            throw bad("'\(labelsKey)' holds \(labels.count) labels but 'data' holds \(array.shape[0]) images")
        }
        try Dataset.checkLabels(labels, classCount: classCount, path: path)
        return (array.data, labels)
    }

    /// The class names stored under `key` in a python-version meta file, or nil when it does not exist.
    /// - Throws: `DatasetError.badPickle` when it is malformed or has not exactly `count` names under `key`.
    private static func pickledClassNames(_ path: String, key: String, count: Int) throws -> [String]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try parsePickledClassNames(FileBytes.contents(path), path: path, key: key, count: count)
    }

    /// The list of `count` names (bytes or str, shown with control characters escaped) under `key` of a
    /// pickled dict's bytes.
    /// - Throws: `DatasetError.badPickle` naming `path`.
    static func parsePickledClassNames(_ bytes: [UInt8], path: String, key: String, count: Int) throws -> [String] {
        let (root, heap) = try NumPyPickle.load(bytes, path: path)
        let dict = try pickledDict(root, heap, path: path)
        guard let value = dict[bytes: key] ?? dict[key] else {
            throw DatasetError.badPickle(path: path, reason: "no key '\(key)' (has: \(keys(dict)))")
        }
        let names = (heap.sequence(value) ?? []).compactMap(NumPyPickle.text).map(printable)
        guard names.count == count, heap.sequence(value)?.count == count else {
            throw DatasetError.badPickle(path: path, reason: "'\(key)' is not a list of \(count) names")
        }
        if let problem = classNameProblem(names.map { $0.trimmingCharacters(in: .whitespaces) }) {
            throw DatasetError.badPickle(path: path, reason: "'\(key)' \(problem)")
        }
        return names
    }

    private static func pickledDict(
        _ root: PickleValue, _ heap: PickleHeap<NumPyPickleObject>,
        path: String
    ) throws -> PickleHeap<NumPyPickleObject>.Dict {
        guard case .dict(let index) = root else {
            throw DatasetError.badPickle(path: path, reason: "the pickle is not a dict")
        }
        return heap.dicts[index]
    }

    /// The str/bytes keys of a pickled dict, for messages.
    private static func keys(_ dict: PickleHeap<NumPyPickleObject>.Dict) -> String {
        dict.items.compactMap { NumPyPickle.text($0.key) }.map(printable).joined(separator: ", ")
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
        let names = text.split(whereSeparator: \.isNewline).map { printable($0.trimmingCharacters(in: .whitespaces)) }
            .filter { !$0.isEmpty }
        guard names.count == count else {
            throw DatasetError.badHeader(path: path, reason: "\(names.count) class names, expected \(count)")
        }
        if let problem = classNameProblem(names) { throw DatasetError.badHeader(path: path, reason: problem) }
        return names
    }

    /// What is wrong with a list of class names, or nil: an empty name, or a name given twice (classes must be
    /// told apart in reports and confusion matrices).
    static func classNameProblem(_ names: [String]) -> String? {
        if let i = names.firstIndex(where: \.isEmpty) { return "has an empty class name (class \(i))" }
        var seen: [String: Int] = [:]
        for (i, name) in names.enumerated() {
            if let first = seen.updateValue(i, forKey: name) {
                return "names class \(first) and class \(i) both '\(name)'"
            }
        }
        return nil
    }
}
