import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A gnuplot executable driven through pipes: sskd starts one short-lived `gnuplot` process per chart, writes
/// the script (data inline as datablocks) to its stdin and reads the picture from its stdout, so no temporary
/// files are involved. Each run is bounded by ``timeout``; a hung gnuplot is killed and reported, never waited on.
///
/// Keep one instance per session: the list of terminals this gnuplot supports is asked once and cached.
/// The executable is injectable so tests (and users with gnuplot elsewhere) can choose it.
public final class Gnuplot {
    /// The gnuplot binary, e.g. `/usr/bin/gnuplot` (Debian package `gnuplot-nox`).
    public let executable: URL
    /// Seconds a single gnuplot run may take before it is killed (default 20).
    public let timeout: Double

    private let lock = NSLock()
    private var cachedTerminals: Set<String>?

    /// Creates a driver for `executable` (default: the first `gnuplot` on `PATH`, else `/usr/bin/gnuplot`).
    /// Nothing is started until the first plot.
    public init(executable: URL = Gnuplot.defaultExecutable, timeout: Double = 20) {
        self.executable = executable
        self.timeout = timeout
    }

    /// The first executable `gnuplot` on `PATH`, or `/usr/bin/gnuplot` when there is none.
    public static var defaultExecutable: URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let found = path.split(separator: ":").map {
            URL(fileURLWithPath: String($0)).appendingPathComponent("gnuplot")
        }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
        return found ?? URL(fileURLWithPath: "/usr/bin/gnuplot")
    }

    /// Draws `spec` on `output`.
    ///
    /// - Returns: the picture for ``PlotOutput/text(width:height:)`` (ASCII lines) and
    ///   ``PlotOutput/sixel(width:height:)`` (escape sequence) for the REPL to print; `""` for files and windows.
    /// - Throws: ``PlotError``: `gnuplotNotFound`, `gnuplotFailed`, `timedOut`, `terminalUnavailable` (no
    ///   `sixelgd`/`pdfcairo`/window terminal in this build), `noDisplay`, `invalidSize`, `noData`, `writeFailed`.
    @discardableResult
    public func render(_ spec: PlotSpec, to output: PlotOutput) throws -> String {
        if case .window(let terminal) = output {
            guard PlotOutput.windowTerminals.contains(terminal) else {
                throw PlotError.terminalUnavailable(terminal: terminal, purpose: "a plot window (use qt, x11 or wxt)")
            }
            let env = ProcessInfo.processInfo.environment
            guard env["DISPLAY"] != nil || env["WAYLAND_DISPLAY"] != nil else {
                throw PlotError.noDisplay(terminal: terminal)
            }
        }
        switch output {
        case .text(let width, let height), .sixel(let width, let height), .file(_, _, let width, let height):
            guard width > 0, height > 0 else { throw PlotError.invalidSize(width: width, height: height) }
        case .window: break
        }
        let script = try GnuplotScript.make(spec, for: output)
        try requireTerminal(output.terminalName, for: output)
        switch output {
        case .text:
            // The dumb terminal starts each page with a form feed; a REPL wants plain lines.
            return String(decoding: try run(script), as: UTF8.self).replacingOccurrences(of: "\u{0C}", with: "")
        case .sixel:
            return String(decoding: try run(script), as: UTF8.self)
        case .file(let url, _, _, _):
            let image = try run(script)
            guard !image.isEmpty else {
                throw PlotError.gnuplotFailed(path: executable.path, status: 0, message: "no image on stdout")
            }
            try writeAtomically(image, to: url)
            return ""
        case .window:
            // -persist keeps the window open after gnuplot has read the whole script and exited.
            _ = try run(script, arguments: ["-persist"], window: true)
            return ""
        }
    }

    /// The terminal names this gnuplot supports (`GPVAL_TERMINALS`), asked once and cached.
    ///
    /// - Throws: ``PlotError/gnuplotNotFound(path:)``, ``PlotError/gnuplotFailed(path:status:message:)``,
    ///   ``PlotError/timedOut(path:seconds:)``.
    public func availableTerminals() throws -> Set<String> {
        lock.lock()
        defer { lock.unlock() }
        if let cached = cachedTerminals { return cached }
        let listing = String(decoding: try run("set print '-'\nprint GPVAL_TERMINALS\n"), as: UTF8.self)
        let terminals = Set(listing.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        cachedTerminals = terminals
        return terminals
    }

    /// Throws ``PlotError/terminalUnavailable(terminal:purpose:)`` unless this gnuplot has `terminal`.
    private func requireTerminal(_ terminal: String, for output: PlotOutput) throws {
        guard try availableTerminals().contains(terminal) else {
            let purpose: String
            switch output {
            case .text: purpose = "ASCII plots"
            case .sixel: purpose = "sixel plots"
            case .file(let url, _, _, _): purpose = "writing \(url.lastPathComponent)"
            case .window: purpose = "a plot window"
            }
            throw PlotError.terminalUnavailable(terminal: terminal, purpose: purpose)
        }
    }

    /// Runs gnuplot on `script` and returns its stdout. stdin is written and stdout/stderr are drained on
    /// their own threads (not GCD's small pool, where blocked reads would starve the writer), so a full pipe
    /// cannot deadlock; after ``timeout`` seconds the process gets SIGTERM,
    /// then SIGKILL one second later. With `window`, a gnuplot still running after 2 s is the open window
    /// (some terminals keep gnuplot alive until the window closes): it is left running and `run` returns, and
    /// the wait for stdout/stderr to close is short because a window helper such as `gnuplot_qt` may hold them.
    func run(_ script: String, arguments: [String] = [], window: Bool = false) throws -> Data {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw PlotError.gnuplotNotFound(path: executable.path)
        }
        _ = Gnuplot.ignoreBrokenPipe
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            throw PlotError.gnuplotNotFound(path: executable.path)
        }
        let stdout = PipeReader(output.fileHandleForReading)
        let stderr = PipeReader(errors.fileHandleForReading)
        let stdin = input.fileHandleForWriting
        Thread {
            // Fails with EPIPE if gnuplot died early; its exit status then tells what happened.
            try? stdin.write(contentsOf: Data(script.utf8))
            try? stdin.close()
        }.start()
        if window, exited.wait(timeout: .now() + min(2, timeout)) == .timedOut { return Data() }
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            if exited.wait(timeout: .now() + 1) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                exited.wait()
            }
            throw PlotError.timedOut(path: executable.path, seconds: timeout)
        }
        let outputGrace = window ? 0.5 : 5
        let result = stdout.data(waitingAtMost: outputGrace)
        guard process.terminationStatus == 0 else {
            let message = String(decoding: stderr.data(waitingAtMost: outputGrace), as: UTF8.self)
            throw PlotError.gnuplotFailed(path: executable.path, status: process.terminationStatus, message: message)
        }
        return result
    }

    /// Writing to a pipe whose reader has died must fail with EPIPE, not kill sskd with SIGPIPE.
    private static let ignoreBrokenPipe: Void = { signal(SIGPIPE, SIG_IGN) }()
}

/// Reads a file handle to its end on its own thread, so the caller can wait with a time limit.
private final class PipeReader {
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var collected = Data()

    init(_ handle: FileHandle) {
        Thread { [self] in
            let data = handle.readDataToEndOfFile()
            lock.lock()
            collected = data
            lock.unlock()
            done.signal()
        }.start()
    }

    /// What was read, after waiting up to `seconds` for end of file (empty if it did not come).
    func data(waitingAtMost seconds: Double) -> Data {
        _ = done.wait(timeout: .now() + seconds)
        lock.lock()
        defer { lock.unlock() }
        return collected
    }
}
