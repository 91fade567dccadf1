import Distillation
import Foundation
import Networks
import Tensors
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// `save` writes what a model depends on into the safetensors metadata and its mimic adapters into a sidecar;
/// `load` restores frozen stages and adapters, and treats metadata from files as hostile text.
final class CheckpointProvenanceTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        try skipUnlessFashionMNIST()
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-provenance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    func model(_ session: Session, _ name: String) throws -> ModelObject {
        guard case .object(let o)? = session.lookup(name), let m = o as? ModelObject else {
            throw XCTSkip("no model \(name)")
        }
        return m
    }

    /// A student with stages 1-2 mimicked (through adapters: 4 and 8 channels against 8 and 16) and frozen, saved.
    func savedStudent() throws -> (Session, CaptureSink, URL) {
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        let file = folder.appendingPathComponent("student.safetensors")
        let status = session.run(
            """
            set threads 1
            data fashion-mnist limit=100 val=20 seed=1 augment=false
            teacher = model cnn widths=[8, 16] seed=1
            student = model cnn widths=[4, 8] seed=2
            for k in 1..2 {
              mimic student.stage[k] teacher.stage[k] epochs=1 lr=0.05 batch=50
              freeze student.stage[k]
            }
            save student "\(file.path)"
            """, name: "save")
        XCTAssertEqual(status, .ok, sink.text)
        return (session, sink, file)
    }

    func testRoundTripKeepsMetadataFrozenStagesAndAdapters() throws {
        let (session, _, file) = try savedStudent()
        let student = try model(session, "student")
        let dict = try StateDict.load(contentsOf: file)
        let meta = dict.metadata

        // Strict-loadable: exactly the model's state dict, no adapter tensors.
        XCTAssertEqual(dict.names, student.model.stateDict().map(\.0))
        XCTAssertFalse(dict.names.contains { $0.contains("adapter") })

        // Every value a string; the JSON ones parse to the data's and the model's facts.
        XCTAssertEqual(meta[CheckpointKey.normalize], "computed")
        let mean = try XCTUnwrap(MetadataJSON.parseNumbers(meta[CheckpointKey.normalizeMean]))
        let std = try XCTUnwrap(MetadataJSON.parseNumbers(meta[CheckpointKey.normalizeStd]))
        XCTAssertEqual(mean.count, 1)
        XCTAssertEqual(std.count, 1)
        XCTAssertEqual(mean[0], 0.2860, accuracy: 1e-3)
        XCTAssertEqual(std[0], 0.3530, accuracy: 1e-3)
        XCTAssertEqual(MetadataJSON.parseIntegers(meta[CheckpointKey.inputShape]), [1, 28, 28])
        let names = try XCTUnwrap(MetadataJSON.parseStrings(meta[CheckpointKey.classNames]))
        XCTAssertEqual(names.count, 10)
        XCTAssertEqual(names.first, "T-shirt/top")
        XCTAssertEqual(names.last, "Ankle boot")
        XCTAssertEqual(MetadataJSON.parseIntegers(meta[CheckpointKey.frozen]), [1, 2])
        XCTAssertEqual(meta[CheckpointKey.frozenHead], "false")
        XCTAssertEqual(meta[CheckpointKey.version], Session.version)
        XCTAssertEqual(meta[CheckpointKey.architecture], "cnn")
        XCTAssertEqual(meta[CheckpointKey.dataset], "fashion-mnist")
        XCTAssertNil(meta[CheckpointKey.repDistillerArchitecture], "RepDistiller has no cnn")

        // The sidecar: the adapters' tensors under stage{k}.adapter., naming the main file.
        let sidecarURL = AdapterCheckpoint.url(for: file)
        XCTAssertEqual(sidecarURL.lastPathComponent, "student.adapters.safetensors")
        let sidecar = try StateDict.load(contentsOf: sidecarURL)
        XCTAssertEqual(sidecar.metadata[AdapterCheckpoint.Key.mainFile], "student.safetensors")
        XCTAssertEqual(sidecar.metadata[AdapterCheckpoint.Key.stages], "[1, 2]")
        for k in 0..<2 {
            let adapter = try XCTUnwrap(student.alignments[k]?.adapter)
            for (name, tensor) in adapter.stateDict() {
                let stored = try XCTUnwrap(sidecar["stage\(k + 1).adapter.\(name)"], name)
                XCTAssertEqual(stored.shape, tensor.shape, name)
                XCTAssertEqual(stored.data, tensor.data, name)
            }
        }
        XCTAssertEqual(try XCTUnwrap(sidecar["stage2.adapter.conv.weight"]).shape, [16, 8, 1, 1])

        // Load in a fresh session: frozen stages and adapters come back, equal.
        let sink = CaptureSink()
        let other = Session.withEngine(output: sink)
        XCTAssertEqual(other.run("s = load \"\(file.path)\"", name: "load"), .ok, sink.text)
        XCTAssertTrue(sink.text.contains("stages 1-2 frozen, adapters of stages 1-2"), sink.text)
        let loaded = try model(other, "s")
        XCTAssertEqual(loaded.model.stages.map(\.isFrozen), [true, true])
        XCTAssertFalse(loaded.model.head.isFrozen)
        XCTAssertEqual(loaded.alignments.keys.sorted(), [0, 1])
        for k in 0..<2 {
            let a = try XCTUnwrap(student.alignments[k]?.adapter)
            let b = try XCTUnwrap(loaded.alignments[k]?.adapter)
            for ((n1, t1), (n2, t2)) in zip(a.stateDict(), b.stateDict()) {
                XCTAssertEqual(n1, n2)
                XCTAssertEqual(t1.data, t2.data, n1)
            }
        }
        XCTAssertEqual(loaded.recorded?.normalize, "computed")
    }

    func testSavingWithoutAdaptersRemovesAStaleSidecar() throws {
        let (session, sink, file) = try savedStudent()
        XCTAssertTrue(FileManager.default.fileExists(atPath: AdapterCheckpoint.url(for: file).path))
        XCTAssertEqual(session.run("split student\nsave student \"\(file.path)\"", name: "resave"), .ok, sink.text)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: AdapterCheckpoint.url(for: file).path),
            "split forgets the adapters, so the old sidecar must not be read back with the new file")
    }

    func testMismatchedSidecarWarnsAndLoadsTheModel() throws {
        let (_, _, file) = try savedStudent()
        // The sidecar of student.safetensors next to a copy under another name: it names another main file.
        let copy = folder.appendingPathComponent("copy.safetensors")
        try FileManager.default.copyItem(at: file, to: copy)
        try FileManager.default.copyItem(at: AdapterCheckpoint.url(for: file), to: AdapterCheckpoint.url(for: copy))
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("c = load \"\(copy.path)\"", name: "load"), .ok, sink.text)
        let sidecar = AdapterCheckpoint.url(for: copy).path
        XCTAssertTrue(
            sink.text.contains(
                "warning: adapters not restored from \(sidecar): \(sidecar): metadata "
                    + "'sskd_adapters_for': the adapters are for 'student.safetensors', not "
                    + "'copy.safetensors'"), sink.text)
        XCTAssertTrue(try model(session, "c").alignments.isEmpty)
        XCTAssertEqual(try model(session, "c").model.stages.map(\.isFrozen), [true, true])
    }

    /// A recorded normalisation whose mean and std disagree in length, or a malformed input shape, is named in a
    /// warning instead of being dropped without a word.
    func testMalformedRecordedNormalizationIsNamed() throws {
        let m = try Zoo.make("cnn", channels: 1, classes: 10, widths: [4, 8], seed: 1)
        let file = folder.appendingPathComponent("badnorm.safetensors")
        try m.save(
            to: file,
            metadata: [
                CheckpointKey.normalize: "given", CheckpointKey.normalizeMean: "[0.1, 0.2, 0.3]",
                CheckpointKey.normalizeStd: "[0.5]", CheckpointKey.inputShape: "[1, 28]",
            ])
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("m = load \"\(file.path)\"", name: "load"), .ok, sink.text)
        XCTAssertTrue(
            sink.text.contains(
                "warning: \(file.path): recorded metadata not used: normalize_mean and normalize_std hold 3 and 1"
                    + " values, not one finite number per channel in each"), sink.text)
        XCTAssertTrue(
            sink.text.contains("warning: \(file.path): recorded metadata not used: input_shape is not a list of three"),
            sink.text)
    }

    /// Saving a model without adapters removes a stale sidecar only when it is a writable regular file: a folder,
    /// a link or a read-only file of that name is kept. A path holding NUL is refused (the OS would cut the name).
    func testSaveTouchesNoOtherFileAndRefusesNUL() throws {
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        let main = folder.appendingPathComponent("kept.safetensors")
        let sidecar = AdapterCheckpoint.url(for: main)
        try FileManager.default.createDirectory(
            at: sidecar.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: sidecar.appendingPathComponent("sub/thesis.txt"))
        XCTAssertEqual(
            session.run("m = model resnet8\nsave m \"\(main.path)\"", name: "save"), .ok,
            sink.lines.joined(separator: "\n"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: sidecar.appendingPathComponent("sub/thesis.txt").path))
        XCTAssertEqual(session.run("save m \"a\u{0}b.safetensors\"", name: "nul"), .runtimeError)
        XCTAssertEqual(
            sink.lines.last, "error: 1:8: argument 'file' for 'save': a file path cannot hold a NUL character")
    }

    func testHostileMetadataIsEscapedBeforeTheTerminal() throws {
        let m = try Zoo.make("cnn", channels: 1, classes: 10, widths: [4, 8], seed: 1)
        let file = folder.appendingPathComponent("hostile.safetensors")
        try m.save(
            to: file,
            metadata: [
                CheckpointKey.dataset: "evil\u{1B}]0;owned\u{07}\u{1B}[2J",
                CheckpointKey.top1: "9\u{1B}[31m9",
                CheckpointKey.normalize: "x\u{202E}y", CheckpointKey.normalizeMean: "[5]",
                CheckpointKey.normalizeStd: "[0.5]",
                CheckpointKey.classNames: "[\"\\u001b[1mA\"]",
            ])
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        let out2 = folder.appendingPathComponent("resaved.safetensors").path
        let status = session.run(
            "data fashion-mnist limit=10\nm = load \"\(file.path)\"\nshow m\nsave m \"\(out2)\"", name: "hostile")
        XCTAssertEqual(status, .ok, sink.text)
        let out = sink.text
        XCTAssertFalse(out.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" || $0 == "\u{202E}" }, out)
        XCTAssertTrue(out.contains("recorded top-1 9\\u{1b}[31m9% on evil\\u{1b}]0;owned\\u{7}\\u{1b}[2J"), out)
        XCTAssertTrue(out.contains("(test top-1 9\\u{1b}[31m9%)"), out)  // the save line too
        XCTAssertTrue(
            out.contains(
                "warning: the model in \(file.path) was trained with normalize=x\\u{202e}y "
                    + "mean [5.0000] std [0.5000]"), out)
        XCTAssertTrue(
            out.contains("warning: the model in \(file.path) was trained on 1 class, fashion-mnist has 10"),
            out)
    }

    func testOldCheckpointWithoutTheNewKeysLoads() throws {
        // The metadata sskd wrote before it recorded data facts and freezing (sessions/teachers/*.safetensors).
        let m = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 1)
        let file = folder.appendingPathComponent("old.safetensors")
        let old = [
            "arch": "resnet8", "channels": "1", "classes": "10", "dataset": "fashion-mnist", "seed": "0",
            "split": "layer1,layer2,layer3", "top1": "93.67",
        ]
        try StateDict(namedTensors: m.stateDict(), metadata: old).save(to: file)
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        let status = session.run("data fashion-mnist limit=10 normalize=none\nm = load \"\(file.path)\"", name: "old")
        XCTAssertEqual(status, .ok, sink.text)
        XCTAssertTrue(
            sink.text.contains(
                "loaded resnet8 from \(file.path): 77,754 parameters, recorded top-1 93.67% "
                    + "on fashion-mnist; protected as a teacher\n"), sink.text)
        XCTAssertFalse(sink.text.contains("warning"), "nothing recorded, nothing to compare: \(sink.text)")
        XCTAssertNil(try model(session, "m").recorded)
        XCTAssertFalse(try model(session, "m").model.stages.contains(where: \.isFrozen))
    }

    /// A PyTorch teacher (pixels/255, no normalisation recorded) evaluated right, then on wrongly normalised data:
    /// the near-chance hint never suggests the normalisation in force, and `save` records the data it scored well
    /// on, not the evaluation it was hinted about.
    func testSaveAfterAHintedEvaluationRecordsTheGoodOne() throws {
        let pth = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DistillationTests/Fixtures/interop/resnet8-model.pth").path
        let file = folder.appendingPathComponent("resaved.safetensors")
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(
            session.run(
                """
                data fashion-mnist limit=500 normalize=fashion-mnist
                t = load "\(pth)" arch=resnet8
                eval t
                """, name: "wrong"), .ok, sink.text)
        let hint = try XCTUnwrap(sink.lines.first { $0.hasPrefix("hint: t scores") }, sink.text)
        XCTAssertTrue(
            hint.hasSuffix(
                "try normalize=none (pixels/255, torchvision ToTensor() only) or the preset it was "
                    + "trained with (imagenet, cifar10, cifar100, mnist, half)"), hint)
        XCTAssertEqual(
            session.run(
                """
                data fashion-mnist limit=500 normalize=none
                eval t
                data fashion-mnist limit=500 normalize=half
                eval t
                save t "\(file.path)"
                """, name: "resave"), .ok, sink.text)
        let hints = sink.lines.filter { $0.hasPrefix("hint: t scores") }
        XCTAssertEqual(hints.count, 2, sink.text)
        XCTAssertTrue(
            hints[1].hasSuffix(
                "(this data: normalize=half mean [0.5000] std [0.5000]); try normalize=none "
                    + "(pixels/255, torchvision ToTensor() only) or the preset it was trained with "
                    + "(imagenet, cifar10, cifar100, mnist, fashion-mnist)"), hints[1])
        let good = try XCTUnwrap(sink.lines.first { $0.hasPrefix("t test: top-1 8") }, "84% with normalize=none")
        let meta = try StateDict.load(contentsOf: file).metadata
        XCTAssertEqual(meta[CheckpointKey.normalize], "none")
        XCTAssertEqual(meta[CheckpointKey.normalizeMean], "[0.0]")
        let top1 = try XCTUnwrap(meta[CheckpointKey.top1])
        XCTAssertTrue(good.contains("top-1 \(top1)%"), "\(good) vs recorded \(top1)")
        // With normalize=none in force, the hint suggests the data's own statistics instead.
        XCTAssertEqual(session.run("data fashion-mnist limit=500 normalize=none", name: "none"), .ok, sink.text)
        let t = try model(session, "t")
        let data = try XCTUnwrap(session.workspace.data)
        t.hinted = []
        XCTAssertTrue(session.hintIfNearChance(t, top1: 10.5, data))
        XCTAssertTrue(
            sink.lines.last?.hasSuffix(
                "try normalize=computed (this data's own mean and std) or the preset "
                    + "it was trained with (imagenet, cifar10, cifar100, mnist, "
                    + "fashion-mnist, half)") ?? false, sink.lines.last ?? "")
        XCTAssertFalse(session.hintIfNearChance(t, top1: 80, data), "a good score is not suspect")
    }

    /// A sidecar whose adapter takes another channel count than the student's stage gives is not restored.
    func testSidecarWithWrongInputChannelsIsNotRestored() throws {
        let (_, _, file) = try savedStudent()
        let sidecarURL = AdapterCheckpoint.url(for: file)
        var sidecar = try StateDict.load(contentsOf: sidecarURL)
        let weight = try XCTUnwrap(sidecar["stage1.adapter.conv.weight"])  // [8, 4, 1, 1]
        sidecar["stage1.adapter.conv.weight"] = Tensor.zeros([weight.shape[0], weight.shape[1] + 1, 1, 1])
        try sidecar.save(to: sidecarURL)
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("c = load \"\(file.path)\"", name: "load"), .ok, sink.text)
        XCTAssertTrue(
            sink.text.contains(
                "metadata 'stage1.adapter.conv.weight': shape [8, 5, 1, 1] takes 5 channels, "
                    + "but stage 1 of the model gives 4"), sink.text)
        XCTAssertTrue(try model(session, "c").alignments.isEmpty)
    }

    /// Tensor names and other file text in errors reach the terminal escaped.
    func testFileTextInErrorsIsEscaped() throws {
        let file = folder.appendingPathComponent("esc.safetensors")
        try StateDict(namedTensors: [("fc.weight\u{1b}]0;T\u{7}\u{202e}", Tensor.zeros([2, 2]))]).save(to: file)
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(
            session.run("m = load \"\(file.path)\" arch=resnet8 channels=1 classes=10", name: "esc"),
            .runtimeError)
        let text = sink.lines.joined(separator: "\n")
        XCTAssertFalse(text.unicodeScalars.contains { $0 == "\u{1b}" || $0 == "\u{7}" || $0 == "\u{202e}" }, text)
        XCTAssertTrue(text.contains("Unexpected key(s) in state_dict: \"fc.weight\\u{1b}]0;T\\u{7}\\u{202e}\""), text)
        XCTAssertTrue(text.contains("\n\tMissing key(s) in state_dict: \"conv1.weight\""), "the report keeps its lines")
    }
}
