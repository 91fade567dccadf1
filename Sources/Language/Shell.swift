import Foundation
import Storage

/// How a shell command line run by `Session.runShell(_:)` ended.
public enum ShellOutcome: Equatable {
    /// It exited with this status (0 is success).
    case exited(Int32)
    /// A signal ended it (`kill -9`, or Ctrl-C through the terminal).
    case signalled(Int32)
}

extension Session {
    /// Runs `command` with `/bin/sh -c` in the working folder, as IPython's and gnuplot's `!COMMAND` do: standard
    /// input is empty (`/dev/null`, so a command waiting for input cannot hang the session), standard output and
    /// errors are shown through `write` (so cells and notebooks keep them) line by line as they arrive, control
    /// characters escaped (`Storage.printableMessage`). The command runs in its own process group; Ctrl-C or a
    /// termination signal sends that group SIGTERM, then SIGKILL after 2 s, and what it printed so far is kept.
    /// - Returns: how the command ended.
    /// - Throws: `SessionInterrupted` when Ctrl-C or a signal stopped it; `InterpreterError`-free `ShellError`
    ///   when the shell cannot be started.
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
        var pending: [UInt8] = []
        func flush(all: Bool) {
            while let newline = pending.firstIndex(of: 10) {
                print(printableMessage(String(decoding: pending[..<newline], as: UTF8.self), lineLimit: .max))
                pending.removeSubrange(...newline)
            }
            if all, !pending.isEmpty {
                print(printableMessage(String(decoding: pending, as: UTF8.self), lineLimit: .max))
                pending = []
            }
        }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        var stoppedAt: Date?
        var killed = false
        while true {
            if Session.stopRequested, stoppedAt == nil {
                kill(-pid, SIGTERM)
                stoppedAt = Date()
            }
            if let stoppedAt, !killed, Date().timeIntervalSince(stoppedAt) > 2 {
                kill(-pid, SIGKILL)
                killed = true
            }
            let ready = poll(&poller, 1, 100)
            if ready < 0 && errno != EINTR { break }
            if ready <= 0 { continue }
            let count = read(fds[0], &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }  // every writer closed its end: the command and its children are done
            pending += buffer[..<count]
            flush(all: false)
        }
        flush(all: true)
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if stoppedAt != nil {
            interruptRequested = false
            throw SessionInterrupted()
        }
        return status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    }
}

extension Session {
    /// `line` with each `$NAME` of a name bound in the session (`$k`, `$ans`, a script's `$1`) replaced by the value
    /// as `print` shows it, as IPython's `!echo $x` does; a `$` after a backslash, and `$NAME` of an unbound name
    /// (`$HOME`, `$$`), are left for the shell.
    public func expandingBoundNames(in line: String) -> String {
        var out = ""
        var chars = line[...]
        while let c = chars.popFirst() {
            guard c == "$", out.last != "\\" else {
                out.append(c)
                continue
            }
            let name = chars.prefix { $0.isLetter || $0 == "_" || ($0.isASCII && $0.isNumber) }
            if !name.isEmpty, let value = lookup(String(name)) {
                out += value.display
                chars = chars.dropFirst(name.count)
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// The shell could not be started (no pipe, no `/bin/sh`).
public struct ShellError: Error, CustomStringConvertible {
    /// Why, with the system's reason.
    public let reason: String
    /// The reason.
    public var description: String { reason }
}
