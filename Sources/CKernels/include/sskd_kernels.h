// sskd's own C kernels: the direct stride-1 convolution on zero-padded planes ("flat" layout).
// Part of the core (Sources/Tensors/DirectConv.swift calls them); measurements in docs/performance.md.
//
// Layout ("flat"): a zero-padded input plane of Hp × Wp floats stored row after row. For a stride-1 convolution
// with dilation d the output (oh, ow) sits at flat position p = oh·Wp + ow, and kernel tap (i, j) reads the input
// at p + i·d·Wp + j·d, a constant offset: every tap is a shifted vector load, with no im2col. Positions with
// ow ≥ Wout are computed and ignored (the caller copies the valid columns out).
#ifndef SSKD_KERNELS_H
#define SSKD_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// Forward direct convolution of one sample and one group:
///   out[co·ldo + p] = Σ_ci Σ_t w[(co·cin + ci)·taps + t] · x[ci·ldx + p + off[t]]   for co < cout, p < npos16,
/// where npos16 = npos rounded up to a multiple of 16.
/// x: cin planes, ldx floats apart; every x[ci·ldx + p + off[t]] read for p < npos16 must be allocated (and finite).
/// w: [cout, cin, taps] (PyTorch's [Cout, Cin/groups, kH, kW] with taps = kH·kW), off: taps offsets in floats.
/// out: cout rows of ldo ≥ npos16 floats; overwritten (no accumulation).
void sskd_conv_flat_forward(const float *x, long ldx, int cin, const long *off, int taps,
                            const float *w, int cout, float *out, long ldo, long npos);
/// The same summed over `nseg` segments, each with its own planes, taps and weights (the stride-2 convolution's
/// four input phases, each read by its own subset of the kernel's taps):
///   out[co·ldo + p] = Σ_sg Σ_ci Σ_t ws[sg][(co·cins[sg] + ci)·tapss[sg] + t] · xs[sg][ci·ldx + p + offs[sg][t]].
void sskd_conv_flat_forward_segments(int nseg, const float *const *xs, long ldx, const int *cins, const long *const *offs,
                                     const int *tapss, const float *const *ws, int cout, float *out, long ldo, long npos);

/// The 3x3, stride-1, dilation-1 case of sskd_conv_flat_forward (taps i·wp + j, i, j < 3) by Winograd's F(2x2, 3x3)
/// (conv_winograd.c; Lavin & Gray 2016), for the outputs p = oh·wp + ow with oh < hout and ow < wout (≤ wp − 1): the
/// same values up to rounding errors of about 1e-7 times the largest magnitudes in each output's 4x4 input patch
/// (the transforms add up to four inputs before multiplying: a few ulp for data of one scale, more for an output
/// whose neighbours are far larger; values within about 2 bits of the float range may overflow, and an ±Inf input
/// gives NaN where the direct kernel gives ±Inf). Each output is computed from its own 3x3 window only (a NaN or
/// Inf elsewhere never reaches it), its rounding depending on its window's values and on the parity of oh and ow.
/// x: cin planes ldx floats apart, rows wp floats apart, readable (finite or not) up to (hout + 3)·wp + 32 floats
/// past the last plane's start; u: sskd_winograd_weights of w [cout, cin, 3, 3]; out: cout planes ldo ≥ hout·wp
/// floats apart, writable up to hout·wp + 32 floats past the last plane's start, where the floats that are not
/// outputs get garbage; work: sskd_winograd_workspace(cin, cout, wout, hout) floats.
void sskd_conv_winograd_forward(const float *x, long ldx, int cin, long wp, long wout, int hout, const float *u,
                                int cout, float *out, long ldo, float *work);
/// The transformed filters of `filters` consecutive 3x3 filters g at w (9 floats each): u[ξ·plane + k] =
/// (G g_k Gᵀ)[ξ / 4][ξ % 4] for ξ < 16, k < filters (for w [cout, cin, 3, 3] whole, plane = filters = cout·cin: u
/// [16, cout, cin]; a range of filters k0 ..< k1 is w + 9·k0 and u + k0 with the same plane).
void sskd_winograd_weights(const float *w, long filters, long plane, float *u);
/// Tiles per plane, ceil(hout / 2) · ceil(wout / 2), and the floats of workspace sskd_conv_winograd_forward needs.
long sskd_winograd_tiles(long wout, int hout);
long sskd_winograd_workspace(int cin, int cout, long wout, int hout);

