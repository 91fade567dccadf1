import XCTest

@testable import Tensors

/// The OpenBLAS fast paths against the naive references kept in the engine (llm.c's `matmul_forward_naive` idea).
final class OracleTests: XCTestCase {
    func testSgemmMatchesNaiveMatmul() throws {
        var rng = SeededRandom(seed: 1)
        for (m, k, n) in [(1, 1, 1), (7, 13, 5), (64, 144, 33), (3, 0, 4)] {
            let a = Tensor.uniform([m, k], low: -1, high: 1, rng: &rng)
            let b = Tensor.uniform([k, n], low: -1, high: 1, rng: &rng)
            let fast = try matmul(a, b).data
            let slow = naiveMatmul(a.data, b.data, m: m, k: k, n: n)
            for (x, y) in zip(fast, slow) { XCTAssertEqual(x, y, accuracy: 1e-4 * max(1, abs(y))) }
        }
    }

    func testIm2colConvolutionMatchesDirectConvolution() throws {
        var rng = SeededRandom(seed: 2)
        let cases: [([Int], [Int], Conv2dGeometry)] = [
            ([2, 3, 9, 7], [4, 3, 3, 3], Conv2dGeometry(padding: (1, 1))),
            ([3, 4, 8, 8], [6, 2, 3, 3], Conv2dGeometry(stride: (2, 2), padding: (1, 1), groups: 2)),
            ([1, 5, 10, 10], [5, 1, 3, 3], Conv2dGeometry(padding: (2, 2), dilation: (2, 2), groups: 5)),
            ([2, 8, 6, 6], [16, 8, 1, 1], Conv2dGeometry(stride: (2, 2))),
            ([1, 1, 28, 28], [16, 1, 7, 7], Conv2dGeometry(stride: (2, 2), padding: (3, 3))),
        ]
        for (xs, ws, g) in cases {
            let x = Tensor.uniform(xs, low: -1, high: 1, rng: &rng)
            let w = Tensor.uniform(ws, low: -1, high: 1, rng: &rng)
            let b = Tensor.uniform([ws[0]], low: -1, high: 1, rng: &rng)
            let fast = try conv2d(x, weight: w, bias: b, geometry: g)
            let slow = try naiveConv2d(x, weight: w, bias: b, geometry: g)
            XCTAssertEqual(fast.shape, slow.shape)
            for (p, q) in zip(fast.data, slow.data) { XCTAssertEqual(p, q, accuracy: 1e-4 * max(1, abs(q))) }
        }
    }

    func testConvChunkingOverTheBatchGivesTheSameResult() throws {
        // A batch larger than one column chunk (budget lowered to 2 samples' columns) must equal
        // per-sample convolution, forward and backward.
        let saved = columnBudget
        columnBudget = 2 * 2 * 9 * 25
        defer { columnBudget = saved }
        var rng = SeededRandom(seed: 3)
        let g = Conv2dGeometry(padding: (1, 1))
        let x = Tensor.uniform([3, 2, 5, 5], low: -1, high: 1, rng: &rng)
        let w = Tensor.uniform([2, 2, 3, 3], low: -1, high: 1, rng: &rng)
        let whole = try conv2d(x, weight: w, geometry: g)
        for s in 0..<3 {
            let one = try conv2d(try x.slice(s, length: 1), weight: w, geometry: g)
            XCTAssertEqual(Array(whole.data[(s * 50)..<((s + 1) * 50)]), one.data)
        }
        let xg = Tensor(shape: x.shape, data: x.data, requiresGrad: true)
        let wg = Tensor(shape: w.shape, data: w.data, requiresGrad: true)
        try conv2d(xg, weight: wg, geometry: g).sum().backward()
        columnBudget = saved
        let xr = Tensor(shape: x.shape, data: x.data, requiresGrad: true)
        let wr = Tensor(shape: w.shape, data: w.data, requiresGrad: true)
        try conv2d(xr, weight: wr, geometry: g).sum().backward()
        for (a, b) in zip(xg.grad!.data + wg.grad!.data, xr.grad!.data + wr.grad!.data) {
            XCTAssertEqual(a, b, accuracy: 1e-5)
        }
    }

    func testErrorsNameTheOpAndShapes() {
        let x = Tensor.zeros([8, 3, 28, 28])
        let w = Tensor.zeros([16, 1, 3, 3])
        XCTAssertThrowsError(try conv2d(x, weight: w)) { error in
            XCTAssertEqual("\(error)", "conv2d: input [8, 3, 28, 28] has 3 channels, weight [16, 1, 3, 3] expects 1")
        }
        XCTAssertThrowsError(try Tensor.zeros([2, 3]) + Tensor.zeros([4])) { error in
            XCTAssertEqual("\(error)", "add: shapes [2, 3] and [4] are not compatible")
        }
        XCTAssertThrowsError(try matmul(Tensor.zeros([2, 3]), Tensor.zeros([2, 3]))) { error in
            XCTAssertEqual("\(error)", "matmul: shapes [2, 3] and [2, 3] are not compatible")
        }
        XCTAssertThrowsError(try crossEntropy(Tensor.zeros([2, 10]), targets: [1, 10])) { error in
            XCTAssertEqual("\(error)", "cross_entropy: target 10 is outside 0..<10")
        }
        XCTAssertThrowsError(try Tensor.zeros([1, 1, 2, 2]).maxPool2d(Pool2dGeometry(kernel: (3, 3)))) { error in
            XCTAssertEqual("\(error)", "max_pool2d: input [1, 1, 2, 2] is smaller than the kernel 3x3")
        }
        XCTAssertThrowsError(try Tensor.zeros([6]).reshaped([4, -1])) { error in
            XCTAssertEqual("\(error)", "reshape: input [6] cannot be viewed as [4, -1]")
        }
    }

    func testBatchNormRunningStatsFollowPyTorchMomentum() throws {
        // Channel values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased var 14/3.
        let x = Tensor(shape: [4, 1], data: [1, 2, 3, 6])
        let mean = Tensor.zeros([1])
        let variance = Tensor.ones([1])
        _ = try batchNorm(x, weight: nil, bias: nil, runningMean: mean, runningVar: variance, training: true)
        XCTAssertEqual(mean.data[0], 0.3, accuracy: 1e-6)
        XCTAssertEqual(variance.data[0], 0.9 + 0.1 * 14 / 3, accuracy: 1e-6)
    }

    func testSeededRandomIsReproducibleAndRoughlyStandard() {
        var a = SeededRandom(seed: 9)
        var b = SeededRandom(seed: 9)
        XCTAssertEqual((0..<5).map { _ in a.next() }, (0..<5).map { _ in b.next() })
        var r = SeededRandom(seed: 10)
        let xs = (0..<20000).map { _ in Double(r.nextNormal()) }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }
}

/// Comparisons used for accuracy.
final class ComparisonTests: XCTestCase {
    func testEqualsGreaterAndAccuracy() throws {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3], data: [1, 5, 3])
        XCTAssertEqual(try a.equals(b).data, [1, 0, 1, 0, 1, 0])
        XCTAssertEqual(try a.greater(b).data, [0, 0, 0, 1, 0, 1])
        let logits = Tensor(shape: [3, 2], data: [0.1, 0.9, 0.8, 0.2, 0.3, 0.7])
        XCTAssertEqual(try logits.accuracy(labels: [1, 0, 0]), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertThrowsError(try logits.accuracy(labels: [1]))
    }
}
