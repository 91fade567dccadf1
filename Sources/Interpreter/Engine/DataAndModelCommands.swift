import Datasets
import Distillation
import Foundation
import Networks
import Storage
import Tensors

// data, model, load, split, eval, freeze, unfreeze (and the model half of `save`, `show`).

extension Session {
    /// Registers every engine command (data, models, training, distillation, plots).
    func registerEngineCommands() {
        registerDataAndModelCommands()
        registerPredictCommand()
        registerTrainingCommands()
        registerPlotCommands()
    }

    func registerDataAndModelCommands() {
        commands.register(
            CommandSpec(
                "data", summary: "load a data set and split it into train, val and test (it becomes the current data)",
                arguments: [
                    ArgumentSpec(
                        "name", .valueOrWord,
                        "fashion-mnist, mnist, kmnist, cifar10, cifar100, cifar100-coarse, an .npz file, "
                            + "or an ImageFolder directory")
                ],
                options: [
                    OptionSpec(
                        "val", .integer, default: .number(0),
                        "images held out of train for validation (seeded, class-balanced)"),
                    OptionSpec(
                        "limit", .integer, "keep a seeded class-balanced subset of this many train (and test) images"),
                    OptionSpec(
                        "labels", .integer,
                        "keep labels on a seeded class-balanced subset of this many train images; the rest are "
                            + "unlabelled"
                    ),
                    OptionSpec(
                        "normalize", .valueOrWord, default: .string("computed"),
                        "computed (full train split), none (pixels/255), a preset ("
                            + Normalization.presetNames.joined(separator: ", ")
                            + ") or [[MEAN, ...], [STD, ...]]"),
                    OptionSpec(
                        "seed", .integer, session: "seed", "seed of the hold-out, subset, shuffling and augmentation"),
                    OptionSpec(
                        "augment", .bool, "random crop (+ flip for CIFAR) on train batches; default: the data set's"),
                    OptionSpec(
                        "path", .path,
                        "folder of the files, or torchvision's root (default: the Debian"
                            + " package's for fashion-mnist)"),
                    OptionSpec(
                        "keys", .valueOrWord,
                        "the .npz arrays: [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES,"
                            + " TEST_LABELS] (default: [x_train, y_train, x_test, y_test])"),
                    OptionSpec("size", .any, "ImageFolder: resize every image to [H, W] (or N for N x N), bilinear"),
                    OptionSpec(
                        "test", .integer,
                        "ImageFolder without test/: images held out as the test split (seeded, class-balanced)"),
                ],
                example: "data fashion-mnist val=5000"
            ) { inv, session in
                let name = inv.value("name").display
                if inv.has("limit") { try Limits.check(inv, "limit", try inv.int("limit"), 1...Int(Int32.max)) }
                if inv.has("labels") { try Limits.check(inv, "labels", try inv.int("labels"), 1...Int(Int32.max)) }
                let normalization = try dataNormalization(inv)
                try Limits.check(inv, "val", try inv.int("val"), 0...Int(Int32.max))
                var keys: [String]?
                if inv.has("keys") {
                    guard name.hasSuffix(".npz") else {
                        throw inv.error("option 'keys': only for .npz files", at: "keys")
                    }
                    let items: [Value]
                    if case .list(let list) = inv.value("keys") { items = list } else { items = [] }
                    let names = items.compactMap { v -> String? in
                        if case .string(let s) = v { return s } else { return nil }
                    }
                    guard items.count == 4, names.count == 4 else {
                        throw inv.error(
                            "option 'keys': expects 4 array names [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES,"
                                + " TEST_LABELS], got \(inv.value("keys").literal)", at: "keys")
                    }
                    keys = names
                }
                let sets: (train: Dataset, test: Dataset)
                let imageFolder = DatasetLoader.isImageFolder(name)
                for option in ["size", "test"] where inv.has(option) && !imageFolder {
                    throw inv.error("option '\(option)': only for an ImageFolder directory", at: option)
                }
                if imageFolder && inv.has("path") {
                    throw inv.error(
                        "option 'path': not for an ImageFolder directory (the directory is the name)", at: "path")
                }
                let folderOptions = imageFolder ? try imageFolderOptions(inv, session) : nil
                var notes = [String]()
                do {
                    if let folderOptions {
                        let folder = try DatasetLoader.imageFolder(name, options: folderOptions)
                        (sets, notes) = ((folder.train, folder.test), folder.notes)
                    } else if name.hasSuffix(".npz") {
                        sets = try DatasetLoader.npzSplits(name, keys: keys ?? DatasetLoader.defaultNpzKeys, name: name)
                    } else {
                        sets = try DatasetLoader.standard(name, path: inv.has("path") ? try inv.string("path") : nil)
                    }
                } catch {
                    try session.checkInterrupt()  // Ctrl-C stopped an ImageFolder read (CancellationError)
                    throw inv.error("\(error)", at: "name")
                }
                try session.checkInterrupt()  // Ctrl-C while reading the files: the previous data stays current
                guard sets.train.count > 0 else {
                    throw inv.error("\(sets.train.name) has no training images", at: "name")
                }
                guard try inv.int("val") < sets.train.count else {
                    throw inv.error(
                        "option 'val': must be less than the \(sets.train.count) train images, got "
                            + "\(try inv.int("val"))",
                        at: "val")
                }
                var config = DataConfig(
                    validation: try inv.int("val"), limit: inv.has("limit") ? try inv.int("limit") : nil,
                    labels: inv.has("labels") ? try inv.int("labels") : nil,
                    seed: UInt64(max(0, try inv.int("seed"))), normalization: normalization)
                if inv.has("augment") {
                    config.augmentation = try inv.bool("augment") ? sets.train.defaultAugmentation : Augmentation.none
                }
                let splits: DataSplits
                do { splits = try DataSplits(train: sets.train, test: sets.test, config: config) } catch let
                    DatasetError.invalidOption(option, reason)
                {
                    throw inv.error("option '\(option)': \(reason)", at: inv.has(option) ? option : nil)
                } catch { throw inv.error("\(error)") }
                let object = DataObject(name: name, splits: splits)
                session.workspace.data = object
                for note in notes { session.print(note) }
                session.print(splits.summary)
                // Loaded models whose checkpoint records other data are warned about now, not only at their next use.
                for case (_, .object(let model as ModelObject)) in session.bindings.sorted(by: { $0.key < $1.key }) {
                    session.warnIfDataDiffers(model, object)
                }
                return .object(object)
            })

        commands.register(
            CommandSpec(
                "model", summary: "create a model of the zoo with fresh weights",
                arguments: [
                    ArgumentSpec(
                        "arch", .word(choices: []),
                        "resnet8 ... resnet110, resnet8x4, resnet32x4, wrn-16-2, vgg8, resnet18, mlp, cnn, ...")
                ],
                options: [
                    OptionSpec("channels", .integer, "input channels (default: the current data's, else 1)"),
                    OptionSpec("classes", .integer, "output classes (default: the current data's, else 10)"),
                    OptionSpec("widths", .any, "hidden widths of mlp / block widths of cnn, e.g. [32, 64]"),
                    OptionSpec("seed", .integer, session: "seed", "seed of the weight initialisation"),
                ],
                example: "student = model resnet8 channels=1 classes=10"
            ) { inv, session in
                let data = session.workspace.data?.splits
                let channels = inv.has("channels") ? try inv.int("channels") : data?.train.channels ?? 1
                let classes = inv.has("classes") ? try inv.int("classes") : data?.train.classCount ?? 10
                try Limits.check(inv, "channels", channels, Limits.channels)
                try Limits.check(inv, "classes", classes, Limits.classes)
                var widths: [Int]?
                if inv.has("widths") {
                    guard case .list(let items) = inv.value("widths"), let w = Optional(items.compactMap(\.integer)),
                        w.count == items.count
                    else {
                        throw inv.error("widths must be a list of whole numbers, e.g. [32, 64]", at: "widths")
                    }
                    guard (1...Zoo.maxBlocks).contains(w.count) else {
                        throw inv.error(
                            "option 'widths': give 1...\(Zoo.maxBlocks) widths, got \(w.count)", at: "widths")
                    }
                    for width in w { try Limits.check(inv, "widths", width, Limits.width, what: "each width") }
                    widths = w
                }
                let arch = try inv.string("arch")
                let size = data.map { [$0.train.height, $0.train.width] }
                // The closed-form parameter count, before a single weight is allocated.
                if let count = try? Zoo.parameterCount(
                    arch, channels: channels, classes: classes, widths: widths, inputSize: size),
                    count > Double(Limits.parameters)
                {
                    let culprit = ["widths", "classes", "channels"].first { inv.has($0) } ?? "arch"
                    throw inv.error(
                        "\(arch) with these sizes would have "
                            + "\(count < 1e15 ? grouped(Int(count)) : String(format: "%.3g", count)) parameters, "
                            + "more than the limit of \(grouped(Limits.parameters))"
                            + (culprit == "arch" ? "" : "; use a smaller '\(culprit)'"), at: culprit)
                }
                let model: Model
                do {
                    model = try Zoo.make(
                        arch, channels: channels, classes: classes, widths: widths, inputSize: size,
                        seed: UInt64(max(0, try inv.int("seed"))))
                } catch { throw inv.error("\(error)", at: "arch") }
                var meta = [
                    CheckpointKey.channels: "\(channels)", CheckpointKey.classes: "\(classes)",
                    CheckpointKey.seed: "\(try inv.int("seed"))",
                ]
                if let widths { meta[CheckpointKey.widths] = widths.map(String.init).joined(separator: ",") }
                return .object(ModelObject(model, metadata: meta))
            })

        commands.register(
            CommandSpec(
                "load",
                summary: "load a model from a checkpoint (sskd safetensors, PyTorch .pth/.pt, or safetensors from "
                    + "PyTorch); restores frozen stages and mimic adapters, warns when the data's normalisation "
                    + "differs from the recorded one",
                arguments: [ArgumentSpec("file", .path, "the checkpoint")],
                options: [
                    OptionSpec(
                        "arch", .word(choices: []), "architecture, when the file does not say (PyTorch checkpoints)"),
                    OptionSpec("channels", .integer, "input channels (default: read off the first convolution)"),
                    OptionSpec("classes", .integer, "classes (default: read off the last linear layer)"),
                ],
                example: "teacher = load \"sessions/teachers/fashion-resnet20.safetensors\""
            ) { inv, session in
                let path = try inv.string("file")
                if inv.has("channels") { try Limits.check(inv, "channels", try inv.int("channels"), Limits.channels) }
                if inv.has("classes") { try Limits.check(inv, "classes", try inv.int("classes"), Limits.classes) }
                let (model, meta): (Model, [String: String])
                do {
                    (model, meta) = try Model.load(
                        contentsOf: URL(fileURLWithPath: path),
                        architecture: inv.has("arch") ? try inv.string("arch") : nil,
                        channels: inv.has("channels") ? try inv.int("channels") : nil,
                        classes: inv.has("classes") ? try inv.int("classes") : nil)
                } catch { throw inv.error("\(error)", at: "file") }
                try session.checkInterrupt()  // Ctrl-C while reading: nothing is bound
                let object = ModelObject(model, metadata: meta)
                object.fromFile = true
                object.recorded = DataFacts(metadata: meta)
                var warnings: [String] = []
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
                    ArgumentSpec("model", .object("model"), "the model"),
                    ArgumentSpec(
                        "at", .valueOrWord, "module names ending each stage, e.g. layer1 layer2.1", optional: true,
                        variadic: true),
                ],
                example: "split student layer1 \"layer2.1\"", returnsValue: false
            ) { inv, session in
                let object = try inv.object("model", as: ModelObject.self)
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
                arguments: [ArgumentSpec("model", .object("model"), "the model")],
                options: [
                    OptionSpec(
                        "split", .word(choices: ["test", "val", "train"]), default: .string("test"), "which split"),
                    OptionSpec("per_class", .bool, default: .bool(false), "also print the accuracy of each class"),
                    OptionSpec("confusion", .bool, default: .bool(false), "also print the confusion matrix"),
                    OptionSpec("data", .object("dataset"), "data set (default: the current one)"),
                ],
                example: "eval teacher per_class=true", returnsValue: false
            ) { inv, session in
                let object = try inv.object("model", as: ModelObject.self)
                let data = try session.workspace.data(inv)
                let split = DataSplits.Split(rawValue: try inv.string("split")) ?? .test
                try session.checkFits(object, data, inv, at: "model")
                session.warnIfDataDiffers(object, data)
                let result: Evaluation
                do {
                    result = try Distillation.evaluate(
                        object.model, data: data.splits, split: split, batchSize: max(64, session.options.batch),
                        cancellation: session.cancellation)
                } catch { throw session.engineError(inv, error, at: "model") }
                session.print(
                    session.workspace.name(of: object, in: session) + " "
                        + result.report(perClass: try inv.bool("per_class"), confusion: try inv.bool("confusion")))
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
                        : "make a frozen part trainable again",
                    arguments: [
                        ArgumentSpec("part", .any, "student.stage[k], student.head, student.backbone or a model")
                    ],
                    example: "\(name) student.stage[1]", returnsValue: false
                ) { inv, session in
                    let (owner, part, label) = try modelPart(inv, "part", session)
                    do { freezing ? try owner.model.freeze(part) : try owner.model.unfreeze(part) } catch {
                        throw inv.error("\(error)", at: "part")
                    }
                    session.print("\(freezing ? "froze" : "unfroze") \(label)")
                    return .none
                })
        }
    }
}

