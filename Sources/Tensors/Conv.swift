// 2-D convolution (`F.conv2d`) by im2col + `cblas_sgemm`, forward and backward side by side,
// with a direct convolution kept as the test oracle.
//
// Layout: input x `[N, Cin, H, W]`, weight `[Cout, Cin/groups, kH, kW]`, bias `[Cout]`,
// output `[N, Cout, Hout, Wout]` with Hout = (H + 2·padH − dilH·(kH−1) − 1) / strideH + 1 (PyTorch docs, Conv2d).
// The batch is processed in chunks so that the column matrix `[Cin·kH·kW, n·Hout·Wout]` stays below
// `columnBudget` floats; within a chunk each group is one GEMM: out_g[Cout/g, n·HW] = W_g · cols_g.

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
    /// Samples per chunk so that the column matrix stays within `columnBudget` floats.
    var chunk: Int { Swift.max(1, Swift.min(n, columnBudget / Swift.max(1, cIn * kH * kW * hOut * wOut))) }
}

/// Largest column matrix (in floats) built at once: 16 M floats = 64 MiB.
let columnBudget = 16 << 20

/// Unfolds samples `n0..<n0+nb` of `x` into `cols [Cin·kH·kW, nb·Hout·Wout]` (rows ordered c, i, j).
func im2col(_ x: UnsafePointer<Float>, _ g: Conv2dGeometry, n0: Int, nb: Int, cols: UnsafeMutablePointer<Float>) {
    let hw = g.hOut * g.wOut, rowLen = nb * hw
    Parallel.forEach(g.cIn * g.kH * g.kW, costPerItem: rowLen) { rows in
        for r in rows {
            let c = r / (g.kH * g.kW), i = (r / g.kW) % g.kH, j = r % g.kW
            let dst = cols + r * rowLen
            for s in 0..<nb {
                let plane = x + ((n0 + s) * g.cIn + c) * g.h * g.w
                for oh in 0..<g.hOut {
                    let ih = oh * g.stride.h - g.padding.h + i * g.dilation.h
                    let o = dst + s * hw + oh * g.wOut
                    if ih < 0 || ih >= g.h { o.update(repeating: 0, count: g.wOut); continue }
                    let rowPtr = plane + ih * g.w
                    for ow in 0..<g.wOut {
                        let iw = ow * g.stride.w - g.padding.w + j * g.dilation.w
                        o[ow] = (iw >= 0 && iw < g.w) ? rowPtr[iw] : 0
                    }
                }
            }
        }
    }
}

