import Foundation
import Tensors
import TestSupport
import XCTest

@testable import Networks

/// Seeded random inputs for the checkpoint readers: each mutant of a valid safetensors or `.pth` file loads
/// or fails with a `CheckpointError` naming the file, never a crash (libFuzzer's findings: `CheckpointCrasherTests`).
final class CheckpointMutationTests: XCTestCase {
    /// Boundary integers and JSON/pickle-ish tokens written over header fields by `mutants` (Tests/Support).
    static let boundaries: [[UInt8]] = [
        [0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0], [0xFF, 0xFF],
        [0x80, 0, 0, 0], [0x39, 0x39, 0x39], [0x2D, 0x31], [0x5B, 0x5B, 0x5B, 0x5B],
    ]

    private func check(_ fixture: String, seed: UInt64, count: Int) throws {
        let base = try [UInt8](Data(contentsOf: CheckpointFixtureTests.fixture(fixture)))
        var refused = 0
        for bytes in mutants(of: base, count: count, seed: seed, boundaries: Self.boundaries) {
            do {
                let state = try StateDict.decode(bytes, path: "m.bin")
                for entry in state.entries { XCTAssertEqual(entry.tensor.data.count, entry.tensor.shape.reduce(1, *)) }
            } catch let error as CheckpointError {
                XCTAssertTrue(error.description.contains("m.bin"), "\(error) does not name the file")
                refused += 1
            } catch {
                XCTFail("untyped error \(error)")
            }
        }
        XCTAssertGreaterThan(refused, count / 10, "the mutations do not reach the reader")
    }

    func testSafetensorsMutants() throws {
        try check("tiny.safetensors", seed: 11, count: 1000)
        try check("dtypes.safetensors", seed: 12, count: 500)
    }

    func testTorchCheckpointMutants() throws {
        try check("tiny_bare.pth", seed: 13, count: 800)
        try check("tiny_deflated.pth", seed: 14, count: 500)
        try check("noncontiguous.pth", seed: 15, count: 400)
    }

    func testLegacyTorchCheckpointMutants() throws {
        try check("legacy.pth", seed: 16, count: 800)
        try check("legacy_repdistiller.pth", seed: 17, count: 600)
        try check("legacy_noncontiguous.pth", seed: 18, count: 400)
    }
}
