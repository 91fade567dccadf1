// Elementwise and per-plane loops of the engine (Sources/Tensors/Vectorized.swift calls them), compiled like
// conv_flat.c for AVX-512, AVX2 and the baseline with the CPU's version picked at load time. Swift code here is
// compiled for baseline x86-64 (SSE2, 4 lanes); these loops are memory-bound, but with 16 lanes per instruction
// they run at the memory's pace instead of the instruction decoder's.
//
// Sums use 16 lanes and a pairwise reduction of the lanes at the end, then the tail in order. "Masked" means
// g where mask > 0, else 0 (the ReLU backward from the ReLU's output); NaN masks give 0 as PyTorch's
// threshold_backward does. The batch-norm backward loops recompute the fused ReLU's mask from their x instead.
#include "sskd_kernels.h"

#include "vec16.h"

// sskd_sum's loop, also inlined where a plane's mean is taken while the plane is in L1 (sskd_unpack_rows).
static inline __attribute__((always_inline)) float sum16(const float *p, long n) {
    v16 acc = {0};
    long t = 0;
    for (; t + 16 <= n; t += 16) acc += load16(p + t);
    float s = hsum16(acc);
    for (; t < n; t++) s += p[t];
    return s;
}

CLONES float sskd_sum(const float *p, long n) { return sum16(p, n); }

// The fused batch norm + ReLU's mask, recomputed from the batch norm's input: lane kept where x·rs + rh > 0. The
// expression is sskd_affine's own (same operations, contracted to the same FMA per clone), so the mask equals the
// forward output's > 0 bit for bit without reading that output again.
#define relu_keep(xv, rs, rh) ((xv) * (rs) + (rh))

// Zeroes n floats of a padded plane (it is in L1; every float of a plane is written, so planes need no clearing).
static inline __attribute__((always_inline)) void zero_plane(float *d, long n) {
    long k = 0;
    for (; k + 16 <= n; k += 16) store16(d + k, (v16){0});
    if (k < n && n >= 16) store16(d + n - 16, (v16){0});   // the last 16 floats, overlapping the block before
    else for (; k < n; k++) d[k] = 0;
}

// sskd_deviations' loop, also inlined by sskd_unpack_rows.
static inline __attribute__((always_inline)) void deviations16(const float *p, long n, float mu, float *sum,
                                                               float *sumsq) {
    v16 a = {0}, q = {0}, m = splat(mu);
    long t = 0;
    for (; t + 16 <= n; t += 16) { v16 d = load16(p + t) - m; a += d; q += d * d; }
    float sa = hsum16(a), sq = hsum16(q);
    for (; t < n; t++) { float d = p[t] - mu; sa += d; sq += d * d; }
    *sum = sa; *sumsq = sq;
}

CLONES void sskd_deviations(const float *p, long n, float mu, float *sum, float *sumsq) {
    deviations16(p, n, mu, sum, sumsq);
}

// sskd_sum_and_dot_planes for J planes (plane j of g and x at + j·stride) in lockstep, J ≤ 4: the same operations per plane
// (and so the same rounding) as one plane alone, with the J planes' dependency chains overlapping.
static inline __attribute__((always_inline)) void sum_and_dot_lockstep(const float *g, const float *x, long n, long stride,
                                                                       int J, float mu, int relu, float rs, float rh,
                                                                       float *sums, float *dots) {
    v16 a[4] = {{0}, {0}, {0}, {0}}, b[4] = {{0}, {0}, {0}, {0}}, m = splat(mu), s = splat(rs), h = splat(rh);
    long t = 0;
    if (relu) {
        for (; t + 16 <= n; t += 16) {
            for (int j = 0; j < J; j++) {
                v16 xv = load16(x + j * stride + t), gv = positive_part(load16(g + j * stride + t), relu_keep(xv, s, h));
                a[j] += gv; b[j] += gv * (xv - m);
            }
        }
    } else {
        for (; t + 16 <= n; t += 16) {
            for (int j = 0; j < J; j++) {
                v16 gv = load16(g + j * stride + t);
                a[j] += gv; b[j] += gv * (load16(x + j * stride + t) - m);
            }
        }
    }
    for (int j = 0; j < J; j++) {
        const float *gj = g + j * stride, *xj = x + j * stride;
        float sa = hsum16(a[j]), sb = hsum16(b[j]);
        for (long k = t; k < n; k++) {
            float gt = relu && !(relu_keep(xj[k], rs, rh) > 0) ? 0 : gj[k];
            sa += gt; sb += gt * (xj[k] - mu);
        }
        sums[j] = sa; dots[j] = sb;
    }
}

