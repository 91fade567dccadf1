// The im2col + GEMM convolution path (`ConvolutionPath.gemm`): every geometry the direct kernels (DirectConv.swift,
// PhaseConv.swift) do not take, forward and backward side by side.
//
// The batch is processed in chunks so that the column matrix `[Cin·kH·kW, n·Hout·Wout]` stays below
// `columnBudget` floats (in L2 between im2col and the GEMM). A one-sample chunk's GEMM per group writes
// its `[Cout/g, HW]` output in place; a larger chunk runs one GEMM per group, out_g[Cout/g, n·HW] = W_g · cols_g,
// and reorders the result to `[n, Cout, HW]`. docs/performance.md measures the choices.
//
// Backward, a stride-1 "same" convolution's dX is itself one (`backwardSame`): dX = conv(dY, W̃) with the same padding
// and dilation and W̃[grp·CinG + ci, co, i, j] = W[grp·CoutG + co, ci, kH−1−i, kW−1−j] (`flippedWeight`). Its GEMMs
// have the large inner size CoutG·kH·kW and write dX in place (no col2im scatter, no zero-filling), and the same
// columns of dY give dW̃ᵀ[grp][(co, i, j), ci] = Σ_p cols_dY[(co, i, j), p]·x[ci, p] = dW[co, ci, kH−1−i, kW−1−j], so x
// is not unfolded again. (This orientation, with x as OpenBLAS's second operand, packs the columns ~2x faster than
// dW̃ = X·colsᵀ.) Any other geometry unfolds x and scatters dX back with col2im (`backwardColumns`).

/// Largest column matrix (in floats) one worker builds at once: 64 Ki floats = 256 KiB, so that the columns
/// stay in the core's L2 cache between im2col and the GEMM that reads them.
nonisolated(unsafe) var columnBudget = 64 << 10  // a var so tests can force chunking

extension Conv2dGeometry {
    /// Samples per chunk so that one worker's column matrix stays within `columnBudget` floats.
    var chunk: Int { Swift.max(1, columnBudget / Swift.max(1, cIn * kH * kW * hOut * wOut)) }
}

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

/// How many parts `forEachBatchPart` splits a batch of `n` samples into: 1 for small work or one thread, else
/// 4 per thread (at most n), claimed dynamically, so that a core slowed by anything else does not hold up the
/// step (each part then allocates its own scratch, a small cost against a conv's work).
func batchPartCount(_ n: Int, work: Int) -> Int {
    let threads = convolutionThreads(work: work)
    return threads == 1 ? 1 : Swift.max(1, Swift.min(4 * threads, n))
}

