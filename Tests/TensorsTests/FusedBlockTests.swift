import Foundation
import XCTest

@testable import Tensors

/// The fused residual block (`convBatchNormBlock`, Fused/ConvBatchNormBlock.swift) against the same ops run apart
/// (`conv2d`, `batchNorm(..., relu:, residual:)`), bit for bit: inside the block each unit's normalised output is
/// computed by the flat convolution after it while packing, each training batch norm's dX by the flat convolution
/// before it while packing dY, and the first convolution adds its dX to the identity shortcut's gradient.
final class FusedBlockTests: XCTestCase {
    struct Case {
        var shape: [Int]
        /// Per main unit: output channels, kernel, stride, padding, ReLU after.
        var units: [(cout: Int, k: Int, stride: Int, pad: Int, relu: Bool)]
        var shortcut: (k: Int, stride: Int)?
    }

    func testFusedBlockEqualsTheOpsRunApartExactly() throws {
        // Rows of 27, 5, 14 and 7 (16-float steps, and last blocks of 16, 8 and 4 floats that overlap the block before)
        // and 8x8 planes: the basic block with an identity shortcut
        // (both dX deferred, both outputs packed), a unit without ReLU (its output packed as it is), the strided basic
        // block (a phase convolution reads the first unit's output written, the shortcut's batch norm follows a
        // phase convolution), and a bottleneck (1x1 convolutions on the GEMM path read and produce the units'
        // outputs), in training and eval.
        var rng = SeededRandom(seed: 18)
        let cases = [
            Case(shape: [3, 4, 7, 27], units: [(4, 3, 1, 1, true), (4, 3, 1, 1, true)], shortcut: nil),
            Case(shape: [2, 4, 6, 5], units: [(4, 3, 1, 1, false), (4, 3, 1, 1, true)], shortcut: nil),
            Case(shape: [2, 3, 8, 8], units: [(5, 3, 2, 1, true), (5, 3, 1, 1, true)], shortcut: (1, 2)),
            Case(
                shape: [3, 3, 8, 8], units: [(2, 1, 1, 0, true), (2, 3, 2, 1, true), (6, 1, 1, 0, true)],
                shortcut: (1, 2)),
            Case(shape: [2, 4, 6, 5], units: [(4, 3, 1, 1, true), (4, 3, 1, 1, false)], shortcut: (1, 1)),
            // resnet8 on Fashion-MNIST's sizes: a strided block from 14x14 (phase rows of 7) to 7x7 planes.
            Case(shape: [2, 4, 14, 14], units: [(6, 3, 2, 1, true), (6, 3, 1, 1, true)], shortcut: (1, 2)),
        ]
        for c in cases {
            var cin = c.shape[1]
            var weights: [Tensor] = []
            for u in c.units {
                weights.append(Tensor.normal([u.cout, cin, u.k, u.k], std: 0.3, rng: &rng))
                cin = u.cout
            }
            if let s = c.shortcut { weights.append(Tensor.normal([cin, c.shape[1], s.k, s.k], std: 0.3, rng: &rng)) }
            let x0 = Tensor.normal(c.shape, rng: &rng)
            for training in [true, false] {
                var runs: [[[Float]]] = []
                var weighting: Tensor? = nil  // the same for both runs
                for fused in [false, true] {
                    let x = Tensor(shape: c.shape, data: x0.data, requiresGrad: true)
                    let ws = weights.map { Tensor(shape: $0.shape, data: $0.data, requiresGrad: true) }
                    let norms = ws.enumerated().map { k, w in
                        let n = w.shape[0]
                        return BatchNormParameters(
                            weight: Tensor(
                                shape: [n], data: (0..<n).map { 1.2 - Float($0 % 3) * 0.7 + Float(k) * 0.1 },
                                requiresGrad: true),
                            bias: Tensor(shape: [n], data: (0..<n).map { 0.1 - Float($0) * 0.05 }, requiresGrad: true),
                            runningMean: Tensor(shape: [n], data: (0..<n).map { Float($0) * 0.1 }),
                            runningVar: Tensor(shape: [n], data: (0..<n).map { 1 + Float($0) * 0.2 }))
                    }
                    let units = c.units.indices.map { k in
                        ConvBatchNormUnit(
                            weight: ws[k], geometry: geometry(c.units[k].stride, c.units[k].pad), norm: norms[k],
                            relu: c.units[k].relu)
                    }
                    let shortcut = c.shortcut.map { s in
                        ConvBatchNormUnit(
                            weight: ws[c.units.count], geometry: geometry(s.stride, 0), norm: norms[c.units.count],
                            relu: false)
                    }
                    let y =
                        fused
                        ? try convBatchNormBlock(x, main: units, shortcut: shortcut, training: training)
                        : try apart(x, units, shortcut, training: training)
                    if weighting == nil { weighting = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng) }
                    let r = weighting!
                    try ((y * r).sum() + y.pow(2).sum() * 0.1).backward()
                    runs.append(
                        [y.data, x.grad!.data] + ws.map { $0.grad!.data }
                            + norms.flatMap { [$0.weight!.grad!.data, $0.bias!.grad!.data] }
                            + norms.flatMap { [$0.runningMean!.data, $0.runningVar!.data] })
                }
                XCTAssertEqual(runs[0].count, runs[1].count)
                for k in runs[0].indices {
                    assertSameBits(runs[0][k], runs[1][k], "\(c.shape) \(c.units) training \(training): value \(k)")
                }
            }
        }
    }

    func testBlockOutputReadFromSeveralThreadsAtOnce() throws {
        // Threads reading `data` and `count` of one batch-norm output at the same time all see the written values,
        // 50 times over.
        var rng = SeededRandom(seed: 20)
        let x = Tensor.normal([4, 8, 12, 12], rng: &rng)
        let expected = try withNoGrad {
            try batchNorm(x, weight: nil, bias: nil, runningMean: nil, runningVar: nil, training: true, relu: true).data
        }
        for _ in 0..<50 {
            let a = try withNoGrad {
                try batchNorm(x, weight: nil, bias: nil, runningMean: nil, runningVar: nil, training: true, relu: true)
            }
            let lock = NSLock()
            var seen: [[Float]] = []
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                let values = a.data
                XCTAssertEqual(a.count, expected.count)
                lock.lock()
                seen.append(values)
                lock.unlock()
            }
            for values in seen { assertSameBits(values, expected, "a thread's read") }
        }
    }

    func testFusedBlockRefusesMismatchedShapes() throws {
        let x = Tensor.zeros([2, 3, 4, 4])
        let unit = ConvBatchNormUnit(
            weight: .zeros([5, 3, 3, 3]), geometry: geometry(1, 1),
            norm: BatchNormParameters(weight: nil, bias: nil, runningMean: nil, runningVar: nil), relu: true)
        XCTAssertThrowsError(try convBatchNormBlock(x, main: [unit], shortcut: nil, training: true)) { error in
            XCTAssertTrue("\(error)".contains("[2, 5, 4, 4]") && "\(error)".contains("[2, 3, 4, 4]"), "\(error)")
        }
        XCTAssertThrowsError(try convBatchNormBlock(x, main: [], shortcut: nil, training: true))
    }

    /// The block as the ops run apart: conv2d, batch norm (ReLU fused), the last one adding the shortcut.
    func apart(_ x: Tensor, _ units: [ConvBatchNormUnit], _ shortcut: ConvBatchNormUnit?, training: Bool) throws
        -> Tensor
    {
        func run(_ u: ConvBatchNormUnit, _ t: Tensor, relu: Bool, residual: Tensor? = nil) throws -> Tensor {
            try batchNorm(
                conv2d(t, weight: u.weight, geometry: u.geometry), weight: u.norm.weight, bias: u.norm.bias,
                runningMean: u.norm.runningMean, runningVar: u.norm.runningVar, training: training, relu: relu,
                residual: residual)
        }
        var h = x
        for u in units.dropLast() { h = try run(u, h, relu: u.relu) }
        let s = try shortcut.map { try run($0, x, relu: false) } ?? x
        return try run(units.last!, h, relu: units.last!.relu, residual: s)
    }

    func geometry(_ stride: Int, _ pad: Int) -> Conv2dGeometry {
        Conv2dGeometry(stride: (stride, stride), padding: (pad, pad))
    }
}
