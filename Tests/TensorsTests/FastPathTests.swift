import XCTest

@testable import Tensors

/// The vectorised and shifted-plane fast paths (docs/performance.md) against plain Double loops.
final class FastPathTests: XCTestCase {
    func testShiftedPlaneConvolutionMatchesDirectLoopsForwardAndBackward() throws {
        var rng = SeededRandom(seed: 11)
        // Stride-1 "same" convolutions (the shifted-plane path) down to planes smaller than the kernel,
        // and one strided case on the row-by-row path; each with the columns in one chunk and split per sample.
        let cases: [([Int], [Int], Conv2dGeometry)] = [
            ([3, 4, 6, 5], [5, 4, 3, 3], Conv2dGeometry(padding: (1, 1))),
            ([2, 3, 1, 1], [4, 3, 3, 3], Conv2dGeometry(padding: (1, 1))),
            ([2, 2, 2, 3], [3, 2, 3, 3], Conv2dGeometry(padding: (1, 1))),
            ([2, 2, 7, 7], [2, 2, 3, 3], Conv2dGeometry(padding: (2, 2), dilation: (2, 2))),
            ([2, 3, 5, 5], [4, 3, 5, 5], Conv2dGeometry(padding: (2, 2))),
            ([3, 3, 7, 6], [4, 3, 3, 3], Conv2dGeometry(stride: (2, 2), padding: (1, 1))),
            // The flat direct kernels' blocks and tails: 6+6+1 output channels, 4+1 input channels for dW,
            // 64-position blocks plus single vectors, a plane (8x8) whose positions end exactly on a vector.
            ([2, 5, 9, 11], [13, 5, 3, 3], Conv2dGeometry(padding: (1, 1))),
            ([3, 16, 8, 8], [16, 16, 3, 3], Conv2dGeometry(padding: (1, 1))),
            ([2, 6, 4, 9], [6, 3, 3, 3], Conv2dGeometry(padding: (1, 1), dilation: (1, 1), groups: 2)),
            // Samples side by side in the flat planes (FlatPlanes.samplesPerPlane 2 or 4) with a last plane group
            // that is not full: 7x7 and 14x14 planes of 5 samples, a 5x5 kernel, a dilated one, and groups.
            ([5, 3, 7, 7], [4, 3, 3, 3], Conv2dGeometry(padding: (1, 1))),
            ([5, 2, 14, 14], [3, 2, 3, 3], Conv2dGeometry(padding: (1, 1))),
            ([6, 2, 7, 7], [3, 2, 5, 5], Conv2dGeometry(padding: (2, 2))),
            ([3, 2, 6, 7], [2, 2, 3, 3], Conv2dGeometry(padding: (2, 2), dilation: (2, 2))),
            ([5, 4, 7, 7], [4, 2, 3, 3], Conv2dGeometry(padding: (1, 1), groups: 2)),
            // dX as the convolution of dY with the flipped, per-group transposed kernel: groups, non-square
            // kernels, 1x1 (no im2col) and a strided 1x1 (im2col, col2im).
            ([2, 4, 5, 6], [6, 2, 3, 3], Conv2dGeometry(padding: (1, 1), groups: 2)),
            ([2, 2, 5, 4], [3, 2, 3, 1], Conv2dGeometry(padding: (1, 0))),
            ([2, 3, 4, 6], [2, 3, 1, 5], Conv2dGeometry(padding: (0, 2))),
            ([3, 4, 5, 3], [6, 4, 1, 1], Conv2dGeometry()),
            ([2, 4, 3, 3], [4, 2, 1, 1], Conv2dGeometry(groups: 2)),
            ([2, 3, 6, 5], [4, 3, 1, 1], Conv2dGeometry(stride: (2, 2))),
            // The C im2col/col2im blocks' general stride (3), stride 1 on a shrinking ("valid") convolution, and
            // mixed strides with padding on one side only.
            ([2, 3, 11, 10], [4, 3, 3, 2], Conv2dGeometry(stride: (3, 2), padding: (1, 0))),
            ([2, 2, 6, 7], [3, 2, 3, 3], Conv2dGeometry()),
            ([1, 2, 9, 8], [2, 2, 2, 3], Conv2dGeometry(stride: (1, 3), padding: (0, 1), dilation: (2, 1))),
        ]
        let saved = columnBudget
        defer { columnBudget = saved }
        for budget in [saved, 1] {
            columnBudget = budget
            for (xs, ws, g) in cases {
                let x = Tensor.uniform(xs, low: -1, high: 1, rng: &rng, requiresGrad: true)
                let w = Tensor.uniform(ws, low: -1, high: 1, rng: &rng, requiresGrad: true)
                try assertConvolutionMatchesOracles(x, w, g, rng: &rng, "\(xs) \(ws)")
            }
        }
    }

