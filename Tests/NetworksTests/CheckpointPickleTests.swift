import Foundation
import Storage
import XCTest

@testable import Networks

/// The restricted unpickler on pickles written by CPython (hex from `pickle.dumps`) and on hostile input.
final class CheckpointPickleTests: XCTestCase {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var digits = Array(hex)
        while digits.count >= 2 {
            out.append(UInt8(String(digits.prefix(2)), radix: 16) ?? 0)
            digits.removeFirst(2)
        }
        return out
    }

    /// Unpickles hex and renders the result as a Python-like string.
    static func show(_ hex: String) throws -> String {
        let (root, heap) = try TorchPickle.load(bytes(hex), path: "p")
        func show(_ value: PickleValue) -> String {
            switch value {
            case .none: return "None"
            case .bool(let b): return b ? "True" : "False"
            case .int(let i): return String(i)
            case .float(let x): return String(x)
            case .string(let s): return "'\(s)'"
            case .bytes(let b): return "b\(b)"
            case .tuple(let i): return "(" + heap.tuples[i].map(show).joined(separator: ", ") + ")"
            case .list(let i): return "[" + heap.lists[i].map(show).joined(separator: ", ") + "]"
            case .dict(let i):
                return "{" + heap.dicts[i].items.map { show($0.key) + ": " + show($0.value) }.joined(separator: ", ")
                    + "}"
            case .global(let name): return name
            case .object(let i):
                switch heap.objects[i] {
                case .storage(let s): return "storage(\(s.key))"
                case .tensor(let t): return "tensor(\(t.size))"
                }
            }
        }
        return show(root)
    }

    func assertError(_ hex: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try TorchPickle.load(Self.bytes(hex), path: "m.pth"), file: file, line: line) { error in
            XCTAssertEqual("\(error)", message, file: file, line: line)
        }
    }

    func testProtocol2Values() throws {
        // pickle.dumps({'a': [1, -2, 3.5, None, True], 'b': (2**40, -300, -70000), 'c': 'é',
        //               'e': [(), (1,), (1, 2), {}], 'f': -2**63}, protocol=2)
        let value = try Self.show(
            "80027d71002858010000006171015d7102284b014afeffffff47400c0000000000004e886558010000006271038a06000000000001"
                + "4ad4feffff4a90eefeff87710458010000006371055802000000c3a9710658010000"
                + "006571075d710828294b018571094b014b0286"
                + "710a7d710b65580100000066710c8a080000000000000080752e")
        XCTAssertEqual(
            value,
            "{'a': [1, -2, 3.5, None, True], 'b': (1099511627776, -300, -70000), 'c': 'é',"
                + " 'e': [(), (1), (1, 2), {}], 'f': -9223372036854775808}")
    }

    func testProtocol5FramesMemoizeAndBytes() throws {
        // pickle.dumps({'a': [1, -2, 3.5, None, True], 'b': (2**40, -300, -70000), 'c': 'é', 'd': b'xy'}, protocol=5)
        let value = try Self.show(
            "80059549000000000000007d94288c0161945d94284b014afeffffff47400c0000000000004e88658c0162948a06000000000001"
                + "4ad4feffff4a90eefeff87948c0163948c02c3a9948c0164944302787994752e")
        XCTAssertEqual(
            value, "{'a': [1, -2, 3.5, None, True], 'b': (1099511627776, -300, -70000), 'c': 'é', 'd': b[120, 121]}")
    }

    /// Protocol 5's in-band buffers (PEP 574) are read as bytes; out-of-band ones are refused.
    func testProtocol5BuffersAndBinBytes8() throws {
        // pickle.dumps({'e': bytearray(b'xy'), 'd': b'xy'}, protocol=5): BYTEARRAY8, SHORT_BINBYTES.
        XCTAssertEqual(
            try Self.show(
                "8005951e000000000000007d94288c016594960200000000000000787994"
                    + "8c0164944302787994752e"),
            "{'e': b[120, 121], 'd': b[120, 121]}")
        XCTAssertEqual(try Self.show("80048e0300000000000000616263" + "2e"), "b[97, 98, 99]")  // BINBYTES8
        assertError(
            "80059603000000000000006162",
            "m.pth: malformed pickle at byte 2 of data.pkl: length 3 is longer"
                + " than the rest of data.pkl (2 bytes)")
        // pickle.dumps(PickleBuffer(b'xy'), protocol=5, buffer_callback=lambda b: False): NEXT_BUFFER READONLY_BUFFER.
        assertError(
            "800597982e",
            "m.pth: malformed pickle at byte 2 of data.pkl: NEXT_BUFFER (protocol 5) takes an"
                + " out-of-band buffer, whose bytes are not in the file (written with pickle.dump(...,"
                + " buffer_callback=...)); pickle it without buffer_callback")
        assertError(
            "8005982e",
            "m.pth: malformed pickle at byte 2 of data.pkl: READONLY_BUFFER (protocol 5) marks an"
                + " out-of-band buffer, whose bytes are not in the file; pickle it without buffer_callback")
    }

    func testOrderedDictReduceAndRepeatedKeysKeepTheLastValue() throws {
        // OrderedDict() then SETITEM 'x' = 2, plus a SETITEM overwriting an existing key.
        XCTAssertEqual(
            try Self.show("800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710158010000007871024b02732e"),
            "{'x': 2}")
        XCTAssertEqual(try Self.show("80027d2858010000007871004b016800" + "4b0275" + "2e"), "{'x': 2}")
        // {1: 'a', True: 'b', 'k': None}: True is the key 1, as in Python.
        XCTAssertEqual(try Self.show("80027d284b015801000000618858010000006258010000006b4e752e"), "{1: 'b', 'k': None}")
    }

    func testDeeplyNestedPickleDoesNotOverflowTheStack() throws {
        let depth = 200_000
        let bytes: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: depth) + [0x2E]  // ((((),),),...)
        let (root, heap) = try TorchPickle.load(bytes, path: "deep")
        guard case .tuple(let i) = root else { return XCTFail("root is not a tuple") }
        XCTAssertEqual(i, depth)
        XCTAssertEqual(heap.tuples.count, depth + 1)
    }

    func testForbiddenGlobalsAreNamedAndNeverCalled() {
        assertError(
            "8002636275696c74696e730a6576616c0a2e",  // GLOBAL builtins eval
            "m.pth: refusing to load: the pickle uses the global 'builtins.eval', which is not allowed"
                + " (only tensors, storages and dicts are, as torch.load(weights_only=True))")
        assertError(
            "80048c05706f736978948c0673797374656d9493",  // STACK_GLOBAL posix system
            "m.pth: refusing to load: the pickle uses the global 'posix.system', which is not allowed"
                + " (only tensors, storages and dicts are, as torch.load(weights_only=True))")
        // NumPy's protocol-5 array constructor is for the CIFAR reader only.
        assertError(
            "80048c136e756d70792e5f636f72652e6e756d65726963948c0b5f66726f6d6275666665729493",
            "m.pth: refusing to load: the pickle uses the global 'numpy._core.numeric._frombuffer', which is"
                + " not allowed (only tensors, storages and dicts are, as torch.load(weights_only=True))")
    }

    /// One memoized 2 MB key set 10,000 times (each SETITEM hashes it): refused at once, not hours of hashing.
    func testRepeatedLargeDictKeyIsBounded() throws {
        let key = 2 << 20
        let repeats = 10_000
        var bytes: [UInt8] = [0x80, 0x02, 0x7D, 0x58] + withUnsafeBytes(of: UInt32(key).littleEndian, Array.init)
        bytes += [UInt8](repeating: 0x6B, count: key) + [0x71, 0x01, 0x4E, 0x73]  // 'kkk...' q1 None SETITEM
        for _ in 0..<repeats { bytes += [0x68, 0x01, 0x4E, 0x73] }  // h1 None SETITEM
        bytes.append(0x2E)
        XCTAssertThrowsError(try TorchPickle.load(bytes, path: "keys")) {
            XCTAssertTrue("\($0)".contains("dict keys total"), "\($0)")
        }
    }

    /// A pickle of 4 Mi+ EMPTY_LIST opcodes (4 MB, 4 KB deflated) stops at `PickleLimit.values` values
    /// instead of building hundreds of bytes of values per opcode byte; so does one list appended to without end.
    func testOpcodeFloodsAreBounded() throws {
        let limit = PickleLimit.values
        let lists: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: limit + 1) + [0x2E]
        XCTAssertThrowsError(try TorchPickle.load(lists, path: "flood")) {
            XCTAssertTrue("\($0)".contains("more than \(limit) values"), "\($0)")
        }
        var appends: [UInt8] = [0x80, 0x02, 0x5D]  // EMPTY_LIST, then (None APPEND) repeated
        for _ in 0..<(limit / 2 + 1) { appends += [0x4E, 0x61] }
        appends.append(0x2E)
        XCTAssertThrowsError(try TorchPickle.load(appends, path: "flood")) {
            XCTAssertTrue("\($0)".contains("more than \(limit) values"), "\($0)")
        }
    }

    /// 20,000 `_rebuild_from_type_v2` calls nested in each other's arguments (a 380 KB pickle; the fuzzer's
    /// reduce-chain seed overflowed the stack): unwrapped in a loop, ending in a plain error.
    func testNestedRebuildChainDoesNotRecurse() throws {
        func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).littleEndian, Array.init) }
        let n = 20_000
        var bytes: [UInt8] = [0x80, 0x02] + Array("ctorch._tensor\n_rebuild_from_type_v2\n".utf8)
        bytes += [0x72] + u32(0) + [0x29, 0x72] + u32(1)  // LONG_BINPUT 0, EMPTY_TUPLE, LONG_BINPUT 1
        for k in 2..<n {  // MARK, func, None, previous args, TUPLE: (func, None, args_k-1)
            bytes += [0x28, 0x6A] + u32(0) + [0x4E, 0x6A] + u32(k - 1) + [0x74, 0x72] + u32(k) + [0x30]
        }
        bytes += [0x6A] + u32(0) + [0x6A] + u32(n - 1) + [0x52, 0x2E]  // func(args_n-1): REDUCE, STOP
        XCTAssertThrowsError(try TorchPickle.load(bytes, path: "chain")) {
            XCTAssertTrue("\($0)".hasSuffix("_rebuild_from_type_v2 expects (func, type, args, state)"), "\($0)")
        }
    }

    /// A long pickle read stops when Ctrl-C or SIGTERM asks (`ReadInterruption`), polled every 65,536 opcodes.
    func testLongReadStopsWhenInterrupted() throws {
        var bytes: [UInt8] = [0x80, 0x02, 0x4E]  // None, then (DUP, POP) x 100,000
        for _ in 0..<100_000 { bytes += [0x32, 0x30] }
        bytes.append(0x2E)
        XCTAssertNoThrow(try TorchPickle.load(bytes, path: "long"))
        ReadInterruption.isRequested = { true }
        defer { ReadInterruption.isRequested = { false } }
        XCTAssertThrowsError(try TorchPickle.load(bytes, path: "long")) {
            XCTAssertTrue($0 is CancellationError, "\($0)")
        }
    }

    func testMalformedPicklesReportTheirByteOffset() {
        assertError("80027d7100ff", "m.pth: unsupported pickle opcode 0xff at byte 5 of data.pkl")
        assertError(
            "800258100000006162",
            "m.pth: malformed pickle at byte 2 of data.pkl: data.pkl ends inside an opcode"
                + " (needs 16 bytes at byte 7 of 9)")
        assertError("8002732e", "m.pth: malformed pickle at byte 2 of data.pkl: stack underflow")
        assertError(
            "800254fbffffff2e", "m.pth: malformed pickle at byte 2 of data.pkl: BINSTRING has a negative length (-5)")
        assertError("80026805", "m.pth: malformed pickle at byte 2 of data.pkl: memo index 5 was never stored")
        assertError("80024b014b022e", "m.pth: malformed pickle at byte 6 of data.pkl: STOP with 2 values on the stack")
        assertError(
            "8002",
            "m.pth: malformed pickle at byte 2 of data.pkl: data.pkl ends inside an opcode (needs 1 bytes at byte 2 "
                + "of 2)"
        )
        assertError(
            "80024b0129522e", "m.pth: malformed pickle at byte 5 of data.pkl: REDUCE of a value that is not a function")
        assertError("80025802000000c3282e", "m.pth: malformed pickle at byte 2 of data.pkl: string is not valid UTF-8")
        assertError(
            "80028a09000000000000000000",
            "m.pth: malformed pickle at byte 2 of data.pkl: integer of 9 bytes is too large")
        assertError("8002752e", "m.pth: malformed pickle at byte 2 of data.pkl: no MARK on the stack")
    }

    func testCheckpointLevelErrors() throws {
        func message(_ name: String) throws -> String {
            let url = try CheckpointFixtureTests.fixture(name)
            do {
                _ = try StateDict.load(contentsOf: url)
                return "loaded"
            } catch {
                return "\(error)".replacingOccurrences(of: url.path, with: name)
            }
        }
        XCTAssertEqual(
            try message("whole_model.pth"),
            "whole_model.pth: refusing to load: the pickle uses the global"
                + " '__main__.Tiny', which is not allowed (only tensors, storages and dicts are, as "
                + "torch.load(weights_only=True))"
        )
        XCTAssertEqual(
            try message("complex.pth"),
            "complex.pth: tensor 'z' has unsupported dtype torch.ComplexFloatStorage"
                + " (sskd reads F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)")
        XCTAssertEqual(
            try message("bad_view.pth"),
            "bad_view.pth: tensor 'w': size [3], stride [1], offset 2 reach outside"
                + " its storage of 4 elements")
        XCTAssertEqual(try message("no_tensors.pth"), "no_tensors.pth: no state dict found: 'model' holds no tensors")
        XCTAssertEqual(try message("no-such-file.pth"), "no-such-file.pth: cannot read: No such file or directory")
    }
}
