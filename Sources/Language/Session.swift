import Foundation
import Storage

/// Process-wide Ctrl-C flag, set by the REPL's SIGINT handler (signals are per process).
nonisolated(unsafe) var interruptFlag: Int32 = 0
/// The signal (SIGTERM) that asked the process to stop, 0 if none; set by `Session.installTerminationHandler()`.
nonisolated(unsafe) var terminationSignal: Int32 = 0

/// One executed top-level statement: the unit a notebook shows and `save session` replays.
public struct Cell {
    /// 1-based cell number (`[3]`).
    public let number: Int
    /// The statement as written, with the comment that ends its last line (`data fashion-mnist   # small`).
    public let source: String
    /// Everything the statement printed.
    public internal(set) var output: String
    /// The error that stopped it, if any.
    public internal(set) var error: InterpreterError?
    /// Whether `save session` writes it (false for help, vars, history, save, quit...).
    public internal(set) var recorded: Bool
    /// Whether it changed the session's state before it ended: it assigned a name, a command that changes state
    /// (`CommandSpec.changesState`) completed inside it, or Ctrl-C interrupted such a command.
    public internal(set) var changedState = false
    /// Whether it ran without error.
    public var succeeded: Bool { error == nil }
    /// Whether `save session` writes it: a recorded statement that succeeded, or that failed after changing state
    /// (written below a comment that says so, since the replay runs it in full).
    public var replayed: Bool { recorded && (succeeded || changedState) }
    /// The command the statement calls (`note`, `plot`, ...), nil for other statements.
    public let command: String?
    /// The whole `#` comment lines written just before the statement in its script, without their `# `; nil for none.
    public let comment: String?
    /// The figures and the statements of sourced files inside ``output``, in order (for notebooks).
    public internal(set) var marks: [CellMark] = []
}

/// How running a script or input ended; `exitCode` follows sysexits (65 syntax, 70 runtime).
public enum RunStatus: Equatable {
    /// Everything ran.
    case ok
    /// A syntax error (exit code 65).
    case syntaxError
    /// A runtime error (exit code 70).
    case runtimeError
    /// `quit CODE` was run (a bare `quit` gives the status of the run so far: 0, or 65/70 after errors under
    /// `--keep-going`).
    case quit(Int32)
    /// A signal (SIGTERM) stopped the run after its current batch or write (exit code 128 + signal, 143 for SIGTERM).
    case terminated(Int32)

    /// 0, 65 (EX_DATAERR), 70 (EX_SOFTWARE), the `quit` code, or 128 + the signal number.
    public var exitCode: Int32 {
        switch self {
        case .ok: return 0
        case .syntaxError: return 65
        case .runtimeError: return 70
        case .quit(let code): return code
        case .terminated(let signal): return 128 + signal
        }
    }
}

/// The state of one sskd session: commands, bindings, options, cells and history; runs source text.
public final class Session {
    /// The version printed by `sskd --version`.
    public static let version = "0.1.0"
    /// The known commands; `commands.register(CommandSpec(...))` adds one.
    public let commands = CommandRegistry()
    /// Session options (`set`/`show options`).
    public let options = SessionOptions()
    /// Where output and errors go.
    public var output: OutputSink
    /// Bound names.
    public private(set) var bindings: [String: Value] = [:]
    /// Executed top-level statements, in order.
    public private(set) var cells: [Cell] = []
    /// Input history (`history`, `!N`): REPL inputs, or the statements of scripts.
    public var history: [String] = []
    /// True in the interactive REPL: `pause` waits for Enter.
    public var interactive = false
    /// Print each top-level statement as `sskd> statement` before its output (transcripts).
    public var echo = false
    /// Continue after errors instead of stopping at the first.
    public var keepGoing = false
    /// Shows a prompt and reads one line, for `pause` (stdout/stdin by default; the REPL uses readline).
    public lazy var readLine: (String) -> String? = { [unowned self] prompt in
        self.output.write(prompt)
        return Swift.readLine()
    }

    /// What `show WORD` prints for words that are not options or bound names (the engine adds `data`): each returns
    /// the text or throws an error whose text is reported at the word.
    public var showTopics: [String: (Session) throws -> String] = [:]

