import Foundation
import Tensors
import XCTest
@testable import Networks

/// Seeded random inputs for the checkpoint readers: each mutant of a valid safetensors or `.pth` file loads
/// or fails with a `CheckpointError` naming the file, never a crash (libFuzzer's findings: `CheckpointCrasherTests`).
final class CheckpointMutationTests: XCTestCase {
    /// `count` seeded mutants of `base`: flipped bits, random bytes, boundary integers, cut, repeated or deleted runs.
    static func mutants(of base: [UInt8], count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SeededRandom(seed: seed)
        let boundaries: [[UInt8]] = [[0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0], [0xFF, 0xFF],
                                     [0x80, 0, 0, 0], [0x39, 0x39, 0x39], [0x2D, 0x31], [0x5B, 0x5B, 0x5B, 0x5B]]
        return (0..<count).map { _ in
            var bytes = base
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<6, using: &rng) {
                case 0 where !bytes.isEmpty: bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                case 1 where !bytes.isEmpty: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 2:
                    let b = boundaries[Int.random(in: 0..<boundaries.count, using: &rng)]
                    bytes.replaceSubrange(at..<min(at + b.count, bytes.count), with: b)
                case 3: bytes.removeSubrange(at...)
                case 4: bytes.insert(contentsOf: bytes[at..<min(at + Int.random(in: 1...64, using: &rng), bytes.count)], at: at)
                default: bytes.removeSubrange(at..<min(at + Int.random(in: 1...16, using: &rng), bytes.count))
                }
            }
            return bytes
        }
    }

    private func check(_ fixture: String, seed: UInt64, count: Int) throws {
        let base = try [UInt8](Data(contentsOf: CheckpointFixtureTests.fixture(fixture)))
        var refused = 0
        for bytes in Self.mutants(of: base, count: count, seed: seed) {
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
}
