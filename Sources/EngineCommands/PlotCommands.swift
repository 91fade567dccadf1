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
                summary:
                    "plot training loss, top-1 per epoch (val or test, as measured) of the current data's runs or of "
                    + "a model or run, or the student-teacher gap per stage with the top-1 gap",
                arguments: [
                    PlotOptions.kind.spec,
                    ArgumentSpec(
                        "target", .any,
                        "loss: a model or run (default: the last trained model); acc: a model, a run or a list of "
                            + "them (default: every run on the current data)", optional: true),
                ],
                options: PlotOptions.specs,
                example: "plot gap to=\"gap.png\"", returnsValue: false, changesState: false
            ) { inv, session in
                let spec: PlotSpec
                do { spec = try session.plotSpec(inv) } catch let e as InterpreterError { throw e } catch {
                    throw inv.error("\(error)")
                }
                let o = try PlotOptions(inv)
                let size = [o.width, o.height]
                let gnuplot = session.workspace.gnuplot
                do {
                    if let path = o.file {
                        do { try requireParentFolder(of: path) } catch {
                            throw inv.error("\(error)", at: PlotOptions.file)
                        }
                        let output = try PlotOutput.file(path: path, width: size[0], height: size[1])
                        try gnuplot.render(spec, to: output)
                        session.print("wrote \(path)")
                        session.display("", figure: figureFiles(of: spec, drawnAs: output, gnuplot: gnuplot))
                    } else {
                        // The notebook's image, rendered before the console's text so the two stay together.
                        let png = pngCopy(of: spec, width: max(size[0], 320), height: max(size[1], 200), gnuplot)
                        let terminal = session.options.terminal
                        switch terminal {
                        case "dumb":
                            let text = try gnuplot.render(spec, to: .inline())
                            session.display(text.hasSuffix("\n") ? text : text + "\n", figure: png)
                        case "sixel":
                            session.display(
                                try gnuplot.render(spec, to: .sixel(width: size[0], height: size[1])), figure: png)
                        case _ where PlotOutput.windowTerminals.contains(terminal):
                            try gnuplot.render(spec, to: .window(terminal: terminal))
                            session.display("", figure: png)
                        default:
                            throw inv.error(
                                "set terminal to dumb, sixel, qt, x11 or wxt, or give to=FILE (terminal is "
                                    + "'\(terminal)')"
                            )
                        }
                    }
                } catch let e as InterpreterError { throw e } catch { throw inv.error("\(error)") }
                return .none
            })

        commands.register(
            CommandSpec(
                "export",
                summary: "write the data behind the plots of a run or model (per-step CSV, or the full record as "
                    + "JSON), a model as a PyTorch module (.py), or the session's SSKD recipe as a PyTorch script "
                    + "(export session to=\"FILE.py\", runnable with python or torchrun)",
                arguments: [
                    ArgumentSpec(
                        "target", .valueOrWord, "a run, a model, or the word session (with a .py file)",
                        completion: [.values(["session"]), .boundNames])
                ],
                options: [ExportOption.file.spec],
                example: "export student to=\"student.csv\"", returnsValue: false, changesState: false
            ) { inv, session in
                guard let path = try inv.optional(ExportOption.file) else {
                    throw inv.error("give the file with to=FILE.csv, to=FILE.json or to=FILE.py")
                }
                let url = URL(fileURLWithPath: path)
                var isFolder: ObjCBool = false
                if path.hasSuffix("/")
                    || FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
                        && isFolder.boolValue
                {
                    let folder = path.hasSuffix("/") ? path : path + "/"
                    let example = "to=\"\(folder)NAME.py\" (.csv, .json or .py)"
                    throw inv.error(
                        "\(path) is a folder: give a file name in it, e.g. \(example)", at: ExportOption.file)
                }
                if url.pathExtension.lowercased() == "py" {
                    try session.exportPyTorch(inv, to: path)
                    return .none
                }
                if case .string("session") = inv.value("target") {
                    let given = url.pathExtension.isEmpty ? "a name without extension" : "'.\(url.pathExtension)'"
                    throw inv.error(
                        "export session writes a PyTorch script: give to=FILE.py, not \(given)", at: ExportOption.file)
                }
                let records = try session.records(inv, "target")
                do {
                    try requireParentFolder(of: path)
                    switch url.pathExtension.lowercased() {
                    case "csv":
                        try CSVWriter.write(csvColumns(records), to: url)
                    case "json":
                        let body = "[\n" + (try records.map { try $0.json() }).joined(separator: ",\n") + "\n]\n"
                        try writeAtomically(Data(body.utf8), to: url)
                    default:
                        throw inv.error(
                            "export writes .csv, .json or .py files, not '\(url.pathExtension)'", at: ExportOption.file)
                    }
                } catch let e as InterpreterError { throw e } catch {
                    throw inv.error(ownMessage(error), at: ExportOption.file)
                }
                let steps = counted(records.reduce(0) { $0 + $1.steps.count }, "step")
                session.print("wrote \(steps) of \(counted(records.count, "run")) to \(path)")
                return .none
            })

        registerNotebookCommand()
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
                    + (records.count == 1
                        ? "\(records[0].model) (\(records[0].name))"
                        : "\(records[0].model), \(counted(records.count, "run"))"),
                lossLabel: label)
        case "acc":
            let runs = try accuracyRuns(inv)
            // Runs without a validation split measured their epochs on test: the title, axis and legend say so.
            let splits = Set(runs.map(\.record.validationSplit))
            let curves = runs.map { m, r in
                AccuracyCurve(
                    name: "\(workspace.name(of: m, in: self)) \(r.name)"
                        + (splits.count > 1 ? " (\(r.validationSplit))" : ""),
                    points: r.epochs.compactMap { e in e.top1.map { (Double(e.epoch), $0) } })
            }
            let (title, axis) =
                splits.count > 1
                ? ("Top-1 per epoch (validation or test split, as marked)", "top-1 (%), validation or test")
                : splits.first == "val"
                    ? ("Validation top-1 per epoch", "validation top-1 (%)")
                    : ("Test top-1 per epoch (no validation split; monitoring only)", "test top-1 (%)")
            var spec = PlotSpec.accuracy(
                runs: curves, teacherTop1: workspace.teacher?.testTop1, title: title, yLabel: axis)
            // Half an epoch and a few points of margin: a one-epoch run is a marker inside the frame, not on its
            // border.
            let xs: [Double] = curves.flatMap { $0.points.map(\.x) }
            let ys: [Double] = curves.flatMap { $0.points.map(\.y) } + [workspace.teacher?.testTop1].compactMap { $0 }
            if let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() {
                spec.xRange = (x0 - 0.5)...(x1 + 0.5)
                spec.yRange = (y0 - 2 - (y1 - y0) * 0.05)...(y1 + 2 + (y1 - y0) * 0.05)
            }
            return spec
        default:
            guard let (student, report) = workspace.lastGap else {
                throw inv.error("measure the gap first: gap STUDENT TEACHER")
            }
            // The top-1 gap is one number for the whole student (measured by `gap` after its last stage): drawn
            // across the stages as a flat line, so that each bar can be read against it.
            let stages = report.stages.enumerated().compactMap { k, m -> StageGap? in
                guard let m else { return nil }
                return StageGap(
                    stage: "stage \(k + 1)", before: student.distanceBefore[k] ?? .nan, after: m.distance,
                    top1Gap: report.gap)
            }
            guard !stages.isEmpty else {
                throw inv.error(
                    "no stage of the student can be compared with the teacher's (channel counts differ and no mimic "
                        + "ran)"
                )
            }
            var title = String(
                format: "Student-teacher gap per stage; %@ top-1 gap %.2f points", report.split, report.gap)
            if let b = report.baseline { title += String(format: " (%@: %.2f)", b.name, report.teacherTop1 - b.top1) }
            return PlotSpec.gap(stages: stages, title: title, top1Label: "\(report.split) top-1 gap, final (points)")
        }
    }

    /// The runs `plot acc` draws, each with its model: the runs of the target (a model, a run, or a list of them),
    /// by default every run on the current data (all runs when no data is loaded); only runs that measured top-1.
    /// - Throws: an error at the target for a value that is not a model or run, or when no selected run has top-1.
    func accuracyRuns(_ inv: Invocation) throws -> [(model: ModelObject, record: RunRecord)] {
        let name = "target"
        let all = workspace.runs
        var selected: [(model: ModelObject, record: RunRecord)]
        var what: String
        if inv.has(name) {
            let values: [Value]
            if case .list(let items) = inv.value(name) { values = items } else { values = [inv.value(name)] }
            selected = []
            for value in values {
                switch value {
                case .object(let m as ModelObject):
                    selected += all.filter { $0.model === m }.map { ($0.model, $0.record) }
                case .object(let r as RunObject):
                    selected += r.records.compactMap { record in
                        all.first { $0.record === record }.map { ($0.model, record) }
                    }
                default:
                    throw inv.error("plot acc takes a model, a run or a list of them, got \(value.literal)", at: name)
                }
            }
            what = "the runs named"
        } else if let data = workspace.data {
            selected = all.filter { $0.data === data }.map { ($0.model, $0.record) }
            what = "no run on the current data (\(data.name))"
        } else {
            selected = all.map { ($0.model, $0.record) }
            what = "no run"
        }
        var seen = Set<ObjectIdentifier>()
        selected = selected.filter {
            !$0.record.epochs.compactMap(\.top1).isEmpty && seen.insert(ObjectIdentifier($0.record)).inserted
        }
        guard !selected.isEmpty else {
            if inv.has(name) {
                throw inv.error("\(what) have no top-1 per epoch (train, kd, fitnet, at, sskd measure it)", at: name)
            }
            throw inv.error(
                "\(what) has top-1 per epoch yet (train, kd, fitnet, at, sskd measure it)"
                    + (all.isEmpty || workspace.data == nil ? "" : "; name a model or run: plot acc MODEL"))
        }
        return selected
    }
}

