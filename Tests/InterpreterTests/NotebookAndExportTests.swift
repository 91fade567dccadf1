import Distillation
import Foundation
import Plotting
import XCTest

@testable import EngineCommands
@testable import Language

/// A short script written as a notebook matches its golden Markdown (timings and measured numbers masked: each
/// run of digits on the training and evaluation lines becomes #),
/// and `export` writes exactly the recorded run.
final class NotebookAndExportTests: XCTestCase {
    func testShortScriptNotebookMatchesGoldenAndExportEqualsTheRecord() throws {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"),
            "dataset-fashion-mnist is not installed")
        let folder = try XCTUnwrap(Bundle.module.url(forResource: "EngineGolden", withExtension: nil))
            .appendingPathComponent("notebook")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-notebook-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }

        let script = try String(contentsOf: folder.appendingPathComponent("short.sskd"), encoding: .utf8)
        let session = Session.withEngine(output: CaptureSink())
        XCTAssertNil(session.options.set("out", .string(dir.path)))
        session.keepGoing = true
        XCTAssertEqual(session.run(script, name: "short.sskd"), .runtimeError, "the last cell is an error on purpose")
        try session.writeNotebook(to: "nb.md")

        let masked = try String(contentsOfFile: "nb.md", encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false
        ).map { line in
            line.hasPrefix("[scratch]") || line.contains("top-1")
                ? line.replacingOccurrences(of: "[0-9]+", with: "#", options: .regularExpression) : String(line)
        }.joined(separator: "\n")
        let golden = try String(contentsOf: folder.appendingPathComponent("short.md"), encoding: .utf8)
        XCTAssertEqual(masked, golden)
        let png = try Data(contentsOf: dir.appendingPathComponent("nb_files/plot-6.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])

        // export: the CSV rows are the run's steps, the epoch metrics on the epoch's last step.
        guard case .object(let o)? = session.lookup("r"), let run = o as? RunObject, let record = run.records.first
        else {
            return XCTFail("r is not a run")
        }
        let rows = try String(contentsOfFile: "r.csv", encoding: .utf8).components(separatedBy: "\r\n").filter {
            !$0.isEmpty
        }
        // RFC 4180 lines end in CRLF
        .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(
            rows[0], ["run", "step", "epoch", "loss", "lr", "val_top1", "val_loss", "feature_distance", "cosine"])
        XCTAssertEqual(rows.count - 1, record.steps.count)
        // Float32 values (loss, lr) are written in Float's shortest form and read back exactly as Floats.
        for (row, step) in zip(rows.dropFirst(), record.steps) {
            XCTAssertEqual(Int(row[1]), step.step)
            XCTAssertEqual(Float(row[3]).map(Double.init), step.loss)
            XCTAssertEqual(Float(row[4]).map(Double.init), step.learningRate)
        }
        XCTAssertEqual(rows[1][4], "0.1", "lr 0.1, not 0.10000000149011612")
        XCTAssertEqual(Double(rows.last![5]), record.epochs.last?.top1)
        XCTAssertEqual(rows.last![6], record.epochs.last?.valLoss.map(CSVColumn.number))
    }
}
