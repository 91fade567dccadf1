import Tensors
import XCTest

@testable import Networks

/// Parameter names, shapes, counts and MACs of zoo models against PyTorch (fixtures from
/// scripts/make-model-fixtures.py).
final class ZooTests: XCTestCase {
    /// fixture name → (zoo name, channels, classes)
    static let cases: [String: (String, Int, Int)] = [
        "resnet8": ("resnet8", 3, 10), "resnet20": ("resnet20", 3, 10), "resnet20-1ch": ("resnet20", 1, 10),
        "resnet32x4": ("resnet32x4", 3, 100), "wrn-16-2": ("wrn-16-2", 3, 10), "wrn-40-1": ("wrn_40_1", 3, 100),
        "vgg8": ("vgg8", 3, 10), "vgg13": ("vgg13_bn", 3, 100), "resnet18": ("resnet18", 3, 1000),
        "resnet50": ("resnet50", 3, 1000), "mlp": ("mlp", 1, 10), "cnn": ("cnn", 1, 10),
    ]

    func testStateDictNamesShapesCountsAndMACsMatchPyTorch() throws {
        let fixtures = try ModelFixtures.models()
        XCTAssertEqual(Set(fixtures.keys), Set(Self.cases.keys))
        for (fixture, (arch, channels, classes)) in Self.cases.sorted(by: { $0.key < $1.key }) {
            let info = try XCTUnwrap(fixtures[fixture])
            // Names and counts do not depend on the values: skip the (slow in debug builds) random draws.
            let model = try Zoo.make(arch, channels: channels, classes: classes, initialize: false)
            XCTAssertEqual(
                try Zoo.parameterCount(arch, channels: channels, classes: classes), Double(info.parameters),
                "\(fixture) closed form")
            let ours = model.stateDict().map { ($0.0, $0.1.shape) }
            XCTAssertEqual(ours.map(\.0), info.entries.map(\.0), "\(fixture) state_dict keys")
            XCTAssertEqual(ours.map(\.1), info.entries.map(\.1), "\(fixture) state_dict shapes")
            XCTAssertEqual(model.parameterCount, info.parameters, "\(fixture) parameters")
            let rows = try model.summaryRows(inputShape: info.input)
            XCTAssertEqual(rows.last?.macs, info.macs, "\(fixture) MACs")
            XCTAssertEqual(rows.last?.parameters, info.parameters, "\(fixture) summary parameters")
            XCTAssertEqual(rows.dropLast(2).map(\.output), info.stages, "\(fixture) stage output shapes")
        }
    }

    /// An unknown name from a file (60,000,000 characters of `arch`) gets no did-you-mean: comparing it with every
    /// known name cost its length times theirs (45 s for a 353 KB .pth).
    func testVeryLongUnknownNameGetsNoSuggestionQuickly() {
        XCTAssertNil(Zoo.closest(to: String(repeating: "A", count: 1_000_000), in: Zoo.architectures))
        XCTAssertEqual(Zoo.closest(to: "resnet9", in: Zoo.architectures), "resnet8")
    }

    func testKnownCountsFromTheBrief() throws {
        XCTAssertEqual(try Zoo.make("resnet20", channels: 3, classes: 10).parameterCount, 272_474)
        XCTAssertEqual(try Zoo.make("resnet8", channels: 3, classes: 10).parameterCount, 78_042)
        // Named parameters exclude buffers; BatchNorm keeps num_batches_tracked as a buffer.
        let m = try Zoo.make("resnet8", channels: 1, classes: 10)
        XCTAssertEqual(m.namedParameters().first?.0, "conv1.weight")
        XCTAssertEqual(m.namedParameters().last?.0, "fc.bias")
        XCTAssertEqual(
            m.namedBuffers().prefix(3).map(\.0), ["bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"])
        XCTAssertTrue(m.stateDict().contains { $0.0 == "layer2.0.downsample.0.weight" })
        XCTAssertTrue(m.stateDict().contains { $0.0 == "layer3.0.downsample.1.running_var" })
    }

    func testClosedFormCountsMatchBuiltModels() throws {
        // The size check before allocation uses closed forms; they must equal the real counts.
        for (arch, widths) in [
            ("resnet14", nil), ("resnet8x4", nil), ("wrn-16-1", nil), ("wrn-40-2", nil), ("vgg11", nil),
            ("vgg19", nil), ("resnet34", nil), ("mlp", [64, 32, 16]), ("cnn", [8, 16]),
        ] as [(String, [Int]?)] {
            let m = try Zoo.make(arch, channels: 1, classes: 7, widths: widths, initialize: false)
            XCTAssertEqual(
                try Zoo.parameterCount(arch, channels: 1, classes: 7, widths: widths), Double(m.parameterCount), arch)
        }
        XCTAssertEqual(
            try Zoo.parameterCount("mlp", channels: 3, classes: 10, widths: [100], inputSize: [8, 4]),
            96 * 100 + 100 + 1010)
    }

