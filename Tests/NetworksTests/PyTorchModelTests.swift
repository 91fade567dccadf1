import Tensors
import XCTest

@testable import Networks

/// A RepDistiller-style resnet8 trained state (seeded weights, nontrivial BN running stats) exported from PyTorch:
/// our eval-mode logits and stage features must reproduce PyTorch's.
final class PyTorchModelTests: XCTestCase {
    func testResNet8ReproducesPyTorchLogitsAndStageFeatures() throws {
        let (stateDict, outputs) = try ModelFixtures.resnet8()
        let model = try Zoo.make("resnet8", channels: 1, classes: 10)
        try model.load(stateDict)
        let x = try XCTUnwrap(outputs["input"])
        XCTAssertEqual(x.shape, [2, 1, 28, 28])
        ModelFixtures.assertClose(try model.forward(x, training: false), try XCTUnwrap(outputs["logits"]), "logits")
        let features = try model.features(x)
        XCTAssertEqual(features.count, 3)
        for (k, name) in ["layer1", "layer2", "layer3"].enumerated() {
            let expected = try XCTUnwrap(outputs["features.\(name)"])
            ModelFixtures.assertClose(features[k], expected, name)
            ModelFixtures.assertClose(try model.forward(x, throughStage: k), expected, "\(name) through stage")
        }
        // Buffers were loaded too (num_batches_tracked = 7, running stats as exported).
        let buffers = Dictionary(uniqueKeysWithValues: model.namedBuffers())
        XCTAssertEqual(buffers["layer2.0.bn1.num_batches_tracked"]?.data, [7])
        XCTAssertEqual(buffers["bn1.running_var"]?.data, stateDict.first { $0.0 == "bn1.running_var" }?.1.data)
        // The loaded values sit in the model's own tensors: the stateDict round-trips bit for bit.
        XCTAssertEqual(model.stateDict().map(\.1.data), stateDict.map(\.1.data))
    }

    /// The same weights as users bring them: `safetensors.torch.save_file` and a RepDistiller-style
    /// `torch.save({'model': state_dict, 'epoch': 240, 'best_acc': 71.5})`, loaded by file into the zoo's resnet8.
    func testResNet8FromSafetensorsAndPthReproducesPyTorch() throws {
        let (_, outputs) = try ModelFixtures.resnet8()
        let x = try XCTUnwrap(outputs["input"])
        for file in ["resnet8-1ch.safetensors", "resnet8-1ch.pth"] {
            let (model, metadata) = try Model.load(contentsOf: try ModelFixtures.url(file), architecture: "resnet8")
            XCTAssertEqual(model.parameterCount, 77_754, file)
            ModelFixtures.assertClose(
                try model.forward(x, training: false), try XCTUnwrap(outputs["logits"]), "\(file) logits")
            for (k, feature) in try model.features(x).enumerated() {
                ModelFixtures.assertClose(
                    feature, try XCTUnwrap(outputs["features.layer\(k + 1)"]), "\(file) stage \(k + 1)")
            }
            if file.hasSuffix(".pth") {
                XCTAssertEqual(metadata["epoch"], "240")
                XCTAssertEqual(metadata["best_acc"], "71.5")
            }
        }
    }
}
