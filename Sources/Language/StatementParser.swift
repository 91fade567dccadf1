/// Statements: assignments, command calls and their arguments, `for`, `if`, blocks (see `Parser` for the grammar).
extension Parser {
    mutating func statement() throws -> Stmt {
        let t = peek()
        if case .shell(let line) = t.kind {  // `!ls -l` is `shell "ls -l"`
            advance()
            let argument = CommandArgument(key: nil, location: t.location, value: .string(line, t.location), text: line)
            return .command(CommandCall(name: "shell", location: t.location, arguments: [argument]))
        }
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
        // `quit()`, `vars()`: empty parentheses right after the name, as in Python, mean no arguments.
        if peek().kind == .leftParen, !peek().spaceBefore, peekNext().kind == .rightParen,
            atStatementEnd(tokens[min(current + 2, tokens.count - 1)])
        {
            advance()
            advance()
        }
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
            if let word = keywordPath() ?? rootedPath() {
                arguments.append(
                    CommandArgument(key: key, location: t.location, value: word, text: text(from: first, to: current)))
                continue
            }
            let value = try expression()
            arguments.append(
                CommandArgument(key: key, location: t.location, value: value, text: text(from: first, to: current)))
        }
        return CommandCall(name: name, location: nameToken.location, arguments: arguments)
    }

    /// A word written without spaces from names, numbers, `-`, `/` and `.` that holds a keyword
    /// (`1-tensors-and-autograd.sskd`, `runs/in-out`): taken whole as a bare name, which a path or word argument
    /// takes as written (an expression cannot hold a keyword there); so is a keyword alone as the last argument.
    /// Nil, consuming nothing, for anything else.
    mutating func keywordPath() -> Expr? {
        let start = current
        var end = current
        var keyword = false  // and, or, not, in, if, else, for: never inside an expression written without spaces
        var literal = false  // true, false: a path only with a `/` or `.` (`1-true` stays arithmetic)
        var pathMark = false
        scan: while end < tokens.count, end == start || !tokens[end].spaceBefore {
            switch tokens[end].kind {
            case .name(let n) where n == "true" || n == "false": literal = true
            case .name(let n) where Parser.keywords.contains(n): keyword = true
            case .name, .number, .minus: break
            case .slash, .dot: pathMark = true
            default: break scan
            }
            end += 1
        }
        // A lone keyword as the last argument is a word too (`help for`, `help if`).
        let loneWord = end - start == 1 && keyword && atStatementEnd(tokens[end])
        guard end - start >= 2 || loneWord, keyword || (literal && pathMark) else { return nil }
        for t in [tokens[start], tokens[end - 1]] {
            switch t.kind {
            case .name, .number: continue
            default: return nil
            }
        }
        current = end
        return .name(text(from: start, to: end), tokens[start].location)
    }

    /// A path written without quotes that starts where no expression can: `/` (`/tmp/x`, `/`), `./` or `.`
    /// alone, `../` or `..` alone (`cd ..`, `source ./x.sskd`, `save session /tmp/ut/work.sskd`); taken as the
    /// string written, up to the next blank. It may hold names, numbers, `-`, `/` and `.`. Nil, consuming nothing,
    /// for anything else.
    mutating func rootedPath() -> Expr? {
        let start = current
        switch tokens[start].kind {
        case .slash: break
        case .dot, .dotDot:
            let next = tokens[start + 1]
            guard next.kind == .slash || next.spaceBefore || atStatementEnd(next) else { return nil }
        default: return nil
        }
        var end = start + 1
        scan: while end < tokens.count, !tokens[end].spaceBefore {
            switch tokens[end].kind {
            case .name, .number, .minus, .slash, .dot, .dotDot: end += 1
            default: break scan
            }
        }
        current = end
        return .string(text(from: start, to: end), tokens[start].location)
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
            let first = peek()
            body.append(try statement())
            let end = peek()
            if case .shell(let line) = first.kind, line.hasSuffix("}"), end.kind == .eof {
                throw InterpreterError.syntax(
                    "unterminated block: a '!' shell line takes the rest of its line, '}' included; close the block "
                        + "on the next line, or write shell \"COMMAND\" inside a block", first.location)
            }
            guard [.newline, .semicolon, .rightBrace].contains(end.kind) else {
                throw unexpected(end, "expected end of statement")
            }
        }
    }

}