/// Weight gradient of the same convolution over `nsamp` samples:
///   dw[(co·cin + ci)·taps + t] (+)= Σ_s Σ_{p < npos16} dy[s·dys + co·ldy + p] · x[s·xs + ci·ldx + p + off[t]]
/// dy must be zero at every position that is not a real output (ow ≥ Wout or beyond the last row, up to npos16);
/// x must be allocated and finite wherever read. dw: [cout, cin, taps], added to when accumulate ≠ 0, else
/// overwritten (so it needs no clearing). kw: taps per kernel row, taps ordered row by row (kw = 3 and kw = 2 take
/// faster paths that share each dY load across the row's taps; the sums are the same bit for bit).
void sskd_conv_flat_weight_grad(const float *dy, long ldy, long dys, int cout,
                                const float *x, long ldx, long xs, int cin,
                                const long *off, int taps, int kw, int nsamp, long npos, float *dw, int accumulate);

// Elementwise and per-plane loops (elementwise.c); n elements, out may equal an input. "Masked" g: g where
// mask > 0 else 0 (mask NULL: g itself).

/// Σ p[i] (16 lanes, pairwise lane reduction, then the tail in order).
float sskd_sum(const float *p, long n);
/// *sum = Σ (p[i] − mu), *sumsq = Σ (p[i] − mu)².
void sskd_deviations(const float *p, long n, float mu, float *sum, float *sumsq);
/// For each of `planes` planes of n floats (plane k of g and x at g + k·stride and x + k·stride):
///   sums[k] = Σ g'[i], dots[k] = Σ g'[i]·(x[i] − mu), with g' = g, or with relu ≠ 0, g[i] where x[i]·rs + rh > 0
/// else 0 (the mask of a ReLU fused after the affine map x·rs + rh, recomputed exactly as sskd_affine computes it).
/// A batch norm's backward sums over one channel's planes of a batch; several planes go at a time, in lockstep, so
/// that their dependency chains overlap, and each plane's sums do not depend on how many went with it.
void sskd_sum_and_dot_planes(const float *g, const float *x, long n, long stride, int planes, float mu, int relu,
                             float rs, float rh, float *sums, float *dots);
/// out = x·scale + shift, then max(·, 0) when relu (NaN → 0); with a mask (and relu 0), x is masked first.
void sskd_affine(const float *x, float *out, long n, float scale, float shift, int relu, const float *mask);
/// out = (x·scale + shift) + r, then max(·, 0) when relu (NaN → 0): a batch norm's affine map, the residual add and
/// the ReLU in one pass, rounded exactly as sskd_affine followed by sskd_add_relu (or sskd_add).
void sskd_affine_add(const float *x, const float *r, float *out, long n, float scale, float shift, int relu);
/// For each of `planes` planes of n floats (plane k of g, mask, x and out at + k·stride): out = g masked by mask
/// (mask[i] > 0 ? g[i] : 0, NaN → 0), sums[k] = Σ out[i], dots[k] = Σ out[i]·(x[i] − mu): the ReLU backward and the
/// batch-norm backward's sums in one pass, equal to sskd_relu_backward then sskd_sum_and_dot_planes (planes in
/// lockstep as there).
void sskd_mask_sum_and_dot_planes(const float *g, const float *mask, const float *x, float *out, long n, long stride,
                                  int planes, float mu, float *sums, float *dots);
/// out = a·g' − b·x + c, g' as in sskd_sum_and_dot_planes.
void sskd_linear2(const float *g, const float *x, float *out, long n, float a, float b, float c,
                  int relu, float rs, float rh);
/// out = x > 0 ? x : 0.
void sskd_relu(const float *x, float *out, long n);
/// out = x > 0 ? g : 0.
void sskd_relu_backward(const float *g, const float *x, float *out, long n);
/// out = a + b.
void sskd_add(const float *a, const float *b, float *out, long n);
/// out = max(a + b, 0) (NaN → 0).
void sskd_add_relu(const float *a, const float *b, float *out, long n);
/// Writes `channels` planes of `stride` floats at dst: each holds src's plane [h, w] in rows wp floats apart, starting
/// ph rows and pw columns in, and, with clear ≠ 0, zeros everywhere else (the flat convolution's padded planes; every
/// float of the plane is written, so dst needs no clearing). With clear = 0 only the data is written, over planes
/// that already hold other samples side by side (a plane cleared by the first sample's pack). Requires
/// (ph + h)·wp + pw ≤ stride.
void sskd_pack_planes(const float *src, int channels, int h, int w, float *dst, long stride, long wp, int ph, int pw,
                      int clear);
