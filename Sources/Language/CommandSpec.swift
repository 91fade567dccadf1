/// The type of a command argument, option or session option; drives conversion, error texts and help.
public enum ValueType {
    /// A whole number (`3`, `3.0`).
    case integer
    /// Any number.
    case number
    /// A string value (a literal or an expression that evaluates to one).
    case string
    /// `true` or `false`.
    case bool
    /// A bare word taken as written, not evaluated (`help train`, `set seed 1`); `choices` restricts it when non-empty.
    case word(choices: [String])
    /// A file path: a string, or a bare path written without quotes (`source lessons/intro.sskd`).
    case path
    /// A session object whose `typeName` is this (`model`, `dataset`, `run`).
    case object(String)
    /// Any value.
    case any
    /// Any value, but an unbound bare name or a bare path is taken as written (`set out runs/a`, `set terminal sixel`).
    case valueOrWord

    /// The phrase used in "expects ...": `an integer`, `a number`, `one of a, b`, `a model`.
    public var phrase: String {
        switch self {
        case .integer: return "an integer"
        case .number: return "a number"
        case .string: return "a string"
        case .bool: return "true or false"
        case .word(let choices): return choices.isEmpty ? "a name" : "one of " + choices.joined(separator: ", ")
        case .path: return "a file path"
        case .object(let t): return (t.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + t
        case .any, .valueOrWord: return "a value"
        }
    }

    /// The placeholder used in usage lines: `INT`, `NUMBER`, `STRING`, `BOOL`, `a|b`, `NAME`, `FILE`, `MODEL`, `VALUE`.
    public var metavar: String {
        switch self {
        case .integer: return "INT"
        case .number: return "NUMBER"
        case .string: return "STRING"
        case .bool: return "BOOL"
        case .word(let choices): return choices.isEmpty ? "NAME" : choices.joined(separator: "|")
        case .path: return "FILE"
        case .object(let t): return t.uppercased()
        case .any, .valueOrWord: return "VALUE"
        }
    }

    /// Checks `value` against the type (bare words and paths are handled before evaluation);
    /// returns the value to pass on, or nil when it does not fit.
    public func accept(_ value: Value) -> Value? {
        switch (self, value) {
        case (.integer, _): return value.integer.map { .number(Double($0)) }
        case (.path, .string(let s)): return s.isEmpty ? nil : value  // "" would name the working folder
        case (.number, .number), (.string, .string), (.bool, .bool), (.any, _), (.valueOrWord, _): return value
        case (.word(let choices), .string(let s)): return choices.isEmpty || choices.contains(s) ? value : nil
        case (.object(let t), .object(let o)): return o.typeName == t ? value : nil
        default: return nil
        }
    }
}

/// A numeric bound of an option or session option, declared with it: `bindArguments` and `set` check it, `help`
/// shows it, and error messages quote it (`option 'batch': must be in 1...65536, got 0`).
public struct Bounds {
    /// What the value must satisfy, as the words after "must" (`be in 1...65536`, `be positive`).
    public let requirement: String
    private let test: (Double) -> Bool

    /// A bound described by `requirement` (words after "must") that holds when `test` returns true.
    public init(_ requirement: String, _ test: @escaping (Double) -> Bool) {
        self.requirement = requirement
        self.test = test
    }

    /// Whether `value` is within the bound.
    public func contains(_ value: Double) -> Bool { test(value) }

    /// Whole numbers `range.lowerBound...range.upperBound`.
    public static func range(_ range: ClosedRange<Int>) -> Bounds {
        Bounds("be in \(range.lowerBound)...\(range.upperBound)") {
            $0 >= Double(range.lowerBound) && $0 <= Double(range.upperBound)
        }
    }

    /// At least `lower`; `upper` (not mentioned in the message) keeps counts that size memory within Int32.
    public static func atLeast(_ lower: Int, upper: Int = .max) -> Bounds {
        Bounds("be at least \(lower)") { $0 >= Double(lower) && $0 <= Double(upper) }
    }

    /// Numbers from `range.lowerBound` to `range.upperBound`, both included (temperatures).
    public static func within(_ range: ClosedRange<Double>) -> Bounds {
        Bounds("be in \(Value.format(range.lowerBound))...\(Value.format(range.upperBound))") { range.contains($0) }
    }

    /// Finite and greater than 0 (learning rates).
    public static let positive = Bounds("be positive") { $0 > 0 && $0.isFinite }
    /// Finite and at least 0 (weight decay, seeds).
    public static let nonNegative = Bounds("be non-negative") { $0 >= 0 && $0.isFinite }
    /// 0 to 1, both included (weights, label smoothing).
    public static let unitInterval = Bounds("be in [0, 1]") { (0...1).contains($0) }
    /// 0 included to 1 excluded (momentum).
    public static let unitIntervalOpenAbove = Bounds("be in [0, 1)") { (0..<1).contains($0) }

