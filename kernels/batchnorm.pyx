# Fused batch normalisation kernels (feature axis last, data viewed as (N, D)).
#
# Passes over memory (x has N*D elements):
#   train forward   : 1 read of x for the statistics, 1 read of x + 1 write of y
#   inference fwd   : 1 read of x + 1 write of y
#   train backward  : 1 read of (x, dy) for sum(dy), sum(dy * (x - mean)),
#                     1 read of (x, dy) + 1 write of dx
#   inference bwd   : 1 read of (x, dy) + 1 write of dx (dgamma, dbeta in the same pass)
#
# Statistics are one-pass sums of x - shift and of its square, shifted by a value
# close to the mean (the mean of the first <= 8 rows), safe for large means
# (1e4 + tiny variance).  float64 works in double throughout.  float32 works in
# float32 on *shifted* values, 8 lanes wide, with short float sums added into
# double (see "Numerics of the float32 training kernels" below): as accurate as
# converting every element to double, at twice the SIMD width.
#
# Parallelism: rows are cut into `nchunks` contiguous blocks, a number that
# depends only on the shape (never on the thread count).  Each block writes its
# own partial sums into its own slot; the partials are then added in block
# order.  So the result is bit-identical for the same inputs whatever the number
# of threads and whichever thread runs a block -- which lets the blocks be
# handed out dynamically (a 2-core machine shared with other work otherwise
# waits for its slowest thread under a static schedule).
#
# The def wrappers validate shapes, dtypes and contiguity before any nogil loop;
# the training ones use the NumPy C API directly (no fused-type dispatch, no
# memoryview acquisition: ~0.5 us per call instead of ~3 us) and allocate the
# outputs not passed in.  They are called by tinygrad_bn/ops/fused.py, which
# reshapes to 2-D and makes arrays contiguous.

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
cimport openmp
from libc.math cimport sqrt
from libc.stdlib cimport free, malloc
import numpy as np

cnp.import_array()

# Work (elements) per row block, and the maximum number of blocks.
cdef enum:
    CHUNK_WORK = 32768      # elements per row block
    MAX_CHUNKS = 64
    PAR_WORK = 262144       # elements from which the blocks run on several threads


cdef inline Py_ssize_t _nchunks(Py_ssize_t n, Py_ssize_t d) noexcept nogil:
    cdef Py_ssize_t c = (n * d) // CHUNK_WORK
    if c > MAX_CHUNKS:
        c = MAX_CHUNKS
    if c > n:
        c = n
    if c < 1:
        c = 1
    return c


cdef inline int _nthreads(Py_ssize_t nchunks, Py_ssize_t work) noexcept nogil:
    # Starting threads costs microseconds, and far more when the cores are busy
    # with other work, so small inputs stay on the calling thread.
    if work < PAR_WORK:
        return 1
    cdef int t = openmp.omp_get_max_threads()
    if t > nchunks:
        t = <int>nchunks
    return t if t > 0 else 1


def max_threads():
    """Threads OpenMP would use for a large kernel call."""
    return openmp.omp_get_max_threads()


