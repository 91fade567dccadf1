import CKernels

// The convolution / batch-norm couplings. A ResNet block runs conv → batch norm (+ ReLU) → conv → batch norm
// (+ residual, ReLU); three couplings between neighbouring ops save whole passes over activation-sized arrays, each bit
// for bit the same values and gradients as the ops run apart (FusedBlockTests, FusedBlockOracleTests):
//
// 1. Statistics from the convolution (`PlaneMoments`). A flat or phase convolution whose graph is recorded computes
//    each output plane's moments while the plane is in cache and keeps them with its op (`Op.conv2d`, or inside a
//    `ConvBatchNormBlock`); a training batch norm of that output merges them per channel (`channelMoments`) instead of
//    reading the output twice.
// 2. The batch norm's output left unwritten (`ChannelAffine`). Inside a `ConvBatchNormBlock`, a unit's normalised
//    output x·scale + shift (then ReLU) is computed by the flat convolution after it while packing its padded planes,
//    forward and backward, so it is never written or read back.
// 3. The batch norm's dX left unwritten (`DeferredBatchNormGradient`, `ConvolutionOutputGradient.deferred`). Inside a
//    block, a training batch norm's dX is computed by the flat or phase convolution before it while packing its
//    padded dY planes.
//
// The textbook batch norm (`naiveBatchNorm`, Norm.swift) and the direct convolution (`naiveConv2d`) are the oracles.

/// Per-plane statistics of an `[N, C, H, W]` tensor, recorded by the convolution that wrote it (flat and phase
/// paths, while each output plane is in cache) so that a training-mode batch norm that follows need not read the
/// tensor for its statistics. Per `[H, W]` plane, `[N·C]` floats each in the tensor's order: the rounded mean m, the
/// residual r = Σ (x − m) and M2 = Σ (x − m)²; the plane's exact mean is m + r/(H·W) and its M2 about that mean
/// M2 − r²/(H·W) (so the rounding of m does not reach the variance). `batchNorm` merges the planes per channel with
/// the parallel-variance formula of Chan, Golub & LeVeque (1979): M2 = Σ_s M2_s + H·W·Σ_s (mean_s − mean)².
public struct PlaneMoments {
    var mean: [Float], residual: [Float], m2: [Float]
    init(planes: Int) {
        mean = [Float](repeating: 0, count: planes)
        residual = mean
        m2 = mean
    }

    /// Where the writer puts one plane's three values (index c of each pointer).
    struct Pointers {
        var mean, residual, m2: UnsafeMutablePointer<Float>
        func advanced(by k: Int) -> Pointers { Pointers(mean: mean + k, residual: residual + k, m2: m2 + k) }
    }
}

extension Optional where Wrapped == PlaneMoments {
    /// Calls `body` with pointers to the three arrays (nil when there are no moments to record).
    mutating func withPointers(_ body: (PlaneMoments.Pointers?) -> Void) {
        guard var m = self else {
            body(nil)
            return
        }
        self = nil  // keep the arrays uniquely referenced while they are written
        m.mean.withUnsafeMutableBufferPointer { mean in
            m.residual.withUnsafeMutableBufferPointer { residual in
                m.m2.withUnsafeMutableBufferPointer { m2 in
                    body(
                        PlaneMoments.Pointers(
                            mean: mean.baseAddress!, residual: residual.baseAddress!,
                            m2: m2.baseAddress!))
                }
            }
        }
        self = m
    }
}

extension PlaneMoments {
    /// Per-channel mean and biased variance over N·H·W values of an `[N, C, H·W]` tensor from its planes' moments:
    /// each plane's exact mean and M2 (the residual corrects the rounded mean), then Chan et al.'s merge in Double.
    func channelMoments(n: Int, c: Int, hw: Int) -> (mean: [Float], variance: [Float]) {
        var mean = [Float](repeating: 0, count: c)
        var variance = [Float](repeating: 0, count: c)
        let m = Double(n * hw)
        let size = Double(hw)
        var planeMean = [Double](repeating: 0, count: n)  // one channel's planes at a time
        var planeM2 = planeMean
        for ch in 0..<c {
            for s0 in 0..<n {
                let k = s0 * c + ch
                let r = Double(residual[k])
                planeMean[s0] = Double(self.mean[k]) + r / size
                planeM2[s0] = Double(m2[k]) - r * r / size
            }
            var mu = 0.0
            for s0 in 0..<n { mu += planeMean[s0] }
            mu /= Double(n)
            var q = 0.0
            for s0 in 0..<n { q = q + planeM2[s0] + size * (planeMean[s0] - mu) * (planeMean[s0] - mu) }
            mean[ch] = Float(mu)
            variance[ch] = Float(Swift.max(0, q) / m)
        }
        return (mean, variance)
    }
}

