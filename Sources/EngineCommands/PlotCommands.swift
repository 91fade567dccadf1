import Distillation
import Foundation
import Language
import Networks
import Plotting
import Storage

// plot, export, notebook.

extension Session {
    func registerPlotCommands() {
        commands.register(
            CommandSpec(
                "plot",
                summary: "plot training loss, validation top-1 of every run, or the student-teacher gap per stage",
                arguments: [
                    PlotOptions.kind.spec,
                    ArgumentSpec(
                        "target", .any, "loss: a model or run (default: the last trained model)", optional: true),
                ],
                options: PlotOptions.specs,
                example: "plot gap to=\"gap.png\"", returnsValue: false
            ) { inv, session in
                let spec: PlotSpec
                do { spec = try session.plotSpec(inv) } catch let e as InterpreterError { throw e } catch {
                    throw inv.error("\(error)")
                }
                let o = try PlotOptions(inv)
                let size = [o.width, o.height]
                let cell = session.cells.count
                let gnuplot = session.workspace.gnuplot
                do {
                    var images: [URL] = []
                    if let path = o.file {
                        try createParentFolder(of: path)
                        try gnuplot.render(spec, to: try PlotOutput.file(path: path, width: size[0], height: size[1]))
                        session.print("wrote \(path)")
                        images.append(URL(fileURLWithPath: path))
                    } else {
                        let terminal = session.options.terminal
                        switch terminal {
                        case "dumb":
                            let text = try gnuplot.render(spec, to: .inline())
                            session.write(text.hasSuffix("\n") ? text : text + "\n")
                        case "sixel":
                            session.output.write(try gnuplot.render(spec, to: .sixel(width: size[0], height: size[1])))
                        case _ where PlotOutput.windowTerminals.contains(terminal):
                            try gnuplot.render(spec, to: .window(terminal: terminal))
                        default:
                            throw inv.error(
                                "set terminal to dumb, sixel, qt, x11 or wxt, or give to=FILE (terminal is "
                                    + "'\(terminal)')"
                            )
                        }
                        // A PNG copy for the notebook of the session; best effort (an unwritable `out` only loses the
                        // copy).
                        let dir = URL(fileURLWithPath: session.options.out).appendingPathComponent("plots")
                        let url = dir.appendingPathComponent("cell-\(cell)-\(o.kind).png")
                        let png = PlotOutput.file(
                            url, format: .png, width: max(size[0], 320), height: max(size[1], 200))
                        if (try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true))
                            != nil,
                            (try? gnuplot.render(spec, to: png)) != nil
                        {
                            images.append(url)
                        }
                    }
                    session.workspace.images[cell, default: []] += images
                } catch let e as InterpreterError { throw e } catch { throw inv.error("\(error)") }
                return .none
            })

        commands.register(
            CommandSpec(
                "export",
                summary: "write the data behind the plots of a run or model: per-step CSV, or the full record as JSON",
                arguments: [ArgumentSpec("target", .any, "a run or a model")],
                options: [ExportOption.file.spec],
                example: "export student to=\"out/student.csv\"", returnsValue: false
            ) { inv, session in
                let records = try session.records(inv, "target")
                guard let path = try inv.optional(ExportOption.file) else {
                    throw inv.error("give the file with to=FILE.csv or to=FILE.json")
                }
                let url = URL(fileURLWithPath: path)
                do {
                    try createParentFolder(of: path)
                    switch url.pathExtension.lowercased() {
                    case "csv":
                        try CSVWriter.write(csvColumns(records), to: url)
                    case "json":
                        let body = "[\n" + (try records.map { try $0.json() }).joined(separator: ",\n") + "\n]\n"
                        try writeAtomically(Data(body.utf8), to: url)
                    default:
                        throw inv.error(
                            "export writes .csv or .json files, not '\(url.pathExtension)'", at: ExportOption.file)
                    }
                } catch let e as InterpreterError { throw e } catch {
                    throw inv.error(ownMessage(error), at: ExportOption.file)
                }
                let steps = counted(records.reduce(0) { $0 + $1.steps.count }, "step")
                session.print("wrote \(steps) of \(counted(records.count, "run")) to \(path)")
                return .none
            })

