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
# Rows are split statically over OpenMP threads when N * C is large; the total
# loss is then summed over rows in row order (deterministic).

from cython cimport floating
from cython.parallel cimport prange
cimport openmp
from libc.math cimport exp, log
from libc.stdint cimport int32_t, int64_t

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
    static float (*tgbn_max_f)(const float *, Py_ssize_t) = tgbn_max_f_base;
    static double (*tgbn_exp_sum_f)(const float *, float *, Py_ssize_t, float) = tgbn_exp_sum_f_base;
    static int tgbn_simd_level = 0;
    /* Choose the kernels for this CPU; returns 1 when the AVX2 versions are used.
       force_baseline != 0 keeps the baseline (tests compare both). */
    static int tgbn_select_isa(int force_baseline) {
        tgbn_max_f = tgbn_max_f_base;
        tgbn_exp_sum_f = tgbn_exp_sum_f_base;
        tgbn_simd_level = 0;
    #ifdef TGBN_HAVE_AVX2_VERSION
        __builtin_cpu_init();
        if (!force_baseline && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            tgbn_max_f = tgbn_max_f_avx2;
            tgbn_exp_sum_f = tgbn_exp_sum_f_avx2;
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


cdef inline int _nthreads(Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    if n < 2 or n * c < PAR_WORK:
        return 1
    cdef int t = openmp.omp_get_max_threads()
    return t if t > 1 else 1


def ce_forward_sparse(const floating[:, ::1] logits, const label_t[::1] labels, double label_smoothing,
                      double scale, floating[:, ::1] grad, double[::1] loss):
    """Integer labels: fill ``grad`` with ``(softmax * sum(t) - t) * scale`` and ``loss`` with the
    per-row losses; return their sum (in row order).  Labels must be in [0, C)."""
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1], i
    if labels.shape[0] != n:
        raise ValueError(f"ce_forward_sparse: labels have shape ({labels.shape[0]},), expected ({n},) "
                         f"for logits of shape ({n}, {c})")
    if grad.shape[0] != n or grad.shape[1] != c:
        raise ValueError(f"ce_forward_sparse: grad has shape ({grad.shape[0]}, {grad.shape[1]}), "
                         f"expected ({n}, {c})")
    if loss.shape[0] != n:
        raise ValueError(f"ce_forward_sparse: loss has shape ({loss.shape[0]},), expected ({n},)")
    if c < 1 and n > 0:
        raise ValueError(f"ce_forward_sparse: logits have no classes (shape ({n}, {c}))")
    cdef Py_ssize_t bad = -1
    with nogil:
        for i in range(n):
            if labels[i] < 0 or labels[i] >= c:
                bad = i
                break
    if bad >= 0:
        raise ValueError(f"ce_forward_sparse: label {labels[bad]} at index {bad} is outside [0, {c})")
    cdef double total = 0.0
    cdef int nt = _nthreads(n, c)
    if n == 0:
        return 0.0
    with nogil:
        if nt == 1:
            for i in range(n):
                loss[i] = _row_sparse(&logits[i, 0], &grad[i, 0], c, <Py_ssize_t>labels[i],
                                      label_smoothing, scale)
        else:
            for i in prange(n, schedule="dynamic", chunksize=16, num_threads=nt):
                loss[i] = _row_sparse(&logits[i, 0], &grad[i, 0], c, <Py_ssize_t>labels[i],
                                      label_smoothing, scale)
        for i in range(n):
            total += loss[i]
    return total


def ce_forward_dense(const floating[:, ::1] logits, const floating[:, ::1] labels, double label_smoothing,
                     double scale, floating[:, ::1] grad, double[::1] loss):
    """Dense (probability / one-hot) labels of shape (N, C): same outputs as ``ce_forward_sparse``."""
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1], i
    if labels.shape[0] != n or labels.shape[1] != c:
        raise ValueError(f"ce_forward_dense: labels have shape ({labels.shape[0]}, {labels.shape[1]}), "
                         f"expected ({n}, {c})")
    if grad.shape[0] != n or grad.shape[1] != c:
        raise ValueError(f"ce_forward_dense: grad has shape ({grad.shape[0]}, {grad.shape[1]}), "
                         f"expected ({n}, {c})")
    if loss.shape[0] != n:
        raise ValueError(f"ce_forward_dense: loss has shape ({loss.shape[0]},), expected ({n},)")
    if c < 1 and n > 0:
        raise ValueError(f"ce_forward_dense: logits have no classes (shape ({n}, {c}))")
    cdef double total = 0.0
    cdef int nt = _nthreads(n, c)
    if n == 0:
        return 0.0
    with nogil:
        if nt == 1:
            for i in range(n):
                loss[i] = _row_dense(&logits[i, 0], &labels[i, 0], &grad[i, 0], c, label_smoothing, scale)
        else:
            for i in prange(n, schedule="dynamic", chunksize=16, num_threads=nt):
                loss[i] = _row_dense(&logits[i, 0], &labels[i, 0], &grad[i, 0], c, label_smoothing, scale)
        for i in range(n):
            total += loss[i]
    return total


def expf_vec(const float[::1] x, float[::1] out):
    """The float32 exp used by the kernel (for tests): ``out = exp(x)`` for x <= 0."""
    cdef Py_ssize_t i
    if out.shape[0] != x.shape[0]:
        raise ValueError("expf_vec: out and x differ in length")
    with nogil:
        for i in range(x.shape[0]):
            out[i] = tgbn_expf(x[i])
