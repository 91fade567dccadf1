import Foundation
import Storage

/// How a shell command line run by `Session.runShell(_:)` ended.
public enum ShellOutcome: Equatable {
    /// It exited with this status (0 is success).
    case exited(Int32)
    /// A signal ended it (`kill -9`, or Ctrl-C through the terminal).
    case signalled(Int32)
}

/// The process group of the shell command running now (its `/bin/sh` is the group leader), 0 when none. The
/// REPL's SIGHUP/SIGTERM handlers signal this group before sskd exits, so that closing the terminal or
/// terminating sskd does not leave the command running as an orphan.
nonisolated(unsafe) var runningShellGroup: pid_t = 0

extension Session {
    /// The bytes of one shell command's output kept in the session's cell (and so in notebooks): 1 MiB. Output
    /// past it is still shown (and the pipe drained) but only a note saying how much was cut is kept.
    public static let shellOutputKept = 1 << 20
    /// A shell output line without a newline is shown once it reaches this many bytes (64 KiB), so a command that
    /// never ends a line (`head -c 30000000 /dev/zero`) is shown as it runs and held in bounded memory.
    public static let shellLineFlush = 1 << 16
    /// Seconds between two states of a line redrawn with carriage returns (`\r`, progress bars) shown while the
    /// command runs.
    public static let shellRedrawInterval: TimeInterval = 1
    /// The longest command line, in bytes, after `$NAME` expansion: Linux's limit on one argument of a new program
    /// (MAX_ARG_STRLEN, 32 pages of 4 KiB, less the final NUL), which `/bin/sh -c LINE` must respect.
    public static let shellLineLimit = 131_071

    /// Runs `command` with `/bin/sh -c` in the working folder, as IPython's and gnuplot's `!COMMAND` do: standard
    /// input is empty (`/dev/null`, so a command waiting for input cannot hang the session), standard output and
    /// errors are shown through `write` as they arrive (`ShellOutputLines`: whole lines per read, control
    /// characters escaped with `Storage.printableMessage`, carriage-return redraws shown as their latest state,
    /// the cell keeping the first `shellOutputKept` bytes).
    ///
    /// The command runs in its own process group, recorded in `runningShellGroup` while it runs. Ctrl-C or a
    /// termination signal sends that group SIGTERM, then SIGKILL after 2 s, and what it printed so far is kept;
    /// the stop is noticed while the output pipe is open and after it closed (a command that closed its output
    /// and keeps running). When the group is gone (killed, or ended) but the pipe stays open, held by a process
    /// that left the group (`setsid sleep 25 &`), sskd stops reading after 0.5 s and does not wait for it.
    /// - Returns: how the command ended.
    /// - Throws: `SessionInterrupted` when Ctrl-C or a signal stopped it; `ShellError` when the shell cannot be
    ///   started.
    public func runShell(_ command: String) throws -> ShellOutcome {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw ShellError(reason: "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, sig) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, environ)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw ShellError(reason: "cannot start /bin/sh: \(String(cString: strerror(spawned)))")
        }
        runningShellGroup = pid
        defer { runningShellGroup = 0 }
        var lines = ShellOutputLines(session: self)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var pipeOpen = true
        var reaped = false
        var status: Int32 = 0
        var stoppedAt: Date?
        var killedAt: Date?
        var groupGoneAt: Date?
        func closePipe() {
            close(fds[0])
            pipeOpen = false
        }
        while pipeOpen || !reaped {
            if !reaped {
                let waited = waitpid(pid, &status, WNOHANG)
                if waited == pid || (waited < 0 && errno == ECHILD) { reaped = true }
            }
            if Session.stopRequested, stoppedAt == nil {
                kill(-pid, SIGTERM)
                stoppedAt = Date()
            }
            if let stoppedAt {
                let now = Date()
                if killedAt == nil, now.timeIntervalSince(stoppedAt) > 2 {
                    kill(-pid, SIGKILL)
                    killedAt = now
                }
                if groupGoneAt == nil, reaped, kill(-pid, 0) != 0 { groupGoneAt = now }
                // Only a process outside the group can still hold the pipe: stop reading, do not wait for it.
                if pipeOpen, let since = groupGoneAt ?? killedAt, now.timeIntervalSince(since) > 0.5 { closePipe() }
            }
            guard pipeOpen else {
                if !reaped { usleep(20_000) }
                continue
            }
            var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready < 0 && errno != EINTR {
                closePipe()
                continue
            }
            if ready <= 0 { continue }
            let count = read(fds[0], &buffer, buffer.count)
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if count <= 0 {
                closePipe()  // every writer closed its end
                continue
            }
            lines.append(buffer[..<count])
        }
        lines.finish()
        if stoppedAt != nil {
            interruptRequested = false
            throw SessionInterrupted()
        }
        return status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    }
}

