import Datasets
import Distillation
import Foundation
import Networks
import Tensors

// train, mimic, sskd, kd, fitnet, at, gap, compare, runs.

/// Options every training command takes, declared once. `defaults` gives a command's own defaults (SSKD's
/// mimic: `SSKD.Defaults.mimic`, a budget in steps); without it the classification defaults apply (epochs 1,
/// SGD, the session's `lr`).
func trainingOptions(_ defaults: TrainingConfig? = nil, epochs: String = "epochs", steps: String = "steps")
    -> [OptionSpec]
{
    let d = defaults
    return [
        OptionSpec(
            epochs, .integer, default: d == nil ? .number(1) : nil,
            d == nil ? "passes over the training images" : "passes over the training images, instead of \(steps)"),
        OptionSpec(
            steps, .integer, default: d?.steps.map { .number(Double($0)) },
            "optimizer steps, instead of \(epochs); the last epoch may be partial"),
        OptionSpec(
            "lr", .number, default: d.map { typed($0.learningRate) }, session: d == nil ? "lr" : nil,
            "peak learning rate"),
        OptionSpec("batch", .integer, session: "batch", "mini-batch size"),
        OptionSpec("momentum", .number, default: .number(0.9), "SGD momentum (sgd, nesterov only)"),
        OptionSpec("wd", .number, default: typed(d?.weightDecay ?? 5e-4), "weight decay"),
        OptionSpec(
            "optimizer", .word(choices: OptimizerKind.allCases.map(\.rawValue)),
            default: .string((d?.optimizer ?? .sgd).rawValue),
            "optimizer"),
        OptionSpec(
            "schedule", .word(choices: ScheduleKind.allCases.map(\.rawValue)), default: .string("cosine"),
            "learning-rate schedule over the run's steps"),
        OptionSpec("warmup", .integer, default: .number(0), "linear warm-up steps"),
        OptionSpec("smoothing", .number, default: .number(0), "label smoothing of the cross-entropy"),
        OptionSpec("seed", .integer, session: "seed", "seed of batch order and augmentation"),
        OptionSpec("patience", .integer, "stop early after this many validations without improvement; default: never"),
        OptionSpec("val_every", .integer, default: .number(1), "validate every this many epochs, and after the last"),
        OptionSpec("data", .object("dataset"), "data set (default: the current one)"),
    ]
}

/// A Float default as the number a user types (0.01, not 0.009999999776482582).
func typed(_ value: Float) -> Value { .number(Double("\(value)") ?? Double(value)) }

/// Options of the classification commands (train, kd, fitnet, at).
let classificationOptions = trainingOptions()

extension Session {
    /// The `TrainingConfig` of a training command's options. `epochs`/`steps` name the command's budget options
    /// (`stage_epochs`/`steps` for `sskd`): whichever the user gave wins, both is an error, neither is the default.
    func trainingConfig(_ inv: Invocation, epochs: String = "epochs", steps: String = "steps") throws -> TrainingConfig
    {
        var c = TrainingConfig()
        if inv.isGiven(epochs) && inv.isGiven(steps) {
            throw inv.error("give '\(epochs)' or '\(steps)', not both", at: steps)
        }
        if inv.has(epochs) { c.epochs = try inv.int(epochs) }
        if inv.has(steps) && !inv.isGiven(epochs) { c.steps = try inv.int(steps) }
        c.learningRate = Float(try inv.double("lr"))
        c.batchSize = try inv.int("batch")
        c.momentum = Float(try inv.double("momentum"))
        c.weightDecay = Float(try inv.double("wd"))
        c.optimizer = OptimizerKind(rawValue: try inv.string("optimizer")) ?? .sgd
        c.schedule = ScheduleKind(rawValue: try inv.string("schedule")) ?? .cosine
        c.warmupSteps = try inv.int("warmup")
        c.labelSmoothing = Float(try inv.double("smoothing"))
        guard try inv.int("seed") >= 0 else {
            throw inv.error("option 'seed': must be non-negative, got \(try inv.int("seed"))", at: "seed")
        }
        c.seed = UInt64(try inv.int("seed"))
        if inv.has("patience") { c.patience = try inv.int("patience") }
        c.validateEvery = try inv.int("val_every")
        try check(c, inv, names: ["epochs": epochs, "steps": steps])
        return c
    }

    /// Validates `config`, reporting a bad value at the option the user wrote (`names` maps the config's option
    /// names to the command's, e.g. epochs → stage_epochs).
    func check(_ config: TrainingConfig, _ inv: Invocation, names: [String: String] = [:]) throws {
        do { try config.validate() } catch let e as DistillationError {
            if case .invalidOption(let name, let reason) = e {
                let given = names[name] ?? name
                throw inv.error("option '\(given)': \(reason)", at: inv.has(given) ? given : nil)
            }
            throw inv.error("\(e)")
        }
    }

