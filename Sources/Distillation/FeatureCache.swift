import Datasets
import Foundation
import Tensors

/// Feature maps of a split's images, computed once and looked up by image index.
///
/// SSKD's inputs to a stage do not change during its mimic when augmentation is off: the teacher runs in
/// eval mode without gradients, and a frozen student prefix (stages 1...k-1, BatchNorm in eval mode) is a
/// fixed function too. So the teacher's stage-k map and the prefix's output can be computed in one pass and
/// reused every epoch; the head's input (the frozen backbone's last map), KD's teacher logits and the
/// validation split's features likewise. With augmentation on, every epoch sees other crops, and no training
/// feature is cached. A cache is built only when it pays (`pays(visits:images:)`) and fits `memoryBudget`;
/// its cost (one computation per image held) goes into the run's `ComputeCost.caches`.
///
/// Values are the same as recomputing them (eval-mode layers act on each image independently; only the
/// summation order inside GEMM may differ with the batch size, about 1e-6 relative).
final class FeatureCache {
    /// Memory the caches of one command may take, in bytes: half of this machine's physical memory, at least
    /// 2 GiB (on 24 GiB, 12 GiB: full Fashion-MNIST's stage-1 teacher targets and frozen-prefix outputs take
    /// 2 × 2.76 GB). Larger caches are not built and the features are recomputed per batch instead, as without
    /// caching. (Tests set 0 to compare both paths.)
    nonisolated(unsafe) static var memoryBudget = FeatureCache.defaultBudget

    /// Half the physical memory, at least 2 GiB.
    static var defaultBudget: Int { max(2 << 30, Int(ProcessInfo.processInfo.physicalMemory / 2)) }

    /// Bytes a cache of `images` rows of `shape` would take (Float32), or nil on overflow.
    static func bytes(images: Int, shape: [Int]) -> Int? {
        let r = shape.reduce(1, *).multipliedReportingOverflow(by: images)
        let b = r.partialValue.multipliedReportingOverflow(by: MemoryLayout<Float>.size)
        return r.overflow || b.overflow ? nil : b.partialValue
    }

    /// Whether a cache pays for itself: it costs one computation per image it holds, recomputing costs one per
    /// visit, so it is built only when the run visits its images more than once (`visits` image-visits over
    /// `images` distinct images).
    static func pays(visits: Int, images: Int) -> Bool { visits > images }

    /// Per-image shape, e.g. `[64, 7, 7]`.
    let shape: [Int]
    /// Images held.
    let images: Int
    private var values: [Float]
    /// Row of each split index, −1 where the image is not held (nil: row = split index).
    private let rowOf: [Int32]?
    private var perImage: Int { shape.reduce(1, *) }
    /// Size of the cache in bytes.
    var bytes: Int { values.count * MemoryLayout<Float>.size }

    private init(shape: [Int], images: Int, values: [Float], rowOf: [Int32]?) {
        self.shape = shape
        self.images = images
        self.values = values
        self.rowOf = rowOf
    }

    /// Runs `compute` (no gradients) over `split` in order and keeps its output per image, or returns nil when
    /// the training split is augmented or the cache would exceed `budget` bytes.
    /// - Parameters:
    ///   - split: `.train` (the images `images` selects) or an evaluation split (all of it).
    ///   - compute: maps a batch `[n, C, H, W]` to features `[n, ...]`, one row per image.
    ///   - budget: bytes still available (``memoryBudget`` minus what other caches of the command took).
    ///   - maxImages: keep only the first images, whole batches of `batchSize` until at least this many (what a
    ///     loop over the same batches that stops once it has seen `maxImages` reads).
    ///   - cancellation: polled between batches.
    ///   - progress: told the images done after every batch (default: nobody).
    ///   - source: a cache holding every image of the selection (`holds(_:)`); `compute` then maps its rows
    ///     instead of the images (a later part of a network on the cached output of an earlier part).
    /// - Throws: errors of `compute`; `DistillationError.interrupted` when `cancellation` asks to stop meanwhile.
    static func build(
        _ data: DataSplits, split: DataSplits.Split = .train, images: TrainImages = .all, budget: Int,
        batchSize: Int = evaluationBatchSize, maxImages: Int? = nil, cancellation: Cancellation = .never,
        progress: ProgressReporter? = nil, from source: FeatureCache? = nil, _ compute: (Tensor) throws -> Tensor
    ) throws -> FeatureCache? {
        let set = data.dataset(split)
        guard split != .train || data.augmentation == .none, set.count > 0 else { return nil }
        let batches = try data.batches(split, batchSize: batchSize, shuffle: false, images: images)
        let order = try selection(data, split: split, images: images, batchSize: batchSize, maxImages: maxImages)
        let batchCount = (order.count + batchSize - 1) / batchSize
        let count = order.count
        guard count > 0 else { return nil }
        precondition(source?.holds(order) ?? true, "the source cache must hold every image of the selection")
        var rowOf: [Int32]?
        if count != set.count || order != Array(0..<set.count) {
            var map = [Int32](repeating: -1, count: set.count)
            for (row, index) in order.enumerated() { map[index] = Int32(row) }
            rowOf = map
        }
        var values: [Float] = []
        var shape: [Int]?
        var filled = 0
        var meter = PassMeter(progress, total: count)
        try withNoGrad {
            for (number, batch) in batches.enumerated() {
                if number == batchCount { break }
                try cancellation.check()
                let y = try compute(source?.gather(batch.indices) ?? batch.images)
                let n = batch.indices.count
                precondition(y.shape.first == n && y.count % max(n, 1) == 0, "feature rows must match the batch")
                if shape == nil {
                    let s = Array(y.shape.dropFirst())
                    guard let size = FeatureCache.bytes(images: count, shape: s), size <= budget else { return }
                    shape = s
                    values = [Float](repeating: 0, count: size / MemoryLayout<Float>.size)
                }
                let per = y.count / max(n, 1)
                y.data.withUnsafeBufferPointer { src in
                    values.withUnsafeMutableBufferPointer { dst in
                        for row in 0..<n {
                            let target = filled + row
                            for j in 0..<per { dst[target * per + j] = src[row * per + j] }
                        }
                    }
                }
                filled += n
                meter.add(n)
            }
        }
        guard let shape else { return nil }
        return FeatureCache(shape: shape, images: count, values: values, rowOf: rowOf)
    }

