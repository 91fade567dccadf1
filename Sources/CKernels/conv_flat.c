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
// per R FMAs) is left over; other planes end with a 2-vector block, then single vectors. Weight gradient: an R×S
// block (R output channels × S input channels) per tap, or R × S × 3 (R × S × 2) for a row of three (two) taps,
// summed over positions, then the accumulators' horizontal sums, 8 at a time (hsum16x8); dY is read from 64-byte
// aligned planes, so only the shifted input loads straddle cache lines. docs/performance.md has the measurements.
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

// hsum16 of 8 vectors at once: lane j of the result is hsum16(v[j]) bit for bit, the same additions of the same lanes
// in the same order (halves, then quarters, then (b0 + b2) + (b1 + b3)), each step done for several vectors per
// instruction after a shuffle that lines their lanes up, instead of one horizontal sum per vector.
// (A macro, as vec16.h's helpers: a v8 return value would change the ABI between the clones.)
#define hsum16x8(v) ({                                                                                   \
    const v16 *v_ = (v);                                                                                 \
    v16 w_[4], x_[2];                                                                                    \
    for (int i_ = 0; i_ < 4; i_++)                                                                       \
        w_[i_] = __builtin_shufflevector(v_[2 * i_], v_[2 * i_ + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) \
               + __builtin_shufflevector(v_[2 * i_], v_[2 * i_ + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31); \
    for (int i_ = 0; i_ < 2; i_++)                                                                       \
        x_[i_] = __builtin_shufflevector(w_[2 * i_], w_[2 * i_ + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) \
               + __builtin_shufflevector(w_[2 * i_], w_[2 * i_ + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31); \
    v16 y_ = __builtin_shufflevector(x_[0], x_[1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) \
           + __builtin_shufflevector(x_[0], x_[1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31); \
    __builtin_shufflevector(y_, y_, 0, 2, 4, 6, 8, 10, 12, 14) + __builtin_shufflevector(y_, y_, 1, 3, 5, 7, 9, 11, 13, 15); \
})

// Stores (STORE_DW) the horizontal sums of the `count` accumulators at `flat`, 8 at a time (hsum16x8; the last group
// padded with zero vectors whose sums are dropped): accumulator i of a block of S input channels goes to
// dw[INDEX(i, S)].
#define STORE_SUMS(flat, count, INDEX, S)                                                                 \
    do {                                                                                                 \
        for (int g_ = 0; g_ < (count); g_ += 8) {                                                        \
            v16 grp_[8];                                                                                 \
            for (int j_ = 0; j_ < 8; j_++) grp_[j_] = g_ + j_ < (count) ? (flat)[g_ + j_] : (v16){0};    \
            const v8 sums_ = hsum16x8(grp_);                                                             \
            for (int j_ = 0; j_ < 8 && g_ + j_ < (count); j_++) STORE_DW(dw[INDEX(g_ + j_, S)], sums_[j_]); \
        }                                                                                                \
    } while (0)

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
        STORE_SUMS(&acc[0][0], R * S, WEIGHT_INDEX, S);                                                  \
    } while (0)
// dw's index of accumulator acc[r][q] of WEIGHT_BLOCK, i = r·S + q.
#define WEIGHT_INDEX(i, S) (((long)(co + (i) / (S)) * cin + ci + (i) % (S)) * taps + t)

// The same for the K taps t..t+K−1 of one kernel row (K = 3: a 3x3 kernel; K = 2: a stride-2 convolution's phase with
// two taps per row, PhaseConv.swift): the dY vectors are loaded once for the row's taps, and the shifted input vectors
// share their cache lines. R·S·K accumulators, R + K·S loads per K·R·S FMAs. `kr_` names K for ROW_INDEX.
#define WEIGHT_ROW_BLOCK(R, S, K)                                                                        \
    do {                                                                                                 \
        enum { kr_ = K };                                                                                \
        v16 acc[R][S][K];                                                                                \
        for (int r = 0; r < R; r++) for (int q = 0; q < S; q++) for (int k = 0; k < K; k++) acc[r][q][k] = (v16){0}; \
        long o_[K];                                                                                      \
        for (int k = 0; k < K; k++) o_[k] = off[t + k] - off[t];                                         \
        for (int s = 0; s < nsamp; s++) {                                                                \
            const float *d = dy + s * dys + co * ldy, *xc = x + s * xs + ci * ldx + off[t];              \
            for (long p = 0; p < npos16; p += 16) {                                                      \
                v16 dv[R];                                                                               \
                for (int r = 0; r < R; r++) dv[r] = load16(d + r * ldy + p);                             \
                for (int q = 0; q < S; q++) {                                                            \
                    v16 xv[K];                                                                           \
                    for (int k = 0; k < K; k++) xv[k] = load16(xc + q * ldx + p + o_[k]);                \
                    for (int r = 0; r < R; r++) for (int k = 0; k < K; k++) acc[r][q][k] += dv[r] * xv[k]; \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        STORE_SUMS(&acc[0][0][0], R * S * K, ROW_INDEX, S);                                              \
    } while (0)
// dw's index of accumulator acc[r][q][k] of WEIGHT_ROW_BLOCK, i = (r·S + q)·K + k.
#define ROW_INDEX(i, S) (((long)(co + (i) / (kr_ * (S))) * cin + ci + (i) / kr_ % (S)) * taps + t + (i) % kr_)

// Every row block of dW for rows of K taps, S input channels at a time: blocks ordered so that a block of 4 dY planes
// stays in L1 while every group of input channels passes, and each group while its kernel rows pass (K = 3: the
// block's loop reads 6 new cache lines per 24 FMAs and otherwise waits on L2; measured 7 % faster on 32x32 planes than
// rows outermost, the same on 16x16 and 8x8).
#define WEIGHT_ROWS(K, S)                                                                                \
    do {                                                                                                 \
        int co = 0;                                                                                      \
        for (; co + 4 <= cout; co += 4) {                                                                \
            int ci = 0;                                                                                  \
            for (; ci + S <= cin; ci += S) for (int t = 0; t < taps; t += K) WEIGHT_ROW_BLOCK(4, S, K);  \
            for (; ci < cin; ci += 1) for (int t = 0; t < taps; t += K) WEIGHT_ROW_BLOCK(4, 1, K);       \
        }                                                                                                \
        for (; co < cout; co += 1) {                                                                     \
            int ci = 0;                                                                                  \
            for (; ci + S <= cin; ci += S) for (int t = 0; t < taps; t += K) WEIGHT_ROW_BLOCK(1, S, K);  \
            for (; ci < cin; ci += 1) for (int t = 0; t < taps; t += K) WEIGHT_ROW_BLOCK(1, 1, K);       \
        }                                                                                                \
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
    if (kw == 3) {   // 4 x 2 x 3 = 24 accumulators
        WEIGHT_ROWS(3, 2);
        return;
    }
    if (kw == 2) {   // 4 x 3 x 2 = 24 accumulators
        WEIGHT_ROWS(2, 3);
        return;
    }
    for (int t = 0; t < taps; t++) {
        int ci = 0;
        for (; ci + 4 <= cin; ci += 4) WEIGHT_COLUMNS(WEIGHT_BLOCK, 4);
        for (; ci < cin; ci += 1) WEIGHT_COLUMNS(WEIGHT_BLOCK, 1);
    }
}
