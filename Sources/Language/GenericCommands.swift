import Foundation
import Storage

/// The commands every session has, independent of the ML engine (see docs/language.md, "Commands").
extension Session {
    /// Registers help, set, show, vars/who, print/echo, note, pause, source, history, reset, quit/exit, save, cd, pwd
    /// and shell (`!COMMAND`).
    public func registerGenericCommands() {
        commands.register(
            CommandSpec(
                "help", summary: "list the commands, or show how to use one or a language topic (help for)",
                arguments: [
                    ArgumentSpec(
                        "command", .word(choices: []), "the command or language topic to describe", optional: true,
                        completion: [.commands, .values(Session.helpTopics.map(\.name))])
                ],
                example: "help set", recorded: .never, returnsValue: false, changesState: false
            ) { inv, session in
                guard inv.has("command") else {
                    session.write(session.commands.helpListing())
                    return .none
                }
                let name = try inv.string("command")
                if session.commands.lookup(name) == nil,
                    let topic = Session.helpTopics.first(where: { $0.name == name })
                {
                    session.write(topic.page)
                    return .none
                }
                guard let spec = session.commands.lookup(name) else {
                    throw inv.error(
                        "unknown command or topic '\(name)'"
                            + didYouMean(name, session.commands.names + Session.helpTopics.map(\.name)), at: "command")
                }
                session.write(session.commands.helpPage(spec, options: session.options))
                return .none
            })

        commands.register(
            CommandSpec(
                "set", summary: "set a session option (see 'show options')",
                arguments: [
                    ArgumentSpec("name", .word(choices: []), "the option", completion: [.sessionOptions]),
                    ArgumentSpec(
                        "value", .valueOrWord, "its new value", completion: [.sessionOptionValues, .boundNames]),
                ],
                example: "set seed 42", returnsValue: false
            ) { inv, session in
                if let problem = session.options.set(try inv.string("name"), inv.value("value")) {
                    throw inv.error(problem, at: problem.hasPrefix("unknown") ? "name" : "value")
                }
                return .none
            })

        commands.register(
            CommandSpec(
                "show", summary: "show the session options, one option, the current data, or a bound value",
                arguments: [
                    ArgumentSpec(
                        "what", .word(choices: []), "'options', an option name, 'data' or a bound name",
                        completion: [.values(["options"]), .sessionOptions, .showTopics, .boundNames])
                ],
                example: "show options", recorded: .never, returnsValue: false, changesState: false
            ) { inv, session in
                let what = try inv.string("what")
                if what == "options" {
                    session.write(
                        table(
                            ["option\tvalue\tdefault\tdescription"]
                                + session.options.declared.map {
                                    let value = session.options.value($0.name)?.literal ?? "none"
                                    return "\($0.name)\t\(value)\t\($0.defaultValue.literal)\t\($0.help)"
                                }))
                } else if let value = session.options.value(what) {
                    session.print("\(what) = \(value.literal)")
                } else if let topic = session.showTopics[what], session.lookup(what) == nil {
                    let text: String
                    do { text = try topic(session) } catch { throw inv.error("\(error)", at: "what") }
                    session.print(text)
                } else if let value = session.lookup(what) {
                    if case .object(let o) = value, let detailed = o as? DetailedObject {
                        session.print(detailed.detail(in: session))
                    } else {
                        session.printValues(value.display)
                    }
                } else {
                    let candidates =
                        ["options"] + session.showTopics.keys.sorted() + session.options.declared.map(\.name)
                        + Array(session.bindings.keys)
                    throw inv.error("nothing called '\(what)' to show" + didYouMean(what, candidates), at: "what")
                }
                return .none
            })

        commands.register(
            CommandSpec(
                "vars", aliases: ["who"], summary: "list bound names with their type and summary", example: "vars",
                recorded: .never, returnsValue: false, changesState: false
            ) { _, session in
                if session.bindings.isEmpty {
                    session.print("(no variables)")
                    return .none
                }
                session.write(
                    table(
                        session.bindings.keys.sorted().compactMap { name in
                            session.lookup(name).map { "\(name)\t\($0.typeName)\t\(varsSummary($0))" }
                        }))
                return .none
            })

        commands.register(
            CommandSpec(
                "print", aliases: ["echo"], summary: "print values separated by spaces",
                arguments: [ArgumentSpec("values", .any, "values to print", optional: true, variadic: true)],
                example: "print \"accuracy\" acc * 100 \"%\"", returnsValue: false, changesState: false
            ) { inv, session in
                session.printValues(inv.list("values").map(\.display).joined(separator: " "))
                return .none
            })

        commands.register(
            CommandSpec(
                "note", summary: "print explanatory text (lessons); hidden when the option quiet is true",
                arguments: [ArgumentSpec("text", .any, "the text", variadic: true)],
                example: "note \"Stage 1 copies the teacher's first block.\"", returnsValue: false, changesState: false
            ) { inv, session in
                if !session.options.quiet {
                    session.printValues(inv.list("text").map(\.display).joined(separator: " "))
                }
                return .none
            })

        commands.register(
            CommandSpec(
                "pause",
                summary:
                    "wait for Enter in the interactive REPL (Ctrl-C stops the lesson; skipped when replaying a script)",
                arguments: [ArgumentSpec("message", .string, "text shown while waiting", optional: true)],
                example: "pause \"Look at the loss curve, then press Enter\"", returnsValue: false, changesState: false
            ) { inv, session in
                guard session.interactive else { return .none }
                _ = session.readLine(
                    (inv.has("message") ? try inv.string("message") : "(press Enter to continue)") + " ")
                try session.checkInterrupt()  // Ctrl-C while waiting stops the rest of the input, like any long command
                return .none
            })

        commands.register(
            CommandSpec(
                "source", summary: "run the statements of a file in this session",
                arguments: [ArgumentSpec("file", .path, "the .sskd file")],
                example: "source lessons/intro.sskd", returnsValue: false
            ) { inv, session in
                let path = try inv.string("file")
                let text: String
                do { text = try SourceFileError.read(path) } catch { throw inv.error("\(error)", at: "file") }
                try session.runNested(text, name: path, at: inv.location)
                return .none
            })

        commands.register(
            CommandSpec(
                "history", summary: "list previous inputs (rerun one in the REPL with !N)",
                arguments: [ArgumentSpec("count", .integer, "show only the last COUNT entries", optional: true)],
                example: "history 10", recorded: .never, returnsValue: false, changesState: false
            ) { inv, session in
                let count = inv.has("count") ? try inv.int("count") : session.history.count
                guard count >= 0 else { throw inv.error("count must be 0 or more, got \(count)", at: "count") }
                let first = max(0, session.history.count - count)
                for (i, entry) in session.history.enumerated().dropFirst(first) {
                    session.print(String(repeating: " ", count: max(0, 5 - String(i + 1).count)) + "\(i + 1)  \(entry)")
                }
                return .none
            })

        commands.register(
            CommandSpec(
                "reset", summary: "forget all bound names and restore every option to its default; says what it wiped",
                example: "reset", returnsValue: false
            ) { _, session in
                let wiped = session.reset()
                session.print(
                    "reset: "
                        + (wiped.isEmpty
                            ? "nothing to forget (no names; options at their defaults)"
                            : wiped.joined(separator: "; ")))
                return .none
            })

        commands.register(
            CommandSpec(
                "quit", aliases: ["exit"], summary: "leave sskd (scripts stop with the given exit code)",
                arguments: [Self.exitCode.spec],
                example: "quit", recorded: .never, returnsValue: false, changesState: false
            ) { inv, _ in
                guard let code = try inv.optional(Self.exitCode) else { throw ControlSignal.quit(nil) }
                if let bounds = Self.exitCode.spec.bounds, !bounds.contains(Double(code)) {
                    throw inv.error("exit code must \(bounds.requirement), got \(code)", at: Self.exitCode.name)
                }
                throw ControlSignal.quit(Int32(code))
            })

        commands.register(
            CommandSpec(
                "save",
                summary: "save a model as a self-describing safetensors checkpoint (mimic adapters go to "
                    + "FILE.adapters.safetensors), or the session's statements as a script that replays it",
                arguments: [
                    ArgumentSpec(
                        "what", .valueOrWord, "a model, or the word session",
                        completion: [.values(["session"]), .boundNames]),
                    ArgumentSpec("file", .path, "the file to write, e.g. student.safetensors or work.sskd"),
                ],
                example: "save student \"student.safetensors\"", recorded: .unlessFirstArgument("session"),
                returnsValue: false
            ) { inv, session in
                let path = try inv.string("file")
                if case .object(let o) = inv.value("what"), let object = o as? SavableObject {
                    do { try object.save(to: path, in: session) } catch let error as InterpreterError {
                        throw error
                    } catch {
                        throw inv.error("\(error)", at: "file")
                    }
                    return .none
                }
                guard case .string("session") = inv.value("what") else {
                    throw inv.error(
                        "save takes a model or the word session, got \(inv.value("what").literal)", at: "what")
                }
                let (script, kept, partial) = session.sessionScript(replayedWith: path)
                do { try atomicWrite(Data(script.utf8), to: path) } catch let error as StorageError {
                    throw inv.error(
                        "cannot write '\(path)': \(error.reason) (any previous file is unchanged)", at: "file")
                }
                if !partial.isEmpty {
                    let numbers = partial.map { "[\($0.number)]" }.joined(separator: ", ")
                    let (cells, them) = partial.count == 1 ? ("cell", "it") : ("cells", "them")
                    session.print(
                        "warning: \(cells) \(numbers) stopped part-way (interrupted or failed) after changing the "
                            + "session; the script runs \(them) in full (marked with a comment), so it may not "
                            + "reproduce this session exactly"
                            + (partial.contains { $0.error?.message != "interrupted" }
                                ? "; a failed cell stops a script, so replay with: sskd --keep-going \(path)" : ""))
                }
                session.print("saved \(counted(kept, "statement")) to \(path)")
                return .none
            })

        commands.register(
            CommandSpec(
                "shell", summary: "run a command line with /bin/sh and show its output; !COMMAND is short for it",
                arguments: [
                    ArgumentSpec(
                        "command", .string,
                        "the command line; in !COMMAND, $NAME of a bound name becomes its exact value, unquoted "
                            + "(\\$NAME leaves it to the shell)")
                ],
                example: "!ls sessions", returnsValue: false
            ) { inv, session in
                let outcome: ShellOutcome
                let written = try inv.string("command")
                // `!LINE` (whose argument sits where the statement starts) expands `$NAME` itself; a `shell "..."`
                // string was interpolated once already, and its value is not expanded again.
                let bang = inv.location(of: "command") == inv.location
                do {
                    let line = bang ? try session.expandingBoundNames(in: written) : written
                    try Session.checkShellLine(line)
                    outcome = try session.runShell(line)
                } catch let error as ShellError {
                    throw inv.error(error.reason)
                }
                switch outcome {
                case .exited(0): return .none
                case .exited(let code): throw inv.error("shell command exited with status \(code)")
                case .signalled(let sig): throw inv.error("shell command killed by signal \(sig)")
                }
            })

        commands.register(
            CommandSpec(
                "cd", summary: "change the working folder that relative paths start from (default: your home folder)",
                arguments: [ArgumentSpec("folder", .path, "the new working folder", optional: true)],
                example: "cd sessions", returnsValue: false
            ) { inv, session in
                let folder =
                    inv.has("folder") ? try inv.string("folder") : ProcessInfo.processInfo.environment["HOME"] ?? "/"
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else {
                    throw inv.error("cannot change to '\(printable(folder))': no such folder", at: "folder")
                }
                guard isFolder.boolValue else {
                    throw inv.error("cannot change to '\(printable(folder))': not a folder", at: "folder")
                }
                let before = Session.workingFolder()
                guard FileManager.default.changeCurrentDirectoryPath(folder) else {
                    throw inv.error(
                        "cannot change to '\(printable(folder))': \(String(cString: strerror(errno)))", at: "folder")
                }
                if session.folderBeforeFirstCD == nil { session.folderBeforeFirstCD = before }
                return .none
            })

        commands.register(
            CommandSpec(
                "pwd", summary: "print the working folder", example: "pwd", recorded: .never, returnsValue: false,
                changesState: false
            ) { inv, session in
                guard let folder = Session.workingFolder() else {
                    throw inv.error(
                        "cannot tell the working folder: \(String(cString: strerror(errno))) (was it deleted? 'cd' "
                            + "to another folder)")
                }
                session.print(printable(folder, limit: .max))
                return .none
            })
    }
}

