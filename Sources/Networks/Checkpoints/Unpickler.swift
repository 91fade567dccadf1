import Foundation

/// A value built by the restricted unpickler: Python data plus PyTorch tensor references.
/// Containers are indices into a `PickleHeap`, so values never nest: a hostile, deeply nested pickle
/// cannot overflow the stack when it is built, walked or freed.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// `heap.tuples[i]`.
    case tuple(Int)
    /// `heap.lists[i]` (lists and dicts are filled after they are memoized, hence the indirection).
    case list(Int)
    /// `heap.dicts[i]`.
    case dict(Int)
    /// An allow-listed global (`module.name`), only ever used as a tag, never executed.
    case global(String)
    /// A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, numel)`.
    case storage(TorchStorage)
    /// A tensor view of a storage (`torch._utils._rebuild_tensor_v2`), read later from the archive.
    case tensor(TorchTensor)
}

/// The containers of one unpickled object graph.
struct PickleHeap {
    /// A Python dict: items in insertion order, with an index for str/int keys.
    struct Dict {
        private(set) var items: [(key: PickleValue, value: PickleValue)] = []
        private var index: [String: Int] = [:]

        /// Sets `key` to `value`, replacing an equal str/int key (True counts as 1) as Python would.
        mutating func set(_ key: PickleValue, _ value: PickleValue) {
            let hashable: String?
            switch key {
            case let .string(s): hashable = "s" + s
            case let .int(i): hashable = "i\(i)"
            case let .bool(b): hashable = b ? "i1" : "i0"
            default: hashable = nil
            }
            if let hashable, let i = index[hashable] { items[i].value = value; return }
            if let hashable { index[hashable] = items.count }
            items.append((key, value))
        }

        /// The value for string key `key`, or nil.
        subscript(key: String) -> PickleValue? { index["s" + key].map { items[$0].value } }
    }

    var tuples: [[PickleValue]] = []
    var lists: [[PickleValue]] = []
    var dicts: [Dict] = []

    mutating func tuple(_ items: [PickleValue]) -> PickleValue {
        tuples.append(items)
        return .tuple(tuples.count - 1)
    }

    mutating func list(_ items: [PickleValue]) -> PickleValue {
        lists.append(items)
        return .list(lists.count - 1)
    }

    mutating func dict() -> PickleValue {
        dicts.append(Dict())
        return .dict(dicts.count - 1)
    }
}

/// A typed storage as `torch.save` records it: archive member `data/<key>` holding `count` elements.
struct TorchStorage {
    let key: String
    /// The storage class, e.g. `torch.FloatStorage`.
    let typeName: String
    /// Its element type, nil for storage classes sskd cannot convert (complex, quantized, ...).
    let dtype: DType?
    let count: Int
}

/// A strided view of a storage: `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`.
struct TorchTensor {
    let storage: TorchStorage
    let offset: Int
    let size: [Int]
    let stride: [Int]
}

