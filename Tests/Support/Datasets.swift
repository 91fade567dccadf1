import Foundation
import XCTest

/// Where Debian's dataset-fashion-mnist package puts Fashion-MNIST (the IDX files `DatasetLoader` reads).
public let fashionMNISTFolder = "/usr/share/datasets/fashion-mnist"

/// Skips the calling test, saying why, when dataset-fashion-mnist is not installed.
/// - Throws: `XCTSkip` when `fashionMNISTFolder` does not exist.
public func skipUnlessFashionMNIST(file: StaticString = #filePath, line: UInt = #line) throws {
    try XCTSkipUnless(
        FileManager.default.fileExists(atPath: fashionMNISTFolder), "dataset-fashion-mnist is not installed",
        file: file, line: line)
}

/// A new empty folder `prefix-UUID` under the temporary directory; the caller removes it.
/// - Throws: the file manager's error when the folder cannot be made.
public func makeTemporaryFolder(_ prefix: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}
