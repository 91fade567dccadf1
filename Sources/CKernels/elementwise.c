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

CLONES float sskd_sum(const float *p, long n) {
    v16 acc = {0};
    long t = 0;
    for (; t + 16 <= n; t += 16) acc += load16(p + t);
    float s = hsum16(acc);
    for (; t < n; t++) s += p[t];
    return s;
}

// The fused batch norm + ReLU's mask, recomputed from the batch norm's input: lane kept where x·rs + rh > 0. The
// expression is sskd_affine's own (same operations, contracted to the same FMA per clone), so the mask equals the
// forward output's > 0 bit for bit without reading that output again.
#define relu_keep(xv, rs, rh) ((xv) * (rs) + (rh))

// Zeroes n floats of a padded plane (it is in L1; every float of a plane is written, so planes need no clearing).
static inline __attribute__((always_inline)) void zero_plane(float *d, long n) {
    long k = 0;
    for (; k + 16 <= n; k += 16) store16(d + k, (v16){0});
    for (; k < n; k++) d[k] = 0;
}

CLONES void sskd_deviations(const float *p, long n, float mu, float *sum, float *sumsq) {
    v16 a = {0}, q = {0}, m = splat(mu);
    long t = 0;
    for (; t + 16 <= n; t += 16) { v16 d = load16(p + t) - m; a += d; q += d * d; }
    float sa = hsum16(a), sq = hsum16(q);
    for (; t < n; t++) { float d = p[t] - mu; sa += d; sq += d * d; }
    *sum = sa; *sumsq = sq;
}

CLONES void sskd_sum_and_dot(const float *g, const float *x, long n, float mu, int relu, float rs, float rh,
                             float *sum, float *dot) {
    v16 a = {0}, b = {0}, m = splat(mu), s = splat(rs), h = splat(rh);
    long t = 0;
    if (relu) {
        for (; t + 16 <= n; t += 16) {
            v16 xv = load16(x + t), gv = positive_part(load16(g + t), relu_keep(xv, s, h));
            a += gv; b += gv * (xv - m);
        }
    } else {
        for (; t + 16 <= n; t += 16) { v16 gv = load16(g + t); a += gv; b += gv * (load16(x + t) - m); }
    }
    float sa = hsum16(a), sb = hsum16(b);
    for (; t < n; t++) {
        float gt = relu && !(relu_keep(x[t], rs, rh) > 0) ? 0 : g[t];
        sa += gt; sb += gt * (x[t] - mu);
    }
    *sum = sa; *dot = sb;
}

