import Dispatch
import Foundation
import XCTest

@testable import Tensors

/// The fork-join pool behind `Parallel.run` / `Parallel.forEach` (Sources/CKernels/pool.c).
final class ParallelTests: XCTestCase {
    /// Every item runs exactly once, back-to-back jobs of different sizes never see each other's items,
    /// and a nested call (from inside an item) runs serially instead of deadlocking.
    func testEveryItemRunsOnceAcrossBackToBackAndNestedJobs() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        for threads in [2, 3] {
            Parallel.threads = threads
            for items in [1, 2, 3, 7, 64, 1000] {
                for _ in 0..<50 {
                    var counts = [Int](repeating: 0, count: items)
                    counts.withUnsafeMutableBufferPointer { c in Parallel.run(items) { c[$0] += 1 } }
                    XCTAssertEqual(counts, [Int](repeating: 1, count: items), "threads \(threads), items \(items)")
                }
            }
            var nested = [Int](repeating: 0, count: 4 * 5)
            nested.withUnsafeMutableBufferPointer { c in
                Parallel.run(4) { i in Parallel.run(5) { j in c[i * 5 + j] += 1 } }
            }
            XCTAssertEqual(nested, [Int](repeating: 1, count: 20))
        }
    }

    /// After a job with many threads, a job with 2 runs on at most 2 threads (the other workers are parked).
    func testLoweringThreadsParksTheExtraWorkers() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 6
        Parallel.run(64) { _ in usleep(200) }  // start 5 workers
        Parallel.threads = 2
        for _ in 0..<20 { XCTAssertLessThanOrEqual(osThreadsRunning64Items(sleeping: 50).count, 2) }
        Parallel.threads = 4  // raised again: parked workers take part again
        let used = osThreadsRunning64Items(sleeping: 300)
        XCTAssertGreaterThan(used.count, 1)
        XCTAssertLessThanOrEqual(used.count, 4)
    }

    /// The OS threads that ran a `Parallel.run` job of 64 items, each sleeping `microseconds`.
    private func osThreadsRunning64Items(sleeping microseconds: useconds_t) -> Set<pthread_t> {
        var ids = [pthread_t](repeating: 0, count: 64)
        ids.withUnsafeMutableBufferPointer { ids in
            Parallel.run(64) { i in
                ids[i] = pthread_self()
                usleep(microseconds)
            }
        }
        return Set(ids)
    }

    /// `run(_:threads:_:)` numbers the threads 0..<threads, the caller being 0, and one number is never used by
    /// two OS threads within a job (so per-thread scratch is safe); a nested call runs every item as thread 0.
    func testThreadNumbersAreBelowThreadsAndEachBelongsToOneOSThread() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        for threads in [1, 2, 3] {
            Parallel.threads = threads
            for _ in 0..<20 {
                var numbers = [Int](repeating: -1, count: 200)
                var ids = [pthread_t](repeating: 0, count: 200)
                let caller = pthread_self()
                numbers.withUnsafeMutableBufferPointer { n in
                    ids.withUnsafeMutableBufferPointer { ids in
                        Parallel.run(200, threads: threads) { i, t in
                            n[i] = t
                            ids[i] = pthread_self()
                            if i % 7 == 0 { usleep(20) }
                        }
                    }
                }
                XCTAssertTrue(numbers.allSatisfy { (0..<threads).contains($0) }, "threads \(threads): \(Set(numbers))")
                var owner: [Int: pthread_t] = [:]
                for (t, id) in zip(numbers, ids) {
                    if let o = owner[t] {
                        XCTAssertEqual(o, id, "thread number \(t) used by two OS threads")
                    } else {
                        owner[t] = id
                    }
                }
                if let zero = owner[0] { XCTAssertEqual(zero, caller, "thread 0 is the caller") }
            }
            var nested = [Int](repeating: -1, count: 4 * 5)
            nested.withUnsafeMutableBufferPointer { c in
                Parallel.run(4, threads: threads) { i, _ in
                    Parallel.run(5, threads: threads) { j, t in c[i * 5 + j] = t }
                }
            }
            XCTAssertEqual(nested, [Int](repeating: 0, count: 20), "a nested call runs as thread 0")
        }
    }

    /// The kernels' instruction set is one of the versions they are compiled for.
    func testKernelInstructionSetIsOneOfTheCompiledVersions() {
        XCTAssertTrue(
            ["x86-64-v4 (AVX-512)", "x86-64-v3 (AVX2+FMA)", "x86-64 (baseline)", "single build (no per-CPU versions)"]
                .contains(kernelInstructionSet), kernelInstructionSet)
    }

    /// Callers on several threads at once: one gets the pool, the others run their items themselves; no item is
    /// lost or run twice.
    func testConcurrentCallersEachCompleteTheirOwnJob() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2
        let callers = 4
        let items = 257
        let rounds = 200
        var counts = [Int](repeating: 0, count: callers * items)
        counts.withUnsafeMutableBufferPointer { c in
            let base = c.baseAddress!
            DispatchQueue.concurrentPerform(iterations: callers) { k in
                for _ in 0..<rounds { Parallel.run(items) { i in base[k * items + i] += 1 } }
            }
        }
        XCTAssertEqual(counts, [Int](repeating: rounds, count: callers * items))
    }

    /// The sum of a large vector computed in chunks over the pool equals the serial sum of the same chunks.
    func testForEachCoversTheRangeInContiguousChunks() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2
        var seen = [Int](repeating: 0, count: 100_003)
        seen.withUnsafeMutableBufferPointer { s in
            Parallel.forEach(s.count) { range in for i in range { s[i] += i } }
        }
        XCTAssertEqual(seen, Array(0..<100_003))
    }
}
