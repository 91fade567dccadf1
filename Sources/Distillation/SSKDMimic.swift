import Datasets
import Foundation
import Networks
import Tensors

extension SSKD {
    /// Mimics teacher stage `teacherStage` with student stage `studentStage` (0-based): Gao et al. 2018, §3, the
    /// stage-k loss L2(student_k, teacher_k).
    ///
    /// The input passes through student stages 0...k (frozen ones in eval mode) and teacher stages 0...k
    /// (eval mode, no gradients). Loss = MSE(align(student_k), teacher_k) over maps `[N, C, H, W]`. What trains:
    /// the student's not-frozen parameters in stages 0...k plus the adapter — so freezing earlier stages (the
    /// paper's recipe) or not (an ablation) is the caller's choice. Labels are never used: batches hold every
    /// training image, labelled or not (`TrainImages.all`). The validation split's first `distanceImages` images
    /// give the normalised feature distance and cosine similarity at the end of each epoch; the distance before
    /// training is stored in `record.distanceBefore`.
    ///
    /// Without augmentation, and when the run visits its images more than once, the teacher's stage-k maps and
    /// (when stages 1...k-1 are frozen) their output are computed once per run (`FeatureCache`); the validation
    /// images' likewise. The record's `cached` hyper-parameter says what was cached, its `compute` counts every
    /// forward and backward (`ComputeCost`), and its `seconds` include the caches and the distance measurements.
    /// - Parameters:
    ///   - adapter: an adapter kept from an earlier mimic of this stage, reused when its channels fit.
    ///   - pool: average-pool the larger feature map when spatial sizes differ (else that is an error).
    ///   - context: observer, cancellation and names; the record is named `mimic stage K` unless
    ///     `context.runName` is set (FitNets' hint stage sets `fitnet hint`).
    /// - Returns: the run record and the alignment used (its adapter is kept for this stage only).
    /// - Throws: `DistillationError` (mismatches, nothing to train, empty splits, `.interrupted` while measuring
    ///   the distance before), `TensorError` when data do not fit.
    public static func mimic(
        student: Model, stage k: Int, teacher: Model, teacherStage tk: Int, data: DataSplits,
        config: TrainingConfig, adapter: Adapter? = nil, pool: Bool = false, context: RunContext
    ) throws -> (RunRecord, FeatureAlignment) {
        let (record, alignment, _) = try mimicRun(
            student: student, stage: k, teacher: teacher, teacherStage: tk, data: data, config: config,
            adapter: adapter, pool: pool, context: context)
        return (record, alignment)
    }

