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

    private let tokens: [Token]
    private let chars: [Character]
    private let isCommand: (String) -> Bool
    private var current = 0
    /// Depth of open `(` and `[`: newlines inside them are skipped.
    private var nesting = 0
    /// True while parsing a top-level command argument (enables the argument-splitting rules).
    private var argumentMode = false
    /// Current recursion depth of `expression`/`unary`, bounded by `maxDepth`.
    private var depth = 0
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

    private mutating func peek() -> Token {
        if nesting > 0 { while tokens[current].kind == .newline { current += 1 } }
        return tokens[current]
    }

    /// The token after the current one, as written (no newline skipping).
    private func peekNext() -> Token { tokens[min(current + 1, tokens.count - 1)] }

    @discardableResult
    private mutating func advance() -> Token {
        let t = peek()
        if t.kind != .eof { current += 1 }
        return t
    }

    private mutating func match(_ kind: TokenKind) -> Bool {
        guard peek().kind == kind else { return false }
        advance()
        return true
    }

    private mutating func expect(_ kind: TokenKind, _ message: String) throws -> Token {
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

    private func text(from first: Int, to end: Int) -> String {
        guard end > first else { return "" }
        let lo = tokens[first].start
        let hi = tokens[end - 1].end
        return hi > lo ? String(chars[lo..<hi]) : ""
    }

    /// After an error, skips to the end of the statement that started at token `first`,
    /// past any `{ }` blocks it opened.
    private mutating func synchronize(from first: Int) {
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

    private func describe(_ t: Token) -> String {
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

    private func index(of t: Token) -> Int { tokens.firstIndex { $0.start == t.start && $0.kind == t.kind } ?? 0 }

    /// The syntax error for an unexpected token; a lexical error token reports its own message.
    private func unexpected(_ t: Token, _ expected: String) -> InterpreterError {
        if case .error(let message) = t.kind { return .syntax(message, t.location) }
        return .syntax("\(expected), found \(describe(t))", t.location)
    }

    private func atStatementEnd(_ t: Token) -> Bool {
        [.newline, .semicolon, .eof, .rightBrace].contains(t.kind)
    }

    // MARK: Statements

    private mutating func statement() throws -> Stmt {
        let t = peek()
        if case .name(let n) = t.kind {
            if n == "for" { return try forStatement() }
            if n == "if" { return try ifStatement() }
            let next = peekNext()
            if next.kind == .equal {
                guard !Parser.keywords.contains(n) else {
                    throw InterpreterError.syntax("cannot assign to keyword '\(n)'", t.location)
                }
                advance()
                advance()
                if startsCommand() { return .assignCommand(n, try commandCall(), t.location) }
                return .assign(n, try expression(), t.location)
            }
            if startsCommand() { return .command(try commandCall()) }
        }
        return .expression(try expression())
    }

    /// A name starts a command call when it is a registered command (and not `cmd.member`/`cmd[i]`),
    /// or when an argument follows it (an unknown command, reported when run).
    private mutating func startsCommand() -> Bool {
        guard case .name(let n) = peek().kind, !Parser.keywords.contains(n) else { return false }
        let next = peekNext()
        if isCommand(n) {
            return !([.dot, .leftBracket].contains(next.kind) && !next.spaceBefore)
        }
        guard next.spaceBefore else { return false }
        switch next.kind {
        case .name(let m): return !["and", "or", "in"].contains(m)
        case .number, .string, .dollar, .leftBracket, .leftParen: return true
        default: return false
        }
    }

    private mutating func commandCall() throws -> CommandCall {
        let nameToken = advance()
        guard case .name(let name) = nameToken.kind else { throw unexpected(nameToken, "expected a command") }
        var arguments: [CommandArgument] = []
        while !atStatementEnd(peek()) {
            let t = peek()
            var key: String?
            if case .name(let k) = t.kind, peekNext().kind == .equal {
                key = k
                advance()
                advance()
                guard !atStatementEnd(peek()) else { throw unexpected(peek(), "expected a value for option '\(k)'") }
            }
            let first = current
            argumentMode = true
            defer { argumentMode = false }
            let value = try expression()
            arguments.append(
                CommandArgument(key: key, location: t.location, value: value, text: text(from: first, to: current)))
        }
        return CommandCall(name: name, location: nameToken.location, arguments: arguments)
    }

    private mutating func forStatement() throws -> Stmt {
        let forToken = advance()
        let nameToken = peek()
        guard case .name(let variable) = nameToken.kind, !Parser.keywords.contains(variable) else {
            throw unexpected(nameToken, "expected a loop variable name after 'for'")
        }
        advance()
        guard case .name("in") = peek().kind else { throw unexpected(peek(), "expected 'in' after 'for \(variable)'") }
        advance()
        let sequence = try expression()
        return .forLoop(variable, sequence, try block(), forToken.location)
    }

    private mutating func ifStatement() throws -> Stmt {
        let ifToken = advance()
        let condition = try expression()
        let then = try block()
        var otherwise: [Stmt]?
        if case .name("else") = peek().kind {
            advance()
            if case .name("if") = peek().kind {
                otherwise = [try ifStatement()]
            } else {
                otherwise = try block()
            }
        }
        return .ifElse(condition, then, otherwise, ifToken.location)
    }

    private mutating func block() throws -> [Stmt] {
        let open = try expect(.leftBrace, "expected '{' to start a block")
        depth += 1
        defer { depth -= 1 }
        guard depth <= Parser.maxDepth else { throw InterpreterError.syntax("blocks nested too deeply", open.location) }
        var body: [Stmt] = []
        while true {
            while [.newline, .semicolon].contains(peek().kind) { advance() }
            if match(.rightBrace) { return body }
            if peek().kind == .eof {
                throw InterpreterError.syntax(
                    "unterminated block: expected '}' to close the '{' opened here", open.location)
            }
            body.append(try statement())
            let end = peek()
            guard [.newline, .semicolon, .rightBrace].contains(end.kind) else {
                throw unexpected(end, "expected end of statement")
            }
        }
    }

    // MARK: Expressions

    private mutating func expression() throws -> Expr {
        try deeper { try $0.or() }
    }

    private mutating func deeper(_ body: (inout Parser) throws -> Expr) throws -> Expr {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Parser.maxDepth else {
            throw InterpreterError.syntax("expression nested too deeply", peek().location)
        }
        return try body(&self)
    }

    private mutating func keyword(_ word: String) -> Token? {
        guard case .name(let n) = peek().kind, n == word else { return nil }
        return advance()
    }

    private mutating func or() throws -> Expr {
        var e = try and()
        while let op = keyword("or") { e = .binary(.or, e, try and(), op.location) }
        return e
    }

    private mutating func and() throws -> Expr {
        var e = try equality()
        while let op = keyword("and") { e = .binary(.and, e, try equality(), op.location) }
        return e
    }

    private mutating func binaryLoop(
        _ ops: KeyValuePairs<TokenKind, BinaryOperator>,
        _ operand: (inout Parser) throws -> Expr
    ) throws -> Expr {
        var e = try operand(&self)
        let outer = depth
        defer { depth = outer }
        while let op = operatorAt(ops) {
            depth += 1
            guard depth <= Parser.maxDepth else {
                throw InterpreterError.syntax("expression nested too deeply", peek().location)
            }
            let t = peek()
            if argumentMode && nesting == 0 && [.add, .subtract, .divide].contains(op) && t.spaceBefore
                && !peekNext().spaceBefore && !atStatementEnd(peekNext())
            {
                break
            }
            advance()
            e = .binary(op, e, try operand(&self), t.location)
        }
        return e
    }

    private mutating func operatorAt(_ ops: KeyValuePairs<TokenKind, BinaryOperator>) -> BinaryOperator? {
        let kind = peek().kind
        return ops.first { $0.key == kind }?.value
    }

    private mutating func equality() throws -> Expr {
        try binaryLoop([.equalEqual: .equal, .bangEqual: .notEqual]) { try $0.comparison() }
    }

    private mutating func comparison() throws -> Expr {
        try binaryLoop([.less: .less, .lessEqual: .lessEqual, .greater: .greater, .greaterEqual: .greaterEqual]) {
            try $0.range()
        }
    }

    private mutating func range() throws -> Expr {
        let lo = try term()
        guard peek().kind == .dotDot else { return lo }
        let op = advance()
        return .range(lo, try term(), op.location)
    }

    private mutating func term() throws -> Expr {
        try binaryLoop([.plus: .add, .minus: .subtract]) { try $0.factor() }
    }

    private mutating func factor() throws -> Expr {
        try binaryLoop([.star: .multiply, .slash: .divide, .percent: .remainder]) { try $0.unary() }
    }

    private mutating func unary() throws -> Expr {
        if peek().kind == .minus {
            let op = advance()
            return .unary(.negate, try deeper { try $0.unary() }, op.location)
        }
        if let op = keyword("not") { return .unary(.not, try deeper { try $0.unary() }, op.location) }
        return try postfix()
    }

    private mutating func postfix() throws -> Expr {
        var e = try primary()
        let outer = depth
        defer { depth = outer }
        while true {
            let t = peek()
            depth += 1
            guard depth <= Parser.maxDepth else {
                throw InterpreterError.syntax("expression nested too deeply", t.location)
            }
            if t.kind == .dot {
                advance()
                let nameToken = peek()
                guard case .name(let member) = nameToken.kind else {
                    throw unexpected(nameToken, "expected a member name after '.'")
                }
                advance()
                e = .member(e, member, t.location)
            } else if t.kind == .leftBracket && !(argumentMode && nesting == 0 && t.spaceBefore) {
                advance()
                let index = try nested { try $0.expression() }
                _ = try expect(.rightBracket, "expected ']' after index")
                e = .index(e, index, t.location)
            } else {
                return e
            }
        }
    }

    /// Runs `body` inside brackets: newlines skipped, argument splitting off.
    private mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        let savedMode = argumentMode
        argumentMode = false
        nesting += 1
        defer {
            nesting -= 1
            argumentMode = savedMode
        }
        return try body(&self)
    }

    private mutating func primary() throws -> Expr {
        let t = peek()
        switch t.kind {
        case .number(let d):
            advance()
            return .number(d, t.location)
        case .string(let parts):
            advance()
            return try stringLiteral(parts, t.location)
        case .dollar(let n):
            advance()
            return .name(n, t.location)
        case .name(let n):
            if n == "true" || n == "false" {
                advance()
                return .bool(n == "true", t.location)
            }
            guard !Parser.keywords.contains(n) else { throw unexpected(t, "expected an expression") }
            advance()
            return .name(n, t.location)
        case .leftParen:
            advance()
            let e = try nested { p -> Expr in
                let e = try p.expression()
                _ = try p.expect(.rightParen, "expected ')' after expression")
                return e
            }
            return e
        case .leftBracket:
            advance()
            return try nested { p -> Expr in
                var items: [Expr] = []
                while !p.match(.rightBracket) {
                    items.append(try p.expression())
                    if p.match(.rightBracket) { break }
                    _ = try p.expect(.comma, "expected ',' or ']' in list")
                }
                return .list(items, t.location)
            }
        case .slash:
            throw InterpreterError.syntax(
                "expected an expression, found '/' (write paths that start with '/' in quotes)", t.location)
        default:
            throw unexpected(t, "expected an expression")
        }
    }

    private func stringLiteral(_ parts: [StringPart], _ location: SourceLocation) throws -> Expr {
        var result: [InterpolationPart] = []
        for part in parts {
            switch part {
            case .text(let s): result.append(.text(s))
            case .name(let n, let l): result.append(.expression(.name(n, l)))
            case .code(let code, let l):
                var sub = Parser(
                    code, source: l.source, line: l.line, column: l.column, depth: depth, isCommand: isCommand)
                result.append(.expression(try sub.parseExpression()))
            }
        }
        if result.allSatisfy({ if case .text = $0 { return true } else { return false } }) {
            return .string(parts.map { if case .text(let s) = $0 { return s } else { return "" } }.joined(), location)
        }
        return .interpolation(result, location)
    }

    /// True when `text` is unfinished (an open `(`, `[` or `{`, or a final `\`), so the REPL
    /// should read a continuation line.
    public static func needsContinuation(_ text: String) -> Bool {
        let trimmed = text.reversed().drop { $0 == " " || $0 == "\t" }
        if trimmed.first == "\\" && trimmed.dropFirst().first != "\\" { return true }
        var lexer = Lexer(text, source: SourceText(name: "", text: text))
        var depth = 0
        for t in lexer.tokens() {
            switch t.kind {
            case .leftParen, .leftBracket, .leftBrace: depth += 1
            case .rightParen, .rightBracket, .rightBrace: depth -= 1
            default: break
            }
        }
        return depth > 0
    }
}
