import Foundation

/// libFuzzer's entry point for a program with its own `main` (compiler-rt FuzzerInterface.h).
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The body of the running fuzz target, set once by `runFuzzer` before libFuzzer starts.
nonisolated(unsafe) private var fuzzBody: ([UInt8]) -> Void = { _ in }

/// libFuzzer's per-input callback (compiler-rt FuzzerInterface.h): runs the target's body on the input's bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    fuzzBody(bytes(data, count))
    return 0
}

/// Runs libFuzzer with the process arguments, calling `body` on each input's bytes, then exits with libFuzzer's
/// status. `body` must not throw or keep the input: it reads it with `try?` and drops every result.
///
/// SwiftPM links an executable's `main` to its Swift entry point (`--defsym main=<target>_main`), which
/// shadows libFuzzer's own `main`; each target's `main.swift` therefore calls this instead.
public func runFuzzer(_ body: @escaping ([UInt8]) -> Void) -> Never {
    fuzzBody = body
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}

/// The input as an array (empty for a null pointer).
public func bytes(_ data: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
    guard let data, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: count))
}

/// Splits an input into two files: the first two bytes (little-endian) give the length of the first part,
/// clamped to what is there; the rest is the second. `scripts/fuzz` seeds inputs in this layout.
public func split(_ input: [UInt8]) -> ([UInt8], [UInt8]) {
    guard input.count >= 2 else { return ([], []) }
    let n = min(Int(input[0]) | Int(input[1]) << 8, input.count - 2)
    return (Array(input[2..<(2 + n)]), Array(input[(2 + n)...]))
}
