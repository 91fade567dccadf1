import Foundation
import XCTest
@testable import Networks
import Tensors

/// Saving a model with its architecture in the metadata, and loading it back with no arguments.
final class ModelCheckpointTests: XCTestCase {
    func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sskd-\(UUID().uuidString)-\(name)")
    }

    func roundTrip(_ arch: String, channels: Int, classes: Int, widths: [Int]? = nil, input: [Int]) throws {
        let model = try Zoo.make(arch, channels: channels, classes: classes, widths: widths, seed: 5)
        var rng = SeededRandom(seed: 1)
        let x = Tensor.normal(input, rng: &rng)
        _ = try model.forward(x, training: true)   // move BN running stats off their defaults
        let url = temporaryURL("\(arch).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.save(to: url, metadata: [CheckpointKey.top1: "91.5", CheckpointKey.seed: "7"])
        let (loaded, meta) = try Model.load(contentsOf: url)
        XCTAssertEqual(loaded.architecture, model.architecture)
        XCTAssertEqual(meta[CheckpointKey.top1], "91.5")
        XCTAssertEqual(loaded.stateDict().map(\.0), model.stateDict().map(\.0))
        for ((_, a), (_, b)) in zip(loaded.stateDict(), model.stateDict()) { XCTAssertEqual(a.data, b.data) }
        let (y1, y2) = try withNoGrad { (try loaded.forward(x, training: false), try model.forward(x, training: false)) }
        XCTAssertEqual(y1.data, y2.data)
    }

    func testResNetCNNAndMLPRoundTripWithoutArguments() throws {
        try roundTrip("resnet8", channels: 1, classes: 10, input: [2, 1, 28, 28])
        try roundTrip("cnn", channels: 3, classes: 4, widths: [4, 6], input: [2, 3, 16, 16])
        try roundTrip("mlp", channels: 1, classes: 10, widths: [12, 8], input: [2, 1, 28, 28])
    }

    func testCustomSplitIsKept() throws {
        let model = try Zoo.make("resnet20", channels: 1, classes: 10, initialize: false)
        try model.split(at: ["layer1", "layer2.1"])
        let url = temporaryURL("split.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.save(to: url)
        XCTAssertEqual(try Model.load(contentsOf: url).0.stages.map(\.modules), model.stages.map(\.modules))
    }

    func testCheckpointWithoutArchitectureNeedsOne() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10, initialize: false)
        let url = temporaryURL("plain.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try StateDict(namedTensors: model.stateDict()).save(to: url)
        XCTAssertThrowsError(try Model.load(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains("does not say its architecture; name it (e.g. arch=resnet20)"), "\(error)")
        }
        let (loaded, _) = try Model.load(contentsOf: url, architecture: "resnet8")
        XCTAssertEqual(loaded.parameterCount, 77_754)   // 78,042 with 3 input channels
        XCTAssertThrowsError(try Model.load(contentsOf: url, architecture: "resnet20")) { error in
            XCTAssertTrue("\(error)".contains("Missing key(s)"), "\(error)")
        }
    }
}
