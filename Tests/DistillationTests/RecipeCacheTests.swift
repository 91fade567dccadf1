import Datasets
import Networks
import Tensors
import XCTest

@testable import Distillation

/// Validation and caches that cost what they must, without changing what is learned: SSKD's recipe computes each
/// stage's teacher targets and frozen prefix from the previous stage's caches (each stage of either network runs once
/// per image), the validation features are cached once per run, and `val_every` skips validations without touching
/// the training. Every comparison runs the same seeds both ways.
final class RecipeCacheTests: XCTestCase {
    override func tearDown() { FeatureCache.memoryBudget = FeatureCache.defaultBudget }

    func data() throws -> DataSplits {
        try SSKDTests.fashionMNIST(DataConfig(validation: 100, limit: 400, seed: 3, augmentation: Augmentation.none))
    }

    func stageConfig(epochs: Int = 2) -> TrainingConfig {
        var c = SSKD.Defaults.mimic
        c.steps = nil
        c.epochs = epochs
        c.batchSize = 50
        c.seed = 4
        return c
    }

    func headConfig() -> TrainingConfig {
        var c = SSKD.Defaults.head
        c.epochs = 3
        c.batchSize = 50
        c.seed = 6
        return c
    }

    /// Forward MACs per image of each unit of `model` on Fashion-MNIST images.
    func unitMACs(_ model: Model) throws -> [Int] { try model.unitCosts(inputShape: [1, 1, 28, 28]).map(\.macs) }

    /// Counts the images each pass reports, by task (`feature cache: val`, `head epoch 2: val pass`).
    final class PassCounter: TrainingObserver {
        var images: [String: Int] = [:]
        func batchEnded(_ progress: BatchProgress) {}
        func epochEnded(_ progress: EpochProgress) {}
        func runStopped(_ record: RunRecord) {}
        func budgetShared(_ share: BudgetShare) {}
        func passProgressed(_ progress: PassProgress) { images[progress.task] = progress.images }
        var context: RunContext { RunContext(observer: self, command: "sskd", modelName: "student") }
    }

    /// The recipe (chained caches) against the same stages run one by one through the public `mimic` and
    /// `trainHead` (each stage computing its caches from the images): the same losses, distances, top-1 and
    /// weights, and the chained run's caches cost exactly the stages that did not run before.
    func testRecipeChainsStageCachesWithoutChangingTheStudent() throws {
        let d = try data()
        let teacher = try cnn([16, 32], seed: 1)
        let chained = try cnn([8, 16], seed: 2)
        let (records, _) = try SSKD.recipe(
            student: chained, teacher: teacher, data: d, stageConfig: stageConfig(), headConfig: headConfig(),
            headFrom: nil, context: PassCounter().context)

        let plain = try cnn([8, 16], seed: 2)
        var separate: [RunRecord] = []
        for k in 0..<2 {
            let (r, _) = try SSKD.mimic(
                student: plain, stage: k, teacher: teacher, teacherStage: k, data: d, config: stageConfig(),
                context: PassCounter().context)
            separate.append(r)
            try plain.freeze(.stage(k))
        }
        separate.append(
            try SSKD.trainHead(student: plain, data: d, config: headConfig(), context: PassCounter().context))

        XCTAssertEqual(records.count, 3)
        for (a, b) in zip(records, separate) {
            XCTAssertEqual(a.name, b.name)
            XCTAssertEqual(a.hyperParameters["cached"], b.hyperParameters["cached"], a.name)
            XCTAssertEqual(a.steps.count, b.steps.count, a.name)
            for (x, y) in zip(a.steps, b.steps) {
                XCTAssertEqual(x.loss, y.loss, accuracy: 1e-4 * max(1, abs(y.loss)), "\(a.name) step \(x.step)")
            }
            XCTAssertEqual(a.epochs.count, b.epochs.count)
            for (x, y) in zip(a.epochs, b.epochs) {
                if let dx = x.featureDistance, let dy = y.featureDistance {
                    XCTAssertEqual(dx, dy, accuracy: 1e-4 * max(1, dy), "\(a.name) epoch \(x.epoch)")
                }
                XCTAssertEqual(x.top1 ?? -1, y.top1 ?? -1, accuracy: 1.01, "\(a.name) epoch \(x.epoch)")
            }
        }
        let mine = Dictionary(uniqueKeysWithValues: chained.stateDict().map { ($0.0, $0.1.data) })
        for (name, t) in plain.stateDict() {
            let worst = zip(mine[name]!, t.data).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-3, "\(name) differs between the chained and the separate stages")
        }
        XCTAssertLessThan(records[2].steps.last!.loss, records[2].steps.first!.loss, "the head learned")

