/// One piece of a string literal: literal text, a `$name` reference or a `${expr}` code span.
public enum StringPart: Equatable {
    /// Literal characters, escapes already decoded.
    case text(String)
    /// `$name`: the name and where it starts (at the `$`).
    case name(String, SourceLocation)
    /// `${...}`: the code between the braces and the location of its first character.
    case code(String, SourceLocation)
}

/// The kinds of tokens of the sskd language (see docs/language.md, "Lexical structure").
public enum TokenKind: Equatable {
    /// A name or keyword.
    case name(String)
    /// A number literal.
    case number(Double)
    /// A string literal, split into text and interpolations.
    case string([StringPart])
    /// `$name` or `$1` outside a string.
    case dollar(String)
    /// Brackets.
    case leftParen, rightParen, leftBracket, rightBracket, leftBrace, rightBrace
    /// Punctuation and statement separators.
    case comma, dot, dotDot, semicolon, newline
    /// `=` and comparison operators.
    case equal, equalEqual, bangEqual, less, lessEqual, greater, greaterEqual
    /// Arithmetic operators.
    case plus, minus, star, slash, percent
    /// `!COMMAND` at the start of a statement: a shell command line, taken as written up to the end of the line.
    case shell(String)
    /// A lexical error (bad character, unterminated string); the parser reports it.
    case error(String)
    /// End of input.
    case eof
}

/// A token with its location, its character offsets in the source and whether whitespace precedes it
/// (used to split command arguments: `print a -1` is two arguments, `a - 1` one).
public struct Token {
    /// What the token is.
    public let kind: TokenKind
    /// Where its first character is.
    public let location: SourceLocation
    /// Character offset of the first character.
    public let start: Int
    /// Character offset one past the last character.
    public let end: Int
    /// True when a space, tab or line start precedes the token.
    public let spaceBefore: Bool
}
