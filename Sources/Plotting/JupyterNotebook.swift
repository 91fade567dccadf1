import Foundation
import Storage

/// Writes a session as a Jupyter notebook, nbformat 4.5 JSON (the schema `nbformat/v4/nbformat.v4.5.schema.json`
/// of the Jupyter `nbformat` package, which validates it): the title as a Markdown cell `# TITLE`, then each cell
/// with a unique `id`. A code cell has the command as `source` (a list of lines), its `execution_count` (null
/// for a statement of a sourced file) and `outputs` in the order they were produced: printed text as a `stream`
/// on `stdout`, the error that stopped it as a `stream` on `stderr`, each figure as `display_data` with the PNG
/// base64-encoded under `image/png` (an SVG as text under `image/svg+xml` too) and `text/plain` naming it.
/// Markdown cells carry their text. `metadata.language_info.name` is `sskd`; there is no kernel, so Jupyter opens
/// the notebook to read, not to run. Text is escaped like the terminal's (`Storage.printableMessage`); the JSON is
/// written by `JSONSerialization` with sorted keys, atomically; images are embedded, so no folder is written.
public struct JupyterNotebookWriter {
    /// The `.ipynb` file.
    public let url: URL

    /// The path as given (`NotebookWriter.checkTarget(_:)` reads its trailing `/`).
    let path: String

    /// Creates a writer for the notebook at `path` (`.ipynb` is expected but not enforced).
    public init(path: String) {
        self.path = path
        url = URL(fileURLWithPath: path)
    }

    /// Writes the notebook.
    ///
    /// - Parameter title: the text of the first cell's level-1 heading.
    /// - Throws: ``PlotError/writeFailed(path:reason:)`` naming the notebook, or an image that cannot be read.
    public func write(cells: [NotebookCell], title: String = "sskd notebook") throws {
        try NotebookWriter.checkTarget(path)
        let data = try JSONSerialization.data(
            withJSONObject: try document(cells: cells, title: title),
            options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try writeAtomically(data + Data("\n".utf8), to: url)
    }

    /// The notebook as JSON values (dictionaries, arrays, strings, numbers, `NSNull`).
    /// - Throws: ``PlotError/writeFailed(path:reason:)`` when an image cannot be read.
    func document(cells: [NotebookCell], title: String) throws -> [String: Any] {
        var json: [[String: Any]] = [markdownCell("# " + printable(title), id: "title")]
        for (i, cell) in cells.enumerated() {
            let id = "cell-\(i + 1)"
            guard cell.kind == .code else {
                json.append(markdownCell(printableMessage(cell.source.trimmingCharacters(in: .newlines)), id: id))
                continue
            }
            var outputs: [[String: Any]] = []
            for output in cell.outputs {
                switch output {
                case .text(let text): appendStream(text, name: "stdout", to: &outputs)
                case .error(let text): appendStream(text, name: "stderr", to: &outputs)
                case .image(let files): outputs.append(try displayData(files, label: cell.label ?? ""))
                }
            }
            json.append([
                "cell_type": "code", "id": id, "metadata": [String: Any](),
                "execution_count": cell.executionCount.map { $0 as Any } ?? NSNull(),
                "source": lines(cell.source), "outputs": outputs,
            ])
        }
        return [
            "nbformat": 4, "nbformat_minor": 5, "cells": json,
            "metadata": ["language_info": ["name": "sskd", "file_extension": ".sskd", "mimetype": "text/plain"]],
        ]
    }

    /// A Markdown cell of `text`.
    private func markdownCell(_ text: String, id: String) -> [String: Any] {
        ["cell_type": "markdown", "id": id, "metadata": [String: Any](), "source": lines(text)]
    }

    /// Appends `text` to the last output when that is a stream of the same name, else as a new stream; blank text
    /// adds nothing.
    private func appendStream(_ text: String, name: String, to outputs: inout [[String: Any]]) {
        guard !text.isEmpty else { return }
        var text = printableMessage(text)
        if !text.hasSuffix("\n") { text += "\n" }
        if let last = outputs.last, last["output_type"] as? String == "stream", last["name"] as? String == name,
            let previous = last["text"] as? [String]
        {
            outputs[outputs.count - 1]["text"] = lines(previous.joined() + text)
        } else {
            outputs.append(["output_type": "stream", "name": name, "text": lines(text)])
        }
    }

    /// The `display_data` output of a figure: its first PNG under `image/png`, its first SVG under `image/svg+xml`.
    /// - Throws: ``PlotError/writeFailed(path:reason:)`` when a file cannot be read or none is a PNG or an SVG.
    private func displayData(_ files: [URL], label: String) throws -> [String: Any] {
        var data: [String: Any] = ["text/plain": ["<plot \(label)>"]]
        for file in files {
            let ext = file.pathExtension.lowercased()
            guard ext == "png" || ext == "svg", data[ext == "png" ? "image/png" : "image/svg+xml"] == nil else {
                continue
            }
            guard let bytes = FileManager.default.contents(atPath: file.path) else {
                throw PlotError.writeFailed(path: url.path, reason: "image \(file.path) cannot be read")
            }
            if ext == "png" {
                data["image/png"] = bytes.base64EncodedString()
            } else {
                data["image/svg+xml"] = lines(String(decoding: bytes, as: UTF8.self))
            }
        }
        guard data.count > 1 else {
            throw PlotError.writeFailed(
                path: url.path, reason: "no PNG or SVG image among \(files.map(\.lastPathComponent))")
        }
        return ["output_type": "display_data", "data": data, "metadata": [String: Any]()]
    }

    /// `text` as nbformat's multi-line string: a list of lines, each but the last ending in `\n`.
    func lines(_ text: String) -> [String] {
        var result: [String] = []
        var line = ""
        for character in text {
            line.append(character)
            if character == "\n" {
                result.append(line)
                line = ""
            }
        }
        if !line.isEmpty { result.append(line) }
        return result
    }
}
