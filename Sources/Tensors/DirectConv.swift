import CKernels

// The direct stride-1 convolution on zero-padded "flat" planes (`ConvolutionPath.flat`; measurements in
// docs/performance.md): stride-1 "same" convolutions (ResNet's 3x3 convolutions with padding 1), so dY pads like x; a
// 1x1 convolution without padding stays one GEMM on the gemm path.
//
// Samples are copied into zero-padded planes laid out row after row, k samples side by side in each (`FlatPlanes`):
// a row holds padW zeros, sample 0's row, padW zeros, sample 1's row, … sample k−1's row, and the next row's leading
// padW zeros serve as the last sample's right padding (a "same" convolution reads at most padW columns past a row,
// so a gap of padW zero columns pads both neighbours). With Wp = k·(W + padW), Hp = H + 2·padH rows and
// (kW − 1)·dilW + 16 zero floats after each plane, the output (oh, ow) of sample j is flat position
// p = oh·Wp + j·(W + padW) + ow and kernel tap (i, j') reads the input at p + i·dilH·Wp + j'·dilW: every tap is one
// shifted vector load, so the C kernels (Sources/CKernels) need neither im2col nor GEMM packing. The positions in the
// gaps are computed and dropped when the rows are copied out, and so are those that round a plane's positions up to
// whole vectors: k is chosen per geometry to waste the least (a 7x7 plane alone is 4 vectors for 49 outputs, four
// side by side 14 vectors for 196; docs/performance.md).
//
// Backward, with dY padded the same way (a "same" convolution pads dY by dil·(k−1) − pad = pad):
//   dX = conv(dY, W̃), W̃[ci, co, i, j] = W[co, ci, kH−1−i, kW−1−j]   (the forward kernel again)
//   dW[co, ci, i, j] = Σ_s Σ_p dY_flat[s, co, p] · X_flat[s, ci, p + off(i, j)]
// where dY_flat is the padded dY itself read from (padH, padW) on: dY(oh, ow) then sits at flat position oh·Wp + ow and
// every other position falls on a zero of the padding, so the weight-gradient kernel sums over all positions and one
// packing of dY serves both kernels.

/// The padded-plane geometry of a stride-1 "same" convolution (see the file header): samples per plane, plane sizes,
/// tap offsets and the output positions.
struct FlatPlanes {
    let g: Conv2dGeometry
    /// Samples side by side in one plane (k ≥ 1), and the columns from one sample's data to the next's, W + padW.
    let samplesPerPlane: Int, step: Int
    /// Padded plane width and height: Wp = k·(W + padW), Hp = H + 2·padH.
    let wp: Int, hp: Int
    /// Floats from one padded plane to the next: Hp·Wp plus (kW − 1)·dilW + 16 zero floats that over-reading
    /// vector loads touch.
    let stride: Int
    /// Output positions per plane, Hout·Wp (the gap columns between samples are dropped), and the row length of the
    /// kernels' output buffers, that count rounded up to 16.
    let npos: Int, ldo: Int
    /// Tap offsets i·dilH·Wp + j·dilW in floats, taps in PyTorch's (i, j) order.
    let offsets: [Int]

    /// Whether the forward kernel (and dX's) is Winograd's F(2x2, 3x3) (`sskd_conv_winograd_forward`): a 3x3
    /// convolution with padding 1, no dilation, one group, at least 16 input and output channels and planes at least
    /// 6x6 whose workspace stays within `winogradWorkspaceLimit`, unless `g.options.winograd` is off. Its samples then
    /// start at even columns (`step` rounded up to even), so that a sample's outputs round the same wherever it sits
    /// in its plane group and batch.
    let winograd: Bool
    /// The most floats of workspace the Winograd kernel may take per thread (4 MiB, twice the second-level cache of
    /// the machines measured, docs/performance.md): a larger plane or more channels (e.g. 64 channels on 224x224
    /// planes would take 98 MiB per thread, allocated per call) take the direct kernel.
    static let winogradWorkspaceLimit = 1 << 20
    /// Output columns per plane row the Winograd kernel computes: up to the last sample's last output,
    /// (k − 1)·step + Wout.
    var wout: Int { (samplesPerPlane - 1) * step + g.wOut }
    /// Floats past a pack's planes (beyond `stride` · planes) that the Winograd kernel may read, and past its output
    /// rows (beyond `ldo` · channels) that it may write (sskd_kernels.h); none for the direct kernel.
    var readSlack: Int { winograd ? wp + 32 : 0 }
    var writeSlack: Int { winograd ? 32 : 0 }

