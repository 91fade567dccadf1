import XCTest

@testable import Tensors

/// Finite-difference gradient checks for every differentiable op (as tinygrad's gradcheck):
/// the analytic gradient of L = Σ f(x)·W (W fixed random) is compared with central differences
/// (L(x+h) − L(x−h)) / 2h, h = 1e-2, accumulated in Double. Float32 rounding bounds the agreement,
/// hence |analytic − numeric| ≤ 2e-2 · max(1, |numeric|).
final class GradientCheckTests: XCTestCase {
    var rng = SeededRandom(seed: 42)

    func input(_ shape: [Int], low: Float = -1, high: Float = 1) -> Tensor {
        Tensor.uniform(shape, low: low, high: high, rng: &rng, requiresGrad: true)
    }

    /// Checks d/dx of Σ f(inputs)·W for every input.
    func check(
        _ inputs: [Tensor], h: Float = 1e-2, tolerance: Double = 2e-2, file: StaticString = #filePath,
        line: UInt = #line,
        _ f: ([Tensor]) throws -> Tensor
    ) throws {
        let probe = try f(inputs)
        var weightRng = SeededRandom(seed: 7)
        let w = Tensor.uniform(probe.shape, low: 0.5, high: 1.5, rng: &weightRng)
        func loss() throws -> Double {
            let out = try withNoGrad { try f(inputs) }
            return zip(out.data, w.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        for x in inputs { x.zeroGrad() }
        let out = try f(inputs)
        try out.backward(gradient: w)
        for (k, x) in inputs.enumerated() {
            let analytic = try XCTUnwrap(x.grad, "input \(k) got no gradient", file: file, line: line).data
            for i in 0..<x.count {
                let saved = x.data[i]
                x.data[i] = saved + h
                let up = try loss()
                x.data[i] = saved - h
                let down = try loss()
                x.data[i] = saved
                let numeric = (up - down) / Double(2 * h)
                let err = abs(Double(analytic[i]) - numeric)
                if err > tolerance * max(1, abs(numeric)) {
                    XCTFail(
                        "input \(k) \(formatShape(x.shape)) element \(i): analytic \(analytic[i]) vs numeric "
                            + "\(numeric)",
                        file: file, line: line)
                    return
                }
            }
        }
    }

    func testBroadcastArithmetic() throws {
        let a = input([2, 3, 2, 2])
        let perChannel = input([1, 3, 1, 1])
        let perSample = input([2, 1, 1, 1])
        try check([a, perChannel]) { try $0[0] + $0[1] }
        try check([a, perChannel]) { try $0[0] - $0[1] }
        try check([a, perSample]) { try $0[0] * $0[1] }
        let positive = input([1, 3, 1, 1], low: 0.5, high: 1.5)
        try check([a, positive]) { try $0[0] / $0[1] }
        try check([input([3, 4]), input([4])]) { try $0[0] * $0[1] }
    }

    func testScalarAndPointwise() throws {
        let x = input([2, 5])
        try check([x]) { ($0[0] + 2) * 3 - 1 }
        try check([x]) { -$0[0] / 4 }
        try check([input([6], low: 0.5, high: 2)]) { $0[0].pow(2.5) }
        try check([x]) { $0[0].exp() }
        try check([input([6], low: 0.5, high: 2)]) { $0[0].log() }
        try check([input([6], low: 0.5, high: 2)]) { $0[0].sqrt() }
        try check([x]) { $0[0].sigmoid() }
        try check([x]) { $0[0].tanh() }
    }

    func testReluFamilyAwayFromKink() throws {
        // Values kept at least 0.1 from 0 so that ±h never crosses the kink.
        let x = Tensor(shape: [2, 4], data: [-0.9, -0.5, -0.2, 0.3, 0.6, 1.2, -1.5, 0.15], requiresGrad: true)
        try check([x]) { $0[0].relu() }
        try check([x]) { $0[0].leakyRelu(slope: 0.1) }
    }

    func testDropoutTrainingUsesItsMask() throws {
        let x = input([4, 8])
        try check([x]) { xs in
            var r = SeededRandom(seed: 3)  // same mask on every call
            return try xs[0].dropout(p: 0.3, training: true, rng: &r)
        }
    }

    func testShapeOps() throws {
        let x = input([2, 3, 4])
        try check([x]) { try $0[0].reshaped([6, -1]) }
        try check([x]) { $0[0].flattened() }
        try check([input([3, 5])]) { try $0[0].transposed() }
        try check([input([5, 3])]) { try $0[0].slice(1, length: 3) }
        try check([input([2, 3]), input([2, 2])]) { try concat($0, axis: 1) }
        try check([input([2, 3]), input([1, 3])]) { try concat($0, axis: 0) }
    }

    func testReductions() throws {
        let x = input([2, 3, 4])
        try check([x]) { try $0[0].sum() }
        try check([x]) { try $0[0].sum(axes: [1]) }
        try check([x]) { try $0[0].sum(axes: [0, 2], keepDims: true) }
        try check([x]) { try $0[0].mean(axes: [2, 0]) }
        try check([x]) { try $0[0].mean() }
        var values = (0..<24).map { Float($0) * 0.1 }  // separated by 0.1 > 2h: the argmax never flips
        values.shuffle(using: &rng)
        try check([Tensor(shape: [2, 3, 4], data: values, requiresGrad: true)]) { try $0[0].max(axis: 1) }
    }

    func testMatmulAndLinear() throws {
        try check([input([3, 4]), input([4, 5])]) { try matmul($0[0], $0[1]) }
        try check([input([3, 4]), input([5, 4]), input([5])]) { try linear($0[0], weight: $0[1], bias: $0[2]) }
        try check([input([2, 4]), input([3, 4])]) { try linear($0[0], weight: $0[1], bias: nil) }
    }

    func testConv2dGeometries() throws {
        let geometries: [(Int, Int, Int, [Int], Conv2dGeometry)] = [
            (2, 3, 4, [4, 3, 3, 3], Conv2dGeometry(padding: (1, 1))),
            (1, 2, 3, [3, 2, 3, 3], Conv2dGeometry(stride: (2, 2), padding: (1, 1))),
            (1, 2, 4, [2, 2, 3, 3], Conv2dGeometry(padding: (2, 2), dilation: (2, 2))),
            (2, 4, 4, [4, 2, 3, 3], Conv2dGeometry(padding: (1, 1), groups: 2)),
            (1, 3, 4, [3, 1, 3, 3], Conv2dGeometry(padding: (1, 1), groups: 3)),
            (2, 3, 4, [2, 3, 1, 1], Conv2dGeometry(stride: (2, 2))),
        ]
        for (n, c, hw, wShape, geometry) in geometries {
            let x = input([n, c, hw, hw + 1])
            let w = input(wShape)
            let b = input([wShape[0]])
            try check([x, w, b]) { try conv2d($0[0], weight: $0[1], bias: $0[2], geometry: geometry) }
        }
    }

    func testPools() throws {
        // Distinct, well-separated values so the max-pool argmax never changes under ±h.
        var values = (0..<50).map { Float($0) * 0.1 }
        values.shuffle(using: &rng)
        let x = Tensor(shape: [1, 2, 5, 5], data: values, requiresGrad: true)
        try check([x]) { try $0[0].maxPool2d(Pool2dGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1))) }
        try check([x]) { try $0[0].maxPool2d(Pool2dGeometry(kernel: (2, 2))) }
        try check([x]) { try $0[0].avgPool2d(Pool2dGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1))) }
        try check([x]) { try $0[0].adaptiveAvgPool2d(3, 2) }
        try check([x]) { try $0[0].globalAvgPool() }
    }

    func testBatchNormTrainAndEval() throws {
        for shape in [[4, 3, 2, 2], [5, 3]] {
            let x = input(shape)
            let gamma = input([3], low: 0.5, high: 1.5)
            let beta = input([3])
            try check([x, gamma, beta]) {
                try batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: nil, runningVar: nil, training: true)
            }
            let mean = Tensor(shape: [3], data: [0.1, -0.2, 0.3])
            let variance = Tensor(shape: [3], data: [0.5, 1.5, 2])
            try check([x, gamma, beta]) {
                try batchNorm(
                    $0[0], weight: $0[1], bias: $0[2], runningMean: mean, runningVar: variance, training: false)
            }
        }
    }

    func testBatchNormWithResidualAndRelu() throws {
        // relu(batch_norm(x) + r) and batch_norm(x) + r: gradients of x, γ, β and the residual r, training and eval.
        // With the ReLU, r puts every sum at least 0.3 from 0 (of either sign), so that ±h never crosses the kink.
        let x = input([4, 3, 2, 2])
        let gamma = input([3], low: 0.5, high: 1.5)
        let beta = input([3])
        let mean = Tensor(shape: [3], data: [0.1, -0.2, 0.3])
        let variance = Tensor(shape: [3], data: [0.5, 1.5, 2])
        for relu in [false, true] {
            for training in [true, false] {
                var r = input([4, 3, 2, 2])
                if relu {
                    let bn = try withNoGrad {
                        try batchNorm(
                            x, weight: gamma, bias: beta, runningMean: mean, runningVar: variance, training: false)
                    }
                    let bnTrain = try withNoGrad {
                        try batchNorm(x, weight: gamma, bias: beta, runningMean: nil, runningVar: nil, training: true)
                    }
                    let away = (0..<r.count).map { i -> Float in (i % 3 == 0 ? -1 : 1) * (0.3 + 0.7 * abs(r.data[i])) }
                    r = Tensor(
                        shape: r.shape, data: (0..<r.count).map { -(training ? bnTrain : bn).data[$0] + away[$0] },
                        requiresGrad: true)
                }
                try check([x, gamma, beta, r]) {
                    try batchNorm(
                        $0[0], weight: $0[1], bias: $0[2], runningMean: training ? nil : mean,
                        runningVar: training ? nil : variance,
                        training: training, relu: relu, residual: $0[3])
                }
            }
        }
    }

    func testSoftmaxFamilyAndLosses() throws {
        let logits = input([3, 5], low: -2, high: 2)
        try check([logits]) { $0[0].softmax() }
        try check([logits]) { $0[0].logSoftmax() }
        try check([logits]) { try crossEntropy($0[0], targets: [1, 4, 0]) }
        try check([logits]) { try crossEntropy($0[0], targets: [2, 2, 3], labelSmoothing: 0.1) }
        try check([input([2, 3, 2]), input([2, 3, 2])]) { try mseLoss($0[0], $0[1]) }
        try check([logits, input([3, 5], low: -2, high: 2)]) {
            try klDivergence(student: $0[0], teacher: $0[1], temperature: 4)
        }
    }

    func testGradientsAccumulateAcrossBackwardCalls() throws {
        let x = Tensor(shape: [2], data: [1, 2], requiresGrad: true)
        try (x * 3).sum().backward()
        try (x * 3).sum().backward()
        XCTAssertEqual(x.grad?.data, [6, 6])
        x.zeroGrad()
        XCTAssertNil(x.grad)
    }

    func testFrozenAndNoGradRecordNothing() throws {
        let frozen = Tensor(shape: [2], data: [1, 2])
        let trained = Tensor(shape: [2], data: [3, 4], requiresGrad: true)
        try (frozen * trained).sum().backward()
        XCTAssertNil(frozen.grad)
        XCTAssertEqual(trained.grad?.data, [1, 2])
        let y = withNoGrad { trained * 2 }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.gradFn)
        XCTAssertThrowsError(try y.sum().backward())
        XCTAssertFalse(trained.detached().requiresGrad)
    }

    func testSharedSubexpressionGetsBothPaths() throws {
        // y = x·x + x  ⇒ dy/dx = 2x + 1, x used by two ops.
        let x = Tensor(shape: [3], data: [1, -2, 0.5], requiresGrad: true)
        try (try x * x + x).sum().backward()
        XCTAssertEqual(x.grad?.data, [3, -3, 2])
    }
}
