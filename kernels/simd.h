/* simd.h -- the C that the kernels cannot express in Cython, in one place.
 *
 * Everything else (validation, drivers, prange, float64 loops, elementwise
 * loops) is Cython in the kernels/<name>.pyx files.  What is here, and why it is C:
 *
 *   1. 8-lane vector types (GCC vector extensions: one AVX2 register, two SSE
 *      registers on the x86-64 baseline).  Cython has no vector types.
 *   2. ONE ISA dispatch (TGBN_MULTI): a loop body is compiled twice, for the
 *      baseline and for AVX2+FMA, and the version is picked at run time from
 *      the CPU's features (tgbn_select_isa, called once per module at import),
 *      as NumPy does.  A Cython function cannot be compiled for two targets.
 *   3. One shared expf and logf (float32, 8 lanes; Cephes-style, about 1 ulp),
 *      used by the float32 softmax lane path (few classes) and by the tests.
 *      The row path (4b) has its own shorter exp polynomial (0.88 ulp with
 *      FMA, ~10% faster; less accurate without FMA, so the lane path keeps
 *      the shared one).
 *   4. The float32 loops that need 1-3 and that a measurement showed slower as
 *      plain Cython (numbers beside each one and in docs/kernels.md, "C or
 *      Cython"): the batch-norm row blocks, the softmax row reductions and
 *      8-row lane blocks.  (The Adam / RMSprop updates were here too; as
 *      Cython, vectorised by GCC thanks to -fno-math-errno, they measured the
 *      same -- 0.84-1.12x of the AVX2 C loop -- so they are Cython now.)
 *   0. Stand-ins for OpenMP's queries in a build without OpenMP.
 *   5. The BLAS pool's OpenMP region (kernels/blaspool.pyx), which must not
 *      touch the GIL -- and a Cython parallel block does.
 *
 * Every dispatched function exists as NAME_base, NAME_avx2 and NAME (the
 * dispatcher).  The header is included by each kernel module, so each module
 * has its own (static) copy of tgbn_isa; select_isa() in each module sets it.
 *
 * NaN / inf: no function here drops a NaN.  exp(NaN) is NaN, exp(-inf) is 0;
 * the maxima may skip a NaN, but a NaN then reaches the row sum through exp.
 */
#ifndef TGBN_SIMD_H
#define TGBN_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"   /* 32-byte vectors in always-inline helpers */
/* No a*b+c -> FMA contraction in this header, except in the batch-norm section (4a) and
   the softmax row path (4b), where it is measured faster and harmless: GCC may contract the same
   expression differently in two halves of a block (seen in the softmax lane path:
   lanes 4-7 vs 0-3), which would make a row's result depend on its position.  Without it,
   the baseline and AVX2 versions of every function agree bit for bit. */
#pragma GCC push_options
#pragma GCC optimize ("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

#define TGBN_INL static inline __attribute__((always_inline))

/* ---------------------------------------------------------------------------
 * 0. OpenMP's queries, also for a build without OpenMP (a compiler without
 *    -fopenmp: setup.py then builds the kernels single-threaded, and Cython's
 *    prange loops run serially; without these stand-ins the modules would not
 *    import, for want of omp_get_max_threads).
 * ------------------------------------------------------------------------- */
#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_active_level(void) { return 0; }
static inline int omp_get_dynamic(void) { return 0; }
static inline int omp_get_thread_limit(void) { return 1; }
#endif

/* ---------------------------------------------------------------------------
 * 1. Vector types
 * ------------------------------------------------------------------------- */
typedef float tgbn_v8f __attribute__((vector_size(32)));
typedef int32_t tgbn_v8i __attribute__((vector_size(32)));
typedef uint32_t tgbn_v8u __attribute__((vector_size(32)));
typedef float tgbn_v4f __attribute__((vector_size(16)));
typedef double tgbn_v4d __attribute__((vector_size(32)));
typedef int64_t tgbn_v4l __attribute__((vector_size(32)));
typedef float tgbn_v8f_u __attribute__((vector_size(32), aligned(4), may_alias));
typedef double tgbn_v4d_u __attribute__((vector_size(32), aligned(8), may_alias));

#define tgbn_ld(p) (*(const tgbn_v8f_u *)(p))          /* unaligned 8-float load */
#define tgbn_st(p, v) (*(tgbn_v8f_u *)(p) = (v))        /* unaligned 8-float store */
#define tgbn_ldd(p) (*(const tgbn_v4d_u *)(p))         /* unaligned 4-double load */
#define tgbn_std(p, v) (*(tgbn_v4d_u *)(p) = (v))
#define TGBN_BCAST8(s) ((tgbn_v8f){(s), (s), (s), (s), (s), (s), (s), (s)})

#define tgbn_min(a, b) ((a) < (b) ? (a) : (b))
/* b ? x : 0 with an integer lane mask b (0 or -1) */
TGBN_INL tgbn_v8f tgbn_vsel(tgbn_v8i b, tgbn_v8f x) { return (tgbn_v8f)((tgbn_v8u)x & (tgbn_v8u)b); }
/* b > a ? b : a (a NaN in b is skipped; it reaches the sums through exp) */
TGBN_INL tgbn_v8f tgbn_vmax(tgbn_v8f a, tgbn_v8f b) {
    tgbn_v8u k = (tgbn_v8u)(b > a);
    return (tgbn_v8f)(((tgbn_v8u)b & k) | ((tgbn_v8u)a & ~k));
}
TGBN_INL float tgbn_hsum8(tgbn_v8f v) {      /* fixed order: ((0+4)+(2+6)) + ((1+5)+(3+7)) */
    float a0 = v[0] + v[4], a1 = v[1] + v[5], a2 = v[2] + v[6], a3 = v[3] + v[7];
    return (a0 + a2) + (a1 + a3);
}
TGBN_INL float tgbn_hmax8(tgbn_v8f v) {
    float m = v[0];
    for (int k = 1; k < 8; k++) m = v[k] > m ? v[k] : m;
    return m;
}
/* lanes 0-3 and 4-7 of a float vector, as doubles */
TGBN_INL void tgbn_split(tgbn_v8f a, tgbn_v4d *h) {
    tgbn_v4f q[2];
    memcpy(q, &a, sizeof(a));
    h[0] = __builtin_convertvector(q[0], tgbn_v4d);
    h[1] = __builtin_convertvector(q[1], tgbn_v4d);
}

/* ---------------------------------------------------------------------------
 * 2. ONE ISA dispatch
 *
 * TGBN_MULTI(RET, NAME, PARAMS, ARGS) turns the always-inline NAME##_body into
 * NAME##_base, NAME##_avx2 (x86-64 GCC/clang) and the dispatcher NAME.
 * tgbn_isa: -1 = the module's plain-Cython float32 loops (kept for measuring
 * and testing against: the C loops exist only because they are faster),
 * 0 = baseline C, 1 = AVX2+FMA C.
 * ------------------------------------------------------------------------- */
static int tgbn_isa = 0;

#if defined(__GNUC__) && defined(__x86_64__)
#define TGBN_HAVE_AVX2 1
#define TGBN_AVX2_VERSION(RET, NAME, PARAMS, ARGS) \
    __attribute__((target("avx2,fma"))) static RET NAME##_avx2 PARAMS { return NAME##_body ARGS; }
#define TGBN_AVX2_CALL(NAME, ARGS) if (tgbn_isa == 1) return NAME##_avx2 ARGS;
#else
#define TGBN_AVX2_VERSION(RET, NAME, PARAMS, ARGS)
#define TGBN_AVX2_CALL(NAME, ARGS)
#endif

