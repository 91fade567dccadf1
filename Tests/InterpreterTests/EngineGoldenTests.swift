import Foundation
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// The engine commands (data, model, split, mimic, train, eval, gap, ...) through the language, on real
/// sessions: `EngineGolden/*.sskd` with `# expect:` lines. Needs the Debian package dataset-fashion-mnist.
final class EngineGoldenTests: XCTestCase {
    func testEngineGoldenFiles() throws {
        try skipUnlessFashionMNIST()
        try runGoldenFiles("EngineGolden", minimum: 3) { Session.withEngine(output: $0) }
    }
}
