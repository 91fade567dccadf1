import Storage

/// PyTorch checkpoints in the legacy `torch.save` format, written before PyTorch 1.6 (and since then with
/// `_use_new_zipfile_serialization=False`): RepDistiller's published teachers (`ckpt_epoch_240.pth`), for one.
/// The layout, from torch/serialization.py `_legacy_save` / `_legacy_load`, is consecutive pickles then raw data:
///
/// 1. the magic number `0x1950a86a20f9469cfc6c` (a pickled int),
/// 2. the protocol version `1001`,
/// 3. `sys_info`: `{'protocol_version': 1001, 'little_endian': True, 'type_sizes': {'short', 'int', 'long'}}`,
/// 4. the object (a state dict, or `{'model': sd, 'epoch': .., ...}`) whose persistent ids are
///    `('storage', torch.FloatStorage, root_key, location, numel, view_metadata)`,
/// 5. the list of the storage keys written (sorted by `torch.save`),
/// 6. for each key in that order: its element count (int64, little-endian) and `count × element size` bytes.
///
/// Tensors are rebuilt with `torch._utils._rebuild_tensor_v2` (or `_rebuild_tensor`) as in the zip format, by the
/// same restricted unpickler (`TorchPickle`). Everything is bounded before use: every count must equal the numel
/// of its persistent id and fit in the bytes left, every key must be written once and referenced, and nothing may
/// follow the last storage. Big-endian files and the older tar format (PyTorch < 0.4) are refused.
enum TorchLegacy {
    /// `torch.serialization.MAGIC_NUMBER` as the 10-byte little-endian two's complement of pickle's `LONG1`.
    static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    /// `torch.serialization.PROTOCOL_VERSION` of the legacy format.
    static let protocolVersion = 1001

