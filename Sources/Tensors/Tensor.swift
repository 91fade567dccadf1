import Foundation

/// A dense, contiguous, row-major Float32 tensor with optional reverse-mode autograd history.
///
/// Images are `[N, C, H, W]` (NCHW, as PyTorch); a matrix is `[rows, cols]`; a scalar has
/// shape `[]` and one element. Storage is a Swift `[Float]`, so a `reshape` shares memory
/// until one side is written (copy-on-write).
///
/// Autograd follows PyTorch: a tensor with `requiresGrad` that takes part in an op while
/// `GradMode.isEnabled` records the op (`gradFn`); `backward()` on a scalar walks the graph
/// in reverse topological order and accumulates `grad` into every leaf with `requiresGrad`.
/// A frozen parameter (`requiresGrad == false`) receives no gradient and is never updated.
public final class Tensor {
    /// Sizes of each axis, outermost first, e.g. `[N, C, H, W]`.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `data.count == shape.product`.
    public var data: [Float]
    /// Whether gradients flow to (and are accumulated in) this tensor.
    public var requiresGrad: Bool
    /// Accumulated gradient, same shape as `self`; `nil` until a backward pass reaches it.
    public var grad: Tensor?
    /// The op that produced this tensor, kept for the backward pass (nil for leaves).
    public internal(set) var gradFn: Op?
    /// Optional name (a parameter's state-dict key), used in messages.
    public var name: String?

    /// Creates a tensor from a shape and its row-major elements.
    /// - Precondition: `data.count` equals the product of `shape` (callers validate user input
    ///   first, e.g. with `Tensor.validated(shape:data:)`).
    public init(shape: [Int], data: [Float], requiresGrad: Bool = false) {
        precondition(
            shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == data.count,
            "Tensor: \(data.count) elements do not fill shape \(shape)")
        self.shape = shape
        self.data = data
        self.requiresGrad = requiresGrad
    }

    /// Creates a tensor from user-supplied values, checking that they fill `shape`.
    /// - Throws: `TensorError.invalidShape` when `data.count != product(shape)` or a size is negative.
    public static func validated(shape: [Int], data: [Float]) throws -> Tensor {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == data.count else {
            throw TensorError.invalidShape(
                op: "tensor", shape: shape,
                reason: "needs \(shape.reduce(1, *)) elements, got \(data.count)")
        }
        return Tensor(shape: shape, data: data)
    }

    /// Number of elements (product of `shape`).
    public var count: Int { data.count }
    /// Number of axes.
    public var rank: Int { shape.count }
    /// The single value of a one-element tensor. - Precondition: `count == 1`.
    public var item: Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements")
        return data[0]
    }
}

extension Tensor: CustomStringConvertible {
    /// `Tensor[2, 3] [0.1, 0.2, ...]` — shape and the first few values.
    public var description: String {
        let head = data.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor\(formatShape(shape)) [\(head)\(count > 8 ? ", ..." : "")]"
    }
}

// MARK: - Creation

extension Tensor {
    /// All zeros, shape `shape`.
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }
    /// All ones, shape `shape`.
    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        full(shape, 1, requiresGrad: requiresGrad)
    }
    /// Every element `value`, shape `shape`.
    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }
    /// A scalar (shape `[]`).
    public static func scalar(_ value: Float) -> Tensor { Tensor(shape: [], data: [value]) }
    /// `[start, start+step, ...]` below `end`, shape `[n]` (as `torch.arange`).
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor(shape: [n], data: (0..<n).map { start + Float($0) * step })
    }
    /// Normal samples N(mean, std²) from a seeded generator.
    public static func normal(
        _ shape: [Int], mean: Float = 0, std: Float = 1, rng: inout SeededRandom,
        requiresGrad: Bool = false
    ) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(
            shape: shape, data: (0..<n).map { _ in mean + std * rng.nextNormal() }, requiresGrad: requiresGrad)
    }
    /// Uniform samples in `[low, high)` from a seeded generator.
    public static func uniform(
        _ shape: [Int], low: Float = 0, high: Float = 1, rng: inout SeededRandom,
        requiresGrad: Bool = false
    ) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(
            shape: shape, data: (0..<n).map { _ in low + (high - low) * rng.nextFloat() }, requiresGrad: requiresGrad)
    }
}