    func testFlatDirectConvolutionMatchesTheGEMMPathOnResNetShapes() throws {
        // The three CIFAR ResNet stages (16/32/64 channels on 32/16/8 planes) and the 1-channel Fashion-MNIST stem,
        // split over two workers: forward, dX and dW of the flat kernels against im2col + GEMM.
        var rng = SeededRandom(seed: 13)
        let cases: [([Int], [Int])] = [
            ([4, 16, 32, 32], [16, 16, 3, 3]), ([5, 32, 16, 16], [32, 32, 3, 3]),
            ([6, 64, 8, 8], [64, 64, 3, 3]), ([3, 1, 28, 28], [16, 1, 3, 3]),
            // The Fashion-MNIST stages, whose planes hold 2 (28x28) or 4 (14x14, 7x7) samples side by side, with
            // batches that leave the last plane group part empty.
            ([5, 16, 28, 28], [16, 16, 3, 3]), ([7, 32, 14, 14], [32, 32, 3, 3]), ([9, 64, 7, 7], [64, 64, 3, 3]),
        ]
        let savedThreads = Parallel.threads
        defer { Parallel.threads = savedThreads }
        Parallel.threads = 2
        for (xs, ws) in cases {
            let x = Tensor.uniform(xs, low: -1, high: 1, rng: &rng)
            let w = Tensor.uniform(ws, low: -1, high: 1, rng: &rng)
            let b = Tensor.uniform([ws[0]], low: -1, high: 1, rng: &rng)
            let r = Tensor.uniform([xs[0], ws[0], xs[2], xs[3]], low: -1, high: 1, rng: &rng)
            var results: [[[Float]]] = []
            for flat in [true, false] {
                var geometry = Conv2dGeometry(padding: (1, 1))
                geometry.options.directKernels = flat
                let (xg, wg, bg) = (
                    Tensor(shape: x.shape, data: x.data, requiresGrad: true),
                    Tensor(shape: w.shape, data: w.data, requiresGrad: true),
                    Tensor(shape: b.shape, data: b.data, requiresGrad: true)
                )
                XCTAssertEqual(geometry.validatedForTest(xs, ws).path, flat ? .flat : .gemm)
                let y = try conv2d(xg, weight: wg, bias: bg, geometry: geometry)
                try (y * r).sum().backward()
                results.append([y.data, xg.grad!.data, wg.grad!.data, bg.grad!.data])
            }
            for (k, name) in ["y", "dx", "dw", "db"].enumerated() {
                let scale = results[1][k].map(abs).max()!
                for (p, q) in zip(results[0][k], results[1][k]) {
                    XCTAssertEqual(p, q, accuracy: 2e-5 * max(1, scale), "\(name) \(xs) \(ws)")
                }
            }
        }
    }

