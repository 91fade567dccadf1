import Foundation
import XCTest

@testable import EngineCommands
@testable import Language

/// Tab completion candidates and the space-after decision (the REPL passes both to readline).
final class CompletionTests: XCTestCase {
    private let session: Session = {
        let s = testSession()
        s.run("student = testmodel resnet8; steps = 3; xs = [10, 20]; label = \"a\"", name: "t")
        return s
    }()

    private func result(_ line: String, _ word: String, in session: Session? = nil) -> Completion.Result {
        Completion.complete(session ?? self.session, line: line, word: word)
    }

    private func complete(_ line: String, _ word: String) -> [String] { result(line, word).candidates }

    /// Runs `body` in a fresh folder holding `sessions/tutorial.sskd`, `sessions/tools/`, `my file.txt` and
    /// `.hidden`, then returns to the previous working folder.
    private func inFolder(_ body: () throws -> Void) throws {
        let fm = FileManager.default
        let folder = fm.temporaryDirectory.appendingPathComponent("sskd-completion-\(UUID().uuidString)")
        try fm.createDirectory(at: folder.appendingPathComponent("sessions/tools"), withIntermediateDirectories: true)
        for file in ["sessions/tutorial.sskd", "my file.txt", ".hidden"] {
            _ = fm.createFile(atPath: folder.appendingPathComponent(file).path, contents: Data())
        }
        let previous = fm.currentDirectoryPath
        XCTAssertTrue(fm.changeCurrentDirectoryPath(folder.path))
        defer {
            _ = fm.changeCurrentDirectoryPath(previous)
            try? fm.removeItem(at: folder)
        }
        try body()
    }

    func testCommandNamesAndBoundNamesAtStatementStart() {
        XCTAssertEqual(complete("pri", "pri"), ["print"])
        XCTAssertEqual(complete("st", "st"), ["steps", "student"])
        XCTAssertEqual(complete("x = te", "te"), ["testmodel"])
        XCTAssertEqual(complete("x=te", "te"), ["testmodel"])
        XCTAssertEqual(complete("print 1; he", "he"), ["help"])
        XCTAssertEqual(complete("for k in 1..2 { pr", "pr"), ["print"])
    }

    func testNoSpaceAfterANameOrMemberThatTakesADotOrABracket() {
        // A model, a stage list and a list take `.`/`[`: the cursor stays right after the name.
        XCTAssertEqual(result("stud", "stud"), .init(candidates: ["student"], files: false, appendsSpace: false))
        XCTAssertEqual(result("print stud", "stud"), .init(candidates: ["student"], files: false, appendsSpace: false))
        XCTAssertEqual(
            result("train student.st", "student.st"),
            .init(candidates: ["student.stage"], files: false, appendsSpace: false))
        XCTAssertFalse(result("print x", "x").appendsSpace, "a list takes [")
        // A number, a string and a command name do not.
        XCTAssertEqual(result("print ste", "ste"), .init(candidates: ["steps"], files: false, appendsSpace: true))
        XCTAssertTrue(result("print lab", "lab").appendsSpace)
        XCTAssertTrue(result("pri", "pri").appendsSpace)
        XCTAssertTrue(result("student.stage[2].p", ".p").appendsSpace, "parameters is a number")
        // Option names end with `=` and no space.
        XCTAssertEqual(
            result("train student v", "v"), .init(candidates: ["verbose="], files: false, appendsSpace: false))
        XCTAssertFalse(Completion.appendsSpace(after: ["student"], session))
        XCTAssertTrue(Completion.appendsSpace(after: ["student", "steps"], session), "readline adds nothing then")
    }

    func testOptionNamesThenBoundNamesThatFitTheArgument() {
        XCTAssertEqual(complete("train student ", ""), ["epochs=", "label", "lr=", "verbose="], "DATA is a string")
        XCTAssertEqual(complete("train student epochs=2 ", ""), ["label", "lr=", "verbose="])
        XCTAssertEqual(complete("train student \"d\" ", ""), ["epochs=", "lr=", "verbose="], "all positionals given")
        XCTAssertEqual(complete("train ", ""), ["epochs=", "lr=", "student", "verbose=", "xs"], "MODEL: containers")
        XCTAssertEqual(complete("train s", "s"), ["student"])
        XCTAssertEqual(complete("testmodel res", "res"), ["resnet20", "resnet8"])
        XCTAssertEqual(complete("print steps + 1 ", ""), ["label", "steps", "student", "xs"], "any value")
    }

