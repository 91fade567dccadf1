import Distillation
import Foundation
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// What reports call a model bound to several names, what a run record says of its options and method, what `help`
/// offers, and what `notebook save` refuses.
final class ConsoleRecordsTests: XCTestCase {
    private func model(_ session: Session, _ name: String) throws -> ModelObject {
        guard case .object(let o)? = session.lookup(name), let m = o as? ModelObject else {
            throw XCTSkip("\(name) is not a model")
        }
        return m
    }

    /// `Session.boundName(of:)`: the name the command wrote (not a running loop's variable), else the first name
    /// bound, while still bound, else the alphabetically first; the same in every session.
    func testReportsNameAModelByAFixedRule() throws {
        for _ in 0..<6 {
            let sink = CaptureSink()
            let session = Session.withEngine(output: sink)
            let script = """
                student = model resnet8
                b = student
                zed = student
                freeze student.stage[2]
                freeze b.stage[1]
                unfreeze zed.stage[1]
                for m in [b] { freeze m.stage[3] }
                """
            XCTAssertEqual(session.run(script, name: "t"), .ok, sink.text)
            XCTAssertEqual(
                sink.text.split(separator: "\n").filter { $0.contains("froze") },
                ["froze student.stage[2]", "froze b.stage[1]", "unfroze zed.stage[1]", "froze student.stage[3]"])
            let student = try model(session, "b")
            XCTAssertEqual(session.workspace.name(of: student, in: session), "student", "the first name bound")
            XCTAssertEqual(session.run("student = model resnet8", name: "t2"), .ok)
            XCTAssertEqual(
                session.workspace.name(of: student, in: session), "b",
                "its first name now holds another model: the alphabetically first of b, m and zed")
            XCTAssertEqual(session.run("m = 1\nb = 2", name: "t3"), .ok)
            XCTAssertEqual(session.workspace.name(of: student, in: session), "zed")
            XCTAssertEqual(session.run("zed = 3", name: "t4"), .ok)
            XCTAssertEqual(session.workspace.name(of: student, in: session), "resnet8", "unbound: its architecture")
        }
    }

    /// Every option that shaped a run is in its record (`runs`, `export`): smoothing, warm-up, augmentation; the
    /// method says what trained (`train-frozen`, `head`), and `plot loss` of one run names the model and the run.
    func testRecordsHoldEveryOptionAndWhatTrained() throws {
        try skipUnlessFashionMNIST()
        let dir = try makeTemporaryFolder("sskd-records")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        let script = """
            data fashion-mnist limit=200 val=50
            one = model resnet8 widths=[4, 8, 8]
            train one steps=2 batch=50 smoothing=0.1 warmup=1 optimizer=adam
            freeze one.stage[1]
            train one steps=1 batch=50
            freeze one.backbone
            train one steps=1 batch=50
            export one to="\(dir.path)/one.json"
            runs
            """
        XCTAssertEqual(session.run(script, name: "t"), .ok, sink.text)
        let records = try model(session, "one").records
        XCTAssertEqual(records.map(\.method), ["scratch", "train-frozen", "head"])
        XCTAssertEqual(records.map(\.name), ["scratch", "train (stage 1 frozen)", "head (stages 1-3 frozen)"])
        let hp = records[0].hyperParameters
        XCTAssertEqual(hp["smoothing"], "0.1")
        XCTAssertEqual(hp["warmup"], "1")
        XCTAssertEqual(hp["optimizer"], "adam")
        XCTAssertEqual(hp["augment"], "crop 2")
        XCTAssertNil(hp["momentum"], "Adam has no momentum option")
        XCTAssertNil(records[1].hyperParameters["smoothing"], "no smoothing given: none recorded")
        let json = try String(contentsOfFile: dir.path + "/one.json", encoding: .utf8)
        XCTAssertTrue(json.contains("\"smoothing\" : \"0.1\""), json)
        XCTAssertTrue(json.contains("\"method\" : \"train-frozen\""), json)
        XCTAssertTrue(
            sink.text.contains(
                "augment=crop 2 batch=50 lr=0.1 optimizer=adam schedule=cosine seed=0 smoothing=0.1 steps=2 warmup=1 "
                    + "wd=0.0005"),
            "runs lists them: \(sink.text)")

        XCTAssertEqual(session.run("set terminal dumb\nplot loss one\nplot loss", name: "p"), .ok, sink.text)
        XCTAssertTrue(sink.text.contains("Training loss: one, 3 runs"), sink.text)
        let headFrozen = "h = model resnet8 widths=[4, 8, 8]\nfreeze h.head\ntrain h steps=1 batch=50"
        XCTAssertEqual(session.run(headFrozen, name: "h"), .ok, sink.text)
        let h = try model(session, "h").records
        XCTAssertEqual(h.map(\.method), ["train-frozen"], "a frozen head is not training from scratch")
        XCTAssertEqual(h.map(\.name), ["train (head frozen)"])
        let single = "x = model resnet8 widths=[4, 8, 8]\ntrain x steps=1 batch=50\nplot loss x"
        XCTAssertEqual(session.run(single, name: "s"), .ok, sink.text)
        XCTAssertTrue(sink.text.contains("Training loss: x (scratch)"), sink.text)
    }

    /// `help mimic` does not offer `smoothing=`, which mimic refuses (with its reason, tested in polish.sskd).
    func testMimicHelpLeavesOutTheOptionItRefuses() {
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("help mimic", name: "h"), .ok)
        XCTAssertTrue(sink.text.contains("mimic STUDENT TEACHER"), sink.text)
        XCTAssertFalse(sink.text.contains("smoothing"), sink.text)
        let kd = CaptureSink()
        XCTAssertEqual(Session.withEngine(output: kd).run("help kd", name: "h"), .ok)
        XCTAssertTrue(kd.text.contains("[smoothing=NUMBER]"), kd.text)
    }

    /// `notebook save` refuses a folder and a path ending in `/`, naming the path as written; nothing is written.
    func testNotebookSaveRefusesFolders() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-nbsave-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("dirmd.md"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let previous = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("notebook save \"dirmd.md\"", name: "a"), .runtimeError)
        XCTAssertEqual(session.run("notebook save \"xdir2.md/\"", name: "b"), .runtimeError)
        XCTAssertEqual(session.run("notebook save \"x.ipynb/\"", name: "c"), .runtimeError)
        let errors = sink.lines.joined(separator: "\n")
        XCTAssertTrue(errors.contains("cannot write dirmd.md: it is a folder; give a file name"), errors)
        XCTAssertTrue(errors.contains("cannot write xdir2.md/: a notebook is a file, not a folder"), errors)
        XCTAssertThrowsError(try Session.checkNotebookPath("x.ipynb/"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["dirmd.md"])
    }
}
