// Batch normalisation (Ioffe & Szegedy 2015) over `[N, C]` (BatchNorm1d) or `[N, C, H, W]` (BatchNorm2d),
// forward and backward side by side, with PyTorch's running-statistics rule:
//   training: normalise with the batch mean and biased variance; update
//             running_mean ← (1−m)·running_mean + m·mean, running_var ← (1−m)·running_var + m·var·M/(M−1)
//             (unbiased), m = momentum = 0.1 by default, M = N·H·W;
//   eval:     normalise with running_mean / running_var.

/// What the batch-norm backward pass needs: the normalised input x̂ and 1/sqrt(var + eps) per channel.
public struct BatchNormSaved {
    var xHat: [Float]
    var invStd: [Float]
    var training: Bool
}

/// Batch normalisation (`F.batch_norm`): x `[N, C]` or `[N, C, H, W]`; weight (γ), bias (β),
/// running mean and running variance `[C]` (any may be nil, as `affine=False` / `track_running_stats=False`).
/// In training, `runningMean`/`runningVar` are updated in place (not part of the graph).
/// - Throws: `TensorError` when x is not `[N, C, ...]`, a `[C]` vector has the wrong size, eval mode has no
///   running stats, or training sees one value per channel (as PyTorch's "Expected more than 1 value per channel").
public func batchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?,
                      training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) throws -> Tensor {
    guard x.rank == 2 || x.rank == 4 || x.rank == 3 else {
        throw TensorError.invalidShape(op: "batch_norm", shape: x.shape, reason: "is not [N, C] or [N, C, H, W]")
    }
    let n = x.shape[0], c = x.shape[1], hw = x.shape[2...].reduce(1, *), m = n * hw
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] {
        if let t, t.shape != [c] {
            throw TensorError.invalidShape(op: "batch_norm", shape: x.shape, reason: "has \(c) channels, \(name) is \(formatShape(t.shape))")
        }
    }
    var mean = [Float](repeating: 0, count: c), invStd = [Float](repeating: 0, count: c)
    if training {
        guard m > 1 else {
            throw TensorError.invalidShape(op: "batch_norm", shape: x.shape, reason: "has 1 value per channel; training needs more")
        }
        var variance = [Float](repeating: 0, count: c)
        x.data.withUnsafeBufferPointer { px in mean.withUnsafeMutableBufferPointer { mean in variance.withUnsafeMutableBufferPointer { variance in
            Parallel.forEach(c, costPerItem: m) { range in
                for ch in range {
                    var s = 0.0
                    for s0 in 0..<n { let base = (s0 * c + ch) * hw; for p in 0..<hw { s += Double(px[base + p]) } }
                    let mu = s / Double(m)
                    var v = 0.0
                    for s0 in 0..<n { let base = (s0 * c + ch) * hw; for p in 0..<hw { let d = Double(px[base + p]) - mu; v += d * d } }
                    mean[ch] = Float(mu); variance[ch] = Float(v / Double(m))
                }
            }
        } } }
        for ch in 0..<c { invStd[ch] = 1 / (variance[ch] + eps).squareRoot() }
        if let runningMean { for ch in 0..<c { runningMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * mean[ch] } }
        if let runningVar {
            let unbias = Float(m) / Float(m - 1)
            for ch in 0..<c { runningVar.data[ch] = (1 - momentum) * runningVar.data[ch] + momentum * variance[ch] * unbias }
        }
    } else {
        guard let runningMean, let runningVar else {
            throw TensorError.invalidArgument(op: "batch_norm", reason: "eval mode needs running_mean and running_var")
        }
        mean = runningMean.data
        for ch in 0..<c { invStd[ch] = 1 / (runningVar.data[ch] + eps).squareRoot() }
    }
    var xHat = [Float](repeating: 0, count: x.count), out = [Float](repeating: 0, count: x.count)
    x.data.withUnsafeBufferPointer { px in xHat.withUnsafeMutableBufferPointer { ph in out.withUnsafeMutableBufferPointer { po in
        Parallel.forEach(n * c, costPerItem: hw) { range in
            for idx in range {
                let ch = idx % c, base = idx * hw
                let gamma = weight?.data[ch] ?? 1, beta = bias?.data[ch] ?? 0, mu = mean[ch], inv = invStd[ch]
                for p in 0..<hw {
                    let h = (px[base + p] - mu) * inv
                    ph[base + p] = h
                    po[base + p] = h * gamma + beta
                }
            }
        }
    } } }
    let saved = BatchNormSaved(xHat: xHat, invStd: invStd, training: training)
    return .result(shape: x.shape, data: out, op: .batchNorm(x, weight: weight, bias: bias, saved),
                   inputs: [x] + [weight, bias].compactMap { $0 })
}

func batchNormBackward(_ x: Tensor, weight: Tensor?, hasBias: Bool, saved: BatchNormSaved, grad dy: [Float]) -> [[Float]?] {
    let n = x.shape[0], c = x.shape[1], hw = x.shape[2...].reduce(1, *), m = Float(n * hw)
    var sumDy = [Float](repeating: 0, count: c), sumDyXHat = [Float](repeating: 0, count: c)
    dy.withUnsafeBufferPointer { pdy in saved.xHat.withUnsafeBufferPointer { ph in
    sumDy.withUnsafeMutableBufferPointer { sumDy in sumDyXHat.withUnsafeMutableBufferPointer { sumDyXHat in
        Parallel.forEach(c, costPerItem: n * hw) { range in
            for ch in range {
                var a = 0.0, b = 0.0
                for s in 0..<n {
                    let base = (s * c + ch) * hw
                    for p in 0..<hw { a += Double(pdy[base + p]); b += Double(pdy[base + p] * ph[base + p]) }
                }
                sumDy[ch] = Float(a); sumDyXHat[ch] = Float(b)
            }
        }
    } } } }
    var dX: [Float]? = nil
    if x.requiresGrad {
        var d = [Float](repeating: 0, count: x.count)
        dy.withUnsafeBufferPointer { pdy in saved.xHat.withUnsafeBufferPointer { ph in d.withUnsafeMutableBufferPointer { pd in
            Parallel.forEach(n * c, costPerItem: hw) { range in
                for idx in range {
                    let ch = idx % c, base = idx * hw
                    let k = (weight?.data[ch] ?? 1) * saved.invStd[ch]
                    if saved.training {
                        // dx = γ·invstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂))
                        let meanDy = sumDy[ch] / m, meanDyXHat = sumDyXHat[ch] / m
                        for p in 0..<hw { pd[base + p] = k * (pdy[base + p] - meanDy - ph[base + p] * meanDyXHat) }
                    } else {
                        for p in 0..<hw { pd[base + p] = k * pdy[base + p] }
                    }
                }
            }
        } } }
        dX = d
    }
    var grads: [[Float]?] = [dX]
    if weight != nil { grads.append(sumDyXHat) }
    if hasBias { grads.append(sumDy) }
    return grads
}
