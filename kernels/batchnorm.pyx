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
# (1e4 + tiny variance).  float64 works in double throughout (the Cython loops
# below).  float32 works in float32 on *shifted* values, 8 lanes wide, with short
# float sums added into double: the row-block loops of kernels/simd.h (4a), kept in
# C because the same algorithm as plain Cython (these Cython loops, select_isa(level=-1))
# was measured slower -- see docs/kernels.md, "C or Cython".
#
# Parallelism: rows are cut into `nchunks` contiguous blocks, a number that
# depends only on the shape (never on the thread count).  Each block writes its
# own partial sums into its own slot; the partials are then added in block
# order.  So the result is bit-identical for the same inputs whatever the number
# of threads and whichever thread runs a block -- which lets the blocks be
# handed out dynamically (a 2-core machine shared with other work otherwise
# waits for its slowest thread under a static schedule).
#
# NaN / inf propagate as in the composite reference: a NaN or inf in a column
# makes that column's statistics (and so its outputs) NaN, a NaN in dy makes that
# column's dx, dgamma and dbeta NaN (nothing here compares values).
#
# The def wrappers use the checks of _common.pxi (NumPy C API, before any nogil
# loop) and allocate the outputs not passed in.  They are called by the batch-norm
# ops (tinygrad_bn/ops), which reshape to 2-D.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt
from libc.stdlib cimport free, malloc

include "_common.pxi"

# Work (elements) per row block, and the maximum number of blocks.
cdef enum:
    CHUNK_WORK = 32768      # elements per row block
    MAX_CHUNKS = 64
    PAR_WORK = 262144       # elements from which the blocks run on several threads (docs/kernels.md, "Threads")


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
    return _threads_for(work, PAR_WORK, nchunks)


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
cdef extern from "simd.h":
    void tgbn_bn_stats(const float* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const float* h,
                       double* s1, double* s2) noexcept nogil
    void tgbn_bn_affine(const float* x, float* y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                        const float* m, const float* a, const float* c) noexcept nogil
    void tgbn_bn_bwd_sums(const float* x, const float* dy, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                          const float* m, double* s1, double* s2) noexcept nogil
    void tgbn_bn_bwd_dx(const float* x, const float* dy, float* dx, Py_ssize_t r0, Py_ssize_t r1,
                        Py_ssize_t d, const float* m, const float* k1, const float* k2,
                        const float* k3) noexcept nogil
    # the same with a ReLU after the batch norm: max(y, 0) forward; dy gated by u > 0 backward
    # (u = (x - m) * a + c recomputed from x by the expression the forward used)
    void tgbn_bn_affine_relu(const float* x, float* y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                             const float* m, const float* a, const float* c) noexcept nogil
    void tgbn_bn_bwd_sums_relu(const float* x, const float* dy, Py_ssize_t r0, Py_ssize_t r1,
                               Py_ssize_t d, const float* m, double* s1, double* s2,
                               const float* a, const float* c) noexcept nogil
    void tgbn_bn_bwd_dx_relu(const float* x, const float* dy, float* dx, Py_ssize_t r0, Py_ssize_t r1,
                             Py_ssize_t d, const float* m, const float* k1, const float* k2,
                             const float* k3, const float* a, const float* c) noexcept nogil


# ---------------------------------------------------------------------------
# Per-block inner loops: float32 through the C loops (unless select_isa(level=-1)),
# float64 (and float32 at level -1) as the Cython loops, same formulas.
# ---------------------------------------------------------------------------

cdef inline void _stats_block(const floating* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                              const floating* shift, double* s1, double* s2) noexcept nogil:
    # s1 = sum(x - shift), s2 = sum((x - shift)^2) over rows [r0, r1)
    cdef Py_ssize_t i, j
    cdef double t
    cdef const floating* row
    if floating is float:
        if tgbn_isa >= 0:
            tgbn_bn_stats(x, r0, r1, d, shift, s1, s2)
            return
    for j in range(d):
        s1[j] = 0.0
        s2[j] = 0.0
    for i in range(r0, r1):
        row = x + i * d
        for j in range(d):
            t = row[j] - shift[j]
            s1[j] += t
            s2[j] += t * t


