import Datasets
import Networks
import Tensors
import XCTest

@testable import Distillation

/// The feature cache of SSKD's mimic and head steps (augmentation off) must give the training the cached
/// path would have without it: the same per-step losses and weights, up to GEMM summation order.
final class FeatureCacheTests: XCTestCase {
    override func tearDown() { FeatureCache.memoryBudget = FeatureCache.defaultBudget }

    func data(augmentation: Augmentation = .none) throws -> DataSplits {
        try SSKDTests.fashionMNIST(DataConfig(validation: 100, limit: 400, seed: 3, augmentation: augmentation))
    }

    func pair() throws -> (Model, Model) {
        (
            try cnn([8, 16], seed: 1),
            try cnn([8, 16], seed: 2)
        )
    }

    /// Mimic of stage 2 with stage 1 frozen: once with both caches, once recomputing every batch.
    func mimicStage2(budget: Int, augmentation: Augmentation = .none) throws -> (RunRecord, [Float]) {
        FeatureCache.memoryBudget = budget
        let (teacher, student) = try pair()
        try student.freeze(.stage(0))
        var config = TrainingConfig()
        config.learningRate = 0.05
        config.batchSize = 50
        config.epochs = 2
        config.seed = 5
        let (record, _) = try SSKD.mimic(
            student: student, stage: 1, teacher: teacher, teacherStage: 1, data: try data(augmentation: augmentation),
            config: config, context: TestObserver().context(command: "mimic", modelName: "student"))
        return (record, student.stateDict().first { $0.0 == "layer2.0.weight" }!.1.data)
    }

    func testCachedMimicTrainsLikeRecomputedMimic() throws {
        let (cached, wCached) = try mimicStage2(budget: 2 << 30)
        let (plain, wPlain) = try mimicStage2(budget: 0)
        XCTAssertEqual(
            cached.hyperParameters["cached"],
            "teacher stage 2 + student stages 1...1 + val teacher stage 2 + val student stages 1...1")
        XCTAssertNil(plain.hyperParameters["cached"])
        XCTAssertEqual(cached.steps.count, 16)  // 400 training images / batch 50, 2 epochs
        XCTAssertEqual(cached.steps.count, plain.steps.count)
        for (a, b) in zip(cached.steps, plain.steps) {
            XCTAssertEqual(a.loss, b.loss, accuracy: 1e-4 * max(1, abs(b.loss)))
        }
        let worst = zip(wCached, wPlain).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4, "weights after two cached epochs differ from the recomputed run")
        XCTAssertNotEqual(cached.steps.first!.loss, cached.steps.last!.loss)
    }

    func testBudgetLeftAfterTheTargetsLimitsThePrefixCache() throws {
        // Exactly room for the teacher's stage-2 maps of every training image: the prefix is recomputed.
        let d = try data()
        let (teacher, _) = try pair()
        let per = try teacher.forward(d.batches(.train, batchSize: 1).batch(0).images, throughStage: 1).count
        let (record, _) = try mimicStage2(budget: d.train.count * per * MemoryLayout<Float>.size)
        XCTAssertEqual(record.hyperParameters["cached"], "teacher stage 2")
    }

    func testAugmentedDataIsNeverCached() throws {
        let (record, _) = try mimicStage2(budget: 2 << 30, augmentation: Augmentation(cropPadding: 2))
        XCTAssertEqual(
            record.hyperParameters["cached"], "val teacher stage 2 + val student stages 1...1",
            "augmented training images are never cached; the validation images are never augmented")
    }

    func testCachedHeadTrainsLikeRecomputedHead() throws {
        func run(_ budget: Int) throws -> RunRecord {
            FeatureCache.memoryBudget = budget
            let (teacher, student) = try pair()
            var config = TrainingConfig()
            config.learningRate = 0.05
            config.batchSize = 60
            config.epochs = 2
            config.seed = 9
            return try SSKD.trainHead(
                student: student, teacher: teacher, data: try data(), config: config,
                context: TestObserver().context(command: "train", modelName: "student"))
        }
        let cached = try run(2 << 30)
        let plain = try run(0)
        XCTAssertEqual(cached.hyperParameters["cached"], "student stages 1...2 (train, val)")
        XCTAssertEqual(cached.steps.count, plain.steps.count)
        for (a, b) in zip(cached.steps, plain.steps) {
            XCTAssertEqual(a.loss, b.loss, accuracy: 1e-4 * max(1, abs(b.loss)))
        }
        XCTAssertEqual(cached.epochs.last?.top1 ?? -1, plain.epochs.last?.top1 ?? -2, accuracy: 0.5)
    }

    func testGatherReturnsTheRowsOfTheGivenImages() throws {
        let d = try data()
        let cache = try XCTUnwrap(try FeatureCache.build(d, budget: 1 << 30, batchSize: 64) { $0 })
        XCTAssertEqual(cache.shape, [1, 28, 28])
        let batch = try d.batches(.train, batchSize: 7, epoch: 2).batch(3)
        XCTAssertEqual(cache.gather(batch.indices).data, batch.images.data)
        XCTAssertEqual(cache.gather(batch.indices).shape, [7, 1, 28, 28])
    }
}
