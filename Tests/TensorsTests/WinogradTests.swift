import XCTest

@testable import Tensors

/// The flat 3x3 convolution by Winograd's F(2x2, 3x3) (`FlatPlanes.winograd`, conv_winograd.c): which geometries take
/// it, its output, dX and dW against the direct loops in Double and against the direct flat kernel, and the property
/// that each output depends on its own window only and rounds the same wherever its sample sits in the batch.
final class WinogradTests: XCTestCase {
    /// A padding-1 3x3 geometry validated for `x` and `w`, with Winograd allowed or not.
    func geometry(_ x: [Int], _ w: [Int], winograd: Bool = true) throws -> Conv2dGeometry {
        var g = Conv2dGeometry(padding: (1, 1))
        g.options.winograd = winograd
        return try g.validated(input: x, weight: w, bias: nil)
    }

    func testWinogradTakesThreeByThreeConvolutionsOfSixteenChannelsOrMoreOnPlanesOfSixOrMore() throws {
        XCTAssertTrue(FlatPlanes(try geometry([2, 16, 28, 28], [16, 16, 3, 3])).winograd)
        XCTAssertTrue(FlatPlanes(try geometry([2, 64, 6, 9], [32, 64, 3, 3])).winograd)
        XCTAssertFalse(FlatPlanes(try geometry([2, 16, 28, 28], [16, 16, 3, 3], winograd: false)).winograd)
        XCTAssertFalse(FlatPlanes(try geometry([2, 8, 28, 28], [16, 8, 3, 3])).winograd)  // Cin < 16
        XCTAssertFalse(FlatPlanes(try geometry([2, 16, 28, 28], [8, 16, 3, 3])).winograd)  // Cout < 16 (dX's Cin)
        XCTAssertFalse(FlatPlanes(try geometry([2, 16, 5, 28], [16, 16, 3, 3])).winograd)  // a plane under 6 rows
        XCTAssertFalse(FlatPlanes(try geometry([1, 1, 28, 28], [16, 1, 3, 3])).winograd)  // the stem
        // A workspace past 4 MiB per thread: 64 channels on 224x224 planes (98 MiB), 256 on 56x56; 128 on 28x28 is in.
        XCTAssertFalse(FlatPlanes(try geometry([1, 64, 224, 224], [64, 64, 3, 3])).winograd)
        XCTAssertFalse(FlatPlanes(try geometry([1, 256, 56, 56], [256, 256, 3, 3])).winograd)
        XCTAssertTrue(FlatPlanes(try geometry([1, 128, 28, 28], [128, 128, 3, 3])).winograd)
        var dilated = Conv2dGeometry(padding: (2, 2), dilation: (2, 2))
        dilated = try dilated.validated(input: [2, 16, 9, 9], weight: [16, 16, 3, 3], bias: nil)
        XCTAssertFalse(FlatPlanes(dilated).winograd)
        var grouped = Conv2dGeometry(padding: (1, 1), groups: 2)
        grouped = try grouped.validated(input: [2, 32, 9, 9], weight: [32, 16, 3, 3], bias: nil)
        XCTAssertFalse(FlatPlanes(grouped).winograd)
        // Its samples start at even columns: Fashion-MNIST's 28x28 planes two side by side (rows of 2·30), 14x14 and
        // 7x7 four (rows of 4·16 and 4·8), one per plane for a batch of one.
        for (size, n, k, step) in [(28, 64, 2, 30), (14, 64, 4, 16), (7, 64, 4, 8), (7, 1, 1, 8), (9, 64, 4, 10)] {
            let f = FlatPlanes(try geometry([n, 16, size, size], [16, 16, 3, 3]))
            XCTAssertEqual(f.samplesPerPlane, k, "\(size)x\(size), batch \(n)")
            XCTAssertEqual(f.step, step, "\(size)x\(size)")
            XCTAssertEqual(f.wp, k * step)
        }
    }

