import Datasets
import Distillation
import Foundation
import Language
import Networks
import Storage
import Tensors

// model, load, split, eval, freeze, unfreeze, and the model half of `save`.

extension Session {
    func registerModelCommands() {
        commands.register(
            CommandSpec(
                "model", summary: "create a model of the zoo with fresh weights",
                arguments: [ModelOptions.arch.spec],
                options: ModelOptions.specs,
                example: "student = model resnet8 channels=1 classes=10"
            ) { inv, session in
                let data = session.workspace.data?.splits
                let o = try ModelOptions(inv)
                let channels = o.channels ?? data?.train.channels ?? 1
                let classes = o.classes ?? data?.train.classCount ?? 10
                try inv.check(ModelOptions.channels.name, Double(channels))
                try inv.check(ModelOptions.classes.name, Double(classes))
                let (arch, widths) = (o.arch, o.widths)
                let size = data.map { [$0.train.height, $0.train.width] }
                // The closed-form parameter count, before a single weight is allocated.
                if let count = try? Zoo.parameterCount(
                    arch, channels: channels, classes: classes, widths: widths, inputSize: size),
                    count > Double(Zoo.parameterLimit)
                {
                    let culprit =
                        [ModelOptions.widths.name, ModelOptions.classes.name, ModelOptions.channels.name].first {
                            inv.isGiven($0)
                        } ?? ModelOptions.arch.name
                    throw inv.error(
                        "\(arch) with these sizes would have "
                            + "\(count < 1e15 ? grouped(Int(count)) : String(format: "%.3g", count)) parameters, "
                            + "more than the limit of \(grouped(Zoo.parameterLimit))"
                            + (culprit == ModelOptions.arch.name ? "" : "; use a smaller '\(culprit)'"), at: culprit)
                }
                let model: Model
                do {
                    model = try Zoo.make(
                        arch, channels: channels, classes: classes, widths: widths, inputSize: size,
                        seed: UInt64(max(0, o.seed)))
                } catch { throw inv.error("\(error)", at: ModelOptions.arch.name) }
                var meta = [
                    CheckpointKey.channels: "\(channels)", CheckpointKey.classes: "\(classes)",
                    CheckpointKey.seed: "\(o.seed)",
                ]
                if let widths { meta[CheckpointKey.widths] = widths.map(String.init).joined(separator: ",") }
                return .object(ModelObject(model, metadata: meta))
            })

        commands.register(
            CommandSpec(
                "load",
                summary: "load a model from a checkpoint (sskd safetensors, PyTorch .pth/.pt, or safetensors from "
                    + "PyTorch); restores frozen stages and mimic adapters, warns when the data's normalisation "
                    + "differs from the recorded one; a model with nothing frozen is a finished one, protected as a "
                    + "teacher (see 'help unfreeze')",
                arguments: [LoadOptions.file.spec],
                options: LoadOptions.specs,
                example: "teacher = load \"sessions/teachers/fashion-resnet20.safetensors\""
            ) { inv, session in
                let path = try inv.get(LoadOptions.file)
                let (model, meta): (Model, [String: String])
                do {
                    (model, meta) = try Model.load(
                        contentsOf: URL(fileURLWithPath: path), architecture: try inv.optional(LoadOptions.arch),
                        channels: try inv.optional(LoadOptions.channels), classes: try inv.optional(LoadOptions.classes)
                    )
                } catch {
                    try session.checkInterrupt()  // Ctrl-C or SIGTERM stopped the read (CancellationError)
                    throw inv.error("\(error)", at: LoadOptions.file.name)
                }
                try session.checkInterrupt()  // Ctrl-C while reading: nothing is bound
                let object = ModelObject(model, metadata: meta)
                object.fromFile = true
                object.file = path
                object.recorded = DataFacts(metadata: meta)
                var warnings = DataFacts.ignoredKeys(meta, mean: object.recorded?.mean).map {
                    "warning: \(path): recorded metadata not used: \($0)"
                }
                do {
                    if let alignments = try AdapterCheckpoint.load(for: URL(fileURLWithPath: path), model: model) {
                        object.alignments = alignments
                    }
                } catch {
                    let sidecar = AdapterCheckpoint.url(for: URL(fileURLWithPath: path)).path
                    warnings.append(
                        "warning: adapters not restored from \(sidecar): "
                            + printable("\(error)", limit: 1000))
                }
                var line = "loaded \(model.architecture) from \(path): \(grouped(model.parameterCount)) parameters"
                if let top1 = meta[CheckpointKey.top1] { line += ", recorded top-1 \(printable(top1, limit: 20))%" }
                if let dataset = meta[CheckpointKey.dataset] { line += " on \(printable(dataset))" }
                let frozen = model.stages.indices.filter { model.stages[$0].isFrozen }.map { $0 + 1 }
                if !frozen.isEmpty { line += ", " + stageList(frozen) + " frozen" }
                if model.head.isFrozen { line += ", head frozen" }
                let adapted = object.alignments.filter { $0.value.adapter != nil }.keys.sorted().map { $0 + 1 }
                if !adapted.isEmpty { line += ", adapters of " + stageList(adapted) }
                // Nothing frozen: a finished model, as teachers are; a student mid-recipe has frozen stages.
                if frozen.isEmpty && !model.head.isFrozen {
                    object.protection = "it was loaded from \(path)"
                    line += "; protected as a teacher"
                }
                session.print(line)
                for warning in warnings { session.print(warning) }
                if let data = session.workspace.data {
                    session.warnIfDataDiffers(object, data, label: "the model in \(path)")
                }
                return .object(object)
            })

        commands.register(
            CommandSpec(
                "split",
                summary:
                    "split a model into stages: automatically where the resolution halves, or after the named modules",
                arguments: [
                    ModelArguments.model.spec,
                    ArgumentSpec(
                        "at", .valueOrWord, "module names ending each stage, e.g. layer1 layer2.1", optional: true,
                        variadic: true),
                ],
                example: "split student layer1 \"layer2.1\"", returnsValue: false
            ) { inv, session in
                let object = try inv.get(ModelArguments.model)
                let names = inv.list("at").flatMap { v -> [String] in
                    if case .list(let items) = v { return items.map(\.display) } else { return [v.display] }
                }
                do {
                    if names.isEmpty { object.model.splitAutomatically() } else { try object.model.split(at: names) }
                } catch { throw inv.error("\(error)", at: names.isEmpty ? "model" : "at") }
                object.alignments = [:]
                session.print(try stageTable(object, session))
                return .none
            })

        commands.register(
            CommandSpec(
                "eval", summary: "evaluate a model: top-1, top-5 and loss on a split (test by default)",
                arguments: [ModelArguments.model.spec],
                options: EvalOptions.specs,
                example: "eval teacher per_class=true", returnsValue: false, changesState: false
            ) { inv, session in
                let object = try inv.get(ModelArguments.model)
                let data = try session.workspace.data(inv)
                let split = try inv.get(EvalOptions.split)
                try session.checkFits(object, data, inv, at: "model")
                session.warnIfDataDiffers(object, data)
                let result: Evaluation
                let name = session.workspace.name(of: object, in: session)
                do {
                    result = try session.withProgress("eval \(name) on \(split.rawValue)") {
                        try Distillation.evaluate(
                            object.model, data: data.splits, split: split, batchSize: session.evaluationBatch,
                            cancellation: session.cancellation, progress: $0)
                    }
                } catch { throw session.engineError(inv, error, at: "model") }
                session.print(
                    name + " "
                        + result.report(
                            perClass: try inv.get(EvalOptions.perClass), confusion: try inv.get(EvalOptions.confusion)))
                // A loaded model scoring near chance was evaluated on the wrong input: save must not record that data.
                if !session.hintIfNearChance(object, top1: result.top1, data) {
                    if split == .test { object.lastEvaluation = result }
                    object.evaluatedOn = DataFacts(data)
                }
                return .none
            })

        for (name, freezing) in [("freeze", true), ("unfreeze", false)] {
            commands.register(
                CommandSpec(
                    name,
                    summary: freezing
                        ? "freeze a stage, the head, the backbone or a whole model: no gradients, no updates, "
                            + "BatchNorm in eval mode"
                        : "make a frozen part trainable again; 'unfreeze MODEL' also lifts the protection of a "
                            + "teacher (a model that was the teacher of a command, or loaded with nothing frozen, "
                            + "which training commands refuse to train without force=true)",
                    arguments: [
                        ArgumentSpec("part", .any, "student.stage[k], student.head, student.backbone or a model")
                    ],
                    example: "\(name) student.stage[1]", returnsValue: false
                ) { inv, session in
                    let (owner, part, label) = try modelPart(inv, "part", session)
                    do { freezing ? try owner.model.freeze(part) : try owner.model.unfreeze(part) } catch {
                        throw inv.error("\(error)", at: "part")
                    }
                    var line = "\(freezing ? "froze" : "unfroze") \(label)"
                    if !freezing, case .all = part, owner.protection != nil {
                        owner.protection = nil
                        line += "; no longer protected as a teacher"
                    }
                    session.print(line)
                    return .none
                })
        }
    }
}

