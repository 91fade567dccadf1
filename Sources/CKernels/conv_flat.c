// The direct stride-1 convolution on zero-padded "flat" planes (see include/sskd_kernels.h for the layout).
//
// Both kernels are register-blocked outer products written with clang's portable vector extension (16 floats,
// one AVX-512 register) and compiled three times by target_clones: x86-64-v4 (AVX-512), x86-64-v3 (AVX2+FMA,
// each vector in two halves) and the baseline; the loader picks one per CPU. No intrinsics, so the same source
// builds on other architectures through the "default" clone.
//
// Forward: an R×V block of accumulators (R output channels × V·16 positions). Per (input channel, tap) it loads
// V shifted input vectors and broadcasts R weights, then does R·V fused multiply-adds: with R = 6, V = 4 that is
// 10 loads per 24 FMAs, so the FMA units, not the loads, set the pace. Planes whose position count is a multiple
// of 5 or 6 vectors (not of 4) use 4 × 5 or 4 × 6 blocks, so that no single-vector tail (1 load and R broadcasts
// per R FMAs) is left over. Weight gradient: an R×S block (R output
// channels × S input channels) per tap, or R × S × 3 for a row of three taps, summed over positions, then one
// horizontal sum per accumulator; dY is read from 64-byte aligned planes, so only the shifted input loads straddle
// cache lines. docs/performance.md has the measurements.
#include "sskd_kernels.h"

#include "vec16.h"

