import Foundation
import Storage
import TestSupport
import XCTest

@testable import Datasets

/// The CIFAR python version (pickles of NumPy arrays), from files laid out as the archives unpack, on pickles
/// CPython wrote (hex), and on hostile files.
final class CIFARPythonTests: XCTestCase {
    static func bytes(_ hex: String) -> [UInt8] {
        stride(from: 0, to: hex.count - 1, by: 2).map { i in
            UInt8(hex.dropFirst(i).prefix(2), radix: 16) ?? 0
        }
    }

    func testCIFAR10PythonFolderUnderRootAndItself() throws {
        let f = try Fixtures()
        let names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        try PickleWriter.writeCIFAR10(in: f.dir + "/cifar-10-batches-py", perBatch: 2, test: 3, classNames: names)
        for path in [f.dir, f.dir + "/cifar-10-batches-py"] {
            let (train, test) = try DatasetLoader.standard("cifar10", path: path)
            XCTAssertEqual(train.count, 10)
            XCTAssertEqual(train.labels, [1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
            XCTAssertEqual(test.labels, [9, 8, 7])
            XCTAssertEqual(train.classNames, names)
            XCTAssertEqual(train.imageShape, [3, 32, 32])
            XCTAssertEqual(train.defaultAugmentation, Augmentation(cropPadding: 4, horizontalFlip: true))
            // data_batch_1 image 0 starts at pixel value 10 * 3 = 30; data_batch_2 image 1 at (21) * 3 = 63.
            XCTAssertEqual(train.image(0)[5], Float(35) / 255, accuracy: 1e-7)
            XCTAssertEqual(train.image(3)[0], Float(63) / 255, accuracy: 1e-7)
            XCTAssertEqual(test.image(1)[2], Float(5) / 255, accuracy: 1e-7)
            XCTAssertEqual(test.image(2)[2047], Float((6 + 2047) % 256) / 255, accuracy: 1e-7)
        }
    }

    func testCIFAR100PythonFineAndCoarse() throws {
        let f = try Fixtures()
        let dir = f.dir + "/cifar-100-python"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let train = PickleWriter.cifarBatch(
            PickleWriter.cifarPixels(4),
            labels: [("fine_labels", [0, 30, 60, 99]), ("coarse_labels", [0, 5, 10, 19])])
        try f.write("cifar-100-python/train", train)
        try f.write(
            "cifar-100-python/test",
            PickleWriter.cifarBatch(
                PickleWriter.cifarPixels(1),
                labels: [("fine_labels", [7]), ("coarse_labels", [3])]))
        try f.write(
            "cifar-100-python/meta",
            PickleWriter.dict([
                (key: "fine_label_names", value: PickleWriter.strList((0..<100).map { "fine\($0)" })),
                (key: "coarse_label_names", value: PickleWriter.strList((0..<20).map { "coarse\($0)" })),
            ]))
        let (fine, fineTest) = try DatasetLoader.standard("cifar100", path: f.dir)
        XCTAssertEqual(fine.labels, [0, 30, 60, 99])
        XCTAssertEqual(fine.classCount, 100)
        XCTAssertEqual(fine.classNames[99], "fine99")
        XCTAssertEqual(fineTest.labels, [7])
        let (coarse, coarseTest) = try DatasetLoader.standard("cifar100-coarse", path: dir)
        XCTAssertEqual(coarse.labels, [0, 5, 10, 19])
        XCTAssertEqual(coarse.classNames, (0..<20).map { "coarse\($0)" })
        XCTAssertEqual(coarseTest.labels, [3])
        XCTAssertEqual(coarse.image(3)[1], Float(10) / 255, accuracy: 1e-7)
    }

    /// What CPython 3.11 with NumPy 2.4 writes (`scripts/cifar-pickle-reference.py`, `CIFARPickleReference`):
    /// protocol 2 spells bytes as `_codecs.encode(str, 'latin1')`; protocol 4 uses `STACK_GLOBAL`, `MEMOIZE` and
    /// `SHORT_BINBYTES`; both name `numpy._core.multiarray._reconstruct`.
    func testPicklesWrittenByCPython() throws {
        let (root, heap) = try NumPyPickle.load(CIFARPickleReference.bytesKeys2, path: "p2")
        guard case .dict(let d) = root, case .object(let a)? = heap.dicts[d][bytes: "data"],
            case .array(let array?) = heap.objects[a]
        else { return XCTFail("no array under b'data'") }
        XCTAssertEqual(array.shape, [2, 3])
        XCTAssertEqual(array.dtype, "u1")
        XCTAssertEqual(array.data, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(heap.dicts[d][bytes: "labels"].flatMap(heap.ints), [1, 0])

        let (root4, heap4) = try NumPyPickle.load(CIFARPickleReference.fineLabels4, path: "p4")
        guard case .dict(let d4) = root4, case .object(let x)? = heap4.dicts[d4]["data"],
            case .array(let data?) = heap4.objects[x], case .object(let y)? = heap4.dicts[d4]["fine_labels"],
            case .array(let labels?) = heap4.objects[y]
        else { return XCTFail("no arrays under 'data', 'fine_labels'") }
        XCTAssertEqual(data.data, [1, 2, 3, 250])
        XCTAssertEqual(labels.described, "i8 [2]")
        XCTAssertEqual(labels.byteOrder, "<")
        XCTAssertEqual(labels.integers, [7, 300])
    }

    /// The pixels of `CIFARPickleReference`'s batches: pixel p of image i = (i * 101 + p * 7) % 256.
    static func referencePixels(_ n: Int) -> [UInt8] {
        (0..<n * 3072).map { (k: Int) -> UInt8 in
            let image = k / 3072
            let pixel = k % 3072
            return UInt8((image * 101 + pixel * 7) % 256)
        }
    }

    /// A 2-image batch NumPy 2 pickled at protocols 2, 3, 4 and 5 (5: `_frombuffer` with `BYTEARRAY8`, under
    /// NumPy 2's and NumPy 1's module names): the same pixels, list labels and int64-array labels from each.
    func testCIFARBatchesNumPyWroteAtEveryProtocol() throws {
        let batches = [
            ("2", CIFARPickleReference.batch2), ("3", CIFARPickleReference.batch3),
            ("4", CIFARPickleReference.batch4), ("5", CIFARPickleReference.batch5),
            ("5 numpy.core", CIFARPickleReference.numpy1Batch5),
        ]
        for (name, bytes) in batches {
            XCTAssertEqual(bytes[1], UInt8(name.prefix(1)), name)  // PROTO n
            let (pixels, labels) = try DatasetLoader.parseCIFARPickle(
                bytes, path: name, labelsKey: "labels",
                classCount: 10)
            XCTAssertEqual(pixels, Self.referencePixels(2), name)
            XCTAssertEqual(pixels[3072 + 1], 108, name)  // image 1, pixel 1: 101 + 7
            XCTAssertEqual(labels, [3, 9], name)
            let (finePixels, fine) = try DatasetLoader.parseCIFARPickle(
                bytes, path: name, labelsKey: "fine_labels",
                classCount: 100)
            XCTAssertEqual(finePixels, pixels, name)
            XCTAssertEqual(fine, [42, 7], name)
            // The dtypes' BUILD states (3, '|', None, None, None, -1, -1, 0) and (3, '<', ...) set the byte orders.
            let (root, heap) = try NumPyPickle.load(bytes, path: name)
            guard case .dict(let d) = root, case .object(let x)? = heap.dicts[d]["data"],
                case .array(let data?) = heap.objects[x], case .object(let y)? = heap.dicts[d]["fine_labels"],
                case .array(let array?) = heap.objects[y]
            else { return XCTFail("\(name): no arrays") }
            XCTAssertEqual(
                [data.described, data.byteOrder, array.described, array.byteOrder],
                ["u1 [2, 3072]", "|", "i8 [2]", "<"], name)
            XCTAssertEqual(heap.dicts[d]["batch_label"], .string("testing batch 1 of 1"), name)
        }
        XCTAssertTrue(CIFARPickleReference.batch5.contains(0x96))  // BYTEARRAY8
        XCTAssertNotNil(
            String(decoding: CIFARPickleReference.numpy1Batch5, as: UTF8.self)
                .range(of: "numpy.core.numeric"))
    }

    /// `batches.meta` as NumPy's Python pickles it at each protocol.
    func testMetaFilesAtEveryProtocol() throws {
        let metas = [
            CIFARPickleReference.meta2, CIFARPickleReference.meta3, CIFARPickleReference.meta4,
            CIFARPickleReference.meta5,
        ]
        for (p, bytes) in zip(2..., metas) {
            let names = try DatasetLoader.parsePickledClassNames(bytes, path: "m\(p)", key: "label_names", count: 10)
            XCTAssertEqual(names, DatasetLoader.cifar10Classes, "protocol \(p)")
        }
    }

    /// Class names must be told apart: an empty or a repeated name is an error naming the file and classes.
    func testEmptyOrRepeatedClassNamesAreRefused() throws {
        func message(_ names: [String]) -> String {
            let meta = PickleWriter.dict([(key: "label_names", value: PickleWriter.strList(names))])
            do {
                _ = try DatasetLoader.parsePickledClassNames(meta, path: "batches.meta", key: "label_names", count: 3)
                return "loaded"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(message(["cat", "dog", "ship"]), "loaded")
        XCTAssertEqual(
            message(["cat", "dog", "cat"]),
            "batches.meta: bad pickle: 'label_names' names class 0 and class 2 both 'cat'")
        XCTAssertEqual(
            message(["cat", " ", "ship"]), "batches.meta: bad pickle: 'label_names' has an empty class name (class 1)")
        XCTAssertThrowsError(
            try DatasetLoader.parseClassNames(Array("a\nb\na\n".utf8), path: "batches.meta.txt", count: 3)
        ) {
            XCTAssertEqual(
                "\($0)", "batches.meta.txt: bad header: names class 0 and class 2 both 'a'")
        }
    }

    /// Arrays in the other layouts NumPy writes: read-only at protocol 5 (`SHORT_BINBYTES`, `BINBYTES` instead of
    /// `BYTEARRAY8`), Fortran order (order 'F' at 5, is_fortran at 2, transposed to C order), 3-D, float32.
    func testArrayLayoutsNumPyWrote() throws {
        for (p, bytes) in [(2, CIFARPickleReference.small2), (5, CIFARPickleReference.small5)] {
            let (root, heap) = try NumPyPickle.load(bytes, path: "s\(p)")
            guard case .dict(let d) = root else { return XCTFail("protocol \(p): not a dict") }
            func array(_ key: String) -> PickledArray? {
                guard case .object(let i)? = heap.dicts[d][key], case .array(let a?) = heap.objects[i] else {
                    return nil
                }
                return a
            }
            XCTAssertEqual(array("readonly")?.described, "u1 [2, 3]")
            XCTAssertEqual(array("readonly")?.data, [1, 2, 3, 4, 5, 6])
            XCTAssertEqual(array("readonly_long")?.described, "u1 [3, 100]")
            XCTAssertEqual(array("readonly_long")?.data, (0..<300).map { UInt8($0 % 256) })
            XCTAssertEqual(array("fortran")?.described, "i2 [2, 3]")
            XCTAssertEqual(array("fortran")?.integers, [0, 1, 2, 3, 4, 5], "protocol \(p)")
            XCTAssertEqual(array("fortran3")?.described, "u1 [2, 3, 4]")
            XCTAssertEqual(array("fortran3")?.data, Array(0..<24), "protocol \(p)")
            XCTAssertEqual(array("float")?.data, [0, 0, 0, 0x3F, 0, 0, 0, 0xC0])  // 0.5, -2.0 little-endian
        }
        // In the file the Fortran arrays' bytes are column by column: i2 0, 3, 1, 4, 2, 5.
        let fortranBytes: [UInt8] = [0, 0, 3, 0, 1, 0, 4, 0, 2, 0, 5, 0]
        for bytes in [CIFARPickleReference.small2, CIFARPickleReference.small5] {
            XCTAssertTrue(bytes.indices.contains { bytes[$0...].starts(with: fortranBytes) })
        }
    }

    /// Protocol 5 as written here (`PickleWriter.cifarBatch(protocol: 5)`), and what it refuses: buffers that are
    /// cut short or do not match their shape, out-of-band buffers, orders other than 'C' and 'F'.
    func testProtocol5() throws {
        func message(_ bytes: [UInt8]) -> String {
            do {
                _ = try DatasetLoader.parseCIFARPickle(bytes, path: "data_batch_1", labelsKey: "labels", classCount: 10)
                return "loaded"
            } catch { return "\(error)" }
        }
        let good = PickleWriter.cifarBatch(
            PickleWriter.cifarPixels(2), labels: [("labels", [1, 2])], protocol: 5,
            labelArrays: true)
        let (pixels, labels) = try DatasetLoader.parseCIFARPickle(good, path: "b", labelsKey: "labels", classCount: 10)
        XCTAssertEqual(pixels, PickleWriter.cifarPixels(2))
        XCTAssertEqual(labels, [1, 2])
        func batch(_ data: [UInt8]) -> [UInt8] { PickleWriter.dict5([(key: "data", value: data)]) }

        // BYTEARRAY8 whose length runs past the end of the file.
        let cut = Array(good.prefix(good.count / 2))
        let offset = cut.firstIndex(of: 0x96) ?? -1
        XCTAssertEqual(
            message(cut),
            "data_batch_1: bad pickle: at byte \(offset): length 6144 is longer than the rest"
                + " of the pickle (\(cut.count - offset - 9) bytes)")
        let huge = batch(
            PickleWriter.stackGlobal("numpy._core.numeric", "_frombuffer") + [UInt8(ascii: "("), 0x96]
                + [UInt8](repeating: 0xFF, count: 8) + [1, 2, 3])
        XCTAssertEqual(
            message(huge),
            "data_batch_1: bad pickle: at byte 46: length 18446744073709551615 is longer"
                + " than the rest of the pickle (5 bytes)")
        // A buffer of the wrong size for its shape and dtype.
        let short = batch(
            PickleWriter.ndarray5(
                dtype: "u1", shape: [1, 3072],
                data: PickleWriter.cifarPixels(1).dropLast()))
        XCTAssertEqual(
            message(short),
            "data_batch_1: bad pickle: at byte 3183: ndarray data holds 3071 bytes,"
                + " but u1 [1, 3072] needs 3072 elements of 1 byte")
        let wide = batch(PickleWriter.ndarray5(dtype: "i8", order: "<", shape: [2], data: [1, 0, 0, 0, 0, 0, 0, 0]))
        XCTAssertEqual(
            message(wide),
            "data_batch_1: bad pickle: at byte 117: ndarray data holds 8 bytes,"
                + " but i8 [2] needs 2 elements of 8 bytes")
        // Out-of-band buffers: NEXT_BUFFER (and READONLY_BUFFER after it).
        let outOfBand = batch(
            PickleWriter.stackGlobal("numpy._core.numeric", "_frombuffer") + [
                UInt8(ascii: "("), 0x97,
                0x98,
            ])
        XCTAssertEqual(
            message(outOfBand),
            "data_batch_1: bad pickle: at byte 46: NEXT_BUFFER (protocol 5) takes an"
                + " out-of-band buffer, whose bytes are not in the file (written with pickle.dump(...,"
                + " buffer_callback=...)); pickle it without buffer_callback")
        XCTAssertEqual(
            message(batch(PickleWriter.unicode("x") + [0x98])),
            "data_batch_1: bad pickle: at byte 13:"
                + " READONLY_BUFFER (protocol 5) marks an out-of-band buffer, whose bytes are not in the file;"
                + " pickle it without buffer_callback")
        // Orders other than 'C' and 'F', arguments of the wrong kind, and _frombuffer where it is not allowed.
        let keep = batch(
            PickleWriter.ndarray5(
                dtype: "u1", shape: [2, 3072], data: PickleWriter.cifarPixels(2),
                layout: "K"))
        XCTAssertEqual(
            message(keep),
            "data_batch_1: bad pickle: at byte 6256: _frombuffer order 'K' is not supported"
                + " (need 'C' or 'F')")
        let noDtype = batch(
            PickleWriter.stackGlobal("numpy._core.numeric", "_frombuffer") + PickleWriter.unicode("u1")
                + [0x85, UInt8(ascii: "R")])
        XCTAssertEqual(
            message(noDtype),
            "data_batch_1: bad pickle: at byte 50: _frombuffer expects (buffer,"
                + " numpy.dtype, shape, order)")
        let other = batch(PickleWriter.stackGlobal("numpy._core.numeric", "fromstring"))
        XCTAssertEqual(
            message(other),
            "data_batch_1: bad pickle: refusing the global 'numpy._core.numeric.fromstring'"
                + " (only NumPy arrays, lists, dicts, numbers and strings are allowed)")
        // A read-only buffer (BINBYTES) and NumPy 1's module name load too.
        let readonly = PickleWriter.ndarray5(
            dtype: "u1", shape: [1, 3072], data: PickleWriter.cifarPixels(1),
            readonly: true, module: "numpy.core.numeric")
        let one = PickleWriter.dict5([
            (key: "data", value: readonly),
            (key: "labels", value: PickleWriter.intList([5])),
        ])
        let (readonlyPixels, readonlyLabels) = try DatasetLoader.parseCIFARPickle(
            one, path: "r", labelsKey: "labels",
            classCount: 10)
        XCTAssertEqual(readonlyPixels, PickleWriter.cifarPixels(1))
        XCTAssertEqual(readonlyLabels, [5])
    }

    func testNumPy2ModuleAndLabelArray() throws {
        let batch = PickleWriter.dict([
            (
                key: "data",
                value: PickleWriter.ndarray(
                    dtype: "u1", shape: [1, 3072], data: PickleWriter.cifarPixels(1),
                    module: "numpy._core.multiarray")
            ),
            (
                key: "labels",
                value: PickleWriter.ndarray(dtype: "i8", order: "<", shape: [1], data: [4, 0, 0, 0, 0, 0, 0, 0])
            ),
        ])
        let (pixels, labels) = try DatasetLoader.parseCIFARPickle(batch, path: "b", labelsKey: "labels", classCount: 10)
        XCTAssertEqual(labels, [4])
        XCTAssertEqual(pixels.count, 3072)
        XCTAssertEqual(pixels[3071], UInt8(3071 % 256))
    }

    func testHostilePickles() throws {
        func message(_ bytes: [UInt8], classCount: Int = 10) -> String {
            do {
                _ = try DatasetLoader.parseCIFARPickle(
                    bytes, path: "data_batch_1", labelsKey: "labels", classCount: classCount)
                return "loaded"
            } catch { return "\(error)" }
        }
        let good = PickleWriter.cifarBatch(PickleWriter.cifarPixels(2), labels: [("labels", [1, 2])])
        XCTAssertEqual(message(good), "loaded")
        XCTAssertEqual(
            message(Array(good.dropLast(40))),
            "data_batch_1: bad pickle: at byte 161: the pickle ends inside"
                + " an opcode (needs 6144 bytes at byte 166 of \(good.count - 40))")
        // A batch of only `data`, an array of `dtype` and `shape` over `data`.
        func dataOnly(_ dtype: String, order: String = "|", _ shape: [Int], _ data: [UInt8]) -> [UInt8] {
            PickleWriter.dict([
                (key: "data", value: PickleWriter.ndarray(dtype: dtype, order: order, shape: shape, data: data))
            ])
        }
        let short = dataOnly("u1", [1, 3072], PickleWriter.cifarPixels(1).dropLast())
        XCTAssertEqual(
            message(short),
            "data_batch_1: bad pickle: at byte 3203: ndarray data holds 3071 bytes,"
                + " but u1 [1, 3072] needs 3072 elements of 1 byte")
        let narrow = dataOnly("u1", [2, 3071], PickleWriter.cifarPixels(2).dropLast(2))
        XCTAssertEqual(
            message(narrow),
            "data_batch_1: bad pickle: 'data' is u1 [2, 3071], expected u1 [N, 3072]"
                + " (N > 0 images of 3 × 32 × 32 bytes)")
        let wide = dataOnly("i2", order: "<", [1, 3072], PickleWriter.cifarPixels(2))
        XCTAssertEqual(
            message(wide),
            "data_batch_1: bad pickle: 'data' is i2 [1, 3072], expected u1 [N, 3072]"
                + " (N > 0 images of 3 × 32 × 32 bytes)")
        let complex = PickleWriter.dict([(key: "data", value: PickleWriter.ndarray(dtype: "c8", shape: [1], data: [0]))]
        )
        XCTAssertEqual(
            message(complex),
            "data_batch_1: bad pickle: at byte 98: numpy.dtype 'c8' is not supported"
                + " (need u1...u8, i1...i8, f4 or f8)")
        let outOfRange = PickleWriter.cifarBatch(PickleWriter.cifarPixels(2), labels: [("labels", [3, 10])])
        XCTAssertEqual(message(outOfRange), "data_batch_1: label 10 of sample 1 is outside 0..<10")
        let negative = PickleWriter.cifarBatch(PickleWriter.cifarPixels(1), labels: [("labels", [-1])])
        XCTAssertEqual(message(negative), "data_batch_1: label -1 of sample 0 is outside 0..<10")
        let fewer = PickleWriter.cifarBatch(PickleWriter.cifarPixels(2), labels: [("labels", [3])])
        XCTAssertEqual(message(fewer), "data_batch_1: bad pickle: 'labels' holds 1 labels but 'data' holds 2 images")
        let noLabels = PickleWriter.cifarBatch(PickleWriter.cifarPixels(1), labels: [("fine_labels", [3])])
        XCTAssertEqual(
            message(noLabels), "data_batch_1: bad pickle: no key 'labels' (has: batch_label, data, fine_labels)")
        let system = PickleWriter.dict([
            (
                key: "data",
                value: PickleWriter.global("os", "system") + PickleWriter.str("ls")
                    + [0x85, UInt8(ascii: "R")]
            )
        ])
        XCTAssertEqual(
            message(system),
            "data_batch_1: bad pickle: refusing the global 'os.system' (only NumPy arrays,"
                + " lists, dicts, numbers and strings are allowed)")
        let escape = PickleWriter.dict([(key: "\u{1B}[2J", value: PickleWriter.int(1))])
        XCTAssertEqual(message(escape), "data_batch_1: bad pickle: no key 'data' (has: \\u{1b}[2J)")
        XCTAssertEqual(message([0x80, 0x02, 0x4B, 0x01, 0x2E]), "data_batch_1: bad pickle: the pickle is not a dict")
        XCTAssertEqual(message([0x80, 0x02, 0xFF]), "data_batch_1: bad pickle: unsupported opcode 0xff at byte 2")
    }

    func testMissingBatchMetaAndFolder() throws {
        let f = try Fixtures()
        let dir = f.dir + "/cifar-10-batches-py"
        try PickleWriter.writeCIFAR10(in: dir, perBatch: 1, test: 1, classNames: (0..<10).map { "c\($0)" })
        try FileManager.default.removeItem(atPath: dir + "/data_batch_3")
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir, train: true)) {
            $0 == .missingFile(path: dir + "/data_batch_3")
        }
        XCTAssertEqual(try DatasetLoader.cifar10(dir: f.dir, train: false).count, 1)
        try f.write(
            "cifar-10-batches-py/batches.meta",
            PickleWriter.dict([(key: "label_names", value: PickleWriter.strList(["a"]))]))
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir, train: false)) {
            $0 == .badPickle(path: dir + "/batches.meta", reason: "'label_names' is not a list of 10 names")
        }
        try FileManager.default.removeItem(atPath: dir + "/batches.meta")
        XCTAssertEqual(try DatasetLoader.cifar10(dir: f.dir, train: false).classNames, DatasetLoader.cifar10Classes)
        assertDatasetError(try DatasetLoader.cifar100(dir: f.dir, train: false)) {
            $0
                == .missingFiles(
                    wanted: "CIFAR-100 test.bin (binary version) or test (python version)",
                    folders: [f.dir, f.dir + "/cifar-100-binary", f.dir + "/cifar-100-python"])
        }
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir + "/nope", train: false)) {
            $0 == .missingFile(path: f.dir + "/nope")
        }
    }
}
