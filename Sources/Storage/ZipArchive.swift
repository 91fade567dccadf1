/// A read-only zip archive held in memory (PKWARE APPNOTE.TXT 6.3): the end of central directory record,
/// the ZIP64 end record, locator and extra field, central and local file headers. Members may be stored
/// (method 0) or deflated (method 8); each member's CRC-32 is checked when it is read. Encrypted members,
/// multi-disk archives and other methods are refused.
///
/// Used for NumPy `.npz` files and `torch.save` checkpoints. Every offset and size read from the file is
/// checked against the file size before it is used or anything is allocated from it.
public struct ZipArchive {
    /// One central-directory entry.
    public struct Member {
        /// The member's name, e.g. `archive/data.pkl` or `x_train.npy`.
        public let name: String
        /// Compression method (0 stored, 8 deflate).
        public let method: Int
        /// CRC-32 of the uncompressed bytes.
        public let crc: UInt32
        /// Bytes stored in the archive.
        public let compressedSize: Int
        /// Bytes after inflation.
        public let size: Int
        /// Offset of the member's local file header.
        public let localHeaderOffset: Int
    }

    /// The archive's bytes.
    public let bytes: [UInt8]
    /// The file named in errors.
    public let path: String
    /// Members by name.
    public private(set) var members: [String: Member] = [:]
    /// Member names in central-directory order (a repeated name is listed once, the last entry wins).
    public private(set) var names: [String] = []

    /// Reads the central directory of the archive `bytes`.
    /// - Parameter path: the file named in errors.
    /// - Throws: `StorageError.truncatedZip` (no end record, a record past the end of the file) or
    ///   `.badZip` (a broken record, an encrypted member, an impossible size).
    public init(_ bytes: [UInt8], path: String) throws {
        self.bytes = bytes
        self.path = path
        let bad = { (reason: String) in StorageError.badZip(path: path, reason: reason) }
        // End of central directory: 22 bytes + a comment of up to 65535 bytes, at the end of the file.
        guard bytes.count >= 22,
            let eocd = stride(from: bytes.count - 22, through: max(0, bytes.count - 22 - 0xFFFF), by: -1)
                .first(where: { u32($0) == 0x0605_4B50 })
        else {
            throw StorageError.truncatedZip(
                path: path, reason: "no end-of-central-directory record (not a zip file, or cut short)")
        }
        var count = Int(u16(eocd + 10))
        var directorySize = Int(u32(eocd + 12))
        var directoryOffset = Int(u32(eocd + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64: a 20-byte locator just before the EOCD points at the 56-byte ZIP64 end record.
            guard eocd >= 20, u32(eocd - 20) == 0x0706_4B50 else { throw bad("ZIP64 locator missing") }
            let record = u64(eocd - 12)
            guard record <= UInt64(bytes.count), Int(record) <= bytes.count - 56, u32(Int(record)) == 0x0606_4B50 else {
                throw bad("ZIP64 end-of-central-directory record missing")
            }
            let r = Int(record)
            guard let c = fileSized(u64(r + 32)), let s = fileSized(u64(r + 40)), let o = fileSized(u64(r + 48)) else {
                throw StorageError.truncatedZip(
                    path: path, reason: "ZIP64 directory fields exceed the file size \(bytes.count)")
            }
            (count, directorySize, directoryOffset) = (c, s, o)
        }
        guard directoryOffset <= bytes.count, directorySize <= bytes.count - directoryOffset else {
            throw StorageError.truncatedZip(
                path: path,
                reason: "central directory at byte \(directoryOffset)"
                    + " (\(directorySize) bytes) lies past the end (\(bytes.count) bytes)")
        }
        guard count <= directorySize / 46 else {
            throw bad("\(count) entries cannot fit in a \(directorySize)-byte directory")
        }
        let directoryEnd = directoryOffset + directorySize
        var at = directoryOffset
        for _ in 0..<count {
            guard at <= directoryEnd - 46, u32(at) == 0x0201_4B50 else {
                throw bad("bad central directory entry at byte \(at)")
            }
            let nameLength = Int(u16(at + 28))
            let extraLength = Int(u16(at + 30))
            let commentLength = Int(u16(at + 32))
            let end = at + 46 + nameLength + extraLength + commentLength
            guard end <= directoryEnd else { throw bad("central directory entry at byte \(at) overruns the directory") }
            guard u16(at + 8) & 1 == 0 else { throw bad("encrypted members are not supported") }
            let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            var compressed = UInt64(u32(at + 20))
            var size = UInt64(u32(at + 24))
            var local = UInt64(u32(at + 42))
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
                if id == 0x0001 {
                    next(&size)
                    next(&compressed)
                    next(&local)
                }
                field += 4 + length
            }
            guard let compressedSize = fileSized(compressed), let localOffset = fileSized(local) else {
                throw StorageError.truncatedZip(
                    path: path, reason: "member \(name) lies past the end (\(bytes.count) bytes)")
            }
            // Deflate expands at most ~1032:1, which bounds the allocation for a member before it is read.
            guard size <= UInt64(inflationBound(compressedSize)) else {
                throw bad("member \(name) claims \(size) bytes from \(compressed)")
            }
            let member = Member(
                name: name, method: Int(u16(at + 10)), crc: u32(at + 16), compressedSize: compressedSize,
                size: Int(size), localHeaderOffset: localOffset)
            if members.updateValue(member, forKey: name) == nil { names.append(name) }
            at = end
        }
        try Self.checkInflation(members.values, bad)
    }

