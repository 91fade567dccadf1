import FuzzSupport
@testable import Datasets

/// The CIFAR readers: the input as a CIFAR-10 and a CIFAR-100 binary file, and as a class-name file.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(data, count)
    _ = try? DatasetLoader.parseCIFAR(input, path: "data_batch_1.bin", labelBytes: 1, labelOffset: 0, classCount: 10)
    _ = try? DatasetLoader.parseCIFAR(input, path: "train.bin", labelBytes: 2, labelOffset: 1, classCount: 100)
    _ = try? DatasetLoader.parseClassNames(input, path: "batches.meta.txt", count: 10)
    return 0
}

runFuzzer(testOneInput)
