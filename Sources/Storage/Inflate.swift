import CZlib

/// The two deflate containers sskd reads.
public enum DeflateFormat {
    /// gzip (RFC 1952): header, deflate data, CRC-32 and size trailer.
    case gzip
    /// Raw deflate (RFC 1951), as in zip members (APPNOTE 4.4.5, method 8).
    case raw
}

/// Deflate expands at most about 1032:1; `size` is refused above this bound before anything is allocated.
public func inflationBound(_ compressedSize: Int) -> Int {
    compressedSize.multipliedReportingOverflow(by: 1032).partialValue &+ 1024
}

/// How far sskd lets compressed data expand before it is read: real data (pixels, weights, labels) deflates by
/// far less than `ratio`, a decompression bomb by up to 1032:1. With it, a file of 1 MB never makes more than
/// 256 MB.
public enum InflationLimit {
    /// The most inflated bytes per compressed byte beyond `allowance`.
    public static let ratio = 256
    /// The inflated bytes any file may have whatever its compressed size (64 MiB).
    public static let allowance = 64 << 20

    /// Whether `inflated` bytes may come from `compressed` ones: at most `allowance`, or `ratio` times.
    public static func allows(_ inflated: Int, from compressed: Int) -> Bool {
        inflated <= max(allowance, compressed.multipliedReportingOverflow(by: ratio).partialValue)
    }
}

/// Inflates `input` into exactly `size` bytes.
/// - Parameter path: the file (or `file:member`) named in errors.
/// - Throws: `StorageError.badCompressedData` when `size` is impossible for `input` (more than
///   `inflationBound`), the data is corrupt, ends early, or holds more or fewer than `size` bytes.
public func inflate(_ input: UnsafeRawBufferPointer, format: DeflateFormat, size: Int, path: String) throws -> [UInt8] {
    guard input.count <= Int(UInt32.max), size >= 0, size <= Int(UInt32.max), size <= inflationBound(input.count) else {
        throw StorageError.badCompressedData(
            path: path, reason: "\(size) bytes cannot come from \(input.count) compressed bytes")
    }
    var stream = z_stream()
    let windowBits: Int32 = format == .gzip ? 15 + 16 : -15
    guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw StorageError.badCompressedData(path: path, reason: "zlib could not start")
    }
    defer { inflateEnd(&stream) }
    var status: Int32 = Z_OK
    var produced = 0
    let output = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
        stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
        stream.avail_in = uInt(input.count)
        stream.next_out = buffer.baseAddress
        stream.avail_out = uInt(size)
        status = CZlib.inflate(&stream, Z_FINISH)
        produced = Int(stream.total_out)
        count = produced
    }
    guard status == Z_STREAM_END, produced == size else {
        let reason =
            status == Z_STREAM_END
            ? "expected \(size) bytes, inflated \(produced)"
            : produced == size
                ? "holds more than the \(size) bytes expected"
                : stream.msg.map { String(cString: $0) } ?? "data ends early (zlib status \(status))"
        throw StorageError.badCompressedData(path: path, reason: reason)
    }
    return output
}

/// The CRC-32 (ISO 3309, as in zip and gzip) of `bytes`.
public func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    guard let base = bytes.baseAddress else { return 0 }
    return UInt32(CZlib.crc32(0, base.assumingMemoryBound(to: Bytef.self), uInt(bytes.count)))
}
