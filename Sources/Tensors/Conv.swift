import Dispatch

// 2-D convolution (`F.conv2d`) by im2col + `cblas_sgemm`, forward and backward side by side,
// with a direct convolution kept as the test oracle.
//
// Layout: input x `[N, Cin, H, W]`, weight `[Cout, Cin/groups, kH, kW]`, bias `[Cout]`,
// output `[N, Cout, Hout, Wout]` with Hout = (H + 2·padH − dilH·(kH−1) − 1) / strideH + 1 (PyTorch docs, Conv2d).
// The batch is processed in chunks so that the column matrix `[Cin·kH·kW, n·Hout·Wout]` stays below
// `columnBudget` floats (in L2 between im2col and the GEMM). A one-sample chunk's GEMM per group writes
// its `[Cout/g, HW]` output in place; a larger chunk runs one GEMM per group, out_g[Cout/g, n·HW] = W_g · cols_g,
// and reorders the result to `[n, Cout, HW]`. docs/performance.md measures the choices.

/// Stride, padding, dilation and groups of a convolution, plus the sizes derived from its input and weight.
public struct Conv2dGeometry: Equatable {
    public var stride: (h: Int, w: Int)
    public var padding: (h: Int, w: Int)
    public var dilation: (h: Int, w: Int)
    public var groups: Int
    // Derived on validation:
    var n = 0, cIn = 0, h = 0, w = 0, cOut = 0, kH = 0, kW = 0, hOut = 0, wOut = 0

    /// Creates a geometry; sizes are symmetric pairs `(h, w)` as PyTorch's `Conv2d(stride=, padding=, dilation=, groups=)`.
    public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        self.stride = (stride.0, stride.1); self.padding = (padding.0, padding.1)
        self.dilation = (dilation.0, dilation.1); self.groups = groups
    }

    public static func == (a: Conv2dGeometry, b: Conv2dGeometry) -> Bool {
        a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation && a.groups == b.groups
    }

    /// Checks input and weight against each other and fills in the derived sizes.
    /// - Throws: `TensorError` naming the shapes, e.g. `conv2d: input [8, 3, 28, 28] has 3 channels, weight expects 1`.
    func validated(input x: [Int], weight: [Int], bias: [Int]?) throws -> Conv2dGeometry {
        guard x.count == 4 else { throw TensorError.invalidShape(op: "conv2d", shape: x, reason: "is not [N, C, H, W]") }
        guard weight.count == 4 else { throw TensorError.invalidShape(op: "conv2d weight", shape: weight, reason: "is not [Cout, Cin/groups, kH, kW]") }
        guard groups >= 1, stride.h >= 1, stride.w >= 1, dilation.h >= 1, dilation.w >= 1, padding.h >= 0, padding.w >= 0 else {
            throw TensorError.invalidArgument(op: "conv2d", reason: "stride \(stride), padding \(padding), dilation \(dilation), groups \(groups) out of range")
        }
        guard x[1] == weight[1] * groups else {
            throw TensorError.invalidShape(op: "conv2d", shape: x,
                                           reason: "has \(x[1]) channels, weight \(formatShape(weight)) expects \(weight[1] * groups)")
        }
        guard weight[0] % groups == 0 else {
            throw TensorError.invalidArgument(op: "conv2d", reason: "\(weight[0]) output channels not divisible by groups \(groups)")
        }
        if let bias, bias != [weight[0]] { throw TensorError.shapeMismatch(op: "conv2d bias", lhs: [weight[0]], rhs: bias) }
        var g = self
        g.n = x[0]; g.cIn = x[1]; g.h = x[2]; g.w = x[3]; g.cOut = weight[0]; g.kH = weight[2]; g.kW = weight[3]
        g.hOut = (g.h + 2 * padding.h - dilation.h * (g.kH - 1) - 1) / stride.h + 1
        g.wOut = (g.w + 2 * padding.w - dilation.w * (g.kW - 1) - 1) / stride.w + 1
        guard g.h + 2 * padding.h - dilation.h * (g.kH - 1) - 1 >= 0, g.w + 2 * padding.w - dilation.w * (g.kW - 1) - 1 >= 0 else {
            throw TensorError.invalidShape(op: "conv2d", shape: x, reason: "is smaller than the (dilated) kernel \(g.kH)x\(g.kW)")
        }
        return g
    }

    var outputShape: [Int] { [n, cOut, hOut, wOut] }
    var kPerGroup: Int { cIn / groups * kH * kW }
}