# float32 inner loops as small C functions (verbatim below) compiled twice -- for
# the baseline ISA and for AVX2+FMA on x86 (GCC/clang) -- and picked once at
# import from the CPU's features, as NumPy does.  float64 uses the Cython loops
# further down.
#
# Numerics of the float32 training kernels.  The arithmetic is float32 (8 lanes
# with AVX2: converting every element to double would halve the SIMD width),
# made safe by working on *shifted* values and by adding only short float sums:
#
# * Statistics.  A float32 shift h_j (the mean of the first <= 8 rows, rounded
#   to float) is subtracted from every element: t = fl(x - h).  That rounding
#   is relative to t itself (and t is exact by Sterbenz when x and h are within
#   a factor 2, e.g. data at 1e4 +- 1e-2), so a large common offset costs
#   nothing: t is of the order of the spread of the data.  sum(t) and sum(t*t)
#   are accumulated in float32 over blocks of TGBN_BN_RB = 32 rows only (each
#   step adds the pairwise sum of 4 rows, so a float sum has 8 terms: a few
#   ulps of error relative to the block's sum of |t|), and the block sums are
#   added in double.  mean = h + S1/n and var = S2/n - (S1/n)^2 then come
#   out in double; the cancellation in var is benign because |h - mean| is of
#   the order of the standard deviation (averaging 8 rows damps an outlier
#   first row).
# * Output.  y = gamma * (x - mean) * invstd + beta is evaluated as
#   y = (x - m) * a + c with m = fl(mean), a = fl(gamma * invstd) and
#   c = fl(beta + (m - mean) * a): x - m is again exact or rounded relative to
#   itself, the double correction (m - mean) * a is of the order of an ulp of
#   the mean, and a, c carry one float rounding each, so y has a few float32
#   ulps of error (relative to |y| + |beta|), independent of the mean.
# * Backward.  sum(dy) and sum(dy * (x - m)) are accumulated as above (float
#   over row blocks, double across them); sum(dy * (x - mean)) =
#   sum(dy * (x - m)) + (m - mean) * sum(dy) in double.  Then
#   dx = k1 * dy + k2 * (x - m) + k3' with k3' = k3 + k2 * (m - mean) (double,
#   then rounded to float).
#
# Measured against the float64 NumPy reference on the same float32 values, the
# results are within ~1e-7 relative (to the largest value) for data like
# N(1e4, 0.01) or N(3, 2) -- float32 rounding, 100x below the tests' 1e-5.  The
# block structure (and thus the summation order) depends only on the shape, so
# the results are bit-identical for the same inputs and ISA.
cdef extern from *:
    """
    #include <stddef.h>
    #define TGBN_BN_RB 32      /* rows per float32 block: float partial sums span at most this many rows */
    #define TGBN_BN_TW 512     /* columns per tile of the float accumulators (2 x 2 KiB on the stack) */
    #define TGBN_INL static inline __attribute__((always_inline))

    /* 8 float32 lanes: one AVX2 register; two SSE registers on the baseline ISA. */
    typedef float tgbn_v8f __attribute__((vector_size(32)));
    typedef float tgbn_v8f_u __attribute__((vector_size(32), aligned(4), may_alias));

    #define tgbn_ld(p) (*(const tgbn_v8f_u *)(p))          /* unaligned 8-lane load */
    #define tgbn_st(p, v) (*(tgbn_v8f_u *)(p) = (v))        /* unaligned 8-lane store */
    TGBN_INL Py_ssize_t tgbn_min(Py_ssize_t a, Py_ssize_t b) { return a < b ? a : b; }

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

    /* ---- statistics over rows [r0, r1): s1 = sum(x - h), s2 = sum((x - h)^2) ----
       Float accumulators a1, a2 per tile of columns, for one block of
       TGBN_BN_RB rows: each step adds the (pairwise) sum of 4 rows, so a float
       sum spans 8 steps; then the block's sums are added into s1, s2 (double). */
    TGBN_INL void tgbn_stats_body(const float *x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
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

    /* ---- output over rows [r0, r1): y = (x - m) * a + c ---- */
    TGBN_INL void tgbn_affine_body(const float *x, float *y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                                   const float *m, const float *a, const float *c) {
        Py_ssize_t i = r0, j, dv = d & ~(Py_ssize_t)7;
        for (; i + 4 <= r1; i += 4) {
            const float *p0 = x + i * d, *p1 = p0 + d, *p2 = p1 + d, *p3 = p2 + d;
            float *q0 = y + i * d, *q1 = q0 + d, *q2 = q1 + d, *q3 = q2 + d;
            for (j = 0; j < dv; j += 8) {
                tgbn_v8f mv = tgbn_ld(m + j), av = tgbn_ld(a + j), cv = tgbn_ld(c + j);
                tgbn_v8f y0 = (tgbn_ld(p0 + j) - mv) * av + cv, y1 = (tgbn_ld(p1 + j) - mv) * av + cv;
                tgbn_v8f y2 = (tgbn_ld(p2 + j) - mv) * av + cv, y3 = (tgbn_ld(p3 + j) - mv) * av + cv;
                tgbn_st(q0 + j, y0); tgbn_st(q1 + j, y1); tgbn_st(q2 + j, y2); tgbn_st(q3 + j, y3);
            }
            for (; j < d; j++) {
                float y0 = (p0[j] - m[j]) * a[j] + c[j], y1 = (p1[j] - m[j]) * a[j] + c[j];
                float y2 = (p2[j] - m[j]) * a[j] + c[j], y3 = (p3[j] - m[j]) * a[j] + c[j];
                q0[j] = y0; q1[j] = y1; q2[j] = y2; q3[j] = y3;
            }
        }
        for (; i < r1; i++) {
            const float *p0 = x + i * d;
            float *q0 = y + i * d;
            for (j = 0; j < d; j++) q0[j] = (p0[j] - m[j]) * a[j] + c[j];
        }
    }

    /* ---- backward sums over rows [r0, r1): s1 = sum(dy), s2 = sum(dy * (x - m)) ----
       float accumulators per tile and row block, as for the statistics. */
    TGBN_INL void tgbn_bwd_sums_body(const float *x, const float *dy, Py_ssize_t r0, Py_ssize_t r1,
                                     Py_ssize_t d, const float *m, double *s1, double *s2) {
        float a1[TGBN_BN_TW] __attribute__((aligned(32))), a2[TGBN_BN_TW] __attribute__((aligned(32)));
        for (Py_ssize_t j = 0; j < d; j++) { s1[j] = 0.0; s2[j] = 0.0; }
        for (Py_ssize_t rb = r0; rb < r1; rb += TGBN_BN_RB) {
            Py_ssize_t re = tgbn_min(rb + TGBN_BN_RB, r1);
            for (Py_ssize_t jt = 0; jt < d; jt += TGBN_BN_TW) {
                Py_ssize_t w = tgbn_min(TGBN_BN_TW, d - jt), wv = w & ~(Py_ssize_t)7, i = rb, j;
                const float *mm = m + jt;
                for (j = 0; j < w; j++) { a1[j] = 0.0f; a2[j] = 0.0f; }
                for (; i + 4 <= re; i += 4) {
                    const float *p0 = x + i * d + jt, *p1 = p0 + d, *p2 = p1 + d, *p3 = p2 + d;
                    const float *g0 = dy + i * d + jt, *g1 = g0 + d, *g2 = g1 + d, *g3 = g2 + d;
                    for (j = 0; j < wv; j += 8) {
                        tgbn_v8f mv = tgbn_ld(mm + j);
                        tgbn_v8f e0 = tgbn_ld(g0 + j), e1 = tgbn_ld(g1 + j), e2 = tgbn_ld(g2 + j), e3 = tgbn_ld(g3 + j);
                        tgbn_v8f u0 = e0 * (tgbn_ld(p0 + j) - mv), u1 = e1 * (tgbn_ld(p1 + j) - mv);
                        tgbn_v8f u2 = e2 * (tgbn_ld(p2 + j) - mv), u3 = e3 * (tgbn_ld(p3 + j) - mv);
                        tgbn_st(a1 + j, tgbn_ld(a1 + j) + ((e0 + e1) + (e2 + e3)));
                        tgbn_st(a2 + j, tgbn_ld(a2 + j) + ((u0 + u1) + (u2 + u3)));
                    }
                    for (; j < w; j++) {
                        float u0 = g0[j] * (p0[j] - mm[j]), u1 = g1[j] * (p1[j] - mm[j]);
                        float u2 = g2[j] * (p2[j] - mm[j]), u3 = g3[j] * (p3[j] - mm[j]);
                        a1[j] += (g0[j] + g1[j]) + (g2[j] + g3[j]);
                        a2[j] += (u0 + u1) + (u2 + u3);
                    }
                }
                for (; i < re; i++) {
                    const float *p0 = x + i * d + jt, *g0 = dy + i * d + jt;
                    for (j = 0; j < w; j++) { a1[j] += g0[j]; a2[j] += g0[j] * (p0[j] - mm[j]); }
                }
                for (j = 0; j < w; j++) { s1[jt + j] += a1[j]; s2[jt + j] += a2[j]; }
            }
        }
    }

    /* ---- backward output over rows [r0, r1): dx = k1 * dy + (k2 * (x - m) + k3) ---- */
    TGBN_INL void tgbn_bwd_dx_body(const float *x, const float *dy, float *dx, Py_ssize_t r0, Py_ssize_t r1,
                                   Py_ssize_t d, const float *m, const float *k1, const float *k2,
                                   const float *k3) {
        Py_ssize_t i = r0, j, dv = d & ~(Py_ssize_t)7;
        for (; i + 4 <= r1; i += 4) {
            const float *p0 = x + i * d, *p1 = p0 + d, *p2 = p1 + d, *p3 = p2 + d;
            const float *g0 = dy + i * d, *g1 = g0 + d, *g2 = g1 + d, *g3 = g2 + d;
            float *q0 = dx + i * d, *q1 = q0 + d, *q2 = q1 + d, *q3 = q2 + d;
            for (j = 0; j < dv; j += 8) {
                tgbn_v8f mv = tgbn_ld(m + j), v1 = tgbn_ld(k1 + j), v2 = tgbn_ld(k2 + j), v3 = tgbn_ld(k3 + j);
                tgbn_v8f y0 = v1 * tgbn_ld(g0 + j) + (v2 * (tgbn_ld(p0 + j) - mv) + v3);
                tgbn_v8f y1 = v1 * tgbn_ld(g1 + j) + (v2 * (tgbn_ld(p1 + j) - mv) + v3);
                tgbn_v8f y2 = v1 * tgbn_ld(g2 + j) + (v2 * (tgbn_ld(p2 + j) - mv) + v3);
                tgbn_v8f y3 = v1 * tgbn_ld(g3 + j) + (v2 * (tgbn_ld(p3 + j) - mv) + v3);
                tgbn_st(q0 + j, y0); tgbn_st(q1 + j, y1); tgbn_st(q2 + j, y2); tgbn_st(q3 + j, y3);
            }
            for (; j < d; j++) {
                float y0 = k1[j] * g0[j] + (k2[j] * (p0[j] - m[j]) + k3[j]);
                float y1 = k1[j] * g1[j] + (k2[j] * (p1[j] - m[j]) + k3[j]);
                float y2 = k1[j] * g2[j] + (k2[j] * (p2[j] - m[j]) + k3[j]);
                float y3 = k1[j] * g3[j] + (k2[j] * (p3[j] - m[j]) + k3[j]);
                q0[j] = y0; q1[j] = y1; q2[j] = y2; q3[j] = y3;
            }
        }
        for (; i < r1; i++) {
            const float *p0 = x + i * d, *g0 = dy + i * d;
            float *q0 = dx + i * d;
            for (j = 0; j < d; j++) q0[j] = k1[j] * g0[j] + (k2[j] * (p0[j] - m[j]) + k3[j]);
        }
    }

    /* ---- inference forward (bn_affine), float32 data, double coefficients: y = x * a + b ---- */
    TGBN_INL void tgbn_affine_d_body(const float *restrict x, float *restrict y, Py_ssize_t r0, Py_ssize_t r1,
                                     Py_ssize_t d, const double *restrict a, const double *restrict b) {
        for (Py_ssize_t i = r0; i < r1; i++) {
            const float *restrict row = x + i * d;
            float *restrict out = y + i * d;
            #pragma omp simd
            for (Py_ssize_t j = 0; j < d; j++) out[j] = (float)((double)row[j] * a[j] + b[j]);
        }
    }

    #define TGBN_BN_WRAPPERS(SUFFIX, ATTR) \
    ATTR static void tgbn_bn_stats_##SUFFIX(const float *x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const float *h, double *s1, double *s2) \
        { tgbn_stats_body(x, r0, r1, d, h, s1, s2); } \
    ATTR static void tgbn_bn_affine_##SUFFIX(const float *x, float *y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const float *m, const float *a, const float *c) \
        { tgbn_affine_body(x, y, r0, r1, d, m, a, c); } \
    ATTR static void tgbn_bn_bwd_sums_##SUFFIX(const float *x, const float *dy, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const float *m, double *s1, double *s2) \
        { tgbn_bwd_sums_body(x, dy, r0, r1, d, m, s1, s2); } \
    ATTR static void tgbn_bn_bwd_dx_##SUFFIX(const float *x, const float *dy, float *dx, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const float *m, const float *k1, const float *k2, const float *k3) \
        { tgbn_bwd_dx_body(x, dy, dx, r0, r1, d, m, k1, k2, k3); } \
    ATTR static void tgbn_bn_affine_d_##SUFFIX(const float *x, float *y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double *a, const double *b) \
        { tgbn_affine_d_body(x, y, r0, r1, d, a, b); }

    TGBN_BN_WRAPPERS(base, )
    #if defined(__GNUC__) && defined(__x86_64__)
    #define TGBN_BN_HAVE_AVX2 1
    TGBN_BN_WRAPPERS(avx2, __attribute__((target("avx2,fma"))))
    #endif

    static void (*tgbn_bn_stats_f)(const float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float *, double *, double *) = tgbn_bn_stats_base;
    static void (*tgbn_bn_affine_f)(const float *, float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float *, const float *, const float *) = tgbn_bn_affine_base;
    static void (*tgbn_bn_bwd_sums_f)(const float *, const float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float *, double *, double *) = tgbn_bn_bwd_sums_base;
    static void (*tgbn_bn_bwd_dx_f)(const float *, const float *, float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float *, const float *, const float *, const float *) = tgbn_bn_bwd_dx_base;
    static void (*tgbn_bn_affine_d_f)(const float *, float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, const double *, const double *) = tgbn_bn_affine_d_base;

    static int tgbn_bn_select_isa(int force_baseline) {
        int level = 0;
        tgbn_bn_stats_f = tgbn_bn_stats_base; tgbn_bn_affine_f = tgbn_bn_affine_base;
        tgbn_bn_bwd_sums_f = tgbn_bn_bwd_sums_base; tgbn_bn_bwd_dx_f = tgbn_bn_bwd_dx_base;
        tgbn_bn_affine_d_f = tgbn_bn_affine_d_base;
    #ifdef TGBN_BN_HAVE_AVX2
        __builtin_cpu_init();
        if (!force_baseline && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            tgbn_bn_stats_f = tgbn_bn_stats_avx2; tgbn_bn_affine_f = tgbn_bn_affine_avx2;
            tgbn_bn_bwd_sums_f = tgbn_bn_bwd_sums_avx2; tgbn_bn_bwd_dx_f = tgbn_bn_bwd_dx_avx2;
            tgbn_bn_affine_d_f = tgbn_bn_affine_d_avx2;
            level = 1;
        }
    #endif
        return level;
    }
    """
    int tgbn_bn_select_isa(int force_baseline) noexcept nogil
    void tgbn_bn_stats_f(const float* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const float* h,
                         double* s1, double* s2) noexcept nogil
    void tgbn_bn_affine_f(const float* x, float* y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                          const float* m, const float* a, const float* c) noexcept nogil
    void tgbn_bn_bwd_sums_f(const float* x, const float* dy, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                            const float* m, double* s1, double* s2) noexcept nogil
    void tgbn_bn_bwd_dx_f(const float* x, const float* dy, float* dx, Py_ssize_t r0, Py_ssize_t r1,
                          Py_ssize_t d, const float* m, const float* k1, const float* k2,
                          const float* k3) noexcept nogil
    void tgbn_bn_affine_d_f(const float* x, float* y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                            const double* a, const double* b) noexcept nogil