        commands.register(
            CommandSpec(
                "notebook",
                summary: "write this session as a Markdown notebook: each command a cell, its output, its plots",
                arguments: [
                    ArgumentSpec("action", .word(choices: ["save"]), "what to do"),
                    NotebookArgument.file.spec,
                ],
                example: "notebook save out/session.md", recorded: .never, returnsValue: false
            ) { inv, session in
                let path = try inv.get(NotebookArgument.file)
                // `cannot write FILE: ...`
                do { try session.writeNotebook(to: path) } catch { throw inv.error("\(error)", at: "file") }
                session.print("wrote \(path)")
                return .none
            })
    }

    /// Writes every cell so far (source, output, error, plot images) as a Markdown notebook.
    /// - Throws: an error naming the file (`cannot write FILE: reason`) when a file cannot be written.
    public func writeNotebook(to path: String) throws {
        do { try writeNotebookCells(to: path) } catch { throw EngineError(ownMessage(error)) }
    }

    private func writeNotebookCells(to path: String) throws {
        let cells = self.cells.map { c in
            NotebookCell(
                number: c.number, source: c.source,
                output: c.output + (c.error.map { "\($0)\n" } ?? ""), images: workspace.images[c.number] ?? [])
        }
        try createParentFolder(of: path)
        try NotebookWriter(path: path).write(cells: cells, title: "sskd session")
    }

    /// The run records an argument names: a run, a model (all its runs), or by default the last trained model's.
    func records(_ inv: Invocation, _ name: String) throws -> [RunRecord] {
        let records: [RunRecord]
        switch inv.has(name) ? inv.value(name) : .none {
        case .object(let r as RunObject): records = r.records
        case .object(let m as ModelObject): records = m.records
        case .none: records = workspace.lastTrained?.records ?? []
        default: throw inv.error("expected a run or a model, got \(inv.value(name).literal)", at: name)
        }
        guard !records.isEmpty else { throw inv.error("no training runs to show yet", at: inv.has(name) ? name : nil) }
        return records
    }

    func plotSpec(_ inv: Invocation) throws -> PlotSpec {
        switch try inv.get(PlotOptions.kind) {
        case "loss":
            let records = try records(inv, "target")
            var offset = 0
            let curves = records.map { r -> LossCurve in
                defer { offset += r.steps.count }
                let steps = r.steps.map { (Double(offset + $0.step), $0.loss) }
                let ends = Dictionary(r.steps.map { ($0.epoch, $0.step) }, uniquingKeysWith: max)
                let epochs = r.epochs.compactMap { e in ends[e.epoch].map { (Double(offset + $0), e.trainLoss) } }
                return LossCurve(name: r.name, steps: steps, epochs: epochs)
            }
            let mixed = Set(records.map { $0.method == "mimic" || $0.method == "hint" }).count > 1
            let label =
                mixed
                ? "loss (feature MSE, then cross-entropy)"
                : records[0].method == "mimic" ? "feature MSE" : "loss (nats)"
            return try PlotSpec.loss(
                stages: curves,
                title: "Training loss: "
                    + (records.count == 1 ? records[0].name : "\(records[0].model), \(counted(records.count, "run"))"),
                lossLabel: label)
        case "acc":
            let runs = workspace.runs.filter { !$0.record.epochs.compactMap(\.top1).isEmpty }
            guard !runs.isEmpty else {
                throw inv.error("no run has validation accuracy yet (train, kd, fitnet, at, sskd do)")
            }
            // Runs without a validation split measured their epochs on test: the title and legend say so.
            let splits = Set(runs.map(\.record.validationSplit))
            let curves = runs.map { m, r in
                AccuracyCurve(
                    name: "\(workspace.name(of: m, in: self)) \(r.name)"
                        + (splits.count > 1 ? " (\(r.validationSplit))" : ""),
                    points: r.epochs.compactMap { e in e.top1.map { (Double(e.epoch), $0) } })
            }
            let title =
                splits.count > 1
                ? "Top-1 per epoch (validation or test split, as marked)"
                : splits.first == "val"
                    ? "Validation top-1 per epoch" : "Test top-1 per epoch (no validation split; monitoring only)"
            var spec = PlotSpec.accuracy(runs: curves, teacherTop1: workspace.teacher?.testTop1, title: title)
            // Half an epoch and a few points of margin: a one-epoch run is a marker inside the frame, not on its
            // border.
            let xs = curves.flatMap { $0.points.map(\.x) }
            let ys = curves.flatMap { $0.points.map(\.y) } + [workspace.teacher?.testTop1].compactMap { $0 }
            if let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() {
                spec.xRange = (x0 - 0.5)...(x1 + 0.5)
                spec.yRange = (y0 - 2 - (y1 - y0) * 0.05)...(y1 + 2 + (y1 - y0) * 0.05)
            }
            return spec
        default:
            guard let (student, report) = workspace.lastGap else {
                throw inv.error("measure the gap first: gap STUDENT TEACHER")
            }
            let stages = report.stages.enumerated().compactMap { k, m -> StageGap? in
                guard let m else { return nil }
                return StageGap(stage: "stage \(k + 1)", before: student.distanceBefore[k] ?? .nan, after: m.distance)
            }
            guard !stages.isEmpty else {
                throw inv.error(
                    "no stage of the student can be compared with the teacher's (channel counts differ and no mimic "
                        + "ran)"
                )
            }
            var title = String(format: "Student-teacher gap per stage; top-1 gap %.2f points", report.gap)
            if let b = report.baseline { title += String(format: " (%@: %.2f)", b.name, report.teacherTop1 - b.top1) }
            return PlotSpec.gap(stages: stages, title: title)
        }
    }
}

