// 2-D pooling over `[N, C, H, W]`: max, average and adaptive average (global pooling is
// adaptive to 1x1). Forward and backward side by side. Output size as PyTorch with
// ceil_mode=False: Hout = (H + 2·pad − k) / stride + 1.

/// Kernel, stride and zero-padding of a pooling window, plus sizes derived from the input.
public struct Pool2dGeometry: Equatable {
    public var kernel: (h: Int, w: Int)
    public var stride: (h: Int, w: Int)
    public var padding: (h: Int, w: Int)
    var n = 0, c = 0, h = 0, w = 0, hOut = 0, wOut = 0

    /// `stride` defaults to `kernel`, as `nn.MaxPool2d`/`nn.AvgPool2d`.
    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        self.kernel = (kernel.0, kernel.1)
        self.stride = stride.map { ($0.0, $0.1) } ?? (kernel.0, kernel.1)
        self.padding = (padding.0, padding.1)
    }

    public static func == (a: Pool2dGeometry, b: Pool2dGeometry) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding
    }

    func validated(_ x: [Int], op: String) throws -> Pool2dGeometry {
        guard x.count == 4 else { throw TensorError.invalidShape(op: op, shape: x, reason: "is not [N, C, H, W]") }
        guard kernel.h >= 1, kernel.w >= 1, stride.h >= 1, stride.w >= 1, padding.h >= 0, padding.w >= 0,
            padding.h * 2 <= kernel.h, padding.w * 2 <= kernel.w
        else {
            throw TensorError.invalidArgument(
                op: op,
                reason:
                    "kernel \(kernel), stride \(stride), padding \(padding) out of range (padding at most half the "
                    + "kernel)"
            )
        }
        guard x[2] + 2 * padding.h >= kernel.h, x[3] + 2 * padding.w >= kernel.w else {
            throw TensorError.invalidShape(
                op: op, shape: x, reason: "is smaller than the kernel \(kernel.h)x\(kernel.w)")
        }
        var g = self
        g.n = x[0]
        g.c = x[1]
        g.h = x[2]
        g.w = x[3]
        g.hOut = (g.h + 2 * padding.h - kernel.h) / stride.h + 1
        g.wOut = (g.w + 2 * padding.w - kernel.w) / stride.w + 1
        return g
    }
}

