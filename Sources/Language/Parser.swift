/// Recursive-descent parser for sskd, one function per precedence level (as jlox's `Parser`):
///
/// ```
/// program    → statement* EOF                  (separated by newlines or ';')
/// statement  → for | if | NAME "=" (command | expression) | command | expression
/// command    → NAME ( NAME "=" expression | expression )*
/// for        → "for" NAME "in" expression block
/// if         → "if" expression block ( "else" ( if | block ) )?
/// block      → "{" statement* "}"
/// expression → or;  or → and ("or" and)*;  and → equality ("and" equality)*
/// equality   → comparison (("==" | "!=") comparison)*
/// comparison → range (("<" | "<=" | ">" | ">=") range)*
/// range      → term (".." term)?
/// term       → factor (("+" | "-") factor)*;  factor → unary (("*" | "/" | "%") unary)*
/// unary      → ("-" | "not") unary | postfix;  postfix → primary ("." NAME | "[" expression "]")*
/// primary    → NUMBER | STRING | "true" | "false" | NAME | "$"NAME | "(" expression ")" | "[" list "]"
/// ```
///
/// A statement that starts with a registered command name (or a name followed by an argument) is a command
/// call. Inside command arguments a `+`, `-` or `/` preceded by a space but not followed by one starts a new argument
/// (`print a -1` has two arguments), as does a `[` preceded by a space.
public struct Parser {
    static let keywords: Set<String> = ["for", "in", "if", "else", "true", "false", "and", "or", "not"]

    let tokens: [Token]
    let chars: [Character]
    let isCommand: (String) -> Bool
    var current = 0
    /// Depth of open `(` and `[`: newlines inside them are skipped.
    var nesting = 0
    /// True while parsing a top-level command argument (enables the argument-splitting rules).
    var argumentMode = false
    /// Current recursion depth of `expression`/`unary`, bounded by `maxDepth`.
    var depth = 0
    /// Deepest nesting accepted (guards the stack against inputs like 10,000 `(`).
    static let maxDepth = 200

    /// Prepares to parse `text`, which starts at `line`:`column` of `source`.
    /// `isCommand` tells whether a name is a registered command.
    /// `depth` is the nesting already used by an enclosing parser (for `${...}` inside strings).
    public init(
        _ text: String, source: SourceText, line: Int = 1, column: Int = 1, depth: Int = 0,
        isCommand: @escaping (String) -> Bool
    ) {
        var lexer = Lexer(text, source: source, line: line, column: column)
        self.tokens = lexer.tokens()
        self.chars = Array(text)
        self.isCommand = isCommand
        self.depth = depth
    }

    /// Parses every statement; a syntax error replaces only the statement it occurs in (no cascade).
    public mutating func parseProgram() -> [ParsedStatement] {
        var result: [ParsedStatement] = []
        while true {
            while [.newline, .semicolon].contains(tokens[current].kind) { current += 1 }
            if tokens[current].kind == .eof { return result }
            let first = current
            do {
                let stmt = try statement()
                let end = peek()
                guard [.newline, .semicolon, .eof].contains(end.kind) else {
                    throw unexpected(end, "expected end of statement")
                }
                result.append(ParsedStatement(result: .success(stmt), text: text(from: first, to: current)))
            } catch let error as InterpreterError {
                synchronize(from: first)
                result.append(ParsedStatement(result: .failure(error), text: text(from: first, to: current)))
            } catch {
                preconditionFailure("parser threw a non-InterpreterError: \(error)")
            }
        }
    }

    /// Parses `text` as one expression (string interpolation `${...}`, completion).
    public mutating func parseExpression() throws -> Expr {
        let e = try expression()
        let end = peek()
        guard end.kind == .eof else { throw unexpected(end, "expected end of expression") }
        return e
    }

    // MARK: Tokens

    mutating func peek() -> Token {
        if nesting > 0 { while tokens[current].kind == .newline { current += 1 } }
        return tokens[current]
    }

    /// The token after the current one, as written (no newline skipping).
    func peekNext() -> Token { tokens[min(current + 1, tokens.count - 1)] }

