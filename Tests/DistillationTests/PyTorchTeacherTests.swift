import Datasets
import Foundation
import Networks
import Tensors
import XCTest

@testable import Distillation

/// A resnet20 trained in PyTorch on Fashion-MNIST and saved with `torch.save` as RepDistiller publishes
/// teachers (`{'model': state_dict, 'epoch', 'best_acc'}`) loads in sskd and classifies the 10,000 test
/// images exactly as PyTorch did. Made by `scripts/train-torch-teacher.py --arch resnet20 --epochs 3 --threads 1`
/// (PyTorch 2.13 CPU, seed 0), which also wrote the predictions JSON beside it.
final class PyTorchTeacherTests: XCTestCase {
    struct Expected: Decodable {
        let top1: Double
        let mean: Float
        let std: Float
        let predictions: [Int]
    }

    func testTorchSavedResNet20GivesPyTorchsTestPredictions() throws {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: DatasetLoader.defaultFashionMNISTRoot),
            "dataset-fashion-mnist is not installed")
        let dir = try XCTUnwrap(
            Bundle.module.url(forResource: "teachers", withExtension: nil, subdirectory: "Fixtures"))
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: dir.appendingPathComponent("torch-fashion-resnet20.predictions.json"))
        )
        let (teacher, metadata) = try Model.load(
            contentsOf: dir.appendingPathComponent("torch-fashion-resnet20.pth"), architecture: "resnet20")
        XCTAssertEqual(metadata["epoch"], "3")
        let data = try DataSplits(
            train: try DatasetLoader.fashionMNIST(train: true), test: try DatasetLoader.fashionMNIST(train: false),
            config: DataConfig(normalization: .given(mean: [expected.mean], std: [expected.std])))
        let result = try evaluate(teacher, data: data, split: .test)
        let differing = zip(result.predictions, expected.predictions).filter { $0 != $1 }.count
        XCTAssertEqual(differing, 0, "predictions differing from PyTorch's")
        XCTAssertEqual(result.top1, expected.top1, accuracy: 1e-4)  // PyTorch computed its 91.53 in float32
    }
}