CLONES void sskd_sum_and_dot_planes(const float *g, const float *x, long n, long stride, int planes, float mu, int relu,
                                    float rs, float rh, float *sums, float *dots) {
    int k = 0;
    for (; k + 4 <= planes; k += 4)
        sum_and_dot_lockstep(g + k * stride, x + k * stride, n, stride, 4, mu, relu, rs, rh, sums + k, dots + k);
    for (; k < planes; k++)
        sum_and_dot_lockstep(g + k * stride, x + k * stride, n, 0, 1, mu, relu, rs, rh, sums + k, dots + k);
}

// out[0..<n] = x·scale + shift, then max(·, 0) when relu (NaN → 0): a batch norm's output, for sskd_affine (out may
// be x). affine_packed_row computes it with the same expressions for a padded plane's row, so that both round alike.
static inline __attribute__((always_inline)) void affine_row(const float *x, float *out, long n, float scale, float shift,
                                                             int relu) {
    v16 s = splat(scale), h = splat(shift);
    v8 s8 = splat8(scale), h8 = splat8(shift);
    long t = 0;
    if (relu) {
        for (; t + 16 <= n; t += 16) { v16 v = load16(x + t) * s + h; store16(out + t, positive_part(v, v)); }
        for (; t + 8 <= n; t += 8) { v8 v = load8(x + t) * s8 + h8; store8(out + t, (v8)((i8v)v & (v > (v8){0}))); }
        for (; t < n; t++) { float v = x[t] * scale + shift; out[t] = v > 0 ? v : 0; }
    } else {
        for (; t + 16 <= n; t += 16) store16(out + t, load16(x + t) * s + h);
        for (; t + 8 <= n; t += 8) store8(out + t, load8(x + t) * s8 + h8);
        for (; t < n; t++) out[t] = x[t] * scale + shift;
    }
}

CLONES void sskd_affine(const float *x, float *out, long n, float scale, float shift, int relu, const float *mask) {
    if (relu || !mask) { affine_row(x, out, n, scale, shift, relu); return; }
    v16 s = splat(scale), h = splat(shift);
    long t = 0;
    for (; t + 16 <= n; t += 16) store16(out + t, positive_part(load16(x + t), load16(mask + t)) * s + h);
    for (; t < n; t++) out[t] = (mask[t] > 0 ? x[t] : 0) * scale + shift;
}

// affine_row into a row of a padded plane (out is not x), by ROW_BLOCKS.
static inline __attribute__((always_inline)) void affine_packed_row(const float *x, float *out, long n, float scale,
                                                                    float shift, int relu) {
    v16 s16 = splat16(scale), h16 = splat16(shift);
    v8 s8 = splat8(scale), h8 = splat8(shift);
    v4 s4 = splat4(scale), h4 = splat4(shift);
    if (relu) {
#define A(V, k) do { v##V v = load##V(x + (k)) * s##V + h##V; store##V(out + (k), positive_part##V(v, v)); } while (0)
#define A1(k) do { float v = x[k] * scale + shift; out[k] = v > 0 ? v : 0; } while (0)
        ROW_BLOCKS(n, A, A1);
#undef A
#undef A1
    } else {
#define A(V, k) store##V(out + (k), load##V(x + (k)) * s##V + h##V)
#define A1(k) (out[k] = x[k] * scale + shift)
        ROW_BLOCKS(n, A, A1);
#undef A
#undef A1
    }
}

