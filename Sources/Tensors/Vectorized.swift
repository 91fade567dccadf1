// Raw-buffer loops written with 16-lane SIMD so that they vectorise (Swift does not reassociate Float sums
// by itself), shared by the elementwise, activation and normalisation kernels. None allocates.

typealias Float16x = SIMD16<Float>

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> Float16x { UnsafeRawPointer(p).loadUnaligned(as: Float16x.self) }
@inline(__always) func store16(_ v: Float16x, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float16x.self) }

/// Σ p[i] for i < n, accumulated in 16 Float lanes.
@inline(__always) func vectorSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Float16x(), t = 0
    while t + 16 <= n { acc += load16(p + t); t += 16 }
    var s = acc.sum()
    while t < n { s += p[t]; t += 1 }
    return s
}

/// Σ (p[i] − mu)² for i < n.
@inline(__always) func vectorSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, mean mu: Float) -> Float {
    var acc = Float16x(), t = 0
    let m = Float16x(repeating: mu)
    while t + 16 <= n { let d = load16(p + t) - m; acc += d * d; t += 16 }
    var s = acc.sum()
    while t < n { let d = p[t] - mu; s += d * d; t += 1 }
    return s
}

/// g[i] where mask[i] > 0, else 0 (the ReLU backward, `mask` being the ReLU's output or input); `g` itself without a mask.
@inline(__always) func masked(_ g: Float16x, _ mask: UnsafePointer<Float>?, _ t: Int) -> Float16x {
    guard let mask else { return g }
    return g.replacing(with: Float16x(), where: .!(load16(mask + t) .> Float16x()))
}
@inline(__always) func masked(_ g: Float, _ mask: UnsafePointer<Float>?, _ t: Int) -> Float {
    guard let mask else { return g }
    return mask[t] > 0 ? g : 0
}

/// (Σ g[i], Σ g[i]·(x[i] − mu)) for i < n, g masked by `mask` (see `masked`) when given.
@inline(__always) func vectorSumAndDot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean mu: Float,
                                       mask: UnsafePointer<Float>? = nil) -> (Float, Float) {
    var a = Float16x(), b = Float16x(), t = 0
    let m = Float16x(repeating: mu)
    while t + 16 <= n { let gv = masked(load16(g + t), mask, t); a += gv; b += gv * (load16(x + t) - m); t += 16 }
    var sa = a.sum(), sb = b.sum()
    while t < n { let gt = masked(g[t], mask, t); sa += gt; sb += gt * (x[t] - mu); t += 1 }
    return (sa, sb)
}

/// out[i] = x[i]·scale + shift for i < n (`out` may be `x`), then max(·, 0) as `vectorRelu` when `relu`;
/// x masked by `mask` (see `masked`) first when given.
@inline(__always) func vectorAffine(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, shift: Float,
                                    relu: Bool = false, mask: UnsafePointer<Float>? = nil) {
    var t = 0
    let s = Float16x(repeating: scale), h = Float16x(repeating: shift), zero = Float16x()
    if relu {
        while t + 16 <= n { let v = load16(x + t) * s + h; store16(v.replacing(with: zero, where: .!(v .> zero)), out + t); t += 16 }
        while t < n { let v = x[t] * scale + shift; out[t] = v > 0 ? v : 0; t += 1 }
    } else {
        while t + 16 <= n { store16(masked(load16(x + t), mask, t) * s + h, out + t); t += 16 }
        while t < n { out[t] = masked(x[t], mask, t) * scale + shift; t += 1 }
    }
}

/// out[i] = a·g[i] − b·x[i] + c for i < n, g masked by `mask` (see `masked`) when given.
@inline(__always) func vectorLinear2(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int,
                                     a: Float, b: Float, c: Float, mask: UnsafePointer<Float>? = nil) {
    var t = 0
    let va = Float16x(repeating: a), vb = Float16x(repeating: b), vc = Float16x(repeating: c)
    while t + 16 <= n { store16(va * masked(load16(g + t), mask, t) - vb * load16(x + t) + vc, out + t); t += 16 }
    while t < n { out[t] = a * masked(g[t], mask, t) - b * x[t] + c; t += 1 }
}

/// out[i] = x[i] > 0 ? x[i] : 0 for i < n.
@inline(__always) func vectorRelu(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
    var t = 0
    let zero = Float16x()
    while t + 16 <= n { let v = load16(x + t); store16(v.replacing(with: zero, where: .!(v .> zero)), out + t); t += 16 }
    while t < n { out[t] = x[t] > 0 ? x[t] : 0; t += 1 }
}

/// out[i] = x[i] > 0 ? g[i] : 0 for i < n (the ReLU backward).
@inline(__always) func vectorReluBackward(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
    var t = 0
    let zero = Float16x()
    while t + 16 <= n { store16(load16(g + t).replacing(with: zero, where: .!(load16(x + t) .> zero)), out + t); t += 16 }
    while t < n { out[t] = x[t] > 0 ? g[t] : 0; t += 1 }
}

/// out[i] = a[i] + b[i] for i < n (`out` may be `a`).
@inline(__always) func vectorAdd(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
    var t = 0
    while t + 16 <= n { store16(load16(a + t) + load16(b + t), out + t); t += 16 }
    while t < n { out[t] = a[t] + b[t]; t += 1 }
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
