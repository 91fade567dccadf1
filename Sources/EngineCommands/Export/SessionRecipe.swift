import Datasets
import Distillation
import Foundation
import Language
import Networks
import Storage

/// What `export session` writes into its script's `RECIPE`: the SSKD recipe of the session's student, read off the
/// workspace's run records (`RunRecord.hyperParameters`), with its data, teacher and baselines.
///
/// The student is the last model trained with `mimic`, `sskd` or `train MODEL.head`; its runs (mimic, head, the
/// KD fine-tuning `finetune`, `kd`) are kept in session order with their hyper-parameters (`batch`, `lr`,
/// `optimizer`, `momentum`, `wd`, `schedule`, `epochs` or `steps`, `seed`, and `teacher_stage`, `pool`,
/// `from_teacher`, `T`, `alpha`). The baselines are the other models trained from scratch (`train`) or with `kd`
/// on the same data.
struct SessionRecipe {
    /// The whole recipe as the script's `RECIPE` dict.
    let literal: PythonLiteral
    /// The teacher's checkpoint the script loads, and whether `export` must write it (a teacher without a file, or
    /// trained in the session after it was loaded, so that its file no longer holds its weights).
    let teacherFile: String
    let teacherToWrite: ModelObject?
    /// What `export` warns about, one line each without the `warning: ` (a teacher trained again after the student
    /// first learned from it).
    let warnings: [String]
    /// The student's binding name.
    let studentName: String
    /// How many runs of the student and how many baselines the recipe holds, for the command's report.
    let runCount: Int, baselineCount: Int

    /// Reads the recipe of `session`.
    /// - Parameter script: the script's path (a teacher without a file is written beside it).
    /// - Throws: `EngineError` when no model has SSKD runs, when the student has no teacher, or for an
    ///   architecture the export does not cover.
    init(_ session: Session, script: String) throws {
        let workspace = session.workspace
        let sskdMethods: Set<String> = ["mimic", "head"]
        guard let last = workspace.runs.last(where: { sskdMethods.contains($0.record.method) }) else {
            throw EngineError(
                "no SSKD run in this session to export: run mimic, sskd or train MODEL.head first "
                    + "(export MODEL to=\"FILE.py\" exports one model)")
        }
        let student = last.model
        guard let teacher = student.mimicTeacher ?? workspace.teacher else {
            throw EngineError("the student \(workspace.name(of: student, in: session)) has no teacher to export")
        }
        let data = last.data
        let runs = workspace.runs.filter { $0.model === student && $0.data === data }
        studentName = workspace.name(of: student, in: session)
        // The teacher's weights the student learned from are those it had at the student's first run: runs of the
        // teacher before it make its file stale, runs after it change what the script would load.
        let recipeMethods: Set<String> = ["mimic", "head", "finetune", "kd"]
        let first =
            workspace.runs.firstIndex {
                $0.model === student && $0.data === data && recipeMethods.contains($0.record.method)
            } ?? workspace.runs.count
        let trainedBefore = workspace.runs[..<first].contains { $0.model === teacher }
        let trainedAfter = workspace.runs[first...].filter { $0.model === teacher }.map(\.record)
        let teacherName = workspace.name(of: teacher, in: session)
        if let file = teacher.file, !trainedBefore {
            teacherFile = Self.absolute(file)
            teacherToWrite = nil
        } else {
            let stem = (script as NSString).deletingPathExtension
            teacherFile = Self.absolute(stem + "-teacher.safetensors")
            teacherToWrite = teacher
        }
        if let retrained = trainedAfter.first {
            let weights =
                teacherToWrite == nil
                ? "loads \(teacherFile), the checkpoint \(teacherName) was loaded from: check that it was not saved "
                    + "over since"
                : "writes \(teacherName)'s current weights to \(teacherFile), not those \(studentName) distilled from"
            let command = printable(retrained.command, limit: 200)
            warnings = [
                "the teacher \(teacherName) was trained after \(studentName) first learned from it "
                    + "(\(counted(trainedAfter.count, "run")) from '\(command)'): the script \(weights); "
                    + "give it --teacher FILE with the teacher's weights of the distillation"
            ]
        } else {
            warnings = []
        }
        let facts = DataFacts(data)
        let size = Array(facts.shape?.dropFirst() ?? [])
        func spec(_ object: ModelObject) throws -> [(String, PythonLiteral)] {
            [
                ("architecture", .string(object.model.architecture)),
                ("config", try PyTorchArchitecture(object.model, inputSize: size).config),
                ("stages", .strings(object.model.stages.map(\.name))),
            ]
        }
        let studentRuns = runs.map(\.record).filter { ["mimic", "head", "finetune", "kd"].contains($0.method) }
        var baselines: [PythonLiteral] = []
        let others = workspace.runs.filter {
            $0.model !== student && $0.model !== teacher && $0.data === data
                && ["scratch", "kd"].contains($0.record.method)
        }
        var seen: [ObjectIdentifier] = []
        for run in others where !seen.contains(ObjectIdentifier(run.model)) {
            seen.append(ObjectIdentifier(run.model))
            let records = others.filter { $0.model === run.model }.map(\.record)
            baselines.append(
                .dict(
                    [("name", .string(workspace.name(of: run.model, in: session)))] + (try spec(run.model))
                        + [("runs", .list(records.map(Self.run)))]))
        }
        runCount = studentRuns.count
        baselineCount = baselines.count
        literal = .dict([
            ("sskd_version", .string(Session.version)),
            ("data", Self.data(data, facts)),
            ("teacher", .dict([("file", .string(teacherFile))] + (try spec(teacher)))),
            (
                "student",
                .dict(
                    [("name", .string(studentName))] + (try spec(student)) + [
                        ("runs", .list(studentRuns.map(Self.run)))
                    ])
            ),
            ("baselines", .list(baselines)),
            ("out", .string(studentName + ".safetensors")),
        ])
    }

