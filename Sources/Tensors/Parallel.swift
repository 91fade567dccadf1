import CBLAS
import Dispatch
import Foundation

/// How many cores sskd uses. Parallelism is ours: the batch (or channels, or rows) is split across
/// `threads` workers, and each calls a single-threaded OpenBLAS GEMM, so OpenBLAS's own spinning
/// threads never compete with our workers for the cores.
public enum Parallel {
    /// Worker count (≥ 1). Defaults to the number of active cores.
    nonisolated(unsafe) public static var threads: Int = {
        openblas_set_num_threads(1)
        return ProcessInfo.processInfo.activeProcessorCount
    }() {
        didSet { threads = Swift.max(1, threads); openblas_set_num_threads(1) }
    }

    /// Runs `body` over `0..<n` split into at most `threads` contiguous chunks, in parallel when
    /// `n * costPerItem` is large enough to pay for it (roughly 32k element-operations).
    /// `body` must only write memory that its own chunk owns.
    public static func forEach(_ n: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = Swift.min(threads, n)
        if chunks <= 1 || n * costPerItem < 32_768 {
            if n > 0 { body(0..<n) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks, hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}
