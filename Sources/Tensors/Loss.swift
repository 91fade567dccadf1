import Foundation

// Softmax family and losses, forward and backward side by side. Rows are the last axis of
// `[N, C]` logits. Reductions follow PyTorch defaults: cross-entropy and MSE average over all
// elements / samples; KL divergence uses `reduction='batchmean'` (sum / N) as Hinton-style KD does.

/// Row-wise log-softmax of row-major `[rows, c]` data, max-shifted for stability.
func logSoftmaxRows(_ x: [Float], rows: Int, c: Int, scale: Float = 1) -> [Float] {
    var out = [Float](repeating: 0, count: x.count)
    for r in 0..<rows {
        let base = r * c
        var mx = -Float.infinity
        for j in 0..<c { mx = max(mx, x[base + j] * scale) }
        var s: Float = 0
        for j in 0..<c { s += expf(x[base + j] * scale - mx) }
        let lse = mx + logf(s)
        for j in 0..<c { out[base + j] = x[base + j] * scale - lse }
    }
    return out
}

extension Tensor {
    /// The rows of the last axis (the product of the others) and its size, the classes.
    fileprivate var rowsAndClasses: (Int, Int) {
        let c = shape.last ?? 1
        return (c == 0 ? 0 : count / c, c)
    }

    /// Softmax over the last axis (`F.softmax(x, dim=-1)`).
    public func softmax() -> Tensor {
        let (rows, c) = rowsAndClasses
        return .result(
            shape: shape, data: logSoftmaxRows(data, rows: rows, c: c).map { expf($0) }, op: .softmax(self),
            inputs: [self])
    }

    /// Log-softmax over the last axis (`F.log_softmax(x, dim=-1)`).
    public func logSoftmax() -> Tensor {
        let (rows, c) = rowsAndClasses
        return .result(
            shape: shape, data: logSoftmaxRows(data, rows: rows, c: c), op: .logSoftmax(self), inputs: [self])
    }
}

func softmaxBackward(_ g: [Float], out: Tensor) -> [Float] {
    // dx = y ⊙ (g − Σ g·y) per row
    let (rows, c) = out.rowsAndClasses
    var dx = [Float](repeating: 0, count: g.count)
    for r in 0..<rows {
        var dot: Float = 0
        for j in 0..<c { dot += g[r * c + j] * out.data[r * c + j] }
        for j in 0..<c { dx[r * c + j] = out.data[r * c + j] * (g[r * c + j] - dot) }
    }
    return dx
}

func logSoftmaxBackward(_ g: [Float], out: Tensor) -> [Float] {
    // dx = g − softmax ⊙ Σ g per row
    let (rows, c) = out.rowsAndClasses
    var dx = [Float](repeating: 0, count: g.count)
    for r in 0..<rows {
        var s: Float = 0
        for j in 0..<c { s += g[r * c + j] }
        for j in 0..<c { dx[r * c + j] = g[r * c + j] - expf(out.data[r * c + j]) * s }
    }
    return dx
}

/// Checks `[N, C]` logits against N integer targets in `0..<C`.
private func checkTargets(_ logits: Tensor, _ targets: [Int], op: String) throws {
    guard logits.rank == 2 else {
        throw TensorError.invalidShape(op: op, shape: logits.shape, reason: "is not [N, classes]")
    }
    guard targets.count == logits.shape[0] else {
        throw TensorError.invalidShape(
            op: op, shape: logits.shape, reason: "has \(logits.shape[0]) rows but \(targets.count) targets")
    }
    if let bad = targets.first(where: { $0 < 0 || $0 >= logits.shape[1] }) {
        throw TensorError.invalidArgument(op: op, reason: "target \(bad) is outside 0..<\(logits.shape[1])")
    }
}

/// Mean cross-entropy of `[N, C]` logits against class indices (`F.cross_entropy(label_smoothing=ε)`):
/// loss = mean_i [ −(1−ε)·log p_i[y_i] − (ε/C)·Σ_c log p_i[c] ] (Szegedy et al. 2016 label smoothing, PyTorch's form).
/// - Throws: `TensorError` when logits are not `[N, C]`, the target count differs from N, a target is out of
///   range, or ε is outside [0, 1].
public func crossEntropy(_ logits: Tensor, targets: [Int], labelSmoothing: Float = 0) throws -> Tensor {
    try checkTargets(logits, targets, op: "cross_entropy")
    guard labelSmoothing >= 0 && labelSmoothing <= 1 else {
        throw TensorError.invalidArgument(
            op: "cross_entropy", reason: "label_smoothing must be in [0, 1], got \(labelSmoothing)")
    }
    let n = logits.shape[0]
    let c = logits.shape[1]
    let logp = logSoftmaxRows(logits.data, rows: n, c: c)
    var total = 0.0
    for i in 0..<n {
        var rowSum: Float = 0
        for j in 0..<c { rowSum += logp[i * c + j] }
        total += Double(-(1 - labelSmoothing) * logp[i * c + targets[i]] - labelSmoothing / Float(c) * rowSum)
    }
    return .result(
        shape: [], data: [Float(total / Double(max(n, 1)))],
        op: .crossEntropy(logits, targets: targets, smoothing: labelSmoothing), inputs: [logits])
}