    /// The planes of `g` (a `.flat` geometry) for its batch of `g.n` samples: k ∈ {1, 2, 4}, no more than the batch
    /// and planes of at most 2,048 floats (8 KiB, so that the weight-gradient kernel's planes stay in L1 as
    /// `BackwardSlots` sizes them), the one that computes the fewest vectors per sample (`cost`, or `winogradCost`
    /// among those whose workspace is within the limit), the smallest on a tie.
    init(_ g: Conv2dGeometry) {
        self.g = g
        let evenStep = (g.w + g.padding.w + 1) & ~1
        let workspace = { (k: Int) in
            sskd_winograd_workspace(Int32(g.cIn), Int32(g.cOut), (k - 1) * evenStep + g.wOut, Int32(g.hOut))
        }
        let winograd =
            g.options.winograd && g.kH == 3 && g.kW == 3 && g.dilation == (1, 1) && g.padding == (1, 1)
            && g.groups == 1 && Swift.min(g.cIn, g.cOut) >= 16 && Swift.min(g.h, g.w) >= 6
            && workspace(1) <= Self.winogradWorkspaceLimit
        self.winograd = winograd
        let step = winograd ? evenStep : g.w + g.padding.w
        self.step = step
        let hp = g.h + 2 * g.padding.h
        self.hp = hp
        let cost: (Int) -> Double =
            winograd
            ? { Self.winogradCost(g, samplesPerPlane: $0, step: step) }
            : { Self.cost(vectors: (g.hOut * $0 * step + 15) / 16) / Double($0) }
        let k = [1, 2, 4].filter {
            $0 == 1
                || ($0 <= g.n && hp * $0 * step <= 2048 && (!winograd || workspace($0) <= Self.winogradWorkspaceLimit))
        }.min { cost($0) < cost($1) }!
        samplesPerPlane = k
        wp = k * step
        // The kernels read up to position npos16 − 1 + (the last tap's offset) = Hp·Wp + (kW − 1)·dilW + 14 of a
        // plane (npos16 ≤ Hout·Wp + 15 and Hout + (kH − 1)·dilH = Hp), so each plane gets that much zero slack.
        stride = hp * wp + (g.kW - 1) * g.dilation.w + 16
        npos = g.hOut * wp
        ldo = (npos + 15) & ~15
        var off: [Int] = []
        for i in 0..<g.kH { for j in 0..<g.kW { off.append(i * g.dilation.h * wp + j * g.dilation.w) } }
        offsets = off
    }

    /// The Winograd kernel's cost per sample with `k` samples per plane, in multiply-adds: the 16 GEMMs over the
    /// tiles, rounded up to whole vectors as `cost` models them, and the input and output transforms, each about 50
    /// multiply-adds' time per channel and 16 tiles of a tile row (conv_winograd.c; measured on the ResNet shapes).
    static func winogradCost(_ g: Conv2dGeometry, samplesPerPlane k: Int, step: Int) -> Double {
        let (ntj, nti) = (((k - 1) * step + g.wOut + 1) / 2, (g.hOut + 1) / 2)
        let v = (ntj * nti + 15) / 16
        let gemm = (v...v + 3).map { cost(vectors: $0) }.min()!
        let transforms = Double(nti * ((ntj + 15) / 16) * (g.cIn + g.cOut))
        return (16 * Double(g.cIn * g.cOut) * gemm + 50 * transforms) / Double(k)
    }

    /// The forward kernel's cost of a plane of `vectors` 16-float vectors, in vectors: its blocks of 4, 5 or 6 vectors
    /// run at full pace, a remainder of 1–3 vectors (a 2-vector block, single vectors) slower (`conv_flat.c`).
    static func cost(vectors v: Int) -> Double {
        if v % 4 == 0 || v % 5 == 0 || v % 6 == 0 { return Double(v) }
        return Double(v) + [0, 0.5, 0.25, 0.75][v % 4]
    }

    /// Planes for `n` samples.
    func planes(samples n: Int) -> Int { (n + samplesPerPlane - 1) / samplesPerPlane }

    /// The samples of plane groups `planes` (of `n` samples).
    func samples(ofPlanes planes: Range<Int>, of n: Int) -> Range<Int> {
        planes.lowerBound * samplesPerPlane..<Swift.min(n, planes.upperBound * samplesPerPlane)
    }

