import Foundation

/// Where a session's output goes. Commands write through `Session.write`/`Session.print`,
/// never to stdout directly, so tests and notebooks can capture the output.
public protocol OutputSink: AnyObject {
    /// Writes normal output text (already containing its newlines).
    func write(_ text: String)
    /// Reports an error (rendered with source line and caret by terminal sinks).
    func report(_ error: InterpreterError)
}

/// Writes output to standard output and errors, rendered with caret, to standard error.
public final class StandardOutputSink: OutputSink {
    /// Makes a sink on the process's stdout/stderr.
    public init() {}

    /// Writes `text` to standard output.
    public func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Writes `error.rendered` to standard error.
    public func report(_ error: InterpreterError) {
        FileHandle.standardError.write(Data((error.rendered + "\n").utf8))
    }
}

/// Records everything in memory: the text as a terminal would show it and the errors as values.
public final class CaptureSink: OutputSink {
    /// One recorded event, in order.
    public enum Event: Equatable {
        case output(String)
        case error(InterpreterError)
    }

    /// Everything recorded, in order.
    public private(set) var events: [Event] = []

    /// Makes an empty recorder.
    public init() {}

    /// Records `text`.
    public func write(_ text: String) { events.append(.output(text)) }
    /// Records `error`.
    public func report(_ error: InterpreterError) { events.append(.error(error)) }

    /// All output text concatenated (errors excluded).
    public var text: String {
        events.map { if case .output(let t) = $0 { return t } else { return "" } }.joined()
    }

    /// Output lines and errors in order; errors appear as `error: line:col: message`.
    public var lines: [String] {
        var result: [String] = []
        var pending = ""
        for event in events {
            switch event {
            case .output(let t):
                pending += t
                while let nl = pending.firstIndex(of: "\n") {
                    result.append(String(pending[..<nl]))
                    pending = String(pending[pending.index(after: nl)...])
                }
            case .error(let e):
                if !pending.isEmpty {
                    result.append(pending)
                    pending = ""
                }
                result.append("error: \(e.location.line):\(e.location.column): \(e.message)")
            }
        }
        if !pending.isEmpty { result.append(pending) }
        return result
    }
}
