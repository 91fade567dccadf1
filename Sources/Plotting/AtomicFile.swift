import Foundation
import Storage

/// Writes `data` to `url` atomically with `Storage.atomicWrite` (temporary file in the same folder, write,
/// fsync, rename, fsync of the folder), so readers never see a half-written CSV, PNG or notebook and a
/// failed write leaves the previous file intact.
///
/// - Throws: ``PlotError/writeFailed(path:reason:)`` naming `url` and the OS reason (`Permission denied`,
///   `No space left on device`, `Not a directory`, ...).
public func writeAtomically(_ data: Data, to url: URL) throws {
    do {
        try atomicWrite(data, to: url.path)
    } catch let error as StorageError {
        throw PlotError.writeFailed(path: url.path, reason: error.reason)
    }
}
