import XCTest

@testable import Datasets

/// `NumPyWriter.npy` writes NumPy format 1.0 exactly as `numpy.save` does (header dict text, spaces and `\n`
/// up to a multiple of 64 bytes, little-endian float32), and the package's own reader reads it back.
final class NumPyWriterTests: XCTestCase {
    func testHeaderIsNumpySaveByteForByte() {
        // numpy.save(f, np.array([[1.5, -2], [0, 3.25]], dtype='<f4')) writes this header, padded to 128 bytes.
        let bytes = NumPyWriter.npy(float32: [1.5, -2, 0, 3.25], shape: [2, 2])
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
        XCTAssertEqual(Array(bytes[0..<10]), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 118, 0])
        XCTAssertEqual(
            String(decoding: bytes[10..<128], as: UTF8.self),
            header + String(repeating: " ", count: 118 - header.count - 1) + "\n")
        XCTAssertEqual(Array(bytes[128...]), [0, 0, 0xC0, 0x3F, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x50, 0x40])
    }

    func testOneDimensionalAndEmptyShapesReadBack() throws {
        for (values, shape, dims) in [
            ([Float](repeating: 0.5, count: 7), [7], "(7,)"), ([], [0, 10], "(0, 10)"),
            ((0..<24).map(Float.init), [2, 3, 4], "(2, 3, 4)"),
        ] {
            let bytes = NumPyWriter.npy(float32: values, shape: shape)
            let start = 10 + (Int(bytes[8]) | Int(bytes[9]) << 8)
            XCTAssertEqual(start % 64, 0)
            XCTAssertEqual(bytes.count, start + 4 * values.count)
            XCTAssertTrue(String(decoding: bytes[10..<start], as: UTF8.self).contains("'shape': \(dims), }"))
            let array = try bytes.withUnsafeBytes { try NpyArray(parsing: $0, path: "x.npy") }
            XCTAssertEqual(array.shape, shape)
            XCTAssertEqual(array.descr, "<f4")
            guard case .floats(let read) = array.values else { return XCTFail("expected float32 values") }
            XCTAssertEqual(read, values)
        }
    }
}
