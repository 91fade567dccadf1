/// Statement execution and expression evaluation (a tree-walking interpreter, as jlox's `Interpreter`).
extension Session {
    /// The most elements a range may have (guards memory against typos like `1..1e9`): `Value.maxElements`.
    public static let maxRange = Value.maxElements
    /// The longest string (in UTF-8 bytes) literals, interpolation and concatenation may build:
    /// `Value.maxStringBytes`.
    public static let maxString = Value.maxStringBytes

    /// Runs one statement; shows the value of bare expressions and of unbound command results, and keeps the value
    /// shown as `lastValue` (`ans`, `_`).
    func execute(_ stmt: Stmt) throws {
        switch stmt {
        case .expression(let e):
            show(try evaluate(e))
        case .command(let call):
            show(try invoke(call))
        case .assign(let name, let e, _):
            let v = try evaluate(e)
            bind(name, v)
            noteAssignment(name, v)
            statementChangedState = true
        case .assignCommand(let name, let c, _):
            if let spec = commands.lookup(c.name), !spec.returnsValue {  // refused before any side effect
                throw InterpreterError.runtime(
                    "'\(c.name)' returns nothing to bind to '\(name)'; run it without '\(name) ='", c.location)
            }
            let v = try invoke(c)
            if case .none = v {
                throw InterpreterError.runtime("'\(c.name)' returns nothing to bind to '\(name)'", c.location)
            }
            bind(name, v)
            noteAssignment(name, v)
            statementChangedState = true
        case .forLoop(let variable, let sequence, let body, let location):
            let items = try evaluate(sequence)
            guard case .list(let values) = items else {
                throw InterpreterError.runtime(
                    "'for' expects a list or range, got \(items.literal)", sequence.startLocation)
            }
            try withLoopVariable(variable) {
                for item in values {
                    try interruptCheck(location)
                    bind(variable, item)
                    for s in body { try execute(s) }
                }
            }
        case .ifElse(let condition, let then, let otherwise, _):
            for s in try truth(condition, "'if'") ? then : (otherwise ?? []) { try execute(s) }
        }
    }

    private func show(_ value: Value) {
        if case .none = value { return }
        printValues(value.display)
        lastValue = value
    }

    private func interruptCheck(_ location: SourceLocation) throws {
        if interruptRequested {
            interruptRequested = false
            throw InterpreterError.runtime("interrupted", location)
        }
    }

    private func truth(_ e: Expr, _ what: String) throws -> Bool {
        let v = try evaluate(e)
        guard case .bool(let b) = v else {
            throw InterpreterError.runtime("\(what) expects true or false, got \(v.literal)", e.startLocation)
        }
        return b
    }

    /// Looks up the command, checks the arguments against its declaration and runs it.
    /// Errors that are not `InterpreterError`s are reported at the command name.
    func invoke(_ c: CommandCall) throws -> Value {
        guard let spec = commands.lookup(c.name) else {
            throw InterpreterError.runtime(
                "unknown command '\(c.name)'" + didYouMean(c.name, commands.names), c.location)
        }
        let invocation = try bindArguments(spec, c)
        do {
            let value = try withWrittenNames(c) { try spec.run(invocation, self) }
            if spec.changesState { statementChangedState = true }
            return value
        } catch let error where spec.changesState && error is SessionInterrupted {
            statementChangedState = true  // stopped part-way: a model may be partly trained
            throw InterpreterError.runtime("\(error)", c.location)
        } catch let error as InterpreterError {
            throw error
        } catch let signal as ControlSignal {
            throw signal
        } catch {
            throw InterpreterError.runtime("\(error)", c.location)
        }
    }

    // MARK: Expressions

