/// Tab-completion candidates, computed from the session (commands, options, bound names, model members).
/// Pure so it can be tested without a terminal; the REPL hands the result to readline.
public enum Completion {
    /// Characters that end a word for completion (not `.`, `/`, `-`: paths and member paths stay one word).
    public static let wordBreaks = " \t\n\"'=;{}()[],+*%<>!"

    /// What to offer for `word`, the word under the cursor, when `line` is the text up to the cursor.
    /// Returns full replacements for `word`, or `files == true` when the cursor is inside a string
    /// (the REPL then completes file names).
    public static func candidates(_ session: Session, line: String, word: String) -> (candidates: [String], files: Bool)
    {
        if insideString(line) { return ([], true) }
        if let members = memberCandidates(session, line: line, word: word) { return (members, false) }
        let statementStart = line.lastIndex { $0 == ";" || $0 == "{" || $0 == "}" || $0 == "\n" }
        let statement = statementStart.map { String(line[line.index(after: $0)...]) } ?? line
        var before = String(statement.dropLast(word.count))
        var words = before.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if words.count >= 2, words[1] == "=" || words[0].hasSuffix("=") && words[0].count > 1 {
            words.removeFirst(words[1] == "=" ? 2 : 1)
        } else if words.count == 1, words[0].hasSuffix("="), !words[0].contains("==") {
            words = []
        }
        before = words.joined(separator: " ")
        let names = Array(session.bindings.keys)
        var pool: [String]
        if words.isEmpty {
            pool = session.commands.names + names
        } else if let spec = session.commands.lookup(words[0]) {
            let given = Set(words.dropFirst().compactMap { $0.split(separator: "=").first.map(String.init) })
            let positionals = words.dropFirst().filter { !$0.contains("=") }.count
            if positionals == 0 && spec.name == "help" {
                pool = session.commands.names
            } else if positionals == 0 && (spec.name == "set" || spec.name == "show") {
                pool = session.options.declared.map(\.name) + (spec.name == "show" ? ["options"] + names : [])
            } else {
                pool = spec.options.map(\.name).filter { !given.contains($0) }.map { $0 + "=" } + names
                if positionals < spec.arguments.count, case .word(let choices) = spec.arguments[positionals].type {
                    pool += choices
                }
            }
        } else {
            pool = names
        }
        return (Array(Set(pool.filter { $0.hasPrefix(word) })).sorted(), false)
    }

    /// True when `line` has an unclosed `"` (escaped quotes ignored).
    static func insideString(_ line: String) -> Bool {
        var inside = false
        var escaped = false
        for c in line {
            if escaped { escaped = false } else if c == "\\" { escaped = inside } else if c == "\"" { inside.toggle() }
        }
        return inside
    }

    /// For `student.st` or `teacher.stage[2].he`: the members of the object before the last dot.
    private static func memberCandidates(_ session: Session, line: String, word: String) -> [String]? {
        guard let dotInWord = word.lastIndex(of: ".") else { return nil }
        let pathChars = line.reversed().prefix { $0.isLetter || $0.isNumber || "_.[]$".contains($0) }
        let path = String(pathChars.reversed())
        guard let dot = path.lastIndex(of: ".") else { return nil }
        let base = String(path[..<dot])
        let partial = String(path[path.index(after: dot)...])
        var parser = Parser(base, source: SourceText(name: "<completion>", text: base), isCommand: { _ in false })
        guard let expr = try? parser.parseExpression(), isPath(expr),
            case .object(let object)? = try? session.evaluate(expr)
        else { return [] }
        let prefix = String(word[..<dotInWord]) + "."
        return object.memberNames.filter { $0.hasPrefix(partial) }.sorted().map { prefix + $0 }
    }

    /// Names, members and literal indexes only: safe to evaluate while the user types.
    private static func isPath(_ e: Expr) -> Bool {
        switch e {
        case .name: return true
        case .member(let base, _, _): return isPath(base)
        case .index(let base, .number, _): return isPath(base)
        default: return false
        }
    }
}
