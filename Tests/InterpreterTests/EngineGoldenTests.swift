import Foundation
import XCTest

@testable import EngineCommands
@testable import Language

/// The engine commands (data, model, split, mimic, train, eval, gap, ...) through the language, on real
/// sessions: `EngineGolden/*.sskd` with `# expect:` lines. Needs the Debian package dataset-fashion-mnist.
final class EngineGoldenTests: XCTestCase {
    func testEngineGoldenFiles() throws {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"),
            "dataset-fashion-mnist is not installed")
        try runGoldenFiles("EngineGolden", minimum: 3) { Session.withEngine(output: $0) }
    }
}
