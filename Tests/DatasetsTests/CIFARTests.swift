import XCTest

@testable import Datasets

final class CIFARTests: XCTestCase {
    /// `n` CIFAR records: `labelBytes(i)` then 3072 pixels, pixel `p` of record `i` = `(i + p) % 256`.
    static func records(_ n: Int, labelBytes: (Int) -> [UInt8]) -> [UInt8] {
        (0..<n).flatMap { i in labelBytes(i) + (0..<3072).map { UInt8((i + $0) % 256) } }
    }

    func testCIFAR10FolderWithMeta() throws {
        let f = try Fixtures()
        try FileManager.default.createDirectory(
            atPath: f.dir + "/cifar-10-batches-bin", withIntermediateDirectories: true)
        for b in 1...5 {
            try f.write("cifar-10-batches-bin/data_batch_\(b).bin", Self.records(2) { [UInt8(($0 + b) % 10)] })
        }
        try f.write("cifar-10-batches-bin/test_batch.bin", Self.records(3) { [UInt8(9 - $0)] })
        try f.write("cifar-10-batches-bin/batches.meta.txt", Array("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n".utf8))
        let (train, test) = try DatasetLoader.standard("cifar10", path: f.dir)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(train.labels, [1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
        XCTAssertEqual(test.labels, [9, 8, 7])
        XCTAssertEqual(train.imageShape, [3, 32, 32])
        XCTAssertEqual(train.classNames, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])
        XCTAssertEqual(train.defaultAugmentation, Augmentation(cropPadding: 4, horizontalFlip: true))
        // Record 1 of the test file: red plane starts at pixel value 1, green plane at 1 + 1024.
        XCTAssertEqual(test.image(1)[0], 1.0 / 255, accuracy: 1e-7)
        XCTAssertEqual(test.image(1)[1024], Float((1 + 1024) % 256) / 255, accuracy: 1e-7)
    }

    func testCIFAR100FineAndCoarse() throws {
        let f = try Fixtures()
        try f.write("train.bin", Self.records(4) { [UInt8($0 * 5), UInt8($0 * 30)] })
        try f.write("test.bin", Self.records(1) { _ in [19, 99] })
        let fine = try DatasetLoader.cifar100(dir: f.dir, train: true)
        XCTAssertEqual(fine.labels, [0, 30, 60, 90])
        XCTAssertEqual(fine.classCount, 100)
        let coarse = try DatasetLoader.cifar100(dir: f.dir, train: true, coarse: true)
        XCTAssertEqual(coarse.labels, [0, 5, 10, 15])
        XCTAssertEqual(coarse.classCount, 20)
        XCTAssertEqual(try DatasetLoader.cifar100(dir: f.dir, train: false).labels, [99])
    }

    func testCIFARErrors() throws {
        let f = try Fixtures()
        let folders = [f.dir, f.dir + "/cifar-10-batches-bin", f.dir + "/cifar-10-batches-py"]
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir, train: false)) {
            $0
                == .missingFiles(
                    wanted: "CIFAR-10 test_batch.bin (binary version) or test_batch (python version)", folders: folders)
        }
        XCTAssertEqual(DatasetError.missingFiles(wanted: "x", folders: ["/a", "/a/b"]).description, "no x in /a, /a/b")
        let truncated = try f.write("test_batch.bin", Array(Self.records(2) { _ in [0] }.dropLast(100)))
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir, train: false)) {
            $0 == .truncated(path: truncated, expectedBytes: 2 * 3073, actualBytes: 2 * 3073 - 100)
        }
        let badLabel = try f.write("test_batch.bin", Self.records(2) { [UInt8($0 * 10)] })
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir, train: false)) {
            $0 == .labelOutOfRange(path: badLabel, index: 1, label: 10, classCount: 10)
        }
        try f.write("test_batch.bin", Self.records(1) { _ in [0] })
        let meta = try f.write("batches.meta.txt", Array("cat\ndog\n".utf8))
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir, train: false)) {
            $0 == .badHeader(path: meta, reason: "2 class names, expected 10")
        }
    }
}
