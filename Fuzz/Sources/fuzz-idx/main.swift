import FuzzSupport

@testable import Datasets

/// The IDX reader: an images file and a labels file (see `split`), each raw or gzipped, into a data set.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let (images, labels) = split(bytes(data, count))
    guard let imageBytes = try? FileBytes.decode(images, path: "images-idx3-ubyte"),
        let labelBytes = try? FileBytes.decode(labels, path: "labels-idx1-ubyte")
    else { return 0 }
    _ = try? DatasetLoader.idx(
        imageBytes: imageBytes, imagesPath: "images-idx3-ubyte", labelBytes: labelBytes,
        labelsPath: "labels-idx1-ubyte")
    return 0
}

runFuzzer(testOneInput)
