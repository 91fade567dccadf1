import FuzzSupport

@testable import Networks

// The PyTorch checkpoint readers on arbitrary bytes, through the format detection of `StateDict.decode`: the
// `torch.save` zip archive and the legacy (pre-1.6) pickles-then-records format (restricted unpickler, storage
// records, strided views), and safetensors when the bytes look like it.
runFuzzer { input in
    _ = try? StateDict.decode(input, path: "fuzz.pth")
}
