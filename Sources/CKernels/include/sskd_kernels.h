// sskd's own C kernels: the direct stride-1 convolution on zero-padded planes ("flat" layout).
// Part of the core (Sources/Tensors/DirectConv.swift calls them); see docs/performance.md, third round.
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

/// Weight gradient of the same convolution over `nsamp` samples:
///   dw[(co·cin + ci)·taps + t] += Σ_s Σ_{p < npos16} dy[s·dys + co·ldy + p] · x[s·xs + ci·ldx + p + off[t]]
/// dy must be zero at every position that is not a real output (ow ≥ Wout or beyond the last row, up to npos16);
/// x must be allocated and finite wherever read. dw: [cout, cin, taps], accumulated into. kw: taps per kernel row
/// (offsets within a row must be increasing; kw = 3 takes a faster path that shares loads across the row).
void sskd_conv_flat_weight_grad(const float *dy, long ldy, long dys, int cout,
                                const float *x, long ldx, long xs, int cin,
                                const long *off, int taps, int kw, int nsamp, long npos, float *dw);

#ifdef __cplusplus
}
#endif
#endif
