import Foundation
import XCTest

@testable import Plotting

/// A minimal RFC 4180 reader, to check what the writer wrote by parsing it back.
func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var quoted = false
    var characters = Array(text)[...]
    while let character = characters.popFirst() {
        if quoted {
            if character == "\"" {
                if characters.first == "\"" {
                    field.append("\"")
                    characters.removeFirst()
                } else {
                    quoted = false
                }
            } else {
                field.append(character)
            }
        } else if character == "\"" {
            quoted = true
        } else if character == "," {
            row.append(field)
            field = ""
        } else if character == "\r\n" || character == "\n" {
            row.append(field)
            rows.append(row)
            row = []
            field = ""
        } else {
            field.append(character)
        }
    }
    return rows
}

final class CSVWriterTests: XCTestCase {
    func testQuotingFollowsRFC4180() {
        let columns = [
            CSVColumn(name: "run, stage", values: ["SSKD \"v2\"", "two\nlines"]),
            CSVColumn(name: "top-1 (%)", numbers: [91.25]),
        ]
        XCTAssertEqual(
            CSVWriter.encode(columns),
            "\"run, stage\",top-1 (%)\r\n\"SSKD \"\"v2\"\"\",91.25\r\n\"two\nlines\",\r\n")
        XCTAssertEqual(
            parseCSV(CSVWriter.encode(columns)),
            [["run, stage", "top-1 (%)"], ["SSKD \"v2\"", "91.25"], ["two\nlines", ""]])
    }

    func testExportedPlotDataParsesBackToTheInput() throws {
        let spec = PlotSpec.accuracy(runs: Sample.accuracyRuns, teacherTop1: 93.1)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-export-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: url) }
        try CSVWriter.write(spec.csvColumns, to: url)
        let rows = parseCSV(try String(contentsOf: url, encoding: .utf8))
        XCTAssertEqual(rows.first, ["series", "epoch", "validation top-1 (%)"])
        XCTAssertEqual(rows.count, 1 + 3 * 10 + 1)
        for (run, curve) in Sample.accuracyRuns.enumerated() {
            for (index, point) in curve.points.enumerated() {
                let row = rows[1 + run * 10 + index]
                XCTAssertEqual(row[0], curve.name)
                XCTAssertEqual(Double(row[1]), point.x)
                XCTAssertEqual(Double(row[2]), point.y)  // exact: shortest round-trip formatting of a Double
            }
        }
        XCTAssertEqual(rows.last, ["teacher (93.1%)", "", "93.1"])
    }

    func testNumbersThatAreFloat32ValuesAreWrittenAsFloats() {
        XCTAssertEqual(CSVColumn.number(Double(Float(0.1))), "0.1")
        XCTAssertEqual(Float(CSVColumn.number(Double(Float(0.1)))), Float(0.1))
        XCTAssertEqual(CSVColumn.number(Double(Float(2.3090134))), "2.3090134")
        XCTAssertEqual(
            CSVColumn.number(100.0 * 23 / 60), "38.333333333333336", "a Double that no Float holds stays whole")
        XCTAssertEqual(CSVColumn.number(0.1), "0.1")
        XCTAssertEqual(CSVColumn.number(1e300), "1e+300")
        XCTAssertEqual(CSVColumn.number(.nan), "nan")
        XCTAssertEqual(CSVColumn.number(-.infinity), "-inf")
        XCTAssertEqual(CSVColumn(name: "lr", numbers: [Double(Float(0.05)), 3]).values, ["0.05", "3.0"])
    }

    func testWriteIntoMissingDirectoryIsATypedError() {
        let url = URL(fileURLWithPath: "/nonexistent-dir/run.csv")
        XCTAssertThrowsError(try CSVWriter.write([CSVColumn(name: "x", numbers: [1])], to: url)) { error in
            guard case .writeFailed(path: "/nonexistent-dir/run.csv", _)? = error as? PlotError else {
                return XCTFail("\(error)")
            }
        }
    }
}
