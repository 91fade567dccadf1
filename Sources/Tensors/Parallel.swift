import CBLAS
import CKernels
import Dispatch
import Foundation

/// How many cores sskd uses. Parallelism is ours: the batch (or channels, or rows) is split across
/// `threads` workers, and each calls a single-threaded OpenBLAS GEMM, so OpenBLAS's own spinning
/// threads never compete with our workers for the cores.
public enum Parallel {
    /// Worker count (≥ 1). Defaults to the number of active cores.
    nonisolated(unsafe) public static var threads: Int = {
        openblas_set_num_threads(1)
        keepFreedMemory()
        return ProcessInfo.processInfo.activeProcessorCount
    }()
    {
        didSet {
            threads = Swift.max(1, threads)
            openblas_set_num_threads(1)
        }
    }

    /// Runs `body` over `0..<n` split into contiguous chunks, in parallel when `n * costPerItem` is large enough to
    /// pay for it (roughly 32k element-operations): up to 4 chunks per thread of at least ~16k element-operations
    /// each, claimed dynamically, so that a thread that starts late or runs slower (a worker waking up, a core shared
    /// with another process) leaves the others less to wait for than one fixed half would.
    /// `body` must only write memory that its own chunk owns.
    public static func forEach(_ n: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let work = n * Swift.max(1, costPerItem)
        let chunks = Swift.min(n, Swift.max(threads, Swift.min(4 * threads, work / 16_384)))
        if threads <= 1 || chunks <= 1 || work < 32_768 {
            if n > 0 { body(0..<n) }
            return
        }
        run(chunks) { c in
            let lo = n * c / chunks
            let hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for every i in `0..<items` on the calling thread and up to `threads − 1` pool workers
    /// (Sources/CKernels/pool.c: workers spin briefly between jobs, so back-to-back regions start at once),
    /// returning when all are done. Nested calls run serially. `body` must only write memory item `i` owns.
    public static func run(_ items: Int, _ body: (Int) -> Void) {
        run(items, threads: threads) { i, _ in body(i) }
    }

    /// Runs `body(i, thread)` for every i in `0..<items` on at most `threads` threads, as `run(_:_:)`, telling each
    /// call which thread runs it: `0 ≤ thread < threads`, 0 being the caller (and every item of a nested call), so
    /// that items can share per-thread scratch or partial sums (conv2d's weight gradient). Items are claimed one at a
    /// time, so many small items balance the threads' loads. `body` must only write memory that item `i` or
    /// thread `thread` owns.
    static func run(_ items: Int, threads: Int, _ body: (Int, Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let job = ParallelJob(body)
            sskd_parallel_run(
                items, Int32(clamping: threads),
                { context, i, thread in
                    Unmanaged<ParallelJob>.fromOpaque(context!).takeUnretainedValue().body(i, Int(thread))
                }, Unmanaged.passUnretained(job).toOpaque())
            withExtendedLifetime(job) {}
        }
    }
}

/// The instruction set the C kernels (Sources/CKernels) run with on this CPU, e.g. "x86-64-v4 (AVX-512)":
/// each kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64, and the loader picks the best one supported.
public var kernelInstructionSet: String { String(cString: sskd_kernel_instruction_set()) }

/// The Swift closure behind a `sskd_parallel_run` job (passed to C as an unretained context pointer).
private final class ParallelJob {
    let body: (Int, Int) -> Void
    init(_ body: @escaping (Int, Int) -> Void) { self.body = body }
}

/// Keeps activation-sized buffers (up to 32 MiB) on the malloc heap instead of fresh `mmap`s, and freed memory
/// mapped instead of trimmed, so that a training step reuses the previous step's pages instead of taking a page
/// fault (and a kernel page clear) on every 4 KiB of every new activation (glibc `mallopt`, M_MMAP_THRESHOLD /
/// M_TRIM_THRESHOLD).
private func keepFreedMemory() {
    #if os(Linux)
        _ = glibcMallopt(-3, 32 << 20)  // M_MMAP_THRESHOLD (<malloc.h>)
        _ = glibcMallopt(-1, 256 << 20)  // M_TRIM_THRESHOLD
    #endif
}

#if os(Linux)
    /// glibc's `int mallopt(int param, int value)`; <malloc.h> is not part of Swift's Glibc module.
    @_silgen_name("mallopt") private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
