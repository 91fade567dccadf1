import Foundation

// Pointwise activations and dropout; each backward is in `Op.backward` (Autograd.swift) and
// reads the saved input or output named here.

extension Tensor {
    /// max(x, 0) elementwise (`torch.relu`); the gradient at 0 is 0, as PyTorch.
    public func relu() -> Tensor {
        let out = data.withUnsafeBufferPointer { px in
            parallelFill(count) { po, r in vectorRelu(px.baseAddress! + r.lowerBound, po + r.lowerBound, r.count) }
        }
        return .result(shape: shape, data: out, op: .relu(self), inputs: [self])
    }
    /// x for x > 0, `slope * x` otherwise (`F.leaky_relu`, default slope 0.01).
    public func leakyRelu(slope: Float = 0.01) -> Tensor {
        .result(
            shape: shape, data: data.map { $0 > 0 ? $0 : $0 * slope }, op: .leakyRelu(self, slope: slope),
            inputs: [self])
    }
    /// 1 / (1 + e^-x) elementwise; backward uses the saved output y: dy * y * (1 - y).
    public func sigmoid() -> Tensor {
        .result(shape: shape, data: data.map { 1 / (1 + expf(-$0)) }, op: .sigmoid(self), inputs: [self])
    }
    /// tanh elementwise; backward uses the saved output y: dy * (1 - y²).
    public func tanh() -> Tensor {
        .result(shape: shape, data: data.map { tanhf($0) }, op: .tanh(self), inputs: [self])
    }

    /// Inverted dropout (`F.dropout`): in training, zeroes each element with probability `p` and
    /// scales survivors by 1/(1-p); in eval, the identity.
    /// - Throws: `TensorError.invalidArgument` unless 0 ≤ p < 1.
    public func dropout(p: Float, training: Bool, rng: inout SeededRandom) throws -> Tensor {
        guard p >= 0 && p < 1 else {
            throw TensorError.invalidArgument(op: "dropout", reason: "p must be in [0, 1), got \(p)")
        }
        guard training && p > 0 else { return self }
        let scale = 1 / (1 - p)
        let mask = (0..<count).map { _ in rng.nextFloat() < p ? Float(0) : scale }
        return .result(shape: shape, data: zipMap(data, mask, *), op: .dropout(self, mask: mask), inputs: [self])
    }
}