/// Bounds on user-given sizes, checked before anything is allocated (see docs/language.md, "Bounds on sizes").
enum Limits {
    /// Input channels of `model`/`load` (`channels=`).
    static let channels = 1...4096
    /// Output classes of `model`/`load` (`classes=`); ImageNet-21k has 21,841.
    static let classes = 1...100_000
    /// One hidden width of `model mlp`/`cnn` (`widths=`).
    static let width = 1...65_536
    /// Parameters of a model built by `model` (800 MB of Float32 weights, about 2.4 GB with gradients and momentum).
    static let parameters = 200_000_000

    /// Throws an error at option `name` when `value` is outside `range`.
    static func check(_ inv: Invocation, _ name: String, _ value: Int, _ range: ClosedRange<Int>, what: String? = nil)
        throws
    {
        guard range.contains(value) else {
            let bound =
                range.upperBound == Int(Int32.max)
                ? "be at least \(range.lowerBound)" : "be in \(range.lowerBound)...\(range.upperBound)"
            throw inv.error(
                "option '\(name)': \(what.map { $0 + " " } ?? "")must \(bound), got \(value)",
                at: inv.has(name) ? name : nil)
        }
    }
}

/// The `normalize=` option of `data`: `computed`, `none`, a preset name, or `[[MEAN, ...], [STD, ...]]`
/// (one mean and one std per channel; `DataSplits` checks the counts and signs against the data).
/// - Throws: an error at `normalize` for any other value, with the closest word as a suggestion.
func dataNormalization(_ inv: Invocation) throws -> Normalization {
    let words = ["computed", "none"] + Normalization.presetNames
    let value = inv.value("normalize")
    switch value {
    case .string("computed"): return .computed
    case .string("none"): return .none
    case .string(let word) where words.contains(word): return .preset(word)
    case .list(let pair) where pair.count == 2:
        func numbers(_ v: Value) -> [Float]? {
            guard case .list(let items) = v, !items.isEmpty else { return nil }
            let values = items.compactMap { item -> Float? in
                if case .number(let x) = item { return Float(x) } else { return nil }
            }
            return values.count == items.count ? values : nil
        }
        if let mean = numbers(pair[0]), let std = numbers(pair[1]) { return .given(mean: mean, std: std) }
    default: break
    }
    var message =
        "option 'normalize': expected " + words.joined(separator: ", ")
        + " or [[MEAN, ...], [STD, ...]], got \(value.literal)"
    if case .string(let word) = value { message += didYouMean(word, words) }
    throw inv.error(message, at: "normalize")
}

