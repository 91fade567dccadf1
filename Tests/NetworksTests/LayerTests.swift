import Tensors
import XCTest

@testable import Networks

/// Individual layers: names, buffers, train/eval behaviour, shape/MAC profiles, errors.
final class LayerTests: XCTestCase {
    func testBatchNorm1dRunningStatsAndCounter() throws {
        let bn = BatchNorm(2, rank: 2)
        let x = Tensor(shape: [4, 2], data: [1, 10, 2, 20, 3, 30, 4, 40])
        _ = try bn(x, training: true)
        // running ← 0.9·old + 0.1·batch (variance unbiased): mean [2.5, 25], var [1.6667, 166.67].
        XCTAssertEqual(bn.runningMean.data[0], 0.25, accuracy: 1e-6)
        XCTAssertEqual(bn.runningMean.data[1], 2.5, accuracy: 1e-5)
        XCTAssertEqual(bn.runningVar.data[0], 0.9 + 0.1 * 5 / 3, accuracy: 1e-5)
        XCTAssertEqual(bn.numBatchesTracked.data, [1])
        XCTAssertEqual(bn.numBatchesTracked.shape, [], "a scalar, as PyTorch's num_batches_tracked")
        let eval = try bn(x, training: false)
        XCTAssertEqual(bn.numBatchesTracked.data, [1], "eval does not count")
        XCTAssertEqual(eval.data[0], (1 - 0.25) / (bn.runningVar.data[0] + 1e-5).squareRoot(), accuracy: 1e-5)
        XCTAssertEqual(
            bn.stateDict().map(\.0), ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        XCTAssertThrowsError(try bn(Tensor.zeros([1, 2, 3, 3]), training: false)) {
            XCTAssertEqual("\($0)", "BatchNorm1d: input [1, 2, 3, 3] is not [N, C]")
        }
    }

    func testProfilesGiveShapesAndMACs() throws {
        var w = WeightInit(seed: 0)
        let conv = Conv2d(3, 8, kernel: 3, stride: 2, padding: 1, initializer: &w)
        XCTAssertEqual(
            try conv.profile([2, 3, 32, 32]), LayerProfile(output: [2, 8, 16, 16], macs: 2 * 8 * 16 * 16 * 3 * 9))
        XCTAssertEqual(try conv(Tensor.zeros([2, 3, 32, 32]), training: false).shape, [2, 8, 16, 16])
        XCTAssertThrowsError(try conv.profile([2, 1, 32, 32])) {
            XCTAssertEqual("\($0)", "conv2d: input [2, 1, 32, 32] is not [N, 3, H, W] as weight [8, 3, 3, 3] expects")
        }
        let block = Bottleneck(64, 16, stride: 2, initializer: &w)
        XCTAssertEqual(try block.profile([1, 64, 8, 8]).output, [1, 64, 4, 4])
        XCTAssertEqual(try block(Tensor.zeros([1, 64, 8, 8]), training: false).shape, [1, 64, 4, 4])
        XCTAssertEqual(try MaxPool2d(kernel: 3, stride: 2, padding: 1).profile([1, 4, 7, 7]).output, [1, 4, 4, 4])
        XCTAssertEqual(try Linear(5, 3, initializer: &w).profile([4, 5]), LayerProfile(output: [4, 3], macs: 60))
    }

    func testSequentialNamesAndDropout() throws {
        var w = WeightInit(seed: 0)
        let seq = Sequential([
            Linear(4, 3, initializer: &w), ReLU(), Dropout(p: 0.5), Linear(3, 2, bias: false, initializer: &w),
        ])
        XCTAssertEqual(seq.namedParameters(prefix: "mlp.").map(\.0), ["mlp.0.weight", "mlp.0.bias", "mlp.3.weight"])
        let x = Tensor.ones([8, 4])
        XCTAssertEqual(try seq(x, training: false).data, try seq(x, training: false).data, "eval is deterministic")
        let dropout = Dropout(p: 0.5, seed: 3)
        let y = try dropout(Tensor.ones([1000]), training: true)
        XCTAssertTrue(y.data.allSatisfy { $0 == 0 || $0 == 2 })
        XCTAssertEqual(Float(y.data.filter { $0 == 0 }.count) / 1000, 0.5, accuracy: 0.06)
    }

    /// `Tensor.data` written from outside the Tensors module changes the array in place: the storage stays where it
    /// was (an observer on `data` once made every element write from another module copy the whole array).
    func testWritingTensorDataFromAnotherModuleDoesNotCopyIt() {
        let t = Tensor(shape: [1 << 16], data: [Float](repeating: 0, count: 1 << 16))
        let before = t.data.withUnsafeBufferPointer { $0.baseAddress }
        t.data[7] = 3
        t.data.withUnsafeMutableBufferPointer { $0[8] = 4 }
        XCTAssertEqual(t.data.withUnsafeBufferPointer { $0.baseAddress }, before)
        XCTAssertEqual(Array(t.data[6...9]), [0, 3, 4, 0])
    }

    func testModelTensorsCarryTheirStateDictNames() throws {
        let m = try Zoo.make("wrn-16-2", channels: 3, classes: 10, initialize: false)
        XCTAssertEqual(m.stateDict().map { $0.1.name ?? "" }, m.stateDict().map(\.0))
        XCTAssertTrue(m.stateDict().contains { $0.0 == "block1.layer.0.convShortcut.weight" })
    }
}
