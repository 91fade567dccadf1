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

    func batchEnded(_ progress: BatchProgress) { draw(progress.bar(width: terminalColumns() - 1)) }

    func passProgressed(_ progress: PassProgress) { draw(progress.bar(width: terminalColumns() - 1)) }

    /// Redraws the progress line (on a terminal).
    private func draw(_ line: String) {
        guard showBar else { return }
        writeBar("\r" + line)
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
    let filled = total > 0 ? room * min(done, total) / total : room
    return String(repeating: "█", count: filled) + String(repeating: "░", count: room - filled)
}

/// `m:ss` of a number of seconds (0:00 when not finite).
private func clock(_ seconds: Double) -> String {
    let s = seconds.isFinite ? Int(min(max(seconds, 0), 1e7)) : 0
    return String(format: "%d:%02d", s / 60, s % 60)
}

extension BatchProgress {
    /// `[sskd stage 2] epoch 1/3 ███████░░░ 120/430 mean loss 0.0412 2310 img/s ETA 0:42`, sized to `width`
    /// columns. The loss is the running mean of the epoch's batch losses (`meanLoss`), the number the epoch's line
    /// reports when the epoch ends.
    func bar(width: Int = 100) -> String {
        let head = "[\(run)] epoch \(epoch)/\(epochs) "
        let tail =
            String(format: " %d/%d mean loss %.4f %.0f img/s ETA ", batch, batches, meanLoss, imagesPerSecond)
            + clock(eta)
        let room = max(10, min(40, width - head.count - tail.count - 1))
        return head + meter(batch, of: batches, room: room) + tail
    }
}

extension PassProgress {
    /// `[eval teacher on test] ███████░░░ 2560/10000 images 3100 img/s ETA 0:02`, sized to `width` columns.
    func bar(width: Int = 100) -> String {
        let head = "[\(task)] "
        let tail = String(format: " %d/%d images %.0f img/s ETA ", images, total, imagesPerSecond) + clock(eta)
        let room = max(10, min(40, width - head.count - tail.count - 1))
        return head + meter(images, of: total, room: room) + tail
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

/// Terminal width from the tty, else `COLUMNS`, else 100.
func terminalColumns() -> Int {
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 100
}
