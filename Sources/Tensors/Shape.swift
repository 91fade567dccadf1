// Shape ops: views, flatten, 2-D transpose, batch slicing, concatenation. Backward side by side.

extension Tensor {
    /// The same elements with a new shape (`Tensor.reshape`/`view`); one size may be -1 (inferred).
    /// - Throws: `TensorError.invalidShape` when the sizes do not multiply to `count`.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var shape = newShape
        if let i = shape.firstIndex(of: -1) {
            let known = shape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            guard known > 0, count % known == 0 else {
                throw TensorError.invalidShape(
                    op: "reshape", shape: self.shape, reason: "cannot be viewed as \(formatShape(newShape))")
            }
            shape[i] = count / known
        }
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == count else {
            throw TensorError.invalidShape(
                op: "reshape", shape: self.shape, reason: "cannot be viewed as \(formatShape(newShape))")
        }
        return .result(shape: shape, data: data, op: .reshape(self), inputs: [self])
    }

    /// `[N, d1, d2, ...]` → `[N, d1*d2*...]` (`torch.flatten(x, 1)`).
    public func flattened() -> Tensor {
        let n = shape.first ?? 1
        return .result(shape: [n, n == 0 ? 0 : count / n], data: data, op: .reshape(self), inputs: [self])
    }

    /// Transpose of a matrix `[R, C]` → `[C, R]`.
    /// - Throws: `TensorError.invalidShape` unless rank 2.
    public func transposed() throws -> Tensor {
        guard rank == 2 else {
            throw TensorError.invalidShape(op: "transpose", shape: shape, reason: "is not a matrix")
        }
        return .result(
            shape: [shape[1], shape[0]], data: transpose2dData(data, rows: shape[0], cols: shape[1]),
            op: .transpose2d(self), inputs: [self])
    }

    /// Rows `start..<start+length` along axis 0 (a batch slice, `x[start:start+length]`).
    /// - Throws: `TensorError.invalidArgument` when the range is outside `0..<shape[0]`.
    public func slice(_ start: Int, length: Int) throws -> Tensor {
        guard rank >= 1, start >= 0, length >= 0, start + length <= shape[0] else {
            throw TensorError.invalidArgument(
                op: "slice", reason: "rows \(start)..<\(start + length) outside \(formatShape(shape))")
        }
        let row = shape[0] == 0 ? 0 : count / shape[0]
        let out = Array(data[(start * row)..<((start + length) * row)])
        return .result(shape: [length] + shape.dropFirst(), data: out, op: .slice(self, start: start), inputs: [self])
    }
}

/// Concatenates tensors along `axis` (`torch.cat`).
/// - Throws: `TensorError.invalidArgument` for an empty list or bad axis, `.shapeMismatch` when other axes differ.
public func concat(_ parts: [Tensor], axis: Int = 0) throws -> Tensor {
    guard let first = parts.first else { throw TensorError.invalidArgument(op: "concat", reason: "no tensors given") }
    guard axis >= 0 && axis < first.rank else {
        throw TensorError.invalidArgument(
            op: "concat", reason: "axis \(axis) out of range for \(formatShape(first.shape))")
    }
    for p in parts.dropFirst() {
        var a = p.shape
        var b = first.shape
        guard a.count == b.count else { throw TensorError.shapeMismatch(op: "concat", lhs: first.shape, rhs: p.shape) }
        a[axis] = 0
        b[axis] = 0
        guard a == b else { throw TensorError.shapeMismatch(op: "concat", lhs: first.shape, rhs: p.shape) }
    }
    let outer = first.shape[..<axis].reduce(1, *)
    var shape = first.shape
    shape[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
    var out = [Float]()
    out.reserveCapacity(shape.reduce(1, *))
    for o in 0..<outer {
        for p in parts {
            let block = p.shape[axis...].reduce(1, *)
            out.append(contentsOf: p.data[(o * block)..<((o + 1) * block)])
        }
    }
    return .result(shape: shape, data: out, op: .concat(parts, axis: axis), inputs: parts)
}

func concatBackward(_ g: [Float], parts: [[Int]], axis: Int) -> [[Float]?] {
    let outer = parts[0][..<axis].reduce(1, *)
    var grads = parts.map { [Float](repeating: 0, count: $0.reduce(1, *)) }
    var offset = 0
    for o in 0..<outer {
        for (i, shape) in parts.enumerated() {
            let block = shape[axis...].reduce(1, *)
            grads[i].replaceSubrange((o * block)..<((o + 1) * block), with: g[offset..<(offset + block)])
            offset += block
        }
    }
    return grads
}

func sliceBackward(_ g: [Float], input: [Int], start: Int, length: Int) -> [Float] {
    var out = [Float](repeating: 0, count: input.reduce(1, *))
    let row = input[0] == 0 ? 0 : out.count / input[0]
    out.replaceSubrange((start * row)..<((start + length) * row), with: g)
    return out
}

/// Row-major transpose of a `[rows, cols]` matrix.
func transpose2dData(_ a: [Float], rows: Int, cols: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: a.count) { out, n in
        a.withUnsafeBufferPointer { pa in
            for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = pa[r * cols + c] } }
        }
        n = a.count
    }
}