    /// The samples of plane group `p` (of `n` samples).
    func samples(ofPlane p: Int, of n: Int) -> Range<Int> { samples(ofPlanes: p..<p + 1, of: n) }

    /// The layout x's padded planes are packed in.
    var layout: PaddedLayout {
        PaddedLayout(
            stride: stride, wp: wp, ph: g.padding.h, pw: g.padding.w, samplesPerPlane: samplesPerPlane, step: step)
    }

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

    /// `unpack` of each of the plane group's `samples` (sample j's rows at column j·step): into `dst`, which holds
    /// `channels` planes `[Hout, Wout]` per sample from `samples.lowerBound` on, and its moments at `moments`
    /// (indexed from the same sample).
    func unpack(
        _ src: UnsafePointer<Float>, samples: Range<Int>, channels: Int, bias: [Float]?, accumulate: Bool = false,
        into dst: UnsafeMutablePointer<Float>, moments: PlaneMoments.Pointers? = nil
    ) {
        let size = channels * g.hOut * g.wOut
        for (j, s) in samples.enumerated() {
            unpack(
                src + j * step, channels: channels, bias: bias, accumulate: accumulate, into: dst + s * size,
                moments: moments?.advanced(by: s * channels))
        }
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

/// The batch of a direct backward pass (flat or phases) cut into chunks of units (samples, or plane groups of samples
/// side by side) and the chunks into consecutive
/// "slots", the parallel items; each slot sums its chunks' dW in order into its own partial sum (`partials`; the first
/// chunk stores, so partials are never cleared), and the partial sums are then added in slot order, so the result
/// does not depend on which thread ran which slot (a 512x512 3x3 layer: 3 slots, not 8).
struct BackwardSlots {
    let threads: Int, chunk: Int, items: Int, count: Int, units: Int, weights: Int
    /// One partial sum of `weights` floats per slot (none when there is no dW).
    let partials: ScratchBlocks

    /// Slots for the backward pass of `g` over `units` units (its samples, or their plane groups) with `weights`
    /// floats of dW, whose scratch planes are `planeStride` floats apart. Units per chunk: the weight-gradient kernel
    /// rereads 2 input channels of the chunk for every block of 4 output channels, so keep those 2 · chunk planes near
    /// 8 KiB, leaving L1 to the 4 dY rows streaming past (a standalone run of the kernel on the ResNet stage shapes was
    /// fastest at 1, 2–4 and 8 samples for 32x32, 16x16 and 8x8 planes; 1024 / stride gives 1, 3 and 8), and at least
    /// 4 chunks per thread.
    init(_ g: Conv2dGeometry, units: Int, planeStride: Int, weights: Int, needW: Bool) {
        threads = convolutionThreads(work: 2 * g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n)
        chunk = Swift.max(1, Swift.min(1024 / planeStride, units / (4 * threads)))
        items = (units + chunk - 1) / chunk
        self.units = units
        self.weights = weights
        count = backwardSlots(items: items, threads: threads, weights: weights)
        partials = ScratchBlocks(needW ? count : 0, count: weights)
    }

    /// Runs `body(slot, thread, n0, nb, first)` for every chunk of units `n0..<n0 + nb`: the slots in parallel,
    /// each slot's chunks in order, `first` for a slot's first chunk.
    func run(_ body: (_ slot: Int, _ thread: Int, _ n0: Int, _ nb: Int, _ first: Bool) -> Void) {
        Parallel.run(count, threads: threads) { slot, t in
            let firstItem = items * slot / count
            for item in firstItem..<(items * (slot + 1) / count) {
                let n0 = item * chunk
                body(slot, t, n0, Swift.min(chunk, units - n0), item == firstItem)
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
/// weight `w` `[Cout, Cin/groups, kH, kW]` → `[N, Cout, Hout, Wout]`, adding `bias` when given, one plane group of
/// samples per parallel item (each thread packs into its own scratch). Packing again in the backward pass costs less
/// than keeping the padded planes: measured, keeping them (an extra activation-sized write and read through memory)
/// made the resnet20 step slower. With `recordsMoments` it also records each output plane's `PlaneMoments` while the
/// plane is in cache.
func convolveFlat(
    _ x: ConvolutionInput, _ w: [Float], _ g: Conv2dGeometry, bias: [Float]?, recordsMoments: Bool
) -> ConvolutionOutput {
    let f = FlatPlanes(g)
    let threads = convolutionThreads(work: g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n)
    let xs = ScratchBlocks(threads, count: g.cIn * f.stride + f.readSlack)
    let tmp = ScratchBlocks(threads, count: g.cOut * f.ldo + f.writeSlack)
    let kernel = FlatForwardKernel(w, cout: g.cOut, cin: g.cIn, f, threads: threads)
    defer {
        xs.deallocate()
        tmp.deallocate()
        kernel.deallocate()
    }
    var moments = recordsMoments ? PlaneMoments(planes: g.n * g.cOut) : nil
    let count = g.outputShape.reduce(1, *)
    let out = [Float](unsafeUninitializedCapacity: count) { po, written in
        moments.withPointers { mp in
            Parallel.run(f.planes(samples: g.n), threads: threads) { plane, t in
                let samples = f.samples(ofPlane: plane, of: g.n)
                x.pack(samples: samples, channels: g.cIn, h: g.h, w: g.w, into: xs[t], f.layout)
                kernel.run(xs[t], f.stride, into: tmp[t], thread: t)
                f.unpack(tmp[t], samples: samples, channels: g.cOut, bias: bias, into: po.baseAddress!, moments: mp)
            }
        }
        written = count
    }
    return ConvolutionOutput(values: out, moments: moments)
}

/// The forward kernel a flat convolution runs on one plane group of `cin` padded planes (`f`'s layout), into `cout`
/// output rows `f.ldo` floats apart, with weights `w` `[cout, cin/groups, kH, kW]` (the forward pass's, or dX's flipped
/// and transposed ones): Winograd's F(2x2, 3x3) when `f.winograd` (`WinogradFilters`, the filters transformed once
/// here), else the direct kernel per group.
struct FlatForwardKernel {
    let w: [Float], cout: Int, cin: Int, f: FlatPlanes
    let winograd: WinogradFilters?

    init(_ w: [Float], cout: Int, cin: Int, _ f: FlatPlanes, threads: Int) {
        (self.w, self.cout, self.cin, self.f) = (w, cout, cin, f)
        winograd = f.winograd ? WinogradFilters(w, cout: cout, cin: cin, f, threads: threads) : nil
    }

    /// The convolution of the planes at `x` (`ldx` floats apart, `f.readSlack` readable floats after them) into the
    /// rows at `out` (`f.writeSlack` writable floats after them), with thread `thread`'s workspace.
    func run(_ x: UnsafePointer<Float>, _ ldx: Int, into out: UnsafeMutablePointer<Float>, thread: Int) {
        if let winograd { return winograd.forward(x, ldx, into: out, f, thread: thread) }
        let (cinG, coutG, taps) = (cin / f.g.groups, cout / f.g.groups, f.g.kH * f.g.kW)
        w.withUnsafeBufferPointer { pw in
            for grp in 0..<f.g.groups {
                sskd_conv_flat_forward(
                    x + grp * cinG * ldx, ldx, Int32(cinG), f.offsets, Int32(taps),
                    pw.baseAddress! + grp * coutG * cinG * taps, Int32(coutG), out + grp * coutG * f.ldo, f.ldo,
                    f.npos)
            }
        }
    }

    func deallocate() { winograd?.deallocate() }
}

/// A 3x3 convolution's filters `[cout, cin, 3, 3]` transformed for Winograd's F(2x2, 3x3) (`sskd_winograd_weights`,
/// `[16, cout, cin]`, in parallel over the filters) once per call of a convolution, and one workspace per thread for
/// `sskd_conv_winograd_forward` on the planes of `f` (`FlatPlanes.winograd`).
struct WinogradFilters {
    let u: ScratchBlocks, work: ScratchBlocks
    let cout: Int, cin: Int

    init(_ w: [Float], cout: Int, cin: Int, _ f: FlatPlanes, threads: Int) {
        (self.cout, self.cin) = (cout, cin)
        let u = ScratchBlocks(1, count: 16 * cout * cin)
        let plane = cout * cin
        w.withUnsafeBufferPointer { pw in
            Parallel.forEach(plane, costPerItem: 64) { r in
                sskd_winograd_weights(pw.baseAddress! + 9 * r.lowerBound, r.count, plane, u[0] + r.lowerBound)
            }
        }
        self.u = u
        work = ScratchBlocks(
            threads, count: sskd_winograd_workspace(Int32(cin), Int32(cout), f.wout, Int32(f.g.hOut)))
    }

    /// The convolution of the `cin` padded planes at `x` (`ldx` floats apart, `f`'s layout, `f.readSlack` readable
    /// floats after them) into `cout` output rows at `out` (`f.ldo` floats apart, `f.writeSlack` writable after them),
    /// with thread `thread`'s workspace.
    func forward(
        _ x: UnsafePointer<Float>, _ ldx: Int, into out: UnsafeMutablePointer<Float>, _ f: FlatPlanes, thread: Int
    ) {
        sskd_conv_winograd_forward(
            x, ldx, Int32(cin), f.wp, f.wout, Int32(f.g.hOut), u[0], Int32(cout), out, f.ldo, work[thread])
    }

    func deallocate() {
        u.deallocate()
        work.deallocate()
    }
}

/// Backward pass of a flat direct convolution `g` over the whole batch, from x `[N, Cin, H, W]` (written, or computed
/// as it is packed) and dY `[N, Cout, H, W]` (written, or a batch norm's dX computed as it is packed): dX
/// `[N, Cin, H, W]` when `needX`, by the forward kernel with the flipped, per-group transposed weight `wT`
/// `[Cin, CoutG, kH, kW]` (added to `earlier` when given: taken from it, left nil), and dW `[Cout, CinG, kH, kW]` when
/// `needW`. The batch's plane groups are cut into chunks and the chunks into slots (`BackwardSlots`), each with its own
/// dW partial sum added in slot order.
func backwardFlat(
    _ x: ConvolutionInput, wT: [Float], dy: ConvolutionOutputGradient, _ g: Conv2dGeometry, needX: Bool,
    needW: Bool, adding earlier: inout [Float]?
) -> (dX: [Float]?, dW: [Float]?) {
    let f = FlatPlanes(g)
    let (cinG, coutG, taps) = (g.cIn / g.groups, g.cOut / g.groups, g.kH * g.kW)
    let groups = f.planes(samples: g.n)
    let slots = BackwardSlots(g, units: groups, planeStride: f.stride, weights: g.cOut * cinG * taps, needW: needW)
    let (threads, chunk) = (slots.threads, slots.chunk)
    let xs = ScratchBlocks(needW ? threads : 0, count: chunk * g.cIn * f.stride)
    // dY is packed once into padded planes that serve both kernels: the dX kernel reads them as its input, and the
    // weight-gradient kernel reads dY_flat at `interior` floats into each plane (output (oh, ow) of sample j sits at
    // padded (oh + padH, j·step + ow + padW), and the dropped positions land on zero padding, as do the columns of a
    // last plane's missing samples); `AlignedPlanes` keeps its loads aligned.
    let interior = g.padding.h * f.wp + g.padding.w
    let dyPlanes = AlignedPlanes(interior: interior, stride: f.stride)
    let dyLayout = PaddedLayout(
        stride: dyPlanes.stride, wp: f.wp, ph: g.padding.h, pw: g.padding.w, samplesPerPlane: f.samplesPerPlane,
        step: f.step)
    let dyStride = dyPlanes.stride
    // + 16: the last plane's zeros run past; the Winograd kernel reads further
    let dyps = ScratchBlocks(threads, count: chunk * g.cOut * dyStride + Swift.max(16, f.readSlack))
    let tmps = ScratchBlocks(needX ? threads : 0, count: g.cIn * f.ldo + f.writeSlack)
    let dXKernel = needX ? FlatForwardKernel(wT, cout: g.cIn, cin: g.cOut, f, threads: threads) : nil
    defer {
        xs.deallocate()
        dyps.deallocate()
        tmps.deallocate()
        slots.partials.deallocate()
        dXKernel?.deallocate()
    }
    let hw = g.h * g.w
    let accumulate = earlier != nil  // adding to the gradient taken from earlier
    var dX = gradientBuffer(taking: &earlier, count: needX ? g.n * g.cIn * hw : 0)
    dX.withUnsafeMutableBufferPointer { pdx in
        slots.run { slot, t, n0, nb, first in  // plane groups n0..<n0 + nb
            let dyp = dyps[t] + dyPlanes.lead
            let samples = f.samples(ofPlanes: n0..<n0 + nb, of: g.n)
            dy.pack(samples: samples, channels: g.cOut, h: g.h, w: g.w, into: dyp, dyLayout)
            if needW {
                let xp = xs[t]
                x.pack(samples: samples, channels: g.cIn, h: g.h, w: g.w, into: xp, f.layout)
                for grp in 0..<g.groups {  // the slot's first chunk stores its sums, the others add to them
                    sskd_conv_flat_weight_grad(
                        dyp + grp * coutG * dyStride + interior, dyStride, g.cOut * dyStride,
                        Int32(coutG), xp + grp * cinG * f.stride, f.stride, g.cIn * f.stride, Int32(cinG),
                        f.offsets, Int32(taps), Int32(g.kW), Int32(nb), f.npos,
                        slots.partials[slot] + grp * coutG * cinG * taps, first ? 0 : 1)
                }
            }
            guard let dXKernel else { return }
            for p in 0..<nb {
                dXKernel.run(dyp + p * g.cOut * dyStride, dyStride, into: tmps[t], thread: t)
                f.unpack(
                    tmps[t], samples: f.samples(ofPlane: n0 + p, of: g.n), channels: g.cIn, bias: nil,
                    accumulate: accumulate, into: pdx.baseAddress!)
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
/// `ph` rows and `pw` columns in (borders and slack zeroed), `samplesPerPlane` samples side by side, each `step`
/// columns after the one before (`FlatPlanes`; by default one sample per plane).
struct PaddedLayout {
    let stride: Int, wp: Int, ph: Int, pw: Int
    var samplesPerPlane = 1, step = 0
}

/// A batch of `[channels, h, w]` samples that packs one sample at a time into padded planes.
protocol PlanePacking {
    /// Packs sample `s` (`channels` planes `[h, w]`) into the padded planes at `dst`, its rows `wp` floats apart from
    /// `ph` rows and `pw` columns in; with `clear`, every other float of the `stride`-float planes is zeroed, else left
    /// as it is (other samples of the planes).
    func pack(
        sample s: Int, channels: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, stride: Int, wp: Int,
        ph: Int, pw: Int, clear: Bool)
}

extension PlanePacking {
    /// Packs `samples` (from the start of a plane group) one after another into the padded planes at `dst`,
    /// `p.samplesPerPlane` side by side per group of `channels` planes of `p.stride` floats; the first sample of a
    /// group clears its planes, so the columns of a last group's missing samples are zeros.
    func pack(
        samples: Range<Int>, channels: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, _ p: PaddedLayout
    ) {
        for (k, s) in samples.enumerated() {
            let (group, j) = k.quotientAndRemainder(dividingBy: p.samplesPerPlane)
            pack(
                sample: s, channels: channels, h: h, w: w, into: dst + group * channels * p.stride, stride: p.stride,
                wp: p.wp, ph: p.ph, pw: p.pw + j * p.step, clear: j == 0)
        }
    }
}

extension ConvolutionInput: PlanePacking {
    /// Packs sample `s` (`channels` planes `[h, w]`) into the padded planes at `dst`, computing a batch norm's output
    /// as it goes when the input is one.
    func pack(
        sample s: Int, channels: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, stride: Int, wp: Int,
        ph: Int, pw: Int, clear: Bool
    ) {
        switch self {
        case .dense(let x):
            x.withUnsafeBufferPointer {
                sskd_pack_planes(
                    $0.baseAddress! + s * channels * h * w, Int32(channels), Int32(h), Int32(w), dst, stride, wp,
                    Int32(ph), Int32(pw), clear ? 1 : 0)
            }
        case .affine(let a):
            a.pack(sample: s, h: h, w: w, into: dst, stride: stride, wp: wp, ph: ph, pw: pw, clear: clear)
        }
    }
}

extension ConvolutionOutputGradient: PlanePacking {
    /// Packs sample `s` (`channels` planes `[h, w]`) into the padded planes at `dst`, computing a batch norm's dX as it
    /// goes when the gradient is one.
    func pack(
        sample s: Int, channels: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, stride: Int, wp: Int,
        ph: Int, pw: Int, clear: Bool
    ) {
        switch self {
        case .dense(let g):
            ConvolutionInput.dense(g).pack(
                sample: s, channels: channels, h: h, w: w, into: dst, stride: stride, wp: wp, ph: ph, pw: pw,
                clear: clear)
        case .deferred(let d):
            d.pack(sample: s, h: h, w: w, into: dst, stride: stride, wp: wp, ph: ph, pw: pw, clear: clear)
        }
    }
}
