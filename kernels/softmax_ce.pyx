# Fused softmax cross-entropy: the loss and its gradient from one read of the
# logits and one write of the gradient.
#
# Per row (the row stays in L1 between the sub-steps):
#   m   = max_j x_j                         (read the logits row)
#   g_j = exp(x_j - m)                      (written straight into the gradient row)
#   s   = sum_j g_j,   lse - m = log(s)
#   loss = sum_j t_j * (lse - x_j) = sum(t) * log(s) - sum_j t_j * (x_j - m)
#   g_j  = (sum(t) * g_j / s - t_j) * scale          (scale = 1/N for 'mean', else 1)
# with the target t = y * (1 - ls) + ls / C (y one-hot for integer labels).
# Subtracting the row max makes it stable for logits of any magnitude; the
# loss terms are accumulated in double.
#
# The small per-row loops vectorise (see the C helpers below); float32 uses a
# branch-free exp (Cephes-style range reduction + degree-6 polynomial, ~1 ulp),
# float64 uses libm's exp.
# Few classes (float32, C <= SMALL_C): a per-row call into short vector loops
# with remainders costs far more than the arithmetic, so 8 rows are processed
# at once instead, one row per vector lane (GCC vector extensions: one AVX2
# register, or two SSE2 ones on the baseline build): the block is transposed
# into a small buffer, then max, exp, sum and a vectorised log run down the C
# columns with no horizontal reductions and no remainders.  A row's result
# depends only on that row (lanes never mix), so it is the same whichever block
# or thread processed it.
# Rows are split over OpenMP threads when N * C is large; the total loss is
# then summed over rows in row order (deterministic).
#
# The Python-visible entries take NumPy arrays and validate them with the NumPy
# C API (no memoryview acquisition, no fused-type dispatch: ~0.2 us per call);
# the dtype-specific loop is chosen in C.

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
cimport openmp
from libc.math cimport exp, log
from libc.stdint cimport int32_t, int64_t
import numpy as np

cnp.import_array()

ctypedef fused label_t:
    int32_t
    int64_t

cdef enum:
    PAR_WORK = 32768     # N * C from which rows go parallel