    func testBoundNamesInsideExpressions() {
        XCTAssertEqual(complete("print steps + s", "s"), ["steps", "student"])
        XCTAssertEqual(complete("print steps +s", "s"), ["steps", "student"])
        XCTAssertEqual(complete("print (st", "st"), ["steps", "student"])
        XCTAssertEqual(complete("print [1, st", "st"), ["steps", "student"])
        XCTAssertEqual(complete("print [st", "st"), ["steps", "student"], "a list after a space")
        XCTAssertEqual(complete("x = steps * s", "s"), ["steps", "student"])
        XCTAssertEqual(complete("if steps > s", "s"), ["steps", "student"])
        XCTAssertEqual(complete("for k in x", "x"), ["xs"])
        XCTAssertEqual(complete("train student epochs=steps + s", "s"), ["steps", "student"])
        XCTAssertEqual(complete("print xs[0] ", ""), ["label", "steps", "student", "xs"])
        XCTAssertEqual(complete("print xs[0]", ""), [], "right after ']': only members")
    }

    func testHelpSetAndShowComplete() {
        XCTAssertEqual(complete("help tr", "tr"), ["train"])
        XCTAssertEqual(complete("help ", ""), (session.commands.names + Session.helpTopics.map(\.name)).sorted())
        XCTAssertEqual(complete("set th", "th"), ["threads"])
        XCTAssertEqual(complete("show o", "o"), ["options", "out"])
        XCTAssertEqual(complete("show student.h", "student.h"), ["student.head"])
    }

    func testSetOffersTheSessionOptionsValues() {
        XCTAssertEqual(complete("set terminal ", ""), ["dumb", "label", "qt", "sixel", "wxt", "x11"], "strings fit")
        XCTAssertEqual(complete("set terminal s", "s"), ["sixel"])
        XCTAssertTrue(result("set terminal si", "si").appendsSpace)
        XCTAssertEqual(complete("set quiet t", "t"), ["true"])
        XCTAssertEqual(complete("set seed s", "s"), ["steps"], "whole numbers fit")
        XCTAssertEqual(complete("set nosuch s", "s"), ["steps", "student"], "an unknown option: every name")
        XCTAssertTrue(result("set out ru", "ru").files, "a path: file names")
        XCTAssertFalse(result("set seed ru", "ru").files)
    }

    func testOptionValuesComeFromTheDeclarations() {
        XCTAssertEqual(complete("train student verbose=", ""), ["false", "true"])
        XCTAssertEqual(complete("train student epochs=", ""), ["steps"], "bound whole numbers")
        XCTAssertEqual(complete("train student lr=s", "s"), ["steps"])
        XCTAssertEqual(complete("help ", ""), (session.commands.names + Session.helpTopics.map(\.name)).sorted())
        XCTAssertEqual(complete("help fo", "fo"), ["for"])
        let engine = Session.withEngine(output: CaptureSink())
        let values = { (line: String, word: String) in Completion.complete(engine, line: line, word: word) }
        XCTAssertEqual(values("mimic s t optimizer=a", "a").candidates, ["adam", "adamw"])
        XCTAssertEqual(values("mimic s t optimizer=", "").candidates, ["adam", "adamw", "nesterov", "sgd"])
        XCTAssertEqual(values("data fa", "fa").candidates, ["fashion-mnist"])
        XCTAssertEqual(values("model resnet1", "resnet1").candidates, ["resnet110", "resnet14", "resnet18"])
        XCTAssertEqual(values("data f normalize=ha", "ha").candidates, ["half"])
        XCTAssertEqual(values("show d", "d").candidates, ["data"])
        XCTAssertEqual(values("set terminal ", "").candidates, ["dumb", "qt", "sixel", "wxt", "x11"])
        XCTAssertTrue(values("data ./my", "./my").files, "a data set name or a file")
        XCTAssertTrue(values("export m to=", "").files)
    }

    func testMembersOfSessionObjects() {
        XCTAssertEqual(
            complete("student.", "student."), ["student.backbone", "student.head", "student.name", "student.stage"])
        XCTAssertEqual(complete("print student.he", "student.he"), ["student.head"])
        XCTAssertEqual(complete("x = student.he", "student.he"), ["student.head"])
        XCTAssertEqual(complete("student.stage[2].p", ".p"), [".parameters"])
        XCTAssertEqual(complete("print student.stage[2].", "."), [".parameters"])
        XCTAssertEqual(complete("print xs.c", "xs.c"), ["xs.count"])
        XCTAssertEqual(complete("print label.", "label."), ["label.count"])
        XCTAssertEqual(complete("steps.", "steps."), [])
    }

