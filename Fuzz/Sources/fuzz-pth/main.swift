import FuzzSupport
@testable import Networks

/// The `torch.save` reader (zip archive, restricted unpickler, storages and strided views) on arbitrary bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    _ = try? TorchCheckpoint.read(bytes(data, count), path: "fuzz.pth")
    return 0
}

runFuzzer(testOneInput)
