import Datasets
import Foundation
import Networks
import Storage
import Tensors

/// Classification quality of a model on one split: top-1, top-5, mean cross-entropy, and the
/// predictions behind them (for per-class accuracy, the confusion matrix and agreement).
public struct Evaluation {
    /// Split name (`train`, `val`, `test`).
    public let split: String
    /// Images evaluated.
    public var count: Int { labels.count }
    /// Top-1 accuracy in percent.
    public let top1: Double
    /// Top-5 accuracy in percent (top-k with k = min(5, classes)).
    public let top5: Double
    /// Mean cross-entropy in nats.
    public let loss: Double
    /// Arg-max class per image, in split order.
    public let predictions: [Int]
    /// True class per image.
    public let labels: [Int]
    /// Class names of the data set.
    public let classNames: [String]

    /// Accuracy per class in percent (NaN for a class with no image).
    public var perClassAccuracy: [Double] {
        var right = [Int](repeating: 0, count: classNames.count)
        var total = right
        for (p, y) in zip(predictions, labels) where y < total.count {
            total[y] += 1
            if p == y { right[y] += 1 }
        }
        return zip(right, total).map { $1 == 0 ? .nan : 100 * Double($0) / Double($1) }
    }

    /// Confusion counts `[true class][predicted class]`.
    public var confusionMatrix: [[Int]] {
        var m = [[Int]](repeating: [Int](repeating: 0, count: classNames.count), count: classNames.count)
        for (p, y) in zip(predictions, labels) where y < m.count && p < m.count { m[y][p] += 1 }
        return m
    }

    /// `test: top-1 91.23%  top-5 99.80%  loss 0.2512  (10000 images)` plus optional tables: per-class accuracy
    /// (one line per class), and the confusion matrix with a header row of predicted class indices and one row per
    /// true class, labelled by index and name:
    /// ```
    ///   confusion matrix: rows true class, columns predicted class
    ///   true \ predicted      0     1
    ///    0 T-shirt/top      850     3
    ///    1 Trouser            2   960
    /// ```
    /// Class names (from the data's files) are escaped for the terminal (`printable`) and cut at 24 characters.
    public func report(perClass: Bool = false, confusion: Bool = false) -> String {
        var lines = [
            String(
                format: "%@: top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%@)", split, top1, top5, loss,
                counted(count, "image"))
        ]
        let names = classNames.map { printable($0, limit: 24) }
        if perClass {
            let width = max(5, names.map(\.count).max() ?? 5)
            for (name, acc) in zip(names, perClassAccuracy) {
                lines.append(
                    "  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "  %6.2f%%", acc)
                )
            }
        }
        if confusion {
            let matrix = confusionMatrix
            let indexWidth = String(max(names.count - 1, 0)).count
            let rowLabels = names.enumerated().map { i, name in
                String(repeating: " ", count: indexWidth - String(i).count) + "\(i) \(name)"
            }
            let corner = "true \\ predicted"
            let labelWidth = max(corner.count, rowLabels.map(\.count).max() ?? 0)
            let cellWidth = 1 + max(String(matrix.flatMap { $0 }.max() ?? 0).count, String(names.count - 1).count, 4)
            func pad(_ text: String, _ width: Int, right: Bool) -> String {
                let fill = String(repeating: " ", count: max(width - text.count, 0))
                return right ? fill + text : text + fill
            }
            lines.append("  confusion matrix: rows true class, columns predicted class")
            lines.append(
                "  " + pad(corner, labelWidth, right: false)
                    + names.indices.map { pad(String($0), cellWidth, right: true) }.joined())
            for (label, row) in zip(rowLabels, matrix) {
                lines.append(
                    "  " + pad(label, labelWidth, right: false)
                        + row.map { pad(String($0), cellWidth, right: true) }
                        .joined())
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Images per forward pass of every evaluation loop: validation, the feature distance, feature caches,
/// predictions and the gap report. One value for all, so that a cache of a split's first images holds whole
/// batches of the loop that reads it.
public let evaluationBatchSize = 256

/// Evaluates `model` in eval mode, without gradients, on `split` (logits `[N, K]`).
/// - Parameters:
///   - cancellation: polled between batches (default: never stops).
///   - progress: told the images done after every batch (default: nobody).
/// - Throws: `DistillationError.emptySplit`, `.interrupted` when `cancellation` asks to stop, `TensorError`
///   when the data do not fit the model.
public func evaluate(
    _ model: Model, data: DataSplits, split: DataSplits.Split, batchSize: Int = evaluationBatchSize,
    cancellation: Cancellation = .never, progress: ProgressReporter? = nil
) throws -> Evaluation {
    try evaluate(data: data, split: split, batchSize: batchSize, cancellation: cancellation, progress: progress) {
        try model.forward($0.images, training: false)
    }
}

/// Evaluates the logits `[n, classes]` that `logits` gives for each batch of `split` (in order, no gradients):
/// what `evaluate(_:data:split:)` does with a whole model, and SSKD's head does on cached backbone features.
/// `progress` is told the images done after every batch.
/// - Throws: `DistillationError.emptySplit`, `.interrupted` when `cancellation` asks to stop, errors of `logits`.
func evaluate(
    data: DataSplits, split: DataSplits.Split, batchSize: Int = evaluationBatchSize, cancellation: Cancellation,
    progress: ProgressReporter? = nil, logits: (Batch) throws -> Tensor
) throws -> Evaluation {
    let set = data.dataset(split)
    guard set.count > 0 else { throw DistillationError.emptySplit(split.rawValue) }
    var predictions: [Int] = []
    var labels: [Int] = []
    var correct5 = 0
    var lossSum = 0.0
    var meter = PassMeter(progress, total: set.count)
    try withNoGrad {
        for batch in try data.batches(split, batchSize: batchSize, shuffle: false) {
            try cancellation.check()
            let y = try logits(batch)
            let k = min(5, y.shape[1])
            let top = try y.topK(k)
            predictions += top.map { $0[0] }
            labels += batch.labels
            correct5 += zip(top, batch.labels).filter { $0.contains($1) }.count
            lossSum += Double(try crossEntropy(y, targets: batch.labels).item) * Double(batch.labels.count)
            meter.add(batch.labels.count)
        }
    }
    let n = Double(labels.count)
    let top1 = 100 * Double(zip(predictions, labels).filter { $0 == $1 }.count) / n
    return Evaluation(
        split: split.rawValue, top1: top1, top5: 100 * Double(correct5) / n, loss: lossSum / n,
        predictions: predictions, labels: labels, classNames: set.classNames)
}

/// The split per-epoch validation uses: `val` when the data have one, else `test`.
func validationSplit(_ data: DataSplits) -> DataSplits.Split { data.val.count > 0 ? .val : .test }
