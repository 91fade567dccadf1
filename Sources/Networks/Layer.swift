import Tensors

/// A neural-network building block with an explicit train/eval switch (as candle's `forward_t`) and
/// named parameters, buffers and children (as `torch.nn.Module`), so that the names of a model's
/// tensors are exactly PyTorch's `state_dict()` keys (`layer1.0.conv1.weight`, `bn1.running_mean`).
///
/// A layer lists only what it owns directly; the traversals in the extension build the dotted names.
public protocol Layer: AnyObject {
    /// Applies the layer. `training` selects batch statistics in BatchNorm and active dropout
    /// (`module.train()` / `module.eval()`).
    /// - Throws: `TensorError` when the input shape does not fit the layer (e.g. channel count).
    func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor
    /// Trainable tensors owned directly by this layer, in registration order (`module._parameters`).
    var ownParameters: [(String, Tensor)] { get }
    /// Non-trainable state owned directly by this layer (`module._buffers`), e.g. BatchNorm running statistics.
    var ownBuffers: [(String, Tensor)] { get }
    /// Sub-layers in registration order (`module._modules`); names form the dotted path.
    var children: [(String, Layer)] { get }
    /// Output shape and multiply-accumulates of one forward pass for an input of shape `input`, without
    /// running it. MACs follow the usual count: convolution = output elements × Cin/groups × kH × kW,
    /// linear = output elements × in_features; everything else 0.
    /// - Throws: `TensorError` when `input` does not fit the layer.
    func profile(_ input: [Int]) throws -> LayerProfile
}

/// What a layer does to a shape: the output shape and its cost in multiply-accumulates.
public struct LayerProfile: Equatable {
    /// Output shape, e.g. `[N, C, H, W]`.
    public var output: [Int]
    /// Multiply-accumulate operations of one forward pass (the whole batch).
    public var macs: Int
    /// Creates a profile.
    public init(output: [Int], macs: Int) {
        self.output = output
        self.macs = macs
    }
}

extension Layer {
    /// Default: no parameters of its own.
    public var ownParameters: [(String, Tensor)] { [] }
    /// Default: no buffers of its own.
    public var ownBuffers: [(String, Tensor)] { [] }
    /// Default: a leaf layer.
    public var children: [(String, Layer)] { [] }

    /// Every parameter with its dotted name, in `torch.nn.Module.named_parameters()` order
    /// (own parameters first, then each child's, depth first).
    public func namedParameters(prefix: String = "") -> [(String, Tensor)] {
        ownParameters.map { (prefix + $0.0, $0.1) }
            + children.flatMap { $0.1.namedParameters(prefix: prefix + $0.0 + ".") }
    }

    /// Every buffer with its dotted name, in `named_buffers()` order.
    public func namedBuffers(prefix: String = "") -> [(String, Tensor)] {
        ownBuffers.map { (prefix + $0.0, $0.1) }
            + children.flatMap { $0.1.namedBuffers(prefix: prefix + $0.0 + ".") }
    }

    /// Parameters and buffers in PyTorch `state_dict()` order: for each module (depth first) its
    /// parameters, then its buffers, then its children.
    public func stateDict(prefix: String = "") -> [(String, Tensor)] {
        (ownParameters + ownBuffers).map { (prefix + $0.0, $0.1) }
            + children.flatMap { $0.1.stateDict(prefix: prefix + $0.0 + ".") }
    }

    /// Number of trainable scalars (`sum(p.numel() for p in model.parameters())`).
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.1.count } }
}

/// Chains profiles of layers applied one after another.
func profileChain(_ layers: [Layer], _ input: [Int]) throws -> LayerProfile {
    var p = LayerProfile(output: input, macs: 0)
    for layer in layers {
        let next = try layer.profile(p.output)
        p = LayerProfile(output: next.output, macs: p.macs + next.macs)
    }
    return p
}
