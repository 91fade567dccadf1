import FuzzSupport

@testable import Networks

// The safetensors reader on arbitrary bytes: a state dict or a `CheckpointError`.
runFuzzer { input in
    _ = try? Safetensors.read(input, path: "fuzz.safetensors")
}
