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
    /// Frozen stages as a JSON list of 1-based stage numbers of the `split` (`[1, 2]`, `[]` when none), and
    /// whether the head is frozen (`true`/`false`). A frozen backbone is every stage listed.
    public static let frozen = "frozen", frozenHead = "frozen_head"
    /// The input normalisation the model was trained with: the `normalize=` choice in force (`computed`,
    /// `none`, `given` or a preset name) and its per-channel mean and std as JSON lists (`[0.286]`, `[0.353]`),
    /// in `[0, 1]` pixel units: `x' = (x / 255 - mean[c]) / std[c]`.
    public static let normalize = "normalize", normalizeMean = "normalize_mean", normalizeStd = "normalize_std"
    /// The images' `[C, H, W]` as a JSON list (`[1, 28, 28]`), and the class names as a JSON list of strings.
    public static let inputShape = "input_shape", classNames = "class_names"
    /// The version of sskd that wrote the file (`0.1.0`).
    public static let version = "sskd_version"
    /// The architecture's key in RepDistiller's `models/__init__.py` `model_dict` (`resnet8`, `wrn_40_2`, `vgg8`),
    /// written only for architectures whose parameter names RepDistiller's model shares.
    public static let repDistillerArchitecture = "repdistiller_arch"
}

/// JSON values inside safetensors metadata, whose values must all be strings (safetensors format spec:
/// `__metadata__` maps strings to strings): lists of numbers and lists of strings are written as JSON text.
public enum MetadataJSON {
    /// `[0.286, 0.353]`: each Float in its shortest round-trip form (JSON numbers).
    public static func numbers(_ values: [Float]) -> String {
        "[" + values.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ", ") + "]"
    }

    /// `[1, 2]`.
    public static func integers(_ values: [Int]) -> String {
        "[" + values.map(String.init).joined(separator: ", ") + "]"
    }

    /// `["T-shirt/top", "Trouser"]`, escaped as JSON requires.
    public static func strings(_ values: [String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        guard let data = try? encoder.encode(values), let text = String(data: data, encoding: .utf8) else {
            return "[]"
        }
        return text
    }

    /// The finite numbers of a JSON list (`"[0.286]"`), or nil when `text` is not a list of at most `limit` finite
    /// numbers. `text` comes from files and may be anything.
    public static func parseNumbers(_ text: String?, limit: Int = 100_000) -> [Double]? {
        guard let text, text.utf8.count <= 64 * limit + 2, let data = text.data(using: .utf8),
            let values = try? JSONDecoder().decode([Double].self, from: data), values.count <= limit,
            values.allSatisfy(\.isFinite)
        else { return nil }
        return values
    }

    /// The whole numbers of a JSON list (`"[1, 2]"`), or nil when `text` is not such a list of at most `limit`.
    public static func parseIntegers(_ text: String?, limit: Int = 100_000) -> [Int]? {
        guard let values = parseNumbers(text, limit: limit),
            values.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e15 })
        else { return nil }
        return values.map { Int($0) }
    }

    /// The strings of a JSON list (`"[\"a\", \"b\"]"`), or nil when `text` is not a list of at most `limit` strings.
    public static func parseStrings(_ text: String?, limit: Int = 100_000) -> [String]? {
        guard let text, let data = text.data(using: .utf8),
            let values = try? JSONDecoder().decode([String].self, from: data), values.count <= limit
        else {
            return nil
        }
        return values
    }
}

