import CKernels

// The direct stride-1 convolution on zero-padded "flat" planes (`ConvolutionPath.flat`; measurements in
// docs/performance.md): stride-1 "same" convolutions (ResNet's 3x3 convolutions with padding 1), so dY pads like x; a
// 1x1 convolution without padding stays one GEMM on the gemm path.
//
// Each sample's planes are copied once into zero-padded planes of Hp × Wp = (H + 2·padH) × (W + 2·padW) floats,
// laid out row after row with (kW − 1)·dilW + 16 zero floats after each plane. In that layout the output (oh, ow)
// is flat position p = oh·Wp + ow and kernel tap (i, j) reads the input at p + i·dilH·Wp + j·dilW: every tap is one
// shifted vector load, so the C kernels (Sources/CKernels) need neither im2col nor GEMM packing. The Wp − Wout extra
// positions per row are computed and dropped when the rows are copied out.
//
// Backward, with dY padded the same way (a "same" convolution pads dY by dil·(k−1) − pad = pad):
//   dX = conv(dY, W̃), W̃[ci, co, i, j] = W[co, ci, kH−1−i, kW−1−j]   (the forward kernel again)
//   dW[co, ci, i, j] = Σ_s Σ_p dY_flat[s, co, p] · X_flat[s, ci, p + off(i, j)]
// where dY_flat is the padded dY itself read from (padH, padW) on: dY(oh, ow) then sits at flat position oh·Wp + ow and
// every other position falls on a zero of the padding, so the weight-gradient kernel sums over all positions and one
// packing of dY serves both kernels.

/// The padded-plane geometry of a stride-1 convolution: plane sizes, tap offsets and the output positions.
struct FlatPlanes {
    let g: Conv2dGeometry
    /// Padded plane width and height: Wp = W + 2·padW, Hp = H + 2·padH.
    let wp: Int, hp: Int
    /// Floats from one padded plane to the next: Hp·Wp plus (kW − 1)·dilW + 16 zero floats that over-reading
    /// vector loads touch.
    let stride: Int
    /// Output positions per plane, Hout·Wp (the last Wp − Wout of each row are dropped), and the row length of the
    /// kernels' output buffers, that count rounded up to 16.
    let npos: Int, ldo: Int
    /// Tap offsets i·dilH·Wp + j·dilW in floats, taps in PyTorch's (i, j) order.
    let offsets: [Int]

    init(_ g: Conv2dGeometry) {
        self.g = g
        wp = g.w + 2 * g.padding.w
        hp = g.h + 2 * g.padding.h
        // The kernels read up to position npos16 − 1 + (the last tap's offset) = Hp·Wp + (kW − 1)·dilW + 14 of a
        // plane (npos16 ≤ Hout·Wp + 15 and Hout + (kH − 1)·dilH = Hp), so each plane gets that much zero slack.
        stride = hp * wp + (g.kW - 1) * g.dilation.w + 16
        npos = g.hOut * wp
        ldo = (npos + 15) & ~15
        var off: [Int] = []
        for i in 0..<g.kH { for j in 0..<g.kW { off.append(i * g.dilation.h * wp + j * g.dilation.w) } }
        offsets = off
    }

    /// The layout x's padded planes are packed in.
    var layout: PaddedLayout { PaddedLayout(stride: stride, wp: wp, ph: g.padding.h, pw: g.padding.w) }

    /// Copies the valid `[Hout, Wout]` part of `channels` kernel output rows (`ldo` floats apart) into `dst`,
    /// adding `bias[c]` when given, or with `accumulate` adds them to what `dst` holds (dst + rows; no bias), and,
    /// when `moments` is given, writes each plane's `PlaneMoments` (rounded mean, Σ (value − mean),
    /// Σ (value − mean)²) at index c of its three arrays.
    func unpack(
        _ src: UnsafePointer<Float>, channels: Int, bias: [Float]?, accumulate: Bool = false,
        into dst: UnsafeMutablePointer<Float>, moments: PlaneMoments.Pointers? = nil
    ) {
        unpackOutputRows(
            src, ldo: ldo, wp: wp, channels: channels, h: g.hOut, w: g.wOut, bias: bias, accumulate: accumulate,
            into: dst, moments: moments)
    }
}

