import Foundation
import Storage
import Tensors

/// PyTorch checkpoints written by `torch.save` since 1.6 (`.pth`/`.pt`): a zip archive whose members sit
/// in one folder `<name>/`: `data.pkl` (the pickled object), `data/<key>` (raw little-endian bytes of each
/// storage), `byteorder`, `version`. Published teachers come as a bare state dict (torchvision),
/// `{'model': sd, 'epoch': .., 'best_acc': .., 'optimizer': ..}` (RepDistiller, mdistiller) or
/// `{'state_dict': sd, ...}`; the weights are taken from `state_dict`/`model`/`model_state_dict`/`net`
/// when present, and the other top-level scalars (numbers, strings, one-element tensors) become metadata.
enum TorchCheckpoint {
    /// Keys under which training scripts nest the model's state dict, in order of preference.
    static let nestedKeys = ["state_dict", "model", "model_state_dict", "net"]

    /// Reads a `torch.save` zip archive's bytes into a `StateDict`.
    /// - Throws: `CheckpointError` naming `path`: archive problems, pickle problems (forbidden global,
    ///   unknown opcode), storage/stride problems, unsupported dtypes, or no state dict inside.
    static func read(_ bytes: [UInt8], path: String) throws -> StateDict {
        try mappingStorageErrors { try read(archive: ZipArchive(bytes, path: path)) }
    }

    private static func read(archive zip: ZipArchive) throws -> StateDict {
        let path = zip.path
        guard
            let pickleName = zip.names.first(where: {
                $0 == "data.pkl" || ($0.hasSuffix("/data.pkl") && $0.split(separator: "/").count == 2)
            }),
            let pickle = try zip.read(pickleName)
        else {
            throw CheckpointError.unknownFormat(
                path: path, reason: "zip archive without data.pkl (not written by torch.save)")
        }
        let folder = String(pickleName.dropLast("data.pkl".count))
        if let order = try zip.read(folder + "byteorder"), String(decoding: order, as: UTF8.self) != "little" {
            throw CheckpointError.unknownFormat(path: path, reason: "big-endian torch.save archives are not supported")
        }
        let (root, heap) = try TorchPickle.load(pickle, path: path)
        let storages = StorageReader(path: path) { storage, dtype, tensor in
            let member = folder + "data/" + storage.key
            guard let bytes = try zip.read(member) else {
                throw CheckpointError.badArchive(
                    path: path,
                    reason: "member \(member) (storage of '\(tensor)') is missing")
            }
            guard storage.rootCount <= bytes.count / dtype.size else {
                throw CheckpointError.truncated(
                    path: path,
                    needed: "storage \(member) of '\(tensor)' needs"
                        + " \(storage.rootCount) \(dtype.rawValue) elements, it has \(bytes.count) bytes")
            }
            return bytes.withUnsafeBytes { dtype.decode($0, offset: 0, count: storage.rootCount) }
        }
        return try stateDict(root, heap, storages: storages, path: path)
    }

    /// The state dict in an unpickled `torch.save` object (zip or legacy format): the tensors of the top-level
    /// dict or of its `nestedKeys` entry, materialised from `storages`, with the top-level scalars as metadata.
    /// - Throws: `CheckpointError.notAStateDict`, and what `storages` throws.
    static func stateDict(
        _ root: PickleValue, _ heap: PickleHeap<TorchObject>, storages: StorageReader,
        path: String
    ) throws -> StateDict {
        var storages = storages
        guard case .dict(let topIndex) = root else {
            throw CheckpointError.notAStateDict(path: path, reason: "the pickled object is not a dict")
        }
        let top = heap.dicts[topIndex]
        let nested = nestedKeys.lazy.compactMap { key -> (String, PickleHeap<TorchObject>.Dict)? in
            if case .dict(let index)? = top[key] { return (key, heap.dicts[index]) } else { return nil }
        }.first
        var state = StateDict()
        for (key, value) in (nested?.1 ?? top).items {
            guard let tensor = TorchPickle.tensor(value, in: heap) else { continue }
            guard case .string(let name) = key else {
                throw CheckpointError.notAStateDict(path: path, reason: "tensor key \(key) is not a string")
            }
            state[name, dtype: tensor.storage.dtype] = try storages.materialise(tensor, name: name)
        }
        guard state.count > 0 else {
            throw CheckpointError.notAStateDict(
                path: path,
                reason: nested.map { "'\($0.0)' holds no tensors" }
                    ?? "no tensors at the top level, nor under \(nestedKeys.joined(separator: "/"))")
        }
        for (key, value) in top.items {
            guard case .string(let name) = key else { continue }
            switch value {
            case .int(let i): state.metadata[name] = String(i)
            case .float(let x): state.metadata[name] = String(x)
            case .string(let s): state.metadata[name] = s
            case .bool(let b): state.metadata[name] = b ? "True" : "False"
            case .object where nested != nil:  // e.g. best_acc as a one-element tensor
                if let t = TorchPickle.tensor(value, in: heap), t.size.allSatisfy({ $0 == 1 }),
                    let scalar = try? storages.materialise(t, name: name)
                {
                    state.metadata[name] = String(scalar.data[0])
                }
            default: break
            }
        }
        return state
    }
}

