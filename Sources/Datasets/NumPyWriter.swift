import Foundation

/// Writer of NumPy `.npy` arrays, the format of NEP 1 / `numpy.lib.format`, version 1.0.
///
/// Layout: the magic `\x93NUMPY`, version bytes `1 0`, the header length as a little-endian UInt16, then the
/// header: the ASCII repr of a Python dict, `{'descr': '<f4', 'fortran_order': False, 'shape': (N, K), }`,
/// padded with spaces and ended by `\n` so that the data start at a multiple of 64 bytes (as `numpy.save`
/// does), then the values in C order. `numpy.load` and this package's reader read it back.
public enum NumPyWriter {
    /// The bytes of a `.npy` file holding `values` as little-endian float32 (`'<f4'`) of shape `shape`
    /// (C order: the last index varies fastest; a 1-D shape is written `(N,)`, a 0-D one `()`).
    /// - Precondition: `values.count` is the product of `shape`, every dimension is at least 0, and the
    ///   header fits version 1.0 (under 65,536 bytes, i.e. a shape of at most a few thousand dimensions).
    public static func npy(float32 values: [Float], shape: [Int]) -> [UInt8] {
        precondition(
            shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
            "npy: \(values.count) values do not fill shape \(shape)")
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
        let prefix = 6 + 2 + 2  // magic, version, header length
        let total = (prefix + header.utf8.count + 1 + 63) / 64 * 64
        header += String(repeating: " ", count: total - prefix - header.utf8.count - 1) + "\n"
        precondition(
            header.utf8.count <= Int(UInt16.max),
            "npy: a header of \(header.utf8.count) bytes needs format version 2.0")
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        bytes += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + 4 * values.count)
        for v in values {
            let bits = v.bitPattern  // least significant byte first: little-endian on any host
            bytes.append(UInt8(bits & 0xFF))
            bytes.append(UInt8((bits >> 8) & 0xFF))
            bytes.append(UInt8((bits >> 16) & 0xFF))
            bytes.append(UInt8(bits >> 24))
        }
        return bytes
    }
}