/// Copies the first `w` of every `wp` floats of `h` rows of `channels` kernel output rows (`ldo` floats apart) into
/// `dst` `[channels, h, w]`, adding `bias[c]` when given, or with `accumulate` adding them to what `dst` holds, and
/// recording each plane's `PlaneMoments` when `moments` is given (`sskd_unpack_rows`; the flat and phase paths).
func unpackOutputRows(
    _ src: UnsafePointer<Float>, ldo: Int, wp: Int, channels: Int, h: Int, w: Int, bias: [Float]?,
    accumulate: Bool = false, into dst: UnsafeMutablePointer<Float>, moments: PlaneMoments.Pointers?
) {
    let add: Int32 = accumulate ? 1 : 0
    if let bias {
        bias.withUnsafeBufferPointer { b in
            sskd_unpack_rows(
                src, ldo, wp, Int32(channels), Int32(h), Int32(w), b.baseAddress, add, dst,
                moments?.mean, moments?.residual, moments?.m2)
        }
    } else {
        sskd_unpack_rows(
            src, ldo, wp, Int32(channels), Int32(h), Int32(w), nil, add, dst, moments?.mean, moments?.residual,
            moments?.m2)
    }
}

/// Where a backward pass puts its padded dY planes: each starts `lead` floats into a block of `stride` floats (a
/// multiple of 16, from a 64-byte aligned base), so that the weight-gradient kernel's dY loads, which begin `interior`
/// floats into a plane, are 64-byte aligned. `planeFloats` is a plane's own size.
struct AlignedPlanes {
    let lead: Int, stride: Int
    init(interior: Int, stride planeFloats: Int) {
        lead = (16 - interior % 16) % 16
        stride = (lead + planeFloats + 15) & ~15
    }
}

/// How many parallel items ("slots" of consecutive chunks, each with its own dW partial sum) a backward pass over
/// `items` chunks uses: one on one thread (no reduction), else up to 8 per thread for balance, but no more than 8 Mi
/// floats of partial sums of `weights` floats each unless that leaves fewer slots than threads.
func backwardSlots(items: Int, threads: Int, weights: Int) -> Int {
    threads == 1
        ? Swift.min(items, 1)
        : Swift.min(items, Swift.max(threads, Swift.min(8 * threads, (8 << 20) / Swift.max(1, weights))))
}

/// The batch of a direct backward pass (flat or phases) cut into chunks of samples and the chunks into consecutive
/// "slots", the parallel items; each slot sums its chunks' dW in order into its own partial sum (`partials`; the first
/// chunk stores, so partials are never cleared), and the partial sums are then added in slot order, so the result
/// does not depend on which thread ran which slot (a 512x512 3x3 layer: 3 slots, not 8).
struct BackwardSlots {
    let threads: Int, chunk: Int, items: Int, count: Int, samples: Int, weights: Int
    /// One partial sum of `weights` floats per slot (none when there is no dW).
    let partials: ScratchBlocks

    /// Slots for the backward pass of `g` with `weights` floats of dW, whose scratch planes are `planeStride` floats
    /// apart. Samples per chunk: the weight-gradient kernel rereads 2 input channels of the chunk for every block of
    /// 4 output channels, so keep those 2 · chunk planes near 8 KiB, leaving L1 to the 4 dY rows streaming past (a
    /// standalone run of the kernel on the ResNet stage shapes was fastest at 1, 2–4 and 8 samples for 32x32, 16x16
    /// and 8x8 planes; 1024 / stride gives 1, 3 and 8), and at least 4 chunks per thread.
    init(_ g: Conv2dGeometry, planeStride: Int, weights: Int, needW: Bool) {
        threads = convolutionThreads(work: 2 * g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n)
        chunk = Swift.max(1, Swift.min(1024 / planeStride, g.n / (4 * threads)))
        items = (g.n + chunk - 1) / chunk
        samples = g.n
        self.weights = weights
        count = backwardSlots(items: items, threads: threads, weights: weights)
        partials = ScratchBlocks(needW ? count : 0, count: weights)
    }

