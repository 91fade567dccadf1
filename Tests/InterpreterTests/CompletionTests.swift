import XCTest

@testable import EngineCommands
@testable import Language

/// Tab completion candidates (the REPL passes these to readline).
final class CompletionTests: XCTestCase {
    private let session: Session = {
        let s = testSession()
        s.run("student = testmodel resnet8; steps = 3", name: "t")
        return s
    }()

    private func complete(_ line: String, _ word: String) -> [String] {
        Completion.candidates(session, line: line, word: word).candidates
    }

    func testCommandNamesAndBoundNamesAtStatementStart() {
        XCTAssertEqual(complete("pri", "pri"), ["print"])
        XCTAssertEqual(complete("st", "st"), ["steps", "student"])
        XCTAssertEqual(complete("x = te", "te"), ["testmodel"])
        XCTAssertEqual(complete("print 1; he", "he"), ["help"])
        XCTAssertEqual(complete("for k in 1..2 { pr", "pr"), ["print"])
    }

    func testOptionNamesWithEqualsThenBoundNames() {
        XCTAssertEqual(complete("train student l", "l"), ["lr="])
        XCTAssertEqual(complete("train student ", ""), ["epochs=", "lr=", "steps", "student", "verbose="])
        XCTAssertEqual(complete("train student epochs=2 ", ""), ["lr=", "steps", "student", "verbose="])
        XCTAssertEqual(complete("train s", "s"), ["steps", "student"])
        XCTAssertEqual(complete("testmodel res", "res"), ["resnet20", "resnet8"])
    }

    func testHelpSetAndShowComplete() {
        XCTAssertEqual(complete("help tr", "tr"), ["train"])
        XCTAssertEqual(complete("set th", "th"), ["threads"])
        XCTAssertEqual(complete("show o", "o"), ["options", "out"])
    }

    func testSetOffersTheSessionOptionsValues() {
        XCTAssertEqual(complete("set terminal ", ""), ["dumb", "qt", "sixel", "steps", "student", "wxt", "x11"])
        XCTAssertEqual(complete("set terminal s", "s"), ["sixel", "steps", "student"])
        XCTAssertEqual(complete("set quiet t", "t"), ["true"])
        XCTAssertEqual(complete("set seed s", "s"), ["steps", "student"])
        XCTAssertTrue(Completion.candidates(session, line: "set out ru", word: "ru").files, "a path: file names")
        XCTAssertFalse(Completion.candidates(session, line: "set seed ru", word: "ru").files)
    }

    func testOptionValuesComeFromTheDeclarations() {
        XCTAssertEqual(complete("train student verbose=", ""), ["false", "true"])
        XCTAssertEqual(complete("help ", ""), (session.commands.names + Session.helpTopics.map(\.name)).sorted())
        XCTAssertEqual(complete("help fo", "fo"), ["for"])
        let engine = Session.withEngine(output: CaptureSink())
        let values = { (line: String, word: String) in Completion.candidates(engine, line: line, word: word) }
        XCTAssertEqual(values("mimic s t optimizer=a", "a").candidates, ["adam", "adamw"])
        XCTAssertEqual(values("data fa", "fa").candidates, ["fashion-mnist"])
        XCTAssertEqual(values("model resnet1", "resnet1").candidates, ["resnet110", "resnet14", "resnet18"])
        XCTAssertEqual(values("data f normalize=ha", "ha").candidates, ["half"])
        XCTAssertEqual(values("show d", "d").candidates, ["data"])
        XCTAssertTrue(values("data ./my", "./my").files, "no data set name fits: file names")
        XCTAssertTrue(values("export m to=", "").files)
    }

    func testMembersOfSessionObjects() {
        XCTAssertEqual(
            complete("student.", "student."), ["student.backbone", "student.head", "student.name", "student.stage"])
        XCTAssertEqual(complete("print student.he", "student.he"), ["student.head"])
        XCTAssertEqual(complete("student.stage[2].p", ".p"), [".parameters"])
        XCTAssertEqual(complete("steps.", "steps."), [])
    }

    func testInsideAStringCompletesFiles() {
        XCTAssertTrue(Completion.candidates(session, line: "source \"less", word: "less").files)
        XCTAssertFalse(Completion.candidates(session, line: "print \"a\" x", word: "x").files)
    }
}