/// Splits the batch `0..<n` into `batchPartCount(n, work:)` contiguous parts and runs `body(part index, part)`
/// in parallel. Each part owns its samples, so writes to per-sample outputs never overlap.
func forEachBatchPart(_ n: Int, work: Int, _ body: (Int, Range<Int>) -> Void) {
    let parts = batchPartCount(n, work: work)
    if parts == 1 {
        body(0, 0..<n)
        return
    }
    Parallel.run(parts) { p in body(p, (n * p / parts)..<(n * (p + 1) / parts)) }
}
/// One worker's share of a forward convolution: samples `samples` of `x` into `out` (both laid out as `g` says),
/// chunk by chunk within `columnBudget`, adding `bias` when given.
func convolve(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ g: Conv2dGeometry, bias: [Float]?,
    samples part: Range<Int>, into out: UnsafeMutablePointer<Float>
) {
    let hw = g.hOut * g.wOut
    let coutG = g.cOut / g.groups
    let kG = g.kPerGroup
    let chunk = g.isPointwise ? 1 : Swift.min(g.chunk, part.count)
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: g.isPointwise ? 0 : g.cIn * g.kH * g.kW * chunk * hw)
    let tmp = UnsafeMutablePointer<Float>.allocate(capacity: chunk > 1 ? g.cOut * chunk * hw : 0)
    defer {
        cols.deallocate()
        tmp.deallocate()
    }
    for n0 in stride(from: part.lowerBound, to: part.upperBound, by: chunk) {
        let nb = Swift.min(chunk, part.upperBound - n0)
        let colsN = nb * hw
        let b: UnsafePointer<Float>
        if g.isPointwise {
            b = x + n0 * g.cIn * hw
        } else {
            im2col(x, g, n0: n0, nb: nb, cols: cols)
            b = UnsafePointer(cols)
        }
        if nb == 1 {  // one sample: the GEMM writes its [Cout, HW] output in place
            let dst = out + n0 * g.cOut * hw
            for grp in 0..<g.groups {
                sgemm(
                    m: coutG, n: hw, k: kG, a: w + grp * coutG * kG, lda: kG,
                    b: b + grp * kG * hw, ldb: hw, c: dst + grp * coutG * hw, ldc: hw)
            }
            if let bias {
                for co in 0..<g.cOut where bias[co] != 0 {
                    let v = bias[co]
                    let row = dst + co * hw
                    for p in 0..<hw { row[p] += v }
                }
            }
            continue
        }
        for grp in 0..<g.groups {
            sgemm(
                m: coutG, n: colsN, k: kG, a: w + grp * coutG * kG, lda: kG,
                b: b + grp * kG * colsN, ldb: colsN, c: tmp + grp * coutG * colsN, ldc: colsN)
        }
        // [Cout, nb, HW] → [nb, Cout, HW], adding the bias.
        for s in 0..<nb {
            for co in 0..<g.cOut {
                let v = bias?[co] ?? 0
                let src = tmp + co * colsN + s * hw
                let dst = out + ((n0 + s) * g.cOut + co) * hw
                if v == 0 { dst.update(from: src, count: hw) } else { for p in 0..<hw { dst[p] = src[p] + v } }
            }
        }
    }
}

