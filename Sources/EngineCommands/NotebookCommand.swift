import Foundation
import Language
import Plotting

// notebook save FILE, `sskd --notebook FILE`, and the figures plots leave for them.

extension Session {
    func registerNotebookCommand() {
        commands.register(
            CommandSpec(
                "notebook",
                summary:
                    "write this session as a Jupyter (.ipynb) or Markdown (.md) notebook: commands, outputs, plots",
                arguments: [
                    ArgumentSpec("action", .word(choices: ["save"]), "what to do"),
                    NotebookArgument.file.spec,
                ],
                example: "notebook save session.ipynb", recorded: .never, returnsValue: false, changesState: false
            ) { inv, session in
                let path = try inv.get(NotebookArgument.file)
                // `cannot write FILE: ...`
                do { try session.writeNotebook(to: path) } catch { throw inv.error("\(error)", at: "file") }
                session.print("wrote \(path)")
                return .none
            })
    }

    /// Checks that a notebook can be written at `path` before anything runs (`--notebook`): its extension names a
    /// format and its folder exists.
    /// - Throws: an error naming the file: the extension is neither `.md` nor `.ipynb`, or the folder is missing.
    public static func checkNotebookPath(_ path: String) throws {
        do { _ = try NotebookFormat(path: path) } catch { throw EngineError(ownMessage(error)) }
        try requireNotebookFile(path)
        try requireParentFolder(of: path)
    }

    /// Checks that `path` can name a notebook file: no trailing `/`, not an existing folder
    /// (`NotebookWriter.checkTarget`).
    /// - Throws: `EngineError` `cannot write PATH: it is a folder; give a file name` (or the trailing `/`).
    static func requireNotebookFile(_ path: String) throws {
        do { try NotebookWriter.checkTarget(path) } catch PlotError.writeFailed(_, let reason) {
            throw EngineError("cannot write \(path): \(reason)")
        }
    }

    /// Writes every cell so far as a notebook, Jupyter for `.ipynb` and Markdown for `.md` (see
    /// ``notebookCells(scriptName:)`` for what becomes which cell).
    ///
    /// - Parameter scriptName: the script the session ran (`sskd --notebook FILE SCRIPT`): the title when the script
    ///   does not start with a comment line.
    /// - Throws: an error naming the file (`cannot write FILE: reason`): an extension other than `.md` or `.ipynb`, a
    ///   path ending in `/` or naming a folder, a missing folder (never created), or a failed write; nothing is
    ///   written then.
    public func writeNotebook(to path: String, scriptName: String? = nil) throws {
        do {
            let format = try NotebookFormat(path: path)
            try Self.requireNotebookFile(path)
            try requireParentFolder(of: path)
            let (title, cells) = notebookCells(scriptName: scriptName)
            try format.write(cells: cells, title: title, to: path)
        } catch let error as EngineError { throw error } catch { throw EngineError(ownMessage(error)) }
    }

