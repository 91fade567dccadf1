import Foundation
import XCTest

@testable import Datasets

/// The real Fashion-MNIST files from Debian's `dataset-fashion-mnist` (installed here and in CI).
final class FashionMNISTTests: XCTestCase {
    func testRealFiles() throws {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: DatasetLoader.defaultFashionMNISTRoot),
            "dataset-fashion-mnist is not installed")
        let (train, test) = try DatasetLoader.standard("fashion-mnist")
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(train.imageShape, [1, 28, 28])
        XCTAssertEqual(train.classCounts, [Int](repeating: 6_000, count: 10))
        XCTAssertEqual(test.classCounts, [Int](repeating: 1_000, count: 10))
        XCTAssertEqual(Array(train.labels.prefix(10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        XCTAssertEqual(train.classNames[9], "Ankle boot")
        let splits = try DataSplits(
            train: train, test: test, config: DataConfig(validation: 5_000, limit: 1_000, seed: 1))
        XCTAssertEqual(splits.val.classCounts, [Int](repeating: 500, count: 10))
        XCTAssertEqual(splits.train.classCounts, [Int](repeating: 100, count: 10))
        XCTAssertEqual(splits.test.count, 1_000)
        // The statistics are the full 60,000-image train set's, the published 0.2860 / 0.3530 (the preset).
        XCTAssertEqual(splits.mean[0], 0.2860, accuracy: 5e-5)
        XCTAssertEqual(splits.std[0], 0.3530, accuracy: 5e-5)
        XCTAssertTrue(
            splits.summary.hasSuffix(
                "\nnormalize: computed (full train split) mean [0.2860] std [0.3530]; augmentation: crop 2; seed 1"),
            splits.summary)
    }
}