    /// Evaluates `e`; errors are located at the offending operator, name or operand.
    public func evaluate(_ e: Expr) throws -> Value {
        switch e {
        case .number(let d, _): return .number(d)
        case .string(let s, _): return .string(s)
        case .bool(let b, _): return .bool(b)
        case .interpolation(let parts, _):
            var s = ""
            for part in parts {
                switch part {
                case .text(let t): s += t
                case .expression(let x): s += try evaluate(x).display
                }
                guard s.utf8.count <= Session.maxString else { throw Session.stringTooLong(s, e.location) }
            }
            return .string(s)
        case .name(let n, let location):
            if let v = lookup(n) { return v }
            if Session.lastValueNames.contains(n) {
                throw InterpreterError.runtime(
                    "'\(n)' is the last value shown (as 'ans' and '_'), and no value has been shown yet", location)
            }
            if commands.contains(n) {
                throw InterpreterError.runtime(
                    "'\(n)' is a command, not a value; run it as a statement or bind it: x = \(n) ...", location)
            }
            throw InterpreterError.runtime("undefined name '\(n)'" + didYouMean(n, Array(bindings.keys)), location)
        case .list(let items, let location):
            return try checkedList(try items.map(evaluate), location)
        case .range(let lo, let hi, _):
            let a = try integer(lo, "range bound")
            let b = try integer(hi, "range bound")
            guard b - a < Session.maxRange else {
                throw InterpreterError.runtime(
                    "range \(a)..\(b) has more than \(Session.maxRange) elements", e.location)
            }
            return .list(a <= b ? (a...b).map { .number(Double($0)) } : [])
        case .unary(let op, let x, let location):
            let v = try evaluate(x)
            switch (op, v) {
            case (.negate, .number(let d)): return .number(-d)
            case (.not, .bool(let b)): return .bool(!b)
            default:
                throw InterpreterError.runtime(
                    "'\(op.rawValue)' expects \(op == .not ? "true or false" : "a number"), got \(v.literal)", location)
            }
        case .binary(let op, let lhs, let rhs, let location):
            return try binary(op, lhs, rhs, location)
        case .member(let base, let name, let location):
            return try member(try evaluate(base), name, location)
        case .index(let base, let index, let location):
            let container = try evaluate(base)
            let i = try integer(index, "index")
            switch container {
            case .list(let items):
                let j = i < 0 ? items.count + i : i
                guard j >= 0, j < items.count else {
                    throw InterpreterError.runtime(
                        "index \(i) out of range for a list of \(items.count)", index.startLocation)
                }
                return items[j]
            case .object(let o):
                return try wrap(location) { try o.index(i) }
            default:
                throw InterpreterError.runtime("cannot index \(container.typeName) \(container.literal)", location)
            }
        }
    }

    /// `.list(items)`, or an error at `location` when that list would nest deeper than `Value.maxDepth` or hold
    /// more than `Value.maxElements` elements in all (measured in at most about that many steps).
    func checkedList(_ items: [Value], _ location: SourceLocation) throws -> Value {
        guard items.count <= Value.maxElements else { throw Session.tooManyElements(items.count, location) }
        let extent = Value.extent(of: items)
        guard extent.depth <= Value.maxDepth else {
            throw InterpreterError.runtime("list nested deeper than \(Value.maxDepth) levels", location)
        }
        guard extent.elements <= Value.maxElements else { throw Session.tooManyElements(nil, location) }
        return .list(items)
    }

    /// The error for a list of `count` elements (nil: more than the limit once nested lists are counted).
    static func tooManyElements(_ count: Int?, _ location: SourceLocation) -> InterpreterError {
        let tail =
            count.map { "this one would hold \($0)" } ?? "nested lists' elements included, this one would hold more"
        return .runtime("a list may hold at most \(Value.maxElements) elements, \(tail)", location)
    }

    /// The error for a string `text` longer than `Value.maxStringBytes`.
    static func stringTooLong(_ text: String, _ location: SourceLocation) -> InterpreterError {
        .runtime("a string may hold at most \(maxString) bytes, this one would hold \(text.utf8.count)", location)
    }

    private func integer(_ e: Expr, _ what: String) throws -> Int {
        let v = try evaluate(e)
        guard let i = v.integer else {
            throw InterpreterError.runtime("\(what) must be an integer, got \(v.literal)", e.startLocation)
        }
        return i
    }

    private func wrap(_ location: SourceLocation, _ body: () throws -> Value) throws -> Value {
        do { return try body() } catch let e as InterpreterError { throw e } catch {
            throw InterpreterError.runtime("\(error)", location)
        }
    }