    /// `path` made absolute against the current folder, so the script runs from anywhere.
    static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    /// The data entry: reader, files, subset sizes, split, seed, normalisation, augmentation, input shape, classes.
    static func data(_ data: DataObject, _ facts: DataFacts) -> PythonLiteral {
        let s = data.splits
        let lower = data.name.lowercased()
        let kind: String
        if DatasetLoader.standardNames.contains(lower) || lower == "fashion" {
            kind = lower == "fashion" ? "fashion-mnist" : lower
        } else {
            kind = lower.hasSuffix(".npz") ? "npz" : "imagefolder"
        }
        let name = kind == "npz" || kind == "imagefolder" ? absolute(data.name) : data.name
        return .dict([
            ("name", .string(name)), ("kind", .string(kind)),
            ("path", data.path.map { .string(absolute($0)) } ?? .none),
            ("train", .int(s.train.count)), ("val", .int(s.val.count)), ("test", .int(s.test.count)),
            ("seed", .int(Int(truncatingIfNeeded: s.seed))), ("normalize", .string(s.normalizationName)),
            ("mean", .doubles(s.mean.map(Double.init))), ("std", .doubles(s.std.map(Double.init))),
            ("augment", .list([.int(s.augmentation.cropPadding), .bool(s.augmentation.horizontalFlip)])),
            ("input_shape", .ints(s.train.imageShape)), ("class_names", .strings(s.train.classNames)),
        ])
    }

    /// One run: its method, name, 1-based stages and the hyper-parameters its record holds, as numbers.
    static func run(_ r: RunRecord) -> PythonLiteral {
        let hp = r.hyperParameters
        var items: [(String, PythonLiteral)] = [
            ("method", .string(r.method)), ("name", .string(r.name)), ("command", .string(r.command)),
        ]
        if let k = r.stage { items.append(("stage", .int(k + 1))) }
        for key in ["teacher_stage", "batch", "epochs", "steps"] {
            if let v = hp[key].flatMap({ Int($0) }) { items.append((key, .int(v))) }
        }
        for key in ["lr", "momentum", "wd", "T", "alpha"] {
            if let v = hp[key].flatMap({ Double($0) }) { items.append((key, .double(v))) }
        }
        items.append(("optimizer", .string(hp["optimizer"] ?? "sgd")))
        items.append(("schedule", .string(hp["schedule"] ?? "constant")))
        items.append(("seed", .int(Int(truncatingIfNeeded: r.seed))))
        if hp["pool"] != nil { items.append(("pool", .bool(true))) }
        if hp["from_teacher"] == "true" { items.append(("from_teacher", .bool(true))) }
        return .dict(items)
    }
}
