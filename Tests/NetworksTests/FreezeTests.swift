import Tensors
import XCTest

@testable import Networks

/// Frozen parts get no gradients, are never updated, and their BatchNorm running stats stay bit-identical.
final class FreezeTests: XCTestCase {
    /// Three SGD steps (momentum 0.9) on a fixed batch, training mode.
    func train(_ model: Model, steps: Int = 3) throws {
        let sgd = try SGD(model.parameters(), lr: 0.1, momentum: 0.9)
        let x = ModelFixtures.randomInput([4, 1, 28, 28], seed: 9)
        for _ in 0..<steps {
            sgd.zeroGrad()
            try crossEntropy(model.forward(x, training: true), targets: [0, 1, 2, 3]).backward()
            sgd.step()
        }
    }

    func snapshot(_ model: Model) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.0, $0.1.data) })
    }

    func testFrozenStageKeepsWeightsAndRunningStatsWhileTheRestTrains() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10)
        try model.freeze(.stage(0))
        XCTAssertEqual(model.stages.map(\.isFrozen), [true, false, false])
        XCTAssertFalse(model.head.isFrozen)
        let before = snapshot(model)
        try train(model)
        let after = snapshot(model)
        let stage0 = before.keys.filter { $0.hasPrefix("conv1.") || $0.hasPrefix("bn1.") || $0.hasPrefix("layer1.") }
        XCTAssertEqual(stage0.count, 1 + 5 + 2 * 1 + 2 * 5, "conv1, bn1, and two convs + two BNs in layer1.0")
        for key in stage0 { XCTAssertEqual(after[key], before[key], "\(key) must be bit-identical") }
        XCTAssertEqual(after["bn1.num_batches_tracked"], [0])
        XCTAssertEqual(after["layer1.0.bn2.num_batches_tracked"], [0])
        XCTAssertEqual(after["layer2.0.bn1.num_batches_tracked"], [3])
        for key in [
            "layer2.0.conv1.weight", "layer2.0.bn1.weight", "layer2.0.bn1.running_mean", "layer2.0.bn1.running_var",
            "layer3.0.downsample.0.weight", "fc.weight", "fc.bias",
        ] {
            XCTAssertNotEqual(after[key], before[key], "\(key) must train")
        }
        let frozenParams = model.namedParameters().filter { stage0.contains($0.0) }
        XCTAssertEqual(frozenParams.count, 1 + 2 + 2 * 1 + 2 * 2, "conv weights and BN affine of stage 0")
        XCTAssertTrue(frozenParams.allSatisfy { !$0.1.requiresGrad && $0.1.grad == nil })
    }

    func testFrozenStageRunsInEvalModeDuringTraining() throws {
        let model = try Zoo.make("cnn", channels: 1, classes: 10, widths: [4, 8])
        try model.freeze(.stageNamed("layer1"))
        let x = ModelFixtures.randomInput([3, 1, 28, 28])
        XCTAssertEqual(
            try model.forward(x, throughStage: 0, training: true).data,
            try model.forward(x, throughStage: 0, training: false).data)
        try model.unfreeze(.stageNamed("layer1"))
        XCTAssertNotEqual(
            try model.forward(x, throughStage: 0, training: true).data,
            try model.forward(x, throughStage: 0, training: false).data)
    }

    func testBackboneHeadAllAndUnfreeze() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10)
        try model.freeze(.backbone)
        XCTAssertEqual(model.stages.map(\.isFrozen), [true, true, true])
        let before = snapshot(model)
        try train(model, steps: 2)
        let after = snapshot(model)
        let changed = before.keys.filter { before[$0] != after[$0] }.sorted()
        XCTAssertEqual(changed, ["fc.bias", "fc.weight"])
        try model.freeze(.all)
        XCTAssertTrue(model.head.isFrozen)
        XCTAssertTrue(model.parameters().allSatisfy { !$0.requiresGrad })
        try model.unfreeze(.all)
        XCTAssertTrue(model.parameters().allSatisfy(\.requiresGrad))
        XCTAssertEqual(model.stages.map(\.isFrozen) + [model.head.isFrozen], [false, false, false, false])
        // Freezing is per module, so it survives a re-split.
        try model.freeze(.stage(1))
        try model.split(at: ["layer1", "layer2.0", "layer3"])
        XCTAssertEqual(model.stages.map(\.isFrozen), [false, true, false])
    }

    func testUnknownStagesAreErrors() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10)
        XCTAssertThrowsError(try model.freeze(.stageNamed("layer7"))) {
            XCTAssertEqual("\($0)", "no stage named 'layer7'; stages: layer1, layer2, layer3, head")
        }
        XCTAssertThrowsError(try model.freeze(.stage(-1))) {
            XCTAssertEqual("\($0)", "stage -1 does not exist; the model has stages 0..<3")
        }
    }
}
