// The sskd command-line entry point: parses arguments, builds a Session and runs the REPL, a script,
// `-c` commands or piped input. Exit codes: 64 usage, 65 syntax error, 70 runtime error (sysexits.h), 143 SIGTERM
// in script modes (stopped after the current batch or write).
import ArgumentParser
import EngineCommands
import Foundation
import Language

struct SSKD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sskd",
        abstract: "Stage-by-Stage Knowledge Distillation: an interactive command language.",
        discussion:
            "Without FILE or -c, runs the REPL when stdin is a terminal and reads commands from stdin otherwise.",
        version: Session.version)

    @Option(name: .customShort("c"), help: ArgumentHelp("Run these commands instead of a file.", valueName: "commands"))
    var commands: String?

    @Flag(help: "Print each statement before its output, like a transcript (sskd> ...).")
    var echo = false

    @Flag(help: "Hide notes, the banner and progress output.")
    var quiet = false

    @Option(help: "Set the session option seed.")
    var seed: Int?

    @Option(help: "Set the session option threads.")
    var threads: Int?

    @Flag(help: "Continue after errors instead of stopping at the first one.")
    var keepGoing = false

    @Option(
        help: ArgumentHelp(
            "Write the session as a notebook (cells, outputs, plots, notes) when it ends: Jupyter for .ipynb, Markdown "
                + "for .md.", valueName: "FILE.ipynb|FILE.md"))
    var notebook: String?

    @Flag(help: "Print the command reference of docs/language.md (Markdown, generated from the declarations).")
    var printReference = false

    @Argument(help: ArgumentHelp("A script to replay.", valueName: "FILE.sskd"))
    var script: String?

    @Argument(
        parsing: .allUnrecognized, help: ArgumentHelp("Arguments the script sees as $1, $2, ...", valueName: "ARGS"))
    var scriptArguments: [String] = []

    func run() throws {
        if let bad = ([script].compactMap { $0 } + scriptArguments).first(where: { $0.hasPrefix("-") && $0.count > 1 }),
            script == nil || script == bad
        {
            throw ValidationError("unknown option '\(bad)'")
        }
        let session = Session.standard()  // the language
        session.installEngine()  // and the engine's commands
        if printReference {
            print(session.commands.referenceMarkdown(options: session.options), terminator: "")
            return
        }
        var notebookPath: String?
        if let notebook {
            // Before anything runs: a wrong extension, a folder or a missing folder would otherwise lose the
            // session's notebook. Made absolute now, so that `cd` in the session does not move it.
            do {
                notebookPath = try Session.absoluteOutputFile(notebook)
                try Session.checkNotebookPath(notebook)
            } catch { throw ValidationError("--notebook: \(error)") }
        }
        session.echo = echo
        session.keepGoing = keepGoing
        for (name, value) in [
            ("quiet", quiet ? Value.bool(true) : nil), ("seed", seed.map { Value.number(Double($0)) }),
            ("threads", threads.map { Value.number(Double($0)) }),
        ] {
            if let value, let problem = session.options.set(name, value) { throw ValidationError(problem) }
        }
        session.options.keepCurrentValuesForReset()  // `reset` keeps what the command line set
        let arguments = commands == nil ? scriptArguments : [script].compactMap { $0 } + scriptArguments
        for (i, argument) in arguments.enumerated() { session.bind(String(i + 1), .string(argument)) }
        let status: RunStatus
        let repl = commands == nil && script == nil && isatty(STDIN_FILENO) != 0
        if !repl { Session.installTerminationHandler() }
        if let commands {
            status = session.run(commands, name: "<command>")
        } else if let file = script {
            session.bind("0", .string(file))
            do { status = try session.runFile(file) } catch {
                FileHandle.standardError.write(Data("sskd: \(error)\n".utf8))
                throw ExitCode(66)
            }
        } else if repl {
            let code = REPL(session: session).run()
            try writeNotebook(session, to: notebookPath)
            throw ExitCode(code)
        } else {
            let input = FileHandle.standardInput.readDataToEndOfFile()
            status = session.run(String(decoding: input, as: UTF8.self), name: "<stdin>")
        }
        try writeNotebook(session, to: notebookPath)
        throw ExitCode(status.exitCode)
    }

    /// Writes `--notebook FILE` (at `path`, made absolute at startup) when asked, titled by the script's first
    /// comment line or its file name; exit code 73 (EX_CANTCREAT) when it cannot.
    func writeNotebook(_ session: Session, to path: String?) throws {
        guard let path else { return }
        do { try session.writeNotebook(to: path, scriptName: commands == nil ? script : nil) } catch {
            FileHandle.standardError.write(Data("sskd: --notebook: \(error)\n".utf8))
            throw ExitCode(73)
        }
    }
}

SSKD.main()
