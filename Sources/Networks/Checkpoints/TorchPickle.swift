import Storage

/// A typed storage as `torch.save` records it: archive member `data/<key>` (zip format) or the record `key`
/// after the pickles (legacy format), holding `rootCount` elements. Tensors see `count` of them from `viewOffset`
/// on: all of them, except for the storage views of the legacy format's `view_metadata`.
struct TorchStorage {
    let key: String
    /// The storage class, e.g. `torch.FloatStorage`.
    let typeName: String
    /// Its element type, nil for storage classes sskd cannot convert (complex, quantized, ...).
    let dtype: DType?
    /// Elements visible to tensors, from `viewOffset` on.
    let count: Int
    /// Elements of the whole (root) storage, as recorded in the persistent id.
    let rootCount: Int
    /// First element of the root storage visible to tensors.
    let viewOffset: Int

    init(key: String, typeName: String, dtype: DType?, count: Int, rootCount: Int? = nil, viewOffset: Int = 0) {
        (self.key, self.typeName, self.dtype, self.count) = (key, typeName, dtype, count)
        (self.rootCount, self.viewOffset) = (rootCount ?? count, viewOffset)
    }
}

/// A strided view of a storage: `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`.
struct TorchTensor {
    let storage: TorchStorage
    let offset: Int
    let size: [Int]
    let stride: [Int]
}

/// What the torch hooks build in the pickle heap: storages (persistent ids) and tensor views of them.
enum TorchObject {
    case storage(TorchStorage)
    case tensor(TorchTensor)
}

