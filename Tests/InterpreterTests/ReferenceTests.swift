import Foundation
import XCTest

@testable import EngineCommands
@testable import Language

/// docs/language.md's command reference is the one the command declarations generate.
final class ReferenceTests: XCTestCase {
    func testLanguageReferenceIsGeneratedFromTheDeclarations() throws {
        let url = packageRoot.appendingPathComponent("docs/language.md")
        let doc = try String(contentsOf: url, encoding: .utf8)
        let session = Session.withEngine(output: CaptureSink())
        let generated = session.commands.referenceMarkdown(options: session.options)
        let begin = try XCTUnwrap(doc.range(of: CommandRegistry.referenceBegin), "reference markers missing")
        let end = try XCTUnwrap(doc.range(of: CommandRegistry.referenceEnd), "reference end marker missing")
        let section = begin.lowerBound..<doc.index(after: end.upperBound)  // the marker's line end included
        if doc[section] != generated, ProcessInfo.processInfo.environment["SSKD_UPDATE_REFERENCE"] == "1" {
            try doc.replacingCharacters(in: section, with: generated).write(to: url, atomically: true, encoding: .utf8)
            return
        }
        XCTAssertEqual(
            String(doc[section]), generated,
            "docs/language.md's command reference is out of date; regenerate it with "
                + "SSKD_UPDATE_REFERENCE=1 swift test --filter ReferenceTests "
                + "(or paste `swift run sskd --print-reference`)")
    }
}
