/// A named piece of sskd source (a script file, a REPL input, a `-c` string) kept so that
/// diagnostics can quote the line at fault, as clox/jlox do.
public final class SourceText {
    /// The name shown in diagnostics: a file path, `<stdin>` or `<command>`.
    public let name: String
    /// The full text.
    public let text: String
    /// The text split into lines (without their newline characters).
    public let lines: [String]

    /// Wraps `text` under `name`.
    public init(name: String, text: String) {
        self.name = name
        self.text = text
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// The 1-based line `number`, or "" when out of range.
    public func line(_ number: Int) -> String {
        number >= 1 && number <= lines.count ? lines[number - 1] : ""
    }
}

/// A position in a `SourceText`: 1-based line and column (columns count characters).
public struct SourceLocation: CustomStringConvertible, Equatable {
    /// The source this location points into.
    public let source: SourceText
    /// 1-based line number.
    public let line: Int
    /// 1-based column, in characters.
    public let column: Int

    /// Makes a location in `source` at `line`:`column`.
    public init(source: SourceText, line: Int, column: Int) {
        self.source = source
        self.line = line
        self.column = column
    }

    /// `file:line:col`, the prefix of a diagnostic.
    public var description: String { "\(source.name):\(line):\(column)" }

    /// Same source object, line and column.
    public static func == (a: SourceLocation, b: SourceLocation) -> Bool {
        a.source === b.source && a.line == b.line && a.column == b.column
    }
}