        // Caches: stage 2's teacher targets are teacher stage 2 on the cached stage-1 maps (its prefix, student
        // stage 1 on the images, has nothing earlier to start from); the head's input is student stage 2 on
        // stage 2's cached prefix. 400 training and 100 validation images each.
        let t = try unitMACs(teacher)
        let s = try unitMACs(chained)
        let (ts, ss) = (teacher.stages, chained.stages)
        let teacher1 = t[ts[0].range].reduce(0, +)
        let teacher2 = t[ts[1].range].reduce(0, +)
        let student1 = s[ss[0].range].reduce(0, +)
        let student2 = s[ss[1].range].reduce(0, +)
        XCTAssertEqual(separate[1].compute.caches, 500 * (teacher1 + teacher2 + student1))
        XCTAssertEqual(records[1].compute.caches, 500 * (teacher2 + student1))
        XCTAssertEqual(separate[2].compute.caches, 500 * (student1 + student2))
        XCTAssertEqual(records[2].compute.caches, 500 * student2)
        XCTAssertEqual(records[0].compute, separate[0].compute, "stage 1 has no earlier caches")
    }

    /// The head's validation features are built once per run (one pass over the 100 validation images through the
    /// backbone), and each epoch's validation runs only the head on them, with the top-1 of recomputing them.
    func testHeadValidationCacheIsBuiltOnceAndGivesTheRecomputedNumbers() throws {
        func run(budget: Int) throws -> (RunRecord, PassCounter) {
            FeatureCache.memoryBudget = budget
            let student = try cnn([8, 16], seed: 2)
            let counter = PassCounter()
            let r = try SSKD.trainHead(
                student: student, data: try data(), config: headConfig(), context: counter.context)
            return (r, counter)
        }
        let (cached, counter) = try run(budget: 2 << 30)
        let (plain, _) = try run(budget: 0)
        XCTAssertEqual(cached.hyperParameters["cached"], "student stages 1...2 (train, val)")
        XCTAssertNil(plain.hyperParameters["cached"])
        XCTAssertEqual(counter.images["feature cache: val"], 100, "one pass over the validation images")
        XCTAssertEqual(counter.images["feature cache: train"], 400)
        for e in 1...3 { XCTAssertEqual(counter.images["head epoch \(e): val pass"], 100) }
        let student = try cnn([8, 16], seed: 2)
        let macs = try unitMACs(student)
        let backbone = macs[0..<student.head.range.lowerBound].reduce(0, +)
        let head = macs[student.head.range].reduce(0, +)
        XCTAssertEqual(cached.compute.caches, 500 * backbone)
        XCTAssertEqual(cached.compute.evaluation, 3 * 100 * head, "validations run the head alone")
        XCTAssertEqual(plain.compute.evaluation, 3 * 100 * (backbone + head))
        XCTAssertEqual(cached.epochs.map { $0.top1 ?? -1 }, plain.epochs.map { $0.top1 ?? -2 })
        for (a, b) in zip(cached.epochs, plain.epochs) {
            XCTAssertEqual(a.valLoss ?? -1, b.valLoss ?? -2, accuracy: 1e-4)
        }
    }

    /// `val_every=2` over 4 epochs validates after epochs 2 and 4 only, with the numbers a run validating every
    /// epoch measures there (validation does not change the training), and counts only those passes.
    func testValidatingEveryTwoEpochsSkipsPassesAndKeepsTheNumbers() throws {
        func run(every: Int) throws -> RunRecord {
            let student = try cnn([8, 16], seed: 2)
            var config = stageConfig(epochs: 4)
            config.validateEvery = every
            return try SSKD.mimic(
                student: student, stage: 0, teacher: try cnn([16, 32], seed: 1), teacherStage: 0, data: try data(),
                config: config, context: PassCounter().context
            ).0
        }
        let every = try run(every: 1)
        let second = try run(every: 2)
        XCTAssertEqual(every.steps.map(\.loss), second.steps.map(\.loss), "validation does not touch the training")
        XCTAssertEqual(every.epochs.compactMap(\.featureDistance).count, 4)
        XCTAssertEqual(second.epochs.map { $0.featureDistance != nil }, [false, true, false, true])
        XCTAssertEqual(second.epochs[1].featureDistance, every.epochs[1].featureDistance)
        XCTAssertEqual(second.epochs[3].featureDistance, every.epochs[3].featureDistance)
        // The distance before training and one pass per validation: 5 passes against 3.
        XCTAssertEqual(every.compute.evaluation * 3, second.compute.evaluation * 5)
        XCTAssertEqual(second.hyperParameters["val_every"], "2")
    }
}
