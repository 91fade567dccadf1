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

    /// How `print`, `vars`, an expression's echo and string interpolation show the value: strings without quotes,
    /// objects by their summary, numbers as `Value.displayFormat` rounds them (`38.33`, `0.1`, `3`), also inside
    /// lists (whose strings stay quoted).
    public var display: String {
        switch self {
        case .string(let s): return s
        case .object(let o): return o.summary
        default: return render(numbers: Value.displayFormat)
        }
    }

    /// The value as it would be written in source (strings quoted); used in error messages and lists.
    ///
    /// Numbers are exact (`Value.format`, shortest round-trip). Cut after about `Value.printLimit` characters: a
    /// long string ends in `..."`, a long list in `... N more]` at each level left open, so showing any value takes
    /// bounded time and space.
    public var literal: String { render(numbers: Value.format) }

    /// `literal` with numbers written by `number`.
    private func render(numbers number: (Double) -> String) -> String {
        guard case .list(let items) = self else { return scalarLiteral(limit: Value.printLimit, number) }
        var out = "["
        var stack: [(items: [Value], next: Int)] = [(items, 0)]
        while let (items, next) = stack.last {
            if next == items.count {
                out += "]"
                stack.removeLast()
                continue
            }
            if next > 0 { out += ", " }
            if out.utf8.count >= Value.printLimit {
                out += "... \(items.count - next) more]"
                stack.removeLast()
                while let (items, next) = stack.popLast() {
                    out += next < items.count ? ", ... \(items.count - next) more]" : "]"
                }
                break
            }
            stack[stack.count - 1].next += 1
            if case .list(let sub) = items[next] {
                out += "["
                stack.append((sub, 0))
            } else {
                out += items[next].scalarLiteral(limit: Value.printLimit - out.utf8.count, number)
            }
        }
        return out
    }

    /// `literal` of a value that is not a list, numbers written by `number`; strings are cut after `limit`
    /// characters.
    private func scalarLiteral(limit: Int, _ number: (Double) -> String) -> String {
        switch self {
        case .none: return "none"
        case .number(let d): return number(d)
        case .string(let s):
            let head = s.prefix(max(limit, 0))
            let cut = head.endIndex != s.endIndex
            return "\"\(Value.escapedForSource(String(head)))\(cut ? "..." : "")\""
        case .bool(let b): return b ? "true" : "false"
        case .list: return "[...]"
        case .object(let o): return "<\(o.typeName)>"
        }
    }

    /// `s` as the text between a string literal's quotes: backslash, quote and newline escaped as the lexer reads
    /// them (`\\`, `\"`, `\n`); a `$` is left as it is (callers whose text is read back as source escape it too).
    static func escapedForSource(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// `3`, `-2`, `0.1`, `1e-05`, `38.333333333333336`: integers without a fraction, others in Swift's shortest
    /// round-trip form, so the text reads back as the same `Double` (error messages, `show options`, the reference).
    public static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    /// Significant digits up to which `displayFormat` shows a number exactly.
    public static let exactDisplayDigits = 6

    /// A number as `print` and `vars` show it (docs/language.md, "Values"):
    /// - integers below 10^15 without a fraction: `3`, `-2`, `100000000`;
    /// - a number whose shortest exact form (`format`) has at most `exactDisplayDigits` significant digits in that
    ///   form: `0.1`, `1e-05`, `0.0005`, `12345.6`, `1e+20`, `nan`, `inf`, `-inf`;
    /// - any other number from 10^-4 up to 10^15 with 4 significant digits, but never fewer than 2 decimals when
    ///   its integer part has 2 or more digits, so the integer part is never rounded: `38.33`, `0.3333`, `3.333`,
    ///   `12345.68`, `-2.667`; trailing zeros are dropped, one kept after the point (`2.0`: not an integer);
    /// - below 10^-4 or from 10^15, 4 significant digits in exponent form: `3.333e-06`, `1.235e+20`.
    public static func displayFormat(_ d: Double) -> String {
        let exact = format(d)
        guard d.isFinite, d != d.rounded() || abs(d) >= 1e15 else { return exact }
        let mantissa = exact.prefix { $0 != "e" }.filter(\.isNumber).drop { $0 == "0" }
        if mantissa.count <= exactDisplayDigits { return exact }
        let size = abs(d)
        if size < 1e-4 || size >= 1e15 {
            let text = String(format: "%.3e", d)
            guard let e = text.firstIndex(of: "e") else { return text }
            return trimmedFraction(String(text[..<e])) + text[e...]
        }
        let integerDigits = size < 1 ? 0 : Int(log10(size).rounded(.down)) + 1
        let decimals = size < 1 ? 4 - Int(log10(size).rounded(.up)) : max(4 - integerDigits, 2)
        return trimmedFraction(String(format: "%.\(max(decimals, 1))f", d))
    }

    /// `2.500` as `2.5`, `2.000` as `2.0`: trailing zeros of a fraction dropped, one digit kept after the point.
    private static func trimmedFraction(_ text: String) -> String {
        guard text.contains(".") else { return text }
        var t = Substring(text)
        while t.hasSuffix("0") && !t.hasSuffix(".0") { t = t.dropLast() }
        return String(t)
    }

    /// The value as an exact integer, or nil.
    public var integer: Int? {
        guard case .number(let d) = self, d == d.rounded(), abs(d) < 1e15 else { return nil }
        return Int(d)
    }

    /// Structural equality; objects are equal only to themselves.
    ///
    /// Walks nested lists with an explicit stack, so no value is too deep for it.
    public static func equal(_ a: Value, _ b: Value) -> Bool {
        var stack: [(lhs: [Value], rhs: [Value], next: Int)] = []
        func same(_ a: Value, _ b: Value) -> Bool {
            switch (a, b) {
            case (.none, .none): return true
            case (.number(let x), .number(let y)): return x == y
            case (.string(let x), .string(let y)): return x == y
            case (.bool(let x), .bool(let y)): return x == y
            case (.list(let x), .list(let y)):
                guard x.count == y.count else { return false }
                if !x.isEmpty { stack.append((x, y, 0)) }
                return true
            case (.object(let x), .object(let y)): return x === y
            default: return false
            }
        }
        guard same(a, b) else { return false }
        while let (lhs, rhs, next) = stack.last {
            if next == lhs.count {
                stack.removeLast()
                continue
            }
            stack[stack.count - 1].next += 1
            guard same(lhs[next], rhs[next]) else { return false }
        }
        return true
    }
}

