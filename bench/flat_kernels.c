// flat_kernels.c - the flat convolution kernels (Sources/CKernels/conv_flat.c) alone on one core: useful GMAC/s of
// the forward and weight-gradient kernels for a 3x3, padding-1 convolution of C -> C channels on H x H planes over
// 64 samples, with one sample per padded plane (rows of W + 2) or k samples side by side sharing their padding
// columns (rows of k·(W + 1), FlatPlanes.samplesPerPlane); best of 5 repetitions.
// build: clang -O3 -I Sources/CKernels/include -I Sources/CKernels bench/flat_kernels.c Sources/CKernels/conv_flat.c \
//        -o /tmp/flat_kernels
// run:   /tmp/flat_kernels H C k [chunk]   (k = 0: one sample per plane of width W + 2; chunk: planes per dW call)
// e.g.   /tmp/flat_kernels 7 64 0; /tmp/flat_kernels 7 64 4
#include "sskd_kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: flat_kernels H C k [chunk]\n");
        return 2;
    }
    const int H = atoi(argv[1]), C = atoi(argv[2]), k = atoi(argv[3]), N = 64, W = H;
    if (H < 1 || C < 1 || k < 0 || (k > 0 && 64 % k != 0)) {
        fprintf(stderr, "flat_kernels: H and C must be positive and k 0 or a divisor of 64\n");
        return 2;
    }
    const int per = k == 0 ? 1 : k, wp = k == 0 ? W + 2 : k * (W + 1), hp = H + 2;
    const long stride = (long)hp * wp + 2 + 16, npos = (long)H * wp, ldo = (npos + 15) & ~15L;
    const int planes = N / per;
    int chunk = argc > 4 ? atoi(argv[4]) : planes / 8;
    if (chunk < 1) chunk = 1;
    long off[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) off[i * 3 + j] = (long)i * wp + j;
    float *x = aligned_alloc(64, (4 * (size_t)planes * C * stride + 4096) & ~63UL);
    float *w = aligned_alloc(64, (4 * (size_t)C * C * 9 + 64) & ~63UL);
    float *out = aligned_alloc(64, (4 * (size_t)C * ldo + 4096) & ~63UL);
    float *dw = aligned_alloc(64, (4 * (size_t)C * C * 9 + 64) & ~63UL);
    for (long i = 0; i < (long)planes * C * stride; i++) x[i] = (float)(i % 7) * 0.1f;
    for (int i = 0; i < C * C * 9; i++) w[i] = 0.01f * (float)(i % 5);
    const int reps = H >= 28 ? 20 : H >= 14 ? 60 : 200;
    double fwd = 1e9, wgt = 1e9;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            for (int p = 0; p < planes; p++)
                sskd_conv_flat_forward(x + (long)p * C * stride, stride, C, off, 9, w, C, out, ldo, npos);
        double t1 = now();
        for (int r = 0; r < reps; r++)
            for (int p = 0; p + chunk <= planes; p += chunk)
                sskd_conv_flat_weight_grad(x + (long)p * C * stride, stride, C * stride, C, x + (long)p * C * stride,
                                           stride, C * stride, C, off, 9, 3, chunk, npos, dw, 0);
        double t2 = now();
        if (t1 - t0 < fwd) fwd = t1 - t0;
        if (t2 - t1 < wgt) wgt = t2 - t1;
    }
    const double macs = (double)reps * N * H * W * C * C * 9;
    printf("%dx%d C=%d samples per plane %d (row %d floats, %ld vectors per plane): ", H, W, C, per, wp, ldo / 16);
    printf("forward %.1f, dW %.1f useful GMAC/s\n", macs / fwd / 1e9, macs / wgt / 1e9);
    return 0;
}
