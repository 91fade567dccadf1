/// A value built by `Unpickler`: Python data, allow-listed globals, and objects its caller builds.
/// Containers and objects are indices into a `PickleHeap`, so values never nest: a hostile, deeply nested
/// pickle cannot overflow the stack when it is built, walked or freed.
public enum PickleValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    /// A Python 3 `str`.
    case string(String)
    /// A Python 3 `bytes`, a Python 2 `str` (`BINSTRING`/`SHORT_BINSTRING`, read as `encoding='bytes'`), or a
    /// protocol-5 `bytearray` (`BYTEARRAY8`, an in-band `PickleBuffer`).
    case bytes([UInt8])
    /// `heap.tuples[i]`.
    case tuple(Int)
    /// `heap.lists[i]` (lists and dicts are filled after they are memoized, hence the indirection).
    case list(Int)
    /// `heap.dicts[i]`.
    case dict(Int)
    /// An allow-listed global (`module.name`), only ever used as a tag, never executed.
    case global(String)
    /// `heap.objects[i]`: what the caller's `PickleHooks` built (a tensor, a NumPy array, ...).
    case object(Int)
}

/// The containers and objects of one unpickled object graph; `Object` is what the caller's hooks build.
public struct PickleHeap<Object> {
    /// A Python dict: items in insertion order, with an index for `str`, `bytes` and `int` keys.
    public struct Dict {
        /// The items in insertion order (a repeated key keeps its first position and its last value).
        public private(set) var items: [(key: PickleValue, value: PickleValue)] = []
        private var index: [String: Int] = [:]

        /// Sets `key` to `value`, replacing an equal str/bytes/int key (True counts as 1) as Python would.
        public mutating func set(_ key: PickleValue, _ value: PickleValue) {
            let hashable: String?
            switch key {
            case .string(let s): hashable = "s" + s
            case .bytes(let b): hashable = Dict.bytesKey(b)
            case .int(let i): hashable = "i\(i)"
            case .bool(let b): hashable = b ? "i1" : "i0"
            default: hashable = nil
            }
            if let hashable, let i = index[hashable] {
                items[i].value = value
                return
            }
            if let hashable { index[hashable] = items.count }
            items.append((key, value))
        }

        /// The value for the `str` key `key`, or nil.
        public subscript(key: String) -> PickleValue? { index["s" + key].map { items[$0].value } }

        /// The value for the `bytes` key `key` (UTF-8 bytes), or nil.
        public subscript(bytes key: String) -> PickleValue? {
            index[Dict.bytesKey(Array(key.utf8))].map { items[$0].value }
        }

        private static func bytesKey(_ b: [UInt8]) -> String {
            "b" + String(String.UnicodeScalarView(b.map { Unicode.Scalar($0) }))
        }
    }

    /// Tuples, by the index in `PickleValue.tuple`.
    public var tuples: [[PickleValue]] = []
    /// Lists, by the index in `PickleValue.list`.
    public var lists: [[PickleValue]] = []
    /// Dicts, by the index in `PickleValue.dict`.
    public var dicts: [Dict] = []
    /// The hooks' objects, by the index in `PickleValue.object`; hooks may replace them (`BUILD`).
    public var objects: [Object] = []

    /// Adds a tuple and returns its value.
    public mutating func tuple(_ items: [PickleValue]) -> PickleValue {
        tuples.append(items)
        return .tuple(tuples.count - 1)
    }

    /// Adds a list and returns its value.
    public mutating func list(_ items: [PickleValue]) -> PickleValue {
        lists.append(items)
        return .list(lists.count - 1)
    }

    /// Adds an empty dict and returns its value.
    public mutating func dict() -> PickleValue {
        dicts.append(Dict())
        return .dict(dicts.count - 1)
    }

    /// Adds an object and returns its value.
    public mutating func object(_ object: Object) -> PickleValue {
        objects.append(object)
        return .object(objects.count - 1)
    }

    /// The items of a tuple or list value, nil for any other value.
    public func sequence(_ value: PickleValue) -> [PickleValue]? {
        switch value {
        case .tuple(let i): return tuples[i]
        case .list(let i): return lists[i]
        default: return nil
        }
    }

    /// The whole numbers of a tuple or list of ints, nil when it is not one.
    public func ints(_ value: PickleValue) -> [Int]? {
        guard let items = sequence(value) else { return nil }
        let out = items.compactMap { item -> Int? in if case .int(let i) = item { return i } else { return nil } }
        return out.count == items.count ? out : nil
    }
}

