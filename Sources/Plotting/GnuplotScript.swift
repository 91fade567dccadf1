import Foundation

/// Turns a ``PlotSpec`` into gnuplot commands with the data inline as datablocks (`$s0 << EOD ... EOD`),
/// so nothing touches the file system (gnuplot 5 manual, "Inline data and datablocks").
enum GnuplotScript {
    /// The whole script drawing `spec` on `output`'s terminal; the picture goes to gnuplot's stdout.
    /// ASCII output has no grid (it would bury the curves in dots), prints the Y labels horizontally above the
    /// axes, because the `dumb` terminal cannot rotate text, and puts the key below the plot without a box. It
    /// draws only the series that have a name, so the legend names every line drawn, and gives each its own
    /// character (`asciiMarks`), since the dumb terminal has no colours to tell them apart.
    ///
    /// - Throws: ``PlotError/noData(title:)`` when no series has points and there is no horizontal line.
    static func make(_ spec: PlotSpec, for output: PlotOutput) throws -> String {
        let ascii: Bool
        if case .text = output { ascii = true } else { ascii = false }
        var drawn = spec.series.enumerated().filter { !$0.element.points.isEmpty }
        if ascii && drawn.contains(where: { !$0.element.name.isEmpty }) {
            drawn = drawn.filter { !$0.element.name.isEmpty }
        }
        guard !drawn.isEmpty || !spec.horizontalLines.isEmpty else { throw PlotError.noData(title: spec.title) }
        let marks = ascii ? asciiMarks(drawn.map(\.element) + spec.horizontalLines.map { _ in nil }) : []

        var lines = [output.terminalCommand, "set termoption noenhanced", "set encoding utf8"]
        lines += palette.enumerated().map { "set linetype \($0 + 1) linecolor rgb '\($1)' pointtype \($0 + 5)" }
        lines.append("set linetype cycle \(palette.count)")
        for (index, series) in drawn {
            lines.append("$s\(index) << EOD")
            lines += series.points.map { "\(number($0.x)) \(number($0.y))" }
            lines.append("EOD")
        }
        lines += [
            "set title \(quote(spec.title))",
            "set xlabel \(quote(spec.xLabel))",
            // ASCII: the key goes below the plot, without a box, each entry 3 characters wider than gnuplot reckons
            // (the dumb terminal draws a box's border through the last entry, a key inside the plot over the data,
            // and entries in a row with no gap between them).
            ascii ? "set key below nobox width 3" : "set key \(spec.legend.gnuplot) box opaque",
        ]
        let rightAxis = spec.series.contains { $0.axis == .right }
        if ascii {
            lines.append("set label \(quote(spec.yLabel)) at screen 0, graph 1 offset character 1, 2 left")
            if rightAxis {
                lines.append("set label \(quote(spec.y2Label ?? "")) at screen 1, graph 1 offset character -1, 2 right")
            }
        } else {
            lines += ["set ylabel \(quote(spec.yLabel))", "set grid"]
            if rightAxis { lines.append("set y2label \(quote(spec.y2Label ?? ""))") }
        }
        if rightAxis { lines += ["set ytics nomirror", "set y2tics"] }
        if spec.logY { lines.append("set logscale y") }
        if let range = spec.xRange {
            lines.append("set xrange [\(number(range.lowerBound)):\(number(range.upperBound))]")
        }
        if let range = spec.yRange {
            lines.append("set yrange [\(number(range.lowerBound)):\(number(range.upperBound))]")
        }
        if rightAxis, let range = spec.y2Range {
            lines.append("set y2range [\(number(range.lowerBound)):\(number(range.upperBound))]")
        }
        if let ticks = spec.xTicks {
            lines.append(
                "set xtics (" + ticks.map { "\(quote($0.label)) \(number($0.x))" }.joined(separator: ", ") + ")")
        }
        if spec.series.contains(where: { if case .boxes = $0.style { return true } else { return false } }) {
            lines.append("set style fill solid 0.6 border -1")
        }
        for marker in spec.verticalMarkers {
            let x = number(marker.value)
            // graph 0.999, not 1: the dumb terminal rounds the end of a line at graph 1 one row past the border.
            lines.append("set arrow from \(x), graph 0 to \(x), graph 0.999 nohead dashtype 3 linecolor rgb '#606060'")
            lines.append(
                "set label \(quote(marker.label)) at \(x), graph 0.96 left offset character \(ascii ? 2 : 1), 0")
        }

        var plots = drawn.enumerated().map { n, element in
            "$s\(element.offset) " + clause(element.element, mark: marks.isEmpty ? nil : marks[n])
        }
        plots += spec.horizontalLines.enumerated().map { n, line in
            let style = marks.isEmpty ? "dashtype 2 linewidth 2" : marks[drawn.count + n].style(lines: true)
            return "\(number(line.value)) with lines \(style) linecolor rgb '#404040' title \(quote(line.label))"
        }
        lines.append("plot " + plots.joined(separator: ", \\\n     "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// Matplotlib's "tab10" colours (what PyTorch users see in their own plots), minus grey and olive.
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// The characters of the dumb terminal's line types 1...7 (gnuplot's `term/dumb.trm`); line type 8 is `*` again.
    static let dumbPens: [Character] = ["*", "#", "$", "%", "@", "&", "="]

    /// How one element of an ASCII chart is told apart from the others in the dumb terminal.
    enum AsciiMark: Equatable {
        /// Drawn with line type `n` (1...7): its own `dumbPens` character.
        case pen(Int)
        /// Drawn as points of this character (points series, and lines past the seventh).
        case point(Character)

        /// The plot clause's style words: `linetype 3`, or `pointtype "o"`.
        func style(lines: Bool) -> String {
            switch self {
            case .pen(let n): return "linetype \(n)"
            case .point(let c): return "pointtype \"\(c)\""
            }
        }
    }

    /// One distinct mark per element of an ASCII chart, in order (`nil`: a horizontal reference line): lines take
    /// the seven pens in turn, points series and lines past the seventh take `o`, `x`, `+`, then letters, so no two
    /// elements share a character.
    static func asciiMarks(_ elements: [PlotSpec.Series?]) -> [AsciiMark] {
        var pens = Array(1...dumbPens.count)
        var points = Array("ox+abcdefghijklmnpqrstuvwyz")
        return elements.map { series in
            let isPoints = series.map { $0.style == .points } ?? false
            if !isPoints, !pens.isEmpty { return .pen(pens.removeFirst()) }
            return .point(points.isEmpty ? "?" : points.removeFirst())
        }
    }

    /// The `using ... with ... title ...` part of one plot element; `mark` (ASCII charts) sets its character.
    static func clause(_ series: PlotSpec.Series, mark: AsciiMark? = nil) -> String {
        var text: String
        switch (series.style, mark) {
        case (.boxes(let width), _): text = "using 1:2:(\(number(width))) with boxes"
        case (_, .point(let c)?): text = "using 1:2 with points pointtype \"\(c)\""
        case (.lines, _): text = "using 1:2 with lines linewidth 2"
        case (.points, _): text = "using 1:2 with points pointsize 1"
        case (.linespoints, _): text = "using 1:2 with linespoints linewidth 2 pointsize 1"
        case (.steps, _): text = "using 1:2 with steps linewidth 2"
        }
        if case .pen(let n)? = mark { text += " linetype \(n)" }
        if let color = series.color { text += " linecolor rgb \(quote(color))" }
        if series.axis == .right { text += " axes x1y2" }
        text += series.name.isEmpty ? " notitle" : " title \(quote(series.name))"
        return text
    }

    /// A gnuplot single-quoted string literal: `'` is doubled (the only escape gnuplot applies inside single
    /// quotes, so backslashes, `@` and backquotes stay literal) and control characters become spaces.
    static func quote(_ text: String) -> String {
        let cleaned = String(
            text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
        return "'" + cleaned.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// A number as gnuplot reads it: Swift's shortest round-trip form, `NaN` (a gap) for non-finite values.
    static func number(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "NaN"
    }
}