// out[co + r][p + 16v] for r < R, v < V, over all segments, their input channels and their taps.
#define FORWARD_BLOCK(R, V)                                                                              \
    do {                                                                                                 \
        v16 acc[R][V];                                                                                   \
        for (int r = 0; r < R; r++) for (int v = 0; v < V; v++) acc[r][v] = (v16){0};                    \
        for (int sg = 0; sg < nseg; sg++) {                                                              \
            const int cin = cins[sg], taps = tapss[sg];                                                  \
            const long *off = offs[sg];                                                                  \
            for (int ci = 0; ci < cin; ci++) {                                                           \
                const float *xc = xs[sg] + ci * ldx + p, *wc = ws[sg] + ((long)co * cin + ci) * taps;    \
                for (int t = 0; t < taps; t++) {                                                         \
                    v16 xv[V];                                                                           \
                    for (int v = 0; v < V; v++) xv[v] = load16(xc + off[t] + 16 * v);                     \
                    for (int r = 0; r < R; r++) {                                                        \
                        float s = wc[(long)r * cin * taps + t];                                          \
                        for (int v = 0; v < V; v++) acc[r][v] += xv[v] * s;                              \
                    }                                                                                    \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        for (int r = 0; r < R; r++) for (int v = 0; v < V; v++) store16(out + (co + r) * ldo + p + 16 * v, acc[r][v]); \
    } while (0)

// All positions of output channels co..<co+R: blocks of V vectors, then single vectors.
#define FORWARD_ROWS(R, V)                                                                               \
    do {                                                                                                 \
        long p = 0;                                                                                      \
        for (; p + 16 * V <= npos16; p += 16 * V) FORWARD_BLOCK(R, V);                                   \
        if (V > 2) for (; p + 32 <= npos16; p += 32) FORWARD_BLOCK(R, 2);                                \
        for (; p < npos16; p += 16) FORWARD_BLOCK(R, 1);                                                 \
    } while (0)

CLONES
void sskd_conv_flat_forward_segments(int nseg, const float *const *xs, long ldx, const int *cins, const long *const *offs,
                                     const int *tapss, const float *const *ws, int cout, float *out, long ldo, long npos) {
    const long npos16 = (npos + 15) & ~15L, nvec = npos16 / 16;
    int co = 0;
    if (nvec % 4 != 0 && nvec % 5 == 0) {          // e.g. 8x8 planes with padding 1: 80 positions
        for (; co + 4 <= cout; co += 4) FORWARD_ROWS(4, 5);
    } else if (nvec % 4 != 0 && nvec % 6 == 0) {   // e.g. 16x16 planes with padding 1: 288 positions
        for (; co + 4 <= cout; co += 4) FORWARD_ROWS(4, 6);
    } else {                                       // e.g. 32x32 planes with padding 1: 1088 positions
        for (; co + 6 <= cout; co += 6) FORWARD_ROWS(6, 4);
        for (; co + 4 <= cout; co += 4) FORWARD_ROWS(4, 4);
    }
    for (; co + 2 <= cout; co += 2) FORWARD_ROWS(2, 4);
    for (; co < cout; co += 1) FORWARD_ROWS(1, 4);
}

void sskd_conv_flat_forward(const float *x, long ldx, int cin, const long *off, int taps,
                            const float *w, int cout, float *out, long ldo, long npos) {
    sskd_conv_flat_forward_segments(1, &x, ldx, &cin, &off, &taps, &w, cout, out, ldo, npos);
}

// Each call writes every dw element once: added to it (accumulate) or stored over it.
#define STORE_DW(lhs, v) do { if (accumulate) (lhs) += (v); else (lhs) = (v); } while (0)

// dw[co + r][ci + q][t] += Σ_s Σ_p dy[s][co + r][p] · x[s][ci + q][p + off[t]] for r < R, q < S.
#define WEIGHT_BLOCK(R, S)                                                                               \
    do {                                                                                                 \
        v16 acc[R][S];                                                                                   \
        for (int r = 0; r < R; r++) for (int q = 0; q < S; q++) acc[r][q] = (v16){0};                    \
        for (int s = 0; s < nsamp; s++) {                                                                \
            const float *d = dy + s * dys + co * ldy, *xc = x + s * xs + ci * ldx + off[t];              \
            for (long p = 0; p < npos16; p += 16) {                                                      \
                v16 dv[R];                                                                               \
                for (int r = 0; r < R; r++) dv[r] = load16(d + r * ldy + p);                             \
                for (int q = 0; q < S; q++) {                                                            \
                    v16 xv = load16(xc + q * ldx + p);                                                   \
                    for (int r = 0; r < R; r++) acc[r][q] += dv[r] * xv;                                 \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        for (int r = 0; r < R; r++) for (int q = 0; q < S; q++)                                          \
            STORE_DW(dw[((long)(co + r) * cin + ci + q) * taps + t], hsum16(acc[r][q]));                 \
    } while (0)

// The same for the three taps t..t+2 of one kernel row (kW = 3): the dY vectors are loaded once for three taps,
// and the three shifted input vectors share their cache lines. R·S·3 accumulators, R + 3·S loads per 3·R·S FMAs.
#define WEIGHT_BLOCK3(R, S)                                                                              \
    do {                                                                                                 \
        v16 acc[R][S][3];                                                                                \
        for (int r = 0; r < R; r++) for (int q = 0; q < S; q++) for (int k = 0; k < 3; k++) acc[r][q][k] = (v16){0}; \
        for (int s = 0; s < nsamp; s++) {                                                                \
            const float *d = dy + s * dys + co * ldy, *xc = x + s * xs + ci * ldx + off[t];              \
            const long o1 = off[t + 1] - off[t], o2 = off[t + 2] - off[t];                               \
            for (long p = 0; p < npos16; p += 16) {                                                      \
                v16 dv[R];                                                                               \
                for (int r = 0; r < R; r++) dv[r] = load16(d + r * ldy + p);                             \
                for (int q = 0; q < S; q++) {                                                            \
                    v16 x0 = load16(xc + q * ldx + p), x1 = load16(xc + q * ldx + p + o1),               \
                        x2 = load16(xc + q * ldx + p + o2);                                              \
                    for (int r = 0; r < R; r++) {                                                        \
                        acc[r][q][0] += dv[r] * x0; acc[r][q][1] += dv[r] * x1; acc[r][q][2] += dv[r] * x2; \
                    }                                                                                    \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        for (int r = 0; r < R; r++) for (int q = 0; q < S; q++) for (int k = 0; k < 3; k++)              \
            STORE_DW(dw[((long)(co + r) * cin + ci + q) * taps + t + k], hsum16(acc[r][q][k]));          \
    } while (0)

#define WEIGHT_COLUMNS(BLOCK, S)                                                                         \
    do {                                                                                                 \
        int co = 0;                                                                                      \
        for (; co + 4 <= cout; co += 4) BLOCK(4, S);                                                     \
        for (; co < cout; co += 1) BLOCK(1, S);                                                          \
    } while (0)

CLONES
void sskd_conv_flat_weight_grad(const float *dy, long ldy, long dys, int cout,
                                const float *x, long ldx, long xs, int cin,
                                const long *off, int taps, int kw, int nsamp, long npos, float *dw, int accumulate) {
    const long npos16 = (npos + 15) & ~15L;
    if (kw == 3) {
        // Blocks ordered so that a block of 4 dY planes stays in L1 while every input channel pair passes, and each pair
        // while its kernel rows pass: the block's loop reads 6 new cache lines per 24 FMAs and otherwise waits on L2
        // (measured: 7 % faster on 32x32 planes than rows outermost, the same on 16x16 and 8x8).
        int co = 0;
        for (; co + 4 <= cout; co += 4) {
            int ci = 0;
            for (; ci + 2 <= cin; ci += 2) for (int t = 0; t < taps; t += 3) WEIGHT_BLOCK3(4, 2);
            for (; ci < cin; ci += 1) for (int t = 0; t < taps; t += 3) WEIGHT_BLOCK3(4, 1);
        }
        for (; co < cout; co += 1) {
            int ci = 0;
            for (; ci + 2 <= cin; ci += 2) for (int t = 0; t < taps; t += 3) WEIGHT_BLOCK3(1, 2);
            for (; ci < cin; ci += 1) for (int t = 0; t < taps; t += 3) WEIGHT_BLOCK3(1, 1);
        }
        return;
    }
    for (int t = 0; t < taps; t++) {
        int ci = 0;
        for (; ci + 4 <= cin; ci += 4) WEIGHT_COLUMNS(WEIGHT_BLOCK, 4);
        for (; ci < cin; ci += 1) WEIGHT_COLUMNS(WEIGHT_BLOCK, 1);
    }
}
