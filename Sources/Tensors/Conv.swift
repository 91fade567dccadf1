import Dispatch

// 2-D convolution (`F.conv2d`), forward and backward side by side, with a direct convolution kept as the test oracle.
//
// Layout: input x `[N, Cin, H, W]`, weight `[Cout, Cin/groups, kH, kW]`, bias `[Cout]`,
// output `[N, Cout, Hout, Wout]` with Hout = (H + 2·padH − dilH·(kH−1) − 1) / strideH + 1 (PyTorch docs, Conv2d).
// `conv2d` and `conv2dBackward` dispatch on the geometry's `ConvolutionPath`:
//   flat    stride-1 "same" convolutions (not 1x1 without padding): direct kernels on padded planes, DirectConv.swift;
//   phases  stride-2 convolutions halving the planes: the same kernels on four phase planes, PhaseConv.swift;
//   gemm    everything else, and every convolution when `ConvolutionOptions.directKernels` is off: im2col + GEMM,
//           GEMMConv.swift.

/// Stride, padding, dilation and groups of a convolution, plus the sizes derived from its input and weight.
public struct Conv2dGeometry: Equatable {
    public var stride: (h: Int, w: Int)
    public var padding: (h: Int, w: Int)
    public var dilation: (h: Int, w: Int)
    public var groups: Int
    /// Which kernels may compute the convolution (the result agrees to rounding whichever runs).
    public var options = ConvolutionOptions()
    // Derived on validation:
    var n = 0, cIn = 0, h = 0, w = 0, cOut = 0, kH = 0, kW = 0, hOut = 0, wOut = 0

    /// Creates a geometry; sizes are symmetric pairs `(h, w)` as PyTorch's
    /// `Conv2d(stride=, padding=, dilation=, groups=)`.
    public init(
        stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
        groups: Int = 1
    ) {
        self.stride = (stride.0, stride.1)
        self.padding = (padding.0, padding.1)
        self.dilation = (dilation.0, dilation.1)
        self.groups = groups
    }

    public static func == (a: Conv2dGeometry, b: Conv2dGeometry) -> Bool {
        a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation && a.groups == b.groups
    }

    /// Checks input and weight against each other and fills in the derived sizes.
    /// - Throws: `TensorError` naming the shapes, e.g. `conv2d: input [8, 3, 28, 28] has 3 channels, weight expects 1`.
    func validated(input x: [Int], weight: [Int], bias: [Int]?) throws -> Conv2dGeometry {
        guard x.count == 4 else {
            throw TensorError.invalidShape(op: "conv2d", shape: x, reason: "is not [N, C, H, W]")
        }
        guard weight.count == 4 else {
            throw TensorError.invalidShape(
                op: "conv2d weight", shape: weight,
                reason: "is not [Cout, Cin/groups, kH, kW]")
        }
        guard groups >= 1, stride.h >= 1, stride.w >= 1, dilation.h >= 1, dilation.w >= 1,
            padding.h >= 0, padding.w >= 0
        else {
            throw TensorError.invalidArgument(
                op: "conv2d",
                reason: "stride \(stride), padding \(padding), dilation \(dilation), groups \(groups) out of range")
        }
        guard x[1] == weight[1] * groups else {
            throw TensorError.invalidShape(
                op: "conv2d", shape: x,
                reason: "has \(x[1]) channels, weight \(formatShape(weight)) expects \(weight[1] * groups)")
        }
        guard weight[0] % groups == 0 else {
            throw TensorError.invalidArgument(
                op: "conv2d",
                reason: "\(weight[0]) output channels not divisible by groups \(groups)")
        }
        if let bias, bias != [weight[0]] {
            throw TensorError.shapeMismatch(op: "conv2d bias", lhs: [weight[0]], rhs: bias)
        }
        var g = self
        g.n = x[0]
        g.cIn = x[1]
        g.h = x[2]
        g.w = x[3]
        g.cOut = weight[0]
        g.kH = weight[2]
        g.kW = weight[3]
        g.hOut = (g.h + 2 * padding.h - dilation.h * (g.kH - 1) - 1) / stride.h + 1
        g.wOut = (g.w + 2 * padding.w - dilation.w * (g.kW - 1) - 1) / stride.w + 1
        guard g.h + 2 * padding.h - dilation.h * (g.kH - 1) - 1 >= 0,
            g.w + 2 * padding.w - dilation.w * (g.kW - 1) - 1 >= 0
        else {
            throw TensorError.invalidShape(
                op: "conv2d", shape: x,
                reason: "is smaller than the (dilated) kernel \(g.kH)x\(g.kW)")
        }
        return g
    }