    /// Runs a training body with a run context (the session's observer and Ctrl-C, the command text, the model's
    /// name), files its records, reports divergence as an error.
    /// The teacher is first checked against `data` (`warnIfDataDiffers`); the student records `data` as what it was
    /// trained on (what `save` writes as its normalisation).
    func train(
        _ inv: Invocation, model: ModelObject, label: String, teacher: ModelObject? = nil, data: DataObject,
        _ body: (RunContext) throws -> [RunRecord]
    ) throws -> Value {
        if let teacher { warnIfDataDiffers(teacher, data) }
        let observer = SessionObserver(self)
        defer { observer.finish() }
        let context = RunContext(
            observer: observer, cancellation: cancellation, command: commandText(inv),
            modelName: workspace.name(of: model, in: self))
        let records: [RunRecord]
        do { records = try body(context) } catch let e as InterpreterError { throw e } catch {
            throw engineError(inv, error)
        }
        model.records += records
        if !records.isEmpty { model.trainedOn = DataFacts(data) }
        workspace.runs += records.map { (model, $0) }
        workspace.lastTrained = model
        if let teacher { workspace.teacher = teacher }
        if let bad = records.first(where: { $0.status == .diverged }) {
            throw inv.error("\(bad.name) diverged (weights restored; see the line above)")
        }
        if records.contains(where: { $0.status == .interrupted }) {
            throw SessionInterrupted()  // stops enclosing loops and the rest of the line; the run is kept
        }
        return .object(RunObject(records, label: label))
    }

    /// A command error for `error`: Ctrl-C during an evaluation becomes `interrupted` (flag cleared), others keep their
    /// text.
    func engineError(_ inv: Invocation, _ error: Error, at name: String? = nil) -> Error {
        if case DistillationError.interrupted = error {
            interruptRequested = false
            return SessionInterrupted()
        }
        if case DistillationError.invalidOption(let option, _) = error, inv.has(option) {
            return inv.error("\(error)", at: option)
        }
        return inv.error("\(error)", at: name)
    }

    /// The student, teacher, training configuration and data of a two-model command (kd, fitnet, at),
    /// with both models checked against the data and against each other.
    func distillationInputs(_ inv: Invocation) throws -> (ModelObject, ModelObject, TrainingConfig, DataObject) {
        let s = try inv.object("student", as: ModelObject.self)
        let t = try inv.object("teacher", as: ModelObject.self)
        guard s !== t else { throw inv.error("student and teacher are the same model", at: "teacher") }
        let config = try trainingConfig(inv)
        let data = try workspace.data(inv)
        try checkFits(s, data, inv, at: "student")
        try checkFits(t, data, inv, at: "teacher")
        return (s, t, config, data)
    }

    /// Checks that `model` fits the data: input channels and (for labels) class count, in the user's terms; then that
    /// a batch of the command's `batch=` (or the session's) fits in memory (`checkBatchMemory`).
    func checkFits(_ model: ModelObject, _ data: DataObject, _ inv: Invocation, at name: String) throws {
        let tensors = model.model.stateDict()
        if let conv = tensors.first(where: { $0.1.rank == 4 }), conv.1.shape[1] != data.splits.train.channels {
            throw inv.error(
                "\(workspace.name(of: model, in: self)) takes \(conv.1.shape[1])-channel images, but \(data.name) has "
                    + "\(data.splits.train.channels) channel(s)",
                at: name)
        }
        if let fc = tensors.last(where: { $0.0.hasSuffix(".weight") && $0.1.rank == 2 }),
            fc.1.shape[0] < data.splits.train.classCount
        {
            throw inv.error(
                "\(workspace.name(of: model, in: self)) has \(fc.1.shape[0]) outputs, but \(data.name) has "
                    + "\(data.splits.train.classCount) classes",
                at: name)
        }
        try checkBatchMemory(model, data, inv)
    }

