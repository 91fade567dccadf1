import Datasets
import Distillation
import Foundation
import Language
import Networks
import Tensors

// gap, compare, runs: how students, teachers and runs compare.

extension Session {
    func registerCompareCommands() {
        commands.register(
            CommandSpec(
                "gap",
                summary:
                    "compare a student with its teacher: top-1 gap, gap closed, agreement, per-stage feature distance",
                arguments: [
                    ModelArguments.student.spec, ModelArguments.teacher.spec,
                ],
                options: GapOptions.specs,
                example: "gap student teacher baseline=scratch", returnsValue: false
            ) { inv, session in
                let (s, t) = (try inv.get(ModelArguments.student), try inv.get(ModelArguments.teacher))
                let data = try session.workspace.data(inv)
                let split = try inv.get(GapOptions.split)
                var baseline: (String, Double)?
                if let value = try inv.optional(GapOptions.baseline) {
                    switch value {
                    case .object(let m as ModelObject):
                        let e: Evaluation
                        let name = session.workspace.name(of: m, in: session)
                        do {
                            e = try session.withProgress("gap: baseline \(name) on \(split.rawValue)") {
                                try Distillation.evaluate(
                                    m.model, data: data.splits, split: split, cancellation: session.cancellation,
                                    progress: $0)
                            }
                        } catch {
                            throw session.engineError(inv, error, at: GapOptions.baseline.name)
                        }
                        baseline = (name, e.top1)
                    case .object(let r as RunObject):
                        guard let top1 = r.records.last?.lastTop1 else {
                            throw inv.error("the baseline run has no top-1", at: GapOptions.baseline)
                        }
                        baseline = (r.label, top1)
                    case .number(let top1):
                        baseline = ("baseline", top1)
                    default:
                        throw inv.error("baseline must be a model, a run or a top-1 number", at: GapOptions.baseline)
                    }
                }
                try session.checkFits(s, data, inv, at: "student")
                try session.checkFits(t, data, inv, at: "teacher")
                session.warnIfDataDiffers(t, data)
                session.warnIfDataDiffers(s, data)
                let report: GapReport
                do {
                    report = try session.withProgress("gap on \(split.rawValue)") {
                        try GapReport.measure(
                            student: s.model, teacher: t.model, data: data.splits, split: split, baseline: baseline,
                            alignments: s.alignments, cancellation: session.cancellation, progress: $0)
                    }
                } catch { throw session.engineError(inv, error) }
                session.workspace.lastGap = (s, report)
                if split == .test {
                    t.testTop1 = report.teacherTop1
                    s.testTop1 = report.studentTop1
                }
                session.workspace.teacher = t
                session.protectAsTeacher(t, inv)
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
                options: CompareOptions.specs,
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
                let baseline = try inv.optional(CompareOptions.baseline)
                var top1: [ObjectIdentifier: Double] = [:]
                for m in models + [baseline].compactMap({ $0 }) {
                    try session.checkFits(m, data, inv, at: "models")
                    session.warnIfDataDiffers(m, data)
                    let e: Evaluation
                    do {
                        e = try session.withProgress("compare: \(session.workspace.name(of: m, in: session)) on test") {
                            try Distillation.evaluate(
                                m.model, data: data.splits, split: .test, cancellation: session.cancellation,
                                progress: $0)
                        }
                    } catch {
                        throw session.engineError(inv, error)
                    }
                    m.lastEvaluation = e
                    top1[ObjectIdentifier(m)] = e.top1
                }
                let t = top1[ObjectIdentifier(teacher)]!
                let b = baseline.flatMap { top1[ObjectIdentifier($0)] }
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
                session.protectAsTeacher(teacher, inv)
                for m in models { session.hintIfNearChance(m, top1: top1[ObjectIdentifier(m)]!, data) }
                return .none
            })

        commands.register(
            CommandSpec(
                "runs", summary: "list the training runs of this session", example: "runs", recorded: .never,
                returnsValue: false, changesState: false
            ) { _, session in
                let runs = session.workspace.runs
                guard !runs.isEmpty else {
                    session.print("(no runs yet)")
                    return .none
                }
                var rows = [
                    "#\tmodel\trun\tstatus\tepochs\tsteps\tlast loss\tlast top-1\ttime\tcompute\thyper-parameters"
                ]
                for (i, (m, r, _)) in runs.enumerated() {
                    rows.append(
                        [
                            "\(i + 1)", session.workspace.name(of: m, in: session), r.name, r.status.rawValue,
                            "\(r.epochs.count)", "\(r.steps.count)",
                            r.lastLoss.map { String(format: "%.4f", $0) } ?? "-",
                            r.lastTop1.map { String(format: "%.2f%% %@", $0, r.validationSplit) } ?? "-",
                            String(format: "%.1fs", r.seconds), ComputeCost.format(r.compute.total),
                            r.hyperParameterText,
                        ].joined(separator: "\t"))
                }
                session.write(table(rows))
                return .none
            })
    }
}

/// The options of `gap`.
enum GapOptions {
    /// `baseline=`: a model, a run or a top-1 number.
    static let baseline = TypedOption<Value>.value(
        "baseline", "a baseline model or run (e.g. the scratch student) for the share of the gap closed")
    /// `split=`.
    static let split = TypedOption<DataSplits.Split>.choice(
        "split", among: [.test, .val], default: .test, "which split")
    /// The declarations in help order.
    static let specs = [baseline.spec, split.spec, DataOption.data.spec]
}

/// The options of `compare`.
enum CompareOptions {
    /// `baseline=`.
    static let baseline = TypedOption<ModelObject>.object(
        "baseline", "model", "the model whose top-1 is 0% of the gap closed (e.g. the scratch student)")
    /// The declarations in help order.
    static let specs = [baseline.spec, DataOption.data.spec]
}
