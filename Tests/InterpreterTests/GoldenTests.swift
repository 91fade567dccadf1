import Foundation
import XCTest

@testable import Language

/// Runs every `.sskd` file of a golden folder (keep-going mode) and compares its output, line by line and in order,
/// with the file's `# expect: LINE`, `# expect error: LINE:COL: MESSAGE` and `# expect match: REGEX` comments (as
/// Crafting Interpreters' test runner; `match` is for lines with measured numbers).
func runGoldenFiles(_ folderName: String, minimum: Int, makeSession: (CaptureSink) -> Session) throws {
    let folder = try XCTUnwrap(Bundle.module.url(forResource: folderName, withExtension: nil))
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sskd") }
        .sorted()
    XCTAssertGreaterThanOrEqual(files.count, minimum, "golden files missing in \(folder.path)")
    for file in files {
        let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
        let expected = text.split(separator: "\n", omittingEmptySubsequences: false).compactMap {
            line -> (String, Bool)? in
            if let r = line.range(of: "# expect error: ") { return ("error: " + line[r.upperBound...], false) }
            if let r = line.range(of: "# expect match: ") { return (String(line[r.upperBound...]), true) }
            if let r = line.range(of: "# expect: ") { return (String(line[r.upperBound...]), false) }
            return nil
        }
        let sink = CaptureSink()
        let session = makeSession(sink)
        session.keepGoing = true
        session.run(text, name: file)
        let actual = sink.lines
        for i in 0..<max(expected.count, actual.count) {
            let (e, isPattern) = i < expected.count ? expected[i] : ("<nothing>", false)
            let a = i < actual.count ? actual[i] : "<nothing>"
            let same = isPattern ? a.range(of: "^(?:" + e + ")$", options: .regularExpression) != nil : e == a
            if !same {
                XCTFail("\(file): output line \(i + 1):\n  expected: \(e)\n  actual:   \(a)")
                break
            }
        }
    }
}

final class GoldenTests: XCTestCase {
    /// The language itself, with stand-in engine commands.
    func testGoldenFiles() throws {
        try runGoldenFiles("Golden", minimum: 8) { testSession($0) }
    }
}
