import Datasets
import Distillation
import Foundation
import Language
import Networks
import Storage

// What a checkpoint records about the data its model was trained on (normalisation, input shape, class names),
// and the warnings when a model meets other data: a normalisation that differs from its record, or a loaded model
// that scores near chance (the usual sign of inputs normalised differently from training).

/// The facts about a data set that a model depends on, from a `DataObject` or from checkpoint metadata.
struct DataFacts: Equatable {
    /// Data set name (`fashion-mnist`, a `.npz` path).
    var dataset: String?
    /// The `normalize=` choice: `computed`, `none`, `given` or a preset name.
    var normalize: String?
    /// Per-channel mean and std in `[0, 1]` pixel units, `[C]` each.
    var mean: [Double]?
    var std: [Double]?
    /// `[C, H, W]` of the images.
    var shape: [Int]?
    /// Class names in label order.
    var classNames: [String]?

    init(_ data: DataObject) {
        let s = data.splits
        dataset = data.name
        normalize = s.normalizationName
        mean = s.mean.map(Double.init)
        std = s.std.map(Double.init)
        shape = s.train.imageShape
        classNames = s.train.classNames
    }

    /// The facts a checkpoint records (`CheckpointKey.normalize` and kin), or nil when it records none of them (files
    /// written before sskd recorded them, PyTorch checkpoints). Malformed values are dropped, not trusted.
    init?(metadata meta: [String: String]) {
        mean = MetadataJSON.parseNumbers(meta[CheckpointKey.normalizeMean], limit: Limits.channels.upperBound)
        std = MetadataJSON.parseNumbers(meta[CheckpointKey.normalizeStd], limit: Limits.channels.upperBound)
        if mean?.count != std?.count || mean?.isEmpty == true {
            mean = nil
            std = nil
        }

        shape = MetadataJSON.parseIntegers(meta[CheckpointKey.inputShape], limit: 3)
        if shape?.count != 3 { shape = nil }
        classNames = MetadataJSON.parseStrings(meta[CheckpointKey.classNames], limit: Limits.classes.upperBound)
        normalize = meta[CheckpointKey.normalize]
        dataset = meta[CheckpointKey.dataset]
        guard mean != nil || shape != nil || classNames != nil else { return nil }
    }

    /// What `load` says of recorded facts it could not use: the normalisation's mean and std must be JSON lists of
    /// as many finite numbers (one per channel), the input shape a list of three sizes.
    static func ignoredKeys(_ meta: [String: String], mean: [Double]?) -> [String] {
        var keys: [String] = []
        let given = { (key: String) in meta[key].map { !$0.isEmpty } ?? false }
        if mean == nil && (given(CheckpointKey.normalizeMean) || given(CheckpointKey.normalizeStd)) {
            let counts = [CheckpointKey.normalizeMean, CheckpointKey.normalizeStd].map { key in
                MetadataJSON.parseNumbers(meta[key], limit: Limits.channels.upperBound).map { "\($0.count)" } ?? "no"
            }
            keys.append(
                "\(CheckpointKey.normalizeMean) and \(CheckpointKey.normalizeStd) hold \(counts[0]) and \(counts[1])"
                    + " values, not one finite number per channel in each")
        }
        if given(CheckpointKey.inputShape),
            MetadataJSON.parseIntegers(meta[CheckpointKey.inputShape], limit: 3)?.count != 3
        {
            keys.append("\(CheckpointKey.inputShape) is not a list of three sizes")
        }
        return keys
    }

    /// The metadata keys of these facts (JSON lists as strings, as safetensors requires).
    var metadata: [String: String] {
        var meta: [String: String] = [:]
        meta[CheckpointKey.dataset] = dataset
        meta[CheckpointKey.normalize] = normalize
        meta[CheckpointKey.normalizeMean] = mean.map { MetadataJSON.numbers($0.map { Float($0) }) }
        meta[CheckpointKey.normalizeStd] = std.map { MetadataJSON.numbers($0.map { Float($0) }) }
        meta[CheckpointKey.inputShape] = shape.map(MetadataJSON.integers)
        meta[CheckpointKey.classNames] = classNames.map(MetadataJSON.strings)
        return meta
    }

    /// A key telling data apart for the once-per-model-and-data warnings.
    var signature: String {
        "\(dataset ?? "")|\(normalize ?? "")|\(mean ?? [])|\(std ?? [])|\(shape ?? [])|\(classNames ?? [])"
    }

    /// `computed mean [0.2860] std [0.3530]` (names from files made safe for the terminal).
    var normalizationText: String {
        let name = printable(normalize ?? "unnamed")
        guard let mean, let std else { return name }
        func format(_ v: [Double]) -> String {
            let shown = v.prefix(8).map { String(format: "%.4f", $0) }.joined(separator: ", ")
            return "[" + shown + (v.count > 8 ? ", ..." : "") + "]"
        }
        return "\(name) mean \(format(mean)) std \(format(std))"
    }

    /// Whether both record a normalisation and the values differ by more than 1e-3 relative (or count differently).
    func normalizationDiffers(from other: DataFacts) -> Bool {
        guard let m1 = mean, let s1 = std, let m2 = other.mean, let s2 = other.std else { return false }
        return !DataFacts.close(m1, m2) || !DataFacts.close(s1, s2)
    }

