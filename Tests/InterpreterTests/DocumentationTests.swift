import Foundation
import XCTest

@testable import EngineCommands
@testable import Language

/// docs/language.md documents every registered command and every standard session option.
final class DocumentationTests: XCTestCase {
    func testEveryCommandAndOptionIsDocumented() throws {
        let doc = try String(contentsOf: packageRoot.appendingPathComponent("docs/language.md"), encoding: .utf8)
        let session = Session.withEngine(output: CaptureSink())
        XCTAssertFalse(session.commands.names.isEmpty)
        for name in session.commands.names {
            XCTAssertTrue(
                doc.contains("### `\(name)") || doc.contains(", `\(name)`\n"),
                "command '\(name)' missing from docs/language.md")
        }
        // Every option of every engine command is documented in its section or the shared training options.
        let engine = try XCTUnwrap(doc.range(of: "## Engine commands")).upperBound
        let sections = doc[engine...].components(separatedBy: "\n### ")
        let shared = sections.first { $0.hasPrefix("Training options") } ?? ""
        for spec in session.commands.commands where doc[engine...].contains("### `\(spec.name)") {
            let section = sections.first { $0.hasPrefix("`\(spec.name)") } ?? ""
            for option in spec.options {
                XCTAssertTrue(
                    section.contains("`\(option.name)=") || shared.contains("`\(option.name)=`"),
                    "option '\(option.name)=' of '\(spec.name)' missing from docs/language.md")
            }
        }
        for option in session.options.declared {
            XCTAssertTrue(doc.contains("| `\(option.name)` |"), "option '\(option.name)' missing from docs/language.md")
        }
    }
}
