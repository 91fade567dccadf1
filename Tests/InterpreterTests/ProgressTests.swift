import Foundation
import TestSupport
import XCTest

@testable import Distillation
@testable import EngineCommands
@testable import Language

/// The progress bar of training and of long passes (eval, gap, compare, predict, feature caches): drawn only when
/// standard error is a terminal, cleared afterwards, with what its numbers are.
final class ProgressTests: XCTestCase {
    /// A session with fashion-mnist (300 test images) and an untrained resnet8 `m`.
    private func session() throws -> Session {
        try skipUnlessFashionMNIST()
        let session = Session.withEngine(output: CaptureSink())
        XCTAssertEqual(session.run("data fashion-mnist limit=300 val=20\nm = model resnet8", name: "setup"), .ok)
        return session
    }

    func testEvaluationDrawsABarOnlyOnATerminal() throws {
        let session = try session()
        let model = try XCTUnwrap(
            session.lookup("m").flatMap { v -> ModelObject? in
                if case .object(let o) = v { return o as? ModelObject } else { return nil }
            })
        let data = try XCTUnwrap(session.workspace.data).splits
        for terminal in [false, true] {
            var drawn = ""
            let observer = SessionObserver(session, terminal: terminal) { drawn += $0 }
            let e = try Distillation.evaluate(
                model.model, data: data, split: .test, batchSize: 128,
                progress: ProgressReporter(observer, task: "eval m on test"))
            observer.clearBar()
            XCTAssertEqual(e.count, 300)
            if terminal {
                let updates = drawn.components(separatedBy: "\r").filter { !$0.isEmpty }
                XCTAssertEqual(updates.count, 4, "one line per batch of 128, 128, 44, then the clearing: \(drawn)")
                XCTAssertTrue(updates[0].hasPrefix("[eval m on test] "), updates[0])
                XCTAssertTrue(updates[0].contains(" 128/300 images "), updates[0])
                XCTAssertTrue(
                    updates[2].contains(" 300/300 images ") && updates[2].hasSuffix("ETA 0:00\u{1B}[K"), updates[2])
                XCTAssertEqual(updates[3], "\u{1B}[2K", "the bar is cleared before the report")
            } else {
                XCTAssertEqual(drawn, "", "no bar when standard error is not a terminal")
            }
        }
        XCTAssertEqual(session.run("set quiet true", name: "quiet"), .ok)
        var drawn = ""
        let quiet = SessionObserver(session, terminal: true) { drawn += $0 }
        _ = try Distillation.evaluate(
            model.model, data: data, split: .test, progress: ProgressReporter(quiet, task: "eval"))
        XCTAssertEqual(drawn, "", "no bar in a quiet session")
    }

    func testCommandsStayCleanOffATerminal() throws {
        let session = try session()
        let sink = try XCTUnwrap(session.output as? CaptureSink)
        XCTAssertEqual(session.run("t = model resnet8 seed=2\neval m\ngap m t\ncompare t m", name: "run"), .ok)
        XCTAssertFalse(sink.text.contains("ETA"), "the bar goes to a terminal only: \(sink.text)")
        XCTAssertTrue(sink.text.contains("m test: top-1 "), sink.text)
    }

    func testTrainingBarSaysItsLossIsTheEpochMean() {
        let progress = BatchProgress(
            run: "kd", epoch: 1, epochs: 3, batch: 5, batches: 10, loss: 0.9, meanLoss: 0.4123,
            imagesPerSecond: 2310, eta: 75)
        let bar = progress.bar(width: 120)
        XCTAssertTrue(bar.hasPrefix("[kd] epoch 1/3 "), bar)
        XCTAssertTrue(bar.hasSuffix(" 5/10 mean loss 0.4123 2310 img/s ETA 1:15"), bar)
        XCTAssertEqual(bar.filter { $0 == "█" }.count, bar.filter { $0 == "░" }.count, "half done")
        let pass = PassProgress(task: "gap on test: teacher", images: 256, total: 1000, imagesPerSecond: 512, eta: 1.5)
        XCTAssertTrue(pass.bar(width: 80).hasSuffix("░ 256/1000 images 512 img/s ETA 0:01"), pass.bar(width: 80))
        XCTAssertTrue(pass.bar(width: 80).hasPrefix("[gap on test: teacher] █████░"), pass.bar(width: 80))
    }