/// sskd_pack_planes of the values x·scale[c] + shift[c] (then max(·, 0) when relu) of `channels` planes of src, each
/// computed as sskd_affine computes it: a batch norm's output packed for the convolution after it without being
/// written out first.
void sskd_pack_planes_affine(const float *src, int channels, int h, int w, float *dst, long stride, long wp, int ph,
                             int pw, int clear, const float *scale, const float *shift, int relu);
/// sskd_pack_planes of the values a[c]·g' − b[c]·x + c[c] (g' as in sskd_linear2, with rs[c], rh[c]) of `channels`
/// planes [h, w] of g and x, each computed as sskd_linear2 computes it: a batch norm's dx packed for the convolution
/// before it without being written out first.
void sskd_pack_planes_linear2(const float *g, const float *x, int channels, int h, int w, float *dst, long stride,
                             long wp, int ph, int pw, int clear, const float *a, const float *b, const float *c,
                             int relu, const float *rs, const float *rh);
/// Copies the first w of every wp floats of h rows of `channels` planes (ldo floats apart) into dst [channels, h, w],
/// adding bias[c] when bias is not NULL; with accumulate ≠ 0 (and bias NULL) adds them to dst instead (dst + src). When mean is not NULL, also writes each written plane's rounded mean
/// (16-lane sum / hw) to mean[c], and Σ (value − mean[c]) and Σ (value − mean[c])² to residual[c] and m2[c] (as
/// sskd_deviations), read back while the plane is in L1 (a batch norm's statistics; the residual corrects the
/// rounding of the mean).
void sskd_unpack_rows(const float *src, long ldo, long wp, int channels, int h, int w, const float *bias, int accumulate,
                      float *dst, float *mean, float *residual, float *m2);

/// The input phases of a stride-2 convolution: for each of `channels` planes [h, w] of src (h, w even) and each phase
/// q = 2a + b with bit q of `phases` set, writes a zero-padded plane of `stride` floats holding src[2m + a][2n + b] at
/// row top + m, column left + n, rows wq floats apart, zeros everywhere else (so dst needs no clearing). Planes are
/// phase-major: phase q of channel c at dst + (q·channels + c)·stride; phases whose bit is clear are not written.
/// Requires (top + h/2 − 1)·wq + left + w/2 ≤ stride.
void sskd_pack_phases(const float *src, int channels, int h, int w, int phases, float *dst, long stride, long wq,
                      int top, int left);
/// The inverse for a stride-2 convolution's dX: src[q] (q = 2a + b) holds `channels` rows of ldo floats, each h2 rows
/// of wd floats; writes dst[c][2m + a][2n + b] = src[q][c·ldo + m·wd + n] for m < h2, n < w2 (dst is
/// [channels, 2·h2, 2·w2]); a NULL src[q] counts as zeros; with accumulate ≠ 0 adds to dst (dst + value) instead.
void sskd_unpack_phases(const float *const *src, long ldo, long wd, int channels, int h2, int w2, int accumulate,
                        float *dst);

/// Which version of the cloned kernels the loader picked for this CPU (the same test as the ifunc resolvers),
/// e.g. "x86-64-v4 (AVX-512)".
const char *sskd_kernel_instruction_set(void);

/// A parallel loop body: runs item `i` of a job on the thread numbered `thread` (0 ≤ thread < the job's `threads`:
/// 0 is the caller, k the pool's k-th worker), so that the body can use per-thread scratch; `context` is the caller's.
typedef void (*sskd_parallel_body)(void *context, long i, int thread);
/// Runs body(context, i, thread) for every i < items on the calling thread and up to threads − 1 pool workers
/// (pool.c), returning when all are done. Items are claimed dynamically. A nested or concurrent call runs its items
/// serially on its own thread, as thread 0. Workers spin 0.3 ms after a job, then sleep.
void sskd_parallel_run(long items, int threads, sskd_parallel_body body, void *context);

#ifdef __cplusplus
}
#endif
#endif
