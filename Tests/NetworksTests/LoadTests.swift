import Tensors
import XCTest

@testable import Networks

/// `Model.load(_:strict:)`: copying by name, and PyTorch-style errors for missing, unexpected and mis-shaped keys.
final class LoadTests: XCTestCase {
    func testRoundTripCopiesIntoExistingTensors() throws {
        let source = try Zoo.make("wrn-16-1", channels: 1, classes: 10, seed: 1)
        let target = try Zoo.make("wrn-16-1", channels: 1, classes: 10, seed: 2)
        let weight = try XCTUnwrap(target.namedParameters().first?.1)
        try target.load(source.stateDict())
        XCTAssertTrue(weight === target.namedParameters().first?.1, "same tensor object")
        XCTAssertTrue(weight.requiresGrad)
        let x = ModelFixtures.randomInput([2, 1, 28, 28])
        XCTAssertEqual(try target.forward(x, training: false).data, try source.forward(x, training: false).data)
    }

    /// NaN or infinite weights, or a negative BatchNorm running variance, are refused naming the tensor and the
    /// element, and the model keeps its values.
    func testBrokenValuesAreRefusedAndTheModelKept() throws {
        let source = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 1)
        let target = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 2)
        let before = target.stateDict().map { $0.1.data }
        func broken(_ key: String, _ index: Int, _ value: Float) -> [(String, Tensor)] {
            source.stateDict().map { name, t in
                guard name == key else { return (name, t) }
                var data = t.data
                data[index] = value
                return (name, Tensor(shape: t.shape, data: data))
            }
        }
        XCTAssertThrowsError(try target.load(broken("layer1.0.conv1.weight", 5, .nan))) {
            XCTAssertEqual("\($0)", "cannot load layer1.0.conv1.weight into resnet8: element 5 is nan")
        }
        XCTAssertThrowsError(try target.load(broken("fc.bias", 0, -.infinity))) {
            XCTAssertEqual("\($0)", "cannot load fc.bias into resnet8: element 0 is -inf")
        }
        XCTAssertThrowsError(try target.load(broken("bn1.running_var", 2, -0.5))) {
            XCTAssertEqual(
                "\($0)",
                "cannot load bn1.running_var into resnet8: element 2 is -0.5, but a variance cannot be negative")
        }
        XCTAssertEqual(target.stateDict().map { $0.1.data }, before)
        try target.load(broken("bn1.running_mean", 2, -0.5))  // a negative mean is fine
    }

    func testStrictErrorListsEverythingInPyTorchWording() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10)
        var entries = try Zoo.make("resnet8", channels: 3, classes: 10).stateDict().filter {
            $0.0 != "fc.bias" && $0.0 != "bn1.running_mean"
        }
        entries.append(("extra.weight", .zeros([2])))
        let before = model.stateDict().map(\.1.data)
        XCTAssertThrowsError(try model.load(entries)) { error in
            XCTAssertEqual(
                "\(error)",
                """
                Error(s) in loading state_dict for resnet8:
                \tMissing key(s) in state_dict: "bn1.running_mean", "fc.bias". 
                \tUnexpected key(s) in state_dict: "extra.weight". 
                \tsize mismatch for conv1.weight: copying a param with shape [16, 3, 3, 3] from checkpoint, the shape \
                in current model is [16, 1, 3, 3].
                """)
        }
        XCTAssertEqual(model.stateDict().map(\.1.data), before, "a failed load changes nothing")
    }

    func testNonStrictSkipsMissingAndUnexpectedButNotShapeMismatches() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10)
        let source = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 3)
        var entries = source.stateDict().filter { $0.0 != "fc.weight" }
        entries.append(("head.extra", .zeros([1])))
        let result = try model.load(entries, strict: false)
        XCTAssertEqual(result, IncompatibleKeys(missing: ["fc.weight"], unexpected: ["head.extra"]))
        XCTAssertEqual(model.namedParameters()[0].1.data, source.namedParameters()[0].1.data)
        XCTAssertThrowsError(try model.load([("fc.bias", .zeros([3]))], strict: false)) {
            XCTAssertEqual(
                "\($0)",
                """
                Error(s) in loading state_dict for resnet8:
                \tsize mismatch for fc.bias: copying a param with shape [3] from checkpoint, the shape in current \
                model is [10].
                """)
        }
    }
}