/// The `size=`, `test=` and `seed=` options of `data DIR` for an ImageFolder, Ctrl-C polled between files.
/// - Throws: an error at `size` unless it is a positive whole number N (N x N) or a list [H, W] of them.
func imageFolderOptions(_ inv: Invocation, _ session: Session) throws -> ImageFolderOptions {
    var size: ImageSize?
    if inv.has("size") {
        let value = inv.value("size")
        let sides: [Int]?
        switch value {
        case .list(let items) where items.count == 2: sides = items.compactMap(\.integer)
        case .number: sides = value.integer.map { [$0, $0] }
        default: sides = nil
        }
        guard let sides, sides.count == 2, sides.allSatisfy({ (1...65_536).contains($0) }) else {
            throw inv.error(
                "option 'size': expected N or [H, W] with whole numbers in 1...65536, got \(value.literal)",
                at: "size")
        }
        size = ImageSize(height: sides[0], width: sides[1])
    }
    if inv.has("test") { try Limits.check(inv, "test", try inv.int("test"), 1...Int(Int32.max)) }
    return ImageFolderOptions(
        size: size, testCount: inv.has("test") ? try inv.int("test") : nil,
        seed: UInt64(max(0, try inv.int("seed"))), isCancelled: { session.interruptRequested })
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
    func saveModel(_ object: ModelObject, to path: String, _ inv: Invocation) throws {
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
            try createParentFolder(of: path)
            try object.model.save(to: url, metadata: meta)
            try AdapterCheckpoint.save(object.alignments, of: object.model, for: url)
        } catch { throw inv.error("\(error)", at: "file") }
        object.metadata = meta
        let adapted = object.alignments.filter { $0.value.adapter != nil }.keys.sorted().map { $0 + 1 }
        let sidecar = AdapterCheckpoint.url(for: url).lastPathComponent
        print(
            "saved \(object.model.architecture) to \(path)"
                + (meta[CheckpointKey.top1].map { " (test top-1 \($0)%)" } ?? "")
                + (adapted.isEmpty ? "" : "; adapters of \(stageList(adapted)) to \(sidecar)"))
    }
}