    /// Refuses a batch whose activations would not fit in this machine's memory, before anything is allocated:
    /// the estimate is 16 bytes (Float32 value and gradient, twice over for what blocks keep inside) per activation
    /// element of one image (`Model.activationCount`) times the batch. The batch is the command's `batch=` when it
    /// has one, else the session option.
    func checkBatchMemory(_ model: ModelObject, _ data: DataObject, _ inv: Invocation) throws {
        let hasOption = inv.command.options.contains { $0.name == "batch" }
        let batch = hasOption ? try inv.int("batch") : options.batch
        guard let perImage = try? model.model.activationCount(inputShape: [1] + data.splits.train.imageShape) else {
            return
        }
        let bytes = Double(perImage) * 16 * Double(batch)
        let memory = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes > memory else { return }
        let what = hasOption ? "option 'batch'" : "session option 'batch'"
        throw inv.error(
            String(
                format:
                    "%@: a batch of %d through %@ needs about %.1f GB of activations, more than this machine's %.1f "
                    + "GB; use a smaller batch",
                what, batch, workspace.name(of: model, in: self), bytes / 1e9, memory / 1e9),
            at: hasOption && inv.has("batch") ? "batch" : nil)
    }

    /// The source line of the command being run (what run records keep as their command).
    func commandText(_ inv: Invocation) -> String {
        let lines = inv.location.source.lines
        let i = inv.location.line - 1
        return lines.indices.contains(i) ? lines[i].trimmingCharacters(in: .whitespaces) : inv.command.name
    }

    /// The model whose head a student's head starts from: the `from_teacher=` model, none for `false`, and by
    /// default `teacher` when its head's parameter names and shapes match the student's.
    func headTeacher(_ inv: Invocation, student: ModelObject, teacher: ModelObject?) throws -> ModelObject? {
        if inv.isGiven("from_teacher") {
            switch inv.value("from_teacher") {
            case .bool(false): return nil
            case .bool(true):
                guard let teacher else {
                    throw inv.error(
                        "from_teacher=true: no teacher yet; name one (from_teacher=teacher)", at: "from_teacher")
                }
                return teacher
            case .object(let m as ModelObject):
                guard m !== student else { throw inv.error("from_teacher: the student itself", at: "from_teacher") }
                guard SSKD.headsMatch(student.model, m.model) else {
                    throw inv.error(
                        "from_teacher: the heads of \(workspace.name(of: student, in: self)) and "
                            + "\(workspace.name(of: m, in: self)) differ in names or shapes; give from_teacher=false",
                        at: "from_teacher")
                }
                return m
            default:
                throw inv.error(
                    "from_teacher takes a model or false, got \(inv.value("from_teacher").literal)", at: "from_teacher")
            }
        }
        guard let teacher, teacher !== student, SSKD.headsMatch(student.model, teacher.model) else { return nil }
        return teacher
    }

    /// The step count whose whole cost (`cost`, MACs as a function of steps) matches the `budget=` option:
    /// a model (the compute of all its runs so far) or a number of GMAC.
    /// `makeCost` builds the estimate (`Baselines.scratchCost` and kin); its errors are reported at the command.
    func budgetSteps(_ inv: Invocation, cost makeCost: () throws -> (Int) -> Int) throws -> Int {
        let target = try budgetMACs(inv)
        let cost: (Int) -> Int
        do { cost = try makeCost() } catch { throw engineError(inv, error) }
        guard cost(1) <= target else {
            throw inv.error(
                "option 'budget': \(ComputeCost.format(target)) does not pay for one step and a validation "
                    + "(\(ComputeCost.format(cost(1))))",
                at: "budget")
        }
        guard cost(ComputeBudget.maximumSteps) > target else {
            throw inv.error(
                "option 'budget': \(ComputeCost.format(target)) is more than \(ComputeBudget.maximumSteps) steps",
                at: "budget")
        }
        let steps = ComputeBudget.steps(budget: target, cost: cost)
        print("budget: \(steps) steps, \(ComputeCost.format(cost(steps))) of \(ComputeCost.format(target))")
        return steps
    }

    /// Warns when a completed mimic run ended farther from the teacher than it started. Only after 100 steps:
    /// by then BatchNorm's running statistics have settled, so a distance that grew means the run failed.
    func warnIfFartherFromTeacher(_ record: RunRecord, learningRate: Float) {
        guard record.status == .completed, record.steps.count >= 100, let before = record.distanceBefore,
            let after = record.epochs.last?.featureDistance, !(after < before)
        else { return }
        print(
            String(
                format: "warning: %@ ended farther from the teacher than it started (distance %.4f -> %.4f); "
                    + "the learning rate may be too high (lr=%g)", record.name, before, after, Double(learningRate)))
    }

