import Foundation

/// Bounds on what one pickle may build.
public enum PickleLimit {
    /// The most values one pickle may make (stack pushes, memo entries, elements added to containers): about
    /// 200 MB of them. A state dict pickle makes about 15 per tensor, so this holds checkpoints of over 250,000
    /// tensors.
    public static let values = 1 << 22
}

/// A restricted unpickler (Python `pickle` protocols 2–5, PEP 307/3154/574), modelled on
/// `torch.load(weights_only=True)`'s `_weights_only_unpickler`: it builds plain data (None, bools, ints,
/// floats, str, bytes, tuples, lists, dicts) and accepts only the globals its `PickleHooks` allow. Nothing
/// named by the pickle is ever executed; any other global (`os.system`, `builtins.eval`, a class) is
/// refused with its name.
///
/// Built in, when the hooks allow them: `collections.OrderedDict` (a dict) and `_codecs.encode(s, 'latin1')`
/// (bytes, as Python 3 writes `bytes` at protocol 2). Python 2 `str` (`BINSTRING`, `SHORT_BINSTRING`) is
/// read as bytes, as `pickle.load(f, encoding='bytes')` does. Protocol 5's in-band buffers (PEP 574: `BYTEARRAY8`,
/// or `BINBYTES` for a read-only one) are read as bytes; out-of-band ones (`NEXT_BUFFER`, `READONLY_BUFFER`),
/// whose bytes are not in the stream, are refused.
public struct Unpickler<Hooks: PickleHooks> {
    private let bytes: [UInt8]
    private let path: String
    private let streamName: String
    private var hooks: Hooks
    private var position = 0
    private var opcodeOffset = 0
    private var stack: [PickleValue] = []
    private var marks: [[PickleValue]] = []
    private var memo: [Int: PickleValue] = [:]
    private var heap = PickleHeap<Hooks.Object>()
    /// Bytes made by `_codecs.encode` so far: bounded by the pickle's own size, so memoized strings cannot be
    /// encoded again and again into gigabytes.
    private var encodedBytes = 0
    /// Bytes of str/bytes dict keys hashed so far: bounded by a few times the pickle's size, so one memoized
    /// large key set again and again (each set hashes it) cannot take hours.
    private var keyBytes = 0
    /// Values held so far: every push onto the stack, element added to a tuple, list or dict, and memo entry.
    /// Bounded by `PickleLimit.values`, so a small file of repeated opcodes cannot make gigabytes of values.
    private var values = 0
    /// The value count at which `count` next polls `ReadInterruption`.
    private var nextPoll = 0x10000

    /// Unpickles `bytes` (read from the file `path`) into a root value and the heap holding its containers
    /// and objects. `streamName` names the byte stream in messages (`data.pkl` inside a `.pth`, say).
    /// - Throws: `PickleError.forbiddenGlobal`, `.unknownOpcode` (with its byte offset), `.malformed`.
    public static func load(
        _ bytes: [UInt8], path: String, streamName: String = "the pickle",
        hooks: Hooks
    ) throws -> (root: PickleValue, heap: PickleHeap<Hooks.Object>) {
        let (root, heap, _) = try load(bytes, from: 0, path: path, streamName: streamName, hooks: hooks)
        return (root, heap)
    }

    /// Unpickles the pickle that starts at byte `start` of `bytes` (one of several consecutive pickles, as in
    /// PyTorch's legacy `torch.save` format) and returns, with its root and heap, the offset just past its
    /// `STOP` opcode, where the next pickle or data begins. Offsets in errors count from the start of `bytes`.
    /// - Throws: `PickleError.forbiddenGlobal`, `.unknownOpcode` (with its byte offset), `.malformed`
    ///   (also when `start` is not inside `bytes`).
    public static func load(
        _ bytes: [UInt8], from start: Int, path: String, streamName: String = "the pickle",
        hooks: Hooks
    ) throws -> (root: PickleValue, heap: PickleHeap<Hooks.Object>, end: Int) {
        var unpickler = Unpickler(bytes: bytes, path: path, streamName: streamName, hooks: hooks)
        guard start >= 0, start <= bytes.count else {
            throw PickleError.malformed(path: path, offset: start, reason: "\(streamName) starts past the end")
        }
        unpickler.position = start
        do {
            let root = try unpickler.run()
            return (root, unpickler.heap, unpickler.position)
        } catch let rejection as PickleRejection {  // a hook's: reported at the opcode that ran it
            throw unpickler.fail(rejection.reason)
        }
    }

