import Foundation
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// Issue #10: the REPL survives every error with its state unchanged, absurd sizes are refused before anything is
/// allocated, SIGTERM stops a script cleanly (exit 143, no partial file), and the breaker's leftovers stay fixed.
final class HardeningTests: XCTestCase {
    /// Bindings (with every model's parameters and buffers bit for bit, frozen flags, adapters and runs), options,
    /// the current data set and the session's runs, as one comparable text.
    private func snapshot(_ session: Session) -> String {
        var lines: [String] = []
        for name in session.bindings.keys.sorted() {
            let value = session.lookup(name)!
            lines.append("\(name) = \(value.typeName) \(value.display)")
            if case .object(let o) = value, let m = o as? ModelObject {
                var hasher = Hasher()
                for (key, tensor) in m.model.stateDict() {
                    hasher.combine(key)
                    for v in tensor.data { hasher.combine(v.bitPattern) }
                }
                lines.append(
                    "  weights \(hasher.finalize()) frozen \(m.model.stages.map(\.isFrozen)) adapters "
                        + "\(m.alignments.keys.sorted()) runs \(m.records.count)"
                )
            }
        }
        lines += session.options.declared.map { "option \($0.name) = \(session.options.value($0.name)!.literal)" }
        lines.append(
            "data \(session.workspace.data.map { "\(ObjectIdentifier($0))" } ?? "none"), runs "
                + "\(session.workspace.runs.count)"
        )
        return lines.joined(separator: "\n")
    }

