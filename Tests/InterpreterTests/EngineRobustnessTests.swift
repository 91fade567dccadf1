import Foundation
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// Ctrl-C, Windows line ends and sourced files with syntax errors, through real sessions.
final class EngineRobustnessTests: XCTestCase {
    func testInterruptedTrainingStopsTheLoopAndKeepsTheRun() throws {
        try skipUnlessFashionMNIST()
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("data fashion-mnist limit=1000 val=20\nm = model resnet8", name: "setup"), .ok)
        // Ctrl-C arrives while the first `train` of the loop runs, between two of its steps: 12 epochs of 1,000 images
        // take a few seconds (2 epochs once did, but the engine now finishes them in about 0.5 s), and it validates
        // only after its last epoch, so that Ctrl-C does not land in a validation pass.
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { session.interruptRequested = true }
        XCTAssertEqual(
            session.run("for k in 1..3 { train m epochs=12 batch=20 val_every=12; print \"after $k\" }", name: "loop"),
            .runtimeError
        )
        XCTAssertFalse(sink.text.contains("after"), "the loop and the rest of the line stop: \(sink.text)")
        XCTAssertTrue(sink.text.contains("scratch: interrupted at step"), sink.text)
        XCTAssertFalse(session.interruptRequested, "the flag is cleared for the next command")
        XCTAssertEqual(session.workspace.runs.map(\.record.status), [.interrupted], "the interrupted run is kept")
        XCTAssertEqual(session.run("eval m split=val", name: "after"), .ok, "the model stays usable")
    }

    func testWindowsLineEndsAndSourcedSyntaxErrors() throws {
        let sink = CaptureSink()
        let session = Session.standard(output: sink)
        XCTAssertEqual(session.run("x = 1\r\nprint x + 1\r\n", name: "crlf.sskd"), .ok)
        XCTAssertEqual(sink.lines, ["2"])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-src-\(UUID().uuidString).sskd")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("print \"first\"\nprint \"unterminated\n".utf8).write(to: file)
        XCTAssertEqual(session.run("source \"\(file.path)\"", name: "main"), .syntaxError)
        XCTAssertFalse(sink.text.contains("first"), "a sourced file with a syntax error runs nothing: \(sink.text)")
    }
}
