/// Why a data set could not be loaded or used. Every case names the file (or option) at fault.
///
/// Thrown by `DatasetLoader`, `DataSplits` and the readers behind them; never a crash on bad input.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    /// The file or folder does not exist.
    case missingFile(path: String)
    /// None of `folders` holds `wanted` (a data set's files, searched in that order).
    case missingFiles(wanted: String, folders: [String])
    /// The file exists but could not be read (permissions, I/O error).
    case unreadable(path: String, reason: String)
    /// The leading magic number is not the one the format requires.
    case badMagic(path: String, expected: String, found: String)
    /// The file holds fewer bytes than its header (or the format) promises.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// The header describes something this reader does not accept (rank, dtype, size).
    case badHeader(path: String, reason: String)
    /// The image file and the label file disagree on the number of samples.
    case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int)
    /// A label lies outside `0..<classCount`.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// A gzip (`.gz`) file or zip member could not be inflated.
    case unreadableGzip(path: String, reason: String)
    /// A NumPy `.npy` header is malformed or unsupported (spec: numpy.lib.format, version 1–3).
    case badNpyHeader(path: String, reason: String)
    /// Array values that cannot be pixels or labels as stored (non-finite, or float pixels outside [0, 1]).
    case badValues(path: String, reason: String)
    /// A `.npz` archive is not a readable zip, or lacks a member.
    case badZip(path: String, reason: String)
    /// A pickle (CIFAR python version) is malformed, names a forbidden global, or does not hold the
    /// arrays and lists the format needs.
    case badPickle(path: String, reason: String)
    /// A loader or split option is invalid (e.g. `val` larger than the train set).
    case invalidOption(name: String, reason: String)
    /// `DatasetLoader.standard` was given a name it does not know.
    case unknownDataset(name: String, known: [String])
    /// An ImageFolder file could not be read as an image: empty, corrupt or truncated PNG/JPEG, too large.
    case badImage(path: String, reason: String)
    /// An ImageFolder's layout is unusable: no class folders, a class without images, mixed sizes, too much data.
    case badImageFolder(path: String, reason: String)

    /// One line naming the file or option and the problem.
    public var description: String {
        switch self {
        case .missingFile(let path): return "\(path): no such file or folder"
        case .missingFiles(let wanted, let folders): return "no \(wanted) in \(folders.joined(separator: ", "))"
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .badMagic(let path, let expected, let found):
            return "\(path): bad magic number \(found), expected \(expected)"
        case .truncated(let path, let expected, let actual):
            return "\(path): truncated: header needs \(expected) bytes, file has \(actual)"
        case .badHeader(let path, let reason): return "\(path): bad header: \(reason)"
        case .countMismatch(let images, let imageCount, let labels, let labelCount):
            return "\(images) holds \(imageCount) images but \(labels) holds \(labelCount) labels"
        case .labelOutOfRange(let path, let index, let label, let classCount):
            return "\(path): label \(label) of sample \(index) is outside 0..<\(classCount)"
        case .unreadableGzip(let path, let reason): return "\(path): unreadable gzip data: \(reason)"
        case .badNpyHeader(let path, let reason): return "\(path): bad .npy header: \(reason)"
        case .badValues(let path, let reason): return "\(path): \(reason)"
        case .badZip(let path, let reason): return "\(path): bad .npz archive: \(reason)"
        case .badPickle(let path, let reason): return "\(path): bad pickle: \(reason)"
        case .invalidOption(let name, let reason): return "option \(name): \(reason)"
        case .unknownDataset(let name, let known):
            return "unknown data set '\(name)' (known: \(known.joined(separator: ", ")))"
        case .badImage(let path, let reason): return "\(DatasetLoader.printable(path)): cannot read image: \(reason)"
        case .badImageFolder(let path, let reason): return "\(DatasetLoader.printable(path)): \(reason)"
        }
    }
}
