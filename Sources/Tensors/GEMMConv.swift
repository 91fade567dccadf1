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
/// The forward convolution `g` on the GEMM path: x `[N, Cin, H, W]` with weight `w` → `[N, Cout, Hout, Wout]`, adding
/// `bias` when given; the batch split into parts (`forEachBatchPart`).
func convolveGEMM(_ x: [Float], _ w: [Float], _ g: Conv2dGeometry, bias: [Float]?) -> [Float] {
    let count = g.outputShape.reduce(1, *)
    return [Float](unsafeUninitializedCapacity: count) { out, written in
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                forEachBatchPart(g.n, work: g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n) { _, part in
                    let chunks = ColumnChunks(g, samples: part)
                    defer { chunks.deallocate() }
                    chunks.run(px.baseAddress!) { n0, nb, cols in
                        chunks.multiply(pw.baseAddress!, cols, n0: n0, nb: nb, bias: bias, into: out.baseAddress!)
                    }
                }
            }
        }
        written = count
    }
}

/// One worker's chunks of a batch part on the GEMM path: samples at a time such that the column matrix stays within
/// `columnBudget` floats, with its column and reorder scratch.
struct ColumnChunks {
    let g: Conv2dGeometry, part: Range<Int>, chunk: Int
    /// The column matrix `[Cin·kH·kW, chunk·Hout·Wout]` (none for a pointwise convolution) and `[C, chunk·HW]` scratch
    /// for reordering.
    let cols: UnsafeMutablePointer<Float>, tmp: UnsafeMutablePointer<Float>

    init(_ g: Conv2dGeometry, samples part: Range<Int>) {
        let hw = g.hOut * g.wOut
        self.g = g
        self.part = part
        chunk = g.isPointwise ? 1 : Swift.min(g.chunk, part.count)
        cols = .allocate(capacity: g.isPointwise ? 0 : g.cIn * g.kH * g.kW * chunk * hw)
        tmp = .allocate(capacity: chunk > 1 ? Swift.max(g.cIn, g.cOut) * chunk * hw : 0)
    }
    func deallocate() {
        cols.deallocate()
        tmp.deallocate()
    }

    /// Runs `body(n0, nb, columns)` for each chunk of samples `n0..<n0 + nb` of the part, with the chunk's column
    /// matrix of `x` `[N, Cin, H, W]` (x itself for a pointwise convolution).
    func run(_ x: UnsafePointer<Float>, _ body: (Int, Int, UnsafePointer<Float>) -> Void) {
        for n0 in stride(from: part.lowerBound, to: part.upperBound, by: chunk) {
            let nb = Swift.min(chunk, part.upperBound - n0)
            if g.isPointwise {
                body(n0, nb, x + n0 * g.cIn * g.hOut * g.wOut)
            } else {
                im2col(x, g, n0: n0, nb: nb, cols: cols)
                body(n0, nb, cols)
            }
        }
    }

    /// out[n0..<n0 + nb] `[nb, Cout, HW]` = W · columns per group, plus `bias` when given. One sample's GEMM writes
    /// its `[Cout, HW]` output in place; a larger chunk's output `[Cout, nb·HW]` is reordered from scratch.
    func multiply(
        _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n0: Int, nb: Int, bias: [Float]?,
        into out: UnsafeMutablePointer<Float>
    ) {
        let (hw, coutG, kG) = (g.hOut * g.wOut, g.cOut / g.groups, g.kPerGroup)
        let colsN = nb * hw
        let dst = nb == 1 ? out + n0 * g.cOut * hw : tmp
        for grp in 0..<g.groups {
            sgemm(
                m: coutG, n: colsN, k: kG, a: w + grp * coutG * kG, lda: kG,
                b: b + grp * kG * colsN, ldb: colsN, c: dst + grp * coutG * colsN, ldc: colsN)
        }
        if nb == 1 {
            for co in 0..<g.cOut where (bias?[co] ?? 0) != 0 {
                let (v, row) = (bias![co], dst + co * hw)
                for p in 0..<hw { row[p] += v }
            }
            return
        }
        for s in 0..<nb {  // [Cout, nb, HW] → [nb, Cout, HW], adding the bias
            for co in 0..<g.cOut {
                let v = bias?[co] ?? 0
                let src = tmp + co * colsN + s * hw
                let d = out + ((n0 + s) * g.cOut + co) * hw
                if v == 0 { d.update(from: src, count: hw) } else { for p in 0..<hw { d[p] = src[p] + v } }
            }
        }
    }
}

