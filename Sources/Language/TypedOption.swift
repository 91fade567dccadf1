/// A command option declared together with the Swift type its value is read as. `spec` goes into the command's
/// `options`; `Invocation.get(_:)` and `Invocation.optional(_:)` read the value through this same declaration, so
/// an option group (a struct of these, read once per call) cannot disagree with what `help` shows.
public struct TypedOption<T> {
    /// The declaration: name, value type, default, bounds, completion, help.
    public let spec: OptionSpec
    /// Converts a bound value (already type-checked against `spec.type`) to `T`; nil when it does not convert.
    let read: (Value) -> T?

    /// The key written before `=`.
    public var name: String { spec.name }

    /// Declares `spec`, read with `read`.
    public init(_ spec: OptionSpec, read: @escaping (Value) -> T?) {
        self.spec = spec
        self.read = read
    }

    /// The same option (name, type, default, bounds, completion) with another help line, for a command whose use
    /// of it needs its own words (`budget=` of `fitnet` pays for the hint stage too).
    public func described(_ help: String) -> TypedOption<T> {
        let s = spec
        return TypedOption(
            OptionSpec(
                s.name, s.type, default: s.defaultValue, session: s.sessionDefault, bounds: s.bounds, each: s.each,
                completion: s.completion, help), read: read)
    }
}

/// A positional argument declared together with the Swift type its value is read as (see `TypedOption`).
public struct TypedArgument<T> {
    /// The declaration.
    public let spec: ArgumentSpec
    /// Converts a bound value to `T`; nil when it does not convert.
    let read: (Value) -> T?

    /// The argument's name.
    public var name: String { spec.name }

    /// Declares `spec`, read with `read`.
    public init(_ spec: ArgumentSpec, read: @escaping (Value) -> T?) {
        self.spec = spec
        self.read = read
    }
}

extension TypedOption where T == Int {
    /// A whole-number option with a fixed default, a session-option default (`session`), or none.
    public static func integer(
        _ name: String, default value: Int? = nil, session: String? = nil, bounds: Bounds? = nil, _ help: String
    ) -> Self {
        Self(
            OptionSpec(
                name, .integer, default: value.map { .number(Double($0)) }, session: session, bounds: bounds, help),
            read: \.integer)
    }
}

extension TypedOption where T == Double {
    /// A number option with a fixed default, a session-option default (`session`), or none.
    public static func number(
        _ name: String, default value: Double? = nil, session: String? = nil, bounds: Bounds? = nil, _ help: String
    ) -> Self {
        Self(
            OptionSpec(name, .number, default: value.map { .number($0) }, session: session, bounds: bounds, help),
            read: { if case .number(let d) = $0 { return d } else { return nil } })
    }
}

extension TypedOption where T == String {
    /// A string option (`size="800x500"`); `each` bounds the numbers written inside it.
    public static func string(_ name: String, default value: String? = nil, each: Bounds? = nil, _ help: String)
        -> Self
    {
        Self(OptionSpec(name, .string, default: value.map { .string($0) }, each: each, help), read: Value.text)
    }

    /// A file-path option (`to="out/a.csv"`), without a default.
    public static func path(_ name: String, _ help: String) -> Self {
        Self(OptionSpec(name, .path, help), read: Value.text)
    }

    /// A bare-word option; `choices` restricts it when non-empty, `completion` adds values to offer after `name=`.
    public static func word(
        _ name: String, choices: [String] = [], default value: String? = nil, completion: [CompletionSource] = [],
        _ help: String
    ) -> Self {
        Self(
            OptionSpec(
                name, .word(choices: choices), default: value.map { .string($0) }, completion: completion, help),
            read: Value.text)
    }
}

extension TypedOption where T: RawRepresentable & CaseIterable, T.RawValue == String {
    /// A bare-word option taking the raw values of `cases` (by default every case of `T`, in declaration order:
    /// `optimizer=adam`), read as a `T`.
    public static func choice(
        _ name: String, among cases: [T] = Array(T.allCases), default value: T? = nil, _ help: String
    ) -> Self {
        Self(
            OptionSpec(
                name, .word(choices: cases.map(\.rawValue)), default: value.map { .string($0.rawValue) }, help),
            read: { Value.text($0).flatMap(T.init(rawValue:)) })
    }
}

extension TypedOption where T == Bool {
    /// A `true`/`false` option with a fixed default or none.
    public static func bool(_ name: String, default value: Bool? = nil, _ help: String) -> Self {
        Self(
            OptionSpec(name, .bool, default: value.map { .bool($0) }, help),
            read: { if case .bool(let b) = $0 { return b } else { return nil } })
    }
}