    /// The last value an expression statement or a command showed: what `ans` and `_` evaluate to (unless a
    /// name `ans` or `_` is bound); nil before the first and after `reset`.
    public internal(set) var lastValue: Value?

    private var states: [ObjectIdentifier: SessionState] = [:]
    private var currentCell: Int?
    /// The absolute working folder before the first `cd` of the session changed it (`save session` starts its
    /// script there); nil while no `cd` ran. `reset` keeps it, as it keeps the working folder.
    var folderBeforeFirstCD: String?
    /// Set while a top-level statement runs when it changes state (see `Cell.changedState`).
    var statementChangedState = false
    private var sourceDepth = 0

    /// An empty session (no commands) writing to `output`.
    public init(output: OutputSink = StandardOutputSink()) {
        self.output = output
    }

    /// A session with the language's generic commands (help, set, show, vars, print, source, save session, ...);
    /// the engine's commands are added by the EngineCommands target (`installEngine()`).
    public static func standard(output: OutputSink = StandardOutputSink()) -> Session {
        let session = Session(output: output)
        session.registerGenericCommands()
        return session
    }

    /// Whether Ctrl-C or a termination signal asked the process to stop (for cancellation checks outside a session).
    public static var stopRequested: Bool { interruptFlag != 0 || terminationSignal != 0 }

    /// Set by Ctrl-C (and kept set after SIGTERM); long-running commands should call `checkInterrupt()` between
    /// batches.
    public var interruptRequested: Bool {
        get { interruptFlag != 0 || terminationSignal != 0 }
        set { interruptFlag = newValue ? 1 : 0 }
    }

    /// The signal that asked the process to stop (SIGTERM), if any: every running command stops after its current
    /// batch or write, and `run` stops before the next statement.
    public var terminationRequested: Int32? { terminationSignal == 0 ? nil : terminationSignal }

    /// Makes SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop the session cleanly instead of killing it mid-write: the
    /// handler only records the signal; training and evaluation stop after their current batch, a write in progress
    /// finishes (saves are atomic, no temporary file is left), the statement reports `terminated by SIGTERM` (or
    /// SIGINT, SIGHUP), and `run` returns `.terminated(signal)` (exit status 128 + signal: 143, 130, 129).
    /// For script modes (`sskd FILE`, `-c`, piped input); the REPL handles Ctrl-C itself and keeps the default
    /// action for the others.
    public static func installTerminationHandler() {
        for sig in [SIGTERM, SIGINT, SIGHUP] { signal(sig) { sig in terminationSignal = sig } }
        ReadInterruption.isRequested = { Session.stopRequested }
    }

    /// Throws `SessionInterrupted` (and clears the flag) when Ctrl-C was pressed.
    public func checkInterrupt() throws {
        if interruptRequested {
            interruptRequested = false
            throw SessionInterrupted()
        }
    }

    // MARK: Output

    /// Writes `text` to the output sink and the current cell.
    public func write(_ text: String) {
        if let c = currentCell { cells[c].output += text }
        output.write(text)
    }

    /// Writes `line` and a newline.
    public func print(_ line: String) { write(line + "\n") }

    /// Prints text made of values (a script's own strings): their control characters (escape sequences) shown
    /// escaped, lines and tabs kept (`Storage.printableMessage`, lines not cut; values cut their own display).
    func printValues(_ text: String) { print(printableMessage(text, lineLimit: .max)) }

    // MARK: Bindings

    /// The names that evaluate to the last value shown (`lastValue`), as in MATLAB (`ans`) and Python (`_`).
    public static let lastValueNames: Set<String> = ["ans", "_"]

    /// The value bound to `name`; `ans` and `_`, when not bound, are the last value shown.
    public func lookup(_ name: String) -> Value? {
        bindings[name] ?? (Session.lastValueNames.contains(name) ? lastValue : nil)
    }

    /// Binds `name` to `value`.
    public func bind(_ name: String, _ value: Value) { bindings[name] = value }

