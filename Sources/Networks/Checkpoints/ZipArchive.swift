import CZlib
import Foundation

/// A read-only view of a zip archive held in memory, enough for `torch.save` files (PKWARE APPNOTE.TXT
/// 6.3: end of central directory, ZIP64 end record and extra field, central and local file headers).
/// Members may be stored (method 0, what PyTorch writes) or deflated (method 8, inflated with zlib);
/// each member's CRC-32 is checked. Encryption, multi-disk archives and other methods are refused.
struct ZipArchive {
    struct Member {
        let name: String
        let method: UInt16
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let bytes: [UInt8]
    let path: String
    /// Members by name, in central-directory order.
    private(set) var members: [String: Member] = [:]
    private(set) var names: [String] = []

    /// Reads the central directory.
    /// - Throws: `CheckpointError.badArchive` or `.truncated` naming `path`.
    init(_ bytes: [UInt8], path: String) throws {
        self.bytes = bytes
        self.path = path
        // End of central directory: 22 bytes + a comment of up to 65535 bytes, at the end of the file.
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        guard bytes.count >= 22,
              let eocd = stride(from: bytes.count - 22, through: lowest, by: -1).first(where: { u32($0) == 0x0605_4B50 })
        else { throw CheckpointError.truncated(path: path, needed: "zip end-of-central-directory record not found") }
        var count = Int(u16(eocd + 10)), directorySize = Int(u32(eocd + 12)), directoryOffset = Int(u32(eocd + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64: a 20-byte locator just before the EOCD points at the 56-byte ZIP64 end record.
            guard eocd >= 20, u32(eocd - 20) == 0x0706_4B50, let record = try? checkedInt(u64(eocd - 12)),
                  record <= bytes.count - 56, u32(record) == 0x0606_4B50 else {
                throw CheckpointError.badArchive(path: path, reason: "broken ZIP64 end-of-central-directory record")
            }
            (count, directorySize, directoryOffset) = (try checkedInt(u64(record + 32)), try checkedInt(u64(record + 40)),
                                                       try checkedInt(u64(record + 48)))
        }
        guard directoryOffset <= bytes.count, directorySize <= bytes.count - directoryOffset else {
            throw CheckpointError.truncated(path: path, needed: "central directory at byte \(directoryOffset)"
                                            + " (\(directorySize) bytes) lies past the end (\(bytes.count) bytes)")
        }
        var at = directoryOffset
        for _ in 0..<count {
            guard at + 46 <= directoryOffset + directorySize, u32(at) == 0x0201_4B50 else {
                throw CheckpointError.badArchive(path: path, reason: "bad central directory entry at byte \(at)")
            }
            let nameLength = Int(u16(at + 28)), extraLength = Int(u16(at + 30)), commentLength = Int(u16(at + 32))
            let end = at + 46 + nameLength + extraLength + commentLength
            guard end <= directoryOffset + directorySize else {
                throw CheckpointError.badArchive(path: path, reason: "central directory entry at byte \(at) overruns the directory")
            }
            guard u16(at + 8) & 1 == 0 else { throw CheckpointError.badArchive(path: path, reason: "encrypted members are not supported") }
            let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            var compressed = UInt64(u32(at + 20)), size = UInt64(u32(at + 24)), local = UInt64(u32(at + 42))
            // ZIP64 extended information (header 0x0001): the 64-bit values of the saturated fields, in this order.
            var field = at + 46 + nameLength
            let extraEnd = field + extraLength
            while field + 4 <= extraEnd {
                let (id, length) = (u16(field), Int(u16(field + 2)))
                let fieldEnd = min(field + 4 + length, extraEnd)
                var value = field + 4
                func next(_ v: inout UInt64) {
                    guard v == 0xFFFF_FFFF, value + 8 <= fieldEnd else { return }
                    v = u64(value)
                    value += 8
                }
                if id == 0x0001 { next(&size); next(&compressed); next(&local) }
                field += 4 + length
            }
            // Deflate expands at most ~1032:1, which bounds the allocation for a member before it is read.
            let compressedSize = try checkedInt(compressed)
            guard size <= UInt64(compressedSize) * 1032 + 1024 else {
                throw CheckpointError.badArchive(path: path, reason: "member \(name) claims \(size) bytes from \(compressed)")
            }
            let member = Member(name: name, method: u16(at + 10), crc: u32(at + 16), compressedSize: compressedSize,
                                size: Int(size), localHeaderOffset: try checkedInt(local))
            if members.updateValue(member, forKey: name) == nil { names.append(name) }
            at = end
        }
    }

    /// The uncompressed bytes of member `name`, or nil when there is no such member.
    /// - Throws: `CheckpointError.badArchive`/`.truncated` when the member's data is out of range, its
    ///   method is unsupported, it does not inflate, or its CRC-32 does not match.
    func read(_ name: String) throws -> [UInt8]? {
        guard let m = members[name] else { return nil }
        let fail = { (reason: String) in CheckpointError.badArchive(path: path, reason: "member \(name): \(reason)") }
        guard m.localHeaderOffset <= bytes.count - 30, u32(m.localHeaderOffset) == 0x0403_4B50 else {
            throw fail("no local file header at byte \(m.localHeaderOffset)")
        }
        let start = m.localHeaderOffset + 30 + Int(u16(m.localHeaderOffset + 26)) + Int(u16(m.localHeaderOffset + 28))
        guard start <= bytes.count, m.compressedSize <= bytes.count - start else {
            throw CheckpointError.truncated(path: path, needed: "member \(name) needs \(m.compressedSize) bytes at byte \(start)")
        }
        let stored = Array(bytes[start..<(start + m.compressedSize)])
        let data: [UInt8]
        switch m.method {
        case 0:
            guard m.size == m.compressedSize else { throw fail("stored member sizes differ") }
            data = stored
        case 8: data = try inflate(stored, size: m.size, fail: fail)
        default: throw fail("compression method \(m.method) is not supported (only stored and deflate)")
        }
        let crc = data.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        guard crc == m.crc else { throw fail("CRC-32 mismatch (the file is corrupted)") }
        return data
    }

    /// Raw-deflate decompression (RFC 1951) of `input` into exactly `size` bytes.
    private func inflate(_ input: [UInt8], size: Int, fail: (String) -> CheckpointError) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("zlib inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var input = input
        let status = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == size else {
            throw fail("deflate data is corrupt (zlib status \(status), \(stream.total_out) of \(size) bytes)")
        }
        return output
    }

    private func u16(_ i: Int) -> UInt16 { UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8 }
    private func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) | UInt32(u16(i + 2)) << 16 }
    private func u64(_ i: Int) -> UInt64 { UInt64(u32(i)) | UInt64(u32(i + 4)) << 32 }
    private func checkedInt(_ v: UInt64) throws -> Int {
        guard v <= UInt64(bytes.count) else {
            throw CheckpointError.truncated(path: path, needed: "zip field value \(v) exceeds the file size \(bytes.count)")
        }
        return Int(v)
    }
}
