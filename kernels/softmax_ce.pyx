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
# NaN / inf as the composite (integer labels: -(1 - ls) * log_softmax(x)[label]
# - ls / C * sum(log_softmax(x)); dense: -sum(t * log_softmax(x))): a NaN or +inf
# logit makes the row's loss and gradient NaN (exp(NaN) is NaN, so the row sum is
# NaN); a -inf logit is a zero probability: +inf loss where the target is > 0, no
# contribution where an integer label's target is 0, NaN (0 * -inf) where a dense
# target is exactly 0.
#
# float32, C > TGBN_SMALL_C (the row path): each row is ONE C call, tgbn_ce_row_f
# (kernels/simd.h, 4b), doing every pass above -- max, exp + sum (the row path's own
# degree-6 expf, 8 lanes), the target sums, the loss and the gradient pass -- while
# the row sits in L1, and prefetching the next row meanwhile (the passes are then
# compute-bound, not waiting on memory; docs/kernels.md, "Softmax CE: the row path").
# C because GCC does not vectorise a float reduction without -ffast-math, and the
# gradient pass is C too so that it runs in the AVX2 version (the Cython loop is
# compiled for SSE2).  With few classes (C <= TGBN_SMALL_C) 8 rows go at once, one
# row per vector lane (simd.h 4b, the lane path).  A row's result depends only on
# that row (lanes never mix), so it is the same whichever block or thread processed
# it.  float64 (and float32 with select_isa(level=-1), the plain Cython form the C
# replaces, kept for measurements and tests): the Cython row loops below, with
# libm's exp.
# Rows are split over OpenMP threads when N * C is large; the total loss is
# then summed over rows in row order (deterministic).
#
# The Python-visible entries take NumPy arrays and validate them with the checks
# of _common.pxi (~0.2 us per call); the dtype-specific loop is chosen in C.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf, log
from libc.stdint cimport int32_t, int64_t

include "_common.pxi"

ctypedef fused label_t:
    int32_t
    int64_t

cdef enum:
    PAR_WORK = 262144    # N * C from which rows go parallel (docs/kernels.md, "Threads")


cdef extern from "simd.h":
    enum: TGBN_SMALL_C
    enum: TGBN_CE_PF_MAX
    void tgbn_ce_expf_arr(const float* x, float* out, Py_ssize_t n) noexcept nogil
    double tgbn_ce_row_f(const float* x, const float* y, Py_ssize_t lab, Py_ssize_t n, double ls,
                         double scale, float* g, int pf) noexcept nogil
    void tgbn_ce_small_f(const float* x, const float* y, const int32_t* l32, const int64_t* l64,
                         Py_ssize_t n, Py_ssize_t c, double ls, double scale,
                         float* g, double* loss) noexcept nogil


# ---------------------------------------------------------------------------
# Row primitives in Cython: float64, and float32 at select_isa(level=-1) (the
# float32 rows otherwise go to tgbn_ce_row_f, all passes in C)
# ---------------------------------------------------------------------------

