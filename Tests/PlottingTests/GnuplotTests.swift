import Foundation
import XCTest

@testable import Plotting

final class GnuplotTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-plotting-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A stand-in gnuplot: a shell script with the given body.
    func fakeGnuplot(_ body: String) throws -> URL {
        let url = directory.appendingPathComponent("fake-gnuplot")
        try ("#!/bin/sh\n" + body + "\n").write(to: url, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url
    }

    // MARK: gnuplot output

    func testPNGHasSignatureAndRequestedSize() throws {
        let path = directory.appendingPathComponent("loss.png").path
        try Gnuplot().render(try .loss(stages: Sample.lossStages), to: try .file(path: path, width: 640, height: 410))
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(String(decoding: data[12..<16], as: UTF8.self), "IHDR")
        let bigEndian = { (offset: Int) in data[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) } }
        XCTAssertEqual(bigEndian(16), 640)
        XCTAssertEqual(bigEndian(20), 410)
    }

    func testSVGContainsTitleAndLegend() throws {
        let url = directory.appendingPathComponent("acc.svg")
        let spec = PlotSpec.accuracy(runs: Sample.accuracyRuns, teacherTop1: 93.5, title: "Top-1 on Fashion-MNIST")
        try Gnuplot().render(spec, to: try .file(path: url.path))
        let svg = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        for text in ["Top-1 on Fashion-MNIST", "validation top-1 (%)", "epoch", "SSKD", "teacher (93.5%)"] {
            XCTAssertTrue(svg.contains(text), "SVG lacks \(text)")
        }
    }

    func testPDFAndSixelOutputs() throws {
        let gnuplot = Gnuplot()
        let path = directory.appendingPathComponent("gap.pdf").path
        try gnuplot.render(.gap(stages: Sample.gaps), to: try .file(path: path))
        XCTAssertEqual(
            String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)).prefix(5), as: UTF8.self), "%PDF-")
        let sixel = try gnuplot.render(.gap(stages: Sample.gaps), to: .sixel(width: 200, height: 120))
        XCTAssertTrue(sixel.hasPrefix("\u{1B}P"), "sixel output must start with DCS (ESC P)")
        XCTAssertTrue(sixel.hasSuffix("\u{1B}\\"), "sixel output must end with ST (ESC \\)")
    }

    func testDumbOutputHasTitleAxisLabelsAndSize() throws {
        let spec = try PlotSpec.loss(stages: [Sample.lossStages[0]], title: "Loss of run A")
        let text = try Gnuplot().render(spec, to: .text(width: 90, height: 25))
        for label in ["Loss of run A", "step", "loss (nats)", "loss per step", "EMA 0.9", "epoch mean"] {
            XCTAssertTrue(text.contains(label), "ASCII plot lacks \(label):\n\(text)")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 25)
        XCTAssertEqual(lines.map(\.count).max(), 90)
    }

    func testQuotesInUserStringsAreEscaped() throws {
        XCTAssertEqual(GnuplotScript.quote("it's"), "'it''s'")
        XCTAssertEqual(GnuplotScript.quote("a\nb\\n `x` @y"), "'a b\\n `x` @y'")
        let title = #"Ann's "best" run \n `rm` @macro"#
        let spec = PlotSpec(
            title: title, xLabel: "x (s)", yLabel: "y (m)",
            series: [.init(name: "O'Brien \"fit\"", points: [(0, 0), (1, 1)])])
        let text = try Gnuplot().render(spec, to: .text(width: 80, height: 20))
        XCTAssertTrue(text.contains(title), text)
        XCTAssertTrue(text.contains("O'Brien \"fit\""), text)
    }

    func testLargeDataDoesNotDeadlockThePipes() throws {
        // ~0.8 MB of script through stdin, well past a 64 KiB pipe buffer.
        let points = (0..<40_000).map { (Double($0), sin(Double($0) / 1000)) }
        let spec = PlotSpec(
            title: "many points", xLabel: "step", yLabel: "value (1)",
            series: [.init(name: "sine", points: points)])
        let text = try Gnuplot().render(spec, to: .text(width: 60, height: 15))
        XCTAssertTrue(text.contains("many points"))
    }

    func testInlineOutputFollowsTerminalSize() throws {
        try XCTSkipIf(isatty(STDOUT_FILENO) != 0, "stdout is a terminal: its TIOCGWINSZ size wins over COLUMNS")
        setenv("COLUMNS", "132", 1)
        setenv("LINES", "60", 1)
        defer {
            unsetenv("COLUMNS")
            unsetenv("LINES")
        }
        XCTAssertEqual(PlotOutput.inline(), .text(width: 132, height: 30))
        setenv("LINES", "20", 1)
        XCTAssertEqual(PlotOutput.inline(), .text(width: 132, height: 19))
        unsetenv("COLUMNS")
        unsetenv("LINES")
        XCTAssertEqual(PlotOutput.inline(), .text(width: 100, height: 30))
    }

    func testWindowWithoutDisplayIsRefused() throws {
        let env = ProcessInfo.processInfo.environment
        try XCTSkipIf(env["DISPLAY"] != nil || env["WAYLAND_DISPLAY"] != nil, "a display is present")
        XCTAssertThrowsError(try Gnuplot().render(.gap(stages: Sample.gaps), to: .window(terminal: "qt"))) { error in
            XCTAssertEqual(error as? PlotError, .noDisplay(terminal: "qt"))
        }
    }

    func testWindowLeavesARunningGnuplotOpen() throws {
        let gnuplot = Gnuplot(
            executable: try fakeGnuplot(
                """
                if [ "$1" = "-persist" ]; then exec sleep 4; else cat >/dev/null; echo 'qt dumb'; fi
                """))
        let saved = ProcessInfo.processInfo.environment["DISPLAY"]
        setenv("DISPLAY", ":99", 1)
        defer { if let saved { setenv("DISPLAY", saved, 1) } else { unsetenv("DISPLAY") } }
        let start = Date()
        XCTAssertEqual(try gnuplot.render(.gap(stages: Sample.gaps), to: .window(terminal: "qt")), "")
        XCTAssertLessThan(Date().timeIntervalSince(start), 3.5)
        XCTAssertThrowsError(try gnuplot.render(.gap(stages: Sample.gaps), to: .window(terminal: "png"))) { error in
            XCTAssertEqual(
                error as? PlotError,
                .terminalUnavailable(
                    terminal: "png",
                    purpose: "a plot window (use qt, x11 or wxt)"))
        }
    }

    // MARK: chart builders

    func testLossChartMarksStagesAndSmoothsWithEMA() throws {
        let spec = try PlotSpec.loss(stages: Sample.lossStages, smoothing: 0.5)
        XCTAssertEqual(spec.verticalMarkers, [.init(100, label: "stage 2"), .init(200, label: "stage 3")])
        XCTAssertEqual(
            spec.series.map(\.name),
            ["", "", "", "stage 1 EMA 0.5", "stage 2 EMA 0.5", "stage 3 EMA 0.5", "epoch mean"])
        XCTAssertEqual(spec.series[0].color, PlotSpec.rawLossColor)
        XCTAssertEqual(spec.series[6].points.count, 6)
        let raw = Sample.lossStages[1].steps.map(\.y)
        XCTAssertEqual(spec.series[4].points[0].y, raw[0], accuracy: 1e-12)
        XCTAssertEqual(spec.series[4].points[1].y, (0.25 * raw[0] + 0.5 * raw[1]) / 0.75, accuracy: 1e-12)
        let script = try GnuplotScript.make(spec, for: .text(width: 80, height: 24))
        XCTAssertEqual(script.components(separatedBy: "set arrow from").count - 1, 2)
        XCTAssertTrue(script.contains("set label 'stage 2' at 100.0, graph 0.96 left offset character 2, 0"))
    }

    func testAsciiLossLegendNamesEveryLineWithItsOwnCharacter() throws {
        let spec = try PlotSpec.loss(stages: Sample.lossStages)
        let script = try GnuplotScript.make(spec, for: .text(width: 100, height: 30))
        XCTAssertFalse(script.contains("notitle"), "the raw per-step lines have no name, so ASCII leaves them out")
        for n in 1...3 {
            XCTAssertEqual(script.components(separatedBy: "linewidth 2 linetype \(n) ").count - 1, 1, script)
        }
        XCTAssertTrue(script.contains("with points pointtype \"o\" linecolor rgb '#000000' title 'epoch mean'"))
        let text = try Gnuplot().render(spec, to: .text(width: 100, height: 30))
        for (name, mark) in [
            ("stage 1 EMA 0.9", "*"), ("stage 2 EMA 0.9", "#"), ("stage 3 EMA 0.9", "$"), ("epoch mean", "o"),
        ] {
            XCTAssertNotNil(
                text.range(
                    of: NSRegularExpression.escapedPattern(for: name) + " +\\\(mark)", options: .regularExpression),
                "the key shows '\(name)' with '\(mark)':\n\(text)")
        }
        // Colour-only charts keep drawing the raw loss in grey.
        XCTAssertTrue(try GnuplotScript.make(spec, for: try .file(path: "/tmp/loss.png")).contains("notitle"))
    }

    func testAsciiMarksNeverRepeatACharacter() {
        let line = PlotSpec.Series(name: "l", points: [(1, 1)])
        let dots = PlotSpec.Series(name: "p", points: [(1, 1)], style: .points)
        let marks = GnuplotScript.asciiMarks(Array(repeating: line, count: 9) + [dots, nil, nil])
        XCTAssertEqual(marks.prefix(7), (1...7).map { .pen($0) }[...])
        XCTAssertEqual(Array(marks.dropFirst(7)), [.point("o"), .point("x"), .point("+"), .point("a"), .point("b")])
        XCTAssertEqual(Set(marks.map { "\($0)" }).count, marks.count)
    }

    func testExponentialMovingAverageIsBiasCorrected() throws {
        let smoothed = try exponentialMovingAverage([1, 2, 3, .infinity, 4], smoothing: 0.5)
        XCTAssertEqual(smoothed[0], 1, accuracy: 1e-12)
        XCTAssertEqual(smoothed[1], 1.25 / 0.75, accuracy: 1e-12)
        XCTAssertEqual(smoothed[2], 2.125 / 0.875, accuracy: 1e-12)
        XCTAssertTrue(smoothed[3].isNaN)
        XCTAssertEqual(smoothed[4], (0.5 * 2.125 + 2) / 0.9375, accuracy: 1e-12)
        XCTAssertEqual(try exponentialMovingAverage([3, 1], smoothing: 0), [3, 1])
        XCTAssertThrowsError(try exponentialMovingAverage([1], smoothing: 1)) { error in
            XCTAssertEqual(error as? PlotError, .invalidSmoothing(1))
        }
    }

    func testGapChartGroupsBarsAndPutsTop1GapOnRightAxis() throws {
        let spec = PlotSpec.gap(stages: Sample.gaps)
        XCTAssertEqual(spec.series[0].points.map(\.x), [0.825, 1.825, 2.825])
        XCTAssertEqual(spec.series[1].points.map(\.y), [0.31, 0.27, 0.22])
        XCTAssertEqual(spec.series[2].axis, .right)
        XCTAssertEqual(spec.yRange?.upperBound ?? 0, 0.92 * 1.15, accuracy: 1e-12)
        let script = try GnuplotScript.make(spec, for: try .file(path: "/tmp/gap.png"))
        XCTAssertTrue(script.contains("set xtics ('stage 1' 1.0, 'stage 2' 2.0, 'stage 3' 3.0)"))
        XCTAssertTrue(script.contains("using 1:2:(0.35) with boxes"))
        XCTAssertTrue(script.contains("axes x1y2 title 'top-1 gap'"))
        XCTAssertTrue(script.contains("set y2label 'top-1 gap (pp)'"))
    }

    func testAccuracyChartDrawsTeacherLine() throws {
        let spec = PlotSpec.accuracy(runs: Sample.accuracyRuns, teacherTop1: 92.25)
        let script = try GnuplotScript.make(spec, for: .text(width: 80, height: 24))
        XCTAssertTrue(
            script.contains("92.25 with lines linetype 4 linecolor rgb '#404040' title 'teacher (92.25%)'"), script)
        let png = try GnuplotScript.make(spec, for: try .file(path: "/tmp/acc.png"))
        XCTAssertTrue(
            png.contains("92.25 with lines dashtype 2 linewidth 2 linecolor rgb '#404040' title 'teacher (92.25%)'"))
        XCTAssertTrue(script.contains("$s2 << EOD\n1.0 \(80 + 2 + 8 * (1 - exp(-1.0 / 3)))\n"))
    }

    func testEmptyChartIsRejected() {
        let spec = PlotSpec(title: "nothing", xLabel: "x", yLabel: "y", series: [.init(name: "a", points: [])])
        XCTAssertThrowsError(try Gnuplot().render(spec, to: .text(width: 80, height: 20))) { error in
            XCTAssertEqual(error as? PlotError, .noData(title: "nothing"))
        }
    }

    // MARK: errors

    func testMissingGnuplotGivesInstallHintNotACrash() {
        let gnuplot = Gnuplot(executable: URL(fileURLWithPath: "/nonexistent/bin/gnuplot"))
        XCTAssertThrowsError(try gnuplot.render(.gap(stages: Sample.gaps), to: .text(width: 80, height: 20))) { error in
            XCTAssertEqual(error as? PlotError, .gnuplotNotFound(path: "/nonexistent/bin/gnuplot"))
            XCTAssertEqual(
                "\(error)",
                "plot: gnuplot not found at /nonexistent/bin/gnuplot; install gnuplot with "
                    + "`sudo apt-get install gnuplot-nox` (or run `scripts/setup`); the data are still available with "
                    + "`export RUN to=FILE.csv`")
        }
    }

    func testFailingGnuplotReportsStatusAndStderr() throws {
        let gnuplot = Gnuplot(
            executable: try fakeGnuplot("cat >/dev/null; echo 'line 3: undefined variable' >&2; exit 3"))
        XCTAssertThrowsError(try gnuplot.render(.gap(stages: Sample.gaps), to: .text(width: 80, height: 20))) { error in
            guard case .gnuplotFailed(_, let status, let message)? = error as? PlotError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(status, 3)
            XCTAssertEqual(message, "line 3: undefined variable\n")
        }
    }

    func testHungGnuplotIsKilledAfterTimeout() throws {
        let gnuplot = Gnuplot(executable: try fakeGnuplot("exec sleep 30"), timeout: 0.5)
        let start = Date()
        XCTAssertThrowsError(try gnuplot.render(.gap(stages: Sample.gaps), to: .text(width: 80, height: 20))) { error in
            guard case .timedOut(_, 0.5)? = error as? PlotError else { return XCTFail("\(error)") }
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testMissingTerminalIsReported() throws {
        let gnuplot = Gnuplot(executable: try fakeGnuplot("cat >/dev/null; echo 'dumb png svg'"))
        XCTAssertEqual(try gnuplot.availableTerminals(), ["dumb", "png", "svg"])
        XCTAssertThrowsError(try gnuplot.render(.gap(stages: Sample.gaps), to: .sixel(width: 100, height: 100))) {
            error in
            XCTAssertEqual(error as? PlotError, .terminalUnavailable(terminal: "sixelgd", purpose: "sixel plots"))
        }
    }

    func testFileOutputNeedsKnownExtensionAndPositiveSize() throws {
        XCTAssertEqual(
            try PlotOutput.file(path: "/tmp/a.PNG", width: 300, height: 200),
            .file(URL(fileURLWithPath: "/tmp/a.PNG"), format: .png, width: 300, height: 200))
        XCTAssertThrowsError(try PlotOutput.file(path: "/tmp/a.jpg")) { error in
            XCTAssertEqual(error as? PlotError, .unsupportedFileType(path: "/tmp/a.jpg"))
        }
        XCTAssertThrowsError(try PlotOutput.file(path: "/tmp/a.svg", width: 0, height: 10)) { error in
            XCTAssertEqual(error as? PlotError, .invalidSize(width: 0, height: 10))
        }
        XCTAssertThrowsError(try Gnuplot().render(.gap(stages: Sample.gaps), to: .text(width: 80, height: -1))) {
            error in
            XCTAssertEqual(error as? PlotError, .invalidSize(width: 80, height: -1))
        }
        XCTAssertEqual(
            PlotOutput.file(URL(fileURLWithPath: "/x.pdf"), format: .pdf, width: 800, height: 500).terminalCommand,
            "set terminal pdfcairo size 8.0in,5.0in")
    }

    /// ASCII charts put their key below the plot, without a box, each entry apart from the next: no border through
    /// an entry (`+--epoch mean----o---+`), no key over the bars of `plot gap`, no two entries run together
    /// (`EMA 0.9 *******mimic stage 2`); at 80x24 and 160x50, for loss (1 and 4 curves), acc (1 and 3 runs), gap.
    func testAsciiKeysSitBelowThePlotWithGaps() throws {
        var four = Sample.lossStages
        four.append(
            LossCurve(
                name: "head", steps: Sample.lossStages[0].steps.map { ($0.x + 300, $0.y) },
                epochs: [(349, 0.5), (399, 0.3)]))
        let specs = [
            try PlotSpec.loss(stages: [Sample.lossStages[0]], title: "Training loss: one (scratch)"),
            try PlotSpec.loss(stages: four, title: "Training loss: s, 4 runs"),
            PlotSpec.accuracy(runs: [Sample.accuracyRuns[0]]),
            PlotSpec.accuracy(runs: Sample.accuracyRuns, teacherTop1: 92.25),
            PlotSpec.gap(stages: Sample.gaps),
        ]
        for (width, height) in [(80, 24), (160, 50)] {
            for spec in specs {
                let text = try Gnuplot().render(spec, to: .text(width: width, height: height))
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                let bottom = try XCTUnwrap(
                    lines.lastIndex { $0.range(of: "^ *[-0-9.]* *\\+-{20,}\\+", options: .regularExpression) != nil },
                    text)
                let names = spec.series.map(\.name).filter { !$0.isEmpty } + spec.horizontalLines.map(\.label)
                let key = lines[(bottom + 1)...]
                for name in names {
                    let entry = "(^|  )" + NSRegularExpression.escapedPattern(for: name) + " +[^ ]"
                    XCTAssertTrue(
                        key.contains { $0.range(of: entry, options: .regularExpression) != nil },
                        "'\(name)' is in the key below the plot, apart from what precedes it:\n\(text)")
                }
                for line in key { XCTAssertFalse(line.contains("+-") || line.contains("|"), "no border: \(line)") }
            }
        }
    }
}
