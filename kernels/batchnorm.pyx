# Fused batch normalisation kernels (feature axis last, data viewed as (N, D)).
#
# Passes over memory (x has N*D elements):
#   train forward   : 1 read of x for the statistics, 1 read of x + 1 write of y
#   inference fwd   : 1 read of x + 1 write of y
#   train backward  : 1 read of (x, dy) for sum(dy), sum(dy * (x - mean)),
#                     1 read of (x, dy) + 1 write of dx
#   inference bwd   : 1 read of (x, dy) + 1 write of dx (dgamma, dbeta in the same pass)
#
# Statistics are accumulated in double, shifted by the first row (sum of
# x - x[0] and of its square): exact enough for large means (1e4 + tiny variance)
# in one pass.  All per-element arithmetic for float32 is done in double too
# (y = x * a + b with a, b in double) so a large mean does not cancel in float.
#
# Parallelism: rows are cut into `nchunks` contiguous blocks, a number that
# depends only on the shape (never on the thread count).  Each block writes its
# own partial sums into its own slot; the partials are then added in block
# order.  So the result is bit-identical for the same inputs whatever the number
# of threads and whichever thread runs a block -- which lets the blocks be
# handed out dynamically (a 2-core machine shared with other work otherwise
# waits for its slowest thread under a static schedule).
#
# The def wrappers validate shapes and contiguity; they are called by
# tinygrad_bn/ops/fused.py, which reshapes to 2-D and makes arrays contiguous.

from cython cimport floating
from cython.parallel cimport prange
cimport openmp
from libc.math cimport sqrt
import numpy as np

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