    func testStageIndicesAndTheClosingBracket() {
        XCTAssertEqual(
            result("train student.stage[", ""),
            .init(candidates: ["1]", "2]", "3]", "4]", "steps]"], files: false, appendsSpace: true))
        XCTAssertEqual(
            result("train student.stage[2", "2"), .init(candidates: ["2]"], files: false, appendsSpace: false),
            "the stage has members: no space")
        XCTAssertEqual(complete("train student.stage[s", "s"), ["steps]"])
        XCTAssertEqual(complete("print xs[", ""), ["0]", "1]", "steps]"], "lists count from 0")
        XCTAssertTrue(result("print xs[1", "1").appendsSpace, "a number")
        XCTAssertEqual(complete("print student[", ""), ["steps]"], "a model has no indices")
        XCTAssertEqual(complete("print steps [", ""), ["label", "steps", "student", "xs"], "a list, not an index")
    }

    func testEngineModelStages() {
        let engine = Session.withEngine(output: CaptureSink())
        engine.run("student = model resnet8; teacher = model resnet8 seed=1", name: "t")
        let complete = { (line: String, word: String) in Completion.complete(engine, line: line, word: word) }
        XCTAssertEqual(
            complete("mimic stud", "stud"), .init(candidates: ["student"], files: false, appendsSpace: false))
        XCTAssertEqual(
            complete("mimic student.st", "student.st"),
            .init(candidates: ["student.stage"], files: false, appendsSpace: false))
        XCTAssertEqual(complete("mimic student.stage[", "").candidates, ["1]", "2]", "3]"])
        XCTAssertTrue(
            complete("mimic student.stage[1", "1").appendsSpace, "a stage takes no . or [: the teacher follows")
        XCTAssertEqual(complete("mimic student.stage[1] te", "te").candidates, ["teacher"])
        XCTAssertEqual(complete("mimic student.stage[1] teacher.stage[1] ", "").candidates.first, "batch=")
        XCTAssertEqual(complete("print teacher.stage.", "teacher.stage.").candidates, ["teacher.stage.count"])
        XCTAssertTrue(complete("freeze student.he", "student.he").appendsSpace)
        XCTAssertEqual(
            complete("train student.head from_teacher=", "").candidates, ["false", "student", "teacher"],
            "a model or false")
        XCTAssertEqual(complete("compare teacher st", "st").candidates, ["student"], "variadic models")
    }

    func testUnquotedAndQuotedPaths() throws {
        try inFolder {
            XCTAssertEqual(
                result("source sessions/tu", "sessions/tu"),
                .init(candidates: ["sessions/tutorial.sskd"], files: true, appendsSpace: true))
            XCTAssertEqual(
                result("source sessions/to", "sessions/to"),
                .init(candidates: ["sessions/tools/"], files: true, appendsSpace: false))
            XCTAssertEqual(complete("source sessions/", "sessions/"), ["sessions/tools/", "sessions/tutorial.sskd"])
            XCTAssertEqual(
                result("source sessions/", "sessions/").readlineCandidates,
                ["sessions/tools", "sessions/tutorial.sskd"],
                "readline adds the folder's / itself")
            XCTAssertEqual(result("source m", "m").readlineCandidates, ["\"my file.txt\""])
            XCTAssertEqual(complete("source ", ""), ["\"my file.txt\"", "sessions/"], "hidden files only after '.'")
            XCTAssertEqual(complete("source .h", ".h"), [".hidden"])
            XCTAssertEqual(complete("source \"my", "my"), ["my file.txt"], "inside a string: readline closes it")
            XCTAssertEqual(complete("source \"sessions/tu", "sessions/tu"), ["sessions/tutorial.sskd"])
            XCTAssertEqual(complete("print \"ses", "ses"), ["sessions/"])
            XCTAssertEqual(
                complete("save student sessions/t", "sessions/t"), ["sessions/tools/", "sessions/tutorial.sskd"])
            XCTAssertEqual(complete("set out ses", "ses"), ["sessions/"])
            XCTAssertEqual(complete("source nothing", "nothing"), [])
            let engine = Session.withEngine(output: CaptureSink())
            let values = { (line: String, word: String) in Completion.complete(engine, line: line, word: word) }
            XCTAssertEqual(
                values("data ", "").candidates.filter { !$0.contains("mnist") && !$0.contains("cifar") },
                [
                    "\"my file.txt\"", "sessions/",
                ])
            XCTAssertEqual(values("data se", "se").candidates, ["sessions/"])
            XCTAssertEqual(values("plot loss to=sessions/tu", "sessions/tu").candidates, ["sessions/tutorial.sskd"])
            XCTAssertEqual(values("notebook save sessions/t", "sessions/t").candidates.count, 2)
        }
        XCTAssertEqual(Completion.fileCandidates("/nonexistent-sskd-folder/x"), [])
        let tmp = FileManager.default.temporaryDirectory.path
        XCTAssertTrue(Completion.fileCandidates(tmp).allSatisfy { $0.hasPrefix("\"/") }, "absolute paths are quoted")
        XCTAssertFalse(Completion.fileCandidates(tmp, quoted: true).contains { $0.hasPrefix("\"") })
    }

