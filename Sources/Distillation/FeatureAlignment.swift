import Datasets
import Foundation
import Networks
import Tensors

/// A learned map from student channels to teacher channels: 1x1 convolution (no bias) + BatchNorm,
/// `[N, Cs, H, W]` → `[N, Ct, H, W]`, the FitNets regressor / SSKD adapter (Romero et al. 2015; Gao et al. 2018).
/// Parameter names `conv.weight`, `bn.weight`, `bn.bias`; buffers `bn.running_mean`, `bn.running_var`.
public final class Adapter: Layer {
    public let conv: Conv2d
    public let bn: BatchNorm

    /// - Precondition: positive channel counts (callers take them from real feature maps).
    public init(from studentChannels: Int, to teacherChannels: Int, seed: UInt64) {
        var initializer = WeightInit(seed: seed)
        conv = Conv2d(studentChannels, teacherChannels, kernel: 1, initializer: &initializer)
        bn = BatchNorm(teacherChannels)
    }

    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        try bn(try conv(x, training: training), training: training)
    }
    public var children: [(String, Layer)] { [("conv", conv), ("bn", bn)] }
    public func profile(_ input: [Int]) throws -> LayerProfile {
        let a = try conv.profile(input)
        let b = try bn.profile(a.output)
        return LayerProfile(output: b.output, macs: a.macs + b.macs)
    }
}

/// How a student feature map is brought to the teacher's shape before the L2 loss:
/// an optional channel `adapter`, then (when asked) adaptive average pooling of the larger map to the smaller size.
public struct FeatureAlignment {
    /// Channel map, present when channel counts differ.
    public var adapter: Adapter?
    /// Output size both maps are pooled to, when their spatial sizes differ and pooling was asked for.
    public var poolTo: (h: Int, w: Int)?

    /// Plans the alignment of a student feature of shape `student` with a teacher feature of shape `teacher`
    /// (both `[N, C, H, W]`, or `[N, F]` for MLPs): `existing` when its channels fit (even if the counts are
    /// equal), else a new adapter when the channel counts differ, else the identity.
    /// - Throws: `DistillationError.spatialMismatch` when sizes differ and `pool` is false;
    ///   `.incompatible` for ranks that cannot be compared.
    public static func plan(student: [Int], teacher: [Int], stage: Int, pool: Bool, existing: Adapter?, seed: UInt64)
        throws -> FeatureAlignment
    {
        guard student.count == teacher.count, student.count == 4 || student.count == 2 else {
            throw DistillationError.incompatible(
                "stage \(stage + 1): student feature \(formatShape(student)) and teacher feature "
                    + "\(formatShape(teacher)) cannot be compared"
            )
        }
        var plan = FeatureAlignment()
        if let existing, student.count == 4, existing.conv.weight.shape == [teacher[1], student[1], 1, 1] {
            plan.adapter = existing  // kept from an earlier run, or a FitNets regressor (used even when channels match)
        } else if student[1] != teacher[1] {
            guard student.count == 4 else {
                throw DistillationError.incompatible(
                    "stage \(stage + 1): student has \(student[1]) features, teacher \(teacher[1]); adapters need [N, "
                        + "C, H, W] maps"
                )
            }
            plan.adapter = Adapter(from: student[1], to: teacher[1], seed: seed)
        }
        if student.count == 4 && student[2...] != teacher[2...] {
            guard pool else {
                throw DistillationError.spatialMismatch(student: student, teacher: teacher, stage: stage)
            }
            plan.poolTo = (min(student[2], teacher[2]), min(student[3], teacher[3]))
        }
        return plan
    }

    /// The student map through the adapter and pooling.
    public func student(_ s: Tensor, training: Bool) throws -> Tensor {
        var y = s
        if let adapter { y = try adapter(y, training: training) }
        if let p = poolTo, y.shape[2] != p.h || y.shape[3] != p.w { y = try y.adaptiveAvgPool2d(p.h, p.w) }
        return y
    }

