import XCTest

@testable import Datasets

final class SplitAndBatchTests: XCTestCase {
    /// `n` one-pixel-wide images `[1, 2, 2]` whose every pixel is the image's index; label `i % 5`.
    static func toy(_ n: Int, name: String = "toy/train") throws -> Dataset {
        try Dataset(
            name: name, pixels: .uint8((0..<n).flatMap { [UInt8](repeating: UInt8($0), count: 4) }),
            labels: (0..<n).map { $0 % 5 }, channels: 1, height: 2, width: 2,
            classNames: ["a", "b", "c", "d", "e"])
    }

    /// The index each image of `d` came from (its pixel value).
    static func ids(_ d: Dataset) -> [Int] {
        guard case .uint8(let v) = d.pixels else { return [] }
        return stride(from: 0, to: v.count, by: 4).map { Int(v[$0]) }
    }

    func testValidationAndLimitAreSeededBalancedAndDisjoint() throws {
        let config = DataConfig(validation: 20, limit: 30, seed: 7)
        let a = try DataSplits(train: Self.toy(200), test: Self.toy(50, name: "toy/test"), config: config)
        let b = try DataSplits(train: Self.toy(200), test: Self.toy(50, name: "toy/test"), config: config)
        XCTAssertEqual(a.val.count, 20)
        XCTAssertEqual(a.val.classCounts, [4, 4, 4, 4, 4])
        XCTAssertEqual(a.train.count, 30)
        XCTAssertEqual(a.train.classCounts, [6, 6, 6, 6, 6])
        XCTAssertEqual(a.test.classCounts, [6, 6, 6, 6, 6])
        XCTAssertEqual(a.val.name, "toy/val")
        XCTAssertTrue(Set(Self.ids(a.val)).isDisjoint(with: Self.ids(a.train)))
        XCTAssertEqual(Self.ids(a.val), Self.ids(b.val))
        XCTAssertEqual(Self.ids(a.train), Self.ids(b.train))
        XCTAssertEqual(a.train.labels, Self.ids(a.train).map { $0 % 5 })
        let other = try DataSplits(
            train: Self.toy(200), test: Self.toy(50), config: DataConfig(validation: 20, limit: 30, seed: 8))
        XCTAssertNotEqual(Self.ids(a.val), Self.ids(other.val))
        // Without a limit the train split keeps everything that is not held out.
        let full = try DataSplits(train: Self.toy(200), test: Self.toy(50), config: DataConfig(validation: 20, seed: 7))
        XCTAssertEqual(full.train.count, 180)
        XCTAssertEqual(Set(Self.ids(full.train)).union(Self.ids(full.val)), Set(0..<200))
    }

    func testBalancedSubsetOfUnevenClasses() {
        // Class 0 has 2 samples, class 1 has 10: asking for 6 takes both of class 0 and 4 of class 1.
        let labels = [0, 0] + [Int](repeating: 1, count: 10)
        let picked = Sampling.balanced(labels: labels, classCount: 2, count: 6, seed: 3)
        XCTAssertEqual(picked.filter { labels[$0] == 0 }, [0, 1])
        XCTAssertEqual(picked.count, 6)
        XCTAssertEqual(Set(picked).count, 6)
    }

    func testComputedAndGivenNormalisation() throws {
        let train = try Dataset(
            name: "n", pixels: .uint8([0, 255, 255, 255]), labels: [0, 1], channels: 1, height: 1,
            width: 2, classNames: ["a", "b"])
        let splits = try DataSplits(train: train, test: train, config: DataConfig(augmentation: Augmentation.none))
        XCTAssertEqual(splits.mean[0], 0.75, accuracy: 1e-6)
        XCTAssertEqual(splits.std[0], Float(0.1875).squareRoot(), accuracy: 1e-6)
        let batch = try splits.batches(.test, batchSize: 2).batch(0)
        XCTAssertEqual(batch.images.shape, [2, 1, 1, 2])
        XCTAssertEqual(batch.images.data[0], -0.75 / Float(0.1875).squareRoot(), accuracy: 1e-5)
        XCTAssertEqual(batch.images.data[1], 0.25 / Float(0.1875).squareRoot(), accuracy: 1e-5)
        let given = try DataSplits(
            train: train, test: train, config: DataConfig(normalization: .given(mean: [0.5], std: [0.5])))
        XCTAssertEqual(try given.batches(.test, batchSize: 2).batch(0).images.data, [-1, 1, 1, 1])
        let plain = try DataSplits(train: train, test: train, config: DataConfig(normalization: .none))
        XCTAssertEqual(try plain.batches(.test, batchSize: 2).batch(0).images.data, [0, 1, 1, 1])
    }

