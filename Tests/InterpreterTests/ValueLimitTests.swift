import XCTest

@testable import Language

/// Values stay within `Value.maxDepth` levels, `Value.maxElements` elements (counted over nested lists) and
/// `Value.maxStringBytes` bytes wherever they are built; printing and comparing any value take bounded time and stack.
final class ValueLimitTests: XCTestCase {
    /// Every binding's text, to check that a failing statement changed nothing.
    private func snapshot(_ session: Session) -> [String: String] {
        session.bindings.mapValues { "\($0.typeName) \($0.literal)" }
    }

    /// Runs `setup`, then `failing`; checks the error (`line:column: message`) and that no binding changed (with
    /// `unchanged`; a script of several statements keeps what the statements before the failing one did).
    private func assertRefused(
        _ failing: String, _ expected: String, after setup: String = "", unchanged: Bool = true,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let sink = CaptureSink()
        let session = testSession(sink)
        XCTAssertEqual(session.run("x = 5\n" + setup, name: "setup"), .ok, file: file, line: line)
        let before = snapshot(session)
        let status = session.run(failing, name: "t")
        XCTAssertNotEqual(status, .ok, file: file, line: line)
        XCTAssertEqual(sink.lines.last, "error: " + expected, file: file, line: line)
        if unchanged {
            XCTAssertEqual(
                snapshot(session), before, "bindings changed by \(failing.prefix(80))", file: file, line: line)
        }
        XCTAssertEqual(session.lookup("x")?.integer, 5, file: file, line: line)
    }

    func testNestingPastTheDepthLimitIsRefusedWhereTheListIsBuilt() {
        let deepest = "l = [1]\nfor i in 1..99 { l = [l] }"  // 100 levels
        assertRefused("l = [l]", "1:5: list nested deeper than 100 levels", after: deepest)
        assertRefused("m = [0, [l]]", "1:9: list nested deeper than 100 levels", after: deepest)
        assertRefused("m = [[[1]], l + [1]]", "1:5: list nested deeper than 100 levels", after: deepest)
        assertRefused(
            "l = [1]; for i in 1..100000 { l = [l] }; l = 0", "1:35: list nested deeper than 100 levels",
            unchanged: false)
        let nested = String(repeating: "[", count: 150) + String(repeating: "]", count: 150)
        assertRefused("l = \(nested)", "1:54: list nested deeper than 100 levels")
    }

    func testLogicalSizeCountsSharedListsAndIsRefusedAtConstruction() {
        // 3 * 2^k - 2 elements after k doublings: 786,430 after 18, 1,572,862 after 19.
        let doubled = "l = [1]\nfor i in 1..18 { l = [l, l] }"
        let more = "a list may hold at most 1000000 elements, nested lists' elements included, this one would hold more"
        assertRefused("l = [l, l]", "1:5: " + more, after: doubled)
        assertRefused("m = l + l", "1:7: " + more, after: doubled)
        assertRefused("l = [1]; for i in 1..60 { l = [l, l] }; print l", "1:31: " + more, unchanged: false)
        assertRefused("m = [r]", "1:5: " + more, after: "r = 1..1000000")
        assertRefused(
            "m = r + [0]", "1:7: a list may hold at most 1000000 elements, this one would hold 1000001",
            after: "r = 1..1000000")
    }

    func testStringsPastTheLimitAreRefused() {
        assertRefused(
            "t = \"$s$s\"", "1:5: a string may hold at most 16777216 bytes, this one would hold 33554432",
            after: "s = \"a\"\nfor i in 1..24 { s = s + s }")
        assertRefused(
            "t = s + \"!\"", "1:7: a string may hold at most 16777216 bytes, this one would hold 16777217",
            after: "s = \"a\"\nfor i in 1..24 { s = s + s }")
    }

    func testStringLiteralPastTheLimitIsASyntaxError() {
        let string = "s = \"" + String(repeating: "a", count: Value.maxStringBytes + 1) + "\""
        assertRefused(string, "1:5: a string may hold at most 16777216 bytes, this literal holds more")
    }

    func testListLiteralPastTheLimitIsASyntaxError() {
        let list = "l = [" + String(repeating: "0,", count: Value.maxElements) + "0]"
        assertRefused(list, "1:5: a list may hold at most 1000000 elements, this literal holds more")
    }

    func testLargeLegalValuesPrintCutAndCompareQuickly() {
        let sink = CaptureSink()
        let session = testSession(sink)
        let script = """
            l = [1]
            for i in 1..18 { l = [l, l] }
            print l
            print l == l
            r = 1..1000000
            print r
            print r == 1..1000000
            d = [1]
            for i in 1..99 { d = [d] }
            print d == d
            print d
            """
        XCTAssertEqual(session.run(script, name: "t"), .ok)
        let lines = sink.lines
        XCTAssertEqual(lines.count, 6)
        XCTAssertTrue(lines[0].hasSuffix("... 1 more]"), String(lines[0].suffix(80)))
        XCTAssertLessThan(lines[0].utf8.count, Value.printLimit + 2_000)
        XCTAssertEqual(lines[1], "true")
        XCTAssertTrue(lines[2].hasSuffix(" more]"))
        XCTAssertLessThan(lines[2].utf8.count, Value.printLimit + 100)
        XCTAssertEqual(Array(lines[3...4]), ["true", "true"])
        XCTAssertEqual(lines[5], String(repeating: "[", count: 100) + "1" + String(repeating: "]", count: 100))
    }

    /// `literal` and `equal` use explicit stacks: values deeper than the language builds do not overflow them.
    func testPrintingAndComparingDoNotRecurse() {
        var a = Value.number(1)
        var b = Value.number(1)
        for _ in 0..<2_000 {
            a = .list([a])
            b = .list([b])
        }
        XCTAssertTrue(Value.equal(a, b))
        XCTAssertFalse(Value.equal(a, .list([b])))
        XCTAssertEqual(a.literal.utf8.count, 2 * 2_000 + 1)
        XCTAssertEqual(Value.extent(of: [a]).depth, Value.maxDepth + 1)
    }
}
