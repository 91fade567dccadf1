// Reductions over axes: sum, mean, max (with argmax); argmax and accuracy helpers. Backward side by side.

/// Normalises axes (negative counts from the end) and checks them.
func normalizedAxes(_ axes: [Int], rank: Int, op: String, shape: [Int]) throws -> [Int] {
    let norm = axes.map { $0 < 0 ? $0 + rank : $0 }
    guard norm.allSatisfy({ $0 >= 0 && $0 < rank }), Set(norm).count == norm.count else {
        throw TensorError.invalidShape(op: op, shape: shape, reason: "has no axes \(axes)")
    }
    return norm.sorted()
}

/// Sums `data` of `shape` over `axes`, keeping them as size-1 axes.
func sumKeepingDims(_ data: [Float], shape: [Int], axes: [Int]) -> (shape: [Int], data: [Float]) {
    var outShape = shape
    for a in axes { outShape[a] = 1 }
    return (outShape, reduceBroadcast(data, from: shape, to: outShape))
}

extension Tensor {
    /// Sum over `axes` (all axes when empty), dropping them unless `keepDims` (`torch.sum(dim=..., keepdim=...)`).
    /// - Throws: `TensorError.invalidShape` for an axis out of range.
    public func sum(axes: [Int] = [], keepDims: Bool = false) throws -> Tensor {
        let ax = axes.isEmpty ? Array(0..<rank) : try normalizedAxes(axes, rank: rank, op: "sum", shape: shape)
        let (kept, values) = sumKeepingDims(data, shape: shape, axes: ax)
        let outShape = keepDims ? kept : kept.enumerated().filter { !ax.contains($0.offset) }.map(\.element)
        return .result(shape: outShape, data: values, op: .sum(self, axes: ax), inputs: [self])
    }

    /// Mean over `axes` (all when empty) (`torch.mean`).
    /// - Throws: `TensorError.invalidShape` for an axis out of range.
    public func mean(axes: [Int] = [], keepDims: Bool = false) throws -> Tensor {
        let ax = axes.isEmpty ? Array(0..<rank) : try normalizedAxes(axes, rank: rank, op: "mean", shape: shape)
        let (kept, values) = sumKeepingDims(data, shape: shape, axes: ax)
        let n = Float(ax.map { shape[$0] }.reduce(1, *))
        let outShape = keepDims ? kept : kept.enumerated().filter { !ax.contains($0.offset) }.map(\.element)
        return .result(shape: outShape, data: values.map { $0 / n }, op: .mean(self, axes: ax), inputs: [self])
    }

    /// Maximum over one axis (dropped), with the gradient routed to the first maximum (`torch.max(dim=)`).
    /// - Throws: `TensorError.invalidShape` for an axis out of range or of size 0.
    public func max(axis: Int) throws -> Tensor {
        let ax = try normalizedAxes([axis], rank: rank, op: "max", shape: shape)[0]
        guard shape[ax] > 0 else {
            throw TensorError.invalidShape(op: "max", shape: shape, reason: "has an empty axis \(ax)")
        }
        let (values, indices) = maxAlong(axis: ax)
        var outShape = shape
        outShape.remove(at: ax)
        return .result(shape: outShape, data: values, op: .max(self, argmax: indices, axis: ax), inputs: [self])
    }

    /// Index of the maximum along `axis` (first on ties), shape without that axis, as Ints (`torch.argmax`).
    /// - Throws: `TensorError.invalidShape` for an axis out of range or of size 0.
    public func argmax(axis: Int) throws -> [Int] {
        let ax = try normalizedAxes([axis], rank: rank, op: "argmax", shape: shape)[0]
        guard shape[ax] > 0 else {
            throw TensorError.invalidShape(op: "argmax", shape: shape, reason: "has an empty axis \(ax)")
        }
        return maxAlong(axis: ax).1.map(Int.init)
    }

