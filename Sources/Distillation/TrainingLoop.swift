import Datasets
import Foundation
import Networks
import Storage
import Tensors

/// The one training loop every method uses (scratch, KD, FitNets, AT, SSKD mimic and head), each described by a
/// `TrainingMethod`.
///
/// Per batch: set the scheduled learning rate, zero gradients, compute the loss with the method's `step`, check
/// it is finite, backpropagate, update. Per epoch (and after the last step of a `steps` budget): measure
/// `validate`, record, report (`TrainingObserver.epochEnded`), and keep a copy of every tensor in `guarded` as the
/// last good state. A NaN/Inf loss restores that state and ends the run with status `.diverged` naming the step
/// and the loss; a stop asked through the context's `Cancellation` (Ctrl-C) ends it after the current batch with
/// status `.interrupted`, models intact; `patience` ends it early (status `.completed`, `stopReason` says why).
/// Every early end is reported through `TrainingObserver.runStopped`.
public enum Trainer {
    /// Runs `method` on `data` with `config` and returns its record: epochs, steps, and `compute` (the method's
    /// setup cost, `stepCost` per image of every step, and what `validate` reports). Its hyper-parameters are the
    /// configuration's (`TrainingConfig.hyperParameters`), the training batches' augmentation (`augment`: `crop 2`,
    /// `none`, ...) and the method's own.
    /// - Throws: `DistillationError.invalidOption` for a bad `config`, or `patience` without a validation split
    ///   in `data`; `.nothingToTrain` when `method.trainable` has no unfrozen tensor; `.emptySplit` when no
    ///   training image is selected; errors of `step` and `validate` (`validate`'s `.interrupted` ends the run
    ///   as interrupted instead).
    public static func run(_ method: TrainingMethod, data: DataSplits, config: TrainingConfig, context: RunContext)
        throws -> RunRecord
    {
        try config.validate()
        if config.patience != nil && data.val.count == 0 {
            throw DistillationError.invalidOption(
                name: "patience",
                reason: "stops on validation numbers, and this data has "
                    + "no validation split (early stopping on test numbers selects on the test set); hold one out "
                    + "with data ... val=N"
            )
        }
        let images = method.images
        let params = method.trainable.filter(\.requiresGrad)
        guard !params.isEmpty else { throw DistillationError.nothingToTrain(what: method.what ?? context.modelName) }
        let perEpoch = try data.batches(
            .train, batchSize: config.batchSize, epoch: 0, seed: config.seed, images: images
        ).count
        guard perEpoch > 0 else { throw DistillationError.emptySplit(images == .all ? "train" : "labelled train") }
        let record = RunRecord(
            name: context.runName ?? method.name, method: method.method, model: context.modelName,
            command: context.command, seed: config.seed,
            hyperParameters: config.hyperParameters.merging(["augment": "\(data.augmentation)"]) { $1 }
                .merging(method.hyperParameters) { $1 },
            stage: method.stage,
            validationSplit: validationSplit(data).rawValue)
        record.distanceBefore = method.distanceBefore
        record.compute = method.setupCost
        record.seconds = method.setupStarted.map { Date().timeIntervalSince($0) } ?? 0
        try loop(method, record, params: params, batchesPerEpoch: perEpoch, data: data, config: config, context)
        return record
    }