extension Session {
    /// The script `save session` writes: a header naming `path`, then every cell that `Cell.replayed` keeps, each
    /// one that stopped part-way (failed or interrupted after changing state) below a comment saying so.
    /// - Returns: the script, the number of statements in it, and the cells that stopped part-way.
    ///
    /// When a kept cell failed (not merely interrupted), the header says `replay with: sskd --keep-going FILE`, since
    /// a script stops at its first error. When `cd` changed the working folder during the session, the script
    /// starts with `cd` to the absolute folder the session started in, so relative folders and files (`cd "d1"`,
    /// `source x.sskd`) resolve as they did, wherever the script is saved or replayed from.
    func sessionScript(replayedWith path: String) -> (script: String, statements: Int, partial: [Cell]) {
        let kept = cells.filter(\.replayed)
        let failed = kept.contains { $0.error.map { $0.message != "interrupted" } ?? false }
        var script = "# sskd session; replay with: sskd \(failed ? "--keep-going " : "")\(path)\n"
        if let start = folderBeforeFirstCD {
            script += "# the session ran 'cd': start where it started\ncd " + Value.string(start).literal + "\n"
        }
        for cell in kept {
            if let error = cell.error {
                let how =
                    error.message == "interrupted"
                    ? "was interrupted"
                    : "failed (" + printable(error.message.replacingOccurrences(of: "\n", with: " "), limit: 160) + ")"
                script +=
                    "# cell [\(cell.number)] \(how) in the original session after changing it; the replay runs it in "
                    + "full\(error.message == "interrupted" ? "" : " and may stop here again")\n"
            }
            script += cell.source + "\n"
        }
        return (script, kept.count, kept.filter { !$0.succeeded })
    }

