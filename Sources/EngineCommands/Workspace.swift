import Datasets
import Distillation
import Foundation
import Language
import Networks
import Plotting
import Storage
import Tensors

/// The engine state of one session: the current data set, every training run, the last gap measured and the
/// gnuplot process. (The figures a notebook embeds are marks in the session's cells, so `reset` keeps them.)
final class Workspace: SessionState {
    /// The data set of the last `data` command (training commands use it unless given `data=`).
    var data: DataObject?
    /// Every training run of the session, in order, with the model it trained and the data it used (what `runs`
    /// lists and `plot acc` draws, by default the runs on the current data).
    var runs: [(model: ModelObject, record: RunRecord, data: DataObject)] = []
    /// The model of the last training command (the default of `plot loss`).
    var lastTrained: ModelObject?
    /// The teacher of the last distillation command or `gap` (its top-1 is the line in `plot acc`).
    var teacher: ModelObject?
    /// The last `gap` report and its student (what `plot gap` draws).
    var lastGap: (student: ModelObject, report: GapReport)?
    /// One gnuplot per session.
    lazy var gnuplot = Gnuplot()

    init() {}

    /// What `reset` wipes besides names and options: the current data and the training runs
    /// (`data fashion-mnist, 3 runs of 2 models`); nil when there are none.
    var summary: String? {
        var parts: [String] = []
        if let data { parts.append("data " + printable(data.name)) }
        if !runs.isEmpty {
            let models = Set(runs.map { ObjectIdentifier($0.model) }).count
            parts.append("\(runs.count) run\(runs.count == 1 ? "" : "s") of \(models) model\(models == 1 ? "" : "s")")
        }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    /// The data a command works on: its `data=` option, else the session's current data set.
    func data(_ inv: Invocation) throws -> DataObject {
        if let data = try inv.optional(DataOption.data) { return data }
        guard let data else { throw inv.error("no data loaded; run 'data fashion-mnist' first") }
        return data
    }

    /// The name reports call a model by: the same in every process (`Session.boundName(of:)`: the name the running
    /// command wrote for it, else the name it was first bound to, else the alphabetically first of its names), else
    /// its architecture when no name is bound to it.
    func name(of object: ModelObject, in session: Session) -> String {
        session.boundName(of: object) ?? object.model.architecture
    }
}