CLONES void sskd_pack_planes_affine(const float *src, int channels, int h, int w, float *dst, long stride, long wp, int ph,
                                    int pw, int clear, const float *scale, const float *shift, int relu) {
    for (int c = 0; c < channels; c++) {
        const float *s = src + (long)c * h * w;
        float *d = dst + c * stride;
        if (clear) zero_plane(d, stride);
        long base = (long)ph * wp + pw;
        for (int r = 0; r < h; r++, base += wp)
            affine_packed_row(s + (long)r * w, d + base, w, scale[c], shift[c], relu);
    }
}

CLONES void sskd_affine_add(const float *x, const float *r, float *out, long n, float scale, float shift, int relu) {
    v16 s = splat(scale), h = splat(shift);
    long t = 0;
    if (relu) {   // (x·scale + shift) + r, rounded as sskd_affine then sskd_add_relu round it
        for (; t + 16 <= n; t += 16) { v16 v = (load16(x + t) * s + h) + load16(r + t); store16(out + t, positive_part(v, v)); }
        for (; t < n; t++) { float v = (x[t] * scale + shift) + r[t]; out[t] = v > 0 ? v : 0; }
    } else {
        for (; t + 16 <= n; t += 16) store16(out + t, (load16(x + t) * s + h) + load16(r + t));
        for (; t < n; t++) out[t] = (x[t] * scale + shift) + r[t];
    }
}

// sskd_mask_sum_and_dot_planes for J ≤ 4 planes (plane j of g, mask, x and out at + j·stride) in lockstep, as above.
static inline __attribute__((always_inline)) void mask_sum_and_dot_lockstep(const float *g, const float *mask,
                                                                            const float *x, float *out, long n,
                                                                            long stride, int J, float mu, float *sums,
                                                                            float *dots) {
    v16 a[4] = {{0}, {0}, {0}, {0}}, b[4] = {{0}, {0}, {0}, {0}}, m = splat(mu);
    long t = 0;
    for (; t + 16 <= n; t += 16) {
        for (int j = 0; j < J; j++) {
            const long o = j * stride + t;
            v16 gv = positive_part(load16(g + o), load16(mask + o));
            store16(out + o, gv);
            a[j] += gv; b[j] += gv * (load16(x + o) - m);
        }
    }
    for (int j = 0; j < J; j++) {
        float sa = hsum16(a[j]), sb = hsum16(b[j]);
        for (long k = t; k < n; k++) {
            const long o = j * stride + k;
            float gt = mask[o] > 0 ? g[o] : 0;
            out[o] = gt; sa += gt; sb += gt * (x[o] - mu);
        }
        sums[j] = sa; dots[j] = sb;
    }
}

CLONES void sskd_mask_sum_and_dot_planes(const float *g, const float *mask, const float *x, float *out, long n,
                                         long stride, int planes, float mu, float *sums, float *dots) {
    int k = 0;
    for (; k + 4 <= planes; k += 4) {
        const long o = k * stride;
        mask_sum_and_dot_lockstep(g + o, mask + o, x + o, out + o, n, stride, 4, mu, sums + k, dots + k);
    }
    for (; k < planes; k++) {
        const long o = k * stride;
        mask_sum_and_dot_lockstep(g + o, mask + o, x + o, out + o, n, 0, 1, mu, sums + k, dots + k);
    }
}

// out[0..<n] = a·g' − b·x + c with g' = g masked by the fused ReLU's mask when relu (the batch-norm backward's dx), for
// sskd_linear2 (out may be g or x); linear2_packed_row computes it with the same expressions (contracted alike) for a
// padded plane's row, so that both round alike.
static inline __attribute__((always_inline)) void linear2_row(const float *g, const float *x, float *out, long n, float a,
                                                              float b, float c, int relu, float rs, float rh) {
    v16 va = splat(a), vb = splat(b), vc = splat(c), s = splat(rs), h = splat(rh);
    long t = 0;
    if (relu) {
        for (; t + 16 <= n; t += 16) {
            v16 xv = load16(x + t);
            store16(out + t, va * positive_part(load16(g + t), relu_keep(xv, s, h)) - vb * xv + vc);
        }
        for (; t < n; t++) out[t] = a * (relu_keep(x[t], rs, rh) > 0 ? g[t] : 0) - b * x[t] + c;
    } else {
        for (; t + 16 <= n; t += 16) store16(out + t, va * load16(g + t) - vb * load16(x + t) + vc);
        for (; t < n; t++) out[t] = a * g[t] - b * x[t] + c;
    }
}

