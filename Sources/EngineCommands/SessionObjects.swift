import Datasets
import Distillation
import Foundation
import Language
import Networks
import Storage
import Tensors

// The engine's objects as the language sees them: models (with addressable stages, head and backbone),
// data sets and training runs. `student.stage[2]` is `student.member("stage").index(2)`; stages count from 1
// in the language, as in the paper.

/// An engine object whose `show` text depends on the session's workspace (the current data).
protocol WorkspaceDetailedObject: DetailedObject {
    /// Several lines for `show`.
    func detail(_ workspace: Workspace) -> String
}

extension WorkspaceDetailedObject {
    func detail(in session: Session) -> String { detail(session.workspace) }
}

/// A model bound in the session, with what sskd learned about it along the way.
final class ModelObject: WorkspaceDetailedObject, SavableObject {
    let model: Model
    /// Provenance from its checkpoint or its creation (arch, dataset, top1, seed, command).
    var metadata: [String: String]
    /// Training runs on this model, in order.
    var records: [RunRecord] = []
    /// Adapters kept from `mimic`, per 0-based stage (used by `gap`).
    var alignments: [Int: FeatureAlignment] = [:]
    /// The teacher this model's stages last mimicked (`mimic`, `sskd`): the default `from_teacher` of its head.
    weak var mimicTeacher: ModelObject?
    /// Normalised feature distance per 0-based stage before its first mimic (for `plot gap`).
    var distanceBefore: [Int: Double] = [:]
    /// The last evaluation on the test split.
    var lastEvaluation: Evaluation? { didSet { if let e = lastEvaluation { testTop1 = e.top1 } } }
    /// The last test top-1 measured (by `eval`, `gap` or `compare`), in percent.
    var testTop1: Double?
    /// Whether the weights came from a checkpoint (`load`), for the near-chance hint.
    var fromFile = false
    /// The checkpoint `load` read the model from, as given (what `export session` names as the teacher file).
    var file: String?
    /// What the checkpoint records about the data the model was trained on (nil for new models and old files).
    var recorded: DataFacts?
    /// The data this model was last trained on in this session (as the student of a training command).
    var trainedOn: DataFacts?
    /// The data this model was last evaluated on (`eval`).
    var evaluatedOn: DataFacts?
    /// Data (by `DataFacts.signature`) already warned about, and already given the near-chance hint: once per pair.
    var warnedData: Set<String> = []
    var hinted: Set<String> = []
    /// Why the model is protected from training, nil when it is not: "it was the teacher of 'mimic'" or "it was
    /// loaded from FILE". `Session.checkTrainable` refuses to train a protected model unless the command is given
    /// `force=true`; `unfreeze MODEL` lifts the protection (`TeacherProtection`).
    var protection: String?

    init(_ model: Model, metadata: [String: String] = [:]) {
        self.model = model
        self.metadata = metadata
    }

    var typeName: String { "model" }
    var summary: String {
        let frozen = model.stages.filter(\.isFrozen).count + (model.head.isFrozen ? 1 : 0)
        let stages = counted(model.stages.count, "stage")
        return "\(model.architecture): \(grouped(model.parameterCount)) parameters, \(stages) ("
            + model.stages.map(\.name).joined(separator: ", ") + ")" + (frozen > 0 ? ", \(frozen) frozen" : "")
            + (protection == nil ? "" : ", protected as a teacher")
    }
    var memberNames: [String] { ["stage", "head", "backbone", "arch", "params", "top1", "compute", "seconds"] }

    func member(_ name: String) throws -> Value {
        switch name {
        case "stage", "stages": return .object(StageList(self))
        case "head": return .object(ModelPart(self, .head, label: "head"))
        case "backbone": return .object(ModelPart(self, .backbone, label: "backbone"))
        case "arch": return .string(model.architecture)
        case "params": return .number(Double(model.parameterCount))
        // GMAC of all its runs
        case "compute": return .number(Double(records.reduce(0) { $0 + $1.compute.total }) / 1e9)
        case "seconds": return .number(records.reduce(0) { $0 + $1.seconds })
        case "top1":
            guard let top1 = testTop1 else {
                throw EngineError("the model has not been evaluated yet (run 'eval' first)")
            }
            return .number(top1)
        default: throw EngineError("a model has no member '\(name)'" + didYouMean(name, memberNames))
        }
    }