/// The text of an error from the Plotting module for a command other than `plot` (`export`, `notebook`,
/// `--notebook`): without the `plot: ` its messages start with, since the caller names itself.
func ownMessage(_ error: Error) -> String {
    let text = "\(error)"
    return text.hasPrefix("plot: ") ? String(text.dropFirst(6)) : text
}

/// Checks that the folder that will hold `path` exists: writers never create a missing folder (a mistyped folder
/// would otherwise silently receive the file).
/// - Throws: `EngineError` `cannot write out/x.png: folder 'out' does not exist`, or `... /dev/null is not a folder`
///   when a file is in the way; nothing has been written then.
func requireParentFolder(of path: String) throws {
    let folder = (path as NSString).deletingLastPathComponent
    guard !folder.isEmpty else { return }  // the current folder
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else {
        throw EngineError("cannot write \(path): folder '\(folder)' does not exist")
    }
    guard isFolder.boolValue else { throw EngineError("cannot write \(path): \(folder) is not a folder") }
}

/// The files a notebook shows for a plot written to a file as `output`, snapshotted in ``figureFolder`` so a later
/// plot to the same path does not change this one: a PNG is copied; an SVG is copied and followed by a PNG copy
/// rendered from `spec`; a PDF has only the PNG copy (notebooks cannot show PDF). Best effort: empty when
/// nothing could be made.
func figureFiles(of spec: PlotSpec, drawnAs output: PlotOutput, gnuplot: Gnuplot) -> [URL] {
    guard case .file(let url, let format, let width, let height) = output else { return [] }
    var files: [URL] = []
    if format != .pdf, let copy = newFigureURL(format.rawValue),
        (try? FileManager.default.copyItem(at: url, to: copy)) != nil
    {
        files.append(copy)
    }
    if format != .png { files += pngCopy(of: spec, width: width, height: height, gnuplot) }
    return files
}

