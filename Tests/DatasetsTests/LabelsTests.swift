import XCTest

@testable import Datasets

/// `labels=N`: a seeded class-balanced labelled subset of the train split, the rest unlabelled.
final class LabelsTests: XCTestCase {
    /// Toy train split of 60 (pixel = index, label = index % 5), no augmentation, `labels` kept.
    func splits(labels: Int?, seed: UInt64 = 5) throws -> DataSplits {
        try DataSplits(
            train: SplitAndBatchTests.toy(60), test: SplitAndBatchTests.toy(10, name: "toy/test"),
            config: DataConfig(labels: labels, seed: seed, augmentation: Augmentation.none))
    }

    func testLabelledSubsetIsSeededClassBalancedAndTakenAfterHoldOutAndLimit() throws {
        let config = DataConfig(validation: 20, limit: 100, labels: 15, seed: 7)
        let a = try DataSplits(train: SplitAndBatchTests.toy(200), test: SplitAndBatchTests.toy(50), config: config)
        XCTAssertEqual(a.train.count, 100)
        XCTAssertEqual(a.labelCount, 15)
        XCTAssertEqual(a.labelled.count, 15)
        XCTAssertEqual(a.labelled, a.labelled.sorted())
        XCTAssertEqual(Set(a.labelled).count, 15)
        XCTAssertTrue(a.labelled.allSatisfy { (0..<100).contains($0) })
        var perClass = [Int](repeating: 0, count: 5)
        for i in a.labelled { perClass[a.train.labels[i]] += 1 }
        XCTAssertEqual(perClass, [3, 3, 3, 3, 3])
        XCTAssertTrue(
            a.summary.hasPrefix(
                "toy/train: 100 images [1, 2, 2], 5 classes (a, b, c, d, e); 15 labelled (class-balanced, seed 7), 85 "
                    + "unlabelled\n"
            ),
            a.summary)
        // Same seed, same images; another seed, others. The hold-out and limit do not move.
        let b = try DataSplits(train: SplitAndBatchTests.toy(200), test: SplitAndBatchTests.toy(50), config: config)
        XCTAssertEqual(a.labelled, b.labelled)
        var other = config
        other.seed = 8
        XCTAssertNotEqual(
            try DataSplits(train: SplitAndBatchTests.toy(200), test: SplitAndBatchTests.toy(50), config: other)
                .labelled, a.labelled)
        var unlabelled = config
        unlabelled.labels = nil
        let plain = try DataSplits(
            train: SplitAndBatchTests.toy(200), test: SplitAndBatchTests.toy(50), config: unlabelled)
        XCTAssertEqual(SplitAndBatchTests.ids(plain.train), SplitAndBatchTests.ids(a.train))
        XCTAssertNil(plain.labelCount)
        XCTAssertEqual(plain.labelled, Array(0..<100))
        XCTAssertFalse(plain.summary.contains("labelled"))
        // Fewer labels than classes: one image each of the first classes.
        let three = try splits(labels: 3)
        XCTAssertEqual(three.labelled.map { three.train.labels[$0] }.sorted(), [0, 1, 2])
        // As many labels as images: all labelled.
        let all = try splits(labels: 60)
        XCTAssertEqual(all.labelled, Array(0..<60))
        XCTAssertTrue(
            all.summary.hasPrefix("toy/train: 60 images [1, 2, 2], 5 classes (a, b, c, d, e); all 60 labelled\n"),
            all.summary)
    }

    func testLabelsOutOfRangeNameTheOptionAndTheCountAvailable() throws {
        for bad in [0, 61, -2] {
            assertDatasetError(try splits(labels: bad)) {
                $0
                    == .invalidOption(
                        name: "labels",
                        reason: "\(bad) must be in 1...60 (the train images left after the hold-out and limit)")
            }
        }
        let toy = try SplitAndBatchTests.toy(200)
        assertDatasetError(
            try DataSplits(train: toy, test: toy, config: DataConfig(validation: 50, limit: 40, labels: 41))
        ) {
            $0
                == .invalidOption(
                    name: "labels", reason: "41 must be in 1...40 (the train images left after the hold-out and limit)")
        }
    }