CLONES void sskd_linear2(const float *g, const float *x, float *out, long n, float a, float b, float c,
                         int relu, float rs, float rh) {
    linear2_row(g, x, out, n, a, b, c, relu, rs, rh);
}

CLONES void sskd_relu(const float *x, float *out, long n) {
    long t = 0;
    for (; t + 16 <= n; t += 16) { v16 v = load16(x + t); store16(out + t, positive_part(v, v)); }
    for (; t < n; t++) out[t] = x[t] > 0 ? x[t] : 0;
}

CLONES void sskd_relu_backward(const float *g, const float *x, float *out, long n) {
    long t = 0;
    for (; t + 16 <= n; t += 16) store16(out + t, positive_part(load16(g + t), load16(x + t)));
    for (; t < n; t++) out[t] = x[t] > 0 ? g[t] : 0;
}

CLONES void sskd_add(const float *a, const float *b, float *out, long n) {
    long t = 0;
    for (; t + 16 <= n; t += 16) store16(out + t, load16(a + t) + load16(b + t));
    for (; t < n; t++) out[t] = a[t] + b[t];
}

CLONES void sskd_add_relu(const float *a, const float *b, float *out, long n) {
    long t = 0;
    for (; t + 16 <= n; t += 16) { v16 v = load16(a + t) + load16(b + t); store16(out + t, positive_part(v, v)); }
    for (; t < n; t++) { float v = a[t] + b[t]; out[t] = v > 0 ? v : 0; }
}

// Rows of the padded planes are short (7–32 floats in the ResNets): a compiler-vectorised loop leaves them to its
// scalar remainder, and short zero loops become a memset call per row. So rows go by ROW_BLOCKS here (whole vectors,
// the last one overlapping the one before), and a plane is zeroed as a whole (it is in L1) before its rows are
// copied in.
static inline __attribute__((always_inline)) void copy_row(float *d, const float *s, long n) {
#define C(V, k) store##V(d + (k), load##V(s + (k)))
#define C1(k) (d[k] = s[k])
    ROW_BLOCKS(n, C, C1);
#undef C
#undef C1
}

static inline __attribute__((always_inline)) void copy_row_add(float *d, const float *s, long n, float v) {
    v16 v16s = splat16(v);
    v8 v8s = splat8(v);
    v4 v4s = splat4(v);
#define C(V, k) store##V(d + (k), load##V(s + (k)) + v##V##s)
#define C1(k) (d[k] = s[k] + v)
    ROW_BLOCKS(n, C, C1);
#undef C
#undef C1
}

// d += s. d is an input too, so the last block, which may overlap the one before, is summed before anything is
// stored and stored last.
static inline __attribute__((always_inline)) void add_row(float *d, const float *s, long n) {
    if (n >= 16) {
        const long last = n - 16;
        const v16 tail = load16(d + last) + load16(s + last);
        long k = 0;
        for (; k + 16 <= n; k += 16) store16(d + k, load16(d + k) + load16(s + k));
        if (k < n) store16(d + last, tail);
    } else if (n >= 8) {
        const v8 a = load8(d) + load8(s), b = load8(d + n - 8) + load8(s + n - 8);
        store8(d, a); store8(d + n - 8, b);
    } else if (n >= 4) {
        const v4 a = load4(d) + load4(s), b = load4(d + n - 4) + load4(s + n - 4);
        store4(d, a); store4(d + n - 4, b);
    } else {
        for (long k = 0; k < n; k++) d[k] = d[k] + s[k];
    }
}

CLONES void sskd_pack_planes(const float *src, int channels, int h, int w, float *dst, long stride, long wp, int ph, int pw,
                             int clear) {
    for (int c = 0; c < channels; c++) {
        const float *s = src + (long)c * h * w;
        float *d = dst + c * stride;
        if (clear) zero_plane(d, stride);
        long base = (long)ph * wp + pw;   // where row 0 of the data starts
        for (int r = 0; r < h; r++, base += wp) copy_row(d + base, s + (long)r * w, w);
    }
}