    /// The `budget=` option in MACs: a model's runs' total compute, or a number of GMAC.
    func budgetMACs(_ inv: Invocation) throws -> Int {
        guard !inv.isGiven("epochs") && !inv.isGiven("steps") else {
            throw inv.error("give budget= or epochs=/steps=, not both", at: "budget")
        }
        let target: Int
        switch inv.value("budget") {
        case .object(let m as ModelObject):
            target = m.records.reduce(0) { $0 + $1.compute.total }
            guard target > 0 else {
                throw inv.error(
                    "option 'budget': \(workspace.name(of: m, in: self)) has no training runs yet", at: "budget")
            }
        case .number(let g):
            guard g > 0, g < 1e9 else {
                throw inv.error(
                    "option 'budget': must be a positive number of GMAC below 1e9, got \(Value.format(g))", at: "budget"
                )
            }
            target = Int(g * 1e9)
        default:
            throw inv.error(
                "option 'budget': takes a model or a number of GMAC, got \(inv.value("budget").literal)", at: "budget")
        }
        return target
    }

    func registerTrainingCommands() {
        commands.register(
            CommandSpec(
                "mimic", summary: "SSKD step: train a student stage to reproduce a teacher stage's feature map (L2)",
                arguments: [
                    ArgumentSpec("student", .object("part"), "the student stage, e.g. student.stage[2]"),
                    ArgumentSpec("teacher", .object("part"), "the teacher stage, e.g. teacher.stage[2]"),
                ],
                options: trainingOptions(SSKD.Defaults.mimic) + [
                    OptionSpec(
                        "pool", .bool, default: .bool(false),
                        "average-pool the larger feature map when spatial sizes differ")
                ],
                example: "mimic student.stage[1] teacher.stage[1] steps=500"
            ) { inv, session in
                let s = try inv.object("student", as: ModelPart.self)
                let t = try inv.object("teacher", as: ModelPart.self)
                guard let k = s.stage else {
                    throw inv.error("mimic needs a student stage (student.stage[k]), got \(s.label)", at: "student")
                }
                guard let tk = t.stage else {
                    throw inv.error("mimic needs a teacher stage (teacher.stage[k]), got \(t.label)", at: "teacher")
                }
                guard s.owner !== t.owner else {
                    throw inv.error("student and teacher are the same model", at: "teacher")
                }
                let config = try session.trainingConfig(inv)
                let data = try session.workspace.data(inv)
                try session.checkFits(s.owner, data, inv, at: "student")
                try session.checkFits(t.owner, data, inv, at: "teacher")
                return try session.train(
                    inv, model: s.owner, label: "mimic", teacher: t.owner,
                    data: data
                ) { context in
                    let (record, alignment) = try SSKD.mimic(
                        student: s.owner.model, stage: k, teacher: t.owner.model, teacherStage: tk,
                        data: data.splits, config: config, adapter: s.owner.alignments[k]?.adapter,
                        pool: try inv.bool("pool"), context: context)
                    s.owner.alignments[k] = alignment
                    s.owner.mimicTeacher = t.owner
                    if s.owner.distanceBefore[k] == nil { s.owner.distanceBefore[k] = record.distanceBefore }
                    session.warnIfFartherFromTeacher(record, learningRate: config.learningRate)
                    return [record]
                }
            })

        commands.register(
            CommandSpec(
                "train",
                summary:
                    "train a model from scratch with cross-entropy, or only its head (SSKD's last step; the head's "
                    + "defaults: 20 epochs, Adam, lr 0.01, wd 0)",
                arguments: [ArgumentSpec("target", .any, "a model, or student.head")],
                options: classificationOptions + [
                    OptionSpec(
                        "from_teacher", .any,
                        "head only: a teacher whose head the head starts from, or false "
                            + "(default: the teacher the student mimicked, when the heads' names and shapes match)"),
                    OptionSpec(
                        "budget", .any,
                        "model only: train for the compute another model's runs spent (a model), "
                            + "or this many GMAC (a number), instead of epochs"),
                ],
                example: "train student.head from_teacher=teacher"
            ) { inv, session in
                let (owner, part, label) = try modelPart(inv, "target", session)
                if case .all = part {
                } else if case .head = part {
                } else {
                    throw inv.error(
                        "train takes a model or its head; train \(label) with 'mimic', or freeze the rest and 'train' "
                            + "the model",
                        at: "target")
                }
                var config = try session.trainingConfig(inv)
                let data = try session.workspace.data(inv)
                try session.checkFits(owner, data, inv, at: "target")
                if case .head = part {
                    // The head has SSKD's own defaults (SSKD.Defaults.head) for every option not given.
                    let d = SSKD.Defaults.head
                    if !inv.isGiven("epochs") && !inv.isGiven("steps") {
                        config.epochs = d.epochs
                        config.steps = nil
                    }
                    if !inv.isGiven("lr") { config.learningRate = d.learningRate }
                    if !inv.isGiven("optimizer") { config.optimizer = d.optimizer }
                    if !inv.isGiven("wd") { config.weightDecay = d.weightDecay }
                    guard !inv.has("budget") else {
                        throw inv.error("budget= sizes a whole model's training, not a head's", at: "budget")
                    }
                    let teacher = try session.headTeacher(inv, student: owner, teacher: owner.mimicTeacher)
                    return try session.train(inv, model: owner, label: "head", data: data) { context in
                        [
                            try SSKD.trainHead(
                                student: owner.model, teacher: teacher?.model, fromTeacher: teacher != nil,
                                data: data.splits,
                                config: config, context: context)
                        ]
                    }
                }
                guard !inv.has("from_teacher") else {
                    throw inv.error("from_teacher= is for 'train MODEL.head'", at: "from_teacher")
                }
                if inv.has("budget") {
                    config.steps = try session.budgetSteps(inv) {
                        try Baselines.scratchCost(owner.model, data: data.splits, config: config)
                    }
                }
                return try session.train(inv, model: owner, label: "train", data: data) { context in
                    [
                        try Baselines.scratch(
                            owner.model, data: data.splits, config: config, context: context)
                    ]
                }
            })

        commands.register(
            CommandSpec(
                "sskd", summary: "the whole SSKD recipe: mimic and freeze each stage in turn, then train the head",
                arguments: [
                    ArgumentSpec("student", .object("model"), "the student"),
                    ArgumentSpec("teacher", .object("model"), "the teacher"),
                ],
                options: trainingOptions(SSKD.Defaults.mimic, epochs: "stage_epochs") + [
                    OptionSpec(
                        "head_epochs", .integer, default: .number(Double(SSKD.Defaults.head.epochs)),
                        "epochs of the head"),
                    OptionSpec(
                        "head_lr", .number, default: typed(SSKD.Defaults.head.learningRate), "learning rate of the head"
                    ),
                    OptionSpec(
                        "head_optimizer", .word(choices: OptimizerKind.allCases.map(\.rawValue)),
                        default: .string(SSKD.Defaults.head.optimizer.rawValue), "optimizer of the head"),
                    OptionSpec(
                        "from_teacher", .any,
                        "a teacher whose head the head starts from, or false "
                            + "(default: the teacher, when the heads' names and shapes match)"),
                    OptionSpec(
                        "finetune", .integer, default: .number(0),
                        "then unfreeze the student and train it this many epochs with KD (T=4, alpha=0.9; beyond the "
                            + "paper)"
                    ),
                    OptionSpec(
                        "finetune_lr", .number, default: typed(SSKD.Defaults.finetune.learningRate),
                        "learning rate of the fine-tuning (SGD, momentum 0.9, wd 5e-4, cosine)"),
                    OptionSpec(
                        "pool", .bool, default: .bool(false), "average-pool the larger map when stage sizes differ"),
                ],
                example: "sskd student teacher steps=500 head_epochs=20"
            ) { inv, session in
                let s = try inv.object("student", as: ModelObject.self)
                let t = try inv.object("teacher", as: ModelObject.self)
                guard s !== t else { throw inv.error("student and teacher are the same model", at: "teacher") }
                let stage = try session.trainingConfig(inv, epochs: "stage_epochs")
                var head = SSKD.Defaults.head
                head.epochs = try inv.int("head_epochs")
                head.learningRate = Float(try inv.double("head_lr"))
                head.optimizer = OptimizerKind(rawValue: try inv.string("head_optimizer")) ?? .adam
                head.batchSize = stage.batchSize
                head.seed = stage.seed
                head.labelSmoothing = stage.labelSmoothing
                try session.check(head, inv, names: ["epochs": "head_epochs", "lr": "head_lr"])
                var finetune: TrainingConfig?
                if try inv.int("finetune") != 0 {
                    var f = SSKD.Defaults.finetune
                    f.epochs = try inv.int("finetune")
                    f.learningRate = Float(try inv.double("finetune_lr"))
                    f.batchSize = stage.batchSize
                    f.seed = stage.seed
                    try session.check(f, inv, names: ["epochs": "finetune", "lr": "finetune_lr"])
                    finetune = f
                }
                let data = try session.workspace.data(inv)
                try session.checkFits(s, data, inv, at: "student")
                try session.checkFits(t, data, inv, at: "teacher")
                let headFrom = try session.headTeacher(inv, student: s, teacher: t)
                let result = try session.train(inv, model: s, label: "sskd", teacher: t, data: data) { context in
                    let (records, alignments) = try SSKD.recipe(
                        student: s.model, teacher: t.model, data: data.splits, stageConfig: stage,
                        headConfig: head, pool: try inv.bool("pool"), headFrom: headFrom?.model,
                        finetune: finetune, context: context)
                    for r in records {
                        if let k = r.stage, s.distanceBefore[k] == nil { s.distanceBefore[k] = r.distanceBefore }
                    }
                    s.alignments.merge(alignments) { _, new in new }
                    s.mimicTeacher = t
                    for r in records where r.stage != nil {
                        session.warnIfFartherFromTeacher(r, learningRate: stage.learningRate)
                    }
                    session.print(SSKD.stageTable(records))
                    return records
                }
                return result
            })

        commands.register(
            CommandSpec(
                "kd", summary: "Hinton KD: alpha*T^2*KL(teacher_T || student_T) + (1-alpha)*CE",
                arguments: [
                    ArgumentSpec("student", .object("model"), "the student"),
                    ArgumentSpec("teacher", .object("model"), "the teacher"),
                ],
                options: classificationOptions + [
                    OptionSpec("T", .number, default: .number(4), "temperature"),
                    OptionSpec("alpha", .number, default: .number(0.9), "weight of the soft-target term"),
                    OptionSpec(
                        "unlabelled", .bool, default: .bool(false),
                        "also train on the unlabelled images (data labels=N), on the soft term alone"),
                    OptionSpec(
                        "budget", .any,
                        "train for the compute another model's runs spent (a model), "
                            + "or this many GMAC (a number), instead of epochs"),
                ],
                example: "kd student teacher T=4 alpha=0.9 epochs=5"
            ) { inv, session in
                var (s, t, config, data) = try session.distillationInputs(inv)
                guard try inv.double("T") > 0 else {
                    throw inv.error("option 'T': must be positive, got \(Value.format(try inv.double("T")))", at: "T")
                }
                guard (0...1).contains(try inv.double("alpha")) else {
                    throw inv.error(
                        "option 'alpha': must be in [0, 1], got \(Value.format(try inv.double("alpha")))", at: "alpha")
                }
                let unlabelled = try inv.bool("unlabelled")
                if inv.has("budget") {
                    config.steps = try session.budgetSteps(inv) {
                        try Baselines.kdCost(
                            student: s.model, teacher: t.model, data: data.splits, config: config,
                            unlabelled: unlabelled)
                    }
                }
                session.print(
                    String(
                        format: "kd: T=%g alpha=%g (soft term scaled by T^2 = %g)", try inv.double("T"),
                        try inv.double("alpha"),
                        try inv.double("T") * inv.double("T"))
                        + (unlabelled ? "; unlabelled images: soft term only" : ""))
                return try session.train(inv, model: s, label: "kd", teacher: t, data: data) { context in
                    [
                        try Baselines.kd(
                            student: s.model, teacher: t.model, temperature: Float(try inv.double("T")),
                            alpha: Float(try inv.double("alpha")),
                            data: data.splits, config: config, unlabelled: unlabelled, context: context)
                    ]
                }
            })

        commands.register(
            CommandSpec(
                "fitnet", summary: "FitNets: regress a student stage onto the teacher's (hint), then KD",
                arguments: [
                    ArgumentSpec("student", .object("model"), "the student"),
                    ArgumentSpec("teacher", .object("model"), "the teacher"),
                ],
                options: classificationOptions + [
                    OptionSpec("hint", .integer, default: .number(2), "the hinted stage (1-based)"),
                    OptionSpec("hint_epochs", .integer, default: .number(1), "epochs of the hint stage"),
                    OptionSpec(
                        "hint_lr", .number, default: typed(SSKD.Defaults.mimic.learningRate),
                        "learning rate of the hint stage (Adam, as mimic)"),
                    OptionSpec(
                        "budget", .any,
                        "the whole compute (hint + KD) of another model's runs (a model) "
                            + "or this many GMAC; KD gets what the hint stage leaves"),
                    OptionSpec("T", .number, default: .number(4), "KD temperature"),
                    OptionSpec("alpha", .number, default: .number(0.9), "KD soft-target weight"),
                    OptionSpec("pool", .bool, default: .bool(false), "average-pool when the hint maps differ in size"),
                ],
                example: "fitnet student teacher hint=2 hint_epochs=1 epochs=4"
            ) { inv, session in
                let (s, t, config, data) = try session.distillationInputs(inv)
                let hint = try inv.int("hint")
                guard try inv.int("hint_epochs") >= 1 else {
                    throw inv.error(
                        "option 'hint_epochs': must be at least 1, got \(try inv.int("hint_epochs"))", at: "hint_epochs"
                    )
                }
                guard (1...s.model.stages.count).contains(hint) else {
                    throw inv.error("hint must be a stage 1...\(s.model.stages.count), got \(hint)", at: "hint")
                }
                var hintConfig = SSKD.Defaults.mimic
                hintConfig.learningRate = Float(try inv.double("hint_lr"))
                try session.check(hintConfig, inv, names: ["lr": "hint_lr"])
                let budget = inv.has("budget") ? try session.budgetMACs(inv) : nil
                return try session.train(inv, model: s, label: "fitnet", teacher: t, data: data) { context in
                    try Baselines.fitnet(
                        student: s.model, teacher: t.model, hintStage: hint - 1, hintEpochs: try inv.int("hint_epochs"),
                        hintConfig: hintConfig, temperature: Float(try inv.double("T")),
                        alpha: Float(try inv.double("alpha")),
                        pool: try inv.bool("pool"), data: data.splits, config: config, budget: budget,
                        context: context)
                }
            })

        commands.register(
            CommandSpec(
                "at",
                summary:
                    "attention transfer: CE + beta/2 * sum over stages of the L2 distance of normalised attention maps",
                arguments: [
                    ArgumentSpec("student", .object("model"), "the student"),
                    ArgumentSpec("teacher", .object("model"), "the teacher"),
                ],
                options: classificationOptions + [
                    OptionSpec("beta", .number, default: .number(1000), "weight of the attention term"),
                    OptionSpec(
                        "budget", .any,
                        "train for the compute another model's runs spent (a model), "
                            + "or this many GMAC (a number), instead of epochs"),
                ],
                example: "at student teacher beta=1000 epochs=5"
            ) { inv, session in
                var (s, t, config, data) = try session.distillationInputs(inv)
                if inv.has("budget") {
                    config.steps = try session.budgetSteps(inv) {
                        try Baselines.atCost(student: s.model, teacher: t.model, data: data.splits, config: config)
                    }
                }
                return try session.train(inv, model: s, label: "at", teacher: t, data: data) { context in
                    [
                        try Baselines.attentionTransfer(
                            student: s.model, teacher: t.model, beta: Float(try inv.double("beta")), data: data.splits,
                            config: config, context: context)
                    ]
                }
            })

        commands.register(
            CommandSpec(
                "gap",
                summary:
                    "compare a student with its teacher: top-1 gap, gap closed, agreement, per-stage feature distance",
                arguments: [
                    ArgumentSpec("student", .object("model"), "the student"),
                    ArgumentSpec("teacher", .object("model"), "the teacher"),
                ],
                options: [
                    OptionSpec(
                        "baseline", .any,
                        "a baseline model or run (e.g. the scratch student) for the share of the gap closed"),
                    OptionSpec("split", .word(choices: ["test", "val"]), default: .string("test"), "which split"),
                    OptionSpec("data", .object("dataset"), "data set (default: the current one)"),
                ],
                example: "gap student teacher baseline=scratch", returnsValue: false
            ) { inv, session in
                let s = try inv.object("student", as: ModelObject.self)
                let t = try inv.object("teacher", as: ModelObject.self)
                let data = try session.workspace.data(inv)
                let split = DataSplits.Split(rawValue: try inv.string("split")) ?? .test
                var baseline: (String, Double)?
                if inv.has("baseline") {
                    switch inv.value("baseline") {
                    case .object(let m as ModelObject):
                        let e: Evaluation
                        do {
                            e = try Distillation.evaluate(
                                m.model, data: data.splits, split: split, cancellation: session.cancellation)
                        } catch {
                            throw session.engineError(inv, error, at: "baseline")
                        }
                        baseline = (session.workspace.name(of: m, in: session), e.top1)
                    case .object(let r as RunObject):
                        guard let top1 = r.records.last?.lastTop1 else {
                            throw inv.error("the baseline run has no top-1", at: "baseline")
                        }
                        baseline = (r.label, top1)
                    case .number(let top1):
                        baseline = ("baseline", top1)
                    default:
                        throw inv.error("baseline must be a model, a run or a top-1 number", at: "baseline")
                    }
                }
                try session.checkFits(s, data, inv, at: "student")
                try session.checkFits(t, data, inv, at: "teacher")
                session.warnIfDataDiffers(t, data)
                session.warnIfDataDiffers(s, data)
                let report: GapReport
                do {
                    report = try GapReport.measure(
                        student: s.model, teacher: t.model, data: data.splits, split: split, baseline: baseline,
                        alignments: s.alignments, cancellation: session.cancellation)
                } catch { throw session.engineError(inv, error) }
                session.workspace.lastGap = (s, report)
                if split == .test {
                    t.testTop1 = report.teacherTop1
                    s.testTop1 = report.studentTop1
                }
                session.workspace.teacher = t
                session.print(report.text)
                if split == .test {
                    session.hintIfNearChance(t, top1: report.teacherTop1, data)
                    session.hintIfNearChance(s, top1: report.studentTop1, data)
                }
                return .none
            })

        commands.register(
            CommandSpec(
                "compare",
                summary:
                    "a table of models: test top-1, gap to the teacher, share of the gap closed, parameters, and the "
                    + "wall time and compute (MACs) of all their runs",
                arguments: [
                    ArgumentSpec("models", .object("model"), "teacher first, then the students", variadic: true)
                ],
                options: [
                    OptionSpec(
                        "baseline", .object("model"),
                        "the model whose top-1 is 0% of the gap closed (e.g. the scratch student)"),
                    OptionSpec("data", .object("dataset"), "data set (default: the current one)"),
                ],
                example: "compare teacher scratch student baseline=scratch", returnsValue: false
            ) { inv, session in
                let models = try inv.list("models").map { v -> ModelObject in
                    guard case .object(let o) = v, let m = o as? ModelObject else {
                        throw inv.error("compare takes models, got \(v.literal)", at: "models")
                    }
                    return m
                }
                guard let teacher = models.first else {
                    throw inv.error("give the teacher and at least one student", at: "models")
                }
                let data = try session.workspace.data(inv)
                var top1: [ObjectIdentifier: Double] = [:]
                for m in models
                    + [inv.has("baseline") ? try inv.object("baseline", as: ModelObject.self) : nil].compactMap({ $0 })
                {
                    try session.checkFits(m, data, inv, at: "models")
                    session.warnIfDataDiffers(m, data)
                    let e: Evaluation
                    do {
                        e = try Distillation.evaluate(
                            m.model, data: data.splits, split: .test, cancellation: session.cancellation)
                    } catch {
                        throw session.engineError(inv, error)
                    }
                    m.lastEvaluation = e
                    top1[ObjectIdentifier(m)] = e.top1
                }
                let t = top1[ObjectIdentifier(teacher)]!
                let b =
                    inv.has("baseline") ? top1[ObjectIdentifier(try inv.object("baseline", as: ModelObject.self))] : nil
                var rows = ["model\tarch\tparameters\ttest top-1\tgap\tgap closed\ttime\tcompute"]
                for m in models {
                    let a = top1[ObjectIdentifier(m)]!
                    let closed =
                        b.flatMap { b in abs(t - b) > 1e-9 ? String(format: "%.1f%%", 100 * (a - b) / (t - b)) : nil }
                        ?? "-"
                    let seconds = m.records.reduce(0) { $0 + $1.seconds }
                    let macs = m.records.reduce(0) { $0 + $1.compute.total }
                    rows.append(
                        [
                            session.workspace.name(of: m, in: session), m.model.architecture,
                            grouped(m.model.parameterCount),
                            String(format: "%.2f%%", a), m === teacher ? "-" : String(format: "%.2f", t - a),
                            m === teacher ? "-" : closed,
                            seconds > 0 ? String(format: "%.1fs", seconds) : "-",
                            macs > 0 ? ComputeCost.format(macs) : "-",
                        ].joined(separator: "\t"))
                }
                session.write(table(rows))
                for m in models { session.hintIfNearChance(m, top1: top1[ObjectIdentifier(m)]!, data) }
                return .none
            })

        commands.register(
            CommandSpec(
                "runs", summary: "list the training runs of this session", example: "runs", recorded: false,
                returnsValue: false
            ) { _, session in
                let runs = session.workspace.runs
                guard !runs.isEmpty else {
                    session.print("(no runs yet)")
                    return .none
                }
                var rows = [
                    "#\tmodel\trun\tstatus\tepochs\tsteps\tlast loss\tlast top-1\ttime\tcompute\thyper-parameters"
                ]
                for (i, (m, r)) in runs.enumerated() {
                    rows.append(
                        [
                            "\(i + 1)", session.workspace.name(of: m, in: session), r.name, r.status.rawValue,
                            "\(r.epochs.count)", "\(r.steps.count)",
                            r.lastLoss.map { String(format: "%.4f", $0) } ?? "-",
                            r.lastTop1.map { String(format: "%.2f%%", $0) } ?? "-",
                            String(format: "%.1fs", r.seconds), ComputeCost.format(r.compute.total),
                            r.hyperParameterText,
                        ].joined(separator: "\t"))
                }
                session.write(table(rows))
                return .none
            })
    }
}