/// Largest column matrix (in floats) one worker builds at once: 64 Ki floats = 256 KiB, so that the columns
/// stay in the core's L2 cache between im2col and the GEMM that reads them.
nonisolated(unsafe) var columnBudget = 64 << 10   // a var so tests can force chunking

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
    let hw = g.hOut * g.wOut, rowLen = nb * hw, plane = g.h * g.w
    let columns = (0..<g.kW).map { g.validColumns($0) }, validRows = (0..<g.kH).map { g.validRows($0) }   // per tap, not per row
    for c in 0..<g.cIn { for i in 0..<g.kH { for j in 0..<g.kW {
        let (lo, hi, shift) = columns[j], rows = validRows[i], right = g.wOut - hi
        let dst = cols + ((c * g.kH + i) * g.kW + j) * rowLen
        // The shifted copy dst[t] = src[t + offset] for t in the valid rows, clipped to the plane.
        let offset = (i * g.dilation.h - g.padding.h) * g.w + shift, (a, b) = (rows.lo * g.wOut, rows.hi * g.wOut)
        let t0 = Swift.min(Swift.max(a, -offset), b), t1 = Swift.min(Swift.max(t0, plane - offset), b)
        for s in 0..<nb {
            let src = x + ((n0 + s) * g.cIn + c) * plane, o = dst + s * hw
            zeroFill(o, a)   // rows above the image
            if g.isShiftedPlane {
                zeroFill(o + a, t0 - a)
                (o + t0).update(from: src + t0 + offset, count: t1 - t0)
                zeroFill(o + t1, b - t1)
                if lo > 0 || right > 0 {   // columns left and right of the image
                    var row = o + a
                    for _ in rows.lo..<rows.hi { zeroFill(row, lo); zeroFill(row + hi, right); row += g.w }
                }
            } else {
                for oh in rows.lo..<rows.hi {
                    let rowPtr = src + (oh * g.stride.h + i * g.dilation.h - g.padding.h) * g.w + shift, row = o + oh * g.wOut
                    zeroFill(row, lo)
                    if g.stride.w == 1 { (row + lo).update(from: rowPtr + lo, count: hi - lo) } else {
                        for ow in lo..<hi { row[ow] = rowPtr[ow * g.stride.w] }
                    }
                    zeroFill(row + hi, right)
                }
            }
            zeroFill(o + b, hw - b)   // rows below the image
        }
    } } }
}

/// Zeroes `p[0..<n]`; one store for the common one-element border, no call for none.
@inline(__always) func zeroFill(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    if n == 1 { p[0] = 0 } else if n > 1 { p.update(repeating: 0, count: n) }
}