    /// 0 (off), or a whole number of at least `lower` (`finetune=`: 0 epochs or at least 1).
    public static func zeroOrAtLeast(_ lower: Int) -> Bounds {
        Bounds("be 0 or at least \(lower)") { $0 == 0 || $0 >= Double(lower) }
    }
}

/// Where tab completion takes the candidates for an argument or an option's value.
public enum CompletionSource {
    /// These words.
    case values([String])
    /// Command names and aliases.
    case commands
    /// Session option names.
    case sessionOptions
    /// The values of the session option named by the argument before (`set terminal <Tab>`: its word choices,
    /// true/false, or file names for a path).
    case sessionOptionValues
    /// The extra words of `show` (`Session.showTopics`, e.g. `data`).
    case showTopics
    /// Bound names.
    case boundNames
    /// File names (the REPL's file completion).
    case files
}

/// Whether `save session` writes a successful call of a command into the saved script.
public enum Recording {
    /// Always (work that replays: `data`, `train`, `save MODEL FILE`).
    case always
    /// Never (inspection: `help`, `show`, `vars`, `quit`).
    case never
    /// Except when the first argument is this word (`save session FILE` is not replayed, `save MODEL FILE` is).
    case unlessFirstArgument(String)
}

/// A positional argument of a command.
public struct ArgumentSpec {
    /// Lowercase name used in help (shown uppercased) and in `Invocation` lookups.
    public let name: String
    /// The accepted type (drives conversion, error text and the usage placeholder).
    public let type: ValueType
    /// One line shown by `help CMD`.
    public let help: String
    /// May be left out (the `Invocation` then has no value for it).
    public let optional: Bool
    /// Takes all remaining positional arguments as a list (must be last).
    public let variadic: Bool
    /// Where tab completion looks; nil offers the command's options, bound names and the type's word choices.
    public let completion: [CompletionSource]?
    /// The bound a number value must be within; `help` shows it and the command checks it when it reads the
    /// argument (`quit CODE`: 0...255).
    public let bounds: Bounds?

    /// Declares a positional argument.
    public init(
        _ name: String, _ type: ValueType, _ help: String, optional: Bool = false, variadic: Bool = false,
        bounds: Bounds? = nil, completion: [CompletionSource]? = nil
    ) {
        self.name = name
        self.type = type
        self.help = help
        self.optional = optional
        self.variadic = variadic
        self.bounds = bounds
        self.completion = completion
    }
}

/// A `key=value` option of a command.
public struct OptionSpec {
    /// The key written before `=`.
    public let name: String
    /// The accepted value type.
    public let type: ValueType
    /// Used when the option is not given; nil means "no value" unless `session` names a session option.
    public let defaultValue: Value?
    /// A session option (`set NAME VALUE`) whose current value is the default, e.g. `lr`.
    public let sessionDefault: String?
    /// One line shown by `help CMD`.
    public let help: String
    /// The bound a number value must be within (checked for given and default values before the command runs);
    /// nil takes the bound of the `session` option, if any.
    public let bounds: Bounds?
    /// The bound each number inside a list or a `WxH` string value must be within (`widths=[32, 64]`,
    /// `size="800x500"`); `help` shows it, the command's option group checks it when it reads the value.
    public let each: Bounds?
    /// Values tab completion offers after `name=` besides the type's word choices.
    public let completion: [CompletionSource]

    /// Declares an option with a fixed default, a session-option default, or none; `bounds`, `each` and
    /// `completion` as described at the properties.
    public init(
        _ name: String, _ type: ValueType, default defaultValue: Value? = nil, session sessionDefault: String? = nil,
        bounds: Bounds? = nil, each: Bounds? = nil, completion: [CompletionSource] = [], _ help: String
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.sessionDefault = sessionDefault
        self.help = help
        self.bounds = bounds
        self.each = each
        self.completion = completion
    }
}

/// Everything about one command, declared once: help, completion, argument checking and the action all come
/// from this value. Register it with `session.commands.register(_:)`.
public struct CommandSpec {
    /// The name typed at the start of a statement.
    public let name: String
    /// Other names for the same command (`exit` for `quit`).
    public let aliases: [String]
    /// One line for `help`.
    public let summary: String
    /// Positional arguments in order.
    public let arguments: [ArgumentSpec]
    /// `key=value` options.
    public let options: [OptionSpec]
    /// A complete example line shown by `help CMD`.
    public let example: String
    /// Whether `save session` writes successful calls of this command into the saved script.
    public let recorded: Recording
    /// False for commands that never return a value (`freeze`, `plot`, ...): `x = freeze s` is refused before it runs.
    public let returnsValue: Bool
    /// False for commands that only show things (`print`, `note`, `pwd`): `save session` keeps a statement that
    /// failed or was interrupted after one of the other commands completed inside it, or while one of them ran.
    public let changesState: Bool
    /// Options the command does not take though its family does (`smoothing=` for `mimic`), each with the reason:
    /// `help` and completion leave them out, and giving one fails with `option 'NAME': REASON` at it, not as an
    /// unknown option.
    public let refused: [String: String]
    /// The action. Thrown errors are reported at the statement (or use `Invocation.error(_:at:)` for an argument).
    public let run: (Invocation, Session) throws -> Value

