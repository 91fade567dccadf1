import CKernels

// Batch normalisation (Ioffe & Szegedy 2015) over `[N, C]` (BatchNorm1d) or `[N, C, H, W]` (BatchNorm2d),
// forward and backward side by side, with PyTorch's running-statistics rule:
//   training: normalise with the batch mean and biased variance; update
//             running_mean ← (1−m)·running_mean + m·mean, running_var ← (1−m)·running_var + m·var·M/(M−1)
//             (unbiased), m = momentum = 0.1 by default, M = N·H·W;
//   eval:     normalise with running_mean / running_var.
// The fused ReLU and residual (`relu:`, `residual:`) are here; the couplings with the convolutions around a batch norm
// (statistics from the convolution, the output and dX left unwritten for it) are in Fused/.

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

    init(mean: [Float], invStd: [Float], training: Bool, scale: [Float], shift: [Float]) {
        (self.mean, self.invStd, self.training, self.scale, self.shift) = (mean, invStd, training, scale, shift)
    }
}

/// Batch normalisation (`F.batch_norm`): x `[N, C]` or `[N, C, H, W]`; weight (γ), bias (β),
/// running mean and running variance `[C]` (any may be nil, as `affine=False` / `track_running_stats=False`).
/// In training, `runningMean`/`runningVar` are updated in place (not part of the graph) and the statistics are those
/// of the batch: merged from the `PlaneMoments` the convolution that produced x recorded, if it did, else read from x.
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
    let norm = BatchNormParameters(
        weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar, momentum: momentum, eps: eps)
    var saved = try norm.statistics(
        x.data, shape: x.shape, training: training, moments: training ? planeMoments(of: x) : nil)
    saved.relu = relu
    let out = saved.output(x.data, shape: x.shape, residual: residual?.data)
    return .result(
        shape: x.shape, data: out, op: .batchNorm(x, weight: weight, bias: bias, residual: residual, saved),
        inputs: [x] + [weight, bias, residual].compactMap { $0 })
}

/// A batch norm's parameters and settings: γ, β, running mean and running variance `[C]` (any may be nil), the
/// running-statistics momentum and the variance epsilon (PyTorch's `BatchNorm2d` defaults 0.1 and 1e-5).
public struct BatchNormParameters {
    public var weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?
    public var momentum: Float, eps: Float

    /// Parameters as `batchNorm(...)` takes them.
    public init(
        weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?, momentum: Float = 0.1,
        eps: Float = 1e-5
    ) {
        (self.weight, self.bias, self.runningMean, self.runningVar) = (weight, bias, runningMean, runningVar)
        (self.momentum, self.eps) = (momentum, eps)
    }

    /// The tensors that take part in the graph (γ and β; the running statistics do not).
    var graphInputs: [Tensor] { [weight, bias].compactMap { $0 } }

    /// The per-channel normalisation of x `[N, C, ...]` (`shape`): batch statistics in training (from `moments` when
    /// given; the running statistics updated), the running ones in eval, and the affine map they give.
    /// - Throws: `TensorError` as `batchNorm`.
    func statistics(_ x: [Float], shape: [Int], training: Bool, moments: PlaneMoments?) throws -> BatchNormSaved {
        let (n, c, hw) = (shape[0], shape[1], shape[2...].reduce(1, *))
        let m = n * hw
        for (name, t) in [
            ("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar),
        ] {
            if let t, t.shape != [c] {
                throw TensorError.invalidShape(
                    op: "batch_norm", shape: shape, reason: "has \(c) channels, \(name) is \(formatShape(t.shape))")
            }
        }
        var mean = [Float](repeating: 0, count: c)
        var invStd = [Float](repeating: 0, count: c)
        if training {
            guard m > 1 else {
                throw TensorError.invalidShape(
                    op: "batch_norm", shape: shape, reason: "has 1 value per channel; training needs more")
            }
            let variance: [Float]
            (mean, variance) = batchMoments(x, n: n, c: c, hw: hw, moments: moments)
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
                throw TensorError.invalidArgument(
                    op: "batch_norm", reason: "eval mode needs running_mean and running_var")
            }
            mean = runningMean.data
            for ch in 0..<c { invStd[ch] = 1 / (runningVar.data[ch] + eps).squareRoot() }
        }
        // y = x·scale + shift with scale = γ·invStd, shift = β − mean·scale, one pass per plane.
        let scale = (0..<c).map { (weight?.data[$0] ?? 1) * invStd[$0] }
        let shift = (0..<c).map { (bias?.data[$0] ?? 0) - mean[$0] * scale[$0] }
        return BatchNormSaved(mean: mean, invStd: invStd, training: training, scale: scale, shift: shift)
    }
}