tgbn_bn_select_isa(0)


def select_isa(bint baseline=False):
    """Use the baseline-ISA float32 loops (``baseline=True``) or the best this CPU has
    (AVX2+FMA when available).  Returns the level in use: 0 baseline, 1 AVX2."""
    return tgbn_bn_select_isa(1 if baseline else 0)


# ---------------------------------------------------------------------------
# Per-block inner loops (float32: the C functions above; float64: Cython loops
# with the same formulas, all in double)
# ---------------------------------------------------------------------------

cdef inline void _stats_block(const floating* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                              const floating* shift, double* s1, double* s2) noexcept nogil:
    # s1 = sum(x - shift), s2 = sum((x - shift)^2) over rows [r0, r1)
    cdef Py_ssize_t i, j
    cdef double t
    cdef const floating* row
    if floating is float:
        tgbn_bn_stats_f(x, r0, r1, d, shift, s1, s2)
    else:
        for j in range(d):
            s1[j] = 0.0
            s2[j] = 0.0
        for i in range(r0, r1):
            row = x + i * d
            for j in range(d):
                t = row[j] - shift[j]
                s1[j] += t
                s2[j] += t * t


cdef inline void _shifted_affine_block(const floating* x, floating* y, Py_ssize_t r0, Py_ssize_t r1,
                                       Py_ssize_t d, const floating* m, const floating* a,
                                       const floating* c) noexcept nogil:
    # y = (x - m) * a + c
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef floating* out
    if floating is float:
        tgbn_bn_affine_f(x, y, r0, r1, d, m, a, c)
    else:
        for i in range(r0, r1):
            row = x + i * d
            out = y + i * d
            for j in range(d):
                out[j] = (row[j] - m[j]) * a[j] + c[j]


