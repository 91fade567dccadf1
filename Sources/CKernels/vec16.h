// Shared by the C kernels (not part of the public header): 16-float vectors in clang's portable vector
// extension, the per-instruction-set clones, and the few vector helpers the kernels use.
#ifndef SSKD_VEC16_H
#define SSKD_VEC16_H

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));   // the same, for unaligned access
typedef int i16 __attribute__((vector_size(64)));
typedef int i8v __attribute__((vector_size(32)));
typedef int i4v __attribute__((vector_size(16)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));    // unaligned 8-float access
typedef float v4 __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4)));    // unaligned 4-float access

// On x86-64 each kernel is compiled for AVX-512 (x86-64-v4), AVX2+FMA (x86-64-v3) and the baseline, and the
// dynamic loader picks one per CPU (an ifunc); elsewhere (e.g. arm64, where the vectors map to NEON) once.
// ThreadSanitizer builds compile them once too: TSan instruments the ifunc resolver, which the loader runs before
// the TSan runtime is up, and the process crashes at start.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SSKD_NO_CLONES 1
#endif
#endif
#if defined(__x86_64__) && defined(__ELF__) && !defined(SSKD_NO_CLONES)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif
#pragma STDC FP_CONTRACT ON

// Macros rather than functions: a v16 function argument would change the ABI between the clones.
#define load16(p) (*(const v16u *)(p))
#define store16(p, v) (*(v16u *)(p) = (v))
// Every lane equal to s, −0 included: s − (+0) is s for every s (s + 0 would turn −0 into +0, so that a vector
// computation with a −0 shift would differ from the scalar one in the sign of a zero).
#define splat(s) ((s) - (v16){0})
#define load8(p) (*(const v8u *)(p))
#define store8(p, v) (*(v8u *)(p) = (v))
#define load4(p) (*(const v4u *)(p))
#define store4(p, v) (*(v4u *)(p) = (v))

// Covers floats [0, n) of a short row (the padded planes' rows are 7–32 floats) with whole vectors and no scalar
// remainder: OPV(16, k) for k = 0, 16, … while a whole block fits, then one last block that ends exactly at n and may
// overlap the one before it: OPV(16, n − 16) when n ≥ 16, else OPV(8, ·) at 0 and n − 8, else OPV(4, ·) at 0 and
// n − 4; rows of fewer than 4 floats take OP1(k) per float. OPV(V, k) handles V floats at k, written once for the
// three widths with the names below pasted from V (v##V, load##V, store##V, splat##V, positive_part##V). Only for an
// OPV that writes the same value again where blocks overlap: its output must not be one of its inputs (an in-place
// loop would apply itself twice there).
#define ROW_BLOCKS(n, OPV, OP1)                                                                          \
    do {                                                                                                 \
        const long n_ = (n);                                                                             \
        long k_ = 0;                                                                                     \
        for (; k_ + 16 <= n_; k_ += 16) OPV(16, k_);                                                     \
        if (k_ < n_) {                                                                                   \
            if (n_ >= 16) OPV(16, n_ - 16);                                                              \
            else if (n_ >= 8) { OPV(8, 0L); OPV(8, n_ - 8); }                                            \
            else if (n_ >= 4) { OPV(4, 0L); OPV(4, n_ - 4); }                                            \
            else for (; k_ < n_; k_++) OP1(k_);                                                          \
        }                                                                                                \
    } while (0)
#define splat16(s) splat(s)
#define splat8(s) ((s) - (v8){0})
#define splat4(s) ((s) - (v4){0})
// v where keep > 0, else 0 (lane by lane; NaN keeps give 0).
#define positive_part(v, keep) ((v16)((i16)(v) & ((keep) > (v16){0})))
#define positive_part16(v, keep) positive_part(v, keep)
#define positive_part8(v, keep) ((v8)((i8v)(v) & ((keep) > (v8){0})))
#define positive_part4(v, keep) ((v4)((i4v)(v) & ((keep) > (v4){0})))
// The sum of the 16 lanes, pairwise.
#define hsum16(v) ({                                                                                    \
    v16 h_ = (v);                                                                                        \
    v8 a_ = __builtin_shufflevector(h_, h_, 0, 1, 2, 3, 4, 5, 6, 7)                                      \
          + __builtin_shufflevector(h_, h_, 8, 9, 10, 11, 12, 13, 14, 15);                               \
    v4 b_ = __builtin_shufflevector(a_, a_, 0, 1, 2, 3) + __builtin_shufflevector(a_, a_, 4, 5, 6, 7);   \
    (b_[0] + b_[2]) + (b_[1] + b_[3]);                                                                   \
})

#endif