    /// Runs `body(slot, thread, n0, nb, first)` for every chunk of samples `n0..<n0 + nb`: the slots in parallel,
    /// each slot's chunks in order, `first` for a slot's first chunk.
    func run(_ body: (_ slot: Int, _ thread: Int, _ n0: Int, _ nb: Int, _ first: Bool) -> Void) {
        Parallel.run(count, threads: threads) { slot, t in
            let firstItem = items * slot / count
            for item in firstItem..<(items * (slot + 1) / count) {
                let n0 = item * chunk
                body(slot, t, n0, Swift.min(chunk, samples - n0), item == firstItem)
            }
        }
    }

    /// dW `[weights]`: the partial sums added in slot order, in parallel over the weights (zeros when there were
    /// no slots).
    func sum() -> [Float] {
        guard count > 0 else { return [Float](repeating: 0, count: weights) }
        return [Float](unsafeUninitializedCapacity: weights) { dW, written in
            let dW = dW.baseAddress!
            Parallel.forEach(weights, costPerItem: count) { range in
                let lo = range.lowerBound
                let n = range.count
                (dW + lo).update(from: partials[0] + lo, count: n)
                for slot in 1..<count { vectorAdd(dW + lo, partials[slot] + lo, dW + lo, n) }
            }
            written = weights
        }
    }
}

/// How many threads a convolution of `work` multiply-adds uses: 1 below 32 Ki (a parallel region would cost more
/// than it saves), else `Parallel.threads`.
func convolutionThreads(work: Int) -> Int { work < 32_768 ? 1 : Parallel.threads }

/// Uninitialised scratch in `blocks` blocks of `count` floats (one per thread, or per parallel item), each 64-byte
/// aligned (so that aligned rows never straddle cache lines). Debug builds (the tests) fill it with NaN, so that any
/// float a kernel reads but `pack` did not write turns the results into NaN instead of passing unnoticed.
struct ScratchBlocks {
    let base: UnsafeMutablePointer<Float>, count: Int
    init(_ blocks: Int, count: Int) {
        self.count = (count + 15) & ~15
        let n = Swift.max(1, blocks * self.count)
        base = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
        #if DEBUG
            base.initialize(repeating: .nan, count: n)
        #endif
    }
    subscript(block: Int) -> UnsafeMutablePointer<Float> { base + block * count }
    func deallocate() { base.deallocate() }
}

/// Forward flat direct convolution: x `[N, Cin, H, W]` (written, or a batch norm's output computed while packing) with
/// weight `w` `[Cout, Cin/groups, kH, kW]` → `[N, Cout, Hout, Wout]`, adding `bias` when given, one sample per
/// parallel item (each thread packs into its own scratch). Packing again in the backward pass costs less than keeping
/// the padded planes: measured, keeping them (an extra activation-sized write and read through memory) made the
/// resnet20 step slower. With `recordsMoments` it also records each output plane's `PlaneMoments` while the plane is
/// in cache.
func convolveFlat(
    _ x: ConvolutionInput, _ w: [Float], _ g: Conv2dGeometry, bias: [Float]?, recordsMoments: Bool
) -> ConvolutionOutput {
    let f = FlatPlanes(g)
    let (cinG, coutG, taps) = (g.cIn / g.groups, g.cOut / g.groups, g.kH * g.kW)
    let threads = convolutionThreads(work: g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n)
    let xs = ScratchBlocks(threads, count: g.cIn * f.stride)
    let tmp = ScratchBlocks(threads, count: g.cOut * f.ldo)
    defer {
        xs.deallocate()
        tmp.deallocate()
    }
    var moments = recordsMoments ? PlaneMoments(planes: g.n * g.cOut) : nil
    let count = g.outputShape.reduce(1, *)
    let out = [Float](unsafeUninitializedCapacity: count) { po, written in
        w.withUnsafeBufferPointer { pw in
            moments.withPointers { mp in
                Parallel.run(g.n, threads: threads) { s, t in
                    x.pack(sample: s, channels: g.cIn, h: g.h, w: g.w, into: xs[t], f.layout)
                    for grp in 0..<g.groups {
                        sskd_conv_flat_forward(
                            xs[t] + grp * cinG * f.stride, f.stride, Int32(cinG), f.offsets, Int32(taps),
                            pw.baseAddress! + grp * coutG * cinG * taps, Int32(coutG), tmp[t] + grp * coutG * f.ldo,
                            f.ldo, f.npos)
                    }
                    f.unpack(
                        tmp[t], channels: g.cOut, bias: bias, into: po.baseAddress! + s * g.cOut * g.hOut * g.wOut,
                        moments: mp.map { $0.advanced(by: s * g.cOut) })
                }
            }
        }
        written = count
    }
    return ConvolutionOutput(values: out, moments: moments)
}

