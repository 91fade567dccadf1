import Foundation
import Storage
import Tensors

/// A model's parameters and buffers by PyTorch name (`conv1.weight`, `bn1.running_mean`, `fc.bias`, ...),
/// in order, as Float32 tensors — the in-memory form of a checkpoint (PyTorch `Module.state_dict()`).
///
/// Each entry remembers the dtype it was stored with, so `bn1.num_batches_tracked` (an int64 scalar in
/// PyTorch) is written back as I64. `metadata` holds string facts about the checkpoint: the safetensors
/// `__metadata__` map, or the scalar fields next to the weights in a `.pth` (`epoch`, `best_acc`, ...).
public struct StateDict {
    /// The most elements one tensor may have (2^30, 4 GiB as Float32), checked before it is converted.
    public static let maximumTensorElements = 1 << 30
    /// The most Float32 elements all tensors of one checkpoint may have together: a quarter of the physical
    /// memory, so that narrow dtypes (U8, F16) widened to Float32 cannot exhaust it.
    public static var maximumTotalElements: Int { Int(ProcessInfo.processInfo.physicalMemory / 16) }

    /// One named tensor and the dtype it had in (or will have in) a file.
    public struct Entry {
        /// Dotted PyTorch key, e.g. `layer1.0.conv1.weight`.
        public var name: String
        /// The values as Float32, with the PyTorch shape (`[out, in, kH, kW]` for a conv weight).
        public var tensor: Tensor
        /// Element type in the file; `.i64` entries are saved as I64, all others as F32.
        public var dtype: DType

        /// An entry named `name` (a dotted PyTorch key) holding `tensor`, stored in files as `dtype`.
        public init(name: String, tensor: Tensor, dtype: DType = .f32) {
            self.name = name
            self.tensor = tensor
            self.dtype = dtype
        }
    }

    /// The entries in file (or model) order; names are unique.
    public private(set) var entries: [Entry] = []
    /// Position of each name in `entries`.
    private var index: [String: Int] = [:]
    /// String facts about the checkpoint (architecture, dataset, top-1, seed, command, epoch, ...).
    public var metadata: [String: String]

    /// A state dict from entries in order; a repeated name replaces the earlier tensor in its place
    /// (as assigning to a Python dict does).
    public init(_ entries: [Entry] = [], metadata: [String: String] = [:]) {
        self.metadata = metadata
        for entry in entries { self[entry.name, dtype: entry.dtype] = entry.tensor }
    }

    /// A state dict from `(name, tensor)` pairs in order, such as a model's `stateDict()`. Entries named
    /// `*num_batches_tracked` get dtype I64 (an int64 buffer in PyTorch's BatchNorm), all others F32.
    public init(namedTensors: [(String, Tensor)], metadata: [String: String] = [:]) {
        self.init(
            namedTensors.map { name, tensor in
                Entry(name: name, tensor: tensor, dtype: name.hasSuffix("num_batches_tracked") ? .i64 : .f32)
            }, metadata: metadata)
    }

    /// The `(name, tensor)` pairs in order, e.g. to copy into a model with `Model.load(_:strict:)`.
    public var namedTensors: [(String, Tensor)] { entries.map { ($0.name, $0.tensor) } }

    /// The entry names in order.
    public var names: [String] { entries.map(\.name) }
    /// Number of entries.
    public var count: Int { entries.count }

    /// The tensor named `name`, or nil. Setting replaces it in place (keeping its position and dtype
    /// unless a new one is given) or appends a new entry; setting nil removes it.
    public subscript(name: String, dtype dtype: DType? = nil) -> Tensor? {
        get { index[name].map { entries[$0].tensor } }
        set {
            switch (index[name], newValue) {
            case (let i?, let tensor?):
                entries[i].tensor = tensor
                if let dtype { entries[i].dtype = dtype }
            case (nil, let tensor?):
                index[name] = entries.count
                entries.append(Entry(name: name, tensor: tensor, dtype: dtype ?? .f32))
            case (let i?, nil):
                entries.remove(at: i)
                index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
            case (nil, nil): break
            }
        }
    }

    /// The dtype the entry `name` had in its file, or nil when there is no such entry.
    public func dtype(of name: String) -> DType? { index[name].map { entries[$0].dtype } }

