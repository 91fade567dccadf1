import Tensors

/// 2-D convolution layer (`torch.nn.Conv2d`): input `[N, Cin, H, W]` → `[N, Cout, Hout, Wout]` with
/// Hout = (H + 2·padding − kernel) / stride + 1. Parameters `weight [Cout, Cin/groups, k, k]` and,
/// when `bias` is on, `bias [Cout]`. Weights start Kaiming-normal (fan_out, ReLU gain) as torchvision
/// and RepDistiller initialise their convolutions; a bias starts at zero.
public final class Conv2d: Layer {
    /// Kernel `[Cout, Cin/groups, k, k]`.
    public let weight: Tensor
    /// Optional bias `[Cout]`.
    public let bias: Tensor?
    /// Stride, padding and groups.
    public let geometry: Conv2dGeometry

    /// - Precondition: positive sizes and `groups` dividing both channel counts (the zoo validates user input first).
    public init(
        _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
        groups: Int = 1, bias: Bool = false, initializer rng: inout WeightInit
    ) {
        precondition(
            inChannels > 0 && outChannels > 0 && kernel > 0 && groups > 0
                && inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: bad configuration")
        weight = rng.kaimingNormal([outChannels, inChannels / groups, kernel, kernel])
        self.bias = bias ? .zeros([outChannels], requiresGrad: true) : nil
        geometry = Conv2dGeometry(stride: (stride, stride), padding: (padding, padding), groups: groups)
    }

    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        try conv2d(x, weight: weight, bias: bias, geometry: geometry)
    }

    public var ownParameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    public func profile(_ input: [Int]) throws -> LayerProfile {
        let w = weight.shape
        guard input.count == 4, input[1] == w[1] * geometry.groups else {
            throw TensorError.invalidShape(
                op: "conv2d", shape: input,
                reason: "is not [N, \(w[1] * geometry.groups), H, W] as weight \(formatShape(w)) expects")
        }
        let h = (input[2] + 2 * geometry.padding.h - w[2]) / geometry.stride.h + 1
        let wd = (input[3] + 2 * geometry.padding.w - w[3]) / geometry.stride.w + 1
        guard input[2] + 2 * geometry.padding.h >= w[2], input[3] + 2 * geometry.padding.w >= w[3] else {
            throw TensorError.invalidShape(
                op: "conv2d", shape: input, reason: "is smaller than the kernel \(w[2])x\(w[3])")
        }
        let out = [input[0], w[0], h, wd]
        return LayerProfile(output: out, macs: out.reduce(1, *) * w[1] * w[2] * w[3])
    }
}

/// Fully connected layer (`torch.nn.Linear`): `[N, in]` → `[N, out]`, `y = x·Wᵀ + b`, weight `[out, in]`,
/// bias `[out]`, initialised as PyTorch's default (uniform ±1/√in).
public final class Linear: Layer {
    /// Weight `[out, in]`.
    public let weight: Tensor
    /// Bias `[out]` (nil when built with `bias: false`).
    public let bias: Tensor?

    /// - Precondition: positive sizes (the zoo validates user input first).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, initializer rng: inout WeightInit) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: sizes must be positive")
        weight = rng.defaultWeight([outFeatures, inFeatures])
        self.bias = bias ? rng.defaultBias(outFeatures, fanIn: inFeatures) : nil
    }

    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        try linear(x, weight: weight, bias: bias)
    }

    public var ownParameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    public func profile(_ input: [Int]) throws -> LayerProfile {
        guard input.count == 2, input[1] == weight.shape[1] else {
            throw TensorError.invalidShape(op: "linear", shape: input, reason: "is not [N, \(weight.shape[1])]")
        }
        return LayerProfile(output: [input[0], weight.shape[0]], macs: input[0] * weight.shape[0] * weight.shape[1])
    }
}
