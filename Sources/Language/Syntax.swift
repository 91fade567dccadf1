/// Binary operators, lowest to highest precedence group: `or`; `and`; `== !=`; `< <= > >=`; `+ -`; `* / %`.
public enum BinaryOperator: String {
    /// Logical, short-circuit.
    case or, and
    /// Equality of any two values.
    case equal = "=="
    case notEqual = "!="
    /// Comparison of two numbers or two strings.
    case less = "<"
    case lessEqual = "<="
    case greater = ">"
    case greaterEqual = ">="
    /// Arithmetic; `+` also joins strings and lists.
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case remainder = "%"
}

/// Prefix operators: arithmetic negation `-x` and logical `not x`.
public enum UnaryOperator: String {
    /// `-x` on numbers, `not x` on bools.
    case negate = "-"
    case not
}

/// One part of an interpolated string after parsing: literal text or an embedded expression.
public enum InterpolationPart {
    /// Literal text, or an expression whose `display` is inserted.
    case text(String)
    case expression(Expr)
}

/// Expressions. Every case carries the location reported when evaluating it fails
/// (for operators: the operator; for member and index access: the `.` or `[`).
public indirect enum Expr {
    /// Literals.
    case number(Double, SourceLocation)
    case string(String, SourceLocation)
    case interpolation([InterpolationPart], SourceLocation)
    case bool(Bool, SourceLocation)
    /// A bound name (also `$name`).
    case name(String, SourceLocation)
    /// `[a, b, ...]`
    case list([Expr], SourceLocation)
    /// Inclusive integer range `lo..hi`.
    case range(Expr, Expr, SourceLocation)
    /// `-x`, `not x` (location: the operator).
    case unary(UnaryOperator, Expr, SourceLocation)
    /// `a op b` (location: the operator).
    case binary(BinaryOperator, Expr, Expr, SourceLocation)
    /// `object.member`
    case member(Expr, String, SourceLocation)
    /// `object[index]`
    case index(Expr, Expr, SourceLocation)

    /// Where this expression is reported.
    public var location: SourceLocation {
        switch self {
        case .number(_, let l), .string(_, let l), .interpolation(_, let l), .bool(_, let l), .name(_, let l),
            .list(_, let l), .range(_, _, let l), .unary(_, _, let l), .binary(_, _, _, let l),
            .member(_, _, let l), .index(_, _, let l):
            return l
        }
    }

    /// The location of the leftmost character of the expression (the caret for argument errors).
    public var startLocation: SourceLocation {
        switch self {
        case .range(let lhs, _, _), .binary(_, let lhs, _, _), .member(let lhs, _, _), .index(let lhs, _, _):
            return lhs.startLocation
        default:
            return location
        }
    }
}

/// One argument of a command call: positional (`key == nil`) or an option `key=value`.
public struct CommandArgument {
    /// The option name for `key=value`, nil for a positional argument.
    public let key: String?
    /// The argument's first character (the key for options).
    public let location: SourceLocation
    /// The value expression.
    public let value: Expr
    /// The value exactly as written (used for bare words and paths such as `data/run.sskd`).
    public let text: String
}

/// A command invocation such as `train student data lr=0.1`.
public struct CommandCall {
    /// The command name as written.
    public let name: String
    /// Where the name starts (whole-statement errors point here).
    public let location: SourceLocation
    /// Positional arguments and options, in written order.
    public let arguments: [CommandArgument]
}

/// Statements. Blocks are statement lists.
public indirect enum Stmt {
    /// A bare expression; its value is shown.
    case expression(Expr)
    /// A command call; a non-`none` result is shown.
    case command(CommandCall)
    /// `name = expr`
    case assign(String, Expr, SourceLocation)
    /// `name = command args...`
    case assignCommand(String, CommandCall, SourceLocation)
    /// `for name in sequence { body }`
    case forLoop(String, Expr, [Stmt], SourceLocation)
    /// `if condition { then } else { otherwise }`
    case ifElse(Expr, [Stmt], [Stmt]?, SourceLocation)

    /// The statement's first token.
    public var location: SourceLocation {
        switch self {
        case .expression(let e): return e.startLocation
        case .command(let c): return c.location
        case .assign(_, _, let l), .assignCommand(_, _, let l), .forLoop(_, _, _, let l), .ifElse(_, _, _, let l):
            return l
        }
    }
}

/// A parsed top-level statement with its source text (the cell text), or the syntax error that replaced it.
public struct ParsedStatement {
    /// The statement, or the syntax error found while parsing it.
    public let result: Result<Stmt, InterpreterError>
    /// The statement's source text as written.
    public let text: String
}
