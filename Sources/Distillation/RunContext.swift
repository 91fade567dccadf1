/// How a long loop learns that its caller asked it to stop (Ctrl-C, a termination signal): a check the caller
/// supplies, polled between batches by the training loop, evaluation, prediction, feature metrics, the gap
/// report and the building of feature caches.
public struct Cancellation {
    /// True once the caller asks to stop; read once per batch, so it must be cheap (a flag read).
    public let isRequested: () -> Bool

    /// A cancellation that asks to stop when `isRequested` returns true.
    public init(_ isRequested: @escaping () -> Bool) { self.isRequested = isRequested }

    /// Never asks to stop (library callers and tests without a Ctrl-C handler).
    public static let never = Cancellation { false }

    /// Throws `DistillationError.interrupted` when a stop was requested.
    public func check() throws { if isRequested() { throw DistillationError.interrupted } }
}

/// What a training call needs from its caller besides models, data and hyper-parameters: where its events go,
/// how it learns to stop, and the names its `RunRecord` carries.
public struct RunContext {
    /// Receives batch progress, epoch results and early ends (`TrainingObserver`).
    public var observer: TrainingObserver
    /// Polled after every training batch and between evaluation batches; a stop after a training batch ends the
    /// run as `.interrupted` with its models consistent, one during an evaluation throws
    /// `DistillationError.interrupted`.
    public var cancellation: Cancellation
    /// The command text that started the run (`RunRecord.command`).
    public var command: String
    /// The trained model as the user knows it: its bound name, else its architecture (`RunRecord.model`); also
    /// what `DistillationError.nothingToTrain` names for whole-model methods.
    public var modelName: String
    /// The record's name (`RunRecord.name`); nil gives the method's own (`kd`, `mimic stage 2`, `head`).
    public var runName: String?

    /// A context; `cancellation` defaults to never stopping.
    public init(
        observer: TrainingObserver, cancellation: Cancellation = .never, command: String, modelName: String,
        runName: String? = nil
    ) {
        self.observer = observer
        self.cancellation = cancellation
        self.command = command
        self.modelName = modelName
        self.runName = runName
    }

    /// The same context with the record named `runName` (nil: the method's own name), for methods that run
    /// others (FitNets' hint stage, SSKD's fine-tuning).
    public func named(_ runName: String?) -> RunContext {
        var c = self
        c.runName = runName
        return c
    }
}
