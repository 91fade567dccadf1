import Foundation

/// Where a training loop reports: every batch (for a progress bar), text lines, and the Ctrl-C flag.
public protocol TrainingObserver: AnyObject {
    /// After every optimizer step.
    func batchEnded(_ progress: BatchProgress)
    /// One line of the report (epoch summary, stage table row).
    func report(_ line: String)
    /// True once the user asked to stop (Ctrl-C); the loop stops after the current batch.
    var shouldStop: Bool { get }
}

/// The state of a run after one batch.
public struct BatchProgress {
    /// Run name (`sskd stage 2`).
    public var run: String
    /// 1-based epoch and its count.
    public var epoch: Int, epochs: Int
    /// 1-based batch within the epoch and the epoch's batch count.
    public var batch: Int, batches: Int
    /// This batch's loss.
    public var loss: Double
    /// Training throughput over the epoch so far (images per second).
    public var imagesPerSecond: Double
    /// Estimated seconds to the end of the run.
    public var eta: Double

    /// `[sskd stage 2] epoch 1/3 ███████░░░ 120/430 loss 0.0412 2310 img/s ETA 0:42`, sized to `width` columns.
    public func bar(width: Int = 100) -> String {
        let head = "[\(run)] epoch \(epoch)/\(epochs) "
        let tail = String(
            format: " %d/%d loss %.4f %.0f img/s ETA %d:%02d", batch, batches, loss, imagesPerSecond,
            Int(eta) / 60, Int(eta) % 60)
        let room = max(10, min(40, width - head.count - tail.count - 1))
        let filled = batches > 0 ? room * batch / batches : room
        return head + String(repeating: "█", count: filled) + String(repeating: "░", count: room - filled) + tail
    }
}

/// Reports to standard output: a live progress bar on a terminal, plain lines otherwise.
public final class ConsoleObserver: TrainingObserver {
    private let isTerminal = isatty(STDOUT_FILENO) != 0
    private var barShown = false
    /// Set from a SIGINT handler (or anything else) to stop after the current batch.
    public var shouldStop = false

    public init() {}

    public func batchEnded(_ progress: BatchProgress) {
        guard isTerminal else { return }
        print("\r" + progress.bar(width: terminalColumns()), terminator: "")
        fflush(stdout)
        barShown = true
    }

    public func report(_ line: String) {
        if barShown {
            print("\r\u{1B}[2K", terminator: "")
            barShown = false
        }
        print(line)
    }
}

/// Terminal width from `COLUMNS` or the tty, else 100.
public func terminalColumns() -> Int {
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 100
}