#define TGBN_MULTI(RET, NAME, PARAMS, ARGS)                                   \
    static RET NAME##_base PARAMS { return NAME##_body ARGS; }                 \
    TGBN_AVX2_VERSION(RET, NAME, PARAMS, ARGS)                                 \
    __attribute__((unused)) static RET NAME PARAMS { TGBN_AVX2_CALL(NAME, ARGS) return NAME##_base ARGS; }

/* The best level this CPU supports: 1 with AVX2 and FMA, else 0. */
static int tgbn_cpu_level(void) {
#ifdef TGBN_HAVE_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

/* level: -1 plain Cython float32 loops, 0 baseline, 1 (or more) the best available. */
static int tgbn_select_isa(int level) {
    int best = tgbn_cpu_level();
    tgbn_isa = level < 0 ? -1 : (level < best ? level : best);
    return tgbn_isa;
}

/* Thread count for the kernels' parallel regions: 0 = OpenMP's default
   (omp_get_max_threads()), else this many.  Set through
   tinygrad_bn.config(num_threads=...), which sets it in every module. */
static int tgbn_num_threads = 0;

/* ---------------------------------------------------------------------------
 * 3. The shared expf, logf (float32, 8 lanes)
 * ------------------------------------------------------------------------- */
/* exp(x) for x <= 0: x = n ln2 + r, degree-6 polynomial in r (about 1 ulp);
   0 below -87 and for -inf, NaN for NaN. */
TGBN_INL tgbn_v8f tgbn_expf_v8(tgbn_v8f x) {
    tgbn_v8f t = x * 1.4426950408889634f;
    tgbn_v8f n = (t + 12582912.0f) - 12582912.0f;          /* round to nearest */
    tgbn_v8f r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    tgbn_v8f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    tgbn_v8i ni = __builtin_convertvector(n, tgbn_v8i);
    tgbn_v8u sc = ((tgbn_v8u)(ni + 127)) << 23;
    tgbn_v8f res = p * (tgbn_v8f)sc;
    /* Zero below -87 (and -inf).  The mask is `x < -87`, false for NaN, so a NaN stays NaN:
       p is NaN, and the scale is finite (x86 converts NaN to INT_MIN, ARM to 0: both give
       a scale of 1.0f).  The former mask `x > -87` zeroed NaN too -- the float32 softmax
       then ignored a NaN logit.  tests/test_kernels_fuzz.py::test_expf_propagates_nan. */
    return (tgbn_v8f)((tgbn_v8u)res & ~(tgbn_v8u)(x < -87.0f));
}

/* log(x) for finite x >= 1 (mantissa in [sqrt(1/2), sqrt(2)), degree-8 polynomial, about
   1 ulp); the callers use libm for the other values. */
TGBN_INL tgbn_v8f tgbn_logf_v8(tgbn_v8f x) {
    tgbn_v8u u = (tgbn_v8u)x;
    tgbn_v8i e = (tgbn_v8i)(u >> 23) - 126;
    u = (u & 0x007fffffu) | 0x3f000000u;                   /* mantissa in [0.5, 1) */
    tgbn_v8f m = (tgbn_v8f)u;
    tgbn_v8i lo = m < 0.707106781186547524f;
    e += lo;                                               /* -1 when the mantissa is doubled */
    tgbn_v8f f = (m + (tgbn_v8f)((tgbn_v8u)m & (tgbn_v8u)lo)) - 1.0f;
    tgbn_v8f z = f * f;
    tgbn_v8f y = f * 7.0376836292e-2f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    tgbn_v8f fe = __builtin_convertvector(e, tgbn_v8f);
    y += fe * -2.12194440e-4f;
    y += z * -0.5f;
    return (f + y) + fe * 0.693359375f;
}

/* n values through an 8-lane function, the tail padded with `pad`. */
#define TGBN_MAP8(FN, x, out, n, pad)                                            \
    do {                                                                       \
        Py_ssize_t j_ = 0;                                                     \
        for (; j_ + 8 <= (n); j_ += 8) tgbn_st((out) + j_, FN(tgbn_ld((x) + j_))); \
        if (j_ < (n)) {                                                        \
            float b_[8];                                                       \
            for (int k_ = 0; k_ < 8; k_++) b_[k_] = j_ + k_ < (n) ? (x)[j_ + k_] : (pad); \
            tgbn_v8f r_ = FN(tgbn_ld(b_));                                     \
            for (int k_ = 0; j_ + k_ < (n); k_++) (out)[j_ + k_] = r_[k_];     \
        }                                                                      \
    } while (0)

TGBN_INL void tgbn_expf_arr_body(const float *x, float *out, Py_ssize_t n) {
    TGBN_MAP8(tgbn_expf_v8, x, out, n, 0.0f);
}
TGBN_INL void tgbn_logf_arr_body(const float *x, float *out, Py_ssize_t n) {
    TGBN_MAP8(tgbn_logf_v8, x, out, n, 1.0f);
}
TGBN_MULTI(void, tgbn_expf_arr, (const float *x, float *out, Py_ssize_t n), (x, out, n))
TGBN_MULTI(void, tgbn_logf_arr, (const float *x, float *out, Py_ssize_t n), (x, out, n))

/* The batch-norm section is the one place where FMA contraction is allowed: its
   results are compared to references with a tolerance, never bit for bit across ISAs,
   and with a*b+c contracted the compute-bound (256, 256) case ran ~1.3x faster. It uses
   only macros and types from above (no always-inline function of another section). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__clang__)
#pragma clang fp contract(fast)
#endif

/* ---------------------------------------------------------------------------
 * 4a. Batch norm, float32 row blocks (numerics: kernels/batchnorm.pyx).
 * Plain Cython (the same algorithm, kernels/batchnorm.pyx, select_isa(-1)) was
 * measured slower: see docs/kernels.md, "C or Cython".
 * ------------------------------------------------------------------------- */
#define TGBN_BN_RB 32      /* rows per float32 block: float partial sums span at most this many rows */
#define TGBN_BN_TW 512     /* columns per tile of the float accumulators (2 x 2 KiB on the stack) */

/* All four loops walk the rows front to back, FOUR ROWS AT A TIME, each row
   contiguously: the 4 rows share one load of the per-column constants and
   the memory access is 4 sequential streams (prefetcher friendly; a walk
   down 32-column strips, with a 4 KiB stride when D = 1024, was 2-3x slower
   on (4096, 1024)).  The 4 results of a step are stored after all its
   loads, so no load waits behind a store to an address 4 KiB away (false
   "4K aliasing"; NumPy's large arrays all start at the same page offset --
   the strip version of the dx loop ran 2x slower because of it).
   Column tiling (both passes on one block of W columns over all rows, so
   the second pass re-reads the block from L3) was also measured, with
   W = 64..512, software prefetch and non-temporal stores: 1.3-2x SLOWER at
   (4096, 1024) on the 2-core EPYC, because 1-2 KiB row segments 4 KiB apart
   stream far worse (stats ~11 vs ~15 GB/s per core; y written at ~60% of
   the contiguous rate) than the L3 reuse saves. */

/* Batch norm followed by ReLU (one op, kernels/batchnorm.pyx): the forward writes
   max(u, 0) with u = (x - m) * a + c, and the backward recomputes u from x
   with the SAME expression (these macros; the same m, a, c, recomputed from the
   statistics bit for bit) and lets dy through where u > 0.  relu8/relu1 keep a
   NaN (NaN < 0 is false), as max(x, 0) does in the composite. */
#define TGBN_BN_U8(p) ((tgbn_ld(p) - mv) * av + cv)
#define TGBN_BN_U1(p) (((p)[j] - m[j]) * a[j] + c[j])
TGBN_INL tgbn_v8f tgbn_relu8(tgbn_v8f u) {
    const tgbn_v8f z = TGBN_BCAST8(0.0f);
    return (tgbn_v8f)((tgbn_v8i)u & ~(tgbn_v8i)(u < z));
}
TGBN_INL float tgbn_relu1(float u) { return u < 0.0f ? 0.0f : u; }
/* dy * (u > 0) as the composite's ReLU backward computes it (a NaN u gates to 0, a NaN or
   inf dy where u <= 0 gives NaN: 0 * NaN) */
TGBN_INL tgbn_v8f tgbn_gate8(tgbn_v8f g, tgbn_v8f u) {
    const tgbn_v8f z = TGBN_BCAST8(0.0f), one = TGBN_BCAST8(1.0f);
    return g * (tgbn_v8f)((tgbn_v8i)one & (tgbn_v8i)(u > z));
}
TGBN_INL float tgbn_gate1(float g, float u) { return g * (u > 0.0f ? 1.0f : 0.0f); }

/* ---- statistics over rows [r0, r1): s1 = sum(x - h), s2 = sum((x - h)^2) ----
   Float accumulators a1, a2 per tile of columns, for one block of
   TGBN_BN_RB rows: each step adds the (pairwise) sum of 4 rows, so a float
   sum spans 8 steps; then the block's sums are added into s1, s2 (double). */
TGBN_INL void tgbn_bn_stats_body(const float *x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                              const float *h, double *s1, double *s2) {
    float a1[TGBN_BN_TW] __attribute__((aligned(32))), a2[TGBN_BN_TW] __attribute__((aligned(32)));
    for (Py_ssize_t j = 0; j < d; j++) { s1[j] = 0.0; s2[j] = 0.0; }
    for (Py_ssize_t rb = r0; rb < r1; rb += TGBN_BN_RB) {
        Py_ssize_t re = tgbn_min(rb + TGBN_BN_RB, r1);
        for (Py_ssize_t jt = 0; jt < d; jt += TGBN_BN_TW) {
            Py_ssize_t w = tgbn_min(TGBN_BN_TW, d - jt), wv = w & ~(Py_ssize_t)7, i = rb, j;
            const float *hh = h + jt;
            for (j = 0; j < w; j++) { a1[j] = 0.0f; a2[j] = 0.0f; }
            for (; i + 4 <= re; i += 4) {
                const float *p0 = x + i * d + jt, *p1 = p0 + d, *p2 = p1 + d, *p3 = p2 + d;
                for (j = 0; j < wv; j += 8) {
                    tgbn_v8f hv = tgbn_ld(hh + j);
                    tgbn_v8f t0 = tgbn_ld(p0 + j) - hv, t1 = tgbn_ld(p1 + j) - hv;
                    tgbn_v8f t2 = tgbn_ld(p2 + j) - hv, t3 = tgbn_ld(p3 + j) - hv;
                    tgbn_st(a1 + j, tgbn_ld(a1 + j) + ((t0 + t1) + (t2 + t3)));
                    tgbn_st(a2 + j, tgbn_ld(a2 + j) + ((t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)));
                }
                for (; j < w; j++) {
                    float t0 = p0[j] - hh[j], t1 = p1[j] - hh[j], t2 = p2[j] - hh[j], t3 = p3[j] - hh[j];
                    a1[j] += (t0 + t1) + (t2 + t3);
                    a2[j] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3);
                }
            }
            for (; i < re; i++) {                       /* the last rows of the range */
                const float *p0 = x + i * d + jt;
                for (j = 0; j < w; j++) { float t = p0[j] - hh[j]; a1[j] += t; a2[j] += t * t; }
            }
            for (j = 0; j < w; j++) { s1[jt + j] += a1[j]; s2[jt + j] += a2[j]; }
        }
    }
}

/* ---- output over rows [r0, r1): y = (x - m) * a + c, then max(y, 0) when relu ---- */
TGBN_INL void tgbn_bn_affine_gen(const float *x, float *y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                               const float *m, const float *a, const float *c, const int relu) {
    Py_ssize_t i = r0, j, dv = d & ~(Py_ssize_t)7;
    for (; i + 4 <= r1; i += 4) {
        const float *p0 = x + i * d, *p1 = p0 + d, *p2 = p1 + d, *p3 = p2 + d;
        float *q0 = y + i * d, *q1 = q0 + d, *q2 = q1 + d, *q3 = q2 + d;
        for (j = 0; j < dv; j += 8) {
            tgbn_v8f mv = tgbn_ld(m + j), av = tgbn_ld(a + j), cv = tgbn_ld(c + j);
            tgbn_v8f y0 = TGBN_BN_U8(p0 + j), y1 = TGBN_BN_U8(p1 + j);
            tgbn_v8f y2 = TGBN_BN_U8(p2 + j), y3 = TGBN_BN_U8(p3 + j);
            if (relu) { y0 = tgbn_relu8(y0); y1 = tgbn_relu8(y1); y2 = tgbn_relu8(y2); y3 = tgbn_relu8(y3); }
            tgbn_st(q0 + j, y0); tgbn_st(q1 + j, y1); tgbn_st(q2 + j, y2); tgbn_st(q3 + j, y3);
        }
        for (; j < d; j++) {
            float y0 = TGBN_BN_U1(p0), y1 = TGBN_BN_U1(p1), y2 = TGBN_BN_U1(p2), y3 = TGBN_BN_U1(p3);
            if (relu) { y0 = tgbn_relu1(y0); y1 = tgbn_relu1(y1); y2 = tgbn_relu1(y2); y3 = tgbn_relu1(y3); }
            q0[j] = y0; q1[j] = y1; q2[j] = y2; q3[j] = y3;
        }
    }
    for (; i < r1; i++) {
        const float *p0 = x + i * d;
        float *q0 = y + i * d;
        for (j = 0; j < d; j++) { float y0 = TGBN_BN_U1(p0); q0[j] = relu ? tgbn_relu1(y0) : y0; }
    }
}
TGBN_INL void tgbn_bn_affine_body(const float *x, float *y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                               const float *m, const float *a, const float *c) {
    tgbn_bn_affine_gen(x, y, r0, r1, d, m, a, c, 0);
}
TGBN_INL void tgbn_bn_affine_relu_body(const float *x, float *y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                                    const float *m, const float *a, const float *c) {
    tgbn_bn_affine_gen(x, y, r0, r1, d, m, a, c, 1);
}

/* ---- backward sums over rows [r0, r1): s1 = sum(dy), s2 = sum(dy * (x - m)) ----
   float accumulators per tile and row block, as for the statistics. */
TGBN_INL void tgbn_bn_bwd_sums_gen(const float *x, const float *dy, Py_ssize_t r0, Py_ssize_t r1,
                                 Py_ssize_t d, const float *m, double *s1, double *s2,
                                 const float *a, const float *c, const int relu) {
    /* relu: dy is first gated by u = (x - m) * a + c > 0 (a ReLU after the batch norm) */
    float a1[TGBN_BN_TW] __attribute__((aligned(32))), a2[TGBN_BN_TW] __attribute__((aligned(32)));
    for (Py_ssize_t j = 0; j < d; j++) { s1[j] = 0.0; s2[j] = 0.0; }
    for (Py_ssize_t rb = r0; rb < r1; rb += TGBN_BN_RB) {
        Py_ssize_t re = tgbn_min(rb + TGBN_BN_RB, r1);
        for (Py_ssize_t jt = 0; jt < d; jt += TGBN_BN_TW) {
            Py_ssize_t w = tgbn_min(TGBN_BN_TW, d - jt), wv = w & ~(Py_ssize_t)7, i = rb, j;
            const float *mm = m + jt, *aa = relu ? a + jt : NULL, *cc = relu ? c + jt : NULL;
            for (j = 0; j < w; j++) { a1[j] = 0.0f; a2[j] = 0.0f; }
            for (; i + 4 <= re; i += 4) {
                const float *p0 = x + i * d + jt, *p1 = p0 + d, *p2 = p1 + d, *p3 = p2 + d;
                const float *g0 = dy + i * d + jt, *g1 = g0 + d, *g2 = g1 + d, *g3 = g2 + d;
                for (j = 0; j < wv; j += 8) {
                    tgbn_v8f mv = tgbn_ld(mm + j);
                    tgbn_v8f e0 = tgbn_ld(g0 + j), e1 = tgbn_ld(g1 + j), e2 = tgbn_ld(g2 + j), e3 = tgbn_ld(g3 + j);
                    if (relu) {
                        tgbn_v8f av = tgbn_ld(aa + j), cv = tgbn_ld(cc + j);
                        e0 = tgbn_gate8(e0, TGBN_BN_U8(p0 + j)); e1 = tgbn_gate8(e1, TGBN_BN_U8(p1 + j));
                        e2 = tgbn_gate8(e2, TGBN_BN_U8(p2 + j)); e3 = tgbn_gate8(e3, TGBN_BN_U8(p3 + j));
                    }
                    tgbn_v8f u0 = e0 * (tgbn_ld(p0 + j) - mv), u1 = e1 * (tgbn_ld(p1 + j) - mv);
                    tgbn_v8f u2 = e2 * (tgbn_ld(p2 + j) - mv), u3 = e3 * (tgbn_ld(p3 + j) - mv);
                    tgbn_st(a1 + j, tgbn_ld(a1 + j) + ((e0 + e1) + (e2 + e3)));
                    tgbn_st(a2 + j, tgbn_ld(a2 + j) + ((u0 + u1) + (u2 + u3)));
                }
                for (; j < w; j++) {
                    float e0 = g0[j], e1 = g1[j], e2 = g2[j], e3 = g3[j];
                    if (relu) {
                        const float *m = mm, *a = aa, *c = cc;
                        e0 = tgbn_gate1(e0, TGBN_BN_U1(p0)); e1 = tgbn_gate1(e1, TGBN_BN_U1(p1));
                        e2 = tgbn_gate1(e2, TGBN_BN_U1(p2)); e3 = tgbn_gate1(e3, TGBN_BN_U1(p3));
                    }
                    float u0 = e0 * (p0[j] - mm[j]), u1 = e1 * (p1[j] - mm[j]);
                    float u2 = e2 * (p2[j] - mm[j]), u3 = e3 * (p3[j] - mm[j]);
                    a1[j] += (e0 + e1) + (e2 + e3);
                    a2[j] += (u0 + u1) + (u2 + u3);
                }
            }
            for (; i < re; i++) {
                const float *p0 = x + i * d + jt, *g0 = dy + i * d + jt;
                for (j = 0; j < w; j++) {
                    float e0 = g0[j];
                    if (relu) { const float *m = mm, *a = aa, *c = cc; e0 = tgbn_gate1(e0, TGBN_BN_U1(p0)); }
                    a1[j] += e0; a2[j] += e0 * (p0[j] - mm[j]);
                }
            }
            for (j = 0; j < w; j++) { s1[jt + j] += a1[j]; s2[jt + j] += a2[j]; }
        }
    }
}
TGBN_INL void tgbn_bn_bwd_sums_body(const float *x, const float *dy, Py_ssize_t r0, Py_ssize_t r1,
                                 Py_ssize_t d, const float *m, double *s1, double *s2) {
    tgbn_bn_bwd_sums_gen(x, dy, r0, r1, d, m, s1, s2, NULL, NULL, 0);
}
TGBN_INL void tgbn_bn_bwd_sums_relu_body(const float *x, const float *dy, Py_ssize_t r0, Py_ssize_t r1,
                                      Py_ssize_t d, const float *m, double *s1, double *s2,
                                      const float *a, const float *c) {
    tgbn_bn_bwd_sums_gen(x, dy, r0, r1, d, m, s1, s2, a, c, 1);
}

/* ---- backward output over rows [r0, r1): dx = k1 * e + (k2 * (x - m) + k3), e = dy (gated when relu) ---- */
TGBN_INL void tgbn_bn_bwd_dx_gen(const float *x, const float *dy, float *dx, Py_ssize_t r0, Py_ssize_t r1,
                               Py_ssize_t d, const float *m, const float *k1, const float *k2,
                               const float *k3, const float *a, const float *c, const int relu) {
    Py_ssize_t i = r0, j, dv = d & ~(Py_ssize_t)7;
    for (; i + 4 <= r1; i += 4) {
        const float *p0 = x + i * d, *p1 = p0 + d, *p2 = p1 + d, *p3 = p2 + d;
        const float *g0 = dy + i * d, *g1 = g0 + d, *g2 = g1 + d, *g3 = g2 + d;
        float *q0 = dx + i * d, *q1 = q0 + d, *q2 = q1 + d, *q3 = q2 + d;
        for (j = 0; j < dv; j += 8) {
            tgbn_v8f mv = tgbn_ld(m + j), v1 = tgbn_ld(k1 + j), v2 = tgbn_ld(k2 + j), v3 = tgbn_ld(k3 + j);
            tgbn_v8f e0 = tgbn_ld(g0 + j), e1 = tgbn_ld(g1 + j), e2 = tgbn_ld(g2 + j), e3 = tgbn_ld(g3 + j);
            if (relu) {
                tgbn_v8f av = tgbn_ld(a + j), cv = tgbn_ld(c + j);
                e0 = tgbn_gate8(e0, TGBN_BN_U8(p0 + j)); e1 = tgbn_gate8(e1, TGBN_BN_U8(p1 + j));
                e2 = tgbn_gate8(e2, TGBN_BN_U8(p2 + j)); e3 = tgbn_gate8(e3, TGBN_BN_U8(p3 + j));
            }
            tgbn_v8f y0 = v1 * e0 + (v2 * (tgbn_ld(p0 + j) - mv) + v3);
            tgbn_v8f y1 = v1 * e1 + (v2 * (tgbn_ld(p1 + j) - mv) + v3);
            tgbn_v8f y2 = v1 * e2 + (v2 * (tgbn_ld(p2 + j) - mv) + v3);
            tgbn_v8f y3 = v1 * e3 + (v2 * (tgbn_ld(p3 + j) - mv) + v3);
            tgbn_st(q0 + j, y0); tgbn_st(q1 + j, y1); tgbn_st(q2 + j, y2); tgbn_st(q3 + j, y3);
        }
        for (; j < d; j++) {
            float e0 = g0[j], e1 = g1[j], e2 = g2[j], e3 = g3[j];
            if (relu) {
                e0 = tgbn_gate1(e0, TGBN_BN_U1(p0)); e1 = tgbn_gate1(e1, TGBN_BN_U1(p1));
                e2 = tgbn_gate1(e2, TGBN_BN_U1(p2)); e3 = tgbn_gate1(e3, TGBN_BN_U1(p3));
            }
            float y0 = k1[j] * e0 + (k2[j] * (p0[j] - m[j]) + k3[j]);
            float y1 = k1[j] * e1 + (k2[j] * (p1[j] - m[j]) + k3[j]);
            float y2 = k1[j] * e2 + (k2[j] * (p2[j] - m[j]) + k3[j]);
            float y3 = k1[j] * e3 + (k2[j] * (p3[j] - m[j]) + k3[j]);
            q0[j] = y0; q1[j] = y1; q2[j] = y2; q3[j] = y3;
        }
    }
    for (; i < r1; i++) {
        const float *p0 = x + i * d, *g0 = dy + i * d;
        float *q0 = dx + i * d;
        for (j = 0; j < d; j++) {
            float e0 = g0[j];
            if (relu) e0 = tgbn_gate1(e0, TGBN_BN_U1(p0));
            q0[j] = k1[j] * e0 + (k2[j] * (p0[j] - m[j]) + k3[j]);
        }
    }
}
TGBN_INL void tgbn_bn_bwd_dx_body(const float *x, const float *dy, float *dx, Py_ssize_t r0, Py_ssize_t r1,
                               Py_ssize_t d, const float *m, const float *k1, const float *k2,
                               const float *k3) {
    tgbn_bn_bwd_dx_gen(x, dy, dx, r0, r1, d, m, k1, k2, k3, NULL, NULL, 0);
}
TGBN_INL void tgbn_bn_bwd_dx_relu_body(const float *x, const float *dy, float *dx, Py_ssize_t r0,
                                    Py_ssize_t r1, Py_ssize_t d, const float *m, const float *k1,
                                    const float *k2, const float *k3, const float *a, const float *c) {
    tgbn_bn_bwd_dx_gen(x, dy, dx, r0, r1, d, m, k1, k2, k3, a, c, 1);
}

TGBN_MULTI(void, tgbn_bn_stats, (const float *x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
           const float *h, double *s1, double *s2), (x, r0, r1, d, h, s1, s2))
TGBN_MULTI(void, tgbn_bn_affine, (const float *x, float *y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
           const float *m, const float *a, const float *c), (x, y, r0, r1, d, m, a, c))
TGBN_MULTI(void, tgbn_bn_bwd_sums, (const float *x, const float *dy, Py_ssize_t r0, Py_ssize_t r1,
           Py_ssize_t d, const float *m, double *s1, double *s2), (x, dy, r0, r1, d, m, s1, s2))
TGBN_MULTI(void, tgbn_bn_bwd_dx, (const float *x, const float *dy, float *dx, Py_ssize_t r0,
           Py_ssize_t r1, Py_ssize_t d, const float *m, const float *k1, const float *k2,
           const float *k3), (x, dy, dx, r0, r1, d, m, k1, k2, k3))
TGBN_MULTI(void, tgbn_bn_affine_relu, (const float *x, float *y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
           const float *m, const float *a, const float *c), (x, y, r0, r1, d, m, a, c))
TGBN_MULTI(void, tgbn_bn_bwd_sums_relu, (const float *x, const float *dy, Py_ssize_t r0, Py_ssize_t r1,
           Py_ssize_t d, const float *m, double *s1, double *s2, const float *a, const float *c),
           (x, dy, r0, r1, d, m, s1, s2, a, c))
TGBN_MULTI(void, tgbn_bn_bwd_dx_relu, (const float *x, const float *dy, float *dx, Py_ssize_t r0,
           Py_ssize_t r1, Py_ssize_t d, const float *m, const float *k1, const float *k2,
           const float *k3, const float *a, const float *c), (x, dy, dx, r0, r1, d, m, k1, k2, k3, a, c))

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize ("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

/* ---------------------------------------------------------------------------
 * 4b. Softmax cross-entropy, float32.
 *
 * Row path (C > TGBN_SMALL_C): the row max and exp + sum are reductions, which
 * GCC does not vectorise without -ffast-math (it may not reassociate a float
 * sum), and Cython cannot ask for it (no `#pragma omp simd reduction`): as a
 * plain Cython loop the float32 (4096, 1000) case ran ~2x slower (docs/kernels.md).
 * ------------------------------------------------------------------------- */
#define TGBN_SMALL_C 32          /* largest C taking the lane path (buffer: 8*C floats) */

/* The row path may contract a*b+c into FMA (each row is computed by one function call,
   so its result never depends on its position; the AVX2 and baseline versions may differ
   in the last bit): without it (4096, 1000) ran ~1.3x slower than with. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__clang__)
#pragma clang fp contract(fast)
#endif
/* max of x[0..n), n >= 1 (skips NaN; a NaN reaches the sum through exp).  Four
   independent 8-lane maxima: one chain was latency-bound (1.4x slower at (4096, 1000)).
   For n >= 32 the last, partial 32-block is the 32 elements ending at n, overlapping the
   one before (max is idempotent): the former 8-wide steps, each with a horizontal max,
   were a serial chain of ~80 cycles per row at C = 250. */
/* The n >= 32 case, with VMAX the 8-lane max to use: returns from the enclosing function. */
#define TGBN_MAX32(x, n, VMAX)                                                              \
    do {                                                                                    \
        tgbn_v8f m0 = tgbn_ld(x), m1 = tgbn_ld((x) + 8), m2 = tgbn_ld((x) + 16), m3 = tgbn_ld((x) + 24); \
        Py_ssize_t j_;                                                                      \
        for (j_ = 32; j_ + 32 <= (n); j_ += 32) {                                           \
            m0 = VMAX(m0, tgbn_ld((x) + j_));                                               \
            m1 = VMAX(m1, tgbn_ld((x) + j_ + 8));                                           \
            m2 = VMAX(m2, tgbn_ld((x) + j_ + 16));                                          \
            m3 = VMAX(m3, tgbn_ld((x) + j_ + 24));                                          \
        }                                                                                   \
        if (j_ < (n)) {                                                                     \
            const float *t_ = (x) + (n) - 32;                                               \
            m0 = VMAX(m0, tgbn_ld(t_));                                                     \
            m1 = VMAX(m1, tgbn_ld(t_ + 8));                                                 \
            m2 = VMAX(m2, tgbn_ld(t_ + 16));                                                \
            m3 = VMAX(m3, tgbn_ld(t_ + 24));                                                \
        }                                                                                   \
        return tgbn_hmax8(tgbn_vmax(tgbn_vmax(m0, m1), tgbn_vmax(m2, m3)));                 \
    } while (0)
TGBN_INL float tgbn_row_max_f_body(const float *x, Py_ssize_t n) {
    Py_ssize_t j = 0;
    float m = x[0];
    if (n >= 32)
        TGBN_MAX32(x, n, tgbn_vmax);
    for (; j + 8 <= n; j += 8) m = tgbn_hmax8(tgbn_vmax(TGBN_BCAST8(m), tgbn_ld(x + j)));
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}
/* exp(x) for x <= 0, the row path's (x = logit - row max).  x = n ln2 + r (Cody-Waite,
   |r| <= ln2/2), exp(r) = 1 + r(1 + r(c2 + ... + c6 r)): a degree-6 polynomial fitted for
   the least maximum relative error on that interval (3e-9 before rounding), 6 FMAs.  The
   scale 2^n comes from the bits of t = x/ln2 + 1.5*2^23, whose low bits hold n (no
   float -> int conversion).  Measured against double exp over [-87, 0]: at most 0.88 ulp
   (section 3's degree-7 form: 1.02), and (4096, 1000) ~10% faster than with it.  0 below
   -87 and for -inf (the mask); NaN for NaN (p is NaN, and x < -87 is false for NaN). */
TGBN_INL tgbn_v8f tgbn_ce_expf_v8(tgbn_v8f x) {
    tgbn_v8f t = x * 1.44269504088896341f + 12582912.0f;   /* 1.5 * 2^23 + round(x / ln2) */
    tgbn_v8f n = t - 12582912.0f;
    tgbn_v8f r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    tgbn_v8f p = r * 1.3814534759e-3f + 8.3687463775e-3f;
    p = p * r + 4.1668392718e-2f;
    p = p * r + 1.6666521132e-1f;
    p = p * r + 4.9999994040e-1f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    tgbn_v8u sc = ((tgbn_v8u)t + 127u) << 23;              /* (n + 127) << 23, n in [-126, 0] */
    return (tgbn_v8f)((tgbn_v8u)(p * (tgbn_v8f)sc) & ~(tgbn_v8u)(x < -87.0f));
}
/* the row path's exp over an array (for tests: softmax_ce.row_expf_vec) */
TGBN_INL void tgbn_ce_expf_arr_body(const float *x, float *out, Py_ssize_t n) {
    TGBN_MAP8(tgbn_ce_expf_v8, x, out, n, 0.0f);
}
TGBN_MULTI(void, tgbn_ce_expf_arr, (const float *x, float *out, Py_ssize_t n), (x, out, n))

/* The last r < 8 elements of a row in the AVX2 version: masked loads and stores
   (vmaskmovps; no access to the masked-off lanes) instead of element-wise copies through
   a buffer, whose 8 scalar stores and one vector load also stall store forwarding. */
#ifdef TGBN_HAVE_AVX2
__attribute__((target("avx2,fma"))) static inline tgbn_v8i tgbn_ce_mask_avx2(Py_ssize_t r) {
    const tgbn_v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    const int32_t ri = (int32_t)r;
    return lane < (tgbn_v8i){ri, ri, ri, ri, ri, ri, ri, ri};
}
__attribute__((target("avx2,fma"))) static inline tgbn_v8f tgbn_ce_ldm_avx2(const float *p, tgbn_v8i k) {
    return __builtin_ia32_maskloadps256((const tgbn_v8f *)p, k);
}
__attribute__((target("avx2,fma"))) static inline void tgbn_ce_stm_avx2(float *p, tgbn_v8i k, tgbn_v8f v) {
    __builtin_ia32_maskstoreps256((tgbn_v8f *)p, k, v);
}
#endif
/* g = exp(x - m), returns sum(g) (float partial sums in 2 x 8 lanes, added in a fixed
   order, as double).  pf: prefetch the next row of x (and y when not NULL, and of g), one
   64-byte line per 16 elements, while this row is computed from L1 (see tgbn_ce_row_f).
   The last n % 8 elements go through one 8-lane exp padded with -inf (exp -> 0). */
TGBN_INL double tgbn_ce_exp_sum_body(const float *restrict x, const float *restrict y,
                                     float *restrict g, Py_ssize_t n, float m, int pf, int avx) {
    tgbn_v8f mv = TGBN_BCAST8(m), s0 = TGBN_BCAST8(0.0f), s1 = TGBN_BCAST8(0.0f);
    Py_ssize_t j = 0;
    (void)avx;
    for (; j + 16 <= n; j += 16) {
        if (pf) {
            __builtin_prefetch(x + n + j, 0, 3);
            __builtin_prefetch(g + n + j, 1, 3);
            if (y) __builtin_prefetch(y + n + j, 0, 3);
        }
        tgbn_v8f e0 = tgbn_ce_expf_v8(tgbn_ld(x + j) - mv);
        tgbn_v8f e1 = tgbn_ce_expf_v8(tgbn_ld(x + j + 8) - mv);
        tgbn_st(g + j, e0);
        tgbn_st(g + j + 8, e1);
        s0 += e0;
        s1 += e1;
    }
    for (; j + 8 <= n; j += 8) {
        tgbn_v8f e = tgbn_ce_expf_v8(tgbn_ld(x + j) - mv);
        tgbn_st(g + j, e);
        s0 += e;
    }
    if (j < n) {
#ifdef TGBN_HAVE_AVX2
        if (avx) {
            const tgbn_v8i k = tgbn_ce_mask_avx2(n - j);
            tgbn_v8f xv = tgbn_ce_ldm_avx2(x + j, k);
            xv = (tgbn_v8f)(((tgbn_v8i)xv & k) | ((tgbn_v8i)TGBN_BCAST8(-INFINITY) & ~k));
            tgbn_v8f e = tgbn_ce_expf_v8(xv - mv);
            tgbn_ce_stm_avx2(g + j, k, e);
            s1 += e;
            return (double)tgbn_hsum8(s0 + s1);
        }
#endif
        float b[8];
        for (int k = 0; k < 8; k++) b[k] = j + k < n ? x[j + k] : -INFINITY;
        tgbn_v8f e = tgbn_ce_expf_v8(tgbn_ld(b) - mv);
        for (int k = 0; j + k < n; k++) g[j + k] = e[k];
        s1 += e;
    }
    return (double)tgbn_hsum8(s0 + s1);
}
/* The gradient pass: g = g * coef - k0 (y NULL) or g * coef - y * ky - k0. */
TGBN_INL void tgbn_ce_grad_pass(float *restrict g, const float *restrict y, Py_ssize_t n, float coef,
                                float ky, float k0, int avx) {
    const tgbn_v8f cv = TGBN_BCAST8(coef), yv = TGBN_BCAST8(ky), kv = TGBN_BCAST8(k0);
    Py_ssize_t j = 0;
    (void)avx;
    if (!y) {
        for (; j + 8 <= n; j += 8) tgbn_st(g + j, tgbn_ld(g + j) * cv - kv);
    } else {
        for (; j + 8 <= n; j += 8) tgbn_st(g + j, tgbn_ld(g + j) * cv - tgbn_ld(y + j) * yv - kv);
    }
    if (j == n) return;
#ifdef TGBN_HAVE_AVX2
    if (avx) {
        const tgbn_v8i k = tgbn_ce_mask_avx2(n - j);
        tgbn_v8f v = tgbn_ce_ldm_avx2(g + j, k) * cv - kv;
        if (y) v -= tgbn_ce_ldm_avx2(y + j, k) * yv;
        tgbn_ce_stm_avx2(g + j, k, v);
        return;
    }
#endif
    if (!y) {
        for (; j < n; j++) g[j] = g[j] * coef - k0;
    } else {
        for (; j < n; j++) g[j] = g[j] * coef - y[j] * ky - k0;
    }
}
/* sum(x - m), sum(y), sum(y * (x - m)) in double (y may be NULL: only the first), 4
   independent accumulators per sum.  The 4-float -> 4-double conversions straight from
   memory: GCC compiles __builtin_convertvector(v4f -> v4d) into 2-element conversions
   through the stack, so the AVX2 version (avx = 1) uses vcvtps2pd ymm.  The former
   form (halves of an 8-float vector, 2 accumulators) made label smoothing cost 0.23 ns
   and dense labels 0.5 ns per element more than plain integer labels. */
typedef float tgbn_ce_v4f_u __attribute__((vector_size(16), aligned(4), may_alias));
#if defined(TGBN_HAVE_AVX2) && !defined(__clang__)
__attribute__((target("avx2,fma"))) static inline tgbn_v4d tgbn_ce_ld4d_avx2(const float *p) {
    return __builtin_ia32_cvtps2pd256(*(const tgbn_ce_v4f_u *)p);
}
#define TGBN_CE_LD4D(p, avx) ((avx) ? tgbn_ce_ld4d_avx2(p) \
                                    : __builtin_convertvector(*(const tgbn_ce_v4f_u *)(p), tgbn_v4d))
#else
#define TGBN_CE_LD4D(p, avx) __builtin_convertvector(*(const tgbn_ce_v4f_u *)(p), tgbn_v4d)
#endif
TGBN_INL void tgbn_row_sums_f_body(const float *x, const float *y, Py_ssize_t n, float m,
                                   double *sx, double *sy, double *syx, int avx) {
    tgbn_v4d a[4] = {{0}}, b[4] = {{0}}, c[4] = {{0}}, md = {m, m, m, m};
    Py_ssize_t j = 0;
    (void)avx;
    for (; j + 16 <= n; j += 16) {
        for (int h = 0; h < 4; h++) {
            tgbn_v4d t = TGBN_CE_LD4D(x + j + 4 * h, avx) - md;
            a[h] += t;
            if (y) {
                tgbn_v4d yd = TGBN_CE_LD4D(y + j + 4 * h, avx);
                b[h] += yd;
                c[h] += yd * t;
            }
        }
    }
    for (int h = 0; j + 4 <= n; j += 4, h++) {           /* h < 3 */
        tgbn_v4d t = TGBN_CE_LD4D(x + j, avx) - md;
        a[h] += t;
        if (y) {
            tgbn_v4d yd = TGBN_CE_LD4D(y + j, avx);
            b[h] += yd;
            c[h] += yd * t;
        }
    }
    double ra = 0.0, rb = 0.0, rc = 0.0;
    for (int k = 0; k < 4; k++) {
        ra += (a[0][k] + a[1][k]) + (a[2][k] + a[3][k]);
        rb += (b[0][k] + b[1][k]) + (b[2][k] + b[3][k]);
        rc += (c[0][k] + c[1][k]) + (c[2][k] + c[3][k]);
    }
    for (; j < n; j++) {
        double t = (double)x[j] - (double)m;
        ra += t;
        if (y) { rb += (double)y[j]; rc += (double)y[j] * t; }
    }
    *sx = ra;
    if (y) { *sy = rb; *syx = rc; }
}
/* One row of the forward, every pass in C (the formulas of _row_sparse / _row_dense in
   kernels/softmax_ce.pyx): integer label lab (y NULL) or dense targets y (n); writes the
   gradient row g, returns the row's loss.  The row (x, g: 8 KB at C = 1000) stays in L1
   across its passes -- max, exp + sum, [target sums], g = g * coef - target * k -- so the
   passes are compute-bound; pf (the caller: a next row exists and C <= TGBN_CE_PF_MAX)
   prefetches the next row during the exp pass, so that its max pass does not wait on
   memory either: (4096, 1000), one thread, 0.65 -> 0.56 ns per element.  (Before, only
   the max and exp + sum were C and the last pass a Cython loop compiled for SSE2.) */
#define TGBN_CE_PF_MAX 2048
#ifdef TGBN_HAVE_AVX2
/* The row max with vmaxps (the generic tgbn_vmax is a compare and 3 logic operations):
   the row then ran ~10% faster at (4096, 1000).  vmaxps(m, x) returns x when either is
   NaN, so a NaN may hide a larger element from m; harmless, as the NaN makes the row's
   sum, loss and gradient NaN through exp (a too small m may overflow exp(x - m) of the
   larger element: inf or a finite garbage value, times the NaN coefficient: NaN).  The
   same overlapping last block as tgbn_row_max_f_body. */
__attribute__((target("avx2,fma"))) static inline float tgbn_ce_max_avx2(const float *x, Py_ssize_t n) {
    if (n < 32) return tgbn_row_max_f_body(x, n);
    TGBN_MAX32(x, n, __builtin_ia32_maxps256);
}
#endif
/* avx: a constant, 1 in the AVX2 version only */
TGBN_INL double tgbn_ce_row_f_body(const float *restrict x, const float *restrict y, Py_ssize_t lab,
                                   Py_ssize_t n, double ls, double scale, float *restrict g, int pf,
                                   int avx) {
#ifdef TGBN_HAVE_AVX2
    float m = avx ? tgbn_ce_max_avx2(x, n) : tgbn_row_max_f_body(x, n);
#else
    float m = tgbn_row_max_f_body(x, n);
#endif
    double s = tgbn_ce_exp_sum_body(x, y, g, n, m, pf, avx);
    double lsc = ls / (double)n, loss, sxm, sy, syx;
    if (!y) {
        loss = log(s) - (1.0 - ls) * ((double)x[lab] - (double)m);
        if (ls != 0.0) {
            tgbn_row_sums_f_body(x, NULL, n, m, &sxm, &sy, &syx, avx);
            loss -= lsc * sxm;
        }
        tgbn_ce_grad_pass(g, NULL, n, (float)(scale / s), 0.0f, (float)(lsc * scale), avx);
        g[lab] -= (float)((1.0 - ls) * scale);
    } else {
        tgbn_row_sums_f_body(x, y, n, m, &sxm, &sy, &syx, avx);
        double sumt = (1.0 - ls) * sy + ls;
        loss = sumt * log(s);
        if (ls != 1.0) loss -= (1.0 - ls) * syx;
        if (ls != 0.0) loss -= lsc * sxm;
        tgbn_ce_grad_pass(g, y, n, (float)(sumt * scale / s), (float)((1.0 - ls) * scale),
                          (float)(lsc * scale), avx);
    }
    return loss;
}
/* TGBN_MULTI by hand: the AVX2 version alone passes avx = 1 */
#define TGBN_CE_ROW_PARAMS (const float *restrict x, const float *restrict y, Py_ssize_t lab, \
                            Py_ssize_t n, double ls, double scale, float *restrict g, int pf)
