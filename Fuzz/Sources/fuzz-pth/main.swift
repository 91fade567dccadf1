import FuzzSupport

@testable import Networks

/// The PyTorch checkpoint readers on arbitrary bytes, through the format detection of `StateDict.decode`: the
/// `torch.save` zip archive and the legacy (pre-1.6) pickles-then-records format (restricted unpickler, storage
/// records, strided views), and safetensors when the bytes look like it.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    _ = try? StateDict.decode(bytes(data, count), path: "fuzz.pth")
    return 0
}

runFuzzer(testOneInput)
