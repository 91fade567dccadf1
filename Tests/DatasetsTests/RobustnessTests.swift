import Foundation
import Tensors
import TestSupport
import XCTest

@testable import Datasets

/// Damaged files of every format must give a `DatasetError`, never a crash or a wrong-size data set.
final class RobustnessTests: XCTestCase {
    /// Loads prefixes of `bytes` (every length up to 80, then every 7th) and 60 seeded 3-byte corruptions; each load
    /// either throws a `DatasetError` or yields `count` images.
    private func check(_ bytes: [UInt8], name: String, count: Int, load: (String) throws -> Dataset) throws {
        let f = try Fixtures()
        var rng = SeededRandom(seed: 42)
        var variants = (Array(0..<min(80, bytes.count)) + Array(stride(from: 80, to: bytes.count, by: 7))).map {
            Array(bytes.prefix($0))
        }
        for _ in 0..<60 {
            var damaged = bytes
            for _ in 0..<3 {
                damaged[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            variants.append(damaged)
        }
        for variant in variants {
            let path = try f.write(name, variant)
            do {
                let d = try load(path)
                XCTAssertEqual(d.count, count, "loaded a wrong-size data set from \(variant.count) bytes")
                XCTAssertEqual(d.pixels.count, d.count * d.imageSize)
            } catch let error as DatasetError {
                XCTAssertTrue(error.description.contains(path), "error does not name the file: \(error)")
            }
        }
    }

    func testDamagedIDXGzipNpyAndNpz() throws {
        let f = try Fixtures()
        let labels = try f.write("labels", Fixtures.idx([3], [0, 1, 2]))
        let idx = Fixtures.idx([3, 4, 4], Fixtures.pattern(n: 3, size: 16))
        try check(idx, name: "images", count: 3) { try DatasetLoader.idx(images: $0, labels: labels) }
        let gz = try Array(Data(contentsOf: URL(fileURLWithPath: f.write("g.gz", idx, gzip: true))))
        try check(gz, name: "images.gz", count: 3) { try DatasetLoader.idx(images: $0, labels: labels) }
        let npyLabels = try f.write("y.npy", Fixtures.npy(descr: "<i8", shape: [3], Fixtures.bytes([Int64(0), 1, 2])))
        let npy = Fixtures.npy(descr: "|u1", shape: [3, 4, 4], Fixtures.pattern(n: 3, size: 16))
        try check(npy, name: "x.npy", count: 3) { try DatasetLoader.npy(images: $0, labels: npyLabels) }
        let npz = Fixtures.zip(
            [("x_train.npy", npy), ("y_train.npy", Fixtures.npy(descr: "|u1", shape: [3], [0, 1, 2]))], deflate: true)
        try check(npz, name: "d.npz", count: 3) { try DatasetLoader.npz($0) }
    }
}

/// Inputs found by a user trying to break `data`: absurd labels and non-finite pixels in NumPy files.
final class NumPyLabelAndPixelLimitTests: XCTestCase {
    func npy(_ descr: String, _ shape: [Int], _ payload: [UInt8]) -> Data {
        var header =
            "{'descr': '\(descr)', 'fortran_order': False, 'shape': "
            + "(\(shape.map(String.init).joined(separator: ", "))\(shape.count == 1 ? "," : "")), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        d.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: payload)
        return d
    }

    func testHugeLabelIsRefusedBeforeBuildingClassNames() throws {
        let dir = try makeTemporaryFolder("sskd-npy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("x.npy")
        let labels = dir.appendingPathComponent("y.npy")
        try npy("|u1", [2, 2, 2], [UInt8](repeating: 7, count: 8)).write(to: images)
        var big = [UInt8]()
        for v: Int64 in [1, Int64.max] { withUnsafeBytes(of: v.littleEndian) { big += $0 } }
        try npy("<i8", [2], big).write(to: labels)
        XCTAssertThrowsError(try DatasetLoader.npy(images: images.path, labels: labels.path)) { error in
            XCTAssertTrue("\(error)".contains(labels.path) && "\(error)".contains("\(Int64.max)"), "\(error)")
        }
    }

    func testNonFinitePixelsAreRefused() throws {
        let dir = try makeTemporaryFolder("sskd-npy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("x.npy")
        let labels = dir.appendingPathComponent("y.npy")
        var pixels = [UInt8]()
        for v: Float in [0, 0.5, .nan, 1] { withUnsafeBytes(of: v.bitPattern.littleEndian) { pixels += $0 } }
        try npy("<f4", [1, 2, 2], pixels).write(to: images)
        try npy("|u1", [1], [0]).write(to: labels)
        XCTAssertThrowsError(try DatasetLoader.npy(images: images.path, labels: labels.path)) { error in
            XCTAssertTrue("\(error)".contains("pixel 2 of image 0 is nan"), "\(error)")
        }
    }
}
