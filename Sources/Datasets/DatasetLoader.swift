/// Entry points that read data sets from disk. Each reader lives in its own file:
/// `IDXReader.swift` (MNIST family), `CIFARReader.swift` (+ `NumPyPickle.swift`), `NumPyReader.swift`
/// (`.npy`/`.npz`).
public enum DatasetLoader {
    /// Names accepted by `standard(_:path:)`.
    public static let standardNames = ["fashion-mnist", "mnist", "kmnist", "cifar10", "cifar100", "cifar100-coarse"]

    /// Train and test splits of a data set by name, as the REPL's `data NAME [path]` uses:
    /// `fashion-mnist` (path defaults to `defaultFashionMNISTRoot`), `mnist`/`kmnist` (an IDX folder or
    /// torchvision's `root`, see `mnistFolder`), `cifar10`, `cifar100`, `cifar100-coarse` (a folder of the
    /// binary or python version, or its parent; see `cifar10(dir:train:)`).
    /// - Throws: `DatasetError.unknownDataset`, `.invalidOption` (path missing), and the readers' errors
    ///   (`.missingFiles` names every folder searched).
    public static func standard(_ name: String, path: String? = nil) throws -> (train: Dataset, test: Dataset) {
        let key = name.lowercased()
        if key == "fashion-mnist" || key == "fashion" {
            let root = path ?? defaultFashionMNISTRoot
            return (try fashionMNIST(root: root, train: true), try fashionMNIST(root: root, train: false))
        }
        guard standardNames.contains(key) else { throw DatasetError.unknownDataset(name: name, known: standardNames) }
        guard let dir = path else {
            throw DatasetError.invalidOption(
                name: name,
                reason: "needs the folder holding its files: give path=DIR (the folder itself or "
                    + "torchvision's root); for an ImageFolder called \(name), write data \"./\(name)\"")
        }
        switch key {
        case "cifar10": return (try cifar10(dir: dir, train: true), try cifar10(dir: dir, train: false))
        case "cifar100", "cifar100-coarse":
            let coarse = key == "cifar100-coarse"
            return (
                try cifar100(dir: dir, train: true, coarse: coarse),
                try cifar100(dir: dir, train: false, coarse: coarse)
            )
        default:
            // MNIST and KMNIST have ten classes, numbered as torchvision's targets are.
            let classes = Dataset.numberedClasses(10)
            return (
                try mnistFolder(dir, name: key, train: true, classNames: classes),
                try mnistFolder(dir, name: key, train: false, classNames: classes)
            )
        }
    }
}