static double tgbn_ce_row_f_base TGBN_CE_ROW_PARAMS {
    return tgbn_ce_row_f_body(x, y, lab, n, ls, scale, g, pf, 0);
}
#ifdef TGBN_HAVE_AVX2
__attribute__((target("avx2,fma"))) static double tgbn_ce_row_f_avx2 TGBN_CE_ROW_PARAMS {
    return tgbn_ce_row_f_body(x, y, lab, n, ls, scale, g, pf, 1);
}
#endif
__attribute__((unused)) static double tgbn_ce_row_f TGBN_CE_ROW_PARAMS {
    TGBN_AVX2_CALL(tgbn_ce_row_f, (x, y, lab, n, ls, scale, g, pf))
    return tgbn_ce_row_f_base(x, y, lab, n, ls, scale, g, pf);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize ("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

/* Lane path (C <= TGBN_SMALL_C): 8 rows at a time, one row per vector lane.  A call per
   row into short vector loops with remainders cost ~60 ns for 10 numbers; no plain-Cython
   form of this exists (it needs vector types and transposes). */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define TGBN_SHUF(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
    __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
#define TGBN_SHUF(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
    __builtin_shuffle(a, b, (tgbn_v8i){i0, i1, i2, i3, i4, i5, i6, i7})
#endif
/* In-place transpose of an 8 x 8 tile held in 8 vectors (unpack / shuffle / 128-bit
   permute, as with AVX intrinsics). */
TGBN_INL void tgbn_tr8(tgbn_v8f *r) {
    tgbn_v8f t0 = TGBN_SHUF(r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13);
    tgbn_v8f t1 = TGBN_SHUF(r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
    tgbn_v8f t2 = TGBN_SHUF(r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13);
    tgbn_v8f t3 = TGBN_SHUF(r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
    tgbn_v8f t4 = TGBN_SHUF(r[4], r[5], 0, 8, 1, 9, 4, 12, 5, 13);
    tgbn_v8f t5 = TGBN_SHUF(r[4], r[5], 2, 10, 3, 11, 6, 14, 7, 15);
    tgbn_v8f t6 = TGBN_SHUF(r[6], r[7], 0, 8, 1, 9, 4, 12, 5, 13);
    tgbn_v8f t7 = TGBN_SHUF(r[6], r[7], 2, 10, 3, 11, 6, 14, 7, 15);
    tgbn_v8f u0 = TGBN_SHUF(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
    tgbn_v8f u1 = TGBN_SHUF(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    tgbn_v8f u2 = TGBN_SHUF(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
    tgbn_v8f u3 = TGBN_SHUF(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    tgbn_v8f u4 = TGBN_SHUF(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
    tgbn_v8f u5 = TGBN_SHUF(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    tgbn_v8f u6 = TGBN_SHUF(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
    tgbn_v8f u7 = TGBN_SHUF(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    r[0] = TGBN_SHUF(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);
    r[1] = TGBN_SHUF(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);
    r[2] = TGBN_SHUF(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);
    r[3] = TGBN_SHUF(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);
    r[4] = TGBN_SHUF(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
    r[5] = TGBN_SHUF(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
    r[6] = TGBN_SHUF(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
    r[7] = TGBN_SHUF(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
}
/* xt[j][k] = a[k * c + j] for the 8 rows of a full block, c >= 8: 8 x 8 tiles at column
   0, 8, ... and a last one at c - 8 (overlapping: the columns are simply loaded twice). */
TGBN_INL void tgbn_load_tr(const float *a, Py_ssize_t c,
                                                               tgbn_v8f *xt) {
    for (Py_ssize_t j0 = 0; j0 < c; j0 += 8) {
        if (j0 + 8 > c) j0 = c - 8;
        tgbn_v8f r[8];
        for (int k = 0; k < 8; k++) memcpy(&r[k], a + k * c + j0, sizeof(tgbn_v8f));
        tgbn_tr8(r);
        for (int k = 0; k < 8; k++) xt[j0 + k] = r[k];
    }
}
TGBN_INL void tgbn_store_tr(float *a, Py_ssize_t c,
                                                                const tgbn_v8f *xt) {
    for (Py_ssize_t j0 = 0; j0 < c; j0 += 8) {
        if (j0 + 8 > c) j0 = c - 8;   /* rewrites a few columns with the same values */
        tgbn_v8f r[8];
        for (int k = 0; k < 8; k++) r[k] = xt[j0 + k];
        tgbn_tr8(r);
        for (int k = 0; k < 8; k++) memcpy(a + k * c + j0, &r[k], sizeof(tgbn_v8f));
    }
}

/* Rows [0, n) of x (n, c), c <= TGBN_SMALL_C.  Integer labels (l32 or l64, already
   validated) when y is NULL, else dense targets y (n, c).  Writes g (n, c) and loss (n),
   with the formulas of _row_sparse / _row_dense. */
TGBN_INL void tgbn_ce_small_f_body(
        const float *restrict x, const float *restrict y, const int32_t *restrict l32,
        const int64_t *restrict l64, Py_ssize_t n, Py_ssize_t c, double ls, double scale,
        float *restrict g, double *restrict loss) {
    tgbn_v8f xt[TGBN_SMALL_C], yt[TGBN_SMALL_C];
    const float k0 = (float)(ls / (double)c * scale);   /* smoothing part of the target */
    const float ky = (float)((1.0 - ls) * scale);       /* the label / y part */
    const double lsc = ls / (double)c;
    for (Py_ssize_t r0 = 0; r0 < n; r0 += 8) {
        const int nb = n - r0 < 8 ? (int)(n - r0) : 8;
        const float *xb = x + r0 * c;
        const float *yb = y ? y + r0 * c : NULL;
        float *gb = g + r0 * c;
        /* transpose the block: xt[j][k] = x[r0 + k, j]; missing rows of the last block are 0 */
        if (nb == 8 && c >= 8) {
            tgbn_load_tr(xb, c, xt);
            if (y) tgbn_load_tr(yb, c, yt);
        } else {
            for (Py_ssize_t j = 0; j < c; j++)
                for (int k = 0; k < 8; k++) xt[j][k] = k < nb ? xb[k * c + j] : 0.0f;
            if (y) {
                for (Py_ssize_t j = 0; j < c; j++)
                    for (int k = 0; k < 8; k++) yt[j][k] = k < nb ? yb[k * c + j] : 0.0f;
            }
        }
        tgbn_v8i lab = {-1, -1, -1, -1, -1, -1, -1, -1};     /* -1: no label (padding rows) */
        if (!y) {
            if (l64) { for (int k = 0; k < nb; k++) lab[k] = (int32_t)l64[r0 + k]; }
            else     { for (int k = 0; k < nb; k++) lab[k] = l32[r0 + k]; }
        }
        tgbn_v8f m = xt[0];
        for (Py_ssize_t j = 1; j < c; j++) m = tgbn_vmax(m, xt[j]);
        /* Per-row double arithmetic on 2 x 4 lanes, written as vector operations so that
           every lane runs the same instructions (GCC may contract a*b+c into an FMA; done
           lane by lane in scalar code it could differ between lanes, i.e. block positions). */
        tgbn_v4d md[2], sx[2] = {{0}}, sy[2] = {{0}}, syx[2] = {{0}};
        tgbn_split(m, md);
        if (ls != 0.0 || y) {
            for (Py_ssize_t j = 0; j < c; j++) {
                tgbn_v4d xd[2], yd[2], d;
                tgbn_split(xt[j], xd);
                if (y) tgbn_split(yt[j], yd);
                for (int h = 0; h < 2; h++) {
                    d = xd[h] - md[h];
                    sx[h] += d;
                    if (y) { sy[h] += yd[h]; syx[h] += yd[h] * d; }
                }
            }
        }
        tgbn_v8f xl = {0, 0, 0, 0, 0, 0, 0, 0};                /* the label's logit */
        tgbn_v8f s = {0, 0, 0, 0, 0, 0, 0, 0};
        for (Py_ssize_t j = 0; j < c; j++) {
            if (!y) xl += tgbn_vsel(lab == (int32_t)j, xt[j]);
            tgbn_v8f e = tgbn_expf_v8(xt[j] - m);
            xt[j] = e;
            s += e;
        }
        /* s >= 1 (the max term is exp(0) = 1) unless the row holds inf / NaN: then libm */
        tgbn_v4d lgd[2], sd[2], xld[2], l[2], coef[2];
        tgbn_split(tgbn_logf_v8(s), lgd);
        tgbn_split(s, sd);
        tgbn_split(xl, xld);
        tgbn_v8i ok = (s >= 1.0f) & (s <= 3.4028234e38f);
        int all_ok = -1;
        for (int k = 0; k < 8; k++) all_ok &= ok[k];
        if (!all_ok) {
            double t[8];
            memcpy(t, lgd, sizeof(t));
            for (int k = 0; k < 8; k++)
                if (!ok[k]) t[k] = log((double)s[k]);
            memcpy(lgd, t, sizeof(t));
        }
        for (int h = 0; h < 2; h++) {
            if (y) {
                tgbn_v4d sumt = (1.0 - ls) * sy[h] + ls;
                tgbn_v4d sxm = {0, 0, 0, 0}, sl = {0, 0, 0, 0};
                if (ls != 0.0) sxm = lsc * sx[h];
                if (ls != 1.0) sl = (1.0 - ls) * syx[h];
                l[h] = sumt * lgd[h] - (sl + sxm);
                coef[h] = sumt * scale / sd[h];
            } else {
                l[h] = lgd[h] - (1.0 - ls) * (xld[h] - md[h]);
                if (ls != 0.0) l[h] -= lsc * sx[h];
                coef[h] = scale / sd[h];
            }
        }
        tgbn_v4f cq[2] = {__builtin_convertvector(coef[0], tgbn_v4f),
                          __builtin_convertvector(coef[1], tgbn_v4f)};
        tgbn_v8f cf;
        memcpy(&cf, cq, sizeof(cf));
        if (nb == 8) memcpy(loss + r0, l, 8 * sizeof(double));
        else {
            double t[8];
            memcpy(t, l, sizeof(t));
            for (int k = 0; k < nb; k++) loss[r0 + k] = t[k];
        }
        if (y) {
            for (Py_ssize_t j = 0; j < c; j++) xt[j] = xt[j] * cf - yt[j] * ky - k0;
        } else {
            tgbn_v8f kyv = {ky, ky, ky, ky, ky, ky, ky, ky};
            for (Py_ssize_t j = 0; j < c; j++)
                xt[j] = (xt[j] * cf - k0) - tgbn_vsel(lab == (int32_t)j, kyv);
        }
        if (nb == 8 && c >= 8) {
            tgbn_store_tr(gb, c, xt);
        } else {
            for (int k = 0; k < nb; k++)
                for (Py_ssize_t j = 0; j < c; j++) gb[k * c + j] = xt[j][k];
        }
    }
}
TGBN_MULTI(void, tgbn_ce_small_f, (const float *x, const float *y, const int32_t *l32,
           const int64_t *l64, Py_ssize_t n, Py_ssize_t c, double ls, double scale, float *g,
           double *loss), (x, y, l32, l64, n, c, ls, scale, g, loss))

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* ---------------------------------------------------------------------------
 * 5. The BLAS pool's region (kernels/blaspool.pyx): OpenBLAS's `numjobs` jobs on
 *    `numjobs` OpenMP threads at once, job t on thread t, in slot `slot0 - t`
 *    (slot0 < 0: slot t).  Returns 1 when the team had `numjobs` threads and the
 *    jobs ran, 0 when none ran (the caller then uses POSIX threads).
 *    C because Cython wraps a parallel block of a nogil function in code that
 *    releases the GIL when the calling thread holds it and takes it back after
 *    the region -- and OpenBLAS's caller may hold it (NumPy's linalg calls
 *    LAPACK with the GIL held).  Taking it back while holding the pool's mutex
 *    deadlocked against a thread that held the GIL and waited for the mutex
 *    (4 Python threads in np.linalg.qr).  No Python here.
 * ------------------------------------------------------------------------- */
typedef void (*tgbn_dojob_t)(int, void *, int);

static inline int tgbn_run_jobs_omp(tgbn_dojob_t dojob, int numjobs, size_t elsize, char *base,
                                    int dojob_data, int slot0) {
    int ran = 0;
#ifdef _OPENMP
    #pragma omp parallel num_threads(numjobs)
    {
        if (omp_get_num_threads() == numjobs) {     /* the same for the whole team */
            int t = omp_get_thread_num();
            if (t == 0)
                ran = 1;
            dojob(slot0 >= 0 ? slot0 - t : t, base + (size_t)t * elsize, dojob_data);
        }
    }
#else
    (void)dojob; (void)numjobs; (void)elsize; (void)base; (void)dojob_data; (void)slot0;
#endif
    return ran;
}

#endif /* TGBN_SIMD_H */
