// im2col and its adjoint col2im for the GEMM convolution path (GEMMConv.swift): a sample's input planes unfolded into
// the column matrix `[Cin·kH·kW, Hout·Wout]` (rows ordered c, i, j), so that the convolution is one matrix product.
// Stride-1 "same" convolutions copy whole shifted planes; every other geometry goes row by row.

extension Conv2dGeometry {
    /// Output columns `lo..<hi` of kernel column `j` whose input column is inside the image, and the input
    /// offset `shift` (iw = ow·strideW + shift).
    @inline(__always) func validColumns(_ j: Int) -> (lo: Int, hi: Int, shift: Int) {
        let shift = j * dilation.w - padding.w
        let lo = shift >= 0 ? 0 : (-shift + stride.w - 1) / stride.w
        let hi = Swift.max(lo, Swift.min(wOut, (w - shift + stride.w - 1) / stride.w))
        return (lo, hi, shift)
    }
    /// Output rows `lo..<hi` of kernel row `i` whose input row is inside the image.
    @inline(__always) func validRows(_ i: Int) -> (lo: Int, hi: Int) {
        let shift = i * dilation.h - padding.h
        let lo = shift >= 0 ? 0 : (-shift + stride.h - 1) / stride.h
        return (lo, Swift.max(lo, Swift.min(hOut, (h - shift + stride.h - 1) / stride.h)))
    }
    /// A stride-1 "same" convolution: output rows as long as input rows, so one kernel tap reads the input
    /// plane shifted by a constant offset and a whole plane is one contiguous copy.
    var isShiftedPlane: Bool { stride == (1, 1) && wOut == w }
}

/// Unfolds samples `n0..<n0+nb` of `x` into `cols [Cin·kH·kW, nb·Hout·Wout]` (rows ordered c, i, j).
/// For stride-1 "same" convolutions each (tap, sample) block is one contiguous shifted copy of the input plane
/// whose out-of-image columns and rows are then zeroed; otherwise rows are copied element by element.
func im2col(_ x: UnsafePointer<Float>, _ g: Conv2dGeometry, n0: Int, nb: Int, cols: UnsafeMutablePointer<Float>) {
    let hw = g.hOut * g.wOut
    let rowLen = nb * hw
    let plane = g.h * g.w
    // Per tap, not per row:
    let columns = (0..<g.kW).map { g.validColumns($0) }
    let validRows = (0..<g.kH).map { g.validRows($0) }
    for c in 0..<g.cIn {
        for i in 0..<g.kH {
            for j in 0..<g.kW {
                let (lo, hi, shift) = columns[j]
                let rows = validRows[i]
                let right = g.wOut - hi
                let dst = cols + ((c * g.kH + i) * g.kW + j) * rowLen
                // The shifted copy dst[t] = src[t + offset] for t in the valid rows, clipped to the plane.
                let offset = (i * g.dilation.h - g.padding.h) * g.w + shift
                let (a, b) = (rows.lo * g.wOut, rows.hi * g.wOut)
                let t0 = Swift.min(Swift.max(a, -offset), b)
                let t1 = Swift.min(Swift.max(t0, plane - offset), b)
                for s in 0..<nb {
                    let src = x + ((n0 + s) * g.cIn + c) * plane
                    let o = dst + s * hw
                    zeroFill(o, a)  // rows above the image
                    if g.isShiftedPlane {
                        zeroFill(o + a, t0 - a)
                        (o + t0).update(from: src + t0 + offset, count: t1 - t0)
                        zeroFill(o + t1, b - t1)
                        if lo > 0 || right > 0 {  // columns left and right of the image
                            var row = o + a
                            for _ in rows.lo..<rows.hi {
                                zeroFill(row, lo)
                                zeroFill(row + hi, right)
                                row += g.w
                            }
                        }
                    } else {
                        for oh in rows.lo..<rows.hi {
                            let rowPtr = src + (oh * g.stride.h + i * g.dilation.h - g.padding.h) * g.w + shift
                            let row = o + oh * g.wOut
                            zeroFill(row, lo)
                            if g.stride.w == 1 {
                                (row + lo).update(from: rowPtr + lo, count: hi - lo)
                            } else {
                                for ow in lo..<hi { row[ow] = rowPtr[ow * g.stride.w] }
                            }
                            zeroFill(row + hi, right)
                        }
                    }
                    zeroFill(o + b, hw - b)  // rows below the image
                }
            }
        }
    }
}

/// Zeroes `p[0..<n]`; one store for the common one-element border, no call for none.
@inline(__always) func zeroFill(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    if n == 1 { p[0] = 0 } else if n > 1 { p.update(repeating: 0, count: n) }
}

/// Adds `cols [Cin·kH·kW, nb·Hout·Wout]` back into samples `n0..<n0+nb` of `dx` (the adjoint of `im2col`).
/// For stride-1 "same" convolutions the out-of-image columns of `cols` are zeroed first (`cols` is scratch),
/// so that each (tap, sample) block is one contiguous shifted addition.
func col2im(
    _ cols: UnsafeMutablePointer<Float>, _ g: Conv2dGeometry, n0: Int, nb: Int,
    dx: UnsafeMutablePointer<Float>
) {
    let hw = g.hOut * g.wOut
    let rowLen = nb * hw
    let plane = g.h * g.w
    for r in 0..<(g.cIn * g.kH * g.kW) {
        let c = r / (g.kH * g.kW)
        let i = (r / g.kW) % g.kH
        let j = r % g.kW
        let (lo, hi, shift) = g.validColumns(j)
        let rows = g.validRows(i)
        let src = cols + r * rowLen
        for s in 0..<nb {
            let d = dx + ((n0 + s) * g.cIn + c) * plane
            let o = src + s * hw
            if g.isShiftedPlane {
                for oh in rows.lo..<rows.hi {
                    let row = o + oh * g.w
                    for ow in 0..<lo { row[ow] = 0 }
                    for ow in hi..<g.w { row[ow] = 0 }
                }
                let offset = (i * g.dilation.h - g.padding.h) * g.w + shift
                let (a, b) = (rows.lo * g.w, rows.hi * g.w)
                let t0 = Swift.min(Swift.max(a, -offset), b)
                let t1 = Swift.min(Swift.max(t0, plane - offset), b)
                if t1 > t0 { vectorAdd(d + t0 + offset, o + t0, d + t0 + offset, t1 - t0) }
            } else {
                for oh in rows.lo..<rows.hi {
                    let rowPtr = d + (oh * g.stride.h + i * g.dilation.h - g.padding.h) * g.w + shift
                    let row = o + oh * g.wOut
                    for ow in lo..<hi { rowPtr[ow * g.stride.w] += row[ow] }
                }
            }
        }
    }
}