// linear2_row into a row of a padded plane (out is neither g nor x), by ROW_BLOCKS.
static inline __attribute__((always_inline)) void linear2_packed_row(const float *g, const float *x, float *out, long n,
                                                                     float a, float b, float c, int relu, float rs,
                                                                     float rh) {
    v16 va16 = splat16(a), vb16 = splat16(b), vc16 = splat16(c), s16 = splat16(rs), h16 = splat16(rh);
    v8 va8 = splat8(a), vb8 = splat8(b), vc8 = splat8(c), s8 = splat8(rs), h8 = splat8(rh);
    v4 va4 = splat4(a), vb4 = splat4(b), vc4 = splat4(c), s4 = splat4(rs), h4 = splat4(rh);
    if (relu) {
#define L(V, k) do { v##V xv = load##V(x + (k)); store##V(out + (k),                                        \
        va##V * positive_part##V(load##V(g + (k)), relu_keep(xv, s##V, h##V)) - vb##V * xv + vc##V); } while (0)
#define L1(k) (out[k] = a * (relu_keep(x[k], rs, rh) > 0 ? g[k] : 0) - b * x[k] + c)
        ROW_BLOCKS(n, L, L1);
#undef L
#undef L1
    } else {
#define L(V, k) store##V(out + (k), va##V * load##V(g + (k)) - vb##V * load##V(x + (k)) + vc##V)
#define L1(k) (out[k] = a * g[k] - b * x[k] + c)
        ROW_BLOCKS(n, L, L1);
#undef L
#undef L1
    }
}

CLONES void sskd_pack_planes_linear2(const float *g, const float *x, int channels, int h, int w, float *dst, long stride,
                                    long wp, int ph, int pw, int clear, const float *a, const float *b, const float *c,
                                    int relu, const float *rs, const float *rh) {
    for (int ch = 0; ch < channels; ch++) {
        const long at = (long)ch * h * w;
        float *d = dst + ch * stride;
        if (clear) zero_plane(d, stride);
        long base = (long)ph * wp + pw;
        for (int r = 0; r < h; r++, base += wp) {
            linear2_packed_row(g + at + (long)r * w, x + at + (long)r * w, d + base, w, a[ch], b[ch], c[ch], relu,
                               relu ? rs[ch] : 0, relu ? rh[ch] : 0);
        }
    }
}

// PlaneMoments of 4 planes of n floats, `stride` floats apart: each plane's sum16 and deviations16, in lockstep so
// that the 4 planes' dependency chains (one vector accumulator each) overlap; every plane gets exactly the operations
// (and the rounding) of the one-plane loops.
static inline __attribute__((always_inline)) void moments4(const float *p, long stride, long n, float *mean,
                                                           float *residual, float *m2) {
    v16 acc[4] = {{0}, {0}, {0}, {0}};
    long t = 0;
    for (; t + 16 <= n; t += 16) for (int j = 0; j < 4; j++) acc[j] += load16(p + j * stride + t);
    const long tail = t;
    v16 m[4];
    for (int j = 0; j < 4; j++) {
        float s = hsum16(acc[j]);
        for (long k = tail; k < n; k++) s += p[j * stride + k];
        mean[j] = s / (float)n;
        m[j] = splat(mean[j]);
    }
    v16 a[4] = {{0}, {0}, {0}, {0}}, q[4] = {{0}, {0}, {0}, {0}};
    for (t = 0; t + 16 <= n; t += 16) {
        for (int j = 0; j < 4; j++) { v16 d = load16(p + j * stride + t) - m[j]; a[j] += d; q[j] += d * d; }
    }
    for (int j = 0; j < 4; j++) {
        float sa = hsum16(a[j]), sq = hsum16(q[j]);
        for (long k = tail; k < n; k++) { float d = p[j * stride + k] - mean[j]; sa += d; sq += d * d; }
        residual[j] = sa; m2[j] = sq;
    }
}

