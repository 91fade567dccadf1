import Datasets
import Networks
import Tensors
import XCTest

@testable import Distillation

/// A silent observer that keeps the events it receives and can ask to stop after a number of batches.
final class TestObserver: TrainingObserver {
    var epochs: [EpochProgress] = []
    var stopped: [RunRecord] = []
    var batches = 0
    var stopAfter: Int?
    func batchEnded(_ progress: BatchProgress) { batches += 1 }
    func epochEnded(_ progress: EpochProgress) { epochs.append(progress) }
    func runStopped(_ record: RunRecord) { stopped.append(record) }
    func budgetShared(_ share: BudgetShare) {}
    var shouldStop: Bool { stopAfter.map { batches >= $0 } ?? false }

    /// A run context reporting here, cancelled once `shouldStop`.
    func context(command: String, modelName: String) -> RunContext {
        RunContext(
            observer: self, cancellation: Cancellation { [unowned self] in self.shouldStop }, command: command,
            modelName: modelName)
    }
}

/// A small CNN (`Zoo`'s "cnn") for Fashion-MNIST: one input channel, ten classes, stages of `widths` channels.
func cnn(_ widths: [Int], seed: UInt64) throws -> Model {
    try Zoo.make("cnn", channels: 1, classes: 10, widths: widths, seed: seed)
}

/// SSKD and the baselines on a small real Fashion-MNIST slice (the Debian package is installed by scripts/setup).
final class SSKDTests: XCTestCase {
    static let root = DatasetLoader.defaultFashionMNISTRoot

    func fashion(limit: Int, validation: Int = 200) throws -> DataSplits {
        try Self.fashionMNIST(
            DataConfig(validation: validation, limit: limit, seed: 1, augmentation: Augmentation.none))
    }

