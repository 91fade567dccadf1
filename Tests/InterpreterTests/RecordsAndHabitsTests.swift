import Foundation
import XCTest

@testable import EngineCommands
@testable import Language

/// Issue 21, items 2 and 7: `save session` keeps statements that changed the session before they stopped, REPL
/// history keeps commented blocks, `quit()`, `cd`/`pwd`, `!COMMAND` and Ctrl-C, keywords inside unquoted paths.
final class RecordsAndHabitsTests: XCTestCase {
    /// A session with `mimicstage K`, a stand-in for `mimic` that records the stages it trained in `trained` and
    /// is stopped by a simulated Ctrl-C when it reaches stage `ctrlCAt`.
    private func mimicSession(_ sink: CaptureSink, ctrlCAt: Int?, trained: @escaping (Int) -> Void) -> Session {
        let session = testSession(sink)
        session.commands.register(
            CommandSpec(
                "mimicstage", summary: "pretend to mimic a stage",
                arguments: [ArgumentSpec("stage", .integer, "the stage")], example: "mimicstage 1",
                returnsValue: false
            ) { inv, s in
                let stage = try inv.int("stage")
                if stage == ctrlCAt {
                    s.interruptRequested = true  // Ctrl-C pressed while this stage trains
                    try s.checkInterrupt()
                }
                trained(stage)
                return .none
            })
        return session
    }

