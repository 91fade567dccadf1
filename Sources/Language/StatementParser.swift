/// Statements: assignments, command calls and their arguments, `for`, `if`, blocks (see `Parser` for the grammar).
extension Parser {
    mutating func statement() throws -> Stmt {
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
    mutating func startsCommand() -> Bool {
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

    mutating func commandCall() throws -> CommandCall {
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

    mutating func forStatement() throws -> Stmt {
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

    mutating func ifStatement() throws -> Stmt {
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

    mutating func block() throws -> [Stmt] {
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

}