    func testFlatPlanesPutSamplesSideBySideWhereThatComputesFewerPositions() throws {
        // Positions computed per sample (16-float vectors, FlatPlanes.cost) with padding 1: one sample per plane
        // computes 51, 14 and 4 vectors per sample of Fashion-MNIST's 28x28, 14x14 and 7x7 planes, 2 side by side 102
        // for 2, 4 side by side 53 and 14 for 4; CIFAR's 16x16: 17 alone, 68 for 4; 32x32 planes of 2 samples would
        // exceed 2,048 floats. Never more samples than the batch.
        for (size, n, k) in [(28, 64, 2), (14, 64, 4), (7, 64, 4), (7, 3, 2), (7, 1, 1), (32, 64, 1), (16, 64, 4)] {
            let g = try Conv2dGeometry(padding: (1, 1)).validated(
                input: [n, 8, size, size], weight: [8, 8, 3, 3], bias: nil)
            let f = FlatPlanes(g)
            XCTAssertEqual(f.samplesPerPlane, k, "\(size)x\(size), batch \(n)")
            XCTAssertEqual(f.wp, k * (size + 1))
            XCTAssertEqual(f.planes(samples: n), (n + k - 1) / k)
        }
    }

    func testFusedAddReluEqualsAddThenReluExactly() throws {
        // 37 elements (two 16-lane vectors and a tail), values of both signs, zeros and a NaN; then a broadcast pair.
        var rng = SeededRandom(seed: 14)
        var av = (0..<37).map { _ in rng.nextNormal() }
        var bv = (0..<37).map { _ in rng.nextNormal() }
        av[3] = 0
        bv[3] = 0
        av[5] = 1
        bv[5] = -1
        av[20] = .nan
        for (ashape, bshape) in [([37], [37]), ([2, 3], [3])] {
            let na = ashape.reduce(1, *)
            let nb = bshape.reduce(1, *)
            let a1 = Tensor(shape: ashape, data: Array(av[0..<na]), requiresGrad: true)
            let b1 = Tensor(shape: bshape, data: Array(bv[0..<nb]), requiresGrad: true)
            let a2 = Tensor(shape: ashape, data: Array(av[0..<na]), requiresGrad: true)
            let b2 = Tensor(shape: bshape, data: Array(bv[0..<nb]), requiresGrad: true)
            let fused = try addRelu(a1, b1)
            let plain = try (a2 + b2).relu()
            XCTAssertEqual(fused.data.map(\.bitPattern), plain.data.map(\.bitPattern), "\(ashape) + \(bshape)")
            let r = (0..<na).map { Float($0) - 10 }
            try (fused * Tensor(shape: ashape, data: r)).sum().backward()
            try (plain * Tensor(shape: ashape, data: r)).sum().backward()
            XCTAssertEqual(a1.grad!.data, a2.grad!.data)
            XCTAssertEqual(b1.grad!.data, b2.grad!.data)
        }
        XCTAssertEqual(
            try addRelu(Tensor(shape: [2], data: [1, -3]), Tensor(shape: [2], data: [-2, 4])).data, [0, 1])
    }

    func testBatchNormMatchesTheTextbookFormulaOnOffsetData() throws {
        // Values around 100 with spread 1: the variance must not suffer from cancellation.
        var rng = SeededRandom(seed: 12)
        let (n, c, hw) = (3, 2, 37)
        let x = Tensor(
            shape: [n, c, hw, 1], data: (0..<(n * c * hw)).map { _ in 100 + rng.nextNormal() }, requiresGrad: true)
        let gamma = Tensor(shape: [c], data: [1.5, -0.5], requiresGrad: true)
        let beta = Tensor(shape: [c], data: [0.25, 2], requiresGrad: true)
        let y = try batchNorm(x, weight: gamma, bias: beta, runningMean: nil, runningVar: nil, training: true)
        let r = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
        try (y * r).sum().backward()
        let m = Double(n * hw)
        for ch in 0..<c {
            let idx = (0..<n).flatMap { s in (0..<hw).map { (s * c + ch) * hw + $0 } }
            let xs = idx.map { Double(x.data[$0]) }
            let gs = idx.map { Double(r.data[$0]) }
            let mu = xs.reduce(0, +) / m
            let inv = 1 / ((xs.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / m + 1e-5).squareRoot())
            let xhat = xs.map { ($0 - mu) * inv }
            let sumG = gs.reduce(0, +)
            let sumGX = zip(gs, xhat).map(*).reduce(0, +)
            for (k, i) in idx.enumerated() {
                XCTAssertEqual(
                    Double(y.data[i]), Double(gamma.data[ch]) * xhat[k] + Double(beta.data[ch]), accuracy: 1e-4)
                let dx = Double(gamma.data[ch]) * inv / m * (m * gs[k] - sumG - xhat[k] * sumGX)
                XCTAssertEqual(Double(x.grad!.data[i]), dx, accuracy: 1e-3 * max(1, abs(dx)))
            }
            XCTAssertEqual(Double(beta.grad!.data[ch]), sumG, accuracy: 1e-4)
            XCTAssertEqual(Double(gamma.grad!.data[ch]), sumGX, accuracy: 1e-3)
        }
    }

