/// Text of `help` and `help CMD`, generated from the command declarations.
extension CommandRegistry {
    /// The `help` listing: every command (with aliases) and its summary, sorted by name.
    public func helpListing() -> String {
        let rows = commands.map { ([$0.name] + $0.aliases).joined(separator: ", ") + "\t" + $0.summary }
        return "commands:\n" + table(rows) + "type 'help NAME' for a command's arguments, options and an example\n"
    }

    /// The `help CMD` page: usage, summary, aliases, arguments, options with defaults, example.
    public func helpPage(_ spec: CommandSpec, options sessionOptions: SessionOptions) -> String {
        var out = "usage: \(spec.usage)\n  \(spec.summary)\n"
        if !spec.aliases.isEmpty { out += "aliases: \(spec.aliases.joined(separator: ", "))\n" }
        if !spec.arguments.isEmpty {
            out +=
                "arguments:\n"
                + table(
                    spec.arguments.map {
                        let metavar = $0.type.metavar + ($0.variadic ? "..." : "")
                        let notes =
                            ($0.optional ? ["optional"] : []) + ($0.bounds.map { ["must \($0.requirement)"] } ?? [])
                        let text = "\($0.name)\t\(metavar)\t\($0.help)"
                        return notes.isEmpty ? text : text + " (" + notes.joined(separator: "; ") + ")"
                    })
        }
        if !spec.options.isEmpty {
            out +=
                "options:\n"
                + table(
                    spec.options.map { o in
                        var notes: [String] = []
                        if let d = o.defaultValue {
                            notes.append("default: \(d.literal)")
                        } else if let s = o.sessionDefault {
                            notes.append("default: session option \(s) = \(sessionOptions.value(s)?.literal ?? "none")")
                        }
                        if let bounds = o.bounds ?? o.sessionDefault.flatMap({ sessionOptions.option($0)?.bounds }) {
                            notes.append("must \(bounds.requirement)")
                        }
                        if let each = o.each { notes.append("each must \(each.requirement)") }
                        let text = "\(o.name)\t\(o.type.metavar)\t\(o.help)"
                        return notes.isEmpty ? text : text + " (" + notes.joined(separator: "; ") + ")"
                    })
        }
        return out + "example:\n  \(spec.example)\n"
    }
}

/// Formats tab-separated rows as left-aligned columns indented by two spaces (help, `show options`, `runs`).
public func table(_ rows: [String]) -> String {
    let cells = rows.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    let columns = cells.map(\.count).max() ?? 0
    var widths = [Int](repeating: 0, count: columns)
    for row in cells { for (i, c) in row.enumerated() where i < columns - 1 { widths[i] = max(widths[i], c.count) } }
    return cells.map { row in
        "  "
            + row.enumerated().map { i, c in
                i < row.count - 1 ? c.padding(toLength: widths[i] + 2, withPad: " ", startingAt: 0) : c
            }.joined() + "\n"
    }.joined()
}
