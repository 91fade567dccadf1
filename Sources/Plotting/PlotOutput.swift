import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a rendered chart goes, and the gnuplot terminal that produces it.
public enum PlotOutput: Equatable {
    /// ASCII art (`dumb` terminal) of `width` columns × `height` rows, returned as a String for the REPL to print.
    case text(width: Int, height: Int)
    /// Sixel graphics (`sixelgd` terminal) of `width` × `height` pixels, returned as the escape sequence to print.
    case sixel(width: Int, height: Int)
    /// An image file of `width` × `height` pixels (PDF: `width/100` × `height/100` inches), written atomically.
    case file(URL, format: ImageFormat, width: Int, height: Int)
    /// An interactive window on the user's display through `terminal` (`qt`, `x11` or `wxt`); it outlives the plot.
    case window(terminal: String)

    /// Image file formats and the gnuplot terminal each needs.
    public enum ImageFormat: String, Equatable, CaseIterable {
        /// PNG through `pngcairo`.
        case png
        /// SVG through `svg`.
        case svg
        /// PDF through `pdfcairo`.
        case pdf

        /// The gnuplot terminal name.
        public var terminal: String {
            switch self {
            case .png: return "pngcairo"
            case .svg: return "svg"
            case .pdf: return "pdfcairo"
            }
        }
    }

    /// The terminals ``window(terminal:)`` accepts (each needs a gnuplot built with it, e.g. `gnuplot-qt`).
    public static let windowTerminals = ["qt", "x11", "wxt"]

    /// Default pixel size of image and sixel output.
    public static let defaultImageSize = (width: 800, height: 500)

    /// ASCII output sized to the terminal: the `TIOCGWINSZ` size of stdout, else `COLUMNS`/`LINES`,
    /// else 100 × 30; the height is capped at 30 rows so a tall terminal still sees the prompt,
    /// and the size is at least 40 × 12 so axes and legend fit.
    public static func inline() -> PlotOutput {
        let size = terminalSize()
        return .text(width: max(size.columns, 40), height: max(min(size.rows - 1, 30), 12))
    }

    /// An image file whose format comes from the extension of `path` (`.png`, `.svg`, `.pdf`, any case).
    ///
    /// - Parameters: `width`, `height` in pixels (default 800 × 500).
    /// - Throws: ``PlotError/unsupportedFileType(path:)`` for any other extension,
    ///   ``PlotError/invalidSize(width:height:)`` for a non-positive size.
    public static func file(
        path: String, width: Int = defaultImageSize.width,
        height: Int = defaultImageSize.height
    ) throws -> PlotOutput {
        let url = URL(fileURLWithPath: path)
        guard let format = ImageFormat(rawValue: url.pathExtension.lowercased()) else {
            throw PlotError.unsupportedFileType(path: path)
        }
        guard width > 0, height > 0 else { throw PlotError.invalidSize(width: width, height: height) }
        return .file(url, format: format, width: width, height: height)
    }

    /// The gnuplot terminal this output needs, e.g. `"pngcairo"`.
    var terminalName: String {
        switch self {
        case .text: return "dumb"
        case .sixel: return "sixelgd"
        case .file(_, let format, _, _): return format.terminal
        case .window(let terminal): return terminal
        }
    }

    /// The `set terminal` command, e.g. `set terminal pngcairo size 800,500`.
    var terminalCommand: String {
        switch self {
        case .text(let width, let height): return "set terminal dumb size \(width),\(height) nofeed"
        case .sixel(let width, let height): return "set terminal sixelgd size \(width),\(height) truecolor"
        case .file(_, .pdf, let width, let height):
            return "set terminal pdfcairo size \(Double(width) / 100)in,\(Double(height) / 100)in"
        case .file(_, let format, let width, let height):
            return "set terminal \(format.terminal) size \(width),\(height)"
        case .window(let terminal): return "set terminal \(terminal)"
        }
    }

    /// The size of the terminal on stdout, in character cells (columns, rows); 100 × 30 when unknown.
    static func terminalSize() -> (columns: Int, rows: Int) {
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 {
            return (Int(size.ws_col), Int(size.ws_row))
        }
        let env = ProcessInfo.processInfo.environment
        let columns = env["COLUMNS"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? 100
        let rows = env["LINES"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? 31
        return (columns, rows)
    }
}
