import Datasets
import Foundation
import Networks
import Tensors
import XCTest

@testable import Distillation

/// A teacher trained in PyTorch on raw pixels (`transforms.ToTensor()` only: pixels/255, no normalisation) scores
/// PyTorch's top-1 in sskd with `normalize=none`, from every file layout users bring: `torch.save({'model': sd})`,
/// plain `torch.save(sd)`, a DataParallel checkpoint (every key prefixed `module.`, nested in `{'model': ...}`)
/// and safetensors. The fixtures in `Fixtures/interop/` (resnet8, 1 channel, 10 classes, about 330 KB each) and
/// `resnet8.json` (PyTorch's counts and arg-max per test image) are made by
/// `.venv/bin/python scripts/make-interop-fixtures.py` (PyTorch 2.13 CPU, seed 0, 2 epochs on 20,000 train
/// images; see docs/formats.md); this test needs no PyTorch.
final class PyTorchInteropTests: XCTestCase {
    struct Expected: Decodable {
        let correct: Int, computed_correct: Int, test_images: Int, files: [String], predictions: [Int]
    }

    func testPyTorchTeacherOnRawPixelsMatchesPyTorchFromEveryLayout() throws {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: DatasetLoader.defaultFashionMNISTRoot),
            "dataset-fashion-mnist is not installed")
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "interop", withExtension: nil, subdirectory: "Fixtures"))
        let expected = try JSONDecoder().decode(
            Expected.self,
            from: Data(contentsOf: dir.appendingPathComponent("resnet8.json")))
        XCTAssertEqual(expected.files.count, 4)
        let train = try DatasetLoader.fashionMNIST(train: true)
        let test = try DatasetLoader.fashionMNIST(train: false)
        let raw = try DataSplits(train: train, test: test, config: DataConfig(normalization: .none))
        var first: Model?
        for file in expected.files {
            let (teacher, _) = try Model.load(contentsOf: dir.appendingPathComponent(file), architecture: "resnet8")
            XCTAssertEqual(teacher.parameterCount, 77_754, file)
            let result = try evaluate(teacher, data: raw, split: .test)
            let correct = zip(result.predictions, result.labels).filter { $0 == $1 }.count
            let differing = zip(result.predictions, expected.predictions).filter { $0 != $1 }.count
            XCTAssertEqual(result.count, expected.test_images, file)
            XCTAssertLessThanOrEqual(
                abs(correct - expected.correct), 2,
                "\(file): sskd \(correct) correct, PyTorch \(expected.correct)")
            XCTAssertLessThanOrEqual(differing, 2, "\(file): test predictions differing from PyTorch's")
            first = first ?? teacher
        }
        // The default normalisation (mean/std of the train split) feeds this teacher inputs it never saw: it
        // scores far lower, as PyTorch does on the same inputs. This is why `data ... normalize=none` exists.
        let computed = try DataSplits(train: train, test: test, config: DataConfig())
        let result = try evaluate(try XCTUnwrap(first), data: computed, split: .test)
        let correct = zip(result.predictions, result.labels).filter { $0 == $1 }.count
        XCTAssertLessThanOrEqual(
            abs(correct - expected.computed_correct), 2,
            "computed normalisation: sskd \(correct), PyTorch \(expected.computed_correct)")
        XCTAssertLessThan(correct, expected.correct - 5000)
    }

    /// The same teacher in the legacy (pre-1.6, non-zip) `torch.save` format and RepDistiller's `ckpt_epoch_240.pth`
    /// layout (`{'epoch', 'model', 'accuracy': tensor}`) loads bit for bit as the zip `resnet8-model.pth` does.
    func testLegacyTorchSaveTeacherEqualsTheZipOneBitForBit() throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "interop", withExtension: nil, subdirectory: "Fixtures"))
        let legacy = try StateDict.load(contentsOf: dir.appendingPathComponent("resnet8-legacy.pth"))
        let zip = try StateDict.load(contentsOf: dir.appendingPathComponent("resnet8-model.pth"))
        XCTAssertEqual(legacy.metadata, ["epoch": "240", "accuracy": "84.38"])
        XCTAssertEqual(legacy.names, zip.names)
        XCTAssertEqual(legacy.count, 56)
        XCTAssertEqual(legacy.entries.map(\.dtype), zip.entries.map(\.dtype))
        for (a, b) in Swift.zip(legacy.entries, zip.entries) {
            XCTAssertEqual(a.tensor.shape, b.tensor.shape, a.name)
            XCTAssertEqual(a.tensor.data.map(\.bitPattern), b.tensor.data.map(\.bitPattern), a.name)
        }
        let (teacher, meta) = try Model.load(
            contentsOf: dir.appendingPathComponent("resnet8-legacy.pth"),
            architecture: "resnet8")
        XCTAssertEqual(teacher.parameterCount, 77_754)
        XCTAssertEqual(meta["epoch"], "240")
    }
}