/// Turns the bytes a shell command prints into session output, fast and in bounded memory: each read's whole
/// lines are written at once (one `write`, escaped by `Storage.printableMessage` unless they are plain ASCII); a
/// line redrawn with `\r` (a progress bar) shows its final state, as a terminal would, and while it runs its
/// latest state at most once per `Session.shellRedrawInterval`; a line longer than `Session.shellLineFlush` bytes
/// without a newline is shown in pieces of that size. The session's cell keeps the first
/// `Session.shellOutputKept` bytes; later output goes only to the output sink, and `finish()` notes the cut.
struct ShellOutputLines {
    let session: Session
    /// The current line so far: from its last `\r` when it was redrawn.
    private var pending: [UInt8] = []
    /// The state of the current line that a redraw already showed (not shown again when the line ends so).
    private var shownState: [UInt8]?
    private var lastRedraw = Date.distantPast
    private var kept = 0
    private var cut = 0

    init(session: Session) { self.session = session }

    /// Adds bytes read from the command and shows the lines they complete.
    mutating func append(_ bytes: ArraySlice<UInt8>) {
        pending.append(contentsOf: bytes)
        var out: [UInt8] = []
        // The complete lines: copied at once when none holds a `\r` (and no redraw is on screen), else line by line.
        var lineStart = 0
        let lastNewline = pending.lastIndex(of: 10)  // scanned from the end: the last line is short
        var returns = false
        if let lastNewline {
            returns = pending.withUnsafeBufferPointer {
                $0.baseAddress.map { memchr($0, 13, lastNewline) != nil } ?? false
            }
        }
        if let lastNewline {
            if !returns && shownState == nil {
                out += pending[...lastNewline]
            } else {
                for end in pending[...lastNewline].indices where pending[end] == 10 {
                    addLine(pending[lineStart..<end], to: &out)
                    lineStart = end + 1
                }
            }
            lineStart = lastNewline + 1
        }
        pending.removeFirst(lineStart)
        if let lastReturn = pending.lastIndex(of: 13) {
            // A redrawn line: its state is the text between its last two `\r`; older states are dropped.
            let previous = pending[..<lastReturn].lastIndex(of: 13).map { $0 + 1 } ?? 0
            let state = Array(pending[previous..<lastReturn])
            if !state.isEmpty, state != shownState, Date().timeIntervalSince(lastRedraw) >= Session.shellRedrawInterval
            {
                out += state + [10]
                shownState = state
                lastRedraw = Date()
            }
            pending.removeFirst(lastReturn)
        }
        while pending.count >= Session.shellLineFlush {
            let end = ShellOutputLines.characterBoundary(pending[..<Session.shellLineFlush])
            out += pending[..<end].filter { $0 != 13 } + [10]
            pending.removeFirst(end)
            shownState = nil
        }
        show(out)
    }

    /// Shows the last line (one without a final newline) and, when the cell's share was used up, how much of the
    /// output the session did not keep.
    mutating func finish() {
        if !pending.isEmpty {
            var out: [UInt8] = []
            addLine(pending[...], to: &out)
            pending = []
            show(out)
        }
        if cut > 0 {
            session.write(
                "(the session keeps the first \(Session.shellOutputKept >> 20) MiB of a shell command's output: "
                    + "\(counted(cut, "more byte")) were shown but not kept)\n")
        }
    }

    /// Appends `line` (without its newline) and a newline to `out`: a final `\r` (CRLF) dropped, and for a line
    /// redrawn with `\r` only the text after the last one, as the terminal would show it.
    private mutating func addLine(_ raw: ArraySlice<UInt8>, to out: inout [UInt8]) {
        var line = raw
        while line.last == 13 { line = line.dropLast() }
        if let lastReturn = line.lastIndex(of: 13) { line = line[(lastReturn + 1)...] }
        defer { shownState = nil }
        if let shownState, !line.isEmpty, line.elementsEqual(shownState) { return }
        out += line
        out.append(10)
    }

    /// The length of the longest prefix of `bytes` (a slice starting at 0) that does not end inside a UTF-8
    /// sequence.
    static func characterBoundary(_ bytes: ArraySlice<UInt8>) -> Int {
        var start = bytes.count
        while start > 0, bytes.count - start < 4, bytes[start - 1] & 0xC0 == 0x80 { start -= 1 }
        guard start > 0 else { return bytes.count }
        let lead = bytes[start - 1]
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return bytes.count - (start - 1) < length ? start - 1 : bytes.count
    }

    /// Writes `bytes` (whole lines) through the session, control characters escaped; past the cell's share, to
    /// the output sink only.
    private mutating func show(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let plain = bytes.withUnsafeBufferPointer { all in
            for byte in all where byte < 0x20 || byte >= 0x7F {
                if byte != 10 && byte != 9 { return false }
            }
            return true
        }
        let raw = String(decoding: bytes, as: UTF8.self)
        var text = plain ? raw : printableMessage(String(raw.dropLast()), lineLimit: .max) + "\n"
        if kept < Session.shellOutputKept {
            let utf8 = Array(text.utf8)
            guard kept + utf8.count > Session.shellOutputKept else {
                kept += utf8.count
                session.write(text)
                return
            }
            // Whole lines up to the share stay in the cell; the rest, and all later output, is only shown.
            let end = utf8[..<(Session.shellOutputKept - kept)].lastIndex(of: 10).map { $0 + 1 } ?? 0
            if end > 0 { session.write(String(decoding: utf8[..<end], as: UTF8.self)) }
            kept = Session.shellOutputKept
            text = String(decoding: utf8[end...], as: UTF8.self)
        }
        cut += text.utf8.count
        session.output.write(text)
    }
}

