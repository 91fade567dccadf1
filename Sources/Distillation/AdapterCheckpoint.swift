import Foundation
import Networks
import Tensors

/// The mimic adapters of a student (`FeatureAlignment` per stage) in a sidecar safetensors file next to its
/// checkpoint, `FILE.adapters.safetensors` for `FILE.safetensors`. Adapters are not part of the model: kept in the
/// main file they would make PyTorch's `load_state_dict(strict=True)` refuse it for unexpected keys.
///
/// Tensors: `stage{k}.adapter.conv.weight` `[Ct, Cs, 1, 1]`, `stage{k}.adapter.bn.weight`, `.bn.bias`,
/// `.bn.running_mean`, `.bn.running_var` `[Ct]` and `.bn.num_batches_tracked` `[]` (I64), k the 1-based stage.
/// Metadata (safetensors `__metadata__`, all strings): `sskd_adapters_for` (the main file's name), `arch` and
/// `split` (the student's, to check the sidecar against it), `stages` (JSON list of the 1-based stages that have an
/// alignment) and `stage{k}.pool_to` (`H,W`, when the stage's maps are average-pooled to that size).
public enum AdapterCheckpoint {
    /// Metadata keys of the sidecar.
    public enum Key {
        /// The main checkpoint's file name (`student.safetensors`).
        public static let mainFile = "sskd_adapters_for"
        /// JSON list of the 1-based stages with an alignment (`[1, 2]`).
        public static let stages = "stages"
        /// `stage{k}.pool_to`: `H,W` both maps are pooled to at stage k.
        public static func poolTo(_ stage: Int) -> String { "stage\(stage).pool_to" }
    }

    /// `FILE.adapters.safetensors` for `FILE.safetensors` (any other name gets `.adapters.safetensors` appended).
    public static func url(for main: URL) -> URL {
        let name = main.lastPathComponent
        let base = name.hasSuffix(".safetensors") ? String(name.dropLast(".safetensors".count)) : name
        return main.deletingLastPathComponent().appendingPathComponent(base + ".adapters.safetensors")
    }