func crossEntropyBackward(_ logits: Tensor, targets: [Int], smoothing: Float, grad g: Float) -> [Float] {
    // d/dz = (softmax(z) − q) / N with q = (1−ε)·onehot + ε/C
    let n = logits.shape[0]
    let c = logits.shape[1]
    var dx = logSoftmaxRows(logits.data, rows: n, c: c).map { expf($0) }
    let scale = g / Float(max(n, 1))
    for i in 0..<n {
        for j in 0..<c {
            let q = (j == targets[i] ? 1 - smoothing : 0) + smoothing / Float(c)
            dx[i * c + j] = (dx[i * c + j] - q) * scale
        }
    }
    return dx
}

/// Mean squared error `mean((a − b)²)` over all elements (`F.mse_loss`), the SSKD/FitNets feature loss.
/// - Throws: `TensorError.shapeMismatch` unless `a` and `b` have the same shape.
public func mseLoss(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    guard a.shape == b.shape else { throw TensorError.shapeMismatch(op: "mse_loss", lhs: a.shape, rhs: b.shape) }
    var s = 0.0
    for i in 0..<a.count {
        let d = Double(a.data[i] - b.data[i])
        s += d * d
    }
    return .result(shape: [], data: [Float(s / Double(max(a.count, 1)))], op: .mseLoss(a, b), inputs: [a, b])
}

func mseBackward(_ a: Tensor, _ b: Tensor, grad g: Float) -> [[Float]?] {
    let k = 2 * g / Float(max(a.count, 1))
    let d = zipMap(a.data, b.data) { ($0 - $1) * k }
    return [d, b.requiresGrad ? d.map { -$0 } : nil]
}

/// KL(p_teacher ‖ p_student) between temperature-softened distributions, `reduction='batchmean'`:
/// (1/N) Σ_i Σ_c p_t·(log p_t − log p_s) with p = softmax(logits / T) (Hinton et al. 2015). The T² factor of
/// the KD loss is applied by the caller. Gradient w.r.t. student logits: (p_s − p_t) / (N·T).
/// - Throws: `TensorError` when shapes differ, are not `[N, C]`, or T ≤ 0.
public func klDivergence(student: Tensor, teacher: Tensor, temperature: Float) throws -> Tensor {
    guard student.shape == teacher.shape else {
        throw TensorError.shapeMismatch(op: "kl_div", lhs: student.shape, rhs: teacher.shape)
    }
    guard student.rank == 2 else {
        throw TensorError.invalidShape(op: "kl_div", shape: student.shape, reason: "is not [N, classes]")
    }
    guard temperature > 0 else {
        throw TensorError.invalidArgument(op: "kl_div", reason: "temperature must be positive, got \(temperature)")
    }
    let n = student.shape[0]
    let c = student.shape[1]
    let ls = logSoftmaxRows(student.data, rows: n, c: c, scale: 1 / temperature)
    let lt = logSoftmaxRows(teacher.data, rows: n, c: c, scale: 1 / temperature)
    var total = 0.0
    for k in 0..<ls.count { total += Double(expf(lt[k]) * (lt[k] - ls[k])) }
    return .result(
        shape: [], data: [Float(total / Double(max(n, 1)))],
        op: .klDivergence(student: student, teacher: teacher, temperature: temperature), inputs: [student, teacher])
}

func klDivergenceBackward(student: Tensor, teacher: Tensor, temperature t: Float, grad g: Float) -> [[Float]?] {
    let n = student.shape[0]
    let c = student.shape[1]
    let k = g / (Float(max(n, 1)) * t)
    let ls = logSoftmaxRows(student.data, rows: n, c: c, scale: 1 / t)
    let lt = logSoftmaxRows(teacher.data, rows: n, c: c, scale: 1 / t)
    let dS = (0..<ls.count).map { (expf(ls[$0]) - expf(lt[$0])) * k }
    var dT: [Float]? = nil
    if teacher.requiresGrad {
        // d/dt_j = p_t,j · ((log p_t,j − log p_s,j) − KL_row) / (N·T)
        var d = [Float](repeating: 0, count: ls.count)
        for r in 0..<n {
            var row: Float = 0
            for j in 0..<c { row += expf(lt[r * c + j]) * (lt[r * c + j] - ls[r * c + j]) }
            for j in 0..<c { d[r * c + j] = expf(lt[r * c + j]) * ((lt[r * c + j] - ls[r * c + j]) - row) * k }
        }
        dT = d
    }
    return [dS, dT]
}