    /// A copy with `prefix` removed from every key that starts with it (e.g. `module.` added by
    /// `nn.DataParallel`/`DistributedDataParallel`). Keys without the prefix are kept as they are.
    /// If both `module.x` and `x` exist, the later entry wins, in the earlier one's place.
    public func removingPrefix(_ prefix: String) -> StateDict {
        StateDict(
            entries.map { entry in
                var entry = entry
                if entry.name.hasPrefix(prefix) { entry.name.removeFirst(prefix.count) }
                return entry
            }, metadata: metadata)
    }

    // MARK: - Files

    /// Loads a checkpoint, detecting its format from its first bytes: a `torch.save` zip (`.pth`/`.pt`,
    /// PyTorch ≥ 1.6), a legacy `torch.save` file (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`:
    /// pickles starting with the magic number, `TorchLegacy`) or safetensors. A `module.` prefix (DataParallel)
    /// is removed from all keys.
    /// - Throws: `CheckpointError` naming `url.path` and the problem (unreadable, truncated, bad header,
    ///   offsets out of range, unsupported dtype, forbidden pickle global, ...).
    public static func load(contentsOf url: URL) throws -> StateDict {
        try decode(mappingStorageErrors { try readFile(url.path) }, path: url.path)
    }

    /// Parses checkpoint bytes (as `load(contentsOf:)`); `path` is only used in error messages.
    static func decode(_ data: Data, path: String) throws -> StateDict {
        try decode(data.withUnsafeBytes { [UInt8]($0) }, path: path)
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> StateDict {
        let state: StateDict
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {  // "PK\u{3}\u{4}": a zip
            state = try TorchCheckpoint.read(bytes, path: path)
        } else if bytes.count >= 9, bytes[8] == UInt8(ascii: "{") {  // before the pickle test: a header of
            state = try Safetensors.read(bytes, path: path)  // 0x..80 bytes also starts with 0x80
        } else if TorchLegacy.magicEnd(bytes) != nil {  // pre-1.6 torch.save: pickles + data
            state = try TorchLegacy.read(bytes, path: path)
        } else if TorchLegacy.isTar(bytes) {
            throw CheckpointError.unknownFormat(
                path: path,
                reason: "tar archive (the torch.save format of PyTorch"
                    + " < 0.4); load it with torch.load and re-save it with torch.save(obj, path)")
        } else if bytes.first == 0x80 {  // a pickle, but not torch.save's
            throw CheckpointError.unknownFormat(
                path: path,
                reason: "a pickle without torch.save's magic number"
                    + " (torch.save files are zip archives, or, before PyTorch 1.6, start with the magic number)")
        } else {
            throw CheckpointError.unknownFormat(
                path: path,
                reason: "neither a torch.save zip nor safetensors"
                    + " (\(bytes.count) bytes)")
        }
        return state.entries.contains { $0.name.hasPrefix("module.") } ? state.removingPrefix("module.") : state
    }

    /// Saves as safetensors (F32, and I64 for entries whose dtype is `.i64`) with `metadata` as
    /// `__metadata__`, atomically: a temporary file in the same folder is written, fsynced and renamed
    /// over `url`, so a failed save never damages an existing file.
    /// - Throws: `CheckpointError.writeFailed` naming the path and the OS reason (e.g. permission denied).
    public func save(to url: URL) throws {
        try mappingStorageErrors { try atomicWrite(Safetensors.encode(self), to: url.path) }
    }

    // MARK: - Strict loading

    /// Compares this checkpoint with what a model expects, like PyTorch's `load_state_dict(strict=True)`.
    /// - Parameters:
    ///   - expected: the model's `(name, shape)` pairs in order, e.g. `("fc.weight", [10, 64])`.
    ///   - modelName: used in the message, e.g. `resnet8`.
    /// - Throws: `CheckpointError.stateDictMismatch` listing, in one message, every missing key, every
    ///   unexpected key and every shape mismatch (with both shapes).
    public func check(against expected: [(String, [Int])], modelName: String) throws {
        let have = Dictionary(entries.map { ($0.name, $0.tensor.shape) }, uniquingKeysWith: { a, _ in a })
        let wanted = Set(expected.map(\.0))
        let missing = expected.map(\.0).filter { have[$0] == nil }
        let unexpected = names.filter { !wanted.contains($0) }
        let mismatched = expected.compactMap { name, shape -> (name: String, checkpoint: [Int], model: [Int])? in
            guard let found = have[name], found != shape else { return nil }
            return (name, found, shape)
        }
        if !missing.isEmpty || !unexpected.isEmpty || !mismatched.isEmpty {
            throw CheckpointError.stateDictMismatch(
                model: modelName, missing: missing, unexpected: unexpected,
                mismatched: mismatched)
        }
    }
}
