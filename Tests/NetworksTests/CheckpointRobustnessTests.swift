import Foundation
import Storage
import XCTest

@testable import Networks

/// Cut-off and corrupted files must produce a `CheckpointError`, never a crash or a silent wrong result.
final class CheckpointRobustnessTests: XCTestCase {
    static let files = ["tiny.safetensors", "tiny_bare.pth", "tiny_deflated.pth", "tiny_proto4.pth"]

    /// Positions to damage in a file of `count` bytes: every 5th byte, and every one of the last 64
    /// (the zip central directory), to keep the suite fast in debug builds.
    static func positions(_ count: Int) -> [Int] {
        Array(Set(Array(stride(from: 0, to: count, by: 5)) + Array(max(0, count - 64)..<count))).sorted()
    }

    func testEveryTruncationIsReportedAsAnError() throws {
        for name in Self.files {
            let data = try Data(contentsOf: CheckpointFixtureTests.fixture(name))
            for length in Self.positions(data.count) {
                XCTAssertThrowsError(try StateDict.decode(data.prefix(length), path: name), "\(name) cut at \(length)")
                { error in
                    XCTAssertTrue(error is CheckpointError, "\(name) cut at \(length): \(error)")
                }
            }
        }
    }

    func testEveryFlippedByteEitherLoadsTheSameShapesOrThrows() throws {
        for name in Self.files {
            let data = try Data(contentsOf: CheckpointFixtureTests.fixture(name))
            let good = try StateDict.decode(data, path: name)
            var thrown = 0
            for i in Self.positions(data.count) {
                var bad = data
                bad[i] ^= 0x5A
                do {
                    let state = try StateDict.decode(bad, path: name)
                    XCTAssertEqual(state.count, good.count, "\(name) byte \(i)")
                } catch {
                    XCTAssertTrue(error is CheckpointError, "\(name) byte \(i): \(error)")
                    thrown += 1
                }
            }
            XCTAssertGreaterThan(thrown, Self.positions(data.count).count / 4, "\(name): most corruptions are detected")
            XCTAssertEqual(good.count, 8)
        }
    }

    func testZipLevelErrors() throws {
        let data = try Data(contentsOf: CheckpointFixtureTests.fixture("tiny_bare.pth"))
        func message(_ bytes: Data) -> String {
            do {
                _ = try StateDict.decode(bytes, path: "z.pth")
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(
            message(data.prefix(100)),
            "z.pth: file is truncated: no end-of-central-directory record (not a zip file, or cut short)")
        // A flipped byte inside the first storage (conv1.weight, the member data/0) fails its CRC-32.
        let storage = try XCTUnwrap(ZipArchive([UInt8](data), path: "z.pth").members["tiny_bare/data/0"])
        let local = storage.localHeaderOffset
        let start =
            local + 30 + Int(data[local + 26]) + Int(data[local + 27]) << 8 + Int(data[local + 28]) + Int(
                data[local + 29]) << 8
        var corrupt = data
        corrupt[start + 5] ^= 1
        XCTAssertEqual(
            message(corrupt),
            "z.pth: bad torch.save zip archive: member tiny_bare/data/0: CRC-32 mismatch (the file is corrupted)")
        XCTAssertEqual(
            message(Data("hello world, this is text".utf8)),
            "z.pth: not a checkpoint sskd can read: neither a torch.save zip nor safetensors (25 bytes)")
    }
}
