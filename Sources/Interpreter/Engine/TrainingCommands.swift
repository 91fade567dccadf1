import Datasets
import Distillation
import Foundation
import Networks
import Tensors

// train, mimic, sskd, kd, fitnet, at, gap, compare, runs.

/// Options every training command takes, declared once.
let trainingOptions: [OptionSpec] = [
    OptionSpec("epochs", .integer, default: .number(1), "passes over the training split"),
    OptionSpec("lr", .number, session: "lr", "peak learning rate"),
    OptionSpec("batch", .integer, session: "batch", "mini-batch size"),
    OptionSpec("momentum", .number, default: .number(0.9), "SGD momentum"),
    OptionSpec("wd", .number, default: .number(5e-4), "weight decay"),
    OptionSpec("optimizer", .word(choices: OptimizerKind.allCases.map(\.rawValue)), default: .string("sgd"), "optimizer"),
    OptionSpec("schedule", .word(choices: ScheduleKind.allCases.map(\.rawValue)), default: .string("cosine"),
               "learning-rate schedule over the run's steps"),
    OptionSpec("warmup", .integer, default: .number(0), "linear warm-up steps"),
    OptionSpec("smoothing", .number, default: .number(0), "label smoothing of the cross-entropy"),
    OptionSpec("seed", .integer, session: "seed", "seed of batch order and augmentation"),
    OptionSpec("data", .object("dataset"), "data set (default: the current one)"),
]

extension Session {
    /// The `TrainingConfig` of a training command's options.
    func trainingConfig(_ inv: Invocation, epochs: String = "epochs") throws -> TrainingConfig {
        var c = TrainingConfig()
        c.epochs = try inv.int(epochs)
        c.learningRate = Float(try inv.double("lr"))
        c.batchSize = try inv.int("batch")
        c.momentum = Float(try inv.double("momentum"))
        c.weightDecay = Float(try inv.double("wd"))
        c.optimizer = OptimizerKind(rawValue: try inv.string("optimizer")) ?? .sgd
        c.schedule = ScheduleKind(rawValue: try inv.string("schedule")) ?? .cosine
        c.warmupSteps = try inv.int("warmup")
        c.labelSmoothing = Float(try inv.double("smoothing"))
        c.seed = UInt64(max(0, try inv.int("seed")))
        do { try c.validate() } catch let e as DistillationError {
            if case let .invalidOption(name, reason) = e {
                let given = name == "epochs" ? epochs : name
                throw inv.error("option '\(given)': \(reason)", at: inv.has(given) ? given : nil)
            }
            throw inv.error("\(e)")
        }
        return c
    }

    /// Runs a training body with a session observer, files its records, reports divergence as an error.
    func train(_ inv: Invocation, model: ModelObject, label: String, teacher: ModelObject? = nil,
               _ body: (SessionObserver, String) throws -> [RunRecord]) throws -> Value {
        let observer = SessionObserver(self)
        defer { observer.finish() }
        let name = workspace.name(of: model, in: self)
        let records: [RunRecord]
        do { records = try body(observer, name) } catch let e as InterpreterError { throw e } catch { throw engineError(inv, error) }
        model.records += records
        workspace.runs += records.map { (model, $0) }
        workspace.lastTrained = model
        if let teacher { workspace.teacher = teacher }
        if let bad = records.first(where: { $0.status == .diverged }) {
            throw inv.error("\(bad.name) diverged (weights restored; see the line above)")
        }
        if records.contains(where: { $0.status == .interrupted }) {
            throw SessionInterrupted()   // stops enclosing loops and the rest of the line; the run is kept
        }
        return .object(RunObject(records, label: label))
    }

    /// A command error for `error`: Ctrl-C during an evaluation becomes `interrupted` (flag cleared), others keep their text.
    func engineError(_ inv: Invocation, _ error: Error, at name: String? = nil) -> Error {
        if case DistillationError.interrupted = error {
            interruptRequested = false
            return SessionInterrupted()
        }
        return inv.error("\(error)", at: name)
    }

    /// The student, teacher, training configuration and data of a two-model command (kd, fitnet, at),
    /// with both models checked against the data and against each other.
    func distillationInputs(_ inv: Invocation) throws -> (ModelObject, ModelObject, TrainingConfig, DataObject) {
        let s = try inv.object("student", as: ModelObject.self), t = try inv.object("teacher", as: ModelObject.self)
        guard s !== t else { throw inv.error("student and teacher are the same model", at: "teacher") }
        let config = try trainingConfig(inv)
        let data = try workspace.data(inv)
        try checkFits(s, data, inv, at: "student"); try checkFits(t, data, inv, at: "teacher")
        return (s, t, config, data)
    }