cdef inline floating _row_max(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating m = x[0]
    for j in range(1, n):
        if x[j] > m:
            m = x[j]
    return m


cdef inline double _row_exp_sum(const floating* x, floating* g, Py_ssize_t n, floating m) noexcept nogil:
    # g = exp(x - m); returns sum(g)
    cdef Py_ssize_t j
    cdef double s = 0.0
    for j in range(n):
        if floating is float:
            g[j] = expf(x[j] - m)
        else:
            g[j] = exp(x[j] - m)
        s += g[j]
    return s


cdef inline void _row_sums(const floating* x, const floating* y, Py_ssize_t n, floating m,
                           double* sx, double* sy, double* syx) noexcept nogil:
    # sum(x - m) and, when y is not NULL, sum(y), sum(y * (x - m)), in double
    cdef Py_ssize_t j
    cdef double a = 0.0, b = 0.0, c = 0.0, t
    for j in range(n):
        t = <double>x[j] - <double>m
        a += t
        if y != NULL:
            b += y[j]
            c += y[j] * t
    sx[0] = a
    if y != NULL:
        sy[0] = b
        syx[0] = c


cdef inline double _row_sparse(const floating* x, floating* g, Py_ssize_t c, Py_ssize_t lab,
                               double ls, double scale) noexcept nogil:
    cdef floating m = _row_max(x, c)
    cdef Py_ssize_t j
    cdef double sx, dummy
    cdef double s = _row_exp_sum(x, g, c, m)
    cdef double loss = log(s) - (1.0 - ls) * (<double>x[lab] - <double>m)
    if ls != 0.0:
        _row_sums(x, <const floating*>NULL, c, m, &sx, &dummy, &dummy)
        loss -= ls / <double>c * sx
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
    cdef double sy, syx, sxm
    cdef double s = _row_exp_sum(x, g, c, m)
    _row_sums(x, y, c, m, &sxm, &sy, &syx)
    cdef double sumt = (1.0 - ls) * sy + ls
    cdef double loss = sumt * log(s)
    if ls != 1.0:
        loss -= (1.0 - ls) * syx
    if ls != 0.0:
        loss -= ls / <double>c * sxm
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
    if nt == 1 or nchunks < 2:
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


cdef inline double _one_sparse(const floating* x, Py_ssize_t lab, Py_ssize_t i, Py_ssize_t n, Py_ssize_t c,
                               double ls, double scale, floating* g) noexcept nogil:
    if floating is float:
        if tgbn_isa >= 0:
            return tgbn_ce_row_f(x + i * c, NULL, lab, c, ls, scale, g + i * c,
                                 i + 1 < n and c <= TGBN_CE_PF_MAX)
    return _row_sparse(x + i * c, g + i * c, c, lab, ls, scale)


cdef inline double _one_dense(const floating* x, const floating* y, Py_ssize_t i, Py_ssize_t n, Py_ssize_t c,
                              double ls, double scale, floating* g) noexcept nogil:
    if floating is float:
        if tgbn_isa >= 0:
            return tgbn_ce_row_f(x + i * c, y + i * c, 0, c, ls, scale, g + i * c,
                                 i + 1 < n and c <= TGBN_CE_PF_MAX)
    return _row_dense(x + i * c, y + i * c, g + i * c, c, ls, scale)


cdef void _rows_sparse(const floating* x, const label_t* lab, Py_ssize_t n, Py_ssize_t c, double ls,
                       double scale, floating* g, double* loss, int nt) noexcept nogil:
    cdef Py_ssize_t i
    if nt == 1:
        for i in range(n):
            loss[i] = _one_sparse(x, <Py_ssize_t>lab[i], i, n, c, ls, scale, g)
    else:
        for i in prange(n, schedule="dynamic", chunksize=16, num_threads=nt):
            loss[i] = _one_sparse(x, <Py_ssize_t>lab[i], i, n, c, ls, scale, g)


cdef void _rows_dense(const floating* x, const floating* y, Py_ssize_t n, Py_ssize_t c, double ls,
                      double scale, floating* g, double* loss, int nt) noexcept nogil:
    cdef Py_ssize_t i
    if nt == 1:
        for i in range(n):
            loss[i] = _one_dense(x, y, i, n, c, ls, scale, g)
    else:
        for i in prange(n, schedule="dynamic", chunksize=16, num_threads=nt):
            loss[i] = _one_dense(x, y, i, n, c, ls, scale, g)


cdef double _sum_rows(const double* loss, Py_ssize_t n) noexcept nogil:
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        total += loss[i]
    return total


# ---------------------------------------------------------------------------
# Validation (the shared checks of _common.pxi, plus the labels)
# ---------------------------------------------------------------------------

cdef cnp.ndarray _logits(str kernel, object logits, Py_ssize_t* n, Py_ssize_t* c, int* t):
    cdef cnp.ndarray x = _input(kernel, "logits", logits, 2, -1)
    t[0] = cnp.PyArray_TYPE(x)
    n[0] = cnp.PyArray_DIM(x, 0)
    c[0] = cnp.PyArray_DIM(x, 1)
    if c[0] < 1 and n[0] > 0:
        raise ValueError(f"{kernel}: logits have no classes (shape ({n[0]}, {c[0]}))")
    return x


cdef int _check_outputs(str kernel, cnp.ndarray x, cnp.ndarray y, object grad, object loss, int t,
                        Py_ssize_t n, Py_ssize_t c) except -1:
    if grad is None or loss is None:
        raise TypeError(f"{kernel}: grad and loss must be NumPy arrays (filled in place), got "
                        f"{_desc(grad)} and {_desc(loss)}")
    cdef cnp.ndarray g = _output(kernel, "grad", grad, t, n, c)
    cdef cnp.ndarray l = _output(kernel, "loss", loss, cnp.NPY_DOUBLE, n, -1)
    _disjoint(kernel, "grad", g, "logits", x)
    _disjoint(kernel, "grad", g, "labels", y)
    _disjoint(kernel, "loss", l, "logits", x)
    _disjoint(kernel, "loss", l, "labels", y)
    _disjoint(kernel, "grad", g, "loss", l)
    return 0


cdef inline int _nthreads(Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    return _threads_for(n * c, PAR_WORK, n)


cdef Py_ssize_t _first_bad(const label_t* lab, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if lab[i] < 0 or lab[i] >= c:
            return i
    return -1


cdef cnp.ndarray _labels_sparse(str kernel, object labels, Py_ssize_t n, Py_ssize_t c, bint* l64):
    """Integer labels as a contiguous int32 / int64 array, each checked to be in [0, C) (the
    first bad one reported with its index and its value as given, e.g. a uint64 >= 2**63)."""
    cdef cnp.ndarray y = _as_array(kernel, "labels", labels)
    if cnp.PyArray_TYPE(y) == cnp.NPY_BOOL or not cnp.PyArray_ISINTEGER(y):
        raise TypeError(f"{kernel}: labels must be integer class ids, got {_desc(y)}")
    _check_ndim(kernel, "labels", y, 1)
    if cnp.PyArray_DIM(y, 0) != n:
        raise ValueError(f"{kernel}: labels have shape {(<object>y).shape}, expected ({n},) "
                         f"for logits of shape ({n}, {c})")
    cdef Py_ssize_t bad
    cdef int tl = cnp.PyArray_TYPE(y)
    cdef bint native = (cnp.PyArray_ISSIGNED(y) and cnp.PyArray_ITEMSIZE(y) in (4, 8)
                        and cnp.PyArray_ISNOTSWAPPED(y))
    if not native:
        # other integer types: range-check in their own type, then convert
        yo = <object>y
        badmask = (yo >= c) if not cnp.PyArray_ISSIGNED(y) else ((yo < 0) | (yo >= c))
        if n and badmask.any():
            bad = int(np.argmax(badmask))
            raise ValueError(f"{kernel}: label {yo[bad]} at index {bad} is outside [0, {c}) "
                             f"(labels {_desc(y)})")
        y = np.ascontiguousarray(yo, dtype=np.int64)
    elif not cnp.PyArray_ISCARRAY_RO(y):
        y = np.ascontiguousarray(<object>y)
    l64[0] = cnp.PyArray_ITEMSIZE(y) == 8
    cdef const void* yp = cnp.PyArray_DATA(y)
    if native:
        with nogil:
            if l64[0]:
                bad = _first_bad(<const int64_t*>yp, n, c)
            else:
                bad = _first_bad(<const int32_t*>yp, n, c)
        if bad >= 0:
            raise ValueError(f"{kernel}: label {(<object>y)[bad]} at index {bad} is outside [0, {c}) "
                             f"(labels {_desc(y)})")
    return y


# ---------------------------------------------------------------------------
# Python-visible kernels
# ---------------------------------------------------------------------------

def ce_forward_sparse(logits, labels, double label_smoothing, double scale, grad, loss):
    """Integer labels: fill ``grad`` with ``(softmax * sum(t) - t) * scale`` and ``loss`` with the
    per-row losses; return their sum (in row order).  Labels must be in [0, C).

    logits: float32/float64 (N, C); labels: any integer dtype (N,) (int32 / int64 are used as
    they are, others are range-checked and converted); grad: (N, C) of the logits' dtype and
    loss: float64 (N,), both C-contiguous, aligned, writeable, sharing no memory with the
    inputs or each other (filled in place).  Strided inputs are copied."""
    cdef str k = "ce_forward_sparse"
    cdef Py_ssize_t n, c
    cdef int t
    cdef bint l64
    cdef cnp.ndarray x = _logits(k, logits, &n, &c, &t)
    cdef cnp.ndarray y = _labels_sparse(k, labels, n, c, &l64)
    _check_outputs(k, x, y, grad, loss, t, n, c)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{k}: label_smoothing must be in [0, 1], got {label_smoothing}")
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef const void* yp = cnp.PyArray_DATA(y)
    cdef void* gp = cnp.PyArray_DATA(<cnp.ndarray>grad)
    cdef double* lp = <double*>cnp.PyArray_DATA(<cnp.ndarray>loss)
    if n == 0:
        return 0.0
    cdef int nt = _nthreads(n, c)
    cdef double total
    with nogil:
        if t == cnp.NPY_FLOAT and c <= TGBN_SMALL_C and tgbn_isa >= 0:
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
    cdef str k = "ce_forward_dense"
    cdef Py_ssize_t n, c
    cdef int t
    cdef cnp.ndarray x = _logits(k, logits, &n, &c, &t)
    cdef cnp.ndarray y = _as_array(k, "labels", labels)
    if cnp.PyArray_TYPE(y) != t:
        raise TypeError(f"{k}: labels ({_desc(labels)}) must have the dtype of the logits "
                        f"({_desc(logits)})")
    y = _input(k, "labels", y, 2, t)
    _check_shape(k, "labels", y, n, c)
    _check_outputs(k, x, y, grad, loss, t, n, c)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{k}: label_smoothing must be in [0, 1], got {label_smoothing}")
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef const void* yp = cnp.PyArray_DATA(y)
    cdef void* gp = cnp.PyArray_DATA(<cnp.ndarray>grad)
    cdef double* lp = <double*>cnp.PyArray_DATA(<cnp.ndarray>loss)
    if n == 0:
        return 0.0
    cdef int nt = _nthreads(n, c)
    cdef double total
    with nogil:
        if t == cnp.NPY_FLOAT and c <= TGBN_SMALL_C and tgbn_isa >= 0:
            _small_f(<const float*>xp, <const float*>yp, NULL, NULL, n, c, label_smoothing, scale,
                     <float*>gp, lp, nt)
        elif t == cnp.NPY_FLOAT:
            _rows_dense(<const float*>xp, <const float*>yp, n, c, label_smoothing, scale, <float*>gp, lp, nt)
        else:
            _rows_dense(<const double*>xp, <const double*>yp, n, c, label_smoothing, scale,
                        <double*>gp, lp, nt)
        total = _sum_rows(lp, n)
    return total


def expf_vec(x, out):
    """The float32 exp of the kernels (for tests): ``out = exp(x)`` for x <= 0 (0 below -87,
    NaN for NaN).  x, out: float32 (n,)."""
    cdef cnp.ndarray xa = _input("expf_vec", "x", x, 1, cnp.NPY_FLOAT)
    cdef cnp.ndarray oa = _output("expf_vec", "out", out, cnp.NPY_FLOAT, cnp.PyArray_DIM(xa, 0), -1)
    _disjoint("expf_vec", "out", oa, "x", xa)
    with nogil:
        tgbn_expf_arr(<const float*>cnp.PyArray_DATA(xa), <float*>cnp.PyArray_DATA(oa), cnp.PyArray_DIM(xa, 0))


def logf_vec(x, out):
    """The float32 log of the lane path (for tests): ``out = log(x)`` for finite x >= 1."""
    cdef cnp.ndarray xa = _input("logf_vec", "x", x, 1, cnp.NPY_FLOAT)
    cdef cnp.ndarray oa = _output("logf_vec", "out", out, cnp.NPY_FLOAT, cnp.PyArray_DIM(xa, 0), -1)
    _disjoint("logf_vec", "out", oa, "x", xa)
    with nogil:
        tgbn_logf_arr(<const float*>cnp.PyArray_DATA(xa), <float*>cnp.PyArray_DATA(oa), cnp.PyArray_DIM(xa, 0))


def row_expf_vec(x, out):
    """The float32 exp of the row path (C > 32; for tests): ``out = exp(x)`` for x <= 0 (0 below
    -87, NaN for NaN).  x, out: float32 (n,)."""
    cdef cnp.ndarray xa = _input("row_expf_vec", "x", x, 1, cnp.NPY_FLOAT)
    cdef cnp.ndarray oa = _output("row_expf_vec", "out", out, cnp.NPY_FLOAT, cnp.PyArray_DIM(xa, 0), -1)
    _disjoint("row_expf_vec", "out", oa, "x", xa)
    with nogil:
        tgbn_ce_expf_arr(<const float*>cnp.PyArray_DATA(xa), <float*>cnp.PyArray_DATA(oa), cnp.PyArray_DIM(xa, 0))
