import Foundation

// Weight initialisers as PyTorch/torchvision apply them (torch.nn.init; torchvision resnet.py).

/// fan_in and fan_out of a weight `[out, in]` or `[Cout, Cin/groups, kH, kW]` (`_calculate_fan_in_and_fan_out`).
public func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
    let receptive = shape.count > 2 ? shape[2...].reduce(1, *) : 1
    return ((shape.count > 1 ? shape[1] : 1) * receptive, (shape.first ?? 1) * receptive)
}

extension Tensor {
    /// Kaiming-normal, mode fan_out, ReLU gain (`nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')`,
    /// torchvision's conv init): N(0, 2 / fan_out).
    public static func kaimingNormal(_ shape: [Int], rng: inout SeededRandom) -> Tensor {
        let std = (2 / Float(Swift.max(fans(shape).fanOut, 1))).squareRoot()
        return .normal(shape, std: std, rng: &rng, requiresGrad: true)
    }

    /// PyTorch's default Linear/Conv weight init, kaiming_uniform(a=√5): U(−1/√fan_in, 1/√fan_in).
    public static func defaultWeight(_ shape: [Int], rng: inout SeededRandom) -> Tensor {
        let bound = 1 / Float(Swift.max(fans(shape).fanIn, 1)).squareRoot()
        return .uniform(shape, low: -bound, high: bound, rng: &rng, requiresGrad: true)
    }

    /// PyTorch's default Linear/Conv bias init: U(−1/√fan_in, 1/√fan_in) with the weight's fan_in.
    public static func defaultBias(_ count: Int, fanIn: Int, rng: inout SeededRandom) -> Tensor {
        let bound = 1 / Float(Swift.max(fanIn, 1)).squareRoot()
        return .uniform([count], low: -bound, high: bound, rng: &rng, requiresGrad: true)
    }
}
