import Foundation
import XCTest
@testable import Interpreter

/// docs/language.md documents every registered command and every standard session option.
final class DocumentationTests: XCTestCase {
    func testEveryCommandAndOptionIsDocumented() throws {
        let doc = try String(contentsOf: packageRoot.appendingPathComponent("docs/language.md"), encoding: .utf8)
        let session = Session.standard(output: CaptureSink())
        XCTAssertFalse(session.commands.names.isEmpty)
        for name in session.commands.names {
            XCTAssertTrue(doc.contains("### `\(name)") || doc.contains(", `\(name)`\n"), "command '\(name)' missing from docs/language.md")
        }
        for option in session.options.declared {
            XCTAssertTrue(doc.contains("| `\(option.name)` |"), "option '\(option.name)' missing from docs/language.md")
        }
    }
}
