import Foundation
import Tensors

/// The safetensors format (huggingface/safetensors, "Format" in its README): an 8-byte little-endian
/// header length N, N bytes of UTF-8 JSON `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
/// ..., "__metadata__": {"key": "value"}}`, then the byte buffer. Offsets are relative to the buffer, which
/// the tensors must cover exactly, without holes or overlaps; data is little-endian, row-major.
enum Safetensors {
    /// Largest header sskd accepts (the reference implementation's limit).
    static let maxHeaderSize = 100_000_000

    private struct TensorInfo: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    /// A header value: tensor info, the `__metadata__` string map, or neither (with the decoder's reason).
    private enum HeaderValue: Decodable {
        case tensor(TensorInfo)
        case metadata([String: String])
        case invalid(String)
        init(from decoder: Decoder) throws {
            if let metadata = try? [String: String](from: decoder) {
                self = .metadata(metadata)
            } else {
                do { self = .tensor(try TensorInfo(from: decoder)) } catch { self = .invalid(jsonReason(error)) }
            }
        }
    }

    /// Parses a safetensors file's bytes into a `StateDict` (entries in buffer order).
    /// - Throws: `CheckpointError` (`.truncated`, `.badHeader`, `.badOffsets`, `.unsupportedDType`) naming `path`.
    static func read(_ bytes: [UInt8], path: String) throws -> StateDict {
        guard bytes.count >= 8 else {
            throw CheckpointError.truncated(path: path, needed: "8-byte header length, got \(bytes.count) bytes")
        }
        let n = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard n <= UInt64(maxHeaderSize) else {
            throw CheckpointError.badHeader(path: path, reason: "header length \(n) exceeds the 100 MB limit")
        }
        let headerEnd = 8 + Int(n)
        guard headerEnd <= bytes.count else {
            throw CheckpointError.truncated(
                path: path, needed: "header of \(n) bytes, but the file has \(bytes.count) bytes")
        }
        let header: [String: HeaderValue]
        do {
            header = try JSONDecoder().decode([String: HeaderValue].self, from: Data(bytes[8..<headerEnd]))
        } catch {
            throw CheckpointError.badHeader(
                path: path, reason: "not a JSON object of tensor entries (\(jsonReason(error)))")
        }
        let bufferSize = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var infos: [(name: String, info: TensorInfo, dtype: DType)] = []
        for (name, value) in header {
            switch value {
            case .metadata(let map) where name == "__metadata__": metadata = map
            case .metadata: throw CheckpointError.badHeader(path: path, reason: "entry '\(name)' is not a tensor")
            case .tensor where name == "__metadata__", .invalid where name == "__metadata__":
                throw CheckpointError.badHeader(path: path, reason: "__metadata__ must map strings to strings")
            case .invalid(let reason):
                throw CheckpointError.badHeader(path: path, reason: "entry '\(name)' is not a tensor (\(reason))")
            case .tensor(let info):
                guard let dtype = DType(rawValue: info.dtype) else {
                    throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: info.dtype)
                }
                infos.append((name, info, dtype))
            }
        }
        infos.sort { ($0.info.data_offsets.first ?? 0, $0.name) < ($1.info.data_offsets.first ?? 0, $1.name) }
        var state = StateDict(metadata: metadata)
        var end = 0
        var total = 0
        try bytes.withUnsafeBytes { raw in
            for (name, info, dtype) in infos {
                let fail = { (reason: String) in CheckpointError.badOffsets(path: path, tensor: name, reason: reason) }
                guard info.shape.allSatisfy({ $0 >= 0 }) else {
                    throw fail("negative size in shape \(formatShape(info.shape))")
                }
                let (count, overflow) = info.shape.reduce((1, false)) { acc, d in
                    let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                    return (p, acc.1 || o)
                }
                guard info.data_offsets.count == 2, !overflow, count <= bufferSize else {
                    throw fail("invalid data_offsets \(info.data_offsets) for shape \(formatShape(info.shape))")
                }
                let (begin, stop) = (info.data_offsets[0], info.data_offsets[1])
                guard begin == end else {
                    throw fail(
                        begin < end
                            ? "data_offsets \(info.data_offsets) overlap the previous tensor"
                            : "data_offsets \(info.data_offsets) leave a hole after byte \(end) of the data")
                }
                guard stop <= bufferSize else {
                    throw fail("data_offsets \(info.data_offsets) reach past the end of the data (\(bufferSize) bytes)")
                }
                guard stop - begin == count * dtype.size else {
                    throw fail(
                        "data_offsets \(info.data_offsets) hold \(stop - begin) bytes, but \(dtype.rawValue)"
                            + " \(formatShape(info.shape)) needs \(count * dtype.size)")
                }
                total += count
                guard count <= StateDict.maximumTensorElements, total <= StateDict.maximumTotalElements else {
                    throw fail(
                        count > StateDict.maximumTensorElements
                            ? "shape \(formatShape(info.shape)) has \(count) elements, more than sskd's limit of"
                                + " \(StateDict.maximumTensorElements)"
                            : "the tensors up to this one hold \(total) elements, more than a quarter of this"
                                + " machine's memory takes as Float32 (\(StateDict.maximumTotalElements))")
                }
                let values = dtype.decode(raw, offset: headerEnd + begin, count: count)
                state[name, dtype: dtype] = Tensor(shape: info.shape, data: values)
                end = stop
            }
        }
        guard end == bufferSize else {
            throw CheckpointError.badHeader(path: path, reason: "tensors cover \(end) of the \(bufferSize) data bytes")
        }
        return state
    }

    /// The bytes of a safetensors file for `state`: entries in order, F32 (I64 for `.i64` entries, values
    /// rounded to the nearest integer), header padded with spaces to a multiple of 8 bytes as the
    /// reference writer does, `metadata` as `__metadata__` (omitted when empty).
    static func encode(_ state: StateDict) -> [UInt8] {
        var fields: [String] = []
        if !state.metadata.isEmpty {
            let pairs = state.metadata.sorted { $0.key < $1.key }.map {
                "\(jsonString($0.key)):\(jsonString($0.value))"
            }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var body: [UInt8] = []
        for entry in state.entries {
            let begin = body.count
            if entry.dtype == .i64 {
                for v in entry.tensor.data {
                    appendLittleEndian(Int64(exactly: v.rounded()) ?? (v < 0 ? .min : .max), to: &body)
                }
            } else {
                for v in entry.tensor.data { appendLittleEndian(v.bitPattern, to: &body) }
            }
            let dtype = entry.dtype == .i64 ? "I64" : "F32"
            let shape = entry.tensor.shape.map(String.init).joined(separator: ",")
            fields.append(
                "\(jsonString(entry.name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(begin),\(body.count)]}")
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        header += [UInt8](repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + body.count)
        appendLittleEndian(UInt64(header.count), to: &out)
        return out + header + body
    }
}

/// Appends the little-endian bytes of `value`.
func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
}

/// `s` as a JSON string literal (quotes, backslashes and control characters escaped; RFC 8259 §7).
func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A short reason from a JSONDecoder error.
private func jsonReason(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): return "missing \"\(key.stringValue)\""
    case DecodingError.dataCorrupted(let context), DecodingError.typeMismatch(_, let context),
        DecodingError.valueNotFound(_, let context):
        let at = context.codingPath.map(\.stringValue).joined(separator: ".")
        return at.isEmpty ? context.debugDescription : "at \(at): \(context.debugDescription)"
    default: return "\(error)"
    }
}