    func testInsideAStringCompletesFiles() {
        XCTAssertTrue(result("source \"less", "less").files)
        XCTAssertFalse(result("print \"a\" x", "x").files)
        XCTAssertEqual(complete("print \"a\" x", "x"), ["xs"])
    }

    /// Types with Tab in the real REPL (tmux, as `TerminalTests`): stage references, an option value and paths,
    /// checking where the cursor is by typing `X` after each completion.
    func testTypingWithTabInTheREPL() throws {
        let binary = try CommandLineTests.binary()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            throw XCTSkip("tmux is not installed (apt-get install tmux); the pseudo-terminal test needs it")
        }
        let socket = "sskd-completion-\(getpid())"
        func tmux(_ arguments: [String]) -> String {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket).out").path
            defer { try? FileManager.default.removeItem(atPath: output) }
            let quoted = (["tmux", "-L", socket, "-f", "/dev/null"] + arguments).map {
                "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'"
            }
            let command = quoted.joined(separator: " ") + " </dev/null >\(output) 2>/dev/null"
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
            defer { for a in argv { free(a) } }
            guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { return "" }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }
        /// The prompt line once it reads `expected` (up to 10 s), else the last prompt line seen.
        func promptLine(_ expected: String) -> String {
            var last = ""
            for _ in 0..<200 {
                let lines = tmux(["capture-pane", "-p", "-t", "repl"]).split(separator: "\n").map(String.init)
                last = lines.last { $0.hasPrefix("sskd>") } ?? ""
                if last == expected { break }
                usleep(50_000)
            }
            return last
        }
        try inFolder {
            let history = FileManager.default.currentDirectoryPath + "/history"
            defer { _ = tmux(["kill-server"]) }
            _ = tmux([
                "new-session", "-d", "-s", "repl", "-x", "160", "-y", "40",
                "env SSKD_HISTORY=\(history) \(binary.path); sleep 30",
            ])
            _ = tmux(["send-keys", "-t", "repl", "student = model resnet8; teacher = model resnet8 seed=1", "Enter"])
            _ = tmux(["send-keys", "-t", "repl", "C-l"])
            let cases: [(keys: [String], line: String)] = [
                (
                    [
                        "mimic stud", "Tab", ".st", "Tab", "[", "Tab", "2", "Tab", "teach", "Tab", ".st", "Tab", "[2",
                        "Tab",
                    ],
                    "sskd> mimic student.stage[2] teacher.stage[2] X"
                ),
                (
                    ["mimic student.stage[1] teacher.stage[1] optimizer=sg", "Tab"],
                    "sskd> mimic student.stage[1] teacher.stage[1] optimizer=sgd X"
                ),
                (["print stud", "Tab"], "sskd> print studentX"),
                (["set terminal si", "Tab"], "sskd> set terminal sixel X"),
                (["source sess", "Tab", "tu", "Tab"], "sskd> source sessions/tutorial.sskd X"),
                (["source sess", "Tab", "to", "Tab"], "sskd> source sessions/tools/X"),
                (["source \"sessions/tu", "Tab"], "sskd> source \"sessions/tutorial.sskd\" X"),
                (["source my", "Tab"], "sskd> source \"my file.txt\" X"),
            ]
            for (keys, line) in cases {
                _ = tmux(["send-keys", "-t", "repl"] + keys + ["X"])
                XCTAssertEqual(promptLine(line), line)
                _ = tmux(["send-keys", "-t", "repl", "C-u", "C-l"])
                XCTAssertEqual(promptLine("sskd>"), "sskd>")
            }
        }
    }
}