    /// Where the pickle after the magic number starts, or nil when `bytes` does not begin with the magic number
    /// pickled at protocol 2–5 (`\x80\x02\x8a\x0a<magic>.`; protocols 4 and 5 put an 8-byte `FRAME` first).
    static func magicEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2, bytes[0] == 0x80, (2...5).contains(bytes[1]) else { return nil }
        var at = 2
        if bytes.count > at, bytes[at] == 0x95 { at += 9 }  // FRAME + 8-byte length
        let expected = [0x8A, 0x0A] + magic + [UInt8(ascii: ".")]  // LONG1 10 bytes, STOP
        guard bytes.count >= at + expected.count, Array(bytes[at..<(at + expected.count)]) == expected else {
            return nil
        }
        return at + expected.count
    }

    /// Whether `bytes` is a tar archive (POSIX `ustar` magic at byte 257): the `torch.save` format of PyTorch < 0.4.
    static func isTar(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 262 && Array(bytes[257..<262]) == Array("ustar".utf8)
    }

    /// Reads a legacy `torch.save` file's bytes into a `StateDict`, as the zip format's reader does.
    /// - Throws: `CheckpointError.badLegacyFile` (wrong magic/protocol, malformed pickle, storage keys missing,
    ///   repeated, unreferenced or with counts other than their persistent ids', unknown storage types, bytes after
    ///   the last storage), `.truncated` (data cut short), `.unknownFormat` (big-endian), `.forbiddenGlobal`,
    ///   and those of the zip reader for tensors (`.badTensor`, `.unsupportedDType`, `.notAStateDict`).
    static func read(_ bytes: [UInt8], path: String) throws -> StateDict {
        guard let afterMagic = magicEnd(bytes) else {
            throw CheckpointError.badLegacyFile(path: path, reason: "it does not start with torch.save's magic number")
        }
        let fail = { (reason: String) in CheckpointError.badLegacyFile(path: path, reason: reason) }

        let (version, _, afterVersion) = try plain(bytes, from: afterMagic, path: path, name: "protocol version")
        guard version == .int(protocolVersion) else {
            throw fail("protocol version is not \(protocolVersion) (the only one torch.save wrote)")
        }
        let (info, infoHeap, afterInfo) = try plain(bytes, from: afterVersion, path: path, name: "sys_info")
        guard case .dict(let infoIndex) = info else { throw fail("sys_info is not a dict") }
        switch infoHeap.dicts[infoIndex]["little_endian"] {
        case .bool(true)?: break
        case .bool(false)?:
            throw CheckpointError.unknownFormat(
                path: path,
                reason: "big-endian legacy torch.save files are not"
                    + " supported; load and re-save it with torch.save on a little-endian machine")
        default: throw fail("sys_info has no little_endian flag")
        }

        let root: PickleValue
        let heap: PickleHeap<TorchObject>
        let afterObject: Int
        do {
            (root, heap, afterObject) = try TorchPickle.load(bytes, from: afterInfo, path: path)
        } catch let error as PickleError {
            throw checkpointError(error, pickle: "the saved object")
        }
        let (keyList, keyHeap, afterKeys) = try plain(bytes, from: afterObject, path: path, name: "storage keys")
        guard let keyValues = keyHeap.sequence(keyList), case .list = keyList else {
            throw fail("the storage keys are not a list")
        }

        // Every storage the object references, by root key: one type and one size per key.
        var referenced: [String: TorchStorage] = [:]
        for case .storage(let storage) in heap.objects {
            if let seen = referenced[storage.key] {
                guard seen.typeName == storage.typeName, seen.rootCount == storage.rootCount else {
                    throw fail(
                        "storage \(quoted(storage.key)) is referenced as \(quoted(seen.typeName))"
                            + " of \(seen.rootCount) and as \(quoted(storage.typeName))"
                            + " of \(storage.rootCount) elements")
                }
            } else {
                referenced[storage.key] = storage
            }
        }

        // The records after the pickles: int64 count, then count × element size bytes, in the list's order.
        var records: [String: Int] = [:]  // key -> offset of its data
        var at = afterKeys
        for value in keyValues {
            guard let key = text(value) else { throw fail("a storage key is not a string") }
            guard let storage = referenced[key] else {
                throw fail("storage \(quoted(key)) is written but the saved object never references it")
            }
            guard records[key] == nil else { throw fail("storage \(quoted(key)) is written twice") }
            guard let size = elementSize[String(storage.typeName.dropFirst("torch.".count))],
                storage.typeName.hasPrefix("torch.")
            else {
                throw fail(
                    "storage \(quoted(key)) has the unknown type \(quoted(storage.typeName)), whose element"
                        + " size (so where the next storage starts) sskd does not know")
            }
            guard bytes.count - at >= 8 else {
                throw CheckpointError.truncated(
                    path: path,
                    needed: "the element count of storage \(quoted(key))"
                        + " needs 8 bytes at byte \(at), the file has \(bytes.count)")
            }
            let count = bytes[at..<(at + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            at += 8
            guard count <= UInt64((bytes.count - at) / size) else {
                throw CheckpointError.truncated(
                    path: path,
                    needed: "storage \(quoted(key)) says \(count) elements"
                        + " of \(size) bytes at byte \(at), \(bytes.count - at) bytes are left")
            }
            guard count == UInt64(storage.rootCount) else {
                throw fail(
                    "storage \(quoted(key)) holds \(count) elements, its persistent id says"
                        + " \(storage.rootCount)")
            }
            records[key] = at
            at += storage.rootCount * size
        }
        if let missing = referenced.keys.sorted().first(where: { records[$0] == nil }) {
            throw fail("storage \(quoted(missing)) is referenced but its data is never written")
        }
        guard at == bytes.count else {
            throw fail("\(bytes.count - at) bytes follow the last storage (at byte \(at))")
        }

        let storages = StorageReader(path: path) { storage, dtype, _ in
            guard let offset = records[storage.key] else {  // checked above; a dtype-less refusal otherwise
                throw fail("storage \(quoted(storage.key)) is never written")
            }
            return bytes.withUnsafeBytes { dtype.decode($0, offset: offset, count: storage.rootCount) }
        }
        return try TorchCheckpoint.stateDict(root, heap, storages: storages, path: path)
    }

    /// Bytes per element of the typed storage classes `torch.save` writes (`torch/storage.py`
    /// `_dtype_to_storage_type_map`), including those sskd cannot convert, so their data can be stepped over.
    static let elementSize: [String: Int] = [
        "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
        "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
        "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8, "QUInt8Storage": 1, "QInt8Storage": 1,
        "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
    ]

    /// One of the plain-data pickles (protocol version, sys_info, storage keys) starting at `start`.
    private static func plain(
        _ bytes: [UInt8], from start: Int, path: String,
        name: String
    ) throws -> (PickleValue, PickleHeap<Never>, Int) {
        do {
            return try Unpickler.load(bytes, from: start, path: path, streamName: "the file", hooks: PlainData())
        } catch let error as PickleError {
            throw checkpointError(error, pickle: "the \(name)")
        }
    }

    /// A pickle error in one of the file's pickles, naming it; globals keep their own message.
    private static func checkpointError(_ error: PickleError, pickle: String) -> CheckpointError {
        switch error {
        case .forbiddenGlobal(let path, let name): return .forbiddenGlobal(path: path, name: name)
        case .unknownOpcode(let path, let opcode, let offset):
            return .badLegacyFile(
                path: path,
                reason: "unsupported pickle opcode 0x\(String(opcode, radix: 16))"
                    + " at byte \(offset), in \(pickle)")
        case .malformed(let path, let offset, let reason):
            return .badLegacyFile(path: path, reason: "malformed pickle at byte \(offset), in \(pickle): \(reason)")
        }
    }

    /// A str, or ASCII bytes (a Python 2 str, `_maybe_decode_ascii`), as text; nil for anything else.
    private static func text(_ value: PickleValue) -> String? {
        switch value {
        case .string(let s): return s
        case .bytes(let b) where b.allSatisfy({ $0 < 0x80 }): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    /// Plain data only: no globals, no persistent ids.
    private struct PlainData: PickleHooks {
        typealias Object = Never
        func allows(module: String, name: String) -> Bool { false }
    }
}

/// `text` from a file in single quotes, with control characters (C0, DEL, C1) shown as `\u{1b}` and quotes and
/// backslashes escaped, so that it cannot drive a terminal when printed in a message.
func quoted(_ text: String) -> String {
    var out = "'"
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0..<0x20, 0x7F...0x9F: out += "\\u{" + String(scalar.value, radix: 16) + "}"
        case 0x27, 0x5C:
            out += "\\"
            out.unicodeScalars.append(scalar)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "'"
}
