import XCTest

@testable import Tensors

/// The engine's fused ResNet basic block (`convBatchNormBlock`: flat and phase convolutions, the batch norm's
/// statistics from the convolution's plane moments, its output computed by the next convolution while packing, its dX
/// by the convolution before it, ReLU and residual fused) against the same block composed from the Double oracles
/// (`naiveConv2d`, `naiveConvGradients`, `naiveBatchNorm`, `naiveBatchNormBackward`), values and every gradient.
final class FusedBlockOracleTests: XCTestCase {
    func testFusedBasicBlockMatchesTheTextbookComposition() throws {
        var rng = SeededRandom(seed: 31)
        for stride in [1, 2] {
            let (n, cin, cout, h) = (4, stride == 1 ? 8 : 6, 8, 8)  // an identity shortcut needs cin == cout
            let same = Conv2dGeometry(padding: (1, 1))
            let first = Conv2dGeometry(stride: (stride, stride), padding: (1, 1))
            let down = Conv2dGeometry(stride: (2, 2))
            let x = Tensor.normal([n, cin, h, h], rng: &rng, requiresGrad: true)
            let w1 = Tensor.normal([cout, cin, 3, 3], std: 0.3, rng: &rng, requiresGrad: true)
            let w2 = Tensor.normal([cout, cout, 3, 3], std: 0.3, rng: &rng, requiresGrad: true)
            let wd = Tensor.normal([cout, cin, 1, 1], std: 0.5, rng: &rng, requiresGrad: true)
            let bn = (0..<3).map { _ in
                (
                    Tensor.uniform([cout], low: 0.5, high: 1.5, rng: &rng, requiresGrad: true),
                    Tensor.uniform([cout], low: -0.5, high: 0.5, rng: &rng, requiresGrad: true)
                )
            }
            // The engine: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut) as one op, the shortcut bnd(convd(x)) when
            // strided.
            func unit(_ w: Tensor, _ g: Conv2dGeometry, _ k: Int, relu: Bool) -> ConvBatchNormUnit {
                ConvBatchNormUnit(
                    weight: w, geometry: g,
                    norm: BatchNormParameters(weight: bn[k].0, bias: bn[k].1, runningMean: nil, runningVar: nil),
                    relu: relu)
            }
            let y = try convBatchNormBlock(
                x, main: [unit(w1, first, 0, relu: true), unit(w2, same, 1, relu: true)],
                shortcut: stride == 1 ? nil : unit(wd, down, 2, relu: false), training: true)
            let r = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
            try (y * r).sum().backward()

            // The oracles, forward then backward by the chain rule.
            let h1 = try naiveConv2d(x, weight: w1, geometry: first)
            let z1 = naiveBatchNorm(h1, weight: bn[0].0, bias: bn[0].1)
            let a0 = Tensor(shape: h1.shape, data: z1.y.map { Swift.max($0, 0) })
            let o = try naiveConv2d(a0, weight: w2, geometry: same)
            let z2 = naiveBatchNorm(o, weight: bn[1].0, bias: bn[1].1)
            var s = x.data
            var c: Tensor? = nil
            var zd: (y: [Float], mean: [Double], invStd: [Double])? = nil
            if stride == 2 {
                c = try naiveConv2d(x, weight: wd, geometry: down)
                zd = naiveBatchNorm(c!, weight: bn[2].0, bias: bn[2].1)
                s = zd!.y
            }
            let pre = zip(z2.y, s).map { $0 + $1 }
            let yRef = pre.map { Swift.max($0, 0) }
            let dPre = zip(r.data, pre).map { $1 > 0 ? $0 : 0 }
            let b2 = naiveBatchNormBackward(dPre, x: o, weight: bn[1].0, mean: z2.mean, invStd: z2.invStd)
            let (dA, dW2) = try naiveConvGradients(a0, w2, same, b2.dInput)
            let dZ1 = zip(dA, z1.y).map { $1 > 0 ? $0 : 0 }
            let b1 = naiveBatchNormBackward(dZ1, x: h1, weight: bn[0].0, mean: z1.mean, invStd: z1.invStd)
            let (dX1, dW1) = try naiveConvGradients(x, w1, first, b1.dInput)
            var dX = zip(dX1, dPre).map { $0 + $1 }
            var expected: [(String, [Float], [Float])] = []
            if stride == 2, let c, let zd {
                let bd = naiveBatchNormBackward(dPre, x: c, weight: bn[2].0, mean: zd.mean, invStd: zd.invStd)
                let (dXd, dWd) = try naiveConvGradients(x, wd, down, bd.dInput)
                dX = zip(dX1, dXd).map { $0 + $1 }
                expected = [
                    ("dWd", wd.grad!.data, dWd), ("dγd", bn[2].0.grad!.data, bd.dWeight),
                    ("dβd", bn[2].1.grad!.data, bd.dBias),
                ]
            }
            expected += [
                ("y", y.data, yRef), ("dX", x.grad!.data, dX), ("dW1", w1.grad!.data, dW1),
                ("dW2", w2.grad!.data, dW2), ("dγ1", bn[0].0.grad!.data, b1.dWeight),
                ("dβ1", bn[0].1.grad!.data, b1.dBias), ("dγ2", bn[1].0.grad!.data, b2.dWeight),
                ("dβ2", bn[1].1.grad!.data, b2.dBias),
            ]
            for (name, got, want) in expected {
                XCTAssertEqual(got.count, want.count, name)
                let scale = Swift.max(1, want.map(abs).max() ?? 0)
                let err = zip(got, want).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(err / scale, 1e-4, "stride \(stride): \(name) max error \(err), scale \(scale)")
            }
        }
    }

    func testTextbookBatchNormBackwardMatchesFiniteDifferences() throws {
        // The oracle's own check: L = Σ y·r, central differences in Double on a small [2, 2, 3, 1] input.
        var rng = SeededRandom(seed: 32)
        let x = Tensor.normal([2, 2, 3, 1], rng: &rng)
        let gamma = Tensor(shape: [2], data: [1.3, -0.7])
        let beta = Tensor(shape: [2], data: [0.2, 0.1])
        let r = (0..<12).map { _ in rng.nextNormal() }
        let f = naiveBatchNorm(x, weight: gamma, bias: beta)
        let back = naiveBatchNormBackward(r, x: x, weight: gamma, mean: f.mean, invStd: f.invStd)
        func loss(_ xs: [Float]) -> Double {
            zip(naiveBatchNorm(Tensor(shape: x.shape, data: xs), weight: gamma, bias: beta).y, r)
                .reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        for i in 0..<x.count {
            var plus = x.data
            var minus = x.data
            plus[i] += 1e-2
            minus[i] -= 1e-2
            XCTAssertEqual(Double(back.dInput[i]), (loss(plus) - loss(minus)) / 2e-2, accuracy: 2e-3, "dx[\(i)]")
        }
    }
}