# float32 inner loops as small C functions compiled twice -- for the baseline
# ISA and for AVX2+FMA on x86 (GCC/clang) -- and picked once at import from the
# CPU's features, as NumPy does.  The double arithmetic of these loops is twice
# as wide with AVX2.  float64 uses the Cython loops below.
cdef extern from *:
    """
    #define TGBN_BN_BODIES \
    static inline __attribute__((always_inline)) void tgbn_bn_stats_body(const float *restrict x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double *restrict shift, double *restrict s1, double *restrict s2) { \
        for (Py_ssize_t j = 0; j < d; j++) { s1[j] = 0.0; s2[j] = 0.0; } \
        for (Py_ssize_t i = r0; i < r1; i++) { const float *restrict row = x + i * d; \
            _Pragma("omp simd") for (Py_ssize_t j = 0; j < d; j++) { double t = (double)row[j] - shift[j]; s1[j] += t; s2[j] += t * t; } } } \
    static inline __attribute__((always_inline)) void tgbn_bn_affine_body(const float *restrict x, float *restrict y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double *restrict a, const double *restrict b) { \
        for (Py_ssize_t i = r0; i < r1; i++) { const float *restrict row = x + i * d; float *restrict out = y + i * d; \
            _Pragma("omp simd") for (Py_ssize_t j = 0; j < d; j++) out[j] = (float)((double)row[j] * a[j] + b[j]); } } \
    static inline __attribute__((always_inline)) void tgbn_bn_bwd_sums_body(const float *restrict x, const float *restrict dy, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double *restrict mean, double *restrict s1, double *restrict s2) { \
        for (Py_ssize_t j = 0; j < d; j++) { s1[j] = 0.0; s2[j] = 0.0; } \
        for (Py_ssize_t i = r0; i < r1; i++) { const float *restrict row = x + i * d; const float *restrict grow = dy + i * d; \
            _Pragma("omp simd") for (Py_ssize_t j = 0; j < d; j++) { double g = (double)grow[j]; s1[j] += g; s2[j] += g * ((double)row[j] - mean[j]); } } } \
    static inline __attribute__((always_inline)) void tgbn_bn_bwd_dx_body(const float *restrict x, const float *restrict dy, float *restrict dx, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double *restrict mean, const double *restrict k1, const double *restrict k2, const double *restrict k3) { \
        for (Py_ssize_t i = r0; i < r1; i++) { const float *restrict row = x + i * d; const float *restrict grow = dy + i * d; float *restrict out = dx + i * d; \
            _Pragma("omp simd") for (Py_ssize_t j = 0; j < d; j++) out[j] = (float)(k1[j] * (double)grow[j] + k2[j] * ((double)row[j] - mean[j]) + k3[j]); } }

    TGBN_BN_BODIES

    #define TGBN_BN_WRAPPERS(SUFFIX, ATTR) \
    ATTR static void tgbn_bn_stats_##SUFFIX(const float *x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double *shift, double *s1, double *s2) { tgbn_bn_stats_body(x, r0, r1, d, shift, s1, s2); } \
    ATTR static void tgbn_bn_affine_##SUFFIX(const float *x, float *y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double *a, const double *b) { tgbn_bn_affine_body(x, y, r0, r1, d, a, b); } \
    ATTR static void tgbn_bn_bwd_sums_##SUFFIX(const float *x, const float *dy, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double *mean, double *s1, double *s2) { tgbn_bn_bwd_sums_body(x, dy, r0, r1, d, mean, s1, s2); } \
    ATTR static void tgbn_bn_bwd_dx_##SUFFIX(const float *x, const float *dy, float *dx, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double *mean, const double *k1, const double *k2, const double *k3) { tgbn_bn_bwd_dx_body(x, dy, dx, r0, r1, d, mean, k1, k2, k3); }

    TGBN_BN_WRAPPERS(base, )
    #if defined(__GNUC__) && defined(__x86_64__)
    #define TGBN_BN_HAVE_AVX2 1
    TGBN_BN_WRAPPERS(avx2, __attribute__((target("avx2,fma"))))
    #endif

    static void (*tgbn_bn_stats_f)(const float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, const double *, double *, double *) = tgbn_bn_stats_base;
    static void (*tgbn_bn_affine_f)(const float *, float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, const double *, const double *) = tgbn_bn_affine_base;
    static void (*tgbn_bn_bwd_sums_f)(const float *, const float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, const double *, double *, double *) = tgbn_bn_bwd_sums_base;
    static void (*tgbn_bn_bwd_dx_f)(const float *, const float *, float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, const double *, const double *, const double *, const double *) = tgbn_bn_bwd_dx_base;

    static int tgbn_bn_select_isa(int force_baseline) {
        int level = 0;
        tgbn_bn_stats_f = tgbn_bn_stats_base; tgbn_bn_affine_f = tgbn_bn_affine_base;
        tgbn_bn_bwd_sums_f = tgbn_bn_bwd_sums_base; tgbn_bn_bwd_dx_f = tgbn_bn_bwd_dx_base;
    #ifdef TGBN_BN_HAVE_AVX2
        __builtin_cpu_init();
        if (!force_baseline && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            tgbn_bn_stats_f = tgbn_bn_stats_avx2; tgbn_bn_affine_f = tgbn_bn_affine_avx2;
            tgbn_bn_bwd_sums_f = tgbn_bn_bwd_sums_avx2; tgbn_bn_bwd_dx_f = tgbn_bn_bwd_dx_avx2;
            level = 1;
        }
    #endif
        return level;
    }
    """
    int tgbn_bn_select_isa(int force_baseline) noexcept nogil
    void tgbn_bn_stats_f(const float* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double* shift,
                         double* s1, double* s2) noexcept nogil
    void tgbn_bn_affine_f(const float* x, float* y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                          const double* a, const double* b) noexcept nogil
    void tgbn_bn_bwd_sums_f(const float* x, const float* dy, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                            const double* mean, double* s1, double* s2) noexcept nogil
    void tgbn_bn_bwd_dx_f(const float* x, const float* dy, float* dx, Py_ssize_t r0, Py_ssize_t r1,
                          Py_ssize_t d, const double* mean, const double* k1, const double* k2,
                          const double* k3) noexcept nogil

tgbn_bn_select_isa(0)


def select_isa(bint baseline=False):
    """Use the baseline-ISA float32 loops (``baseline=True``) or the best this CPU has
    (AVX2+FMA when available).  Returns the level in use: 0 baseline, 1 AVX2."""
    return tgbn_bn_select_isa(1 if baseline else 0)


# ---------------------------------------------------------------------------
# Per-block inner loops
# ---------------------------------------------------------------------------

