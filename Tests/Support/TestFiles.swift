import CZlib

/// Writers of test files in the formats the readers take: NumPy `.npy` v1.0 and zip archives (as `np.savez`, stored,
/// and `np.savez_compressed`, deflated, write them).
public enum TestFiles {
    /// A `.npy` v1.0 file: header dict padded with spaces to a multiple of 64, then the raw data.
    public static func npy(descr: String, shape: [Int], _ data: [UInt8]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let length = header.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 255), UInt8(length >> 8)] + Array(header.utf8)
            + data
    }

    /// A zip archive (as NumPy's `savez`/`savez_compressed` write) of the given members.
    public static func zip(_ members: [(name: String, data: [UInt8])], deflate: Bool) -> [UInt8] {
        func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        var out = [UInt8]()
        var central = [UInt8]()
        for (name, data) in members {
            let stored = deflate ? rawDeflate(data) : data
            let crc = Int(data.withUnsafeBufferPointer { crc32(0, $0.baseAddress, UInt32($0.count)) })
            let fields =
                le(deflate ? 8 : 0, 2) + le(0, 4) + le(crc, 4) + le(stored.count, 4) + le(data.count, 4)
                + le(name.utf8.count, 2) + le(0, 2)
            central +=
                le(0x0201_4B50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + fields + le(0, 2) + le(0, 2) + le(0, 2)
                + le(0, 4) + le(out.count, 4) + Array(name.utf8)
            out += le(0x0403_4B50, 4) + le(20, 2) + le(0, 2) + fields + Array(name.utf8) + stored
        }
        return out + central + le(0x0605_4B50, 4) + le(0, 4) + le(members.count, 2) + le(members.count, 2)
            + le(central.count, 4) + le(out.count, 4) + le(0, 2)
    }

    /// Raw deflate (no zlib/gzip wrapper), as zip method 8.
    public static func rawDeflate(_ data: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        deflateInit2_(
            &stream, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
            Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var input = data
        var out = [UInt8](repeating: 0, count: data.count + 1024)
        let produced = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                _ = deflate(&stream, Z_FINISH)
                return Int(stream.total_out)
            }
        }
        return Array(out.prefix(produced))
    }
}