/// `spec` rendered as a PNG in ``figureFolder`` for notebooks: one file, or none when it cannot be made (no folder,
/// no `pngcairo`).
func pngCopy(of spec: PlotSpec, width: Int, height: Int, _ gnuplot: Gnuplot) -> [URL] {
    guard let url = newFigureURL("png") else { return [] }
    let output = PlotOutput.file(url, format: .png, width: width, height: height)
    return (try? gnuplot.render(spec, to: output)) == nil ? [] : [url]
}

/// One row per step (run, step, epoch, loss, lr) with the epoch's metrics on its last step. The top-1 and loss
/// columns name the split they were measured on: `val_top1`, `val_loss`, or `test_top1`, `test_loss` for runs on
/// data without a validation split (both pairs when the records differ). Numbers as `CSVColumn.number` writes them
/// (a Float32 loss or learning rate in Float's shortest form: `lr` `0.1`).
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
    var split: [String] = []
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
            split.append(r.validationSplit)
        }
    }
    var columns = [
        CSVColumn(name: "run", values: run), CSVColumn(name: "step", values: step),
        CSVColumn(name: "epoch", values: epoch),
        CSVColumn(name: "loss", values: loss), CSVColumn(name: "lr", values: lr),
    ]
    for s in ["val", "test"] where records.contains(where: { $0.validationSplit == s }) {
        let rows = split.map { $0 == s }
        columns.append(CSVColumn(name: "\(s)_top1", values: zip(top1, rows).map { $1 ? $0 : "" }))
        columns.append(CSVColumn(name: "\(s)_loss", values: zip(valLoss, rows).map { $1 ? $0 : "" }))
    }
    columns.append(CSVColumn(name: "feature_distance", values: distance))
    columns.append(CSVColumn(name: "cosine", values: cosine))
    return columns
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
    /// `to=`, a .csv, .json or .py file.
    static let file = TypedOption<String>.path(
        "to", "the file: .csv or .json (run data), .py (a model as a PyTorch module, or the session's script)")
}