    /// Every bar fits in one column less than the terminal, whatever the label: at 80 columns
    /// `[train (stage 1 frozen)] epoch 1/1 ...` used to wrap and print one new line per batch.
    func testBarsFitTheTerminalWidth() {
        let labels = ["kd", "train (stage 1 frozen)", String(repeating: "a very long run name ", count: 8)]
        for width in [20, 40, 80, 160] {
            for label in labels {
                let batch = BatchProgress(
                    run: label, epoch: 12, epochs: 100, batch: 1234, batches: 4300, loss: 0.9, meanLoss: 0.4123,
                    imagesPerSecond: 23100, eta: 3725)
                let pass = PassProgress(task: label, images: 2560, total: 10000, imagesPerSecond: 3100, eta: 62)
                for bar in [batch.bar(width: width), pass.bar(width: width)] {
                    XCTAssertLessThanOrEqual(bar.count, width - 1, "width \(width): \(bar)")
                    XCTAssertFalse(bar.contains("\n"), bar)
                    if width >= 80 {
                        XCTAssertTrue(bar.hasPrefix("[" + label.prefix(1)), "the label starts the bar: \(bar)")
                        XCTAssertTrue(bar.contains("█") && bar.contains("░"), "a meter is drawn: \(bar)")
                    }
                }
            }
        }
        let long = BatchProgress(
            run: "train (stage 1 frozen)", epoch: 1, epochs: 1, batch: 5, batches: 10, loss: 1, meanLoss: 0.5,
            imagesPerSecond: 2310, eta: 75)
        XCTAssertEqual(
            long.bar(width: 120),
            "[train (stage 1 frozen)] epoch 1/1 " + meter(20, of: 40) + " 5/10 mean loss 0.5000 2310 img/s ETA 1:15")
        // Narrower: the meter shrinks, then img/s goes, then ETA, then `mean`, then the label is cut with an ellipsis.
        XCTAssertEqual(
            long.bar(width: 80),
            "[train (stage 1 frozen)] epoch 1/1 " + meter(6, of: 13) + " 5/10 mean loss 0.5000 ETA 1:15")
        XCTAssertEqual(
            long.bar(width: 62), "[train (stage 1 frozen)] epoch 1/1 " + meter(4, of: 9) + " 5/10 loss 0.5000")
        XCTAssertEqual(long.bar(width: 40), "[trai…] epoch 1/1 " + meter(2, of: 4) + " 5/10 loss 0.5000")
        XCTAssertEqual(long.bar(width: 20), "", "too narrow: nothing is drawn")
    }

    /// `filled` full cells of a meter `room` cells wide.
    private func meter(_ filled: Int, of room: Int) -> String {
        String(repeating: "█", count: filled) + String(repeating: "░", count: room - filled)
    }

    /// Each redraw returns to the line's start and erases to its end, so a shorter line leaves no characters of a
    /// longer one (`ETA 0:0200`); a terminal too narrow for a bar gets nothing.
    func testRedrawErasesTheRestOfTheLine() {
        let session = Session.withEngine(output: CaptureSink())
        var writes: [String] = []
        let observer = SessionObserver(session, terminal: true) { writes.append($0) }
        observer.passProgressed(PassProgress(task: "gap", images: 10, total: 100, imagesPerSecond: 12345, eta: 125))
        observer.passProgressed(PassProgress(task: "gap", images: 100, total: 100, imagesPerSecond: 1, eta: 0))
        XCTAssertEqual(writes.count, 2)
        for w in writes {
            XCTAssertTrue(w.hasPrefix("\r[gap] "), w)
            XCTAssertTrue(w.hasSuffix("ETA 0:00\u{1B}[K") || w.hasSuffix("ETA 2:05\u{1B}[K"), w)
        }
        observer.clearBar()
        XCTAssertEqual(writes.last, "\r\u{1B}[2K")
    }
}
