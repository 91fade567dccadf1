import XCTest

@testable import Language

/// How numbers print (`Value.displayFormat`) and that their source form stays exact (`Value.format`, `literal`).
final class NumberDisplayTests: XCTestCase {
    func testExactUpToSixSignificantDigits() {
        let cases: [(Double, String)] = [
            (0.1, "0.1"), (1e-5, "1e-05"), (0.0005, "0.0005"), (12345.6, "12345.6"), (-0.25, "-0.25"),
            (123456.0, "123456"), (1e20, "1e+20"), (1.5e-300, "1.5e-300"), (0.000123456, "0.000123456"),
        ]
        for (value, text) in cases {
            XCTAssertEqual(Value.displayFormat(value), text, "\(value)")
        }
    }

    func testIntegersHaveNoFraction() {
        XCTAssertEqual(Value.displayFormat(3), "3")
        XCTAssertEqual(Value.displayFormat(-2), "-2")
        XCTAssertEqual(Value.displayFormat(0), "0")
        XCTAssertEqual(Value.displayFormat(-0.0), "0")
        XCTAssertEqual(Value.displayFormat(999_999_999_999_999), "999999999999999")
        XCTAssertEqual(Value.displayFormat(1.234_567_890_123_456_8e18), "1.235e+18")
    }

    func testOthersFourSignificantDigitsWithoutRoundingTheIntegerPart() {
        let cases: [(Double, String)] = [
            (100.0 * 23 / 60, "38.33"), (1.0 / 3, "0.3333"), (10.0 / 3, "3.333"), (-8.0 / 3, "-2.667"),
            (123456.789, "123456.79"), (12345.6789, "12345.68"), (1.0 / 300_000, "3.333e-06"),
            (-1.0 / 300_000, "-3.333e-06"), (1e20 / 3, "3.333e+19"), (0.012345678, "0.01235"),
            (2.0000001, "2.0"), (0.1 + 0.2, "0.3"), (Double.pi * 1e14, "314159265358979.31"),
            (Double.greatestFiniteMagnitude, "1.798e+308"), (Double.leastNonzeroMagnitude, "5e-324"),
        ]
        for (value, text) in cases {
            XCTAssertEqual(Value.displayFormat(value), text, "\(value)")
        }
    }

    func testNonFiniteNumbers() {
        XCTAssertEqual(Value.displayFormat(.nan), "nan")
        XCTAssertEqual(Value.displayFormat(.infinity), "inf")
        XCTAssertEqual(Value.displayFormat(-.infinity), "-inf")
    }

    func testDisplayRoundsAndLiteralStaysExact() {
        let third = Value.number(1.0 / 3)
        XCTAssertEqual(third.display, "0.3333")
        XCTAssertEqual(third.literal, "0.3333333333333333")
        let list = Value.list([third, .string("a"), .list([.number(2.0 / 3)])])
        XCTAssertEqual(list.display, "[0.3333, \"a\", [0.6667]]")
        XCTAssertEqual(list.literal, "[0.3333333333333333, \"a\", [0.6666666666666666]]")
        XCTAssertEqual(Value.format(0.1 + 0.2), "0.30000000000000004")
    }

    func testSavedSessionKeepsTheSourceText() throws {
        let session = Session.standard(output: CaptureSink())
        XCTAssertEqual(session.run("x = 0.30000000000000004 * 3\nprint x", name: "t"), .ok)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-numbers-\(UUID()).sskd")
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertEqual(session.run("save session \"\(file.path)\"", name: "save"), .ok)
        let saved = try String(contentsOf: file, encoding: .utf8)
        XCTAssertTrue(saved.contains("x = 0.30000000000000004 * 3"), saved)
    }
}