extension Model {
    /// Writes the model's state dict as safetensors (atomically) with the architecture and `metadata` in
    /// `__metadata__` (keys of `CheckpointKey` plus any others). The model's own facts replace any given under
    /// the same keys: `arch`, `split`, `frozen`, `frozen_head` and `repdistiller_arch` (removed for architectures
    /// RepDistiller does not have). The tensors are exactly `stateDict()`, so PyTorch's
    /// `load_state_dict(strict=True)` accepts the file for the same architecture.
    /// - Throws: `CheckpointError.writeFailed` naming the path and the reason; the old file is kept.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        var meta = metadata
        meta[CheckpointKey.architecture] = architecture
        meta[CheckpointKey.split] = stages.map(\.name).joined(separator: ",")
        meta[CheckpointKey.frozen] = MetadataJSON.integers(stages.indices.filter { stages[$0].isFrozen }.map { $0 + 1 })
        meta[CheckpointKey.frozenHead] = head.isFrozen ? "true" : "false"
        meta[CheckpointKey.repDistillerArchitecture] = Zoo.repDistillerName(architecture)
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
    public static func load(
        contentsOf url: URL, architecture: String? = nil, channels: Int? = nil, classes: Int? = nil,
        widths: [Int]? = nil
    ) throws -> (Model, [String: String]) {
        let dict = try StateDict.load(contentsOf: url)
        let meta = dict.metadata
        guard let arch = architecture ?? meta[CheckpointKey.architecture] else {
            throw CheckpointError.missingArchitecture(path: url.path)
        }
        // Architecture names are short; a long one from a file is refused before any lookup or comparison works
        // through it (60 MB of combining marks took a minute).
        guard arch.utf8.count <= 256 else {
            throw CheckpointError.badMetadata(
                path: url.path, key: CheckpointKey.architecture,
                reason: "\(arch.utf8.count) bytes, more than an architecture name's 256")
        }
        let tensors = dict.namedTensors
        let firstConv = tensors.first { $0.1.rank == 4 }?.1.shape[1]
        let lastLinear = tensors.last { $0.0.hasSuffix(".weight") && $0.1.rank == 2 }?.1.shape[0]
        guard let c = channels ?? meta[CheckpointKey.channels].flatMap(Int.init) ?? firstConv,
            let k = classes ?? meta[CheckpointKey.classes].flatMap(Int.init) ?? lastLinear
        else {
            throw NetworkError.invalidConfiguration(
                architecture: arch,
                reason: "cannot tell the input channels and classes of \(url.path); give channels= and classes=")
        }
        let w = widths ?? meta[CheckpointKey.widths].map { $0.split(separator: ",").compactMap { Int($0) } }
        let size = meta[CheckpointKey.inputSize].map { $0.split(separator: ",").compactMap { Int($0) } }
        // Bounds before allocation: a strict load needs every parameter from the file, so an architecture far larger
        // than what the file holds is refused before it is built (a tiny file must not make us allocate gigabytes).
        // Near misses (up to 4x the file plus 1M values) are built, so the strict load can list the keys at fault.
        let stored = tensors.reduce(0.0) { $0 + Double($1.1.count) }
        let needed = try Zoo.parameterCount(arch, channels: c, classes: k, widths: w, inputSize: size)
        guard needed <= 4 * stored + 1_000_000 else {
            throw NetworkError.invalidConfiguration(
                architecture: arch,
                reason: "\(url.path) holds \(Int(stored)) values, but \(arch) with "
                    + "channels \(c), classes "
                    + "\(k)\(w.map { ", widths \($0.map(String.init).joined(separator: ","))" } ?? "") has "
                    + (needed < 9e18 ? "\(Int(needed))" : "too many")
                    + " parameters; the file's metadata or the options given do not match its tensors")
        }
        let model = try Zoo.make(arch, channels: c, classes: k, widths: w, inputSize: size, initialize: false)
        do {
            try model.load(tensors, strict: true)
        } catch NetworkError.invalidValues(let arch, let key, let reason) {
            throw NetworkError.invalidValues(model: "\(arch) from \(url.path)", key: key, reason: reason)
        }
        if let points = meta[CheckpointKey.split], !points.isEmpty {
            try model.split(at: points.split(separator: ",").map(String.init))
        }
        try model.restoreFreezing(meta, path: url.path)
        return (model, meta)
    }

    /// Freezes what the `frozen` and `frozen_head` metadata say (after the `split` is restored); files without
    /// them leave everything trainable.
    /// - Throws: `CheckpointError.badMetadata` for a `frozen` that is not a JSON list of stage numbers in
    ///   `1...stages.count`, or a `frozen_head` other than `true`/`false`.
    func restoreFreezing(_ meta: [String: String], path: String) throws {
        if let text = meta[CheckpointKey.frozen] {
            let n = stages.count
            // A stage named twice is frozen once; the list may not be longer than a few times the stages.
            guard let list = MetadataJSON.parseIntegers(text, limit: 4 * max(n, 1)),
                list.allSatisfy({ (1...n).contains($0) })
            else {
                throw CheckpointError.badMetadata(
                    path: path, key: CheckpointKey.frozen,
                    reason: "expected a JSON list of stage numbers in 1...\(n), e.g. [1, 2]")
            }
            for k in Set(list).sorted() { try freeze(.stage(k - 1)) }
        }
        switch meta[CheckpointKey.frozenHead] {
        case nil, "false": break
        case "true": try freeze(.head)
        default:
            throw CheckpointError.badMetadata(
                path: path, key: CheckpointKey.frozenHead, reason: "expected true or false")
        }
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
            meta[CheckpointKey.widths] = tensors.filter { $0.1.rank == 4 }.map { "\($0.1.shape[0])" }.joined(
                separator: ",")
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
