@testable import Tensors

// The convolution oracles shared by the fast-path and random-geometry tests; `naiveConv2d` (Sources/Tensors/Conv.swift)
// is the forward one.

/// dL/dx and dL/dw of L = Σ conv(x, w)·r by the direct adjoint loops (groups included), in Double.
func naiveConvGradients(_ x: Tensor, _ w: Tensor, _ g: Conv2dGeometry, _ r: [Float]) throws -> ([Float], [Float]) {
    let v = try g.validated(input: x.shape, weight: w.shape, bias: nil)
    var dx = [Double](repeating: 0, count: x.count)
    var dw = [Double](repeating: 0, count: w.count)
    for s in 0..<v.n {
        for co in 0..<v.cOut {
            for oh in 0..<v.hOut {
                for ow in 0..<v.wOut {
                    let gy = Double(r[((s * v.cOut + co) * v.hOut + oh) * v.wOut + ow])
                    let cinG = v.cIn / g.groups
                    let grp = co / (v.cOut / g.groups)
                    for ci in 0..<cinG {
                        for i in 0..<v.kH {
                            for j in 0..<v.kW {
                                let ih = oh * g.stride.h - g.padding.h + i * g.dilation.h
                                let iw = ow * g.stride.w - g.padding.w + j * g.dilation.w
                                guard ih >= 0, ih < v.h, iw >= 0, iw < v.w else { continue }
                                let xi = ((s * v.cIn + grp * cinG + ci) * v.h + ih) * v.w + iw
                                let wi = ((co * cinG + ci) * v.kH + i) * v.kW + j
                                dx[xi] += Double(w.data[wi]) * gy
                                dw[wi] += Double(x.data[xi]) * gy
                            }
                        }
                    }
                }
            }
        }
    }
    return (dx.map(Float.init), dw.map(Float.init))
}
