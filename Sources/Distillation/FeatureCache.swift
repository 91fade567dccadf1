import Datasets
import Foundation
import Tensors

/// Feature maps of every training image, computed once and looked up by image index.
///
/// SSKD's inputs to a stage do not change during its mimic when augmentation is off: the teacher runs in
/// eval mode without gradients, and a frozen student prefix (stages 1...k-1, BatchNorm in eval mode) is a
/// fixed function too. So the teacher's stage-k map and the prefix's output can be computed in one pass and
/// reused every epoch (issue #9, "teacher recomputation"); the head's input (the frozen backbone's last map)
/// likewise. With augmentation on, every epoch sees other crops, and nothing is cached.
///
/// Values are the same as recomputing them (eval-mode layers act on each image independently; only the
/// summation order inside GEMM may differ with the batch size, about 1e-6 relative).
final class FeatureCache {
    /// Memory the caches of one command may take, in bytes (2 GiB). Larger caches are not built and the
    /// features are recomputed per batch instead, as without caching. (Tests set 0 to compare both paths.)
    nonisolated(unsafe) static var memoryBudget = 2 << 30

    /// Per-image shape, e.g. `[64, 7, 7]`.
    let shape: [Int]
    private var values: [Float]
    private var perImage: Int { shape.reduce(1, *) }
    /// Size of the cache in bytes.
    var bytes: Int { values.count * MemoryLayout<Float>.size }

    private init(shape: [Int], values: [Float]) { self.shape = shape; self.values = values }

    /// Runs `compute` (no gradients) over the training split in order and keeps its output per image, or
    /// returns nil when the training split is augmented or the cache would exceed `budget` bytes.
    /// - Parameters:
    ///   - compute: maps a batch `[n, C, H, W]` to features `[n, ...]`, one row per image.
    ///   - budget: bytes still available (``memoryBudget`` minus what other caches of the command took).
    /// - Throws: errors of `compute`; `DistillationError.interrupted` when Ctrl-C is pressed meanwhile.
    static func build(_ data: DataSplits, budget: Int, batchSize: Int = 256, _ compute: (Tensor) throws -> Tensor) throws -> FeatureCache? {
        guard data.augmentation == .none, data.train.count > 0 else { return nil }
        let batches = try data.batches(.train, batchSize: batchSize, shuffle: false)
        var cache: FeatureCache?
        try withNoGrad {
            for batch in batches {
                try Cancellation.check()
                let y = try compute(batch.images)
                let n = batch.indices.count
                precondition(y.shape.first == n && y.count % max(n, 1) == 0, "feature rows must match the batch")
                if cache == nil {
                    let shape = Array(y.shape.dropFirst())
                    let total = shape.reduce(1, *).multipliedReportingOverflow(by: data.train.count)
                    guard !total.overflow, total.partialValue * MemoryLayout<Float>.size <= budget else { return }
                    cache = FeatureCache(shape: shape, values: [Float](repeating: 0, count: total.partialValue))
                }
                let per = cache!.perImage
                y.data.withUnsafeBufferPointer { src in
                    cache!.values.withUnsafeMutableBufferPointer { dst in
                        for (row, index) in batch.indices.enumerated() {
                            for j in 0..<per { dst[index * per + j] = src[row * per + j] }
                        }
                    }
                }
            }
        }
        return cache
    }

    /// The cached features of `indices` as one tensor `[indices.count] + shape` (no gradient).
    func gather(_ indices: [Int]) -> Tensor {
        let per = perImage
        var out = [Float](repeating: 0, count: indices.count * per)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (row, index) in indices.enumerated() {
                    for j in 0..<per { dst[row * per + j] = src[index * per + j] }
                }
            }
        }
        return Tensor(shape: [indices.count] + shape, data: out)
    }
}
