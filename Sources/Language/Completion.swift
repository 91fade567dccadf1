import Foundation
import Storage

/// Tab-completion candidates, computed from the session (commands, options, bound names, members, indices, files)
/// and the command declarations (`ArgumentSpec`/`OptionSpec` types and `completion` sources). Pure so it can be
/// tested without a terminal; the REPL hands the result to readline.
public enum Completion {
    /// Characters that end a word for completion (not `.`, `/`, `-`: paths and member paths stay one word).
    public static let wordBreaks = " \t\n\"'=;{}()[],+*%<>!"

    /// What Tab offers for the word under the cursor.
    public struct Result: Equatable {
        /// Full replacements for the word, sorted.
        public var candidates: [String]
        /// Whether the candidates are file names (the REPL lets readline show only their last component; a
        /// directory ends in `/`).
        public var files: Bool
        /// Whether a single candidate is followed by a space. False after an option name (`lr=`), a directory
        /// (`runs/`), and a name, member or index whose value takes `.` or `[` (a model, `student.stage`, a list),
        /// so that `student.stage` can be followed by `[1]`.
        public var appendsSpace: Bool

        /// The candidates as readline takes them: file names lose a folder's final `/`, which readline adds back
        /// (when it inserts a single folder, and when it lists folders) after checking the file system. A quoted
        /// folder (`"/tmp/`) keeps it: readline cannot find that name.
        public var readlineCandidates: [String] {
            guard files else { return candidates }
            return candidates.map { $0.hasSuffix("/") && !$0.hasPrefix("\"") ? String($0.dropLast()) : $0 }
        }
    }

    /// What to offer for `word`, the word under the cursor, when `line` is the text up to the cursor.
    ///
    /// Where the cursor is decides the source: a command name or bound name at the start of a statement; an
    /// argument's declared `completion`, or else the command's unused option names, the bound names whose values
    /// fit the argument's type and the type's word choices; after `key=` the option's declared values, its type's
    /// choices and fitting bound names; members after `value.`; indices and `]` after `value[`; bound names inside
    /// an expression (after an operator, `(`, `,` or a list's `[`); file names for `.path` arguments and options,
    /// `.files` sources and inside strings (a name that cannot be written without quotes is offered quoted).
    public static func complete(_ session: Session, line: String, word: String) -> Result {
        if insideString(line) {
            return finish(fileCandidates(word, quoted: true), files: true, session)
        }
        let before = String(line.dropLast(word.count))
        switch slot(session, before: before) {
        case .start:
            if let members = memberCandidates(session, line: line, word: word) { return members }
            return finish(session.commands.names + Array(session.bindings.keys), word, session)
        case .expression:
            if let members = memberCandidates(session, line: line, word: word) { return members }
            return finish(Array(session.bindings.keys), word, session)
        case .index(let base):
            return indexCandidates(session, base: base, word: word)
        case .nothing:
            return memberCandidates(session, line: line, word: word)
                ?? Result(candidates: [], files: false, appendsSpace: true)
        case .option(let option):
            let files = option.type.isPath || option.completion.contains { $0.isFiles }
            if !files, option.type.takesValues, let members = memberCandidates(session, line: line, word: word) {
                return members
            }
            var pool = values(option.completion + typeValues(option.type), session)
            if option.type.takesValues { pool += names(session, fitting: option.type) }
            if files { return finish(pool.filter { $0.hasPrefix(word) } + fileCandidates(word), files: true, session) }
            return finish(pool, word, session)
        case .argument(let spec, let argument, let given, let previous):
            guard let argument else {
                // Every positional argument is given: the options not yet given.
                return finish(optionNames(spec, given), word, session)
            }
            var files = argument.type.isPath
            var pool: [String]
            if let declared = argument.completion {
                let option =
                    declared.contains { $0.isSessionOptionValues }
                    ? previous.flatMap { session.options.option($0) } : nil
                files = declared.contains { $0.isFiles } || option?.type.isPath == true
                let bound = declared.contains { $0.isBoundNames }
                if bound, let members = memberCandidates(session, line: line, word: word) { return members }
                pool = values(declared.filter { !$0.isBoundNames }, session)
                if let option {
                    // `set NAME VALUE`: the option's values, and the bound names that fit its type.
                    pool += values(typeValues(option.type), session)
                    if bound { pool += names(session, fitting: option.type.takesValues ? option.type : .string) }
                } else if bound {
                    pool += Array(session.bindings.keys)
                }
            } else if files {
                pool = []
            } else {
                if argument.type.takesValues, let members = memberCandidates(session, line: line, word: word) {
                    return members
                }
                pool = optionNames(spec, given) + values(typeValues(argument.type), session)
                if argument.type.takesValues { pool += names(session, fitting: argument.type) }
            }
            if files { return finish(pool.filter { $0.hasPrefix(word) } + fileCandidates(word), files: true, session) }
            return finish(pool, word, session)
        }
    }

