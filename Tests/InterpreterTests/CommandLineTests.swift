import Foundation
import TestSupport
import XCTest

@testable import Language

/// The `sskd` executable: modes (-c, FILE with $1.., pipe), flags and exit codes (64 usage, 65 syntax, 70 runtime).
final class CommandLineTests: XCTestCase {
    /// The built `sskd` next to this test bundle, or skip.
    static func binary() throws -> URL {
        let url = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("sskd")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw XCTSkip("sskd executable not built at \(url.path); run `swift build` first")
        }
        return url
    }

    private func sskd(_ arguments: [String], stdin: String = "") throws -> (out: String, err: String, code: Int32) {
        try runSeparate(try Self.binary(), arguments, stdin: stdin)
    }

    func testCommandsFromDashC() throws {
        let r = try sskd(["-c", "x = 6 * 7; print \"answer $x\""])
        XCTAssertEqual(r.out, "answer 42\n")
        XCTAssertEqual(r.code, 0)
    }

    func testExitCodes() throws {
        let syntax = try sskd(["-c", "print 1\nprint (2"])
        XCTAssertEqual(syntax.code, 65)
        XCTAssertEqual(syntax.out, "")
        XCTAssertEqual(
            syntax.err,
            "<command>:2:9: error: expected ')' after expression, found end of input\n    print (2\n            ^\n")
        let runtime = try sskd(["-c", "print 1; print nope; print 2"])
        XCTAssertEqual(runtime.code, 70)
        XCTAssertEqual(runtime.out, "1\n")
        let kept = try sskd(["--keep-going", "-c", "print 1; print nope; print 2"])
        XCTAssertEqual(kept.code, 70)
        XCTAssertEqual(kept.out, "1\n2\n")
        XCTAssertEqual(try sskd(["--bogus"]).code, 64)
        XCTAssertEqual(try sskd(["--seed", "abc", "-c", "print 1"]).code, 64)
        XCTAssertEqual(try sskd(["--threads", "300", "-c", "print 1"]).code, 64)
        XCTAssertEqual(try sskd(["-c", "quit 4"]).code, 4)
        XCTAssertEqual(
            try sskd(["--keep-going", "-c", "print nope; quit; print 2"]).code, 70, "bare quit: the status so far")
        XCTAssertEqual(try sskd(["--keep-going", "-c", "print 1; quit; print 2"]).code, 0)
        XCTAssertEqual(try sskd(["no-such-file.sskd"]).code, 66)
    }

    func testScriptFileWithArguments() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-cli-\(getpid()).sskd").path
        try "print \"script\" $1 $2\nprint $0 == \"\(path)\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try sskd([path, "alpha", "7"])
        XCTAssertEqual(r.out, "script alpha 7\ntrue\n")
        XCTAssertEqual(r.code, 0)
    }

    func testPipedInputEchoQuietSeedAndVersion() throws {
        XCTAssertEqual(try sskd([], stdin: "print 5\nprint 6\n").out, "5\n6\n")
        XCTAssertEqual(try sskd(["--echo", "-c", "x = 1; print x"]).out, "sskd> x = 1\nsskd> print x\n1\n")
        XCTAssertEqual(try sskd(["--quiet", "-c", "note \"hidden\"; print 1"]).out, "1\n")
        XCTAssertEqual(
            try sskd(["--seed", "7", "--threads", "2", "-c", "show seed; show threads"]).out, "seed = 7\nthreads = 2\n")
        XCTAssertEqual(try sskd(["--version"]).out, Session.version + "\n")
    }
}
