// The pickles of scripts/cifar-pickle-reference.py (PickleFixtures/*.pkl): the bytes CPython 3.11.7 with NumPy 2.4.6
// wrote.
import Foundation

/// Pickles written by CPython and NumPy, for `CIFARPythonTests`.
enum CIFARPickleReference {
    /// The bytes of `PickleFixtures/NAME.pkl`, a resource of this test target.
    static func load(_ name: String) -> [UInt8] {
        guard let url = Bundle.module.url(forResource: name, withExtension: "pkl", subdirectory: "PickleFixtures"),
            let data = try? Data(contentsOf: url)
        else { fatalError("test resource PickleFixtures/\(name).pkl is missing: rebuild the tests") }
        return [UInt8](data)
    }

    /// `{b'data': np.arange(6, dtype=np.uint8).reshape(2, 3), b'labels': [1, 0]}`, protocol 2.
    static let bytesKeys2 = load("bytesKeys2")

    /// `{'data': np.array([[1, 2], [3, 250]], uint8), 'fine_labels': np.array([7, 300], int64)}`, protocol 4.
    static let fineLabels4 = load("fineLabels4")

    /// `batch()` (2 images, list `labels` [3, 9], int64 `fine_labels` [42, 7]), protocol 2.
    static let batch2 = load("batch2")

    /// `batch()` (2 images, list `labels` [3, 9], int64 `fine_labels` [42, 7]), protocol 3.
    static let batch3 = load("batch3")

    /// `batch()` (2 images, list `labels` [3, 9], int64 `fine_labels` [42, 7]), protocol 4.
    static let batch4 = load("batch4")

    /// `batch()` (2 images, list `labels` [3, 9], int64 `fine_labels` [42, 7]), protocol 5.
    static let batch5 = load("batch5")

    /// `batches.meta`, protocol 2.
    static let meta2 = load("meta2")

    /// `batches.meta`, protocol 3.
    static let meta3 = load("meta3")

    /// `batches.meta`, protocol 4.
    static let meta4 = load("meta4")

    /// `batches.meta`, protocol 5.
    static let meta5 = load("meta5")

    /// `small()`, protocol 2 (Fortran order: is_fortran).
    static let small2 = load("small2")

    /// `small()`, protocol 5.
    static let small5 = load("small5")

    /// `batch()`, protocol 5, as NumPy 1.x names it: `numpy.core.numeric._frombuffer`.
    static let numpy1Batch5 = load("numpy1Batch5")
}
