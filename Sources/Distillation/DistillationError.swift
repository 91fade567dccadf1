import Networks
import Tensors

/// Errors of the training and distillation commands, each naming the model, stage or option at fault.
public enum DistillationError: Error, CustomStringConvertible, Equatable {
    /// Every parameter the command would train is frozen.
    case nothingToTrain(what: String)
    /// Student and teacher stage outputs differ in spatial size and pooling was not asked for.
    case spatialMismatch(student: [Int], teacher: [Int], stage: Int)
    /// Student and teacher disagree on something the method needs (class count, stage count...).
    case incompatible(String)
    /// A training option out of range.
    case invalidOption(name: String, reason: String)
    /// The data split needed is empty.
    case emptySplit(String)
    /// The caller's `Cancellation` asked to stop (Ctrl-C) during an evaluation or a cache's building.
    case interrupted

    public var description: String {
        switch self {
        case .nothingToTrain(let what):
            return "nothing to train: \(what) is frozen (unfreeze it first)"
        case .spatialMismatch(let s, let t, let stage):
            return
                "stage \(stage + 1): student feature \(formatShape(s)) and teacher feature \(formatShape(t)) differ "
                + "in size; pass pool=true to average-pool the larger one"
        case .incompatible(let reason):
            return reason
        case .invalidOption(let name, let reason):
            return "option '\(name)': \(reason)"
        case .interrupted:
            return "interrupted"
        case .emptySplit(let split):
            return
                "the \(split) split is empty (load data with a larger limit or val=N; a single ImageFolder split "
                + "holds a test "
                + "split out with test=N)"
        }
    }
}
