import Distillation
import Foundation
import Language

// The console side of a training run or a long pass (eval, gap, compare, feature caches): the session's
// `TrainingObserver` (a live progress bar on standard error when it is a terminal, report lines into the session's
// output) and the wording of every training event.

/// Progress to the terminal, report lines into the session's output.
final class SessionObserver: TrainingObserver {
    let session: Session
    /// Whether the bar is drawn: standard error is a terminal and the session is not `quiet`. Scripts whose
    /// standard error is a file or a pipe, and the golden tests, get no bar.
    let showBar: Bool
    private let writeBar: (String) -> Void
    private var barShown = false

    /// An observer of `session`; `terminal` says whether standard error is a terminal, `writeBar` draws there.
    init(
        _ session: Session, terminal: Bool = isatty(STDERR_FILENO) != 0,
        writeBar: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
        self.session = session
        self.writeBar = writeBar
        showBar = terminal && !session.options.quiet
    }

    func batchEnded(_ progress: BatchProgress) { draw(progress.bar(width: terminalColumns())) }

    func passProgressed(_ progress: PassProgress) { draw(progress.bar(width: terminalColumns())) }

    /// Redraws the progress line (on a terminal): back to the line's start, the line, then erase to the end of the
    /// line (`ESC [ K`), so a shorter line leaves nothing of a longer one behind. An empty line (a terminal too
    /// narrow for any bar) draws nothing.
    private func draw(_ line: String) {
        guard showBar, !line.isEmpty else { return }
        writeBar("\r" + line + "\u{1B}[K")
        barShown = true
    }

    func epochEnded(_ progress: EpochProgress) {
        report(
            progress.record.epochLine(progress.epoch, of: progress.epochs, imagesPerSecond: progress.imagesPerSecond))
    }

    func runStopped(_ record: RunRecord) { report(record.stopLine) }

    func budgetShared(_ share: BudgetShare) { report(share.line) }

    /// One line of the report, after clearing the progress bar.
    func report(_ line: String) {
        clearBar()
        session.print(line)
    }

    /// Clears the progress line and the Ctrl-C flag after a run.
    func finish() {
        clearBar()
        session.interruptRequested = false
    }

    /// Clears the progress line, if one is drawn.
    func clearBar() {
        if barShown {
            writeBar("\r\u{1B}[2K")
            barShown = false
        }
    }
}

extension Session {
    /// Ctrl-C (and a termination signal) as the training and evaluation loops poll it.
    var cancellation: Cancellation { Cancellation { Session.stopRequested } }

    /// Runs `body` with a progress reporter named `task` that draws a bar as training's does (on a terminal only),
    /// and clears the bar when `body` returns or throws.
    func withProgress<T>(_ task: String, _ body: (ProgressReporter) throws -> T) rethrows -> T {
        let observer = SessionObserver(self)
        defer { observer.clearBar() }
        return try body(ProgressReporter(observer, task: task))
    }
}

/// `███████░░░` of `done` out of `total`, `room` characters wide.
private func meter(_ done: Int, of total: Int, room: Int) -> String {
    let filled = total > 0 ? room * min(max(done, 0), total) / total : room
    return String(repeating: "█", count: filled) + String(repeating: "░", count: room - filled)
}

/// `m:ss` of a number of seconds (0:00 when not finite).
private func clock(_ seconds: Double) -> String {
    let s = seconds.isFinite ? Int(min(max(seconds, 0), 1e7)) : 0
    return String(format: "%d:%02d", s / 60, s % 60)
}

/// A progress line that always fits in `width - 1` terminal columns (the last column is left free, so the
/// terminal never wraps the line and every redraw stays on one row): `[label] lead ███░░ field field optional...`.
///
/// When the line is too wide it gives up, in this order: meter width (from 40 down to 10 cells), the `optional`
/// fields from the first one on (img/s, then ETA), the full `fields` for their `compact` form, meter width down to
/// 4 cells, then the label's end (cut with `…`). When not even one label character fits, the line is empty
/// (nothing is drawn). Widths count characters: `█`, `░` and the label's characters each take one column.
func progressLine(
    label: String, lead: String?, done: Int, of total: Int, fields: [String], compact: [String],
    optional: [String], width: Int
) -> String {
    let limit = width - 1
    func line(_ label: String, _ room: Int, _ tail: [String]) -> String {
        let head = (label.isEmpty ? [] : ["[\(label)]"]) + (lead.map { [$0] } ?? [])
        return (head + [meter(done, of: total, room: room)] + tail).joined(separator: " ")
    }
    var tails = [fields + optional]
    for n in stride(from: optional.count - 1, through: 0, by: -1) { tails.append(fields + optional.suffix(n)) }
    for tail in tails {
        let room = limit - line(label, 0, tail).count
        if room >= 10 { return line(label, min(40, room), tail) }
    }
    let room = limit - line(label, 0, compact).count
    if room >= 4 { return line(label, min(40, room), compact) }
    // The label cut: `[`, the kept characters, `…`, `] ` before the rest.
    let kept = limit - line("", 4, compact).count - 4
    guard kept >= 1 else { return "" }
    return line(String(label.prefix(kept)) + "…", 4, compact)
}

