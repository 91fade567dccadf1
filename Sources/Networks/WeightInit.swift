import Tensors

/// Where a new layer's weights come from: seeded random draws with PyTorch's initialisers, or nothing at all
/// (zeros; BatchNorm γ still 1) when a checkpoint overwrites them at once — PyTorch's
/// `torch.nn.utils.skip_init`, which saves drawing millions of samples for a ResNet-50 teacher.
public struct WeightInit {
    var rng: SeededRandom?

    /// Seeded random initialisation (the same seed gives the same weights).
    public init(seed: UInt64) { rng = SeededRandom(seed: seed) }
    private init() { rng = nil }
    /// No initialisation: weights and biases are zero, ready for `Model.load`.
    public static var skip: WeightInit { WeightInit() }

    /// Kaiming-normal, fan_out, ReLU gain (torchvision and RepDistiller conv init); zeros when skipping.
    mutating func kaimingNormal(_ shape: [Int]) -> Tensor {
        guard var r = rng else { return .zeros(shape, requiresGrad: true) }
        defer { rng = r }
        return .kaimingNormal(shape, rng: &r)
    }

    /// PyTorch's default Linear weight init, U(±1/√fan_in); zeros when skipping.
    mutating func defaultWeight(_ shape: [Int]) -> Tensor {
        guard var r = rng else { return .zeros(shape, requiresGrad: true) }
        defer { rng = r }
        return .defaultWeight(shape, rng: &r)
    }

    /// PyTorch's default Linear bias init, U(±1/√fan_in); zeros when skipping.
    mutating func defaultBias(_ count: Int, fanIn: Int) -> Tensor {
        guard var r = rng else { return .zeros([count], requiresGrad: true) }
        defer { rng = r }
        return .defaultBias(count, fanIn: fanIn, rng: &r)
    }
}
