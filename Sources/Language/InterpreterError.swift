import Storage

/// An error in sskd input, located at the character at fault.
///
/// Printed clox/jlox style, e.g.
/// ```
/// demo.sskd:12:7: error: unknown option 'lrr' for 'train'; did you mean 'lr'?
///     train student data lrr=0.1
///                        ^
/// ```
public enum InterpreterError: Error, CustomStringConvertible, Equatable {
    /// The text cannot be parsed (script exit code 65).
    case syntax(String, SourceLocation)
    /// A statement failed while running: bad arguments, unknown names, errors thrown by commands (exit code 70).
    case runtime(String, SourceLocation)

    /// The message without location, safe to print: text quoted from files (tensor names, zip members, metadata)
    /// has its control and format characters escaped (`Storage.printableMessage`), lines cut at 4,000 characters.
    public var message: String {
        switch self {
        case .syntax(let m, _), .runtime(let m, _): return printableMessage(m)
        }
    }

    /// Where the error is reported.
    public var location: SourceLocation {
        switch self {
        case .syntax(_, let l), .runtime(_, let l): return l
        }
    }

    /// True for syntax errors.
    public var isSyntax: Bool {
        if case .syntax = self { return true }
        return false
    }

    /// `file:line:col: error: message`
    public var description: String { "\(location): error: \(message)" }

    /// The description, then the source line and a caret under the column. A line longer than
    /// `InterpreterError.shownLine` characters is shown as that many around the column, `...` marking the cuts.
    public var rendered: String {
        let line = location.source.line(location.line)
        var shown = Substring(line)
        var column = max(0, location.column - 1)
        var (lead, tail) = ("", "")
        if line.count > InterpreterError.shownLine {
            let start = max(0, min(column - InterpreterError.shownLine / 2, line.count - InterpreterError.shownLine))
            shown = line.dropFirst(start).prefix(InterpreterError.shownLine)
            column -= start
            lead = start > 0 ? "..." : ""
            tail = shown.endIndex != line.endIndex ? "..." : ""
        }
        // The quoted line's control characters (a script's escape sequences) are shown escaped; the caret moves
        // by each escape's width. Tabs stay, so the caret lines up under them.
        let safe = { (c: Character) in c == "\t" ? "\t" : printable(String(c), limit: .max) }
        let text = shown.map(safe).joined()
        let prefix =
            lead.map { _ in " " }.joined()
            + shown.prefix(column).map { $0 == "\t" ? "\t" : String(repeating: " ", count: safe($0).count) }.joined()
        return "\(description)\n    \(lead)\(text)\(tail)\n    \(prefix)^"
    }

    /// The most characters of the source line `rendered` shows.
    public static let shownLine = 200
}

/// Control flow that unwinds the evaluator without being an error (`quit`).
enum ControlSignal: Error {
    /// `quit CODE`: stop running and exit with CODE; nil for a bare `quit` (the status of the run so far).
    case quit(Int32?)
}
