/// Turns sskd source text into tokens (hand-written scanner in the style of Crafting Interpreters' `Scanner`).
///
/// Newlines are tokens (they end statements); `#` starts a comment to the end of the line;
/// a `\` at the end of a line joins it with the next; a `!` that starts a statement takes the rest of its line as a
/// shell command (IPython's and gnuplot's `!ls`). Lexical errors become `.error` tokens so
/// the parser reports them with a location, one per statement.
public struct Lexer {
    private let chars: [Character]
    private let source: SourceText
    private var pos = 0
    private var line: Int
    private var column: Int
    /// True where a statement may start: at the beginning and after a newline, `;` or `{`.
    private var statementStart = true

    /// Scans `text`, which starts at `line`:`column` of `source` (interpolated code starts mid-line).
    public init(_ text: String, source: SourceText, line: Int = 1, column: Int = 1) {
        self.chars = Array(text)
        self.source = source
        self.line = line
        self.column = column
    }

    /// All tokens, ending with `.eof`.
    public mutating func tokens() -> [Token] {
        var result: [Token] = []
        while true {
            let token = next()
            statementStart = [.newline, .semicolon, .leftBrace].contains(token.kind)
            result.append(token)
            if token.kind == .eof { return result }
        }
    }

    private var atEnd: Bool { pos >= chars.count }
    private func peek(_ ahead: Int = 0) -> Character? { pos + ahead < chars.count ? chars[pos + ahead] : nil }

    private mutating func advance() -> Character {
        let c = chars[pos]
        pos += 1
        if c == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        return c
    }

    /// Skips blanks, comments and `\`-newline joins; returns true if anything was skipped.
    private mutating func skipSpace() -> Bool {
        var skipped = pos == 0 || chars[pos - 1] == "\n"
        while let c = peek() {
            if c == " " || c == "\t" || c == "\r" {
                _ = advance()
            } else if c == "#" {
                while let d = peek(), d != "\n" { _ = advance() }
            } else if c == "\\", continuationFollows() {
                while peek() != "\n" { _ = advance() }
                _ = advance()
            } else {
                return skipped
            }
            skipped = true
        }
        return skipped
    }

    /// True when the `\` at `pos` is followed only by blanks up to a newline.
    private func continuationFollows() -> Bool {
        var i = pos + 1
        while i < chars.count, chars[i] == " " || chars[i] == "\t" || chars[i] == "\r" { i += 1 }
        return i < chars.count && chars[i] == "\n"
    }

    private mutating func next() -> Token {
        let space = skipSpace()
        let start = pos
        let location = SourceLocation(source: source, line: line, column: column)
        func make(_ kind: TokenKind) -> Token {
            Token(kind: kind, location: location, start: start, end: pos, spaceBefore: space)
        }
        guard !atEnd else { return make(.eof) }
        let c = advance()
        switch c {
        case "\n": return make(.newline)
        case "(": return make(.leftParen)
        case ")": return make(.rightParen)
        case "[": return make(.leftBracket)
        case "]": return make(.rightBracket)
        case "{": return make(.leftBrace)
        case "}": return make(.rightBrace)
        case ",": return make(.comma)
        case ";": return make(.semicolon)
        case "+": return make(.plus)
        case "-": return make(.minus)
        case "*": return make(.star)
        case "/": return make(.slash)
        case "%": return make(.percent)
        case ".": return make(match(".") ? .dotDot : .dot)
        case "=": return make(match("=") ? .equalEqual : .equal)
        case "<": return make(match("=") ? .lessEqual : .less)
        case ">": return make(match("=") ? .greaterEqual : .greater)
        case "!":
            if match("=") { return make(.bangEqual) }
            if statementStart { return make(.shell(restOfLine())) }
            return make(.error("unexpected '!'; write 'not' for negation"))
        case "\"": return make(string(location))
        case "$":
            let name = word()
            return make(name.isEmpty ? .error("expected a name after '$'") : .dollar(name))
        default:
            if c.isASCII && c.isNumber {
                pos -= 1
                column -= 1
                return make(number())
            }
            if c.isLetter || c == "_" {
                pos -= 1
                column -= 1
                return make(.name(word()))
            }
            if c == "~" {
                return make(
                    .error(
                        "'~' is not expanded to your home folder here: write the folder's full path (\"/home/me/x\" or "
                            + "/home/me/x), or 'cd' alone to go home"))
            }
            return make(.error("unexpected character '\(c)'"))
        }
    }

    /// The characters up to the end of the line (not including the newline), blanks around them dropped.
    private mutating func restOfLine() -> String {
        var s = ""
        while let c = peek(), c != "\n" { s.append(advance()) }
        while let last = s.last, last == " " || last == "\t" || last == "\r" { s.removeLast() }
        return String(s.drop { $0 == " " || $0 == "\t" })
    }

    private mutating func match(_ expected: Character) -> Bool {
        guard peek() == expected else { return false }
        _ = advance()
        return true
    }