    /// Refuses an archive whose deflated members together would inflate to more than `InflationLimit.ratio`
    /// times their compressed bytes (`InflationLimit`): members that overlap or repeat
    /// count each time, so neither one huge member nor many small ones can take gigabytes from a small file.
    private static func checkInflation(_ members: Dictionary<String, Member>.Values, _ bad: (String) -> StorageError)
        throws
    {
        var inflated = 0
        var compressed = 0
        for m in members where m.method == 8 {
            inflated = inflated.addingReportingOverflow(m.size).partialValue
            compressed += m.compressedSize
        }
        guard InflationLimit.allows(inflated, from: compressed) else {
            throw bad(
                "its deflated members would inflate to \(inflated) bytes from \(compressed), more than"
                    + " \(InflationLimit.ratio):1 (a decompression bomb)")
        }
    }

    /// The uncompressed bytes of member `name`, or nil when there is no such member.
    /// - Throws: `StorageError.truncatedZip` when the member's data reaches past the end of the file,
    ///   `.badZip` when its local header is missing, its method is unsupported, it does not inflate, or
    ///   its CRC-32 does not match; every reason names the member.
    public func read(_ name: String) throws -> [UInt8]? {
        guard let m = members[name] else { return nil }
        let fail = { (reason: String) in StorageError.badZip(path: path, reason: "member \(name): \(reason)") }
        guard m.localHeaderOffset <= bytes.count - 30, u32(m.localHeaderOffset) == 0x0403_4B50 else {
            throw fail("no local file header at byte \(m.localHeaderOffset)")
        }
        let start = m.localHeaderOffset + 30 + Int(u16(m.localHeaderOffset + 26)) + Int(u16(m.localHeaderOffset + 28))
        guard start <= bytes.count, m.compressedSize <= bytes.count - start else {
            throw StorageError.truncatedZip(
                path: path, reason: "member \(name) needs \(m.compressedSize) bytes at byte \(start)")
        }
        let data: [UInt8]
        switch m.method {
        case 0:
            guard m.size == m.compressedSize else { throw fail("stored member sizes differ") }
            data = Array(bytes[start..<(start + m.compressedSize)])
        case 8:
            do {
                data = try bytes.withUnsafeBytes {
                    try inflate(
                        UnsafeRawBufferPointer(rebasing: $0[start..<(start + m.compressedSize)]), format: .raw,
                        size: m.size, path: path)
                }
            } catch let error as StorageError {
                throw fail("deflate data is corrupt (\(error.reason))")
            }
        default: throw fail("compression method \(m.method) is not supported (only stored and deflate)")
        }
        guard data.withUnsafeBytes(crc32) == m.crc else { throw fail("CRC-32 mismatch (the file is corrupted)") }
        return data
    }

    /// `v` as an Int when it is at most the file size (any offset or size inside the file is).
    private func fileSized(_ v: UInt64) -> Int? { v <= UInt64(bytes.count) ? Int(v) : nil }
    private func u16(_ i: Int) -> UInt16 { UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8 }
    private func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) | UInt32(u16(i + 2)) << 16 }
    private func u64(_ i: Int) -> UInt64 { UInt64(u32(i)) | UInt64(u32(i + 4)) << 32 }
}
