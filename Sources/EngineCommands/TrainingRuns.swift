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
        let (s, t) = (try inv.get(ModelArguments.student), try inv.get(ModelArguments.teacher))
        guard s !== t else { throw inv.error("student and teacher are the same model", at: "teacher") }
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
}
