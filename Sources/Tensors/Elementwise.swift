import Foundation

// Elementwise arithmetic with NumPy/PyTorch broadcasting, forward and backward side by side.
// Broadcasting rule (numpy.org "Broadcasting"): shapes align on the right; a size-1 axis
// stretches; missing leading axes count as 1. `[N, C, H, W] + [1, C, 1, 1]` adds per channel.

/// The broadcast shape of `a` and `b`.
/// - Throws: `TensorError.shapeMismatch` naming `op` when an axis differs and neither size is 1.
public func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        guard da == db || da == 1 || db == 1 else { throw TensorError.shapeMismatch(op: op, lhs: a, rhs: b) }
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Strides (in elements) to read a row-major tensor of `shape` as if it had shape `out` (0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
    var strides = [Int](repeating: 0, count: out.count)
    var step = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let o = i + out.count - shape.count
        strides[o] = shape[i] == 1 ? 0 : step
        step *= shape[i]
    }
    return strides
}

/// Applies `f` over the broadcast of `a` and `b` into a new array of `out`'s element count.
func broadcastMap(_ a: Tensor, _ b: Tensor, out: [Int], _ f: (Float, Float) -> Float) -> [Float] {
    let n = out.reduce(1, *)
    if a.shape == b.shape { return zipMap(a.data, b.data, f) }
    let sa = broadcastStrides(a.shape, to: out)
    let sb = broadcastStrides(b.shape, to: out)
    let inner = out.last ?? 1
    let ia = sa.last ?? 0
    let ib = sb.last ?? 0
    return [Float](unsafeUninitializedCapacity: n) { res, written in
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                var index = [Int](repeating: 0, count: out.count)
                var offA = 0
                var offB = 0
                var o = 0
                while o < n {
                    for j in 0..<inner { res[o + j] = f(pa[offA + j * ia], pb[offB + j * ib]) }
                    o += inner
                    // Advance the multi-index over all axes but the last.
                    var axis = out.count - 2
                    while axis >= 0 {
                        index[axis] += 1
                        offA += sa[axis]
                        offB += sb[axis]
                        if index[axis] < out[axis] { break }
                        offA -= sa[axis] * out[axis]
                        offB -= sb[axis] * out[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        written = n
    }
}

/// Sums a gradient of broadcast shape `from` back down to the operand shape `to` (the backward of broadcasting).
func reduceBroadcast(_ g: [Float], from: [Int], to: [Int]) -> [Float] {
    if from == to { return g }
    var res = [Float](repeating: 0, count: to.reduce(1, *))
    let st = broadcastStrides(to, to: from)
    var index = [Int](repeating: 0, count: from.count)
    var off = 0
    res.withUnsafeMutableBufferPointer { pr in
        for value in g {
            pr[off] += value
            var axis = from.count - 1
            while axis >= 0 {
                index[axis] += 1
                off += st[axis]
                if index[axis] < from[axis] { break }
                off -= st[axis] * from[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
    return res
}

/// `a + b` with broadcasting. - Throws: `TensorError.shapeMismatch` on incompatible shapes.
public func + (a: Tensor, b: Tensor) throws -> Tensor {
    let shape = try broadcastShape(a.shape, b.shape, op: "add")
    if a.shape == b.shape {  // the residual add: one vectorised pass
        let out = a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                parallelFill(a.count) { po, r in
                    vectorAdd(
                        pa.baseAddress! + r.lowerBound, pb.baseAddress! + r.lowerBound, po + r.lowerBound, r.count)
                }
            }
        }
        return .result(shape: shape, data: out, op: .add(a, b), inputs: [a, b])
    }
    return .result(shape: shape, data: broadcastMap(a, b, out: shape, +), op: .add(a, b), inputs: [a, b])
}

/// relu(a + b) (`F.relu(a + b)`, the residual block's output) in one pass for same-shape tensors, exactly as the two
/// ops in sequence (same values and gradients) without the intermediate tensor; broadcasts by the two ops otherwise.
/// - Throws: `TensorError.shapeMismatch` on incompatible shapes.
public func addRelu(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    guard a.shape == b.shape else { return try (a + b).relu() }
    let out = a.data.withUnsafeBufferPointer { pa in
        b.data.withUnsafeBufferPointer { pb in
            parallelFill(a.count) { po, r in
                vectorAddRelu(
                    pa.baseAddress! + r.lowerBound, pb.baseAddress! + r.lowerBound, po + r.lowerBound, r.count)
            }
        }
    }
    return .result(shape: a.shape, data: out, op: .addRelu(a, b), inputs: [a, b])
}

/// `a - b` with broadcasting. - Throws: `TensorError.shapeMismatch` on incompatible shapes.
public func - (a: Tensor, b: Tensor) throws -> Tensor {
    let shape = try broadcastShape(a.shape, b.shape, op: "sub")
    return .result(shape: shape, data: broadcastMap(a, b, out: shape, -), op: .sub(a, b), inputs: [a, b])
}

/// `a * b` elementwise with broadcasting. - Throws: `TensorError.shapeMismatch` on incompatible shapes.
public func * (a: Tensor, b: Tensor) throws -> Tensor {
    let shape = try broadcastShape(a.shape, b.shape, op: "mul")
    return .result(shape: shape, data: broadcastMap(a, b, out: shape, *), op: .mul(a, b), inputs: [a, b])
}

func mulBackward(_ a: Tensor, _ b: Tensor, out: Tensor, grad g: [Float]) -> [[Float]?] {
    let gb = Tensor(shape: out.shape, data: g)
    let dA =
        a.requiresGrad ? reduceBroadcast(broadcastMap(gb, b, out: out.shape, *), from: out.shape, to: a.shape) : nil
    let dB =
        b.requiresGrad ? reduceBroadcast(broadcastMap(gb, a, out: out.shape, *), from: out.shape, to: b.shape) : nil
    return [dA, dB]
}

/// `a / b` elementwise with broadcasting. - Throws: `TensorError.shapeMismatch` on incompatible shapes.
public func / (a: Tensor, b: Tensor) throws -> Tensor {
    let shape = try broadcastShape(a.shape, b.shape, op: "div")
    return .result(shape: shape, data: broadcastMap(a, b, out: shape, /), op: .div(a, b), inputs: [a, b])
}

func divBackward(_ a: Tensor, _ b: Tensor, out: Tensor, grad g: [Float]) -> [[Float]?] {
    let gb = Tensor(shape: out.shape, data: g)
    let dA =
        a.requiresGrad ? reduceBroadcast(broadcastMap(gb, b, out: out.shape, /), from: out.shape, to: a.shape) : nil
    // d(a/b)/db = -out / b
    let dB =
        b.requiresGrad
        ? reduceBroadcast(
            zipMap(zipMap(g, out.data, *), broadcastMap(out, b, out: out.shape) { _, y in y }) { -$0 / $1 },
            from: out.shape, to: b.shape)
        : nil
    return [dA, dB]
}

// MARK: - Scalar operands

/// `a + s` for every element.
public func + (a: Tensor, s: Float) -> Tensor {
    .result(shape: a.shape, data: a.data.map { $0 + s }, op: .addScalar(a), inputs: [a])
}
/// `a - s` for every element.
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
/// `a * s` for every element.
public func * (a: Tensor, s: Float) -> Tensor {
    .result(shape: a.shape, data: a.data.map { $0 * s }, op: .mulScalar(a, s), inputs: [a])
}
/// `s * a` for every element.
public func * (s: Float, a: Tensor) -> Tensor { a * s }
/// `a / s` for every element.
public func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
/// `-a`.
public prefix func - (a: Tensor) -> Tensor { a * -1 }

extension Tensor {
    /// `self ** p` elementwise (`torch.pow` with a scalar exponent).
    public func pow(_ p: Float) -> Tensor {
        .result(shape: shape, data: data.map { powf($0, p) }, op: .powScalar(self, p), inputs: [self])
    }
    /// `e ** self` elementwise.
    public func exp() -> Tensor {
        .result(shape: shape, data: data.map { expf($0) }, op: .exp(self), inputs: [self])
    }
    /// Natural logarithm elementwise (`-inf` at 0, NaN below, as PyTorch).
    public func log() -> Tensor {
        .result(shape: shape, data: data.map { logf($0) }, op: .log(self), inputs: [self])
    }
    /// Square root elementwise.
    public func sqrt() -> Tensor { pow(0.5) }
}
