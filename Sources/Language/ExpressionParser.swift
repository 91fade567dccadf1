/// Expressions, one function per precedence level from `or` down to `primary` (see `Parser` for the grammar).
extension Parser {
    mutating func expression() throws -> Expr {
        try deeper { try $0.or() }
    }

    mutating func deeper(_ body: (inout Parser) throws -> Expr) throws -> Expr {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Parser.maxDepth else {
            throw InterpreterError.syntax("expression nested too deeply", peek().location)
        }
        return try body(&self)
    }

    mutating func keyword(_ word: String) -> Token? {
        guard case .name(let n) = peek().kind, n == word else { return nil }
        return advance()
    }

    mutating func or() throws -> Expr {
        var e = try and()
        while let op = keyword("or") { e = .binary(.or, e, try and(), op.location) }
        return e
    }

    mutating func and() throws -> Expr {
        var e = try equality()
        while let op = keyword("and") { e = .binary(.and, e, try equality(), op.location) }
        return e
    }

    mutating func binaryLoop(
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

    mutating func operatorAt(_ ops: KeyValuePairs<TokenKind, BinaryOperator>) -> BinaryOperator? {
        let kind = peek().kind
        return ops.first { $0.key == kind }?.value
    }

    mutating func equality() throws -> Expr {
        try binaryLoop([.equalEqual: .equal, .bangEqual: .notEqual]) { try $0.comparison() }
    }

    mutating func comparison() throws -> Expr {
        try binaryLoop([.less: .less, .lessEqual: .lessEqual, .greater: .greater, .greaterEqual: .greaterEqual]) {
            try $0.range()
        }
    }

    mutating func range() throws -> Expr {
        let lo = try term()
        guard peek().kind == .dotDot else { return lo }
        let op = advance()
        return .range(lo, try term(), op.location)
    }

    mutating func term() throws -> Expr {
        try binaryLoop([.plus: .add, .minus: .subtract]) { try $0.factor() }
    }

    mutating func factor() throws -> Expr {
        try binaryLoop([.star: .multiply, .slash: .divide, .percent: .remainder]) { try $0.unary() }
    }

    mutating func unary() throws -> Expr {
        if peek().kind == .minus {
            let op = advance()
            return .unary(.negate, try deeper { try $0.unary() }, op.location)
        }
        if let op = keyword("not") { return .unary(.not, try deeper { try $0.unary() }, op.location) }
        return try postfix()
    }

    mutating func postfix() throws -> Expr {
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
    mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        let savedMode = argumentMode
        argumentMode = false
        nesting += 1
        defer {
            nesting -= 1
            argumentMode = savedMode
        }
        return try body(&self)
    }

    mutating func primary() throws -> Expr {
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
                    guard items.count < Value.maxElements else {
                        throw InterpreterError.syntax(
                            "a list may hold at most \(Value.maxElements) elements, this literal holds more", t.location
                        )
                    }
                    items.append(try p.simpleListItem() ?? p.expression())
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

    /// A number, string or name followed by `,` or `]`, the usual item of a data list, taken without descending
    /// through the precedence levels; nil for any other item.
    mutating func simpleListItem() throws -> Expr? {
        let following = peekNext().kind
        guard following == .comma || following == .rightBracket else { return nil }
        switch peek().kind {
        case .number, .string: return try primary()
        case .name(let n) where !Parser.keywords.contains(n): return try primary()
        default: return nil
        }
    }

    func stringLiteral(_ parts: [StringPart], _ location: SourceLocation) throws -> Expr {
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
}