extension BatchProgress {
    /// `[sskd stage 2] epoch 1/3 ███████░░░ 120/430 mean loss 0.0412 2310 img/s ETA 0:42` for a terminal `width`
    /// columns wide, in at most `width - 1` columns (`progressLine`: a narrower terminal gets a shorter meter, then
    /// no img/s and ETA, then `loss` for `mean loss`, then a cut label; empty below about 30 columns). The loss is
    /// the running mean of the epoch's batch losses (`meanLoss`), the number the epoch's line reports when the
    /// epoch ends.
    func bar(width: Int = 100) -> String {
        let count = "\(batch)/\(batches)"
        let loss = String(format: "%.4f", meanLoss)
        return progressLine(
            label: run, lead: "epoch \(epoch)/\(epochs)", done: batch, of: batches,
            fields: [count, "mean loss " + loss], compact: [count, "loss " + loss],
            optional: [String(format: "%.0f img/s", imagesPerSecond), "ETA " + clock(eta)], width: width)
    }
}

extension PassProgress {
    /// `[eval teacher on test] ███████░░░ 2560/10000 images 3100 img/s ETA 0:02` for a terminal `width` columns
    /// wide, in at most `width - 1` columns (`progressLine`).
    func bar(width: Int = 100) -> String {
        let count = "\(images)/\(total)"
        return progressLine(
            label: task, lead: nil, done: images, of: total, fields: [count + " images"], compact: [count],
            optional: [String(format: "%.0f img/s", imagesPerSecond), "ETA " + clock(eta)], width: width)
    }
}

extension RunRecord {
    /// One report line for epoch `e`: `[kd] epoch 2/5  loss 0.4123  val top-1 88.20%  2310 img/s  41.0s`.
    func epochLine(_ e: Epoch, of total: Int? = nil, imagesPerSecond: Double? = nil) -> String {
        var parts = [
            "[\(name)] epoch \(e.epoch)" + (total.map { "/\($0)" } ?? ""),
            String(format: abs(e.trainLoss) < 1e5 ? "loss %.4f" : "loss %.4g", e.trainLoss),
        ]
        if let top1 = e.top1 { parts.append(String(format: "%@ top-1 %.2f%%", validationSplit, top1)) }
        if let d = e.featureDistance { parts.append(String(format: "%@ distance %.4f", validationSplit, d)) }
        if let c = e.cosine { parts.append(String(format: "cosine %.4f", c)) }
        if let rate = imagesPerSecond { parts.append(String(format: "%.0f img/s", rate)) }
        parts.append(String(format: "%.1fs", e.seconds))
        return parts.joined(separator: "  ")
    }

    /// The line of a run that ended early: `kd: stopped, loss became nan at step 3 ...` (diverged),
    /// `kd: interrupted at step 4 ...; models are consistent`, `kd: early stop after epoch 3 ...`.
    var stopLine: String {
        let reason = stopReason ?? status.rawValue
        switch status {
        case .diverged: return "\(name): stopped, \(reason)"
        case .interrupted: return "\(name): \(reason); models are consistent"
        case .completed: return "\(name): \(reason)"
        }
    }
}

extension BudgetShare {
    /// `budget: 120 KD steps, 1.2 GMAC + hint stage 0.3 GMAC of 1.5 GMAC`, or why there is no KD run.
    var line: String {
        guard let steps = kdSteps else { return "fitnet: \(shortfall); no KD run" }
        return "budget: \(steps) KD steps, \(ComputeCost.format(kdCost)) + hint stage "
            + "\(ComputeCost.format(hintStage)) of \(ComputeCost.format(budget))"
    }
}

/// The width in columns of the terminal the progress bar is drawn on: standard error's (`TIOCGWINSZ`), else
/// standard output's, else `COLUMNS`, else 100.
func terminalColumns() -> Int {
    for fd in [STDERR_FILENO, STDOUT_FILENO] {
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    }
    return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? 100
}
