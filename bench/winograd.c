// winograd.c - the Winograd F(2x2, 3x3) forward kernel (Sources/CKernels/conv_winograd.c) against the direct flat
// kernel (conv_flat.c) alone on one core: useful GMAC/s of a 3x3, padding-1 convolution of C -> Cout channels on
// H x H planes over 64 samples, one sample per padded plane (rows of W + 2) or k side by side at even columns (rows
// of k·step, step = W + 1 rounded up to even, as FlatPlanes lays them out for Winograd), best of 5 repetitions, and
// the largest difference between the two kernels' valid outputs.
// build: clang -O3 -I Sources/CKernels/include -I Sources/CKernels bench/winograd.c Sources/CKernels/conv_flat.c \
//        Sources/CKernels/conv_winograd.c -lm -o /tmp/winograd
// run:   /tmp/winograd H C k [Cout]   (k = 0: one sample per plane of width W + 2)
// e.g.   /tmp/winograd 28 16 2; /tmp/winograd 14 32 4; /tmp/winograd 7 64 4
#include "sskd_kernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *zeroed(size_t floats) {
    const size_t bytes = (4 * floats + 63) & ~63UL;
    void *p = aligned_alloc(64, bytes);
    memset(p, 0, bytes);
    return p;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: winograd H C k [Cout]\n");
        return 2;
    }
    const int H = atoi(argv[1]), C = atoi(argv[2]), k = atoi(argv[3]), CO = argc > 4 ? atoi(argv[4]) : C;
    const int N = 64, W = H, per = k == 0 ? 1 : k;
    if (H < 2 || C < 1 || CO < 1 || k < 0 || (k > 0 && 64 % k != 0)) {
        fprintf(stderr, "winograd: H ≥ 2, C and Cout positive, k 0 or a divisor of 64\n");
        return 2;
    }
    const int step = (W + 2) & ~1, wp = k == 0 ? W + 2 : k * step, hp = H + 2, planes = N / per;
    const long wout = k == 0 ? W : (long)(per - 1) * step + W;
    // Plane slack: the direct kernel's (2 + 16 floats) and room for the Winograd kernel's reads past the last plane.
    const long stride = (long)hp * wp + 18, npos = (long)H * wp, ldo = (npos + 15) & ~15L;
    long off[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) off[i * 3 + j] = (long)i * wp + j;
    float *x = zeroed((size_t)planes * C * stride + wp + 64), *w = zeroed((size_t)C * CO * 9);
    float *u = zeroed((size_t)C * CO * 16), *out = zeroed((size_t)CO * ldo + 64), *out2 = zeroed((size_t)CO * ldo + 64);
    float *work = zeroed(sskd_winograd_workspace(C, CO, wout, H));
    srand(1);
    for (long p = 0; p < (long)planes * C; p++)
        for (int r = 0; r < H; r++)
            for (int s = 0; s < per; s++)
                for (int c = 0; c < W; c++) x[p * stride + (r + 1) * wp + 1 + s * step + c] = rand() / (float)RAND_MAX - 0.5f;
    for (int i = 0; i < C * CO * 9; i++) w[i] = rand() / (float)RAND_MAX - 0.5f;
    sskd_winograd_weights(w, (long)CO * C, (long)CO * C, u);
    sskd_conv_flat_forward(x, stride, C, off, 9, w, CO, out, ldo, npos);
    sskd_conv_winograd_forward(x, stride, C, wp, wout, H, u, CO, out2, ldo, work);
    double diff = 0, largest = 0;
    for (int co = 0; co < CO; co++)
        for (int r = 0; r < H; r++)
            for (int s = 0; s < per; s++)
                for (int c = 0; c < W; c++) {
                    const long p = co * ldo + r * wp + s * step + c;
                    diff = fmax(diff, fabs(out[p] - out2[p]));
                    largest = fmax(largest, fabs(out[p]));
                }
    const int reps = H >= 28 ? 20 : H >= 14 ? 60 : 200;
    double direct = 1e9, wino = 1e9;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            for (int p = 0; p < planes; p++)
                sskd_conv_flat_forward(x + (long)p * C * stride, stride, C, off, 9, w, CO, out, ldo, npos);
        double t1 = now();
        for (int r = 0; r < reps; r++)
            for (int p = 0; p < planes; p++)
                sskd_conv_winograd_forward(x + (long)p * C * stride, stride, C, wp, wout, H, u, CO, out2, ldo, work);
        double t2 = now();
        direct = fmin(direct, t1 - t0);
        wino = fmin(wino, t2 - t1);
    }
    const double macs = (double)reps * N * H * W * C * CO * 9;
    printf("%dx%d, %d -> %d channels, k %d (rows of %d): direct %.1f GMAC/s, winograd %.1f (x%.2f), "
           "largest difference %.2e (outputs up to %.2f)\n",
           H, W, C, CO, k, wp, macs / direct * 1e-9, macs / wino * 1e-9, direct / wino, diff, largest);
    return 0;
}
