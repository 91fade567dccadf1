import Datasets
import Foundation
import Networks
import Tensors

/// How far a student is from its teacher: accuracy gap, agreement, and per-stage feature distance.
public struct GapReport {
    /// Test (or chosen split) top-1 of teacher and student, in percent.
    public var teacherTop1: Double, studentTop1: Double
    /// A named baseline run's top-1 (e.g. the scratch student), for the share of the gap closed.
    public var baseline: (name: String, top1: Double)?
    /// Share of the predictions on which student and teacher agree (%).
    public var agreement: Double
    /// Per stage: normalised feature distance and cosine, nil where shapes cannot be compared without an adapter.
    public var stages: [FeatureMetrics?]
    /// Top-1 of the student backbone under the teacher's head, when the feature sizes match.
    public var teacherHeadTop1: Double?
    /// Split measured.
    public var split: String

    /// Teacher minus student top-1, in points.
    public var gap: Double { teacherTop1 - studentTop1 }
    /// (student − baseline) / (teacher − baseline) in percent, when a baseline is given and differs from the teacher.
    public var gapClosed: Double? {
        guard let b = baseline, abs(teacherTop1 - b.top1) > 1e-9 else { return nil }
        return 100 * (studentTop1 - b.top1) / (teacherTop1 - b.top1)
    }

    /// The report as aligned text lines.
    public var text: String {
        var lines = [
            String(
                format: "%@: teacher top-1 %.2f%%  student top-1 %.2f%%  gap %.2f points", split, teacherTop1,
                studentTop1, gap)
        ]
        if let b = baseline {
            lines.append(
                String(format: "baseline %@ top-1 %.2f%%", b.name, b.top1)
                    + (gapClosed.map { String(format: "  gap closed %.1f%%", $0) } ?? ""))
        }
        lines.append(String(format: "prediction agreement %.2f%%", agreement))
        for (k, m) in stages.enumerated() {
            lines.append(
                "stage \(k + 1): "
                    + (m.map { String(format: "feature distance %.4f  cosine %.4f", $0.distance, $0.cosine) }
                        ?? "feature shapes differ (no adapter)"))
        }
        if let t = teacherHeadTop1 { lines.append(String(format: "student backbone + teacher head: top-1 %.2f%%", t)) }
        return lines.joined(separator: "\n")
    }

    /// Measures the gap on `split`. `alignments[k]`, when given, maps student stage k to the teacher's (adapters kept
    /// from mimic runs); otherwise stages whose shapes differ are reported as not comparable.
    /// `cancellation` is polled between batches of every pass (default: never stops). `progress`, when given, is
    /// told the images done after every batch of each pass, named after its task: `TASK: student`,
    /// `TASK: teacher`, `TASK: stage K features`, `TASK: student backbone + teacher head`.
    /// - Throws: `DistillationError` for empty splits or differing class counts, `.interrupted` when
    ///   `cancellation` asks to stop; `TensorError` when data do not fit.
    public static func measure(
        student: Model, teacher: Model, data: DataSplits, split: DataSplits.Split = .test,
        baseline: (name: String, top1: Double)? = nil, alignments: [Int: FeatureAlignment] = [:],
        cancellation: Cancellation = .never, progress: ProgressReporter? = nil
    ) throws -> GapReport {
        func pass(_ what: String) -> ProgressReporter? { progress.map { $0.named("\($0.task): \(what)") } }
        let es = try evaluate(
            student, data: data, split: split, cancellation: cancellation, progress: pass("student"))
        let et = try evaluate(
            teacher, data: data, split: split, cancellation: cancellation, progress: pass("teacher"))
        let agree =
            100 * Double(zip(es.predictions, et.predictions).filter { $0 == $1 }.count) / Double(max(es.count, 1))
        let probe = try data.batches(split, batchSize: 2, shuffle: false).batch(0).images
        var stages: [FeatureMetrics?] = []
        for k in 0..<min(student.stages.count, teacher.stages.count) {
            let (s, t) = try withNoGrad {
                (
                    try student.forward(probe, throughStage: k, training: false).shape,
                    try teacher.forward(probe, throughStage: k, training: false).shape
                )
            }
            let alignment = alignments[k] ?? (s == t ? FeatureAlignment() : nil)
            stages.append(
                try alignment.map {
                    try featureMetrics(
                        student: student, stage: k, teacher: teacher, stage: k, alignment: $0,
                        data: data, split: split, cancellation: cancellation,
                        progress: pass("stage \(k + 1) features"))
                })
        }
        var headTop1: Double?
        let last = student.stages.count - 1
        if let s = try? withNoGrad({ try student.forward(probe, throughStage: last, training: false) }),
            (try? withNoGrad({ try teacher.forwardHead(s, training: false) })) != nil
        {
            var right = 0
            var total = 0
            var meter = PassMeter(pass("student backbone + teacher head"), total: data.dataset(split).count)
            try withNoGrad {
                for batch in try data.batches(split, batchSize: evaluationBatchSize, shuffle: false) {
                    try cancellation.check()
                    let f = try student.forward(batch.images, throughStage: last, training: false)
                    let p = try teacher.forwardHead(f, training: false).argmax(axis: 1)
                    right += zip(p, batch.labels).filter { $0 == $1 }.count
                    total += batch.labels.count
                    meter.add(batch.labels.count)
                }
            }
            headTop1 = 100 * Double(right) / Double(max(total, 1))
        }
        return GapReport(
            teacherTop1: et.top1, studentTop1: es.top1, baseline: baseline, agreement: agree, stages: stages,
            teacherHeadTop1: headTop1, split: split.rawValue)
    }
}
