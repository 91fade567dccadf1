import Foundation
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// `data` on files as PyTorch users have them: the CIFAR-10 python version and `.npz` archives with `keys=`.
final class DataFormatsTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "sskd-data-formats-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testCIFAR10PythonVersionThroughTheDataCommand() throws {
        let names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        try PickleWriter.writeCIFAR10(in: dir + "/cifar-10-batches-py", perBatch: 2, test: 3, classNames: names)
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(
            session.run(
                "d = data cifar10 path=\"\(dir)\" normalize=none\nprint d.train d.test d.classes",
                name: "cifar"), .ok, sink.lines.joined(separator: "\n"))
        XCTAssertEqual(
            sink.lines,
            [
                "cifar10/train: 10 images [3, 32, 32], 10 classes (plane, car, bird, cat, deer, dog, frog, horse, "
                    + "ship, truck)",
                "cifar10/val: 0 images (no validation split: per-epoch top-1 is measured on test, for monitoring only; "
                    + "val=N holds one out)",
                "cifar10/test: 3 images",
                "normalize: none (pixels/255); augmentation: crop 4 + flip; seed 0",
                "10 3 [\"plane\", \"car\", \"bird\", \"cat\", \"deer\", \"dog\", \"frog\", \"horse\", \"ship\", "
                    + "\"truck\"]",
            ])
    }

    /// A folder written as a script with `pickle.dump(d, f, protocol=pickle.HIGHEST_PROTOCOL)` writes it (protocol
    /// 5: arrays as `_frombuffer` of an in-band `BYTEARRAY8`, the test labels an int64 array, `str` keys).
    func testCIFAR10PythonVersionAtProtocol5() throws {
        let names = ["avion", "auto", "oiseau", "chat", "cerf", "chien", "grenouille", "cheval", "navire", "camion"]
        try PickleWriter.writeCIFAR10(
            in: dir + "/cifar-10-batches-py", perBatch: 3, test: 4, classNames: names,
            protocol: 5)
        let head = try Data(contentsOf: URL(fileURLWithPath: dir + "/cifar-10-batches-py/test_batch")).prefix(2)
        XCTAssertEqual(Array(head), [0x80, 5])
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(
            session.run(
                "d = data cifar10 path=\"\(dir)\" normalize=none\nprint d.train d.test d.classes",
                name: "cifar5"), .ok, sink.lines.joined(separator: "\n"))
        XCTAssertEqual(
            sink.lines.first,
            "cifar10/train: 15 images [3, 32, 32], 10 classes (\(names.joined(separator: ", ")))")
        XCTAssertTrue(sink.lines.contains("cifar10/test: 4 images"), sink.lines.joined(separator: "\n"))
        XCTAssertEqual(sink.lines.last, "15 4 [" + names.map { "\"\($0)\"" }.joined(separator: ", ") + "]")
    }

    func testNpzKeysOption() throws {
        let x = TestFiles.npy(descr: "|u1", shape: [2, 2, 2], Array(0..<8))
        let y = TestFiles.npy(descr: "<i8", shape: [2], [1, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 0])
        let path = dir + "/my.npz"
        try Data(TestFiles.zip([("a.npy", x), ("b.npy", y), ("c.npy", x), ("d.npy", y)], deflate: false)).write(
            to: URL(fileURLWithPath: path))
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(
            session.run("data \"\(path)\" keys=[a, b, \"c\", d] normalize=none", name: "npz"), .ok,
            sink.lines.joined(separator: "\n"))
        XCTAssertEqual(sink.lines.first, "\(path)/train: 2 images [1, 2, 2], 2 classes (0, 1)")
        XCTAssertEqual(session.run("data \"\(path)\"", name: "default keys"), .runtimeError)
        XCTAssertTrue(
            sink.lines.last?.hasSuffix("\(path): bad .npz archive: no member 'x_train' (has: a, b, c, d)") ?? false,
            sink.lines.last ?? "")
        XCTAssertEqual(session.run("data \"\(path)\" keys=[a, b]", name: "two"), .runtimeError)
        XCTAssertTrue(
            sink.lines.last?.hasSuffix(
                "option 'keys': expects 4 array names [TRAIN_IMAGES, TRAIN_LABELS,"
                    + " TEST_IMAGES, TEST_LABELS], got [\"a\", \"b\"]") ?? false, sink.lines.last ?? "")
        XCTAssertEqual(session.run("data cifar10 path=\"\(dir)\" keys=[a, b, c, d]", name: "not npz"), .runtimeError)
        XCTAssertTrue(sink.lines.last?.hasSuffix("option 'keys': only for .npz files") ?? false, sink.lines.last ?? "")
    }
}
