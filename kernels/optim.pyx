# In-place optimizer updates (Keras formulas), one pass over memory each.
#
#   sgd_update(param, grad, velocity, lr, momentum, nesterov)
#   rmsprop_update(param, grad, ms, mom, lr, rho, momentum, epsilon)
#   adam_update(param, grad, m, v, vhat, alpha, beta_1, beta_2, epsilon)
#
# param and the slot arrays (velocity, ms, mom, m, v, vhat) must be C-contiguous,
# aligned, writeable NumPy arrays of one shape and one dtype, float32 or float64
# (0-d arrays are fine), and no two of them may share memory (not even as views).
# grad must have the same shape; any float dtype or layout is accepted and
# converted (a copy) when it is not already a C-contiguous array of param's dtype;
# it may be param itself, but may not overlap a slot or only part of param.
# Hyper-parameters are Python floats; the arithmetic is done in the arrays'
# dtype, as Keras does.  A NaN or inf in grad or a slot propagates as in the
# formulas (AMSGrad's max keeps a NaN from either side, as np.maximum).
#
# These are called once per variable per step, often on tiny arrays, so the
# wrappers talk to the NumPy C API directly (the checks of _common.pxi): a call
# on a 0-d array costs ~0.15 us.  Large arrays are split over OpenMP threads
# (elementwise, so results never depend on it).
#
# All loops are plain Cython: with -fno-math-errno GCC vectorises them, sqrt and
# AMSGrad's max included (checked with -fopt-info-vec).  The same loops written in
# C and compiled for AVX2 as well measured 0.84-1.12x of these on this machine (the
# 2-core EPYC splits 256-bit sqrt/div; 1M params are bandwidth-bound), so there is
# no C here; select_isa() exists for symmetry with the other modules and changes
# nothing.  Rounding is the formula's, element by element, on every ISA.

from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf

include "_common.pxi"

cdef enum:
    PAR_SIZE = 262144     # elements from which the update runs on several threads (docs/kernels.md)
    BLOCK = 16384         # elements per parallel block


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

cdef cnp.ndarray _param(str kernel, object param):
    cdef cnp.ndarray p = _inplace(kernel, "param", param, -1, -1)
    return p


cdef cnp.ndarray _slot(str kernel, str name, object a, cnp.ndarray param):
    cdef cnp.ndarray s = _inplace(kernel, name, a, -1, -1)
    _check_like(kernel, name, s, "param", param)
    _disjoint(kernel, name, s, "param", param)
    return s


cdef cnp.ndarray _grad(str kernel, object grad, cnp.ndarray param, str n1, cnp.ndarray s1,
                       str n2, cnp.ndarray s2, str n3, cnp.ndarray s3):
    """grad as a C-contiguous array of param's dtype and shape (converted when needed); it may
    be param's own memory, but must not overlap a slot (s1..s3, None when absent) or part of
    param."""
    cdef cnp.ndarray g
    if (isinstance(grad, cnp.ndarray) and cnp.PyArray_TYPE(<cnp.ndarray>grad) == cnp.PyArray_TYPE(param)
            and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>grad) and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>grad)
            and cnp.PyArray_NDIM(<cnp.ndarray>grad) == cnp.PyArray_NDIM(param)
            and cnp.PyArray_CompareLists(cnp.PyArray_DIMS(<cnp.ndarray>grad), cnp.PyArray_DIMS(param),
                                         cnp.PyArray_NDIM(param))):
        g = <cnp.ndarray>grad                          # the common case: used as it is
    else:
        if isinstance(grad, cnp.ndarray):
            g = <cnp.ndarray>grad
        else:
            try:
                g = np.asarray(grad.data if hasattr(grad, "numpy") else grad)
            except Exception as exc:  # noqa: BLE001
                raise TypeError(f"{kernel}: cannot use grad of type {type(grad).__name__} as an array") from exc
        if g.dtype.kind != "f":
            raise TypeError(f"{kernel}: grad must be floating point, got {_desc(g)} for param {_desc(param)}")
        if (<object>g).shape != (<object>param).shape:
            raise ValueError(f"{kernel}: grad ({_desc(g)}) must have the shape of param ({_desc(param)})")
        return np.ascontiguousarray(g, dtype=(<object>param).dtype)    # a copy: no overlap
    if _overlap(g, param) and cnp.PyArray_DATA(g) != cnp.PyArray_DATA(param):
        raise ValueError(f"{kernel}: grad overlaps part of param (a shifted view); it may only be "
                         f"param itself")
    if s1 is not None:
        _disjoint(kernel, n1, s1, "grad", g)
    if s2 is not None:
        _disjoint(kernel, n2, s2, "grad", g)
    if s3 is not None:
        _disjoint(kernel, n3, s3, "grad", g)
    return g