    @discardableResult
    mutating func advance() -> Token {
        let t = peek()
        if t.kind != .eof { current += 1 }
        return t
    }

    mutating func match(_ kind: TokenKind) -> Bool {
        guard peek().kind == kind else { return false }
        advance()
        return true
    }

    mutating func expect(_ kind: TokenKind, _ message: String) throws -> Token {
        let t = peek()
        guard t.kind == kind else {
            // An unclosed bracket: report at the end of the line where it was left open, and resume there.
            var i = current
            while i > 0 && tokens[i - 1].kind == .newline { i -= 1 }
            if i < current, i > 0 {
                current = i
                let last = tokens[i - 1]
                let end = SourceLocation(
                    source: last.location.source, line: last.location.line,
                    column: last.location.column + last.end - last.start)
                throw InterpreterError.syntax("\(message), found end of line", end)
            }
            throw unexpected(t, message)
        }
        return advance()
    }

    func text(from first: Int, to end: Int) -> String {
        guard end > first else { return "" }
        let lo = tokens[first].start
        let hi = tokens[end - 1].end
        return hi > lo ? String(chars[lo..<hi]) : ""
    }

    /// After an error, skips to the end of the statement that started at token `first`,
    /// past any `{ }` blocks it opened.
    mutating func synchronize(from first: Int) {
        let failedAt = max(current, first)
        var depth = 0
        var i = first
        while tokens[i].kind != .eof {
            switch tokens[i].kind {
            case .leftBrace: depth += 1
            case .rightBrace: depth -= 1
            case .newline, .semicolon:
                if depth <= 0 && i >= failedAt {
                    current = i
                    return
                }
            default: break
            }
            i += 1
        }
        current = i
    }

    func describe(_ t: Token) -> String {
        switch t.kind {
        case .name(let n): return "'\(n)'"
        case .number(let d): return "'\(Value.format(d))'"
        case .string: return "a string"
        case .dollar(let n): return "'$\(n)'"
        case .newline: return "end of line"
        case .eof: return "end of input"
        case .error: return "an error"
        default: return "'\(text(from: index(of: t), to: index(of: t) + 1))'"
        }
    }

    func index(of t: Token) -> Int { tokens.firstIndex { $0.start == t.start && $0.kind == t.kind } ?? 0 }

    /// The syntax error for an unexpected token; a lexical error token reports its own message.
    func unexpected(_ t: Token, _ expected: String) -> InterpreterError {
        if case .error(let message) = t.kind { return .syntax(message, t.location) }
        return .syntax("\(expected), found \(describe(t))", t.location)
    }

    func atStatementEnd(_ t: Token) -> Bool {
        [.newline, .semicolon, .eof, .rightBrace].contains(t.kind)
    }

    /// True when `text` is unfinished (an open `(`, `[` or `{`, or a final `\`), so the REPL
    /// should read a continuation line; false when it ends in a `!` shell line ending in `}` after a `{` on its line
    /// (`if c { !echo hi }`: the shell line took the `}`, which the parser reports).
    public static func needsContinuation(_ text: String) -> Bool {
        let trimmed = text.reversed().drop { $0 == " " || $0 == "\t" }
        if trimmed.first == "\\" && trimmed.dropFirst().first != "\\" { return true }
        var lexer = Lexer(text, source: SourceText(name: "", text: text))
        var depth = 0
        let tokens = lexer.tokens()
        for t in tokens {
            switch t.kind {
            case .leftParen, .leftBracket, .leftBrace: depth += 1
            case .rightParen, .rightBracket, .rightBrace: depth -= 1
            default: break
            }
        }
        // `if c { !echo hi }`: the shell line took the `}`; the parser explains that rather than wait for more.
        if tokens.count >= 2, case .shell(let line) = tokens[tokens.count - 2].kind, line.hasSuffix("}"),
            tokens.contains(where: {
                $0.kind == .leftBrace && $0.location.line == tokens[tokens.count - 2].location.line
            })
        {
            return false
        }
        return depth > 0
    }
}
