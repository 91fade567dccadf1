import Foundation

/// Pickles as Python 2's cPickle writes them at protocol 2 (`pickle.dump(d, f, 2)`), the form of the
/// CIFAR python version (https://www.cs.toronto.edu/~kriz/cifar.html): `str` is `SHORT_BINSTRING`/`BINSTRING`,
/// NumPy arrays are `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b')` then `BUILD` with
/// `(1, shape, dtype, False, raw bytes)`, the dtype `numpy.dtype('u1', 0, 1)` with its own `BUILD` state.
/// Memo opcodes (`BINPUT`) are left out: the stream is otherwise what CPython's `pickletools.dis` shows.
/// `dict5` and `ndarray5` write protocol 5 as Python 3 with NumPy 2 does (PEP 574 in-band buffers).
public enum PickleWriter {
    /// A dict of already pickled values under Python 2 `str` keys, as a whole pickle (PROTO 2 ... STOP).
    public static func dict(_ items: [(key: String, value: [UInt8])]) -> [UInt8] {
        [0x80, 2, ascii("}"), ascii("(")] + items.flatMap { str($0.key) + $0.value } + [ascii("u"), ascii(".")]
    }

    /// A Python 2 `str` (bytes): `SHORT_BINSTRING` below 256 bytes, else `BINSTRING`.
    public static func str(_ text: String) -> [UInt8] { str(Array(text.utf8)) }

    /// A Python 2 `str` of raw bytes.
    public static func str(_ bytes: [UInt8]) -> [UInt8] {
        bytes.count < 256 ? [ascii("U"), UInt8(bytes.count)] + bytes : [ascii("T")] + le(bytes.count, 4) + bytes
    }

    /// A whole number: `BININT1`, `BININT2` or `BININT`.
    public static func int(_ value: Int) -> [UInt8] {
        switch value {
        case 0..<256: return [ascii("K"), UInt8(value)]
        case 256..<65536: return [ascii("M")] + le(value, 2)
        default: return [ascii("J")] + le(value, 4)
        }
    }

    /// A list of whole numbers (`EMPTY_LIST MARK ... APPENDS`).
    public static func intList(_ values: [Int]) -> [UInt8] {
        [ascii("]"), ascii("(")] + values.flatMap(int) + [ascii("e")]
    }

    /// A list of Python 2 `str`.
    public static func strList(_ values: [String]) -> [UInt8] {
        [ascii("]"), ascii("(")] + values.flatMap { str($0) } + [ascii("e")]
    }

    /// An ndarray of NumPy type code `dtype` (`u1`, `i8`, ...) and `shape`, C order, holding `data`.
    /// `module` is `numpy.core.multiarray` (NumPy 1) or `numpy._core.multiarray` (NumPy 2).
    public static func ndarray(
        dtype: String, order: String = "|", shape: [Int], data: [UInt8],
        module: String = "numpy.core.multiarray"
    ) -> [UInt8] {
        var out =
            global(module, "_reconstruct") + global("numpy", "ndarray") + int(0) + [0x85] + str("b") + [0x87]
            + [ascii("R")]
        out += [ascii("(")] + int(1) + [ascii("(")] + shape.flatMap(int) + [ascii("t")]
        out += global("numpy", "dtype") + str(dtype) + int(0) + int(1) + [0x87, ascii("R")]
        out +=
            [ascii("(")] + int(3) + str(order) + Array("NNN".utf8) + [ascii("J")] + le(-1, 4) + [ascii("J")]
            + le(-1, 4) + int(0) + [ascii("t"), ascii("b")]
        out += [0x89] + str(data) + [ascii("t"), ascii("b")]
        return out
    }

    /// A dict of already pickled values under `str` keys, as a whole protocol-5 pickle (PROTO 5 ... STOP), as
    /// Python 3 writes it with `protocol=5` (less the optional `FRAME` and memo opcodes).
    public static func dict5(_ items: [(key: String, value: [UInt8])]) -> [UInt8] {
        [0x80, 5, ascii("}"), ascii("(")] + items.flatMap { unicode($0.key) + $0.value } + [ascii("u"), ascii(".")]
    }

    /// A Python 3 `str`: `SHORT_BINUNICODE` below 256 bytes, else `BINUNICODE`.
    public static func unicode(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        return bytes.count < 256 ? [0x8C, UInt8(bytes.count)] + bytes : [ascii("X")] + le(bytes.count, 4) + bytes
    }

    /// A list of Python 3 `str`.
    public static func unicodeList(_ values: [String]) -> [UInt8] {
        [ascii("]"), ascii("(")] + values.flatMap(unicode) + [ascii("e")]
    }

    /// `STACK_GLOBAL` of `module.name` (protocol 4 and later).
    public static func stackGlobal(_ module: String, _ name: String) -> [UInt8] {
        unicode(module) + unicode(name) + [0x93]
    }

