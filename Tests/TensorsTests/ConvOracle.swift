import XCTest

@testable import Tensors

// The convolution oracles shared by the fast-path and random-geometry tests; `naiveConv2d` (Sources/Tensors/Conv.swift)
// is the forward one. And the checks the fast-path and fused-block tests share.

/// dL/dx and dL/dw of L = Σ conv(x, w)·r by the direct adjoint loops (`forEachConvTap`, groups included), in Double.
func naiveConvGradients(_ x: Tensor, _ w: Tensor, _ g: Conv2dGeometry, _ r: [Float]) throws -> ([Float], [Float]) {
    let v = try g.validated(input: x.shape, weight: w.shape, bias: nil)
    var dx = [Double](repeating: 0, count: x.count)
    var dw = [Double](repeating: 0, count: w.count)
    x.data.withUnsafeBufferPointer { px in
        w.data.withUnsafeBufferPointer { pw in
            dx.withUnsafeMutableBufferPointer { pdx in
                dw.withUnsafeMutableBufferPointer { pdw in
                    forEachConvTap(v) { o, xi, wi in
                        let gy = Double(r[o])
                        pdx[xi] += Double(pw[wi]) * gy
                        pdw[wi] += Double(px[xi]) * gy
                    }
                }
            }
        }
    }
    return (dx.map(Float.init), dw.map(Float.init))
}

/// Checks `conv2d` of x and w (and bias b) under `geometry` against the oracles: its output against `naiveConv2d`,
/// then, after the backward of L = Σ y·r for a uniform random r drawn from `rng`, x's and w's gradients against
/// `naiveConvGradients`, each element within 1e-4·max(1, |oracle|). Returns y and r for further checks.
@discardableResult
func assertConvolutionMatchesOracles(
    _ x: Tensor, _ w: Tensor, bias b: Tensor? = nil, _ geometry: Conv2dGeometry, rng: inout SeededRandom,
    _ context: String, file: StaticString = #filePath, line: UInt = #line
) throws -> (y: Tensor, r: Tensor) {
    let y = try conv2d(x, weight: w, bias: b, geometry: geometry)
    let slow = try naiveConv2d(x, weight: w, bias: b, geometry: geometry)
    XCTAssertEqual(y.shape, slow.shape, file: file, line: line)
    for (p, q) in zip(y.data, slow.data) {
        XCTAssertEqual(p, q, accuracy: 1e-4 * max(1, abs(q)), context, file: file, line: line)
    }
    let r = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
    try (y * r).sum().backward()
    let (dx, dw) = try naiveConvGradients(x, w, geometry, r.data)
    for (p, q) in zip(x.grad!.data, dx) {
        XCTAssertEqual(p, q, accuracy: 1e-4 * max(1, abs(q)), "dx \(context)", file: file, line: line)
    }
    for (p, q) in zip(w.grad!.data, dw) {
        XCTAssertEqual(p, q, accuracy: 1e-4 * max(1, abs(q)), "dw \(context)", file: file, line: line)
    }
    return (y, r)
}

/// Asserts `a` and `b` are bit for bit equal, naming the first differing element rather than printing both arrays.
func assertSameBits(
    _ a: [Float], _ b: [Float], _ context: String, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(a.count, b.count, "\(context): counts", file: file, line: line)
    let i = zip(a, b).enumerated().first { $0.element.0.bitPattern != $0.element.1.bitPattern }?.offset
    XCTAssertNil(
        i, "\(context)[\(i ?? 0)]: \(i.map { a[$0] } ?? 0) vs \(i.map { b[$0] } ?? 0)", file: file, line: line)
}