CLONES void sskd_unpack_rows(const float *src, long ldo, long wp, int channels, int h, int w, const float *bias, int accumulate,
                             float *dst, float *mean, float *residual, float *m2) {
    const long hw = (long)h * w;
    for (int c = 0; c < channels; c++) {
        const float *s = src + c * ldo;
        float *d = dst + c * hw;
        float v = bias ? bias[c] : 0;
        if (accumulate) {   // dst + src, the order the autograd engine adds a second gradient in
            for (int r = 0; r < h; r++) add_row(d + (long)r * w, s + (long)r * wp, w);
        } else if (v == 0) {   // a plain copy, so that -0 stays -0
            for (int r = 0; r < h; r++) copy_row(d + (long)r * w, s + (long)r * wp, w);
        } else {
            for (int r = 0; r < h; r++) copy_row_add(d + (long)r * w, s + (long)r * wp, w, v);
        }
        // The planes are in L1: their rounded means, then Σ (d − mean) and Σ (d − mean)², 4 planes at a time.
        if (mean && hw > 0 && (c % 4 == 3 || c == channels - 1)) {
            int c0 = c - c % 4;
            if (c % 4 == 3) {
                moments4(dst + c0 * hw, hw, hw, mean + c0, residual + c0, m2 + c0);
            } else {
                for (; c0 <= c; c0++) {
                    float mu = sum16(dst + c0 * hw, hw) / (float)hw;
                    mean[c0] = mu;
                    deviations16(dst + c0 * hw, hw, mu, &residual[c0], &m2[c0]);
                }
            }
        }
    }
}

// A row's even and odd elements, 16 and 8 at a time (the stride-2 convolution's phases).
#define EVENS16 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define ODDS16 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
CLONES void sskd_pack_phases(const float *src, int channels, int h, int w, int phases, float *dst, long stride, long wq,
                             int top, int left) {
    const int w2 = w / 2;
    for (int c = 0; c < channels; c++) {
        for (int q = 0; q < 4; q++) {
            if (!(phases >> q & 1)) continue;
            float *d = dst + ((long)q * channels + c) * stride;
            zero_plane(d, stride);
        }
        for (int r = 0; r < h; r++) {
            const int a = r & 1, m = r >> 1;
            const float *s = src + ((long)c * h + r) * w;
            float *d0 = phases >> (2 * a) & 1 ? dst + ((long)(2 * a) * channels + c) * stride + (long)(top + m) * wq + left : 0;
            float *d1 = phases >> (2 * a + 1) & 1 ? dst + ((long)(2 * a + 1) * channels + c) * stride + (long)(top + m) * wq + left : 0;
#define P16(n) do { v16 lo = load16(s + 2 * (n)), hi = load16(s + 2 * (n) + 16);                            \
        if (d0) store16(d0 + (n), __builtin_shufflevector(lo, hi, EVENS16));                             \
        if (d1) store16(d1 + (n), __builtin_shufflevector(lo, hi, ODDS16)); } while (0)
#define P8(n) do { v16 v = load16(s + 2 * (n));                                                          \
        if (d0) store8(d0 + (n), __builtin_shufflevector(v, v, 0, 2, 4, 6, 8, 10, 12, 14));             \
        if (d1) store8(d1 + (n), __builtin_shufflevector(v, v, 1, 3, 5, 7, 9, 11, 13, 15)); } while (0)
#define P4(n) do { v8 v = load8(s + 2 * (n));                                                            \
        if (d0) store4(d0 + (n), __builtin_shufflevector(v, v, 0, 2, 4, 6));                             \
        if (d1) store4(d1 + (n), __builtin_shufflevector(v, v, 1, 3, 5, 7)); } while (0)
#define P1(n) do { if (d0) d0[n] = s[2 * (n)]; if (d1) d1[n] = s[2 * (n) + 1]; } while (0)
#define P(V, n) P##V(n)
            ROW_BLOCKS(w2, P, P1);
#undef P
#undef P16
#undef P8
#undef P4
#undef P1
        }
    }
}