    static func close(_ a: [Double], _ b: [Double]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-3 * max(abs($0), abs($1)) + 1e-6 }
    }

    /// The `normalize=` value that reproduces this normalisation: `none`, a preset whose values match, else the
    /// values as `[[MEAN, ...], [STD, ...]]`; nil without values.
    var normalizeOption: String? {
        guard let mean, let std else { return nil }
        if mean.allSatisfy({ $0 == 0 }) && std.allSatisfy({ $0 == 1 }) { return "none" }
        if let preset = Normalization.presetNames.first(where: { name in
            guard let v = Normalization.presetValues(name, channels: mean.count) else { return false }
            return DataFacts.close(v.mean.map(Double.init), mean) && DataFacts.close(v.std.map(Double.init), std)
        }) {
            return preset
        }
        func list(_ v: [Double]) -> String {
            "[" + v.map { Value.format((($0 * 1e4).rounded()) / 1e4) }.joined(separator: ", ") + "]"
        }
        return "[\(list(mean)), \(list(std))]"
    }
}

extension Session {
    /// The data facts `save` records for `object`: the data it was last trained on in this session, else what its
    /// checkpoint recorded, else the data it was last evaluated on, else the current data (nil without any).
    func recordedFacts(_ object: ModelObject) -> DataFacts? {
        object.trainedOn ?? object.recorded ?? object.evaluatedOn ?? workspace.data.map(DataFacts.init)
    }

    /// Warns (once per model and data) when `data` differs from what `object`'s checkpoint records: normalisation
    /// (beyond 1e-3 relative), channels, class count or class names. Only for models whose weights came from a
    /// checkpoint and were not trained since in this session.
    /// `label` names the model in the message (default: its bound name).
    func warnIfDataDiffers(_ object: ModelObject, _ data: DataObject, label: String? = nil) {
        guard object.records.isEmpty, let recorded = object.recorded else { return }
        let current = DataFacts(data)
        guard object.warnedData.insert(current.signature).inserted else { return }
        let name = label ?? workspace.name(of: object, in: self)
        var problems: [String] = []
        if recorded.normalizationDiffers(from: current) {
            var text = "\(name) was trained with normalize=\(recorded.normalizationText)"
            text += recorded.dataset.map { " (\(printable($0)))" } ?? ""
            text += ", but \(data.name) uses normalize=\(current.normalizationText)"
            if let option = recorded.normalizeOption {
                let plain = data.name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
                let dataName = plain ? data.name : Value.string(data.name).literal
                text += "; load the data with normalize=\(option) (data \(dataName) normalize=\(option))"
            }
            problems.append(text)
        }
        if let shape = recorded.shape, let c = current.shape?.first, shape[0] != c {
            problems.append(
                "\(name) was trained on \(shape[0])-channel images, \(data.name) has \(counted(c, "channel"))")
        }
        if let names = recorded.classNames, let now = current.classNames, names != now {
            if names.count != now.count {
                let classes = "\(names.count) class" + (names.count == 1 ? "" : "es")
                problems.append("\(name) was trained on \(classes), \(data.name) has \(now.count)")
            } else {
                let differing = zip(names, now).enumerated().filter { $0.element.0 != $0.element.1 }
                let first = differing[0]
                let was = printable(first.element.0, limit: 40)
                problems.append(
                    "\(name)'s class names differ from \(data.name)'s in "
                        + "\(differing.count) of \(names.count) "
                        + "(class \(first.offset): '\(was)' vs '"
                        + printable(first.element.1, limit: 40) + "')")
            }
        }
        for problem in problems { print("warning: " + problem) }
    }

    /// Prints a hint (once per model and data) when a model whose weights came from a checkpoint, not trained since in
    /// this session, scores near chance: top-1 below chance + a tenth of the way from chance to 100%
    /// (19% for 10 classes, 10.9% for 100), or below half the top-1 its checkpoint records (sskd's `top1`, or
    /// RepDistiller's `best_acc`/`accuracy`). No hint when the checkpoint records another class count (the
    /// warning of `warnIfDataDiffers` names that). The suggestions leave out the normalisation in force.
    /// - Returns: whether the score is suspect (near chance or far below the record), hinted now or before; such an
    ///   evaluation is not what `save` records.
    @discardableResult
    func hintIfNearChance(_ object: ModelObject, top1: Double, _ data: DataObject) -> Bool {
        guard object.fromFile, object.records.isEmpty else { return false }
        let classes = data.splits.train.classCount
        if let names = object.recorded?.classNames, names.count != classes { return false }
        let chance = 100 / Double(max(classes, 1))
        let recordedTop1 = [CheckpointKey.top1, "best_acc", "accuracy"].lazy
            .compactMap { object.metadata[$0].flatMap(Double.init) }.first { (0...100).contains($0) }
        let nearChance = top1 < chance + (100 - chance) / 10
        let farBelowRecord = recordedTop1.map { top1 < $0 / 2 } ?? false
        guard nearChance || farBelowRecord else { return false }
        guard object.hinted.insert(DataFacts(data).signature).inserted else { return true }
        let name = workspace.name(of: object, in: self)
        let current = DataFacts(data)
        var text = String(format: "hint: %@ scores %.2f%% top-1 on %@", name, top1, data.name)
        text +=
            nearChance
            ? String(format: ", near chance (%.2f%% for %d classes)", chance, classes)
            : String(format: ", far below the %.2f%% its checkpoint records", recordedTop1 ?? 0)
        text +=
            ": the input normalisation probably differs from the one it was trained with (this data: normalize="
            + current.normalizationText + ")"
        if let recorded = object.recorded, let option = recorded.normalizeOption, option != current.normalizeOption {
            text += "; its checkpoint records normalize=\(recorded.normalizationText): try normalize=\(option)"
        } else {
            let presets = Normalization.presetNames.filter { $0 != current.normalize }.joined(separator: ", ")
            text +=
                current.normalize == "none"
                ? "; try normalize=computed (this data's own mean and std) or the preset it was trained with "
                    + "(\(presets))"
                : "; try normalize=none (pixels/255, torchvision ToTensor() only) or the preset it was trained with "
                    + "(\(presets))"
        }
        print(text)
        return true
    }
}
