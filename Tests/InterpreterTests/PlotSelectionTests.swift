import Distillation
import Foundation
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language
@testable import Plotting

/// What `plot acc` and `plot gap` hand to gnuplot, read back through a stand-in gnuplot that echoes its script:
/// which runs `plot acc` draws (the current data's by default, else the models and runs named), the split its
/// title, axis and legend name, and the top-1 gap line of `plot gap`; and the split `export` names in its CSV.
final class PlotSelectionTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        try skipUnlessFashionMNIST()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-plotsel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    func testPlotAccDrawsTheCurrentDataRunsByDefaultAndNamesTheSplit() throws {
        let (session, sink) = try makeSession()
        try run(
            session,
            """
            data fashion-mnist limit=100 seed=1 augment=false
            a = model cnn widths=[4, 8] seed=2
            ra = train a epochs=2 lr=0.05 batch=50
            data fashion-mnist limit=100 val=20 seed=1 augment=false
            b = model cnn widths=[4, 8] seed=3
            rb = train b epochs=3 lr=0.05 batch=50
            """)
        let runs = session.workspace.runs
        XCTAssertEqual(runs.map(\.record.validationSplit), ["test", "val"])

        // Default: only b's run, on the current data (which has a validation split).
        var script = try plot(session, sink, "plot acc")
        XCTAssertTrue(script.contains("set title 'Validation top-1 per epoch'"), script)
        XCTAssertTrue(script.contains("set label 'validation top-1 (%)'"), script)
        XCTAssertEqual(datablocks(script), [points(runs[1].record)])
        XCTAssertTrue(script.contains("title 'b scratch'"), script)
        XCTAssertFalse(script.contains("a scratch"), script)

        // A model: its runs, measured on test, said so in the title and on the axis.
        script = try plot(session, sink, "plot acc a")
        XCTAssertTrue(
            script.contains("set title 'Test top-1 per epoch (no validation split; monitoring only)'"), script)
        XCTAssertTrue(script.contains("set label 'test top-1 (%)'"), script)
        XCTAssertEqual(datablocks(script), [points(runs[0].record)])

        // A list of a run and a model: both, each legend entry naming its split.
        script = try plot(session, sink, "plot acc [ra, b]")
        XCTAssertTrue(script.contains("set title 'Top-1 per epoch (validation or test split, as marked)'"), script)
        XCTAssertTrue(script.contains("title 'a scratch (test)'") && script.contains("title 'b scratch (val)'"), script)
        XCTAssertEqual(datablocks(script), [points(runs[0].record), points(runs[1].record)])

        // The CSV of a run measured on test names its columns test_top1 and test_loss.
        let csv = directory.appendingPathComponent("a.csv")
        try run(session, "export ra to=\"\(csv.path)\"")
        let header = try String(contentsOf: csv, encoding: .utf8).split(whereSeparator: \.isNewline)[0]
        XCTAssertEqual(header, "run,step,epoch,loss,lr,test_top1,test_loss,feature_distance,cosine")
        try run(session, "export rb to=\"\(csv.path)\"")
        let valHeader = try String(contentsOf: csv, encoding: .utf8).split(whereSeparator: \.isNewline)[0]
        XCTAssertEqual(valHeader, "run,step,epoch,loss,lr,val_top1,val_loss,feature_distance,cosine")
    }

    func testPlotGapDrawsTheTopOneGapOnTheRightAxisFromZero() throws {
        let (session, sink) = try makeSession()
        try run(
            session,
            """
            data fashion-mnist limit=100 val=20 seed=1 augment=false
            teacher = model cnn widths=[8, 16] seed=1
            student = model cnn widths=[4, 8] seed=2
            train teacher epochs=2 lr=0.05 batch=50
            mimic student.stage[1] teacher.stage[1] steps=2 batch=50
            mimic student.stage[2] teacher.stage[2] steps=2 batch=50
            gap student teacher
            """)
        let report = try XCTUnwrap(session.workspace.lastGap?.report)
        let script = try plot(session, sink, "plot gap")
        XCTAssertTrue(
            script.contains(
                String(
                    format: "set title 'Student-teacher gap per stage; test top-1 gap %.2f points'",
                    report.gap)), script)
        // Before and after bars, then the gap: one value per stage, on the right axis.
        let blocks = datablocks(script)
        XCTAssertEqual(blocks.count, 3, script)
        XCTAssertEqual(blocks[2], [[1, report.gap], [2, report.gap]])
        XCTAssertTrue(script.contains("axes x1y2 title 'test top-1 gap, final (points)'"), script)
        let range = try XCTUnwrap(
            script.split(separator: "\n").first { $0.hasPrefix("set y2range [") }, "no y2range in:\n\(script)")
        let bounds = range.dropFirst("set y2range [".count).dropLast().split(separator: ":").compactMap {
            Double($0)
        }
        XCTAssertEqual(bounds.count, 2)
        XCTAssertLessThanOrEqual(bounds[0], min(report.gap, 0))
        XCTAssertGreaterThan(bounds[1], max(report.gap, 0))
        if report.gap >= 0 { XCTAssertEqual(bounds[0], 0) }
    }

    func testGapRangeOfTheChartIncludesZeroAndNegativeGaps() {
        let stages = [StageGap(stage: "stage 1", before: 1, after: 0.5, top1Gap: 4)]
        XCTAssertEqual(PlotSpec.gap(stages: stages).y2Range, 0...6.4)
        let negative = [StageGap(stage: "stage 1", before: 1, after: 0.5, top1Gap: -2)]
        XCTAssertEqual(PlotSpec.gap(stages: negative).y2Range, -3...1.2)
        XCTAssertNil(PlotSpec.gap(stages: [StageGap(stage: "stage 1", before: 1, after: 0.5)]).y2Range)
    }

    // MARK: Helpers

    /// A session whose gnuplot echoes the script it is given (and claims the dumb and png terminals).
    private func makeSession() throws -> (Session, CaptureSink) {
        let fake = directory.appendingPathComponent("fake-gnuplot")
        try "#!/bin/sh\ncat\necho ' dumb png'\n".write(to: fake, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        session.workspace.gnuplot = Gnuplot(executable: fake)
        XCTAssertNil(session.options.set("out", .string(directory.path)))
        try run(session, "set terminal dumb\nset threads 1")
        return (session, sink)
    }

    private func run(_ session: Session, _ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(session.run(text, name: "test"), .ok, file: file, line: line)
    }

    /// The script `command` sent to gnuplot.
    private func plot(_ session: Session, _ sink: CaptureSink, _ command: String) throws -> String {
        let before = sink.lines.count
        try run(session, command)
        return sink.lines[before...].joined(separator: "\n")
    }

    /// Each datablock's `(x, y)` rows.
    private func datablocks(_ script: String) -> [[[Double]]] {
        var blocks: [[[Double]]] = []
        var current: [[Double]]?
        for line in script.split(separator: "\n") {
            if line.hasSuffix("<< EOD") {
                current = []
            } else if line == "EOD" {
                blocks.append(current ?? [])
                current = nil
            } else if current != nil {
                current?.append(line.split(separator: " ").compactMap { Double($0) })
            }
        }
        return blocks
    }

    /// `(epoch, top-1)` of a record's epochs.
    private func points(_ record: RunRecord) -> [[Double]] {
        record.epochs.compactMap { e in e.top1.map { [Double(e.epoch), $0] } }
    }
}