    func testBatchNormStatisticsFromTheConvolutionsPlaneMomentsMatchTheTwoPassOnes() throws {
        // A flat-path conv2d records each output plane's mean and M2 while unpacking it, and a training-mode batch norm
        // merges them (Chan et al.) instead of reading the output. Outputs around 1000 with spread ~0.1 (a bias of
        // 1000 and small weights) must not lose the variance to cancellation, and the result must match both the
        // two-pass statistics of a copy without moments and a Double reference; 8x9 planes leave a SIMD tail.
        // A second case has planes of 32x32 around ±100 with spread ~1e-3 (the breaker's case): there each plane's
        // rounded mean is off by more than the spread allows, and only the residual correction keeps the variance
        // within 1e-5 (without it: 4e-4 to 6e-4).
        var rng = SeededRandom(seed: 21)
        for (n, cin, cout, h, w, std, bias0, tolerance) in [
            (5, 3, 4, 8, 9, Float(0.03), [Float(1000), -1000, 0.5, 1000.25], 1e-4),
            (6, 2, 3, 32, 32, Float(1e-4), [Float(100), -100, 50], 1e-5),
        ] {
            let x = Tensor.normal([n, cin, h, w], rng: &rng)
            let weight = Tensor.normal([cout, cin, 3, 3], std: std, rng: &rng, requiresGrad: true)
            let bias = Tensor(shape: [cout], data: bias0)
            let geometry = Conv2dGeometry(padding: (1, 1))
            let y = try conv2d(x, weight: weight, bias: bias, geometry: geometry)
            let moments = try XCTUnwrap(planeMoments(of: y), "a flat conv2d under grad mode records plane moments")
            XCTAssertEqual(moments.mean.count, n * cout)
            let copy = Tensor(shape: y.shape, data: y.data)
            XCTAssertNil(planeMoments(of: copy))
            let (mean, variance) = batchMoments(y, n: n, c: cout, hw: h * w)
            let (mean2, variance2) = batchMoments(copy, n: n, c: cout, hw: h * w)
            for ch in 0..<cout {
                let values = (0..<n).flatMap { s in (0..<(h * w)).map { Double(y.data[(s * cout + ch) * h * w + $0]) } }
                let mu = values.reduce(0, +) / Double(values.count)
                let v = values.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(values.count)
                XCTAssertGreaterThan(v, 1e-7, "channel \(ch) is not degenerate")
                XCTAssertEqual(Double(mean[ch]), mu, accuracy: 1e-6 * max(1, abs(mu)))
                XCTAssertEqual(Double(variance[ch]), v, accuracy: tolerance * v, "channel \(ch)")
                XCTAssertEqual(Double(variance2[ch]), v, accuracy: tolerance * v, "channel \(ch), two passes")
                XCTAssertEqual(mean[ch], mean2[ch], accuracy: 1e-6 * max(1, abs(mean2[ch])))
            }
            // The moments belong to the op: a tensor cut from the graph has none; without grad mode none are recorded.
            XCTAssertNil(planeMoments(of: y.detached()))
            XCTAssertNil(
                planeMoments(of: try withNoGrad { try conv2d(x, weight: weight, bias: bias, geometry: geometry) }))
        }
    }