    private func member(_ base: Value, _ name: String, _ location: SourceLocation) throws -> Value {
        switch base {
        case .object(let o):
            let names = o.memberNames
            if !names.isEmpty, !names.contains(name) {
                throw InterpreterError.runtime(
                    "\(o.typeName) has no member '\(name)'" + didYouMean(name, names), location)
            }
            return try wrap(location) { try o.member(name) }
        case .list(let items) where name == "count": return .number(Double(items.count))
        case .string(let s) where name == "count": return .number(Double(s.count))
        default:
            throw InterpreterError.runtime("\(base.typeName) has no member '\(name)'", location)
        }
    }

    private func binary(_ op: BinaryOperator, _ lhs: Expr, _ rhs: Expr, _ location: SourceLocation) throws -> Value {
        if op == .and || op == .or {
            let a = try truth(lhs, "'\(op.rawValue)'")
            if a == (op == .or) { return .bool(a) }
            return .bool(try truth(rhs, "'\(op.rawValue)'"))
        }
        let a = try evaluate(lhs)
        let b = try evaluate(rhs)
        switch (op, a, b) {
        case (.equal, _, _): return .bool(Value.equal(a, b))
        case (.notEqual, _, _): return .bool(!Value.equal(a, b))
        case (.add, .number(let x), .number(let y)): return .number(x + y)
        case (.add, .list(let x), .list(let y)):
            guard x.count + y.count <= Session.maxRange else {
                throw Session.tooManyElements(x.count + y.count, location)
            }
            return try checkedList(x + y, location)
        case (.add, .string, _), (.add, _, .string):
            let text = a.display + b.display
            guard text.utf8.count <= Session.maxString else { throw Session.stringTooLong(text, location) }
            return .string(text)
        case (.subtract, .number(let x), .number(let y)): return .number(x - y)
        case (.multiply, .number(let x), .number(let y)): return .number(x * y)
        case (.divide, .number(let x), .number(let y)):
            guard y != 0 else { throw InterpreterError.runtime("division by zero", location) }
            return .number(x / y)
        case (.remainder, .number(let x), .number(let y)):
            guard y != 0 else { throw InterpreterError.runtime("division by zero", location) }
            return .number(x.truncatingRemainder(dividingBy: y))
        case (_, .number(let x), .number(let y)): return .bool(compare(op, x, y))
        case (_, .string(let x), .string(let y)) where [.less, .lessEqual, .greater, .greaterEqual].contains(op):
            return .bool(compare(op, x, y))
        default:
            throw InterpreterError.runtime(
                "cannot apply '\(op.rawValue)' to \(a.typeName) \(a.literal) and \(b.typeName) \(b.literal)", location)
        }
    }

    private func compare<T: Comparable>(_ op: BinaryOperator, _ x: T, _ y: T) -> Bool {
        switch op {
        case .less: return x < y
        case .lessEqual: return x <= y
        case .greater: return x > y
        default: return x >= y
        }
    }

    // MARK: Arguments

