import Tensors

/// Errors from building, splitting and loading models, each naming the architecture, stage or tensor at fault.
public enum NetworkError: Error, CustomStringConvertible, Equatable {
    /// `Zoo.make` got a name it does not know; lists the known names and a close match when there is one.
    case unknownArchitecture(String, known: [String], suggestion: String?)
    /// A size or option out of range for an architecture (e.g. resnet depth not 6n+2, zero classes).
    case invalidConfiguration(architecture: String, reason: String)
    /// The requested model would exceed the parameter budget (refused before allocating).
    case tooLarge(architecture: String, parameters: Int, limit: Int)
    /// A stage index outside `0..<count`.
    case stageOutOfRange(Int, count: Int)
    /// A stage name not present in the model.
    case unknownStage(String, known: [String])
    /// `split(at:)` got a name that is no module of the model, or names out of order / inside the head.
    case invalidSplit(String)
    /// `load(_:strict:)` found missing or unexpected keys (strict only) or shape mismatches, reported together
    /// in PyTorch's `load_state_dict` wording.
    case stateDictMismatch(model: String, missing: [String], unexpected: [String], shapeMismatches: [ShapeMismatch])
    /// A loaded tensor holds a value no trained model has: NaN or infinity, or a negative BatchNorm running
    /// variance (`reason` names the element and value).
    case invalidValues(model: String, key: String, reason: String)

    /// A tensor whose checkpoint shape differs from the model's.
    public struct ShapeMismatch: Equatable {
        /// The state-dict key, the shape found in the checkpoint, and the model's shape.
        public let key: String, checkpoint: [Int], model: [Int]
    }

    public var description: String {
        switch self {
        case .unknownArchitecture(let name, let known, let suggestion):
            return "unknown architecture '\(name)'" + (suggestion.map { ", did you mean '\($0)'?" } ?? ".")
                + " Known: " + known.joined(separator: ", ")
        case .invalidConfiguration(let arch, let reason):
            return "\(arch): \(reason)"
        case .tooLarge(let arch, let parameters, let limit):
            return "\(arch): \(parameters) parameters exceed the limit of \(limit); use smaller widths or depth"
        case .stageOutOfRange(let index, let count):
            return "stage \(index) does not exist; the model has stages 0..<\(count)"
        case .unknownStage(let name, let known):
            return "no stage named '\(name)'; stages: " + known.joined(separator: ", ")
        case .invalidSplit(let reason):
            return "split: \(reason)"
        case .stateDictMismatch(let model, let missing, let unexpected, let mismatches):
            var lines: [String] = []
            let quoted = { (keys: [String]) in keys.map { "\"\($0)\"" }.joined(separator: ", ") }
            if !missing.isEmpty { lines.append("Missing key(s) in state_dict: \(quoted(missing)). ") }
            if !unexpected.isEmpty { lines.append("Unexpected key(s) in state_dict: \(quoted(unexpected)). ") }
            for m in mismatches {
                lines.append(
                    "size mismatch for \(m.key): copying a param with shape \(formatShape(m.checkpoint)) from "
                        + "checkpoint, "
                        + "the shape in current model is \(formatShape(m.model)).")
            }
            return "Error(s) in loading state_dict for \(model):\n\t" + lines.joined(separator: "\n\t")
        case .invalidValues(let model, let key, let reason):
            return "cannot load \(key) into \(model): \(reason)"
        }
    }
}
