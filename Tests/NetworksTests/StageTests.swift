import Tensors
import XCTest

@testable import Networks

/// Stem/stages/head structure, automatic and explicit splits, stage-wise forward, summary.
final class StageTests: XCTestCase {
    func testResNet20StagesOn28x28() throws {
        let model = try Zoo.make("resnet20", channels: 1, classes: 10)
        XCTAssertEqual(model.stages.map(\.name), ["layer1", "layer2", "layer3"])
        XCTAssertEqual(model.stem.modules, ["conv1", "bn1", "relu"])
        XCTAssertEqual(Array(model.stages[0].modules.prefix(4)), ["conv1", "bn1", "relu", "layer1.0"])
        XCTAssertEqual(model.stages[2].modules, ["layer3.0", "layer3.1", "layer3.2"])
        XCTAssertEqual(model.head.modules, ["avgpool", "flatten", "fc"])
        let x = ModelFixtures.randomInput([2, 1, 28, 28])
        let features = try model.features(x)
        XCTAssertEqual(features.map(\.shape), [[2, 16, 28, 28], [2, 32, 14, 14], [2, 64, 7, 7]])
        // Stage by stage, then the head, equals the whole forward.
        var y = x
        for k in 0..<3 {
            y = try model.forward(stage: k, y)
            XCTAssertEqual(y.data, features[k].data, "stage \(k)")
        }
        XCTAssertEqual(try model.forwardHead(y).data, try model.forward(x, training: false).data)
        XCTAssertEqual(try model.forward(x, throughStage: 1).shape, [2, 32, 14, 14])
        XCTAssertThrowsError(try model.forward(x, throughStage: 3)) {
            XCTAssertEqual("\($0)", "stage 3 does not exist; the model has stages 0..<3")
        }
    }

    func testAutomaticSplitsOfEachFamily() throws {
        XCTAssertEqual(
            try Zoo.make("wrn-16-2", channels: 3, classes: 10, initialize: false).stages.map(\.name),
            ["block1", "block2", "block3"])
        XCTAssertEqual(
            try Zoo.make("wrn-16-2", channels: 3, classes: 10, initialize: false).head.modules,
            ["bn1", "relu", "avgpool", "flatten", "fc"])
        let vgg = try Zoo.make("vgg8", channels: 1, classes: 10, initialize: false)
        XCTAssertEqual(vgg.stages.map(\.name), ["block0", "block1", "block2", "block3", "block4"])
        XCTAssertEqual(vgg.stages[1].modules, ["pool0", "block1.0", "block1.1", "relu1"])
        XCTAssertEqual(
            try vgg.features(ModelFixtures.randomInput([1, 1, 28, 28])).map(\.shape),
            [[1, 64, 28, 28], [1, 128, 14, 14], [1, 256, 7, 7], [1, 512, 3, 3], [1, 512, 3, 3]])
        let r18 = try Zoo.make("resnet18", channels: 3, classes: 10, initialize: false)
        XCTAssertEqual(r18.stem.modules, ["conv1", "bn1", "relu", "maxpool"])
        XCTAssertEqual(r18.stages.map(\.name), ["layer1", "layer2", "layer3", "layer4"])
        let mlp = try Zoo.make("mlp", channels: 1, classes: 10, widths: [32, 16, 8])
        XCTAssertEqual(mlp.stages.map(\.name), ["layer1", "layer2", "layer3"])
        XCTAssertEqual(
            try mlp.features(ModelFixtures.randomInput([4, 1, 28, 28])).map(\.shape), [[4, 32], [4, 16], [4, 8]])
        let cnn = try Zoo.make("cnn", channels: 1, classes: 10, widths: [8, 16])
        XCTAssertEqual(cnn.stem.modules, [])
        XCTAssertEqual(
            try cnn.features(ModelFixtures.randomInput([2, 1, 28, 28])).map(\.shape), [[2, 8, 14, 14], [2, 16, 7, 7]])
    }

    func testExplicitSplitByLayerNames() throws {
        let model = try Zoo.make("resnet20", channels: 1, classes: 10)
        let x = ModelFixtures.randomInput([2, 1, 28, 28])
        let logits = try model.forward(x, training: false)
        try model.split(at: ["layer1", "layer2.1"])
        XCTAssertEqual(model.stages.map(\.name), ["layer1", "layer2.1", "layer3"])
        XCTAssertEqual(model.stages[1].modules, ["layer2.0", "layer2.1"])
        XCTAssertEqual(model.stages[2].modules, ["layer2.2", "layer3.0", "layer3.1", "layer3.2"])
        XCTAssertEqual(try model.features(x).map(\.shape), [[2, 16, 28, 28], [2, 32, 14, 14], [2, 64, 7, 7]])
        XCTAssertEqual(try model.forward(x, training: false).data, logits.data)
        try model.split(at: ["bn1", "layer3"])
        XCTAssertEqual(model.stages.map(\.name), ["bn1", "layer3"])
        XCTAssertEqual(model.stages[0].modules, ["conv1", "bn1"])
        model.splitAutomatically()
        XCTAssertEqual(model.stages.map(\.name), ["layer1", "layer2", "layer3"])
        // VGG: the ReLU after a block stays with it.
        let vgg = try Zoo.make("vgg8", channels: 1, classes: 10, initialize: false)
        try vgg.split(at: ["block1"])
        XCTAssertEqual(vgg.stages.map(\.name), ["block1", "block4"])
        XCTAssertEqual(vgg.stages[0].modules.last, "relu1")
    }

