import Tensors

/// Rectified linear unit (`torch.nn.ReLU`), any shape.
public final class ReLU: Layer {
    /// A parameter-free ReLU.
    public init() {}
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor { x.relu() }
    public func profile(_ input: [Int]) throws -> LayerProfile { LayerProfile(output: input, macs: 0) }
}

/// Max pooling (`torch.nn.MaxPool2d(kernel, stride, padding)`): `[N, C, H, W]` → `[N, C, Hout, Wout]`,
/// Hout = (H + 2·padding − kernel) / stride + 1.
public final class MaxPool2d: Layer {
    /// Window geometry.
    public let geometry: Pool2dGeometry
    /// `stride` defaults to `kernel`, as PyTorch.
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        geometry = Pool2dGeometry(
            kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding))
    }
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor { try x.maxPool2d(geometry) }
    public func profile(_ input: [Int]) throws -> LayerProfile { try poolProfile(geometry, input, op: "max_pool2d") }
}

/// Average pooling (`torch.nn.AvgPool2d(kernel, stride, padding)`), shapes as `MaxPool2d`.
public final class AvgPool2d: Layer {
    /// Window geometry.
    public let geometry: Pool2dGeometry
    /// `stride` defaults to `kernel`, as PyTorch.
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        geometry = Pool2dGeometry(
            kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding))
    }
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor { try x.avgPool2d(geometry) }
    public func profile(_ input: [Int]) throws -> LayerProfile { try poolProfile(geometry, input, op: "avg_pool2d") }
}

func poolProfile(_ g: Pool2dGeometry, _ input: [Int], op: String) throws -> LayerProfile {
    guard input.count == 4, input[2] + 2 * g.padding.h >= g.kernel.h, input[3] + 2 * g.padding.w >= g.kernel.w else {
        throw TensorError.invalidShape(
            op: op, shape: input, reason: "is not [N, C, H, W] of at least the kernel \(g.kernel.h)x\(g.kernel.w)")
    }
    return LayerProfile(
        output: [
            input[0], input[1], (input[2] + 2 * g.padding.h - g.kernel.h) / g.stride.h + 1,
            (input[3] + 2 * g.padding.w - g.kernel.w) / g.stride.w + 1,
        ], macs: 0)
}

/// Global average pooling (`torch.nn.AdaptiveAvgPool2d((1, 1))`): `[N, C, H, W]` → `[N, C, 1, 1]`, so the
/// head works for any input size.
public final class GlobalAvgPool2d: Layer {
    /// A parameter-free global average pool.
    public init() {}
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor { try x.adaptiveAvgPool2d(1, 1) }
    public func profile(_ input: [Int]) throws -> LayerProfile {
        guard input.count == 4 else {
            throw TensorError.invalidShape(op: "adaptive_avg_pool2d", shape: input, reason: "is not [N, C, H, W]")
        }
        return LayerProfile(output: [input[0], input[1], 1, 1], macs: 0)
    }
}

/// `torch.nn.Flatten()`: `[N, d1, d2, ...]` → `[N, d1·d2·...]`.
public final class Flatten: Layer {
    /// A parameter-free flatten from axis 1.
    public init() {}
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor { x.flattened() }
    public func profile(_ input: [Int]) throws -> LayerProfile {
        guard let n = input.first else {
            throw TensorError.invalidShape(op: "flatten", shape: input, reason: "has no batch axis")
        }
        return LayerProfile(output: [n, input.dropFirst().reduce(1, *)], macs: 0)
    }
}

/// Inverted dropout (`torch.nn.Dropout(p)`): in training zeroes each element with probability `p` and scales
/// the rest by 1/(1−p); identity in eval. Masks come from the layer's own seeded generator (reproducible runs).
public final class Dropout: Layer {
    /// Drop probability in [0, 1).
    public let p: Float
    /// Generator for the masks.
    public var rng: SeededRandom
    /// - Precondition: `0 <= p < 1`.
    public init(p: Float, seed: UInt64 = 0) {
        precondition(p >= 0 && p < 1, "Dropout: p must be in [0, 1)")
        self.p = p
        rng = SeededRandom(seed: seed)
    }
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        try x.dropout(p: p, training: training, rng: &rng)
    }
    public func profile(_ input: [Int]) throws -> LayerProfile { LayerProfile(output: input, macs: 0) }
}