    /// The session's cells as notebook cells, and the notebook's title.
    ///
    /// Each top-level statement is a code cell numbered like the prompt (`[3]`), with its printed text, figures
    /// (where they were drawn in the text) and error. The whole `#` comment lines before a statement in its script
    /// become a Markdown cell, as does the text printed by `note` (consecutive notes and comments join into one).
    /// A file run by `source` becomes cells of its own after the `source` cell: each of its statements a code cell
    /// numbered `5.1`, `5.2`, ... (no Jupyter `execution_count`), its notes and comments Markdown. `pause`
    /// statements are left out. The title is the first line of the comment before the first statement (or before
    /// the first statement of the file the first statement sources), else `scriptName`'s file name, else
    /// `sskd session`.
    func notebookCells(scriptName: String?) -> (title: String, cells: [NotebookCell]) {
        var title: String?
        var cells: [NotebookCell] = []
        var pending = ""  // Markdown not yet emitted
        var pendingIsNote = false
        func markdown(_ text: String, isNote: Bool) {
            if !pending.isEmpty && !(isNote && pendingIsNote) { pending += "\n" }
            pending += isNote ? text : text + "\n"
            pendingIsNote = isNote
        }
        func flush() {
            let text = pending.trimmingCharacters(in: .newlines)
            if !text.isEmpty { cells.append(NotebookCell(markdown: text)) }
            pending = ""
            pendingIsNote = false
        }
        // The first comment line of the script, or of the file its first statement sources, is the title.
        func takeTitle(_ comment: String?, eligible: Bool) -> String? {
            guard title == nil, eligible, pending.isEmpty, let comment else { return comment }
            let lines = comment.split(separator: "\n", omittingEmptySubsequences: false)
            title = String(lines[0])
            let rest = lines.dropFirst().joined(separator: "\n").trimmingCharacters(in: .newlines)
            return rest.isEmpty ? nil : rest
        }

        for (index, cell) in self.cells.enumerated() {
            let bytes = Array(cell.output.utf8)
            // The cell's own statement, then one segment per statement of a sourced file, each with the figures
            // drawn while it ran (marks are in the order they were made; offsets alone cannot tell a figure at the
            // end of one statement from one at the start of the next).
            var segments: [Segment] = [Segment(source: cell.source, command: cell.command, comment: cell.comment)]
            for mark in cell.marks {
                switch mark.kind {
                case .statement(let source, let command, let comment):
                    segments.append(Segment(source: source, command: command, comment: comment, start: mark.offset))
                case .figure(let files):
                    segments[segments.count - 1].figures.append((mark.offset, files))
                }
            }
            var sourced = 0  // code cells made of the sourced statements so far
            for (k, segment) in segments.enumerated() {
                let end = k + 1 < segments.count ? segments[k + 1].start : bytes.count
                let error = k == segments.count - 1 ? cell.error.map { "\($0)" } : nil
                let first = index == 0 && (k == 0 || (k == 1 && segments[0].command == "source"))
                if let comment = takeTitle(segment.comment, eligible: first) { markdown(comment, isNote: false) }
                let text = String(decoding: bytes[segment.start..<end], as: UTF8.self)
                let ownFigures = segment.figures
                if segment.command == "note", error == nil, ownFigures.isEmpty {
                    markdown(text, isNote: true)
                    continue
                }
                if segment.command == "pause", error == nil, text.isEmpty, ownFigures.isEmpty { continue }
                var outputs: [NotebookCell.Output] = []
                var at = segment.start
                for figure in ownFigures {
                    if figure.offset > at {
                        outputs.append(.text(String(decoding: bytes[at..<figure.offset], as: UTF8.self)))
                    }
                    outputs.append(.image(figure.files))
                    at = max(at, figure.offset)
                }
                if end > at { outputs.append(.text(String(decoding: bytes[at..<end], as: UTF8.self))) }
                if let error { outputs.append(.error(error + "\n")) }
                flush()
                if k > 0 { sourced += 1 }
                cells.append(
                    NotebookCell(
                        code: segment.source, label: k == 0 ? "\(cell.number)" : "\(cell.number).\(sourced)",
                        executionCount: k == 0 ? cell.number : nil, outputs: outputs))
            }
        }
        flush()
        return (title ?? scriptName.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "sskd session", cells)
    }
}

/// A statement of a notebook cell: the cell's own or one of a file it sourced, from the UTF-8 offset `start` of
/// the cell's output to the next segment's start, with the figures it drew.
private struct Segment {
    var source: String
    var command: String?
    var comment: String?
    var start = 0
    var figures: [(offset: Int, files: [URL])] = []
}

/// A folder of this process for the images notebooks embed (PNG copies of plots drawn in the console or written as
/// SVG or PDF, and snapshots of PNG files), made on first use in the system's temporary folder and removed when the
/// process exits; nil when it cannot be made (plots then still draw, and a notebook shows their text instead).
let figureFolder: URL? = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "sskd-figures-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))")
    guard (try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)) != nil else {
        return nil
    }
    figureFolderToRemove = url.path
    atexit {
        if let path = figureFolderToRemove { try? FileManager.default.removeItem(atPath: path) }
    }
    return url
}()

/// The path `atexit` removes (set once, when ``figureFolder`` is made).
nonisolated(unsafe) private var figureFolderToRemove: String?

/// A new file name with extension `ext` in ``figureFolder``, nil without that folder.
func newFigureURL(_ ext: String) -> URL? {
    figureFolder?.appendingPathComponent("figure-\(UUID().uuidString).\(ext)")
}

/// `notebook save FILE`.
enum NotebookArgument {
    /// `FILE`, the notebook.
    static let file = TypedArgument<String>.text(
        "file", .path, "the notebook: .ipynb (Jupyter, images inside) or .md (Markdown, images in FILE_files/)")
}
