/// Errors thrown by tensor operations on user-reachable misuse (bad shapes, bad arguments).
///
/// Each case names the operation and the shapes at fault, so a message reads like
/// `conv2d: input [8, 3, 28, 28] has 3 channels, weight expects 1`.
/// Modelled on candle's `ShapeMismatchBinaryOp { lhs, rhs, op }`.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// Two operands whose shapes cannot be combined by `op` (no broadcast, inner dims differ, ...).
    case shapeMismatch(op: String, lhs: [Int], rhs: [Int])
    /// An operand whose shape is wrong for `op`, with a human sentence saying why.
    case invalidShape(op: String, shape: [Int], reason: String)
    /// A scalar or configuration argument out of range for `op`.
    case invalidArgument(op: String, reason: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let op, let lhs, let rhs):
            return "\(op): shapes \(formatShape(lhs)) and \(formatShape(rhs)) are not compatible"
        case .invalidShape(let op, let shape, let reason):
            return "\(op): input \(formatShape(shape)) \(reason)"
        case .invalidArgument(let op, let reason):
            return "\(op): \(reason)"
        }
    }
}

/// Formats a shape the way PyTorch users read it: `[8, 3, 28, 28]`.
public func formatShape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