/// The model and part an argument names: a `ModelPart` (`student.stage[2]`) or a whole model.
func modelPart(_ inv: Invocation, _ name: String, _ session: Session) throws -> (ModelObject, Model.Part, String) {
    if case .object(let o) = inv.value(name) {
        if let part = o as? ModelPart {
            return (part.owner, part.part, session.workspace.name(of: part.owner, in: session) + "." + part.label)
        }
        if let model = o as? ModelObject { return (model, .all, session.workspace.name(of: model, in: session)) }
    }
    throw inv.error(
        "expected a model or a model part (student.stage[1], student.head, student.backbone), got "
            + "\(inv.value(name).literal)",
        at: name)
}

/// The stage table `split` and `show` print: stage, modules, output shape, parameters, MACs, frozen.
func stageTable(_ object: ModelObject, _ session: Session) throws -> String {
    let input = [1] + (session.workspace.data?.splits.train.imageShape ?? object.defaultInputShape)
    return "\(session.workspace.name(of: object, in: session)): " + (try object.model.summary(inputShape: input))
}

/// `stage 2`, `stages 1-3`, `stages 1, 3` for 1-based stage numbers in increasing order.
func stageList(_ stages: [Int]) -> String {
    guard stages.count > 1 else { return "stage \(stages.first ?? 0)" }
    let contiguous = zip(stages, stages.dropFirst()).allSatisfy { $1 == $0 + 1 }
    guard contiguous else { return "stages " + stages.map(String.init).joined(separator: ", ") }
    return "stages \(stages[0])-\(stages[stages.count - 1])"
}