cdef inline void _affine_block(const floating* x, floating* y, Py_ssize_t r0, Py_ssize_t r1,
                               Py_ssize_t d, const double* a, const double* b) noexcept nogil:
    # y = x * a + b in double (inference forward)
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef floating* out
    if floating is float:
        tgbn_bn_affine_d_f(x, y, r0, r1, d, a, b)
    else:
        for i in range(r0, r1):
            row = x + i * d
            out = y + i * d
            for j in range(d):
                out[j] = <floating>(<double>row[j] * a[j] + b[j])


cdef inline void _bwd_sums_block(const floating* x, const floating* dy, Py_ssize_t r0, Py_ssize_t r1,
                                 Py_ssize_t d, const floating* m, double* s1, double* s2) noexcept nogil:
    # s1 = sum(dy), s2 = sum(dy * (x - m)) over rows [r0, r1)
    cdef Py_ssize_t i, j
    cdef double g
    cdef const floating* row
    cdef const floating* grow
    if floating is float:
        tgbn_bn_bwd_sums_f(x, dy, r0, r1, d, m, s1, s2)
    else:
        for j in range(d):
            s1[j] = 0.0
            s2[j] = 0.0
        for i in range(r0, r1):
            row = x + i * d
            grow = dy + i * d
            for j in range(d):
                g = grow[j]
                s1[j] += g
                s2[j] += g * (row[j] - m[j])