    /// The epochs of `run`, filling `record`.
    private static func loop(
        _ method: TrainingMethod, _ record: RunRecord, params: [Tensor], batchesPerEpoch perEpoch: Int,
        data: DataSplits, config: TrainingConfig, _ context: RunContext
    ) throws {
        let guarded = method.guarded
        let observer = context.observer
        let totalSteps = config.totalSteps(batchesPerEpoch: perEpoch)
        let epochCount = (totalSteps + perEpoch - 1) / perEpoch
        let optimizer = try config.makeOptimizer(params)
        let schedule = config.scheduleFor(totalSteps: totalSteps)
        var lastGood = guarded.map(\.data)
        let start = Date()
        var stepIndex = 0
        var best = -Double.infinity
        var sinceBest = 0
        defer { record.seconds += Date().timeIntervalSince(start) }
        /// Restores the last good state and ends the run as diverged (`what` became non-finite).
        func diverge(_ what: String, epoch: Int) {
            for (t, d) in zip(guarded, lastGood) { t.data = d }
            record.status = .diverged
            record.stopReason =
                "\(what); weights restored to "
                + (epoch == 1 ? "the start of the run" : "the end of epoch \(epoch - 1)")
            observer.runStopped(record)
        }
        epochs: for epoch in 1...epochCount {
            let batches = try data.batches(
                .train, batchSize: config.batchSize, epoch: epoch - 1, seed: config.seed, images: method.images)
            let batchesThisEpoch = min(batches.count, totalSteps - stepIndex)
            let epochStart = Date()
            var lossSum = 0.0
            var seen = 0
            var batchNumber = 0
            for batch in batches {
                if batchNumber == batchesThisEpoch { break }
                optimizer.learningRate = schedule.rate(at: stepIndex, base: config.learningRate)
                optimizer.zeroGrad()
                let loss = try method.step(batch)
                let value = Double(loss.item)
                let n = batch.indices.count
                record.compute.training += method.stepCost.training * n
                record.compute.teacher += method.stepCost.teacher * n
                guard value.isFinite else {
                    for p in params { p.zeroGrad() }
                    diverge("loss became \(value) at step \(stepIndex + 1) (epoch \(epoch))", epoch: epoch)
                    return
                }
                try loss.backward()
                optimizer.step()
                stepIndex += 1
                batchNumber += 1
                lossSum += value * Double(n)
                seen += n
                record.steps.append(
                    .init(step: stepIndex, epoch: epoch, loss: value, learningRate: Double(optimizer.learningRate)))
                let elapsed = Date().timeIntervalSince(epochStart)
                let rate = Double(seen) / max(elapsed, 1e-9)
                let remaining = Double(totalSteps - stepIndex) * elapsed / Double(batchNumber)
                observer.batchEnded(
                    BatchProgress(
                        run: record.name, epoch: epoch, epochs: epochCount, batch: batchNumber,
                        batches: batchesThisEpoch, loss: value, meanLoss: lossSum / Double(seen), imagesPerSecond: rate,
                        eta: remaining))
                if context.cancellation.isRequested() {
                    record.status = .interrupted
                    record.stopReason =
                        "interrupted at step \(stepIndex) (epoch \(epoch), batch \(batchNumber)/\(batchesThisEpoch))"
                    observer.runStopped(record)
                    break epochs
                }
            }
            let metrics: EpochMetrics
            do {
                // Data with neither a val nor a test split (a single ImageFolder split) has nothing to validate on.
                let canValidate = data.val.count > 0 || data.test.count > 0
                metrics =
                    canValidate && config.validates(epoch: epoch, of: epochCount)
                    ? try method.validate(
                        epoch,
                        ProgressReporter(
                            observer, task: "\(record.name) epoch \(epoch): \(validationSplit(data).rawValue) pass"))
                    : EpochMetrics()
            } catch DistillationError.interrupted {
                // Ctrl-C during the validation pass: the steps of this epoch happened, so the run is kept, as
                // interrupted.
                record.status = .interrupted
                record.stopReason = "interrupted while validating after step \(stepIndex) (epoch \(epoch))"
                observer.runStopped(record)
                break epochs
            }
            record.compute.evaluation += metrics.macs
            if let bad = [metrics.valLoss, metrics.top1, metrics.featureDistance].compactMap({ $0 }).first(where: {
                !$0.isFinite
            }) {
                diverge("validation gave \(bad) after epoch \(epoch)", epoch: epoch)
                return
            }
            let entry = RunRecord.Epoch(
                epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)), top1: metrics.top1,
                valLoss: metrics.valLoss, featureDistance: metrics.featureDistance, cosine: metrics.cosine,
                seconds: record.seconds + Date().timeIntervalSince(start))
            record.epochs.append(entry)
            lastGood = guarded.map(\.data)
            observer.epochEnded(
                EpochProgress(
                    record: record, epoch: entry, epochs: epochCount,
                    imagesPerSecond: Double(seen) / max(Date().timeIntervalSince(epochStart), 1e-9)))
            if let patience = config.patience, let score = metrics.score {
                if score > best {
                    best = score
                    sinceBest = 0
                } else {
                    sinceBest += 1
                }
                if sinceBest >= patience && epoch < epochCount {
                    record.stopReason =
                        "early stop after epoch \(epoch) of \(epochCount): no improvement in "
                        + counted(patience, "validation")
                    observer.runStopped(record)
                    break epochs
                }
            }
        }
    }
}
