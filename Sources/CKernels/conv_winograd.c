// The 3x3 stride-1 convolution on zero-padded flat planes by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, eq. 8): each 2x2 block of outputs ("tile") is
//   Y = Aᵀ [ Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B) ] A
// with d the tile's 4x4 input patch, g a 3x3 filter and
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1],
// so 16 multiply-adds per input channel give 4 outputs, where the direct kernel spends 36. The Σ over input channels
// is, for each of the 16 elements ξ of the 4x4 transformed tile, a product of U[ξ] [Cout, Cin] and V[ξ] [Cin, tiles]:
// the flat forward kernel with one tap (conv_flat.c) runs it, tiles in the vector lanes.
//
// Layout (include/sskd_kernels.h): the same padded planes and output rows as sskd_conv_flat_forward with the 3x3
// taps i·wp + j, so either kernel serves the same caller. Tiles start at even rows and even columns of the flat
// output; an output (oh, ow) depends only on its own 3x3 window (Aᵀ's first row and Bᵀ's first three rows never
// reach the patch's fourth row or column), bit for bit on the window's values and on the parity of (oh, ow).
//
// Per plane group: the input transform writes V [16][Cin][tiles] with the tiles of tile row i at i·ntj + j (tile rows
// packed end to end, so no lanes are wasted on short rows), 16 GEMMs write M [16][Cout][tiles], and the output
// transform writes the output rows. docs/performance.md has the measurements.
#include "sskd_kernels.h"

#include "vec16.h"

#include <string.h>

// Even and odd lanes of the 32 floats a, b.
#define EVENS(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define ODDS(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
// The 32 floats y0[0], y1[0], y0[1], y1[1], … in two vectors.
#define ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define ZIP_HI(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

long sskd_winograd_tiles(long wout, int hout) { return ((hout + 1) / 2) * ((wout + 1) / 2); }

// The positions the GEMMs compute: the tiles rounded up to whole vectors, and further to a count of vectors the flat
// kernel runs in full blocks of 4, 5 or 6 when that costs less than its 2- and 1-vector tail blocks (FlatPlanes.cost
// in DirectConv.swift has the same model): 7 vectors become 8, 13 become 15.
static long gemm_positions(long tiles) {
    static const double tail[4] = {0, 0.5, 0.25, 0.75};
    const long v = (tiles + 15) / 16;
    long best = v;
    double least = 1e300;
    for (long w = v; w <= v + 3; w++) {
        const double cost = (w % 4 == 0 || w % 5 == 0 || w % 6 == 0) ? (double)w : (double)w + tail[w % 4];
        if (cost < least) least = cost, best = w;
    }
    return 16 * best;
}

// Floats from one channel's row of a transformed element to the next channel's: the GEMMs' positions plus the 16
// lanes a last tile row's vector stores past the tiles.
static long tile_rows(long wout, int hout) { return gemm_positions(sskd_winograd_tiles(wout, hout)) + 16; }

// V and M: 16 elements, each with a row per channel and 16 floats of padding (see the forward kernel).
long sskd_winograd_workspace(int cin, int cout, long wout, int hout) {
    return 16 * (tile_rows(wout, hout) * ((long)cin + cout) + 32);
}

// 16 filters at a time, the filters in the vector lanes (a last group of fewer padded with zeros): the same
// operations in the same order as one filter at a time.
CLONES
void sskd_winograd_weights(const float *w, long filters, long plane, float *u) {
    for (long k = 0; k < filters; k += 16) {
        const int n = filters - k < 16 ? (int)(filters - k) : 16;
        v16 g[9];
        for (int j = 0; j < 9; j++) {
            g[j] = (v16){0};
            for (int lane = 0; lane < n; lane++) g[j][lane] = w[9 * (k + lane) + j];
        }
        v16 t[4][3];   // G g: rows of the transformed filters before the right-hand Gᵀ
        for (int j = 0; j < 3; j++) {
            t[0][j] = g[j];
            t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
            t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
            t[3][j] = g[6 + j];
        }
        for (int a = 0; a < 4; a++) {
            const v16 e[4] = {t[a][0], 0.5f * (t[a][0] + t[a][1] + t[a][2]), 0.5f * (t[a][0] - t[a][1] + t[a][2]),
                              t[a][2]};
            for (int b = 0; b < 4; b++) {
                float *dst = u + (4 * a + b) * plane + k;
                if (n == 16) {
                    store16(dst, e[b]);
                } else {
                    for (int lane = 0; lane < n; lane++) dst[lane] = e[b][lane];
                }
            }
        }
    }
}

// The row transform d B of one input row for 16 tiles from column c0 on: r[k] for the 4 columns of each tile.
#define ROW_TRANSFORM(row, r)                                                                            \
    do {                                                                                                 \
        const float *q_ = (row);                                                                         \
        const v16 a_ = load16(q_), b_ = load16(q_ + 16), c_ = load16(q_ + 2), d_ = load16(q_ + 18);      \
        const v16 e0 = EVENS(a_, b_), o0 = ODDS(a_, b_), e2 = EVENS(c_, d_), o2 = ODDS(c_, d_);          \
        r[0] = e0 - e2;                                                                                  \
        r[1] = o0 + e2;                                                                                  \
        r[2] = e2 - o0;                                                                                  \
        r[3] = o0 - o2;                                                                                  \
    } while (0)

