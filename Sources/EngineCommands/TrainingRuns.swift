import Datasets
import Distillation
import Foundation
import Language
import Networks
import Storage
import Tensors

// What every training command does around its run: inputs checked against the data and memory, the session's
// observer, records filed, divergence and Ctrl-C reported.

extension Session {
    /// Runs a training body with a run context (the session's observer and Ctrl-C, the command text, the model's
    /// name), files its records, reports divergence as an error.
    /// First `model` is checked against teacher protection (`checkTrainable`, at the command's first argument); a
    /// student with more parameters than its teacher is warned about, and the teacher against `data`
    /// (`warnIfDataDiffers`). Once the body has run, the teacher becomes protected; the student records `data` as
    /// what it was trained on (what `save` writes as its normalisation). Runs that measured their epochs on test
    /// (no validation split) are followed by a warning, once per data set (`warnIfNoValidation`).
    func train(
        _ inv: Invocation, model: ModelObject, label: String, teacher: ModelObject? = nil, data: DataObject,
        _ body: (RunContext) throws -> [RunRecord]
    ) throws -> Value {
        try checkTrainable(model, inv, at: inv.command.arguments.first?.name)
        if let teacher {
            warnIfLargerThanTeacher(model, teacher, inv)
            warnIfDataDiffers(teacher, data)
        }
        let observer = SessionObserver(self)
        defer { observer.finish() }
        let context = RunContext(
            observer: observer, cancellation: cancellation, command: commandText(inv),
            modelName: workspace.name(of: model, in: self))
        let records: [RunRecord]
        do { records = try body(context) } catch let e as InterpreterError { throw e } catch {
            throw engineError(inv, error)
        }
        warnIfNoValidation(data, records)
        if let teacher, !records.isEmpty { protectAsTeacher(teacher, inv) }
        model.records += records
        if !records.isEmpty { model.trainedOn = DataFacts(data) }
        workspace.runs += records.map { (model, $0, data) }
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
        let (s, t) = (try inv.get(ModelArguments.student), try inv.get(ModelArguments.teacher))
        guard s !== t else { throw inv.error("student and teacher are the same model", at: "teacher") }
        try checkTrainable(s, inv, at: ModelArguments.student.spec.name)
        let config = try TrainingOptions(inv).config
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
                    + counted(data.splits.train.channels, "channel"),
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
        let option = TrainingDeclarations.batch
        let hasOption = inv.command.options.contains { $0.name == option.name }
        let batch = hasOption ? try inv.get(option) : options.batch
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
            at: hasOption ? option.name : nil)
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
        let option = HeadOption.fromTeacher
        if inv.isGiven(option) {
            let value = try inv.get(option)
            switch value {
            case .bool(false): return nil
            case .bool(true):
                guard let teacher else {
                    throw inv.error(
                        "from_teacher=true: no teacher yet; name one (from_teacher=teacher)", at: option)
                }
                return teacher
            case .object(let m as ModelObject):
                guard m !== student else { throw inv.error("from_teacher: the student itself", at: option) }
                guard SSKD.headsMatch(student.model, m.model) else {
                    throw inv.error(
                        "from_teacher: the heads of \(workspace.name(of: student, in: self)) and "
                            + "\(workspace.name(of: m, in: self)) differ in names or shapes; give from_teacher=false",
                        at: option)
                }
                return m
            default:
                throw inv.error(
                    "from_teacher takes a model or false, got \(value.literal)", at: option)
            }
        }
        guard let teacher, teacher !== student, SSKD.headsMatch(student.model, teacher.model) else { return nil }
        return teacher
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

    /// Refuses to train `model` when it is protected as a teacher (`ModelObject.protection`), unless the command is
    /// given `force=true` (`TeacherProtection.force`): then it only says so.
    /// - Throws: an error at the argument `name` naming the model, why it is protected and the two ways to allow it.
    func checkTrainable(_ model: ModelObject, _ inv: Invocation, at name: String?) throws {
        guard let why = model.protection else { return }
        let who = workspace.name(of: model, in: self)
        let forced =
            inv.command.options.contains { $0.name == TeacherProtection.force.name }
            ? try inv.get(TeacherProtection.force) : false
        if forced {
            print("note: training \(who), protected as a teacher (\(why)), because of force=true")
            return
        }
        throw inv.error(
            "\(who) is protected as a teacher (\(why)): training it would change the reference its students copy; "
                + "give force=true to train it in this command, or run 'unfreeze \(who)' to make it trainable again",
            at: name)
    }

    /// Protects `teacher` from training from now on (`checkTrainable`), naming the command it was the teacher of.
    func protectAsTeacher(_ teacher: ModelObject, _ inv: Invocation) {
        teacher.protection = "it was the teacher of '\(inv.command.name)'"
    }

    /// Warns when the student of a distillation command has more parameters than its teacher (arguments swapped?).
    func warnIfLargerThanTeacher(_ student: ModelObject, _ teacher: ModelObject, _ inv: Invocation) {
        let (s, t) = (student.model.parameterCount, teacher.model.parameterCount)
        guard s > t else { return }
        print(
            "warning: the student \(workspace.name(of: student, in: self)) (\(grouped(s)) parameters) is larger than "
                + "its teacher \(workspace.name(of: teacher, in: self)) (\(grouped(t)) parameters); the student comes "
                + "first: \(inv.command.name) STUDENT TEACHER")
    }

    /// Warns, once per data set, when `records` measured epochs on the test split (the data has no validation
    /// split): numbers to watch training by, not to choose epochs or settings by.
    func warnIfNoValidation(_ data: DataObject, _ records: [RunRecord]) {
        guard !data.warnedNoValidation,
            records.contains(where: { $0.validationSplit == DataSplits.Split.test.rawValue && !$0.epochs.isEmpty })
        else { return }
        data.warnedNoValidation = true
        print(
            "warning: \(data.name) has no validation split, so the epochs above report test numbers: watch training "
                + "by them, but choosing epochs or settings by them tunes on the test set; hold one out with "
                + "'data \(data.name) val=N'")
    }
}

/// How a teacher is kept from being trained by mistake: a model that was the teacher of a command, or that `load`
/// read from a checkpoint with nothing frozen (a finished model), is protected (`ModelObject.protection`); every
/// command that trains a model refuses a protected one unless given `force=true`, and `unfreeze MODEL` lifts the
/// protection. docs/method.md, "Protecting the teacher".
enum TeacherProtection {
    /// `force=` of the training commands.
    static let force = TypedOption<Bool>.bool(
        "force", default: false, "train the model even if it is protected as a teacher (see 'help unfreeze')")
}
