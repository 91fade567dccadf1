import Foundation
import XCTest

@testable import Networks

/// Loads every file written by scripts/make-checkpoint-fixtures.py and compares it with expected.json,
/// which PyTorch wrote from the same tensors.
final class CheckpointFixtureTests: XCTestCase {
    struct Expected: Decodable {
        struct Entry: Decodable {
            let name: String
            let dtype: String
            let shape: [Int]
            let values: [Double]
        }
        let entries: [Entry]
        let metadata: [String: String]
    }

    /// Asserts `state` is the tiny RepDistiller-style model of the fixtures (conv1, bn1 with
    /// num_batches_tracked 1234 as int64, fc) with `metadata` from the checkpoint's other keys.
    static func assertTinyRepDistillerModel(
        _ state: StateDict, metadata: [String: String], file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(
            state.names,
            [
                "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                "bn1.num_batches_tracked", "fc.weight", "fc.bias",
            ], file: file, line: line)
        XCTAssertEqual(state.metadata, metadata, file: file, line: line)
        XCTAssertEqual(state.dtype(of: "bn1.num_batches_tracked"), .i64, file: file, line: line)
        XCTAssertEqual(state["bn1.num_batches_tracked"]?.data, [1234], file: file, line: line)
    }

    static func fixture(_ name: String) throws -> URL {
        let folder = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/checkpoints")
        return folder.appendingPathComponent(name)
    }

    static func expected() throws -> [String: Expected] {
        try JSONDecoder().decode([String: Expected].self, from: Data(contentsOf: fixture("expected.json")))
    }

    func testEveryFixtureMatchesPyTorchValuesExactly() throws {
        let all = try Self.expected()
        XCTAssertEqual(all.count, 24)
        for (file, want) in all.sorted(by: { $0.key < $1.key }) {
            let state = try StateDict.load(contentsOf: Self.fixture(file))
            XCTAssertEqual(state.names, want.entries.map(\.name), file)
            XCTAssertEqual(state.metadata, want.metadata, file)
            for entry in want.entries {
                let tensor = try XCTUnwrap(state[entry.name], "\(file): \(entry.name)")
                XCTAssertEqual(tensor.shape, entry.shape, "\(file): \(entry.name)")
                XCTAssertEqual(tensor.data, entry.values.map { Float($0) }, "\(file): \(entry.name)")
                XCTAssertEqual(state.dtype(of: entry.name)?.rawValue, entry.dtype, "\(file): \(entry.name)")
            }
        }
    }

    func testRepDistillerLayoutTakesModelAndKeepsEpochAndAccuracy() throws {
        let state = try StateDict.load(contentsOf: Self.fixture("tiny_repdistiller.pth"))
        Self.assertTinyRepDistillerModel(state, metadata: ["epoch": "240", "best_acc": "94.1"])
        XCTAssertEqual(state["bn1.num_batches_tracked"]?.shape, [])
        XCTAssertEqual(state["bn1.running_var"]?.data, [1.5, 0.75, 1.125, 0.875])
    }

    func testDataParallelPrefixIsRemoved() throws {
        let state = try StateDict.load(contentsOf: Self.fixture("tiny_dataparallel.pth"))
        XCTAssertEqual(state.names.first, "conv1.weight")
        XCTAssertFalse(state.names.contains { $0.hasPrefix("module.") })
    }

    func testNonContiguousViewsAreMaterialisedInRowMajorOrder() throws {
        let state = try StateDict.load(contentsOf: Self.fixture("noncontiguous.pth"))
        XCTAssertEqual(state["transposed"]?.shape, [6, 4])
        XCTAssertEqual(state["transposed"]?.data.prefix(5), [0, 1.5, 3, 4.5, 0.25])  // base[0][0], base[1][0], ...
        XCTAssertEqual(state["sliced"]?.shape, [3, 3])
        XCTAssertEqual(state["sliced"]?.data, [6, 8, 10, 12, 14, 16, 18, 20, 22].map { Float($0) / 4 })
        XCTAssertEqual(state["expanded"]?.data, [1, 1, 1, 2, 2, 2])
    }

    func testHalfPrecisionFixtureDiffersFromFloat32OnlyByRounding() throws {
        let f32 = try StateDict.load(contentsOf: Self.fixture("tiny.safetensors"))
        let f16 = try StateDict.load(contentsOf: Self.fixture("tiny_f16.pth"))
        XCTAssertEqual(f16.dtype(of: "fc.weight"), .f16)
        let a = try XCTUnwrap(f32["fc.weight"]).data
        let b = try XCTUnwrap(f16["fc.weight"]).data
        XCTAssertNotEqual(a, b)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: abs(x) / 1024 + 1e-7) }
    }

    func testSafetensorsMetadataIsRead() throws {
        let state = try StateDict.load(contentsOf: Self.fixture("tiny.safetensors"))
        XCTAssertEqual(state.metadata, ["arch": "tiny", "dataset": "cifar10", "top1": "94.1", "seed": "0"])
    }

    func testMaliciousPickleIsRefusedNamingTheGlobal() throws {
        let url = try Self.fixture("malicious.pth")
        XCTAssertThrowsError(try StateDict.load(contentsOf: url)) { error in
            XCTAssertEqual(error as? CheckpointError, .forbiddenGlobal(path: url.path, name: "os.system"))
            XCTAssertEqual(
                "\(error)",
                "\(url.path): refusing to load: the pickle uses the global 'os.system', which is"
                    + " not allowed (only tensors, storages and dicts are, as torch.load(weights_only=True))")
        }
    }

    func testPthConvertsToSafetensorsKeepingValuesAndInt64Buffers() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-convert-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var state = try StateDict.load(contentsOf: Self.fixture("tiny_repdistiller.pth"))
        state.metadata["arch"] = "tiny"
        let url = folder.appendingPathComponent("teacher.safetensors")
        try state.save(to: url)
        let back = try StateDict.load(contentsOf: url)
        XCTAssertEqual(back.names, state.names)
        XCTAssertEqual(back.metadata, ["epoch": "240", "best_acc": "94.1", "arch": "tiny"])
        XCTAssertEqual(back.entries.map(\.dtype), [.f32, .f32, .f32, .f32, .f32, .i64, .f32, .f32])
        for entry in state.entries { XCTAssertEqual(back[entry.name]?.data, entry.tensor.data, entry.name) }
    }

    func testUnreadableFilesNameTheReason() throws {
        let folder = try Self.fixture("")
        XCTAssertThrowsError(try StateDict.load(contentsOf: folder)) { error in
            XCTAssertEqual("\(error)", "\(folder.path): cannot read: is a folder")
        }
        let missing = folder.appendingPathComponent("nope.pth")
        XCTAssertThrowsError(try StateDict.load(contentsOf: missing)) { error in
            XCTAssertEqual(
                error as? CheckpointError, .unreadable(path: missing.path, reason: "No such file or directory"))
        }
    }
}
