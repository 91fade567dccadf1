import Dispatch
import Tensors

/// One mini-batch: images `[B, C, H, W]` Float32 (scaled to `[0, 1]`, normalised, augmented) and
/// their class labels `[B]` (-1 for an unlabelled training image).
public struct Batch {
    /// Images `[B, C, H, W]`.
    public let images: Tensor
    /// Class index of each image, `[B]`; -1 = no label (an unlabelled image of a `labels=` data set,
    /// served by `DataSplits.batches(.train, ..., images: .all)`).
    public let labels: [Int]
    /// Position of each image in its split's `Dataset`, `[B]`.
    public let indices: [Int]
}

/// The batches of one epoch of one split, in a fixed order (see `DataSplits.batches`).
///
/// Iterating prefetches: while the caller works on batch `k`, batch `k + 1` is assembled on a
/// Dispatch global queue. Each batch's augmentation uses its own `SeededRandom` seeded by
/// (epoch seed, batch number), so the batches do not depend on timing or threads.
public struct BatchSequence: Sequence {
    /// The split being iterated.
    public let dataset: Dataset
    /// Sample indices in iteration order.
    public let order: [Int]
    /// Images per batch (the last batch may be smaller).
    public let batchSize: Int
    /// Per-channel mean and std used for normalisation, `[C]` each.
    public let mean: [Float], std: [Float]
    /// Augmentation applied to every sample (`.none` for evaluation).
    public let augmentation: Augmentation
    /// Seed of this epoch's augmentation draws.
    public let seed: UInt64
    /// Whether each image of `dataset` (by index) keeps its label; nil = all do. Others get label -1.
    public let isLabelled: [Bool]?

    /// Number of batches, `ceil(order.count / batchSize)`.
    public var count: Int { (order.count + batchSize - 1) / batchSize }
    /// Same as `count`.
    public var underestimatedCount: Int { count }

    /// Batch number `k` (0-based), assembled on the calling thread.
    /// - Precondition: `0 <= k < count`.
    public func batch(_ k: Int) -> Batch {
        precondition(k >= 0 && k < count, "batch \(k) of \(count)")
        let indices = Array(order[k * batchSize..<Swift.min(order.count, (k + 1) * batchSize)])
        let (c, h, w) = (dataset.channels, dataset.height, dataset.width)
        var rng = SeededRandom(seed: Sampling.mix(seed, UInt64(k)))
        let draws = indices.map { _ in augmentation.draw(&rng) }
        var out = [Float](repeating: 0, count: indices.count * c * h * w)
        func fill<T>(_ values: [T], scale: Float, _ toFloat: (T) -> Float) {
            let a = std.map { scale / $0 }
            let b = zip(mean, std).map { -$0 / $1 }
            values.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for (j, i) in indices.enumerated() {
                        let (dy, dx, flip) = draws[j]
                        for ch in 0..<c {
                            let source = (i * c + ch) * h * w
                            let target = (j * c + ch) * h * w
                            for y in 0..<h {
                                let sy = y + dy
                                for x in 0..<w {
                                    let sx = (flip ? w - 1 - x : x) + dx
                                    dst[target + y * w + x] =
                                        sy >= 0 && sy < h && sx >= 0 && sx < w
                                        ? toFloat(src[source + sy * w + sx]) * a[ch] + b[ch] : b[ch]
                                }
                            }
                        }
                    }
                }
            }
        }
        switch dataset.pixels {
        case .uint8(let values): fill(values, scale: 1.0 / 255) { Float($0) }
        case .float32(let values): fill(values, scale: 1) { $0 }
        }
        return Batch(
            images: Tensor(shape: [indices.count, c, h, w], data: out),
            labels: indices.map { isLabelled?[$0] == false ? -1 : dataset.labels[$0] }, indices: indices)
    }

    /// A prefetching iterator over all batches.
    public func makeIterator() -> PrefetchingIterator { PrefetchingIterator(self) }
}

/// Iterates a `BatchSequence`, assembling the next batch on a background thread.
public final class PrefetchingIterator: IteratorProtocol {
    private final class Slot: @unchecked Sendable { var batch: Batch? }
    private let sequence: BatchSequence
    private var nextIndex = 0
    private var pending: (work: DispatchWorkItem, slot: Slot)?

    init(_ sequence: BatchSequence) {
        self.sequence = sequence
        schedule()
    }

    /// Starts assembling batch `nextIndex` in the background (nothing when past the end).
    private func schedule() {
        guard nextIndex < sequence.count else {
            pending = nil
            return
        }
        let slot = Slot()
        let k = nextIndex
        let sequence = sequence
        let work = DispatchWorkItem { slot.batch = sequence.batch(k) }
        DispatchQueue.global(qos: .userInitiated).async(execute: work)
        pending = (work, slot)
        nextIndex += 1
    }

    /// Waits for the prefetched batch, starts the following one, and returns it (nil at the end).
    public func next() -> Batch? {
        guard let (work, slot) = pending else { return nil }
        work.wait()
        schedule()
        return slot.batch
    }
}
