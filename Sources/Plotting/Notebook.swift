import Foundation
import Storage

/// One cell of a notebook: a command with its outputs, or explanatory Markdown text.
public struct NotebookCell: Equatable {
    /// A code cell (a command and what it produced) or a Markdown cell (notes, script comments).
    public enum Kind: Equatable {
        /// A command: ``NotebookCell/source`` is sskd code, ``NotebookCell/outputs`` what it produced.
        case code
        /// Text: ``NotebookCell/source`` is Markdown; there are no outputs.
        case markdown
    }

    /// One output of a code cell, in the order it was produced.
    public enum Output: Equatable {
        /// Printed text (stdout).
        case text(String)
        /// The error that stopped the command (stderr).
        case error(String)
        /// A figure: its image files, the first the one a Markdown notebook embeds (PNG or SVG); a Jupyter notebook
        /// embeds the first PNG (and an SVG as well).
        case image([URL])
    }

    /// Code or Markdown.
    public var kind: Kind
    /// How the cell is numbered: `3` for `[3] sskd> ...`, `5.2` for the second statement of a file sourced in
    /// cell 5; nil for Markdown cells.
    public var label: String?
    /// The Jupyter `execution_count`: the top-level cell number, nil for a statement of a sourced file.
    public var executionCount: Int?
    /// The command text as typed (may span several lines), or the Markdown text.
    public var source: String
    /// What the command produced, in order; empty for Markdown cells.
    public var outputs: [Output]

    /// A code cell.
    public init(code source: String, label: String, executionCount: Int?, outputs: [Output] = []) {
        kind = .code
        self.label = label
        self.executionCount = executionCount
        self.source = source
        self.outputs = outputs
    }

    /// A Markdown cell.
    public init(markdown source: String) {
        kind = .markdown
        label = nil
        executionCount = nil
        self.source = source
        outputs = []
    }

    /// A code cell numbered `number` whose text output comes first and its PNG images after it.
    public init(number: Int, source: String, output: String = "", images: [URL] = []) {
        self.init(
            code: source, label: String(number), executionCount: number,
            outputs: (output.isEmpty ? [] : [.text(output)]) + images.map { .image([$0]) })
    }
}

/// The notebook formats, chosen by the file's extension.
public enum NotebookFormat: String, CaseIterable {
    /// `.md`: Markdown with images in a folder beside it (``NotebookWriter``).
    case markdown = "md"
    /// `.ipynb`: Jupyter nbformat 4 JSON with the images inside it (``JupyterNotebookWriter``).
    case jupyter = "ipynb"

    /// The format for `path`'s extension (any case).
    ///
    /// - Throws: ``PlotError/unsupportedNotebookType(path:)`` for any other extension.
    public init(path: String) throws {
        guard let format = NotebookFormat(rawValue: URL(fileURLWithPath: path).pathExtension.lowercased()) else {
            throw PlotError.unsupportedNotebookType(path: path)
        }
        self = format
    }

    /// Writes `cells` under `title` as a notebook at `path` in this format (see each writer).
    ///
    /// - Throws: ``PlotError/writeFailed(path:reason:)`` naming the file or image at fault.
    public func write(cells: [NotebookCell], title: String, to path: String) throws {
        switch self {
        case .markdown: try NotebookWriter(path: path).write(cells: cells, title: title)
        case .jupyter: try JupyterNotebookWriter(path: path).write(cells: cells, title: title)
        }
    }
}

/// Writes a session as a Markdown notebook: for `out.md`, the title as a level-1 heading, each Markdown cell as
/// it is, each code cell as a fenced code block (`[3] sskd> mimic ...`), its text output in a fenced `text` block
/// below, and each figure as an image in `out_files/` (`![plot 3](out_files/plot-3.png)`, an SVG keeping its
/// `.svg`) at the place of the output where it was drawn. Fences grow past any backtick run inside the text
/// (CommonMark §4.5). Everything is written atomically, images first; `out_files/` is created when there are
/// images (the folder of `out.md` must exist).
public struct NotebookWriter {
    /// The Markdown file, e.g. `out.md`.
    public let url: URL

    /// The path as given (``checkTarget(_:)`` reads its trailing `/`).
    let path: String

    /// Creates a writer for the notebook at `path` (`.md` is expected but not enforced).
    public init(path: String) {
        self.path = path
        url = URL(fileURLWithPath: path)
    }

    /// The folder beside the notebook that holds its images: `out_files` for `out.md`.
    public var filesDirectory: URL {
        url.deletingLastPathComponent().appendingPathComponent(url.deletingPathExtension().lastPathComponent + "_files")
    }

    /// Where the `index`-th (from 0) image of the cell labelled `cell` goes, with the extension `ext`:
    /// `out_files/plot-3.png`, then `plot-3-2.png`, ...; `plot-5.2.svg` for a statement of a sourced file.
    public func imageURL(cell: String, index: Int = 0, extension ext: String = "png") -> URL {
        filesDirectory.appendingPathComponent((index == 0 ? "plot-\(cell)" : "plot-\(cell)-\(index + 1)") + "." + ext)
    }

