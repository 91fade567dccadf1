import Foundation
import Tensors
import XCTest

@testable import Networks

/// Atomic saves, StateDict editing, and the strict-loading report.
final class CheckpointSaveTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-save-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func testSaveIntoAMissingFolderFailsNamingThePath() {
        let url = folder.appendingPathComponent("no/such/dir/t.safetensors")
        XCTAssertThrowsError(try CheckpointSafetensorsTests.sample().save(to: url)) { error in
            XCTAssertEqual(
                "\(error)",
                "cannot save \(url.path): cannot create a temporary file in \(folder.path)/no/such/dir:"
                    + " No such file or directory (any previous file is unchanged)")
        }
    }

    func testSaveOverAFolderFailsAndLeavesItAlone() throws {
        let url = folder.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        XCTAssertThrowsError(try CheckpointSafetensorsTests.sample().save(to: url)) { error in
            XCTAssertEqual(
                "\(error)", "cannot save \(url.path): rename: Is a directory (any previous file is unchanged)")
        }
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: folder.path), ["taken"], "no temporary file left")
    }

    /// A write that fails halfway (file size limit, as on a full disk) keeps the previous checkpoint intact.
    func testFailedWriteKeepsTheOldFile() throws {
        let url = folder.appendingPathComponent("teacher.safetensors")
        let old = CheckpointSafetensorsTests.sample()
        try old.save(to: url)
        let before = try Data(contentsOf: url)
        let big = StateDict([.init(name: "w", tensor: Tensor.zeros([100_000]))])

        #if os(Linux)
            let fileSize = Int32(RLIMIT_FSIZE.rawValue)
        #else
            let fileSize = RLIMIT_FSIZE
        #endif
        var limit = rlimit()
        getrlimit(fileSize, &limit)
        let saved = limit
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        limit.rlim_cur = 4096
        setrlimit(fileSize, &limit)
        defer {
            var restore = saved
            setrlimit(fileSize, &restore)
            signal(SIGXFSZ, previousHandler)
        }
        XCTAssertThrowsError(try big.save(to: url)) { error in
            XCTAssertEqual(
                "\(error)", "cannot save \(url.path): write: File too large (any previous file is unchanged)")
        }
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["teacher.safetensors"])
        XCTAssertEqual(try StateDict.load(contentsOf: url).names, old.names)
    }

    func testEditingAndPrefixRemoval() {
        var state = StateDict([
            .init(name: "module.fc.weight", tensor: .ones([2, 2])),
            .init(name: "module.fc.bias", tensor: .zeros([2])),
        ])
        state["extra", dtype: .i64] = .scalar(3)
        state["module.fc.bias"] = .ones([2])
        XCTAssertEqual(state.names, ["module.fc.weight", "module.fc.bias", "extra"])
        XCTAssertEqual(state["module.fc.bias"]?.data, [1, 1])
        XCTAssertEqual(state.dtype(of: "extra"), .i64)
        state["module.fc.weight"] = nil
        XCTAssertEqual(state.names, ["module.fc.bias", "extra"])
        XCTAssertNil(state["module.fc.weight"])
        XCTAssertEqual(state["extra"]?.data, [3])
        XCTAssertEqual(state.removingPrefix("module.").names, ["fc.bias", "extra"])
        state["fc.bias"] = .full([2], 5)
        let merged = state.removingPrefix("module.")
        XCTAssertEqual(merged.names, ["fc.bias", "extra"])
        XCTAssertEqual(merged["fc.bias"]?.data, [5, 5])
    }

    func testNamedTensorsMarkBatchNormCountersAsInt64() {
        let state = StateDict(
            namedTensors: [("bn1.weight", .ones([2])), ("bn1.num_batches_tracked", .scalar(7))],
            metadata: ["arch": "resnet8"])
        XCTAssertEqual(state.entries.map(\.dtype), [.f32, .i64])
        XCTAssertEqual(state.namedTensors.map(\.0), ["bn1.weight", "bn1.num_batches_tracked"])
        XCTAssertEqual(state.namedTensors.map(\.1.data), [[1, 1], [7]])
        XCTAssertEqual(state.metadata, ["arch": "resnet8"])
    }

    func testCheckReportsEveryProblemLikePyTorch() throws {
        let state = StateDict([
            .init(name: "conv1.weight", tensor: .zeros([16, 3, 3, 3])),
            .init(name: "fc.weight", tensor: .zeros([10, 64])),
            .init(name: "fc.bias", tensor: .zeros([10])),
            .init(name: "head.weight", tensor: .zeros([4])),
        ])
        let model: [(String, [Int])] = [
            ("conv1.weight", [16, 3, 3, 3]), ("bn1.weight", [16]), ("bn1.bias", [16]),
            ("fc.weight", [100, 64]), ("fc.bias", [100]),
        ]
        XCTAssertThrowsError(try state.check(against: model, modelName: "resnet8")) { error in
            XCTAssertEqual(
                "\(error)",
                """
                Error(s) in loading state_dict for resnet8:
                \tMissing key(s) in state_dict: "bn1.weight", "bn1.bias".
                \tUnexpected key(s) in state_dict: "head.weight".
                \tsize mismatch for fc.weight: copying a param with shape [10, 64] from checkpoint, the shape in \
                current model is [100, 64].
                \tsize mismatch for fc.bias: copying a param with shape [10] from checkpoint, the shape in current \
                model is [100].
                """)
        }
        XCTAssertNoThrow(try state.check(against: state.entries.map { ($0.name, $0.tensor.shape) }, modelName: "m"))
        XCTAssertThrowsError(try StateDict().check(against: [("w", [1])], modelName: "m")) { error in
            XCTAssertEqual("\(error)", "Error(s) in loading state_dict for m:\n\tMissing key(s) in state_dict: \"w\".")
        }
    }

    func testLoadedFixtureChecksAgainstItsOwnLayout() throws {
        let state = try StateDict.load(contentsOf: CheckpointFixtureTests.fixture("tiny_repdistiller.pth"))
        let layout: [(String, [Int])] = [
            ("conv1.weight", [4, 3, 3, 3]), ("bn1.weight", [4]), ("bn1.bias", [4]),
            ("bn1.running_mean", [4]), ("bn1.running_var", [4]),
            ("bn1.num_batches_tracked", []), ("fc.weight", [3, 4]), ("fc.bias", [3]),
        ]
        XCTAssertNoThrow(try state.check(against: layout, modelName: "tiny"))
    }
}
