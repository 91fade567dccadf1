import Foundation
import Networks
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// Replays sessions/demo.sskd, reduced to 300 training images and a few steps, and checks its two tables (equal
/// compute in each), its gap report and the files it writes (the README's first command runs the full version).
final class DemoTests: XCTestCase {
    func testReducedDemoPrintsTheComparisonAndWritesItsFiles() throws {
        try skipUnlessFashionMNIST()
        let root = packageRoot
        var script = try String(contentsOf: root.appendingPathComponent("sessions/demo.sskd"), encoding: .utf8)
        let out = try makeTemporaryFolder("sskd-demo")  // as scripts/demo does
        defer { try? FileManager.default.removeItem(at: out) }
        for (knob, reduced) in [
            ("steps = ", "steps = 20"), ("few_steps = ", "few_steps = 10"), ("limit = ", "limit = 300"),
            ("val = ", "val = 100"), ("labels = ", "labels = 50"),
        ] {
            let line = try XCTUnwrap(
                script.split(separator: "\n").first { $0.hasPrefix(knob) }, "the demo lost its '\(knob)' knob")
            script = script.replacingOccurrences(of: String(line), with: reduced)
        }
        script = script.replacingOccurrences(of: "\"out/", with: "\"\(out.path)/")
        script = script.replacingOccurrences(of: "\"sessions/", with: "\"\(root.path)/sessions/")
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertNil(session.options.set("out", .string(out.path)))
        XCTAssertEqual(session.run(script, name: "demo.sskd"), .ok, sink.text)
        let lines = sink.lines
        let header = try XCTUnwrap(
            lines.firstIndex { $0.hasPrefix("  model    arch      parameters  test top-1  gap") }, sink.text)
        XCTAssertTrue(lines[header + 1].hasPrefix("  teacher  resnet20  272,186     "), lines[header + 1])
        XCTAssertTrue(lines[header + 2].hasPrefix("  scratch  resnet8   77,754      "), lines[header + 2])
        XCTAssertTrue(lines[header + 3].hasPrefix("  student  resnet8   77,754      "), lines[header + 3])
        // Equal compute: the scratch student's budget matches SSKD's within 10% (the last column).
        func compute(_ row: String) throws -> Double {
            let parts = row.split(separator: " ")
            let value = try XCTUnwrap(Double(parts[parts.count - 2]), row)
            let unit = parts.last!
            return value * (unit == "TMAC" ? 1e12 : unit == "GMAC" ? 1e9 : 1e6)
        }
        let (scratchMACs, studentMACs) = (try compute(lines[header + 2]), try compute(lines[header + 3]))
        XCTAssertEqual(scratchMACs / studentMACs, 1, accuracy: 0.1, "\(lines[header + 2])\n\(lines[header + 3])")
        let few = try XCTUnwrap(
            lines.lastIndex { $0.hasPrefix("  model        arch      parameters  test top-1") }, sink.text)
        XCTAssertEqual(
            lines[(few + 1)...(few + 4)].map { String($0.split(separator: " ")[0]) },
            ["teacher", "few_scratch", "few_kd", "few"])
        XCTAssertTrue(lines.contains { $0.contains("500 labelled") || $0.contains("50 labelled") }, sink.text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("baseline scratch top-1 ") }, sink.text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("test: teacher top-1 ") }, sink.text)
        for png in ["loss.png", "gap.png"] {
            let bytes = try Data(contentsOf: out.appendingPathComponent(png))
            XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], png)
        }
        let (student, meta) = try Model.load(contentsOf: out.appendingPathComponent("student.safetensors"))
        XCTAssertEqual(student.architecture, "resnet8")
        XCTAssertEqual(meta["dataset"], "fashion-mnist")
    }
}