    /// Removes all bindings and the last value, restores all options to their defaults and drops every
    /// `SessionState`; returns what was wiped, one phrase each (`forgot 3 names (a, m, n)`,
    /// `restored 2 options (seed, lr)`, `dropped` and each state's `summary`), empty when there was nothing to wipe.
    @discardableResult
    public func reset() -> [String] {
        var wiped: [String] = []
        let names = bindings.keys.sorted()
        if !names.isEmpty {
            let shown =
                names.count > 8 ? names.prefix(8).joined(separator: ", ") + ", ..." : names.joined(separator: ", ")
            wiped.append("forgot \(names.count) name\(names.count == 1 ? "" : "s") (\(shown))")
        }
        let changed = options.declared.filter { option in
            options.value(option.name).map { !Value.equal($0, options.resetValue(option.name) ?? option.defaultValue) }
                ?? false
        }.map(\.name)
        if !changed.isEmpty {
            let count = "\(changed.count) option\(changed.count == 1 ? "" : "s")"
            let commandLine = options.declared.contains { option in
                options.resetValue(option.name).map { !Value.equal($0, option.defaultValue) } ?? false
            }
            let target = commandLine ? "the default or the command line's value" : "the default"
            wiped.append("restored \(count) (\(changed.joined(separator: ", "))) to \(target)")
        }
        wiped += states.values.compactMap(\.summary).filter { !$0.isEmpty }.map { "dropped " + $0 }
        bindings = [:]
        lastValue = nil
        options.reset()
        states = [:]
        return wiped
    }

    /// The session's state of type `T` (the engine's workspace), made with `T()` on first use and after `reset`.
    public func state<T: SessionState>(_ type: T.Type) -> T {
        if let state = states[ObjectIdentifier(type)] as? T { return state }
        let state = T()
        states[ObjectIdentifier(type)] = state
        return state
    }

    // MARK: Running

    /// Parses and runs `text` (named `name` in diagnostics) as top-level cells.
    ///
    /// Without `keepGoing`, a syntax error anywhere reports that one error and runs nothing (exit code 65);
    /// a runtime error stops at that statement (70). With `keepGoing` each bad statement is reported and skipped.
    /// Bindings survive errors.
    /// Each statement's text is appended to `history` when `recordHistory` is true (the REPL records whole inputs
    /// itself).
    @discardableResult
    public func run(_ rawText: String, name: String, recordHistory: Bool = true) -> RunStatus {
        let text = rawText.replacingOccurrences(of: "\r\n", with: "\n")  // scripts saved with Windows line ends
        let source = SourceText(name: name, text: text)
        var parser = Parser(text, source: source, isCommand: commands.contains)
        let statements = parser.parseProgram()
        if !keepGoing,
            let bad = statements.first(where: { if case .failure = $0.result { return true } else { return false } }),
            case .failure(let error) = bad.result
        {
            output.report(error)
            return .syntaxError
        }
        var status = RunStatus.ok
        let comments = statementComments(in: text, statements: statements.map(\.text))
        for (statement, comment) in zip(statements, comments) {
            if let signal = terminationRequested { return terminated(signal, at: statement, source) }
            if recordHistory { history.append(statement.text) }
            if echo {
                let shown = printableMessage(statement.text, lineLimit: .max)  // a script's escape sequences escaped
                output.write("sskd> " + shown.replacingOccurrences(of: "\n", with: "\n...> ") + "\n")
            }
            cells.append(
                Cell(
                    number: cells.count + 1, source: statement.text + (comment.trailing ?? ""), output: "", error: nil,
                    recorded: isRecorded(statement), command: commandName(statement), comment: comment.leading))
            currentCell = cells.count - 1
            statementChangedState = false
            defer {
                if let c = currentCell { cells[c].changedState = statementChangedState }
                currentCell = nil
            }
            do {
                switch statement.result {
                case .failure(let error): throw error
                case .success(let stmt): try execute(stmt)
                }
            } catch _ where terminationRequested != nil {
                return terminated(terminationRequested!, at: statement, source, cell: cells.count - 1)
            } catch let error as InterpreterError {
                cells[cells.count - 1].error = error
                output.report(error)
                if status == .ok { status = error.isSyntax ? .syntaxError : .runtimeError }
                if !keepGoing { return status }
            } catch ControlSignal.quit(let code) {
                return .quit(code ?? status.exitCode)
            } catch {
                let located = InterpreterError.runtime("\(error)", SourceLocation(source: source, line: 1, column: 1))
                cells[cells.count - 1].error = located
                output.report(located)
                if status == .ok { status = .runtimeError }
                if !keepGoing { return status }
            }
        }
        if let signal = terminationRequested { return terminated(signal, at: statements.last, source) }
        return status
    }

