import XCTest
import Tensors
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
}
