import Foundation

/// One named column of a CSV table; values are already text (numbers via ``CSVColumn/init(name:numbers:)``).
public struct CSVColumn: Equatable {
    /// Header text.
    public var name: String
    /// One field per row, top to bottom.
    public var values: [String]

    /// Creates a text column.
    public init(name: String, values: [String]) {
        self.name = name
        self.values = values
    }

    /// Creates a numeric column, each value written by ``CSVColumn/number(_:)``.
    public init(name: String, numbers: [Double]) {
        self.init(name: name, values: numbers.map(CSVColumn.number))
    }

    /// A number as a CSV field: a value that a `Float` holds exactly (a Float32 loss or learning rate carried in a
    /// `Double`) in `Float`'s shortest round-trip form (`0.1`, not `0.10000000149011612`), any other in `Double`'s
    /// (`38.333333333333336`, `nan`, `inf`). Reading the field back as the type that wrote it gives the same value.
    public static func number(_ value: Double) -> String {
        let single = Float(value)
        return Double(single) == value ? "\(single)" : "\(value)"
    }
}

/// Writes tables as RFC 4180 CSV: a header row, CRLF line ends, and fields containing a comma, a double quote,
/// CR or LF enclosed in double quotes with inner quotes doubled. Columns of different lengths are padded
/// with empty fields.
public enum CSVWriter {
    /// The CSV text of `columns` (header row first).
    public static func encode(_ columns: [CSVColumn]) -> String {
        let rowCount = columns.map(\.values.count).max() ?? 0
        var rows = [columns.map { field($0.name) }]
        for row in 0..<rowCount {
            rows.append(columns.map { row < $0.values.count ? field($0.values[row]) : "" })
        }
        return rows.map { $0.joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// Writes `columns` to `url` atomically (temporary file in the same directory, then rename).
    ///
    /// - Throws: ``PlotError/writeFailed(path:reason:)`` naming `url`.
    public static func write(_ columns: [CSVColumn], to url: URL) throws {
        try writeAtomically(Data(encode(columns).utf8), to: url)
    }

    /// One field, quoted when RFC 4180 §2.6 requires it.
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
            return text
        }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension PlotSpec {
    /// The data behind the chart in long ("tidy") form, one row per point: `series`, then the X label and the
    /// Y label as headers, e.g. `series,step,loss (nats)`. Series on the right axis carry values in
    /// ``y2Label`` units. Horizontal lines are rows with an empty X, vertical markers rows with an empty Y.
    public var csvColumns: [CSVColumn] {
        var names: [String] = []
        var xs: [String] = []
        var ys: [String] = []
        for series in self.series {
            for point in series.points {
                names.append(series.name)
                xs.append(CSVColumn.number(point.x))
                ys.append(CSVColumn.number(point.y))
            }
        }
        for line in horizontalLines {
            names.append(line.label)
            xs.append("")
            ys.append(CSVColumn.number(line.value))
        }
        for marker in verticalMarkers {
            names.append(marker.label)
            xs.append(CSVColumn.number(marker.value))
            ys.append("")
        }
        return [
            CSVColumn(name: "series", values: names), CSVColumn(name: xLabel, values: xs),
            CSVColumn(name: yLabel, values: ys),
        ]
    }
}
