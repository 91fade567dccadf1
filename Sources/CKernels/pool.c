// A small fork-join pool for the engine's parallel loops (Sources/Tensors/Parallel.swift).
//
// Why not DispatchQueue.concurrentPerform: on this 2-vCPU machine its worker often wakes tens of microseconds
// after the caller, so a 40 µs region ran in 95 µs, slower than serially (measured in docs/performance.md). A
// training step runs a few hundred such regions. Here the workers spin for a short while (SPIN_NS) after each
// job, so the next region starts on both cores at once, then sleep on a condition variable. OpenMP runtimes,
// which PyTorch uses, do the same (OMP_WAIT_POLICY, GOMP_SPINCOUNT).
//
// Publication protocol (a sequence lock): the caller makes `generation` odd, waits until no worker is `active`,
// writes the job, makes `generation` even. A worker that sees an even generation it has not run registers as
// active, re-reads the generation and backs off if it changed; so workers only read a job while it is stable,
// and the caller never rewrites a job a worker is still reading. The items are split into one contiguous range per
// thread (thread t of T gets [items·t/T, items·(t+1)/T)), each with its own atomic counter on its own cache line: a
// thread claims its own range's items first, then steals what is left of the others' ranges, front first. So in
// back-to-back regions over the same batch (a convolution per sample, then an elementwise pass over the same
// samples' planes) each thread mostly reads what it wrote itself, from its own core's caches, and claiming an item
// touches no line another core is using; only the stealing at the end of a job does. (Items claimed one at a time
// from one shared counter would spread each activation over both cores, which costs most when the host places the
// two vCPUs far apart; docs/performance.md.) Each thread subtracts its count of items run from `remaining` once;
// the caller returns when that reaches zero. A caller that finds the pool busy (a nested or concurrent call) runs its
// items itself. Workers beyond the latest job's `threads − 1` park on their own condition variable (no spinning,
// no part in jobs) until a job asks for more threads again.
#include "sskd_kernels.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#define MAX_WORKERS 64
#define SPIN_NS 300000L   // 0.3 ms

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;   // idle workers wait here for the next job
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;    // workers beyond `wanted` wait here
static int workers = 0;   // started so far, guarded by pool_lock; worker k has index k
static _Atomic int wanted = 0;   // workers 0..<wanted take part in jobs (threads − 1 of the latest job)
static _Atomic unsigned long generation = 0;
static _Atomic int active = 0, sleepers = 0;
static _Atomic long remaining = 0;
// Thread t's range of the current job: the next unclaimed item and the end; one cache line each.
static struct {
    _Atomic long next;
    long end;
} __attribute__((aligned(64))) ranges[MAX_WORKERS + 1];
static int job_threads;   // ranges in use by the current job
static sskd_parallel_body job_body;
static void *job_context;

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

// Runs the items of thread `thread`'s own range, then those left in the others' ranges (in thread order after its
// own), and reports how many it ran.
static void run_items(int thread) {
    long ran = 0;
    const int n = job_threads;
    for (int k = 0; k < n; k++) {
        const int r = (thread + k) % n;
        const long end = ranges[r].end;
        long i;
        while ((i = atomic_fetch_add_explicit(&ranges[r].next, 1, memory_order_relaxed)) < end) {
            job_body(job_context, i, thread);
            ran++;
        }
    }
    if (ran) atomic_fetch_sub_explicit(&remaining, ran, memory_order_release);
}

static int has_new_job(unsigned long seen) {
    unsigned long g = atomic_load(&generation);
    return (g & 1) == 0 && g != seen;
}

static void *worker_main(void *arg) {
    const int index = (int)(long)arg;
    sigset_t all;   // signals (Ctrl-C, SIGTERM) go to the REPL's own threads, never to a pool worker
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, 0);
    unsigned long seen = 0;
    for (;;) {
        if (index >= atomic_load(&wanted)) {   // fewer threads than before: park until they are raised again
            pthread_mutex_lock(&sleep_lock);
            while (index >= atomic_load(&wanted)) pthread_cond_wait(&park_cond, &sleep_lock);
            pthread_mutex_unlock(&sleep_lock);
        }
        if (!has_new_job(seen)) {
            long start = now_ns();
            int spins = 0;
            while (!has_new_job(seen) && index < atomic_load(&wanted)) {
                relax();
                if (++spins % 128 == 0 && now_ns() - start > SPIN_NS) {
                    pthread_mutex_lock(&sleep_lock);
                    atomic_fetch_add(&sleepers, 1);
                    while (!has_new_job(seen) && index < atomic_load(&wanted)) pthread_cond_wait(&sleep_cond, &sleep_lock);
                    atomic_fetch_sub(&sleepers, 1);
                    pthread_mutex_unlock(&sleep_lock);
                }
            }
        }
        unsigned long g = atomic_load(&generation);
        if ((g & 1) || g == seen) continue;
        atomic_fetch_add(&active, 1);
        if (atomic_load(&generation) == g) {   // the job is stable while we are active
            seen = g;
            if (index < atomic_load(&wanted)) run_items(index + 1);
        }
        atomic_fetch_sub(&active, 1);
    }
    return 0;
}

void sskd_parallel_run(long items, int threads, sskd_parallel_body body, void *context) {
    if (items <= 0) return;
    if (threads < 2 || items < 2 || pthread_mutex_trylock(&pool_lock) != 0) {
        for (long i = 0; i < items; i++) body(context, i, 0);
        return;
    }
    int want = threads - 1 < MAX_WORKERS ? threads - 1 : MAX_WORKERS;
    while (workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 8 << 20);
        int failed = pthread_create(&t, &attr, worker_main, (void *)(long)workers);
        pthread_attr_destroy(&attr);
        if (failed) break;   // fewer workers: the caller runs the rest
        workers++;
    }
    if (want > workers) want = workers;
    if (atomic_load(&wanted) != want) {                     // park or unpark workers beyond threads − 1
        pthread_mutex_lock(&sleep_lock);
        atomic_store(&wanted, want);
        pthread_cond_broadcast(&park_cond);
        pthread_cond_broadcast(&sleep_cond);
        pthread_mutex_unlock(&sleep_lock);
    }
    atomic_fetch_add(&generation, 1);                       // odd: the job is being written
    while (atomic_load(&active) != 0) relax();              // no worker still reads the previous job
    job_body = body; job_context = context;
    job_threads = want + 1;
    for (int t = 0; t < job_threads; t++) {
        atomic_store_explicit(&ranges[t].next, items * t / job_threads, memory_order_relaxed);
        ranges[t].end = items * (t + 1) / job_threads;
    }
    atomic_store(&remaining, items);
    atomic_fetch_add(&generation, 1);                       // even: published
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&sleep_cond);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_items(0);
    while (atomic_load_explicit(&remaining, memory_order_acquire) != 0) relax();
    pthread_mutex_unlock(&pool_lock);
}
