import CBLAS

// Matrix products on OpenBLAS `cblas_sgemm`, with the naive triple loop kept as the test oracle
// (as llm.c keeps `matmul_forward_naive`). Backward of C = A·B: dA = dC·Bᵀ, dB = Aᵀ·dC.

/// C[M, N] = alpha · op(A) · op(B) + beta · C, row-major, on raw buffers (`cblas_sgemm`).
/// `transA`/`transB` say whether A is stored `[K, M]` / B is stored `[N, K]`.
@inline(__always)
func sgemm(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    _ = Parallel.threads  // first use pins OpenBLAS to one thread (see Parallel)
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// `op(A) · op(B)` as a new row-major `[m, n]` array (`sgemm` with beta 0 into zeros, ldc = n), A and B whole arrays.
func sgemmProduct(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], ldb: Int
) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                sgemm(
                    transA: transA, transB: transB, m: m, n: n, k: k, a: pa.baseAddress!, lda: lda,
                    b: pb.baseAddress!, ldb: ldb, c: pc.baseAddress!, ldc: n)
            }
        }
    }
    return c
}

/// The naive reference product of row-major `a [M, K]` and `b [K, N]`, accumulated in Double.
/// Kept as the oracle the OpenBLAS path is tested against.
public func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += Double(a[i * k + p]) * Double(b[p * n + j]) }
            c[i * n + j] = Float(s)
        }
    }
    return c
}

/// `a [M, K] · b [K, N] → [M, N]` (`torch.mm`).
/// - Throws: `TensorError.shapeMismatch` unless both are matrices with matching inner sizes.
public func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    guard a.rank == 2, b.rank == 2, a.shape[1] == b.shape[0] else {
        throw TensorError.shapeMismatch(op: "matmul", lhs: a.shape, rhs: b.shape)
    }
    let m = a.shape[0]
    let k = a.shape[1]
    let n = b.shape[1]
    let out =
        k > 0
        ? sgemmProduct(m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n)
        : [Float](repeating: 0, count: m * n)
    return .result(shape: [m, n], data: out, op: .matmul(a, b), inputs: [a, b])
}

func matmulBackward(_ a: Tensor, _ b: Tensor, grad g: [Float]) -> [[Float]?] {
    let m = a.shape[0]
    let k = a.shape[1]
    let n = b.shape[1]
    let dA = a.requiresGrad ? sgemmProduct(transB: true, m: m, n: k, k: n, a: g, lda: n, b: b.data, ldb: n) : nil
    let dB = b.requiresGrad ? sgemmProduct(transA: true, m: k, n: n, k: m, a: a.data, lda: k, b: g, ldb: n) : nil
    return [dA, dB]
}

/// Fully connected layer `y = x · Wᵀ + b` (`F.linear`): x `[N, in]`, weight `[out, in]`, bias `[out]` → `[N, out]`.
/// - Throws: `TensorError.invalidShape` naming the sizes when x, weight and bias disagree.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
    guard x.rank == 2 else {
        throw TensorError.invalidShape(op: "linear", shape: x.shape, reason: "is not [N, features]")
    }
    guard weight.rank == 2, weight.shape[1] == x.shape[1] else {
        throw TensorError.invalidShape(
            op: "linear", shape: x.shape,
            reason:
                "has \(x.shape[1]) features, weight \(formatShape(weight.shape)) expects "
                + "\(weight.rank == 2 ? weight.shape[1] : -1)"
        )
    }
    let n = x.shape[0]
    let i = x.shape[1]
    let o = weight.shape[0]
    if let bias, bias.shape != [o] {
        throw TensorError.shapeMismatch(op: "linear bias", lhs: [o], rhs: bias.shape)
    }
    var out = [Float](repeating: 0, count: n * o)
    out.withUnsafeMutableBufferPointer { pc in
        if let bias {
            for r in 0..<n { for c in 0..<o { pc[r * o + c] = bias.data[c] } }
        }
        if i > 0 {
            x.data.withUnsafeBufferPointer { px in
                weight.data.withUnsafeBufferPointer { pw in
                    sgemm(
                        transB: true, m: n, n: o, k: i, a: px.baseAddress!, lda: i, b: pw.baseAddress!, ldb: i,
                        beta: bias == nil ? 0 : 1, c: pc.baseAddress!, ldc: o)
                }
            }
        }
    }
    return .result(
        shape: [n, o], data: out, op: .linear(x, weight: weight, bias: bias),
        inputs: [x, weight] + [bias].compactMap { $0 })
}

func linearBackward(_ x: Tensor, weight: Tensor, hasBias: Bool, grad g: [Float]) -> [[Float]?] {
    let n = x.shape[0]
    let i = x.shape[1]
    let o = weight.shape[0]
    let dX = x.requiresGrad ? sgemmProduct(m: n, n: i, k: o, a: g, lda: o, b: weight.data, ldb: i) : nil
    let dW = weight.requiresGrad ? sgemmProduct(transA: true, m: o, n: i, k: n, a: g, lda: o, b: x.data, ldb: i) : nil
    var dB: [Float]? = nil
    if hasBias {
        g.withUnsafeBufferPointer { pg in
            var d = [Float](repeating: 0, count: o)
            for r in 0..<n { for c in 0..<o { d[c] += pg[r * o + c] } }
            dB = d
        }
    }
    return hasBias ? [dX, dW, dB] : [dX, dW]
}