cdef inline void _stats_block(const floating* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                              const double* shift, double* s1, double* s2) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double t
    cdef const floating* row
    if floating is float:
        tgbn_bn_stats_f(x, r0, r1, d, shift, s1, s2)
        return
    for j in range(d):
        s1[j] = 0.0
        s2[j] = 0.0
    for i in range(r0, r1):
        row = x + i * d
        for j in range(d):
            t = <double>row[j] - shift[j]
            s1[j] += t
            s2[j] += t * t


cdef inline void _affine_block(const floating* x, floating* y, Py_ssize_t r0, Py_ssize_t r1,
                               Py_ssize_t d, const double* a, const double* b) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef floating* out
    if floating is float:
        tgbn_bn_affine_f(x, y, r0, r1, d, a, b)
        return
    for i in range(r0, r1):
        row = x + i * d
        out = y + i * d
        for j in range(d):
            out[j] = <floating>(<double>row[j] * a[j] + b[j])


cdef inline void _bwd_sums_block(const floating* x, const floating* dy, Py_ssize_t r0, Py_ssize_t r1,
                                 Py_ssize_t d, const double* mean, double* s1, double* s2) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double g
    cdef const floating* row
    cdef const floating* grow
    if floating is float:
        tgbn_bn_bwd_sums_f(x, dy, r0, r1, d, mean, s1, s2)
        return
    for j in range(d):
        s1[j] = 0.0
        s2[j] = 0.0
    for i in range(r0, r1):
        row = x + i * d
        grow = dy + i * d
        for j in range(d):
            g = <double>grow[j]
            s1[j] += g
            s2[j] += g * (<double>row[j] - mean[j])


cdef inline void _bwd_dx_block(const floating* x, const floating* dy, floating* dx,
                               Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const double* mean,
                               const double* k1, const double* k2, const double* k3) noexcept nogil:
    # dx = k1 * dy + k2 * (x - mean) + k3
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef const floating* grow
    cdef floating* out
    if floating is float:
        tgbn_bn_bwd_dx_f(x, dy, dx, r0, r1, d, mean, k1, k2, k3)
        return
    for i in range(r0, r1):
        row = x + i * d
        grow = dy + i * d
        out = dx + i * d
        for j in range(d):
            out[j] = <floating>(k1[j] * <double>grow[j] + k2[j] * (<double>row[j] - mean[j]) + k3[j])


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
# Drivers (nogil): one loop over the row blocks, parallel when there are several
# ---------------------------------------------------------------------------

cdef void _stats(const floating* x, Py_ssize_t n, Py_ssize_t d, double* shift,
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
                    const double* mean, double* part, Py_ssize_t nch) noexcept nogil:
    cdef Py_ssize_t c
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        for c in range(nch):
            _bwd_sums_block(x, dy, c * n // nch, (c + 1) * n // nch, d, mean,
                            part + 2 * c * d, part + (2 * c + 1) * d)
    else:
        for c in prange(nch, schedule="dynamic", num_threads=nt):
            _bwd_sums_block(x, dy, c * n // nch, (c + 1) * n // nch, d, mean,
                            part + 2 * c * d, part + (2 * c + 1) * d)