cdef inline void _bwd_dx_block(const floating* x, const floating* dy, floating* dx,
                               Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const floating* m,
                               const floating* k1, const floating* k2,
                               const floating* k3) noexcept nogil:
    # dx = k1 * dy + (k2 * (x - m) + k3)
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef const floating* grow
    cdef floating* out
    if floating is float:
        tgbn_bn_bwd_dx_f(x, dy, dx, r0, r1, d, m, k1, k2, k3)
    else:
        for i in range(r0, r1):
            row = x + i * d
            grow = dy + i * d
            out = dx + i * d
            for j in range(d):
                out[j] = k1[j] * grow[j] + (k2[j] * (row[j] - m[j]) + k3[j])


cdef inline void _infer_bwd_block(const floating* x, const floating* dy, floating* dx,
                                  Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double* mean,
                                  const double* a, double* s1, double* s2) noexcept nogil:
    # dx = a * dy; s1 += dy; s2 += dy * (x - mean)   (one pass)
    cdef Py_ssize_t i, j
    cdef double g
    cdef const floating* row
    cdef const floating* grow
    cdef floating* out
    for j in range(d):
        s1[j] = 0.0
        s2[j] = 0.0
    for i in range(r0, r1):
        row = x + i * d
        grow = dy + i * d
        out = dx + i * d
        for j in range(d):
            g = <double>grow[j]
            out[j] = <floating>(a[j] * g)
            s1[j] += g
            s2[j] += g * (<double>row[j] - mean[j])


# ---------------------------------------------------------------------------
# Drivers (nogil): one loop over the row blocks, parallel when there are several.
#
# The passes that write (y, dx) walk the blocks in *reverse* order: the
# statistics / sums pass has just streamed through x (and dy) front to back,
# so its last blocks are still in the L2/L3 caches -- re-reading them first
# saves part of a trip to memory when the arrays are larger than L2.
# ---------------------------------------------------------------------------

cdef void _stats(const floating* x, Py_ssize_t n, Py_ssize_t d, const floating* shift,
                 double* part, Py_ssize_t nch) noexcept nogil:
    cdef Py_ssize_t c
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        for c in range(nch):     # same blocks as in parallel: same sums, bit for bit
            _stats_block(x, c * n // nch, (c + 1) * n // nch, d, shift,
                         part + 2 * c * d, part + (2 * c + 1) * d)
    else:
        for c in prange(nch, schedule="dynamic", num_threads=nt):
            _stats_block(x, c * n // nch, (c + 1) * n // nch, d, shift,
                         part + 2 * c * d, part + (2 * c + 1) * d)


