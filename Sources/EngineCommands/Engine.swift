import Distillation
import Foundation
import Language
import Tensors

// How the engine joins a language session: its commands, its `show data`, its `threads`, its cancellation.

extension Session {
    /// A session with the language's generic commands and every engine command (`standard(output:)`, then
    /// `installEngine()`): what `sskd` runs.
    public static func withEngine(output: OutputSink = StandardOutputSink()) -> Session {
        let session = standard(output: output)
        session.installEngine()
        return session
    }

    /// Adds the engine to this session: the session options `batch` and `lr` (`TrainingConfig`'s defaults); the
    /// commands for data, models, training, distillation, prediction and plots; `show data`; the session option
    /// `threads` passed to the tensor library; Ctrl-C and SIGTERM stopping reads in the data readers.
    public func installEngine() {
        declareTrainingOptions()
        options.onChange("threads") {
            Parallel.threads = ($0.integer ?? 0) == 0 ? ProcessInfo.processInfo.activeProcessorCount : $0.integer!
        }
        showTopics["data"] = { session in
            guard let data = session.workspace.data else { throw EngineError("no data yet: load some with data NAME") }
            return data.detail(session.workspace)
        }
        registerDataCommand()
        registerModelCommands()
        registerPredictCommand()
        registerMimicCommands()
        registerTrainCommand()
        registerBaselineCommands()
        registerCompareCommands()
        registerPlotCommands()
    }

    /// The engine state of this session (dropped by `reset`).
    var workspace: Workspace { state(Workspace.self) }
}
