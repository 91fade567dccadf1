import Datasets
import Tensors
import XCTest

@testable import Distillation
@testable import Networks

/// Honest budgets: every run record's compute equals the arithmetic of the models' layer profiles, the
/// training command's seed changes its batch order, a `labels=N` data set's unlabelled labels never reach a
/// loss, and the cache budget holds full-size data.
final class ComputeTests: XCTestCase {
    override func tearDown() { FeatureCache.memoryBudget = FeatureCache.defaultBudget }

    func data(labels: Int? = nil, validation: Int = 100) throws -> DataSplits {
        try SSKDTests.fashionMNIST(
            DataConfig(validation: validation, limit: 400, labels: labels, seed: 3, augmentation: Augmentation.none))
    }

    /// Forward MACs per image of each unit, from each unit's own `profile` (independent of `CostProfile`).
    func unitMACs(_ model: Model) throws -> [Int] {
        var shape = [1, 1, 28, 28]
        return try model.units.map { u in
            let p = try u.layer.profile(shape)
            shape = p.output
            return p.macs
        }
    }

    func testUnitCostsAddUpToTheModelProfile() throws {
        let model = try Zoo.make("resnet8", channels: 1, classes: 10, seed: 1)
        let costs = try CostProfile(model, imageShape: [1, 28, 28])
        XCTAssertEqual(costs.forward(costs.all), try model.profile([1, 1, 28, 28]).macs)
        XCTAssertEqual(costs.forward(costs.all), 9_345_920)  // the total of the stage table in the README
        // A fully trained network: forward + weight gradient everywhere + input gradient behind the first unit.
        let first = costs.units.firstIndex { $0.trains }!
        XCTAssertEqual(costs.trainingStep(costs.all), 3 * costs.forward(costs.all) - costs.units[first].macs)
        try model.freeze(.backbone)
        let frozen = try CostProfile(model, imageShape: [1, 28, 28])
        XCTAssertEqual(
            frozen.trainingStep(frozen.all), frozen.forward(frozen.all) + frozen.forward(model.head.range),
            "only the head trains: backbone forward, head forward + weight gradient, no input gradient")
    }

    func testScratchRecordCountsStepsAndValidationsFromTheProfiles() throws {
        let d = try data()
        let model = try cnn([8, 16], seed: 1)
        let macs = try unitMACs(model)
        let forward = macs.reduce(0, +)
        var config = TrainingConfig()
        config.learningRate = 0.05
        config.batchSize = 64
        config.steps = 10  // 400 images: 7 batches per epoch, so 2 epochs, the second partial
        let r = try Baselines.scratch(
            model, data: d, config: config, context: TestObserver().context(command: "train", modelName: "m"))
        XCTAssertEqual(r.steps.count, 10)
        XCTAssertEqual(r.epochs.count, 2)
        let visits = 400 + 3 * 64
        let trains = model.units.map { !$0.layer.namedParameters().isEmpty }
        let first = trains.firstIndex(of: true)!
        let perImage = macs.indices.reduce(0) { $0 + macs[$1] * (1 + (trains[$1] ? 1 : 0) + ($1 > first ? 1 : 0)) }
        XCTAssertEqual(r.compute.training, visits * perImage)
        XCTAssertEqual(r.compute.teacher, 0)
        XCTAssertEqual(r.compute.caches, 0)
        XCTAssertEqual(r.compute.evaluation, 2 * 100 * forward, "one validation pass over the 100 val images per epoch")
        let estimate = try Baselines.scratchCost(model, data: d, config: config)
        XCTAssertEqual(estimate(10), r.compute.total, "the budget estimate is what the record counts")
    }