    /// `mimic`, given the caches the previous stage of a recipe left (`inputs`), and returning the ones this stage
    /// leaves to the next: with the teacher's stage-(tk−1) maps cached, the teacher's targets are teacher stage tk on
    /// them; with the inputs of the frozen student stage k−1 cached, the prefix output is stage k−1 on them. Values
    /// are those of computing from the images (up to GEMM summation order); the record counts what ran.
    static func mimicRun(
        student: Model, stage k: Int, teacher: Model, teacherStage tk: Int, data: DataSplits,
        config: TrainingConfig, adapter: Adapter? = nil, pool: Bool = false, inputs: StageCaches? = nil,
        context: RunContext
    ) throws -> (RunRecord, FeatureAlignment, StageCaches) {
        let setupStart = Date()
        try config.validate()
        try checkStage(student, k, "student")
        try checkStage(teacher, tk, "teacher")
        let all = try data.batches(.train, batchSize: config.batchSize, shuffle: false, images: .all)
        guard all.count > 0 else { throw DistillationError.emptySplit("train") }
        let probe = try data.batches(.train, batchSize: 2, shuffle: false, images: .all).batch(0).images
        let (ps, pt) = try withNoGrad {
            (
                try student.forward(probe, throughStage: k, training: false).shape,
                try teacher.forward(probe, throughStage: tk, training: false).shape
            )
        }
        let alignment = try FeatureAlignment.plan(
            student: ps, teacher: pt, stage: k, pool: pool, existing: adapter, seed: config.seed &+ 17)
        let units = student.stages[0...k].flatMap(\.modules)
        guard tensors(of: student, units: units).contains(where: \.requiresGrad) else {
            throw DistillationError.nothingToTrain(
                what: k == 0 ? "student stage 1" : "every student stage 1...\(k + 1)")
        }
        let split = validationSplit(data)
        var hp = ["teacher_stage": "\(tk + 1)", "adapter": alignment.adapter == nil ? "identity" : "1x1 conv + BN"]
        if alignment.poolTo != nil { hp["pool"] = "adaptive average" }

        // What one image costs through each part (CostProfile), for the record's compute.
        let image = data.train.imageShape
        let sc = try CostProfile(student, imageShape: image)
        let tc = try CostProfile(teacher, imageShape: image)
        let stageUnits = student.stages[k].range
        let studentUnits = 0..<stageUnits.upperBound
        let prefixUnits = 0..<stageUnits.lowerBound
        let teacherUnits = 0..<teacher.stages[tk].range.upperBound
        let adapterMACs = try alignment.adapter.map { try $0.profile([1] + ps.dropFirst()).macs } ?? 0

        // Without augmentation the teacher's targets and a frozen prefix's outputs are the same every epoch:
        // compute them once when the run sees its images more than once, then each step runs only what learns.
        let prefixFrozen = k > 0 && student.stages[0..<k].allSatisfy(\.isFrozen)
        let steps = config.totalSteps(batchesPerEpoch: all.count)
        let visits = ComputeBudget.visits(
            steps: steps, images: all.order.count, batchSize: config.batchSize, batchesPerEpoch: all.count)
        var caches = FeatureCaches(cancellation: context.cancellation, observer: context.observer)
        caches.reserve(inputs?.bytes ?? 0)
        // Sources from the previous stage of a recipe: teacher stage tk on its stage tk−1 maps, and the frozen student
        // stage k−1 on its own inputs.
        func teacherSource(_ split: DataSplits.Split) -> CacheSource? {
            guard tk > 0, let inputs, inputs.teacherStage == tk - 1, let c = inputs.teacher[split] else { return nil }
            return CacheSource(cache: c, macs: tc.forward(teacher.stages[tk].range)) {
                try alignment.teacher(try teacher.forward(stage: tk, $0, training: false))
            }
        }
        func prefixSource(_ split: DataSplits.Split) -> CacheSource? {
            guard k > 0, let inputs, inputs.studentStage == k - 1, let c = inputs.student[split] else { return nil }
            return CacheSource(cache: c, macs: sc.forward(student.stages[k - 1].range)) {
                try student.forward(stage: k - 1, $0, training: false)
            }
        }
        let payTrain = FeatureCache.pays(visits: visits, images: all.order.count)
        let targets =
            payTrain
            ? try caches.build(
                data, split: .train, name: "teacher stage \(tk + 1)", macs: tc.forward(teacherUnits),
                from: teacherSource(.train)
            ) {
                try alignment.teacher(try teacher.forward($0, throughStage: tk, training: false))
            } : nil
        let prefix =
            payTrain && prefixFrozen
            ? try caches.build(
                data, split: .train, name: "student stages 1...\(k)", macs: sc.forward(prefixUnits),
                from: prefixSource(.train)
            ) {
                try student.forward($0, throughStage: k - 1, training: false)
            } : nil
        // The validation images are measured before training and after every epoch: always worth caching.
        let valTargets = try caches.build(
            data, split: split, maxImages: distanceImages, name: "\(split.rawValue) teacher stage \(tk + 1)",
            macs: tc.forward(teacherUnits), from: teacherSource(split)
        ) {
            try alignment.teacher(try teacher.forward($0, throughStage: tk, training: false))
        }
        let valPrefix =
            prefixFrozen
            ? try caches.build(
                data, split: split, maxImages: distanceImages, name: "\(split.rawValue) student stages 1...\(k)",
                macs: sc.forward(prefixUnits), from: prefixSource(split)
            ) {
                try student.forward($0, throughStage: k - 1, training: false)
            } : nil
        if !caches.cached.isEmpty { hp["cached"] = caches.cached.joined(separator: " + ") }

        func distance(progress: ProgressReporter? = nil) throws -> (FeatureMetrics, Int) {
            var acc = FeatureDistance()
            var meter = PassMeter(progress, total: min(distanceImages, data.dataset(split).count))
            try withNoGrad {
                for batch in try data.batches(split, batchSize: evaluationBatchSize, shuffle: false) {
                    if acc.images >= distanceImages { break }
                    try context.cancellation.check()
                    let s =
                        try valPrefix.map { try student.forward(stage: k, $0.gather(batch.indices), training: false) }
                        ?? student.forward(batch.images, throughStage: k, training: false)
                    let t =
                        try valTargets?.gather(batch.indices)
                        ?? alignment.teacher(try teacher.forward(batch.images, throughStage: tk, training: false))
                    try acc.add(student: try alignment.student(s, training: false), teacher: t, stage: k)
                    meter.add(batch.labels.count)
                }
            }
            let perImage =
                (valPrefix == nil ? sc.forward(studentUnits) : sc.forward(stageUnits)) + adapterMACs
                + (valTargets == nil ? tc.forward(teacherUnits) : 0)
            return (acc.result, perImage * acc.images)
        }
        let (before, beforeMACs) = try distance()
        var setup = caches.setup
        setup.evaluation += beforeMACs

        let method = TrainingMethod(
            method: "mimic", name: "mimic stage \(k + 1)", hyperParameters: hp, stage: k,
            trainable: tensors(of: student, units: units) + alignment.parameters,
            guarded: allState(student) + alignment.state, what: "student stages 1...\(k + 1)", images: .all,
            stepCost: ComputeCost(
                training: (prefix == nil ? sc.trainingStep(studentUnits) : sc.trainingStep(stageUnits))
                    + 3 * adapterMACs,
                teacher: targets == nil ? tc.forward(teacherUnits) : 0),
            setupCost: setup, setupStarted: setupStart, distanceBefore: before.distance,
            step: { batch in
                let target =
                    try targets?.gather(batch.indices)
                    ?? withNoGrad {
                        try alignment.teacher(try teacher.forward(batch.images, throughStage: tk, training: false))
                    }
                let output =
                    try prefix.map { try student.forward(stage: k, $0.gather(batch.indices), training: true) }
                    ?? student.forward(batch.images, throughStage: k, training: true)
                return try mseLoss(try alignment.student(output, training: true), target)
            },
            validate: { _, progress in
                let (m, macs) = try distance(progress: progress)
                return EpochMetrics(featureDistance: m.distance, cosine: m.cosine, macs: macs)
            })
        let record = try Trainer.run(method, data: data, config: config, context: context)
        // What the next stage starts from: the teacher's raw stage-tk maps (when alignment left them as they are) and
        // the inputs of student stage k (nothing cached for stage 0, whose input is the images).
        var next = StageCaches(teacherStage: tk, studentStage: k)
        if alignment.poolTo == nil {
            next.teacher[.train] = targets
            next.teacher[split] = valTargets
        }
        next.student[.train] = prefix
        next.student[split] = valPrefix
        return (record, alignment, next)
    }
}

/// The feature caches one stage of SSKD's recipe leaves to the next (`SSKD.recipe`), so that neither network's
/// early stages run again over the same images: the teacher's output at the end of stage `teacherStage`, and the
/// inputs of the student's stage `studentStage` (its frozen prefix's output), per split.
struct StageCaches {
    /// The teacher's stage map at the end of `teacherStage` (0-based), not aligned, per split.
    var teacher: [DataSplits.Split: FeatureCache] = [:]
    /// The stage of the teacher maps.
    let teacherStage: Int
    /// What student stage `studentStage` (0-based) takes as input, per split; empty for stage 0 (the images).
    var student: [DataSplits.Split: FeatureCache] = [:]
    /// The stage the student caches are the inputs of.
    let studentStage: Int

    init(teacherStage: Int, studentStage: Int) {
        self.teacherStage = teacherStage
        self.studentStage = studentStage
    }

    /// Memory the caches take, in bytes.
    var bytes: Int { (Array(teacher.values) + Array(student.values)).reduce(0) { $0 + $1.bytes } }
}
