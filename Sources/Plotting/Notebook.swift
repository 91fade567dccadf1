import Foundation
import Storage

/// One REPL command as recorded for a notebook.
public struct NotebookCell: Equatable {
    /// The command's number as shown in the notebook, e.g. `3` for `[3] sskd> ...`.
    public var number: Int
    /// The command text as typed (may span several lines).
    public var source: String
    /// What the command printed; empty for none.
    public var output: String
    /// PNG images the command produced, in order; ideally already at ``NotebookWriter/imageURL(cell:index:)``,
    /// otherwise they are copied there.
    public var images: [URL]

    /// Creates a cell.
    public init(number: Int, source: String, output: String = "", images: [URL] = []) {
        self.number = number
        self.source = source
        self.output = output
        self.images = images
    }
}

/// Writes a session as a Markdown notebook: for `out.md`, each command is a fenced code block
/// (`[3] sskd> mimic ...`), its output a fenced `text` block below, and each plot a PNG in `out_files/`
/// embedded with `![plot 3](out_files/plot-3.png)`. Fences grow past any backtick run inside the text
/// (CommonMark §4.5). Everything is written atomically, images first.
public struct NotebookWriter {
    /// The Markdown file, e.g. `out.md`.
    public let url: URL

    /// Creates a writer for the notebook at `path` (`.md` is expected but not enforced).
    public init(path: String) {
        url = URL(fileURLWithPath: path)
    }

    /// The folder beside the notebook that holds its images: `out_files` for `out.md`.
    public var filesDirectory: URL {
        url.deletingLastPathComponent().appendingPathComponent(url.deletingPathExtension().lastPathComponent + "_files")
    }

    /// Where the `index`-th (from 0) plot of cell `cell` belongs: `out_files/plot-3.png`, then `plot-3-2.png`, ...
    /// The interpreter renders plots straight to this path (with ``PlotOutput/file(path:width:height:)``).
    public func imageURL(cell: Int, index: Int = 0) -> URL {
        filesDirectory.appendingPathComponent(index == 0 ? "plot-\(cell).png" : "plot-\(cell)-\(index + 1).png")
    }

    /// Writes the notebook, creating ``filesDirectory`` when there are images and copying in any image that is
    /// not yet at its ``imageURL(cell:index:)``.
    ///
    /// - Parameter title: the level-1 heading at the top.
    /// - Throws: ``PlotError/writeFailed(path:reason:)`` naming the file or image at fault.
    public func write(cells: [NotebookCell], title: String = "sskd notebook") throws {
        if cells.contains(where: { !$0.images.isEmpty }) {
            do {
                try FileManager.default.createDirectory(at: filesDirectory, withIntermediateDirectories: true)
            } catch {
                throw PlotError.writeFailed(path: filesDirectory.path, reason: (error as NSError).localizedDescription)
            }
        }
        var blocks = ["# \(printable(title))"]
        for cell in cells {
            blocks.append(fenced("[\(cell.number)] sskd> " + cell.source, info: "sskd"))
            let output = cell.output.trimmingCharacters(in: .newlines)
            if !output.isEmpty { blocks.append(fenced(output, info: "text")) }
            for (index, image) in cell.images.enumerated() {
                let target = imageURL(cell: cell.number, index: index)
                if image.standardizedFileURL != target.standardizedFileURL {
                    guard let data = FileManager.default.contents(atPath: image.path) else {
                        throw PlotError.writeFailed(path: target.path, reason: "image \(image.path) cannot be read")
                    }
                    try writeAtomically(data, to: target)
                }
                let link = filesDirectory.lastPathComponent + "/" + target.lastPathComponent
                let alt = "plot \(cell.number)" + (index == 0 ? "" : "-\(index + 1)")
                blocks.append("![\(alt)](\(link.addingPercentEncoding(withAllowedCharacters: Self.linkSafe) ?? link))")
            }
        }
        try writeAtomically(Data((blocks.joined(separator: "\n\n") + "\n").utf8), to: url)
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
