import CKernels

// Batch normalisation (Ioffe & Szegedy 2015) over `[N, C]` (BatchNorm1d) or `[N, C, H, W]` (BatchNorm2d),
// forward and backward side by side, with PyTorch's running-statistics rule:
//   training: normalise with the batch mean and biased variance; update
//             running_mean ← (1−m)·running_mean + m·mean, running_var ← (1−m)·running_var + m·var·M/(M−1)
//             (unbiased), m = momentum = 0.1 by default, M = N·H·W;
//   eval:     normalise with running_mean / running_var.
// The fused ReLU and residual (`relu:`, `residual:`) are here; the couplings with the convolutions around a batch norm
// (statistics from the convolution, the output and dX left unwritten for it) are in Fused/ConvBatchNorm.swift.

/// What the batch-norm backward pass needs besides the input: the mean and 1/sqrt(var + eps) per channel
/// used to normalise (x̂ = (x − mean)·invStd is recomputed rather than stored, saving one activation-sized array).
public struct BatchNormSaved {
    var mean: [Float]
    var invStd: [Float]
    var training: Bool
    /// Whether a ReLU followed in the same pass (`batchNorm(..., relu: true)`); the backward then masks dy by output >
    /// 0.
    var relu = false
    /// The per-channel affine map y = x·scale + shift the forward pass applied (scale = γ·invStd, shift = β −
    /// mean·scale): with `relu`, the backward recomputes the mask output > 0 as x·scale + shift > 0 (bit for bit the
    /// forward's test) instead of reading the output again.
    var scale: [Float] = [], shift: [Float] = []
}

/// Batch normalisation (`F.batch_norm`): x `[N, C]` or `[N, C, H, W]`; weight (γ), bias (β),
/// running mean and running variance `[C]` (any may be nil, as `affine=False` / `track_running_stats=False`).
/// In training, `runningMean`/`runningVar` are updated in place (not part of the graph).
/// With `relu: true` the result is `relu(batch_norm(x))` computed in one pass, exactly as the two ops in sequence
/// (same values and gradients), without the intermediate tensor. With a `residual` of x's shape it is
/// `batch_norm(x) + residual`, or with `relu` `relu(batch_norm(x) + residual)` (the end of a ResNet block, as
/// `addRelu(bn2(...), shortcut)`), again one pass with the same values and gradients as the ops in sequence: the
/// backward masks dy by output > 0 and sums for the batch norm in the same pass, and passes the masked dy to the
/// residual.
/// - Throws: `TensorError` when x is not `[N, C, ...]`, a `[C]` vector has the wrong size, `residual` is not of x's
///   shape, eval mode has no running stats, or training sees one value per channel (as PyTorch's "Expected more
///   than 1 value per channel").
public func batchNorm(
    _ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?,
    training: Bool, momentum: Float = 0.1, eps: Float = 1e-5, relu: Bool = false,
    residual: Tensor? = nil
) throws -> Tensor {
    guard x.rank == 2 || x.rank == 4 || x.rank == 3 else {
        throw TensorError.invalidShape(op: "batch_norm", shape: x.shape, reason: "is not [N, C] or [N, C, H, W]")
    }
    if let residual, residual.shape != x.shape {
        throw TensorError.shapeMismatch(op: "batch_norm + residual", lhs: x.shape, rhs: residual.shape)
    }
    let n = x.shape[0]
    let c = x.shape[1]
    let hw = x.shape[2...].reduce(1, *)
    let m = n * hw
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] {
        if let t, t.shape != [c] {
            throw TensorError.invalidShape(
                op: "batch_norm", shape: x.shape, reason: "has \(c) channels, \(name) is \(formatShape(t.shape))")
        }
    }
    var mean = [Float](repeating: 0, count: c)
    var invStd = [Float](repeating: 0, count: c)
    if training {
        guard m > 1 else {
            throw TensorError.invalidShape(
                op: "batch_norm", shape: x.shape, reason: "has 1 value per channel; training needs more")
        }
        let variance: [Float]
        (mean, variance) = batchMoments(x, n: n, c: c, hw: hw)
        for ch in 0..<c { invStd[ch] = 1 / (variance[ch] + eps).squareRoot() }
        if let runningMean {
            for ch in 0..<c { runningMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * mean[ch] }
        }
        if let runningVar {
            let unbias = Float(m) / Float(m - 1)
            for ch in 0..<c {
                runningVar.data[ch] = (1 - momentum) * runningVar.data[ch] + momentum * variance[ch] * unbias
            }
        }
    } else {
        guard let runningMean, let runningVar else {
            throw TensorError.invalidArgument(op: "batch_norm", reason: "eval mode needs running_mean and running_var")
        }
        mean = runningMean.data
        for ch in 0..<c { invStd[ch] = 1 / (runningVar.data[ch] + eps).squareRoot() }
    }
    // y = x·scale + shift with scale = γ·invStd, shift = β − mean·scale, one pass per plane.
    let scale = (0..<c).map { (weight?.data[$0] ?? 1) * invStd[$0] }
    let shift = (0..<c).map { (bias?.data[$0] ?? 0) - mean[$0] * scale[$0] }
    let saved = BatchNormSaved(mean: mean, invStd: invStd, training: training, relu: relu, scale: scale, shift: shift)
    if residual == nil && x.rank == 4 {  // the output as x's affine map, written when first read (or never)
        let values = ChannelAffine(source: x.data, scale: scale, shift: shift, relu: relu, channels: c, planeSize: hw)
        let op = Op.batchNorm(x, weight: weight, bias: bias, residual: nil, saved)
        let inputs = [x] + [weight, bias].compactMap { $0 }
        if deferBatchNormOutputs { return .result(shape: x.shape, pending: values, op: op, inputs: inputs) }
        return .result(shape: x.shape, data: values.materialized(), op: op, inputs: inputs)
    }
    var out = [Float](unsafeUninitializedCapacity: x.count) { _, k in k = x.count }
    let residualData = residual?.data ?? []
    x.data.withUnsafeBufferPointer { px in
        out.withUnsafeMutableBufferPointer { po in
            residualData.withUnsafeBufferPointer { pr in
                Parallel.forEach(n * c, costPerItem: hw) { range in
                    for idx in range {
                        let ch = idx % c
                        if residual != nil {
                            vectorAffineAdd(
                                px.baseAddress! + idx * hw, pr.baseAddress! + idx * hw, po.baseAddress! + idx * hw, hw,
                                scale: scale[ch], shift: shift[ch], relu: relu)
                        } else {
                            vectorAffine(
                                px.baseAddress! + idx * hw, po.baseAddress! + idx * hw, hw, scale: scale[ch],
                                shift: shift[ch], relu: relu)
                        }
                    }
                }
            }
        }
    }
    return .result(
        shape: x.shape, data: out, op: .batchNorm(x, weight: weight, bias: bias, residual: residual, saved),
        inputs: [x] + [weight, bias, residual].compactMap { $0 })
}

