import Tensors

/// Layers applied in order (`torch.nn.Sequential`). Children are named `"0"`, `"1"`, ... unless names are
/// given (e.g. WRN's `NetworkBlock` is a Sequential with one child named `layer`). A model's stages cut
/// through Sequentials, so `layer2.1` can end a stage.
public final class Sequential: Layer {
    /// The named layers in order.
    public let layers: [(String, Layer)]
    /// Children named by position, as `nn.Sequential(*layers)`.
    public init(_ layers: [Layer]) { self.layers = layers.enumerated().map { (String($0.offset), $0.element) } }
    /// Children with explicit names, as `nn.Sequential(OrderedDict(...))`.
    public init(named layers: [(String, Layer)]) { self.layers = layers }

    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        try layers.reduce(x) { try $1.1($0, training: training) }
    }
    public var children: [(String, Layer)] { layers }
    public func profile(_ input: [Int]) throws -> LayerProfile { try profileChain(layers.map(\.1), input) }
}
