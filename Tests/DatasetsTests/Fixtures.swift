import CZlib
import Foundation
import TestSupport
import XCTest

@testable import Datasets

/// Writers of small data set files in the real on-disk formats, into a fresh temporary folder.
final class Fixtures {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "sskd-datasets-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// Writes `bytes` to `dir/name` (gzipped when `gzip`) and returns the path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) throws -> String {
        let path = dir + "/" + name
        if gzip {
            guard let file = gzopen(path, "wb") else { throw CocoaError(.fileWriteUnknown) }
            _ = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
            gzclose(file)
        } else {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        return path
    }

    /// Writes `dir/name`, a zip archive of `members` as `np.savez` (stored) or `np.savez_compressed` (`deflate`)
    /// write it, and returns the path.
    func npz(_ name: String, _ members: [(name: String, data: [UInt8])], deflate: Bool) throws -> String {
        try write(name, Fixtures.zip(members, deflate: deflate))
    }

    /// IDX bytes: magic `00 00 08 rank`, big-endian sizes, payload.
    static func idx(_ dims: [Int], _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0, 0, 8, UInt8(dims.count)]
        for d in dims { out += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        return out + payload
    }

    /// Images `[n, h, w]` whose pixel value encodes (sample, position): `(i * 7 + p) % 256`.
    static func pattern(n: Int, size: Int) -> [UInt8] {
        (0..<n * size).map { UInt8((($0 / size) * 7 + $0 % size) % 256) }
    }

    /// A `.npy` v1.0 file (`TestFiles.npy`).
    static func npy(descr: String, shape: [Int], _ data: [UInt8]) -> [UInt8] {
        TestFiles.npy(descr: descr, shape: shape, data)
    }

    /// Little-endian bytes of fixed-width values.
    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    }

    static func bytes(_ values: [Float]) -> [UInt8] { bytes(values.map(\.bitPattern)) }

    /// A zip archive (as NumPy's `savez`/`savez_compressed` write) of the given members (`TestFiles.zip`).
    static func zip(_ members: [(name: String, data: [UInt8])], deflate: Bool) -> [UInt8] {
        TestFiles.zip(members, deflate: deflate)
    }
}

/// Asserts that `body` throws a `DatasetError` for which `check` holds, and returns it.
@discardableResult
func assertDatasetError<T>(
    _ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line,
    _ check: (DatasetError) -> Bool
) -> DatasetError? {
    var caught: DatasetError?
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        caught = error as? DatasetError
        XCTAssertTrue(caught.map(check) ?? false, "unexpected error: \(error)", file: file, line: line)
    }
    return caught
}
