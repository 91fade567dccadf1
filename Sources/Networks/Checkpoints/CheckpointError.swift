import Tensors

/// Errors from reading, writing and checking checkpoints (safetensors, PyTorch `.pth`/`.pt`).
///
/// Every message names the file (or model) at fault and what is wrong with it, e.g.
/// `tiny.safetensors: tensor 'fc.weight': data_offsets [0, 40] hold 40 bytes, but F32 [3, 4] needs 48`.
/// The strict-loading report (`stateDictMismatch`) follows PyTorch's `Module.load_state_dict` wording.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read (missing, a folder, no permission); `reason` is the OS message.
    case unreadable(path: String, reason: String)
    /// The file ends before `needed` says it should (a cut-off download or copy).
    case truncated(path: String, needed: String)
    /// A safetensors header (length or JSON) that breaks the format spec.
    case badHeader(path: String, reason: String)
    /// A tensor whose bytes lie outside the data, overlap another tensor's, or do not match shape × dtype size.
    case badOffsets(path: String, tensor: String, reason: String)
    /// A tensor stored with an element type sskd cannot convert to Float32 (e.g. complex, float8).
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A `.pth` zip archive whose structure is broken (no central directory, bad member, CRC mismatch).
    case badArchive(path: String, reason: String)
    /// A legacy (pre-1.6, non-zip) `torch.save` file whose structure is broken (wrong magic number or protocol,
    /// malformed pickle, storage records missing, repeated, unreferenced or of the wrong size).
    case badLegacyFile(path: String, reason: String)
    /// A file that is neither safetensors nor a `torch.save` file (or a variant sskd does not read: tar, big-endian).
    case unknownFormat(path: String, reason: String)
    /// The pickle inside a `.pth` names a global that is not on the allow-list (it is never called).
    case forbiddenGlobal(path: String, name: String)
    /// The pickle holds an opcode the restricted unpickler does not know, at byte `offset` of `data.pkl`.
    case unknownOpcode(path: String, opcode: UInt8, offset: Int)
    /// The pickle is malformed (stack underflow, bad memo index, wrong argument types) at byte `offset`.
    case badPickle(path: String, offset: Int, reason: String)
    /// A tensor's size/stride/storage offset reach outside its storage.
    case badTensor(path: String, tensor: String, reason: String)
    /// The checkpoint loaded but holds no state dict (e.g. a pickled list, or a dict without tensors).
    case notAStateDict(path: String, reason: String)
    /// Saving failed; the previous file at `path` (if any) is unchanged. `reason` is the OS message.
    case writeFailed(path: String, reason: String)
    /// A checkpoint without architecture metadata was loaded without naming one.
    case missingArchitecture(path: String)
    /// A `__metadata__` value sskd reads (e.g. `frozen`) that does not have the form `CheckpointKey` documents.
    case badMetadata(path: String, key: String, reason: String)
    /// Strict loading found missing keys, unexpected keys or shape mismatches (see `StateDict.check`).
    case stateDictMismatch(
        model: String, missing: [String], unexpected: [String],
        mismatched: [(name: String, checkpoint: [Int], model: [Int])])

    /// The message shown to the user: file (or model), then the problem.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .truncated(let path, let needed): return "\(path): file is truncated: \(needed)"
        case .badHeader(let path, let reason): return "\(path): bad safetensors header: \(reason)"
        case .badOffsets(let path, let tensor, let reason): return "\(path): tensor '\(tensor)': \(reason)"
        case .unsupportedDType(let path, let tensor, let dtype):
            return "\(path): tensor '\(tensor)' has unsupported dtype \(dtype)"
                + " (sskd reads F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)"
        case .badArchive(let path, let reason): return "\(path): bad torch.save zip archive: \(reason)"
        case .badLegacyFile(let path, let reason): return "\(path): bad legacy torch.save file: \(reason)"
        case .unknownFormat(let path, let reason): return "\(path): not a checkpoint sskd can read: \(reason)"
        case .forbiddenGlobal(let path, let name):
            return "\(path): refusing to load: the pickle uses the global '\(name)', which is not allowed"
                + " (only tensors, storages and dicts are, as torch.load(weights_only=True))"
        case .unknownOpcode(let path, let opcode, let offset):
            return "\(path): unsupported pickle opcode 0x\(String(opcode, radix: 16)) at byte \(offset) of data.pkl"
        case .badPickle(let path, let offset, let reason):
            return "\(path): malformed pickle at byte \(offset) of data.pkl: \(reason)"
        case .badTensor(let path, let tensor, let reason): return "\(path): tensor '\(tensor)': \(reason)"
        case .notAStateDict(let path, let reason): return "\(path): no state dict found: \(reason)"
        case .missingArchitecture(let path):
            return "\(path): the checkpoint does not say its architecture; name it (e.g. arch=resnet20)"
        case .badMetadata(let path, let key, let reason): return "\(path): metadata '\(key)': \(reason)"
        case .writeFailed(let path, let reason):
            return "cannot save \(path): \(reason) (any previous file is unchanged)"
        case .stateDictMismatch(let model, let missing, let unexpected, let mismatched):
            var lines = ["Error(s) in loading state_dict for \(model):"]
            let quoted = { (keys: [String]) in keys.map { "\"\($0)\"" }.joined(separator: ", ") }
            if !missing.isEmpty { lines.append("\tMissing key(s) in state_dict: \(quoted(missing)).") }
            if !unexpected.isEmpty { lines.append("\tUnexpected key(s) in state_dict: \(quoted(unexpected)).") }
            for m in mismatched {
                lines.append(
                    "\tsize mismatch for \(m.name): copying a param with shape \(formatShape(m.checkpoint))"
                        + " from checkpoint, the shape in current model is \(formatShape(m.model)).")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Two errors are equal when their messages are (the mismatch lists hold tuples, which are not Equatable).
    public static func == (lhs: CheckpointError, rhs: CheckpointError) -> Bool {
        lhs.description == rhs.description
    }
}