/// A batch norm's output `[N, C, H·W]` not yet written: per plane source·scale[c] + shift[c], then max(·, 0) with
/// `relu`. A flat convolution reading it (`ConvolutionInput.affine`) computes the values while packing its padded
/// planes (`sskd_pack_planes_affine`, rounded as `sskd_affine`), so the normalised activation is never written or read
/// back; any other reader gets `materialized()`, the same values.
struct ChannelAffine {
    let source: [Float], scale: [Float], shift: [Float]
    let relu: Bool
    let channels: Int, planeSize: Int

    /// The values written out, as `batchNorm` writes them.
    func materialized() -> [Float] {
        var out = [Float](unsafeUninitializedCapacity: source.count) { _, k in k = source.count }
        source.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                Parallel.forEach(source.count / Swift.max(1, planeSize), costPerItem: planeSize) { range in
                    for idx in range {
                        let ch = idx % channels
                        vectorAffine(
                            px.baseAddress! + idx * planeSize, po.baseAddress! + idx * planeSize, planeSize,
                            scale: scale[ch], shift: shift[ch], relu: relu)
                    }
                }
            }
        }
        return out
    }

    /// Packs sample `s` (`channels` planes `[h, w]`, h·w = planeSize) into padded planes at `dst` (`FlatPlanes`
    /// layout: `stride` floats per plane, rows `wp` apart, the data `ph` rows and `pw` columns in; with `clear` the
    /// rest of the planes zeroed, else left to the other samples packed there).
    func pack(
        sample s: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, stride: Int, wp: Int,
        ph: Int, pw: Int, clear: Bool
    ) {
        source.withUnsafeBufferPointer { px in
            sskd_pack_planes_affine(
                px.baseAddress! + s * channels * planeSize, Int32(channels), Int32(h), Int32(w),
                dst, stride, wp, Int32(ph), Int32(pw), clear ? 1 : 0, scale, shift, relu ? 1 : 0)
        }
    }
}

/// A training batch norm's dX `[N, C, H·W]` not yet written: per channel a·g' − b·x + c, g' = g masked by the fused
/// ReLU's mask x·reluScale + reluShift > 0 when given. A `ConvBatchNormBlock` hands it to the flat or phase
/// convolution that produced x, which computes it while packing its padded dY planes (`sskd_pack_planes_linear2`),
/// saving the pass that writes dX and the pass that reads it back; anything else gets `materialized()`, the same
/// values.
struct DeferredBatchNormGradient {
    let g: [Float], x: [Float]
    let a: [Float], b: [Float], c: [Float]
    let reluScale: [Float]?, reluShift: [Float]?
    let n: Int, channels: Int, hw: Int

    /// dX written out: `vectorLinear2` per plane, as the batch norm's backward computes it when not deferred.
    func materialized() -> [Float] {
        var d = [Float](unsafeUninitializedCapacity: g.count) { _, k in k = g.count }
        g.withUnsafeBufferPointer { pg in
            x.withUnsafeBufferPointer { px in
                d.withUnsafeMutableBufferPointer { pd in
                    Parallel.forEach(n * channels, costPerItem: hw) { range in
                        for idx in range {
                            let ch = idx % channels
                            let base = idx * hw
                            vectorLinear2(
                                pg.baseAddress! + base, px.baseAddress! + base, pd.baseAddress! + base, hw,
                                a: a[ch], b: b[ch], c: c[ch],
                                relu: reluScale.map { FusedReluMask(scale: $0[ch], shift: reluShift![ch]) })
                        }
                    }
                }
            }
        }
        return d
    }

    /// Packs sample `s`'s planes into the padded planes at `dst` (`FlatPlanes` layout: `stride` floats per plane, rows
    /// `wp` apart, the data `ph` rows and `pw` columns in; with `clear` the rest of the planes zeroed, else left to the
    /// other samples packed there), computing each value as `materialized()` would.
    func pack(
        sample s: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, stride: Int, wp: Int,
        ph: Int, pw: Int, clear: Bool
    ) {
        let at = s * channels * hw
        g.withUnsafeBufferPointer { pg in
            x.withUnsafeBufferPointer { px in
                sskd_pack_planes_linear2(
                    pg.baseAddress! + at, px.baseAddress! + at, Int32(channels), Int32(h), Int32(w),
                    dst, stride, wp, Int32(ph), Int32(pw), clear ? 1 : 0, a, b, c, reluScale == nil ? 0 : 1,
                    reluScale ?? [], reluShift ?? [])
            }
        }
    }
}

/// A convolution's output gradient dY `[N, Cout, Hout, Wout]`: written out, or a training batch norm's dX still to be
/// computed (`DeferredBatchNormGradient`), which the flat path computes while packing.
enum ConvolutionOutputGradient {
    case dense([Float])
    case deferred(DeferredBatchNormGradient)

    /// The values, computing a deferred gradient.
    var values: [Float] {
        switch self {
        case .dense(let g): return g
        case .deferred(let d): return d.materialized()
        }
    }
}

/// The plane moments the convolution that produced `x` recorded (kept with its op while the graph is recorded), if any.
func planeMoments(of x: Tensor) -> PlaneMoments? {
    if case .conv2d(_, _, _, _, let moments) = x.gradFn { return moments }
    return nil
}