    /// Each failing statement, run alone in one session, with its error (`column: message`; a trailing `…` matches a
    /// prefix, for machine-dependent text). None may change the session's state; a good command works at the end.
    func testEveryFailingCaseLeavesTheSessionUnchanged() throws {
        try skipUnlessFashionMNIST()
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        session.options.set("quiet", .bool(true)).map { XCTFail($0) }
        XCTAssertEqual(
            session.run(
                """
                data fashion-mnist limit=200 val=50
                s = model resnet8
                t = model resnet8 seed=1
                big = model resnet110
                x = 5
                r = train s epochs=1 batch=50
                """, name: "setup"), .ok)
        let cases: [(String, String)] = [
            ("nosuchcommand s", "1: unknown command 'nosuchcommand'"),
            ("trian s epochs=1", "1: unknown command 'trian'; did you mean 'train'?"),
            ("train s lrr=0.1", "9: unknown option 'lrr' for 'train'; did you mean 'lr'?"),
            ("train s epochs=\"two\"", "16: option 'epochs' for 'train' expects an integer, got \"two\""),
            ("train s epochs=0", "16: option 'epochs': must be at least 1, got 0"),
            ("train s batch=0", "15: option 'batch': must be in 1...65536, got 0"),
            ("train s batch=100000", "15: option 'batch': must be in 1...65536, got 100000"),
            (
                "train big batch=65536",
                "17: option 'batch': a batch of 65536 through big needs about 453.9 GB of activations, more than this "
                    + "machine's …"
            ),
            ("model resnet8 channels=1000000000", "24: option 'channels': must be in 1...4096, got 1000000000"),
            ("model mlp widths=[100000, 100000]", "18: option 'widths': each width must be in 1...65536, got 100000"),
            (
                "model mlp widths=[65536, 65536, 65536]",
                "18: mlp with these sizes would have 8,642,166,794 parameters, more than the limit of 200,000,000; "
                    + "use a smaller 'widths'"
            ),
            ("model resnet8 classes=0", "23: option 'classes': must be in 1...100000, got 0"),
            ("model nosuch", "7: unknown architecture 'nosuch'. Known: resnet8, …"),
            ("model resnet7", "7: resnet7: depth 7 is not 6n+2 (8, 14, 20, 32, ...)"),
            (
                "data nosuchset",
                "6: unknown data set 'nosuchset' (known: fashion-mnist, mnist, kmnist, cifar10, cifar100, "
                    + "cifar100-coarse)"
            ),
            ("data fashion-mnist val=-1", "24: option 'val': must be at least 0, got -1"),
            ("data fashion-mnist limit=0", "26: option 'limit': must be at least 1, got 0"),
            ("data fashion-mnist val=60000", "24: option 'val': must be less than the 60000 train images, got 60000"),
            (
                "load \"/nonexistent.safetensors\"",
                "6: /nonexistent.safetensors: cannot read: No such file or directory"
            ),
            ("load \"/dev/zero\"", "6: /dev/zero: cannot read: not a regular file"),
            ("print 1 / 0", "9: division by zero"),
            ("print 5 % 0", "9: division by zero"),
            ("print s.stage[9]", "14: resnet8 has 3 stages (1...3); there is no stage[9]"),
            ("freeze s.stage[0]", "15: resnet8 has 3 stages (1...3); there is no stage[0]"),
            ("freeze s.nosuchpart", "9: model has no member 'nosuchpart'"),
            ("freeze nosuchmodel", "8: undefined name 'nosuchmodel'"),
            ("x = freeze s", "5: 'freeze' returns nothing to bind to 'x'; run it without 'x ='"),
            (
                "mimic s.stage[1] t.stage[2]",
                "1: stage 1: student feature [2, 16, 28, 28] and teacher feature [2, 32, 14, 14] differ in size; pass "
                    + "pool=true to average-pool the larger one"
            ),
            ("mimic s.stage[1] s.stage[1]", "18: student and teacher are the same model"),
            ("mimic s t", "7: argument 'student' for 'mimic' expects a part, got <model>"),
            (
                "train s.stage[1]",
                "7: train takes a model or its head; train s.stage[1] with 'mimic', or freeze the rest and 'train' "
                    + "the model"
            ),
            ("split s nosuchlayer", "9: split: no module 'nosuchlayer' in resnet8; split points: …"),
            ("eval s split=nope", "14: option 'split' for 'eval' expects one of test, val, train, got \"nope\""),
            ("gap s t baseline=\"x\"", "18: baseline must be a model, a run or a top-1 number"),
            ("plot gap", "1: measure the gap first: gap STUDENT TEACHER"),
            (
                "plot loss size=1x1",
                "16: size must be \"WIDTHxHEIGHT\" in pixels, each 16...10000, e.g. size=\"800x500\""
            ),
            ("plot nosuchkind", "6: argument 'kind' for 'plot' expects one of loss, acc, gap, got \"nosuchkind\""),
            ("export r to=\"x.txt\"", "13: export writes .csv, .json or .py files, not 'txt'"),
            ("export r to=\"/proc/sskd-x.csv\"", "13: cannot write /proc/sskd-x.csv: …"),
            ("notebook save \"/dev/null/x.md\"", "15: cannot write /dev/null/x.md: /dev/null is not a folder"),
            (
                "save s \"/dev/null/s.safetensors\"",
                "8: cannot write /dev/null/s.safetensors: /dev/null is not a folder"
            ),
            ("set batch 0", "11: session option 'batch' must be in 1...65536, got 0"),
            ("set nosuchoption 1", "5: unknown session option 'nosuchoption'"),
            ("quit 300", "6: exit code must be 0...255, got 300"),
            ("for k in 1..10000000 { x = k }", "11: range 1..10000000 has more than 1000000 elements"),
            ("print -\"a\"", "7: '-' expects a number, got \"a\""),
            ("source \"/nonexistent.sskd\"", "8: cannot read '/nonexistent.sskd': no such file"),
            ("print (1", "9: expected ')' after expression, found end of input"),
            ("kd s t T=0", "10: option 'T': must be in 0.1...100, got 0"),
            ("kd s t T=1e-30", "10: option 'T': must be in 0.1...100, got 1e-30"),
            ("fitnet s t T=1000", "14: option 'T': must be in 0.1...100, got 1000"),
            ("fitnet s t hint=9", "17: hint must be a stage 1...3, got 9"),
            ("fitnet s t hint=0", "17: option 'hint': must be at least 1, got 0"),
            ("sskd s t finetune=-1", "19: option 'finetune': must be 0 or at least 1, got -1"),
            ("train s budget=-1", "16: option 'budget': must be a positive number of GMAC below 1e9, got -1"),
            ("train s budget=1e9", "16: option 'budget': must be a positive number of GMAC below 1e9, got 1000000000"),
            ("sskd s s", "8: student and teacher are the same model"),
            ("history \"x\"", "9: argument 'count' for 'history' expects an integer, got \"x\""),
        ]
        let before = snapshot(session)
        for (command, expected) in cases {
            let status = session.run(command, name: "bad")
            XCTAssertTrue(status == .runtimeError || status == .syntaxError, "\(command): \(status)")
            guard case .error(let error)? = sink.events.last else {
                XCTFail("\(command): no error reported")
                continue
            }
            let got = "\(error.location.column): \(error.message)"
            if expected.hasSuffix("…") {
                XCTAssertTrue(got.hasPrefix(expected.dropLast()), "\(command): \(got)")
            } else {
                XCTAssertEqual(got, expected, command)
            }
            XCTAssertFalse(
                error.message.hasPrefix("plot:") && !command.hasPrefix("plot"),
                "\(command) names the plot layer: \(got)")
            XCTAssertEqual(snapshot(session), before, "state changed by: \(command)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "x.txt"))
        XCTAssertEqual(session.run("eval s split=val\nprint x", name: "after"), .ok)
        XCTAssertEqual(sink.lines.last, "5")
    }

    /// Runs `script` in a fresh folder with the built sskd, sends SIGTERM once `ready` exists there plus `delay`,
    /// and returns the exit status, stderr and the folder's files (the script excluded).
    private func terminate(_ script: String, ready: String, delay: TimeInterval, signal: Int32 = SIGTERM) throws -> (
        Int32, Process.TerminationReason, String, [String], URL
    ) {
        let dir = try makeTemporaryFolder("sskd-term")
        try Data(script.utf8).write(to: dir.appendingPathComponent("job.sskd"))
        let process = Process()
        process.executableURL = try CommandLineTests.binary()
        process.arguments = ["job.sskd"]
        process.currentDirectoryURL = dir
        process.standardOutput = FileHandle.nullDevice
        let errors = dir.appendingPathComponent("job.err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        let start = Date()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent(ready).path)
            && Date().timeIntervalSince(start) < 60
        {
            usleep(20_000)
        }
        Thread.sleep(forTimeInterval: delay)
        XCTAssertTrue(process.isRunning, "the script ended before SIGTERM")
        kill(process.processIdentifier, signal)
        let sent = Date()
        process.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(sent), 10, "stopping took too long")
        let stderr = try String(contentsOf: errors, encoding: .utf8)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
            $0 != "job.sskd" && $0 != "job.err"
        }.sorted()
        return (process.terminationStatus, process.terminationReason, stderr, files, dir)
    }

    func testSIGTERMDuringTrainingStopsAfterTheBatchWithStatus143() throws {
        try skipUnlessFashionMNIST()
        let (status, reason, stderr, files, dir) = try terminate(
            """
            data fashion-mnist limit=2000 val=100
            m = model resnet8
            save m "before.safetensors"
            train m epochs=100 batch=20
            save m "after.safetensors"
            """, ready: "before.safetensors", delay: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(reason, .exit, "sskd exits by itself instead of dying from the signal")
        XCTAssertEqual(status, 143)
        XCTAssertTrue(
            stderr.contains("job.sskd:4:1: error: terminated by SIGTERM: stopped after the current batch or write"),
            stderr)
        XCTAssertEqual(files, ["before.safetensors"], "no partial or temporary file, and nothing after the stop")
    }

    func testSIGTERMDuringSavesFinishesTheWriteAndLeavesNoTemporaryFile() throws {
        let (status, reason, stderr, files, dir) = try terminate(
            """
            m = model resnet20
            for k in 1..100000 { save m "m.safetensors" }
            """, ready: "m.safetensors", delay: 0.5)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(reason, .exit)
        XCTAssertEqual(status, 143)
        XCTAssertTrue(stderr.contains("terminated by SIGTERM"), stderr)
        XCTAssertEqual(files, ["m.safetensors"])
        let session = Session.withEngine(output: CaptureSink())
        XCTAssertEqual(
            session.run("m = load \"\(dir.path)/m.safetensors\"", name: "check"), .ok, "the last save is complete")
    }

    /// Ctrl-C (SIGINT) and SIGHUP in script mode stop like SIGTERM: the write in progress finishes, no temporary
    /// file is left, exit status 128 + signal.
    func testSIGINTAndSIGHUPDuringSavesStopCleanly() throws {
        for (sig, name) in [(SIGINT, "SIGINT (Ctrl-C)"), (SIGHUP, "SIGHUP")] {
            let (status, reason, stderr, files, dir) = try terminate(
                """
                m = model resnet20
                for k in 1..100000 { save m "m.safetensors" }
                """, ready: "m.safetensors", delay: 0.5, signal: sig)
            defer { try? FileManager.default.removeItem(at: dir) }
            XCTAssertEqual(reason, .exit, name)
            XCTAssertEqual(status, 128 + sig, name)
            XCTAssertTrue(stderr.contains("terminated by \(name): stopped after the current batch or write"), stderr)
            XCTAssertEqual(files, ["m.safetensors"], name)
        }
    }

    /// Leftovers: `x = CMD` for a command that returns nothing runs nothing; `save session` keeps `save MODEL`;
    /// a bare `quit` returns the run's status; `size=800x600` and `model wrn-16-2` need no quotes.
    func testLeftovers() throws {
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("v = set seed 7", name: "a"), .runtimeError)
        XCTAssertEqual(session.options.seed, 0, "the refused statement did not run")

        let dir = try makeTemporaryFolder("sskd-left")
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(
            session.run(
                """
                m = model wrn-16-2
                save m "\(dir.path)/m.safetensors"
                save session "\(dir.path)/s.sskd"
                """, name: "b"), .ok)
        XCTAssertEqual(
            try String(contentsOf: dir.appendingPathComponent("s.sskd"), encoding: .utf8),
            "# sskd session; replay with: sskd \(dir.path)/s.sskd\nm = model wrn-16-2\nsave m "
                + "\"\(dir.path)/m.safetensors\"\n"
        )
        XCTAssertTrue(sink.text.contains("saved 2 statements"), sink.text)
        XCTAssertEqual(session.run("plot loss m size=800x600", name: "c"), .runtimeError)
        XCTAssertEqual(
            sink.lines.last, "error: 1:11: no training runs to show yet",
            "800x600 is a size word, not a malformed number")

        XCTAssertEqual(
            session.run("load \"\"", name: "empty"), .runtimeError, "an empty path must not name the working folder")
        XCTAssertTrue(
            sink.lines.last?.contains("argument 'file' for 'load' expects a file path, got \"\"") ?? false,
            "\(sink.lines.last ?? "")")

        session.keepGoing = true
        XCTAssertEqual(
            session.run("print nope\nquit\nprint 2", name: "d"), .quit(70), "bare quit after an error: the run's status"
        )
        XCTAssertEqual(session.run("print 1\nquit", name: "e"), .quit(0))
        XCTAssertEqual(session.run("print nope\nquit 4", name: "f"), .quit(4))
    }

    /// `plot acc` with a one-epoch run beside a longer one: the one-epoch point is drawn inside the frame
    /// (without margins it sits on the left border and the border hides it).
    func testOneEpochRunIsVisibleInTheTextAccuracyPlot() throws {
        try skipUnlessFashionMNIST()
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/gnuplot"), "gnuplot is not installed")
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(
            session.run(
                """
                set quiet true
                data fashion-mnist limit=100 val=50
                one = model resnet8
                two = model resnet8 seed=1
                train one epochs=1 batch=50
                train two epochs=3 batch=50
                """, name: "setup"), .ok)
        let start = sink.text.count
        XCTAssertEqual(session.run("plot acc", name: "plot"), .ok)
        let lines = String(sink.text.dropFirst(start)).split(separator: "\n").map(String.init)
        let legend = try XCTUnwrap(lines.first { $0.contains("one scratch") }, lines.joined(separator: "\n"))
        let marker = try XCTUnwrap(
            legend.components(separatedBy: "one scratch").last?.first { $0 != " " && $0 != "-" && $0 != "*" })
        let inside = lines.filter { $0 != legend && !$0.contains("scratch") }.contains { line in
            guard let first = line.firstIndex(of: "|"), let last = line.lastIndex(of: "|"), first < last else {
                return false
            }
            return line[line.index(after: first)..<last].contains(marker)
        }
        XCTAssertTrue(
            inside, "marker \(marker) of the one-epoch run is not inside the frame:\n" + lines.joined(separator: "\n"))
    }
}