/// Adds `cols [Cin·kH·kW, nb·Hout·Wout]` back into samples `n0..<n0+nb` of `dx` (the adjoint of `im2col`).
/// For stride-1 "same" convolutions the out-of-image columns of `cols` are zeroed first (`cols` is scratch),
/// so that each (tap, sample) block is one contiguous shifted addition.
func col2im(_ cols: UnsafeMutablePointer<Float>, _ g: Conv2dGeometry, n0: Int, nb: Int, dx: UnsafeMutablePointer<Float>) {
    let hw = g.hOut * g.wOut, rowLen = nb * hw, plane = g.h * g.w
    for r in 0..<(g.cIn * g.kH * g.kW) {
        let c = r / (g.kH * g.kW), i = (r / g.kW) % g.kH, j = r % g.kW
        let (lo, hi, shift) = g.validColumns(j), rows = g.validRows(i)
        let src = cols + r * rowLen
        for s in 0..<nb {
            let d = dx + ((n0 + s) * g.cIn + c) * plane, o = src + s * hw
            if g.isShiftedPlane {
                for oh in rows.lo..<rows.hi {
                    let row = o + oh * g.w
                    for ow in 0..<lo { row[ow] = 0 }
                    for ow in hi..<g.w { row[ow] = 0 }
                }
                let offset = (i * g.dilation.h - g.padding.h) * g.w + shift
                let (a, b) = (rows.lo * g.w, rows.hi * g.w)
                let t0 = Swift.min(Swift.max(a, -offset), b), t1 = Swift.min(Swift.max(t0, plane - offset), b)
                if t1 > t0 { vectorAdd(d + t0 + offset, o + t0, d + t0 + offset, t1 - t0) }
            } else {
                for oh in rows.lo..<rows.hi {
                    let rowPtr = d + (oh * g.stride.h + i * g.dilation.h - g.padding.h) * g.w + shift, row = o + oh * g.wOut
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
    if parts == 1 { body(0, 0..<n); return }
    Parallel.run(parts) { p in body(p, (n * p / parts)..<(n * (p + 1) / parts)) }
}

/// 2-D convolution (`F.conv2d`): x `[N, Cin, H, W]`, weight `[Cout, Cin/groups, kH, kW]`, bias `[Cout]`
/// → `[N, Cout, Hout, Wout]`. Groups include depthwise (groups = Cin).
/// Stride-1 "same" convolutions run the flat direct kernels one sample per parallel item (DirectConv.swift) and,
/// under grad mode, record the output planes' `PlaneMoments` for a batch norm that follows; the others split the
/// batch across workers, each unfolding its samples chunk by chunk for single-threaded GEMMs per group,
/// out_g[Cout/g, n·HW] = W_g[Cout/g, K/g] · cols_g[K/g, n·HW] (see the file header).
/// - Throws: `TensorError` naming the shapes when input, weight, bias and geometry disagree.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, geometry: Conv2dGeometry = Conv2dGeometry()) throws -> Tensor {
    let g = try geometry.validated(input: x.shape, weight: weight.shape, bias: bias?.shape)
    var out = [Float](unsafeUninitializedCapacity: g.outputShape.reduce(1, *)) { _, n in n = g.outputShape.reduce(1, *) }
    // While grad mode is on (training), the flat path also records the output planes' moments for a batch norm that
    // follows (`PlaneMoments`), so that it need not read the output again.
    var moments = (g.usesFlatDirect || g.usesPhaseDirect) && GradMode.isEnabled ? PlaneMoments(planes: g.n * g.cOut) : nil
    // A batch norm's output not yet written (x.pending) is computed while the flat path packs it.
    let input = g.usesFlatDirect ? x.pending : nil
    (input?.source ?? x.data).withUnsafeBufferPointer { px in weight.data.withUnsafeBufferPointer { pw in out.withUnsafeMutableBufferPointer { po in
        if g.usesFlatDirect {
            moments.withPointers { m in
                convolveFlat(px.baseAddress!, pw.baseAddress!, g, bias: bias?.data, into: po.baseAddress!, moments: m, input: input)
            }
            return
        }
        if g.usesPhaseDirect {
            moments.withPointers { m in
                convolvePhases(px.baseAddress!, pw.baseAddress!, g, bias: bias?.data, into: po.baseAddress!, moments: m)
            }
            return
        }
        forEachBatchPart(g.n, work: g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n) { _, part in
            convolve(px.baseAddress!, pw.baseAddress!, g, bias: bias?.data, samples: part, into: po.baseAddress!)
        }
    } } }
    let result = Tensor.result(shape: g.outputShape, data: out, op: .conv2d(x, weight: weight, bias: bias, g),
                               inputs: [x, weight] + [bias].compactMap { $0 })
    result.planeMoments = moments
    return result
}

extension Conv2dGeometry {
    /// A 1x1 convolution with stride 1 and no padding: one sample's input `[Cin, H·W]` is already its column matrix.
    var isPointwise: Bool { kH == 1 && kW == 1 && stride == (1, 1) && padding == (0, 0) }
    /// Stride 1 with output planes as large as the input planes ("same" padding, `padding = dilation·(k−1)/2`).
    var isSame: Bool { stride == (1, 1) && hOut == h && wOut == w }
}

/// One worker's share of a forward convolution: samples `samples` of `x` into `out` (both laid out as `g` says),
/// chunk by chunk within `columnBudget`, adding `bias` when given.
func convolve(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ g: Conv2dGeometry, bias: [Float]?,
              samples part: Range<Int>, into out: UnsafeMutablePointer<Float>) {
    let hw = g.hOut * g.wOut, coutG = g.cOut / g.groups, kG = g.kPerGroup
    let chunk = g.isPointwise ? 1 : Swift.min(g.chunk, part.count)
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: g.isPointwise ? 0 : g.cIn * g.kH * g.kW * chunk * hw)
    let tmp = UnsafeMutablePointer<Float>.allocate(capacity: chunk > 1 ? g.cOut * chunk * hw : 0)
    defer { cols.deallocate(); tmp.deallocate() }
    for n0 in stride(from: part.lowerBound, to: part.upperBound, by: chunk) {
        let nb = Swift.min(chunk, part.upperBound - n0), colsN = nb * hw
        let b: UnsafePointer<Float>
        if g.isPointwise { b = x + n0 * g.cIn * hw } else { im2col(x, g, n0: n0, nb: nb, cols: cols); b = UnsafePointer(cols) }
        if nb == 1 {   // one sample: the GEMM writes its [Cout, HW] output in place
            let dst = out + n0 * g.cOut * hw
            for grp in 0..<g.groups {
                sgemm(m: coutG, n: hw, k: kG, a: w + grp * coutG * kG, lda: kG,
                      b: b + grp * kG * hw, ldb: hw, c: dst + grp * coutG * hw, ldc: hw)
            }
            if let bias { for co in 0..<g.cOut where bias[co] != 0 {
                let v = bias[co], row = dst + co * hw
                for p in 0..<hw { row[p] += v }
            } }
            continue
        }
        for grp in 0..<g.groups {
            sgemm(m: coutG, n: colsN, k: kG, a: w + grp * coutG * kG, lda: kG,
                  b: b + grp * kG * colsN, ldb: colsN, c: tmp + grp * coutG * colsN, ldc: colsN)
        }
        // [Cout, nb, HW] → [nb, Cout, HW], adding the bias.
        for s in 0..<nb {
            for co in 0..<g.cOut {
                let v = bias?[co] ?? 0
                let src = tmp + co * colsN + s * hw, dst = out + ((n0 + s) * g.cOut + co) * hw
                if v == 0 { dst.update(from: src, count: hw) } else { for p in 0..<hw { dst[p] = src[p] + v } }
            }
        }
    }
}

/// Gradients of conv2d's inputs [x, weight, bias?] from dy `[N, Cout, Hout, Wout]`. When `existing` holds a gradient
/// x has already received (taken from it, left nil), dX is added to it: the flat path adds while it writes dX
/// (existing + dX, the engine's own order, so bit for bit the same as adding after), saving a pass over x's size.
/// A deferred dY (a batch norm's dX, `DeferredBatchNormGradient`) is packed straight into the flat path's padded planes.
func conv2dBackward(_ x: Tensor, weight: Tensor, hasBias: Bool, geometry g: Conv2dGeometry, grad gradient: Gradient,
                    adding existing: inout [Float]?) -> [[Float]?] {
    var deferredDY: DeferredBatchNormGradient? = nil
    if case let .deferred(d) = gradient, !hasBias, g.usesFlatDirect, x.requiresGrad || weight.requiresGrad { deferredDY = d }
    let dy = deferredDY == nil ? gradient.materialized : []
    let hw = g.hOut * g.wOut, coutG = g.cOut / g.groups, kG = g.kPerGroup
    var dB: [Float]? = nil
    if hasBias {
        var d = [Float](repeating: 0, count: g.cOut)
        dy.withUnsafeBufferPointer { pdy in
            for s in 0..<g.n { for co in 0..<g.cOut { d[co] += vectorSum(pdy.baseAddress! + (s * g.cOut + co) * hw, hw) } }
        }
        dB = d
    }
    let needX = x.requiresGrad, needW = weight.requiresGrad
    if !needX && !needW { return hasBias ? [nil, nil, dB] : [nil, nil] }
    var earlier: [Float]? = nil   // the gradient x already has, now owned here alone
    if needX, existing?.count == x.count { earlier = existing; existing = nil }
    // A stride-1 "same" convolution's dX is itself one: dX = conv(dY, W̃) with the same padding and dilation and
    // W̃[grp·CinG + ci, co, i, j] = W[grp·CoutG + co, ci, kH−1−i, kW−1−j]. Its GEMMs have the large inner size
    // CoutG·kH·kW and write dX in place (no col2im scatter, no zero-filling), and the same columns of dY give
    // dW̃ᵀ[grp][(co, i, j), ci] = Σ_p cols_dY[(co, i, j), p]·x[ci, p] = dW[co, ci, kH−1−i, kW−1−j], so x is not unfolded
    // again. (This orientation, with x as OpenBLAS's second operand, packs the columns ~2x faster than dW̃ = X·colsᵀ.)
    // The flat direct kernels (DirectConv.swift) take the same W̃ and write dW in PyTorch's layout.
    let flat = g.usesFlatDirect, same = g.isSame
    var ga = g
    ga.cIn = g.cOut; ga.cOut = g.cIn
    let cinG = g.cIn / g.groups, taps = g.kH * g.kW
    var wT = [Float](unsafeUninitializedCapacity: same ? weight.count : 0) { _, n in n = same ? weight.count : 0 }
    if same {
        for grp in 0..<g.groups { for co in 0..<coutG { for ci in 0..<cinG { for t in 0..<taps {
            wT[((grp * cinG + ci) * coutG + co) * taps + t] = weight.data[((grp * coutG + co) * cinG + ci) * taps + taps - 1 - t]
        } } } }
    }
    if flat || g.usesPhaseDirect {   // the direct kernels write dX as they unpack it, or add it to `earlier`
        let accumulate = earlier != nil
        var dX = earlier ?? [Float](unsafeUninitializedCapacity: needX ? x.count : 0) { _, n in n = needX ? x.count : 0 }   // every element written
        earlier = nil
        var dW = [Float](unsafeUninitializedCapacity: needW ? weight.count : 0) { _, n in n = needW ? weight.count : 0 }
        let input = flat ? x.pending : nil
        (input?.source ?? x.data).withUnsafeBufferPointer { px in dy.withUnsafeBufferPointer { pdy in
        dX.withUnsafeMutableBufferPointer { pdx in dW.withUnsafeMutableBufferPointer { pdw in
            let pdX = needX ? pdx.baseAddress! : nil, pdW = needW ? pdw.baseAddress! : nil
            if flat {
                wT.withUnsafeBufferPointer { pwT in
                    backwardFlat(x: px.baseAddress!, input: input, wT: pwT.baseAddress!, dy: pdy.baseAddress, deferredDY: deferredDY, g,
                                 dX: pdX, accumulateDX: accumulate, dW: pdW)
                }
            } else {
                weight.data.withUnsafeBufferPointer { pw in
                    backwardPhases(x: px.baseAddress!, w: pw.baseAddress!, dy: pdy.baseAddress!, g, dX: pdX, accumulateDX: accumulate, dW: pdW)
                }
            }
        } } } }
        return hasBias ? [needX ? dX : nil, needW ? dW : nil, dB] : [needX ? dX : nil, needW ? dW : nil]
    }
    var dX = [Float](unsafeUninitializedCapacity: needX ? x.count : 0) { _, n in n = needX ? x.count : 0 }   // every element written
    let workers = batchPartCount(g.n, work: 2 * g.cOut * kG * hw * g.n)   // dW partial sums, one per part
    var dWParts = [Float](repeating: 0, count: needW ? workers * weight.count : 0)
    x.data.withUnsafeBufferPointer { px in weight.data.withUnsafeBufferPointer { pw in dy.withUnsafeBufferPointer { pdy in
    dX.withUnsafeMutableBufferPointer { pdx in dWParts.withUnsafeMutableBufferPointer { pdw in wT.withUnsafeBufferPointer { pwT in
        forEachBatchPart(g.n, work: 2 * g.cOut * kG * hw * g.n) { worker, part in
            if same {
                backwardSame(x: px.baseAddress!, wT: pwT.baseAddress!, dy: pdy.baseAddress!, ga, samples: part,
                             dX: needX ? pdx.baseAddress! : nil, dWT: needW ? pdw.baseAddress! + worker * weight.count : nil)
                return
            }
            let chunk = Swift.min(g.chunk, part.count)
            let cols = UnsafeMutablePointer<Float>.allocate(capacity: g.cIn * g.kH * g.kW * chunk * hw)
            let dyT = UnsafeMutablePointer<Float>.allocate(capacity: chunk > 1 ? g.cOut * chunk * hw : 0)
            defer { cols.deallocate(); dyT.deallocate() }
            let dW = needW ? pdw.baseAddress! + worker * weight.count : nil
            for n0 in stride(from: part.lowerBound, to: part.upperBound, by: chunk) {
                let nb = Swift.min(chunk, part.upperBound - n0), colsN = nb * hw
                // dY of the chunk as [Cout, nb·HW]: one sample's [Cout, HW] is already that layout.
                let dY: UnsafePointer<Float>
                if nb == 1 {
                    dY = pdy.baseAddress! + n0 * g.cOut * hw
                } else {
                    for s in 0..<nb { for co in 0..<g.cOut {
                        (dyT + co * colsN + s * hw).update(from: pdy.baseAddress! + ((n0 + s) * g.cOut + co) * hw, count: hw)
                    } }
                    dY = UnsafePointer(dyT)
                }
                if let dW {
                    im2col(px.baseAddress!, g, n0: n0, nb: nb, cols: cols)
                    for grp in 0..<g.groups {   // dW_g[CoutG, Kg] += dY_g[CoutG, cols] · cols_gᵀ
                        sgemm(transB: true, m: coutG, n: kG, k: colsN, a: dY + grp * coutG * colsN, lda: colsN,
                              b: cols + grp * kG * colsN, ldb: colsN, beta: 1, c: dW + grp * coutG * kG, ldc: kG)
                    }
                }
                if needX {
                    for grp in 0..<g.groups {   // dCols_g[Kg, cols] = W_gᵀ · dY_g
                        sgemm(transA: true, m: kG, n: colsN, k: coutG, a: pw.baseAddress! + grp * coutG * kG, lda: kG,
                              b: dY + grp * coutG * colsN, ldb: colsN, c: cols + grp * kG * colsN, ldc: colsN)
                    }
                    (pdx.baseAddress! + n0 * g.cIn * g.h * g.w).update(repeating: 0, count: nb * g.cIn * g.h * g.w)
                    col2im(cols, g, n0: n0, nb: nb, dx: pdx.baseAddress!)
                }
            }
        }
    } } } } } }
    var dW: [Float]? = nil
    if needW {
        var sum = Array(dWParts[0..<weight.count])
        sum.withUnsafeMutableBufferPointer { s in dWParts.withUnsafeBufferPointer { parts in
            for w in 1..<workers { vectorAdd(s.baseAddress!, parts.baseAddress! + w * weight.count, s.baseAddress!, weight.count) }
        } }
        if same {
            var d = sum
            for grp in 0..<g.groups { for co in 0..<coutG { for ci in 0..<cinG { for t in 0..<taps {
                d[((grp * coutG + co) * cinG + ci) * taps + taps - 1 - t] = sum[((grp * coutG + co) * taps + t) * cinG + ci]
            } } } }
            sum = d
        }
        dW = sum
    }
    if earlier != nil {   // earlier + dX, as the engine would add them (in place: earlier is owned here alone)
        addInPlace(&earlier!, dX)
        dX = earlier!
    }
    return hasBias ? [needX ? dX : nil, dW, dB] : [needX ? dX : nil, dW]
}

/// One worker's share of the backward pass of a stride-1 "same" convolution `g`, given `ga` (its adjoint: channels
/// swapped), the flipped, per-group transposed weight `wT` `[Cin, CoutG, kH, kW]` and `dy` `[N, Cout, H, W]`:
/// for samples `part`, writes dX `[N, Cin, H, W]` (when non-nil) and adds dW̃ᵀ `[groups, CoutG·kH·kW, CinG]` into `dWT`.
func backwardSame(x: UnsafePointer<Float>, wT: UnsafePointer<Float>, dy: UnsafePointer<Float>, _ ga: Conv2dGeometry,
                  samples part: Range<Int>, dX: UnsafeMutablePointer<Float>?, dWT: UnsafeMutablePointer<Float>?) {
    let hw = ga.h * ga.w, cinG = ga.cOut / ga.groups, kG = ga.kPerGroup   // kG = CoutG·kH·kW
    let chunk = ga.isPointwise ? 1 : Swift.min(ga.chunk, part.count)
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: ga.isPointwise ? 0 : ga.cIn * ga.kH * ga.kW * chunk * hw)
    let tmp = UnsafeMutablePointer<Float>.allocate(capacity: chunk > 1 ? ga.cOut * chunk * hw : 0)
    defer { cols.deallocate(); tmp.deallocate() }
    for n0 in stride(from: part.lowerBound, to: part.upperBound, by: chunk) {
        let nb = Swift.min(chunk, part.upperBound - n0), colsN = nb * hw
        let b: UnsafePointer<Float>
        if ga.isPointwise { b = dy + n0 * ga.cIn * hw } else { im2col(dy, ga, n0: n0, nb: nb, cols: cols); b = UnsafePointer(cols) }
        if let dWT {   // dW̃_gᵀ[kG, CinG] += cols_g · X_g[CinG, nb·HW]ᵀ
            let xs: UnsafePointer<Float>
            if nb == 1 { xs = x + n0 * ga.cOut * hw } else {
                for s in 0..<nb { for c in 0..<ga.cOut {
                    (tmp + c * colsN + s * hw).update(from: x + ((n0 + s) * ga.cOut + c) * hw, count: hw)
                } }
                xs = UnsafePointer(tmp)
            }
            for grp in 0..<ga.groups {
                sgemm(transB: true, m: kG, n: cinG, k: colsN, a: b + grp * kG * colsN, lda: colsN,
                      b: xs + grp * cinG * colsN, ldb: colsN, beta: 1, c: dWT + grp * kG * cinG, ldc: cinG)
            }
        }
        guard let dX else { continue }
        let out = nb == 1 ? dX + n0 * ga.cOut * hw : tmp   // dX_g[CinG, nb·HW] = W̃_g · cols_g
        for grp in 0..<ga.groups {
            sgemm(m: cinG, n: colsN, k: kG, a: wT + grp * cinG * kG, lda: kG,
                  b: b + grp * kG * colsN, ldb: colsN, c: out + grp * cinG * colsN, ldc: colsN)
        }
        if nb > 1 {   // [Cin, nb, HW] → [nb, Cin, HW]
            for s in 0..<nb { for c in 0..<ga.cOut {
                (dX + ((n0 + s) * ga.cOut + c) * hw).update(from: tmp + c * colsN + s * hw, count: hw)
            } }
        }
    }
}

/// Direct (seven-loop) convolution in Double, the oracle the im2col path is tested against.
/// Same shapes and geometry as `conv2d`; no autograd.
/// - Throws: `TensorError` as `conv2d`.
public func naiveConv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, geometry: Conv2dGeometry = Conv2dGeometry()) throws -> Tensor {
    let g = try geometry.validated(input: x.shape, weight: weight.shape, bias: bias?.shape)
    let cinG = g.cIn / g.groups, coutG = g.cOut / g.groups
    var out = [Float](repeating: 0, count: g.outputShape.reduce(1, *))
    for s in 0..<g.n { for co in 0..<g.cOut { for oh in 0..<g.hOut { for ow in 0..<g.wOut {
        var acc = Double(bias?.data[co] ?? 0)
        let grp = co / coutG
        for ci in 0..<cinG { for i in 0..<g.kH { for j in 0..<g.kW {
            let ih = oh * g.stride.h - g.padding.h + i * g.dilation.h, iw = ow * g.stride.w - g.padding.w + j * g.dilation.w
            guard ih >= 0, ih < g.h, iw >= 0, iw < g.w else { continue }
            acc += Double(x.data[((s * g.cIn + grp * cinG + ci) * g.h + ih) * g.w + iw])
                 * Double(weight.data[((co * cinG + ci) * g.kH + i) * g.kW + j])
        } } }
        out[((s * g.cOut + co) * g.hOut + oh) * g.wOut + ow] = Float(acc)
    } } } }
    return Tensor(shape: g.outputShape, data: out)
}