    /// Checks that `model` fits the data: input channels and (for labels) class count, in the user's terms; then that
    /// a batch of the command's `batch=` (or the session's) fits in memory (`checkBatchMemory`).
    func checkFits(_ model: ModelObject, _ data: DataObject, _ inv: Invocation, at name: String) throws {
        let tensors = model.model.stateDict()
        if let conv = tensors.first(where: { $0.1.rank == 4 }), conv.1.shape[1] != data.splits.train.channels {
            throw inv.error("\(workspace.name(of: model, in: self)) takes \(conv.1.shape[1])-channel images, but \(data.name) has \(data.splits.train.channels) channel(s)", at: name)
        }
        if let fc = tensors.last(where: { $0.0.hasSuffix(".weight") && $0.1.rank == 2 }), fc.1.shape[0] < data.splits.train.classCount {
            throw inv.error("\(workspace.name(of: model, in: self)) has \(fc.1.shape[0]) outputs, but \(data.name) has \(data.splits.train.classCount) classes", at: name)
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
        guard let perImage = try? model.model.activationCount(inputShape: [1] + data.splits.train.imageShape) else { return }
        let bytes = Double(perImage) * 16 * Double(batch), memory = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes > memory else { return }
        let what = hasOption ? "option 'batch'" : "session option 'batch'"
        throw inv.error(String(format: "%@: a batch of %d through %@ needs about %.1f GB of activations, more than this machine's %.1f GB; use a smaller batch",
                               what, batch, workspace.name(of: model, in: self), bytes / 1e9, memory / 1e9),
                        at: hasOption && inv.has("batch") ? "batch" : nil)
    }

    /// The source line of the command being run (what run records keep as their command).
    func commandText(_ inv: Invocation) -> String {
        let lines = inv.location.source.lines, i = inv.location.line - 1
        return lines.indices.contains(i) ? lines[i].trimmingCharacters(in: .whitespaces) : inv.command.name
    }

    func registerTrainingCommands() {
        commands.register(CommandSpec(
            "mimic", summary: "SSKD step: train a student stage to reproduce a teacher stage's feature map (L2)",
            arguments: [ArgumentSpec("student", .object("part"), "the student stage, e.g. student.stage[2]"),
                        ArgumentSpec("teacher", .object("part"), "the teacher stage, e.g. teacher.stage[2]")],
            options: trainingOptions + [OptionSpec("pool", .bool, default: .bool(false),
                                                   "average-pool the larger feature map when spatial sizes differ")],
            example: "mimic student.stage[1] teacher.stage[1] epochs=1 lr=0.05"
        ) { inv, session in
            let s = try inv.object("student", as: ModelPart.self), t = try inv.object("teacher", as: ModelPart.self)
            guard let k = s.stage else { throw inv.error("mimic needs a student stage (student.stage[k]), got \(s.label)", at: "student") }
            guard let tk = t.stage else { throw inv.error("mimic needs a teacher stage (teacher.stage[k]), got \(t.label)", at: "teacher") }
            guard s.owner !== t.owner else { throw inv.error("student and teacher are the same model", at: "teacher") }
            let config = try session.trainingConfig(inv)
            let data = try session.workspace.data(inv)
            try session.checkFits(s.owner, data, inv, at: "student"); try session.checkFits(t.owner, data, inv, at: "teacher")
            return try session.train(inv, model: s.owner, label: "mimic", teacher: t.owner) { observer, name in
                let (record, alignment) = try SSKD.mimic(student: s.owner.model, stage: k, teacher: t.owner.model, teacherStage: tk,
                                                         data: data.splits, config: config, adapter: s.owner.alignments[k]?.adapter,
                                                         pool: try inv.bool("pool"), observer: observer,
                                                         command: session.commandText(inv), modelName: name)
                s.owner.alignments[k] = alignment
                if s.owner.distanceBefore[k] == nil { s.owner.distanceBefore[k] = record.distanceBefore }
                return [record]
            }
        })

        commands.register(CommandSpec(
            "train", summary: "train a model from scratch with cross-entropy, or only its head (SSKD's last step)",
            arguments: [ArgumentSpec("target", .any, "a model, or student.head")],
            options: trainingOptions + [OptionSpec("from_teacher", .object("model"), "head only: start from this teacher's head (same sizes)")],
            example: "train student.head epochs=1 lr=0.05"
        ) { inv, session in
            let (owner, part, label) = try modelPart(inv, "target", session)
            if case .all = part {} else if case .head = part {} else {
                throw inv.error("train takes a model or its head; train \(label) with 'mimic', or freeze the rest and 'train' the model", at: "target")
            }
            let config = try session.trainingConfig(inv)
            let data = try session.workspace.data(inv)
            try session.checkFits(owner, data, inv, at: "target")
            if case .head = part {
                let teacher = inv.has("from_teacher") ? try inv.object("from_teacher", as: ModelObject.self) : nil
                return try session.train(inv, model: owner, label: "head") { observer, name in
                    [try SSKD.trainHead(student: owner.model, teacher: teacher?.model, fromTeacher: teacher != nil, data: data.splits,
                                        config: config, observer: observer, command: session.commandText(inv), modelName: name)]
                }
            }
            return try session.train(inv, model: owner, label: "train") { observer, name in
                [try Baselines.scratch(owner.model, data: data.splits, config: config, observer: observer,
                                       command: session.commandText(inv), modelName: name)]
            }
        })

        commands.register(CommandSpec(
            "sskd", summary: "the whole SSKD recipe: mimic and freeze each stage in turn, then train the head",
            arguments: [ArgumentSpec("student", .object("model"), "the student"), ArgumentSpec("teacher", .object("model"), "the teacher")],
            options: trainingOptions.filter { $0.name != "epochs" } + [
                OptionSpec("stage_epochs", .integer, default: .number(1), "epochs of each stage's mimic"),
                OptionSpec("head_epochs", .integer, default: .number(1), "epochs of the head"),
                OptionSpec("pool", .bool, default: .bool(false), "average-pool the larger map when stage sizes differ"),
                OptionSpec("from_teacher", .bool, default: .bool(false), "start the head from the teacher's")],
            example: "sskd student teacher stage_epochs=2 head_epochs=1 lr=0.05"
        ) { inv, session in
            let s = try inv.object("student", as: ModelObject.self), t = try inv.object("teacher", as: ModelObject.self)
            guard s !== t else { throw inv.error("student and teacher are the same model", at: "teacher") }
            var stage = try session.trainingConfig(inv, epochs: "stage_epochs")
            var head = stage
            head.epochs = try inv.int("head_epochs")
            guard head.epochs >= 1 else { throw inv.error("option 'head_epochs': must be at least 1, got \(head.epochs)", at: "head_epochs") }
            stage.epochs = try inv.int("stage_epochs")
            let data = try session.workspace.data(inv)
            try session.checkFits(s, data, inv, at: "student"); try session.checkFits(t, data, inv, at: "teacher")
            let result = try session.train(inv, model: s, label: "sskd", teacher: t) { observer, name in
                let (records, table, alignments) = try SSKD.recipe(student: s.model, teacher: t.model, data: data.splits, stageConfig: stage,
                                                       headConfig: head, pool: try inv.bool("pool"), headFromTeacher: try inv.bool("from_teacher"),
                                                       observer: observer, command: session.commandText(inv), modelName: name)
                for r in records { if let k = r.stage, s.distanceBefore[k] == nil { s.distanceBefore[k] = r.distanceBefore } }
                s.alignments.merge(alignments) { _, new in new }
                session.print(table)
                return records
            }
            return result
        })

        commands.register(CommandSpec(
            "kd", summary: "Hinton KD: alpha*T^2*KL(teacher_T || student_T) + (1-alpha)*CE",
            arguments: [ArgumentSpec("student", .object("model"), "the student"), ArgumentSpec("teacher", .object("model"), "the teacher")],
            options: trainingOptions + [OptionSpec("T", .number, default: .number(4), "temperature"),
                                        OptionSpec("alpha", .number, default: .number(0.9), "weight of the soft-target term")],
            example: "kd student teacher T=4 alpha=0.9 epochs=5"
        ) { inv, session in
            let (s, t, config, data) = try session.distillationInputs(inv)
            guard try inv.double("T") > 0 else { throw inv.error("option 'T': must be positive, got \(Value.format(try inv.double("T")))", at: "T") }
            guard (0...1).contains(try inv.double("alpha")) else {
                throw inv.error("option 'alpha': must be in [0, 1], got \(Value.format(try inv.double("alpha")))", at: "alpha")
            }
            session.print(String(format: "kd: T=%g alpha=%g (soft term scaled by T^2 = %g)", try inv.double("T"), try inv.double("alpha"),
                                 try inv.double("T") * inv.double("T")))
            return try session.train(inv, model: s, label: "kd", teacher: t) { observer, name in
                [try Baselines.kd(student: s.model, teacher: t.model, temperature: Float(try inv.double("T")), alpha: Float(try inv.double("alpha")),
                                  data: data.splits, config: config, observer: observer, command: session.commandText(inv), modelName: name)]
            }
        })

        commands.register(CommandSpec(
            "fitnet", summary: "FitNets: regress a student stage onto the teacher's (hint), then KD",
            arguments: [ArgumentSpec("student", .object("model"), "the student"), ArgumentSpec("teacher", .object("model"), "the teacher")],
            options: trainingOptions + [OptionSpec("hint", .integer, default: .number(2), "the hinted stage (1-based)"),
                                        OptionSpec("hint_epochs", .integer, default: .number(1), "epochs of the hint stage"),
                                        OptionSpec("T", .number, default: .number(4), "KD temperature"),
                                        OptionSpec("alpha", .number, default: .number(0.9), "KD soft-target weight"),
                                        OptionSpec("pool", .bool, default: .bool(false), "average-pool when the hint maps differ in size")],
            example: "fitnet student teacher hint=2 hint_epochs=1 epochs=4"
        ) { inv, session in
            let (s, t, config, data) = try session.distillationInputs(inv)
            let hint = try inv.int("hint")
            guard try inv.int("hint_epochs") >= 1 else {
                throw inv.error("option 'hint_epochs': must be at least 1, got \(try inv.int("hint_epochs"))", at: "hint_epochs")
            }
            guard (1...s.model.stages.count).contains(hint) else {
                throw inv.error("hint must be a stage 1...\(s.model.stages.count), got \(hint)", at: "hint")
            }
            return try session.train(inv, model: s, label: "fitnet", teacher: t) { observer, name in
                try Baselines.fitnet(student: s.model, teacher: t.model, hintStage: hint - 1, hintEpochs: try inv.int("hint_epochs"),
                                     temperature: Float(try inv.double("T")), alpha: Float(try inv.double("alpha")), pool: try inv.bool("pool"),
                                     data: data.splits, config: config, observer: observer, command: session.commandText(inv), modelName: name)
            }
        })

        commands.register(CommandSpec(
            "at", summary: "attention transfer: CE + beta/2 * sum over stages of the L2 distance of normalised attention maps",
            arguments: [ArgumentSpec("student", .object("model"), "the student"), ArgumentSpec("teacher", .object("model"), "the teacher")],
            options: trainingOptions + [OptionSpec("beta", .number, default: .number(1000), "weight of the attention term")],
            example: "at student teacher beta=1000 epochs=5"
        ) { inv, session in
            let (s, t, config, data) = try session.distillationInputs(inv)
            return try session.train(inv, model: s, label: "at", teacher: t) { observer, name in
                [try Baselines.attentionTransfer(student: s.model, teacher: t.model, beta: Float(try inv.double("beta")), data: data.splits,
                                                 config: config, observer: observer, command: session.commandText(inv), modelName: name)]
            }
        })

        commands.register(CommandSpec(
            "gap", summary: "compare a student with its teacher: top-1 gap, gap closed, agreement, per-stage feature distance",
            arguments: [ArgumentSpec("student", .object("model"), "the student"), ArgumentSpec("teacher", .object("model"), "the teacher")],
            options: [OptionSpec("baseline", .any, "a baseline model or run (e.g. the scratch student) for the share of the gap closed"),
                      OptionSpec("split", .word(choices: ["test", "val"]), default: .string("test"), "which split"),
                      OptionSpec("data", .object("dataset"), "data set (default: the current one)")],
            example: "gap student teacher baseline=scratch", returnsValue: false
        ) { inv, session in
            let s = try inv.object("student", as: ModelObject.self), t = try inv.object("teacher", as: ModelObject.self)
            let data = try session.workspace.data(inv)
            let split = DataSplits.Split(rawValue: try inv.string("split")) ?? .test
            var baseline: (String, Double)?
            if inv.has("baseline") {
                switch inv.value("baseline") {
                case let .object(m as ModelObject):
                    let e: Evaluation
                    do { e = try Distillation.evaluate(m.model, data: data.splits, split: split) } catch { throw session.engineError(inv, error, at: "baseline") }
                    baseline = (session.workspace.name(of: m, in: session), e.top1)
                case let .object(r as RunObject):
                    guard let top1 = r.records.last?.lastTop1 else { throw inv.error("the baseline run has no top-1", at: "baseline") }
                    baseline = (r.label, top1)
                case let .number(top1):
                    baseline = ("baseline", top1)
                default:
                    throw inv.error("baseline must be a model, a run or a top-1 number", at: "baseline")
                }
            }
            try session.checkFits(s, data, inv, at: "student"); try session.checkFits(t, data, inv, at: "teacher")
            let report: GapReport
            do {
                report = try GapReport.measure(student: s.model, teacher: t.model, data: data.splits, split: split, baseline: baseline,
                                               alignments: s.alignments)
            } catch { throw session.engineError(inv, error) }
            session.workspace.lastGap = (s, report)
            if split == .test { t.testTop1 = report.teacherTop1; s.testTop1 = report.studentTop1 }
            session.workspace.teacher = t
            session.print(report.text)
            return .none
        })

        commands.register(CommandSpec(
            "compare", summary: "a table of models: test top-1, gap to the teacher, share of the gap closed, parameters, training time",
            arguments: [ArgumentSpec("models", .object("model"), "teacher first, then the students", variadic: true)],
            options: [OptionSpec("baseline", .object("model"), "the model whose top-1 is 0% of the gap closed (e.g. the scratch student)"),
                      OptionSpec("data", .object("dataset"), "data set (default: the current one)")],
            example: "compare teacher scratch student baseline=scratch", returnsValue: false
        ) { inv, session in
            let models = try inv.list("models").map { v -> ModelObject in
                guard case let .object(o) = v, let m = o as? ModelObject else { throw inv.error("compare takes models, got \(v.literal)", at: "models") }
                return m
            }
            guard let teacher = models.first else { throw inv.error("give the teacher and at least one student", at: "models") }
            let data = try session.workspace.data(inv)
            var top1: [ObjectIdentifier: Double] = [:]
            for m in models + [inv.has("baseline") ? try inv.object("baseline", as: ModelObject.self) : nil].compactMap({ $0 }) {
                try session.checkFits(m, data, inv, at: "models")
                let e: Evaluation
                do { e = try Distillation.evaluate(m.model, data: data.splits, split: .test) } catch { throw session.engineError(inv, error) }
                m.lastEvaluation = e
                top1[ObjectIdentifier(m)] = e.top1
            }
            let t = top1[ObjectIdentifier(teacher)]!
            let b = inv.has("baseline") ? top1[ObjectIdentifier(try inv.object("baseline", as: ModelObject.self))] : nil
            var rows = ["model\tarch\tparameters\ttest top-1\tgap\tgap closed\ttrain time"]
            for m in models {
                let a = top1[ObjectIdentifier(m)]!
                let closed = b.flatMap { b in abs(t - b) > 1e-9 ? String(format: "%.1f%%", 100 * (a - b) / (t - b)) : nil } ?? "-"
                let seconds = m.records.reduce(0) { $0 + $1.seconds }
                rows.append([session.workspace.name(of: m, in: session), m.model.architecture, grouped(m.model.parameterCount),
                             String(format: "%.2f%%", a), m === teacher ? "-" : String(format: "%.2f", t - a), m === teacher ? "-" : closed,
                             seconds > 0 ? String(format: "%.1fs", seconds) : "-"].joined(separator: "\t"))
            }
            session.write(table(rows))
            return .none
        })

        commands.register(CommandSpec(
            "runs", summary: "list the training runs of this session", example: "runs", recorded: false, returnsValue: false
        ) { _, session in
            let runs = session.workspace.runs
            guard !runs.isEmpty else { session.print("(no runs yet)"); return .none }
            var rows = ["#\tmodel\trun\tstatus\tepochs\tlast loss\tlast top-1\ttime\thyper-parameters"]
            for (i, (m, r)) in runs.enumerated() {
                rows.append(["\(i + 1)", session.workspace.name(of: m, in: session), r.name, r.status.rawValue, "\(r.epochs.count)",
                             r.lastLoss.map { String(format: "%.4f", $0) } ?? "-", r.lastTop1.map { String(format: "%.2f%%", $0) } ?? "-",
                             String(format: "%.1fs", r.seconds), r.hyperParameterText].joined(separator: "\t"))
            }
            session.write(table(rows))
            return .none
        })
    }
}