    var outputShape: [Int] { [n, cOut, hOut, wOut] }
    var kPerGroup: Int { cIn / groups * kH * kW }
}

/// Which kernels `conv2d` may use, carried by its `Conv2dGeometry`.
public struct ConvolutionOptions: Equatable, Sendable {
    /// Whether the direct kernels on padded planes (`ConvolutionPath.flat`, `.phases`) may run; off, every convolution
    /// takes im2col + GEMM (`.gemm`), the path the direct kernels are tested against.
    public var directKernels: Bool

    /// Options with every path allowed unless `directKernels` is false.
    public init(directKernels: Bool = true) { self.directKernels = directKernels }
}

/// How a convolution is computed, forward and backward (see the file header).
public enum ConvolutionPath: Equatable, Sendable {
    /// Direct kernels on zero-padded flat planes: stride 1, "same" output size, not a 1x1 convolution without padding.
    case flat
    /// The flat kernels on the input's four phase planes: stride 2, no dilation, one group, even input sizes and output
    /// planes half the input's.
    case phases
    /// im2col (unless 1x1) and GEMM per group.
    case gemm
}

extension Conv2dGeometry {
    /// A 1x1 convolution with stride 1 and no padding: one sample's input `[Cin, H·W]` is already its column matrix.
    var isPointwise: Bool { kH == 1 && kW == 1 && stride == (1, 1) && padding == (0, 0) }
    /// Stride 1 with output planes as large as the input planes ("same" padding, `padding = dilation·(k−1)/2`).
    var isSame: Bool { stride == (1, 1) && hOut == h && wOut == w }
    /// Whether the output planes are the input's halved by a stride of 2 (the phase planes' condition besides groups
    /// and dilation).
    var halvesPlanes: Bool {
        stride == (2, 2) && h % 2 == 0 && w % 2 == 0 && hOut == h / 2 && wOut == w / 2 && h > 0 && w > 0
    }

    /// The path `conv2d` and its backward pass take for this validated geometry under its `options`.
    public var path: ConvolutionPath {
        guard options.directKernels else { return .gemm }
        if isSame && !isPointwise { return .flat }
        if halvesPlanes && dilation == (1, 1) && groups == 1 { return .phases }
        return .gemm
    }
}