    /// Declares a command. Argument and option names must be distinct; only the last argument may be variadic.
    public init(
        _ name: String, aliases: [String] = [], summary: String, arguments: [ArgumentSpec] = [],
        options: [OptionSpec] = [], example: String, recorded: Recording = .always, returnsValue: Bool = true,
        changesState: Bool = true, refused: [String: String] = [:],
        run: @escaping (Invocation, Session) throws -> Value
    ) {
        let names = arguments.map(\.name) + options.map(\.name)
        precondition(Set(names).count == names.count, "command '\(name)': duplicate argument/option names")
        precondition(
            arguments.dropLast().allSatisfy { !$0.variadic },
            "command '\(name)': only the last argument may be variadic")
        self.name = name
        self.aliases = aliases
        self.summary = summary
        self.arguments = arguments
        self.options = options
        self.example = example
        self.recorded = recorded
        self.returnsValue = returnsValue
        self.changesState = changesState
        self.refused = refused
        self.run = run
    }

    /// `train MODEL DATA [epochs=INT] [lr=NUMBER]`; a word argument with a single choice is shown as that word
    /// (`save session FILE`).
    public var usage: String {
        var parts = [name]
        for a in arguments {
            var p = a.name.uppercased()
            if case .word(let choices) = a.type, choices.count == 1 { p = choices[0] }
            if a.variadic { p += "..." }
            parts.append(a.optional ? "[\(p)]" : p)
        }
        for o in options { parts.append("[\(o.name)=\(o.type.metavar)]") }
        return parts.joined(separator: " ")
    }
}

/// The checked arguments of one command call, as the command's `run` closure sees them.
/// Positional arguments and options are looked up by their declared names; options have defaults filled in.
public struct Invocation {
    /// The command being run.
    public let command: CommandSpec
    /// The command name's location (where whole-statement errors are reported).
    public let location: SourceLocation
    let values: [String: Value]
    let locations: [String: SourceLocation]

    /// Whether `name` has a value (given, defaulted, or a variadic list).
    public func has(_ name: String) -> Bool { values[name] != nil }

    /// Whether the user wrote `name` (an option given as `name=...`, or a positional argument), not a default.
    public func isGiven(_ name: String) -> Bool { locations[name] != nil }

    /// The value of argument/option `name`, or `.none` when absent.
    public func value(_ name: String) -> Value { values[name] ?? .none }

    /// Where argument/option `name` was written, or the command location.
    public func location(of name: String) -> SourceLocation { locations[name] ?? location }

    /// A runtime error located at argument/option `name` (or the command when nil).
    public func error(_ message: String, at name: String? = nil) -> InterpreterError {
        .runtime(message, name.map { location(of: $0) } ?? location)
    }

    private func typed<T>(_ name: String, _ what: String, _ get: (Value) -> T?) throws -> T {
        guard let v = values[name], let t = get(v) else {
            throw error("'\(command.name)' has no \(what) value for '\(name)'", at: name)
        }
        return t
    }

    /// Checks `value`, computed by the command for option `name` (e.g. channels read off the data), against the
    /// option's declared bounds.
    /// - Throws: `option 'NAME': must ..., got VALUE` at the option when given, else at the command.
    public func check(_ name: String, _ value: Double) throws {
        guard let bounds = command.options.first(where: { $0.name == name })?.bounds, !bounds.contains(value) else {
            return
        }
        throw error("option '\(name)': must \(bounds.requirement), got \(Value.format(value))", at: name)
    }

    /// An integer argument/option; throws when absent.
    public func int(_ name: String) throws -> Int { try typed(name, "integer") { $0.integer } }
    /// A number argument/option; throws when absent.
    public func double(_ name: String) throws -> Double {
        try typed(name, "number") { if case .number(let d) = $0 { return d } else { return nil } }
    }
    /// A string, word or path argument/option; throws when absent.
    public func string(_ name: String) throws -> String {
        try typed(name, "string") { if case .string(let s) = $0 { return s } else { return nil } }
    }
    /// A boolean argument/option; throws when absent.
    public func bool(_ name: String) throws -> Bool {
        try typed(name, "bool") { if case .bool(let b) = $0 { return b } else { return nil } }
    }
    /// The list of a variadic argument (empty when none were given).
    public func list(_ name: String) -> [Value] {
        if case .list(let items) = values[name] ?? .none { return items }
        return []
    }
    /// A session object of class `T`; throws when absent or of another class.
    public func object<T>(_ name: String, as type: T.Type) throws -> T {
        try typed(name, "\(T.self)") { if case .object(let o) = $0 { return o as? T } else { return nil } }
    }
}
