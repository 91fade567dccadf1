import CZlib
import Foundation

/// Whole-file reading for the data set readers, with gzip and raw-deflate inflation by zlib.
///
/// Sizes are checked before any large allocation: a gzip file's uncompressed size comes from its
/// trailer (ISIZE, RFC 1952 §2.3.1) and must be reachable from the compressed size (deflate expands
/// at most 1032:1), so a corrupt header never makes us allocate gigabytes.
enum FileBytes {
    /// Reads `path` whole; a file starting with the gzip magic `1f 8b` is inflated.
    /// - Throws: `DatasetError.missingFile`, `.unreadable`, or `.unreadableGzip` (also when the
    ///   name ends in `.gz` but the content is not gzip).
    static func read(_ path: String) throws -> [UInt8] {
        let data = try mapped(path)
        let isGzip = data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
        if !isGzip {
            if path.hasSuffix(".gz") { throw DatasetError.unreadableGzip(path: path, reason: "no gzip magic 1f 8b") }
            return [UInt8](data)
        }
        guard data.count >= 18 else {
            throw DatasetError.unreadableGzip(path: path, reason: "only \(data.count) bytes")
        }
        let size = data.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
        guard size <= data.count * 1032 else {
            throw DatasetError.unreadableGzip(path: path, reason: "trailer claims \(size) bytes from \(data.count)")
        }
        return try data.withUnsafeBytes { try inflate($0, windowBits: 15 + 16, outputSize: size, path: path) }
    }

    /// The file's bytes, memory-mapped when possible.
    /// - Throws: `DatasetError.missingFile` or `.unreadable`.
    static func mapped(_ path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DatasetError.missingFile(path: path)
        }
        if isDirectory.boolValue { throw DatasetError.unreadable(path: path, reason: "is a folder") }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw DatasetError.unreadable(path: path, reason: error.localizedDescription)
        }
    }

    /// Inflates `input` into exactly `outputSize` bytes. `windowBits` 31 reads gzip, -15 raw deflate
    /// (zip members, APPNOTE 4.4.5 method 8). - Throws: `DatasetError.unreadableGzip`.
    static func inflate(_ input: UnsafeRawBufferPointer, windowBits: Int32, outputSize: Int,
                        path: String) throws -> [UInt8] {
        guard input.count <= Int(UInt32.max), outputSize >= 0, outputSize <= Int(UInt32.max) else {
            throw DatasetError.unreadableGzip(path: path, reason: "larger than 4 GiB")
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError.unreadableGzip(path: path, reason: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var status: Int32 = Z_OK
        var produced = 0
        let output = [UInt8](unsafeUninitializedCapacity: outputSize) { buffer, count in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            stream.next_out = buffer.baseAddress
            stream.avail_out = uInt(outputSize)
            status = CZlib.inflate(&stream, Z_FINISH)
            produced = Int(stream.total_out)
            count = produced
        }
        guard status == Z_STREAM_END, produced == outputSize else {
            let reason = status == Z_STREAM_END ? "expected \(outputSize) bytes, inflated \(produced)"
                : produced == outputSize ? "holds more than the \(outputSize) bytes expected"
                : stream.msg.map { String(cString: $0) } ?? "data ends early (zlib status \(status))"
            throw DatasetError.unreadableGzip(path: path, reason: reason)
        }
        return output
    }
}
