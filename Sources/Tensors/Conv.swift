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
    /// Whether a flat 3x3 convolution (stride 1, padding 1, no dilation, one group, at least 16 input and output
    /// channels, planes at least 6x6, a workspace within `FlatPlanes.winogradWorkspaceLimit`) may compute its output
    /// and dX by Winograd's F(2x2, 3x3) (`FlatPlanes.winograd`, conv_winograd.c): 2.25 times fewer multiply-adds, the
    /// same values up to rounding errors relative to the magnitudes in each output's 4x4 input patch, and NaN where
    /// an ±Inf input would give ±Inf (sskd_kernels.h); off, the direct flat kernel.
    public var winograd: Bool

    /// Options with every path allowed unless `directKernels` (or `winograd`) is false.
    public init(directKernels: Bool = true, winograd: Bool = true) {
        self.directKernels = directKernels
        self.winograd = winograd
    }
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
/// the file header); on the flat and phase paths, when the graph is recorded, the output planes' `PlaneMoments` are
/// kept with the op for a training batch norm that reads the output.
/// - Throws: `TensorError` naming the shapes when input, weight, bias and geometry disagree.
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil,
    geometry: Conv2dGeometry = Conv2dGeometry()
) throws -> Tensor {
    let g = try geometry.validated(input: x.shape, weight: weight.shape, bias: bias?.shape)
    let inputs = [x, weight] + [bias].compactMap { $0 }
    let recorded = GradMode.isEnabled && inputs.contains { $0.requiresGrad }
    let y = convolutionForward(.dense(x.data), weight: weight.data, bias: bias?.data, g, recordsMoments: recorded)
    return .result(
        shape: g.outputShape, data: y.values, op: .conv2d(x, weight: weight, bias: bias, g, moments: y.moments),
        inputs: inputs)
}

/// A convolution's input `[N, Cin, H, W]`: values written out, or a batch norm's output not yet written
/// (`ChannelAffine`), which the flat path computes while packing (any other path needs it written).
enum ConvolutionInput {
    case dense([Float])
    case affine(ChannelAffine)

    /// The values, written.
    var values: [Float] {
        switch self {
        case .dense(let x): return x
        case .affine(let a): return a.materialized()
        }
    }
}

/// A convolution's output `[N, Cout, Hout, Wout]` and, when recorded, its planes' `PlaneMoments`.
struct ConvolutionOutput {
    var values: [Float]
    var moments: PlaneMoments?
}

/// The forward convolution `g` (validated) of x with `weight` `[Cout, Cin/groups, kH, kW]` and `bias` `[Cout]` on the
/// geometry's path; with `recordsMoments`, the flat and phase paths record the output planes' `PlaneMoments`.
/// - Precondition: an `.affine` input only on the flat path.
func convolutionForward(
    _ x: ConvolutionInput, weight: [Float], bias: [Float]?, _ g: Conv2dGeometry, recordsMoments: Bool
) -> ConvolutionOutput {
    switch g.path {
    case .flat:
        return convolveFlat(x, weight, g, bias: bias, recordsMoments: recordsMoments)
    case .phases:
        return convolvePhases(x.values, weight, g, bias: bias, recordsMoments: recordsMoments)
    case .gemm:
        return ConvolutionOutput(values: convolveGEMM(x.values, weight, g, bias: bias), moments: nil)
    }
}

/// Gradients of conv2d's inputs [x, weight, bias?] from dy `[N, Cout, Hout, Wout]`, on the path the forward took.
func conv2dBackward(
    _ x: Tensor, weight: Tensor, hasBias: Bool, geometry g: Conv2dGeometry, grad: [Float]
) -> [[Float]?] {
    var none: [Float]? = nil
    let d = convolutionBackward(
        .dense(x.data), weight: weight.data, g, dy: .dense(grad), needX: x.requiresGrad, needW: weight.requiresGrad,
        hasBias: hasBias, adding: &none)
    return hasBias ? [d.dX, d.dW, d.dB] : [d.dX, d.dW]
}

/// A convolution's gradients: dX `[N, Cin, H, W]`, dW `[Cout, Cin/groups, kH, kW]` and dB `[Cout]`, each nil when
/// not asked for.
struct ConvolutionGradients {
    var dX: [Float]? = nil, dW: [Float]? = nil, dB: [Float]? = nil
}

