import XCTest

@testable import Tensors

/// Random stride-1 "same" convolutions (the flat direct path, Sources/Tensors/DirectConv.swift) against direct Double
/// loops at 1, 2 and 3 threads: kernels 1-5 (even ones with dilation 2), dilation 1-2, groups 1-4, up to 70 channels,
/// planes 1x1 to 40x40, batch 1-9, with and without bias. (Found, with the over-read geometries below, by a
/// breaker run: planes once got too little slack, and dW read NaN from the neighbouring memory.)
final class RandomSameConvolutionTests: XCTestCase {
    struct Case {
        var n, cin, cout, h, w, kh, kw, dh, dw, groups: Int
        var bias: Bool
    }

    /// Worst error |p − q| / max(0.01·scale, |q|, 1) with scale = max(1, max|q|); infinity when p has a NaN or
    /// infinity.
    static func err(_ p: [Float], _ q: [Double]) -> Double {
        let scale = max(1.0, q.map(abs).max() ?? 0)
        var worst = 0.0
        for (a, b) in zip(p, q) {
            if !a.isFinite { return .infinity }
            worst = max(worst, abs(Double(a) - b) / max(scale * 1e-2, abs(b), 1))
        }
        return worst
    }

    func run(_ c: Case, threads: Int, rng: inout SeededRandom) throws -> (Double, String) {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = threads
        let g = Conv2dGeometry(
            padding: (c.dh * (c.kh - 1) / 2, c.dw * (c.kw - 1) / 2), dilation: (c.dh, c.dw), groups: c.groups)
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], low: -1, high: 1, rng: &rng, requiresGrad: true)
        let w = Tensor.uniform([c.cout, c.cin / c.groups, c.kh, c.kw], low: -1, high: 1, rng: &rng, requiresGrad: true)
        let b = c.bias ? Tensor.uniform([c.cout], low: -1, high: 1, rng: &rng, requiresGrad: true) : nil
        let v = try g.validated(input: x.shape, weight: w.shape, bias: b?.shape)
        XCTAssertTrue(v.hOut == c.h && v.wOut == c.w && v.path == .flat, "\(c) is not a flat 'same' convolution")
        let y = try conv2d(x, weight: w, bias: b, geometry: g)
        let r = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
        try (y * r).sum().backward()
        // The oracles: direct loops in Double (naiveConv2d, naiveConvGradients), and dL/db = Σ r per channel.
        let yRef = try naiveConv2d(x, weight: w, bias: b, geometry: g).data.map(Double.init)
        let (dxRef, dwRef) = try naiveConvGradients(x, w, g, r.data)
        var dbRef = [Double](repeating: 0, count: c.cout)
        for (i, gy) in r.data.enumerated() { dbRef[(i / (c.h * c.w)) % c.cout] += Double(gy) }
        let e = [
            RandomSameConvolutionTests.err(y.data, yRef),
            RandomSameConvolutionTests.err(x.grad!.data, dxRef.map(Double.init)),
            RandomSameConvolutionTests.err(w.grad!.data, dwRef.map(Double.init)),
            b == nil ? 0 : RandomSameConvolutionTests.err(b!.grad!.data, dbRef),
        ]
        return (e.max()!, "\(c) threads \(threads) path \(v.path) errs y/dx/dw/db \(e)")
    }

    func randomCase(_ rng: inout SeededRandom) -> Case {
        func pick(_ lo: Int, _ hi: Int) -> Int { lo + Int(rng.next() % UInt64(hi - lo + 1)) }
        while true {
            let groups = pick(1, 4)
            let cin = groups * pick(1, 70 / groups)
            let cout = groups * pick(1, 70 / groups)
            var kh = [1, 3, 5][pick(0, 2)]
            var kw = [1, 3, 5][pick(0, 2)]
            let dh = pick(1, 2)
            let dw = pick(1, 2)
            if pick(0, 9) == 0 { kh = dh == 2 ? [2, 4][pick(0, 1)] : kh }  // even kernels are "same" with dilation 2
            if pick(0, 9) == 0 { kw = dw == 2 ? [2, 4][pick(0, 1)] : kw }
            let h = pick(1, 40)
            let w = pick(1, 40)
            let n = pick(1, 9)
            let work = n * cout * (cin / groups) * kh * kw * h * w
            if work > 3_000_000 { continue }
            if kh == 1 && kw == 1 { continue }
            return Case(
                n: n, cin: cin, cout: cout, h: h, w: w, kh: kh, kw: kw, dh: dh, dw: dw, groups: groups,
                bias: pick(0, 1) == 1)
        }
    }

    func testRandomSameConvolutions() throws {
        var rng = SeededRandom(seed: UInt64(ProcessInfo.processInfo.environment["SSKD_CONV_SEED"] ?? "7")!)
        let count = Int(ProcessInfo.processInfo.environment["SSKD_CONV_CASES"] ?? "60")!
        var worst = 0.0
        var bad = 0
        for k in 0..<count {
            let c = randomCase(&rng)
            for threads in [1, 2, 3] {
                let (e, desc) = try run(c, threads: threads, rng: &rng)
                worst = max(worst, e)
                if e > 1e-4 {
                    bad += 1
                    print("MISMATCH case \(k): \(desc)")
                }
            }
        }
        print(
            "random same convolutions: \(count) cases x 3 thread counts, worst normalised error \(worst), mismatches "
                + "\(bad)"
        )
        XCTAssertEqual(bad, 0)
    }

    /// Planes whose output-position count npos = H·(W + 2·padW) rounds up to 16 by 13..15 floats, with padW ≥ 1:
    /// the kernels read up to (kW − 1)·dilW + 14 floats past Hp·Wp, into the plane's slack (once too short).
    func testOverReadGeometries() throws {
        var rng = SeededRandom(seed: 99)
        var bad = 0
        let cases = [
            // r=15, pad 1: 1 float
            Case(n: 1, cin: 1, cout: 1, h: 1, w: 15, kh: 3, kw: 3, dh: 1, dw: 1, groups: 1, bias: false),
            // r=15, pad 2: 3 floats
            Case(n: 1, cin: 1, cout: 1, h: 1, w: 13, kh: 5, kw: 5, dh: 1, dw: 1, groups: 1, bias: false),
            // r=15, pad 4: 7 floats
            Case(n: 1, cin: 1, cout: 1, h: 1, w: 9, kh: 5, kw: 5, dh: 2, dw: 2, groups: 1, bias: false),
            Case(n: 2, cin: 3, cout: 2, h: 3, w: 9, kh: 5, kw: 5, dh: 2, dw: 2, groups: 1, bias: true),
            Case(n: 1, cin: 2, cout: 2, h: 1, w: 9, kh: 3, kw: 5, dh: 1, dw: 2, groups: 2, bias: true),
        ]
        for c in cases {
            for t in [1, 2] {
                for _ in 0..<20 {
                    let (e, desc) = try run(c, threads: t, rng: &rng)
                    if e > 1e-4 {
                        bad += 1
                        print("MISMATCH overread: \(desc)")
                    }
                }
            }
        }
        XCTAssertEqual(bad, 0)
    }

    /// Random stride-2 convolutions on the phase path (PhaseConv.swift) against Double loops: planes 2x2 to 40x40
    /// (even sizes, so that every row length of the phases and of their dX, 1 to 20 floats, takes its whole-vector or
    /// single-float steps), 1x1 and 3x3 kernels, batch 1-5, at 1 and 2 threads; the input also feeds a second
    /// stride-2 convolution, so that one of the two adds its dX to the other's (x.grad against the sum of both
    /// oracles).
    func testRandomStrideTwoConvolutions() throws {
        var rng = SeededRandom(seed: 23)
        func pick(_ lo: Int, _ hi: Int) -> Int { lo + Int(rng.next() % UInt64(hi - lo + 1)) }
        var worst = 0.0
        for k in 0..<40 {
            let (n, cin, h, w) = (pick(1, 5), pick(1, 9), 2 * pick(1, 20), 2 * pick(1, 20))
            let kernels = [[1, 3][pick(0, 1)], [1, 3][pick(0, 1)]]
            let couts = [pick(1, 9), pick(1, 9)]
            let geometries = kernels.map { Conv2dGeometry(stride: (2, 2), padding: (($0 - 1) / 2, ($0 - 1) / 2)) }
            let x0 = Tensor.uniform([n, cin, h, w], low: -1, high: 1, rng: &rng)
            let ws = (0..<2).map {
                Tensor.uniform([couts[$0], cin, kernels[$0], kernels[$0]], low: -1, high: 1, rng: &rng)
            }
            for (g, wt) in zip(geometries, ws) {
                let v = try g.validated(input: x0.shape, weight: wt.shape, bias: nil)
                XCTAssertEqual(v.path, .phases, "case \(k): \(x0.shape) \(wt.shape)")
            }
            var expectedDx = [Double](repeating: 0, count: x0.count)
            var ys: [Tensor] = []
            var rs: [Tensor] = []
            for (g, wt) in zip(geometries, ws) {
                let yRef = try naiveConv2d(x0, weight: wt, geometry: g)
                let r = Tensor.uniform(yRef.shape, low: -1, high: 1, rng: &rng)
                let (dx, _) = try naiveConvGradients(x0, wt, g, r.data)
                for i in 0..<dx.count { expectedDx[i] += Double(dx[i]) }
                ys.append(yRef)
                rs.append(r)
            }
            for threads in [1, 2] {
                let saved = Parallel.threads
                defer { Parallel.threads = saved }
                Parallel.threads = threads
                let x = Tensor(shape: x0.shape, data: x0.data, requiresGrad: true)
                let wts = ws.map { Tensor(shape: $0.shape, data: $0.data, requiresGrad: true) }
                var loss: Tensor? = nil
                for j in 0..<2 {
                    let y = try conv2d(x, weight: wts[j], geometry: geometries[j])
                    let e = RandomSameConvolutionTests.err(y.data, ys[j].data.map(Double.init))
                    worst = max(worst, e)
                    XCTAssertLessThan(e, 1e-4, "case \(k) y\(j) threads \(threads): \(x0.shape) \(wts[j].shape)")
                    let term = try (y * rs[j]).sum()
                    loss = try loss.map { try $0 + term } ?? term
                }
                try loss!.backward()
                let e = RandomSameConvolutionTests.err(x.grad!.data, expectedDx)
                worst = max(worst, e)
                XCTAssertLessThan(e, 1e-4, "case \(k) dx threads \(threads): \(x0.shape) \(ws.map(\.shape))")
                for j in 0..<2 {
                    let (_, dw) = try naiveConvGradients(x0, ws[j], geometries[j], rs[j].data)
                    let e = RandomSameConvolutionTests.err(wts[j].grad!.data, dw.map(Double.init))
                    worst = max(worst, e)
                    XCTAssertLessThan(e, 1e-4, "case \(k) dw\(j) threads \(threads): \(x0.shape)")
                }
            }
        }
        print("random stride-2 convolutions: 40 cases x 2 thread counts, worst normalised error \(worst)")
    }
    /// Random stride-2 convolutions on the phase path with 2x2, 4x4, 5x5 and 7x7 kernels (padding k/2 − 1 or
    /// (k − 1)/2, so the output halves the input): their phases read 1 to 4 taps per kernel row, so the weight
    /// gradient takes each of the kernel's paths (one tap at a time, rows of two, rows of three); forward, dX and dW
    /// against Double loops, at 1 and 2 threads.
    func testRandomStrideTwoConvolutionsWithWiderKernels() throws {
        var rng = SeededRandom(seed: 29)
        func pick(_ lo: Int, _ hi: Int) -> Int { lo + Int(rng.next() % UInt64(hi - lo + 1)) }
        var worst = 0.0
        for k in 0..<20 {
            let kernel = [2, 4, 5, 7][k % 4]
            let (n, cin, cout, h, w) = (pick(1, 5), pick(1, 7), pick(1, 9), 2 * pick(1, 12), 2 * pick(1, 12))
            let g = Conv2dGeometry(stride: (2, 2), padding: ((kernel - 1) / 2, (kernel - 1) / 2))
            let x0 = Tensor.uniform([n, cin, h, w], low: -1, high: 1, rng: &rng)
            let w0 = Tensor.uniform([cout, cin, kernel, kernel], low: -1, high: 1, rng: &rng)
            XCTAssertEqual(try g.validated(input: x0.shape, weight: w0.shape, bias: nil).path, .phases, "case \(k)")
            let yRef = try naiveConv2d(x0, weight: w0, geometry: g)
            let r = Tensor.uniform(yRef.shape, low: -1, high: 1, rng: &rng)
            let (dxRef, dwRef) = try naiveConvGradients(x0, w0, g, r.data)
            for threads in [1, 2] {
                let saved = Parallel.threads
                defer { Parallel.threads = saved }
                Parallel.threads = threads
                let x = Tensor(shape: x0.shape, data: x0.data, requiresGrad: true)
                let wt = Tensor(shape: w0.shape, data: w0.data, requiresGrad: true)
                let y = try conv2d(x, weight: wt, geometry: g)
                try (y * r).sum().backward()
                for (name, got, want) in [
                    ("y", y.data, yRef.data), ("dx", x.grad!.data, dxRef), ("dw", wt.grad!.data, dwRef),
                ] {
                    let e = RandomSameConvolutionTests.err(got, want.map(Double.init))
                    worst = max(worst, e)
                    XCTAssertLessThan(e, 1e-4, "case \(k) \(name) threads \(threads): \(x0.shape) \(w0.shape)")
                }
            }
        }
        print("random stride-2 convolutions with 2x2-7x7 kernels: 20 cases x 2 thread counts, worst error \(worst)")
    }
}
