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
        let train = PickleWriter.cifarBatch(PickleWriter.cifarPixels(4),
                                            labels: [("fine_labels", [0, 30, 60, 99]), ("coarse_labels", [0, 5, 10, 19])])
        try f.write("cifar-100-python/train", train)
        try f.write("cifar-100-python/test", PickleWriter.cifarBatch(PickleWriter.cifarPixels(1),
                                                                    labels: [("fine_labels", [7]), ("coarse_labels", [3])]))
        try f.write("cifar-100-python/meta", PickleWriter.dict([
            (key: "fine_label_names", value: PickleWriter.strList((0..<100).map { "fine\($0)" })),
            (key: "coarse_label_names", value: PickleWriter.strList((0..<20).map { "coarse\($0)" }))]))
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

    /// What CPython 3.11 with NumPy 2.4 writes (`scripts/cifar-pickle-reference.py`): protocol 2 spells bytes as
    /// `_codecs.encode(str, 'latin1')`; protocol 4 uses `STACK_GLOBAL`, `MEMOIZE` and `SHORT_BINBYTES`; both name
    /// `numpy._core.multiarray._reconstruct`.
    func testPicklesWrittenByCPython() throws {
        // pickle.dumps({b'data': np.arange(6, dtype=np.uint8).reshape(2, 3), b'labels': [1, 0]}, protocol=2)
        let protocol2 = Self.bytes(
            "80027d710028635f636f646563730a656e636f64650a7101580400000064617461710258060000006c6174696e3171038671045271"
            + "05636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7106636e756d70790a6e64617272"
            + "61790a71074b0085710868015801000000627109680386710a52710b87710c52710d284b014b024b0386710e636e756d70790a6474"
            + "7970650a710f5802000000753171108988877111527112284b0358010000007c71134e4e4e4affffffff4affffffff4b0074711462"
            + "89680158060000000001020304057115680386711652711774711862680158060000006c6162656c737119680386711a52711b5d71"
            + "1c284b014b0065752e")
        let (root, heap) = try NumPyPickle.load(protocol2, path: "p2")
        guard case let .dict(d) = root, case let .object(a)? = heap.dicts[d][bytes: "data"],
              case let .array(array?) = heap.objects[a] else { return XCTFail("no array under b'data'") }
        XCTAssertEqual(array.shape, [2, 3])
        XCTAssertEqual(array.dtype, "u1")
        XCTAssertEqual(array.data, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(heap.dicts[d][bytes: "labels"].flatMap(heap.ints), [1, 0])

        // pickle.dumps({'data': np.array([[1, 2], [3, 250]], dtype=np.uint8),
        //               'fine_labels': np.array([7, 300], dtype=np.int64)}, protocol=4)
        let protocol4 = Self.bytes(
            "800495fa000000000000007d94288c0464617461948c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f"
            + "6e7374727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b024b0286946805"
            + "8c0564747970659493948c02753194898887945294284b038c017c944e4e4e4affffffff4affffffff4b00749462894304010203fa"
            + "947494628c0b66696e655f6c6162656c7394680468074b008594680987945294284b014b028594680e8c02693894898887945294284b"
            + "038c013c944e4e4e4affffffff4affffffff4b0074946289431007000000000000002c0100000000000094749462752e")
        let (root4, heap4) = try NumPyPickle.load(protocol4, path: "p4")
        guard case let .dict(d4) = root4, case let .object(x)? = heap4.dicts[d4]["data"],
              case let .array(data?) = heap4.objects[x], case let .object(y)? = heap4.dicts[d4]["fine_labels"],
              case let .array(labels?) = heap4.objects[y] else { return XCTFail("no arrays under 'data', 'fine_labels'") }
        XCTAssertEqual(data.data, [1, 2, 3, 250])
        XCTAssertEqual(labels.described, "i8 [2]")
        XCTAssertEqual(labels.byteOrder, "<")
        XCTAssertEqual(labels.integers, [7, 300])
    }

    func testNumPy2ModuleAndLabelArray() throws {
        let batch = PickleWriter.dict([
            (key: "data", value: PickleWriter.ndarray(dtype: "u1", shape: [1, 3072], data: PickleWriter.cifarPixels(1),
                                                      module: "numpy._core.multiarray")),
            (key: "labels", value: PickleWriter.ndarray(dtype: "i8", order: "<", shape: [1], data: [4, 0, 0, 0, 0, 0, 0, 0]))])
        let (pixels, labels) = try DatasetLoader.parseCIFARPickle(batch, path: "b", labelsKey: "labels", classCount: 10)
        XCTAssertEqual(labels, [4])
        XCTAssertEqual(pixels.count, 3072)
        XCTAssertEqual(pixels[3071], UInt8(3071 % 256))
    }

    func testHostilePickles() throws {
        func message(_ bytes: [UInt8], classCount: Int = 10) -> String {
            do {
                _ = try DatasetLoader.parseCIFARPickle(bytes, path: "data_batch_1", labelsKey: "labels", classCount: classCount)
                return "loaded"
            } catch { return "\(error)" }
        }
        let good = PickleWriter.cifarBatch(PickleWriter.cifarPixels(2), labels: [("labels", [1, 2])])
        XCTAssertEqual(message(good), "loaded")
        XCTAssertEqual(message(Array(good.dropLast(40))), "data_batch_1: bad pickle: at byte 161: the pickle ends inside"
                       + " an opcode (needs 6144 bytes at byte 166 of \(good.count - 40))")
        let short = PickleWriter.dict([(key: "data", value: PickleWriter.ndarray(dtype: "u1", shape: [1, 3072],
                                                                                  data: PickleWriter.cifarPixels(1).dropLast()))])
        XCTAssertEqual(message(short), "data_batch_1: bad pickle: at byte 3203: ndarray data holds 3071 bytes,"
                       + " but u1 [1, 3072] needs 3072 elements of 1 byte")
        let narrow = PickleWriter.dict([(key: "data", value: PickleWriter.ndarray(dtype: "u1", shape: [2, 3071],
                                                                                   data: PickleWriter.cifarPixels(2).dropLast(2)))])
        XCTAssertEqual(message(narrow), "data_batch_1: bad pickle: 'data' is u1 [2, 3071], expected u1 [N, 3072]"
                       + " (N > 0 images of 3 × 32 × 32 bytes)")
        let wide = PickleWriter.dict([(key: "data", value: PickleWriter.ndarray(dtype: "i2", order: "<", shape: [1, 3072],
                                                                                 data: PickleWriter.cifarPixels(2)))])
        XCTAssertEqual(message(wide), "data_batch_1: bad pickle: 'data' is i2 [1, 3072], expected u1 [N, 3072]"
                       + " (N > 0 images of 3 × 32 × 32 bytes)")
        let complex = PickleWriter.dict([(key: "data", value: PickleWriter.ndarray(dtype: "c8", shape: [1], data: [0]))])
        XCTAssertEqual(message(complex), "data_batch_1: bad pickle: at byte 98: numpy.dtype 'c8' is not supported"
                       + " (need u1...u8, i1...i8, f4 or f8)")
        let outOfRange = PickleWriter.cifarBatch(PickleWriter.cifarPixels(2), labels: [("labels", [3, 10])])
        XCTAssertEqual(message(outOfRange), "data_batch_1: label 10 of sample 1 is outside 0..<10")
        let negative = PickleWriter.cifarBatch(PickleWriter.cifarPixels(1), labels: [("labels", [-1])])
        XCTAssertEqual(message(negative), "data_batch_1: label -1 of sample 0 is outside 0..<10")
        let fewer = PickleWriter.cifarBatch(PickleWriter.cifarPixels(2), labels: [("labels", [3])])
        XCTAssertEqual(message(fewer), "data_batch_1: bad pickle: 'labels' holds 1 labels but 'data' holds 2 images")
        let noLabels = PickleWriter.cifarBatch(PickleWriter.cifarPixels(1), labels: [("fine_labels", [3])])
        XCTAssertEqual(message(noLabels), "data_batch_1: bad pickle: no key 'labels' (has: batch_label, data, fine_labels)")
        let system = PickleWriter.dict([(key: "data", value: PickleWriter.global("os", "system") + PickleWriter.str("ls")
                                                              + [0x85, UInt8(ascii: "R")])])
        XCTAssertEqual(message(system), "data_batch_1: bad pickle: refusing the global 'os.system' (only NumPy arrays,"
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
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir, train: true)) { $0 == .missingFile(path: dir + "/data_batch_3") }
        XCTAssertEqual(try DatasetLoader.cifar10(dir: f.dir, train: false).count, 1)
        try f.write("cifar-10-batches-py/batches.meta", PickleWriter.dict([(key: "label_names", value: PickleWriter.strList(["a"]))]))
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir, train: false)) {
            $0 == .badPickle(path: dir + "/batches.meta", reason: "'label_names' is not a list of 10 names")
        }
        try FileManager.default.removeItem(atPath: dir + "/batches.meta")
        XCTAssertEqual(try DatasetLoader.cifar10(dir: f.dir, train: false).classNames, DatasetLoader.cifar10Classes)
        assertDatasetError(try DatasetLoader.cifar100(dir: f.dir, train: false)) {
            $0 == .missingFiles(wanted: "CIFAR-100 test.bin (binary version) or test (python version)",
                                folders: [f.dir, f.dir + "/cifar-100-binary", f.dir + "/cifar-100-python"])
        }
        assertDatasetError(try DatasetLoader.cifar10(dir: f.dir + "/nope", train: false)) { $0 == .missingFile(path: f.dir + "/nope") }
    }
}
