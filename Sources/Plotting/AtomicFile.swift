import Foundation

/// Writes `data` to `url` atomically: Foundation's `.atomic` option writes a temporary file in the same
/// directory and renames it over `url`, so readers never see a half-written CSV, PNG or notebook.
///
/// - Throws: ``PlotError/writeFailed(path:reason:)`` naming `url` when the directory is missing or unwritable.
public func writeAtomically(_ data: Data, to url: URL) throws {
    do {
        try data.write(to: url, options: .atomic)
    } catch {
        throw PlotError.writeFailed(path: url.path, reason: (error as NSError).localizedDescription)
    }
}