/// dX `[N, Cin, H, W]` (every element written, when `needX`) and dW `[Cout, CinG, kH, kW]` (when `needW`) of the
/// convolution `g` on the GEMM path, from dy `[N, Cout, Hout, Wout]`; `wT` is `flippedWeight(weight, g)` for a "same"
/// convolution (else unused). The batch is split into parts (`forEachBatchPart`), each summing its dW into its own
/// partial sum; the partial sums are added in part order, so the result does not depend on which thread ran which part.
func backwardGEMM(
    _ x: Tensor, weight: Tensor, wT: [Float], dy: [Float], _ g: Conv2dGeometry,
    needX: Bool, needW: Bool
) -> (dX: [Float], dW: [Float]?) {
    var dX = [Float](unsafeUninitializedCapacity: needX ? x.count : 0) { _, n in n = needX ? x.count : 0 }
    let work = 2 * g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n
    let parts = batchPartCount(g.n, work: work)
    let wCount = weight.count
    var dWParts = [Float](repeating: 0, count: needW ? parts * wCount : 0)
    var ga = g  // the adjoint "same" convolution dX = conv(dY, W̃): channels swapped
    ga.cIn = g.cOut
    ga.cOut = g.cIn
    x.data.withUnsafeBufferPointer { px in
        weight.data.withUnsafeBufferPointer { pw in
            dy.withUnsafeBufferPointer { pdy in
                wT.withUnsafeBufferPointer { pwT in
                    dX.withUnsafeMutableBufferPointer { pdx in
                        dWParts.withUnsafeMutableBufferPointer { pdw in
                            forEachBatchPart(g.n, work: work) { part, samples in
                                let dXp = needX ? pdx.baseAddress! : nil
                                let dWp = needW ? pdw.baseAddress! + part * wCount : nil
                                if g.isSame {
                                    backwardSame(
                                        x: px.baseAddress!, wT: pwT.baseAddress!, dy: pdy.baseAddress!, ga,
                                        samples: samples,
                                        dX: dXp, dWT: dWp)
                                } else {
                                    backwardColumns(
                                        x: px.baseAddress!, w: pw.baseAddress!, dy: pdy.baseAddress!, g,
                                        samples: samples,
                                        dX: dXp, dW: dWp)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    guard needW else { return (dX, nil) }
    var sum = Array(dWParts[0..<wCount])
    sum.withUnsafeMutableBufferPointer { s in
        dWParts.withUnsafeBufferPointer { partials in
            for p in 1..<parts { vectorAdd(s.baseAddress!, partials.baseAddress! + p * wCount, s.baseAddress!, wCount) }
        }
    }
    return (dX, g.isSame ? unflippedWeightGradient(sum, g) : sum)
}

/// dW `[Cout, CinG, kH, kW]` from the "same" path's dW̃ᵀ `[groups, CoutG·kH·kW, CinG]` (see the file header).
func unflippedWeightGradient(_ dWT: [Float], _ g: Conv2dGeometry) -> [Float] {
    let coutG = g.cOut / g.groups
    let cinG = g.cIn / g.groups
    let taps = g.kH * g.kW
    var d = dWT
    for grp in 0..<g.groups {
        for co in 0..<coutG {
            for ci in 0..<cinG {
                for t in 0..<taps {
                    d[((grp * coutG + co) * cinG + ci) * taps + taps - 1 - t] =
                        dWT[((grp * coutG + co) * taps + t) * cinG + ci]
                }
            }
        }
    }
    return d
}

/// One worker's share of the backward pass of convolution `g` by im2col + GEMM: for samples `part`, writes dX
/// `[N, Cin, H, W]` (when non-nil; zeroed, then scattered into by col2im) and adds dW `[Cout, CinG, kH, kW]` into `dW`
/// (when non-nil), chunk by chunk within `columnBudget`.
func backwardColumns(
    x: UnsafePointer<Float>, w: UnsafePointer<Float>, dy: UnsafePointer<Float>, _ g: Conv2dGeometry,
    samples part: Range<Int>, dX: UnsafeMutablePointer<Float>?, dW: UnsafeMutablePointer<Float>?
) {
    let hw = g.hOut * g.wOut
    let coutG = g.cOut / g.groups
    let kG = g.kPerGroup
    let chunk = Swift.min(g.chunk, part.count)
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: g.cIn * g.kH * g.kW * chunk * hw)
    let dyT = UnsafeMutablePointer<Float>.allocate(capacity: chunk > 1 ? g.cOut * chunk * hw : 0)
    defer {
        cols.deallocate()
        dyT.deallocate()
    }
    for n0 in stride(from: part.lowerBound, to: part.upperBound, by: chunk) {
        let nb = Swift.min(chunk, part.upperBound - n0)
        let colsN = nb * hw
        // dY of the chunk as [Cout, nb·HW]: one sample's [Cout, HW] is already that layout.
        let dY: UnsafePointer<Float>
        if nb == 1 {
            dY = dy + n0 * g.cOut * hw
        } else {
            for s in 0..<nb {
                for co in 0..<g.cOut {
                    (dyT + co * colsN + s * hw).update(from: dy + ((n0 + s) * g.cOut + co) * hw, count: hw)
                }
            }
            dY = UnsafePointer(dyT)
        }
        if let dW {
            im2col(x, g, n0: n0, nb: nb, cols: cols)
            for grp in 0..<g.groups {  // dW_g[CoutG, Kg] += dY_g[CoutG, cols] · cols_gᵀ
                sgemm(
                    transB: true, m: coutG, n: kG, k: colsN, a: dY + grp * coutG * colsN, lda: colsN,
                    b: cols + grp * kG * colsN, ldb: colsN, beta: 1, c: dW + grp * coutG * kG, ldc: kG)
            }
        }
        guard let dX else { continue }
        for grp in 0..<g.groups {  // dCols_g[Kg, cols] = W_gᵀ · dY_g
            sgemm(
                transA: true, m: kG, n: colsN, k: coutG, a: w + grp * coutG * kG, lda: kG,
                b: dY + grp * coutG * colsN, ldb: colsN, c: cols + grp * kG * colsN, ldc: colsN)
        }
        (dX + n0 * g.cIn * g.h * g.w).update(repeating: 0, count: nb * g.cIn * g.h * g.w)
        col2im(cols, g, n0: n0, nb: nb, dx: dX)
    }
}

/// One worker's share of the backward pass of a stride-1 "same" convolution `g`, given `ga` (its adjoint: channels
/// swapped), the flipped, per-group transposed weight `wT` `[Cin, CoutG, kH, kW]` and `dy` `[N, Cout, H, W]`:
/// for samples `part`, writes dX `[N, Cin, H, W]` (when non-nil) and adds dW̃ᵀ `[groups, CoutG·kH·kW, CinG]` into
/// `dWT`.
func backwardSame(
    x: UnsafePointer<Float>, wT: UnsafePointer<Float>, dy: UnsafePointer<Float>, _ ga: Conv2dGeometry,
    samples part: Range<Int>, dX: UnsafeMutablePointer<Float>?, dWT: UnsafeMutablePointer<Float>?
) {
    let hw = ga.h * ga.w
    let cinG = ga.cOut / ga.groups
    let kG = ga.kPerGroup  // kG = CoutG·kH·kW
    let chunk = ga.isPointwise ? 1 : Swift.min(ga.chunk, part.count)
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: ga.isPointwise ? 0 : ga.cIn * ga.kH * ga.kW * chunk * hw)
    let tmp = UnsafeMutablePointer<Float>.allocate(capacity: chunk > 1 ? ga.cOut * chunk * hw : 0)
    defer {
        cols.deallocate()
        tmp.deallocate()
    }
    for n0 in stride(from: part.lowerBound, to: part.upperBound, by: chunk) {
        let nb = Swift.min(chunk, part.upperBound - n0)
        let colsN = nb * hw
        let b: UnsafePointer<Float>
        if ga.isPointwise {
            b = dy + n0 * ga.cIn * hw
        } else {
            im2col(dy, ga, n0: n0, nb: nb, cols: cols)
            b = UnsafePointer(cols)
        }
        if let dWT {  // dW̃_gᵀ[kG, CinG] += cols_g · X_g[CinG, nb·HW]ᵀ
            let xs: UnsafePointer<Float>
            if nb == 1 {
                xs = x + n0 * ga.cOut * hw
            } else {
                for s in 0..<nb {
                    for c in 0..<ga.cOut {
                        (tmp + c * colsN + s * hw).update(from: x + ((n0 + s) * ga.cOut + c) * hw, count: hw)
                    }
                }
                xs = UnsafePointer(tmp)
            }
            for grp in 0..<ga.groups {
                sgemm(
                    transB: true, m: kG, n: cinG, k: colsN, a: b + grp * kG * colsN, lda: colsN,
                    b: xs + grp * cinG * colsN, ldb: colsN, beta: 1, c: dWT + grp * kG * cinG, ldc: cinG)
            }
        }
        guard let dX else { continue }
        let out = nb == 1 ? dX + n0 * ga.cOut * hw : tmp  // dX_g[CinG, nb·HW] = W̃_g · cols_g
        for grp in 0..<ga.groups {
            sgemm(
                m: cinG, n: colsN, k: kG, a: wT + grp * cinG * kG, lda: kG,
                b: b + grp * kG * colsN, ldb: colsN, c: out + grp * cinG * colsN, ldc: colsN)
        }
        if nb > 1 {  // [Cin, nb, HW] → [nb, Cin, HW]
            for s in 0..<nb {
                for c in 0..<ga.cOut {
                    (dX + ((n0 + s) * ga.cOut + c) * hw).update(from: tmp + c * colsN + s * hw, count: hw)
                }
            }
        }
    }
}
