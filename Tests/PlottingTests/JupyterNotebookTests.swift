import Foundation
import TestSupport
import XCTest

@testable import Plotting

/// The Jupyter writer's JSON, read back as JSON: nbformat 4.5 fields, code and Markdown cells, outputs in order
/// (streams merged, the error on stderr, figures as base64 PNG and SVG text), unique cell ids, escaped text; and
/// the real `nbformat` validator's verdict when `.venv` has it.
final class JupyterNotebookTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-ipynb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A notebook of a Markdown cell, a code cell with text, a PNG figure, more text and an error, a code cell of a
    /// sourced statement (no execution count) with an SVG figure and its PNG copy.
    func writeSample() throws -> URL {
        let png = directory.appendingPathComponent("a.png")
        try Gnuplot().render(.loss(stages: Sample.lossStages), to: .file(png, format: .png, width: 320, height: 200))
        let svg = directory.appendingPathComponent("b.svg")
        try Data("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"/>\n".utf8).write(to: svg)
        let url = directory.appendingPathComponent("n.ipynb")
        try JupyterNotebookWriter(path: url.path).write(
            cells: [
                NotebookCell(markdown: "Stage **one**\nfirst.\n"),
                NotebookCell(
                    code: "for i in 1..2 {\n  print i\n}", label: "2", executionCount: 2,
                    outputs: [
                        .text("1\n"), .text("2\n"), .image([png]), .text("after \u{1B}[31mred\n"),
                        .error("x.sskd:3:1: error: boom\n"),
                    ]),
                NotebookCell(code: "plot gap", label: "3.1", executionCount: nil, outputs: [.image([svg, png])]),
            ], title: "Lesson 5: the gap")
        return url
    }

    func testJupyterNotebookStructure() throws {
        let url = try writeSample()
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual(json["nbformat"] as? Int, 4)
        XCTAssertEqual(json["nbformat_minor"] as? Int, 5)
        let language = (json["metadata"] as? [String: Any])?["language_info"] as? [String: Any]
        XCTAssertEqual(language?["name"] as? String, "sskd")
        let cells = try XCTUnwrap(json["cells"] as? [[String: Any]])
        XCTAssertEqual(cells.map { $0["cell_type"] as? String }, ["markdown", "markdown", "code", "code"])
        XCTAssertEqual(Set(cells.compactMap { $0["id"] as? String }).count, 4, "ids are unique")
        XCTAssertEqual(cells[0]["source"] as? [String], ["# Lesson 5: the gap"])
        XCTAssertEqual(cells[1]["source"] as? [String], ["Stage **one**\n", "first."])

        let code = cells[2]
        XCTAssertEqual(code["execution_count"] as? Int, 2)
        XCTAssertEqual(code["source"] as? [String], ["for i in 1..2 {\n", "  print i\n", "}"])
        let outputs = try XCTUnwrap(code["outputs"] as? [[String: Any]])
        XCTAssertEqual(
            outputs.map { $0["output_type"] as? String }, ["stream", "display_data", "stream", "stream"])
        XCTAssertEqual(outputs[0]["name"] as? String, "stdout")
        XCTAssertEqual(outputs[0]["text"] as? [String], ["1\n", "2\n"], "consecutive texts make one stream")
        let data = try XCTUnwrap(outputs[1]["data"] as? [String: Any])
        let png = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(data["image/png"] as? String)))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(png, try Data(contentsOf: directory.appendingPathComponent("a.png")))
        XCTAssertEqual(data["text/plain"] as? [String], ["<plot 2>"])
        XCTAssertEqual(outputs[2]["text"] as? [String], ["after \\u{1b}[31mred\n"], "escape sequences are escaped")
        XCTAssertEqual(outputs[3]["name"] as? String, "stderr")
        XCTAssertEqual(outputs[3]["text"] as? [String], ["x.sskd:3:1: error: boom\n"])

        let sourced = cells[3]
        XCTAssertTrue(sourced["execution_count"] is NSNull, "a sourced statement has no execution count")
        let figure = try XCTUnwrap((sourced["outputs"] as? [[String: Any]])?.first?["data"] as? [String: Any])
        XCTAssertEqual(
            figure["image/svg+xml"] as? [String],
            ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"/>\n"])
        XCTAssertNotNil(figure["image/png"] as? String)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
            ["a.png", "b.svg", "n.ipynb"],
            "no folder and no temporary file beside the notebook")
    }

    func testUnreadableImageIsAnErrorAndNothingIsWritten() {
        let url = directory.appendingPathComponent("n.ipynb")
        let cell = NotebookCell(number: 1, source: "plot gap", images: [URL(fileURLWithPath: "/nonexistent/g.png")])
        XCTAssertThrowsError(try JupyterNotebookWriter(path: url.path).write(cells: [cell])) {
            XCTAssertEqual(
                $0 as? PlotError, .writeFailed(path: url.path, reason: "image /nonexistent/g.png cannot be read"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    /// The real validator: `nbformat.validate` (the Jupyter schema, nbformat 4.5) accepts the notebook. Needs
    /// `.venv/bin/python` with nbformat (scripts/fixtures-venv installs it); skipped with the reason printed otherwise.
    func testNbformatValidatorAcceptsTheNotebook() throws {
        let url = try writeSample()
        let result = try validateOrSkip(url)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output.trimmingCharacters(in: .whitespacesAndNewlines), "valid 4.5 2 2")
    }
}

/// `TestSupport.validateWithNbformat`, skipped (saying why) when the venv or its nbformat is missing.
func validateOrSkip(_ url: URL) throws -> (status: Int32, output: String) {
    guard let result = try TestSupport.validateWithNbformat(url) else {
        print(
            "nbformat validation: skipped: .venv/bin/python with nbformat is absent (scripts/fixtures-venv installs it)"
        )
        throw XCTSkip("no .venv with nbformat (scripts/fixtures-venv installs it)")
    }
    return result
}