cdef void _shifted_affine(const floating* x, floating* y, Py_ssize_t n, Py_ssize_t d,
                          const floating* m, const floating* a, const floating* c) noexcept nogil:
    cdef Py_ssize_t b, r
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        for b in range(nch):
            r = nch - 1 - b
            _shifted_affine_block(x, y, r * n // nch, (r + 1) * n // nch, d, m, a, c)
    else:
        for b in prange(nch, schedule="dynamic", num_threads=nt):
            r = nch - 1 - b
            _shifted_affine_block(x, y, r * n // nch, (r + 1) * n // nch, d, m, a, c)


cdef void _affine(const floating* x, floating* y, Py_ssize_t n, Py_ssize_t d,
                  const double* a, const double* b) noexcept nogil:
    cdef Py_ssize_t c
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        _affine_block(x, y, 0, n, d, a, b)
    else:
        for c in prange(nch, schedule="dynamic", num_threads=nt):
            _affine_block(x, y, c * n // nch, (c + 1) * n // nch, d, a, b)


cdef void _bwd_sums(const floating* x, const floating* dy, Py_ssize_t n, Py_ssize_t d,
                    const floating* m, double* part, Py_ssize_t nch) noexcept nogil:
    cdef Py_ssize_t c
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        for c in range(nch):
            _bwd_sums_block(x, dy, c * n // nch, (c + 1) * n // nch, d, m,
                            part + 2 * c * d, part + (2 * c + 1) * d)
    else:
        for c in prange(nch, schedule="dynamic", num_threads=nt):
            _bwd_sums_block(x, dy, c * n // nch, (c + 1) * n // nch, d, m,
                            part + 2 * c * d, part + (2 * c + 1) * d)


cdef void _bwd_dx(const floating* x, const floating* dy, floating* dx, Py_ssize_t n, Py_ssize_t d,
                  const floating* m, const floating* k1, const floating* k2,
                  const floating* k3) noexcept nogil:
    cdef Py_ssize_t b, r
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        for b in range(nch):
            r = nch - 1 - b
            _bwd_dx_block(x, dy, dx, r * n // nch, (r + 1) * n // nch, d, m, k1, k2, k3)
    else:
        for b in prange(nch, schedule="dynamic", num_threads=nt):
            r = nch - 1 - b
            _bwd_dx_block(x, dy, dx, r * n // nch, (r + 1) * n // nch, d, m, k1, k2, k3)


cdef void _infer_bwd(const floating* x, const floating* dy, floating* dx, Py_ssize_t n, Py_ssize_t d,
                     const double* mean, const double* a, double* part, Py_ssize_t nch) noexcept nogil:
    cdef Py_ssize_t c
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        for c in range(nch):
            _infer_bwd_block(x, dy, dx, c * n // nch, (c + 1) * n // nch, d, mean, a,
                             part + 2 * c * d, part + (2 * c + 1) * d)
    else:
        for c in prange(nch, schedule="dynamic", num_threads=nt):
            _infer_bwd_block(x, dy, dx, c * n // nch, (c + 1) * n // nch, d, mean, a,
                             part + 2 * c * d, part + (2 * c + 1) * d)


cdef inline void _combine(double* part, Py_ssize_t nch, Py_ssize_t d) noexcept nogil:
    # Add block partials into block 0, in block order (deterministic).
    cdef Py_ssize_t c, j
    cdef double* s1 = part
    cdef double* s2 = part + d
    for c in range(1, nch):
        for j in range(d):
            s1[j] += part[2 * c * d + j]
            s2[j] += part[(2 * c + 1) * d + j]


cdef inline void _shift_of(const floating* x, Py_ssize_t n, Py_ssize_t d, floating* shift,
                           double* acc) noexcept nogil:
    # shift = mean of the first min(n, 8) rows, rounded to the data type: close to
    # the batch mean (so x - shift is small and exact-ish), robust to one odd row.
    cdef Py_ssize_t i, j
    cdef Py_ssize_t k = n if n < 8 else 8
    cdef const floating* row
    for j in range(d):
        acc[j] = x[j]
    for i in range(1, k):
        row = x + i * d
        for j in range(d):
            acc[j] += row[j]
    for j in range(d):
        shift[j] = <floating>(acc[j] / <double>k)


# ---------------------------------------------------------------------------
# Validation helpers (Python level, before any nogil loop)
# ---------------------------------------------------------------------------

cdef _check2d(str kernel, str name, object a, Py_ssize_t n, Py_ssize_t d):
    if a.shape[0] != n or a.shape[1] != d:
        raise ValueError(f"{kernel}: {name} has shape {tuple(a.shape)}, expected ({n}, {d})")


cdef _check1d(str kernel, str name, object a, Py_ssize_t d):
    if a.shape[0] != d:
        raise ValueError(f"{kernel}: {name} has shape ({a.shape[0]},), expected ({d},) "
                         f"(one value per feature)")


cdef str _desc(object a):
    if isinstance(a, cnp.ndarray):
        return f"shape {a.shape} dtype {a.dtype}"
    return type(a).__name__


cdef cnp.ndarray _arr(str kernel, str name, object a, int typenum, int ndim, bint write):
    """``a`` as an ndarray of type ``typenum`` (native byte order) with ``ndim`` dimensions,
    C-contiguous and aligned (and writeable when ``write``), else TypeError / ValueError
    naming the kernel."""
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{kernel}: {name} must be a NumPy array, got {_desc(a)}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_TYPE(arr) != typenum or not cnp.PyArray_ISNOTSWAPPED(arr):
        raise TypeError(f"{kernel}: {name} must have dtype {'float32' if typenum == cnp.NPY_FLOAT else 'float64'}, "
                        f"got {_desc(a)}")
    if cnp.PyArray_NDIM(arr) != ndim:
        raise ValueError(f"{kernel}: {name} must have {ndim} dimension(s), got {_desc(a)}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{kernel}: {name} must be C-contiguous, got a strided view ({_desc(a)})")
    if not cnp.PyArray_ISALIGNED(arr):    # compiled loops may assume aligned elements
        raise ValueError(f"{kernel}: {name} must be aligned to its dtype ({_desc(a)})")
    if write and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{kernel}: {name} is read-only")
    return arr


cdef cnp.ndarray _out(str kernel, str name, object a, int typenum, Py_ssize_t n, Py_ssize_t d, int ndim):
    """An output: allocated when ``a`` is None, else checked (type, layout, shape)."""
    cdef cnp.npy_intp dims[2]
    if a is None:
        if ndim == 1:
            dims[0] = d
        else:
            dims[0] = n
            dims[1] = d
        return cnp.PyArray_EMPTY(ndim, dims, typenum, 0)
    cdef cnp.ndarray arr = _arr(kernel, name, a, typenum, ndim, True)
    if ndim == 1:
        _check1d(kernel, name, arr, d)
    else:
        _check2d(kernel, name, arr, n, d)
    return arr


# ---------------------------------------------------------------------------
# Python-visible kernels
# ---------------------------------------------------------------------------

cdef void _train_forward(const floating* x, const floating* gamma, const floating* beta, double epsilon,
                         floating* out, double* mean, double* var, double* invstd, Py_ssize_t n,
                         Py_ssize_t d, Py_ssize_t nch, double* part, floating* shift) noexcept nogil:
    # part: 2 * nch * d doubles (block partial sums); shift: 4 * d values (shift, m, a, c)
    cdef floating* m = shift + d
    cdef floating* a = m + d
    cdef floating* c = a + d
    cdef double s1, s2, v, mu, istd, aj, inv_n = 1.0 / <double>n
    cdef Py_ssize_t j
    _shift_of(x, n, d, shift, part)
    _stats(x, n, d, shift, part, nch)
    _combine(part, nch, d)
    for j in range(d):
        s1 = part[j] * inv_n                       # mean of x - shift
        s2 = part[d + j] * inv_n                   # mean of (x - shift)^2
        v = s2 - s1 * s1
        if v < 0.0:
            v = 0.0
        mu = <double>shift[j] + s1
        istd = 1.0 / sqrt(v + epsilon)
        mean[j] = mu
        var[j] = v
        invstd[j] = istd
        # y = (x - mean) * aj + beta = (x - m) * aj + (beta + (m - mean) * aj), m = fl(mean):
        # (m - mean) * aj is a tiny double correction, x - m is exact or rounded relative to itself
        aj = <double>gamma[j] * istd
        m[j] = <floating>mu
        a[j] = <floating>aj
        c[j] = <floating>(<double>beta[j] + (<double>m[j] - mu) * aj)
    _shifted_affine(x, out, n, d, m, a, c)


def bn_train_forward(x, gamma, beta, double epsilon, out=None, mean=None, var=None, invstd=None):
    """Training batch norm forward on (N, D) float32/float64 C-contiguous ``x``:
    returns ``(out, mean, var, invstd)`` (the last three float64 of shape (D,); ``var``
    biased), filling the arrays given or allocating those passed as None.

    Two passes over x (statistics, then ``out = gamma * (x - mean) * invstd + beta``).
    N == 0 leaves mean 0, var 0.
    """
    cdef str k = "bn_train_forward"
    if not isinstance(x, cnp.ndarray):
        raise TypeError(f"{k}: x must be a NumPy array, got {_desc(x)}")
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x):
        raise TypeError(f"{k}: x must be float32 or float64 (native byte order), got {_desc(x)}")
    cdef cnp.ndarray xa = _arr(k, "x", x, t, 2, False)
    cdef Py_ssize_t n = cnp.PyArray_DIMS(xa)[0], d = cnp.PyArray_DIMS(xa)[1], j
    cdef cnp.ndarray ga = _arr(k, "gamma", gamma, t, 1, False)
    _check1d(k, "gamma", ga, d)
    cdef cnp.ndarray ba = _arr(k, "beta", beta, t, 1, False)
    _check1d(k, "beta", ba, d)
    cdef cnp.ndarray oa = _out(k, "out", out, t, n, d, 2)
    cdef cnp.ndarray ma = _out(k, "mean", mean, cnp.NPY_DOUBLE, n, d, 1)
    cdef cnp.ndarray va = _out(k, "var", var, cnp.NPY_DOUBLE, n, d, 1)
    cdef cnp.ndarray ia = _out(k, "invstd", invstd, cnp.NPY_DOUBLE, n, d, 1)
    if not epsilon >= 0:
        raise ValueError(f"{k}: epsilon must be >= 0, got {epsilon}")
    cdef double* mp = <double*>cnp.PyArray_DATA(ma)
    cdef double* vp = <double*>cnp.PyArray_DATA(va)
    cdef double* ip = <double*>cnp.PyArray_DATA(ia)
    if n == 0:
        for j in range(d):
            mp[j] = 0.0
            vp[j] = 0.0
            ip[j] = 1.0 / sqrt(epsilon) if epsilon > 0 else 0.0
    if n == 0 or d == 0:
        return oa, ma, va, ia
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef size_t item = 4 if t == cnp.NPY_FLOAT else 8
    # scratch (one allocation): the block partial sums (double), then shift, m, a, c
    cdef double* part = <double*>malloc(2 * nch * d * sizeof(double) + 4 * d * item)
    if part == NULL:
        raise MemoryError(f"{k}: out of memory for the partial sums")
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* gp = cnp.PyArray_DATA(ga)
    cdef void* bp = cnp.PyArray_DATA(ba)
    cdef void* op = cnp.PyArray_DATA(oa)
    cdef void* sp = <void*>(part + 2 * nch * d)
    with nogil:
        if t == cnp.NPY_FLOAT:
            _train_forward(<const float*>xp, <const float*>gp, <const float*>bp, epsilon, <float*>op,
                           mp, vp, ip, n, d, nch, part, <float*>sp)
        else:
            _train_forward(<const double*>xp, <const double*>gp, <const double*>bp, epsilon, <double*>op,
                           mp, vp, ip, n, d, nch, part, <double*>sp)
        free(part)
    return oa, ma, va, ia


def bn_affine(const floating[:, ::1] x, const double[::1] a, const double[::1] b, floating[:, ::1] out):
    """``out = x * a + b`` per feature (computed in double): the inference forward, one pass."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    _check1d("bn_affine", "a", a, d)
    _check1d("bn_affine", "b", b, d)
    _check2d("bn_affine", "out", out, n, d)
    if n == 0 or d == 0:
        return
    with nogil:
        _affine(&x[0, 0], &out[0, 0], n, d, &a[0], &b[0])


cdef void _train_backward(const floating* x, const floating* dy, const double* mean,
                          const double* invstd, const floating* gamma, floating* dx, double* sdy,
                          double* sdyx, Py_ssize_t n, Py_ssize_t d, Py_ssize_t nch, double* part,
                          floating* m) noexcept nogil:
    # part: 2 * nch * d doubles; m: 4 * d values (m, k1, k2, k3).  sdy = sum(dy),
    # sdyx = sum(dy * (x - mean)) * invstd (dbeta, dgamma), in double.
    cdef floating* k1 = m + d
    cdef floating* k2 = k1 + d
    cdef floating* k3 = k2 + d
    cdef double inv_n = 1.0 / <double>n, s_dy, s_dyx, istd, q1, q2, dm
    cdef Py_ssize_t j
    for j in range(d):
        m[j] = <floating>mean[j]                   # the forward's m: x - m exact or nearly
    _bwd_sums(x, dy, n, d, m, part, nch)
    _combine(part, nch, d)
    for j in range(d):
        dm = <double>m[j] - mean[j]
        s_dy = part[j]
        s_dyx = part[d + j] + dm * s_dy            # sum(dy * (x - mean))
        istd = invstd[j]
        sdy[j] = s_dy
        sdyx[j] = s_dyx * istd
        # dx = q1 * dy + q2 * (x - mean) + q3, q3 = -q1 * mean(dy); with x - m instead of x - mean
        # the constant becomes q3 + q2 * (m - mean)
        q1 = <double>gamma[j] * istd
        q2 = -q1 * istd * istd * s_dyx * inv_n
        k1[j] = <floating>q1
        k2[j] = <floating>q2
        k3[j] = <floating>(-q1 * s_dy * inv_n + q2 * dm)
    _bwd_dx(x, dy, dx, n, d, m, k1, k2, k3)


cdef void _store(double* src, char* dst, int typenum, Py_ssize_t d) noexcept nogil:
    # copy d doubles into a float64 or float32 array (rounded)
    cdef Py_ssize_t j
    if typenum == cnp.NPY_FLOAT:
        for j in range(d):
            (<float*>dst)[j] = <float>src[j]
    else:
        for j in range(d):
            (<double*>dst)[j] = src[j]


def bn_train_backward(x, dy, mean, invstd, gamma, dx=None, dgamma=None, dbeta=None):
    """Training batch norm backward on (N, D): returns ``(dx, dgamma, dbeta)``, filling the
    arrays given or allocating those passed as None.  ``dgamma`` and ``dbeta`` are summed in
    double and stored as float64 arrays or in x's dtype (the dtype they get when allocated).

    Pass 1 reads x and dy for sum(dy) and sum(dy * (x - mean)); pass 2 writes
    ``dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))``.
    """
    cdef str k = "bn_train_backward"
    if not isinstance(x, cnp.ndarray):
        raise TypeError(f"{k}: x must be a NumPy array, got {_desc(x)}")
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x):
        raise TypeError(f"{k}: x must be float32 or float64 (native byte order), got {_desc(x)}")
    cdef cnp.ndarray xa = _arr(k, "x", x, t, 2, False)
    cdef Py_ssize_t n = cnp.PyArray_DIMS(xa)[0], d = cnp.PyArray_DIMS(xa)[1], j
    cdef cnp.ndarray ya = _arr(k, "dy", dy, t, 2, False)
    _check2d(k, "dy", ya, n, d)
    cdef cnp.ndarray ma = _arr(k, "mean", mean, cnp.NPY_DOUBLE, 1, False)
    _check1d(k, "mean", ma, d)
    cdef cnp.ndarray ia = _arr(k, "invstd", invstd, cnp.NPY_DOUBLE, 1, False)
    _check1d(k, "invstd", ia, d)
    cdef cnp.ndarray ga = _arr(k, "gamma", gamma, t, 1, False)
    _check1d(k, "gamma", ga, d)
    cdef cnp.ndarray da = _out(k, "dx", dx, t, n, d, 2)
    # dgamma / dbeta: x's dtype when allocated here or given so, else float64
    cdef int tg = t if dgamma is None or (isinstance(dgamma, cnp.ndarray)
                                          and cnp.PyArray_TYPE(<cnp.ndarray>dgamma) == t) else cnp.NPY_DOUBLE
    cdef int tb = t if dbeta is None or (isinstance(dbeta, cnp.ndarray)
                                         and cnp.PyArray_TYPE(<cnp.ndarray>dbeta) == t) else cnp.NPY_DOUBLE
    cdef cnp.ndarray dga = _out(k, "dgamma", dgamma, tg, n, d, 1)
    cdef cnp.ndarray dba = _out(k, "dbeta", dbeta, tb, n, d, 1)
    if d == 0:
        return da, dga, dba
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef size_t item = 4 if t == cnp.NPY_FLOAT else 8
    # scratch (one allocation): block partial sums, then the double sums, then m, k1, k2, k3
    cdef double* part = <double*>malloc((2 * nch * d + 2 * d) * sizeof(double) + 4 * d * item)
    if part == NULL:
        raise MemoryError(f"{k}: out of memory for the partial sums")
    cdef double* sums = part + 2 * nch * d
    cdef void* sp = <void*>(sums + 2 * d)
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* yp = cnp.PyArray_DATA(ya)
    cdef void* gp = cnp.PyArray_DATA(ga)
    cdef void* dp = cnp.PyArray_DATA(da)
    cdef double* mp = <double*>cnp.PyArray_DATA(ma)
    cdef double* ip = <double*>cnp.PyArray_DATA(ia)
    with nogil:
        if n == 0:
            for j in range(2 * d):
                sums[j] = 0.0
        elif t == cnp.NPY_FLOAT:
            _train_backward(<const float*>xp, <const float*>yp, mp, ip, <const float*>gp, <float*>dp,
                            sums, sums + d, n, d, nch, part, <float*>sp)
        else:
            _train_backward(<const double*>xp, <const double*>yp, mp, ip, <const double*>gp, <double*>dp,
                            sums, sums + d, n, d, nch, part, <double*>sp)
        _store(sums + d, <char*>cnp.PyArray_DATA(dga), tg, d)
        _store(sums, <char*>cnp.PyArray_DATA(dba), tb, d)
        free(part)
    return da, dga, dba


def bn_infer_backward(const floating[:, ::1] x, const floating[:, ::1] dy, const double[::1] mean,
                      const double[::1] a, floating[:, ::1] dx, double[::1] sum_dy, double[::1] sum_dyxc):
    """Inference batch norm backward, one pass: ``dx = a * dy``, ``sum_dy = sum(dy)``,
    ``sum_dyxc = sum(dy * (x - mean))`` (dgamma = sum_dyxc * invstd, dbeta = sum_dy)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], j
    _check2d("bn_infer_backward", "dy", dy, n, d)
    _check2d("bn_infer_backward", "dx", dx, n, d)
    _check1d("bn_infer_backward", "mean", mean, d)
    _check1d("bn_infer_backward", "a", a, d)
    _check1d("bn_infer_backward", "sum_dy", sum_dy, d)
    _check1d("bn_infer_backward", "sum_dyxc", sum_dyxc, d)
    if d == 0:
        return
    if n == 0:
        for j in range(d):
            sum_dy[j] = 0.0
            sum_dyxc[j] = 0.0
        return
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef double[::1] part = np.zeros(2 * nch * d)
    with nogil:
        _infer_bwd(&x[0, 0], &dy[0, 0], &dx[0, 0], n, d, &mean[0], &a[0], &part[0], nch)
        _combine(&part[0], nch, d)
        for j in range(d):
            sum_dy[j] = part[j]
            sum_dyxc[j] = part[d + j]