    func testFusedBatchNormReluEqualsBatchNormThenReluExactly() throws {
        // Bit-for-bit the same values and gradients as the two ops in sequence, in training and eval, with a
        // plane of 21 (a SIMD tail), roughly half the outputs negative, and weight decay-free γ of both signs.
        // The training backward recomputes the ReLU's mask from x (x·scale + shift > 0) rather than reading the output,
        // so a second case puts 1,728 outputs (16-lane blocks and a tail of 8) within ±4e-4 of the ReLU's threshold
        // (γ = ±1e-4), where a mask test that differs from the forward's by 1e-5 already fails.
        var rng = SeededRandom(seed: 13)
        for (shape, g, b) in [
            ([3, 2, 3, 7], [Float(1.5), -0.75], [Float(0.25), -0.1]), ([8, 2, 12, 9], [1e-4, -1e-4], [1e-5, 0]),
        ] {
            let x0 = Tensor.normal(shape, rng: &rng)
            let r = Tensor.uniform(shape, low: -1, high: 1, rng: &rng)
            for training in [true, false] {
                var results: [[[Float]]] = []
                for fused in [false, true] {
                    let x = Tensor(shape: shape, data: x0.data, requiresGrad: true)
                    let gamma = Tensor(shape: [2], data: g, requiresGrad: true)
                    let beta = Tensor(shape: [2], data: b, requiresGrad: true)
                    let mean = Tensor(shape: [2], data: [0.1, -0.2])
                    let variance = Tensor(shape: [2], data: [0.9, 1.3])
                    let y =
                        fused
                        ? try batchNorm(
                            x, weight: gamma, bias: beta, runningMean: mean, runningVar: variance, training: training,
                            relu: true)
                        : try batchNorm(
                            x, weight: gamma, bias: beta, runningMean: mean, runningVar: variance, training: training
                        ).relu()
                    try (y * r).sum().backward()
                    results.append([y.data, x.grad!.data, gamma.grad!.data, beta.grad!.data, mean.data, variance.data])
                }
                for (k, name) in ["output", "x.grad", "weight.grad", "bias.grad", "running_mean", "running_var"]
                    .enumerated()
                {
                    XCTAssertEqual(results[0][k].count, results[1][k].count)
                    // a short message, not 1,728 values
                    let i = results[0][k].indices.first { results[0][k][$0] != results[1][k][$0] }
                    XCTAssertNil(
                        i,
                        "shape \(shape), training \(training): \(name)[\(i ?? 0)] \(i.map { results[0][k][$0] } ?? 0) "
                            + "vs \(i.map { results[1][k][$0] } ?? 0)"
                    )
                }
                XCTAssertTrue(results[1][0].contains(0) && results[1][0].contains { $0 > 0 })
            }
        }
    }