    func index(_ i: Int) throws -> Value { throw EngineError("index a model's stages with .stage[\(i)]") }

    func save(to path: String, in session: Session) throws { try session.saveModel(self, to: path) }

    func detail(_ workspace: Workspace) -> String {
        let input = [1] + (workspace.data?.splits.train.imageShape ?? defaultInputShape)
        var text = summary + "\n"
        if let table = try? model.summary(inputShape: input) { text += table }
        if !metadata.isEmpty {
            text +=
                "\nprovenance: "
                + metadata.sorted { $0.key < $1.key }.filter { $0.key != CheckpointKey.split }
                .map { "\(printable($0.key, limit: 40))=\(printable($0.value))" }.joined(separator: "  ")
        }
        return text
    }

    /// `[C, H, W]` of the input when no data set is loaded: 1x28x28 for one channel, else 3x32x32.
    var defaultInputShape: [Int] {
        let c =
            Int(metadata[CheckpointKey.channels] ?? "") ?? model.stateDict().first { $0.1.rank == 4 }?.1.shape[1] ?? 1
        return c == 1 ? [1, 28, 28] : [c, 32, 32]
    }
}

/// `model.stage`: the stages, indexed from 1.
final class StageList: SessionObject {
    let owner: ModelObject
    init(_ owner: ModelObject) { self.owner = owner }
    var typeName: String { "stages" }
    var summary: String {
        owner.model.stages.enumerated().map { "\($0.offset + 1): \($0.element.name)" }.joined(separator: ", ")
    }
    var memberNames: [String] { ["count"] }
    func member(_ name: String) throws -> Value {
        guard name == "count" else { throw EngineError("stages have only 'count'") }
        return .number(Double(owner.model.stages.count))
    }
    func index(_ i: Int) throws -> Value {
        let n = owner.model.stages.count
        guard (1...max(n, 1)).contains(i) else {
            throw EngineError(
                "\(owner.model.architecture) has \(counted(n, "stage")) (1...\(n)); there is no stage[\(i)]")
        }
        return .object(ModelPart(owner, .stage(i - 1), label: "stage[\(i)]"))
    }
}

/// A part of a model: a stage, the head, or the backbone (`student.stage[2]`, `student.head`).
final class ModelPart: SessionObject {
    let owner: ModelObject
    let part: Model.Part
    let label: String
    init(_ owner: ModelObject, _ part: Model.Part, label: String) {
        self.owner = owner
        self.part = part
        self.label = label
    }

    /// The 0-based stage index, for stage parts.
    var stage: Int? { if case .stage(let k) = part { return k } else { return nil } }

    var typeName: String { "part" }
    var summary: String {
        let m = owner.model
        switch part {
        case .stage(let k):
            let s = m.stages[k]
            return "\(label) of \(m.architecture): \(s.name) (\(s.modules.joined(separator: " ")))"
                + (s.isFrozen ? ", frozen" : "")
        case .head:
            return "head of \(m.architecture): \(m.head.modules.joined(separator: " "))"
                + (m.head.isFrozen ? ", frozen" : "")
        default:
            return "\(label) of \(m.architecture)"
        }
    }
    var memberNames: [String] { [] }
    func member(_ name: String) throws -> Value { throw EngineError("a model part has no member '\(name)'") }
    func index(_ i: Int) throws -> Value { throw EngineError("a model part cannot be indexed") }
}

