import Datasets
import Foundation
import Networks
import Tensors

/// The methods SSKD is compared with, each on the same training loop and budget:
/// scratch (cross-entropy only), KD (Hinton et al. 2015), FitNets (Romero et al. 2015) and
/// attention transfer (Zagoruyko & Komodakis 2017). The teacher always runs in eval mode without gradients.
public enum Baselines {
    /// Trains every not-frozen parameter of `model` with cross-entropy (with label smoothing ε if set).
    /// - Throws: `DistillationError.nothingToTrain` when all is frozen; training errors.
    public static func scratch(_ model: Model, data: DataSplits, config: TrainingConfig, observer: TrainingObserver,
                               command: String, modelName: String, runName: String = "scratch") throws -> RunRecord {
        let split = validationSplit(data)
        let record = RunRecord(name: runName, method: "scratch", model: modelName, command: command, seed: config.seed,
                               hyperParameters: config.hyperParameters, validationSplit: split.rawValue)
        try Trainer.run(record, trainable: model.parameters(), guarded: allState(model), data: data, config: config,
                        observer: observer, what: modelName,
                        step: { batch in
                            try crossEntropy(try model.forward(batch.images, training: true), targets: batch.labels,
                                             labelSmoothing: config.labelSmoothing)
                        },
                        validate: { _ in try classificationMetrics(model, data, split) })
        return record
    }

    /// The KD loss of Hinton et al. (2015): α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE(s, y).
    /// The T² factor keeps the soft-target gradients on the scale of the hard-target ones.
    /// - Throws: `TensorError` when logits and labels disagree.
    public static func kdLoss(student s: Tensor, teacher t: Tensor, labels: [Int], temperature: Float, alpha: Float,
                              labelSmoothing: Float = 0) throws -> Tensor {
        let soft = try klDivergence(student: s, teacher: t, temperature: temperature) * (alpha * temperature * temperature)
        let hard = try crossEntropy(s, targets: labels, labelSmoothing: labelSmoothing) * (1 - alpha)
        return try soft + hard
    }

    /// Hinton KD: the student trained on `kdLoss` against the teacher's logits.
    /// - Throws: `DistillationError` for T ≤ 0, α outside [0, 1], or differing class counts; training errors.
    public static func kd(student: Model, teacher: Model, temperature: Float = 4, alpha: Float = 0.9, data: DataSplits,
                          config: TrainingConfig, observer: TrainingObserver, command: String, modelName: String,
                          runName: String = "kd") throws -> RunRecord {
        guard temperature > 0 else { throw DistillationError.invalidOption(name: "T", reason: "must be positive, got \(temperature)") }
        guard (0...1).contains(alpha) else { throw DistillationError.invalidOption(name: "alpha", reason: "must be in [0, 1], got \(alpha)") }
        let split = validationSplit(data)
        var hp = config.hyperParameters
        hp["T"] = "\(temperature)"; hp["alpha"] = "\(alpha)"
        let record = RunRecord(name: runName, method: "kd", model: modelName, command: command, seed: config.seed,
                               hyperParameters: hp, validationSplit: split.rawValue)
        try Trainer.run(record, trainable: student.parameters(), guarded: allState(student), data: data, config: config,
                        observer: observer, what: modelName,
                        step: { batch in
                            let t = try withNoGrad { try teacher.forward(batch.images, training: false) }
                            let s = try student.forward(batch.images, training: true)
                            guard s.shape == t.shape else {
                                throw DistillationError.incompatible("kd: student logits \(formatShape(s.shape)) and teacher logits \(formatShape(t.shape)) differ")
                            }
                            return try kdLoss(student: s, teacher: t, labels: batch.labels, temperature: temperature, alpha: alpha,
                                              labelSmoothing: config.labelSmoothing)
                        },
                        validate: { _ in try classificationMetrics(student, data, split) })
        return record
    }