    /// Where the cursor is, as far as completion cares.
    enum Slot {
        /// A statement's first word: commands and bound names.
        case start
        /// Inside an expression: bound names (and members).
        case expression
        /// After `base[`, where `base` is a name or member path written without a space before the `[`.
        case index(String)
        /// After `key=` of an option of the command.
        case option(OptionSpec)
        /// A positional argument (nil when all are given) of `spec`; `given` option names; `previous` is the word
        /// before (for `set NAME VALUE`).
        case argument(CommandSpec, ArgumentSpec?, given: Set<String>, previous: String?)
        /// Right after `]` or `)`: only members (`teacher.stage[2].`).
        case nothing
    }

    /// Finds the slot of the word that follows `before` (the text up to the word).
    static func slot(_ session: Session, before: String) -> Slot {
        let statementStart = before.lastIndex { $0 == ";" || $0 == "{" || $0 == "}" || $0 == "\n" }
        var statement = statementStart.map { String(before[before.index(after: $0)...]) } ?? before
        guard let last = statement.last else { return .start }
        if last == "[" {
            let base = pathSuffix(of: String(statement.dropLast()))
            return base.isEmpty ? .expression : .index(base)
        }
        if last == "]" || last == ")" { return .nothing }
        // An assignment: what follows `x = ` is a statement start.
        if let value = assignedText(statement) {
            statement = value
            if statement.allSatisfy(\.isWhitespace) { return .start }
        }
        let words = statement.split(whereSeparator: \.isWhitespace).map(String.init)
        guard let first = words.first else { return .start }
        if ["for", "if", "in", "and", "or", "not"].contains(first) { return .expression }
        guard let spec = session.commands.lookup(first) else { return .expression }
        guard words.count > 1 || last.isWhitespace else { return .expression }  // `cmd(`, `cmd+`: not an argument
        if last == "=" {
            let key = String(
                statement.dropLast().reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" }.reversed())
            if let option = spec.options.first(where: { $0.name == key }),
                statement.dropLast(key.count + 1).last?.isWhitespace == true
            {
                return .option(option)
            }
            return .expression
        }
        guard last.isWhitespace else { return .expression }  // after an operator, `(` or `,`
        let trimmed = statement.trimmingCharacters(in: .whitespaces)
        if let end = trimmed.last, "+-*/%<>=!(,".contains(end) || trimmed.hasSuffix("..") { return .expression }
        if let end = words.last, words.count > 1, ["and", "or", "not", "in"].contains(end) { return .expression }
        let (positionals, given) = arguments(session, statement) ?? wordArguments(Array(words.dropFirst()))
        let argument =
            positionals < spec.arguments.count
            ? spec.arguments[positionals] : spec.arguments.last.flatMap { $0.variadic ? $0 : nil }
        return .argument(spec, argument, given: given, previous: words.count > 1 ? words.last : nil)
    }

    /// The text after `NAME =` when `statement` is an assignment (not `NAME ==`), else nil.
    private static func assignedText(_ statement: String) -> String? {
        let text = statement.drop { $0.isWhitespace }
        guard let first = text.first, first.isLetter || first == "_" else { return nil }
        let rest = text.drop { $0.isLetter || $0.isNumber || $0 == "_" }.drop { $0 == " " || $0 == "\t" }
        guard rest.first == "=", rest.dropFirst().first != "=" else { return nil }
        return String(rest.dropFirst())
    }

    /// The positional count and option names of the command call `statement`, from the parser (which knows that
    /// `a + b` is one argument and `n -1` two); nil when it does not parse.
    private static func arguments(_ session: Session, _ statement: String) -> (Int, Set<String>)? {
        var parser = Parser(
            statement, source: SourceText(name: "<completion>", text: statement),
            isCommand: { session.commands.lookup($0) != nil })
        let parsed = parser.parseProgram()
        guard parsed.count == 1, case .success(.command(let call)) = parsed[0].result else { return nil }
        return (call.arguments.filter { $0.key == nil }.count, Set(call.arguments.compactMap(\.key)))
    }

    /// The same from whitespace-separated words, for a call that does not parse yet.
    private static func wordArguments(_ words: [String]) -> (Int, Set<String>) {
        (words.filter { !$0.contains("=") }.count, Set(words.compactMap(optionKey)))
    }

    /// The trailing name or member path of `text` (`student.stage` of `mimic student.stage`), or "".
    private static func pathSuffix(of text: String) -> String {
        String(text.reversed().prefix { $0.isLetter || $0.isNumber || "_.[]".contains($0) }.reversed())
    }

    /// `lr` for `lr=0.1` or `lr=`; nil for a word without `=`.
    private static func optionKey(_ word: String) -> String? {
        guard let eq = word.firstIndex(of: "="), eq != word.startIndex else { return nil }
        return String(word[..<eq])
    }

    /// `name=` for each option of `spec` not in `given`.
    private static func optionNames(_ spec: CommandSpec, _ given: Set<String>) -> [String] {
        spec.options.map(\.name).filter { !given.contains($0) }.map { $0 + "=" }
    }

    /// The word choices of `type`, and true/false for booleans.
    private static func typeValues(_ type: ValueType) -> [CompletionSource] {
        switch type {
        case .word(let choices): return [.values(choices)]
        case .bool: return [.values(["true", "false"])]
        default: return []
        }
    }

    /// The words `sources` offer in `session` (`.boundNames`: every bound name).
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

    /// Bound names whose value fits `type`, or leads to one through members or indices (a model for a `part`).
    private static func names(_ session: Session, fitting type: ValueType) -> [String] {
        session.bindings.filter { _, value in
            switch (type, value) {
            case (.integer, _): return value.integer != nil
            case (.number, .number), (.string, .string), (.bool, .bool), (.any, _), (.valueOrWord, _): return true
            case (.object(let t), .object(let o)): return o.typeName == t || continues(value)
            case (.object, .list): return true
            default: return false
            }
        }.map(\.key)
    }

    /// The candidates of `pool` starting with `word`, each followed by a space unless its value takes `.`/`[`.
    private static func finish(_ pool: [String], _ word: String, _ session: Session) -> Result {
        let matches = Array(Set(pool.filter { $0.hasPrefix(word) })).sorted()
        return Result(candidates: matches, files: false, appendsSpace: appendsSpace(after: matches, session))
    }

    /// File candidates (already matched), each directory without a following space.
    private static func finish(_ matches: [String], files: Bool, _ session: Session) -> Result {
        let sorted = Array(Set(matches)).sorted()
        let single = sorted.count == 1 ? sorted[0] : nil
        return Result(candidates: sorted, files: files, appendsSpace: single.map { !$0.hasSuffix("/") } ?? true)
    }

    /// Whether the only candidate of `matches` is followed by a space: not after `name=`, `dir/`, or a name,
    /// member path or index (`student`, `student.stage`, `xs[0]`) whose value takes `.` or `[`.
    static func appendsSpace(after matches: [String], _ session: Session) -> Bool {
        guard matches.count == 1, let match = matches.first else { return true }
        if match.hasSuffix("=") || match.hasSuffix("/") { return false }
        guard let value = evaluatePath(session, match) else { return true }
        return !continues(value)
    }

    /// Whether `value` can be followed by `.` or `[`: a list, or an object with members or indices. Numbers and
    /// strings (whose only member is `count`) cannot usefully.
    static func continues(_ value: Value) -> Bool {
        switch value {
        case .list: return true
        case .object(let o): return !o.memberNames.isEmpty || firstIndex(o) != nil
        default: return false
        }
    }

    /// The first index `o` accepts, 0 or 1 (objects decide where they count from), or nil when it has none.
    private static func firstIndex(_ o: SessionObject) -> Int? {
        [0, 1].first { (try? o.index($0)) != nil }
    }

    /// The most indices offered after `value[`.
    static let indexLimit = 64

    /// After `base[`: the indices `base` accepts and the bound whole-number names, each closed with `]`
    /// (`1]`, `k]`); numbers first, in order.
    private static func indexCandidates(_ session: Session, base: String, word: String) -> Result {
        var indices: [Int] = []
        switch evaluatePath(session, base) {
        case .list(let items)?: indices = Array(0..<min(items.count, indexLimit))
        case .object(let o)?:
            if let start = firstIndex(o) {
                indices = Array((start..<start + indexLimit).prefix { (try? o.index($0)) != nil })
            }
        default: break
        }
        let numbers = indices.map { "\($0)]" }.filter { $0.hasPrefix(word) }
        let names = names(session, fitting: .integer).map { $0 + "]" }.filter { $0.hasPrefix(word) }.sorted()
        let matches = numbers + names
        let space =
            matches.count != 1 || evaluatePath(session, base + "[" + matches[0]).map { !continues($0) } ?? true
        return Result(candidates: matches, files: false, appendsSpace: space)
    }

    /// The value of `text` when it is a name, member path or index by a number or name (`student.stage[2].head`,
    /// `xs[k]`); nil otherwise.
    /// Nothing else is evaluated while the user types.
    static func evaluatePath(_ session: Session, _ text: String) -> Value? {
        guard !text.isEmpty else { return nil }
        var parser = Parser(text, source: SourceText(name: "<completion>", text: text), isCommand: { _ in false })
        guard let expr = try? parser.parseExpression(), isPath(expr) else { return nil }
        return try? session.evaluate(expr)
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

    /// For `student.st` or `teacher.stage[2].he`: the members of the value before the last dot (`count` of a list
    /// or string); nil when the word has no dot or that value is not bound (so a file name is not mistaken for
    /// one).
    private static func memberCandidates(_ session: Session, line: String, word: String) -> Result? {
        guard let dotInWord = word.lastIndex(of: ".") else { return nil }
        let path = pathSuffix(of: line)
        guard let dot = path.lastIndex(of: ".") else { return nil }
        let base = String(path[..<dot])
        let partial = String(path[path.index(after: dot)...])
        let members: [String]
        switch evaluatePath(session, base) {
        case .object(let o)?: members = o.memberNames
        case .list?, .string?: members = ["count"]
        case .number?, .bool?, .none?: members = []
        case nil: return nil
        }
        let matches = members.filter { $0.hasPrefix(partial) }.sorted()
        let prefix = String(word[..<dotInWord]) + "."
        let space = matches.count != 1 || evaluatePath(session, base + "." + matches[0]).map { !continues($0) } ?? true
        return Result(candidates: matches.map { prefix + $0 }, files: false, appendsSpace: space)
    }

    /// Names, members and indexes by a number or a name only: safe to evaluate while the user types.
    private static func isPath(_ e: Expr) -> Bool {
        switch e {
        case .name: return true
        case .member(let base, _, _): return isPath(base)
        case .index(let base, .number, _), .index(let base, .name, _): return isPath(base)
        default: return false
        }
    }

    /// The most entries of one folder looked at (each costs a `stat`), so a huge folder does not stall the prompt.
    static let fileLimit = 10_000

    /// Files and folders whose path starts with `word` (relative to the working folder), folders ending in `/`,
    /// hidden ones only when the name typed so far starts with `.`. Outside a string (`quoted == false`) a path
    /// that cannot be written without quotes (absolute, spaces or other characters outside letters, digits and
    /// `_.-/`) is offered in quotes, `\`, `"` and `$` escaped: `"/tmp/a b.txt"`. Names that cannot be typed back
    /// (`canBeTyped`) are left out.
    static func fileCandidates(_ word: String, quoted: Bool = false) -> [String] {
        let folder: String
        let prefix: String
        if let slash = word.lastIndex(of: "/") {
            folder = String(word[...slash])
            prefix = String(word[word.index(after: slash)...])
        } else {
            folder = ""
            prefix = word
        }
        let directory = folder.isEmpty ? "." : folder
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        return entries.prefix(fileLimit).filter {
            $0.hasPrefix(prefix) && (prefix.hasPrefix(".") || !$0.hasPrefix(".")) && canBeTyped($0, in: directory)
        }
        .map { name in
            var isDirectory: ObjCBool = false
            let isFolder =
                fm.fileExists(atPath: (directory as NSString).appendingPathComponent(name), isDirectory: &isDirectory)
                && isDirectory.boolValue
            let path = folder + name + (isFolder ? "/" : "")
            guard !quoted, !isBarePath(path) else { return path }
            return "\"" + Value.escapedForSource(path).replacingOccurrences(of: "$", with: "\\$")
                + (isFolder ? "" : "\"")
        }
    }

    /// Whether the file `name` in `directory` can be typed back at the prompt and named by it: no control, format
    /// (bidirectional overrides), separator, private-use or unassigned characters (the ones `Storage.printable`
    /// escapes; a newline would end the line, U+202E would reorder it on the terminal), and a name that is valid
    /// UTF-8 (one that is not reads back as other characters, naming no file: checked with `lstat`). Others are
    /// not offered.
    static func canBeTyped(_ name: String, in directory: String) -> Bool {
        guard printable(name, limit: .max) == name else { return false }
        var status = stat()
        return lstat((directory as NSString).appendingPathComponent(name), &status) == 0
    }

    /// Whether `path` can be written without quotes: relative, of letters, digits and `_.-/`.
    private static func isBarePath(_ path: String) -> Bool {
        guard let first = path.first, first != "/" else { return false }
        return path.allSatisfy { $0.isLetter || ($0.isASCII && $0.isNumber) || "_.-/".contains($0) }
    }
}

extension ValueType {
    /// Whether values are file paths (completed with file names).
    var isPath: Bool { if case .path = self { return true } else { return false } }
    /// Whether values are evaluated expressions (so bound names fit), not words or paths taken as written.
    var takesValues: Bool {
        switch self {
        case .word, .path: return false
        default: return true
        }
    }
}

extension CompletionSource {
    /// Whether this is `.files`.
    var isFiles: Bool { if case .files = self { return true } else { return false } }
    /// Whether this is `.sessionOptionValues`.
    var isSessionOptionValues: Bool { if case .sessionOptionValues = self { return true } else { return false } }
    /// Whether this is `.boundNames`.
    var isBoundNames: Bool { if case .boundNames = self { return true } else { return false } }
}
