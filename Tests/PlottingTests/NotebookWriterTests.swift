import Foundation
import TestSupport
import XCTest

@testable import Plotting

final class NotebookWriterTests: XCTestCase {
    /// A script's or a file's escape sequences (an OSC 52 clipboard write, a colour) reach the Markdown escaped, so
    /// `cat notebook.md` cannot act on the terminal; lines and tabs stay.
    func testControlCharactersAreEscapedInTheNotebook() throws {
        let directory = try makeTemporaryFolder("sskd-nb")
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = NotebookWriter(path: directory.appendingPathComponent("n.md").path)
        try writer.write(
            cells: [NotebookCell(number: 1, source: "print x  # \u{1B}[2J", output: "a\u{1B}]52;c;aGk=\u{07}\tb\nc")],
            title: "t\u{1B}[31m")
        let text = try String(contentsOf: writer.url, encoding: .utf8)
        XCTAssertFalse(text.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" }, text)
        XCTAssertTrue(text.contains("a\\u{1b}]52;c;aGk=\\u{7}\tb\nc"), text)
        XCTAssertTrue(text.hasPrefix("# t\\u{1b}[31m"), text)
    }

    func testNotebookMatchesGoldenMarkdownAndCollectsImages() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sskd-notebook-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = NotebookWriter(path: directory.appendingPathComponent("out.md").path)
        XCTAssertEqual(writer.filesDirectory.lastPathComponent, "out_files")
        XCTAssertEqual(writer.imageURL(cell: "3").lastPathComponent, "plot-3.png")
        XCTAssertEqual(writer.imageURL(cell: "3", index: 1).lastPathComponent, "plot-3-2.png")

        // One plot rendered straight to its policy path, one elsewhere that the writer must copy in.
        try FileManager.default.createDirectory(at: writer.filesDirectory, withIntermediateDirectories: true)
        let gnuplot = Gnuplot()
        let spec = try PlotSpec.loss(stages: Sample.lossStages)
        try gnuplot.render(spec, to: try .file(path: writer.imageURL(cell: "2").path, width: 400, height: 250))
        let elsewhere = directory.appendingPathComponent("acc.png")
        try gnuplot.render(
            .accuracy(runs: Sample.accuracyRuns), to: try .file(path: elsewhere.path, width: 400, height: 250))

        try writer.write(
            cells: [
                NotebookCell(
                    number: 1, source: "load teacher=resnet56.safetensors", output: "teacher: 0.85M parameters\n"),
                NotebookCell(
                    number: 2, source: "plot loss\nplot acc", images: [writer.imageURL(cell: "2"), elsewhere]),
                NotebookCell(number: 3, source: "echo ```", output: "```"),
            ], title: "SSKD on Fashion-MNIST")

        XCTAssertEqual(try String(contentsOf: writer.url, encoding: .utf8), goldenNotebook)
        XCTAssertEqual(try Data(contentsOf: writer.imageURL(cell: "2", index: 1)), try Data(contentsOf: elsewhere))
        XCTAssertEqual(
            Set(try FileManager.default.contentsOfDirectory(atPath: directory.path)),
            ["out.md", "out_files", "acc.png"], "no temporary files may be left behind")
        XCTAssertEqual(
            Set(try FileManager.default.contentsOfDirectory(atPath: writer.filesDirectory.path)),
            ["plot-2.png", "plot-2-2.png"])
    }