    func testBatchNormWithResidualEqualsBatchNormThenAddReluExactly() throws {
        // batchNorm(x, relu:, residual: s) against batchNorm(x) followed by addRelu(·, s) (or + s): bit for bit the
        // same output, x, γ, β and residual gradients and running statistics, in training and eval, on planes of 21
        // (16-lane blocks and a tail) with about half the sums negative, and a residual that is itself computed (a
        // graph node).
        var rng = SeededRandom(seed: 15)
        let shape = [3, 2, 3, 7]
        let x0 = Tensor.normal(shape, rng: &rng)
        let s0 = Tensor.normal(shape, rng: &rng)
        let w = Tensor.uniform(shape, low: -1, high: 1, rng: &rng)
        for relu in [true, false] {
            for training in [true, false] {
                var results: [[[Float]]] = []
                for fused in [false, true] {
                    let x = Tensor(shape: shape, data: x0.data, requiresGrad: true)
                    let s = Tensor(shape: shape, data: s0.data, requiresGrad: true)
                    let gamma = Tensor(shape: [2], data: [1.5, -0.75], requiresGrad: true)
                    let beta = Tensor(shape: [2], data: [0.25, -0.1], requiresGrad: true)
                    let mean = Tensor(shape: [2], data: [0.1, -0.2])
                    let variance = Tensor(shape: [2], data: [0.9, 1.3])
                    let shortcut = s * 2  // a node, so its gradient flows on to s
                    let y: Tensor
                    if fused {
                        y = try batchNorm(
                            x, weight: gamma, bias: beta, runningMean: mean, runningVar: variance, training: training,
                            relu: relu, residual: shortcut)
                    } else {
                        let b = try batchNorm(
                            x, weight: gamma, bias: beta, runningMean: mean, runningVar: variance, training: training)
                        y = relu ? try addRelu(b, shortcut) : try b + shortcut
                    }
                    try (y * w).sum().backward()
                    results.append([
                        y.data, x.grad!.data, gamma.grad!.data, beta.grad!.data, s.grad!.data, mean.data, variance.data,
                    ])
                }
                for (k, name) in [
                    "output", "x.grad", "weight.grad", "bias.grad", "residual.grad", "running_mean", "running_var",
                ].enumerated() {
                    assertSameBits(results[0][k], results[1][k], "relu \(relu), training \(training): \(name)")
                }
                if relu { XCTAssertTrue(results[1][0].contains(0) && results[1][0].contains { $0 > 0 }) }
            }
        }
        let x = Tensor.zeros([2, 2, 3, 3])
        XCTAssertThrowsError(
            try batchNorm(
                x, weight: nil, bias: nil, runningMean: nil, runningVar: nil, training: true,
                residual: Tensor.zeros([2, 2, 3, 2]))
        ) { error in
            XCTAssertTrue("\(error)".contains("[2, 2, 3, 3]") && "\(error)".contains("[2, 2, 3, 2]"), "\(error)")
        }
    }

    func testStrideTwoConvolutionOnPhasePlanesMatchesDirectLoops() throws {
        // The phase-split stride-2 path (PhaseConv.swift) against Double loops: forward, dX, dW and db, for ResNet's
        // 3x3/pad 1 and 1x1 downsampling shapes, the 7x7/pad 3 stem, an even kernel (4x4/pad 1), a non-square kernel,
        // and rows whose phases take the 16-float steps and last blocks of 16, 8 and 4 floats or single floats
        // (half-widths 16, 24, 5, 3, 14, 7).
        var rng = SeededRandom(seed: 17)
        let cases: [([Int], [Int], Conv2dGeometry)] = [
            ([2, 3, 6, 10], [4, 3, 3, 3], Conv2dGeometry(stride: (2, 2), padding: (1, 1))),
            ([2, 4, 32, 32], [7, 4, 3, 3], Conv2dGeometry(stride: (2, 2), padding: (1, 1))),
            ([2, 3, 16, 48], [5, 3, 3, 3], Conv2dGeometry(stride: (2, 2), padding: (1, 1))),
            ([2, 3, 6, 6], [4, 3, 1, 1], Conv2dGeometry(stride: (2, 2))),
            ([1, 2, 14, 14], [3, 2, 7, 7], Conv2dGeometry(stride: (2, 2), padding: (3, 3))),
            ([2, 2, 8, 6], [3, 2, 4, 4], Conv2dGeometry(stride: (2, 2), padding: (1, 1))),
            ([2, 2, 8, 10], [3, 2, 5, 3], Conv2dGeometry(stride: (2, 2), padding: (2, 1))),
            ([2, 3, 28, 28], [4, 3, 3, 3], Conv2dGeometry(stride: (2, 2), padding: (1, 1))),
            ([2, 5, 14, 14], [6, 5, 3, 3], Conv2dGeometry(stride: (2, 2), padding: (1, 1))),
        ]
        for (xs, ws, geometry) in cases {
            let g = try geometry.validated(input: xs, weight: ws, bias: [ws[0]])
            XCTAssertEqual(g.path, .phases, "\(xs) \(ws)")
            let x = Tensor.uniform(xs, low: -1, high: 1, rng: &rng, requiresGrad: true)
            let w = Tensor.uniform(ws, low: -1, high: 1, rng: &rng, requiresGrad: true)
            let b = Tensor.uniform([ws[0]], low: -1, high: 1, rng: &rng, requiresGrad: true)
            let (y, r) = try assertConvolutionMatchesOracles(x, w, bias: b, geometry, rng: &rng, "\(xs) \(ws)")
            let hw = y.shape[2] * y.shape[3]
            for co in 0..<ws[0] {
                var db = 0.0
                for s in 0..<xs[0] { for p in 0..<hw { db += Double(r.data[(s * ws[0] + co) * hw + p]) } }
                XCTAssertEqual(Double(b.grad!.data[co]), db, accuracy: 1e-3, "db \(xs) \(ws)")
            }
        }
    }