/// The `data.pkl` of a `torch.save` archive, read by `Storage`'s restricted `Unpickler` with the globals
/// `torch.load(weights_only=True)` needs for state dicts: tensors, storages, parameters, `OrderedDict`.
enum TorchPickle {
    /// Globals the pickle may name. Storage classes (`torch.*Storage`) are accepted separately.
    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2", "torch.Tensor", "torch.nn.parameter.Parameter",
    ]

    /// Unpickles `bytes` (the `data.pkl` of a `torch.save` archive named `path`) into a root value and
    /// the heap holding its containers, storages and tensors.
    /// - Throws: `CheckpointError.forbiddenGlobal`, `.unknownOpcode` (with its byte offset), `.badPickle`.
    static func load(_ bytes: [UInt8], path: String) throws -> (root: PickleValue, heap: PickleHeap<TorchObject>) {
        do {
            return try Unpickler.load(bytes, path: path, streamName: "data.pkl", hooks: Hooks())
        } catch let error as PickleError {
            throw checkpointError(error)
        }
    }

    /// Unpickles the pickle starting at byte `start` of `bytes` (the main pickle of a legacy `torch.save`
    /// file) with the same globals and persistent ids as `load`; `end` is the offset just past it.
    /// - Throws: `PickleError` (the caller names the pickle in its message).
    static func load(
        _ bytes: [UInt8], from start: Int,
        path: String
    ) throws -> (root: PickleValue, heap: PickleHeap<TorchObject>, end: Int) {
        try Unpickler.load(bytes, from: start, path: path, streamName: "the file", hooks: Hooks())
    }

    /// The `CheckpointError` for a `PickleError` in the `data.pkl` of a zip archive.
    private static func checkpointError(_ error: PickleError) -> CheckpointError {
        switch error {
        case .forbiddenGlobal(let path, let name): return .forbiddenGlobal(path: path, name: name)
        case .unknownOpcode(let path, let opcode, let offset):
            return .unknownOpcode(path: path, opcode: opcode, offset: offset)
        case .malformed(let path, let offset, let reason): return .badPickle(path: path, offset: offset, reason: reason)
        }
    }

    /// The tensor a pickled value refers to, or nil.
    static func tensor(_ value: PickleValue, in heap: PickleHeap<TorchObject>) -> TorchTensor? {
        if case .object(let i) = value, case .tensor(let tensor) = heap.objects[i] { return tensor }
        return nil
    }

    private struct Hooks: PickleHooks {
        func allows(module: String, name: String) -> Bool {
            allowedGlobals.contains(module + "." + name) || (module == "torch" && name.hasSuffix("Storage"))
        }

        /// Builds tensor references from the `torch._utils` rebuild functions (running no code).
        func call(_ name: String, _ args: [PickleValue], heap: inout PickleHeap<TorchObject>) throws -> PickleValue {
            switch name {
            case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
                guard args.count >= 4, case .object(let i) = args[0], case .storage(let storage) = heap.objects[i],
                    case .int(let offset) = args[1], let size = ints(args[2], heap),
                    let stride = ints(args[3], heap)
                else {
                    throw PickleRejection("\(name) expects (storage, offset, size, stride, ...)")
                }
                return heap.object(.tensor(TorchTensor(storage: storage, offset: offset, size: size, stride: stride)))
            case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
                guard let first = args.first, TorchPickle.tensor(first, in: heap) != nil else {
                    throw PickleRejection("\(name) expects a tensor")
                }
                return first
            case "torch._tensor._rebuild_from_type_v2":  // (func, type, args, state): a Tensor subclass
                // Nested rebuilds (func itself _rebuild_from_type_v2) are unwrapped in a loop, not by recursion:
                // a file can chain thousands of them.
                var args = args
                while true {
                    guard args.count >= 3, case .tuple(let inner) = args[2] else {
                        throw PickleRejection("\(name) expects (func, type, args, state)")
                    }
                    guard case .global(let function) = args[0] else {
                        throw PickleRejection("REDUCE of a value that is not a function")
                    }
                    switch function {
                    case "torch._tensor._rebuild_from_type_v2": args = heap.tuples[inner]
                    case "collections.OrderedDict": return try orderedDict(heap.tuples[inner], heap: &heap)
                    default: return try call(function, heap.tuples[inner], heap: &heap)
                    }
                }
            default: throw PickleRejection("\(name) cannot be called")
            }
        }

        /// `collections.OrderedDict(pairs)` as REDUCE builds it: a dict from the list of pairs in `args`.
        private func orderedDict(_ args: [PickleValue], heap: inout PickleHeap<TorchObject>) throws -> PickleValue {
            let dict = heap.dict()
            guard case .dict(let d) = dict else { return dict }
            if case .list(let pairs)? = args.first {
                for case .tuple(let pair) in heap.lists[pairs] {
                    let flat = heap.tuples[pair]
                    guard flat.count % 2 == 0 else { throw PickleRejection("odd number of values for SETITEMS") }
                    for i in stride(from: 0, to: flat.count, by: 2) { heap.dicts[d].set(flat[i], flat[i + 1]) }
                }
            }
            return dict
        }

        /// `torch.save`'s persistent id: `('storage', storage_type, key, location, numel)`, and in the legacy
        /// format `('storage', storage_type, root_key, location, numel, view_metadata)` where `view_metadata` is
        /// None or `(view_key, offset, size)` in elements (torch/serialization.py `_legacy_load`). Python 2
        /// files may hold the strings as bytes (`_maybe_decode_ascii`).
        func persistentLoad(_ pid: PickleValue, heap: inout PickleHeap<TorchObject>) throws -> PickleValue {
            guard case .tuple(let index) = pid, case let fields = heap.tuples[index],
                fields.count == 5
                    || fields.count == 6, text(fields[0]) == "storage", case .global(let typeName) = fields[1],
                let key = text(fields[2]), case .int(let count) = fields[4], count >= 0
            else {
                throw PickleRejection("persistent id is not ('storage', type, key, location, numel)")
            }
            let dtype = DType(torchStorage: String(typeName.dropFirst("torch.".count)))
            guard fields.count == 6, fields[5] != .none else {
                return heap.object(.storage(TorchStorage(key: key, typeName: typeName, dtype: dtype, count: count)))
            }
            guard let view = heap.sequence(fields[5]), view.count == 3, text(view[0]) != nil,
                case .int(let offset) = view[1], case .int(let size) = view[2], offset >= 0, size >= 0,
                offset <= count, size <= count - offset
            else {
                throw PickleRejection("storage view is not (key, offset, size) inside its storage of \(count) elements")
            }
            return heap.object(
                .storage(
                    TorchStorage(
                        key: key, typeName: typeName, dtype: dtype, count: size,
                        rootCount: count, viewOffset: offset)))
        }

        /// A str, or ASCII bytes (a Python 2 str), as text; nil for anything else.
        private func text(_ value: PickleValue) -> String? {
            switch value {
            case .string(let s): return s
            case .bytes(let b) where b.allSatisfy({ $0 < 0x80 }): return String(decoding: b, as: UTF8.self)
            default: return nil
            }
        }

        /// A tuple of ints (sizes, strides), nil when it is not one.
        private func ints(_ value: PickleValue, _ heap: PickleHeap<TorchObject>) -> [Int]? {
            guard case .tuple = value else { return nil }
            return heap.ints(value)
        }
    }
}
