import Foundation

/// libFuzzer's entry point for a program with its own `main` (compiler-rt FuzzerInterface.h).
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// Runs libFuzzer on `testOneInput` (the target's `LLVMFuzzerTestOneInput`) with the process arguments,
/// then exits with libFuzzer's status.
///
/// SwiftPM links an executable's `main` to its Swift entry point (`--defsym main=<target>_main`), which
/// shadows libFuzzer's own `main`; each target's `main.swift` therefore calls this instead.
public func runFuzzer(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
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