    func testMimicRecordCountsTeacherCachesAndDistances() throws {
        let d = try data()
        let teacher = try cnn([16, 32], seed: 1)
        let student = try cnn([8, 16], seed: 2)
        try student.freeze(.stage(0))
        var config = TrainingConfig()
        config.batchSize = 50
        config.epochs = 2
        config.optimizer = .adam
        config.learningRate = 0.01
        let (r, alignment) = try SSKD.mimic(
            student: student, stage: 1, teacher: teacher, teacherStage: 1, data: d, config: config,
            context: TestObserver().context(command: "mimic", modelName: "s"))
        let t = try unitMACs(teacher)
        let s = try unitMACs(student)
        let tStages = teacher.stages
        let sStages = student.stages
        let teacherThrough2 = t[0..<tStages[1].range.upperBound].reduce(0, +)
        let prefix = s[sStages[0].range].reduce(0, +)
        let stage2 = s[sStages[1].range].reduce(0, +)
        let probe = try d.batches(.val, batchSize: 1).batch(0).images
        let adapter = try XCTUnwrap(alignment.adapter).profile(try student.forward(probe, throughStage: 1).shape).macs
        XCTAssertEqual(
            r.hyperParameters["cached"],
            "teacher stage 2 + student stages 1...1 + val teacher stage 2 + val student stages 1...1")
        // Caches: the teacher through stage 2 and the frozen stage 1, once per training and per validation image.
        XCTAssertEqual(r.compute.caches, (400 + 100) * (teacherThrough2 + prefix))
        XCTAssertEqual(r.compute.teacher, 0, "every step reads the cached targets")
        let stage2Units = Array(sStages[1].range)
        let trainStep = stage2Units.reduce(0) { total, i in
            total + s[i]
                * (1 + (student.units[i].layer.namedParameters().isEmpty ? 0 : 1) + (i > stage2Units.first! ? 1 : 0))
        }
        XCTAssertEqual(r.compute.training, 800 * (trainStep + 3 * adapter))
        XCTAssertEqual(
            r.compute.evaluation, 3 * 100 * (stage2 + adapter),
            "distance before and after each of 2 epochs, on cached inputs")
    }

    func testKDCachesTeacherLogitsAndCountsThem() throws {
        let d = try data()
        let teacher = try cnn([16, 32], seed: 1)
        let student = try cnn([8, 16], seed: 2)
        var config = TrainingConfig()
        config.learningRate = 0.05
        config.batchSize = 50
        config.epochs = 2
        func kd() throws -> RunRecord {
            try Baselines.kd(
                student: student, teacher: teacher, data: d, config: config,
                context: TestObserver().context(command: "kd", modelName: "s"))
        }
        let r = try kd()
        XCTAssertEqual(r.hyperParameters["cached"], "teacher logits")
        XCTAssertEqual(r.compute.caches, 400 * (try unitMACs(teacher).reduce(0, +)))
        XCTAssertEqual(r.compute.teacher, 0)
        XCTAssertEqual(
            try Baselines.kdCost(student: try cnn([8, 16], seed: 2), teacher: teacher, data: d, config: config)(16),
            r.compute.total)
        // One epoch visits each image once: recomputing costs no more than caching, so nothing is cached.
        config.epochs = 1
        let once = try kd()
        XCTAssertNil(once.hyperParameters["cached"])
        XCTAssertEqual(once.compute.teacher, 400 * (try unitMACs(teacher).reduce(0, +)))
    }

    func testBudgetStepsFitTheBudgetWithinOneStep() {
        let cost = { (steps: Int) in 1_000 + steps * 300 + (steps + 9) / 10 * 50 }
        let steps = ComputeBudget.steps(budget: 100_000, cost: cost)
        XCTAssertLessThanOrEqual(cost(steps), 100_000)
        XCTAssertGreaterThan(cost(steps + 1), 100_000)
        XCTAssertEqual(ComputeBudget.steps(budget: 10, cost: cost), 1)
    }

    func testSeedChangesTheBatchOrderAndOnlyTheSeed() throws {
        let d = try data()
        func firstLosses(_ seed: UInt64) throws -> [Double] {
            var config = TrainingConfig()
            config.learningRate = 0.05
            config.batchSize = 50
            config.steps = 3
            config.seed = seed
            return try Baselines.scratch(
                try cnn([8, 16], seed: 1), data: d, config: config,
                context: TestObserver().context(command: "train", modelName: "m")
            ).steps.map(\.loss)
        }
        let a = try firstLosses(1)
        let b = try firstLosses(2)
        let a2 = try firstLosses(1)
        XCTAssertEqual(a, a2, "the same seed gives the same run")
        XCTAssertNotEqual(a[0], b[0], "seed=2 must see other batches than seed=1 from the first step")
    }

