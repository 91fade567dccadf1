import Storage

/// A NumPy array read from a pickle: C-order `data` of `shape` elements of `dtype`.
struct PickledArray {
    /// NumPy's type code: kind `u`, `i` or `f` and the item size in bytes, e.g. `u1`, `i8`, `f4`.
    let dtype: String
    /// `|` (single byte), `<` (little-endian), `>` (big-endian) or `=` (native).
    let byteOrder: String
    let shape: [Int]
    let data: [UInt8]

    /// `u1 [10000, 3072]`, as errors name an array.
    var described: String { "\(dtype) [\(shape.map(String.init).joined(separator: ", "))]" }

    /// The elements as whole numbers, nil when the dtype is not a little-endian (or single-byte) integer.
    var integers: [Int]? {
        guard let size = Int(dtype.dropFirst()), dtype.first == "u" || dtype.first == "i",
            size == 1 || byteOrder != ">"
        else { return nil }
        let signed = dtype.first == "i"
        return stride(from: 0, to: data.count, by: size).map { o in
            let raw = (0..<size).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(data[o + $1]) }
            let shift = UInt64(64 - 8 * size)
            return signed ? Int(Int64(bitPattern: raw << shift) >> shift) : Int(truncatingIfNeeded: raw)
        }
    }
}

/// What the NumPy hooks build: a dtype, or an array (empty until `BUILD` gives it its state).
enum NumPyPickleObject {
    case dtype(code: String, byteOrder: String)
    case array(PickledArray?)
}

/// Pickles of NumPy arrays, as `pickle.dump` of a dict of `ndarray`s writes them.
///
/// Protocols 2–4 (`ndarray.__reduce__`): `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')`, then
/// `BUILD` with `(1, shape, numpy.dtype('u1', 0, 1) with its own BUILD state, is_fortran, raw bytes)`.
/// Protocol 5 (`ndarray.__reduce_ex__(5)`, PEP 574): `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)`
/// with the buffer in band (`BYTEARRAY8`, or `BINBYTES` for a read-only array). NumPy 2 spells the modules
/// `numpy._core`. Read through `Storage`'s restricted `Unpickler`; the only globals allowed are those
/// (`_reconstruct`, `numpy.ndarray`, `numpy.dtype`, `_frombuffer`) and `_codecs.encode` (Python 3's protocol-2
/// bytes). Only numeric dtypes of kind `u`, `i`, `f` with 1, 2, 4 or 8 bytes are accepted, with exactly
/// shape × item size bytes; Fortran-order data (`is_fortran`, order `'F'`) is transposed to C order.
enum NumPyPickle {
    static let allowedGlobals: Set<String> = [
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype",
        "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer", "_codecs.encode",
    ]

    /// Unpickles `bytes` read from `path`.
    /// - Throws: `DatasetError.badPickle` naming `path` (forbidden global, unknown opcode, malformed pickle,
    ///   an array whose bytes do not match its shape and dtype).
    static func load(
        _ bytes: [UInt8],
        path: String
    ) throws -> (root: PickleValue, heap: PickleHeap<NumPyPickleObject>) {
        do {
            return try Unpickler.load(bytes, path: path, hooks: Hooks())
        } catch let error as PickleError {
            switch error {
            case .forbiddenGlobal(let path, let name):
                throw DatasetError.badPickle(
                    path: path,
                    reason: "refusing the global '\(printable(name))'"
                        + " (only NumPy arrays, lists, dicts, numbers and strings are allowed)")
            case .unknownOpcode(let path, let opcode, let offset):
                let hex = String(opcode, radix: 16)
                throw DatasetError.badPickle(path: path, reason: "unsupported opcode 0x\(hex) at byte \(offset)")
            case .malformed(let path, let offset, let reason):
                throw DatasetError.badPickle(path: path, reason: "at byte \(offset): \(printable(reason))")
            }
        }
    }