/// 2-D convolution (`F.conv2d`): x `[N, Cin, H, W]`, weight `[Cout, Cin/groups, kH, kW]`, bias `[Cout]`
/// → `[N, Cout, Hout, Wout]`. Groups include depthwise (groups = Cin). The geometry's `path` picks the kernels (see
/// the file header); on the flat and phase paths, under grad mode, the output planes' `PlaneMoments` are recorded for
/// a batch norm that follows, and on the flat path an input whose values are still pending (a batch norm's output,
/// `Tensor.pending`) is computed while it is packed.
/// - Throws: `TensorError` naming the shapes when input, weight, bias and geometry disagree.
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil,
    geometry: Conv2dGeometry = Conv2dGeometry()
) throws -> Tensor {
    let g = try geometry.validated(input: x.shape, weight: weight.shape, bias: bias?.shape)
    let path = g.path
    let count = g.outputShape.reduce(1, *)
    var out = [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
    var moments = path != .gemm && GradMode.isEnabled ? PlaneMoments(planes: g.n * g.cOut) : nil
    let input = path == .flat ? x.pending : nil
    (input?.source ?? x.data).withUnsafeBufferPointer { px in
        weight.data.withUnsafeBufferPointer { pw in
            out.withUnsafeMutableBufferPointer { po in
                let src = px.baseAddress!
                let wts = pw.baseAddress!
                let dst = po.baseAddress!
                switch path {
                case .flat:
                    moments.withPointers {
                        convolveFlat(src, wts, g, bias: bias?.data, into: dst, moments: $0, input: input)
                    }
                case .phases:
                    moments.withPointers { convolvePhases(src, wts, g, bias: bias?.data, into: dst, moments: $0) }
                case .gemm:
                    forEachBatchPart(g.n, work: g.cOut * g.kPerGroup * g.hOut * g.wOut * g.n) { _, part in
                        convolve(src, wts, g, bias: bias?.data, samples: part, into: dst)
                    }
                }
            }
        }
    }
    let result = Tensor.result(
        shape: g.outputShape, data: out, op: .conv2d(x, weight: weight, bias: bias, g),
        inputs: [x, weight] + [bias].compactMap { $0 })
    result.planeMoments = moments
    return result
}

/// Gradients of conv2d's inputs [x, weight, bias?] from dy `[N, Cout, Hout, Wout]`, on the path the forward took.
/// When `existing` holds a gradient x has already received (taken from it, left nil), dX is added to it: the direct
/// paths add while they write dX (existing + dX, the engine's own order, so bit for bit the same as adding after),
/// saving a pass over x's size. A deferred dY (a batch norm's dX, `DeferredBatchNormGradient`) is packed straight
/// into the flat path's padded planes.
func conv2dBackward(
    _ x: Tensor, weight: Tensor, hasBias: Bool, geometry g: Conv2dGeometry, grad gradient: Gradient,
    adding existing: inout [Float]?
) -> [[Float]?] {
    let needX = x.requiresGrad
    let needW = weight.requiresGrad
    let path = g.path
    var deferredDY: DeferredBatchNormGradient? = nil
    if case .deferred(let d) = gradient, !hasBias, path == .flat, needX || needW { deferredDY = d }
    let dy = deferredDY == nil ? gradient.materialized : []
    let dB = hasBias ? biasGradient(dy, g) : nil
    func gradients(_ dX: [Float]?, _ dW: [Float]?) -> [[Float]?] { hasBias ? [dX, dW, dB] : [dX, dW] }
    if !needX && !needW { return gradients(nil, nil) }
    var earlier: [Float]? = nil  // the gradient x already has, now owned here alone
    if needX, existing?.count == x.count {
        earlier = existing
        existing = nil
    }
    let wT = g.isSame ? flippedWeight(weight.data, g) : []
    if path == .gemm {
        var (dX, dW) = backwardGEMM(x, weight: weight, wT: wT, dy: dy, g, needX: needX, needW: needW)
        if earlier != nil {  // earlier + dX, as the engine would add them (in place: earlier is owned here alone)
            addInPlace(&earlier!, dX)
            dX = earlier!
        }
        return gradients(needX ? dX : nil, dW)
    }
    // The direct kernels write dX as they unpack it, or add it to `earlier`.
    let accumulate = earlier != nil
    var dX = earlier ?? [Float](unsafeUninitializedCapacity: needX ? x.count : 0) { _, n in n = needX ? x.count : 0 }
    earlier = nil
    var dW = [Float](unsafeUninitializedCapacity: needW ? weight.count : 0) { _, n in n = needW ? weight.count : 0 }
    let input = path == .flat ? x.pending : nil  // x's values still pending are computed while packing
    (input?.source ?? x.data).withUnsafeBufferPointer { px in
        dy.withUnsafeBufferPointer { pdy in
            dX.withUnsafeMutableBufferPointer { pdx in
                dW.withUnsafeMutableBufferPointer { pdw in
                    let dXp = needX ? pdx.baseAddress! : nil
                    let dWp = needW ? pdw.baseAddress! : nil
                    if path == .flat {
                        backwardFlat(
                            x: px.baseAddress!, input: input, wT: wT, dy: pdy.baseAddress, deferredDY: deferredDY, g,
                            dX: dXp, accumulateDX: accumulate, dW: dWp)
                    } else {
                        backwardPhases(
                            x: px.baseAddress!, w: weight.data, dy: pdy.baseAddress!, g,
                            dX: dXp, accumulateDX: accumulate, dW: dWp)
                    }
                }
            }
        }
    }
    return gradients(needX ? dX : nil, needW ? dW : nil)
}

/// dB `[Cout]`: dy `[N, Cout, Hout, Wout]` summed over samples and positions (plane sums in sample order).
func biasGradient(_ dy: [Float], _ g: Conv2dGeometry) -> [Float] {
    let hw = g.hOut * g.wOut
    var d = [Float](repeating: 0, count: g.cOut)
    dy.withUnsafeBufferPointer { pdy in
        for s in 0..<g.n { for co in 0..<g.cOut { d[co] += vectorSum(pdy.baseAddress! + (s * g.cOut + co) * hw, hw) } }
    }
    return d
}

/// The flipped, per-group transposed weight W̃ `[Cin, CoutG, kH, kW]` of a stride-1 "same" convolution, whose dX is
/// conv(dY, W̃): W̃[grp·CinG + ci, co, i, j] = W[grp·CoutG + co, ci, kH−1−i, kW−1−j] (GEMMConv.swift's header).
func flippedWeight(_ w: [Float], _ g: Conv2dGeometry) -> [Float] {
    let coutG = g.cOut / g.groups
    let cinG = g.cIn / g.groups
    let taps = g.kH * g.kW
    var wT = [Float](unsafeUninitializedCapacity: w.count) { _, n in n = w.count }
    for grp in 0..<g.groups {
        for co in 0..<coutG {
            for ci in 0..<cinG {
                for t in 0..<taps {
                    wT[((grp * cinG + ci) * coutG + co) * taps + t] =
                        w[((grp * coutG + co) * cinG + ci) * taps + taps - 1 - t]
                }
            }
        }
    }
    return wT
}

/// Direct (seven-loop) convolution in Double, the oracle the im2col path is tested against.
/// Same shapes and geometry as `conv2d`; no autograd.
/// - Throws: `TensorError` as `conv2d`.
public func naiveConv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil,
    geometry: Conv2dGeometry = Conv2dGeometry()
) throws -> Tensor {
    let g = try geometry.validated(input: x.shape, weight: weight.shape, bias: bias?.shape)
    let cinG = g.cIn / g.groups
    let coutG = g.cOut / g.groups
    var out = [Float](repeating: 0, count: g.outputShape.reduce(1, *))
    for s in 0..<g.n {
        for co in 0..<g.cOut {
            for oh in 0..<g.hOut {
                for ow in 0..<g.wOut {
                    var acc = Double(bias?.data[co] ?? 0)
                    let grp = co / coutG
                    for ci in 0..<cinG {
                        for i in 0..<g.kH {
                            for j in 0..<g.kW {
                                let ih = oh * g.stride.h - g.padding.h + i * g.dilation.h
                                let iw = ow * g.stride.w - g.padding.w + j * g.dilation.w
                                guard ih >= 0, ih < g.h, iw >= 0, iw < g.w else { continue }
                                acc +=
                                    Double(x.data[((s * g.cIn + grp * cinG + ci) * g.h + ih) * g.w + iw])
                                    * Double(weight.data[((co * cinG + ci) * g.kH + i) * g.kW + j])
                            }
                        }
                    }
                    out[((s * g.cOut + co) * g.hOut + oh) * g.wOut + ow] = Float(acc)
                }
            }
        }
    }
    return Tensor(shape: g.outputShape, data: out)
}