/// What a caller of `Unpickler` allows and builds beyond plain data: the allow-list of globals, and what
/// calling them (`REDUCE`, `NEWOBJ`), setting their state (`BUILD`) and persistent ids (`BINPERSID`) give.
/// Hooks build values; they never run code named by the pickle.
///
/// Throw `PickleRejection` from a hook to refuse its input; the unpickler reports it with the file and
/// the byte offset of the opcode.
public protocol PickleHooks {
    /// What the hooks build (stored in `PickleHeap.objects`).
    associatedtype Object

    /// Whether the pickle may name the global `module.name` (`GLOBAL`, `STACK_GLOBAL`).
    func allows(module: String, name: String) -> Bool

    /// `REDUCE` of the allow-listed global `function` (`module.name`) on `args`.
    /// `collections.OrderedDict` and `_codecs.encode` are built in (when allowed) and never reach this.
    mutating func call(_ function: String, _ args: [PickleValue], heap: inout PickleHeap<Object>) throws -> PickleValue

    /// `BUILD`: sets `state` on `target` (`obj.__setstate__(state)`); may replace `heap.objects[i]`.
    mutating func build(_ target: PickleValue, state: PickleValue, heap: inout PickleHeap<Object>) throws

    /// `NEWOBJ`: `cls.__new__(cls, *args)` for the allow-listed class `cls` (other than `OrderedDict`).
    mutating func newObject(_ cls: String, _ args: [PickleValue], heap: inout PickleHeap<Object>) throws -> PickleValue

    /// `BINPERSID`: the object named by the persistent id `pid`.
    mutating func persistentLoad(_ pid: PickleValue, heap: inout PickleHeap<Object>) throws -> PickleValue
}

extension PickleHooks {
    /// Refuses: no global may be called unless the hooks say what it builds.
    public mutating func call(
        _ function: String, _ args: [PickleValue],
        heap: inout PickleHeap<Object>
    ) throws -> PickleValue {
        throw PickleRejection("\(function) cannot be called")
    }

    /// Ignores the state (an `OrderedDict`'s `_metadata`, say): plain data needs none.
    public mutating func build(_ target: PickleValue, state: PickleValue, heap: inout PickleHeap<Object>) throws {}

    /// Refuses every class.
    public mutating func newObject(
        _ cls: String, _ args: [PickleValue],
        heap: inout PickleHeap<Object>
    ) throws -> PickleValue {
        throw PickleRejection("NEWOBJ of a class other than OrderedDict")
    }

    /// Refuses every persistent id.
    public mutating func persistentLoad(_ pid: PickleValue, heap: inout PickleHeap<Object>) throws -> PickleValue {
        throw PickleRejection("persistent ids are not allowed here")
    }
}

/// A hook's refusal of its input; `Unpickler` turns it into `PickleError.malformed` with the file and offset.
public struct PickleRejection: Error, Equatable {
    /// What is wrong, e.g. `numpy.dtype expects (type code, align, copy)`.
    public let reason: String
    /// A refusal saying `reason`.
    public init(_ reason: String) { self.reason = reason }
}

/// Why `Unpickler` stopped. Callers map these to their own errors (`CheckpointError`, `DatasetError`).
public enum PickleError: Error, Equatable, CustomStringConvertible {
    /// The pickle names a global that is not on the caller's allow-list (it is never called).
    case forbiddenGlobal(path: String, name: String)
    /// An opcode the unpickler does not implement, at byte `offset`.
    case unknownOpcode(path: String, opcode: UInt8, offset: Int)
    /// A malformed pickle (stack underflow, bad memo index, wrong argument types, cut short, a hook's
    /// refusal) at the opcode starting at byte `offset`.
    case malformed(path: String, offset: Int, reason: String)

    /// One line naming the file, e.g. `x.pkl: malformed pickle at byte 2: stack underflow`.
    public var description: String {
        switch self {
        case .forbiddenGlobal(let path, let name):
            return "\(path): refusing to load: the pickle uses the global '\(name)', which is not allowed"
        case .unknownOpcode(let path, let opcode, let offset):
            return "\(path): unsupported pickle opcode 0x\(String(opcode, radix: 16)) at byte \(offset)"
        case .malformed(let path, let offset, let reason):
            return "\(path): malformed pickle at byte \(offset): \(reason)"
        }
    }
}