// Input transform of cin padded planes: V[ξ][ci][i·ntj + j] at vt + ξ·vstep + ci·ld, 16 tiles of a tile row at a
// time, from the last 16 columns of tiles to the first. A row's last vector may take lanes past its tiles (reading
// the padded planes' next row and slack): fewer than 16, they land on the first tiles of the next tile row (or rows),
// stored after them, or past the last row on lanes whose products only reach M's lanes past the tiles, which no
// output reads (nor those the GEMMs compute to fill their last vectors, which hold whatever the workspace held).
// Input rows 2i + 2 and 2i + 3 of tile row i are rows 0 and 1 of tile row i + 1: each row's transform d B is computed
// once.
static inline __attribute__((always_inline)) void input_transform(const float *x, long ldx, int cin, long wp,
                                                                   long ntj, long nti, float *vt, long ld, long vstep) {
    for (int ci = 0; ci < cin; ci++) {
        const float *xc = x + ci * ldx;
        float *vc = vt + ci * ld;
        for (long j0 = (ntj - 1) & ~15L; j0 >= 0; j0 -= 16) {
            v16 d[4][4];
            ROW_TRANSFORM(xc + 2 * j0, d[0]);
            ROW_TRANSFORM(xc + wp + 2 * j0, d[1]);
            for (long i = 0; i < nti; i++) {
                const float *row = xc + (2 * i + 2) * wp + 2 * j0;
                ROW_TRANSFORM(row, d[2]);
                ROW_TRANSFORM(row + wp, d[3]);
                float *dst = vc + i * ntj + j0;
                for (int c = 0; c < 4; c++) {
                    store16(dst + (0 + c) * vstep, d[0][c] - d[2][c]);
                    store16(dst + (4 + c) * vstep, d[1][c] + d[2][c]);
                    store16(dst + (8 + c) * vstep, d[2][c] - d[1][c]);
                    store16(dst + (12 + c) * vstep, d[1][c] - d[3][c]);
                    d[0][c] = d[2][c];
                    d[1][c] = d[3][c];
                }
            }
        }
    }
}

CLONES
void sskd_conv_winograd_forward(const float *x, long ldx, int cin, long wp, long wout, int hout, const float *u,
                                int cout, float *out, long ldo, float *work) {
    const long ntj = (wout + 1) / 2, nti = (hout + 1) / 2, ld = tile_rows(wout, hout);
    // From V[ξ] to V[ξ + 1] and M[ξ] to M[ξ + 1]; the 16 floats more keep the 16 elements' rows off the same cache
    // sets.
    const long vstep = ld * cin + 16, mstep = ld * cout + 16;
    float *vt = work, *mt = work + 16 * vstep;
    static const long zero = 0;
    const long tiles = sskd_winograd_tiles(wout, hout);
    input_transform(x, ldx, cin, wp, ntj, nti, vt, ld, vstep);
    // M[ξ] = U[ξ] V[ξ]: one GEMM per transformed element, the tiles as positions of a one-tap flat convolution.
    for (int k = 0; k < 16; k++)
        sskd_conv_flat_forward(vt + k * vstep, ld, cin, &zero, 1, u + (long)k * cout * cin, cout, mt + k * mstep, ld,
                               gemm_positions(tiles));
    // Output transform: rows 2i and 2i + 1 (the second only below Hout), 32 columns from 2·j0 on, the vectors of a
    // tile row from the last to the first. A row's last vector writes past its tiles into the row's dropped
    // columns and the next rows; those are written after it (by the vectors before it when there are several,
    // wp ≥ 32, or by the next tile row).
    for (int co = 0; co < cout; co++) {
        const float *mc = mt + co * ld;
        float *oc = out + co * ldo;
        for (long i = 0; i < nti; i++) {
            for (long j0 = (ntj - 1) & ~15L; j0 >= 0; j0 -= 16) {
                const float *m = mc + i * ntj + j0;
                v16 t[4][2];
                for (int a = 0; a < 4; a++) {
                    const v16 m0 = load16(m + (4 * a) * mstep), m1 = load16(m + (4 * a + 1) * mstep);
                    const v16 m2 = load16(m + (4 * a + 2) * mstep), m3 = load16(m + (4 * a + 3) * mstep);
                    t[a][0] = m0 + m1 + m2;
                    t[a][1] = m1 - m2 - m3;
                }
                const v16 y00 = t[0][0] + t[1][0] + t[2][0], y01 = t[0][1] + t[1][1] + t[2][1];
                const v16 y10 = t[1][0] - t[2][0] - t[3][0], y11 = t[1][1] - t[2][1] - t[3][1];
                float *o0 = oc + 2 * i * wp + 2 * j0, *o1 = o0 + wp;
                store16(o0, ZIP_LO(y00, y01));
                store16(o0 + 16, ZIP_HI(y00, y01));
                if (2 * i + 1 < hout) {
                    store16(o1, ZIP_LO(y10, y11));
                    store16(o1 + 16, ZIP_HI(y10, y11));
                }
            }
        }
    }
}

