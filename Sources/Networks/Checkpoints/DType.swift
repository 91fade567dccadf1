/// The element type a tensor had in its checkpoint file, named as in the safetensors spec
/// (huggingface/safetensors `Dtype`). sskd computes in Float32; the original dtype is kept so that
/// integer buffers such as BatchNorm's `num_batches_tracked` (int64 in PyTorch) are saved back as I64.
public enum DType: String, CaseIterable, Sendable {
    /// Floating point: IEEE binary32, binary16, bfloat16 (the top half of a binary32), binary64.
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case f64 = "F64"
    /// Integers (two's complement, little-endian) and booleans (one byte, nonzero is true).
    case i64 = "I64"
    case i32 = "I32"
    case i16 = "I16"
    case i8 = "I8"
    case u8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// The dtype of a PyTorch typed storage class (`torch.FloatStorage` -> F32), as written by `torch.save`.
    init?(torchStorage name: String) {
        let table: [String: DType] = [
            "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16, "DoubleStorage": .f64,
            "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
            "ByteStorage": .u8, "BoolStorage": .bool,
        ]
        guard let dtype = table[name] else { return nil }
        self = dtype
    }

    /// Decodes `count` little-endian elements starting at `offset` of `bytes` to Float32.
    /// - Precondition: `offset + count * size <= bytes.count` (callers validate file offsets first).
    func decode(_ bytes: UnsafeRawBufferPointer, offset: Int, count: Int) -> [Float] {
        precondition(offset >= 0 && count >= 0 && offset + count * size <= bytes.count, "DType.decode out of range")
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + i * size, as: T.self))
        }
        switch self {
        case .f32: return (0..<count).map { Float(bitPattern: load(UInt32.self, $0)) }
        case .f64: return (0..<count).map { Float(Double(bitPattern: load(UInt64.self, $0))) }
        case .f16: return (0..<count).map { halfToFloat(load(UInt16.self, $0)) }
        case .bf16: return (0..<count).map { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) }
        case .i64: return (0..<count).map { Float(load(Int64.self, $0)) }
        case .i32: return (0..<count).map { Float(load(Int32.self, $0)) }
        case .i16: return (0..<count).map { Float(load(Int16.self, $0)) }
        case .i8: return (0..<count).map { Float(load(Int8.self, $0)) }
        case .u8: return (0..<count).map { Float(load(UInt8.self, $0)) }
        case .bool: return (0..<count).map { load(UInt8.self, $0) != 0 ? 1 : 0 }
        }
    }
}

/// IEEE 754 binary16 -> binary32, exact (including subnormals, infinities and NaN).
/// Written out because `Float16` is unavailable on macOS/x86_64.
func halfToFloat(_ h: UInt16) -> Float {
    let sign: Float = h & 0x8000 != 0 ? -1 : 1
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = Float(h & 0x3FF)
    switch exponent {
    case 0: return sign * mantissa * 0x1p-24  // zero and subnormals: m * 2^-24
    case 31: return mantissa == 0 ? sign * .infinity : .nan
    default: return sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
}
