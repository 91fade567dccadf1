import Foundation
import Storage
import TestSupport
import XCTest

@testable import Language

/// The second round on shell commands and paths: Ctrl-C and signals while a command runs (F1-F3), `$NAME`
/// expansion (F8), output handling (F9), `--notebook` and `cd` paths (F4, F7), the replay header after a failed cell
/// (F6), unquoted paths (F15), CRLF and a deleted working folder (F14), file-name completion (F13).
final class ShellFixTests: XCTestCase {
    /// A fresh temporary folder, removed after the test.
    private func folder(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Runs `text` in a test session, with Ctrl-C pressed after `ctrlCAfter` seconds when given; returns the output
    /// lines and the seconds it took.
    private func run(_ text: String, ctrlCAfter: Double? = nil) -> (lines: [String], seconds: Double, session: Session)
    {
        let sink = CaptureSink()
        let session = testSession(sink)
        if let ctrlCAfter { DispatchQueue.global().asyncAfter(deadline: .now() + ctrlCAfter) { interruptFlag = 1 } }
        let start = Date()
        session.run(text, name: "t")
        interruptFlag = 0
        return (sink.lines, Date().timeIntervalSince(start), session)
    }

    /// Whether process `pid` still runs (a zombie waiting for its parent to reap it counts as ended).
    private func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].hasPrefix(") Z")
    }

    // MARK: F1-F3: stopping a shell command

    /// F1: Ctrl-C stops a command that closed its output and keeps running, at once; one that ignores SIGTERM too,
    /// after the SIGKILL 2 s later.
    func testCtrlCStopsACommandThatClosedItsOutput() {
        let quiet = run("!exec >/dev/null 2>&1; sleep 30", ctrlCAfter: 0.5)
        XCTAssertLessThan(quiet.seconds, 5)
        XCTAssertEqual(quiet.lines, ["error: 1:1: interrupted"])
        let stubborn = run("!trap '' TERM; exec >/dev/null 2>&1; sleep 30", ctrlCAfter: 0.5)
        XCTAssertGreaterThan(stubborn.seconds, 2)
        XCTAssertLessThan(stubborn.seconds, 6)
        XCTAssertEqual(stubborn.lines, ["error: 1:1: interrupted"])
    }

    /// F2: a process that left the command's group but holds its output pipe does not keep sskd waiting after
    /// Ctrl-C.
    func testCtrlCDoesNotWaitForAnEscapedProcessHoldingThePipe() throws {
        let dir = try folder("escaped")
        let pidFile = dir.appendingPathComponent("escaped.pid").path
        let result = run("!setsid sleep 25 & echo $! > \(pidFile)", ctrlCAfter: 0.5)
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = pid_t(text.trimmed) {
            kill(pid, SIGKILL)
        }
        XCTAssertLessThan(result.seconds, 5)
        XCTAssertEqual(result.lines, ["error: 1:1: interrupted"])
    }

    /// F1 and F3 in a script: SIGTERM stops sskd (status 143) at once, with its shell command, even when the
    /// command closed its output.
    func testSIGTERMStopsAScriptAndItsShellCommand() throws {
        let dir = try folder("term-shell")
        let process = Process()
        process.executableURL = try CommandLineTests.binary()
        process.arguments = ["-c", "!exec >/dev/null 2>&1; echo $$ > shell.pid; exec sleep 30"]
        process.currentDirectoryURL = dir
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let pid = try waitForPID(dir.appendingPathComponent("shell.pid"))
        kill(process.processIdentifier, SIGTERM)
        let sent = Date()
        process.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(sent), 5)
        XCTAssertEqual(process.terminationStatus, 143)
        XCTAssertFalse(isRunning(pid), "the shell command outlived sskd")
    }

    /// F3: closing the REPL's terminal (SIGHUP) ends sskd as before (killed by SIGHUP) and the running shell command
    /// with it; the command runs in its own process group, which the terminal's SIGHUP does not reach.
    func testSIGHUPToTheREPLEndsItsShellCommand() throws {
        let dir = try folder("hup-shell")
        // A pseudo-terminal: Linux's /dev/ptmx, unlocked (TIOCSPTLCK) and numbered (TIOCGPTN) by ioctl.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0, ioctl(master, UInt(0x4004_5431), &unlock) == 0,
            ioctl(master, UInt(0x8004_5430), &number) == 0
        else { throw XCTSkip("no pseudo-terminal") }
        defer { close(master) }
        let terminal = FileHandle(forUpdatingAtPath: "/dev/pts/\(number)")
        guard let terminal else { throw XCTSkip("cannot open the pseudo-terminal") }
        let process = Process()
        process.executableURL = try CommandLineTests.binary()
        process.currentDirectoryURL = dir
        process.environment = ["SSKD_HISTORY": dir.appendingPathComponent("history").path, "TERM": "dumb"]
        process.standardInput = terminal
        process.standardOutput = terminal
        process.standardError = terminal
        try process.run()
        let line = "!echo $$ > shell.pid; exec sleep 30\n"
        _ = line.withCString { write(master, $0, strlen($0)) }
        let drain = DispatchWorkItem {
            var byte = [UInt8](repeating: 0, count: 4096)
            while read(master, &byte, byte.count) > 0 {}
        }
        DispatchQueue.global().async(execute: drain)
        let pid = try waitForPID(dir.appendingPathComponent("shell.pid"))
        kill(process.processIdentifier, SIGHUP)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(process.terminationStatus, SIGHUP)
        let start = Date()
        while isRunning(pid) && Date().timeIntervalSince(start) < 3 { usleep(20_000) }
        XCTAssertFalse(isRunning(pid), "the shell command outlived the REPL")
        if isRunning(pid) { kill(pid, SIGKILL) }
    }

    /// The process id written to `file` once it appears (within 30 s).
    private func waitForPID(_ file: URL) throws -> pid_t {
        let start = Date()
        while Date().timeIntervalSince(start) < 30 {
            if let text = try? String(contentsOf: file, encoding: .utf8), let pid = pid_t(text.trimmed) { return pid }
            usleep(20_000)
        }
        throw XCTSkip("the shell command did not start")
    }

    // MARK: F8: $NAME expansion

    /// Values are inserted once, left to right, exactly (numbers in their shortest round-trip form, lists in full);
    /// `\$` keeps a name for the shell in both forms; a value ending in `\` does not hide the next name.
    func testExpansionIsExactAndHappensOnce() {
        let result = run(
            """
            pi = 3.141592653589793
            !echo $pi
            y = "SECRET"
            x = "\\$y"
            shell "echo '$x'"
            !echo '$x'
            shell "echo '\\$y'"
            b = "a\\\\"
            k = 1
            !printf '%s\\n' '$b$k'
            l = [1, 2.5, "a b", [true]]
            !echo '$l'
            """)
        XCTAssertEqual(result.lines, ["3.141592653589793", "$y", "$y", "$y", "a\\1", "[1, 2.5, \"a b\", [true]]"])
    }

    /// A NUL in the line or in a value, and a list too long for a command line, are refused before anything runs.
    func testNULAndOverlongValuesAreRefused() throws {
        let dir = try folder("nul")
        let marker = dir.appendingPathComponent("X").path
        let result = run(
            """
            shell "echo A\\0; touch \(marker)"
            z = "a\\0b"
            !echo $z; touch \(marker)
            big = 1..100000
            !echo $big; touch \(marker)
            """)
        XCTAssertEqual(
            result.lines,
            [
                "error: 1:1: a shell command line cannot hold a NUL character (the shell would see the line cut there)"
            ])
        let sink = CaptureSink()
        let session = testSession(sink)
        session.keepGoing = true
        session.run(
            "z = \"a\\0b\"\n!echo $z; touch \(marker)\nbig = 1..100000\n!echo $big; touch \(marker)", name: "t")
        XCTAssertEqual(
            sink.lines,
            [
                "error: 2:1: cannot insert $z in the command line: it holds a NUL character, which would cut the "
                    + "line there",
                "error: 4:1: cannot insert $big in the command line: a list of 100000 items is too long for a command "
                    + "line (at most 131071 bytes)",
            ])
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    // MARK: F9: output

    /// Long lines without a newline are shown in 64 KiB pieces; CRLF ends a line; a line redrawn with `\r` shows its
    /// final state (and, while it runs, its latest state at most once a second).
    func testOutputLinesPiecesAndRedraws() {
        XCTAssertEqual(
            run("!head -c 200000 /dev/zero | tr '\\0' 'a'").lines.map(\.count), [65_536, 65_536, 65_536, 3_392])
        XCTAssertEqual(run("!printf 'a\\r\\nb\\r\\n'").lines, ["a", "b"])
        XCTAssertEqual(run("!printf '10%%\\r50%%\\r100%%\\n'").lines, ["100%"])
        XCTAssertEqual(
            run("!printf 'step 1\\r'; sleep 0.3; printf 'step 2\\r'; sleep 0.3; printf 'finished\\n'").lines,
            ["step 1", "finished"])
    }

    /// The cell keeps the first MiB of a command's output (whole lines) and a note; the rest is still shown.
    func testTheCellKeepsTheFirstMiB() {
        let sink = CaptureSink()
        let session = testSession(sink)
        let start = Date()
        session.run("!yes 123456789 | head -c 3000000", name: "t")
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
        let note =
            "(the session keeps the first 1 MiB of a shell command's output: 1951430 more bytes were shown but not "
            + "kept)\n"
        XCTAssertEqual(sink.text.utf8.count, 3_000_000 + note.utf8.count)
        XCTAssertTrue(sink.text.hasSuffix("123456789\n" + note))
        let cell = session.cells[0].output
        XCTAssertEqual(cell.utf8.count, 1_048_570 + note.utf8.count)
        XCTAssertTrue(cell.hasSuffix("123456789\n" + note))
    }

    // MARK: F4, F7, F6: paths of notebooks and saved sessions

    private func sskd(_ arguments: [String], in dir: URL) throws -> (out: String, err: String, code: Int32) {
        try runSeparate(try CommandLineTests.binary(), arguments, in: dir)
    }

    /// F4: `--notebook FILE` is where it was named at startup, whatever `cd` does; a folder (or a trailing `/`) is a
    /// usage error before anything runs.
    func testNotebookPathIsFixedAtStartup() throws {
        let dir = try folder("nb-path")
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let ran = try sskd(["--notebook", "out1.ipynb", "-c", "cd \"sub\"\nprint 1"], in: dir)
        XCTAssertEqual(ran.code, 0, ran.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out1.ipynb").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("sub/out1.ipynb").path))
        let slash = try sskd(["--notebook", "xdir.ipynb/", "-c", "print 1"], in: dir)
        XCTAssertEqual(slash.code, 64)
        XCTAssertEqual(slash.out, "")
        XCTAssertTrue(slash.err.contains("--notebook: 'xdir.ipynb/' names a folder"), slash.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("xdir.ipynb").path))
        let existing = try sskd(["--notebook", "sub", "-c", "print 1"], in: dir)
        XCTAssertEqual(existing.code, 64)
        XCTAssertTrue(existing.err.contains("--notebook: 'sub' names a folder"), existing.err)
    }

    /// F7: a session that ran `cd` saves a script that starts where the session started, so it replays from its
    /// own folder (or anywhere).
    func testSavedSessionWithCdReplays() throws {
        let dir = try folder("cd-save").resolvingSymlinksInPath()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("d1"), withIntermediateDirectories: true)
        let saved = FileManager.default.currentDirectoryPath
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        _ = FileManager.default.changeCurrentDirectoryPath(dir.path)
        let result = run("cd \"d1\"\n!echo made > made.txt\nsave session \"s2.sskd\"")
        XCTAssertEqual(result.lines, ["saved 2 statements to s2.sskd"])
        let script = try String(contentsOf: dir.appendingPathComponent("d1/s2.sskd"), encoding: .utf8)
        XCTAssertEqual(
            script,
            "# sskd session; replay with: sskd s2.sskd\n# the session ran 'cd': start where it started\n"
                + "cd \"\(dir.path)\"\ncd \"d1\"\n!echo made > made.txt\n")
        let replay = try sskd(["s2.sskd"], in: dir.appendingPathComponent("d1"))
        XCTAssertEqual(replay.code, 0, replay.err)
    }

    /// F6: when a kept cell failed, the header and the warning say to replay with `--keep-going`.
    func testFailedCellAsksForKeepGoing() throws {
        let dir = try folder("keep-going")
        let path = dir.appendingPathComponent("s.sskd").path
        let sink = CaptureSink()
        let session = testSession(sink)
        session.keepGoing = true
        session.run("for k in 1..2 { x = k; print nosuch }\nsave session \"\(path)\"", name: "t")
        let script = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(script.hasPrefix("# sskd session; replay with: sskd --keep-going \(path)\n"), script)
        XCTAssertTrue(
            sink.lines.contains {
                $0.hasSuffix("; a failed cell stops a script, so replay with: sskd --keep-going \(path)")
            },
            sink.lines.joined(separator: "\n"))
        let interrupted = CaptureSink()
        let other = testSession(interrupted)
        other.keepGoing = true
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { interruptFlag = 1 }
        other.run("x = 1\n!sleep 5\nsave session \"\(path)\"", name: "t")
        interruptFlag = 0
        XCTAssertTrue(
            try String(contentsOfFile: path, encoding: .utf8).hasPrefix("# sskd session; replay with: sskd /"))
    }

    // MARK: F15, F14: unquoted paths, blocks with shell lines, CRLF, a deleted folder

    /// Absolute paths, `..`, `./x` and `../x` need no quotes; `~` is refused clearly; arithmetic is unchanged.
    func testUnquotedRootedPaths() throws {
        let dir = try folder("bare").resolvingSymlinksInPath()
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("a/b"), withIntermediateDirectories: true)
        try "print \"sourced\"\n".write(to: dir.appendingPathComponent("a/x.sskd"), atomically: true, encoding: .utf8)
        let saved = FileManager.default.currentDirectoryPath
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        let result = run(
            """
            cd \(dir.path)/a/b
            pwd
            cd ..
            pwd
            source ./x.sskd
            cd b
            source ../x.sskd
            save session \(dir.path)/work.sskd
            """)
        XCTAssertEqual(
            result.lines,
            [
                "\(dir.path)/a/b", "\(dir.path)/a", "sourced", "sourced", "saved 5 statements to \(dir.path)/work.sskd",
            ])
        XCTAssertEqual(
            run("cd ~").lines,
            [
                "error: 1:4: '~' is not expanded to your home folder here: write the folder's full path "
                    + "(\"/home/me/x\" or /home/me/x), or 'cd' alone to go home"
            ])
        XCTAssertEqual(run("print 10/2 10 / 5").lines, ["5 2"])
    }

    /// A `!` line inside a one-line block takes the `}`: the error says so, and the REPL does not wait for more.
    func testShellLineInsideABlock() {
        XCTAssertEqual(
            run("if true { !echo hi }").lines,
            [
                "error: 1:11: unterminated block: a '!' shell line takes the rest of its line, '}' included; close "
                    + "the block on the next line, or write shell \"COMMAND\" inside a block"
            ])
        XCTAssertFalse(Parser.needsContinuation("if true { !echo hi }"))
        XCTAssertTrue(Parser.needsContinuation("if true {\n  !echo ${HOME}"))
        XCTAssertEqual(run("if true {\n  !echo hi\n}").lines, ["hi"])
    }

    /// F14: CRLF is a line break in printed text; `pwd` in a deleted folder is an error.
    func testCRLFAndDeletedWorkingFolder() throws {
        XCTAssertEqual(printableMessage("a\r\nb\rc\n"), "a\nb\\u{d}c\n")
        XCTAssertEqual(run("print \"a\\r\\nb\"").lines, ["a", "b"])
        let dir = try folder("gone")
        let saved = FileManager.default.currentDirectoryPath
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        _ = FileManager.default.changeCurrentDirectoryPath(dir.path)
        try FileManager.default.removeItem(at: dir)
        XCTAssertEqual(
            run("pwd").lines,
            [
                "error: 1:1: cannot tell the working folder: No such file or directory (was it deleted? 'cd' to "
                    + "another folder)"
            ])
    }

    // MARK: F13: completion

    /// File names that cannot be typed back (control or bidirectional characters, invalid UTF-8) are not offered;
    /// a `$` in a quoted name is escaped.
    func testCompletionLeavesOutNamesThatCannotBeTyped() throws {
        let dir = try folder("names").resolvingSymlinksInPath()
        for name in ["ok.txt", "bad\nname", "evil\u{202E}txt", "a$b"] {
            _ = FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: nil)
        }
        let raw = (Array((dir.path + "/f").utf8) + [0xFF, 0]).map { CChar(bitPattern: $0) }  // not UTF-8
        let fd = open(raw, O_CREAT | O_WRONLY, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)
        XCTAssertEqual(
            Completion.fileCandidates(dir.path + "/").sorted(),
            ["\"\(dir.path)/a\\$b\"", "\"\(dir.path)/ok.txt\""])
    }
}

extension String {
    /// Without blanks and newlines around it.
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