extension Session {
    /// `save MODEL FILE`: safetensors with the architecture, the data facts (`recordedFacts`: data set, normalisation,
    /// input shape, class names), frozen parts, sskd's version and provenance (test top-1, seed, command); the mimic
    /// adapters go to the sidecar `AdapterCheckpoint.url(for:)` so the main file stays strict-loadable in PyTorch.
    func saveModel(_ object: ModelObject, to path: String) throws {
        var meta = object.metadata
        if let facts = recordedFacts(object) { meta.merge(facts.metadata) { _, new in new } }
        meta[CheckpointKey.version] = Session.version
        if let e = object.lastEvaluation { meta[CheckpointKey.top1] = String(format: "%.2f", e.top1) }
        if let r = object.records.last {
            meta[CheckpointKey.command] = r.command
            meta[CheckpointKey.seed] = "\(r.seed)"
        }
        let url = URL(fileURLWithPath: path)
        do {
            try requireParentFolder(of: path)
            try object.model.save(to: url, metadata: meta)
            try AdapterCheckpoint.save(object.alignments, of: object.model, for: url)
        }
        object.metadata = meta
        let adapted = object.alignments.filter { $0.value.adapter != nil }.keys.sorted().map { $0 + 1 }
        let sidecar = AdapterCheckpoint.url(for: url).lastPathComponent
        print(
            "saved \(object.model.architecture) to \(path)"
                + (meta[CheckpointKey.top1].map { " (test top-1 \(printable($0, limit: 20))%)" } ?? "")
                + (adapted.isEmpty ? "" : "; adapters of \(stageList(adapted)) to \(sidecar)"))
    }
}

