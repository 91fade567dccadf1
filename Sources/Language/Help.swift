/// Text of `help` and `help CMD`, generated from the command declarations.
extension CommandRegistry {
    /// The `help` listing: every command (with aliases) and its summary, sorted by name, then the language topics.
    public func helpListing() -> String {
        let rows = commands.map { ([$0.name] + $0.aliases).joined(separator: ", ") + "\t" + $0.summary }
        return "commands:\n" + table(rows) + "type 'help NAME' for a command's arguments, options and an example\n"
            + "language and REPL topics: " + Session.helpTopics.map(\.name).joined(separator: ", ")
            + " (type 'help for', for instance)\n"
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

/// A page of `help TOPIC` about the language or the REPL rather than a command (`help for`, `help syntax`).
public struct HelpTopic {
    /// The word after `help`.
    public let name: String
    /// One line for the `help` listing.
    public let summary: String
    /// The page: the syntax, what it does, and an example.
    public let page: String
}

extension Session {
    /// The language and REPL topics of `help TOPIC`, in the order the `help` listing shows them; their syntax is
    /// the grammar of `Parser` and docs/language.md.
    public static let helpTopics: [HelpTopic] = [
        HelpTopic(
            name: "syntax", summary: "statements, comments, line joins, blocks",
            page: """
                Statements end at a newline or ';'. '#' starts a comment (outside strings) to the end of the line;
                a '\\' at the end of a line joins it with the next. Inside ( ) and [ ] newlines are ignored.
                  name = expression             bind a value (all names share one session-wide scope)
                  name = command args...        bind what a command returns
                  command args... key=value     run a command (positional arguments, options in any order)
                  expression                    show its value (kept as 'ans' and '_')
                  for NAME in LIST { ... }      see 'help for'
                  if COND { ... } else { ... }  see 'help if'
                  !COMMAND                      run a shell command line (see 'help shell')
                Keywords: for in if else true false and or not.
                example:
                  x = 3; print x * 2   # prints 6

                """),
        HelpTopic(
            name: "variables", summary: "binding names, $name, ans and _",
            page: """
                'name = value' binds a name (a letter or '_', then letters, digits and '_'); rebinding replaces it.
                '$name' is the same as 'name' ('$1', '$2' are a script's arguments). 'vars' (or 'who') lists the
                bound names, 'reset' forgets them. 'ans' and '_' are the last value an expression or command
                showed (assignments and commands that print nothing leave them unchanged), unless bound by you.
                example:
                  acc = 0.5
                  acc * 100      # shows 50
                  print ans + 1  # prints 51

                """),
        HelpTopic(
            name: "strings", summary: "\"...\" literals, escapes and interpolation",
            page: """
                "..." on one line. Escapes: \\n \\t \\r \\0 \\" \\\\ \\$. "$name" inserts a value, "${expr}" any
                expression. '+' joins a string with any value; 's.count' is its length in characters.
                example:
                  acc = 0.5
                  print "top-1 ${acc * 100}% ($acc)"   # top-1 50% (0.5)

                """),
        HelpTopic(
            name: "lists", summary: "[a, b] lists, indexes from 0, count, +",
            page: """
                [a, b, c] holds values of any type (a trailing comma is allowed). l[0] is the first element,
                l[-1] the last; l.count is the length; '+' joins two lists. 'for' walks a list.
                example:
                  widths = [16, 32, 64]
                  print widths[0] widths[-1] widths.count   # 16 64 3

                """),
        HelpTopic(
            name: "ranges", summary: "lo..hi inclusive integer ranges",
            page: """
                lo..hi is the list of the integers from lo to hi, both included: 1..3 is [1, 2, 3]; 3..1 is [].
                The bounds are integer expressions (k..k+2); a range holds at most \(Value.maxElements) elements.
                example:
                  for stage in 1..3 { print stage }

                """),
        HelpTopic(
            name: "operators", summary: "arithmetic, comparison and logic, by precedence",
            page: """
                From lowest to highest precedence:
                  or, and        bools, short-circuit
                  ==  !=         any two values
                  <  <=  >  >=   two numbers or two strings
                  lo..hi         a range (see 'help ranges')
                  +  -           numbers; '+' also joins strings and lists
                  *  /  %        numbers ('%' is the truncating remainder)
                  -x, not x      negation
                  x.member, x[i] members and indexes
                In command arguments a '-' or '+' with a space before and none after starts a new argument
                (print n -1 prints two values); write (n - 1) when in doubt.
                example:
                  print 7 % 3 == 1 and not (2 > 3)   # true

                """),
        HelpTopic(
            name: "for", summary: "for NAME in LIST { ... } loops",
            page: """
                for NAME in LIST-OR-RANGE { STATEMENTS } runs the statements once per element, NAME bound to it
                (it stays bound after the loop). The block may span lines; Ctrl-C stops the loop between
                iterations. There is no 'while': loop over a range.
                example:
                  for k in 1..3 {
                    print k k * k
                  }

                """),
        HelpTopic(
            name: "if", summary: "if COND { ... } else if COND { ... } else { ... }",
            page: """
                if CONDITION { STATEMENTS } runs the statements when CONDITION is true; 'else if' and 'else'
                follow the closing '}' on the same line. Conditions must be true or false ('if 1 {' is an error).
                example:
                  acc = 0.7
                  if acc > 0.9 { print "great" } else if acc > 0.5 { print "fine" } else { print "retrain" }

                """),
        HelpTopic(
            name: "repl", summary: "the interactive prompt: keys, history, !N, !CMD, ans",
            page: """
                Tab completes commands, options, names, members and files. Up/Down and Ctrl-R search the history
                ('history' lists it; '!N' reruns entry N; a block is kept as one ';'-joined line). '!COMMAND' runs
                a shell command ('!ls sessions'); 'cd DIR' and 'pwd' change and show the working folder.
                Ctrl-C cancels the line, or stops the running command after its current batch. Ctrl-D on an empty
                '...>' line cancels the block; at 'sskd>' it leaves, as do quit, exit, quit() and exit().
                'ans' and '_' are the last value shown.
                example:
                  !ls sessions

                """),
    ]
}