cdef inline floating _relu(floating u) noexcept nogil:
    # max(u, 0) keeping a NaN (NaN < 0 is false), as the composite's np.maximum
    return 0 if u < 0 else u


cdef inline floating _gate(floating g, floating u) noexcept nogil:
    # g * (u > 0): the composite ReLU backward (0 * NaN stays NaN)
    return g * (1 if u > 0 else 0)


cdef inline void _shifted_affine_block(const floating* x, floating* y, Py_ssize_t r0, Py_ssize_t r1,
                                       Py_ssize_t d, const floating* m, const floating* a,
                                       const floating* c, bint relu) noexcept nogil:
    # y = (x - m) * a + c, then max(y, 0) when relu
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef floating* out
    if floating is float:
        if tgbn_isa >= 0:
            if relu:
                tgbn_bn_affine_relu(x, y, r0, r1, d, m, a, c)
            else:
                tgbn_bn_affine(x, y, r0, r1, d, m, a, c)
            return
    for i in range(r0, r1):
        row = x + i * d
        out = y + i * d
        if relu:
            for j in range(d):
                out[j] = _relu((row[j] - m[j]) * a[j] + c[j])
        else:
            for j in range(d):
                out[j] = (row[j] - m[j]) * a[j] + c[j]


cdef inline void _affine_block(const floating* x, floating* y, Py_ssize_t r0, Py_ssize_t r1,
                               Py_ssize_t d, const double* a, const double* b) noexcept nogil:
    # y = x * a + b in double (inference forward); vectorised by GCC as it stands
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef floating* out
    for i in range(r0, r1):
        row = x + i * d
        out = y + i * d
        for j in range(d):
            out[j] = <floating>(<double>row[j] * a[j] + b[j])


cdef inline void _bwd_sums_block(const floating* x, const floating* dy, Py_ssize_t r0, Py_ssize_t r1,
                                 Py_ssize_t d, const floating* m, double* s1, double* s2,
                                 const floating* a, const floating* c, bint relu) noexcept nogil:
    # s1 = sum(e), s2 = sum(e * (x - m)) over rows [r0, r1); e = dy, or dy * (u > 0) when relu
    cdef Py_ssize_t i, j
    cdef double g
    cdef const floating* row
    cdef const floating* grow
    if floating is float:
        if tgbn_isa >= 0:
            if relu:
                tgbn_bn_bwd_sums_relu(x, dy, r0, r1, d, m, s1, s2, a, c)
            else:
                tgbn_bn_bwd_sums(x, dy, r0, r1, d, m, s1, s2)
            return
    for j in range(d):
        s1[j] = 0.0
        s2[j] = 0.0
    for i in range(r0, r1):
        row = x + i * d
        grow = dy + i * d
        if relu:
            for j in range(d):
                g = _gate(grow[j], (row[j] - m[j]) * a[j] + c[j])
                s1[j] += g
                s2[j] += g * (row[j] - m[j])
        else:
            for j in range(d):
                g = grow[j]
                s1[j] += g
                s2[j] += g * (row[j] - m[j])