/// Backward pass of a flat direct convolution `g` over the whole batch, from x `[N, Cin, H, W]` (written, or computed
/// as it is packed) and dY `[N, Cout, H, W]` (written, or a batch norm's dX computed as it is packed): dX
/// `[N, Cin, H, W]` when `needX`, by the forward kernel with the flipped, per-group transposed weight `wT`
/// `[Cin, CoutG, kH, kW]` (added to `earlier` when given: taken from it, left nil), and dW `[Cout, CinG, kH, kW]` when
/// `needW`. The batch is cut into chunks of samples and the chunks into slots (`BackwardSlots`), each with its own dW
/// partial sum added in slot order.
func backwardFlat(
    _ x: ConvolutionInput, wT: [Float], dy: ConvolutionOutputGradient, _ g: Conv2dGeometry, needX: Bool,
    needW: Bool, adding earlier: inout [Float]?
) -> (dX: [Float]?, dW: [Float]?) {
    let f = FlatPlanes(g)
    let (cinG, coutG, taps) = (g.cIn / g.groups, g.cOut / g.groups, g.kH * g.kW)
    let slots = BackwardSlots(g, planeStride: f.stride, weights: g.cOut * cinG * taps, needW: needW)
    let (threads, chunk) = (slots.threads, slots.chunk)
    let xs = ScratchBlocks(needW ? threads : 0, count: chunk * g.cIn * f.stride)
    // dY is packed once into padded planes that serve both kernels: the dX kernel reads them as its input, and the
    // weight-gradient kernel reads dY_flat at `interior` floats into each plane (output (oh, ow) sits at padded
    // (oh + padH, ow + padW), and the dropped positions land on zero padding); `AlignedPlanes` keeps its loads aligned.
    let interior = g.padding.h * f.wp + g.padding.w
    let dyPlanes = AlignedPlanes(interior: interior, stride: f.stride)
    let dyLayout = PaddedLayout(stride: dyPlanes.stride, wp: f.wp, ph: g.padding.h, pw: g.padding.w)
    let dyStride = dyPlanes.stride
    let dyps = ScratchBlocks(threads, count: chunk * g.cOut * dyStride + 16)  // + 16: the last plane's zeros run past
    let tmps = ScratchBlocks(needX ? threads : 0, count: g.cIn * f.ldo)
    defer {
        xs.deallocate()
        dyps.deallocate()
        tmps.deallocate()
        slots.partials.deallocate()
    }
    let hw = g.h * g.w
    let accumulate = earlier != nil  // adding to the gradient taken from earlier
    var dX = gradientBuffer(taking: &earlier, count: needX ? g.n * g.cIn * hw : 0)
    dX.withUnsafeMutableBufferPointer { pdx in
        wT.withUnsafeBufferPointer { pwT in
            slots.run { slot, t, n0, nb, first in
                let dyp = dyps[t] + dyPlanes.lead
                dy.pack(samples: n0..<n0 + nb, channels: g.cOut, h: g.h, w: g.w, into: dyp, dyLayout)
                if needW {
                    let xp = xs[t]
                    x.pack(samples: n0..<n0 + nb, channels: g.cIn, h: g.h, w: g.w, into: xp, f.layout)
                    for grp in 0..<g.groups {  // the slot's first chunk stores its sums, the others add to them
                        sskd_conv_flat_weight_grad(
                            dyp + grp * coutG * dyStride + interior, dyStride, g.cOut * dyStride,
                            Int32(coutG), xp + grp * cinG * f.stride, f.stride, g.cIn * f.stride, Int32(cinG),
                            f.offsets, Int32(taps), Int32(g.kW), Int32(nb), f.npos,
                            slots.partials[slot] + grp * coutG * cinG * taps, first ? 0 : 1)
                    }
                }
                guard needX else { return }
                for s in 0..<nb {
                    for grp in 0..<g.groups {
                        sskd_conv_flat_forward(
                            dyp + (s * g.cOut + grp * coutG) * dyStride, dyStride, Int32(coutG),
                            f.offsets, Int32(taps), pwT.baseAddress! + grp * cinG * coutG * taps, Int32(cinG),
                            tmps[t] + grp * cinG * f.ldo, f.ldo, f.npos)
                    }
                    f.unpack(
                        tmps[t], channels: g.cIn, bias: nil, accumulate: accumulate,
                        into: pdx.baseAddress! + (n0 + s) * g.cIn * hw)
                }
            }
        }
    }
    return (needX ? dX : nil, needW ? slots.sum() : nil)
}

