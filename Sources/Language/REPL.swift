import CReadline
import Foundation
import Storage

// readline's C callbacks cannot capture context, so the REPL's state lives in these process globals.
nonisolated(unsafe) private var completionSession: Session?
nonisolated(unsafe) private var completionList: [String] = []
nonisolated(unsafe) private var completionNext = 0
/// 0 running nothing, 1 reading a line, 2 running a statement, 3 reading the answer to `pause`.
nonisolated(unsafe) private var replState: Int32 = 0
nonisolated(unsafe) private var lineCancelled: Int32 = 0
/// Set by Ctrl-C during `pause`: the input function returns end of input so that `readline` returns.
nonisolated(unsafe) private var pauseCancelled: Int32 = 0
nonisolated(unsafe) private let mainPrompt = strdup("sskd> ")

/// The interactive loop on GNU readline: line editing, Ctrl-R search, persistent history, tab completion,
/// `...>` continuation prompts, `!N` to rerun history entry N (`!CMD` runs a shell command), Ctrl-C to cancel,
/// Ctrl-D to leave (on an empty `...>` line: to cancel the pending block).
public final class REPL {
    /// The session the REPL feeds.
    public let session: Session
    /// The history file: `$SSKD_HISTORY`, else `~/.sskd_history`.
    public let historyPath: String
    /// Entries kept in the history file.
    public static let historyLimit: Int32 = 1000

    /// Makes a REPL for `session` (marked interactive, reading `pause` input through readline).
    public init(session: Session, historyPath: String? = nil) {
        self.session = session
        let env = ProcessInfo.processInfo.environment
        self.historyPath =
            historyPath ?? env["SSKD_HISTORY"]
            ?? (env["HOME"] ?? NSHomeDirectory()) + "/.sskd_history"
        session.interactive = true
        session.readLine = { prompt in
            // Ctrl-C must end the wait: SIGINT interrupts read(2) here (no SA_RESTART) and `readKey` gives up.
            pauseCancelled = 0
            replState = 3
            siginterrupt(SIGINT, 1)
            defer {
                siginterrupt(SIGINT, 0)
                replState = 2
            }
            guard let line = readline(prompt) else { return nil }
            defer { free(line) }
            return pauseCancelled != 0 ? nil : String(cString: line)
        }
    }

    /// Runs until Ctrl-D or `quit`; returns the exit code.
    public func run() -> Int32 {
        setUpReadline()
        if !session.options.quiet {
            session.write(
                "sskd \(Session.version): Stage-by-Stage Knowledge Distillation. Type 'help' for commands, Ctrl-D to "
                    + "leave.\n"
            )
        }
        var pending: [String] = []
        defer { history_truncate_file(historyPath, REPL.historyLimit) }
        while true {
            replState = 1
            let raw = readline(pending.isEmpty ? "sskd> " : "...> ")
            replState = 0
            guard let raw else {
                // Ctrl-D on an empty continuation line drops the block; a second Ctrl-D (or end of input) leaves.
                if !pending.isEmpty {
                    session.write("\n(block cancelled; Ctrl-D again leaves sskd)\n")
                    pending = []
                    continue
                }
                session.write("\n")
                return 0
            }
            var line = String(cString: raw)
            free(raw)
            if lineCancelled != 0 {
                lineCancelled = 0
                pending = []
            }
            if pending.isEmpty && line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            if pending.isEmpty, let n = REPL.historyReference(line, count: session.history.count) {
                guard n >= 1 && n <= session.history.count else {
                    session.write("sskd: no history entry \(n) (see 'history')\n")
                    continue
                }
                line = session.history[n - 1]
                session.write(line + "\n")
            }
            pending.append(line)
            let input = pending.joined(separator: "\n")
            if Parser.needsContinuation(input) { continue }
            pending = []
            remember(input)
            session.interruptRequested = false
            replState = 2
            let status = session.run(input, name: "<stdin>", recordHistory: false)
            replState = 0
            if case .quit(let code) = status { return code }
        }
    }

    /// The history entry a line asks to rerun: `!N` gives N, `!!` the last entry (`count`, 0 when the history is
    /// empty), leading and trailing blanks ignored; nil for any other line (`!ls` is a shell command).
    static func historyReference(_ line: String, count: Int) -> Int? {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("!") else { return nil }
        let rest = text.dropFirst().trimmingCharacters(in: .whitespaces)
        return rest == "!" ? count : Int(rest)
    }

    /// Adds `input` to the history as `historyEntry(_:)` writes it (nothing when it cannot be one line).
    private func remember(_ input: String) {
        guard let entry = REPL.historyEntry(input) else { return }
        add_history(entry)
        session.history.append(entry)
        if FileManager.default.fileExists(atPath: historyPath) {
            append_history(1, historyPath)
        } else {
            write_history(historyPath)
        }
    }