    /// Writes the notebook, creating ``filesDirectory`` when there are images and copying each image in; then
    /// removes the images of an earlier notebook at the same path that this one does not link (files of
    /// ``filesDirectory`` named as ``imageURL(cell:index:extension:)`` names them, `plot-*.png` or `.svg`; other
    /// files are left alone), and the folder itself when that leaves it empty.
    ///
    /// - Parameter title: the level-1 heading at the top.
    /// - Throws: ``PlotError/writeFailed(path:reason:)`` naming the file or image at fault; the target is checked
    ///   first (``checkTarget(_:)``), so a notebook that cannot be written leaves no images behind.
    public func write(cells: [NotebookCell], title: String = "sskd notebook") throws {
        try Self.checkTarget(path)
        var linked: Set<String> = []
        if cells.contains(where: { $0.outputs.contains { if case .image = $0 { return true } else { return false } } })
        {
            do {
                try FileManager.default.createDirectory(at: filesDirectory, withIntermediateDirectories: true)
            } catch {
                throw PlotError.writeFailed(path: filesDirectory.path, reason: (error as NSError).localizedDescription)
            }
        }
        var blocks = ["# \(printable(title))"]
        for cell in cells {
            guard cell.kind == .code, let label = cell.label else {
                blocks.append(printableMessage(cell.source.trimmingCharacters(in: .newlines)))
                continue
            }
            blocks.append(fenced("[\(label)] sskd> " + cell.source, info: "sskd"))
            var text = ""
            var index = 0
            for output in cell.outputs {
                switch output {
                case .text(let t), .error(let t):
                    text += t.hasSuffix("\n") || t.isEmpty ? t : t + "\n"
                case .image(let files):
                    appendText(&text, to: &blocks)
                    guard let image = files.first else { continue }
                    let target = imageURL(cell: label, index: index, extension: image.pathExtension.lowercased())
                    guard let data = FileManager.default.contents(atPath: image.path) else {
                        throw PlotError.writeFailed(path: target.path, reason: "image \(image.path) cannot be read")
                    }
                    try writeAtomically(data, to: target)
                    linked.insert(target.lastPathComponent)
                    let link = filesDirectory.lastPathComponent + "/" + target.lastPathComponent
                    let alt = "plot \(label)" + (index == 0 ? "" : "-\(index + 1)")
                    blocks.append(
                        "![\(alt)](\(link.addingPercentEncoding(withAllowedCharacters: Self.linkSafe) ?? link))")
                    index += 1
                }
            }
            appendText(&text, to: &blocks)
        }
        try writeAtomically(Data((blocks.joined(separator: "\n\n") + "\n").utf8), to: url)
        removeStaleImages(keeping: linked)
    }

    /// Checks that a notebook can be written at `path` before anything is: the path does not end in `/`, is not an
    /// existing folder, and is something the atomic write replaces (`Storage.replaceablePermissions`: not a symbolic
    /// link or other non-regular file, not read-only); a refused write would otherwise leave its images behind.
    ///
    /// - Throws: ``PlotError/writeFailed(path:reason:)`` saying which, naming `path` as given.
    public static func checkTarget(_ path: String) throws {
        if path.hasSuffix("/") {
            throw PlotError.writeFailed(path: path, reason: "a notebook is a file, not a folder (drop the '/')")
        }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw PlotError.writeFailed(path: path, reason: "it is a folder; give a file name")
        }
        // What the atomic write will refuse (a symbolic link or other non-regular file, a read-only file), refused now,
        // before any image is written.
        do { try replaceablePermissions(path) } catch let error as StorageError {
            throw PlotError.writeFailed(path: path, reason: error.reason)
        }
    }

    /// Removes the files of ``filesDirectory`` named as this writer names images (`plot-LABEL.png`,
    /// `plot-LABEL-2.svg`, ...) that are not in `linked`, then the folder if it is left empty. Best effort: a file
    /// that cannot be removed stays.
    private func removeStaleImages(keeping linked: Set<String>) {
        let manager = FileManager.default
        guard let names = try? manager.contentsOfDirectory(atPath: filesDirectory.path) else { return }
        for name in names where !linked.contains(name) && Self.isImageName(name) {
            try? manager.removeItem(at: filesDirectory.appendingPathComponent(name))
        }
        if (try? manager.contentsOfDirectory(atPath: filesDirectory.path))?.isEmpty == true {
            try? manager.removeItem(at: filesDirectory)
        }
    }

    /// Whether `name` is one of this writer's image names: `plot-`, a cell label of digits and dots, optionally
    /// `-N`, then `.png` or `.svg`.
    static func isImageName(_ name: String) -> Bool {
        guard name.hasPrefix("plot-"), name.hasSuffix(".png") || name.hasSuffix(".svg") else { return false }
        let stem = name.dropFirst(5).dropLast(4)
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let label = parts.first, !label.isEmpty,
            label.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), label.first != "."
        else { return false }
        return parts.count == 1 || (!parts[1].isEmpty && parts[1].allSatisfy { $0.isASCII && $0.isNumber })
    }

    /// Appends `text` as a fenced `text` block unless it is blank, and empties it.
    private func appendText(_ text: inout String, to blocks: inout [String]) {
        let trimmed = text.trimmingCharacters(in: .newlines)
        if !trimmed.isEmpty { blocks.append(fenced(trimmed, info: "text")) }
        text = ""
    }

    /// Characters left as they are in image links; others (spaces, parentheses, brackets) are percent-encoded.
    static let linkSafe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~/"))

    /// `text` in a fenced code block whose backtick fence is longer than any backtick run inside it, its control
    /// characters escaped and its lines cut (`Storage.printableMessage`): a notebook shown with `cat` must not
    /// carry a script's or a file's escape sequences to the terminal.
    func fenced(_ text: String, info: String) -> String {
        var longest = 0
        var run = 0
        for character in text {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: max(3, longest + 1))
        return "\(fence)\(info)\n\(printableMessage(text))\n\(fence)"
    }
}
