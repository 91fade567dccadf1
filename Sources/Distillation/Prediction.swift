import Datasets
import Foundation
import Networks
import Tensors

/// A model's raw outputs on every image of one split, in the split's order: what `predict` writes.
public struct Predictions {
    /// Split name (`train`, `val`, `test`).
    public let split: String
    /// Images predicted (`N`).
    public let count: Int
    /// Outputs per image (`K`, the model's classes).
    public let classes: Int
    /// Logits `[N, K]`, row-major Float32: row `i` is image `i` of the split (no softmax applied).
    public let logits: [Float]
    /// True class per image, `[N]`; -1 for an unlabelled train image of a `labels=` data set.
    public let labels: [Int]
    /// Arg-max class per image, `[N]` (the lowest class on a tie, as `torch.argmax`).
    public let predictions: [Int]
    /// Softmax probability of the predicted class per image, `[N]`, in [0, 1].
    public let confidences: [Float]

    /// Images with a label (`labels[i] >= 0`).
    public var labelledCount: Int { labels.filter { $0 >= 0 }.count }
    /// Labelled images whose prediction is their label.
    public var correct: Int { zip(predictions, labels).filter { $0 == $1 }.count }
    /// Top-1 accuracy over the labelled images in percent; nil when none is labelled.
    public var top1: Double? { labelledCount == 0 ? nil : 100 * Double(correct) / Double(labelledCount) }
}

/// Runs `model` in eval mode, without gradients, over every image of `split` in the split's order, batched,
/// without augmentation (train images included when unlabelled), and keeps the logits.
/// - Parameters:
///   - batchSize: images per forward pass (at least 1).
///   - cancellation: polled between batches (default: never stops).
///   - progress: told the images done after every batch (default: nobody).
/// - Throws: `DistillationError.emptySplit`, `.interrupted` when `cancellation` asks to stop (nothing is
///   returned), `TensorError` when the data do not fit the model or it does not give `[B, K]` logits.
public func predict(
    _ model: Model, data: DataSplits, split: DataSplits.Split, batchSize: Int = evaluationBatchSize,
    cancellation: Cancellation = .never, progress: ProgressReporter? = nil
) throws -> Predictions {
    let set = data.dataset(split)
    guard set.count > 0 else { throw DistillationError.emptySplit(split.rawValue) }
    var logits: [Float] = []
    var labels: [Int] = []
    var predictions: [Int] = []
    var confidences: [Float] = []
    var classes = 0
    logits.reserveCapacity(set.count * 10)
    var meter = PassMeter(progress, total: set.count)
    try withNoGrad {
        for batch in try data.batches(split, batchSize: max(1, batchSize), shuffle: false, images: .all) {
            try cancellation.check()
            let y = try model.forward(batch.images, training: false)
            guard y.rank == 2, y.shape[0] == batch.labels.count, y.shape[1] >= 1,
                classes == 0 || y.shape[1] == classes
            else {
                throw TensorError.invalidShape(op: "predict", shape: y.shape, reason: "is not [batch, classes] logits")
            }
            classes = y.shape[1]
            let values = y.data
            let probabilities = y.softmax().data
            for r in 0..<y.shape[0] {
                var best = 0
                for c in 1..<classes where values[r * classes + c] > values[r * classes + best] { best = c }
                predictions.append(best)
                confidences.append(probabilities[r * classes + best])
            }
            logits += values
            labels += batch.labels
            meter.add(batch.labels.count)
        }
    }
    return Predictions(
        split: split.rawValue, count: labels.count, classes: classes, logits: logits, labels: labels,
        predictions: predictions, confidences: confidences)
}