    func testWinogradMatchesDirectLoopsAndTheDirectKernel() throws {
        // Odd and even plane sizes (a last tile row or column half outside the output), non-square planes, Cin ≠ Cout,
        // batches that leave the last plane group part empty, rows of more than 16 tiles, at 1 and 2 threads: output,
        // dX and dW against Double loops (1e-4 relative), and against the direct flat kernel.
        var rng = SeededRandom(seed: 41)
        let cases: [([Int], [Int])] = [
            ([3, 16, 7, 7], [16, 16, 3, 3]), ([5, 16, 6, 9], [24, 16, 3, 3]), ([2, 20, 11, 8], [16, 20, 3, 3]),
            ([5, 32, 14, 14], [32, 32, 3, 3]), ([3, 16, 28, 28], [16, 16, 3, 3]), ([1, 17, 13, 37], [18, 17, 3, 3]),
            ([6, 64, 8, 8], [64, 64, 3, 3]), ([2, 16, 33, 6], [16, 16, 3, 3]),
        ]
        let savedThreads = Parallel.threads
        defer { Parallel.threads = savedThreads }
        for threads in [1, 2] {
            Parallel.threads = threads
            for (xs, ws) in cases {
                XCTAssertTrue(FlatPlanes(try geometry(xs, ws)).winograd, "\(xs)")
                let x = Tensor.uniform(xs, low: -1, high: 1, rng: &rng, requiresGrad: true)
                let w = Tensor.uniform(ws, low: -1, high: 1, rng: &rng, requiresGrad: true)
                let (y, r) = try assertConvolutionMatchesOracles(
                    x, w, Conv2dGeometry(padding: (1, 1)), rng: &rng, "\(xs) \(ws) threads \(threads)")
                var direct = Conv2dGeometry(padding: (1, 1))
                direct.options.winograd = false
                let (xd, wd) = (
                    Tensor(shape: xs, data: x.data, requiresGrad: true),
                    Tensor(shape: ws, data: w.data, requiresGrad: true)
                )
                let yd = try conv2d(xd, weight: wd, bias: nil, geometry: direct)
                try (yd * r).sum().backward()
                for (name, a, b) in [
                    ("y", y.data, yd.data), ("dx", x.grad!.data, xd.grad!.data), ("dw", w.grad!.data, wd.grad!.data),
                ] {
                    let scale = b.map(abs).max()!
                    let worst = zip(a, b).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(worst, 2e-6 * max(1, scale), "\(name) \(xs) \(ws) threads \(threads)")
                }
            }
        }
    }

    func testEachSampleRoundsTheSameAloneAndAnywhereInTheBatch() throws {
        // Five 28x28 samples (two per plane group, the last alone) and each sample alone (one per plane): the same
        // output and dX bits, so that a prediction does not depend on the batch it runs in.
        var rng = SeededRandom(seed: 42)
        let x = Tensor.uniform([5, 16, 28, 28], low: -1, high: 1, rng: &rng, requiresGrad: true)
        let w = Tensor.uniform([16, 16, 3, 3], low: -1, high: 1, rng: &rng)
        let r = Tensor.uniform([5, 16, 28, 28], low: -1, high: 1, rng: &rng)
        let g = Conv2dGeometry(padding: (1, 1))
        XCTAssertEqual(FlatPlanes(try geometry(x.shape, w.shape)).samplesPerPlane, 2)
        let y = try conv2d(x, weight: w, bias: nil, geometry: g)
        try (y * r).sum().backward()
        let size = 16 * 28 * 28
        for s in 0..<5 {
            let part = s * size..<(s + 1) * size
            let xs = Tensor(shape: [1, 16, 28, 28], data: Array(x.data[part]), requiresGrad: true)
            let ys = try conv2d(xs, weight: w, bias: nil, geometry: g)
            try (ys * Tensor(shape: [1, 16, 28, 28], data: Array(r.data[part]))).sum().backward()
            assertSameBits(ys.data, Array(y.data[part]), "y of sample \(s)")
            assertSameBits(xs.grad!.data, Array(x.grad!.data[part]), "dx of sample \(s)")
        }
    }

    func testAnInfiniteInputReachesOnlyTheOutputsWhoseWindowHoldsIt() throws {
        // +Inf at one pixel of one sample, at each parity of row and column and on the plane's edge: every output
        // outside the 3x3 neighbourhood of that pixel, and every other sample, keeps the bits of the clean run.
        var rng = SeededRandom(seed: 43)
        let clean = Tensor.uniform([3, 16, 10, 10], low: -1, high: 1, rng: &rng)
        let w = Tensor.uniform([16, 16, 3, 3], low: -1, high: 1, rng: &rng)
        let g = Conv2dGeometry(padding: (1, 1))
        let y0 = try conv2d(clean, weight: w, bias: nil, geometry: g).data
        for (row, col) in [(4, 4), (4, 5), (5, 4), (5, 5), (0, 9), (9, 0)] {
            var data = clean.data
            data[1 * 1600 + 3 * 100 + row * 10 + col] = .infinity
            let y = try conv2d(Tensor(shape: clean.shape, data: data), weight: w, bias: nil, geometry: g).data
            for i in 0..<y.count {
                let (s, oh, ow) = (i / 1600, i % 100 / 10, i % 10)
                if s == 1 && abs(oh - row) <= 1 && abs(ow - col) <= 1 {
                    XCTAssertFalse(y[i].isFinite, "output (\(oh), \(ow)) next to the Inf at (\(row), \(col))")
                } else {
                    XCTAssertEqual(
                        y[i].bitPattern, y0[i].bitPattern, "output \(s) (\(oh), \(ow)), Inf at (\(row), \(col))")
                }
            }
        }
    }
}
