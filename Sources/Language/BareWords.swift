// Words written without quotes where a command expects a name, a size or a path: how the evaluator recognises
// them in the expression the parser built.

extension Session {
    /// A name and names or numbers joined by `-`: `wrn-16-2` written without quotes where a word is expected.
    static func isHyphenatedWord(_ e: Expr) -> Bool {
        switch e {
        case .name: return true
        case .binary(.subtract, let l, let r, _):
            if case .number = r { return isHyphenatedWord(l) }
            return isHyphenatedWord(l) && isHyphenatedWord(r)
        default: return false
        }
    }

    /// A `WIDTHxHEIGHT` size word such as `800x600` (lexed as a name starting with a digit).
    static func isSizeWord(_ e: Expr) -> Bool {
        if case .name(let n, _) = e { return n.first?.isNumber ?? false }
        return false
    }

    /// Names, numbers and `.`/`/`/`-` between them: `data/run-1.sskd` written without quotes.
    static func isBarePath(_ e: Expr) -> Bool {
        switch e {
        case .name, .number: return true
        case .member(let base, _, _): return isBarePath(base)
        case .binary(let op, let l, let r, _) where op == .divide || op == .subtract:
            return isBarePath(l) && isBarePath(r)
        case .unary(.negate, let x, _): return isBarePath(x)
        default: return false
        }
    }
}
