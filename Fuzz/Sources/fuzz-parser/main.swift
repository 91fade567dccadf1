import EngineCommands
import FuzzSupport
import Language

// The command language's lexer and parser (not execution) on arbitrary UTF-8 text, with sskd's real
// command names so command calls and their options are parsed as in a session.
private let commandNames = Set(Session.withEngine().commands.names)

runFuzzer { input in
    let text = String(decoding: input, as: UTF8.self)
    let source = SourceText(name: "fuzz", text: text)
    var lexer = Lexer(text, source: source)
    _ = lexer.tokens()
    var parser = Parser(text, source: source, isCommand: commandNames.contains)
    _ = parser.parseProgram()
    _ = Parser.needsContinuation(text)
}
