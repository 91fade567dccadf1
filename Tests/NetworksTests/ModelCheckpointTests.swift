import Foundation
import Tensors
import XCTest

@testable import Networks

/// Saving a model with its architecture in the metadata, and loading it back with no arguments.
final class ModelCheckpointTests: XCTestCase {
    func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sskd-\(UUID().uuidString)-\(name)")
    }

    func roundTrip(_ arch: String, channels: Int, classes: Int, widths: [Int]? = nil, input: [Int]) throws {
        let model = try Zoo.make(arch, channels: channels, classes: classes, widths: widths, seed: 5)
        var rng = SeededRandom(seed: 1)
        let x = Tensor.normal(input, rng: &rng)
        _ = try model.forward(x, training: true)  // move BN running stats off their defaults
        let url = temporaryURL("\(arch).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.save(to: url, metadata: [CheckpointKey.top1: "91.5", CheckpointKey.seed: "7"])
        let (loaded, meta) = try Model.load(contentsOf: url)
        XCTAssertEqual(loaded.architecture, model.architecture)
        XCTAssertEqual(meta[CheckpointKey.top1], "91.5")
        XCTAssertEqual(loaded.stateDict().map(\.0), model.stateDict().map(\.0))
        for ((_, a), (_, b)) in zip(loaded.stateDict(), model.stateDict()) { XCTAssertEqual(a.data, b.data) }
        let (y1, y2) = try withNoGrad {
            (try loaded.forward(x, training: false), try model.forward(x, training: false))
        }
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
            XCTAssertTrue(
                "\(error)".contains("does not say its architecture; name it (e.g. arch=resnet20)"), "\(error)")
        }
        let (loaded, _) = try Model.load(contentsOf: url, architecture: "resnet8")
        XCTAssertEqual(loaded.parameterCount, 77_754)  // 78,042 with 3 input channels
        XCTAssertThrowsError(try Model.load(contentsOf: url, architecture: "resnet20")) { error in
            XCTAssertTrue("\(error)".contains("Missing key(s)"), "\(error)")
        }
    }
}

/// The frozen parts and RepDistiller's name in the metadata; committed fixtures without them still load.
final class CheckpointFreezingTests: XCTestCase {
    func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sskd-\(UUID().uuidString)-\(name)")
    }

    func testFrozenStagesAndHeadRoundTrip() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 1)
        try model.freeze(.stage(0))
        try model.freeze(.stage(1))
        try model.freeze(.head)
        let url = temporaryURL("frozen.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.save(to: url)
        let (loaded, meta) = try Model.load(contentsOf: url)
        XCTAssertEqual(meta[CheckpointKey.frozen], "[1, 2]")
        XCTAssertEqual(meta[CheckpointKey.frozenHead], "true")
        XCTAssertEqual(meta[CheckpointKey.repDistillerArchitecture], "resnet8")
        XCTAssertEqual(loaded.stages.map(\.isFrozen), [true, true, false])
        XCTAssertTrue(loaded.head.isFrozen)
        let fixed = { (m: Model) in m.namedParameters().filter { !$0.1.requiresGrad }.map(\.0) }
        XCTAssertEqual(fixed(loaded), fixed(model))
        XCTAssertEqual(try StateDict.load(contentsOf: url).names, model.stateDict().map(\.0), "only the state dict")
    }

    func testRepDistillerNames() {
        XCTAssertEqual(Zoo.repDistillerName("wrn-40-2"), "wrn_40_2")
        XCTAssertEqual(Zoo.repDistillerName("vgg8"), "vgg8")
        XCTAssertEqual(Zoo.repDistillerName("vgg13_bn"), "vgg13")
        XCTAssertEqual(Zoo.repDistillerName("resnet32x4"), "resnet32x4")
        XCTAssertEqual(Zoo.repDistillerName("resnet110"), "resnet110")
        for arch in ["resnet18", "resnet34", "resnet50", "mlp", "cnn", "resnet26"] {
            XCTAssertNil(Zoo.repDistillerName(arch), arch)
        }
    }

    func testBadFrozenMetadataIsAnErrorNamingTheKey() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 1)
        for (value, key) in [("[4]", "frozen"), ("[1, \"x\"]", "frozen"), ("1,2", "frozen"), ("yes", "frozen_head")] {
            let url = temporaryURL("bad.safetensors")
            defer { try? FileManager.default.removeItem(at: url) }
            try model.save(to: url)
            var dict = try StateDict.load(contentsOf: url)
            dict.metadata[key] = value
            try dict.save(to: url)
            XCTAssertThrowsError(try Model.load(contentsOf: url)) { error in
                XCTAssertTrue("\(error)".hasPrefix("\(url.path): metadata '\(key)': expected"), "\(error)")
            }
        }
    }

    /// An architecture name from metadata longer than 256 bytes is refused before it is looked up.
    func testLongArchitectureNameIsRefused() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 1)
        let url = temporaryURL("longarch.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.save(to: url)
        var dict = try StateDict.load(contentsOf: url)
        dict.metadata[CheckpointKey.architecture] = String(repeating: "a\u{301}", count: 1000)
        try dict.save(to: url)
        XCTAssertThrowsError(try Model.load(contentsOf: url)) {
            XCTAssertEqual(
                "\($0)", "\(url.path): metadata 'arch': 3000 bytes, more than an architecture name's 256")
        }
    }

    /// A stage named twice (`[1, 1, 1, 1]`) is frozen once, not refused.
    func testRepeatedFrozenStagesAreFrozenOnce() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 1)
        let url = temporaryURL("twice.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.save(to: url)
        var dict = try StateDict.load(contentsOf: url)
        dict.metadata[CheckpointKey.frozen] = "[1,1,1,1]"
        try dict.save(to: url)
        XCTAssertEqual(try Model.load(contentsOf: url).0.stages.map(\.isFrozen), [true, false, false])
    }

    func testCommittedFixturesWithoutTheNewKeysLoadUnfrozen() throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        for file in ["resnet8-1ch.safetensors", "resnet8-1ch.pth"] {
            let (model, meta) = try Model.load(contentsOf: dir.appendingPathComponent(file), architecture: "resnet8")
            XCTAssertNil(meta[CheckpointKey.frozen])
            XCTAssertEqual(model.stages.count, 3)
            XCTAssertFalse(model.stages.contains(where: \.isFrozen) || model.head.isFrozen, file)
        }
    }
}