# The per-row primitives are small C loops (verbatim below) rather than Cython
# loops because the build has no -ffast-math: GCC then refuses to vectorise a
# float reduction (it may not reassociate) or a float select (trapping math).
# `#pragma omp simd reduction(...)` (OpenMP is on in the build) allows exactly
# the reassociation we want, in a fixed order set at compile time (the vector
# width), so results stay deterministic.  The float32 exp selects with integer
# masks, which vectorise.  Without OpenMP the pragmas are ignored (scalar code).
cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>

    /* exp(x) for x <= 0 in float32: Cephes-style reduction x = n ln2 + r and a
       degree-6 polynomial (about 1 ulp); 0 below -87 (and for -inf / NaN). */
    static inline float tgbn_expf(float x) {
        union { float f; uint32_t i; } sc, res;
        float t = x * 1.4426950408889634f;
        float n = (t + 12582912.0f) - 12582912.0f;          /* round to nearest */
        float r = x - n * 0.693359375f;
        r = r + n * 2.12194440e-4f;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        sc.i = ((uint32_t)((int32_t)n + 127)) << 23;
        res.f = p * sc.f;
        res.i &= -(uint32_t)(x > -87.0f);
        return res.f;
    }

    static inline double tgbn_max_d(const double *x, Py_ssize_t n) {
        double m = x[0];
        #pragma omp simd reduction(max:m)
        for (Py_ssize_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
        return m;
    }
    /* Row max, then g = exp(x - m) and sum(g) (accumulated in float, returned as double).
       Compiled twice: for the baseline ISA and, on x86 with GCC/clang, for AVX2+FMA,
       picked once at run time (as NumPy does); the vector width, hence the summation
       order, is fixed per machine, so results are deterministic. */
    static inline __attribute__((always_inline)) float tgbn_max_f_body(const float *x, Py_ssize_t n) {
        float m = x[0];
        #pragma omp simd reduction(max:m)
        for (Py_ssize_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
        return m;
    }
    static inline __attribute__((always_inline)) double tgbn_exp_sum_f_body(
            const float *restrict x, float *restrict g, Py_ssize_t n, float m) {
        float s = 0.0f;
        #pragma omp simd
        for (Py_ssize_t j = 0; j < n; j++) g[j] = tgbn_expf(x[j] - m);
        #pragma omp simd reduction(+:s)
        for (Py_ssize_t j = 0; j < n; j++) s += g[j];
        return (double)s;
    }
    static float tgbn_max_f_base(const float *x, Py_ssize_t n) { return tgbn_max_f_body(x, n); }
    static double tgbn_exp_sum_f_base(const float *restrict x, float *restrict g, Py_ssize_t n, float m) {
        return tgbn_exp_sum_f_body(x, g, n, m);
    }
    #if defined(__GNUC__) && defined(__x86_64__)
    #define TGBN_HAVE_AVX2_VERSION 1
    __attribute__((target("avx2,fma"))) static float tgbn_max_f_avx2(const float *x, Py_ssize_t n) {
        return tgbn_max_f_body(x, n);
    }
    __attribute__((target("avx2,fma"))) static double tgbn_exp_sum_f_avx2(
            const float *restrict x, float *restrict g, Py_ssize_t n, float m) {
        return tgbn_exp_sum_f_body(x, g, n, m);
    }
    #endif

    /* ---- few classes, float32: 8 rows at a time, one row per vector lane ---- */
    #include <string.h>
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC diagnostic ignored "-Wpsabi"   /* 32-byte vectors in always-inline helpers */
    /* No a*b+c -> FMA contraction in this section: GCC may contract the same expression
       differently in the two halves of a row block (seen: lanes 4-7 vs 0-3), which would make
       a row's result depend on its position.  Without it, the baseline and AVX2 builds also
       give bit-identical results. */
    #pragma GCC push_options
    #pragma GCC optimize ("fp-contract=off")
    #elif defined(__clang__)
    #pragma clang fp contract(off)
    #endif
    #define TGBN_SMALL_C 32          /* largest C taking this path (buffer: 8*C floats) */
    typedef float tgbn_v8f __attribute__((vector_size(32)));
    typedef int32_t tgbn_v8i __attribute__((vector_size(32)));
    typedef uint32_t tgbn_v8u __attribute__((vector_size(32)));
    typedef float tgbn_v4f __attribute__((vector_size(16)));
    typedef double tgbn_v4d __attribute__((vector_size(32)));
    /* lanes 0-3 and 4-7 of a float vector, as doubles */
    static inline __attribute__((always_inline)) void tgbn_split(tgbn_v8f a, tgbn_v4d *h) {
        tgbn_v4f q[2];
        memcpy(q, &a, sizeof(a));
        h[0] = __builtin_convertvector(q[0], tgbn_v4d);
        h[1] = __builtin_convertvector(q[1], tgbn_v4d);
    }

    /* log(x) in float32 for finite x >= 1 (Cephes logf: mantissa in [sqrt(1/2), sqrt(2)),
       degree-8 polynomial, about 1 ulp); the caller checks the range. */
    static inline float tgbn_logf(float x) {
        union { float f; uint32_t i; } u, a;
        u.f = x;
        int32_t e = (int32_t)(u.i >> 23) - 126;
        u.i = (u.i & 0x007fffffu) | 0x3f000000u;            /* mantissa in [0.5, 1) */
        uint32_t lo = -(uint32_t)(u.f < 0.707106781186547524f);
        e += (int32_t)lo;                                    /* -1 when the mantissa is doubled */
        a.f = u.f; a.i &= lo;
        float f = (u.f + a.f) - 1.0f;
        float z = f * f;
        float y = 7.0376836292e-2f;
        y = y * f - 1.1514610310e-1f;
        y = y * f + 1.1676998740e-1f;
        y = y * f - 1.2420140846e-1f;
        y = y * f + 1.4249322787e-1f;
        y = y * f - 1.6668057665e-1f;
        y = y * f + 2.0000714765e-1f;
        y = y * f - 2.4999993993e-1f;
        y = y * f + 3.3333331174e-1f;
        y = y * f * z;
        float fe = (float)e;
        y += -2.12194440e-4f * fe;
        y += -0.5f * z;
        return (f + y) + 0.693359375f * fe;
    }
    /* The same two functions on 8 lanes (operation for operation). */
    static inline __attribute__((always_inline)) tgbn_v8f tgbn_expf_v8(tgbn_v8f x) {
        tgbn_v8f t = x * 1.4426950408889634f;
        tgbn_v8f n = (t + 12582912.0f) - 12582912.0f;
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
        return (tgbn_v8f)((tgbn_v8u)res & (tgbn_v8u)(x > -87.0f));
    }
    static inline __attribute__((always_inline)) tgbn_v8f tgbn_logf_v8(tgbn_v8f x) {
        tgbn_v8u u = (tgbn_v8u)x;
        tgbn_v8i e = (tgbn_v8i)(u >> 23) - 126;
        u = (u & 0x007fffffu) | 0x3f000000u;
        tgbn_v8f m = (tgbn_v8f)u;
        tgbn_v8i lo = m < 0.707106781186547524f;
        e += lo;
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
    static inline __attribute__((always_inline)) tgbn_v8f tgbn_vmax(tgbn_v8f a, tgbn_v8f b) {
        /* b > a ? b : a (NaN in b is skipped, as in the row loop) */
        tgbn_v8u k = (tgbn_v8u)(b > a);
        return (tgbn_v8f)(((tgbn_v8u)b & k) | ((tgbn_v8u)a & ~k));
    }

    /* b ? x : 0 with an integer lane mask b (0 or -1) */
    static inline __attribute__((always_inline)) tgbn_v8f tgbn_vsel(tgbn_v8i b, tgbn_v8f x) {
        return (tgbn_v8f)((tgbn_v8u)x & (tgbn_v8u)b);
    }
    #if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
    #define TGBN_SHUF(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
        __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
    #else
    #define TGBN_SHUF(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
        __builtin_shuffle(a, b, (tgbn_v8i){i0, i1, i2, i3, i4, i5, i6, i7})
    #endif
    /* In-place transpose of an 8 x 8 tile held in 8 vectors (unpack / shuffle / 128-bit
       permute, as with AVX intrinsics). */
    static inline __attribute__((always_inline)) void tgbn_tr8(tgbn_v8f *r) {
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
    static inline __attribute__((always_inline)) void tgbn_load_tr(const float *a, Py_ssize_t c,
                                                                   tgbn_v8f *xt) {
        for (Py_ssize_t j0 = 0; j0 < c; j0 += 8) {
            if (j0 + 8 > c) j0 = c - 8;
            tgbn_v8f r[8];
            for (int k = 0; k < 8; k++) memcpy(&r[k], a + k * c + j0, sizeof(tgbn_v8f));
            tgbn_tr8(r);
            for (int k = 0; k < 8; k++) xt[j0 + k] = r[k];
        }
    }
    static inline __attribute__((always_inline)) void tgbn_store_tr(float *a, Py_ssize_t c,
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
    static inline __attribute__((always_inline)) void tgbn_ce_small_f_body(
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
                    tgbn_v4d sxm = {0, 0, 0, 0};
                    if (ls != 0.0) sxm = lsc * sx[h];
                    l[h] = sumt * lgd[h] - ((1.0 - ls) * syx[h] + sxm);
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
    static void tgbn_ce_small_f_base(const float *x, const float *y, const int32_t *l32,
            const int64_t *l64, Py_ssize_t n, Py_ssize_t c, double ls, double scale,
            float *g, double *loss) {
        tgbn_ce_small_f_body(x, y, l32, l64, n, c, ls, scale, g, loss);
    }
    #if defined(__GNUC__) && defined(__x86_64__)
    __attribute__((target("avx2,fma"))) static void tgbn_ce_small_f_avx2(const float *x,
            const float *y, const int32_t *l32, const int64_t *l64, Py_ssize_t n, Py_ssize_t c,
            double ls, double scale, float *g, double *loss) {
        tgbn_ce_small_f_body(x, y, l32, l64, n, c, ls, scale, g, loss);
    }
    #endif
    static void (*tgbn_ce_small_f)(const float *, const float *, const int32_t *, const int64_t *,
            Py_ssize_t, Py_ssize_t, double, double, float *, double *) = tgbn_ce_small_f_base;
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC pop_options
    #endif
    static float (*tgbn_max_f)(const float *, Py_ssize_t) = tgbn_max_f_base;
    static double (*tgbn_exp_sum_f)(const float *, float *, Py_ssize_t, float) = tgbn_exp_sum_f_base;
    static int tgbn_simd_level = 0;
    /* Choose the kernels for this CPU; returns 1 when the AVX2 versions are used.
       force_baseline != 0 keeps the baseline (tests compare both). */
    static int tgbn_select_isa(int force_baseline) {
        tgbn_max_f = tgbn_max_f_base;
        tgbn_exp_sum_f = tgbn_exp_sum_f_base;
        tgbn_ce_small_f = tgbn_ce_small_f_base;
        tgbn_simd_level = 0;
    #ifdef TGBN_HAVE_AVX2_VERSION
        __builtin_cpu_init();
        if (!force_baseline && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            tgbn_max_f = tgbn_max_f_avx2;
            tgbn_exp_sum_f = tgbn_exp_sum_f_avx2;
            tgbn_ce_small_f = tgbn_ce_small_f_avx2;
            tgbn_simd_level = 1;
        }
    #endif
        return tgbn_simd_level;
    }
    static inline double tgbn_exp_sum_d(const double *restrict x, double *restrict g, Py_ssize_t n, double m) {
        double s = 0.0;
        for (Py_ssize_t j = 0; j < n; j++) g[j] = exp(x[j] - m);
        #pragma omp simd reduction(+:s)
        for (Py_ssize_t j = 0; j < n; j++) s += g[j];
        return s;
    }
    /* sum_j (x_j - m) in double */
    static inline double tgbn_sum_shift_f(const float *x, Py_ssize_t n, float m) {
        double s = 0.0;
        #pragma omp simd reduction(+:s)
        for (Py_ssize_t j = 0; j < n; j++) s += (double)x[j] - (double)m;
        return s;
    }
    static inline double tgbn_sum_shift_d(const double *x, Py_ssize_t n, double m) {
        double s = 0.0;
        #pragma omp simd reduction(+:s)
        for (Py_ssize_t j = 0; j < n; j++) s += x[j] - m;
        return s;
    }
    /* sum_j y_j and sum_j y_j (x_j - m), in double */
    static inline void tgbn_dense_sums_f(const float *x, const float *y, Py_ssize_t n, float m,
                                         double *sy, double *syx) {
        double a = 0.0, b = 0.0;
        #pragma omp simd reduction(+:a,b)
        for (Py_ssize_t j = 0; j < n; j++) {
            a += (double)y[j];
            b += (double)y[j] * ((double)x[j] - (double)m);
        }
        *sy = a; *syx = b;
    }
    static inline void tgbn_dense_sums_d(const double *x, const double *y, Py_ssize_t n, double m,
                                         double *sy, double *syx) {
        double a = 0.0, b = 0.0;
        #pragma omp simd reduction(+:a,b)
        for (Py_ssize_t j = 0; j < n; j++) {
            a += y[j];
            b += y[j] * (x[j] - m);
        }
        *sy = a; *syx = b;
    }
    """
    float tgbn_expf(float x) noexcept nogil
    float tgbn_logf(float x) noexcept nogil
    void tgbn_ce_small_f(const float* x, const float* y, const int32_t* l32, const int64_t* l64,
                         Py_ssize_t n, Py_ssize_t c, double ls, double scale,
                         float* g, double* loss) noexcept nogil
    enum: TGBN_SMALL_C
    float tgbn_max_f(const float* x, Py_ssize_t n) noexcept nogil
    double tgbn_max_d(const double* x, Py_ssize_t n) noexcept nogil
    double tgbn_exp_sum_f(const float* x, float* g, Py_ssize_t n, float m) noexcept nogil
    int tgbn_select_isa(int force_baseline) noexcept nogil
    double tgbn_exp_sum_d(const double* x, double* g, Py_ssize_t n, double m) noexcept nogil
    double tgbn_sum_shift_f(const float* x, Py_ssize_t n, float m) noexcept nogil
    double tgbn_sum_shift_d(const double* x, Py_ssize_t n, double m) noexcept nogil
    void tgbn_dense_sums_f(const float* x, const float* y, Py_ssize_t n, float m,
                           double* sy, double* syx) noexcept nogil
    void tgbn_dense_sums_d(const double* x, const double* y, Py_ssize_t n, double m,
                           double* sy, double* syx) noexcept nogil


tgbn_select_isa(0)


def select_isa(bint baseline=False):
    """Use the baseline-ISA float32 row loops (``baseline=True``) or the best this CPU has
    (AVX2+FMA when available).  Returns the level in use: 0 baseline, 1 AVX2."""
    return tgbn_select_isa(1 if baseline else 0)


cdef inline floating _row_max(const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return tgbn_max_f(x, n)
    else:
        return tgbn_max_d(x, n)


cdef inline double _row_exp_sum(const floating* x, floating* g, Py_ssize_t n, floating m) noexcept nogil:
    if floating is float:
        return tgbn_exp_sum_f(x, g, n, m)
    else:
        return tgbn_exp_sum_d(x, g, n, m)


cdef inline double _row_sum_shifted(const floating* x, Py_ssize_t n, floating m) noexcept nogil:
    if floating is float:
        return tgbn_sum_shift_f(x, n, m)
    else:
        return tgbn_sum_shift_d(x, n, m)


cdef inline void _row_dense_sums(const floating* x, const floating* y, Py_ssize_t n, floating m,
                                 double* sy, double* syx) noexcept nogil:
    if floating is float:
        tgbn_dense_sums_f(x, y, n, m, sy, syx)
    else:
        tgbn_dense_sums_d(x, y, n, m, sy, syx)


cdef inline double _row_sparse(const floating* x, floating* g, Py_ssize_t c, Py_ssize_t lab,
                               double ls, double scale) noexcept nogil:
    cdef floating m = _row_max(x, c)
    cdef Py_ssize_t j
    cdef double s = _row_exp_sum(x, g, c, m)
    cdef double loss = log(s) - (1.0 - ls) * (<double>x[lab] - <double>m)
    if ls != 0.0:
        loss -= ls / <double>c * _row_sum_shifted(x, c, m)
    cdef floating coef = <floating>(scale / s)
    cdef floating off = <floating>(ls / <double>c * scale)
    for j in range(c):
        g[j] = g[j] * coef - off
    g[lab] -= <floating>((1.0 - ls) * scale)
    return loss


cdef inline double _row_dense(const floating* x, const floating* y, floating* g, Py_ssize_t c,
                              double ls, double scale) noexcept nogil:
    cdef floating m = _row_max(x, c)
    cdef Py_ssize_t j
    cdef double sy, syx, sxm = 0.0
    cdef double s = _row_exp_sum(x, g, c, m)
    _row_dense_sums(x, y, c, m, &sy, &syx)
    if ls != 0.0:
        sxm = _row_sum_shifted(x, c, m)
    cdef double sumt = (1.0 - ls) * sy + ls
    cdef double loss = sumt * log(s) - ((1.0 - ls) * syx + ls / <double>c * sxm)
    cdef floating coef = <floating>(sumt * scale / s)
    cdef floating ky = <floating>((1.0 - ls) * scale)
    cdef floating k0 = <floating>(ls / <double>c * scale)
    for j in range(c):
        g[j] = g[j] * coef - y[j] * ky - k0
    return loss


# ---------------------------------------------------------------------------
# Drivers (no GIL): the small-C float32 path, else one row at a time.
# ---------------------------------------------------------------------------

cdef enum:
    SMALL_CHUNK = 256    # rows per parallel chunk of the small-C path (a multiple of 8)


cdef void _small_f(const float* x, const float* y, const int32_t* l32, const int64_t* l64,
                   Py_ssize_t n, Py_ssize_t c, double ls, double scale, float* g, double* loss,
                   int nt) noexcept nogil:
    cdef Py_ssize_t b, r0, nr, nchunks = (n + SMALL_CHUNK - 1) // SMALL_CHUNK
    if nt == 1:
        tgbn_ce_small_f(x, y, l32, l64, n, c, ls, scale, g, loss)
        return
    for b in prange(nchunks, schedule="dynamic", num_threads=nt):
        r0 = b * SMALL_CHUNK
        nr = n - r0
        if nr > SMALL_CHUNK:
            nr = SMALL_CHUNK
        tgbn_ce_small_f(x + r0 * c, NULL if y == NULL else y + r0 * c,
                        NULL if l32 == NULL else l32 + r0, NULL if l64 == NULL else l64 + r0,
                        nr, c, ls, scale, g + r0 * c, loss + r0)


cdef void _rows_sparse(const floating* x, const label_t* lab, Py_ssize_t n, Py_ssize_t c, double ls,
                       double scale, floating* g, double* loss, int nt) noexcept nogil:
    cdef Py_ssize_t i
    if nt == 1:
        for i in range(n):
            loss[i] = _row_sparse(x + i * c, g + i * c, c, <Py_ssize_t>lab[i], ls, scale)
    else:
        for i in prange(n, schedule="dynamic", chunksize=16, num_threads=nt):
            loss[i] = _row_sparse(x + i * c, g + i * c, c, <Py_ssize_t>lab[i], ls, scale)


cdef void _rows_dense(const floating* x, const floating* y, Py_ssize_t n, Py_ssize_t c, double ls,
                      double scale, floating* g, double* loss, int nt) noexcept nogil:
    cdef Py_ssize_t i
    if nt == 1:
        for i in range(n):
            loss[i] = _row_dense(x + i * c, y + i * c, g + i * c, c, ls, scale)
    else:
        for i in prange(n, schedule="dynamic", chunksize=16, num_threads=nt):
            loss[i] = _row_dense(x + i * c, y + i * c, g + i * c, c, ls, scale)


cdef double _sum_rows(const double* loss, Py_ssize_t n) noexcept nogil:
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        total += loss[i]
    return total


# ---------------------------------------------------------------------------
# Validation (NumPy C API: a few C comparisons per array)
# ---------------------------------------------------------------------------

cdef str _desc(object a):
    if isinstance(a, cnp.ndarray):
        return f"shape {a.shape} dtype {a.dtype}"
    return type(a).__name__


cdef cnp.ndarray _input(str kernel, str name, object a, int ndim):
    """An input array of rank ndim, returned C-contiguous and aligned (copied when it is not)."""
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_NDIM(arr) != ndim:
        raise ValueError(f"{kernel}: {name} must have {ndim} dimension{'s' if ndim > 1 else ''}, "
                         f"got {_desc(a)}")
    if not cnp.PyArray_ISNOTSWAPPED(arr):
        arr = arr.astype(arr.dtype.newbyteorder("="))      # native byte order (a copy)
    if not cnp.PyArray_ISCARRAY_RO(arr):
        arr = np.array(arr, order="C", copy=True)            # C-contiguous and aligned
    return arr


cdef int _output(str kernel, str name, object a, int typenum, Py_ssize_t n, Py_ssize_t c,
                 int ndim) except -1:
    """An output array: ndarray of the given type and shape, C-contiguous, aligned, writeable."""
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_TYPE(arr) != typenum:
        want = "float32" if typenum == cnp.NPY_FLOAT else "float64"
        raise TypeError(f"{kernel}: {name} must have dtype {want}, got {_desc(a)}")
    if (cnp.PyArray_NDIM(arr) != ndim or cnp.PyArray_DIM(arr, 0) != n
            or (ndim == 2 and cnp.PyArray_DIM(arr, 1) != c)):
        want_shape = f"({n}, {c})" if ndim == 2 else f"({n},)"
        raise ValueError(f"{kernel}: {name} has {_desc(a)}, expected shape {want_shape}")
    if not cnp.PyArray_ISCARRAY(arr) or not cnp.PyArray_ISNOTSWAPPED(arr):
        raise ValueError(f"{kernel}: {name} ({_desc(a)}) must be C-contiguous, aligned, writeable "
                         f"and in native byte order")
    return 0


cdef inline bint _overlap(cnp.ndarray a, cnp.ndarray b) noexcept:
    """Whether two C-contiguous arrays share bytes."""
    cdef char* pa = <char*>cnp.PyArray_DATA(a)
    cdef char* pb = <char*>cnp.PyArray_DATA(b)
    cdef Py_ssize_t na = cnp.PyArray_NBYTES(a), nb = cnp.PyArray_NBYTES(b)
    return na > 0 and nb > 0 and pa < pb + nb and pb < pa + na


cdef int _check_outputs(str kernel, cnp.ndarray x, object grad, object loss, int t, Py_ssize_t n,
                        Py_ssize_t c) except -1:
    _output(kernel, "grad", grad, t, n, c, 2)
    _output(kernel, "loss", loss, cnp.NPY_DOUBLE, n, 0, 1)
    if _overlap(<cnp.ndarray>grad, x) or _overlap(<cnp.ndarray>loss, x) or _overlap(<cnp.ndarray>grad, <cnp.ndarray>loss):
        raise ValueError(f"{kernel}: grad, loss and the inputs must not share memory")
    return 0


cdef cnp.ndarray _logits(str kernel, object logits, Py_ssize_t* n, Py_ssize_t* c, int* t):
    cdef cnp.ndarray x = _input(kernel, "logits", logits, 2)
    t[0] = cnp.PyArray_TYPE(x)
    if t[0] != cnp.NPY_FLOAT and t[0] != cnp.NPY_DOUBLE:
        raise TypeError(f"{kernel}: logits must be float32 or float64, got {_desc(logits)}")
    n[0] = cnp.PyArray_DIM(x, 0)
    c[0] = cnp.PyArray_DIM(x, 1)
    if c[0] < 1 and n[0] > 0:
        raise ValueError(f"{kernel}: logits have no classes (shape ({n[0]}, {c[0]}))")
    return x


cdef inline int _nthreads(Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    if n < 2 or n * c < PAR_WORK:
        return 1
    cdef int t = openmp.omp_get_max_threads()
    return t if t > 1 else 1


cdef Py_ssize_t _first_bad(const label_t* lab, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if lab[i] < 0 or lab[i] >= c:
            return i
    return -1


# ---------------------------------------------------------------------------
# Python-visible kernels
# ---------------------------------------------------------------------------

def ce_forward_sparse(logits, labels, double label_smoothing, double scale, grad, loss):
    """Integer labels: fill ``grad`` with ``(softmax * sum(t) - t) * scale`` and ``loss`` with the
    per-row losses; return their sum (in row order).  Labels must be in [0, C).

    logits: float32/float64 (N, C); labels: int32/int64 (N,); grad: (N, C) of the logits'
    dtype and loss: float64 (N,), both C-contiguous, aligned, writeable (filled in place).
    Non-contiguous inputs are copied."""
    cdef Py_ssize_t n, c, bad
    cdef int t
    cdef cnp.ndarray x = _logits("ce_forward_sparse", logits, &n, &c, &t)
    cdef cnp.ndarray y = _input("ce_forward_sparse", "labels", labels, 1)
    cdef int lt = cnp.PyArray_TYPE(y)
    cdef bint l64
    if cnp.PyArray_ISSIGNED(y) and cnp.PyArray_ITEMSIZE(y) == 8:
        l64 = True
    elif cnp.PyArray_ISSIGNED(y) and cnp.PyArray_ITEMSIZE(y) == 4:
        l64 = False
    else:
        raise TypeError(f"ce_forward_sparse: labels must be int32 or int64, got {_desc(labels)}")
    if cnp.PyArray_DIM(y, 0) != n:
        raise ValueError(f"ce_forward_sparse: labels have shape ({cnp.PyArray_DIM(y, 0)},), expected ({n},) "
                         f"for logits of shape ({n}, {c})")
    _check_outputs("ce_forward_sparse", x, grad, loss, t, n, c)
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef const void* yp = cnp.PyArray_DATA(y)
    cdef void* gp = cnp.PyArray_DATA(<cnp.ndarray>grad)
    cdef double* lp = <double*>cnp.PyArray_DATA(<cnp.ndarray>loss)
    with nogil:
        if l64:
            bad = _first_bad(<const int64_t*>yp, n, c)
        else:
            bad = _first_bad(<const int32_t*>yp, n, c)
    if bad >= 0:
        raise ValueError(f"ce_forward_sparse: label {y[bad]} at index {bad} is outside [0, {c})")
    if n == 0:
        return 0.0
    cdef int nt = _nthreads(n, c)
    cdef double total
    with nogil:
        if t == cnp.NPY_FLOAT and c <= TGBN_SMALL_C:
            _small_f(<const float*>xp, NULL, NULL if l64 else <const int32_t*>yp,
                     <const int64_t*>yp if l64 else NULL, n, c, label_smoothing, scale,
                     <float*>gp, lp, nt)
        elif t == cnp.NPY_FLOAT:
            if l64:
                _rows_sparse(<const float*>xp, <const int64_t*>yp, n, c, label_smoothing, scale,
                             <float*>gp, lp, nt)
            else:
                _rows_sparse(<const float*>xp, <const int32_t*>yp, n, c, label_smoothing, scale,
                             <float*>gp, lp, nt)
        else:
            if l64:
                _rows_sparse(<const double*>xp, <const int64_t*>yp, n, c, label_smoothing, scale,
                             <double*>gp, lp, nt)
            else:
                _rows_sparse(<const double*>xp, <const int32_t*>yp, n, c, label_smoothing, scale,
                             <double*>gp, lp, nt)
        total = _sum_rows(lp, n)
    return total


def ce_forward_dense(logits, labels, double label_smoothing, double scale, grad, loss):
    """Dense (probability / one-hot) labels of shape (N, C), of the logits' dtype: same outputs
    as ``ce_forward_sparse``."""
    cdef Py_ssize_t n, c
    cdef int t
    cdef cnp.ndarray x = _logits("ce_forward_dense", logits, &n, &c, &t)
    cdef cnp.ndarray y = _input("ce_forward_dense", "labels", labels, 2)
    if cnp.PyArray_TYPE(y) != t:
        raise TypeError(f"ce_forward_dense: labels ({_desc(labels)}) must have the dtype of the logits "
                        f"({_desc(logits)})")
    if cnp.PyArray_DIM(y, 0) != n or cnp.PyArray_DIM(y, 1) != c:
        raise ValueError(f"ce_forward_dense: labels have shape ({cnp.PyArray_DIM(y, 0)}, "
                         f"{cnp.PyArray_DIM(y, 1)}), expected ({n}, {c})")
    _check_outputs("ce_forward_dense", x, grad, loss, t, n, c)
    if _overlap(<cnp.ndarray>grad, y) or _overlap(<cnp.ndarray>loss, y):
        raise ValueError("ce_forward_dense: grad, loss and the inputs must not share memory")
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef const void* yp = cnp.PyArray_DATA(y)
    cdef void* gp = cnp.PyArray_DATA(<cnp.ndarray>grad)
    cdef double* lp = <double*>cnp.PyArray_DATA(<cnp.ndarray>loss)
    if n == 0:
        return 0.0
    cdef int nt = _nthreads(n, c)
    cdef double total
    with nogil:
        if t == cnp.NPY_FLOAT and c <= TGBN_SMALL_C:
            _small_f(<const float*>xp, <const float*>yp, NULL, NULL, n, c, label_smoothing, scale,
                     <float*>gp, lp, nt)
        elif t == cnp.NPY_FLOAT:
            _rows_dense(<const float*>xp, <const float*>yp, n, c, label_smoothing, scale, <float*>gp, lp, nt)
        else:
            _rows_dense(<const double*>xp, <const double*>yp, n, c, label_smoothing, scale,
                        <double*>gp, lp, nt)
        total = _sum_rows(lp, n)
    return total


def logf_vec(const float[::1] x, float[::1] out):
    """The float32 log used by the small-C path (for tests): ``out = log(x)`` for finite x >= 1."""
    cdef Py_ssize_t i
    if out.shape[0] != x.shape[0]:
        raise ValueError("logf_vec: out and x differ in length")
    with nogil:
        for i in range(x.shape[0]):
            out[i] = tgbn_logf(x[i])


def expf_vec(const float[::1] x, float[::1] out):
    """The float32 exp used by the kernel (for tests): ``out = exp(x)`` for x <= 0."""
    cdef Py_ssize_t i
    if out.shape[0] != x.shape[0]:
        raise ValueError("expf_vec: out and x differ in length")
    with nogil:
        for i in range(x.shape[0]):
            out[i] = tgbn_expf(x[i])
