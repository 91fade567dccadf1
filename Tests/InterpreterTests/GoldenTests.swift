import Foundation
import XCTest
@testable import Interpreter

/// Runs every `Golden/*.sskd` file (keep-going mode) and compares its output, line by line and in order, with the
/// file's `# expect: LINE` and `# expect error: LINE:COL: MESSAGE` comments (as Crafting Interpreters' test runner).
final class GoldenTests: XCTestCase {
    func testGoldenFiles() throws {
        let folder = try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil))
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sskd") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 8, "golden files missing in \(folder.path)")
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            let expected = text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
                if let r = line.range(of: "# expect error: ") { return "error: " + line[r.upperBound...] }
                if let r = line.range(of: "# expect: ") { return String(line[r.upperBound...]) }
                return nil
            }
            let sink = CaptureSink()
            let session = testSession(sink)
            session.keepGoing = true
            session.run(text, name: file)
            let actual = sink.lines
            for i in 0..<max(expected.count, actual.count) {
                let e = i < expected.count ? expected[i] : "<nothing>"
                let a = i < actual.count ? actual[i] : "<nothing>"
                if e != a {
                    XCTFail("\(file): output line \(i + 1):\n  expected: \(e)\n  actual:   \(a)")
                    break
                }
            }
        }
    }
}