/// The limits every value the language builds stays within, and the measure that checks them.
extension Value {
    /// The deepest a list may nest: `[1]` is 1 level deep, `[[1]]` 2. Far beyond what scripts use, and shallow
    /// enough that freeing a value (which Swift does recursively) cannot overflow the stack.
    public static let maxDepth = 100
    /// The most elements a value may hold, counted over every nested list: a list that appears twice in a value
    /// counts twice, so `[l, l]` holds 2 + twice the elements of `l`.
    public static let maxElements = 1_000_000
    /// The longest string, in UTF-8 bytes (16 MiB).
    public static let maxStringBytes = 16 << 20
    /// About how many characters `literal` and `display` show of a list (and `literal` of a string) before cutting.
    public static let printLimit = 10_000

    /// The size of a list: its elements counted over every nested list, and its depth.
    public struct Extent: Equatable {
        /// Elements at every level (shared sub-lists counted each time they appear); once past the measure's limit,
        /// a number just past it.
        public var elements: Int
        /// Levels of nesting, 1 for a list without lists; once past `Value.maxDepth`, `Value.maxDepth + 1`.
        public var depth: Int
    }

    /// The extent of a list holding `items`. Stops as soon as the elements pass `limit` or the depth passes
    /// `maxDepth`, so it takes at most about `limit` steps whatever the value's logical size.
    public static func extent(of items: [Value], limit: Int = maxElements) -> Extent {
        var extent = Extent(elements: items.count, depth: 1)
        guard extent.elements <= limit else { return extent }
        var stack: [(items: [Value], depth: Int)] = [(items, 1)]
        while let (list, depth) = stack.popLast() {
            for case .list(let sub) in list {
                extent.elements += sub.count
                extent.depth = max(extent.depth, depth + 1)
                if extent.elements > limit || extent.depth > maxDepth { return extent }
                if !sub.isEmpty { stack.append((sub, depth + 1)) }
            }
        }
        return extent
    }
}
