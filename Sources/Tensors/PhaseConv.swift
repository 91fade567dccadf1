import CKernels

// Stride-2 convolutions on the flat kernels (DirectConv.swift), by splitting the input into its four phases
// (`ConvolutionPath.phases`).
//
// A stride-2 convolution whose output is half the input (H, W even, Hout = H/2: kernel k = 2·pad + 1 or 2·pad + 2, as
// ResNet's 3x3/pad 1 and 1x1/pad 0 downsampling convolutions and the 7x7/pad 3 ImageNet stem) reads input row
// r = 2·oy + i − padH for tap row i. Writing i − padH = 2·d_i + a_i (a_i ∈ {0, 1}, d_i = ⌊(i − padH)/2⌋), that is row
// oy + d_i of the phase plane P_a[m] = x[2m + a], and likewise for columns: tap (i, j) reads phase q = 2·a_i + b_j at
// (oy + d_i, ox + e_j). Each phase plane, zero-padded by T = ⌈padH/2⌉ rows on top and max(0, max d) below (columns
// likewise, width Wq), is a stride-1 problem: output (oy, ox) sits at flat position oy·Wq + ox and tap (i, j) reads
// its phase at that position plus the constant (d_i + T)·Wq + (e_j + L). So one flat kernel call sums the four phases
// with their own taps (`sskd_conv_flat_forward_segments`): 9 taps per input channel for a 3x3 kernel, as im2col, with
// no column matrix and no GEMM packing.
//
// Backward, per phase q, with dY zero-padded by max(0, max d) rows on top and T below (columns likewise, which makes
// its width Wq too):
//   dX_q[m, n] = Σ_{taps of q} Σ_co W[co, ci, i, j] · dY[co, m − d_i, n − e_j]   (the forward kernel on padded dY)
//   dW[co, ci, i, j] = Σ_s Σ_p dY_flat[s, co, p] · P_q[s, ci, p + (d_i + T)·Wq + e_j + L]   (the weight-gradient
// kernel) where, as for stride 1, dY_flat is the padded dY read from its first interior element (its zero padding
// covers the dropped positions), and dX is the four phases' outputs interleaved (`sskd_unpack_phases`).

/// The phase-plane geometry of a stride-2 convolution (see the file header): plane sizes, each phase's taps and
/// offsets, and the padded dY planes of the backward pass.
struct PhasePlanes {
    let g: Conv2dGeometry
    /// Phase plane padding (top T, left L) and width Wq; floats per phase plane, including zero slack for over-reads.
    let top: Int, left: Int, wq: Int, stride: Int
    /// Output positions per plane (Hout·Wq) and the kernels' output row length (rounded up to 16).
    let npos: Int, ldo: Int
    /// For phase q = 2a + b: its taps as indices i·kW + j into the kernel, and their offsets in the phase plane.
    let taps: [[Int]], offsets: [[Int]]
    /// Bit q set when phase q has taps.
    let used: Int32
    /// Phase q's taps per kernel row (its taps are listed row by row): the weight-gradient kernel's `kw`.
    let rowTaps: [Int]
    /// dY's padded planes: top and left padding, floats per plane, and per phase the dX kernel's tap offsets.
    let dyTop: Int, dyLeft: Int, dyStride: Int, dxOffsets: [[Int]]
    /// The dX kernel's output positions per plane ((H/2)·Wq) and row length.
    let dxNpos: Int, dxLdo: Int