    /// The working folder as an absolute path, nil when the system cannot tell it (the folder was deleted or
    /// moved out of reach; `errno` says why). `FileManager.currentDirectoryPath` gives an empty string there.
    public static func workingFolder() -> String? {
        guard let path = getcwd(nil, 0) else { return nil }
        defer { free(path) }
        return String(cString: path)
    }

    /// `path` as an absolute path (relative paths start from the working folder), for an output file named at
    /// startup that must not move when `cd` changes the working folder later (`--notebook FILE`).
    /// - Throws: `PathError` when `path` ends in `/` or names an existing folder (a file is
    ///   expected), or the working folder cannot be told.
    public static func absoluteOutputFile(_ path: String) throws -> String {
        var isFolder: ObjCBool = false
        if path.hasSuffix("/")
            || (FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
                && isFolder.boolValue)
        {
            throw PathError(reason: "'\(printable(path))' names a folder; give a file name such as 'out.ipynb'")
        }
        if path.hasPrefix("/") { return path }
        guard let folder = workingFolder() else {
            throw PathError(reason: "cannot tell the working folder: \(String(cString: strerror(errno)))")
        }
        return (folder == "/" ? "" : folder) + "/" + path
    }

    /// `quit CODE`: the exit status of a script, 0...255 (what a process can return).
    static let exitCode = TypedArgument<Int>.integer(
        "code", bounds: Bounds("be 0...255") { (0...255).contains($0) },
        "exit status; by default the run's so far: 0, or 65/70 after errors with --keep-going", optional: true)
}

/// A path given for an output file cannot be used (it names a folder, or the working folder is unknown).
public struct PathError: Error, CustomStringConvertible {
    /// Why, naming the path.
    public let reason: String
    /// The reason.
    public var description: String { reason }
}

/// What `vars` shows of `value`: its display on one line, cut at 200 characters; a cut list also gives its length
/// (`[1, 2, 3, ... (100,000 elements)`).
func varsSummary(_ value: Value) -> String {
    let shown = printable(value.display, limit: 200)
    guard shown.hasSuffix("..."), case .list(let items) = value else { return shown }
    return shown + " (\(counted(items.count, "element")))"
}