/// The dX array a backward pass writes: the gradient `earlier` holds when it holds one (taken from it, left nil), which
/// the pass adds to, else `count` uninitialised floats the pass stores.
func gradientBuffer(taking earlier: inout [Float]?, count: Int) -> [Float] {
    var taken: [Float]? = nil
    swap(&taken, &earlier)
    return taken ?? [Float](unsafeUninitializedCapacity: count) { $1 = $0.count }
}

/// Where a pack writes padded planes: `stride` floats from one plane to the next, rows `wp` floats apart, the data
/// `ph` rows and `pw` columns in (borders and slack zeroed).
struct PaddedLayout {
    let stride: Int, wp: Int, ph: Int, pw: Int
}

/// A batch of `[channels, h, w]` samples that packs one sample at a time into padded planes.
protocol PlanePacking {
    /// Packs sample `s` (`channels` planes `[h, w]`) into the padded planes at `dst`.
    func pack(sample s: Int, channels: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, _ p: PaddedLayout)
}

extension PlanePacking {
    /// Packs `samples` one after another into the padded planes at `dst`, each `channels` planes of `p.stride` floats.
    func pack(
        samples: Range<Int>, channels: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, _ p: PaddedLayout
    ) {
        for (k, s) in samples.enumerated() {
            pack(sample: s, channels: channels, h: h, w: w, into: dst + k * channels * p.stride, p)
        }
    }
}

extension ConvolutionInput: PlanePacking {
    /// Packs sample `s` (`channels` planes `[h, w]`) into the padded planes at `dst`, computing a batch norm's output
    /// as it goes when the input is one.
    func pack(sample s: Int, channels: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, _ p: PaddedLayout) {
        switch self {
        case .dense(let x):
            x.withUnsafeBufferPointer {
                sskd_pack_planes(
                    $0.baseAddress! + s * channels * h * w, Int32(channels), Int32(h), Int32(w), dst, p.stride, p.wp,
                    Int32(p.ph), Int32(p.pw))
            }
        case .affine(let a):
            a.pack(sample: s, h: h, w: w, into: dst, stride: p.stride, wp: p.wp, ph: p.ph, pw: p.pw)
        }
    }
}

extension ConvolutionOutputGradient: PlanePacking {
    /// Packs sample `s` (`channels` planes `[h, w]`) into the padded planes at `dst`, computing a batch norm's dX as it
    /// goes when the gradient is one.
    func pack(sample s: Int, channels: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, _ p: PaddedLayout) {
        switch self {
        case .dense(let g):
            ConvolutionInput.dense(g).pack(sample: s, channels: channels, h: h, w: w, into: dst, p)
        case .deferred(let d):
            d.pack(sample: s, h: h, w: w, into: dst, stride: p.stride, wp: p.wp, ph: p.ph, pw: p.pw)
        }
    }
}
