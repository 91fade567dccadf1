// pingpong.c - the round trip of one cache line between two threads (200,000 round trips, mean ns): how far apart
// the host placed this machine's two vCPUs. On the Zen 5 instance 70–170 ns in the fast periods and 370–600 ns in
// the slow ones, when the same sskd step is 15–20 % slower (docs/performance.md, the third round for issue 23).
// build: gcc -O2 bench/pingpong.c -o /tmp/pingpong -lpthread
// run:   /tmp/pingpong, on an idle machine: when a third runnable process shares the two vCPUs, a waiting thread
//        is descheduled and the round trip reads 1,000–4,000 ns, which says nothing about the placement.
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#define ROUNDS 200000
static _Atomic long flag __attribute__((aligned(64)));

static void *other(void *unused) {
    (void)unused;
    for (long i = 0; i < ROUNDS; i++) {
        while (atomic_load(&flag) != 2 * i + 1) {}
        atomic_store(&flag, 2 * i + 2);
    }
    return 0;
}

int main(void) {
    pthread_t t;
    pthread_create(&t, 0, other, 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < ROUNDS; i++) {
        atomic_store(&flag, 2 * i + 1);
        while (atomic_load(&flag) != 2 * i + 2) {}
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, 0);
    printf("round trip %.0f ns\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / ROUNDS);
    return 0;
}