cdef inline int _threads(Py_ssize_t n) noexcept nogil:
    return _threads_for(n, PAR_SIZE, (n + BLOCK - 1) // BLOCK)


# ---------------------------------------------------------------------------
# Loops (fused over float / double through the pointer types)
# ---------------------------------------------------------------------------

ctypedef fused real:
    float
    double


cdef inline real _sqrt(real x) noexcept nogil:
    if real is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline void _sgd_plain(real* p, const real* g, Py_ssize_t i0, Py_ssize_t i1, real lr) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(i0, i1):
        p[i] = p[i] - lr * g[i]


cdef inline void _sgd_mom(real* p, const real* g, real* vel, Py_ssize_t i0, Py_ssize_t i1,
                          real lr, real mu, bint nesterov) noexcept nogil:
    cdef Py_ssize_t i
    cdef real v
    if nesterov:
        for i in range(i0, i1):
            v = mu * vel[i] - lr * g[i]
            vel[i] = v
            p[i] = p[i] + (mu * v - lr * g[i])
    else:
        for i in range(i0, i1):
            v = mu * vel[i] - lr * g[i]
            vel[i] = v
            p[i] = p[i] + v


cdef inline void _rms(real* p, const real* g, real* ms, real* mom, Py_ssize_t i0, Py_ssize_t i1,
                      real lr, real rho, real one_m_rho, real mu, real eps) noexcept nogil:
    cdef Py_ssize_t i
    cdef real s, inc, gi
    if mom == NULL:
        for i in range(i0, i1):
            gi = g[i]
            s = rho * ms[i] + one_m_rho * (gi * gi)
            ms[i] = s
            p[i] = p[i] - lr * gi / _sqrt(s + eps)
    else:
        for i in range(i0, i1):
            gi = g[i]
            s = rho * ms[i] + one_m_rho * (gi * gi)
            ms[i] = s
            inc = mu * mom[i] + lr * gi / _sqrt(s + eps)
            mom[i] = inc
            p[i] = p[i] - inc


cdef inline void _adam(real* p, const real* g, real* m, real* v, real* vh, Py_ssize_t i0, Py_ssize_t i1,
                       real alpha, real c1, real c2, real eps) noexcept nogil:
    cdef Py_ssize_t i
    cdef real gi, mi, vi, hi
    if vh == NULL:
        for i in range(i0, i1):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * c1
            vi = v[i] + (gi * gi - v[i]) * c2
            m[i] = mi
            v[i] = vi
            p[i] = p[i] - alpha * mi / (_sqrt(vi) + eps)
    else:
        for i in range(i0, i1):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * c1
            vi = v[i] + (gi * gi - v[i]) * c2
            hi = vh[i]
            if not (hi > vi or hi != hi):       # max(vhat, v), a NaN from either side kept
                hi = vi
            m[i] = mi
            v[i] = vi
            vh[i] = hi
            p[i] = p[i] - alpha * mi / (_sqrt(hi) + eps)


# Drivers: serial for small arrays, static blocks over threads for large ones.

cdef void _run_sgd(real* p, const real* g, real* vel, Py_ssize_t n, double lr, double mu,
                   bint nesterov) noexcept nogil:
    cdef int nt = _threads(n)
    cdef Py_ssize_t b, nb = (n + BLOCK - 1) // BLOCK, e
    if nt == 1:
        if vel == NULL:
            _sgd_plain(p, g, 0, n, <real>lr)
        else:
            _sgd_mom(p, g, vel, 0, n, <real>lr, <real>mu, nesterov)
        return
    for b in prange(nb, schedule="dynamic", num_threads=nt):
        e = (b + 1) * BLOCK
        if e > n:
            e = n
        if vel == NULL:
            _sgd_plain(p, g, b * BLOCK, e, <real>lr)
        else:
            _sgd_mom(p, g, vel, b * BLOCK, e, <real>lr, <real>mu, nesterov)


cdef void _run_rms(real* p, const real* g, real* ms, real* mom, Py_ssize_t n, double lr, double rho,
                   double mu, double eps) noexcept nogil:
    cdef int nt = _threads(n)
    cdef Py_ssize_t b, nb = (n + BLOCK - 1) // BLOCK, e
    if nt == 1:
        _rms(p, g, ms, mom, 0, n, <real>lr, <real>rho, <real>(1.0 - rho), <real>mu, <real>eps)
        return
    for b in prange(nb, schedule="dynamic", num_threads=nt):
        e = (b + 1) * BLOCK
        if e > n:
            e = n
        _rms(p, g, ms, mom, b * BLOCK, e, <real>lr, <real>rho, <real>(1.0 - rho), <real>mu, <real>eps)


cdef void _run_adam(real* p, const real* g, real* m, real* v, real* vh, Py_ssize_t n, double alpha,
                    double b1, double b2, double eps) noexcept nogil:
    cdef int nt = _threads(n)
    cdef Py_ssize_t b, nb = (n + BLOCK - 1) // BLOCK, e
    if nt == 1:
        _adam(p, g, m, v, vh, 0, n, <real>alpha, <real>(1.0 - b1), <real>(1.0 - b2), <real>eps)
        return
    for b in prange(nb, schedule="dynamic", num_threads=nt):
        e = (b + 1) * BLOCK
        if e > n:
            e = n
        _adam(p, g, m, v, vh, b * BLOCK, e, <real>alpha, <real>(1.0 - b1), <real>(1.0 - b2), <real>eps)


# ---------------------------------------------------------------------------
# Python-visible kernels
# ---------------------------------------------------------------------------

def sgd_update(param, grad, velocity, double lr, double momentum, bint nesterov):
    """Keras SGD, in place.  With momentum (velocity not None):
    ``velocity = momentum * velocity - lr * g``; ``param += momentum * velocity - lr * g``
    if nesterov else ``param += velocity``.  Without (velocity None): ``param -= lr * g``."""
    cdef str k = "sgd_update"
    cdef cnp.ndarray p = _param(k, param)
    cdef cnp.ndarray vel = None
    if velocity is not None:
        vel = _slot(k, "velocity", velocity, p)
    elif momentum != 0.0:
        raise ValueError(f"{k}: momentum={momentum} needs a velocity array, got None")
    cdef cnp.ndarray g = _grad(k, grad, p, "velocity", vel, None, None, None, None)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(p)
    cdef void* pp = cnp.PyArray_DATA(p)
    cdef void* gp = cnp.PyArray_DATA(g)
    cdef void* vp = NULL if vel is None else cnp.PyArray_DATA(vel)
    if cnp.PyArray_TYPE(p) == cnp.NPY_FLOAT:
        with nogil:
            _run_sgd(<float*>pp, <const float*>gp, <float*>vp, n, lr, momentum, nesterov)
    else:
        with nogil:
            _run_sgd(<double*>pp, <const double*>gp, <double*>vp, n, lr, momentum, nesterov)


def rmsprop_update(param, grad, ms, mom, double lr, double rho, double momentum, double epsilon):
    """Keras RMSprop, in place: ``ms = rho * ms + (1 - rho) * g * g``;
    ``inc = lr * g / sqrt(ms + epsilon)``; with momentum (mom not None)
    ``mom = momentum * mom + inc; param -= mom``, else ``param -= inc``."""
    cdef str k = "rmsprop_update"
    cdef cnp.ndarray p = _param(k, param)
    cdef cnp.ndarray sa = _slot(k, "ms", ms, p)
    cdef cnp.ndarray ma = None
    if mom is not None:
        ma = _slot(k, "mom", mom, p)
        _disjoint(k, "mom", ma, "ms", sa)
    elif momentum != 0.0:
        raise ValueError(f"{k}: momentum={momentum} needs a mom array, got None")
    cdef cnp.ndarray g = _grad(k, grad, p, "ms", sa, "mom", ma, None, None)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(p)
    cdef void* pp = cnp.PyArray_DATA(p)
    cdef void* gp = cnp.PyArray_DATA(g)
    cdef void* sp = cnp.PyArray_DATA(sa)
    cdef void* mp = NULL if ma is None else cnp.PyArray_DATA(ma)
    if cnp.PyArray_TYPE(p) == cnp.NPY_FLOAT:
        with nogil:
            _run_rms(<float*>pp, <const float*>gp, <float*>sp, <float*>mp, n, lr, rho, momentum, epsilon)
    else:
        with nogil:
            _run_rms(<double*>pp, <const double*>gp, <double*>sp, <double*>mp, n, lr, rho, momentum, epsilon)


def adam_update(param, grad, m, v, vhat, double alpha, double beta_1, double beta_2, double epsilon):
    """Keras Adam, in place, one pass: ``m += (g - m) * (1 - beta_1)``;
    ``v += (g * g - v) * (1 - beta_2)``; AMSGrad when vhat is not None:
    ``vhat = max(vhat, v)`` is used instead of v; ``param -= alpha * m / (sqrt(v) + epsilon)``.
    The caller folds the bias corrections into ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``."""
    cdef str k = "adam_update"
    cdef cnp.ndarray p = _param(k, param)
    cdef cnp.ndarray ma = _slot(k, "m", m, p)
    cdef cnp.ndarray va = _slot(k, "v", v, p)
    _disjoint(k, "v", va, "m", ma)
    cdef cnp.ndarray ha = None
    if vhat is not None:
        ha = _slot(k, "vhat", vhat, p)
        _disjoint(k, "vhat", ha, "m", ma)
        _disjoint(k, "vhat", ha, "v", va)
    cdef cnp.ndarray g = _grad(k, grad, p, "m", ma, "v", va, "vhat", ha)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(p)
    cdef void* pp = cnp.PyArray_DATA(p)
    cdef void* gp = cnp.PyArray_DATA(g)
    cdef void* mp = cnp.PyArray_DATA(ma)
    cdef void* vp = cnp.PyArray_DATA(va)
    cdef void* hp = NULL if ha is None else cnp.PyArray_DATA(ha)
    if cnp.PyArray_TYPE(p) == cnp.NPY_FLOAT:
        with nogil:
            _run_adam(<float*>pp, <const float*>gp, <float*>mp, <float*>vp, <float*>hp, n,
                      alpha, beta_1, beta_2, epsilon)
    else:
        with nogil:
            _run_adam(<double*>pp, <const double*>gp, <double*>mp, <double*>vp, <double*>hp, n,
                      alpha, beta_1, beta_2, epsilon)