// out[0..<n] = x·scale + shift, then max(·, 0) when relu (NaN → 0): a batch norm's output, shared by sskd_affine and
// sskd_pack_planes_affine so that both round alike.
typedef int i8v __attribute__((vector_size(32)));
static inline __attribute__((always_inline)) void affine_row(const float *x, float *out, long n, float scale, float shift,
                                                             int relu) {
    v16 s = splat(scale), h = splat(shift);
    v8 s8 = (v8){0} + scale, h8 = (v8){0} + shift;
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

CLONES void sskd_pack_planes_affine(const float *src, int channels, int h, int w, float *dst, long stride, long wp, int ph,
                                    int pw, const float *scale, const float *shift, int relu) {
    for (int c = 0; c < channels; c++) {
        const float *s = src + (long)c * h * w;
        float *d = dst + c * stride;
        zero_plane(d, stride);
        long base = (long)ph * wp + pw;
        for (int r = 0; r < h; r++, base += wp) affine_row(s + (long)r * w, d + base, w, scale[c], shift[c], relu);
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

CLONES void sskd_mask_sum_and_dot(const float *g, const float *mask, const float *x, float *out, long n, float mu,
                                  float *sum, float *dot) {
    v16 a = {0}, b = {0}, m = splat(mu);
    long t = 0;
    for (; t + 16 <= n; t += 16) {
        v16 gv = positive_part(load16(g + t), load16(mask + t));
        store16(out + t, gv);
        a += gv; b += gv * (load16(x + t) - m);
    }
    float sa = hsum16(a), sb = hsum16(b);
    for (; t < n; t++) {
        float gt = mask[t] > 0 ? g[t] : 0;
        out[t] = gt; sa += gt; sb += gt * (x[t] - mu);
    }
    *sum = sa; *dot = sb;
}

// out[0..<n] = a·g' − b·x + c with g' = g masked by the fused ReLU's mask when relu (the batch-norm backward's dx);
// shared by sskd_linear2 and sskd_pack_planes_linear2 so that both round alike (the same expressions, contracted alike).
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

// Rows of the padded planes are short (8–32 floats in the ResNets): a compiler-vectorised loop leaves them to its
// scalar remainder, and short zero loops become a memset call per row. So rows are copied 16, then 8 floats at a
// time here, and a plane is zeroed as a whole (it is in L1) before its rows are copied in.
static inline __attribute__((always_inline)) void copy_row(float *d, const float *s, long n) {
    long k = 0;
    for (; k + 16 <= n; k += 16) store16(d + k, load16(s + k));
    for (; k + 8 <= n; k += 8) store8(d + k, load8(s + k));
    for (; k < n; k++) d[k] = s[k];
}

static inline __attribute__((always_inline)) void add_row(float *d, const float *s, long n) {
    long k = 0;
    for (; k + 16 <= n; k += 16) store16(d + k, load16(d + k) + load16(s + k));
    for (; k + 8 <= n; k += 8) store8(d + k, load8(d + k) + load8(s + k));
    for (; k < n; k++) d[k] = d[k] + s[k];
}

static inline __attribute__((always_inline)) void copy_row_add(float *d, const float *s, long n, float v) {
    long k = 0;
    for (; k + 16 <= n; k += 16) store16(d + k, load16(s + k) + splat(v));
    for (; k + 8 <= n; k += 8) store8(d + k, load8(s + k) + ((v8){0} + v));
    for (; k < n; k++) d[k] = s[k] + v;
}

CLONES void sskd_pack_planes(const float *src, int channels, int h, int w, float *dst, long stride, long wp, int ph, int pw) {
    for (int c = 0; c < channels; c++) {
        const float *s = src + (long)c * h * w;
        float *d = dst + c * stride;
        zero_plane(d, stride);
        long base = (long)ph * wp + pw;   // where row 0 of the data starts
        for (int r = 0; r < h; r++, base += wp) copy_row(d + base, s + (long)r * w, w);
    }
}

CLONES void sskd_pack_planes_linear2(const float *g, const float *x, int channels, int h, int w, float *dst, long stride,
                                    long wp, int ph, int pw, const float *a, const float *b, const float *c, int relu,
                                    const float *rs, const float *rh) {
    for (int ch = 0; ch < channels; ch++) {
        const long at = (long)ch * h * w;
        float *d = dst + ch * stride;
        zero_plane(d, stride);
        long base = (long)ph * wp + pw;
        for (int r = 0; r < h; r++, base += wp) {
            linear2_row(g + at + (long)r * w, x + at + (long)r * w, d + base, w, a[ch], b[ch], c[ch], relu,
                        relu ? rs[ch] : 0, relu ? rh[ch] : 0);
        }
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
        if (mean && hw > 0) {   // the plane is in L1: its rounded mean, then Σ (d − mean) and Σ (d − mean)²
            float mu = sskd_sum(d, hw) / (float)hw;
            mean[c] = mu;
            sskd_deviations(d, hw, mu, &residual[c], &m2[c]);
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
            int n = 0;
            for (; n + 16 <= w2; n += 16) {
                v16 lo = load16(s + 2 * n), hi = load16(s + 2 * n + 16);
                if (d0) store16(d0 + n, __builtin_shufflevector(lo, hi, EVENS16));
                if (d1) store16(d1 + n, __builtin_shufflevector(lo, hi, ODDS16));
            }
            for (; n + 8 <= w2; n += 8) {
                v16 v = load16(s + 2 * n);
                if (d0) store8(d0 + n, __builtin_shufflevector(v, v, 0, 2, 4, 6, 8, 10, 12, 14));
                if (d1) store8(d1 + n, __builtin_shufflevector(v, v, 1, 3, 5, 7, 9, 11, 13, 15));
            }
            for (; n < w2; n++) {
                if (d0) d0[n] = s[2 * n];
                if (d1) d1[n] = s[2 * n + 1];
            }
        }
    }
}

CLONES void sskd_unpack_phases(const float *const *src, long ldo, long wd, int channels, int h2, int w2, int accumulate,
                               float *dst) {
    const long w = 2L * w2;
    for (int c = 0; c < channels; c++) {
        for (int m = 0; m < h2; m++) {
            for (int a = 0; a < 2; a++) {
                const float *e = src[2 * a] ? src[2 * a] + c * ldo + m * wd : 0;
                const float *o = src[2 * a + 1] ? src[2 * a + 1] + c * ldo + m * wd : 0;
                float *d = dst + ((long)c * 2 * h2 + 2 * m + a) * w;
                int n = 0;
                for (; n + 16 <= w2; n += 16) {
                    v16 ev = e ? load16(e + n) : (v16){0}, ov = o ? load16(o + n) : (v16){0};
                    v16 lo = __builtin_shufflevector(ev, ov, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
                    v16 hi = __builtin_shufflevector(ev, ov, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
                    if (accumulate) { lo = load16(d + 2 * n) + lo; hi = load16(d + 2 * n + 16) + hi; }
                    store16(d + 2 * n, lo); store16(d + 2 * n + 16, hi);
                }
                for (; n + 8 <= w2; n += 8) {
                    v8 ev = e ? load8(e + n) : (v8){0}, ov = o ? load8(o + n) : (v8){0};
                    v16 v = __builtin_shufflevector(ev, ov, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
                    if (accumulate) v = load16(d + 2 * n) + v;
                    store16(d + 2 * n, v);
                }
                for (; n < w2; n++) {
                    float ve = e ? e[n] : 0, vo = o ? o[n] : 0;
                    if (accumulate) { d[2 * n] = d[2 * n] + ve; d[2 * n + 1] = d[2 * n + 1] + vo; }
                    else { d[2 * n] = ve; d[2 * n + 1] = vo; }
                }
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