    /// The teacher map through pooling.
    public func teacher(_ t: Tensor) throws -> Tensor {
        guard let p = poolTo, t.shape[2] != p.h || t.shape[3] != p.w else { return t }
        return try t.adaptiveAvgPool2d(p.h, p.w)
    }

    /// Parameters to train and state to guard of the adapter.
    var parameters: [Tensor] { adapter?.namedParameters().map(\.1) ?? [] }
    var state: [Tensor] { adapter?.stateDict().map(\.1) ?? [] }
}

/// Normalised feature distance and cosine similarity between student and teacher at one stage.
public struct FeatureMetrics: Equatable {
    /// MSE(student, teacher) / Var(teacher): 0 is a perfect copy, about 1 is as far as the teacher's mean.
    public var distance: Double
    /// Mean over images of the cosine between flattened student and teacher maps.
    public var cosine: Double
}

/// Accumulates `FeatureMetrics` over batches of aligned student and teacher maps (same shape `[n, ...]`).
struct FeatureDistance {
    private var sq = 0.0, sumT = 0.0, sumT2 = 0.0, elements = 0, cosSum = 0.0
    /// Images added so far.
    private(set) var images = 0

    /// Adds one batch.
    /// - Throws: `DistillationError.incompatible` when the shapes differ.
    mutating func add(student fs: Tensor, teacher ft: Tensor, stage: Int) throws {
        guard fs.shape == ft.shape else {
            throw DistillationError.incompatible(
                "stage \(stage + 1): aligned student \(formatShape(fs.shape)) vs teacher \(formatShape(ft.shape))")
        }
        let n = fs.shape[0]
        let per = fs.count / max(n, 1)
        let a = fs.data
        let b = ft.data
        for i in 0..<n {
            var dot = 0.0
            var ns = 0.0
            var nt = 0.0
            for j in (i * per)..<((i + 1) * per) {
                let x = Double(a[j])
                let y = Double(b[j])
                sq += (x - y) * (x - y)
                sumT += y
                sumT2 += y * y
                dot += x * y
                ns += x * x
                nt += y * y
            }
            cosSum += dot / max((ns * nt).squareRoot(), 1e-12)
        }
        elements += fs.count
        images += n
    }

    /// The metrics of everything added (distance MSE/Var(teacher), mean cosine).
    var result: FeatureMetrics {
        let mean = sumT / Double(max(elements, 1))
        let variance = max(sumT2 / Double(max(elements, 1)) - mean * mean, 1e-12)
        return FeatureMetrics(
            distance: sq / Double(max(elements, 1)) / variance, cosine: cosSum / Double(max(images, 1)))
    }
}

/// Measures `FeatureMetrics` for student stage `s` against teacher stage `t` on `split`, in eval mode without
/// gradients, on the split's first `limit` images (rounded up to whole batches) or all of them.
/// `cancellation` is polled between batches (default: never stops); `progress` is told the images done after every
/// batch (default: nobody).
/// - Throws: `DistillationError.emptySplit`, `.interrupted` when `cancellation` asks to stop, alignment errors,
///   `TensorError` when data do not fit.
public func featureMetrics(
    student: Model, stage s: Int, teacher: Model, stage t: Int, alignment: FeatureAlignment,
    data: DataSplits, split: DataSplits.Split, batchSize: Int = evaluationBatchSize, limit: Int? = nil,
    cancellation: Cancellation = .never, progress: ProgressReporter? = nil
) throws -> FeatureMetrics {
    let count = data.dataset(split).count
    guard count > 0 else { throw DistillationError.emptySplit(split.rawValue) }
    var acc = FeatureDistance()
    var meter = PassMeter(progress, total: limit.map { min($0, count) } ?? count)
    try withNoGrad {
        for batch in try data.batches(split, batchSize: batchSize, shuffle: false) {
            if let limit, acc.images >= limit { break }
            try cancellation.check()
            let fs = try alignment.student(
                try student.forward(batch.images, throughStage: s, training: false), training: false)
            let ft = try alignment.teacher(try teacher.forward(batch.images, throughStage: t, training: false))
            try acc.add(student: fs, teacher: ft, stage: s)
            meter.add(batch.indices.count)
        }
    }
    return acc.result
}