cdef inline void _bwd_dx_block(const floating* x, const floating* dy, floating* dx,
                               Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const floating* m,
                               const floating* k1, const floating* k2, const floating* k3,
                               const floating* a, const floating* c, bint relu) noexcept nogil:
    # dx = k1 * e + (k2 * (x - m) + k3); e = dy, or dy * (u > 0) when relu
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef const floating* grow
    cdef floating* out
    if floating is float:
        if tgbn_isa >= 0:
            if relu:
                tgbn_bn_bwd_dx_relu(x, dy, dx, r0, r1, d, m, k1, k2, k3, a, c)
            else:
                tgbn_bn_bwd_dx(x, dy, dx, r0, r1, d, m, k1, k2, k3)
            return
    for i in range(r0, r1):
        row = x + i * d
        grow = dy + i * d
        out = dx + i * d
        if relu:
            for j in range(d):
                out[j] = (k1[j] * _gate(grow[j], (row[j] - m[j]) * a[j] + c[j])
                          + (k2[j] * (row[j] - m[j]) + k3[j]))
        else:
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
                          const floating* m, const floating* a, const floating* c, bint relu) noexcept nogil:
    cdef Py_ssize_t b, r
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        for b in range(nch):
            r = nch - 1 - b
            _shifted_affine_block(x, y, r * n // nch, (r + 1) * n // nch, d, m, a, c, relu)
    else:
        for b in prange(nch, schedule="dynamic", num_threads=nt):
            r = nch - 1 - b
            _shifted_affine_block(x, y, r * n // nch, (r + 1) * n // nch, d, m, a, c, relu)


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
                    const floating* m, double* part, Py_ssize_t nch,
                    const floating* a, const floating* c, bint relu) noexcept nogil:
    cdef Py_ssize_t b
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        for b in range(nch):
            _bwd_sums_block(x, dy, b * n // nch, (b + 1) * n // nch, d, m,
                            part + 2 * b * d, part + (2 * b + 1) * d, a, c, relu)
    else:
        for b in prange(nch, schedule="dynamic", num_threads=nt):
            _bwd_sums_block(x, dy, b * n // nch, (b + 1) * n // nch, d, m,
                            part + 2 * b * d, part + (2 * b + 1) * d, a, c, relu)


cdef void _bwd_dx(const floating* x, const floating* dy, floating* dx, Py_ssize_t n, Py_ssize_t d,
                  const floating* m, const floating* k1, const floating* k2,
                  const floating* k3, const floating* a, const floating* c, bint relu) noexcept nogil:
    cdef Py_ssize_t b, r
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef int nt = _nthreads(nch, n * d)
    if nt == 1:
        for b in range(nch):
            r = nch - 1 - b
            _bwd_dx_block(x, dy, dx, r * n // nch, (r + 1) * n // nch, d, m, k1, k2, k3, a, c, relu)
    else:
        for b in prange(nch, schedule="dynamic", num_threads=nt):
            r = nch - 1 - b
            _bwd_dx_block(x, dy, dx, r * n // nch, (r + 1) * n // nch, d, m, k1, k2, k3, a, c, relu)


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
# Python-visible kernels
# ---------------------------------------------------------------------------

cdef double _column_sum(const floating* x, Py_ssize_t n, Py_ssize_t d, Py_ssize_t j) noexcept nogil:
    cdef double t = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        t += x[i * d + j]
    return t


cdef inline void _coefficients(double mu, double istd, floating gamma, floating beta, floating* m,
                               floating* a, floating* c) noexcept nogil:
    # y = (x - mean) * aj + beta = (x - m) * aj + (beta + (m - mean) * aj), m = fl(mean):
    # (m - mean) * aj is a tiny double correction, x - m is exact or rounded relative to itself.
    # A function of the statistics only: the backward of batch norm + ReLU recomputes the
    # forward's m, a, c bit for bit from (mean, invstd, gamma, beta).
    cdef double aj = <double>gamma * istd
    m[0] = <floating>mu
    a[0] = <floating>aj
    c[0] = <floating>(<double>beta + (<double>m[0] - mu) * aj)


cdef void _train_forward(const floating* x, const floating* gamma, const floating* beta, double epsilon,
                         floating* out, double* mean, double* var, double* invstd, Py_ssize_t n,
                         Py_ssize_t d, Py_ssize_t nch, double* part, floating* shift, bint relu) noexcept nogil:
    # part: 2 * nch * d doubles (block partial sums); shift: 4 * d values (shift, m, a, c)
    cdef floating* m = shift + d
    cdef floating* a = m + d
    cdef floating* c = a + d
    cdef double s1, s2, v, mu, istd, inv_n = 1.0 / <double>n
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
        if not (mu - mu == 0.0):
            # a non-finite column: the mean is sum(x) / n as in the composite (an inf shift
            # would make it NaN where the composite has inf); var is NaN or inf anyway
            mu = _column_sum(x, n, d, j) * inv_n
        istd = 1.0 / sqrt(v + epsilon)
        mean[j] = mu
        var[j] = v
        invstd[j] = istd
        _coefficients(mu, istd, gamma[j], beta[j], &m[j], &a[j], &c[j])
    _shifted_affine(x, out, n, d, m, a, c, relu)


cdef int _float_type(str kernel, object x) except -1:
    """The type of ``x``, which must be a float32 or float64 NumPy array."""
    _check_type(kernel, "x", _as_array(kernel, "x", x), -1)
    return cnp.PyArray_TYPE(<cnp.ndarray>x)


def bn_train_forward(x, gamma, beta, double epsilon, out=None, mean=None, var=None, invstd=None,
                     bint relu=False):
    """Training batch norm forward on (N, D) float32/float64 ``x``: returns
    ``(out, mean, var, invstd)`` (the last three float64 of shape (D,); ``var`` biased),
    filling the arrays given or allocating those passed as None.

    Two passes over x (statistics, then ``out = gamma * (x - mean) * invstd + beta``,
    or its ``max(., 0)`` with ``relu=True``: batch norm followed by ReLU in the same passes).
    gamma and beta have x's dtype.  N == 0 leaves mean 0, var 0.
    """
    cdef str k = "bn_train_forward"
    cdef int t = _float_type(k, x)
    cdef cnp.ndarray xa = _input(k, "x", x, 2, t)
    cdef Py_ssize_t n = cnp.PyArray_DIM(xa, 0), d = cnp.PyArray_DIM(xa, 1), j
    cdef cnp.ndarray ga = _input(k, "gamma", gamma, 1, t)
    _check_shape(k, "gamma", ga, d, -1)
    cdef cnp.ndarray ba = _input(k, "beta", beta, 1, t)
    _check_shape(k, "beta", ba, d, -1)
    cdef cnp.ndarray oa = _output(k, "out", out, t, n, d)
    cdef cnp.ndarray ma = _output(k, "mean", mean, cnp.NPY_DOUBLE, d, -1)
    cdef cnp.ndarray va = _output(k, "var", var, cnp.NPY_DOUBLE, d, -1)
    cdef cnp.ndarray ia = _output(k, "invstd", invstd, cnp.NPY_DOUBLE, d, -1)
    if not epsilon >= 0:
        raise ValueError(f"{k}: epsilon must be >= 0, got {epsilon}")
    if out is not None or mean is not None or var is not None or invstd is not None:
        for name, arr in (("out", oa), ("mean", ma), ("var", va), ("invstd", ia)):
            _disjoint(k, name, arr, "x", xa)
            _disjoint(k, name, arr, "gamma", ga)
            _disjoint(k, name, arr, "beta", ba)
        _disjoint(k, "out", oa, "mean", ma)
        _disjoint(k, "out", oa, "var", va)
        _disjoint(k, "out", oa, "invstd", ia)
        _disjoint(k, "mean", ma, "var", va)
        _disjoint(k, "mean", ma, "invstd", ia)
        _disjoint(k, "var", va, "invstd", ia)
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
                           mp, vp, ip, n, d, nch, part, <float*>sp, relu)
        else:
            _train_forward(<const double*>xp, <const double*>gp, <const double*>bp, epsilon, <double*>op,
                           mp, vp, ip, n, d, nch, part, <double*>sp, relu)
        free(part)
    return oa, ma, va, ia


def bn_affine(x, a, b, out):
    """``out = x * a + b`` per feature (computed in double): the inference forward, one pass.
    x, out: (N, D) float32/float64 of one dtype; a, b: float64 (D,)."""
    cdef str k = "bn_affine"
    cdef int t = _float_type(k, x)
    cdef cnp.ndarray xa = _input(k, "x", x, 2, t)
    cdef Py_ssize_t n = cnp.PyArray_DIM(xa, 0), d = cnp.PyArray_DIM(xa, 1)
    cdef cnp.ndarray aa = _input(k, "a", a, 1, cnp.NPY_DOUBLE)
    _check_shape(k, "a", aa, d, -1)
    cdef cnp.ndarray ba = _input(k, "b", b, 1, cnp.NPY_DOUBLE)
    _check_shape(k, "b", ba, d, -1)
    if out is None:
        raise TypeError(f"{k}: out must be a NumPy array of x's dtype and shape, got None")
    cdef cnp.ndarray oa = _output(k, "out", out, t, n, d)
    _disjoint(k, "out", oa, "x", xa)
    _disjoint(k, "out", oa, "a", aa)
    _disjoint(k, "out", oa, "b", ba)
    if n == 0 or d == 0:
        return
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* op = cnp.PyArray_DATA(oa)
    cdef const double* ap = <const double*>cnp.PyArray_DATA(aa)
    cdef const double* bp = <const double*>cnp.PyArray_DATA(ba)
    with nogil:
        if t == cnp.NPY_FLOAT:
            _affine(<const float*>xp, <float*>op, n, d, ap, bp)
        else:
            _affine(<const double*>xp, <double*>op, n, d, ap, bp)


cdef void _train_backward(const floating* x, const floating* dy, const double* mean,
                          const double* invstd, const floating* gamma, const floating* beta,
                          floating* dx, double* sdy, double* sdyx, double* sdx, Py_ssize_t n,
                          Py_ssize_t d, Py_ssize_t nch, double* part, floating* m,
                          bint relu) noexcept nogil:
    # part: 2 * nch * d doubles; m: 6 * d values (m, k1, k2, k3, a, c).  sdy = sum(e),
    # sdyx = sum(e * (x - mean)) * invstd (dbeta, dgamma), in double, with e = dy, or with
    # relu (batch norm + ReLU) e = dy * (u > 0), u the forward's pre-ReLU output, recomputed.
    # sdx (or NULL): the column sums of dx from its closed form (a bias added before the
    # batch norm: the mean subtraction makes them zero up to rounding).
    cdef floating* k1 = m + d
    cdef floating* k2 = k1 + d
    cdef floating* k3 = k2 + d
    cdef floating* a = k3 + d
    cdef floating* c = a + d
    cdef double inv_n = 1.0 / <double>n, s_dy, s_dyx, istd, q1, q2, dm
    cdef Py_ssize_t j
    for j in range(d):
        if relu:
            _coefficients(mean[j], invstd[j], gamma[j], beta[j], &m[j], &a[j], &c[j])
        else:
            m[j] = <floating>mean[j]               # the forward's m: x - m exact or nearly
    _bwd_sums(x, dy, n, d, m, part, nch, a, c, relu)
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
        if sdx != NULL:
            # sum over rows of k1 * e + k2 * (x - m) + k3, with sum(x - m) = n * (mean - m)
            sdx[j] = <double>k1[j] * s_dy - <double>k2[j] * dm * <double>n + <double>k3[j] * <double>n
    _bwd_dx(x, dy, dx, n, d, m, k1, k2, k3, a, c, relu)


cdef void _store(double* src, char* dst, int typenum, Py_ssize_t d) noexcept nogil:
    # copy d doubles into a float64 or float32 array (rounded)
    cdef Py_ssize_t j
    if typenum == cnp.NPY_FLOAT:
        for j in range(d):
            (<float*>dst)[j] = <float>src[j]
    else:
        for j in range(d):
            (<double*>dst)[j] = src[j]


def bn_train_backward(x, dy, mean, invstd, gamma, dx=None, dgamma=None, dbeta=None, beta=None,
                      bint relu=False, dsum=None):
    """Training batch norm backward on (N, D): returns ``(dx, dgamma, dbeta)``, filling the
    arrays given or allocating those passed as None.  ``dgamma`` and ``dbeta`` are summed in
    double and stored as float64 arrays or in x's dtype (the dtype they get when allocated).

    Pass 1 reads x and dy for sum(dy) and sum(dy * (x - mean)); pass 2 writes
    ``dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))``.

    ``relu=True``: the backward of ``bn_train_forward(..., relu=True)`` (batch norm then
    ReLU); ``beta`` (x's dtype, (D,)) is then required, and dy is gated by the forward's
    pre-ReLU value, recomputed from x (no extra array read).  ``dsum``: an optional (D,)
    array of x's dtype filled with the column sums of dx (the gradient of a bias added
    before the batch norm), from dx's closed form.
    """
    cdef str k = "bn_train_backward"
    cdef int t = _float_type(k, x)
    cdef cnp.ndarray xa = _input(k, "x", x, 2, t)
    cdef Py_ssize_t n = cnp.PyArray_DIM(xa, 0), d = cnp.PyArray_DIM(xa, 1), j
    cdef cnp.ndarray ya = _input(k, "dy", dy, 2, t)
    _check_shape(k, "dy", ya, n, d)
    cdef cnp.ndarray ma = _input(k, "mean", mean, 1, cnp.NPY_DOUBLE)
    _check_shape(k, "mean", ma, d, -1)
    cdef cnp.ndarray ia = _input(k, "invstd", invstd, 1, cnp.NPY_DOUBLE)
    _check_shape(k, "invstd", ia, d, -1)
    cdef cnp.ndarray ga = _input(k, "gamma", gamma, 1, t)
    _check_shape(k, "gamma", ga, d, -1)
    cdef cnp.ndarray da = _output(k, "dx", dx, t, n, d)
    # dgamma / dbeta: x's dtype when allocated here or given so, else float64
    cdef int tg = t if dgamma is None or (isinstance(dgamma, cnp.ndarray)
                                          and cnp.PyArray_TYPE(<cnp.ndarray>dgamma) == t) else cnp.NPY_DOUBLE
    cdef int tb = t if dbeta is None or (isinstance(dbeta, cnp.ndarray)
                                         and cnp.PyArray_TYPE(<cnp.ndarray>dbeta) == t) else cnp.NPY_DOUBLE
    cdef cnp.ndarray dga = _output(k, "dgamma", dgamma, tg, d, -1)
    cdef cnp.ndarray dba = _output(k, "dbeta", dbeta, tb, d, -1)
    cdef cnp.ndarray bta = None
    cdef cnp.ndarray dsa = None
    cdef void* btp = NULL
    if relu:
        if beta is None:
            raise TypeError(f"{k}: relu=True needs beta (the forward's offset, shape ({d},))")
        bta = _input(k, "beta", beta, 1, t)
        _check_shape(k, "beta", bta, d, -1)
        btp = cnp.PyArray_DATA(bta)
    if dsum is not None:
        dsa = _output(k, "dsum", dsum, t, d, -1)
        for name, arr in (("x", xa), ("dy", ya), ("mean", ma), ("invstd", ia), ("gamma", ga),
                          ("dx", da), ("dgamma", dga), ("dbeta", dba)):
            _disjoint(k, "dsum", dsa, name, arr)
        if bta is not None:
            _disjoint(k, "dsum", dsa, "beta", bta)
    if relu and (dx is not None or dgamma is not None or dbeta is not None):
        for name, arr in (("dx", da), ("dgamma", dga), ("dbeta", dba)):
            _disjoint(k, name, arr, "beta", bta)
    if dx is not None or dgamma is not None or dbeta is not None:
        for name, arr in (("dx", da), ("dgamma", dga), ("dbeta", dba)):
            _disjoint(k, name, arr, "x", xa)
            _disjoint(k, name, arr, "dy", ya)
            _disjoint(k, name, arr, "mean", ma)
            _disjoint(k, name, arr, "invstd", ia)
            _disjoint(k, name, arr, "gamma", ga)
        _disjoint(k, "dx", da, "dgamma", dga)
        _disjoint(k, "dx", da, "dbeta", dba)
        _disjoint(k, "dgamma", dga, "dbeta", dba)
    if d == 0:
        return da, dga, dba
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef size_t item = 4 if t == cnp.NPY_FLOAT else 8
    # scratch (one allocation): block partial sums, then the double sums (dy, dyx, dx), then
    # m, k1, k2, k3, a, c
    cdef double* part = <double*>malloc((2 * nch * d + 3 * d) * sizeof(double) + 6 * d * item)
    if part == NULL:
        raise MemoryError(f"{k}: out of memory for the partial sums")
    cdef double* sums = part + 2 * nch * d
    cdef double* sdx = sums + 2 * d if dsa is not None else NULL
    cdef void* sp = <void*>(sums + 3 * d)
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* yp = cnp.PyArray_DATA(ya)
    cdef void* gp = cnp.PyArray_DATA(ga)
    cdef void* dp = cnp.PyArray_DATA(da)
    cdef double* mp = <double*>cnp.PyArray_DATA(ma)
    cdef double* ip = <double*>cnp.PyArray_DATA(ia)
    with nogil:
        if n == 0:
            for j in range(3 * d):
                sums[j] = 0.0
        elif t == cnp.NPY_FLOAT:
            _train_backward(<const float*>xp, <const float*>yp, mp, ip, <const float*>gp,
                            <const float*>btp, <float*>dp, sums, sums + d, sdx, n, d, nch, part,
                            <float*>sp, relu)
        else:
            _train_backward(<const double*>xp, <const double*>yp, mp, ip, <const double*>gp,
                            <const double*>btp, <double*>dp, sums, sums + d, sdx, n, d, nch, part,
                            <double*>sp, relu)
        _store(sums + d, <char*>cnp.PyArray_DATA(dga), tg, d)
        _store(sums, <char*>cnp.PyArray_DATA(dba), tb, d)
        if dsa is not None:
            _store(sums + 2 * d, <char*>cnp.PyArray_DATA(dsa), t, d)
        free(part)
    return da, dga, dba


def bn_infer_backward(x, dy, mean, a, dx, sum_dy, sum_dyxc):
    """Inference batch norm backward, one pass: ``dx = a * dy``, ``sum_dy = sum(dy)``,
    ``sum_dyxc = sum(dy * (x - mean))`` (dgamma = sum_dyxc * invstd, dbeta = sum_dy).
    x, dy, dx: (N, D) of one float dtype; mean, a, sum_dy, sum_dyxc: float64 (D,)."""
    cdef str k = "bn_infer_backward"
    cdef int t = _float_type(k, x)
    cdef cnp.ndarray xa = _input(k, "x", x, 2, t)
    cdef Py_ssize_t n = cnp.PyArray_DIM(xa, 0), d = cnp.PyArray_DIM(xa, 1), j
    cdef cnp.ndarray ya = _input(k, "dy", dy, 2, t)
    _check_shape(k, "dy", ya, n, d)
    cdef cnp.ndarray ma = _input(k, "mean", mean, 1, cnp.NPY_DOUBLE)
    _check_shape(k, "mean", ma, d, -1)
    cdef cnp.ndarray aa = _input(k, "a", a, 1, cnp.NPY_DOUBLE)
    _check_shape(k, "a", aa, d, -1)
    for name, arg in (("dx", dx), ("sum_dy", sum_dy), ("sum_dyxc", sum_dyxc)):
        if arg is None:
            raise TypeError(f"{k}: {name} must be a NumPy array, got None")
    cdef cnp.ndarray da = _output(k, "dx", dx, t, n, d)
    cdef cnp.ndarray s1a = _output(k, "sum_dy", sum_dy, cnp.NPY_DOUBLE, d, -1)
    cdef cnp.ndarray s2a = _output(k, "sum_dyxc", sum_dyxc, cnp.NPY_DOUBLE, d, -1)
    for name, arr in (("dx", da), ("sum_dy", s1a), ("sum_dyxc", s2a)):
        _disjoint(k, name, arr, "x", xa)
        _disjoint(k, name, arr, "dy", ya)
        _disjoint(k, name, arr, "mean", ma)
        _disjoint(k, name, arr, "a", aa)
    _disjoint(k, "dx", da, "sum_dy", s1a)
    _disjoint(k, "dx", da, "sum_dyxc", s2a)
    _disjoint(k, "sum_dy", s1a, "sum_dyxc", s2a)
    cdef double* s1 = <double*>cnp.PyArray_DATA(s1a)
    cdef double* s2 = <double*>cnp.PyArray_DATA(s2a)
    if d == 0:
        return
    if n == 0:
        for j in range(d):
            s1[j] = 0.0
            s2[j] = 0.0
        return
    cdef Py_ssize_t nch = _nchunks(n, d)
    cdef double* part = <double*>malloc(2 * nch * d * sizeof(double))
    if part == NULL:
        raise MemoryError(f"{k}: out of memory for the partial sums")
    cdef void* xp = cnp.PyArray_DATA(xa)
    cdef void* yp = cnp.PyArray_DATA(ya)
    cdef void* dp = cnp.PyArray_DATA(da)
    cdef const double* mp = <const double*>cnp.PyArray_DATA(ma)
    cdef const double* ap = <const double*>cnp.PyArray_DATA(aa)
    with nogil:
        if t == cnp.NPY_FLOAT:
            _infer_bwd(<const float*>xp, <const float*>yp, <float*>dp, n, d, mp, ap, part, nch)
        else:
            _infer_bwd(<const double*>xp, <const double*>yp, <double*>dp, n, d, mp, ap, part, nch)
        _combine(part, nch, d)
        for j in range(d):
            s1[j] = part[j]
            s2[j] = part[d + j]
        free(part)