    /// `input` as one history line (history file lines cannot hold newlines) that runs the same statements: a
    /// single line as typed; a block's tokens with comments and `\` line joins dropped, joined by `; ` where a
    /// newline ends a statement and by a space inside `(`/`[` (`for k in 1..2 {  # twice` / `print k` / `}`
    /// becomes `for k in 1..2 {; print k; }`). Nil for a block with a `!` shell line before its last line (the
    /// shell command runs to the end of its line, so a `;` after it would be part of it).
    public static func historyEntry(_ input: String) -> String? {
        guard input.contains("\n") else { return input }
        var lexer = Lexer(input, source: SourceText(name: "", text: input))
        let tokens = lexer.tokens()
        let chars = Array(input)
        var entry = ""
        var separator: String?
        var depth = 0
        for (i, token) in tokens.enumerated() {
            switch token.kind {
            case .eof:
                return entry
            case .newline:
                if !entry.isEmpty, separator != "; " { separator = depth > 0 || entry.hasSuffix(";") ? " " : "; " }
                continue
            case .shell:
                if tokens[(i + 1)...].contains(where: { ![.newline, .eof].contains($0.kind) }) { return nil }
            case .leftParen, .leftBracket: depth += 1
            case .rightParen, .rightBracket: depth -= 1
            default: break
            }
            if !entry.isEmpty, let gap = separator ?? (token.spaceBefore ? " " : nil) { entry += gap }
            separator = nil
            entry += String(chars[token.start..<token.end])
        }
        return entry
    }

    private func setUpReadline() {
        using_history()
        stifle_history(REPL.historyLimit)
        read_history(historyPath)
        session.history = (0..<history_length).compactMap { i in
            history_get(history_base + i).flatMap { $0.pointee.line.map { String(cString: $0) } }
        }
        completionSession = session
        rl_readline_name = UnsafePointer(strdup("sskd"))
        rl_basic_word_break_characters = UnsafePointer(strdup(Completion.wordBreaks))
        // A `"` opens a quoted word: file names with spaces complete inside it and readline closes the quote.
        rl_completer_quote_characters = UnsafePointer(strdup("\""))
        rl_attempted_completion_function = { text, _, end in
            guard let text, let session = completionSession, let buffer = rl_line_buffer else { return nil }
            let bytes = Array(
                UnsafeBufferPointer(
                    start: UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self),
                    count: Int(end)))
            let line = String(decoding: bytes, as: UTF8.self)
            let result = Completion.complete(session, line: line, word: String(cString: text))
            rl_attempted_completion_over = 1  // never readline's own file names: Completion lists them
            guard !result.candidates.isEmpty else { return nil }
            completionList = result.readlineCandidates
            // File names: readline lists only their last component and adds no space after a folder.
            rl_filename_completion_desired = result.files ? 1 : 0
            rl_filename_quoting_desired = 0
            rl_completion_append_character = result.appendsSpace ? 32 : 0
            return rl_completion_matches(text) { _, state in
                if state == 0 { completionNext = 0 }
                guard completionNext < completionList.count else { return nil }
                completionNext += 1
                return strdup(completionList[completionNext - 1])
            }
        }
        rl_catch_signals = 0
        rl_getc_function = { stream in
            // readline's own rl_getc retries reads interrupted by a signal; this one ends the input after Ctrl-C in
            // `pause`.
            var byte: UInt8 = 0
            while true {
                let n = read(stream.map { fileno($0) } ?? STDIN_FILENO, &byte, 1)
                if n == 1 { return Int32(byte) }
                if n < 0 && errno == EINTR && pauseCancelled == 0 { continue }
                return EOF
            }
        }
        ReadInterruption.isRequested = { Session.stopRequested }  // Ctrl-C stops a long read too
        // SIGHUP (the terminal closed) and SIGTERM end sskd as their default action does, after passing the signal to
        // a running shell command's process group: it runs in its own group, so it would otherwise outlive sskd.
        for sig in [SIGHUP, SIGTERM] {
            signal(sig) { sig in
                if runningShellGroup > 0 { kill(-runningShellGroup, sig) }
                signal(sig, SIG_DFL)
                raise(sig)  // delivered when this handler returns
            }
        }
        signal(SIGINT) { _ in
            switch replState {
            case 1:
                lineCancelled = 1
                _ = write(STDOUT_FILENO, "^C\n", 3)
                rl_set_prompt(mainPrompt)
                rl_on_new_line()
                rl_replace_line("", 0)
                rl_redisplay()
            case 2:
                // First press: stop the command after its current batch. Second: a hint. Ctrl-C never ends sskd.
                interruptFlag += 1
                if interruptFlag == 2 {
                    let hint =
                        "\n(stopping after the current batch; Ctrl-C does not leave sskd: type quit or press Ctrl-D "
                        + "at the prompt)\n"
                    _ = hint.withCString { write(STDERR_FILENO, $0, strlen($0)) }
                }
            case 3:
                interruptFlag = 1
                pauseCancelled = 1
                _ = write(STDOUT_FILENO, "^C\n", 3)
            default:
                break  // between statements: nothing runs, nothing to stop
            }
        }
    }
}
