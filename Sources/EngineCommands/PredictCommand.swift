import Datasets
import Distillation
import Foundation
import Language
import Plotting
import Storage

// predict: a model's logits (.npy) or per-image predictions (.csv) on a split, for use outside sskd.

extension Session {
    /// Registers `predict MODEL [split=test] [data=D] to="FILE.npy"|"FILE.csv"`.
    func registerPredictCommand() {
        commands.register(
            CommandSpec(
                "predict", summary: "write a model's logits (.npy) or per-image predictions (.csv) on a split",
                arguments: [ModelArguments.model.spec],
                options: PredictOptions.specs,
                example: "predict teacher to=\"teacher-test.npy\"", returnsValue: false, changesState: false
            ) { inv, session in
                let object = try inv.get(ModelArguments.model)
                guard let path = try inv.optional(PredictOptions.file) else {
                    throw inv.error("give the file with to=FILE.npy or to=FILE.csv")
                }
                let format = URL(fileURLWithPath: path).pathExtension.lowercased()
                guard format == "npy" || format == "csv" else {
                    let got = format.isEmpty ? "a file without an extension" : "'.\(format)'"
                    throw inv.error(
                        "\(path): predict writes .npy (logits) or .csv (predictions) files, not \(got)",
                        at: PredictOptions.file)
                }
                let data = try session.workspace.data(inv)
                let split = try inv.get(PredictOptions.split)
                try session.checkFits(object, data, inv, at: "model")
                let result: Predictions
                let name = session.workspace.name(of: object, in: session)
                do {
                    result = try session.withProgress("predict \(name) on \(split.rawValue)") {
                        try Distillation.predict(
                            object.model, data: data.splits, split: split,
                            batchSize: session.evaluationBatch, cancellation: session.cancellation, progress: $0)
                    }
                } catch { throw session.engineError(inv, error, at: "model") }
                try session.checkInterrupt()  // Ctrl-C after the last batch: nothing is written either
                let bytes =
                    format == "npy"
                    ? NumPyWriter.npy(float32: result.logits, shape: [result.count, result.classes])
                    : Array(CSVWriter.encode(predictionColumns(result)).utf8)
                do {
                    try requireParentFolder(of: path)
                    try atomicWrite(bytes, to: path)
                } catch let error as StorageError {
                    throw inv.error(
                        "cannot write \(path): \(error.reason) (any previous file is unchanged)",
                        at: PredictOptions.file)
                } catch { throw inv.error(ownMessage(error), at: PredictOptions.file) }
                let what =
                    format == "npy" ? "\(result.count) x \(result.classes) logits" : "\(result.count) predictions"
                var line = "wrote \(what) of \(name) on \(result.split) to \"\(path)\""
                if let top1 = result.top1 {
                    line += String(format: " (top-1 %.2f%%", top1)
                    line += result.labelledCount < result.count ? " of \(result.labelledCount) labelled)" : ")"
                }
                session.print(line)
                return .none
            })
    }
}

/// The CSV table of `predict`: `index` (position in the split), `label` (true class; empty for an unlabelled
/// train image), `prediction` (arg-max class), `confidence` (softmax probability of the prediction, 6 decimals).
func predictionColumns(_ p: Predictions) -> [CSVColumn] {
    [
        CSVColumn(name: "index", values: (0..<p.count).map(String.init)),
        CSVColumn(name: "label", values: p.labels.map { $0 < 0 ? "" : String($0) }),
        CSVColumn(name: "prediction", values: p.predictions.map(String.init)),
        CSVColumn(name: "confidence", values: p.confidences.map { String(format: "%.6f", $0) }),
    ]
}

/// The options of `predict`.
enum PredictOptions {
    /// `split=`.
    static let split = TypedOption<DataSplits.Split>.choice(
        "split", among: [.test, .val, .train], default: .test, "which split")
    /// `to=`, a .npy or .csv file.
    static let file = TypedOption<String>.path(
        "to", "the file: .npy (logits [N, classes], float32) or .csv (index,label,prediction,...)")
    /// The declarations in help order.
    static let specs = [split.spec, file.spec, DataOption.data.spec]
}