    /// Matches a call's arguments to `spec`: options by name, positionals in order; converts and type-checks
    /// them, fills option defaults. Errors name the option/argument and point at it.
    func bindArguments(_ spec: CommandSpec, _ c: CommandCall) throws -> Invocation {
        var values: [String: Value] = [:]
        var locations: [String: SourceLocation] = [:]
        var positionals: [CommandArgument] = []
        for arg in c.arguments {
            guard let key = arg.key else {
                positionals.append(arg)
                continue
            }
            guard let option = spec.options.first(where: { $0.name == key }) else {
                if let reason = spec.refused[key] {
                    throw InterpreterError.runtime("option '\(key)': \(reason)", arg.value.startLocation)
                }
                let names = spec.options.map(\.name)
                if names.isEmpty {
                    throw InterpreterError.runtime("'\(spec.name)' takes no options, got '\(key)'", arg.location)
                }
                let hint = didYouMean(key, names)
                throw InterpreterError.runtime(
                    "unknown option '\(key)' for '\(spec.name)'"
                        + (hint.isEmpty ? " (options: \(names.joined(separator: ", ")))" : hint), arg.location)
            }
            guard values[key] == nil else {
                throw InterpreterError.runtime("option '\(key)' given twice for '\(spec.name)'", arg.location)
            }
            values[key] = try convert(arg, option.type, "option '\(key)' for '\(spec.name)'")
            locations[key] = arg.value.startLocation
        }
        var next = 0
        for a in spec.arguments {
            let what = "argument '\(a.name)' for '\(spec.name)'"
            if a.variadic {
                let rest = positionals[next...]
                if rest.isEmpty && !a.optional {
                    throw InterpreterError.runtime("missing argument '\(a.name)' for '\(spec.name)'", c.location)
                }
                values[a.name] = .list(try rest.map { try convert($0, a.type, what) })
                locations[a.name] = rest.first?.location
                next = positionals.count
            } else if next < positionals.count {
                values[a.name] = try convert(positionals[next], a.type, what)
                locations[a.name] = positionals[next].location
                next += 1
            } else if !a.optional {
                throw InterpreterError.runtime("missing argument '\(a.name)' for '\(spec.name)'", c.location)
            }
        }
        if next < positionals.count {
            let extra = positionals[next]
            let message =
                spec.arguments.isEmpty
                ? "'\(spec.name)' takes no arguments"
                : "too many arguments for '\(spec.name)': expected at most \(spec.arguments.count), got "
                    + "\(positionals.count)"
            throw InterpreterError.runtime(message, extra.location)
        }
        for o in spec.options where values[o.name] == nil {
            if let d = o.defaultValue ?? o.sessionDefault.flatMap({ options.value($0) }) { values[o.name] = d }
        }
        for o in spec.options {
            guard let bounds = self.bounds(of: o), case .number(let x) = values[o.name] ?? .none, !bounds.contains(x)
            else { continue }
            throw InterpreterError.runtime(
                "option '\(o.name)': must \(bounds.requirement), got \(Value.format(x))",
                locations[o.name] ?? c.location)
        }
        return Invocation(command: spec, location: c.location, values: values, locations: locations)
    }

    /// The bounds of option `o`: its own, else those of the session option it defaults to.
    public func bounds(of o: OptionSpec) -> Bounds? {
        o.bounds ?? o.sessionDefault.flatMap { options.option($0)?.bounds }
    }

    /// Evaluates one argument for `type`: bare words and bare paths are taken as written.
    private func convert(_ arg: CommandArgument, _ type: ValueType, _ what: String) throws -> Value {
        var value: Value
        switch type {
        case .word where !arg.text.hasPrefix("$"):
            if case .name(let n, _) = arg.value {
                value = .string(n)
            } else if Session.isHyphenatedWord(arg.value) {
                value = .string(arg.text)
            }  // model wrn-16-2
            else {
                value = try evaluate(arg.value)
            }
        case .string where Session.isSizeWord(arg.value):
            value = .string(arg.text)  // size=800x600
        case .path where !arg.text.hasPrefix("$") && Session.isBarePath(arg.value):
            value = .string(arg.text)
        case .valueOrWord where !arg.text.hasPrefix("$"):
            if case .list(let items, _) = arg.value {  // [x_train, y_train]: unbound names in a list are words too
                value = try checkedList(
                    try items.map { item in
                        if case .name(let n, _) = item, lookup(n) == nil { return .string(n) }
                        return try evaluate(item)
                    }, arg.value.location)
            } else if case .name(let n, _) = arg.value, lookup(n) == nil {
                value = .string(n)
            } else if case .name = arg.value {
                value = try evaluate(arg.value)
            } else if case .number = arg.value {
                value = try evaluate(arg.value)
            } else if Session.isBarePath(arg.value), !(arg.text.first.map { $0 == "-" } ?? false) {
                value = .string(arg.text)
            } else {
                value = try evaluate(arg.value)
            }
        default:
            value = try evaluate(arg.value)
        }
        guard let accepted = type.accept(value) else {
            throw InterpreterError.runtime(
                "\(what) expects \(type.phrase), got \(value.literal)", arg.value.startLocation)
        }
        if case .path = type, case .string(let text) = accepted, text.utf8.contains(0) {
            // The OS would see the name cut at the NUL: another file than the one named.
            throw InterpreterError.runtime("\(what): a file path cannot hold a NUL character", arg.value.startLocation)
        }
        return accepted
    }
}