    /// The split indices a cache of `split` built with these arguments holds, in row order (see `build`).
    /// - Throws: errors of `DataSplits.batches`.
    static func selection(
        _ data: DataSplits, split: DataSplits.Split, images: TrainImages = .all, batchSize: Int = evaluationBatchSize,
        maxImages: Int? = nil
    ) throws -> [Int] {
        let batches = try data.batches(split, batchSize: batchSize, shuffle: false, images: images)
        let batchCount = maxImages.map { min(batches.count, ($0 + batchSize - 1) / batchSize) } ?? batches.count
        return Array(batches.order.prefix(batchCount * batchSize))
    }

    /// Whether every image of `indices` (split indices) is held.
    func holds(_ indices: [Int]) -> Bool {
        guard let rowOf else { return indices.allSatisfy { $0 >= 0 && $0 < images } }
        return indices.allSatisfy { $0 >= 0 && $0 < rowOf.count && rowOf[$0] >= 0 }
    }

    /// The cached features of `indices` (indices into the split) as one tensor `[indices.count] + shape`
    /// (no gradient).
    /// - Precondition: every index is held (callers gather the batches of the selection the cache was built on).
    func gather(_ indices: [Int]) -> Tensor {
        let per = perImage
        var out = [Float](repeating: 0, count: indices.count * per)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (row, index) in indices.enumerated() {
                    let r = rowOf.map { Int($0[index]) } ?? index
                    precondition(r >= 0, "image \(index) is not in the cache")
                    for j in 0..<per { dst[row * per + j] = src[r * per + j] }
                }
            }
        }
        return Tensor(shape: [indices.count] + shape, data: out)
    }
}

/// The feature caches one run builds before it trains, all within one memory budget (`FeatureCache.memoryBudget` when
/// the run starts): each cache built takes its bytes from the budget, adds the computation of the images it holds to
/// the setup cost and its name to `cached`.
struct FeatureCaches {
    /// Bytes the run's next caches may still take.
    private(set) var budget = FeatureCache.memoryBudget
    /// The names of the caches built, in order.
    private(set) var cached: [String] = []
    /// The run's setup cost so far: the caches' computation (the caller may add its own).
    var setup = ComputeCost()
    /// Polled between batches while a cache is built.
    let cancellation: Cancellation
    /// Where each cache's building reports its batches (`feature cache: NAME`); nil: nobody.
    var observer: TrainingObserver? = nil

    /// The caches of a run that polls `cancellation` and reports the building of each cache to `observer`.
    init(cancellation: Cancellation, observer: TrainingObserver? = nil) {
        self.cancellation = cancellation
        self.observer = observer
    }

    /// Builds a cache of `compute` over `split` as `FeatureCache.build` does, within the budget left, counting it as
    /// `name` and `macs` per image held; nil when none is built.
    ///
    /// With `source` (a cache of an earlier part's output that holds every image of the selection), the source's
    /// `compute` maps its rows instead, and `source.macs` per image is counted: SSKD's recipe computes stage k's
    /// teacher targets and frozen prefix from stage k−1's caches, so each stage of either network runs once per
    /// image over the whole recipe.
    mutating func build(
        _ data: DataSplits, split: DataSplits.Split, images: TrainImages = .all, maxImages: Int? = nil, name: String,
        macs: Int, from source: CacheSource? = nil, _ compute: (Tensor) throws -> Tensor
    ) throws -> FeatureCache? {
        let chained = try source.flatMap { s in
            try s.cache.holds(FeatureCache.selection(data, split: split, images: images, maxImages: maxImages))
                ? s : nil
        }
        let progress = observer.map { ProgressReporter($0, task: "feature cache: \(name)") }
        guard
            let c = try withoutActuallyEscaping(
                compute,
                do: { compute in
                    try FeatureCache.build(
                        data, split: split, images: images, budget: budget, maxImages: maxImages,
                        cancellation: cancellation, progress: progress, from: chained?.cache,
                        chained?.compute ?? compute)
                })
        else { return nil }
        budget -= c.bytes
        setup.caches += (chained?.macs ?? macs) * c.images
        cached.append(name)
        return c
    }

    /// Takes `bytes` (caches kept from an earlier run that stay alive during this one) off the budget.
    mutating func reserve(_ bytes: Int) { budget -= bytes }
}

/// A cache to compute another one from: the cached output of an earlier part of a network, the later part that maps
/// it (`compute`, rows `[n, ...]` to rows), and what that costs per image in MACs.
struct CacheSource {
    /// The earlier part's output.
    let cache: FeatureCache
    /// Multiply-accumulates of `compute` per image.
    let macs: Int
    /// The later part, on a batch of the cache's rows.
    let compute: (Tensor) throws -> Tensor
}