/// Per-channel mean and biased variance of x `[N, C, (H, W)]` over N·H·W values: merged from the `PlaneMoments` the op
/// that wrote x recorded when there are any, else two passes per channel (mean, then squared deviations) with
/// 16-lane Float sums within a plane and Double across planes.
func batchMoments(_ x: Tensor, n: Int, c: Int, hw: Int) -> (mean: [Float], variance: [Float]) {
    var mean = [Float](repeating: 0, count: c)
    var variance = [Float](repeating: 0, count: c)
    let m = Double(n * hw)
    if let pm = x.planeMoments, pm.mean.count == n * c, pm.residual.count == n * c, pm.m2.count == n * c, hw > 0 {
        return pm.channelMoments(n: n, c: c, hw: hw)
    }
    x.data.withUnsafeBufferPointer { px in
        mean.withUnsafeMutableBufferPointer { mean in
            variance.withUnsafeMutableBufferPointer { variance in
                Parallel.forEach(c, costPerItem: n * hw) { range in
                    for ch in range {
                        var s = 0.0
                        for s0 in 0..<n { s += Double(vectorSum(px.baseAddress! + (s0 * c + ch) * hw, hw)) }
                        let mu = Float(s / m)
                        var v = 0.0
                        for s0 in 0..<n {
                            v += Double(vectorSquaredDeviation(px.baseAddress! + (s0 * c + ch) * hw, hw, mean: mu))
                        }
                        mean[ch] = mu
                        variance[ch] = Float(v / m)
                    }
                }
            }
        }
    }
    return (mean, variance)
}

