import Foundation

/// Why a file could not be read, written, or unpacked. Every case names the file; callers map it into
/// their own error type (`DatasetError`, `CheckpointError`, `PlotError`, interpreter errors).
public enum StorageError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read. `reason` is the OS message (`No such file or directory`,
    /// `Permission denied`, ...) or `not a regular file`; `code` is the `errno` (0 when not from the OS).
    case unreadable(path: String, reason: String, code: Int32)
    /// Writing failed and the previous file at `path` (if any) is unchanged. `reason` is the failing step
    /// and the OS message, e.g. `write: No space left on device`; `code` is the `errno`.
    case writeFailed(path: String, reason: String, code: Int32)
    /// A zip archive whose structure is broken or unsupported (bad record, CRC mismatch, encryption).
    case badZip(path: String, reason: String)
    /// A zip archive cut short: a record or member reaches past the end of the file.
    case truncatedZip(path: String, reason: String)
    /// gzip or raw-deflate data that does not inflate to the expected size.
    case badCompressedData(path: String, reason: String)

    /// One line naming the file and the problem.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason, _): return "\(path): cannot read: \(reason)"
        case .writeFailed(let path, let reason, _):
            return "cannot write \(path): \(reason) (any previous file is unchanged)"
        case .badZip(let path, let reason): return "\(path): bad zip archive: \(reason)"
        case .truncatedZip(let path, let reason): return "\(path): zip archive is truncated: \(reason)"
        case .badCompressedData(let path, let reason): return "\(path): bad compressed data: \(reason)"
        }
    }

    /// The reason alone (without the path), for callers that wrap it in their own message.
    public var reason: String {
        switch self {
        case .unreadable(_, let reason, _), .writeFailed(_, let reason, _), .badZip(_, let reason),
            .truncatedZip(_, let reason), .badCompressedData(_, let reason):
            return reason
        }
    }
}

/// A process-wide request to stop reading, for the readers' long loops (the unpickler, ...): signals are per process,
/// so the program that handles SIGINT and SIGTERM sets `isRequested` once (sskd's language session reads its signal
/// flags there), and a read polls it and throws `CancellationError` instead of reading a large or hostile file to
/// the end. False unless set.
public enum ReadInterruption {
    /// Whether a stop was asked for; read often, so it must be a flag read.
    nonisolated(unsafe) public static var isRequested: () -> Bool = { false }

    /// Throws `CancellationError` when a stop was asked for.
    public static func check() throws {
        if isRequested() { throw CancellationError() }
    }
}
