import Foundation

/// One session option (`set NAME VALUE`), typed, with a default and an optional extra check.
public struct SessionOption {
    /// The name used by `set` and `show`.
    public let name: String
    /// The accepted type.
    public let type: ValueType
    /// The value after start-up and `reset`.
    public let defaultValue: Value
    /// One line shown by `show options`.
    public let help: String
    /// The bound a number must be within (`set` checks it; command options defaulting to this option inherit it).
    public let bounds: Bounds?
    /// Returns an error message (e.g. `must be at least 1`) when a well-typed value is still unacceptable.
    public let check: ((Value) -> String?)?
    /// Called with the new value after each successful `set`, `declare` and `reset`
    /// (e.g. to pass `threads` to the BLAS library; see `SessionOptions.onChange(_:_:)`).
    public internal(set) var apply: ((Value) -> Void)?

    /// Declares an option.
    public init(
        _ name: String, _ type: ValueType, default defaultValue: Value, _ help: String, bounds: Bounds? = nil,
        check: ((Value) -> String?)? = nil, apply: ((Value) -> Void)? = nil
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.help = help
        self.bounds = bounds
        self.check = check
        self.apply = apply
    }
}

/// The session's option table: the standard options plus any the engine declares with `declare(_:)`.
public final class SessionOptions {
    /// Declared options in declaration order.
    public private(set) var declared: [SessionOption] = []
    private var values: [String: Value] = [:]

    /// The standard table: seed, threads, terminal, out, quiet. The engine declares the training options (`batch`,
    /// `lr`) with the defaults of its training configuration.
    public init() {
        declare(
            SessionOption("seed", .integer, default: .number(0), "random seed for initialisation, shuffling and splits")
        )
        declare(
            SessionOption(
                "threads", .integer, default: .number(0), "compute threads of the tensor engine (0: every core)",
                bounds: .range(0...256)))
        declare(
            SessionOption(
                "terminal", .word(choices: ["dumb", "sixel", "qt", "x11", "wxt"]), default: .string("dumb"),
                "where plots without to=FILE go: dumb (text in the console), sixel, or a window (qt, x11, wxt)"))
        declare(SessionOption("out", .path, default: .string("out"), "folder for checkpoints, plots and saved runs"))
        declare(SessionOption("quiet", .bool, default: .bool(false), "hide notes and progress output"))
    }

    /// Adds (or replaces) an option and sets it to its default. The option goes before the option named `before`
    /// when there is one (`show options` lists them in this order), else last.
    public func declare(_ option: SessionOption, before: String? = nil) {
        declared.removeAll { $0.name == option.name }
        let position = before.flatMap { name in declared.firstIndex { $0.name == name } } ?? declared.endIndex
        declared.insert(option, at: position)
        values[option.name] = option.defaultValue
        option.apply?(option.defaultValue)
    }

    /// Makes `apply` run with the value of option `name` now and after each successful `set` and `reset` (the
    /// engine passes `threads` to the tensor library this way). Does nothing when there is no such option.
    public func onChange(_ name: String, _ apply: @escaping (Value) -> Void) {
        guard let i = declared.firstIndex(where: { $0.name == name }) else { return }
        declared[i].apply = apply
        apply(values[name] ?? declared[i].defaultValue)
    }

    /// The option called `name`.
    public func option(_ name: String) -> SessionOption? { declared.first { $0.name == name } }

    /// The current value of `name`, nil if there is no such option.
    public func value(_ name: String) -> Value? { values[name] }

    /// Sets `name` to `value`; returns an error message (`unknown session option ...`, `... expects an integer, got
    /// "x"`) instead of throwing so callers can locate it.
    public func set(_ name: String, _ value: Value) -> String? {
        guard let option = option(name) else {
            return "unknown session option '\(name)'" + didYouMean(name, declared.map(\.name))
        }
        guard let accepted = option.type.accept(value) else {
            return "session option '\(name)' expects \(option.type.phrase), got \(value.literal)"
        }
        if let bounds = option.bounds, case .number(let x) = accepted, !bounds.contains(x) {
            return "session option '\(name)' must \(bounds.requirement), got \(accepted.literal)"
        }
        if let problem = option.check?(accepted) {
            return "session option '\(name)' \(problem), got \(accepted.literal)"
        }
        values[name] = accepted
        option.apply?(accepted)
        return nil
    }

    /// Restores every option to the value `reset` restores (`resetValue(_:)`): its default, or what the command
    /// line set (`keepCurrentValuesForReset()`).
    public func reset() {
        for o in declared {
            let value = resetValue(o.name) ?? o.defaultValue
            values[o.name] = value
            o.apply?(value)
        }
    }

    /// Makes the current values the ones `reset` restores: `sskd --seed 5 --threads 1` calls it after setting its
    /// options, so that `reset` in that session keeps seed 5 and one thread.
    public func keepCurrentValuesForReset() {
        resetValues = values
    }

    /// The value `reset` gives `name`: what the command line set, else the declared default; nil for an unknown name.
    public func resetValue(_ name: String) -> Value? { resetValues[name] ?? option(name)?.defaultValue }

    /// `seed` as an integer.
    public var seed: Int { current("seed").integer! }
    /// `threads` as an integer.
    public var threads: Int { current("threads").integer! }
    /// `terminal`, the gnuplot terminal name.
    public var terminal: String { current("terminal").display }
    /// `out`, the output folder.
    public var out: String { current("out").display }
    /// `quiet`.
    public var quiet: Bool { if case .bool(let b) = current("quiet") { return b } else { return false } }

    /// The values `reset` restores instead of the defaults (`keepCurrentValuesForReset()`).
    private var resetValues: [String: Value] = [:]

    /// The value of a standard option: set values are type-checked, so it has the declared type.
    private func current(_ name: String) -> Value { values[name] ?? option(name)?.defaultValue ?? .none }
}
