import Datasets
import Foundation
import Networks
import Tensors
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// `predict MODEL to=FILE.npy|FILE.csv` on real sessions: the .npy read back byte by byte (NumPy format 1.0,
/// NEP 1) equals the model's own forward pass, the CSV matches it, Ctrl-C writes nothing, and a PyTorch teacher
/// loaded through the language predicts what PyTorch did. Needs the Debian package dataset-fashion-mnist.
final class PredictTests: XCTestCase {
    func temporaryFolder() throws -> URL {
        let dir = try makeTemporaryFolder("sskd-predict")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Reads a float32 `.npy` by the spec alone: magic, version 1.0, header length, the exact header dict,
    /// data at a multiple of 64 bytes, little-endian values.
    static func readNpy(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let bytes = [UInt8](try Data(contentsOf: url))
        XCTAssertEqual(Array(bytes[0..<8]), [0x93] + Array("NUMPY".utf8) + [1, 0], "magic and version 1.0")
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let start = 10 + headerLength
        XCTAssertEqual(start % 64, 0, "data start at a multiple of 64")
        let header = String(decoding: bytes[10..<start], as: UTF8.self)
        XCTAssertTrue(header.hasSuffix("\n"))
        let dict = header.trimmingCharacters(in: .whitespacesAndNewlines)
        let prefix = "{'descr': '<f4', 'fortran_order': False, 'shape': ("
        let suffix = "), }"
        XCTAssertTrue(dict.hasPrefix(prefix) && dict.hasSuffix(suffix), dict)
        let shape = dict.dropFirst(prefix.count).dropLast(suffix.count).split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        XCTAssertEqual(bytes.count, start + 4 * count, "file size")
        let values = (0..<count).map { i -> Float in
            let b = bytes[(start + 4 * i)..<(start + 4 * i + 4)].map(UInt32.init)
            return Float(bitPattern: b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24)
        }
        return (shape, values)
    }

    /// Rows of a CSV without quoted fields (predict's never need quoting), CRLF or LF line ends.
    static func readCSV(_ url: URL) throws -> [[String]] {
        try String(contentsOf: url, encoding: .utf8).split(whereSeparator: \.isNewline)
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    func testNpyAndCsvHoldTheModelsOwnLogitsInSplitOrder() throws {
        try skipUnlessFashionMNIST()
        let dir = try temporaryFolder()
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        // Writers never create folders (EngineGolden/folders.sskd): the subfolder is made here.
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let npy = dir.appendingPathComponent("sub/m.npy").path
        let csv = dir.appendingPathComponent("m.csv").path
        XCTAssertEqual(
            session.run(
                """
                data fashion-mnist limit=300 val=100 seed=3
                m = model resnet8 seed=4
                train m steps=3 batch=32
                predict m split=val to="\(npy)"
                predict m split=val to="\(csv)"
                """, name: "predict"), .ok, sink.text)
        let lines = sink.lines.filter { $0.hasPrefix("wrote") }
        XCTAssertEqual(lines.count, 2, sink.text)
        XCTAssertTrue(lines[0].hasPrefix("wrote 100 x 10 logits of m on val to \"\(npy)\" (top-1 "), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("wrote 100 predictions of m on val to \"\(csv)\" (top-1 "), lines[1])

        // The model's forward pass on the val images, one batch, eval mode.
        guard case .object(let o)? = session.lookup("m"), let model = (o as? ModelObject)?.model else {
            return XCTFail("m is not a model")
        }
        let splits = try XCTUnwrap(session.workspace.data?.splits)
        let batch = try XCTUnwrap(try splits.batches(.val, batchSize: 100, shuffle: false).makeIterator().next())
        let expected = try withNoGrad { try model.forward(batch.images, training: false) }
        let (shape, values) = try Self.readNpy(URL(fileURLWithPath: npy))
        XCTAssertEqual(shape, [100, 10])
        XCTAssertEqual(values.count, expected.count)
        let diff = zip(values, expected.data).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(diff, 1e-5, "logits differ from the model's forward by \(diff)")

        let rows = try Self.readCSV(URL(fileURLWithPath: csv))
        XCTAssertEqual(rows.first, ["index", "label", "prediction", "confidence"])
        XCTAssertEqual(rows.count, 101)
        var correct = 0
        for (i, row) in rows.dropFirst().enumerated() {
            let logits = Array(values[(i * 10)..<(i * 10 + 10)])
            let best = logits.indices.max { logits[$0] < logits[$1] }!  // the first on a tie, as torch.argmax
            XCTAssertEqual(row[0], String(i))
            XCTAssertEqual(row[1], String(batch.labels[i]))
            XCTAssertEqual(row[2], String(best))
            let probability = 1 / logits.map { exp(Double($0 - logits[best])) }.reduce(0, +)
            XCTAssertEqual(Double(row[3]) ?? -1, probability, accuracy: 2e-6)
            if best == batch.labels[i] { correct += 1 }
        }
        XCTAssertTrue(lines[1].hasSuffix(String(format: "(top-1 %.2f%%)", Double(correct))), lines[1])
    }

    func testUnlabelledTrainImagesArePredictedWithAnEmptyLabel() throws {
        try skipUnlessFashionMNIST()
        let csv = try temporaryFolder().appendingPathComponent("train.csv").path
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(
            session.run(
                """
                data fashion-mnist limit=100 labels=20
                m = model resnet8
                predict m split=train to="\(csv)"
                """, name: "train"), .ok, sink.text)
        XCTAssertTrue(sink.lines.last?.hasPrefix("wrote 100 predictions of m on train") == true, sink.text)
        XCTAssertTrue(sink.lines.last?.hasSuffix(" of 20 labelled)") == true, sink.text)
        let rows = try Self.readCSV(URL(fileURLWithPath: csv)).dropFirst()
        XCTAssertEqual(rows.count, 100)
        XCTAssertEqual(rows.filter { $0[1].isEmpty }.count, 80, "unlabelled images have no label")
        XCTAssertEqual(rows.map(\.[0]), (0..<100).map(String.init))
    }

    func testInterruptWritesNothingAndErrorsNameTheOption() throws {
        try skipUnlessFashionMNIST()
        let dir = try temporaryFolder()
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("data fashion-mnist limit=200\nm = model resnet8", name: "setup"), .ok)
        let file = dir.appendingPathComponent("x.npy")
        session.interruptRequested = true  // Ctrl-C before the first batch
        XCTAssertEqual(session.run("predict m to=\"\(file.path)\"", name: "ctrl-c"), .runtimeError)
        XCTAssertTrue(sink.lines.last?.hasSuffix("interrupted") == true, sink.lines.joined(separator: "\n"))
        XCTAssertFalse(session.interruptRequested, "the flag is cleared for the next command")
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path), "no partial file")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "no temporary file left")
        XCTAssertEqual(session.run("predict m to=\"\(file.path)\"", name: "again"), .ok, sink.text)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path))
    }

    /// The PyTorch teacher of DistillationTests/Fixtures/interop (trained on pixels/255, RepDistiller's
    /// `{'model': sd}` layout) through `data ... normalize=none`, `load ... arch=resnet8` and `predict`: its
    /// arg-max per test image is PyTorch's (at most 2 of 10,000 may differ, like its correct count).
    func testPyTorchTeacherPredictsWhatPyTorchDid() throws {
        try skipUnlessFashionMNIST()
        struct Expected: Decodable {
            let correct: Int
            let predictions: [Int]
        }
        let fixtures = packageRoot.appendingPathComponent("Tests/DistillationTests/Fixtures/interop")
        let expected = try JSONDecoder().decode(
            Expected.self,
            from: Data(contentsOf: fixtures.appendingPathComponent("resnet8.json")))
        let npy = try temporaryFolder().appendingPathComponent("teacher.npy").path
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(
            session.run(
                """
                data fashion-mnist normalize=none
                teacher = load "\(fixtures.appendingPathComponent("resnet8-model.pth").path)" arch=resnet8
                predict teacher to="\(npy)"
                """, name: "teacher"), .ok, sink.text)
        let (shape, values) = try Self.readNpy(URL(fileURLWithPath: npy))
        XCTAssertEqual(shape, [10_000, 10])
        let predictions = (0..<10_000).map { i in (0..<10).max { values[i * 10 + $0] < values[i * 10 + $1] }! }
        XCTAssertLessThanOrEqual(zip(predictions, expected.predictions).filter { $0 != $1 }.count, 2)
        let line = try XCTUnwrap(sink.lines.last)
        XCTAssertTrue(line.hasPrefix("wrote 10000 x 10 logits of teacher on test to \"\(npy)\" (top-1 "), line)
        let top1 = try XCTUnwrap(Double(line.split(separator: " ").last?.dropLast(2) ?? ""), line)
        XCTAssertLessThanOrEqual(abs(top1 * 100 - Double(expected.correct)), 2.001, line)
    }
}
