import Foundation
import Tensors
import XCTest

@testable import Networks

/// Safetensors reading and writing: round trips, dtype handling, and every header validation error.
final class CheckpointSafetensorsTests: XCTestCase {
    static func sample() -> StateDict {
        StateDict(
            [
                .init(name: "conv1.weight", tensor: Tensor(shape: [2, 1, 1, 2], data: [0.5, -1.25, 3e-8, 1e30])),
                .init(name: "bn1.num_batches_tracked", tensor: Tensor(shape: [], data: [4097]), dtype: .i64),
                .init(name: "fc.bias", tensor: Tensor(shape: [3], data: [.infinity, -0.0, 7])),
                .init(name: "empty", tensor: Tensor(shape: [0, 4], data: [])),
            ], metadata: ["arch": "resnet8", "command": "train \"teacher\" \\ lr=0.1\n", "top1": "93.12", "seed": "7"])
    }

    /// A safetensors file from a header string and a data buffer.
    static func file(_ header: String, _ body: [UInt8] = []) -> Data {
        var bytes: [UInt8] = []
        appendLittleEndian(UInt64(header.utf8.count), to: &bytes)
        return Data(bytes + Array(header.utf8) + body)
    }

    /// Asserts that decoding `data` throws a `CheckpointError` whose message is `message` (or starts with
    /// it, for messages that end with Foundation's platform-dependent JSON error text).
    func assertError(
        _ data: Data, _ message: String, prefix: Bool = false, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try StateDict.decode(data, path: "t.safetensors"), file: file, line: line) { error in
            XCTAssertTrue(error is CheckpointError, file: file, line: line)
            if prefix {
                XCTAssertTrue("\(error)".hasPrefix(message), "\(error)", file: file, line: line)
            } else {
                XCTAssertEqual("\(error)", message, file: file, line: line)
            }
        }
    }

    func testRoundTripKeepsOrderValuesShapesDTypesAndMetadata() throws {
        let state = Self.sample()
        let bytes = Safetensors.encode(state)
        let header = Int(bytes[0]) | Int(bytes[1]) << 8
        XCTAssertEqual(header % 8, 0, "header is padded to 8 bytes")
        XCTAssertEqual(bytes.count, 8 + header + 4 * 4 + 8 + 3 * 4)
        let back = try StateDict.decode(Data(bytes), path: "x")
        XCTAssertEqual(back.names, state.names)
        XCTAssertEqual(back.metadata, state.metadata)
        for entry in state.entries {
            XCTAssertEqual(back[entry.name]?.shape, entry.tensor.shape)
            XCTAssertEqual(back[entry.name]?.data.map(\.bitPattern), entry.tensor.data.map(\.bitPattern))
        }
        XCTAssertEqual(back.dtype(of: "bn1.num_batches_tracked"), .i64)
        XCTAssertEqual(back.dtype(of: "fc.bias"), .f32)
    }

    func testWrittenHeaderIsTheSpecJSON() throws {
        let state = StateDict([.init(name: "a", tensor: Tensor(shape: [1, 2], data: [1, 2]))], metadata: ["k": "v"])
        let bytes = Safetensors.encode(state)
        let json = String(decoding: bytes[8...].prefix(Int(bytes[0])), as: UTF8.self)
        XCTAssertEqual(
            json, #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}"# + "       ")
        XCTAssertEqual(Array(bytes.suffix(8)), [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40])
    }

    func testSaveAndLoadThroughAFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-ckpt-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("teacher.safetensors")
        try Self.sample().save(to: url)
        try Self.sample().save(to: url)  // overwriting works too
        let back = try StateDict.load(contentsOf: url)
        XCTAssertEqual(back["conv1.weight"]?.data, [0.5, -1.25, 3e-8, 1e30])
        XCTAssertEqual(back.metadata["arch"], "resnet8")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["teacher.safetensors"])
    }

    func testHeaderErrors() {
        assertError(
            Self.file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", [0, 0]),
            "t.safetensors: tensor 'a': data_offsets [0, 4] reach past the end of the data (2 bytes)")
        assertError(
            Self.file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", [0, 0, 0, 0]),
            "t.safetensors: tensor 'a': data_offsets [0, 4] hold 4 bytes, but F32 [2] needs 8")
        assertError(
            Self.file(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", [UInt8](repeating: 0, count: 8)),
            "t.safetensors: tensor 'a': data_offsets [4, 8] leave a hole after byte 0 of the data")
        assertError(
            Self.file(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", [UInt8](repeating: 0, count: 6)
            ),
            "t.safetensors: tensor 'b': data_offsets [2, 6] overlap the previous tensor")
        assertError(
            Self.file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", [0, 0, 0, 0]),
            "t.safetensors: tensor 'a': negative size in shape [-1]")
        assertError(
            Self.file(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", [0, 0, 0, 0]),
            "t.safetensors: tensor 'a': invalid data_offsets [0, 4] for shape [4611686018427387904, 4]")
        assertError(
            Self.file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", [0, 0, 0, 0, 9]),
            "t.safetensors: bad safetensors header: tensors cover 4 of the 5 data bytes")
        assertError(
            Self.file(
                "{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", [UInt8](repeating: 0, count: 8)),
            "t.safetensors: tensor 'a' has unsupported dtype C64 (sskd reads F32, F16, BF16, F64, I64, I32, I16, I8, "
                + "U8, BOOL)"
        )
        assertError(
            Self.file("{\"__metadata__\":{\"epoch\":3}}"),
            "t.safetensors: bad safetensors header: __metadata__ must map strings to strings")
        assertError(
            Self.file("{\"a\":{\"dtype\":\"F32\"}}"), "t.safetensors: bad safetensors header: entry 'a' is not a tensor"
        )
        assertError(
            Self.file("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,0]}}"),
            "t.safetensors: bad safetensors header: entry 'a' is not a tensor (missing \"shape\")")
        assertError(
            Self.file("{\"a\": [1, 2"), "t.safetensors: bad safetensors header: not a JSON object of tensor entries (",
            prefix: true)
    }

    func testHeaderLengthIsCheckedAgainstTheFileBeforeAllocating() {
        var huge = Self.file("{}")
        huge.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 0, 0, 0x7F])
        huge[8] = UInt8(ascii: "{")
        assertError(
            huge, "t.safetensors: bad safetensors header: header length 9151314442816847872 exceeds the 100 MB limit")
        var long = Self.file("{}      ")
        long[0] = 200
        assertError(long, "t.safetensors: file is truncated: header of 200 bytes, but the file has 16 bytes")
    }

    func testDTypeConversions() {
        let halves: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0x7C00, 0xFC00, 0x8000]
        XCTAssertEqual(halves.map(halfToFloat), [1, -2, 65504, 0x1p-24, 0x1p-14, .infinity, -.infinity, -0.0])
        XCTAssertTrue(halfToFloat(0x7E00).isNaN)
        let bytes: [UInt8] = [0x80, 0x3F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]
        bytes.withUnsafeBytes { raw in
            XCTAssertEqual(DType.bf16.decode(raw, offset: 0, count: 1), [1])
            XCTAssertEqual(DType.i64.decode(raw, offset: 2, count: 1), [Float(Int64.max)])
            XCTAssertEqual(DType.u8.decode(raw, offset: 0, count: 3), [128, 63, 255])
            XCTAssertEqual(DType.i8.decode(raw, offset: 0, count: 2), [-128, 63])
            XCTAssertEqual(DType.bool.decode(raw, offset: 0, count: 1), [1])
            XCTAssertEqual(DType.i16.decode(raw, offset: 8, count: 1), [32767])
        }
    }
}