// d[2n] = e[n], d[2n + 1] = o[n] for n < w2 (NULL e or o: zeros), or added to d with accumulate. Whole vectors, as
// ROW_BLOCKS covers a row, except that the last block, which may overlap the one before, is computed before anything is
// stored (with accumulate it reads d) and stored last.
#define INTERLEAVE16(n, lo, hi) do {                                                                     \
        v16 ev = e ? load16(e + (n)) : (v16){0}, ov = o ? load16(o + (n)) : (v16){0};                   \
        lo = __builtin_shufflevector(ev, ov, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);    \
        hi = __builtin_shufflevector(ev, ov, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31); \
        if (accumulate) { lo = load16(d + 2 * (n)) + lo; hi = load16(d + 2 * (n) + 16) + hi; } } while (0)
#define INTERLEAVE8(n, v) do {                                                                           \
        v8 ev = e ? load8(e + (n)) : (v8){0}, ov = o ? load8(o + (n)) : (v8){0};                        \
        v = __builtin_shufflevector(ev, ov, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);       \
        if (accumulate) v = load16(d + 2 * (n)) + v; } while (0)
#define INTERLEAVE4(n, v) do {                                                                           \
        v4 ev = e ? load4(e + (n)) : (v4){0}, ov = o ? load4(o + (n)) : (v4){0};                        \
        v = __builtin_shufflevector(ev, ov, 0, 4, 1, 5, 2, 6, 3, 7);                                     \
        if (accumulate) v = load8(d + 2 * (n)) + v; } while (0)
static inline __attribute__((always_inline)) void interleave_row(float *d, const float *e, const float *o, long w2,
                                                                 int accumulate) {
    if (w2 >= 16) {
        const long last = w2 - 16;
        v16 tlo = {0}, thi = {0};
        if (w2 % 16) INTERLEAVE16(last, tlo, thi);
        long n = 0;
        for (; n + 16 <= w2; n += 16) {
            v16 lo, hi;
            INTERLEAVE16(n, lo, hi);
            store16(d + 2 * n, lo); store16(d + 2 * n + 16, hi);
        }
        if (n < w2) { store16(d + 2 * last, tlo); store16(d + 2 * last + 16, thi); }
    } else if (w2 >= 8) {
        v16 a, b;
        INTERLEAVE8(0, a); INTERLEAVE8(w2 - 8, b);
        store16(d, a); store16(d + 2 * (w2 - 8), b);
    } else if (w2 >= 4) {
        v8 a, b;
        INTERLEAVE4(0, a); INTERLEAVE4(w2 - 4, b);
        store8(d, a); store8(d + 2 * (w2 - 4), b);
    } else {
        for (long n = 0; n < w2; n++) {
            float ve = e ? e[n] : 0, vo = o ? o[n] : 0;
            if (accumulate) { d[2 * n] = d[2 * n] + ve; d[2 * n + 1] = d[2 * n + 1] + vo; }
            else { d[2 * n] = ve; d[2 * n + 1] = vo; }
        }
    }
}
#undef INTERLEAVE16
#undef INTERLEAVE8
#undef INTERLEAVE4

CLONES void sskd_unpack_phases(const float *const *src, long ldo, long wd, int channels, int h2, int w2, int accumulate,
                               float *dst) {
    const long w = 2L * w2;
    for (int c = 0; c < channels; c++) {
        for (int m = 0; m < h2; m++) {
            for (int a = 0; a < 2; a++) {
                const float *e = src[2 * a] ? src[2 * a] + c * ldo + m * wd : 0;
                const float *o = src[2 * a + 1] ? src[2 * a + 1] + c * ldo + m * wd : 0;
                float *d = dst + ((long)c * 2 * h2 + 2 * m + a) * w;
                interleave_row(d, e, o, w2, accumulate);
            }
        }
    }
}

const char *sskd_kernel_instruction_set(void) {
#if defined(__x86_64__) && defined(__ELF__) && !defined(SSKD_NO_CLONES)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2+FMA)";
    return "x86-64 (baseline)";
#else
    return "single build (no per-CPU versions)";
#endif
}