    func testLabelledBatchesHoldOnlyLabelledImagesWithTheirLabels() throws {
        let s = try splits(labels: 12)
        for epoch in 0..<2 {
            let batches = Array(try s.batches(.train, batchSize: 5, epoch: epoch))
            XCTAssertEqual(batches.map(\.indices.count), [5, 5, 2])
            let indices = batches.flatMap(\.indices)
            XCTAssertEqual(indices.sorted(), s.labelled)
            XCTAssertNotEqual(indices, s.labelled)  // shuffled
            XCTAssertEqual(batches.flatMap(\.labels), indices.map { $0 % 5 })
            // The pixels are those of the indexed images (pixel value = index).
            for batch in batches {
                for (j, i) in batch.indices.enumerated() {
                    XCTAssertEqual(batch.images.data[j * 4], (Float(i) / 255 - s.mean[0]) / s.std[0], accuracy: 1e-5)
                }
            }
        }
        XCTAssertEqual(try s.batches(.train, batchSize: 5, shuffle: false).flatMap(\.indices), s.labelled)
    }

    func testAllImagesBatchesCoverEveryImageOnceAndHideUnlabelledLabels() throws {
        let s = try splits(labels: 12)
        let labelled = Set(s.labelled)
        var orders = [[Int]]()
        for epoch in 0..<2 {
            let batches = Array(try s.batches(.train, batchSize: 7, epoch: epoch, images: .all))
            let indices = batches.flatMap(\.indices)
            let labels = batches.flatMap(\.labels)
            XCTAssertEqual(indices.sorted(), Array(0..<60))
            XCTAssertEqual(labels, indices.map { labelled.contains($0) ? $0 % 5 : -1 })
            XCTAssertEqual(labels.filter { $0 == -1 }.count, 48)
            orders.append(indices)
        }
        XCTAssertNotEqual(orders[0], orders[1])
        // Val and test ignore `images`; without labels= `.all` and `.labelled` are the same batches.
        XCTAssertEqual(try s.batches(.test, batchSize: 10, images: .all).flatMap(\.labels), (0..<10).map { $0 % 5 })
        let plain = try splits(labels: nil)
        XCTAssertEqual(
            try plain.batches(.train, batchSize: 7, images: .all).flatMap(\.labels),
            try plain.batches(.train, batchSize: 7).flatMap(\.labels))
        XCTAssertEqual(
            try plain.batches(.train, batchSize: 7, images: .all).flatMap(\.indices),
            try plain.batches(.train, batchSize: 7).flatMap(\.indices))
    }

    func testRunSeedChangesTheOrderAndNilKeepsTheDataOrder() throws {
        let s = try splits(labels: nil)
        func order(_ seed: UInt64?, epoch: Int = 0) throws -> [Int] {
            try s.batches(.train, batchSize: 8, epoch: epoch, seed: seed).flatMap(\.indices)
        }
        // nil: the permutation seeded by (data seed, 100, epoch) alone, as before `seed:` existed.
        XCTAssertEqual(try order(nil), Sampling.permutation(60, seed: Sampling.mix(5, 100, 0)))
        XCTAssertEqual(try order(nil, epoch: 3), Sampling.permutation(60, seed: Sampling.mix(5, 100, 3)))
        XCTAssertEqual(try s.batches(.train, batchSize: 8, epoch: 3).seed, Sampling.mix(5, 100, 3))
        XCTAssertEqual(try order(1), try order(1))
        XCTAssertNotEqual(try order(1), try order(2))
        XCTAssertNotEqual(try order(1), try order(nil))
        XCTAssertNotEqual(try order(1), try order(1, epoch: 1))
        XCTAssertEqual(try order(1).sorted(), Array(0..<60))
        // The run seed also moves the augmentation draws.
        XCTAssertNotEqual(
            try s.batches(.train, batchSize: 8, seed: 1).seed, try s.batches(.train, batchSize: 8, seed: 2).seed)
        // With labels=, the run seed reorders the labelled images only.
        let few = try splits(labels: 10)
        let a = try few.batches(.train, batchSize: 4, seed: 1).flatMap(\.indices)
        let b = try few.batches(.train, batchSize: 4, seed: 2).flatMap(\.indices)
        XCTAssertEqual(a.sorted(), few.labelled)
        XCTAssertEqual(b.sorted(), few.labelled)
        XCTAssertNotEqual(a, b)
    }
}
