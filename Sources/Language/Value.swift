import Foundation

/// Something a command returns that the language can bind, print and navigate:
/// a model, a data set, a training run. The lead implements it for engine objects.
///
/// `student.stage[2]` evaluates as `student.member("stage").index(2)`; `vars` shows
/// `typeName` and `summary`; tab completion offers `memberNames` after a dot.
public protocol SessionObject: AnyObject {
    /// A short lowercase type name: `model`, `dataset`, `run`.
    var typeName: String { get }
    /// One line for `vars` and for display, e.g. `resnet20, 0.27M parameters`.
    var summary: String { get }
    /// The member `name`; throw (any error) when there is none.
    func member(_ name: String) throws -> Value
    /// The element at `i` (the object decides whether it counts from 0 or 1); throw when out of range.
    func index(_ i: Int) throws -> Value
    /// Member names offered by tab completion.
    var memberNames: [String] { get }
}

/// An object with a longer description than its one-line summary (`show NAME` prints it).
public protocol DetailedObject: SessionObject {
    /// Several lines for `show`, which may depend on the session's state (e.g. the current data).
    func detail(in session: Session) -> String
}

/// An object `save OBJECT FILE` can write (a model); `save session FILE` is the language's own.
public protocol SavableObject: SessionObject {
    /// Writes the object to `path` and prints what was written through `session`.
    /// - Throws: any error; `save` reports its text at the file argument.
    func save(to path: String, in session: Session) throws
}

/// A value of the sskd language.
public enum Value {
    /// The result of commands that return nothing.
    case none
    /// All numbers are doubles; integral values print without a fraction.
    case number(Double)
    /// Text.
    case string(String)
    /// `true` or `false`.
    case bool(Bool)
    /// A list (ranges evaluate to lists).
    case list([Value])
    /// An engine object: model, data set, run.
    case object(SessionObject)

    /// The type name used in messages and `vars`: `number`, `string`, `bool`, `list`, `none`, or the object's.
    public var typeName: String {
        switch self {
        case .none: return "none"
        case .number: return "number"
        case .string: return "string"
        case .bool: return "bool"
        case .list: return "list"
        case .object(let o): return o.typeName
        }
    }

    /// How `print` shows the value: strings without quotes, numbers like `3` or `0.25`.
    public var display: String {
        switch self {
        case .string(let s): return s
        case .object(let o): return o.summary
        default: return literal
        }
    }

    /// The value as it would be written in source (strings quoted); used in error messages and lists.
    public var literal: String {
        switch self {
        case .none: return "none"
        case .number(let d): return Value.format(d)
        case .string(let s):
            let escaped = s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
            return "\"\(escaped)\""
        case .bool(let b): return b ? "true" : "false"
        case .list(let items): return "[" + items.map(\.literal).joined(separator: ", ") + "]"
        case .object(let o): return "<\(o.typeName)>"
        }
    }

    /// `3`, `-2`, `0.1`, `1e-05`: integers without a fraction, others in Swift's shortest round-trip form.
    public static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    /// The value as an exact integer, or nil.
    public var integer: Int? {
        guard case .number(let d) = self, d == d.rounded(), abs(d) < 1e15 else { return nil }
        return Int(d)
    }

    /// Structural equality; objects are equal only to themselves.
    public static func equal(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.list(let x), .list(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)): return x === y
        default: return false
        }
    }
}
