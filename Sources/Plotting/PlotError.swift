import Foundation

/// Errors from plotting, CSV export and notebooks. None of them is fatal: the REPL prints the message
/// and carries on, and the data behind a plot stay exportable with `export RUN to=FILE.csv`.
public enum PlotError: Error, CustomStringConvertible, Equatable {
    /// No executable gnuplot at `path` (not installed, or a wrong injected path).
    case gnuplotNotFound(path: String)
    /// gnuplot exited with a non-zero `status`; `message` is what it wrote on stderr.
    case gnuplotFailed(path: String, status: Int32, message: String)
    /// gnuplot did not finish within `seconds` and was killed.
    case timedOut(path: String, seconds: Double)
    /// This gnuplot lacks `terminal` (e.g. `sixelgd`, `pdfcairo`, `qt`), which `purpose` needs.
    case terminalUnavailable(terminal: String, purpose: String)
    /// A window terminal was asked for but neither `DISPLAY` nor `WAYLAND_DISPLAY` is set.
    case noDisplay(terminal: String)
    /// `to=FILE` with an extension we cannot produce (supported: `.png`, `.svg`, `.pdf`, `.csv` for export).
    case unsupportedFileType(path: String)
    /// A notebook file whose extension is neither `.md` (Markdown) nor `.ipynb` (Jupyter).
    case unsupportedNotebookType(path: String)
    /// A width or height that is not a positive number of pixels/characters.
    case invalidSize(width: Int, height: Int)
    /// An EMA smoothing factor outside `0 ..< 1`.
    case invalidSmoothing(Double)
    /// The chart `title` has no series with points and no reference line: nothing to draw.
    case noData(title: String)
    /// Writing `path` failed (permissions, missing directory, full disk); the previous file, if any, is unchanged.
    case writeFailed(path: String, reason: String)

    static let installHint = "install gnuplot with `sudo apt-get install gnuplot-nox` (or run `scripts/setup`)"
    static let exportHint = "the data are still available with `export RUN to=FILE.csv`"

    public var description: String {
        switch self {
        case .gnuplotNotFound(let path):
            return "plot: gnuplot not found at \(path); \(Self.installHint); \(Self.exportHint)"
        case .gnuplotFailed(let path, let status, let message):
            let detail = message.trimmingCharacters(in: .whitespacesAndNewlines)
            return "plot: \(path) failed with exit status \(status)"
                + (detail.isEmpty ? "" : ": \(detail)") + "; \(Self.exportHint)"
        case .timedOut(let path, let seconds):
            return "plot: \(path) did not finish within \(seconds) s and was stopped; \(Self.exportHint)"
        case .terminalUnavailable(let terminal, let purpose):
            return "plot: this gnuplot has no '\(terminal)' terminal, needed for \(purpose); "
                + "install a fuller build (e.g. `sudo apt-get install gnuplot-qt`) or choose another output; "
                + Self.exportHint
        case .noDisplay(let terminal):
            return "plot: the '\(terminal)' window needs a display, but DISPLAY and WAYLAND_DISPLAY are unset; "
                + "plot inline or with to=FILE.png instead"
        case .unsupportedFileType(let path):
            return "plot: cannot write \(path): use a .png, .svg or .pdf file (or .csv with export)"
        case .unsupportedNotebookType(let path):
            let ext = URL(fileURLWithPath: path).pathExtension
            return "plot: cannot write \(path): a notebook is a .md (Markdown) or .ipynb (Jupyter) file, not "
                + (ext.isEmpty ? "a file without an extension" : "'.\(ext)'")
        case .invalidSize(let width, let height):
            return "plot: size \(width)x\(height) is invalid: width and height must be positive"
        case .invalidSmoothing(let value):
            return "plot: smoothing \(value) is invalid: it must be at least 0 and below 1 (e.g. 0.9)"
        case .noData(let title):
            return "plot: chart '\(title)' has no data points to draw"
        case .writeFailed(let path, let reason):
            return "plot: cannot write \(path): \(reason) (any previous file is unchanged)"
        }
    }
}
