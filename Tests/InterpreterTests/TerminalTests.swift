import Foundation
import XCTest

@testable import Language

/// Drives the real `sskd` REPL through a pseudo-terminal (tmux): prompt, tab completion of a command name,
/// line editing, history recall, continuation prompt, Ctrl-C (at the prompt and in `pause`), `!N`, a commented block
/// kept in the history, Ctrl-D on a continuation line (cancels the block) and at the prompt, `!COMMAND` and the
/// persistent history file.
final class TerminalTests: XCTestCase {
    private var socket = "sskd-test-\(getpid())"

    /// Runs tmux through `/bin/sh` with posix_spawn and waitpid (Foundation's Process waits for every inheritor of
    /// its monitoring descriptors, which includes the tmux server daemon); returns what it printed.
    @discardableResult
    private func tmux(_ arguments: [String]) throws -> String {
        let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket).out").path
        defer { try? FileManager.default.removeItem(atPath: outputFile) }
        let quoted = (["tmux", "-L", socket, "-f", "/dev/null"] + arguments).map {
            "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        let command = quoted.joined(separator: " ") + " </dev/null >\(outputFile) 2>/dev/null"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
        defer { for a in argv { free(a) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { throw XCTSkip("cannot spawn /bin/sh") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
    }

    private func screen() throws -> [String] {
        try tmux(["capture-pane", "-p", "-t", "repl"]).split(separator: "\n").map {
            String($0).replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
    }

    /// Waits up to 5 s until `condition` holds for the screen.
    private func waitFor(_ what: String, _ condition: ([String]) -> Bool) throws {
        for _ in 0..<100 {
            if condition(try screen()) { return }
            usleep(50_000)
        }
        XCTFail("timed out waiting for \(what); screen:\n" + (try screen()).joined(separator: "\n"))
    }

    private func keys(_ keys: String...) throws { try tmux(["send-keys", "-t", "repl"] + keys) }

    func testREPLThroughAPseudoTerminal() throws {
        let binary = try CommandLineTests.binary()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            throw XCTSkip("tmux is not installed (apt-get install tmux); the pseudo-terminal REPL test needs it")
        }
        let history = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-history-\(getpid())").path
        try? FileManager.default.removeItem(atPath: history)
        defer {
            _ = try? tmux(["kill-server"])
            try? FileManager.default.removeItem(atPath: history)
        }
        try tmux([
            "new-session", "-d", "-s", "repl", "-x", "100", "-y", "40",
            "env SSKD_HISTORY=\(history) \(binary.path); sleep 30",
        ])
        try waitFor("the prompt") { $0.contains("sskd>") }
        XCTAssertTrue(try screen().first?.hasPrefix("sskd \(Session.version)") ?? false)

        try keys("pri", "Tab")
        try waitFor("completion of 'pri'") { $0.last { $0.hasPrefix("sskd>") } == "sskd> print" }
        try keys("40+2", "Enter")
        try waitFor("42") { $0.contains("42") }

        try keys("print 45", "Left", "9", "Enter")
        try waitFor("edited line") { $0.contains("495") }
        try keys("Up", "Enter")
        try waitFor("recalled line") { $0.filter { $0 == "495" }.count == 2 }

        try keys("for k in 7..8 {", "Enter")
        try waitFor("continuation prompt") { $0.contains("...>") }
        try keys("print k", "Enter", "}", "Enter")
        try waitFor("loop output") { $0.contains("7") && $0.contains("8") }

        try keys("print 111", "C-c")
        try keys("print 3", "Enter")
        try waitFor("output after Ctrl-C") { $0.contains("3") }
        XCTAssertFalse(try screen().contains { $0.contains("error") }, "Ctrl-C did not cancel the line")

        try keys("!1", "Enter")
        try waitFor("!1 rerun") { $0.filter { $0 == "42" }.count == 2 }

        // Ctrl-C ends `pause` (the rest of the line does not run); Ctrl-C at the prompt never leaves sskd.
        try keys("pause \"waiting\"; print \"after\"", "Enter")
        try waitFor("pause prompt") { $0.contains { $0.hasPrefix("waiting") } }
        try keys("C-c")
        try waitFor("pause interrupted") { $0.contains { $0.hasSuffix("error: interrupted") } }
        for _ in 0..<3 {
            try keys("C-c")
            usleep(100_000)
        }
        try keys("print 77", "Enter")
        try waitFor("output after three Ctrl-C at the prompt") { $0.contains("77") }
        XCTAssertFalse(try screen().contains("after"), "the statement after the interrupted pause did not run")

        // A block with a comment is kept in the history as one equivalent line, and !N reruns it.
        try keys("for k in 5..6 {  # eleven times k", "Enter")
        try waitFor("continuation prompt of the commented block") { $0.last { !$0.isEmpty } == "...>" }
        try keys("print k * 11", "Enter", "}", "Enter")
        try waitFor("commented block output") { $0.contains("55") && $0.contains("66") }
        try keys("history 2", "Enter")
        try waitFor("the block in history") { $0.contains("    9  for k in 5..6 {; print k * 11; }") }
        try keys("!9", "Enter")
        try waitFor("!9 rerun of the block") { $0.filter { $0 == "66" }.count == 2 }

        // Ctrl-D on an empty continuation line cancels the block; the session stays.
        try keys("for k in 1..2 {", "Enter")
        try waitFor("continuation prompt") { $0.last { !$0.isEmpty } == "...>" }
        try keys("C-d")
        try waitFor("block cancelled") { $0.contains("(block cancelled; Ctrl-D again leaves sskd)") }
        try keys("!echo shell-$((6 * 7))", "Enter")
        try waitFor("shell output") { $0.contains("shell-42") }

        try keys("C-d")
        for _ in 0..<100 where !((try? String(contentsOfFile: history, encoding: .utf8))?.contains("print 3") ?? false)
        {
            usleep(50_000)
        }
        let saved = try String(contentsOfFile: history, encoding: .utf8)
        XCTAssertEqual(
            saved.split(separator: "\n").map(String.init),
            [
                "print 40+2", "print 495", "print 495", "for k in 7..8 {; print k; }", "print 3", "print 40+2",
                "pause \"waiting\"; print \"after\"", "print 77", "for k in 5..6 {; print k * 11; }", "history 2",
                "for k in 5..6 {; print k * 11; }", "!echo shell-$((6 * 7))",
            ])
    }
}