    func testSaveSessionKeepsStatementsThatChangedStateBeforeStopping() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-records-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("work.sskd").path
        let sink = CaptureSink()
        var trained: [Int] = []
        let session = mimicSession(sink, ctrlCAt: 3) { trained.append($0) }
        session.keepGoing = true
        session.run(
            """
            m = testmodel resnet8
            for k in 1..3 { mimicstage k }
            for k in 1..2 { print k; print nope }
            for k in 1..2 { last = k; print nope }
            mimicstage 3
            train m lr=-1
            print "after"
            save session "\(path)"
            """, name: "t.sskd")
        XCTAssertEqual(trained, [1, 2])
        XCTAssertEqual(session.cells.map(\.changedState), [true, true, false, true, true, false, false, true])
        XCTAssertEqual(
            Array(sink.lines.suffix(2)),
            [
                "warning: cells [2], [4], [5] stopped part-way (interrupted or failed) after changing the session; "
                    + "the script runs them in full (marked with a comment), so it may not reproduce this session "
                    + "exactly; a failed cell stops a script, so replay with: sskd --keep-going \(path)",
                "saved 5 statements to \(path)",
            ])
        XCTAssertEqual(
            try String(contentsOfFile: path, encoding: .utf8),
            """
            # sskd session; replay with: sskd --keep-going \(path)
            m = testmodel resnet8
            # cell [2] was interrupted in the original session after changing it; the replay runs it in full
            for k in 1..3 { mimicstage k }
            # cell [4] failed (undefined name 'nope') in the original session after changing it; the replay runs it \
            in full and may stop here again
            for k in 1..2 { last = k; print nope }
            # cell [5] was interrupted in the original session after changing it; the replay runs it in full
            mimicstage 3
            print "after"

            """)
        // The replay trains every stage the interrupted statements had started.
        var replayed: [Int] = []
        let replay = CaptureSink()
        let again = mimicSession(replay, ctrlCAt: nil) { replayed.append($0) }
        again.keepGoing = true
        XCTAssertEqual(try again.runFile(path), .runtimeError)
        XCTAssertEqual(replayed, [1, 2, 3, 3])
        XCTAssertEqual(replay.lines, ["error: 6:33: undefined name 'nope'", "after"])
    }

    /// Without anything that stopped part-way there is no warning, and a statement that failed before changing
    /// anything stays out.
    func testSaveSessionWithoutPartialStatementsHasNoWarning() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-clean-\(getpid()).sskd").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = CaptureSink()
        let session = testSession(sink)
        session.keepGoing = true
        session.run("x = 1\nprint nope\nsave session \"\(path)\"", name: "t")
        XCTAssertEqual(sink.lines.last, "saved 1 statement to \(path)")
        XCTAssertFalse(sink.lines.contains { $0.hasPrefix("warning") })
        XCTAssertEqual(
            try String(contentsOfFile: path, encoding: .utf8), "# sskd session; replay with: sskd \(path)\nx = 1\n")
    }

    /// A block becomes one history line that runs the same statements: comments dropped (a `#` in a string kept),
    /// `\` joins and newlines inside brackets become spaces, statement ends become `; `.
    func testHistoryEntryOfABlockRunsTheSameStatements() {
        let block =
            "for k in 1..2 {   # twice\n  print \"#\" k \\\n    (k + 1)\n  x = [k,\n   k * 2]\n}\nprint x  # done"
        let entry = REPL.historyEntry(block)
        XCTAssertEqual(entry, "for k in 1..2 {; print \"#\" k (k + 1); x = [k, k * 2]; }; print x")
        let original = CaptureSink()
        testSession(original).run(block, name: "t")
        let rerun = CaptureSink()
        testSession(rerun).run(entry ?? "", name: "t")
        XCTAssertEqual(original.lines, ["# 1 2", "# 2 3", "[2, 4]"])
        XCTAssertEqual(rerun.lines, original.lines)
        XCTAssertEqual(REPL.historyEntry("print 1  # one line stays as typed"), "print 1  # one line stays as typed")
        XCTAssertEqual(REPL.historyEntry("a = 1;\nb = 2"), "a = 1; b = 2")
        XCTAssertEqual(REPL.historyEntry("print 1\n!ls"), "print 1; !ls")
        XCTAssertNil(REPL.historyEntry("!ls\nprint 1"), "the shell line would swallow '; print 1'")
    }

    /// `quit()`, `exit()` and `quit(3)` leave as `quit` does; `vars()` runs `vars`.
    func testQuitAndOtherCommandsWithParentheses() {
        for (text, status) in [("exit()", RunStatus.quit(0)), ("quit()", .quit(0)), ("quit(3)", .quit(3))] {
            let sink = CaptureSink()
            XCTAssertEqual(testSession(sink).run("print 1\n\(text)\nprint 2", name: "t"), status, text)
            XCTAssertEqual(sink.lines, ["1"], text)
        }
        let sink = CaptureSink()
        testSession(sink).run("vars()", name: "t")
        XCTAssertEqual(sink.lines, ["(no variables)"])
    }

    /// `cd` changes the folder relative paths start from (and the shell's), `pwd` prints it; a keyword inside an
    /// unquoted path (`1-tensors-and-autograd.sskd`) does not break it.
    func testCdPwdAndUnquotedPathsWithKeywords() throws {
        let saved = FileManager.default.currentDirectoryPath
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-cd-\(getpid())")
        let lessons = dir.appendingPathComponent("sessions/tutorial")
        try FileManager.default.createDirectory(at: lessons, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "print \"lesson 1\"\n".write(
            to: lessons.appendingPathComponent("1-tensors-and-autograd.sskd"), atomically: true, encoding: .utf8)
        let sink = CaptureSink()
        let session = testSession(sink)
        session.keepGoing = true
        session.run(
            """
            cd "\(dir.path)"
            pwd
            source sessions/tutorial/1-tensors-and-autograd.sskd
            cd sessions/tutorial
            !ls
            cd nowhere
            cd 1-tensors-and-autograd.sskd
            """, name: "t")
        let here = FileManager.default.currentDirectoryPath
        XCTAssertTrue(here.hasSuffix("/sskd-cd-\(getpid())/sessions/tutorial"), here)
        XCTAssertEqual(
            sink.lines,
            [
                String(here.dropLast("/sessions/tutorial".count)), "lesson 1", "1-tensors-and-autograd.sskd",
                "error: 6:4: cannot change to 'nowhere': no such folder",
                "error: 7:4: cannot change to '1-tensors-and-autograd.sskd': not a folder",
            ])
        XCTAssertEqual(session.cells.map(\.recorded), [true, false, true, true, true, true, true])
    }

    /// The real lesson 1 runs with its path unquoted, `and` and all.
    func testLessonOneRunsUnquoted() {
        let saved = FileManager.default.currentDirectoryPath
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        _ = FileManager.default.changeCurrentDirectoryPath(packageRoot.path)
        let sink = CaptureSink()
        let status = Session.withEngine(output: sink).run(
            "source sessions/tutorial/1-tensors-and-autograd.sskd", name: "t")
        XCTAssertEqual(status, .ok, sink.lines.filter { $0.hasPrefix("error") }.joined(separator: "\n"))
        XCTAssertEqual(sink.lines.last, "Next: lesson 2, a model and its stages.")
    }

    /// `reset` names what it wiped, the engine's workspace included (`SessionState.summary`).
    func testResetSaysWhatItWiped() {
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        session.run(
            """
            data fashion-mnist limit=200 val=50 seed=1 augment=false
            s = model cnn widths=[8, 16] seed=2
            train s epochs=1 batch=50
            set lr 0.05
            reset
            reset
            """, name: "t")
        XCTAssertEqual(
            Array(sink.lines.suffix(2)),
            [
                "reset: forgot 1 name (s); restored 1 option (lr) to the default; dropped data fashion-mnist, 1 run "
                    + "of 1 model",
                "reset: nothing to forget (no names; options at their defaults)",
            ])
    }

    /// `reset` restores the options the command line set (`sskd --seed 5`), not the declared defaults, and says so.
    func testResetKeepsTheCommandLineOptions() {
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertNil(session.options.set("seed", .number(5)))
        session.options.keepCurrentValuesForReset()
        session.run("set seed 7\nset lr 0.05\nreset\nshow seed", name: "t")
        XCTAssertEqual(
            Array(sink.lines.suffix(2)),
            [
                "reset: restored 2 options (seed, lr) to the default or the command line's value",
                "seed = 5",
            ])
    }

    /// `!N`, `  !N ` and `!!` name history entries (the last for `!!`); other `!` lines are shell commands.
    func testHistoryReferences() {
        XCTAssertEqual(REPL.historyReference("!3", count: 5), 3)
        XCTAssertEqual(REPL.historyReference("  !24 ", count: 30), 24)
        XCTAssertEqual(REPL.historyReference("!!", count: 5), 5)
        XCTAssertEqual(REPL.historyReference("! !", count: 5), 5)
        XCTAssertNil(REPL.historyReference("!ls", count: 5))
        XCTAssertNil(REPL.historyReference("print 1", count: 5))
        let sink = CaptureSink()
        let session = Session.standard(output: sink)
        session.keepGoing = true
        session.run("history -2", name: "t")
        XCTAssertEqual(sink.lines, ["error: 1:9: count must be 0 or more, got -2"])
    }

    /// Ctrl-C stops a shell command at once (its process group gets SIGTERM) and keeps what it printed.
    func testCtrlCStopsAShellCommand() {
        let sink = CaptureSink()
        let session = testSession(sink)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { interruptFlag = 1 }
        let start = Date()
        session.run("!echo started; sleep 20 & wait; echo late\nprint \"not run\"", name: "t")
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertEqual(sink.lines, ["started", "error: 1:1: interrupted"])
        XCTAssertFalse(session.interruptRequested)
        XCTAssertEqual(session.cells.first?.changedState, true, "a shell command may have written files")
    }
}