    init(_ g: Conv2dGeometry) {
        self.g = g
        let d = (0..<g.kH).map { ($0 - g.padding.h) >> 1 }
        let a = (0..<g.kH).map { ($0 - g.padding.h) & 1 }
        let e = (0..<g.kW).map { ($0 - g.padding.w) >> 1 }
        let b = (0..<g.kW).map { ($0 - g.padding.w) & 1 }
        top = -d.min()!
        left = -e.min()!
        let bottom = Swift.max(0, d.max()!)
        let right = Swift.max(0, e.max()!)
        wq = left + g.w / 2 + right
        let hq = top + g.h / 2 + bottom
        stride = (hq + 1) * wq + 16  // one more row and 16 floats: what the kernels read past the plane is zero
        npos = g.hOut * wq
        ldo = (npos + 15) & ~15
        var taps = [[Int]](repeating: [], count: 4)
        var offsets = taps
        var dxOffsets = taps
        dyTop = bottom
        dyLeft = right
        for i in 0..<g.kH {
            for j in 0..<g.kW {
                let q = 2 * a[i] + b[j]
                taps[q].append(i * g.kW + j)
                offsets[q].append((d[i] + top) * wq + e[j] + left)
                dxOffsets[q].append((dyTop - d[i]) * wq + dyLeft - e[j])
            }
        }
        self.taps = taps
        self.offsets = offsets
        self.dxOffsets = dxOffsets
        used = Int32((0..<4).reduce(0) { $0 | (taps[$1].isEmpty ? 0 : 1 << $1) })
        rowTaps = (0..<4).map { q in b.filter { $0 == q & 1 }.count }
        dyStride = (dyTop + g.hOut + top + 1) * wq + 16
        dxNpos = g.h / 2 * wq
        dxLdo = (dxNpos + 15) & ~15
    }

    /// Each phase's weights from `w` `[Cout, Cin, kH, kW]`: `[Cout, Cin, taps of q]` for the forward kernel, or
    /// `transposed`, `[Cin, Cout, taps of q]` for the dX kernel.
    func phaseWeights(_ w: UnsafePointer<Float>, transposed: Bool) -> [[Float]] {
        let k = g.kH * g.kW
        return taps.map { t in
            var out = [Float](repeating: 0, count: g.cOut * g.cIn * t.count)
            for co in 0..<g.cOut {
                for ci in 0..<g.cIn {
                    for (n, tap) in t.enumerated() {
                        out[((transposed ? ci * g.cOut + co : co * g.cIn + ci)) * t.count + n] =
                            w[(co * g.cIn + ci) * k + tap]
                    }
                }
            }
            return out
        }
    }

    /// Packs sample `x` `[Cin, H, W]` into the phase planes of the used phases at `dst` (phase q of channel c at
    /// `(q·Cin + c)·stride`).
    func pack(_ x: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
        sskd_pack_phases(x, Int32(g.cIn), Int32(g.h), Int32(g.w), used, dst, stride, wq, Int32(top), Int32(left))
    }
}

/// Forward stride-2 convolution on phase planes: x `[N, Cin, H, W]`, weight `[Cout, Cin, kH, kW]` →
/// `[N, Cout, H/2, W/2]`, adding `bias` when given, one sample per parallel item; with `recordsMoments` it also records
/// each output plane's `PlaneMoments`, as `convolveFlat`.
func convolvePhases(
    _ x: [Float], _ w: [Float], _ g: Conv2dGeometry, bias: [Float]?, recordsMoments: Bool
) -> ConvolutionOutput {
    let f = PhasePlanes(g)
    let threads = convolutionThreads(work: g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n)
    let weights = w.withUnsafeBufferPointer { f.phaseWeights($0.baseAddress!, transposed: false) }
    let phases = (0..<4).filter { !f.taps[$0].isEmpty }
    let xs = ScratchBlocks(threads, count: 4 * g.cIn * f.stride)
    let tmp = ScratchBlocks(threads, count: g.cOut * f.ldo)
    defer {
        xs.deallocate()
        tmp.deallocate()
    }
    let cins = [Int32](repeating: Int32(g.cIn), count: phases.count)
    let tapCounts = phases.map { Int32(f.taps[$0].count) }
    // Each thread's phase planes, for the kernel's table of segments.
    let planes = (0..<threads).map { t in phases.map { UnsafePointer<Float>?(xs[t] + $0 * g.cIn * f.stride) } }
    var moments = recordsMoments ? PlaneMoments(planes: g.n * g.cOut) : nil
    let offs = PointerTable(phases.map { f.offsets[$0] })
    let ws = PointerTable(phases.map { weights[$0] })
    defer {
        offs.deallocate()
        ws.deallocate()
    }
    let count = g.outputShape.reduce(1, *)
    let out = [Float](unsafeUninitializedCapacity: count) { po, written in
        x.withUnsafeBufferPointer { px in
            moments.withPointers { mp in
                Parallel.run(g.n, threads: threads) { s, t in
                    f.pack(px.baseAddress! + s * g.cIn * g.h * g.w, into: xs[t])
                    sskd_conv_flat_forward_segments(
                        Int32(phases.count), planes[t], f.stride, cins, offs.table, tapCounts, ws.table,
                        Int32(g.cOut), tmp[t], f.ldo, f.npos)
                    unpackOutputRows(
                        tmp[t], ldo: f.ldo, wp: f.wq, channels: g.cOut, h: g.hOut, w: g.wOut, bias: bias,
                        into: po.baseAddress! + s * g.cOut * g.hOut * g.wOut,
                        moments: mp.map { $0.advanced(by: s * g.cOut) })
                }
            }
        }
        written = count
    }
    return ConvolutionOutput(values: out, moments: moments)
}