    private init(bytes: [UInt8], path: String, streamName: String, hooks: Hooks) {
        self.bytes = bytes
        self.path = path
        self.streamName = streamName
        self.hooks = hooks
    }

    private func fail(_ reason: String) -> PickleError {
        .malformed(path: path, offset: opcodeOffset, reason: reason)
    }

    private mutating func run() throws -> PickleValue {
        while true {
            opcodeOffset = position
            let op = UInt8(try uint(1))
            // Each opcode adds at most one value to the stack or memo; elements moved into containers are
            // counted where they are added.
            try count(1, "values (a checkpoint's pickle makes about 15 per tensor)")
            switch op {
            case 0x80: _ = try take(1)  // PROTO
            case 0x95: _ = try take(8)  // FRAME (a length hint)
            case UInt8(ascii: "."):  // STOP
                guard marks.isEmpty, stack.count == 1 else {
                    throw fail("STOP with \(stack.count) values on the stack")
                }
                return stack[0]
            case UInt8(ascii: "("):
                marks.append(stack)
                stack = []  // MARK
            case UInt8(ascii: "0"): _ = try pop()  // POP
            case UInt8(ascii: "1"): _ = try popMark()  // POP_MARK
            case UInt8(ascii: "2"): stack.append(try top())  // DUP
            case UInt8(ascii: "N"): stack.append(.none)
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case UInt8(ascii: "K"): stack.append(.int(Int(try uint(1))))  // BININT1
            case UInt8(ascii: "M"): stack.append(.int(Int(try uint(2))))  // BININT2
            case UInt8(ascii: "J"): stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A:  // LONG1: n-byte two's complement
                let n = Int(try uint(1))
                guard n <= 8 else { throw fail("integer of \(n) bytes is too large") }
                let raw = n == 0 ? 0 : try uint(n)
                let shift = UInt64(64 - 8 * n)
                stack.append(.int(n == 0 ? 0 : Int(Int64(bitPattern: raw << shift) >> shift)))
            case UInt8(ascii: "G"):  // BINFLOAT, big-endian
                stack.append(.float(Double(bitPattern: try take(8).reduce(0) { $0 << 8 | UInt64($1) })))
            case UInt8(ascii: "X"): stack.append(.string(try text(Int(try uint(4)))))  // BINUNICODE
            case 0x8C: stack.append(.string(try text(Int(try uint(1)))))  // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try text(try length8())))  // BINUNICODE8
            case UInt8(ascii: "B"): stack.append(.bytes(Array(try take(Int(try uint(4))))))  // BINBYTES
            case UInt8(ascii: "C"): stack.append(.bytes(Array(try take(Int(try uint(1))))))  // SHORT_BINBYTES
            case 0x8E: stack.append(.bytes(Array(try take(try length8()))))  // BINBYTES8
            // BYTEARRAY8 (protocol 5, PEP 574): an in-band `PickleBuffer` of a writable object (a NumPy array's
            // bytes); read as bytes, the data being the same.
            case 0x96: stack.append(.bytes(Array(try take(try length8()))))
            case 0x97:  // NEXT_BUFFER
                throw fail(
                    "NEXT_BUFFER (protocol 5) takes an out-of-band buffer, whose bytes are not in the file"
                        + " (written with pickle.dump(..., buffer_callback=...)); pickle it without buffer_callback")
            case 0x98:  // READONLY_BUFFER
                throw fail(
                    "READONLY_BUFFER (protocol 5) marks an out-of-band buffer, whose bytes are not in the"
                        + " file; pickle it without buffer_callback")
            case UInt8(ascii: "T"):  // BINSTRING (Python 2 str), signed length
                let n = Int(Int32(truncatingIfNeeded: try uint(4)))
                guard n >= 0 else { throw fail("BINSTRING has a negative length (\(n))") }
                stack.append(.bytes(Array(try take(n))))
            case UInt8(ascii: "U"): stack.append(.bytes(Array(try take(Int(try uint(1))))))  // SHORT_BINSTRING
            case UInt8(ascii: ")"): stack.append(heap.tuple([]))  // EMPTY_TUPLE
            case UInt8(ascii: "t"): stack.append(heap.tuple(try counted(popMark())))  // TUPLE
            case 0x85, 0x86, 0x87:  // TUPLE1..3
                let n = Int(op - 0x84)
                guard stack.count >= n else { throw fail("TUPLE\(n) needs \(n) values") }
                stack.append(heap.tuple(Array(stack.suffix(n))))
                stack.removeSubrange((stack.count - n - 1)..<(stack.count - 1))
            case UInt8(ascii: "]"): stack.append(heap.list([]))  // EMPTY_LIST
            case UInt8(ascii: "l"): stack.append(heap.list(try counted(popMark())))  // LIST
            case UInt8(ascii: "a"), UInt8(ascii: "e"):  // APPEND, APPENDS
                let items = try counted(op == UInt8(ascii: "a") ? [try pop()] : try popMark())
                guard case .list(let list) = try top() else { throw fail("APPEND to a non-list") }
                heap.lists[list] += items
            case UInt8(ascii: "}"): stack.append(heap.dict())  // EMPTY_DICT
            case UInt8(ascii: "d"):  // DICT
                let items = try counted(popMark())
                let dict = heap.dict()
                try fill(dict, items)
                stack.append(dict)
            case UInt8(ascii: "s"), UInt8(ascii: "u"):  // SETITEM, SETITEMS
                let items = try counted(op == UInt8(ascii: "s") ? try popPair() : try popMark())
                try fill(try top(), items)
            case UInt8(ascii: "q"): memo[Int(try uint(1))] = try top()  // BINPUT
            case UInt8(ascii: "r"): memo[Int(try uint(4))] = try top()  // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()  // MEMOIZE
            case UInt8(ascii: "h"), UInt8(ascii: "j"):  // BINGET, LONG_BINGET
                let index = Int(try uint(op == UInt8(ascii: "h") ? 1 : 4))
                guard let value = memo[index] else { throw fail("memo index \(index) was never stored") }
                stack.append(value)
            case UInt8(ascii: "c"):  // GLOBAL "module\nname\n"
                let module = try line()
                let name = try line()
                stack.append(try global(module, name))
            case 0x93:  // STACK_GLOBAL
                let name = try pop()
                let module = try pop()
                guard case .string(let m) = module, case .string(let n) = name else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                stack.append(try global(m, n))
            case UInt8(ascii: "R"):  // REDUCE
                let args = try pop()
                let callable = try pop()
                guard case .tuple(let values) = args else { throw fail("REDUCE arguments are not a tuple") }
                stack.append(try call(callable, heap.tuples[values]))
            case 0x81:  // NEWOBJ: cls.__new__(cls, *args)
                let args = try pop()
                let cls = try pop()
                guard case .global(let name) = cls, case .tuple(let values) = args else {
                    throw fail("NEWOBJ needs a class and a tuple of arguments")
                }
                if name == "collections.OrderedDict" {
                    stack.append(heap.dict())
                    break
                }
                let arguments = heap.tuples[values]
                stack.append(try hooks.newObject(name, arguments, heap: &heap))
            case UInt8(ascii: "b"):  // BUILD
                let state = try pop()
                let target = try top()
                try hooks.build(target, state: state, heap: &heap)
            case UInt8(ascii: "Q"):  // BINPERSID
                let pid = try pop()
                stack.append(try hooks.persistentLoad(pid, heap: &heap))
            default: throw PickleError.unknownOpcode(path: path, opcode: op, offset: opcodeOffset)
            }
        }
    }