    func testBadSplitsAreExplained() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10)
        XCTAssertThrowsError(try model.split(at: ["layer9"])) {
            XCTAssertEqual(
                "\($0)",
                "split: no module 'layer9' in resnet8; split points: conv1, bn1, relu, layer1, layer1.0, layer2, "
                    + "layer2.0, layer3, layer3.0"
            )
        }
        XCTAssertThrowsError(try model.split(at: ["fc"])) { XCTAssertEqual("\($0)", "split: 'fc' is part of the head") }
        XCTAssertThrowsError(try model.split(at: ["layer2", "layer1"])) {
            XCTAssertEqual("\($0)", "split: 'layer1' does not come after 'layer2'; give names in forward order")
        }
        XCTAssertThrowsError(try model.split(at: [])) {
            XCTAssertEqual("\($0)", "split: give at least one module name")
        }
        XCTAssertEqual(model.stages.map(\.name), ["layer1", "layer2", "layer3"], "a failed split changes nothing")
    }

    func testSummaryTable() throws {
        let model = try Zoo.make("resnet20", channels: 3, classes: 10)
        try model.freeze(.stage(0))
        let rows = try model.summaryRows(inputShape: [1, 3, 32, 32])
        XCTAssertEqual(rows.map(\.name), ["layer1", "layer2", "layer3", "head", "total"])
        XCTAssertEqual(rows.map(\.output), [[1, 16, 32, 32], [1, 32, 16, 16], [1, 64, 8, 8], [1, 10], [1, 10]])
        // stem 432 + 32; layer1 3 blocks of 2·2304 + 64; head 64·10 + 10.
        XCTAssertEqual(rows[0].parameters, 432 + 32 + 3 * (2 * 2304 + 64))
        XCTAssertEqual(rows[3].parameters, 650)
        XCTAssertEqual(rows[3].macs, 640)
        XCTAssertEqual(rows.map(\.isFrozen), [true, false, false, false, false])
        XCTAssertEqual(rows[4].parameters, 272_474)
        let text = try model.summary(inputShape: [1, 3, 32, 32])
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "resnet20, input [1, 3, 32, 32] (stage 1 runs the stem conv1 bn1 relu, then layer1)")
        XCTAssertEqual(
            lines[1].split(separator: " ").map(String.init), ["stage", "output", "params", "MACs", "frozen"])
        XCTAssertEqual(
            lines[2].split(separator: " ", omittingEmptySubsequences: true).map(String.init),
            ["layer1", "[1,", "16,", "32,", "32]", "14,480", "14,598,144", "yes"])
        XCTAssertTrue(lines[6].hasPrefix("total"), lines[6])
        XCTAssertTrue(lines[6].hasSuffix("272,474  40,813,184"), lines[6])
        XCTAssertThrowsError(try model.summary(inputShape: [1, 1, 32, 32])) {
            XCTAssertTrue("\($0)".hasPrefix("conv2d: input [1, 1, 32, 32]"), "\($0)")
        }
    }

    /// `Model.run` fuses a BatchNorm unit and the ReLU unit after it into one op: the logits, every parameter's
    /// gradient and the running statistics are bit for bit those of running the units one by one (resnet8's stem
    /// `bn1`, `relu`; wrn-16-2's head `bn1`, `relu`), in training and eval mode.
    func testBatchNormThenReLUUnitsRunFusedBitForBit() throws {
        for arch in ["resnet8", "wrn-16-2"] {
            for training in [true, false] {
                var results: [[[Float]]] = []
                for fused in [true, false] {
                    let model = try Zoo.make(arch, channels: 1, classes: 10)
                    let x = ModelFixtures.randomInput([3, 1, 12, 12])
                    let logits: Tensor
                    if fused {
                        logits = try model.forward(x, training: training)
                    } else {
                        var y = x
                        for unit in model.units { y = try unit.layer(y, training: training) }
                        logits = y
                    }
                    try (logits * logits).sum().backward()
                    let grads = model.parameters().map { $0.grad?.data ?? [] }
                    results.append([logits.data] + grads + model.stateDict().map(\.1.data))
                }
                XCTAssertEqual(results[0].count, results[1].count)
                for (k, (a, b)) in zip(results[0], results[1]).enumerated() {
                    XCTAssertEqual(
                        a.map(\.bitPattern), b.map(\.bitPattern), "\(arch) training \(training): tensor \(k)")
                }
            }
        }
    }
}