    func testSkippedInitialisationGivesZeroWeightsAndUnitBatchNormScale() throws {
        let m = try Zoo.make("resnet8", channels: 1, classes: 10, initialize: false)
        let sd = Dictionary(uniqueKeysWithValues: m.stateDict())
        XCTAssertEqual(sd["conv1.weight"]?.data, [Float](repeating: 0, count: 144))
        XCTAssertEqual(sd["bn1.weight"]?.data, [Float](repeating: 1, count: 16))
        XCTAssertEqual(sd["bn1.running_var"]?.data, [Float](repeating: 1, count: 16))
        XCTAssertTrue(m.parameters().allSatisfy(\.requiresGrad))
    }

    func testForwardShapesOnSmallInputs() throws {
        for (arch, channels, input) in [
            ("resnet20", 1, [2, 1, 28, 28]), ("wrn-16-2", 3, [2, 3, 32, 32]),
            ("vgg8", 1, [2, 1, 28, 28]), ("resnet18", 3, [1, 3, 32, 32]),
            ("mlp", 1, [3, 1, 28, 28]), ("cnn", 3, [2, 3, 32, 32]),
        ] {
            let m = try Zoo.make(
                arch, channels: channels, classes: 10, initialize: !["resnet18", "vgg8"].contains(arch))
            let y = try m.forward(ModelFixtures.randomInput(input), training: false)
            XCTAssertEqual(y.shape, [input[0], 10], arch)
            XCTAssertTrue(y.data.allSatisfy(\.isFinite), arch)
        }
    }

    func testUnknownArchitectureListsKnownNamesAndSuggests() {
        XCTAssertThrowsError(try Zoo.make("resnt20", channels: 3, classes: 10)) { error in
            let text = "\(error)"
            XCTAssertTrue(
                text.hasPrefix("unknown architecture 'resnt20', did you mean 'resnet20'? Known: resnet8, resnet14"),
                text)
            XCTAssertTrue(text.contains("wrn-40-2") && text.contains("mlp, cnn"), text)
        }
        XCTAssertThrowsError(try Zoo.make("transformer", channels: 3, classes: 10)) { error in
            guard case NetworkError.unknownArchitecture(_, _, let suggestion) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertNil(suggestion)
        }
    }

    func testBadConfigurationsAreRefusedBeforeAllocating() {
        XCTAssertThrowsError(try Zoo.make("resnet21", channels: 3, classes: 10)) {
            XCTAssertEqual("\($0)", "resnet21: depth 21 is not 6n+2 (8, 14, 20, 32, ...)")
        }
        XCTAssertThrowsError(try Zoo.make("wrn-15-2", channels: 3, classes: 10)) {
            XCTAssertEqual("\($0)", "wrn-15-2: wrn-D-K needs depth D = 6n+4 >= 10 and widen factor K >= 1")
        }
        XCTAssertThrowsError(try Zoo.make("resnet20", channels: 0, classes: 10)) {
            XCTAssertEqual("\($0)", "resnet20: channels (0) and classes (10) must be positive")
        }
        XCTAssertThrowsError(try Zoo.make("mlp", channels: 1, classes: 10, widths: [64, -1])) {
            XCTAssertEqual("\($0)", "mlp: widths [64, -1] must be a non-empty list of positive sizes")
        }
        // Absurd sizes: refused by the closed-form count, before any tensor is allocated.
        XCTAssertThrowsError(try Zoo.make("wrn-1000-100", channels: 3, classes: 10)) { error in
            guard case NetworkError.tooLarge(let arch, let parameters, let limit) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(arch, "wrn-1000-100")
            XCTAssertGreaterThan(parameters, limit)
        }
        XCTAssertThrowsError(try Zoo.make("resnet120002", channels: 3, classes: 10)) {
            XCTAssertEqual("\($0)", "resnet120002: 20000 blocks exceed the maximum of 1000")
        }
        XCTAssertThrowsError(try Zoo.make("resnet32x4", channels: 3, classes: 10_000_000)) {
            XCTAssertEqual(
                "\($0)", "resnet32x4: 2577408160 parameters exceed the limit of 200000000; use smaller widths or depth"
            )
        }
        XCTAssertThrowsError(try Zoo.make("mlp", channels: 1, classes: 10, widths: Array(repeating: 4, count: 1001))) {
            XCTAssertEqual("\($0)", "mlp: 1001 blocks exceed the maximum of 1000")
        }
        XCTAssertEqual(try Zoo.make("VGG8_bn", channels: 1, classes: 10, initialize: false).architecture, "vgg8")
        XCTAssertThrowsError(try Zoo.make("mlp", channels: 1, classes: 10, widths: [1 << 40])) {
            guard case NetworkError.tooLarge = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try Zoo.make("cnn", channels: 1, classes: 10, widths: [Int.max / 2])) {
            guard case NetworkError.tooLarge = $0 else { return XCTFail("\($0)") }
        }
    }

    func testSeedMakesInitialisationReproducible() throws {
        let a = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 5)
        let b = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 5)
        let c = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 6)
        XCTAssertEqual(a.stateDict().map(\.1.data), b.stateDict().map(\.1.data))
        XCTAssertNotEqual(a.stateDict()[0].1.data, c.stateDict()[0].1.data)
    }
}