    // MARK: Globals and calls

    private func global(_ module: String, _ name: String) throws -> PickleValue {
        guard hooks.allows(module: module, name: name) else {
            throw PickleError.forbiddenGlobal(path: path, name: module + "." + name)
        }
        return .global(module + "." + name)
    }

    /// Applies an allow-listed function to its pickled arguments (building data, running no code).
    private mutating func call(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case .global(let name) = callable else { throw fail("REDUCE of a value that is not a function") }
        switch name {
        case "collections.OrderedDict":
            let dict = heap.dict()
            if case .list(let pairs)? = args.first {
                for case .tuple(let pair) in heap.lists[pairs] { try fill(dict, heap.tuples[pair]) }
            }
            return dict
        case "_codecs.encode":  // Python 3 writes bytes at protocol 2 as encode(str, 'latin1')
            guard args.count == 2, case .string(let text) = args[0], case .string(let encoding) = args[1],
                ["latin1", "latin-1", "iso-8859-1"].contains(encoding.lowercased())
            else {
                throw fail("_codecs.encode expects (str, 'latin1')")
            }
            encodedBytes += text.utf8.count
            guard encodedBytes <= bytes.count else {
                throw fail("_codecs.encode has made \(encodedBytes) bytes, more than the pickle's own \(bytes.count)")
            }
            var out = [UInt8]()
            out.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else {
                    throw fail("_codecs.encode: U+\(String(scalar.value, radix: 16)) is not latin1")
                }
                out.append(UInt8(scalar.value))
            }
            return .bytes(out)
        default:
            return try hooks.call(name, args, heap: &heap)
        }
    }

    // MARK: Stack and input

    /// Sets key/value pairs given flat (`k1, v1, k2, v2, ...`) in the dict `target`.
    private mutating func fill(_ target: PickleValue, _ flat: [PickleValue]) throws {
        guard case .dict(let dict) = target else { throw fail("SETITEM on a non-dict") }
        guard flat.count % 2 == 0 else { throw fail("odd number of values for SETITEMS") }
        for i in stride(from: 0, to: flat.count, by: 2) {
            switch flat[i] {
            case .string(let key): keyBytes += key.utf8.count
            case .bytes(let key): keyBytes += key.count
            default: break
            }
            guard keyBytes <= 4 * bytes.count + (1 << 20) else {
                throw fail("dict keys total \(keyBytes) bytes, more than 4 times the pickle's \(bytes.count)")
            }
            heap.dicts[dict].set(flat[i], flat[i + 1])
        }
    }

    /// `items`, after counting them in `values` (they are about to be stored in a container).
    /// - Throws: `PickleError.malformed` past `PickleLimit.values`.
    private mutating func counted(_ items: [PickleValue]) throws -> [PickleValue] {
        try count(items.count, "values in containers")
        return items
    }

    /// Adds `n` to `values`, refusing the pickle past `PickleLimit.values` (`what` says what was counted), and
    /// polls `ReadInterruption` every 65,536 values, so Ctrl-C or SIGTERM stops a long read.
    /// - Throws: `PickleError.malformed` past the limit, `CancellationError` when a stop was asked for.
    private mutating func count(_ n: Int, _ what: String) throws {
        values += n
        guard values <= PickleLimit.values else {
            throw fail("more than \(PickleLimit.values) \(what): refused before it takes more memory")
        }
        if values >= nextPoll {
            nextPoll = values + 0x10000
            try ReadInterruption.check()
        }
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
        let value = try pop()
        let key = try pop()
        return [key, value]
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let previous = marks.popLast() else { throw fail("no MARK on the stack") }
        defer { stack = previous }
        return stack
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - position else {
            throw fail("\(streamName) ends inside an opcode (needs \(n) bytes at byte \(position) of \(bytes.count))")
        }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    /// A little-endian unsigned integer of `n` bytes.
    private mutating func uint(_ n: Int) throws -> UInt64 {
        try take(n).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// An 8-byte length (`BINUNICODE8`, `BINBYTES8`, `BYTEARRAY8`), which must fit in the bytes after it.
    private mutating func length8() throws -> Int {
        let n = try uint(8)
        guard n <= UInt64(bytes.count - position) else {
            throw fail("length \(n) is longer than the rest of \(streamName) (\(bytes.count - position) bytes)")
        }
        return Int(n)
    }

    private mutating func text(_ n: Int) throws -> String {
        guard let s = String(bytes: try take(n), encoding: .utf8) else { throw fail("string is not valid UTF-8") }
        return s
    }

    private mutating func line() throws -> String {
        guard let end = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else {
            throw fail("GLOBAL without a newline")
        }
        let s = try text(end - position)
        position += 1
        return s
    }
}