    func testConvolutionAddsItsInputGradientToTheOneAlreadyThere() throws {
        // An input used by a convolution and by other ops: conv2d's backward adds its dX into the gradient the input
        // already has (the flat path while it writes dX). x.grad must be bit for bit the sum of the separate gradients,
        // for the flat path (two flat convolutions and a scaling, so one convolution adds to the other's sum) and the
        // im2col path (stride 2).
        var rng = SeededRandom(seed: 16)
        // Rows of 58 (stride 1) and 29 (the stride-2 phases), 22 and 11, 14 and 7: 16-float steps, and last blocks of
        // 16, 8 and 4 floats that overlap the block before (added to what is there once, not twice).
        for (shape, geometry, k) in [[3, 4, 10, 58], [2, 4, 6, 22], [2, 4, 8, 14]].flatMap({ shape in
            [
                (Conv2dGeometry(padding: (1, 1)), 3), (Conv2dGeometry(stride: (2, 2), padding: (1, 1)), 3),
                (Conv2dGeometry(stride: (2, 2)), 1), (Conv2dGeometry(stride: (3, 2), padding: (1, 1)), 3),
            ].map { (shape, $0.0, $0.1) }
        }) {
            let x0 = Tensor.normal(shape, rng: &rng)
            let w1 = Tensor.normal([5, 4, k, k], rng: &rng)
            let w2 = Tensor.normal([5, 4, k, k], rng: &rng)
            let outShape = try conv2d(x0, weight: w1, geometry: geometry).shape
            let r1 = Tensor.normal(outShape, rng: &rng)
            let r2 = Tensor.normal(outShape, rng: &rng)
            let r3 = Tensor.normal(x0.shape, rng: &rng)
            func grad(_ terms: [Int]) throws -> [Float] {
                let x = Tensor(shape: x0.shape, data: x0.data, requiresGrad: true)
                var loss = try (x * r3).sum() * (terms.contains(3) ? 1 : 0)
                if terms.contains(1) { loss = try loss + (conv2d(x, weight: w1, geometry: geometry) * r1).sum() }
                if terms.contains(2) { loss = try loss + (conv2d(x, weight: w2, geometry: geometry) * r2).sum() }
                try loss.backward()
                return x.grad!.data
            }
            let all = try grad([1, 2, 3])
            let g1 = try grad([1])
            let g2 = try grad([2])
            let g3 = try grad([3])
            // The engine's order: the scaling's gradient first, then each convolution adds its own.
            let sums = [
                zip(zip(g3, g2).map { $0 + $1 }, g1).map { $0 + $1 },
                zip(zip(g3, g1).map { $0 + $1 }, g2).map { $0 + $1 },
            ]
            XCTAssertTrue(
                sums.contains { $0.map(\.bitPattern) == all.map(\.bitPattern) },
                "\(shape) stride \(geometry.stride): x.grad is not the sum of the three gradients")
            XCTAssertFalse(all.contains { !$0.isFinite })
        }
    }