/// dX `[N, Cin, H, W]` (every element written, when `needX`) and dW `[Cout, CinG, kH, kW]` (when `needW`) of the
/// convolution `g` on the GEMM path, from dy `[N, Cout, Hout, Wout]`; `wT` is `flippedWeight(weight, g)` for a "same"
/// convolution (else unused). The batch is split into parts (`forEachBatchPart`), each summing its dW into its own
/// partial sum; the partial sums are added in part order, so the result does not depend on which thread ran which part.
func backwardGEMM(
    _ x: [Float], weight: [Float], wT: [Float], dy: [Float], _ g: Conv2dGeometry, needX: Bool, needW: Bool
) -> (dX: [Float], dW: [Float]?) {
    let xCount = g.n * g.cIn * g.h * g.w
    var dX = [Float](unsafeUninitializedCapacity: needX ? xCount : 0) { _, n in n = needX ? xCount : 0 }
    let work = 2 * g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n
    let parts = batchPartCount(g.n, work: work)
    let wCount = weight.count
    var dWParts = [Float](repeating: 0, count: needW ? parts * wCount : 0)
    var ga = g  // the adjoint "same" convolution dX = conv(dY, W̃): channels swapped
    ga.cIn = g.cOut
    ga.cOut = g.cIn
    dX.withUnsafeMutableBufferPointer { pdx in
        dWParts.withUnsafeMutableBufferPointer { pdw in
            withPointers(x, g.isSame ? wT : weight, dy) { px, pw, pdy in
                forEachBatchPart(g.n, work: work) { part, samples in
                    let (dXp, dWp) = (needX ? pdx.baseAddress! : nil, needW ? pdw.baseAddress! + part * wCount : nil)
                    if g.isSame {
                        backwardSame(x: px, wT: pw, dy: pdy, ga, samples: samples, dX: dXp, dWT: dWp)
                    } else {
                        backwardColumns(x: px, w: pw, dy: pdy, g, samples: samples, dX: dXp, dW: dWp)
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

/// Calls `body` with pointers to the elements of three arrays.
func withPointers<R>(
    _ a: [Float], _ b: [Float], _ c: [Float],
    _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) -> R
) -> R {
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeBufferPointer { pc in body(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!) }
        }
    }
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
    let chunks = ColumnChunks(ga, samples: part)
    defer { chunks.deallocate() }
    chunks.run(dy) { n0, nb, b in
        let colsN = nb * hw
        if let dWT {  // dW̃_gᵀ[kG, CinG] += cols_g · X_g[CinG, nb·HW]ᵀ
            var xs = x + n0 * ga.cOut * hw
            if nb > 1 {
                for s in 0..<nb {
                    for c in 0..<ga.cOut {
                        (chunks.tmp + c * colsN + s * hw).update(from: x + ((n0 + s) * ga.cOut + c) * hw, count: hw)
                    }
                }
                xs = UnsafePointer(chunks.tmp)
            }
            for grp in 0..<ga.groups {
                sgemm(
                    transB: true, m: kG, n: cinG, k: colsN, a: b + grp * kG * colsN, lda: colsN,
                    b: xs + grp * cinG * colsN, ldb: colsN, beta: 1, c: dWT + grp * kG * cinG, ldc: cinG)
            }
        }
        if let dX { chunks.multiply(wT, b, n0: n0, nb: nb, bias: nil, into: dX) }  // dX = conv(dY, W̃)
    }
}
