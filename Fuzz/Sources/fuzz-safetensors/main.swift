import FuzzSupport

@testable import Networks

/// The safetensors reader on arbitrary bytes: a state dict or a `CheckpointError`.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    _ = try? Safetensors.read(bytes(data, count), path: "fuzz.safetensors")
    return 0
}

runFuzzer(testOneInput)