    func testImageLinksArePercentEncoded() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sskd-notebook-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = NotebookWriter(path: directory.appendingPathComponent("run (1).md").path)
        let image = directory.appendingPathComponent("a.png")
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: image)
        try writer.write(cells: [NotebookCell(number: 7, source: "plot gap", images: [image])])
        let markdown = try String(contentsOf: writer.url, encoding: .utf8)
        XCTAssertTrue(markdown.hasSuffix("![plot 7](run%20%281%29_files/plot-7.png)\n"), markdown)
        XCTAssertEqual(try Data(contentsOf: writer.imageURL(cell: "7")), Data([0x89, 0x50, 0x4E, 0x47]))
    }

    func testMissingImageIsATypedError() {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sskd-notebook-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = NotebookWriter(path: directory.appendingPathComponent("nb.md").path)
        let cell = NotebookCell(number: 1, source: "plot gap", images: [URL(fileURLWithPath: "/nonexistent/gap.png")])
        XCTAssertThrowsError(try writer.write(cells: [cell])) { error in
            XCTAssertEqual(
                error as? PlotError,
                .writeFailed(
                    path: writer.imageURL(cell: "1").path,
                    reason: "image /nonexistent/gap.png cannot be read"))
        }
    }

    /// An SVG figure keeps its extension in the notebook's folder (an SVG renamed `.png` is a broken image), and a
    /// cell's text and figures alternate in the order they were produced.
    func testSVGKeepsItsExtensionAndFiguresSitBetweenTheirTexts() throws {
        let directory = try makeTemporaryFolder("sskd-nb")
        defer { try? FileManager.default.removeItem(at: directory) }
        let svg = directory.appendingPathComponent("gap.svg")
        let png = directory.appendingPathComponent("gap.png")
        try Data("<svg xmlns=\"http://www.w3.org/2000/svg\"/>".utf8).write(to: svg)
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: png)
        let writer = NotebookWriter(path: directory.appendingPathComponent("n.md").path)
        try writer.write(
            cells: [
                NotebookCell(markdown: "Lesson *one*\n\nThe gap:"),
                NotebookCell(
                    code: "source lesson.sskd", label: "4.2", executionCount: nil,
                    outputs: [.text("before\n"), .image([svg, png]), .text("after\n"), .image([png]), .error("oops")]),
            ], title: "T")
        XCTAssertEqual(
            try String(contentsOf: writer.url, encoding: .utf8),
            """
            # T

            Lesson *one*

            The gap:

            ```sskd
            [4.2] sskd> source lesson.sskd
            ```

            ```text
            before
            ```

            ![plot 4.2](n_files/plot-4.2.svg)

            ```text
            after
            ```

            ![plot 4.2-2](n_files/plot-4.2-2.png)

            ```text
            oops
            ```

            """)
        XCTAssertEqual(try Data(contentsOf: writer.imageURL(cell: "4.2", extension: "svg")), try Data(contentsOf: svg))
        XCTAssertEqual(
            Set(try FileManager.default.contentsOfDirectory(atPath: writer.filesDirectory.path)),
            ["plot-4.2.svg", "plot-4.2-2.png"])
    }

    /// The notebook format comes from the extension; any other is an error naming it.
    func testNotebookFormatFromExtension() throws {
        XCTAssertEqual(try NotebookFormat(path: "a/b.ipynb"), .jupyter)
        XCTAssertEqual(try NotebookFormat(path: "b.MD"), .markdown)
        XCTAssertThrowsError(try NotebookFormat(path: "x.txt")) {
            XCTAssertEqual(
                "\($0)", "plot: cannot write x.txt: a notebook is a .md (Markdown) or .ipynb (Jupyter) file, not '.txt'"
            )
        }
        XCTAssertThrowsError(try NotebookFormat(path: "x")) {
            XCTAssertTrue("\($0)".hasSuffix("not a file without an extension"), "\($0)")
        }
    }

    /// A notebook that cannot be written (its path is a folder, or ends in `/`) is refused before any image is
    /// copied: no `NAME_files/` is left behind, and no folder is made for a trailing `/`.
    func testFolderTargetsAreRefusedBeforeAnyImage() throws {
        let directory = try makeTemporaryFolder("sskd-nb")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = directory.appendingPathComponent("a.png")
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: image)
        let cells = [NotebookCell(number: 1, source: "plot loss", images: [image])]
        let folder = directory.appendingPathComponent("dirmd.md")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        XCTAssertThrowsError(try NotebookWriter(path: folder.path).write(cells: cells)) {
            XCTAssertTrue("\($0)".contains("it is a folder"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("dirmd_files").path))
        for path in [directory.path + "/x.md/", directory.path + "/x.ipynb/"] {
            let write = {
                path.hasSuffix("md/")
                    ? try NotebookWriter(path: path).write(cells: cells)
                    : try JupyterNotebookWriter(path: path).write(cells: cells)
            }
            XCTAssertThrowsError(try write()) { XCTAssertTrue("\($0)".contains("not a folder"), "\($0)") }
        }
        let link = directory.appendingPathComponent("b.md")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "/nonexistent/x.md")
        XCTAssertThrowsError(try NotebookWriter(path: link.path).write(cells: cells)) {
            XCTAssertTrue("\($0)".contains("it is a symbolic link"), "\($0)")
        }
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
            ["a.png", "b.md", "dirmd.md"],
            "nothing was written")
    }

    /// Saving again with fewer plots removes the images the new notebook does not link, only those named as the
    /// writer names them; the folder goes when nothing is left in it.
    func testSavingAgainRemovesStaleImagesOnly() throws {
        let directory = try makeTemporaryFolder("sskd-nb")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = directory.appendingPathComponent("a.png")
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: image)
        let writer = NotebookWriter(path: directory.appendingPathComponent("n.md").path)
        try writer.write(cells: [
            NotebookCell(number: 1, source: "plot loss", images: [image]),
            NotebookCell(number: 2, source: "plot acc", images: [image, image]),
            NotebookCell(code: "source \"x\"", label: "3.1", executionCount: nil, outputs: [.image([image])]),
        ])
        let files = writer.filesDirectory.path
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: files).sorted(),
            ["plot-1.png", "plot-2-2.png", "plot-2.png", "plot-3.1.png"])
        try Data("mine".utf8).write(to: writer.filesDirectory.appendingPathComponent("plot-notes.png"))
        try Data("mine".utf8).write(to: writer.filesDirectory.appendingPathComponent("keep.png"))
        try writer.write(cells: [NotebookCell(number: 2, source: "plot acc", images: [image])])
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: files).sorted(),
            ["keep.png", "plot-2.png", "plot-notes.png"])
        try FileManager.default.removeItem(atPath: files + "/keep.png")
        try FileManager.default.removeItem(atPath: files + "/plot-notes.png")
        try writer.write(cells: [NotebookCell(number: 1, source: "print 1", output: "1\n")])
        XCTAssertFalse(FileManager.default.fileExists(atPath: files), "no image left: the folder goes")
        XCTAssertTrue(NotebookWriter.isImageName("plot-12.3-4.svg"))
        XCTAssertFalse(NotebookWriter.isImageName("plot-a.png") || NotebookWriter.isImageName("plot-1-.png"))
    }
}