    /// Reports that `signal` stopped the run at `statement` (the one that was running, or the next one) and returns
    /// `.terminated`; the statement's cell, if it ran, records the error.
    private func terminated(_ signal: Int32, at statement: ParsedStatement?, _ source: SourceText, cell: Int? = nil)
        -> RunStatus
    {
        let name = [SIGTERM: "SIGTERM", SIGINT: "SIGINT (Ctrl-C)", SIGHUP: "SIGHUP"][signal] ?? "signal \(signal)"
        var location = SourceLocation(source: source, line: 1, column: 1)
        if let statement, case .success(let stmt) = statement.result { location = stmt.location }
        let error = InterpreterError.runtime(
            "terminated by \(name): stopped after the current batch or write; "
                + "models and files are consistent, the statements after this one did not run", location)
        if let cell { cells[cell].error = error }
        output.report(error)
        return .terminated(signal)
    }

    /// Runs the file at `path` as top-level cells (see `run(_:name:recordHistory:)`).
    /// Throws `SourceFileError` when the file cannot be read.
    public func runFile(_ path: String) throws -> RunStatus {
        run(try SourceFileError.read(path), name: path)
    }

    /// Runs `text` inside the current statement (`source FILE`): stops at and throws the first error.
    func runNested(_ text: String, name: String, at location: SourceLocation) throws {
        guard sourceDepth < 32 else { throw InterpreterError.runtime("'source' nested more than 32 deep", location) }
        sourceDepth += 1
        defer { sourceDepth -= 1 }
        let text = text.replacingOccurrences(of: "\r\n", with: "\n")
        let source = SourceText(name: name, text: text)
        var parser = Parser(text, source: source, isCommand: commands.contains)
        // Like a script, a sourced file with a syntax error anywhere runs nothing.
        let parsed = parser.parseProgram()
        var statements: [Stmt] = []
        for statement in parsed {
            switch statement.result {
            case .failure(let error): throw error
            case .success(let stmt): statements.append(stmt)
            }
        }
        let comments = statementComments(in: text, statements: parsed.map(\.text))
        for (i, stmt) in statements.enumerated() {
            mark(
                .statement(
                    source: parsed[i].text + (comments[i].trailing ?? ""), command: commandName(parsed[i]),
                    comment: comments[i].leading))
            try execute(stmt)
        }
    }

    /// Records `kind` at the current end of the running cell's output.
    func mark(_ kind: CellMark.Kind) {
        if let c = currentCell { cells[c].marks.append(CellMark(offset: cells[c].output.utf8.count, kind: kind)) }
    }

    private func isRecorded(_ statement: ParsedStatement) -> Bool {
        switch statement.result {
        case .success(.command(let call)), .success(.assignCommand(_, let call, _)):
            switch commands.lookup(call.name)?.recorded ?? .always {
            case .always: return true
            case .never: return false
            case .unlessFirstArgument(let word): return call.arguments.first?.text != word
            }
        default:
            return true
        }
    }
}

/// State that code built on the language keeps per session, such as the engine's workspace (`Session.state(_:)`).
public protocol SessionState: AnyObject {
    /// The state of a new (or reset) session.
    init()
    /// What the state holds, for `reset` to say what it wiped (`data fashion-mnist, 3 runs of 2 models`); nil or
    /// empty when it holds nothing worth naming.
    var summary: String? { get }
}

extension SessionState {
    /// No summary: `reset` names nothing for this state.
    public var summary: String? { nil }
}

/// Thrown by `Session.checkInterrupt()` after Ctrl-C; reported as `interrupted` at the running statement.
public struct SessionInterrupted: Error, CustomStringConvertible {
    /// `interrupted`
    public var description: String { "interrupted" }

    /// The error commands throw when Ctrl-C stopped them.
    public init() {}
}
