/// Tab-completion candidates, computed from the session (commands, options, bound names, model members).
/// Pure so it can be tested without a terminal; the REPL hands the result to readline.
public enum Completion {
    /// Characters that end a word for completion (not `.`, `/`, `-`: paths and member paths stay one word).
    public static let wordBreaks = " \t\n\"'=;{}()[],+*%<>!"

    /// What to offer for `word`, the word under the cursor, when `line` is the text up to the cursor.
    /// Returns full replacements for `word` from the command declarations (`ArgumentSpec.completion`, option
    /// names, `OptionSpec.completion` after `key=`, word choices), and `files == true` when the cursor is inside a
    /// string or at a path argument (the REPL then completes file names).
    public static func candidates(_ session: Session, line: String, word: String) -> (candidates: [String], files: Bool)
    {
        if insideString(line) { return ([], true) }
        if let members = memberCandidates(session, line: line, word: word) { return (members, false) }
        let statementStart = line.lastIndex { $0 == ";" || $0 == "{" || $0 == "}" || $0 == "\n" }
        let statement = statementStart.map { String(line[line.index(after: $0)...]) } ?? line
        let before = String(statement.dropLast(word.count))
        var words = before.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if words.count >= 2, words[1] == "=" || words[0].hasSuffix("=") && words[0].count > 1 {
            words.removeFirst(words[1] == "=" ? 2 : 1)
        } else if words.count == 1, words[0].hasSuffix("="), !words[0].contains("==") {
            words = []
        }
        let names = Array(session.bindings.keys)
        var pool: [String]
        var files = false
        if words.isEmpty {
            pool = session.commands.names + names
        } else if let spec = session.commands.lookup(words[0]) {
            let arguments = words.dropFirst()
            if let key = arguments.last.flatMap(optionKey), before.hasSuffix("="),
                let option = spec.options.first(where: { $0.name == key })
            {
                // The value of `key=`: the option's declared values.
                pool = values(option.completion + typeValues(option.type), session)
                files = option.type.isPath || option.completion.contains { $0.isFiles }
            } else {
                let given = Set(arguments.compactMap(optionKey))
                let positionals = arguments.filter { !$0.contains("=") }.count
                let argument =
                    positionals < spec.arguments.count
                    ? spec.arguments[positionals] : spec.arguments.last.flatMap { $0.variadic ? $0 : nil }
                if let argument, let declared = argument.completion {
                    let option =
                        declared.contains { $0.isSessionOptionValues }
                        ? arguments.last.flatMap { session.options.option($0) } : nil
                    pool = values(declared, session) + values(option.map { typeValues($0.type) } ?? [], session)
                    files = declared.contains { $0.isFiles } || option?.type.isPath == true
                } else if let argument, argument.type.isPath {
                    pool = []
                    files = true
                } else {
                    pool = spec.options.map(\.name).filter { !given.contains($0) }.map { $0 + "=" } + names
                    if let argument { pool += values(typeValues(argument.type), session) }
                }
            }
        } else {
            pool = names
        }
        let matches = Array(Set(pool.filter { $0.hasPrefix(word) })).sorted()
        return (matches, files && matches.isEmpty)  // file names when no declared value fits
    }

    /// `lr` for `lr=0.1` or `lr=`; nil for a word without `=`.
    private static func optionKey(_ word: String) -> String? {
        guard let eq = word.firstIndex(of: "="), eq != word.startIndex else { return nil }
        return String(word[..<eq])
    }

    /// The word choices of `type`, and true/false for booleans.
    private static func typeValues(_ type: ValueType) -> [CompletionSource] {
        switch type {
        case .word(let choices): return [.values(choices)]
        case .bool: return [.values(["true", "false"])]
        default: return []
        }
    }

    /// The words `sources` offer in `session`.
    private static func values(_ sources: [CompletionSource], _ session: Session) -> [String] {
        sources.flatMap { source -> [String] in
            switch source {
            case .values(let words): return words
            case .commands: return session.commands.names
            case .sessionOptions: return session.options.declared.map(\.name)
            case .showTopics: return Array(session.showTopics.keys)
            case .boundNames: return Array(session.bindings.keys)
            case .files, .sessionOptionValues: return []
            }
        }
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

extension ValueType {
    /// Whether values are file paths (completed with file names).
    var isPath: Bool { if case .path = self { return true } else { return false } }
}

extension CompletionSource {
    /// Whether this is `.files`.
    var isFiles: Bool { if case .files = self { return true } else { return false } }
    /// Whether this is `.sessionOptionValues`.
    var isSessionOptionValues: Bool { if case .sessionOptionValues = self { return true } else { return false } }
}