    /// The real Fashion-MNIST split by `config`; skips the test when the Debian package is not installed.
    static func fashionMNIST(_ config: DataConfig) throws -> DataSplits {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: root),
            "dataset-fashion-mnist is not installed (scripts/setup installs it)")
        return try DataSplits(
            train: try DatasetLoader.fashionMNIST(train: true), test: try DatasetLoader.fashionMNIST(train: false),
            config: config)
    }

    func snapshot(_ tensors: [(String, Tensor)]) -> [String: [Float]] {
        Dictionary(tensors.map { ($0.0, $0.1.data) }, uniquingKeysWith: { a, _ in a })
    }

    func testOneMimicStepLowersTheLossOnItsBatch() throws {
        let data = try fashion(limit: 100)
        let teacher = try cnn([8, 16], seed: 1)
        let student = try cnn([8, 16], seed: 2)
        var config = TrainingConfig()
        config.batchSize = 100
        config.learningRate = 0.1
        config.schedule = .constant
        let (record, _) = try SSKD.mimic(
            student: student, stage: 0, teacher: teacher, teacherStage: 0, data: data, config: config,
            context: TestObserver().context(command: "mimic", modelName: "student"))
        XCTAssertEqual(record.steps.count, 1)
        let batch = try data.batches(.train, batchSize: 100, shuffle: false).batch(0)
        let after = try withNoGrad {
            try mseLoss(
                try student.forward(batch.images, throughStage: 0, training: true),
                try teacher.forward(batch.images, throughStage: 0, training: false)
            ).item
        }
        XCTAssertLessThan(Double(after), record.steps[0].loss * 0.99, "one step on the whole batch must lower its loss")
    }

    func testTeacherAndFrozenStagesStayBitIdentical() throws {
        let data = try fashion(limit: 200)
        let teacher = try cnn([8, 16], seed: 1)
        let student = try cnn([8, 16], seed: 2)
        try student.freeze(.stage(0))
        let teacherBefore = snapshot(teacher.stateDict())
        let frozenBefore = snapshot(student.stateDict().filter { $0.0.hasPrefix("layer1.") })
        let stage2Before = snapshot(student.stateDict().filter { $0.0.hasPrefix("layer2.") })
        var config = TrainingConfig()
        config.learningRate = 0.05
        config.batchSize = 50
        _ = try SSKD.mimic(
            student: student, stage: 1, teacher: teacher, teacherStage: 1, data: data, config: config,
            context: TestObserver().context(command: "mimic", modelName: "student"))
        XCTAssertEqual(snapshot(teacher.stateDict()), teacherBefore)
        XCTAssertEqual(snapshot(student.stateDict().filter { $0.0.hasPrefix("layer1.") }), frozenBefore)
        let stage2After = snapshot(student.stateDict().filter { $0.0.hasPrefix("layer2.") })
        XCTAssertNotEqual(stage2After["layer2.0.weight"], stage2Before["layer2.0.weight"])
        XCTAssertNotEqual(stage2After["layer2.1.running_mean"], stage2Before["layer2.1.running_mean"])
        XCTAssertEqual(stage2After["fc.weight"], stage2Before["fc.weight"])
    }

    func testRecipeOnRealDataBeatsChanceByAWideMargin() throws {
        let data = try fashion(limit: 2000)
        let teacher = try cnn([16, 32], seed: 1)
        var config = TrainingConfig()
        config.epochs = 3
        config.batchSize = 64
        config.learningRate = 0.1
        let observer = TestObserver()
        let scratch = try Baselines.scratch(
            teacher, data: data, config: config,
            context: observer.context(command: "train teacher", modelName: "teacher"))
        XCTAssertGreaterThan(try XCTUnwrap(scratch.lastTop1), 60)
        let student = try cnn([8, 16], seed: 2)
        var stageConfig = config
        stageConfig.epochs = 2
        let (records, alignments) = try SSKD.recipe(
            student: student, teacher: teacher, data: data, stageConfig: stageConfig,
            headConfig: config, context: observer.context(command: "sskd", modelName: "student"))
        let table = SSKD.stageTable(records)
        XCTAssertEqual(records.map(\.name), ["mimic stage 1", "mimic stage 2", "head"])
        XCTAssertEqual(alignments[0]?.adapter?.conv.weight.shape, [16, 8, 1, 1], "8 -> 16 channels need an adapter")
        XCTAssertTrue(student.stages.allSatisfy(\.isFrozen))
        for r in records.prefix(2) {
            XCTAssertLessThan(
                try XCTUnwrap(r.epochs.last?.featureDistance), try XCTUnwrap(r.distanceBefore),
                "mimic must bring features closer")
        }
        let test = try evaluate(student, data: data, split: .test)
        XCTAssertGreaterThan(test.top1, 45, "SSKD student on 2000 images: \(test.report())\n\(table)")
        XCTAssertTrue(table.hasPrefix("stage     steps  loss"))
        let gap = try GapReport.measure(
            student: student, teacher: teacher, data: data, baseline: ("chance", 10), alignments: alignments)
        XCTAssertEqual(gap.stages.count, 2)
        XCTAssertNotNil(gap.stages[0], "the recipe's adapters make 8 vs 16 channels comparable")
        let bare = try GapReport.measure(student: student, teacher: teacher, data: data)
        XCTAssertNil(bare.stages[0], "8 vs 16 channels cannot be compared without an adapter")
        XCTAssertEqual(gap.gap, gap.teacherTop1 - gap.studentTop1, accuracy: 1e-9)
        XCTAssertGreaterThan(try XCTUnwrap(gap.gapClosed), 0)
    }

    func testChannelMismatchGetsAnAdapterAndSpatialMismatchIsAnError() throws {
        let data = try fashion(limit: 100)
        let teacher = try cnn([16, 32], seed: 1)
        let student = try cnn([8, 16], seed: 2)
        var config = TrainingConfig()
        config.learningRate = 0.05
        config.batchSize = 100
        let (record, alignment) = try SSKD.mimic(
            student: student, stage: 0, teacher: teacher, teacherStage: 0, data: data, config: config,
            context: TestObserver().context(command: "mimic", modelName: "student"))
        XCTAssertEqual(alignment.adapter?.conv.weight.shape, [16, 8, 1, 1])
        XCTAssertEqual(record.hyperParameters["adapter"], "1x1 conv + BN")
        XCTAssertThrowsError(
            try SSKD.mimic(
                student: student, stage: 0, teacher: teacher, teacherStage: 1, data: data, config: config,
                context: TestObserver().context(command: "mimic", modelName: "student"))
        ) { error in
            XCTAssertEqual(
                "\(error)",
                "stage 1: student feature [2, 8, 14, 14] and teacher feature [2, 32, 7, 7] differ in size; pass "
                    + "pool=true to average-pool the larger one"
            )
        }
        let (pooled, plan) = try SSKD.mimic(
            student: student, stage: 0, teacher: teacher, teacherStage: 1, data: data, config: config,
            pool: true, context: TestObserver().context(command: "mimic", modelName: "student"))
        XCTAssertEqual(plan.poolTo?.h, 7)
        XCTAssertEqual(pooled.status, .completed)
    }

    func testDivergenceRestoresTheLastGoodWeights() throws {
        let data = try fashion(limit: 200)
        let model = try cnn([8], seed: 3)
        let before = snapshot(model.stateDict())
        var config = TrainingConfig()
        config.batchSize = 20
        config.learningRate = 1e30
        config.schedule = .constant
        config.momentum = 0
        let observer = TestObserver()
        let record = try Baselines.scratch(
            model, data: data, config: config, context: observer.context(command: "train", modelName: "m"))
        XCTAssertEqual(record.status, .diverged)
        XCTAssertTrue(try XCTUnwrap(record.stopReason).contains("at step"), record.stopReason ?? "")
        XCTAssertEqual(snapshot(model.stateDict()), before, "weights restored to the start of the run")
        XCTAssertTrue(observer.stopped.last === record, "the divergence is reported")
    }

    func testInterruptStopsAfterTheCurrentBatch() throws {
        let data = try fashion(limit: 200)
        let model = try cnn([8], seed: 3)
        let observer = TestObserver()
        observer.stopAfter = 2
        var config = TrainingConfig()
        config.learningRate = 0.05
        config.batchSize = 20
        config.epochs = 3
        let record = try Baselines.scratch(
            model, data: data, config: config, context: observer.context(command: "train", modelName: "m"))
        XCTAssertEqual(record.status, .interrupted)
        XCTAssertEqual(record.steps.count, 2)
        XCTAssertTrue(try evaluate(model, data: data, split: .val).top1.isFinite, "the model stays usable")
    }

    func testInterruptDuringValidationKeepsTheRunAsInterrupted() throws {
        let data = try fashion(limit: 200)
        let model = try cnn([8], seed: 3)
        var config = TrainingConfig()
        config.learningRate = 0.05
        config.batchSize = 20
        config.epochs = 3
        let method = TrainingMethod(
            method: "scratch", name: "r", trainable: model.parameters(), guarded: allState(model),
            stepCost: ComputeCost(),
            step: { try crossEntropy(try model.forward($0.images, training: true), targets: $0.labels) },
            validate: { epoch, _ in
                if epoch == 2 { throw DistillationError.interrupted }  // Ctrl-C while evaluating epoch 2
                return EpochMetrics(top1: 50)
            })
        let record = try Trainer.run(
            method, data: data, config: config, context: TestObserver().context(command: "train", modelName: "m"))
        XCTAssertEqual(record.status, .interrupted)
        XCTAssertEqual(record.steps.count, 20, "two epochs of 10 steps ran and stay recorded")
        XCTAssertEqual(record.epochs.count, 1)
        XCTAssertTrue(record.stopReason?.contains("while validating") ?? false, record.stopReason ?? "")
    }

    func testKDFitNetsAndATRunAndRecordTheirHyperParameters() throws {
        let data = try fashion(limit: 200)
        let teacher = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 1)
        var config = TrainingConfig()
        config.learningRate = 0.05
        config.batchSize = 50
        let o = TestObserver()
        let kd = try Baselines.kd(
            student: try Zoo.make("resnet8", channels: 1, classes: 10, seed: 2), teacher: teacher, temperature: 4,
            alpha: 0.9, data: data, config: config, context: o.context(command: "kd", modelName: "s"))
        XCTAssertEqual(kd.hyperParameters["T"], "4.0")
        XCTAssertEqual(kd.hyperParameters["alpha"], "0.9")
        XCTAssertTrue(o.epochs.contains { $0.record.name == "kd" && $0.epoch.epoch == 1 && $0.epochs == 1 })
        let fit = try Baselines.fitnet(
            student: try Zoo.make("resnet8", channels: 1, classes: 10, seed: 2), teacher: teacher, hintStage: 1,
            hintEpochs: 1, data: data, config: config, context: o.context(command: "fitnet", modelName: "s"))
        XCTAssertEqual(fit.map(\.method), ["hint", "fitnet"])
        let at = try Baselines.attentionTransfer(
            student: try Zoo.make("resnet8", channels: 1, classes: 10, seed: 2), teacher: teacher,
            data: data, config: config, context: o.context(command: "at", modelName: "s"))
        XCTAssertEqual(at.hyperParameters["beta"], "1000.0")
        XCTAssertTrue(at.lastTop1.map { $0.isFinite } ?? false)
        let json = try at.json()
        XCTAssertTrue(json.contains("\"method\" : \"at\""), json)
    }

    func testNothingToTrainIsAClearError() throws {
        let data = try fashion(limit: 100)
        let model = try cnn([8], seed: 3)
        try model.freeze(.all)
        XCTAssertThrowsError(
            try Baselines.scratch(
                model, data: data, config: TrainingConfig(),
                context: TestObserver().context(command: "train", modelName: "student"))
        ) { error in
            XCTAssertEqual("\(error)", "nothing to train: student is frozen (unfreeze it first)")
        }
    }
}