extension Session {
    /// `line` (a `!LINE` as written) with each `$NAME` of a name bound in the session (`$k`, `$ans`, a script's
    /// `$1`) replaced by `shellText(of:)` of its value, as IPython's `!echo $x` does: once, left to right (an
    /// inserted value is not scanned again). A backslash keeps the character after it as written, both going to
    /// the shell (`\$k` stays `\$k`, which the shell prints as `$k`); `$NAME` of an unbound name (`$HOME`, `$$`)
    /// is left for the shell. Values are inserted unquoted, as IPython does: a value with spaces or shell
    /// characters is split and interpreted by the shell (quote it in the line: `!ls "$dir"`).
    /// - Throws: `ShellError` when a value holds a NUL character, or the line grows past `shellLineLimit` bytes
    ///   (naming the value).
    public func expandingBoundNames(in line: String) throws -> String {
        var out = ""
        var chars = line[...]
        while let c = chars.popFirst() {
            if c == "\\", let next = chars.popFirst() {
                out.append(c)
                out.append(next)
                continue
            }
            let name = c == "$" ? String(chars.prefix { $0.isLetter || $0 == "_" || ($0.isASCII && $0.isNumber) }) : ""
            guard !name.isEmpty, let value = lookup(name) else {
                out.append(c)
                continue
            }
            chars = chars.dropFirst(name.count)
            var budget = Session.shellLineLimit - out.utf8.count
            let text: String
            do { text = try Session.shellText(of: value, budget: &budget) } catch let error as ShellError {
                throw ShellError(reason: "cannot insert $\(name) in the command line: \(error.reason)")
            }
            guard !text.utf8.contains(0) else {
                throw ShellError(
                    reason: "cannot insert $\(name) in the command line: it holds a NUL character, which would cut "
                        + "the line there")
            }
            out += text
        }
        return out
    }

    /// How `$NAME` shows `value` in a shell command line: a string as it is, a number exactly (shortest
    /// round-trip form, `3.141592653589793`, as `save session` writes it), `true`/`false`, `none`, an object by its
    /// summary, a list in full as `[1, 2.5, "a"]` (strings quoted as in source).
    /// - Throws: `ShellError` when the text would take more than `budget` bytes (a long list is never shortened).
    static func shellText(of value: Value, budget: inout Int) throws -> String {
        let text: String
        switch value {
        case .string(let s): text = s
        case .number(let d): text = Value.format(d)
        case .bool(let b): text = b ? "true" : "false"
        case .none: text = "none"
        case .object(let o): text = o.summary
        case .list(let items):
            var parts: [String] = []
            budget -= 2
            for item in items {
                let part: String
                if case .string(let s) = item {
                    part = "\"" + Value.escapedForSource(s) + "\""
                    budget -= part.utf8.count
                } else if let text = try? shellText(of: item, budget: &budget) {
                    part = text
                } else {
                    budget = -1
                    part = ""
                }
                budget -= parts.isEmpty ? 0 : 2
                guard budget >= 0 else {
                    throw ShellError(
                        reason: "a list of \(counted(items.count, "item")) is too long for a command line (at most "
                            + "\(shellLineLimit) bytes)")
                }
                parts.append(part)
            }
            return "[" + parts.joined(separator: ", ") + "]"
        }
        budget -= text.utf8.count
        guard budget >= 0 else {
            throw ShellError(
                reason: "its \(value.typeName) value is too long for a command line (at most \(shellLineLimit) bytes)")
        }
        return text
    }

    /// Refuses a command line that `/bin/sh -c` cannot receive whole: one holding a NUL character (the shell would
    /// see it cut there, `shell "echo A\0; touch X"` running only `echo A`) or longer than `shellLineLimit`
    /// bytes.
    /// - Throws: `ShellError` saying which.
    public static func checkShellLine(_ line: String) throws {
        if line.utf8.contains(0) {
            throw ShellError(
                reason: "a shell command line cannot hold a NUL character (the shell would see the line cut there)")
        }
        if line.utf8.count > shellLineLimit {
            throw ShellError(
                reason: "the shell command line has \(line.utf8.count) bytes; at most \(shellLineLimit) fit")
        }
    }
}

/// The shell could not be started (no pipe, no `/bin/sh`), or the command line cannot be given to it.
public struct ShellError: Error, CustomStringConvertible {
    /// Why, with the system's reason.
    public let reason: String
    /// The reason.
    public var description: String { reason }
}
