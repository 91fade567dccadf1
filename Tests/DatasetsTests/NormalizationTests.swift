import XCTest

@testable import Datasets

final class NormalizationTests: XCTestCase {
    /// `n` images `[2, 1, 2]`: channel 0 holds the image's index, channel 1 `255 - index / 2`; label `i % 5`.
    static func twoChannels(_ n: Int, name: String = "two/train") throws -> Dataset {
        let pixels = (0..<n).flatMap { i -> [UInt8] in
            let (a, b) = (UInt8(i), UInt8(255 - i / 2))
            return [a, a, b, b]
        }
        return try Dataset(
            name: name, pixels: .uint8(pixels),
            labels: (0..<n).map { $0 % 5 }, channels: 2, height: 1, width: 2, classNames: ["a", "b", "c", "d", "e"])
    }

    func testComputedStatisticsComeFromTheFullTrainSplit() throws {
        let full = try Self.twoChannels(200)
        let test = try Self.twoChannels(50, name: "two/test")
        // Naive reference: every pixel of every image of the full train split, channel by channel, in Double.
        var sums = [0.0, 0.0]
        var squares = [0.0, 0.0]
        for i in 0..<full.count {
            for (k, x) in full.image(i).enumerated() {
                sums[k / 2] += Double(x)
                squares[k / 2] += Double(x) * Double(x)
            }
        }
        let count = Double(full.count * 2)
        let mean = sums.map { $0 / count }
        let std = zip(squares, mean).map { ($0 / count - $1 * $1).squareRoot() }
        // Channel 0 is 0...199 / 255: mean 99.5 / 255, std sqrt((200^2 - 1) / 12) / 255.
        XCTAssertEqual(mean[0], 99.5 / 255, accuracy: 1e-7)
        XCTAssertEqual(std[0], ((200.0 * 200 - 1) / 12).squareRoot() / 255, accuracy: 1e-7)

        let configs = [
            DataConfig(), DataConfig(validation: 20, limit: 30, seed: 7), DataConfig(validation: 100, seed: 2),
            DataConfig(limit: 10, labels: 5, seed: 9),
        ]
        let splits = try configs.map { try DataSplits(train: full, test: test, config: $0) }
        XCTAssertEqual(splits.map(\.train.count), [200, 30, 100, 10])
        for s in splits {
            XCTAssertEqual(s.mean, splits[0].mean)
            XCTAssertEqual(s.std, splits[0].std)
            XCTAssertEqual(s.normalizationName, "computed")
        }
        for c in 0..<2 {
            XCTAssertEqual(Double(splits[0].mean[c]), mean[c], accuracy: 1e-6)
            XCTAssertEqual(Double(splits[0].std[c]), std[c], accuracy: 1e-6)
        }
        XCTAssertTrue(
            splits[1].summary.hasSuffix(
                "normalize: computed (full train split) mean [0.3902, 0.8059] std [0.2264, 0.1132]; augmentation: "
                    + "none; seed 7"
            ), splits[1].summary)
        // A batch of the cut train split is normalised with the full split's statistics.
        let batch = try splits[1].batches(.test, batchSize: 1).batch(0)
        XCTAssertEqual(Double(batch.images.data[0]), (0 - mean[0]) / std[0], accuracy: 1e-5)
        XCTAssertEqual(Double(batch.images.data[2]), (1 - mean[1]) / std[1], accuracy: 1e-5)
    }

