// Shared by the C kernels (not part of the public header): 16-float vectors in clang's portable vector
// extension, the per-instruction-set clones, and the few vector helpers the kernels use.
#ifndef SSKD_VEC16_H
#define SSKD_VEC16_H

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));   // the same, for unaligned access
typedef int i16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));    // unaligned 8-float access
typedef float v4 __attribute__((vector_size(16)));

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
#define splat(s) ((v16){0} + (s))
#define load8(p) (*(const v8u *)(p))
#define store8(p, v) (*(v8u *)(p) = (v))
// v where keep > 0, else 0 (lane by lane; NaN keeps give 0).
#define positive_part(v, keep) ((v16)((i16)(v) & ((keep) > (v16){0})))
// The sum of the 16 lanes, pairwise.
#define hsum16(v) ({                                                                                    \
    v16 h_ = (v);                                                                                        \
    v8 a_ = __builtin_shufflevector(h_, h_, 0, 1, 2, 3, 4, 5, 6, 7)                                      \
          + __builtin_shufflevector(h_, h_, 8, 9, 10, 11, 12, 13, 14, 15);                               \
    v4 b_ = __builtin_shufflevector(a_, a_, 0, 1, 2, 3) + __builtin_shufflevector(a_, a_, 4, 5, 6, 7);   \
    (b_[0] + b_[2]) + (b_[1] + b_[3]);                                                                   \
})

#endif