    private func maxAlong(axis: Int) -> ([Float], [Int32]) {
        let outer = shape[..<axis].reduce(1, *)
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var values = [Float](repeating: -.infinity, count: outer * inner)
        var indices = [Int32](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for k in 0..<n {
                for i in 0..<inner {
                    let v = data[(o * n + k) * inner + i]
                    if v > values[o * inner + i] || (k == 0) {
                        values[o * inner + i] = v
                        indices[o * inner + i] = Int32(k)
                    }
                }
            }
        }
        return (values, indices)
    }

    /// Indices of the `k` largest values of each row of `[N, C]` logits, best first (`torch.topk(k, dim=1)`).
    /// - Throws: `TensorError.invalidShape` unless rank 2 with at least `k` columns.
    public func topK(_ k: Int) throws -> [[Int]] {
        guard rank == 2, k >= 1, k <= shape[1] else {
            throw TensorError.invalidShape(op: "topk", shape: shape, reason: "has fewer than \(k) classes per row")
        }
        let c = shape[1]
        return (0..<shape[0]).map { r in
            Array(
                (0..<c).sorted {
                    data[r * c + $0] > data[r * c + $1] || (data[r * c + $0] == data[r * c + $1] && $0 < $1)
                }.prefix(k))
        }
    }
}

/// Backward of sum/mean over `axes`: broadcasts the reduced gradient back to `inShape`, times `scale`.
func expandReduced(_ g: [Float], to inShape: [Int], axes: [Int], scale: Float) -> [Float] {
    var kept = inShape
    for a in axes { kept[a] = 1 }
    let gt = Tensor(shape: kept, data: scale == 1 ? g : g.map { $0 * scale })
    let zeros = Tensor.zeros(inShape)
    return broadcastMap(zeros, gt, out: inShape) { _, y in y }
}

func maxBackward(_ g: [Float], input: [Int], argmax: [Int32], axis: Int) -> [Float] {
    let outer = input[..<axis].reduce(1, *)
    let n = input[axis]
    let inner = input[(axis + 1)...].reduce(1, *)
    var out = [Float](repeating: 0, count: input.reduce(1, *))
    for o in 0..<outer {
        for i in 0..<inner {
            out[(o * n + Int(argmax[o * inner + i])) * inner + i] = g[o * inner + i]
        }
    }
    return out
}

// MARK: - Comparisons (no gradient)

extension Tensor {
    /// 1 where `self == other` elementwise (with broadcasting), else 0; no gradient (`torch.eq(...).float()`).
    /// - Throws: `TensorError.shapeMismatch` on incompatible shapes.
    public func equals(_ other: Tensor) throws -> Tensor {
        let shape = try broadcastShape(self.shape, other.shape, op: "eq")
        return Tensor(shape: shape, data: broadcastMap(self, other, out: shape) { $0 == $1 ? 1 : 0 })
    }

    /// 1 where `self > other` elementwise (with broadcasting), else 0; no gradient (`torch.gt(...).float()`).
    /// - Throws: `TensorError.shapeMismatch` on incompatible shapes.
    public func greater(_ other: Tensor) throws -> Tensor {
        let shape = try broadcastShape(self.shape, other.shape, op: "gt")
        return Tensor(shape: shape, data: broadcastMap(self, other, out: shape) { $0 > $1 ? 1 : 0 })
    }

    /// Share of rows of `[N, C]` logits whose arg-max equals the label, in [0, 1] (top-1 accuracy).
    /// - Throws: `TensorError` unless `self` is `[N, C]` with N labels.
    public func accuracy(labels: [Int]) throws -> Double {
        guard rank == 2, shape[0] == labels.count else {
            throw TensorError.invalidShape(
                op: "accuracy", shape: shape, reason: "is not [N, classes] for \(labels.count) labels")
        }
        let predictions = try argmax(axis: 1)
        return labels.isEmpty ? 0 : Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }
}