    func testUnlabelledImagesNeverReachALabelLoss() throws {
        let d = try data(labels: 40)
        XCTAssertEqual(d.labelled.count, 40)
        let teacher = try cnn([16, 32], seed: 1)
        var config = TrainingConfig()
        config.learningRate = 0.05
        config.batchSize = 20
        config.epochs = 2
        // Label losses throw on a label of -1, so any unlabelled image in their batches would end these runs in an
        // error; their step counts show which images they saw.
        let scratch = try Baselines.scratch(
            try cnn([8, 16], seed: 2), data: d, config: config,
            context: TestObserver().context(command: "t", modelName: "s"))
        XCTAssertEqual(scratch.steps.count, 2 * 2, "40 labelled images in batches of 20, two epochs")
        let kd = try Baselines.kd(
            student: try cnn([8, 16], seed: 2), teacher: teacher, data: d, config: config,
            context: TestObserver().context(command: "kd", modelName: "s"))
        XCTAssertEqual(kd.steps.count, 4)
        let kdAll = try Baselines.kd(
            student: try cnn([8, 16], seed: 2), teacher: teacher, data: d, config: config, unlabelled: true,
            context: TestObserver().context(command: "kd", modelName: "s"))
        XCTAssertEqual(kdAll.steps.count, 2 * 20, "unlabelled=true sees all 400 images")
        let student = try cnn([8, 16], seed: 2)
        let (records, _) = try SSKD.recipe(
            student: student, teacher: teacher, data: d, stageConfig: config, headConfig: config,
            context: TestObserver().context(command: "sskd", modelName: "s"))
        XCTAssertEqual(
            records.map { $0.steps.count }, [40, 40, 4], "mimic uses every image, the head only the labelled ones")
        XCTAssertThrowsError(
            try crossEntropy(Tensor(shape: [1, 10], data: [Float](repeating: 0, count: 10)), targets: [-1]),
            "the safety net: a label loss refuses the no-label mark")
    }

    func testKDLossWithUnlabelledImagesWeighsThemOnTheSoftTermAlone() throws {
        let s = Tensor(
            shape: [3, 4], data: [0.1, -0.3, 0.7, 0.2, 1.0, 0.0, -1.0, 0.5, 0.3, 0.3, -0.2, 0.9], requiresGrad: true)
        let t = Tensor(shape: [3, 4], data: [0.5, -0.1, 0.2, 0.0, 2.0, 0.1, -0.5, 0.3, -0.4, 0.8, 0.0, 0.1])
        let labels = [2, -1, 1]
        let T: Float = 2
        let alpha: Float = 0.7
        let loss = try Baselines.kdLossWithUnlabelled(
            student: s, teacher: t, labels: labels, temperature: T, alpha: alpha)
        func row(_ x: Tensor, _ i: Int) -> Tensor { Tensor(shape: [1, 4], data: Array(x.data[(i * 4)..<(i * 4 + 4)])) }
        var expected = 0.0
        for i in 0..<3 {
            let kl =
                Double(try klDivergence(student: row(s, i), teacher: row(t, i), temperature: T).item) * Double(T * T)
            if labels[i] < 0 {
                expected += kl
            } else {
                expected +=
                    Double(alpha) * kl + Double(1 - alpha)
                    * Double(try crossEntropy(row(s, i), targets: [labels[i]]).item)
            }
        }
        XCTAssertEqual(Double(loss.item), expected / 3, accuracy: 1e-5)
        // Finite differences on the student logits.
        try loss.backward()
        let grad = try XCTUnwrap(s.grad).data
        for j in [0, 5, 10] {
            var plus = s.data
            var minus = s.data
            plus[j] += 1e-2
            minus[j] -= 1e-2
            let f = { (v: [Float]) in
                Double(
                    try Baselines.kdLossWithUnlabelled(
                        student: Tensor(shape: [3, 4], data: v), teacher: t, labels: labels,
                        temperature: T, alpha: alpha
                    ).item)
            }
            XCTAssertEqual(Double(grad[j]), (try f(plus) - f(minus)) / 2e-2, accuracy: 2e-3)
        }
        // All labelled: the plain KD loss.
        let plain = try Baselines.kdLossWithUnlabelled(
            student: s, teacher: t, labels: [2, 0, 1], temperature: T, alpha: alpha)
        XCTAssertEqual(
            plain.item,
            try Baselines.kdLoss(student: s, teacher: t, labels: [2, 0, 1], temperature: T, alpha: alpha).item,
            accuracy: 1e-6)
    }

    func testCacheBudgetHoldsFullFashionMNISTStageOne() throws {
        let memory = ProcessInfo.processInfo.physicalMemory
        try XCTSkipUnless(
            memory >= 12 << 30, "this machine has \(memory >> 30) GiB; the full-data budget needs 12 GiB or more")
        // Stage 1 of resnet8/resnet20 on 28x28: [16, 28, 28] per image; teacher targets plus the student prefix's
        // output.
        let perCache = try XCTUnwrap(FeatureCache.bytes(images: 55_000, shape: [16, 28, 28]))
        XCTAssertEqual(perCache, 2_759_680_000)
        XCTAssertGreaterThanOrEqual(FeatureCache.defaultBudget, 2 * perCache)
    }
}