extension Tensor {
    /// Max pooling (`F.max_pool2d`); padding counts as −∞. The gradient goes to the first maximum of each window.
    /// - Throws: `TensorError` when the input is not `[N, C, H, W]` or smaller than the kernel.
    public func maxPool2d(_ geometry: Pool2dGeometry) throws -> Tensor {
        let g = try geometry.validated(shape, op: "max_pool2d")
        let planes = g.n * g.c
        let outHW = g.hOut * g.wOut
        var out = [Float](unsafeUninitializedCapacity: planes * outHW) { _, k in k = planes * outHW }
        var argmax = [Int32](unsafeUninitializedCapacity: planes * outHW) { _, k in k = planes * outHW }
        data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                argmax.withUnsafeMutableBufferPointer { pa in
                    Parallel.forEach(planes, costPerItem: outHW * g.kernel.h * g.kernel.w) { range in
                        if g.kernel == (2, 2) && g.stride == (2, 2) && g.padding == (0, 0) {
                            // The common 2x2/2 window, unrolled; same first-maximum and NaN rule as below.
                            for p in range {
                                let plane = px.baseAddress! + p * g.h * g.w
                                let o = po.baseAddress! + p * outHW
                                let ai = pa.baseAddress! + p * outHW
                                for oh in 0..<g.hOut {
                                    for ow in 0..<g.wOut {
                                        let i0 = 2 * oh * g.w + 2 * ow
                                        var best = plane[i0]
                                        var bestIndex = i0
                                        for d in 1...3 {
                                            let k = i0 + (d >> 1) * g.w + (d & 1)
                                            let v = plane[k]
                                            if v > best || v.isNaN {
                                                best = v
                                                bestIndex = k
                                            }
                                        }
                                        o[oh * g.wOut + ow] = best
                                        ai[oh * g.wOut + ow] = Int32(bestIndex)
                                    }
                                }
                            }
                            return
                        }
                        for p in range {
                            let plane = px.baseAddress! + p * g.h * g.w
                            for oh in 0..<g.hOut {
                                for ow in 0..<g.wOut {
                                    var best = -Float.infinity
                                    var bestIndex = -1
                                    for i in 0..<g.kernel.h {
                                        let ih = oh * g.stride.h - g.padding.h + i
                                        guard ih >= 0 && ih < g.h else { continue }
                                        for j in 0..<g.kernel.w {
                                            let iw = ow * g.stride.w - g.padding.w + j
                                            guard iw >= 0 && iw < g.w else { continue }
                                            let v = plane[ih * g.w + iw]
                                            if v > best || bestIndex < 0 || v.isNaN {
                                                best = v
                                                bestIndex = ih * g.w + iw
                                            }
                                        }
                                    }
                                    po[p * outHW + oh * g.wOut + ow] = best
                                    pa[p * outHW + oh * g.wOut + ow] = Int32(bestIndex)
                                }
                            }
                        }
                    }
                }
            }
        }
        return .result(
            shape: [g.n, g.c, g.hOut, g.wOut], data: out, op: .maxPool2d(self, argmax: argmax), inputs: [self])
    }

    /// Average pooling (`F.avg_pool2d`, count_include_pad=True: padded zeros count in the divisor kH·kW).
    /// - Throws: `TensorError` when the input is not `[N, C, H, W]` or smaller than the kernel.
    public func avgPool2d(_ geometry: Pool2dGeometry) throws -> Tensor {
        let g = try geometry.validated(shape, op: "avg_pool2d")
        let planes = g.n * g.c
        let outHW = g.hOut * g.wOut
        let scale = 1 / Float(g.kernel.h * g.kernel.w)
        var out = [Float](repeating: 0, count: planes * outHW)
        data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                Parallel.forEach(planes, costPerItem: outHW * g.kernel.h * g.kernel.w) { range in
                    for p in range {
                        let plane = px.baseAddress! + p * g.h * g.w
                        for oh in 0..<g.hOut {
                            for ow in 0..<g.wOut {
                                var acc: Float = 0
                                for i in 0..<g.kernel.h {
                                    let ih = oh * g.stride.h - g.padding.h + i
                                    guard ih >= 0 && ih < g.h else { continue }
                                    for j in 0..<g.kernel.w {
                                        let iw = ow * g.stride.w - g.padding.w + j
                                        if iw >= 0 && iw < g.w { acc += plane[ih * g.w + iw] }
                                    }
                                }
                                po[p * outHW + oh * g.wOut + ow] = acc * scale
                            }
                        }
                    }
                }
            }
        }
        return .result(shape: [g.n, g.c, g.hOut, g.wOut], data: out, op: .avgPool2d(self, g), inputs: [self])
    }

    /// Adaptive average pooling to `[N, C, outH, outW]` (`F.adaptive_avg_pool2d`): output cell i averages
    /// input rows floor(i·H/outH) ..< ceil((i+1)·H/outH), likewise columns. `(1, 1)` is global average pooling.
    /// - Throws: `TensorError` when the input is not `[N, C, H, W]` or an output size is not positive.
    public func adaptiveAvgPool2d(_ outH: Int, _ outW: Int) throws -> Tensor {
        guard rank == 4 else {
            throw TensorError.invalidShape(op: "adaptive_avg_pool2d", shape: shape, reason: "is not [N, C, H, W]")
        }
        guard outH >= 1, outW >= 1 else {
            throw TensorError.invalidArgument(
                op: "adaptive_avg_pool2d", reason: "output size \(outH)x\(outW) must be positive")
        }
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        var out = [Float](repeating: 0, count: planes * outH * outW)
        let cells = adaptiveCells(outH, outW, h: h, w: w)
        data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                Parallel.forEach(planes, costPerItem: h * w) { range in  // by plane, as the batch's other passes
                    for p in range {
                        for (o, cell) in cells.enumerated() {
                            var acc: Float = 0
                            for ih in cell.h0..<cell.h1 {
                                for iw in cell.w0..<cell.w1 { acc += px[(p * h + ih) * w + iw] }
                            }
                            po[p * cells.count + o] = acc / cell.area
                        }
                    }
                }
            }
        }
        return .result(
            shape: [shape[0], shape[1], outH, outW], data: out, op: .adaptiveAvgPool2d(self), inputs: [self])
    }

    /// Global average pooling `[N, C, H, W]` → `[N, C]` (the head's pooling before `fc`).
    /// - Throws: `TensorError` when the input is not `[N, C, H, W]`.
    public func globalAvgPool() throws -> Tensor {
        try adaptiveAvgPool2d(1, 1).reshaped([shape[0], shape[1]])
    }
}