extension BatchNormSaved {
    /// y = x·scale + shift per channel of x `[N, C, ...]` (`shape`), plus `residual` when given, then the ReLU when
    /// `relu`: one pass per plane.
    func output(_ x: [Float], shape: [Int], residual: [Float]?) -> [Float] {
        let (c, hw) = (shape[1], shape[2...].reduce(1, *))
        guard let residual else {
            return ChannelAffine(source: x, scale: scale, shift: shift, relu: relu, channels: c, planeSize: hw)
                .materialized()
        }
        var out = [Float](unsafeUninitializedCapacity: x.count) { _, k in k = x.count }
        x.withUnsafeBufferPointer { px in
            residual.withUnsafeBufferPointer { pr in
                out.withUnsafeMutableBufferPointer { po in
                    let (px, pr, po) = (px.baseAddress!, pr.baseAddress!, po.baseAddress!)
                    Parallel.forEach(x.count / Swift.max(1, hw), costPerItem: hw) { range in
                        for idx in range {
                            vectorAffineAdd(
                                px + idx * hw, pr + idx * hw, po + idx * hw, hw, scale: scale[idx % c],
                                shift: shift[idx % c], relu: relu)
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Per-channel mean and biased variance of x `[N, C, (H, W)]` over N·H·W values: merged from `moments` (the
/// `PlaneMoments` the convolution that wrote x recorded) when given, else two passes per channel (mean, then squared
/// deviations) with 16-lane Float sums within a plane and Double across planes.
func batchMoments(_ x: [Float], n: Int, c: Int, hw: Int, moments: PlaneMoments?) -> (mean: [Float], variance: [Float]) {
    if let pm = moments, pm.mean.count == n * c, pm.residual.count == n * c, pm.m2.count == n * c, hw > 0 {
        return pm.channelMoments(n: n, c: c, hw: hw)
    }
    var mean = [Float](repeating: 0, count: c)
    var variance = [Float](repeating: 0, count: c)
    let m = Double(n * hw)
    x.withUnsafeBufferPointer { px in
        mean.withUnsafeMutableBufferPointer { mean in
            variance.withUnsafeMutableBufferPointer { variance in
                let px = px.baseAddress!
                Parallel.forEach(c, costPerItem: n * hw) { range in
                    for ch in range {
                        var s = 0.0
                        for s0 in 0..<n { s += Double(vectorSum(px + (s0 * c + ch) * hw, hw)) }
                        let mu = Float(s / m)
                        var v = 0.0
                        for s0 in 0..<n { v += Double(vectorSquaredDeviation(px + (s0 * c + ch) * hw, hw, mean: mu)) }
                        mean[ch] = mu
                        variance[ch] = Float(v / m)
                    }
                }
            }
        }
    }
    return (mean, variance)
}

/// `batchMoments` of a tensor, from the plane moments its convolution recorded if it did.
func batchMoments(_ x: Tensor, n: Int, c: Int, hw: Int) -> (mean: [Float], variance: [Float]) {
    batchMoments(x.data, n: n, c: c, hw: hw, moments: planeMoments(of: x))
}

/// The backward pass of `batchNorm`: gradients of [x, weight?, bias?, residual?].
func batchNormBackward(
    _ x: Tensor, weight: Tensor?, hasBias: Bool, residual: Tensor?, saved: BatchNormSaved, out: Tensor,
    grad: [Float]
) -> [[Float]?] {
    let back = saved.backward(
        x.data, shape: x.shape, weight: weight?.data, hasResidual: residual != nil, output: { out.data }, grad: grad,
        needX: x.requiresGrad)
    var grads: [[Float]?] = [back.dX?.values]
    if weight != nil { grads.append(back.sumDyXHat) }
    if hasBias { grads.append(back.sumDy) }
    if let residual { grads.append(residual.requiresGrad ? back.dy : nil) }
    return grads
}

/// What a batch norm's backward pass computes: Σdy and Σdy·x̂ per channel (the gradients of β and γ), dy itself (the
/// output gradient, masked by the ReLU after a residual: the residual's gradient) and dX when asked for.
struct BatchNormBackward {
    var sumDy: [Float], sumDyXHat: [Float], dy: [Float]
    var dX: ConvolutionOutputGradient?
}

extension BatchNormSaved {
    /// The backward pass of a batch norm of x `[N, C, ...]` (`shape`) with γ `weight` (nil: 1), given the gradient
    /// `grad` of its output; `output` gives the output's values (read for a ReLU mask in eval mode or after a
    /// residual). In training dX is left as `DeferredBatchNormGradient` (a·dy − b·x + c per channel), for the caller
    /// to write or to hand to the convolution that produced x.
    func backward(
        _ x: [Float], shape: [Int], weight: [Float]?, hasResidual: Bool, output: () -> [Float], grad: [Float],
        needX: Bool
    ) -> BatchNormBackward {
        let (n, c, hw) = (shape[0], shape[1], shape[2...].reduce(1, *))
        let m = Float(n * hw)
        // With a residual and a ReLU after it, the first pass writes dy = (out > 0 ? grad : 0), the gradient of both
        // the batch norm's output and the residual, while it sums; without a ReLU both get grad itself.
        let masksOutput = hasResidual && relu
        // With a fused ReLU and no residual, dy below is the ReLU's input gradient (out > 0 ? dy : 0), formed on the
        // fly: the training loops recompute out > 0 from x (`FusedReluMask`), the eval loop reads it from the output.
        let reluMask = relu && !hasResidual
        let outData = masksOutput || (reluMask && !training && needX) ? output() : []
        let (sumDy, sumDyXHat, dy) = sums(x, n: n, c: c, hw: hw, grad: grad, mask: masksOutput ? outData : nil)
        var back = BatchNormBackward(sumDy: sumDy, sumDyXHat: sumDyXHat, dy: dy, dX: nil)
        guard needX else { return back }
        let k = (0..<c).map { (weight?[$0] ?? 1) * invStd[$0] }
        if training {
            // dx = k·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) with k = γ·invStd, i.e. a·dy − b·x + c per channel.
            let b = (0..<c).map { k[$0] * invStd[$0] * sumDyXHat[$0] / m }
            back.dX = .deferred(
                DeferredBatchNormGradient(
                    g: dy, x: x, a: k, b: b, c: (0..<c).map { b[$0] * mean[$0] - k[$0] * sumDy[$0] / m },
                    reluScale: reluMask ? scale : nil, reluShift: reluMask ? shift : nil, n: n, channels: c, hw: hw))
            return back
        }
        // eval: dx = k·dy, masked by output > 0 after a fused ReLU.
        var d = [Float](unsafeUninitializedCapacity: x.count) { _, k in k = x.count }
        let maskData = reluMask ? outData : []
        dy.withUnsafeBufferPointer { pdy in
            d.withUnsafeMutableBufferPointer { pd in
                maskData.withUnsafeBufferPointer { pm in
                    let (pdy, pd, mask) = (pdy.baseAddress!, pd.baseAddress!, reluMask ? pm.baseAddress : nil)
                    Parallel.forEach(n * c, costPerItem: hw) { range in
                        for idx in range {
                            let base = idx * hw
                            vectorAffine(
                                pdy + base, pd + base, hw, scale: k[idx % c], shift: 0, mask: mask.map { $0 + base })
                        }
                    }
                }
            }
        }
        back.dX = .dense(d)
        return back
    }

    /// Σdy and Σdy·x̂ per channel (x̂ = (x − mean)·invStd) and dy: `grad` masked by `mask` > 0 when a mask is given
    /// (written in the same pass), else `grad` itself, masked on the fly by the fused ReLU's recomputed mask.
    private func sums(_ x: [Float], n: Int, c: Int, hw: Int, grad: [Float], mask: [Float]?) -> (
        [Float], [Float], [Float]
    ) {
        var masked = [Float]()
        if mask != nil { masked = [Float](unsafeUninitializedCapacity: x.count) { _, k in k = x.count } }
        let relu = { (ch: Int) in self.relu && mask == nil ? FusedReluMask(scale: scale[ch], shift: shift[ch]) : nil }
        let maskData = mask ?? []
        // Each plane's two sums, in parallel over the planes in memory order (so that each thread reads the planes
        // of the samples it wrote in the passes before, and writes the masked dy of those samples for the passes
        // after; several planes of a channel go at a time), then per channel added in sample order in Double.
        let planeSums = UnsafeMutablePointer<Float>.allocate(capacity: 2 * n * c)  // [C, N] Σdy, then [C, N] Σdy·x̂
        defer { planeSums.deallocate() }
        grad.withUnsafeBufferPointer { pg in
            x.withUnsafeBufferPointer { px in
                maskData.withUnsafeBufferPointer { pmask in
                    masked.withUnsafeMutableBufferPointer { pmasked in
                        let (pg, px) = (pg.baseAddress!, px.baseAddress!)
                        let (pmask, pmasked) = mask == nil ? (nil, nil) : (pmask.baseAddress, pmasked.baseAddress)
                        // Ranges of planes in memory order (sample by sample), so that a batch smaller than the
                        // thread count still splits; within a range, each channel's planes go together.
                        Parallel.forEach(n * c, costPerItem: hw) { range in
                            for ch in 0..<c where range.upperBound - 1 - ch >= 0 {
                                let first = (range.lowerBound - ch + c - 1) / c  // samples whose plane ch is in range
                                let last = (range.upperBound - 1 - ch) / c
                                guard first <= last else { continue }
                                let base = (first * c + ch) * hw
                                let (sums, dots) = (planeSums + ch * n + first, planeSums + (c + ch) * n + first)
                                if let pmask, let pmasked {
                                    vectorMaskSumAndDot(
                                        planes: last - first + 1, pg + base, mask: pmask + base, px + base,
                                        pmasked + base, hw, stride: c * hw, mean: mean[ch], sums: sums, dots: dots)
                                } else {
                                    vectorSumAndDot(
                                        planes: last - first + 1, pg + base, px + base, hw, stride: c * hw,
                                        mean: mean[ch], relu: relu(ch), sums: sums, dots: dots)
                                }
                            }
                        }
                    }
                }
            }
        }
        var sumDy = [Float](repeating: 0, count: c)
        var sumDyXHat = [Float](repeating: 0, count: c)
        for ch in 0..<c {
            var a = 0.0
            var b = 0.0
            for s in 0..<n {
                a += Double(planeSums[ch * n + s])
                b += Double(planeSums[(c + ch) * n + s])
            }
            sumDy[ch] = Float(a)
            sumDyXHat[ch] = Float(b) * invStd[ch]
        }
        return (sumDy, sumDyXHat, mask == nil ? grad : masked)
    }
}

/// The textbook batch normalisation in Double, forward (Ioffe & Szegedy 2015, Algorithm 1, training statistics: batch
/// mean and biased variance over N·H·W values per channel), the oracle `batchNorm` and its fusions are tested against;
/// `naiveBatchNormBackward` is its backward. x `[N, C]` or `[N, C, H, W]`, weight γ and bias β `[C]` (nil: 1 and 0).
/// Returns y = γ·x̂ + β of x's shape, x̂ = (x − mean)·invStd, and the per-channel mean and invStd = 1/sqrt(var + eps)
/// the backward needs. No running statistics, no autograd.
public func naiveBatchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5)
    -> (y: [Float], mean: [Double], invStd: [Double])
{
    let (m, channels) = channelIndices(x)
    let xs = x.data
    var y = [Float](repeating: 0, count: xs.count)
    var mean = [Double](repeating: 0, count: channels.count)
    var invStd = mean
    for (ch, idx) in channels.enumerated() {
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
    let (m, channels) = channelIndices(x)
    let xs = x.data
    var dInput = [Float](repeating: 0, count: xs.count)
    var dWeight = [Float](repeating: 0, count: channels.count)
    var dBias = dWeight
    for (ch, idx) in channels.enumerated() {
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

/// Per channel of x `[N, C, …]`, the indices of its M = N·H·W values, sample by sample; and M as a Double.
private func channelIndices(_ x: Tensor) -> (m: Double, channels: [[Int]]) {
    let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2...].reduce(1, *))
    let channels = (0..<c).map { ch in
        var idx: [Int] = []
        for s in 0..<n { idx += Array(((s * c + ch) * hw)..<((s * c + ch + 1) * hw)) }
        return idx
    }
    return (Double(n * hw), channels)
}