/// Backward pass of a phase-split stride-2 convolution over the whole batch, as `backwardFlat` (chunks, slots of
/// chunks with their own dW partial sums added in slot order): dX `[N, Cin, H, W]` when `needX` (added to `earlier`
/// when given: taken from it, left nil) and dW `[Cout, Cin, kH, kW]` when `needW`, from x `[N, Cin, H, W]`, the weight
/// and dy `[N, Cout, H/2, W/2]` (written, or a batch norm's dX computed as it is packed).
func backwardPhases(
    _ x: [Float], weight: [Float], dy: ConvolutionOutputGradient, _ g: Conv2dGeometry, needX: Bool, needW: Bool,
    adding earlier: inout [Float]?
) -> (dX: [Float]?, dW: [Float]?) {
    let f = PhasePlanes(g)
    let wCount = g.cOut * g.cIn * g.kH * g.kW
    let slots = BackwardSlots(g, units: g.n, planeStride: f.stride, weights: wCount, needW: needW)
    let (threads, chunk) = (slots.threads, slots.chunk)
    let phases = (0..<4).filter { !f.taps[$0].isEmpty }
    let interior = f.dyTop * f.wq + f.dyLeft
    let dyPlanes = AlignedPlanes(interior: interior, stride: f.dyStride)
    let dyLayout = PaddedLayout(stride: dyPlanes.stride, wp: f.wq, ph: f.dyTop, pw: f.dyLeft)
    let xs = ScratchBlocks(needW ? threads : 0, count: chunk * 4 * g.cIn * f.stride)
    let dyps = ScratchBlocks(threads, count: chunk * g.cOut * dyPlanes.stride + 16)
    let tmps = ScratchBlocks(needX ? threads : 0, count: 4 * g.cIn * f.dxLdo)
    // Each thread's dX phase outputs (nil for a phase with no taps), for sskd_unpack_phases.
    let outputs = (0..<threads).map { t in
        (0..<4).map { f.taps[$0].isEmpty || !needX ? nil : UnsafePointer<Float>?(tmps[t] + $0 * g.cIn * f.dxLdo) }
    }
    let partials = slots.partials  // phase-major: [q][Cout, Cin, taps of q]
    let offs = PointerTable(f.offsets)
    let dxOffs = PointerTable(f.dxOffsets)
    let wTs = PointerTable(weight.withUnsafeBufferPointer { f.phaseWeights($0.baseAddress!, transposed: true) })
    defer {
        xs.deallocate()
        dyps.deallocate()
        tmps.deallocate()
        partials.deallocate()
        offs.deallocate()
        dxOffs.deallocate()
        wTs.deallocate()
    }
    var phaseBase = [Int](repeating: 0, count: 4)
    for q in 1..<4 { phaseBase[q] = phaseBase[q - 1] + g.cOut * g.cIn * f.taps[q - 1].count }
    let dyStride = dyPlanes.stride  // dY's padded planes as in backwardFlat
    let hw = g.h * g.w
    let accumulate = earlier != nil  // adding to the gradient taken from earlier
    var dX = gradientBuffer(taking: &earlier, count: needX ? g.n * g.cIn * hw : 0)
    dX.withUnsafeMutableBufferPointer { pdx in
        x.withUnsafeBufferPointer { px in
            slots.run { slot, t, n0, nb, first in
                let dyp = dyps[t] + dyPlanes.lead
                dy.pack(samples: n0..<n0 + nb, channels: g.cOut, h: g.hOut, w: g.wOut, into: dyp, dyLayout)
                if needW {
                    let xp = xs[t]
                    for s in 0..<nb {
                        f.pack(px.baseAddress! + (n0 + s) * g.cIn * hw, into: xp + s * 4 * g.cIn * f.stride)
                    }
                    for q in phases {  // the slot's first chunk stores its sums, the others add to them
                        sskd_conv_flat_weight_grad(
                            dyp + interior, dyStride, g.cOut * dyStride, Int32(g.cOut),
                            xp + q * g.cIn * f.stride, f.stride, 4 * g.cIn * f.stride, Int32(g.cIn),
                            offs.table[q], Int32(f.taps[q].count), Int32(f.rowTaps[q]), Int32(nb), f.npos,
                            partials[slot] + phaseBase[q], first ? 0 : 1)
                    }
                }
                guard needX else { return }
                for s in 0..<nb {
                    for q in phases {
                        sskd_conv_flat_forward(
                            dyp + s * g.cOut * dyStride, dyStride, Int32(g.cOut), dxOffs.table[q],
                            Int32(f.taps[q].count), wTs.table[q], Int32(g.cIn), tmps[t] + q * g.cIn * f.dxLdo,
                            f.dxLdo, f.dxNpos)
                    }
                    sskd_unpack_phases(
                        outputs[t], f.dxLdo, f.wq, Int32(g.cIn), Int32(g.h / 2), Int32(g.w / 2),
                        accumulate ? 1 : 0, pdx.baseAddress! + (n0 + s) * g.cIn * hw)
                }
            }
        }
    }
    guard needW else { return (needX ? dX : nil, nil) }
    guard slots.count > 0 else { return (needX ? dX : nil, [Float](repeating: 0, count: wCount)) }
    // Where each dW element [co, ci, i, j] sits in the phase-major partial sums.
    var source = [Int](repeating: 0, count: wCount)
    for q in phases {
        for (n, tap) in f.taps[q].enumerated() {
            for co in 0..<g.cOut {
                for ci in 0..<g.cIn {
                    source[(co * g.cIn + ci) * g.kH * g.kW + tap] =
                        phaseBase[q] + (co * g.cIn + ci) * f.taps[q].count + n
                }
            }
        }
    }
    let dW = [Float](unsafeUninitializedCapacity: wCount) { dW, written in
        Parallel.forEach(wCount, costPerItem: slots.count) { range in  // the partial sums in slot order
            for k in range {
                var v = partials[0][source[k]]
                for slot in 1..<slots.count { v += partials[slot][source[k]] }
                dW[k] = v
            }
        }
        written = wCount
    }
    return (needX ? dX : nil, dW)
}

/// A C array of pointers to copies of each of `arrays` (an empty array's pointer points at no elements), for the
/// kernels' per-phase tables; `deallocate()` frees it.
struct PointerTable<T> {
    let table: UnsafeMutablePointer<UnsafePointer<T>?>
    private let copies: [(UnsafeMutablePointer<T>, Int)]

    init(_ arrays: [[T]]) {
        copies = arrays.map { a in
            let p = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(1, a.count))
            p.initialize(from: a, count: a.count)
            return (p, a.count)
        }
        table = .allocate(capacity: Swift.max(1, arrays.count))
        for (k, c) in copies.enumerated() { table[k] = UnsafePointer(c.0) }
    }

    func deallocate() {
        for (p, n) in copies {
            p.deinitialize(count: n)
            p.deallocate()
        }
        table.deallocate()
    }
}