    /// A `str` or `bytes` value as text (bytes decoded as UTF-8, invalid sequences replaced).
    static func text(_ value: PickleValue) -> String? {
        switch value {
        case .string(let s): return s
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    private struct Hooks: PickleHooks {
        func allows(module: String, name: String) -> Bool { allowedGlobals.contains(module + "." + name) }

        func call(
            _ name: String, _ args: [PickleValue],
            heap: inout PickleHeap<NumPyPickleObject>
        ) throws -> PickleValue {
            switch name {
            case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
                guard args.count == 3, case .global("numpy.ndarray") = args[0] else {
                    throw PickleRejection("_reconstruct expects (numpy.ndarray, shape, typecode)")
                }
                return heap.object(.array(nil))
            case "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer":
                // frombuffer(buffer, dtype=dtype).reshape(shape, order=order)
                guard args.count == 4, case .object(let d) = args[1],
                    case .dtype(let code, let order) = heap.objects[d],
                    let shape = heap.ints(args[2])
                else {
                    throw PickleRejection("_frombuffer expects (buffer, numpy.dtype, shape, order)")
                }
                guard case .bytes(let data) = args[0] else {
                    throw PickleRejection("_frombuffer's buffer is not bytes (out-of-band buffers are not supported)")
                }
                guard case .string(let layout) = args[3], layout == "C" || layout == "F" else {
                    let shown = text(args[3]).map { "'\(printable($0))'" } ?? "a non-string"
                    throw PickleRejection("_frombuffer order \(shown) is not supported (need 'C' or 'F')")
                }
                return heap.object(
                    .array(
                        try array(
                            code: code, byteOrder: order, shape: shape, data: data,
                            fortran: layout == "F")))
            case "numpy.dtype":
                guard let first = args.first, let code = text(first), let size = Int(code.dropFirst()),
                    let kind = code.first, "uif".contains(kind), [1, 2, 4, 8].contains(size),
                    kind != "f" || size >= 4
                else {
                    let shown = args.first.flatMap(text).map { "'\(printable($0))'" } ?? "a non-string"
                    throw PickleRejection("numpy.dtype \(shown) is not supported (need u1...u8, i1...i8, f4 or f8)")
                }
                return heap.object(.dtype(code: code, byteOrder: size == 1 ? "|" : "="))
            default: throw PickleRejection("\(name) cannot be called")
            }
        }

        /// `dtype.__setstate__((version, byte order, ...))` and `ndarray.__setstate__((version, shape, dtype,
        /// is_fortran, data))`.
        func build(_ target: PickleValue, state: PickleValue, heap: inout PickleHeap<NumPyPickleObject>) throws {
            guard case .object(let index) = target, let fields = heap.sequence(state) else {
                throw PickleRejection("BUILD of something other than a NumPy array or dtype")
            }
            switch heap.objects[index] {
            case .dtype(let code, _):
                guard fields.count >= 2, let order = text(fields[1]), ["<", ">", "|", "="].contains(order) else {
                    throw PickleRejection("numpy.dtype state without a byte order")
                }
                heap.objects[index] = .dtype(code: code, byteOrder: order)
            case .array(nil):
                let f = fields.count == 5 ? Array(fields.dropFirst()) : fields  // the version is optional
                guard f.count == 4, let shape = heap.ints(f[0]), case .object(let d) = f[1],
                    case .dtype(let code, let order) = heap.objects[d]
                else {
                    throw PickleRejection("ndarray state is not (version, shape, dtype, is_fortran, data)")
                }
                guard case .bytes(let data) = f[3] else {
                    throw PickleRejection("ndarray data is not bytes (object arrays are not supported)")
                }
                let fortran: Bool
                switch f[2] {
                case .bool(let b): fortran = b
                case .int(let i): fortran = i != 0
                default: throw PickleRejection("ndarray is_fortran is not a bool")
                }
                heap.objects[index] = .array(
                    try array(
                        code: code, byteOrder: order, shape: shape, data: data,
                        fortran: fortran))
            case .array:
                throw PickleRejection("BUILD of an ndarray that already has its state")
            }
        }

        /// The array of `shape` elements of `code` whose bytes are `data`, in C order (`data` in Fortran order,
        /// first index fastest, when `fortran`).
        /// - Throws: `PickleRejection` when the shape is negative or overflows, or `data` is not exactly
        ///   shape × item size bytes.
        private func array(
            code: String, byteOrder: String, shape: [Int], data: [UInt8],
            fortran: Bool
        ) throws -> PickledArray {
            var count = 1
            for size in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: size)
                guard size >= 0, !overflow else { throw PickleRejection("ndarray shape \(shape) is invalid") }
                count = product
            }
            let itemSize = Int(code.dropFirst()) ?? 1
            let (bytes, overflow) = count.multipliedReportingOverflow(by: itemSize)
            guard !overflow, bytes == data.count else {
                throw PickleRejection(
                    "ndarray data holds \(data.count) bytes, but \(code) \(shape) needs \(count)"
                        + " elements of \(itemSize) byte\(itemSize == 1 ? "" : "s")")
            }
            guard fortran, shape.filter({ $0 > 1 }).count > 1 else {  // one axis longer than 1: both orders agree
                return PickledArray(dtype: code, byteOrder: byteOrder, shape: shape, data: data)
            }
            // Fortran strides (in items): axis k steps by the product of the sizes before it.
            var strides = [Int](repeating: 1, count: shape.count)
            for k in shape.indices.dropFirst() { strides[k] = strides[k - 1] * shape[k - 1] }
            var out = [UInt8](repeating: 0, count: data.count)
            var index = [Int](repeating: 0, count: shape.count)
            var source = 0
            for c in 0..<count {  // C order: last index fastest
                for b in 0..<itemSize { out[c * itemSize + b] = data[source * itemSize + b] }
                var k = shape.count - 1
                while k >= 0 {
                    index[k] += 1
                    source += strides[k]
                    if index[k] < shape[k] { break }
                    source -= shape[k] * strides[k]
                    index[k] = 0
                    k -= 1
                }
            }
            return PickledArray(dtype: code, byteOrder: byteOrder, shape: shape, data: out)
        }
    }
}