/// The backward pass of `batchNorm`: gradients of [x, weight?, bias?, residual?]. With `mayDefer` (the engine allows
/// it) a training pass leaves x's gradient unwritten in `deferred` and returns nil in its place.
func batchNormBackward(
    _ x: Tensor, weight: Tensor?, hasBias: Bool, residual: Tensor?, saved: BatchNormSaved, out: Tensor,
    grad: [Float], mayDefer: Bool = false, deferred: inout DeferredBatchNormGradient?
) -> [[Float]?] {
    deferred = nil
    let n = x.shape[0]
    let c = x.shape[1]
    let hw = x.shape[2...].reduce(1, *)
    let m = Float(n * hw)
    // With a residual and a ReLU after it, the first pass writes dy = (out > 0 ? grad : 0), the gradient of both the
    // batch norm's output and the residual, while it sums; without a ReLU both get grad itself.
    let masksOutput = residual != nil && saved.relu
    var masked = [Float]()
    if masksOutput { masked = [Float](unsafeUninitializedCapacity: x.count) { _, k in k = x.count } }
    // With a fused ReLU and no residual, dy below is the ReLU's input gradient (out > 0 ? dy : 0), formed on the fly:
    // the training loops recompute out > 0 from x (`FusedReluMask`), the eval loop reads it from the output.
    let relu = { (ch: Int) in
        saved.relu && residual == nil ? FusedReluMask(scale: saved.scale[ch], shift: saved.shift[ch]) : nil
    }
    // Σdy and Σdy·x̂ per channel, with x̂ = (x − mean)·invStd.
    var sumDy = [Float](repeating: 0, count: c)
    var sumDyXHat = [Float](repeating: 0, count: c)
    let outData = masksOutput ? out.data : []
    grad.withUnsafeBufferPointer { pg in
        x.data.withUnsafeBufferPointer { px in
            outData.withUnsafeBufferPointer { pout in
                masked.withUnsafeMutableBufferPointer { pmasked in
                    sumDy.withUnsafeMutableBufferPointer { sumDy in
                        sumDyXHat.withUnsafeMutableBufferPointer { sumDyXHat in
                            Parallel.forEach(c, costPerItem: n * hw) { range in
                                for ch in range {
                                    var a = 0.0
                                    var b = 0.0
                                    for s in 0..<n {
                                        let base = (s * c + ch) * hw
                                        let (sa, sb) =
                                            masksOutput
                                            ? vectorMaskSumAndDot(
                                                pg.baseAddress! + base, mask: pout.baseAddress! + base,
                                                px.baseAddress! + base,
                                                pmasked.baseAddress! + base, hw, mean: saved.mean[ch])
                                            : vectorSumAndDot(
                                                pg.baseAddress! + base, px.baseAddress! + base, hw,
                                                mean: saved.mean[ch], relu: relu(ch))
                                        a += Double(sa)
                                        b += Double(sb)
                                    }
                                    sumDy[ch] = Float(a)
                                    sumDyXHat[ch] = Float(b) * saved.invStd[ch]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let dy = masksOutput ? masked : grad
    var dX: [Float]? = nil
    if x.requiresGrad && saved.training {
        // dx = k·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) with k = γ·invStd, i.e. a·dy − b·x + c per channel.
        let k = (0..<c).map { (weight?.data[$0] ?? 1) * saved.invStd[$0] }
        let b = (0..<c).map { k[$0] * saved.invStd[$0] * sumDyXHat[$0] / m }
        let gradient = DeferredBatchNormGradient(
            g: dy, x: x.data, a: k, b: b, c: (0..<c).map { b[$0] * saved.mean[$0] - k[$0] * sumDy[$0] / m },
            reluScale: saved.relu && residual == nil ? saved.scale : nil,
            reluShift: saved.relu && residual == nil ? saved.shift : nil,
            n: n, channels: c, hw: hw)
        if mayDefer { deferred = gradient } else { dX = gradient.materialized() }
    } else if x.requiresGrad {
        // eval: dx = k·dy.
        var d = [Float](unsafeUninitializedCapacity: x.count) { _, k in k = x.count }
        let maskData = saved.relu && residual == nil && !saved.training ? out.data : []
        dy.withUnsafeBufferPointer { pdy in
            x.data.withUnsafeBufferPointer { px in
                d.withUnsafeMutableBufferPointer { pd in
                    maskData.withUnsafeBufferPointer { pm in
                        let mask = saved.relu && residual == nil && !saved.training ? pm.baseAddress : nil
                        Parallel.forEach(n * c, costPerItem: hw) { range in
                            for idx in range {
                                let ch = idx % c
                                let base = idx * hw
                                let k = (weight?.data[ch] ?? 1) * saved.invStd[ch]
                                vectorAffine(
                                    pdy.baseAddress! + base, pd.baseAddress! + base, hw, scale: k, shift: 0,
                                    mask: mask.map { $0 + base })
                            }
                        }
                    }
                }
            }
        }
        dX = d
    }
    var grads: [[Float]?] = [dX]
    if weight != nil { grads.append(sumDyXHat) }
    if hasBias { grads.append(sumDy) }
    if let residual { grads.append(residual.requiresGrad ? dy : nil) }
    return grads
}

/// The textbook batch normalisation in Double, forward (Ioffe & Szegedy 2015, Algorithm 1, training statistics: batch
/// mean and biased variance over N·H·W values per channel), the oracle `batchNorm` and its fusions are tested against;
/// `naiveBatchNormBackward` is its backward. x `[N, C]` or `[N, C, H, W]`, weight γ and bias β `[C]` (nil: 1 and 0).
/// Returns y = γ·x̂ + β of x's shape, x̂ = (x − mean)·invStd, and the per-channel mean and invStd = 1/sqrt(var + eps)
/// the backward needs. No running statistics, no autograd.
public func naiveBatchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5)
    -> (y: [Float], mean: [Double], invStd: [Double])
{
    let n = x.shape[0]
    let c = x.shape[1]
    let hw = x.shape[2...].reduce(1, *)
    let m = Double(n * hw)
    let xs = x.data
    var y = [Float](repeating: 0, count: xs.count)
    var mean = [Double](repeating: 0, count: c)
    var invStd = mean
    for ch in 0..<c {
        let idx = channelIndices(ch, n: n, c: c, hw: hw)
        var sum = 0.0
        var squares = 0.0
        for i in idx { sum += Double(xs[i]) }
        mean[ch] = sum / m
        for i in idx { squares += (Double(xs[i]) - mean[ch]) * (Double(xs[i]) - mean[ch]) }
        invStd[ch] = 1 / (squares / m + Double(eps)).squareRoot()
        let gamma = Double(weight?.data[ch] ?? 1)
        let beta = Double(bias?.data[ch] ?? 0)
        for i in idx { y[i] = Float(gamma * (Double(xs[i]) - mean[ch]) * invStd[ch] + beta) }
    }
    return (y, mean, invStd)
}

/// The backward pass of `naiveBatchNorm` in Double (the chain rule through Ioffe & Szegedy 2015, Algorithm 1), given
/// dy of x's shape and the forward's mean and invStd per channel: with M = N·H·W values per channel,
///   dβ = Σ dy,   dγ = Σ dy·x̂,   dx = γ·invStd/M · (M·dy − Σ dy − x̂·Σ dy·x̂).
public func naiveBatchNormBackward(_ dy: [Float], x: Tensor, weight: Tensor?, mean: [Double], invStd: [Double])
    -> (dInput: [Float], dWeight: [Float], dBias: [Float])
{
    let n = x.shape[0]
    let c = x.shape[1]
    let hw = x.shape[2...].reduce(1, *)
    let m = Double(n * hw)
    let xs = x.data
    var dInput = [Float](repeating: 0, count: xs.count)
    var dWeight = [Float](repeating: 0, count: c)
    var dBias = dWeight
    for ch in 0..<c {
        let idx = channelIndices(ch, n: n, c: c, hw: hw)
        let xHat = idx.map { (Double(xs[$0]) - mean[ch]) * invStd[ch] }
        let g = idx.map { Double(dy[$0]) }
        var sumDy = 0.0
        var sumDyXHat = 0.0
        for j in g.indices {
            sumDy += g[j]
            sumDyXHat += g[j] * xHat[j]
        }
        let k = Double(weight?.data[ch] ?? 1) * invStd[ch] / m
        for (j, i) in idx.enumerated() { dInput[i] = Float(k * (m * g[j] - sumDy - xHat[j] * sumDyXHat)) }
        dWeight[ch] = Float(sumDyXHat)
        dBias[ch] = Float(sumDy)
    }
    return (dInput, dWeight, dBias)
}

/// The indices of channel `ch`'s N·H·W values in an `[N, C, H·W]` array, sample by sample.
private func channelIndices(_ ch: Int, n: Int, c: Int, hw: Int) -> [Int] {
    var idx: [Int] = []
    for s in 0..<n { idx += Array(((s * c + ch) * hw)..<((s * c + ch + 1) * hw)) }
    return idx
}