/// A restricted unpickler for PyTorch checkpoints (Python `pickle` protocols 2–5, PEP 307/3154/574),
/// modelled on `torch.load(weights_only=True)`'s `_weights_only_unpickler`: it builds plain data, dicts,
/// lists and tensor references, and accepts only an allow-list of globals. Nothing is ever executed; any
/// other global (`os.system`, `builtins.eval`, a model class) is refused with its name.
struct Unpickler {
    /// Globals the pickle may name. Storage classes (`torch.*Storage`) are accepted separately.
    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2", "torch.Tensor", "torch.nn.parameter.Parameter",
    ]

    private let bytes: [UInt8]
    private let path: String
    private var position = 0
    private var opcodeOffset = 0
    private var stack: [PickleValue] = []
    private var marks: [[PickleValue]] = []
    private var memo: [Int: PickleValue] = [:]
    private var heap = PickleHeap()

    /// Unpickles `bytes` (the `data.pkl` of a `torch.save` archive named `path`) into a root value and
    /// the heap holding its containers.
    /// - Throws: `CheckpointError.forbiddenGlobal`, `.unknownOpcode` (with its byte offset), `.badPickle`.
    static func load(_ bytes: [UInt8], path: String) throws -> (root: PickleValue, heap: PickleHeap) {
        var unpickler = Unpickler(bytes: bytes, path: path)
        let root = try unpickler.run()
        return (root, unpickler.heap)
    }

    private init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    private func fail(_ reason: String) -> CheckpointError {
        .badPickle(path: path, offset: opcodeOffset, reason: reason)
    }

    private mutating func run() throws -> PickleValue {
        while true {
            opcodeOffset = position
            let op = UInt8(try uint(1))
            switch op {
            case 0x80: _ = try take(1)                                       // PROTO
            case 0x95: _ = try take(8)                                       // FRAME (a length hint)
            case UInt8(ascii: "."):                                          // STOP
                guard marks.isEmpty, stack.count == 1 else { throw fail("STOP with \(stack.count) values on the stack") }
                return stack[0]
            case UInt8(ascii: "("): marks.append(stack); stack = []          // MARK
            case UInt8(ascii: "0"): _ = try pop()                            // POP
            case UInt8(ascii: "1"): _ = try popMark()                        // POP_MARK
            case UInt8(ascii: "2"): stack.append(try top())                  // DUP
            case UInt8(ascii: "N"): stack.append(.none)
            case 0x88: stack.append(.bool(true))                             // NEWTRUE
            case 0x89: stack.append(.bool(false))                            // NEWFALSE
            case UInt8(ascii: "K"): stack.append(.int(Int(try uint(1))))     // BININT1
            case UInt8(ascii: "M"): stack.append(.int(Int(try uint(2))))     // BININT2
            case UInt8(ascii: "J"): stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A:                                                       // LONG1: n-byte two's complement
                let n = Int(try uint(1))
                guard n <= 8 else { throw fail("integer of \(n) bytes is too large") }
                let raw = n == 0 ? 0 : try uint(n)
                let shift = UInt64(64 - 8 * n)
                stack.append(.int(n == 0 ? 0 : Int(Int64(bitPattern: raw << shift) >> shift)))
            case UInt8(ascii: "G"):                                          // BINFLOAT, big-endian
                stack.append(.float(Double(bitPattern: try take(8).reduce(0) { $0 << 8 | UInt64($1) })))
            case UInt8(ascii: "X"): stack.append(.string(try text(Int(try uint(4)))))   // BINUNICODE
            case 0x8C: stack.append(.string(try text(Int(try uint(1)))))                // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try text(try length(try uint(8)))))         // BINUNICODE8
            case UInt8(ascii: "B"): stack.append(.bytes(Array(try take(Int(try uint(4))))))     // BINBYTES
            case UInt8(ascii: "C"): stack.append(.bytes(Array(try take(Int(try uint(1))))))     // SHORT_BINBYTES
            case UInt8(ascii: ")"): stack.append(heap.tuple([]))                         // EMPTY_TUPLE
            case UInt8(ascii: "t"): stack.append(heap.tuple(try popMark()))              // TUPLE
            case 0x85, 0x86, 0x87:                                                       // TUPLE1..3
                let n = Int(op - 0x84)
                guard stack.count >= n else { throw fail("TUPLE\(n) needs \(n) values") }
                stack.append(heap.tuple(Array(stack.suffix(n))))
                stack.removeSubrange((stack.count - n - 1)..<(stack.count - 1))
            case UInt8(ascii: "]"): stack.append(heap.list([]))                          // EMPTY_LIST
            case UInt8(ascii: "l"): stack.append(heap.list(try popMark()))               // LIST
            case UInt8(ascii: "a"), UInt8(ascii: "e"):                                   // APPEND, APPENDS
                let items = op == UInt8(ascii: "a") ? [try pop()] : try popMark()
                guard case let .list(list) = try top() else { throw fail("APPEND to a non-list") }
                heap.lists[list] += items
            case UInt8(ascii: "}"): stack.append(heap.dict())                            // EMPTY_DICT
            case UInt8(ascii: "d"):                                                      // DICT
                let items = try popMark(), dict = heap.dict()
                try fill(dict, items)
                stack.append(dict)
            case UInt8(ascii: "s"), UInt8(ascii: "u"):                                   // SETITEM, SETITEMS
                let items = op == UInt8(ascii: "s") ? try popPair() : try popMark()
                try fill(try top(), items)
            case UInt8(ascii: "q"): memo[Int(try uint(1))] = try top()                  // BINPUT
            case UInt8(ascii: "r"): memo[Int(try uint(4))] = try top()                  // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                                      // MEMOIZE
            case UInt8(ascii: "h"), UInt8(ascii: "j"):                                   // BINGET, LONG_BINGET
                let index = Int(try uint(op == UInt8(ascii: "h") ? 1 : 4))
                guard let value = memo[index] else { throw fail("memo index \(index) was never stored") }
                stack.append(value)
            case UInt8(ascii: "c"):                                                      // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                stack.append(try global(module, name))
            case 0x93:                                                                   // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case let .string(m) = module, case let .string(n) = name else { throw fail("STACK_GLOBAL needs two strings") }
                stack.append(try global(m, n))
            case UInt8(ascii: "R"):                                                      // REDUCE
                let args = try pop(), callable = try pop()
                guard case let .tuple(values) = args else { throw fail("REDUCE arguments are not a tuple") }
                stack.append(try call(callable, heap.tuples[values]))
            case 0x81:                                                                   // NEWOBJ: cls.__new__(cls, *args)
                _ = try pop()
                guard case .global("collections.OrderedDict") = try pop() else { throw fail("NEWOBJ of a class other than OrderedDict") }
                stack.append(heap.dict())
            case UInt8(ascii: "b"): _ = try pop(); _ = try top()                         // BUILD: instance state is not needed
            case UInt8(ascii: "Q"): stack.append(try persistentLoad(try pop()))          // BINPERSID
            default: throw CheckpointError.unknownOpcode(path: path, opcode: op, offset: opcodeOffset)
            }
        }
    }

    // MARK: Globals and calls

    private func global(_ module: String, _ name: String) throws -> PickleValue {
        let qualified = module + "." + name
        guard Self.allowedGlobals.contains(qualified) || (module == "torch" && name.hasSuffix("Storage")) else {
            throw CheckpointError.forbiddenGlobal(path: path, name: qualified)
        }
        return .global(qualified)
    }

    /// Applies an allow-listed function to its pickled arguments (building data, running no code).
    private mutating func call(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case let .global(name) = callable else { throw fail("REDUCE of a value that is not a function") }
        switch name {
        case "collections.OrderedDict":
            let dict = heap.dict()
            if case let .list(pairs)? = args.first {
                for case let .tuple(pair) in heap.lists[pairs] { try fill(dict, heap.tuples[pair]) }
            }
            return dict
        case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
            guard args.count >= 4, case let .storage(storage) = args[0], case let .int(offset) = args[1],
                  let size = ints(args[2]), let stride = ints(args[3]) else {
                throw fail("\(name) expects (storage, offset, size, stride, ...)")
            }
            return .tensor(TorchTensor(storage: storage, offset: offset, size: size, stride: stride))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard case .tensor? = args.first else { throw fail("\(name) expects a tensor") }
            return args[0]
        case "torch._tensor._rebuild_from_type_v2":      // (func, type, args, state): a Tensor subclass
            guard args.count >= 3, case let .tuple(inner) = args[2] else { throw fail("\(name) expects (func, type, args, state)") }
            return try call(args[0], heap.tuples[inner])
        default: throw fail("\(name) cannot be called")
        }
    }

    /// `torch.save`'s persistent id: `('storage', storage_type, key, location, numel)`.
    private func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case let .tuple(index) = pid, case let fields = heap.tuples[index], fields.count >= 5, case .string("storage") = fields[0],
              case let .global(typeName) = fields[1], case let .string(key) = fields[2], case let .int(count) = fields[4],
              count >= 0 else {
            throw fail("persistent id is not ('storage', type, key, location, numel)")
        }
        let dtype = DType(torchStorage: String(typeName.dropFirst("torch.".count)))
        return .storage(TorchStorage(key: key, typeName: typeName, dtype: dtype, count: count))
    }

    private func ints(_ value: PickleValue) -> [Int]? {
        guard case let .tuple(index) = value else { return nil }
        let items = heap.tuples[index]
        let out = items.compactMap { item -> Int? in if case let .int(i) = item { return i } else { return nil } }
        return out.count == items.count ? out : nil
    }

    // MARK: Stack and input

    /// Sets key/value pairs given flat (`k1, v1, k2, v2, ...`) in the dict `target`.
    private mutating func fill(_ target: PickleValue, _ flat: [PickleValue]) throws {
        guard case let .dict(dict) = target else { throw fail("SETITEM on a non-dict") }
        guard flat.count % 2 == 0 else { throw fail("odd number of values for SETITEMS") }
        for i in stride(from: 0, to: flat.count, by: 2) { heap.dicts[dict].set(flat[i], flat[i + 1]) }
    }

    private mutating func pop() throws -> PickleValue {
        guard let value = stack.popLast() else { throw fail("stack underflow") }
        return value
    }

    private func top() throws -> PickleValue {
        guard let value = stack.last else { throw fail("stack underflow") }
        return value
    }

    private mutating func popPair() throws -> [PickleValue] {
        let value = try pop(), key = try pop()
        return [key, value]
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let previous = marks.popLast() else { throw fail("no MARK on the stack") }
        defer { stack = previous }
        return stack
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - position else {
            throw CheckpointError.badPickle(path: path, offset: opcodeOffset, reason: "data.pkl ends inside an opcode"
                                            + " (needs \(n) bytes at byte \(position) of \(bytes.count))")
        }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    /// A little-endian unsigned integer of `n` bytes.
    private mutating func uint(_ n: Int) throws -> UInt64 {
        try take(n).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    private func length(_ n: UInt64) throws -> Int {
        guard n <= UInt64(bytes.count) else { throw fail("length \(n) is longer than data.pkl") }
        return Int(n)
    }

    private mutating func text(_ n: Int) throws -> String {
        guard let s = String(bytes: try take(n), encoding: .utf8) else { throw fail("string is not valid UTF-8") }
        return s
    }

    private mutating func line() throws -> String {
        guard let end = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else { throw fail("GLOBAL without a newline") }
        let s = try text(end - position)
        position += 1
        return s
    }
}