    /// Writes the sidecar of the checkpoint at `main` for `alignments` (0-based stage → alignment) of `model`,
    /// atomically (as `StateDict.save`). Alignments that neither adapt nor pool are left out; when none is left, an
    /// existing sidecar is removed instead, so a stale one is never read back with the new checkpoint.
    /// - Returns: the 1-based stages written (empty when there is no sidecar).
    /// - Throws: `CheckpointError.writeFailed` naming the sidecar's path and the reason (the old file is kept).
    @discardableResult
    public static func save(_ alignments: [Int: FeatureAlignment], of model: Model, for main: URL) throws -> [Int] {
        let target = url(for: main)
        let kept = alignments.filter { $0.value.adapter != nil || $0.value.poolTo != nil }.sorted { $0.key < $1.key }
        guard !kept.isEmpty else {
            // Only a regular file sskd could have written is removed; a folder, a link, a FIFO or a read-only file
            // of that name is left as it is (it cannot be a sidecar sskd would read back).
            var info = stat()
            if lstat(target.path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o222 != 0 {
                do { try FileManager.default.removeItem(at: target) } catch {
                    let reason = "cannot remove the stale adapters file: \(error.localizedDescription)"
                    throw CheckpointError.writeFailed(path: target.path, reason: reason)
                }
            }
            return []
        }
        var meta = [
            Key.mainFile: main.lastPathComponent, CheckpointKey.architecture: model.architecture,
            CheckpointKey.split: model.stages.map(\.name).joined(separator: ","),
            Key.stages: MetadataJSON.integers(kept.map { $0.key + 1 }),
        ]
        var tensors: [(String, Tensor)] = []
        for (k, alignment) in kept {
            if let p = alignment.poolTo { meta[Key.poolTo(k + 1)] = "\(p.h),\(p.w)" }
            if let adapter = alignment.adapter {
                tensors += adapter.stateDict().map { ("stage\(k + 1).adapter.\($0.0)", $0.1) }
            }
        }
        try StateDict(namedTensors: tensors, metadata: meta).save(to: target)
        return kept.map { $0.key + 1 }
    }

    /// Reads the sidecar of the checkpoint at `main`, checked against `model` (the student loaded from `main`).
    /// - Returns: nil when there is no sidecar, else the alignments per 0-based stage.
    /// - Throws: `CheckpointError` for an unreadable file, `.badMetadata` when it names another main file, another
    ///   architecture or split, or stages outside the model's, `.stateDictMismatch` when a stage's tensors are missing,
    ///   extra or of inconsistent shapes. Callers that treat the sidecar as optional report these as warnings.
    public static func load(for main: URL, model: Model) throws -> [Int: FeatureAlignment]? {
        let target = url(for: main)
        guard FileManager.default.fileExists(atPath: target.path) else { return nil }
        let dict = try StateDict.load(contentsOf: target)
        let meta = dict.metadata
        let path = target.path
        func expect(_ key: String, _ value: String) throws {
            guard meta[key] == value else {
                throw CheckpointError.badMetadata(
                    path: path, key: key,
                    reason: "the adapters are for "
                        + (meta[key].map { "'\($0.prefix(200))'" } ?? "an unnamed value") + ", not '\(value)'")
            }
        }
        try expect(Key.mainFile, main.lastPathComponent)
        try expect(CheckpointKey.architecture, model.architecture)
        try expect(CheckpointKey.split, model.stages.map(\.name).joined(separator: ","))
        let n = model.stages.count
        guard let stages = MetadataJSON.parseIntegers(meta[Key.stages], limit: n),
            stages.allSatisfy({ (1...n).contains($0) }), Set(stages).count == stages.count
        else {
            throw CheckpointError.badMetadata(
                path: path, key: Key.stages,
                reason: "expected a JSON list of distinct stage numbers in 1...\(n)")
        }
        var alignments: [Int: FeatureAlignment] = [:]
        var expected: [(String, [Int])] = []
        for k in stages {
            var alignment = FeatureAlignment()
            if let text = meta[Key.poolTo(k)] {
                let size = text.split(separator: ",").compactMap { Int($0) }
                guard size.count == 2, size.allSatisfy({ (1...(1 << 20)).contains($0) }) else {
                    throw CheckpointError.badMetadata(
                        path: path, key: Key.poolTo(k),
                        reason: "expected H,W with sizes in 1...1048576")
                }
                alignment.poolTo = (size[0], size[1])
            }
            let prefix = "stage\(k).adapter."
            if let weight = dict[prefix + "conv.weight"] {
                let s = weight.shape
                let channels = 1...65_536
                guard s.count == 4, s[2] == 1, s[3] == 1, channels.contains(s[0]), channels.contains(s[1]) else {
                    throw CheckpointError.badMetadata(
                        path: path, key: prefix + "conv.weight",
                        reason: "shape \(formatShape(s)) is not [Ct, Cs, 1, 1]")
                }
                // The adapter maps the student's stage-k features: its input channels are that stage's output's.
                let stage = model.stages[k - 1]
                let produced = model.namedParameters().last { name, t in
                    t.rank >= 2 && stage.modules.contains { name.hasPrefix($0 + ".") }
                }?.1.shape[0]
                if let produced, produced != s[1] {
                    throw CheckpointError.badMetadata(
                        path: path, key: prefix + "conv.weight",
                        reason: "shape \(formatShape(s)) takes \(s[1]) channels, but "
                            + "stage \(k) of the model gives \(produced)")
                }
                let adapter = Adapter(from: s[1], to: s[0], seed: 0)
                let own = adapter.stateDict()
                expected += own.map { (prefix + $0.0, $0.1.shape) }
                for (name, tensor) in own {
                    // A missing or misshapen tensor is reported by the check below.
                    guard let stored = dict[prefix + name], stored.shape == tensor.shape else { continue }
                    tensor.data = stored.data
                }
                alignment.adapter = adapter
            }
            alignments[k - 1] = alignment
        }
        // Every stage's tensors present with the shapes its conv weight implies, and none of unlisted stages.
        try dict.check(against: expected, modelName: "adapters")
        return alignments
    }
}
