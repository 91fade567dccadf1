import Distillation
import Foundation
import Plotting
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// A short script written as a notebook matches its golden Markdown (timings and measured numbers masked: each
/// run of digits on the training and evaluation lines becomes #),
/// and `export` writes exactly the recorded run.
final class NotebookAndExportTests: XCTestCase {
    func testShortScriptNotebookMatchesGoldenAndExportEqualsTheRecord() throws {
        try skipUnlessFashionMNIST()
        let folder = try XCTUnwrap(Bundle.module.url(forResource: "EngineGolden", withExtension: nil))
            .appendingPathComponent("notebook")
        let dir = try makeTemporaryFolder("sskd-notebook")
        defer { try? FileManager.default.removeItem(at: dir) }
        let previous = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }

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

    /// A lesson run with `source`: its comments and notes become Markdown cells, its statements code cells `1.1`,
    /// `1.2`, ... with their outputs, each figure beside the note that explains it and in place of the console's
    /// ASCII art (which the console still shows), an SVG plot kept as SVG, a PDF plot shown by its PNG copy; the
    /// `.ipynb` passes the nbformat validator.
    func testSourcedLessonBecomesCellsWithFiguresInPlace() throws {
        try skipUnlessFashionMNIST()
        let dir = try makeTemporaryFolder("sskd-nb")
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        # Lesson X: a title
        # More words.
        note "Train a tiny model."
        set terminal dumb
        data fashion-mnist limit=100 val=20 seed=2 augment=false
        m = model cnn widths=[4] seed=1
        train m epochs=1 batch=50 lr=0.1
        note "The loss:"
        plot loss m
        pause
        note "As SVG and PDF:"
        plot loss m to="\(dir.path)/loss.svg" size="320x200"
        plot loss m to="\(dir.path)/loss.pdf" size="320x200"
        print "end"
        """.write(to: dir.appendingPathComponent("lesson.sskd"), atomically: true, encoding: .utf8)
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("source \"\(dir.path)/lesson.sskd\"\nprint 1", name: "in"), .ok, sink.text)
        XCTAssertTrue(sink.text.contains("Training loss: "), "the console shows the ASCII plot")
        try session.writeNotebook(to: dir.appendingPathComponent("nb.ipynb").path)
        try session.writeNotebook(to: dir.appendingPathComponent("nb.md").path)

        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("nb.ipynb")))
                as? [String: Any])
        let cells = try XCTUnwrap(json["cells"] as? [[String: Any]])
        func text(_ cell: [String: Any]) -> String { (cell["source"] as? [String] ?? []).joined() }
        func outputs(_ cell: [String: Any]) -> [[String: Any]] { cell["outputs"] as? [[String: Any]] ?? [] }
        XCTAssertEqual(
            cells.map { ($0["cell_type"] as? String ?? "?").prefix(1) + ":" + text($0).prefix(12) },
            [
                "m:# Lesson X: ", "c:source \"/tmp", "m:More words.\n", "c:set terminal", "c:data fashion",
                "c:m = model cn", "c:train m epoc", "m:The loss:", "c:plot loss m", "m:As SVG and P",
                "c:plot loss m ", "c:plot loss m ", "c:print \"end\"", "c:print 1",
            ].map { $0.hasPrefix("c:source") ? "c:source \"" + dir.path.prefix(4) : $0 })
        XCTAssertEqual(text(cells[2]), "More words.\n\nTrain a tiny model.")
        XCTAssertEqual(cells[1]["execution_count"] as? Int, 1)
        XCTAssertTrue(cells[3]["execution_count"] is NSNull)
        XCTAssertEqual(cells[13]["execution_count"] as? Int, 2)
        // The inline plot: one image and no ASCII copy.
        XCTAssertEqual(outputs(cells[8]).map { $0["output_type"] as? String }, ["display_data"])
        let png = try XCTUnwrap((outputs(cells[8])[0]["data"] as? [String: Any])?["image/png"] as? String)
        XCTAssertEqual(Array(try XCTUnwrap(Data(base64Encoded: png)).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        // to="x.svg": the message, then the SVG and its PNG copy; to="x.pdf": the PNG copy only.
        XCTAssertEqual(outputs(cells[10]).map { $0["output_type"] as? String }, ["stream", "display_data"])
        let svg = try XCTUnwrap(outputs(cells[10])[1]["data"] as? [String: Any])
        XCTAssertEqual(Set(svg.keys), ["image/png", "image/svg+xml", "text/plain"])
        let pdf = try XCTUnwrap(outputs(cells[11]).last?["data"] as? [String: Any])
        XCTAssertEqual(Set(pdf.keys), ["image/png", "text/plain"])
        let validated = try validateNotebook(dir.appendingPathComponent("nb.ipynb"))
        XCTAssertEqual(validated.status, 0, validated.output)
        XCTAssertTrue(validated.output.hasPrefix("valid 4.5 "), validated.output)

        let markdown = try String(contentsOf: dir.appendingPathComponent("nb.md"), encoding: .utf8)
        XCTAssertTrue(markdown.hasPrefix("# Lesson X: a title\n"), markdown)
        XCTAssertTrue(
            markdown.contains(
                "The loss:\n\n```sskd\n[1.5] sskd> plot loss m\n```\n\n![plot 1.5](nb_files/plot-1.5.png)\n"),
            markdown)
        XCTAssertTrue(markdown.contains("![plot 1.6](nb_files/plot-1.6.svg)"), markdown)
        XCTAssertTrue(markdown.contains("![plot 1.7](nb_files/plot-1.7.png)"), markdown)
        XCTAssertFalse(markdown.contains("Training loss: "), "no ASCII copy of the plot in the notebook")
        XCTAssertFalse(markdown.contains("pause"), "pauses are left out")
        let files = dir.appendingPathComponent("nb_files")
        XCTAssertTrue(
            try String(contentsOf: files.appendingPathComponent("plot-1.6.svg"), encoding: .utf8).contains("<svg"))
        for name in ["plot-1.5.png", "plot-1.7.png"] {
            XCTAssertEqual(
                Array(try Data(contentsOf: files.appendingPathComponent(name)).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        }
    }

    /// Lesson 5 as a script with `--notebook`-style writing: a valid nbformat 4.5 notebook titled by the lesson's
    /// first comment line, with code cells, outputs and its three plots as PNG.
    func testLessonFiveNotebookValidates() throws {
        try skipUnlessFashionMNIST()
        let dir = try makeTemporaryFolder("sskd-nb")
        defer { try? FileManager.default.removeItem(at: dir) }
        let lesson = packageRoot.appendingPathComponent("sessions/tutorial/5-reading-the-gap-plot.sskd")
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(try session.runFile(lesson.path), .ok, sink.text)
        let url = dir.appendingPathComponent("lesson5.ipynb")
        try session.writeNotebook(to: url.path, scriptName: lesson.path)
        let validated = try validateNotebook(url)
        XCTAssertEqual(validated.status, 0, validated.output)
        let counts = validated.output.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .newlines)) }
        XCTAssertTrue(validated.output.hasPrefix("valid 4.5 "), validated.output)
        XCTAssertGreaterThanOrEqual(counts.first ?? 0, 10, "code cells with outputs")
        XCTAssertEqual(counts.last, 3, "gap, loss and acc plots as PNG")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        let first = (json?["cells"] as? [[String: Any]])?.first?["source"] as? [String]
        XCTAssertEqual(first, ["# Lesson 5: gap, plot gap, plot loss and plot acc, and how to read them."])
    }

    /// `--notebook` checks its file before anything runs: a missing folder or an unknown extension is a usage error
    /// (64) and nothing runs; a script's first comment line titles the notebook.
    func testNotebookFlagChecksItsFileFirst() throws {
        let binary = try CommandLineTests.binary()
        let dir = try makeTemporaryFolder("sskd-nb")
        defer { try? FileManager.default.removeItem(at: dir) }
        func sskd(_ arguments: [String]) throws -> (out: String, err: String, code: Int32) {
            try runSeparate(binary, arguments, in: dir)
        }
        let missing = try sskd(["--notebook", "nope/x.ipynb", "-c", "print 1"])
        XCTAssertEqual(missing.code, 64)
        XCTAssertEqual(missing.out, "", "nothing ran")
        XCTAssertTrue(
            missing.err.contains("--notebook: cannot write nope/x.ipynb: folder 'nope' does not exist"), missing.err)
        let wrong = try sskd(["--notebook", "x.html", "-c", "print 1"])
        XCTAssertEqual(wrong.code, 64)
        XCTAssertTrue(wrong.err.contains("not '.html'"), wrong.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("nope").path))

        try "#!/usr/bin/env sskd\n# Tiny: a title\n\n# and a remark\nprint 2\n".write(
            to: dir.appendingPathComponent("t.sskd"), atomically: true, encoding: .utf8)
        let ran = try sskd(["--notebook", "t.ipynb", "t.sskd"])
        XCTAssertEqual(ran.code, 0, ran.err)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("t.ipynb")))
        let cells = (json as? [String: Any])?["cells"] as? [[String: Any]] ?? []
        XCTAssertEqual(
            cells.map { ($0["source"] as? [String] ?? []).joined() }, ["# Tiny: a title", "and a remark", "print 2"])
        let untitled = try sskd(["--notebook", "u.md", "-c", "print 3"])
        XCTAssertEqual(untitled.code, 0, untitled.err)
        XCTAssertTrue(
            try String(contentsOf: dir.appendingPathComponent("u.md"), encoding: .utf8).hasPrefix("# sskd session\n"))
    }

    /// `TestSupport.validateWithNbformat`, skipped (saying why) when the venv or its nbformat is missing.
    private func validateNotebook(_ url: URL) throws -> (status: Int32, output: String) {
        guard let result = try validateWithNbformat(url) else {
            print("nbformat validation: skipped: .venv/bin/python with nbformat is absent (scripts/fixtures-venv)")
            throw XCTSkip("no .venv with nbformat (scripts/fixtures-venv installs it)")
        }
        return result
    }
}
