import Foundation
import Tensors

// A model and its checkpoint: sskd writes safetensors whose `__metadata__` carries the architecture and
// provenance, so `Model.load(contentsOf:)` needs no arguments for them; PyTorch checkpoints (.pth,
// safetensors from `safetensors.torch.save_file`) load into a zoo architecture the user names, with the
// input channels and class count read off the first convolution and the last linear weight.

/// Metadata keys sskd writes into a checkpoint's `__metadata__`.
public enum CheckpointKey {
    /// Zoo architecture (`resnet20`).
    public static let architecture = "arch"
    /// Input channels and classes, as decimal strings.
    public static let channels = "channels", classes = "classes"
    /// Hidden widths of `mlp`/`cnn`, comma-separated, and the `[H, W]` input size of `mlp`.
    public static let widths = "widths", inputSize = "input_size"
    /// Provenance: data set, measured test top-1 (%), seed, and the command that made it.
    public static let dataset = "dataset", top1 = "top1", seed = "seed", command = "command"
    /// Stage split points, comma-separated (`layer1,layer2,layer3`).
    public static let split = "split"
}

extension Model {
    /// Writes the model's state dict as safetensors (atomically) with the architecture and `metadata` in
    /// `__metadata__` (keys of `CheckpointKey` plus any others).
    /// - Throws: `CheckpointError.writeFailed` naming the path and the reason; the old file is kept.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        var meta = metadata
        meta[CheckpointKey.architecture] = architecture
        meta[CheckpointKey.split] = stages.map(\.name).joined(separator: ",")
        meta.merge(buildMetadata) { given, _ in given }
        try StateDict(namedTensors: stateDict(), metadata: meta).save(to: url)
    }

    /// Loads a checkpoint into a new model of its architecture.
    ///
    /// The architecture comes from `architecture` or the checkpoint's `arch` metadata; channels and classes from
    /// the arguments, the metadata, or the shapes of the first 4-D weight (`[Cout, Cin, k, k]`) and the last
    /// `*.weight` matrix (`[classes, features]`). The load is strict (`load_state_dict(strict=True)`).
    /// - Returns: the model and the checkpoint's metadata (provenance and, for `.pth`, scalars like `epoch`).
    /// - Throws: `CheckpointError` for unreadable files and when the architecture is unknown and not given,
    ///   `NetworkError.invalidConfiguration` when the architecture needs more parameters than the file holds
    ///   (checked before anything is allocated), `NetworkError.stateDictMismatch` listing missing/unexpected keys
    ///   and shape mismatches.
    public static func load(contentsOf url: URL, architecture: String? = nil, channels: Int? = nil, classes: Int? = nil,
                            widths: [Int]? = nil) throws -> (Model, [String: String]) {
        let dict = try StateDict.load(contentsOf: url)
        let meta = dict.metadata
        guard let arch = architecture ?? meta[CheckpointKey.architecture] else {
            throw CheckpointError.missingArchitecture(path: url.path)
        }
        let tensors = dict.namedTensors
        let firstConv = tensors.first { $0.1.rank == 4 }?.1.shape[1]
        let lastLinear = tensors.last { $0.0.hasSuffix(".weight") && $0.1.rank == 2 }?.1.shape[0]
        guard let c = channels ?? meta[CheckpointKey.channels].flatMap(Int.init) ?? firstConv,
              let k = classes ?? meta[CheckpointKey.classes].flatMap(Int.init) ?? lastLinear else {
            throw NetworkError.invalidConfiguration(architecture: arch, reason: "cannot tell the input channels and classes of \(url.path); give channels= and classes=")
        }
        let w = widths ?? meta[CheckpointKey.widths].map { $0.split(separator: ",").compactMap { Int($0) } }
        let size = meta[CheckpointKey.inputSize].map { $0.split(separator: ",").compactMap { Int($0) } }
        // Bounds before allocation: a strict load needs every parameter from the file, so an architecture far larger
        // than what the file holds is refused before it is built (a tiny file must not make us allocate gigabytes).
        // Near misses (up to 4x the file plus 1M values) are built, so the strict load can list the keys at fault.
        let stored = tensors.reduce(0.0) { $0 + Double($1.1.count) }
        let needed = try Zoo.parameterCount(arch, channels: c, classes: k, widths: w, inputSize: size)
        guard needed <= 4 * stored + 1_000_000 else {
            throw NetworkError.invalidConfiguration(architecture: arch, reason: "\(url.path) holds \(Int(stored)) values, but \(arch) with "
                + "channels \(c), classes \(k)\(w.map { ", widths \($0.map(String.init).joined(separator: ","))" } ?? "") has "
                + (needed < 9e18 ? "\(Int(needed))" : "too many") + " parameters; the file's metadata or the options given do not match its tensors")
        }
        let model = try Zoo.make(arch, channels: c, classes: k, widths: w, inputSize: size, initialize: false)
        try model.load(tensors, strict: true)
        if let points = meta[CheckpointKey.split], !points.isEmpty {
            try model.split(at: points.split(separator: ",").map(String.init))
        }
        return (model, meta)
    }

    /// Channels/classes/widths as construction metadata, read off the model's own tensors.
    var buildMetadata: [String: String] {
        let tensors = stateDict()
        var meta: [String: String] = [:]
        let matrices = tensors.filter { $0.0.hasSuffix(".weight") && $0.1.rank == 2 }
        if let conv = tensors.first(where: { $0.1.rank == 4 }) { meta[CheckpointKey.channels] = "\(conv.1.shape[1])" }
        if let fc = matrices.last { meta[CheckpointKey.classes] = "\(fc.1.shape[0])" }
        switch architecture {
        case "cnn":
            meta[CheckpointKey.widths] = tensors.filter { $0.1.rank == 4 }.map { "\($0.1.shape[0])" }.joined(separator: ",")
        case "mlp":
            // One input channel of C·H·W pixels builds the same parameter shapes and accepts any [N, C, H, W].
            meta[CheckpointKey.widths] = matrices.dropLast().map { "\($0.1.shape[0])" }.joined(separator: ",")
            meta[CheckpointKey.channels] = "1"
            meta[CheckpointKey.inputSize] = "\(matrices.first?.1.shape[1] ?? 1),1"
        default:
            break
        }
        return meta
    }
}