    /// Letters, digits and `_` (a name, or the digits of `$1`).
    private mutating func word() -> String {
        var s = ""
        while let c = peek(), c.isLetter || c == "_" || (c.isASCII && c.isNumber) { s.append(advance()) }
        return s
    }

    private mutating func digits() -> String {
        var s = ""
        while let c = peek(), c.isASCII, c.isNumber { s.append(advance()) }
        return s
    }

    /// `12`, `0.5`, `1e-3`; `1..3` is a range, so a `.` is a fraction only when a digit follows; `800x600` is a size
    /// word.
    private mutating func number() -> TokenKind {
        var s = digits()
        // A size word, `800x600` (WIDTHxHEIGHT): lexed as a name so that `size=800x600` needs no quotes.
        if peek() == "x", let d = peek(1), d.isASCII, d.isNumber {
            s.append(advance())
            s += digits()
            if let c = peek(), c.isLetter || c == "_" || c == "." { return .error("malformed size '\(s)\(word())'") }
            return .name(s)
        }
        if peek() == ".", let d = peek(1), d.isASCII, d.isNumber {
            s.append(advance())
            s += digits()
        }
        if let e = peek(), e == "e" || e == "E" {
            let signed = peek(1) == "+" || peek(1) == "-"
            if let d = peek(signed ? 2 : 1), d.isASCII, d.isNumber {
                s.append(advance())
                if signed { s.append(advance()) }
                s += digits()
            }
        }
        if let c = peek(), c.isLetter || c == "_" {
            let rest = word()
            return .error("malformed number '\(s)\(rest)'")
        }
        guard let value = Double(s) else { return .error("malformed number '\(s)'") }
        return .number(value)
    }

    /// A `"..."` literal after its opening quote: escapes, `$name` and `${expr}` parts. Its text may hold at most
    /// `Value.maxStringBytes` bytes.
    private mutating func string(_ opening: SourceLocation) -> TokenKind {
        var parts: [StringPart] = []
        var text = ""
        var bytes = 0  // of the text parts already flushed
        func flush() {
            bytes += text.utf8.count
            if !text.isEmpty {
                parts.append(.text(text))
                text = ""
            }
        }
        while let c = peek(), c != "\n" {
            guard bytes + text.utf8.count <= Value.maxStringBytes else {
                return errorSkippingString(
                    "a string may hold at most \(Value.maxStringBytes) bytes, this literal holds more")
            }
            let here = SourceLocation(source: source, line: line, column: column)
            _ = advance()
            switch c {
            case "\"":
                flush()
                return .string(parts)
            case "\\":
                guard let e = peek(), e != "\n" else { return .error("unterminated string") }
                _ = advance()
                switch e {
                case "n": text.append("\n")
                case "t": text.append("\t")
                case "r": text.append("\r")
                case "0": text.append("\0")
                case "\"", "\\", "$": text.append(e)
                default: return errorSkippingString("unknown escape '\\\(e)' in string")
                }
            case "$":
                if peek() == "{" {
                    _ = advance()
                    let codeStart = SourceLocation(source: source, line: line, column: column)
                    guard let code = interpolatedCode() else { return .error("unterminated '${' in string") }
                    flush()
                    parts.append(.code(code, codeStart))
                } else if let d = peek(), d.isLetter || d == "_" || (d.isASCII && d.isNumber) {
                    flush()
                    parts.append(.name(word(), here))
                } else {
                    text.append("$")
                }
            default:
                text.append(c)
                text += plainRun()
            }
        }
        return .error("unterminated string")
    }

    /// The characters from `pos` up to the next quote, backslash, `$` or newline, consumed at once.
    private mutating func plainRun() -> String {
        let start = pos
        while pos < chars.count, chars[pos] != "\"", chars[pos] != "\\", chars[pos] != "$", chars[pos] != "\n" {
            pos += 1
        }
        column += pos - start
        var bytes: [UInt8] = []
        for c in chars[start..<pos] { bytes.append(contentsOf: c.utf8) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Skips to the closing quote (or line end) so one bad escape yields one error.
    private mutating func errorSkippingString(_ message: String) -> TokenKind {
        while let c = peek(), c != "\n" {
            _ = advance()
            if c == "\"" { break }
            if c == "\\", peek() != nil, peek() != "\n" { _ = advance() }
        }
        return .error(message)
    }

    /// The code of `${...}` up to its matching `}` (nested braces and strings allowed), or nil at line end.
    private mutating func interpolatedCode() -> String? {
        var depth = 0
        var code = ""
        var inString = false
        while let c = peek(), c != "\n" {
            _ = advance()
            if inString {
                if c == "\\", let d = peek(), d != "\n" {
                    code.append(c)
                    code.append(advance())
                    continue
                }
                if c == "\"" { inString = false }
            } else if c == "\"" {
                inString = true
            } else if c == "{" {
                depth += 1
            } else if c == "}" {
                if depth == 0 { return code }
                depth -= 1
            }
            code.append(c)
        }
        return nil
    }
}
