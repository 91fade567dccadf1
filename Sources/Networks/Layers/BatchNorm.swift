import Tensors

/// Batch normalisation (`torch.nn.BatchNorm1d` on `[N, C]`, `BatchNorm2d` on `[N, C, H, W]`; Ioffe & Szegedy 2015)
/// with PyTorch's defaults: eps 1e-5, momentum 0.1, affine, tracked running statistics.
///
/// Parameters `weight` (γ, ones) and `bias` (β, zeros), `[C]`. Buffers `running_mean` (zeros),
/// `running_var` (ones), `[C]`, and `num_batches_tracked` (shape `[]`, as PyTorch's scalar, kept as Float),
/// incremented by every training-mode forward. In eval mode (or inside a frozen stage) the running
/// statistics are used and never change.
public final class BatchNorm: Layer {
    /// γ `[C]`.
    public let weight: Tensor
    /// β `[C]`.
    public let bias: Tensor
    /// Running mean `[C]`.
    public let runningMean: Tensor
    /// Running (unbiased) variance `[C]`.
    public let runningVar: Tensor
    /// Training forwards seen so far, shape `[]`.
    public let numBatchesTracked: Tensor
    /// Expected input rank: 2 (`BatchNorm1d`) or 4 (`BatchNorm2d`).
    public let rank: Int
    /// Running-statistics momentum and variance epsilon.
    public let momentum: Float, eps: Float

    /// A `BatchNorm2d(features)` (`rank: 4`) or `BatchNorm1d(features)` (`rank: 2`).
    /// - Precondition: `features > 0`, rank 2 or 4.
    public init(_ features: Int, rank: Int = 4, momentum: Float = 0.1, eps: Float = 1e-5) {
        precondition(features > 0 && (rank == 2 || rank == 4), "BatchNorm: bad configuration")
        weight = .ones([features], requiresGrad: true)
        bias = .zeros([features], requiresGrad: true)
        runningMean = .zeros([features])
        runningVar = .ones([features])
        numBatchesTracked = .zeros([])
        self.rank = rank
        self.momentum = momentum
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        try callAsFunction(x, training: training, relu: false)
    }

    /// `relu(self(x))` in one pass when `relu` (the same values and gradients as the two ops in sequence,
    /// without the intermediate tensor; `batchNorm(..., relu:)`).
    /// - Throws: `TensorError` when `x` is not of rank `rank` or has the wrong channel count.
    public func callAsFunction(_ x: Tensor, training: Bool, relu: Bool) throws -> Tensor {
        guard x.rank == rank else {
            throw TensorError.invalidShape(
                op: rank == 4 ? "BatchNorm2d" : "BatchNorm1d", shape: x.shape,
                reason: rank == 4 ? "is not [N, C, H, W]" : "is not [N, C]")
        }
        let y = try batchNorm(
            x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
            training: training, momentum: momentum, eps: eps, relu: relu)
        countBatch(training: training)
        return y
    }

    /// This batch norm after `conv` (without bias), and a ReLU when `relu`, as a unit of a fused
    /// `convBatchNormBlock`; the caller counts the batch (`countBatch`) when the block has run.
    public func unit(after conv: Conv2d, relu: Bool) -> ConvBatchNormUnit {
        ConvBatchNormUnit(
            weight: conv.weight, geometry: conv.geometry,
            norm: BatchNormParameters(
                weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar, momentum: momentum,
                eps: eps),
            relu: relu)
    }

    /// Counts a training-mode forward in `num_batches_tracked` (as PyTorch's `BatchNorm` forward does).
    public func countBatch(training: Bool) {
        if training { numBatchesTracked.data[0] += 1 }
    }

    public var ownParameters: [(String, Tensor)] { [("weight", weight), ("bias", bias)] }
    public var ownBuffers: [(String, Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
    }

    public func profile(_ input: [Int]) throws -> LayerProfile {
        guard input.count == rank, input[1] == weight.count else {
            throw TensorError.invalidShape(
                op: rank == 4 ? "BatchNorm2d" : "BatchNorm1d", shape: input,
                reason: "does not have \(weight.count) channels on axis 1")
        }
        return LayerProfile(output: input, macs: 0)
    }
}
