import Foundation

/// A value written into generated Python source as a literal: the constants of an exported model file and the
/// `RECIPE` of an exported session script. Rendering never produces code, only literals (strings are escaped, so
/// names and paths from files cannot break out of them).
indirect enum PythonLiteral: Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case none
    case list([PythonLiteral])
    /// Keys in the order given (Python dicts keep insertion order).
    case dict([(String, PythonLiteral)])

    static func == (a: PythonLiteral, b: PythonLiteral) -> Bool { a.text() == b.text() }

    /// `["a", "b"]`.
    static func strings(_ values: [String]) -> PythonLiteral { .list(values.map { .string($0) }) }
    /// `[1, 28, 28]`.
    static func ints(_ values: [Int]) -> PythonLiteral { .list(values.map { .int($0) }) }
    /// `[0.286, 0.353]`.
    static func doubles(_ values: [Double]) -> PythonLiteral { .list(values.map { .double($0) }) }

    /// The literal as Python source. `indent` > 0 puts each item of a dict (or of a list of dicts) on its own line,
    /// nested one `indent` deeper per level; lists of scalars stay on one line.
    func text(indent: Int = 0, level: Int = 0) -> String {
        switch self {
        case .string(let s): return Self.quoted(s)
        case .int(let i): return String(i)
        case .double(let d):
            guard d.isFinite else { return d.isNaN ? "float('nan')" : (d > 0 ? "float('inf')" : "float('-inf')") }
            let text = "\(d)"
            return text.contains(".") || text.contains("e") ? text : text + ".0"
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        case .list(let items):
            let nested = indent > 0 && items.contains { if case .dict = $0 { return true } else { return false } }
            guard nested else { return "[" + items.map { $0.text() }.joined(separator: ", ") + "]" }
            let pad = String(repeating: " ", count: indent * (level + 1))
            let body = items.map { pad + $0.text(indent: indent, level: level + 1) }.joined(separator: ",\n")
            return "[\n" + body + ",\n" + String(repeating: " ", count: indent * level) + "]"
        case .dict(let pairs):
            guard indent > 0, !pairs.isEmpty else {
                return "{" + pairs.map { Self.quoted($0.0) + ": " + $0.1.text() }.joined(separator: ", ") + "}"
            }
            let pad = String(repeating: " ", count: indent * (level + 1))
            let body = pairs.map { pad + Self.quoted($0.0) + ": " + $0.1.text(indent: indent, level: level + 1) }
            return "{\n" + body.joined(separator: ",\n") + ",\n" + String(repeating: " ", count: indent * level) + "}"
        }
    }

    /// A double-quoted Python string literal: backslash, quote and control characters escaped, everything outside
    /// printable ASCII as `\uXXXX` / `\UXXXXXXXX`, so the generated file is ASCII.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case " "..."~": out.unicodeScalars.append(scalar)
            default:
                out +=
                    scalar.value <= 0xFFFF
                    ? String(format: "\\u%04x", scalar.value) : String(format: "\\U%08x", scalar.value)
            }
        }
        return out + "\""
    }
}

/// A Python source template with `{{NAME}}` placeholders (the templates are in `PythonTemplates.swift`).
struct PythonTemplate {
    let text: String

    /// The text with every `{{NAME}}` replaced by `values[NAME]`, in one pass over the template (a value that
    /// contains braces is not scanned again).
    /// - Precondition: every placeholder of the template has a value (the generators give them all).
    func filled(_ values: [String: String]) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            let name = String(rest[open.upperBound..<close.lowerBound])
            guard let value = values[name] else { preconditionFailure("PythonTemplate: no value for {{\(name)}}") }
            out += rest[..<open.lowerBound] + value
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}