extension TypedOption where T == Value {
    /// An option the command interprets itself (a model or a number, a list, a word or a list): `type` is `.any`
    /// or `.valueOrWord`; `bounds` applies when the value is a number, `each` to the numbers of a list.
    public static func value(
        _ name: String, type: ValueType = .any, default value: Value? = nil, bounds: Bounds? = nil,
        each: Bounds? = nil, completion: [CompletionSource] = [], _ help: String
    ) -> Self {
        Self(
            OptionSpec(
                name, type, default: value, bounds: bounds, each: each, completion: completion, help),
            read: { $0 })
    }
}

extension TypedOption where T: AnyObject {
    /// An option naming a session object of class `T` whose `typeName` is `typeName` (`data=`), without a default.
    public static func object(_ name: String, _ typeName: String, _ help: String) -> Self {
        Self(
            OptionSpec(name, .object(typeName), help),
            read: { if case .object(let o) = $0 { return o as? T } else { return nil } })
    }
}

extension TypedArgument where T == String {
    /// A word argument (`plot KIND`), a file path (`type: .path`) or a string.
    public static func text(
        _ name: String, _ type: ValueType, _ help: String, optional: Bool = false,
        completion: [CompletionSource]? = nil
    ) -> Self {
        Self(ArgumentSpec(name, type, help, optional: optional, completion: completion), read: Value.text)
    }
}

extension TypedArgument where T: AnyObject {
    /// An argument naming a session object of class `T` whose `typeName` is `typeName` (`kd STUDENT TEACHER`).
    public static func object(_ name: String, _ typeName: String, _ help: String) -> Self {
        Self(
            ArgumentSpec(name, .object(typeName), help),
            read: { if case .object(let o) = $0 { return o as? T } else { return nil } })
    }
}

extension TypedArgument where T == Int {
    /// A whole-number argument within `bounds` (checked when read, quoted by `help`).
    public static func integer(_ name: String, bounds: Bounds? = nil, _ help: String, optional: Bool = false)
        -> Self
    {
        Self(ArgumentSpec(name, .integer, help, optional: optional, bounds: bounds), read: \.integer)
    }
}

extension Value {
    /// The text of a string, word or path value; nil for other values.
    static func text(_ value: Value) -> String? { if case .string(let s) = value { return s } else { return nil } }
}

extension Invocation {
    /// The value of `option` (given or defaulted) as `T`.
    /// - Throws: an error at the option when it has no value (no default and not given): a command reads an
    ///   option without a default with `optional(_:)`.
    public func get<T>(_ option: TypedOption<T>) throws -> T {
        guard let value = try optional(option) else {
            throw error("'\(command.name)' has no value for '\(option.name)'", at: option.name)
        }
        return value
    }

    /// The value of `option` as `T`, nil when it was neither given nor defaulted.
    /// - Throws: an error at the option when its value does not convert to `T` (binding has checked its type, so
    ///   this means the declaration and its reader disagree).
    public func optional<T>(_ option: TypedOption<T>) throws -> T? {
        guard let value = values[option.name] else { return nil }
        guard let t = option.read(value) else {
            throw error(
                "'\(command.name)' cannot read \(value.literal) as \(T.self) for '\(option.name)'", at: option.name)
        }
        return t
    }

    /// Whether the user wrote `option=...` (not a default).
    public func isGiven<T>(_ option: TypedOption<T>) -> Bool { isGiven(option.name) }

    /// A runtime error located at `option` when given, else at the command.
    public func error<T>(_ message: String, at option: TypedOption<T>) -> InterpreterError {
        error(message, at: option.name)
    }

    /// The value of a required argument, or of an optional one that was given, as `T`.
    /// - Throws: an error at the argument when it is absent or does not convert.
    public func get<T>(_ argument: TypedArgument<T>) throws -> T {
        guard let value = try optional(argument) else {
            throw error("'\(command.name)' has no value for '\(argument.name)'", at: argument.name)
        }
        return value
    }

    /// The value of `argument` as `T`, nil when an optional argument was left out.
    /// - Throws: an error at the argument when its value does not convert to `T`.
    public func optional<T>(_ argument: TypedArgument<T>) throws -> T? {
        guard let value = values[argument.name] else { return nil }
        guard let t = argument.read(value) else {
            throw error(
                "'\(command.name)' cannot read \(value.literal) as \(T.self) for '\(argument.name)'", at: argument.name)
        }
        return t
    }
}
