/// Binary operators, lowest to highest precedence group: `or`; `and`; `== !=`; `< <= > >=`; `+ -`; `* / %`.
public enum BinaryOperator: String {
    /// Logical, short-circuit.
    case or, and
    /// Equality of any two values.
    case equal = "==", notEqual = "!="
    /// Comparison of two numbers or two strings.
    case less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    /// Arithmetic; `+` also joins strings and lists.
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"
}

/// Prefix operators: arithmetic negation `-x` and logical `not x`.
public enum UnaryOperator: String {
    /// `-x` on numbers, `not x` on bools.
    case negate = "-", not
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
        case let .number(_, l), let .string(_, l), let .interpolation(_, l), let .bool(_, l), let .name(_, l),
             let .list(_, l), let .range(_, _, l), let .unary(_, _, l), let .binary(_, _, _, l),
             let .member(_, _, l), let .index(_, _, l):
            return l
        }
    }

    /// The location of the leftmost character of the expression (the caret for argument errors).
    public var startLocation: SourceLocation {
        switch self {
        case let .range(lhs, _, _), let .binary(_, lhs, _, _), let .member(lhs, _, _), let .index(lhs, _, _):
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
        case let .expression(e): return e.startLocation
        case let .command(c): return c.location
        case let .assign(_, _, l), let .assignCommand(_, _, l), let .forLoop(_, _, _, l), let .ifElse(_, _, _, l):
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
