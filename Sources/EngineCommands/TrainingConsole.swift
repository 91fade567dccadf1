import Distillation
import Foundation
import Language

// The console side of a training run: the session's `TrainingObserver` (a live progress bar on standard error
// when it is a terminal, report lines into the session's output) and the wording of every training event.

/// Progress to the terminal, report lines into the session's output.
final class SessionObserver: TrainingObserver {
    let session: Session
    private let showBar: Bool
    private var barShown = false

    init(_ session: Session) {
        self.session = session
        showBar = isatty(STDERR_FILENO) != 0 && !session.options.quiet
    }

    func batchEnded(_ progress: BatchProgress) {
        guard showBar else { return }
        FileHandle.standardError.write(Data(("\r" + progress.bar(width: terminalColumns() - 1)).utf8))
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

    private func clearBar() {
        if barShown {
            FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
            barShown = false
        }
    }
}

extension Session {
    /// Ctrl-C (and a termination signal) as the training and evaluation loops poll it.
    var cancellation: Cancellation { Cancellation { Session.stopRequested } }
}

extension BatchProgress {
    /// `[sskd stage 2] epoch 1/3 ███████░░░ 120/430 loss 0.0412 2310 img/s ETA 0:42`, sized to `width` columns.
    func bar(width: Int = 100) -> String {
        let head = "[\(run)] epoch \(epoch)/\(epochs) "
        let tail = String(
            format: " %d/%d loss %.4f %.0f img/s ETA %d:%02d", batch, batches, loss, imagesPerSecond,
            Int(eta) / 60, Int(eta) % 60)
        let room = max(10, min(40, width - head.count - tail.count - 1))
        let filled = batches > 0 ? room * batch / batches : room
        return head + String(repeating: "█", count: filled) + String(repeating: "░", count: room - filled) + tail
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