/// The input window of one adaptive pooling output cell: rows `h0..<h1`, columns `w0..<w1`, and the divisor
/// max(1, its area) the average takes.
struct AdaptiveCell {
    let h0: Int
    let h1: Int
    let w0: Int
    let w1: Int
    let area: Float
}

/// The windows of the `outH x outW` adaptive output cells over an `h x w` plane, row by row: output cell i of n over an
/// axis of size `size` reads input i·size/n ..< ceil((i+1)·size/n) (PyTorch's start/end index).
func adaptiveCells(_ outH: Int, _ outW: Int, h: Int, w: Int) -> [AdaptiveCell] {
    func range(_ i: Int, _ n: Int, _ size: Int) -> (Int, Int) { (i * size / n, ((i + 1) * size + n - 1) / n) }
    var cells: [AdaptiveCell] = []
    cells.reserveCapacity(outH * outW)
    for oh in 0..<outH {
        let (h0, h1) = range(oh, outH, h)
        for ow in 0..<outW {
            let (w0, w1) = range(ow, outW, w)
            cells.append(AdaptiveCell(h0: h0, h1: h1, w0: w0, w1: w1, area: Float(Swift.max(1, (h1 - h0) * (w1 - w0)))))
        }
    }
    return cells
}

func maxPool2dBackward(_ g: [Float], input: [Int], argmax: [Int32]) -> [Float] {
    let planes = input[0] * input[1]
    let plane = input[2] * input[3]
    let outHW = planes == 0 ? 0 : argmax.count / planes
    var dx = [Float](repeating: 0, count: planes * plane)
    for p in 0..<planes {
        for o in 0..<outHW where argmax[p * outHW + o] >= 0 {
            dx[p * plane + Int(argmax[p * outHW + o])] += g[p * outHW + o]
        }
    }
    return dx
}

func avgPool2dBackward(_ dy: [Float], input: [Int], geometry g: Pool2dGeometry) -> [Float] {
    let planes = g.n * g.c
    let outHW = g.hOut * g.wOut
    let scale = 1 / Float(g.kernel.h * g.kernel.w)
    var dx = [Float](repeating: 0, count: planes * g.h * g.w)
    for p in 0..<planes {
        for oh in 0..<g.hOut {
            for ow in 0..<g.wOut {
                let v = dy[p * outHW + oh * g.wOut + ow] * scale
                for i in 0..<g.kernel.h {
                    let ih = oh * g.stride.h - g.padding.h + i
                    guard ih >= 0 && ih < g.h else { continue }
                    for j in 0..<g.kernel.w {
                        let iw = ow * g.stride.w - g.padding.w + j
                        if iw >= 0 && iw < g.w { dx[(p * g.h + ih) * g.w + iw] += v }
                    }
                }
            }
        }
    }
    return dx
}

func adaptiveAvgPool2dBackward(_ dy: [Float], input: [Int], output: [Int]) -> [Float] {
    let (planes, h, w) = (input[0] * input[1], input[2], input[3])
    let cells = adaptiveCells(output[2], output[3], h: h, w: w)
    var dx = [Float](repeating: 0, count: planes * h * w)
    dx.withUnsafeMutableBufferPointer { pdx in
        Parallel.forEach(planes, costPerItem: h * w) { range in  // by plane, as the batch's other passes
            for p in range {
                for (o, cell) in cells.enumerated() {
                    let v = dy[p * cells.count + o] / cell.area
                    for ih in cell.h0..<cell.h1 { for iw in cell.w0..<cell.w1 { pdx[(p * h + ih) * w + iw] += v } }
                }
            }
        }
    }
    return dx
}