/// Adds `cols [Cin·kH·kW, nb·Hout·Wout]` back into samples `n0..<n0+nb` of `dx` (the adjoint of `im2col`).
func col2im(_ cols: UnsafePointer<Float>, _ g: Conv2dGeometry, n0: Int, nb: Int, dx: UnsafeMutablePointer<Float>) {
    let hw = g.hOut * g.wOut, rowLen = nb * hw
    Parallel.forEach(g.cIn, costPerItem: g.kH * g.kW * rowLen) { channels in
        for c in channels {
            for i in 0..<g.kH {
                for j in 0..<g.kW {
                    let src = cols + ((c * g.kH + i) * g.kW + j) * rowLen
                    for s in 0..<nb {
                        let plane = dx + ((n0 + s) * g.cIn + c) * g.h * g.w
                        for oh in 0..<g.hOut {
                            let ih = oh * g.stride.h - g.padding.h + i * g.dilation.h
                            if ih < 0 || ih >= g.h { continue }
                            let srow = src + s * hw + oh * g.wOut
                            for ow in 0..<g.wOut {
                                let iw = ow * g.stride.w - g.padding.w + j * g.dilation.w
                                if iw >= 0 && iw < g.w { plane[ih * g.w + iw] += srow[ow] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// 2-D convolution (`F.conv2d`): x `[N, Cin, H, W]`, weight `[Cout, Cin/groups, kH, kW]`, bias `[Cout]`
/// → `[N, Cout, Hout, Wout]`. Groups include depthwise (groups = Cin).
/// - Throws: `TensorError` naming the shapes when input, weight, bias and geometry disagree.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, geometry: Conv2dGeometry = Conv2dGeometry()) throws -> Tensor {
    let g = try geometry.validated(input: x.shape, weight: weight.shape, bias: bias?.shape)
    let hw = g.hOut * g.wOut, coutG = g.cOut / g.groups, kG = g.kPerGroup
    var out = [Float](repeating: 0, count: g.outputShape.reduce(1, *))
    var cols = [Float](repeating: 0, count: g.cIn * g.kH * g.kW * g.chunk * hw)
    var tmp = [Float](repeating: 0, count: g.cOut * g.chunk * hw)
    x.data.withUnsafeBufferPointer { px in weight.data.withUnsafeBufferPointer { pw in
    cols.withUnsafeMutableBufferPointer { pc in tmp.withUnsafeMutableBufferPointer { pt in out.withUnsafeMutableBufferPointer { po in
        for n0 in stride(from: 0, to: g.n, by: g.chunk) {
            let nb = Swift.min(g.chunk, g.n - n0), cols = nb * hw
            im2col(px.baseAddress!, g, n0: n0, nb: nb, cols: pc.baseAddress!)
            for grp in 0..<g.groups {
                sgemm(m: coutG, n: cols, k: kG, a: pw.baseAddress! + grp * coutG * kG, lda: kG,
                      b: pc.baseAddress! + grp * kG * cols, ldb: cols, c: pt.baseAddress! + grp * coutG * cols, ldc: cols)
            }
            // [Cout, nb, HW] → [nb, Cout, HW], adding the bias.
            Parallel.forEach(nb * g.cOut, costPerItem: hw) { range in
                for idx in range {
                    let s = idx / g.cOut, co = idx % g.cOut
                    let b = bias?.data[co] ?? 0
                    let src = pt.baseAddress! + co * cols + s * hw, dst = po.baseAddress! + ((n0 + s) * g.cOut + co) * hw
                    for p in 0..<hw { dst[p] = src[p] + b }
                }
            }
        }
    } } } } }
    return .result(shape: g.outputShape, data: out, op: .conv2d(x, weight: weight, bias: bias, g),
                   inputs: [x, weight] + [bias].compactMap { $0 })
}

func conv2dBackward(_ x: Tensor, weight: Tensor, hasBias: Bool, geometry g: Conv2dGeometry, grad dy: [Float]) -> [[Float]?] {
    let hw = g.hOut * g.wOut, coutG = g.cOut / g.groups, kG = g.kPerGroup
    var dX: [Float]? = x.requiresGrad ? [Float](repeating: 0, count: x.count) : nil
    var dW: [Float]? = weight.requiresGrad ? [Float](repeating: 0, count: weight.count) : nil
    var dB: [Float]? = nil
    if hasBias {
        var d = [Float](repeating: 0, count: g.cOut)
        for s in 0..<g.n { for co in 0..<g.cOut {
            var acc: Float = 0
            let base = (s * g.cOut + co) * hw
            for p in 0..<hw { acc += dy[base + p] }
            d[co] += acc
        } }
        dB = d
    }
    if dX == nil && dW == nil { return hasBias ? [nil, nil, dB] : [nil, nil] }
    var cols = [Float](repeating: 0, count: g.cIn * g.kH * g.kW * g.chunk * hw)
    var dyT = [Float](repeating: 0, count: g.cOut * g.chunk * hw)
    var dWLocal = dW ?? []
    var dXLocal = dX ?? []
    x.data.withUnsafeBufferPointer { px in weight.data.withUnsafeBufferPointer { pw in dy.withUnsafeBufferPointer { pdy in
    cols.withUnsafeMutableBufferPointer { pc in dyT.withUnsafeMutableBufferPointer { pt in
    dWLocal.withUnsafeMutableBufferPointer { pdw in dXLocal.withUnsafeMutableBufferPointer { pdx in
        for n0 in stride(from: 0, to: g.n, by: g.chunk) {
            let nb = Swift.min(g.chunk, g.n - n0), colsN = nb * hw
            // dy chunk [nb, Cout, HW] → [Cout, nb·HW]
            Parallel.forEach(nb * g.cOut, costPerItem: hw) { range in
                for idx in range {
                    let s = idx / g.cOut, co = idx % g.cOut
                    (pt.baseAddress! + co * colsN + s * hw).update(from: pdy.baseAddress! + ((n0 + s) * g.cOut + co) * hw, count: hw)
                }
            }
            if weight.requiresGrad {
                im2col(px.baseAddress!, g, n0: n0, nb: nb, cols: pc.baseAddress!)
                for grp in 0..<g.groups {
                    // dW_g[CoutG, Kg] += dY_g[CoutG, cols] · cols_gᵀ
                    sgemm(transB: true, m: coutG, n: kG, k: colsN, a: pt.baseAddress! + grp * coutG * colsN, lda: colsN,
                          b: pc.baseAddress! + grp * kG * colsN, ldb: colsN, beta: 1, c: pdw.baseAddress! + grp * coutG * kG, ldc: kG)
                }
            }
            if x.requiresGrad {
                for grp in 0..<g.groups {
                    // dCols_g[Kg, cols] = W_gᵀ · dY_g
                    sgemm(transA: true, m: kG, n: colsN, k: coutG, a: pw.baseAddress! + grp * coutG * kG, lda: kG,
                          b: pt.baseAddress! + grp * coutG * colsN, ldb: colsN, c: pc.baseAddress! + grp * kG * colsN, ldc: colsN)
                }
                col2im(pc.baseAddress!, g, n0: n0, nb: nb, dx: pdx.baseAddress!)
            }
        }
    } } } } } } }
    if dW != nil { dW = dWLocal }
    if dX != nil { dX = dXLocal }
    return hasBias ? [dX, dW, dB] : [dX, dW]
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
