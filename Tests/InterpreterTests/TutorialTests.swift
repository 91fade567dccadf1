import Foundation
import XCTest

@testable import EngineCommands
@testable import Language

/// Replays every lesson of `sessions/tutorial/` as `sskd FILE` would (no pauses), on a real session, and checks
/// that each ends with `RunStatus.ok` and prints its key lines. The lessons train on 500 Fashion-MNIST images, so
/// they need the Debian package dataset-fashion-mnist, and gnuplot for their plots; without them the tests skip.
final class TutorialTests: XCTestCase {
    static let folder = packageRoot.appendingPathComponent("sessions/tutorial")
    static let lessons = [
        "1-tensors-and-autograd.sskd", "2-a-model-and-its-stages.sskd", "3-feature-mimicking.sskd",
        "4-why-no-loss-weight.sskd", "5-reading-the-gap-plot.sskd",
    ]

    /// The folder holds exactly the lessons these tests replay, so a new lesson cannot go unchecked.
    func testEveryLessonIsReplayed() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter {
            $0.hasSuffix(".sskd")
        }.sorted()
        XCTAssertEqual(files, Self.lessons, "add a test for each lesson in sessions/tutorial/")
    }

    func testLesson1TensorsAndAutograd() throws {
        let out = try replay("1-tensors-and-autograd.sskd")
        try expectLines(out, ["cnn: 1,442 parameters, 2 stages (layer1, layer2)"])
        XCTAssertTrue(out.contains { $0.contains("Training loss: m (scratch)") }, "plot loss drew nothing")
        // Untrained: top-1 about chance and loss about ln 10; the training loss falls epoch by epoch.
        let untrained = try XCTUnwrap(out.first { $0.hasPrefix("m test: top-1") })
        XCTAssertLessThan(try number(after: "top-1 ", in: untrained), 25)
        XCTAssertEqual(try number(after: "loss ", in: untrained), log(10), accuracy: 0.2)
        let losses = try out.filter { $0.hasPrefix("[scratch] epoch") }.map { try number(after: "loss ", in: $0) }
        XCTAssertEqual(losses.count, 4)
        XCTAssertLessThan(losses[3], losses[0])
    }

    func testLesson2AModelAndItsStages() throws {
        let out = try replay("2-a-model-and-its-stages.sskd")
        try expectLines(
            out,
            [
                "stage[1] of resnet8: layer1 (conv1 bn1 relu layer1.0)", "head of resnet8: avgpool flatten fc",
                "resnet8 has 3 stages and 77754 parameters", "froze a.stage[1]", "unfroze a.stage[1]",
            ])
        // The frozen stage of a is bit-for-bit the untouched twin's (weights and BatchNorm statistics); c's moved.
        let stage1 = out.filter { $0.hasPrefix("stage 1: feature distance") }
        XCTAssertEqual(stage1.count, 2)
        XCTAssertEqual(stage1.first, "stage 1: feature distance 0.0000  cosine 1.0000")
        XCTAssertGreaterThan(try number(after: "distance ", in: stage1[1]), 0.01)
    }

    func testLesson3FeatureMimicking() throws {
        let out = try replay("3-feature-mimicking.sskd")
        try expectLines(out, ["froze student.stage[1]"])
        // Four mimic runs, each bringing the student's map closer to the teacher's.
        let summaries = out.filter { $0.hasPrefix("mimic: mimic stage") }
        XCTAssertEqual(summaries.count, 4)
        for line in summaries {
            XCTAssertLessThan(try number(after: "-> ", in: line), try number(after: "distance ", in: line), line)
        }
        let runs = out.filter { $0.contains("mimic stage") && $0.contains("completed") }
        XCTAssertEqual(runs.count, 4)
        // The lesson says mimic keeps SSKD's defaults except its length.
        for run in runs {
            let words = Set(run.split(separator: " ").map(String.init))
            XCTAssertTrue(words.isSuperset(of: ["optimizer=adam", "lr=0.01", "wd=0"]), run)
        }
        XCTAssertTrue(runs[0].split(separator: " ").contains("steps=160"), runs[0])
        XCTAssertTrue(runs[0].contains("adapter=identity"), runs[0])
        XCTAssertTrue(runs[1].contains("adapter=1x1 conv + BN"), runs[1])
        XCTAssertTrue(runs[3].contains("pool=adaptive average"), runs[3])
        XCTAssertEqual(out.filter { $0.hasPrefix("stage ") && $0.contains(": feature distance") }.count, 2)
    }

    func testLesson4WhyNoLossWeight() throws {
        let out = try replay("4-why-no-loss-weight.sskd")
        try expectLines(
            out,
            [
                "kd: T=4 alpha=0.9 (soft term scaled by T^2 = 16)", "kd: T=4 alpha=0.1 (soft term scaled by T^2 = 16)",
                "froze student.stage[2]",
            ])
        // scratch and both KD runs are sized to the SSKD student's compute.
        XCTAssertEqual(out.filter { $0.hasPrefix("budget: ") && $0.contains(" steps, ") }.count, 3)
        let table = try XCTUnwrap(out.firstIndex { $0.contains("test top-1") && $0.contains("gap closed") })
        XCTAssertTrue(out[table].contains("time") && out[table].contains("compute"), out[table])
        let fields = out[(table + 1)...].prefix(5).map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(fields.map { $0.first ?? "" }, ["teacher", "scratch", "kd_a9", "kd_a1", "student"])
        var top1: [String: Double] = [:]
        var compute: [String: Double] = [:]
        for row in fields where row.count >= 4 {
            top1[row[0]] = try XCTUnwrap(Double(row[3].replacingOccurrences(of: "%", with: "")), "no top-1 in: \(row)")
            compute[row[0]] = try macs(row.suffix(2).joined(separator: " "))
        }
        // Equal compute: every student's runs cost what the SSKD student's did, to within 1%.
        let sskdCompute = try XCTUnwrap(compute["student"])
        for name in ["scratch", "kd_a9", "kd_a1"] {
            XCTAssertEqual(try XCTUnwrap(compute[name]), sskdCompute, accuracy: sskdCompute * 0.01, name)
        }
        // The closing notes' reading: KD moved with alpha (0.1 ahead of 0.9), and scratch wins at this size.
        let (scratch, kd9, kd1, sskd) = try (
            XCTUnwrap(top1["scratch"]), XCTUnwrap(top1["kd_a9"]), XCTUnwrap(top1["kd_a1"]),
            XCTUnwrap(top1["student"])
        )
        XCTAssertGreaterThan(kd1, kd9, "the notes say KD did better with alpha 0.1 than 0.9")
        XCTAssertGreaterThan(scratch, max(kd1, kd9, sskd), "the notes say the scratch student wins at equal compute")
        XCTAssertTrue(out.contains { $0.hasPrefix("baseline scratch top-1") && $0.contains("gap closed") })
    }

    func testLesson5ReadingTheGapPlot() throws {
        let out = try replay("5-reading-the-gap-plot.sskd")
        try expectLines(out, ["froze student.stage[2]"])
        for needle in [
            "Student-teacher gap per stage", "Training loss: student, 3 runs", "Validation top-1 per epoch",
            "before distillation", "after distillation", "student head", "prediction agreement",
        ] {
            XCTAssertTrue(out.contains { $0.contains(needle) }, "missing '\(needle)'")
        }
    }

    // MARK: Helpers

    /// Runs one lesson on a standard session (plots' PNG copies go to a temporary folder) and returns its output lines.
    private func replay(_ lesson: String) throws -> [String] {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"),
            "dataset-fashion-mnist is not installed (scripts/setup installs it)")
        try XCTSkipUnless(
            ["/usr/bin/gnuplot", "/usr/local/bin/gnuplot"].contains {
                FileManager.default.isExecutableFile(atPath: $0)
            },
            "gnuplot is not installed (scripts/setup installs gnuplot-nox)")
        let text = try String(contentsOf: Self.folder.appendingPathComponent(lesson), encoding: .utf8)
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-tutorial-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        XCTAssertNil(session.options.set("out", .string(out.path)))
        let status = session.run(text, name: lesson)
        XCTAssertEqual(status, .ok, "\(lesson) stopped:\n" + sink.lines.suffix(5).joined(separator: "\n"))
        XCTAssertFalse(sink.lines.contains { $0.hasPrefix("error: ") }, "\(lesson) reported an error")
        XCTAssertTrue(sink.lines.contains { $0.hasPrefix("Lesson ") }, "\(lesson) printed no title")
        return sink.lines
    }

    private func expectLines(_ out: [String], _ lines: [String], file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        for expected in lines where !out.contains(expected) {
            XCTFail("missing line: \(expected)", file: file, line: line)
        }
    }

    /// A compute cell such as `5.37 GMAC` or `463 MMAC`, in MACs.
    private func macs(_ cell: String) throws -> Double {
        let parts = cell.split(separator: " ")
        let scale: [String: Double] = ["MAC": 1, "KMAC": 1e3, "MMAC": 1e6, "GMAC": 1e9, "TMAC": 1e12]
        let value = try XCTUnwrap(parts.count == 2 ? Double(parts[0]) : nil, "not a compute cell: \(cell)")
        return value * (try XCTUnwrap(scale[String(parts[1])], "unknown unit in: \(cell)"))
    }

    /// The number right after `label` in `line` (`"loss 2.3126"` → 2.3126; a trailing `%` is ignored).
    private func number(after label: String, in line: String) throws -> Double {
        let start = try XCTUnwrap(line.range(of: label), "no '\(label)' in: \(line)").upperBound
        let digits = line[start...].prefix { $0.isNumber || $0 == "." || $0 == "-" }
        return try XCTUnwrap(Double(digits), "no number after '\(label)' in: \(line)")
    }
}