    func testPackedBatchNormOutputKeepsTheSignOfZeroAsTheWrittenOne() throws {
        // A batch norm's output computed while packing (ChannelAffine.pack) against the one written out
        // (vectorAffine), for rows of 1 to 40 floats and shift −0: x·1 + (−0) is −0 for x = −0 in every lane, whole
        // vector or tail, on both paths (a splat that added +0 turned the shift into +0 in the vector lanes only).
        for w in 1...40 {
            let x = [Float](repeating: -0.0, count: w)
            for relu in [false, true] {
                let affine = ChannelAffine(
                    source: x, scale: [1], shift: [-0.0], relu: relu, channels: 1, planeSize: w)
                let packed = UnsafeMutablePointer<Float>.allocate(capacity: w + 16)
                defer { packed.deallocate() }
                affine.pack(sample: 0, h: 1, w: w, into: packed, stride: w + 16, wp: w, ph: 0, pw: 0, clear: true)
                let written = affine.materialized()
                for i in 0..<w {
                    XCTAssertEqual(
                        packed[i].bitPattern, written[i].bitPattern, "width \(w) relu \(relu) lane \(i)")
                    XCTAssertEqual(written[i].bitPattern, (relu ? Float(0) : -0.0).bitPattern, "width \(w) lane \(i)")
                }
            }
        }
    }

    func testVectorisedReluAndAddHandleTailsAndSigns() throws {
        let n = 16 * 3 + 5  // full 16-lane blocks plus a scalar tail
        let a = Tensor(shape: [n], data: (0..<n).map { Float($0 % 7) - 3 }, requiresGrad: true)
        let b = Tensor(shape: [n], data: (0..<n).map { Float($0) * 0.5 }, requiresGrad: true)
        let y = try (a.relu() + b)
        XCTAssertEqual(y.data, (0..<n).map { Swift.max(Float($0 % 7) - 3, 0) + Float($0) * 0.5 })
        try y.sum().backward()
        XCTAssertEqual(a.grad!.data, (0..<n).map { Float($0 % 7) - 3 > 0 ? 1 : 0 })
        XCTAssertEqual(b.grad!.data, [Float](repeating: 1, count: n))
        XCTAssertEqual(Tensor(shape: [2], data: [-0.0, .nan]).relu().data.map { $0 == 0 }, [true, true])
    }

    func testUnrolledMaxPoolTakesTheFirstMaximumOfEachWindow() throws {
        // 5x5 input (the last row and column are dropped), ties and a NaN.
        var values = (0..<25).map { Float(($0 * 7) % 5) }
        values[6] = .nan
        let x = Tensor(shape: [1, 1, 5, 5], data: values, requiresGrad: true)
        let y = try x.maxPool2d(Pool2dGeometry(kernel: (2, 2)))
        for oh in 0..<2 {
            for ow in 0..<2 {
                let window = [0, 1, 5, 6].map { (2 * oh) * 5 + 2 * ow + $0 }
                var best = window[0]
                for k in window.dropFirst() where values[k] > values[best] || values[k].isNaN { best = k }
                let got = y.data[oh * 2 + ow]
                XCTAssertTrue(got == values[best] || (got.isNaN && values[best].isNaN), "window \(oh),\(ow)")
            }
        }
        try y.sum().backward()
        XCTAssertEqual(x.grad!.data.filter { $0 == 1 }.count, 4)
        XCTAssertEqual(x.grad!.data[6], 1)  // the NaN window routes its gradient to the NaN
    }
}

extension Conv2dGeometry {
    /// The geometry validated against an input and weight shape (for asserting which path a shape takes).
    func validatedForTest(_ x: [Int], _ w: [Int]) -> Conv2dGeometry { try! validated(input: x, weight: w, bias: nil) }
}
