import XCTest

@testable import EngineCommands
@testable import Language

/// Randomised robustness: thousands of seeded token soups and byte strings never crash the lexer, parser or
/// evaluator, and every failure is an error with a location inside the input.
final class FuzzTests: XCTestCase {
    /// SplitMix64, so the inputs are the same on every run.
    private struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    private let vocabulary = [
        "print", "x", "y", "=", "==", "!=", "1", "2.5", "1e-3", "..", ".", "(", ")", "[", "]", "{", "}", ",", ";",
        "\n", "\\\n", "#c", "\"s\"", "\"$x\"", "\"${x+1}\"", "\"${\"", "\"\\q\"", "\"open", "$", "$1", "+", "-", "*",
        "/",
        "%", "<", ">=", "and", "or", "not", "for", "in", "if", "else", "true", "help", "set", "seed", "lr=", "train",
        "epochs=", "vars", "show", "options", "testmodel", "resnet8", "m", "m.stage", "[1]", "@", "!", "é", " ", "\t",
    ]

    private func checkLocations(_ errors: [InterpreterError], _ text: String) {
        let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
        for e in errors {
            XCTAssertTrue((1...lineCount).contains(e.location.line), "bad line in \(e) for \(text.debugDescription)")
            XCTAssertGreaterThanOrEqual(e.location.column, 1, "bad column in \(e) for \(text.debugDescription)")
            XCTAssertFalse(e.message.isEmpty)
        }
    }

    func testTokenSoupsParseAndRunOrFailWithALocation() {
        var rng = SplitMix(state: 20_260_101)
        for _ in 0..<3000 {
            let text = (0..<(1 + rng.below(14))).map { _ in vocabulary[rng.below(vocabulary.count)] }.joined(
                separator: rng.below(3) == 0 ? "" : " ")
            let sink = CaptureSink()
            let session = testSession(sink)
            // A soup that starts a statement with `!` is a shell line: parsed and bound, never given to /bin/sh.
            session.commands.register(
                CommandSpec(
                    "shell", summary: "the shell, not run while fuzzing",
                    arguments: [ArgumentSpec("command", .string, "ignored")], example: "!ls", returnsValue: false
                ) { _, _ in .none })
            session.keepGoing = true
            session.run("m = testmodel resnet8\n" + text, name: "fuzz")
            let errors = sink.events.compactMap { if case .error(let e) = $0 { return e } else { return nil } }
            checkLocations(errors, "m = testmodel resnet8\n" + text)
        }
    }

    /// Seeded mutants of the shipped sessions and lessons (bytes flipped, lines cut, duplicated or deleted)
    /// lex and parse into statements or syntax errors located inside the text.
    func testMutatedSessionsParseOrFailWithALocation() throws {
        let folder = packageRoot.appendingPathComponent("sessions")
        let files = try FileManager.default.subpathsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sskd") }
            .sorted()
        XCTAssertGreaterThanOrEqual(files.count, 5)
        let commands = Set(Session.withEngine(output: CaptureSink()).commands.names)
        var rng = SplitMix(state: 1812)
        for file in files {
            let base = try [UInt8](Data(contentsOf: folder.appendingPathComponent(file)))
            for _ in 0..<80 {
                var bytes = base
                for _ in 0..<(1 + rng.below(4)) {
                    let at = rng.below(bytes.count + 1)
                    switch rng.below(5) {
                    case 0 where at < bytes.count: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                    case 1 where at < bytes.count: bytes[at] = Array("{}[]()\"=.,$#\\\n".utf8)[rng.below(14)]
                    case 2: bytes.removeSubrange(at...)
                    case 3: bytes.insert(contentsOf: bytes[at..<min(at + rng.below(80), bytes.count)], at: at)
                    default: bytes.removeSubrange(at..<min(at + rng.below(20), bytes.count))
                    }
                }
                let text = String(decoding: bytes, as: UTF8.self)
                var lexer = Lexer(text, source: SourceText(name: file, text: text))
                XCTAssertFalse(lexer.tokens().isEmpty)
                var parser = Parser(text, source: SourceText(name: file, text: text), isCommand: commands.contains)
                let errors = parser.parseProgram().compactMap {
                    if case .failure(let e) = $0.result { return e } else { return nil }
                }
                checkLocations(errors, text)
                XCTAssertTrue(errors.allSatisfy(\.isSyntax))
            }
        }
    }

    func testRandomBytesParseOrFailWithALocation() {
        var rng = SplitMix(state: 7)
        for _ in 0..<3000 {
            let bytes = (0..<rng.below(60)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let text = String(decoding: bytes, as: UTF8.self)
            var parser = Parser(text, source: SourceText(name: "bytes", text: text), isCommand: { $0 == "print" })
            let statements = parser.parseProgram()
            let errors = statements.compactMap { if case .failure(let e) = $0.result { return e } else { return nil } }
            checkLocations(errors, text)
            XCTAssertTrue(errors.allSatisfy(\.isSyntax))
        }
    }
}