    /// FitNets: a hint stage regresses student stage `hintStage` onto the same teacher stage through an adapter
    /// (a 1x1 conv + BN regressor) for `hintEpochs`, training student stages 0...hint; then KD for `config.epochs`.
    /// - Returns: the hint record and the KD record.
    /// - Throws: as `SSKD.mimic` and `kd`.
    public static func fitnet(student: Model, teacher: Model, hintStage: Int, hintEpochs: Int, temperature: Float = 4,
                              alpha: Float = 0.9, pool: Bool = false, data: DataSplits, config: TrainingConfig,
                              observer: TrainingObserver, command: String, modelName: String) throws -> [RunRecord] {
        var hintConfig = config
        hintConfig.epochs = hintEpochs
        let probe = try data.batches(.train, batchSize: 2, shuffle: false).batch(0).images
        let channels = try withNoGrad { try student.forward(probe, throughStage: hintStage, training: false).shape[1] }
        let teacherChannels = try withNoGrad { try teacher.forward(probe, throughStage: hintStage, training: false).shape[1] }
        // FitNets always regresses through a learned regressor, even when channel counts match.
        let regressor = Adapter(from: channels, to: teacherChannels, seed: config.seed &+ 29)
        let (hint, _) = try SSKD.mimic(student: student, stage: hintStage, teacher: teacher, teacherStage: hintStage, data: data,
                                       config: hintConfig, adapter: regressor, pool: pool,
                                       observer: observer, command: command, modelName: modelName)
        hint.name = "fitnet hint"; hint.method = "hint"
        guard hint.status == .completed else { return [hint] }
        let rest = try kd(student: student, teacher: teacher, temperature: temperature, alpha: alpha, data: data, config: config,
                          observer: observer, command: command, modelName: modelName, runName: "fitnet")
        rest.method = "fitnet"
        rest.hyperParameters["hint_stage"] = "\(hintStage + 1)"; rest.hyperParameters["hint_epochs"] = "\(hintEpochs)"
        return [hint, rest]
    }

    /// Attention map of a feature `[N, C, H, W]`: mean over channels of squared activations, flattened to
    /// `[N, H·W]` and L2-normalised per image (Zagoruyko & Komodakis 2017, their code's `at(x)`).
    /// - Throws: `TensorError` for a map that is not `[N, C, H, W]`.
    public static func attentionMap(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4 else { throw TensorError.invalidShape(op: "attention", shape: x.shape, reason: "is not [N, C, H, W]") }
        let a = try x.pow(2).mean(axes: [1]).reshaped([x.shape[0], -1])
        let norm = (try a.pow(2).sum(axes: [1], keepDims: true) + 1e-12).sqrt()
        return try a / norm
    }

    /// Attention transfer: CE + β/2 · Σ_stages mean((Q_s − Q_t)²) with Q the normalised attention maps of
    /// every stage (β = 1000 in the paper's code). Stage maps must agree in spatial size.
    /// - Throws: `DistillationError` when stage counts or spatial sizes differ; training errors.
    public static func attentionTransfer(student: Model, teacher: Model, beta: Float = 1000, data: DataSplits,
                                         config: TrainingConfig, observer: TrainingObserver, command: String,
                                         modelName: String) throws -> RunRecord {
        guard student.stages.count == teacher.stages.count else {
            throw DistillationError.incompatible("at: student has \(student.stages.count) stages, teacher \(teacher.stages.count)")
        }
        let split = validationSplit(data)
        var hp = config.hyperParameters
        hp["beta"] = "\(beta)"
        let record = RunRecord(name: "at", method: "at", model: modelName, command: command, seed: config.seed,
                               hyperParameters: hp, validationSplit: split.rawValue)
        try Trainer.run(record, trainable: student.parameters(), guarded: allState(student), data: data, config: config,
                        observer: observer, what: modelName,
                        step: { batch in
                            let tf = try withNoGrad { try teacher.features(batch.images, training: false) }
                            let sf = try student.features(batch.images, training: true)
                            let logits = try student.forwardHead(sf[sf.count - 1], training: true)
                            var loss = try crossEntropy(logits, targets: batch.labels, labelSmoothing: config.labelSmoothing)
                            for (k, (s, t)) in zip(sf, tf).enumerated() {
                                guard s.rank == 4, s.shape[0] == t.shape[0], s.shape[2...] == t.shape[2...] else {
                                    throw DistillationError.spatialMismatch(student: s.shape, teacher: t.shape, stage: k)
                                }
                                let d = try attentionMap(s) - attentionMap(t)
                                loss = try loss + (try d.pow(2).mean() * (beta / 2))
                            }
                            return loss
                        },
                        validate: { _ in try classificationMetrics(student, data, split) })
        return record
    }
}
