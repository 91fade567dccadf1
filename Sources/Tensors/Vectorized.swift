// Raw-buffer loops shared by the elementwise, activation and normalisation kernels: Swift names for the C clones
// in Sources/CKernels/elementwise.c (AVX-512/AVX2/baseline picked at load time; Swift code is compiled for
// baseline x86-64). "Masked" g means g[i] where mask[i] > 0, else 0 (the ReLU backward, `mask` being the ReLU's
// output or input). None allocates.
import CKernels

/// Σ p[i] for i < n, accumulated in 16 Float lanes.
@inline(__always) func vectorSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float { sskd_sum(p, n) }

/// Σ (p[i] − mu)² for i < n.
@inline(__always) func vectorSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, mean mu: Float) -> Float {
    var sum: Float = 0
    var squares: Float = 0
    sskd_deviations(p, n, mu, &sum, &squares)  // the same 16-lane sum of squares as the plane moments
    return squares
}

/// The ReLU fused after a per-channel affine map y = x·scale + shift (`vectorAffine(..., relu: true)`): its
/// backward keeps g[i] where x[i]·scale + shift > 0, recomputed from x bit for bit as the forward computed it.
struct FusedReluMask { var scale: Float, shift: Float }

/// For `planes` planes of n floats, plane k of g and x at `k·stride`: `sums[k]` = Σ g[i] and `dots[k]` =
/// Σ g[i]·(x[i] − mu), g masked by the fused ReLU's mask when given (`sskd_sum_and_dot_planes`: several planes at a
/// time in lockstep, each plane's sums the same however many went with it).
@inline(__always) func vectorSumAndDot(
    planes: Int, _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, stride: Int, mean mu: Float,
    relu: FusedReluMask?, sums: UnsafeMutablePointer<Float>, dots: UnsafeMutablePointer<Float>
) {
    sskd_sum_and_dot_planes(
        g, x, n, stride, Int32(planes), mu, relu == nil ? 0 : 1, relu?.scale ?? 0, relu?.shift ?? 0, sums, dots)
}

/// out[i] = x[i]·scale + shift for i < n (`out` may be `x`), then max(·, 0) as `vectorRelu` when `relu`;
/// x masked by `mask` first when given.
@inline(__always) func vectorAffine(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, shift: Float,
    relu: Bool = false, mask: UnsafePointer<Float>? = nil
) {
    sskd_affine(x, out, n, scale, shift, relu ? 1 : 0, relu ? nil : mask)
}

/// out[i] = (x[i]·scale + shift) + r[i] for i < n, then max(·, 0) when `relu`: a batch norm, the residual add and
/// the ReLU in one pass, rounded exactly as `vectorAffine` followed by `vectorAddRelu` (or `vectorAdd`).
@inline(__always) func vectorAffineAdd(
    _ x: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int,
    scale: Float, shift: Float, relu: Bool
) {
    sskd_affine_add(x, r, out, n, scale, shift, relu ? 1 : 0)
}

/// For `planes` planes of n floats, plane k of g, mask, x and out at `k·stride`: writes masked g (g[i] where
/// mask[i] > 0, else 0) to `out`, and `sums[k]` = Σ out[i], `dots[k]` = Σ out[i]·(x[i] − mu): `vectorReluBackward`
/// and `vectorSumAndDot` in one pass.
@inline(__always) func vectorMaskSumAndDot(
    planes: Int, _ g: UnsafePointer<Float>, mask: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>, _ n: Int, stride: Int, mean mu: Float, sums: UnsafeMutablePointer<Float>,
    dots: UnsafeMutablePointer<Float>
) {
    sskd_mask_sum_and_dot_planes(g, mask, x, out, n, stride, Int32(planes), mu, sums, dots)
}

/// out[i] = a·g[i] − b·x[i] + c for i < n, g masked by the fused ReLU's mask when given.
@inline(__always) func vectorLinear2(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int,
    a: Float, b: Float, c: Float, relu: FusedReluMask? = nil
) {
    sskd_linear2(g, x, out, n, a, b, c, relu == nil ? 0 : 1, relu?.scale ?? 0, relu?.shift ?? 0)
}

/// out[i] = x[i] > 0 ? x[i] : 0 for i < n.
@inline(__always) func vectorRelu(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
    sskd_relu(x, out, n)
}

/// out[i] = x[i] > 0 ? g[i] : 0 for i < n (the ReLU backward).
@inline(__always) func vectorReluBackward(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int
) {
    sskd_relu_backward(g, x, out, n)
}

/// out[i] = a[i] + b[i] for i < n (`out` may be `a`).
@inline(__always) func vectorAdd(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int
) {
    sskd_add(a, b, out, n)
}

/// out[i] = max(a[i] + b[i], 0) for i < n (NaN → 0, as `vectorRelu`).
@inline(__always) func vectorAddRelu(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int
) {
    sskd_add_relu(a, b, out, n)
}

/// A new array of `n` elements filled by `body(out, range)` over chunks split across `Parallel.threads`.
/// `body` must write every element of its range.
@inline(__always) func parallelFill(_ n: Int, _ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) -> [Float] {
    [Float](unsafeUninitializedCapacity: n) { out, written in
        let base = out.baseAddress
        if let base { Parallel.forEach(n) { body(base, $0) } }
        written = n
    }
}