/// The text of an error from the Plotting module for a command other than `plot` (`export`, `notebook`,
/// `--notebook`): without the `plot: ` its messages start with, since the caller names itself.
func ownMessage(_ error: Error) -> String {
    let text = "\(error)"
    return text.hasPrefix("plot: ") ? String(text.dropFirst(6)) : text
}

/// Creates the folder that will hold `path`, if it is missing.
/// - Throws: `EngineError` naming the path when something that is not a folder is in the way or the folder
///   cannot be created.
func createParentFolder(of path: String) throws {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder) {
        guard isFolder.boolValue else { throw EngineError("cannot write \(path): \(folder.path) is not a folder") }
        return
    }
    do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
        throw EngineError("cannot write \(path): cannot create the folder \(folder.path)")
    }
}

/// One row per step (run, step, epoch, loss, lr) with the epoch's metrics on its last step; numbers as
/// `CSVColumn.number` writes them (a Float32 loss or learning rate in Float's shortest form: `lr` `0.1`).
func csvColumns(_ records: [RunRecord]) -> [CSVColumn] {
    var run: [String] = []
    var step: [String] = []
    var epoch: [String] = []
    var loss: [String] = []
    var lr: [String] = []
    var top1: [String] = []
    var valLoss: [String] = []
    var distance: [String] = []
    var cosine: [String] = []
    for r in records {
        let ends = Dictionary(r.steps.map { ($0.epoch, $0.step) }, uniquingKeysWith: max)
        let byEpoch = Dictionary(r.epochs.map { ($0.epoch, $0) }, uniquingKeysWith: { a, _ in a })
        for s in r.steps {
            run.append(r.name)
            step.append(String(s.step))
            epoch.append(String(s.epoch))
            loss.append(CSVColumn.number(s.loss))
            lr.append(CSVColumn.number(s.learningRate))
            let e = ends[s.epoch] == s.step ? byEpoch[s.epoch] : nil
            top1.append(e?.top1.map(CSVColumn.number) ?? "")
            valLoss.append(e?.valLoss.map(CSVColumn.number) ?? "")
            distance.append(e?.featureDistance.map(CSVColumn.number) ?? "")
            cosine.append(e?.cosine.map(CSVColumn.number) ?? "")
        }
    }
    return [
        CSVColumn(name: "run", values: run), CSVColumn(name: "step", values: step),
        CSVColumn(name: "epoch", values: epoch),
        CSVColumn(name: "loss", values: loss), CSVColumn(name: "lr", values: lr),
        CSVColumn(name: "val_top1", values: top1),
        CSVColumn(name: "val_loss", values: valLoss), CSVColumn(name: "feature_distance", values: distance),
        CSVColumn(name: "cosine", values: cosine),
    ]
}

/// The kind argument and the options of `plot`, each declared once and read once per call.
struct PlotOptions {
    /// `KIND`: loss, acc or gap.
    static let kind = TypedArgument<String>.text("kind", .word(choices: ["loss", "acc", "gap"]), "what to plot")
    /// `to=`.
    static let file = TypedOption<String>.path(
        "to", "write an image file (.png, .svg, .pdf) instead of drawing in the console")
    /// `size=`: `WIDTHxHEIGHT`, each side within `Limits.plotSide`.
    static let size = TypedOption<String>.string(
        "size", default: "800x500", each: .range(Limits.plotSide), "image size in pixels, WIDTHxHEIGHT")
    /// The option declarations in help order.
    static let specs = [file.spec, size.spec]

    /// What to plot.
    let kind: String
    /// The image file, nil to draw on the session's terminal.
    let file: String?
    /// Image width in pixels.
    let width: Int
    /// Image height in pixels.
    let height: Int

    /// Reads the argument and options of `inv`.
    /// - Throws: an error at `size` unless it is two whole numbers `WxH` within the declared bound of each.
    init(_ inv: Invocation) throws {
        kind = try inv.get(Self.kind)
        file = try inv.optional(Self.file)
        let sides = try inv.get(Self.size).split(separator: "x").compactMap { Int($0) }
        let each = Self.size.spec.each
        guard sides.count == 2, sides.allSatisfy({ each?.contains(Double($0)) ?? true }) else {
            let side = Limits.plotSide
            throw inv.error(
                "size must be \"WIDTHxHEIGHT\" in pixels, each \(side.lowerBound)...\(side.upperBound), e.g. "
                    + "size=\(Self.size.spec.defaultValue?.literal ?? "")", at: Self.size)
        }
        (width, height) = (sides[0], sides[1])
    }
}

/// `export TARGET to=FILE`.
enum ExportOption {
    /// `to=`, a .csv or .json file.
    static let file = TypedOption<String>.path("to", "the file: .csv or .json")
}

/// `notebook save FILE`.
enum NotebookArgument {
    /// `FILE`, the Markdown file.
    static let file = TypedArgument<String>.text("file", .path, "the .md file (images go to FILE_files/)")
}
