import Foundation
import Tensors
import XCTest

@testable import Networks

/// Every input in `Fixtures/crashers` once crashed, hung or exhausted memory in a checkpoint reader (found
/// by the libFuzzer targets in Fuzz/ or by review; docs/reliability.md). Each must now fail with a
/// `CheckpointError` naming the file, quickly.
final class CheckpointCrasherTests: XCTestCase {
    func testEveryCrasherIsACleanError() throws {
        let folder = try CheckpointFixtureTests.fixture("../crashers")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertGreaterThanOrEqual(files.count, 2)
        for file in files {
            let url = folder.appendingPathComponent(file)
            XCTAssertThrowsError(try StateDict.load(contentsOf: url), file) { error in
                XCTAssertTrue(error is CheckpointError, "\(file): untyped error \(error)")
                XCTAssertTrue("\(error)".hasPrefix(url.path), "\(file): \(error)")
            }
        }
    }

    /// A 165-byte checkpoint whose metadata names an mlp with two 30,000-wide layers made `load` build a 900M-parameter
    /// model (3.6 GB) before the strict load refused it; the architecture must now fit in what the file holds.
    func testMetadataCannotAskForAModelLargerThanTheFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sskd-huge-meta-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try StateDict(
            namedTensors: [("x", Tensor(shape: [1], data: [0]))],
            metadata: ["arch": "mlp", "channels": "1", "classes": "10", "widths": "30000,30000"]
        ).save(to: url)
        XCTAssertThrowsError(try Model.load(contentsOf: url)) { error in
            XCTAssertEqual(
                "\(error)".contains(
                    "\(url.path) holds 1 values, but mlp with channels 1, classes 10, widths 30000,30000 has"), true,
                "\(error)")
            guard case NetworkError.invalidConfiguration = error else { return XCTFail("\(error)") }
        }
    }

    /// A 441-byte `.pth` whose one tensor views a 1-element storage as 2^30 elements (stride 0) made sskd
    /// allocate 4 GiB; views may repeat storage elements only within a budget.
    func testBroadcastViewsAreBounded() throws {
        let url = try CheckpointFixtureTests.fixture("../crashers/broadcast-1g.pth")
        XCTAssertThrowsError(try StateDict.load(contentsOf: url)) { error in
            XCTAssertEqual(
                "\(error)",
                "\(url.path): tensor 'w': size [1073741824], stride [0] repeats its storage's elements:"
                    + " 1073741824 elements, with 0 already read, from storages of 1 elements in all")
        }
        let many = try CheckpointFixtureTests.fixture("../crashers/broadcast-many.pth")
        XCTAssertThrowsError(try StateDict.load(contentsOf: many)) { error in
            XCTAssertTrue("\(error)".contains("tensor 'w1': size [16777216], stride [0] repeats"), "\(error)")
        }
    }
}
