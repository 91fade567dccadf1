import Foundation

/// Something a cell produced besides its printed text, and where in that text it belongs: what a notebook needs to
/// show a figure beside the text around it, and to show the statements of a sourced file as cells of their own.
public struct CellMark {
    /// What sits at ``offset``.
    public enum Kind {
        /// A figure: the files that show it, the first one the image a notebook embeds (a PNG, or the SVG a plot was
        /// written as, followed by a PNG copy). The console showed it as text (ASCII art, a sixel image) that
        /// the cell's output does not contain, so the notebook shows the image only.
        case figure([URL])
        /// A statement of a file run by `source` starts here: its text, the command it calls (`note`, `plot`, ...;
        /// nil for other statements) and the whole `#` comment lines written just before it (without their `# `).
        case statement(source: String, command: String?, comment: String?)
    }

    /// The UTF-8 offset in the cell's ``Cell/output`` at which the mark was made.
    public let offset: Int
    /// The figure or the statement.
    public let kind: Kind
}

extension Session {
    /// Shows a figure: `consoleText` (ASCII art or a sixel escape sequence; empty for a window) goes to the
    /// output only, and the current cell records `files` at this point of its output (a ``CellMark``), so a notebook
    /// shows the image where the console showed the text. Without files, `consoleText` is written like any output.
    public func display(_ consoleText: String, figure files: [URL]) {
        guard !files.isEmpty else { return write(consoleText) }
        mark(.figure(files))
        output.write(consoleText)
    }

    /// The name of the command a parsed statement calls (`x = plot ...` calls `plot`), nil for other statements and
    /// for syntax errors.
    func commandName(_ statement: ParsedStatement) -> String? {
        switch statement.result {
        case .success(.command(let call)), .success(.assignCommand(_, let call, _)): return call.name
        default: return nil
        }
    }
}

/// For each of `statements` (texts that occur in `text` in this order, as the parser returns them), the whole lines
/// of `#` comments between the previous statement and it, without the `#` and one space after it; blank lines
/// between comment lines are kept as empty lines, a `#!` line is left out, and nil means no comment. A comment at the
/// end of a statement's line belongs to that statement, not to the next one: it is the statement's `trailing`
/// comment, exactly as written after the statement's text (`   # small`, blanks included), nil when none. One pass
/// over `text`: between statements there are only blanks, `;`, line joins and comments.
func statementComments(in text: String, statements: [String]) -> [(leading: String?, trailing: String?)] {
    var i = text.startIndex
    var lineIsBlank = true  // nothing but blanks so far on the current line
    var result: [(leading: String?, trailing: String?)] = []
    for statement in statements {
        var comment: [String] = []
        scan: while i < text.endIndex {
            switch text[i] {
            case "#":
                let end = text[i...].firstIndex(of: "\n") ?? text.endIndex
                let body = text[text.index(after: i)..<end]
                if lineIsBlank && !body.hasPrefix("!") {
                    comment.append(String(body.hasPrefix(" ") ? body.dropFirst() : body))
                }
                lineIsBlank = false
                i = end
            case "\n":
                if lineIsBlank && !comment.isEmpty { comment.append("") }
                lineIsBlank = true
                i = text.index(after: i)
            case " ", "\t":
                i = text.index(after: i)
            case ";", "\\":
                lineIsBlank = false
                i = text.index(after: i)
            default:
                break scan
            }
        }
        while comment.last == "" { comment.removeLast() }
        // The statement starts here; a search is the fallback should the parser's text ever differ.
        guard
            let range = text[i...].range(of: statement, options: [.anchored, .literal])
                ?? text[i...].range(of: statement, options: .literal)
        else {
            result.append((nil, nil))
            continue
        }
        i = range.upperBound
        lineIsBlank = false
        var end = i
        while end < text.endIndex, text[end] == " " || text[end] == "\t" { end = text.index(after: end) }
        var trailing: String?
        if end < text.endIndex, text[end] == "#" {
            end = text[end...].firstIndex(of: "\n") ?? text.endIndex
            trailing = String(text[i..<end])
            i = end
        }
        result.append((comment.isEmpty ? nil : comment.joined(separator: "\n"), trailing))
    }
    return result
}