/// The backward pass of convolution `g` (validated) on its path: dX when `needX`, dW when `needW`, dB when `hasBias`,
/// from x, `weight` and dy `[N, Cout, Hout, Wout]`. A deferred dY (a training batch norm's dX) is packed straight into
/// the flat and phase paths' padded planes; the GEMM path (and a bias gradient) writes it first. When `earlier` holds
/// a gradient x already has (taken from it, left nil), dX is added to it: earlier + dX, bit for bit as adding after;
/// the direct paths add while they write dX, saving a pass over x's size.
func convolutionBackward(
    _ x: ConvolutionInput, weight: [Float], _ g: Conv2dGeometry, dy: ConvolutionOutputGradient, needX: Bool,
    needW: Bool, hasBias: Bool, adding earlier: inout [Float]?
) -> ConvolutionGradients {
    guard needX || needW || hasBias else { return ConvolutionGradients() }
    var dy = dy
    if case .deferred = dy, hasBias || g.path == .gemm { dy = .dense(dy.values) }
    let dB = hasBias ? biasGradient(dy.values, g) : nil
    guard needX || needW else { return ConvolutionGradients(dX: nil, dW: nil, dB: dB) }
    var taken: [Float]? = nil  // owned here alone, so that adding to it does not copy it
    if needX, earlier?.count == g.n * g.cIn * g.h * g.w { swap(&taken, &earlier) }
    let d: (dX: [Float]?, dW: [Float]?)
    switch g.path {
    case .flat:
        d = backwardFlat(x, wT: flippedWeight(weight, g), dy: dy, g, needX: needX, needW: needW, adding: &taken)
    case .phases:
        d = backwardPhases(x.values, weight: weight, dy: dy, g, needX: needX, needW: needW, adding: &taken)
    case .gemm:
        let wT = g.isSame ? flippedWeight(weight, g) : []
        var (dX, dW) = backwardGEMM(x.values, weight: weight, wT: wT, dy: dy.values, g, needX: needX, needW: needW)
        if taken != nil {  // earlier + dX, as the engine would add them
            addInPlace(&taken!, dX)
            swap(&dX, &taken!)
        }
        d = (needX ? dX : nil, dW)
    }
    return ConvolutionGradients(dX: d.dX, dW: d.dW, dB: dB)
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
    let plane = g.hOut * g.wOut
    var acc = [Double](repeating: 0, count: g.outputShape.reduce(1, *))
    if let bias { for o in acc.indices { acc[o] = Double(bias.data[o / plane % g.cOut]) } }
    x.data.withUnsafeBufferPointer { px in
        weight.data.withUnsafeBufferPointer { pw in
            acc.withUnsafeMutableBufferPointer { pa in
                forEachConvTap(g) { o, xi, wi in pa[o] += Double(px[xi]) * Double(pw[wi]) }
            }
        }
    }
    return Tensor(shape: g.outputShape, data: acc.map(Float.init))
}

/// Calls `body(o, xi, wi)` for each tap of the direct convolution loops of the validated geometry `g`: output element
/// by output element (`o`, the flat index into `[N, Cout, Hout, Wout]`, in order), and each one's taps in the order
/// input channel of its group, kernel row, kernel column, with `xi` and `wi` the flat indices of the input and weight
/// values the tap multiplies. Taps on the zero padding are skipped. The loops of the oracles `naiveConv2d` and the
/// tests' gradient oracle.
func forEachConvTap(_ g: Conv2dGeometry, _ body: (_ o: Int, _ xi: Int, _ wi: Int) -> Void) {
    let cinG = g.cIn / g.groups
    let coutG = g.cOut / g.groups
    for s in 0..<g.n {
        for co in 0..<g.cOut {
            let grp = co / coutG
            for oh in 0..<g.hOut {
                for ow in 0..<g.wOut {
                    let o = ((s * g.cOut + co) * g.hOut + oh) * g.wOut + ow
                    for ci in 0..<cinG {
                        for i in 0..<g.kH {
                            for j in 0..<g.kW {
                                let ih = oh * g.stride.h - g.padding.h + i * g.dilation.h
                                let iw = ow * g.stride.w - g.padding.w + j * g.dilation.w
                                guard ih >= 0, ih < g.h, iw >= 0, iw < g.w else { continue }
                                body(
                                    o, ((s * g.cIn + grp * cinG + ci) * g.h + ih) * g.w + iw,
                                    ((co * cinG + ci) * g.kH + i) * g.kW + j)
                            }
                        }
                    }
                }
            }
        }
    }
}