    /// An ndarray as NumPy's `__reduce_ex__(5)` writes it (PEP 574): `module._frombuffer(buffer, dtype, shape,
    /// layout)` with the buffer in band, `BYTEARRAY8` (writable array) or `BINBYTES` (`readonly`). `module` is
    /// `numpy._core.numeric` (NumPy 2) or `numpy.core.numeric` (NumPy 1); `data` is in `layout` order.
    public static func ndarray5(
        dtype: String, order: String = "|", shape: [Int], data: [UInt8], layout: String = "C",
        readonly: Bool = false, module: String = "numpy._core.numeric"
    ) -> [UInt8] {
        var out = stackGlobal(module, "_frombuffer") + [ascii("(")]
        out += (readonly ? [ascii("B")] + le(data.count, 4) : [0x96] + le(data.count, 8)) + data
        out += stackGlobal("numpy", "dtype") + unicode(dtype) + [0x89, 0x88, 0x87, ascii("R")]
        out +=
            [ascii("(")] + int(3) + unicode(order) + Array("NNN".utf8) + [ascii("J")] + le(-1, 4) + [ascii("J")]
            + le(-1, 4) + int(0) + [ascii("t"), ascii("b")]
        out += [ascii("(")] + shape.flatMap(int) + [ascii("t")] + unicode(layout) + [ascii("t"), ascii("R")]
        return out
    }

    /// `GLOBAL module\nname\n`.
    public static func global(_ module: String, _ name: String) -> [UInt8] {
        [ascii("c")] + Array("\(module)\n\(name)\n".utf8)
    }

    /// A CIFAR python-version batch: `data` uint8 `[n, 3072]` and `labelsKey` (`labels`, `fine_labels`, ...),
    /// pickled at `protocol` 2 (as Python 2's cPickle) or 5 (as Python 3 and NumPy 2, labels an int64 array when
    /// `labelArrays`).
    public static func cifarBatch(
        _ pixels: [UInt8], labels: [(key: String, values: [Int])], protocol: Int = 2,
        labelArrays: Bool = false
    ) -> [UInt8] {
        let shape = [pixels.count / 3072, 3072]
        guard `protocol` == 5 else {
            return dict(
                [
                    (key: "batch_label", value: str("testing batch 1 of 1")),
                    (key: "data", value: ndarray(dtype: "u1", shape: shape, data: pixels)),
                ]
                    + labels.map { (key: $0.key, value: intList($0.values)) })
        }
        return dict5(
            [
                (key: "batch_label", value: unicode("testing batch 1 of 1")),
                (key: "data", value: ndarray5(dtype: "u1", shape: shape, data: pixels)),
            ]
                + labels.map { item in
                    (
                        key: item.key,
                        value: labelArrays
                            ? ndarray5(
                                dtype: "i8", order: "<", shape: [item.values.count],
                                data: item.values.flatMap { le($0, 8) })
                            : intList(item.values)
                    )
                })
    }

    /// `n` CIFAR images, pixel `p` of image `i` = `(i * 3 + p) % 256`.
    public static func cifarPixels(_ n: Int, start: Int = 0) -> [UInt8] {
        (0..<n * 3072).map { UInt8(((start + $0 / 3072) * 3 + $0 % 3072) % 256) }
    }

    /// Writes a CIFAR-10 python-version folder (`data_batch_1`...`5` with `perBatch` images each,
    /// `test_batch` with `test` images, `batches.meta` naming the classes) in `dir`, pickled at `protocol` 2 or 5
    /// (at 5 the test batch's labels are an int64 array, the train batches' lists).
    public static func writeCIFAR10(
        in dir: String, perBatch: Int, test: Int, classNames: [String],
        protocol: Int = 2
    ) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func write(_ name: String, _ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
        }
        for b in 1...5 {
            let labels = (0..<perBatch).map { (b + $0) % 10 }
            try write(
                "data_batch_\(b)",
                cifarBatch(
                    cifarPixels(perBatch, start: b * 10), labels: [("labels", labels)],
                    protocol: `protocol`))
        }
        try write(
            "test_batch",
            cifarBatch(
                cifarPixels(test), labels: [("labels", (0..<test).map { 9 - $0 % 10 })],
                protocol: `protocol`, labelArrays: true))
        let meta = [
            (key: "num_cases_per_batch", value: int(perBatch)),
            (key: "label_names", value: `protocol` == 5 ? unicodeList(classNames) : strList(classNames)),
            (key: "num_vis", value: int(3072)),
        ]
        try write("batches.meta", `protocol` == 5 ? dict5(meta) : dict(meta))
    }

    static func ascii(_ c: Character) -> UInt8 { c.asciiValue ?? 0 }

    static func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
}