    func testShuffledBatchesAreSeededPerEpochAndKeepTheLastPartialBatch() throws {
        let splits = try DataSplits(
            train: Self.toy(23), test: Self.toy(23), config: DataConfig(seed: 5, augmentation: Augmentation.none))
        let epoch0 = Array(try splits.batches(.train, batchSize: 10, epoch: 0))
        XCTAssertEqual(epoch0.map(\.labels.count), [10, 10, 3])
        let order0 = epoch0.flatMap(\.indices)
        XCTAssertEqual(Set(order0), Set(0..<23))
        XCTAssertNotEqual(order0, Array(0..<23))
        XCTAssertEqual(Array(try splits.batches(.train, batchSize: 10, epoch: 0)).flatMap(\.indices), order0)
        XCTAssertNotEqual(Array(try splits.batches(.train, batchSize: 10, epoch: 1)).flatMap(\.indices), order0)
        // Pixels and labels follow the indices (pixel value = index, normalised with the train statistics).
        let first = epoch0[0]
        let expected = (Float(first.indices[0]) / 255 - splits.mean[0]) / splits.std[0]
        XCTAssertEqual(first.images.data[0], expected, accuracy: 1e-5)
        XCTAssertEqual(first.labels, first.indices.map { $0 % 5 })
        // Evaluation: fixed order, prefetching iterator gives the same batches as direct assembly.
        let eval = try splits.batches(.test, batchSize: 10)
        let evalBatches = Array(eval)
        XCTAssertEqual(evalBatches.flatMap(\.indices), Array(0..<23))
        XCTAssertEqual(evalBatches[2].images.data, eval.batch(2).images.data)
        XCTAssertEqual(eval.count, 3)
        XCTAssertEqual(Array(try splits.batches(.val, batchSize: 4)).count, 0)
    }

    func testAugmentationIsDeterministicAndIsACropAndFlip() throws {
        // One 3x3 image 1...9 repeated; crop padding 1 and flip.
        let n = 64
        let image: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let data = try Dataset(
            name: "aug", pixels: .uint8(Array((0..<n).map { _ in image }.joined())),
            labels: [Int](repeating: 0, count: n),
            channels: 1, height: 3, width: 3, classNames: ["only"])
        let splits = try DataSplits(
            train: data, test: data,
            config: DataConfig(
                seed: 11, augmentation: Augmentation(cropPadding: 1, horizontalFlip: true),
                normalization: .none))
        let a = try splits.batches(.train, batchSize: 16, epoch: 2)
        let b = try splits.batches(.train, batchSize: 16, epoch: 2)
        XCTAssertEqual(Array(a).flatMap(\.images.data), Array(b).flatMap(\.images.data))
        XCTAssertNotEqual(
            Array(a).flatMap(\.images.data),
            Array(try splits.batches(.train, batchSize: 16, epoch: 3)).flatMap(\.images.data))
        // Every output is one of the 9 shifts x 2 flips of the zero-padded image, and several occur.
        func variant(dy: Int, dx: Int, flip: Bool) -> [Float] {
            (0..<3).flatMap { y in
                (0..<3).map { x -> Float in
                    let (sy, sx) = (y + dy, (flip ? 2 - x : x) + dx)
                    return (0..<3).contains(sy) && (0..<3).contains(sx) ? Float(image[sy * 3 + sx]) / 255 : 0
                }
            }
        }
        var candidates = [[Float]]()
        for dy in -1...1 {
            for dx in -1...1 { for flip in [false, true] { candidates.append(variant(dy: dy, dx: dx, flip: flip)) } }
        }
        let outputs = Array(a).flatMap { batch in
            (0..<batch.labels.count).map { Array(batch.images.data[$0 * 9..<($0 + 1) * 9]) }
        }
        XCTAssertEqual(outputs.count, n)
        for out in outputs {
            XCTAssertTrue(
                candidates.contains { zip($0, out).allSatisfy { abs($0 - $1) < 1e-6 } }, "not a crop/flip: \(out)")
        }
        XCTAssertGreaterThan(Set(outputs.map { $0.map(\.bitPattern) }).count, 6)
        // Test batches are never augmented.
        let test = Array(try splits.batches(.test, batchSize: 64))[0].images.data
        for (got, want) in zip(test[0..<9], image) { XCTAssertEqual(got, Float(want) / 255, accuracy: 1e-6) }
    }

    func testInvalidOptions() throws {
        let train = try Self.toy(20)
        assertDatasetError(try DataSplits(train: train, test: train, config: DataConfig(validation: 20))) {
            $0 == .invalidOption(name: "val", reason: "20 must be in 0..<20 (the train size)")
        }
        assertDatasetError(try DataSplits(train: train, test: train, config: DataConfig(limit: 0))) {
            $0 == .invalidOption(name: "limit", reason: "0 must be positive")
        }
        assertDatasetError(
            try DataSplits(
                train: train, test: train, config: DataConfig(normalization: .given(mean: [0, 0], std: [1, 1])))
        ) {
            if case .invalidOption(name: "normalize", reason: _) = $0 { return true }
            return false
        }
        let splits = try DataSplits(train: train, test: train)
        assertDatasetError(try splits.batches(.train, batchSize: 0)) {
            $0 == .invalidOption(name: "batch", reason: "0 must be at least 1")
        }
        let rgb = try Dataset(
            name: "rgb", pixels: .uint8([UInt8](repeating: 0, count: 12)), labels: [0], channels: 3, height: 2,
            width: 2, classNames: ["a", "b", "c", "d", "e"])
        assertDatasetError(try DataSplits(train: train, test: rgb)) {
            if case .invalidOption(name: "test", reason: _) = $0 { return true }
            return false
        }
        assertDatasetError(
            try Dataset(
                name: "bad", pixels: .uint8([1, 2, 3]), labels: [0], channels: 1, height: 2, width: 2, classNames: ["a"]
            )
        ) {
            $0 == .invalidOption(name: "bad", reason: "3 pixel values do not fill [1, 1, 2, 2]")
        }
        assertDatasetError(try DatasetLoader.standard("imagenet")) {
            $0 == .unknownDataset(name: "imagenet", known: DatasetLoader.standardNames)
        }
    }
}