/// Reads storages (each once, through `fetch`) and materialises strided tensor views as contiguous tensors.
struct StorageReader {
    let path: String
    /// The `rootCount` elements of a storage's root as Float32, its bytes checked first; the arguments are the
    /// storage, its dtype and the tensor's name (for messages).
    let fetch: (TorchStorage, DType, String) throws -> [Float]
    var cache: [String: [Float]] = [:]
    /// Views may repeat storage elements (stride 0, as `Tensor.expand` makes), but a small file must not
    /// make us allocate gigabytes: all tensors together may hold at most 4 × the elements of the storages
    /// they view, plus this many (2^24 Float32 elements, 64 MiB).
    static let repetitionAllowance = 1 << 24
    /// Elements materialised so far, and the elements of the storages read (each counted once).
    var materialised = 0, stored = 0

    /// The tensor `name` as a contiguous Float32 tensor of shape `tensor.size`.
    /// - Throws: `CheckpointError.unsupportedDType`, `.badTensor` (view outside its storage), `.badArchive`.
    mutating func materialise(_ tensor: TorchTensor, name: String) throws -> Tensor {
        let storage = tensor.storage
        guard let dtype = storage.dtype else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: storage.typeName)
        }
        let path = self.path
        let fail = { (reason: String) in CheckpointError.badTensor(path: path, tensor: name, reason: reason) }
        let (size, stride) = (tensor.size, tensor.stride)
        guard size.count == stride.count, size.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }),
            tensor.offset >= 0
        else {
            throw fail("invalid size \(formatShape(size)), stride \(formatShape(stride)) or offset \(tensor.offset)")
        }
        var count = 1
        var last = tensor.offset
        var overflow = false
        for (n, s) in Swift.zip(size, stride) {
            let (c, o1) = count.multipliedReportingOverflow(by: n)
            let (reach, o2) = max(n - 1, 0).multipliedReportingOverflow(by: s)
            let (l, o3) = last.addingReportingOverflow(reach)
            (count, last, overflow) = (c, l, overflow || o1 || o2 || o3)
        }
        guard !overflow, count == 0 || last < storage.count else {
            throw fail(
                "size \(formatShape(size)), stride \(formatShape(stride)), offset \(tensor.offset)"
                    + " reach outside its storage of \(storage.count) elements")
        }
        guard count <= StateDict.maximumTensorElements else {
            throw fail(
                "size \(formatShape(size)) has \(count) elements, more than sskd's limit of "
                    + "\(StateDict.maximumTensorElements)"
            )
        }
        let values = try load(storage, dtype: dtype, tensor: name)
        guard storage.viewOffset + storage.count <= values.count else {  // fetch gives rootCount elements
            throw fail("storage view of \(storage.count) elements from \(storage.viewOffset) is outside its storage")
        }
        guard materialised + count <= StorageReader.repetitionAllowance + 4 * stored else {
            throw fail(
                "size \(formatShape(size)), stride \(formatShape(stride)) repeats its storage's elements: \(count)"
                    + " elements, with \(materialised) already read, from storages of \(stored) elements in all")
        }
        materialised += count
        if count == 0 { return Tensor(shape: size, data: []) }
        // Gather in row-major order: walk a multi-index over `size`, tracking the storage position.
        var out = [Float]()
        var index = [Int](repeating: 0, count: size.count)
        var position = storage.viewOffset + tensor.offset
        out.reserveCapacity(count)
        for _ in 0..<count {
            out.append(values[position])
            var axis = size.count - 1
            while axis >= 0 {
                index[axis] += 1
                position += stride[axis]
                if index[axis] < size[axis] { break }
                position -= stride[axis] * size[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return Tensor(shape: size, data: out)
    }

    private mutating func load(_ storage: TorchStorage, dtype: DType, tensor: String) throws -> [Float] {
        if let values = cache[storage.key] { return values }
        let values = try fetch(storage, dtype, tensor)
        cache[storage.key] = values
        stored += values.count
        return values
    }

    init(path: String, fetch: @escaping (TorchStorage, DType, String) throws -> [Float]) {
        (self.path, self.fetch) = (path, fetch)
    }
}
