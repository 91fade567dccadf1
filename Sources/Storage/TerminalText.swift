/// `text` read from a file, made safe to print on a terminal: control characters (C0, DEL, C1), bidirectional
/// overrides and other format characters, separators, private-use, surrogate and unassigned scalars become
/// `\u{1b}`-style escapes (lowercase hex), so a name or key from a hostile file cannot move the cursor, recolour
/// or retitle the terminal, or reorder the text around it; text beyond `limit` scalars is cut with `...`.
/// Every message that quotes a file's content or name goes through it (ECMA-48 control functions; Unicode
/// general categories Cc, Cf, Zl, Zp, Co, Cs, Cn).
public func printable(_ text: String, limit: Int = 200) -> String {
    var out = ""
    for (i, scalar) in text.unicodeScalars.enumerated() {
        if i == limit {
            out += "..."
            break
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        default:
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// A message that may quote file content, made safe to print: each line goes through `printable` (cut at
/// `lineLimit` scalars) and the line breaks and tabs that structure the message are kept. A line break is `\n` or
/// `\r\n` (which Swift counts as one `Character`), written as `\n`; a `\r` elsewhere is escaped.
public func printableMessage(_ text: String, lineLimit: Int = 4000) -> String {
    text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { scalars in
        let line = scalars.last == "\r" ? scalars.dropLast() : scalars[...]
        return line.split(separator: "\t", omittingEmptySubsequences: false)
            .map { printable(String(String.UnicodeScalarView($0)), limit: lineLimit) }.joined(separator: "\t")
    }.joined(separator: "\n")
}