/// The argument and options of `model`, each declared once and read once per call.
struct ModelOptions {
    /// `ARCH`, a zoo name.
    static let arch = TypedArgument<String>.text(
        "arch", .word(choices: []),
        "resnet8 ... resnet110, resnet8x4, resnet32x4, wrn-16-2, vgg8, resnet18, mlp, cnn, ...",
        completion: [.values(Zoo.architectures)])
    /// `channels=`.
    static let channels = TypedOption<Int>.integer(
        "channels", bounds: .range(Limits.channels), "input channels (default: the current data's, else 1)")
    /// `classes=`.
    static let classes = TypedOption<Int>.integer(
        "classes", bounds: .range(Limits.classes), "output classes (default: the current data's, else 10)")
    /// `widths=`: 1...`Zoo.maxBlocks` whole numbers, each within `Limits.width`.
    static let widths = TypedOption<Value>.value(
        "widths", each: .range(Limits.width), "hidden widths of mlp / block widths of cnn, e.g. [32, 64]")
    /// `seed=`.
    static let seed = TypedOption<Int>.integer("seed", session: "seed", "seed of the weight initialisation")
    /// The option declarations in help order.
    static let specs = [channels.spec, classes.spec, widths.spec, seed.spec]

    let arch: String
    let channels: Int?
    let classes: Int?
    let widths: [Int]?
    let seed: Int

    /// Reads the argument and options of `inv`.
    /// - Throws: an error at `widths` unless it is a list of 1...`Zoo.maxBlocks` whole numbers within the declared
    ///   bound of each.
    init(_ inv: Invocation) throws {
        arch = try inv.get(Self.arch)
        channels = try inv.optional(Self.channels)
        classes = try inv.optional(Self.classes)
        seed = try inv.get(Self.seed)
        guard let value = try inv.optional(Self.widths) else {
            widths = nil
            return
        }
        guard case .list(let items) = value, let w = Optional(items.compactMap(\.integer)), w.count == items.count
        else {
            throw inv.error("widths must be a list of whole numbers, e.g. [32, 64]", at: Self.widths)
        }
        guard (1...Zoo.maxBlocks).contains(w.count) else {
            throw inv.error("option 'widths': give 1...\(Zoo.maxBlocks) widths, got \(w.count)", at: Self.widths)
        }
        if let each = Self.widths.spec.each, let width = w.first(where: { !each.contains(Double($0)) }) {
            throw inv.error("option 'widths': each width must \(each.requirement), got \(width)", at: Self.widths)
        }
        widths = w
    }
}

/// The argument and options of `load`.
enum LoadOptions {
    /// `FILE`, the checkpoint.
    static let file = TypedArgument<String>.text("file", .path, "the checkpoint")
    /// `arch=`.
    static let arch = TypedOption<String>.word(
        "arch", completion: [.values(Zoo.architectures)],
        "architecture, when the file does not say (PyTorch checkpoints)")
    /// `channels=`.
    static let channels = TypedOption<Int>.integer(
        "channels", bounds: .range(Limits.channels), "input channels (default: read off the first convolution)")
    /// `classes=`.
    static let classes = TypedOption<Int>.integer(
        "classes", bounds: .range(Limits.classes), "classes (default: read off the last linear layer)")
    /// The option declarations in help order.
    static let specs = [arch.spec, channels.spec, classes.spec]
}

/// The options of `eval`.
enum EvalOptions {
    /// `split=`.
    static let split = TypedOption<DataSplits.Split>.choice(
        "split", among: [.test, .val, .train], default: .test, "which split")
    /// `per_class=`.
    static let perClass = TypedOption<Bool>.bool("per_class", default: false, "also print the accuracy of each class")
    /// `confusion=`.
    static let confusion = TypedOption<Bool>.bool("confusion", default: false, "also print the confusion matrix")
    /// The declarations in help order.
    static let specs = [split.spec, perClass.spec, confusion.spec, DataOption.data.spec]
}

extension Session {
    /// The batch size of `eval` and `predict`: the session's `batch`, at least `minimumEvaluationBatch` (evaluation
    /// keeps no gradients, so a larger batch costs little memory).
    var evaluationBatch: Int { max(Self.minimumEvaluationBatch, options.batch) }

    /// The least batch of `eval` and `predict`.
    static let minimumEvaluationBatch = 64
}