    func testPresetsNoneAndGivenValues() throws {
        let grey = try SplitAndBatchTests.toy(20)
        let rgb = try rgbToy()
        func splits(_ data: Dataset, _ normalization: Normalization) throws -> DataSplits {
            try DataSplits(train: data, test: data, config: DataConfig(seed: 3, normalization: normalization))
        }
        let fashion = try splits(grey, .preset("fashion-mnist"))
        XCTAssertEqual(fashion.mean, [0.2860])
        XCTAssertEqual(fashion.std, [0.3530])
        XCTAssertEqual(fashion.normalizationName, "fashion-mnist")
        XCTAssertTrue(
            fashion.summary.hasSuffix(
                "\nnormalize: fashion-mnist mean [0.2860] std [0.3530]; augmentation: none; seed 3"), fashion.summary)
        let cifar = try splits(rgb, .preset("cifar10"))
        XCTAssertEqual(cifar.mean, [0.4914, 0.4822, 0.4465])
        XCTAssertEqual(cifar.std, [0.2470, 0.2435, 0.2616])
        XCTAssertEqual(try splits(rgb, .preset("imagenet")).std, [0.229, 0.224, 0.225])
        XCTAssertEqual(try splits(rgb, .preset("cifar100")).mean, [0.5071, 0.4865, 0.4409])
        XCTAssertEqual(try splits(grey, .preset("mnist")).mean, [0.1307])
        XCTAssertEqual(try splits(rgb, .preset("half")).mean, [0.5, 0.5, 0.5])
        let half = try splits(grey, .preset("half"))
        XCTAssertEqual(half.std, [0.5])
        XCTAssertEqual(try half.batches(.test, batchSize: 1).batch(0).images.data, [-1, -1, -1, -1])  // pixel 0 -> -1
        let none = try splits(grey, .none)
        XCTAssertEqual(none.normalizationName, "none")
        XCTAssertTrue(none.summary.contains("\nnormalize: none (pixels/255); augmentation: "), none.summary)
        let given = try splits(grey, .given(mean: [0.25], std: [0.5]))
        XCTAssertEqual(given.normalizationName, "given")
        XCTAssertTrue(given.summary.contains("\nnormalize: given mean [0.2500] std [0.5000]; "), given.summary)
        XCTAssertEqual(
            Normalization.presetNames, ["imagenet", "cifar10", "cifar100", "mnist", "fashion-mnist", "half"])
    }

    func testBadNormalizationsNameTheOptionAndTheData() throws {
        let grey = try SplitAndBatchTests.toy(20)
        func config(_ normalization: Normalization) -> DataConfig { DataConfig(normalization: normalization) }
        assertDatasetError(try DataSplits(train: grey, test: grey, config: config(.preset("cifar10")))) {
            $0
                == .invalidOption(
                    name: "normalize", reason: "preset 'cifar10' has 3 channels but toy/train has 1 channel")
        }
        assertDatasetError(try DataSplits(train: grey, test: grey, config: config(.preset("svhn")))) {
            $0
                == .invalidOption(
                    name: "normalize",
                    reason: "unknown preset 'svhn' (known: imagenet, cifar10, cifar100, mnist, fashion-mnist, half)")
        }
        assertDatasetError(
            try DataSplits(train: grey, test: grey, config: config(.given(mean: [0.5, 0.5, 0.5], std: [0.2])))
        ) {
            $0
                == .invalidOption(
                    name: "normalize",
                    reason: "needs one mean and one std per channel (toy/train has 1 channel), got 3 means and 1 std")
        }
        assertDatasetError(try DataSplits(train: grey, test: grey, config: config(.given(mean: [0.5], std: [0])))) {
            $0
                == .invalidOption(
                    name: "normalize",
                    reason:
                        "every std must be at least 1e-6 (so that 1/std and the normalised pixels stay finite in "
                        + "Float32) and every value finite, got mean [0.5000] std [0.0000]"
                )
        }
        assertDatasetError(try DataSplits(train: grey, test: grey, config: config(.given(mean: [0.5], std: [-1])))) {
            if case .invalidOption(name: "normalize", reason: _) = $0 { return true }
            return false
        }
    }

    /// Four 1x1 RGB images with labels 0...3 of five classes.
    func rgbToy() throws -> Dataset {
        try Dataset(
            name: "rgb/train", pixels: .uint8([UInt8](repeating: 0, count: 12)), labels: [0, 1, 2, 3], channels: 3,
            height: 1,
            width: 1, classNames: ["a", "b", "c", "d", "e"])
    }
}
