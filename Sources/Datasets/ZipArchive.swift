/// A minimal reader of zip archives (PKWARE APPNOTE.TXT 6.3), enough for NumPy `.npz` files:
/// the central directory (zip64 included), stored (method 0) and deflated (method 8) members.
///
/// Works on the archive's bytes in place; every offset read from the file is bounds-checked.
struct ZipArchive {
    struct Entry { let method: Int; let compressedSize: Int; let size: Int; let localOffset: Int }
    let raw: UnsafeRawBufferPointer
    let path: String
    let entries: [String: Entry]

    /// Reads the central directory. - Throws: `DatasetError.badZip`.
    init(_ raw: UnsafeRawBufferPointer, path: String) throws {
        self.raw = raw
        self.path = path
        let r = Bytes(raw: raw, path: path)
        // End of central directory: 22 bytes plus a comment of up to 65,535 bytes.
        guard let eocd = stride(from: raw.count - 22, through: max(0, raw.count - 22 - 65_535), by: -1)
            .first(where: { (try? r.u32($0)) == 0x0605_4B50 }) else {
            throw DatasetError.badZip(path: path, reason: "no end-of-central-directory record (not a zip file)")
        }
        var count = try r.u16(eocd + 10), offset = try r.u32(eocd + 16)
        if count == 0xFFFF || offset == 0xFFFF_FFFF {  // zip64: locator just before the EOCD
            guard eocd >= 20, try r.u32(eocd - 20) == 0x0706_4B50 else { throw DatasetError.badZip(path: path, reason: "zip64 locator missing") }
            let record = try r.u64(eocd - 12)
            guard try r.u32(record) == 0x0606_4B50 else { throw DatasetError.badZip(path: path, reason: "zip64 end record missing") }
            count = try r.u64(record + 32)
            offset = try r.u64(record + 48)
        }
        guard count >= 0, count <= raw.count / 46 else { throw DatasetError.badZip(path: path, reason: "\(count) entries cannot fit") }
        var entries = [String: Entry]()
        for _ in 0..<count {
            guard try r.u32(offset) == 0x0201_4B50 else { throw DatasetError.badZip(path: path, reason: "bad central directory entry at \(offset)") }
            var compressed = try r.u32(offset + 20), size = try r.u32(offset + 24), local = try r.u32(offset + 42)
            let nameLength = try r.u16(offset + 28), extraLength = try r.u16(offset + 30), commentLength = try r.u16(offset + 32)
            let name = String(decoding: try r.slice(offset + 46, nameLength), as: UTF8.self)
            // Zip64 extended information (header id 1): only the fields saturated in the entry, in this order.
            var extra = offset + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = try r.u16(extra), length = try r.u16(extra + 2)
                if id == 1 {
                    var field = extra + 4
                    if size == 0xFFFF_FFFF { size = try r.u64(field); field += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = try r.u64(field); field += 8 }
                    if local == 0xFFFF_FFFF { local = try r.u64(field) }
                }
                extra += 4 + length
            }
            entries[name] = Entry(method: try r.u16(offset + 10), compressedSize: compressed, size: size, localOffset: local)
            offset = extraEnd + commentLength
        }
        self.entries = entries
    }

    /// The `.npy` array stored as `key` or `key.npy`.
    /// - Throws: `DatasetError.badZip` (missing member, unsupported method), `.unreadableGzip`, `.badNpyHeader`.
    func npyMember(_ key: String) throws -> NpyArray {
        let name = entries[key] != nil ? key : key + ".npy"
        guard let entry = entries[name] else {
            let keys = entries.keys.sorted().map { $0.hasSuffix(".npy") ? String($0.dropLast(4)) : $0 }
            throw DatasetError.badZip(path: path, reason: "no member '\(key)' (has: \(keys.joined(separator: ", ")))")
        }
        let r = Bytes(raw: raw, path: path)
        guard try r.u32(entry.localOffset) == 0x0403_4B50 else { throw DatasetError.badZip(path: path, reason: "bad local header for \(name)") }
        let start = entry.localOffset + 30 + (try r.u16(entry.localOffset + 26)) + (try r.u16(entry.localOffset + 28))
        let stored = try r.slice(start, entry.compressedSize)
        let memberPath = "\(path):\(name)"
        switch entry.method {
        case 0: return try NpyArray(parsing: stored, path: memberPath)
        case 8:
            guard entry.size >= 0, entry.size <= entry.compressedSize * 1032 + 64 else {
                throw DatasetError.badZip(path: path, reason: "\(name) claims \(entry.size) bytes from \(entry.compressedSize)")
            }
            let bytes = try FileBytes.inflate(stored, windowBits: -15, outputSize: entry.size, path: memberPath)
            return try bytes.withUnsafeBytes { try NpyArray(parsing: $0, path: memberPath) }
        default:
            throw DatasetError.badZip(path: path, reason: "\(name) uses compression method \(entry.method); only stored (0) and deflate (8) are read")
        }
    }

    /// Little-endian fields with bounds checks.
    private struct Bytes {
        let raw: UnsafeRawBufferPointer
        let path: String
        func slice(_ offset: Int, _ length: Int) throws -> UnsafeRawBufferPointer {
            guard offset >= 0, length >= 0, offset <= raw.count - length else {
                throw DatasetError.badZip(path: path, reason: "record at \(offset) (\(length) bytes) runs past the end (\(raw.count) bytes)")
            }
            return UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)])
        }
        func uint(_ offset: Int, _ size: Int) throws -> Int {
            try slice(offset, size).reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        func u16(_ offset: Int) throws -> Int { try uint(offset, 2) }
        func u32(_ offset: Int) throws -> Int { try uint(offset, 4) }
        func u64(_ offset: Int) throws -> Int { try uint(offset, 8) }
    }
}
