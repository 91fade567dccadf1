import Foundation
import Tensors
import TestSupport
import XCTest

@testable import Datasets

/// Boundary integers written over header fields by `mutants` (Tests/Support/Mutations.swift).
let datasetBoundaries: [[UInt8]] = [
    [0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0x7F],
    [0x80, 0, 0, 0], [0, 0, 0, 0x80], [0xFF, 0xFF], [0x39, 0x39, 0x39, 0x39],
]

/// Seeded random inputs for every reader, in memory: each mutant of a valid file gives a data set or a
/// `DatasetError` naming the file, never a crash (libFuzzer's findings are in `CrasherTests`).
final class MutationTests: XCTestCase {
    /// Runs `read` on each mutant; a result must be self-consistent, an error a `DatasetError` naming `path`.
    private func check(_ base: [UInt8], path: String, seed: UInt64, count: Int = 800, read: ([UInt8]) throws -> Dataset)
    {
        var loaded = 0
        for bytes in mutants(of: base, count: count, seed: seed, boundaries: datasetBoundaries) {
            do {
                let d = try read(bytes)
                XCTAssertEqual(d.pixels.count, d.count * d.imageSize)
                XCTAssertTrue(d.labels.allSatisfy { (0..<d.classCount).contains($0) })
                loaded += 1
            } catch let error as DatasetError {
                XCTAssertTrue(error.description.contains(path), "\(error) does not name \(path)")
            } catch {
                XCTFail("untyped error \(error)")
            }
        }
        XCTAssertLessThan(loaded, count, "no mutant was refused: the mutations do not reach the reader")
    }

    func testIDXMutants() throws {
        let images = Fixtures.idx([3, 4, 4], Fixtures.pattern(n: 3, size: 16))
        let labels = Fixtures.idx([3], [0, 1, 2])
        check(images, path: "i", seed: 1) {
            try DatasetLoader.idx(imageBytes: $0, imagesPath: "i", labelBytes: labels, labelsPath: "l")
        }
        check(labels, path: "l", seed: 2) {
            try DatasetLoader.idx(imageBytes: images, imagesPath: "i", labelBytes: $0, labelsPath: "l")
        }
        let f = try Fixtures()
        let gzipped = try Array(Data(contentsOf: URL(fileURLWithPath: f.write("g.gz", images, gzip: true))))
        check(gzipped, path: "g.gz", seed: 3) {
            try DatasetLoader.idx(
                imageBytes: FileBytes.decode($0, path: "g.gz"), imagesPath: "g.gz", labelBytes: labels, labelsPath: "l")
        }
    }

    func testCIFARMutants() {
        let record = [UInt8(3)] + Fixtures.pattern(n: 1, size: 3072)
        check(record + record, path: "c.bin", seed: 4, count: 300) { bytes in
            let (pixels, labels) = try DatasetLoader.parseCIFAR(
                bytes, path: "c.bin", labelBytes: 1, labelOffset: 0, classCount: 10)
            return Dataset(
                unchecked: "c", pixels: .uint8(pixels), labels: labels, channels: 3, height: 32, width: 32,
                classNames: DatasetLoader.cifar10Classes, defaultAugmentation: Augmentation())
        }
    }

    func testCIFARPickleMutants() {
        let batch = PickleWriter.cifarBatch(PickleWriter.cifarPixels(2), labels: [("labels", [3, 9])])
        // Protocol 5 (BYTEARRAY8, _frombuffer, an int64 label array) as written by Swift and as NumPy 2 wrote it.
        let batch5 = PickleWriter.cifarBatch(
            PickleWriter.cifarPixels(2), labels: [("labels", [3, 9])], protocol: 5,
            labelArrays: true)
        for (seed, base) in [(UInt64(10), batch), (11, batch5), (12, CIFARPickleReference.batch5)] {
            check(base, path: "data_batch_1", seed: seed, count: 500) { bytes in
                let (pixels, labels) = try DatasetLoader.parseCIFARPickle(
                    bytes, path: "data_batch_1",
                    labelsKey: "labels", classCount: 10)
                return Dataset(
                    unchecked: "c", pixels: .uint8(pixels), labels: labels, channels: 3, height: 32,
                    width: 32, classNames: DatasetLoader.cifar10Classes, defaultAugmentation: Augmentation())
            }
        }
    }

    func testNumPyMutants() {
        let x = Fixtures.npy(descr: "|u1", shape: [3, 2, 2], Array(0..<12))
        let xf = Fixtures.npy(descr: "<f4", shape: [3, 2, 2, 1], Fixtures.bytes((0..<12).map { Float($0) / 12 }))
        let y = Fixtures.npy(descr: "<i8", shape: [3], Fixtures.bytes([Int64(0), 1, 2]))
        check(x, path: "x.npy", seed: 5) {
            try DatasetLoader.npy(imageBytes: $0, imagesPath: "x.npy", labelBytes: y, labelsPath: "y.npy")
        }
        check(xf, path: "x.npy", seed: 6) {
            try DatasetLoader.npy(imageBytes: $0, imagesPath: "x.npy", labelBytes: y, labelsPath: "y.npy")
        }
        check(y, path: "y.npy", seed: 7) {
            try DatasetLoader.npy(imageBytes: x, imagesPath: "x.npy", labelBytes: $0, labelsPath: "y.npy")
        }
        for deflate in [false, true] {
            let npz = Fixtures.zip([("x_train.npy", x), ("y_train.npy", y)], deflate: deflate)
            check(npz, path: "d.npz", seed: deflate ? 8 : 9) { try DatasetLoader.npz(bytes: $0, path: "d.npz") }
        }
    }
}