cdef void _bwd_dx(const floating* x, const floating* dy, floating* dx, Py_ssize_t n, Py_ssize_t d,
                  const double* mean, const double* k1, const double* k2, const double* k3) noexcept nogil:
    cdef Py_ssize_t c
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        _bwd_dx_block(x, dy, dx, 0, n, d, mean, k1, k2, k3)
    else:
        for c in prange(nch, schedule="dynamic", num_threads=nt):
            _bwd_dx_block(x, dy, dx, c * n // nch, (c + 1) * n // nch, d, mean, k1, k2, k3)


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


# ---------------------------------------------------------------------------
# Python-visible kernels
# ---------------------------------------------------------------------------

def bn_train_forward(const floating[:, ::1] x, const floating[::1] gamma, const floating[::1] beta,
                     double epsilon, floating[:, ::1] out, double[::1] mean, double[::1] var,
                     double[::1] invstd):
    """Training batch norm forward on (N, D): fills ``out``, ``mean``, ``var`` (biased), ``invstd``.

    Two passes over x (statistics, then ``out = gamma * (x - mean) * invstd + beta``).
    N == 0 leaves mean 0, var 0.
    """
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], j
    _check1d("bn_train_forward", "gamma", gamma, d)
    _check1d("bn_train_forward", "beta", beta, d)
    _check2d("bn_train_forward", "out", out, n, d)
    _check1d("bn_train_forward", "mean", mean, d)
    _check1d("bn_train_forward", "var", var, d)
    _check1d("bn_train_forward", "invstd", invstd, d)
    if epsilon < 0:
        raise ValueError(f"bn_train_forward: epsilon must be >= 0, got {epsilon}")
    if d == 0:
        return
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef double[::1] shift = np.zeros(d)
    cdef double[::1] part = np.zeros(2 * nch * d)
    cdef double[::1] a = np.empty(d)
    cdef double[::1] b = np.empty(d)
    cdef double s1, s2, v, inv_n
    if n == 0:
        for j in range(d):
            mean[j] = 0.0
            var[j] = 0.0
            invstd[j] = 1.0 / sqrt(epsilon) if epsilon > 0 else 0.0
        return
    with nogil:
        for j in range(d):
            shift[j] = <double>x[0, j]
        _stats(&x[0, 0], n, d, &shift[0], &part[0], nch)
        _combine(&part[0], nch, d)
        inv_n = 1.0 / <double>n
        for j in range(d):
            s1 = part[j] * inv_n                       # mean of x - shift
            s2 = part[d + j] * inv_n                   # mean of (x - shift)^2
            v = s2 - s1 * s1
            if v < 0.0:
                v = 0.0
            mean[j] = shift[j] + s1
            var[j] = v
            invstd[j] = 1.0 / sqrt(v + epsilon)
            a[j] = <double>gamma[j] * invstd[j]
            b[j] = <double>beta[j] - mean[j] * a[j]
        _affine(&x[0, 0], &out[0, 0], n, d, &a[0], &b[0])


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


def bn_train_backward(const floating[:, ::1] x, const floating[:, ::1] dy, const double[::1] mean,
                      const double[::1] invstd, const floating[::1] gamma, floating[:, ::1] dx,
                      double[::1] dgamma, double[::1] dbeta):
    """Training batch norm backward on (N, D): fills ``dx`` and (in double) ``dgamma``, ``dbeta``.

    Pass 1 reads x and dy for sum(dy) and sum(dy * (x - mean)); pass 2 writes
    ``dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))``.
    """
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], j
    _check2d("bn_train_backward", "dy", dy, n, d)
    _check2d("bn_train_backward", "dx", dx, n, d)
    _check1d("bn_train_backward", "mean", mean, d)
    _check1d("bn_train_backward", "invstd", invstd, d)
    _check1d("bn_train_backward", "gamma", gamma, d)
    _check1d("bn_train_backward", "dgamma", dgamma, d)
    _check1d("bn_train_backward", "dbeta", dbeta, d)
    if d == 0:
        return
    if n == 0:
        for j in range(d):
            dgamma[j] = 0.0
            dbeta[j] = 0.0
        return
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef double[::1] part = np.zeros(2 * nch * d)
    cdef double[::1] k1 = np.empty(d)
    cdef double[::1] k2 = np.empty(d)
    cdef double[::1] k3 = np.empty(d)
    cdef double inv_n, s_dy, s_dyx, istd
    with nogil:
        _bwd_sums(&x[0, 0], &dy[0, 0], n, d, &mean[0], &part[0], nch)
        _combine(&part[0], nch, d)
        inv_n = 1.0 / <double>n
        for j in range(d):
            s_dy = part[j]
            s_dyx = part[d + j]
            istd = invstd[j]
            dbeta[j] = s_dy
            dgamma[j] = s_dyx * istd
            k1[j] = <double>gamma[j] * istd
            k2[j] = -k1[j] * istd * istd * s_dyx * inv_n
            k3[j] = -k1[j] * s_dy * inv_n
        _bwd_dx(&x[0, 0], &dy[0, 0], &dx[0, 0], n, d, &mean[0], &k1[0], &k2[0], &k3[0])


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
