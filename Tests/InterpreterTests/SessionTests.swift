import Foundation
import XCTest

@testable import Language

/// Script semantics: stop vs keep-going, exit statuses, cells, save session, source, interrupts, pause, echo.
final class SessionTests: XCTestCase {
    /// Strings a script prints (its own escape sequences included) reach the terminal escaped: `print`, `note`,
    /// an expression's echo, `show NAME` and `vars`; lines and tabs stay.
    /// The source line an error quotes is escaped too, with the caret under the same character.
    func testErrorQuotesTheSourceLineEscaped() {
        let sink = CaptureSink()
        let session = Session.standard(output: sink)
        XCTAssertEqual(session.run("x = 1 +\u{1B}[2J 2", name: "esc"), .syntaxError)
        guard case .error(let e)? = sink.events.last else { return XCTFail("no error") }
        XCTAssertFalse(e.rendered.unicodeScalars.contains("\u{1B}"), e.rendered)
        let lines = e.rendered.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines[1], "    x = 1 +\\u{1b}[2J 2")
        // The caret under the escape that stands for the character at fault (column 8).
        XCTAssertEqual(e.location.column, 8)
        XCTAssertEqual(lines[2], "    " + String(repeating: " ", count: 7) + "^")
    }

    /// `--echo` shows each statement's source escaped too.
    func testEchoedStatementsAreEscaped() {
        let sink = CaptureSink()
        let session = Session.standard(output: sink)
        session.echo = true
        XCTAssertEqual(session.run("x = \"\u{1B}]52;c;aGk=\u{07}\"", name: "echo"), .ok)
        XCTAssertEqual(sink.text, "sskd> x = \"\\u{1b}]52;c;aGk=\\u{7}\"\n")
    }

    func testPrintedStringsHaveTheirControlCharactersEscaped() {
        let sink = CaptureSink()
        let session = Session.standard(output: sink)
        let status = session.run(
            "x = \"a\u{1B}[31mb\tc\"\nprint x\nx\nshow x\nnote x\nvars", name: "escapes")
        XCTAssertEqual(status, .ok, sink.text)
        XCTAssertFalse(sink.text.unicodeScalars.contains { $0 == "\u{1B}" }, sink.text)
        XCTAssertEqual(sink.text.components(separatedBy: "a\\u{1b}[31mb").count - 1, 5, sink.text)
    }

    private func run(_ text: String, keepGoing: Bool = false) -> (CaptureSink, Session, RunStatus) {
        let sink = CaptureSink()
        let session = testSession(sink)
        session.keepGoing = keepGoing
        let status = session.run(text, name: "t.sskd")
        return (sink, session, status)
    }

    func testErrorIsRenderedWithSourceLineAndCaret() {
        let (sink, _, status) = run("x = 1\nset sed 3\n")
        XCTAssertEqual(status, .runtimeError)
        guard case .error(let error)? = sink.events.last else { return XCTFail("no error reported") }
        XCTAssertEqual(
            error.rendered,
            """
            t.sskd:2:5: error: unknown session option 'sed'; did you mean 'seed'?
                set sed 3
                    ^
            """)
    }

    func testSyntaxErrorRunsNothingAndReportsOnlyTheFirst() {
        let (sink, _, status) = run("print 1\nprint 2 +\nprint 3\nx = )\n")
        XCTAssertEqual(status, .syntaxError)
        XCTAssertEqual(status.exitCode, 65)
        XCTAssertEqual(sink.lines, ["error: 2:10: expected an expression, found end of line"])
    }

    func testRuntimeErrorStopsUnlessKeepGoing() {
        let (stopped, _, s1) = run("print 1\nprint x\nprint 2\n")
        XCTAssertEqual(s1.exitCode, 70)
        XCTAssertEqual(stopped.lines, ["1", "error: 2:7: undefined name 'x'"])
        let (kept, _, s2) = run("print 1\nprint x\nprint 2 +\nprint 2\n", keepGoing: true)
        XCTAssertEqual(s2, .runtimeError)
        XCTAssertEqual(
            kept.lines,
            [
                "1", "error: 2:7: undefined name 'x'",
                "error: 3:10: expected an expression, found end of line", "2",
            ])
    }

    func testQuitStopsWithItsCode() {
        let (sink, _, status) = run("print 1; exit 3; print 2")
        XCTAssertEqual(status, .quit(3))
        XCTAssertEqual(sink.lines, ["1"])
        XCTAssertEqual(run("quit 300").2, .runtimeError)
    }

    func testCellsKeepSourceOutputAndSuccess() {
        let (_, session, _) = run("a = 2\nfor k in 1..2 {\n  print k * a\n}\nprint b", keepGoing: true)
        XCTAssertEqual(session.cells.map(\.number), [1, 2, 3])
        XCTAssertEqual(session.cells.map(\.source), ["a = 2", "for k in 1..2 {\n  print k * a\n}", "print b"])
        XCTAssertEqual(session.cells.map(\.output), ["", "2\n4\n", ""])
        XCTAssertEqual(session.cells.map(\.succeeded), [true, true, false])
        XCTAssertEqual(session.cells[2].error?.message, "undefined name 'b'")
    }

    func testSaveSessionWritesSuccessfulRecordedStatementsAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-save-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("work.sskd").path
        let (sink, _, _) = run(
            """
            set seed 3
            m = testmodel resnet8
            help
            print nope
            acc = train m epochs=2
            vars
            print "acc ${acc}"
            save session "\(path)"
            """, keepGoing: true)
        XCTAssertEqual(sink.lines.last, "saved 4 statements to \(path)")
        let saved = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(
            saved,
            """
            # sskd session; replay with: sskd \(path)
            set seed 3
            m = testmodel resnet8
            acc = train m epochs=2
            print "acc ${acc}"

            """)
        let replay = CaptureSink()
        let status = try testSession(replay).runFile(path)
        XCTAssertEqual(status, .ok)
        XCTAssertEqual(replay.lines, ["training resnet8 for 2 epochs at lr 0.1", "acc 0.7"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["work.sskd"])
    }

    /// `save session` below a regular file fails naming the path and the OS reason; the file is untouched.
    func testSaveSessionFailureNamesTheReason() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-plain-\(getpid())").path
        try "keep".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (sink, _, status) = run("x = 1\nsave session \"\(file)/s.sskd\"")
        XCTAssertEqual(status, .runtimeError)
        XCTAssertEqual(
            sink.lines.last,
            "error: 2:14: cannot write '\(file)/s.sskd': cannot create a temporary file in \(file):"
                + " Not a directory (any previous file is unchanged)")
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "keep")
    }

    func testSourceRunsAFileAndLocatesErrorsInsideIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-source-\(getpid()).sskd").path
        try "x = 5\nprint x * 2\nprint y\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (sink, session, status) = run("source \"\(path)\"\nprint x")
        XCTAssertEqual(status, .runtimeError)
        XCTAssertEqual(sink.lines, ["10", "error: 3:7: undefined name 'y'"])
        guard case .error(let e)? = sink.events.last else { return XCTFail() }
        XCTAssertEqual(e.location.source.name, path)
        XCTAssertEqual(session.lookup("x").flatMap(\.integer), 5)
        let (missing, _, _) = run("source nowhere/file.sskd")
        XCTAssertEqual(missing.lines, ["error: 1:8: cannot read 'nowhere/file.sskd': no such file"])
    }

    func testInterruptStopsLoopsAndCommands() {
        let sink = CaptureSink()
        let session = testSession(sink)
        session.commands.register(
            CommandSpec("ctrlc", summary: "simulate Ctrl-C", example: "ctrlc") { _, s in
                s.interruptRequested = true
                return .none
            })
        session.commands.register(
            CommandSpec("poll", summary: "poll for Ctrl-C", example: "poll") { _, s in
                try s.checkInterrupt()
                return .string("not interrupted")
            })
        session.keepGoing = true
        session.run("for k in 1..5 {\n  print k\n  ctrlc\n}\nctrlc; poll\npoll", name: "t")
        XCTAssertEqual(sink.lines, ["1", "error: 1:1: interrupted", "error: 5:8: interrupted", "not interrupted"])
        XCTAssertFalse(session.interruptRequested)
    }

    func testPauseWaitsOnlyWhenInteractive() {
        let sink = CaptureSink()
        let session = testSession(sink)
        var reads = 0
        session.readLine = { prompt in
            reads += 1
            sink.write(prompt)
            return ""
        }
        session.run("pause", name: "t")
        XCTAssertEqual(reads, 0)
        session.interactive = true
        session.run("pause \"next?\"", name: "t")
        XCTAssertEqual(reads, 1)
        XCTAssertEqual(sink.text, "next? ")
    }

    func testEchoPrintsTranscript() {
        let sink = CaptureSink()
        let session = testSession(sink)
        session.echo = true
        session.run("x = 1; print x\nfor k in [1] {\n  print k\n}", name: "t")
        XCTAssertEqual(
            sink.lines, ["sskd> x = 1", "sskd> print x", "1", "sskd> for k in [1] {", "...>   print k", "...> }", "1"])
    }

    func testDeclaredOptionIsCheckedAppliedAndReset() {
        let sink = CaptureSink()
        let session = testSession(sink)
        var applied: [String] = []
        session.options.declare(
            SessionOption(
                "momentum", .number, default: .number(0.9), "SGD momentum",
                check: { ($0.integer ?? 0) < 1 ? nil : "must be below 1" },
                apply: { applied.append($0.literal) }))
        session.keepGoing = true
        session.run("set momentum 0.5\nset momentum 2\nshow momentum\nreset", name: "t")
        XCTAssertEqual(
            sink.lines,
            [
                "error: 2:14: session option 'momentum' must be below 1, got 2", "momentum = 0.5",
                "reset: restored 1 option (momentum) to the default",
            ])
        XCTAssertEqual(applied, ["0.9", "0.5", "0.9"])
    }

    func testResetClearsBindingsAndOptions() {
        let (_, session, _) = run("set batch 8; n = 1; reset")
        XCTAssertNil(session.lookup("n"))
        XCTAssertEqual(session.options.value("batch")?.integer, 64)
    }

    func testContinuationDetection() {
        XCTAssertTrue(Parser.needsContinuation("for k in 1..3 {"))
        XCTAssertTrue(Parser.needsContinuation("print [1,"))
        XCTAssertTrue(Parser.needsContinuation("print 1 \\"))
        XCTAssertTrue(Parser.needsContinuation("x = (1 +\n 2"))
        XCTAssertFalse(Parser.needsContinuation("for k in 1..3 { print k }"))
        XCTAssertFalse(Parser.needsContinuation("print \"{ [\""))
        XCTAssertFalse(Parser.needsContinuation("print 1 # {"))
        XCTAssertFalse(Parser.needsContinuation("print \"a\\\\\""))
    }

    func testDidYouMean() {
        XCTAssertEqual(editDistance("trian", "train"), 1)
        XCTAssertEqual(editDistance("lrr", "lr"), 1)
        XCTAssertEqual(editDistance("", "abc"), 3)
        XCTAssertEqual(closestMatch(to: "epohcs", among: ["epochs", "lr"]), "epochs")
        XCTAssertNil(closestMatch(to: "zzz", among: ["epochs", "lr"]))
    }

    func testLongOperatorChainsAndNestedInterpolationAreBounded() {
        let (chain, _, s1) = run("print " + Array(repeating: "1", count: 5000).joined(separator: " + "))
        XCTAssertEqual(s1, .syntaxError)
        XCTAssertTrue(chain.lines.first?.hasSuffix("expression nested too deeply") ?? false, "\(chain.lines)")
        let (ok, _, s2) = run("print " + Array(repeating: "1", count: 100).joined(separator: "+"))
        XCTAssertEqual(s2, .ok)
        XCTAssertEqual(ok.lines, ["100"])
        var nested = "1"
        for _ in 0..<300 { nested = "\"${" + nested + "}\"" }
        let (deep, _, s3) = run("print " + nested)
        XCTAssertEqual(s3, .syntaxError, "\(deep.lines)")
    }

    func testDeepNestingIsASyntaxErrorNotACrash() {
        let (sink, _, status) = run("print " + String(repeating: "(", count: 5000) + "1")
        XCTAssertEqual(status, .syntaxError)
        XCTAssertEqual(sink.lines.count, 1)
        XCTAssertTrue(sink.lines[0].hasSuffix("expression nested too deeply"), sink.lines[0])
    }
}
