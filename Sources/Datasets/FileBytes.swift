import Foundation
import Storage

/// Whole-file reading for the data set readers (through `Storage`), with gzip inflation.
///
/// Sizes are checked before any large allocation: a gzip file's uncompressed size comes from its
/// trailer (ISIZE, RFC 1952 §2.3.1) and must be reachable from the compressed size (deflate expands
/// at most 1032:1), so a corrupt header never makes us allocate gigabytes.
enum FileBytes {
    /// Reads `path` whole; a file starting with the gzip magic `1f 8b` is inflated.
    /// - Throws: `DatasetError.missingFile`, `.unreadable`, or `.unreadableGzip` (also when the
    ///   name ends in `.gz` but the content is not gzip).
    static func read(_ path: String) throws -> [UInt8] {
        try decode(contents(path), path: path)
    }

    /// `bytes` as they are, or inflated when they start with the gzip magic `1f 8b`.
    /// - Throws: `DatasetError.unreadableGzip` naming `path` (also when it ends in `.gz` but is not gzip).
    static func decode(_ data: [UInt8], path: String) throws -> [UInt8] {
        let isGzip = data.count >= 2 && data[0] == 0x1F && data[1] == 0x8B
        if !isGzip {
            if path.hasSuffix(".gz") { throw DatasetError.unreadableGzip(path: path, reason: "no gzip magic 1f 8b") }
            return data
        }
        guard data.count >= 18 else {
            throw DatasetError.unreadableGzip(path: path, reason: "only \(data.count) bytes")
        }
        let size = data.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
        guard size <= inflationBound(data.count) else {
            throw DatasetError.unreadableGzip(path: path, reason: "trailer claims \(size) bytes from \(data.count)")
        }
        guard InflationLimit.allows(size, from: data.count) else {
            throw DatasetError.unreadableGzip(
                path: path,
                reason: "it would inflate to \(size) bytes from \(data.count), more than \(InflationLimit.ratio):1"
                    + " (a decompression bomb)")
        }
        return try mapping { try data.withUnsafeBytes { try inflate($0, format: .gzip, size: size, path: path) } }
    }

    /// The file's bytes, not inflated.
    /// - Throws: `DatasetError.missingFile` or `.unreadable`.
    static func contents(_ path: String) throws -> [UInt8] {
        try mapping { try readFile(path) }
    }

    /// Runs `body`, turning a `StorageError` into the matching `DatasetError` (naming the same file).
    static func mapping<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as StorageError {
            switch error {
            case .unreadable(let path, _, let code) where code == ENOENT: throw DatasetError.missingFile(path: path)
            case .unreadable(let path, let reason, _), .writeFailed(let path, let reason, _):
                throw DatasetError.unreadable(path: path, reason: reason)
            case .badZip(let path, let reason), .truncatedZip(let path, let reason):
                throw DatasetError.badZip(path: path, reason: reason)
            case .badCompressedData(let path, let reason): throw DatasetError.unreadableGzip(path: path, reason: reason)
            }
        }
    }
}