/// A loaded data set with its train/val/test splits.
final class DataObject: WorkspaceDetailedObject {
    let name: String
    /// The folder of the files (`path=`, or the default folder of `fashion-mnist`); nil for an `.npz` file or an
    /// ImageFolder, whose name is their path. `export session` writes it into the script.
    var path: String?
    let splits: DataSplits
    /// Whether a training command has already warned that this data has no validation split (once per data set).
    var warnedNoValidation = false
    init(name: String, splits: DataSplits) {
        self.name = name
        self.splits = splits
    }
    var typeName: String { "dataset" }
    var summary: String {
        "\(name): \(splits.train.count) train"
            + (splits.labelCount == nil ? "" : " (\(splits.labelled.count) labelled)")
            + ", \(splits.val.count) val, \(splits.test.count) test, "
            + splits.train.imageShape.map(String.init).joined(separator: "x") + ", \(splits.train.classCount) classes"
    }
    var memberNames: [String] { ["train", "labelled", "val", "test", "classes"] }
    func member(_ name: String) throws -> Value {
        switch name {
        case "train": return .number(Double(splits.train.count))
        case "labelled": return .number(Double(splits.labelled.count))
        case "val": return .number(Double(splits.val.count))
        case "test": return .number(Double(splits.test.count))
        case "classes": return .list(splits.train.classNames.map { .string($0) })
        default: throw EngineError("a data set has no member '\(name)'" + didYouMean(name, memberNames))
        }
    }
    func index(_ i: Int) throws -> Value { throw EngineError("a data set cannot be indexed") }
    func detail(_ workspace: Workspace) -> String { splits.summary }
}

/// The result of one training command: one record, or several (SSKD's stages and head, FitNets' hint and KD).
final class RunObject: WorkspaceDetailedObject {
    let records: [RunRecord]
    let label: String
    init(_ records: [RunRecord], label: String) {
        self.records = records
        self.label = label
    }
    var typeName: String { "run" }
    var summary: String {
        let seconds = records.reduce(0) { $0 + $1.seconds }
        var parts = ["\(label): \(records.count == 1 ? records[0].name : counted(records.count, "run"))"]
        if let top1 = records.last?.lastTop1 {
            parts.append(String(format: "%@ top-1 %.2f%%", records.last!.validationSplit, top1))
        }
        if let r = records.last, let d = r.epochs.last?.featureDistance {
            parts.append(
                r.distanceBefore.map { String(format: "distance %.4f -> %.4f", $0, d) }
                    ?? String(format: "distance %.4f", d))
        }
        if let r = records.first(where: { $0.status != .completed }) { parts.append(r.status.rawValue) }
        parts.append(String(format: "%.1fs", seconds))
        parts.append(ComputeCost.format(records.reduce(0) { $0 + $1.compute.total }))
        return parts.joined(separator: ", ")
    }
    var memberNames: [String] { ["top1", "best", "loss", "seconds", "compute"] }
    func member(_ name: String) throws -> Value {
        switch name {
        case "top1": return try number(records.last?.lastTop1, name)
        case "best": return try number(records.compactMap(\.bestTop1).max(), name)
        case "loss": return try number(records.last?.lastLoss, name)
        case "seconds": return .number(records.reduce(0) { $0 + $1.seconds })
        case "compute": return .number(Double(records.reduce(0) { $0 + $1.compute.total }) / 1e9)  // GMAC
        default: throw EngineError("a run has no member '\(name)'" + didYouMean(name, memberNames))
        }
    }
    private func number(_ v: Double?, _ name: String) throws -> Value {
        guard let v else { throw EngineError("this run has no \(name)") }
        return .number(v)
    }
    func index(_ i: Int) throws -> Value {
        guard (1...max(records.count, 1)).contains(i), !records.isEmpty else {
            throw EngineError("this run has \(records.count) records")
        }
        return .object(RunObject([records[i - 1]], label: label))
    }
    func detail(_ workspace: Workspace) -> String {
        records.map { r in
            "\(r.name) [\(r.method)] \(r.status.rawValue): \(r.hyperParameterText)\n"
                + r.epochs.map { r.epochLine($0) }.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

/// A runtime error of an engine command (message only; the interpreter adds the location).
struct EngineError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// `77754` → `77,754`.
func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, ch) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return out
}

/// The model arguments several commands share, declared once.
enum ModelArguments {
    /// `MODEL` of `eval`, `predict`, `split`.
    static let model = TypedArgument<ModelObject>.object("model", "model", "the model")
    /// `STUDENT` of `kd`, `fitnet`, `at`, `sskd`, `gap`.
    static let student = TypedArgument<ModelObject>.object("student", "model", "the student")
    /// `TEACHER` of `kd`, `fitnet`, `at`, `sskd`, `gap`.
    static let teacher = TypedArgument<ModelObject>.object("teacher", "model", "the teacher")
}
