# In-place optimizer updates (Keras formulas), one pass over memory each.
#
#   sgd_update(param, grad, velocity, lr, momentum, nesterov)
#   rmsprop_update(param, grad, ms, mom, lr, rho, momentum, epsilon)
#   adam_update(param, grad, m, v, vhat, alpha, beta_1, beta_2, epsilon)
#
# param and the slot arrays (velocity, ms, mom, m, v, vhat) must be C-contiguous,
# writeable NumPy arrays of one shape and one dtype, float32 or float64 (0-d
# arrays are fine).  grad must have the same shape; any float dtype or layout is
# accepted and converted (a copy) when it is not already a C-contiguous array of
# param's dtype.  Hyper-parameters are Python floats; the arithmetic is done in
# the arrays' dtype, as Keras does.
#
# These are called once per variable per step, often on tiny arrays, so the
# wrappers talk to the NumPy C API directly (no memoryview acquisition, no
# Python-level reshape): validation is a handful of C comparisons.  Large arrays
# are split over OpenMP threads (elementwise, so results never depend on it).

cimport numpy as cnp
from cython.parallel cimport prange
cimport openmp
from libc.math cimport sqrt, sqrtf
import numpy as np

cnp.import_array()

cdef enum:
    PAR_SIZE = 65536      # elements from which the update runs on several threads
    BLOCK = 16384         # elements per parallel block


# The Adam loop is C (verbatim below), not Cython: the build keeps -fmath-errno, under
# which GCC will not vectorise sqrt (a negative argument must set errno; neither
# `#pragma GCC optimize` nor the optimize attribute changes that for GCC 12), so the
# Cython loop ran one element at a time (~2.4 ns per element: compute-bound, not
# bandwidth-bound).  Here the loop body is written once with GCC vector extensions and
# the SSE/AVX sqrt instruction (correctly rounded, like sqrtf), compiled for the x86-64
# baseline (4 floats / 2 doubles) and for AVX2 (8 / 4; no FMA enabled, so no
# contraction): every version does the scalar loop's roundings, so results are
# identical on every ISA.  The version is picked once at import (select_isa()).
# Each vector step loads all its inputs before storing (per element, the same order
# of reads and writes as the scalar loop when grad is param's memory).
cdef extern from *:
    """
    #include <math.h>
    #include <string.h>
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC diagnostic ignored "-Wpsabi"
    #endif
    #define TGBN_ADAM_SCALAR(T, SQRT, i0)                                                  \
        for (Py_ssize_t i = (i0); i < n; i++) {                                            \
            T gi = g[i];                                                                   \
            T mi = m[i] + (gi - m[i]) * c1;                                                \
            T vi = v[i] + (gi * gi - v[i]) * c2;                                           \
            m[i] = mi;                                                                     \
            v[i] = vi;                                                                     \
            if (vh != NULL) {                                                              \
                T hi = vh[i] > vi ? vh[i] : vi;                                            \
                vh[i] = hi;                                                                \
                vi = hi;                                                                   \
            }                                                                              \
            p[i] = p[i] - alpha * mi / (SQRT(vi) + eps);                                   \
        }
    /* W lanes of type T in vector type VT, IT the same-size integer vector, VSQRT the
       vector sqrt; elements [0, n - n % W) vectorised, the rest scalar. */
    #define TGBN_ADAM_VEC(T, VT, IT, W, VSQRT, SQRT)                                       \
        Py_ssize_t nv = n - n % (W);                                                       \
        if (vh == NULL) {                                                                  \
            for (Py_ssize_t i = 0; i < nv; i += (W)) {                                     \
                VT gi, mi, vi, pi;                                                         \
                memcpy(&gi, g + i, sizeof(VT)); memcpy(&mi, m + i, sizeof(VT));            \
                memcpy(&vi, v + i, sizeof(VT)); memcpy(&pi, p + i, sizeof(VT));            \
                mi = mi + (gi - mi) * c1;                                                  \
                vi = vi + (gi * gi - vi) * c2;                                             \
                pi = pi - alpha * mi / (VSQRT(vi) + eps);                                  \
                memcpy(m + i, &mi, sizeof(VT)); memcpy(v + i, &vi, sizeof(VT));            \
                memcpy(p + i, &pi, sizeof(VT));                                            \
            }                                                                              \
        } else {                                                                           \
            for (Py_ssize_t i = 0; i < nv; i += (W)) {                                     \
                VT gi, mi, vi, pi, hi;                                                     \
                memcpy(&gi, g + i, sizeof(VT)); memcpy(&mi, m + i, sizeof(VT));            \
                memcpy(&vi, v + i, sizeof(VT)); memcpy(&pi, p + i, sizeof(VT));            \
                memcpy(&hi, vh + i, sizeof(VT));                                           \
                mi = mi + (gi - mi) * c1;                                                  \
                vi = vi + (gi * gi - vi) * c2;                                             \
                IT k = (IT)(hi > vi);                   /* hi > vi ? hi : vi */            \
                hi = (VT)(((IT)hi & k) | ((IT)vi & ~k));                                   \
                pi = pi - alpha * mi / (VSQRT(hi) + eps);                                  \
                memcpy(m + i, &mi, sizeof(VT)); memcpy(v + i, &vi, sizeof(VT));            \
                memcpy(vh + i, &hi, sizeof(VT)); memcpy(p + i, &pi, sizeof(VT));           \
            }                                                                              \
        }                                                                                  \
        TGBN_ADAM_SCALAR(T, SQRT, nv)

    #if defined(__GNUC__) && defined(__x86_64__)
    #define TGBN_OPT_HAVE_AVX2 1
    #include <immintrin.h>
    typedef float tgbn_o4f __attribute__((vector_size(16)));
    typedef double tgbn_o2d __attribute__((vector_size(16)));
    typedef int32_t tgbn_o4i __attribute__((vector_size(16)));
    typedef int64_t tgbn_o2l __attribute__((vector_size(16)));
    typedef float tgbn_o8f __attribute__((vector_size(32)));
    typedef double tgbn_o4d __attribute__((vector_size(32)));
    typedef int32_t tgbn_o8i __attribute__((vector_size(32)));
    typedef int64_t tgbn_o4l __attribute__((vector_size(32)));
    #define TGBN_SQRT_4F(x) ((tgbn_o4f)_mm_sqrt_ps((__m128)(x)))
    #define TGBN_SQRT_2D(x) ((tgbn_o2d)_mm_sqrt_pd((__m128d)(x)))
    #define TGBN_SQRT_8F(x) ((tgbn_o8f)_mm256_sqrt_ps((__m256)(x)))
    #define TGBN_SQRT_4D(x) ((tgbn_o4d)_mm256_sqrt_pd((__m256d)(x)))
    static void tgbn_adam_f_base(float *p, const float *g, float *m, float *v, float *vh,
                                 Py_ssize_t n, float alpha, float c1, float c2, float eps) {
        TGBN_ADAM_VEC(float, tgbn_o4f, tgbn_o4i, 4, TGBN_SQRT_4F, sqrtf)
    }
    static void tgbn_adam_d_base(double *p, const double *g, double *m, double *v, double *vh,
                                 Py_ssize_t n, double alpha, double c1, double c2, double eps) {
        TGBN_ADAM_VEC(double, tgbn_o2d, tgbn_o2l, 2, TGBN_SQRT_2D, sqrt)
    }
    __attribute__((target("avx2"))) static void tgbn_adam_f_avx2(float *p, const float *g,
            float *m, float *v, float *vh, Py_ssize_t n, float alpha, float c1, float c2, float eps) {
        TGBN_ADAM_VEC(float, tgbn_o8f, tgbn_o8i, 8, TGBN_SQRT_8F, sqrtf)
    }
    __attribute__((target("avx2"))) static void tgbn_adam_d_avx2(double *p, const double *g,
            double *m, double *v, double *vh, Py_ssize_t n, double alpha, double c1, double c2,
            double eps) {
        TGBN_ADAM_VEC(double, tgbn_o4d, tgbn_o4l, 4, TGBN_SQRT_4D, sqrt)
    }
    #else
    static void tgbn_adam_f_base(float *p, const float *g, float *m, float *v, float *vh,
                                 Py_ssize_t n, float alpha, float c1, float c2, float eps) {
        TGBN_ADAM_SCALAR(float, sqrtf, 0)
    }
    static void tgbn_adam_d_base(double *p, const double *g, double *m, double *v, double *vh,
                                 Py_ssize_t n, double alpha, double c1, double c2, double eps) {
        TGBN_ADAM_SCALAR(double, sqrt, 0)
    }
    #endif
    static void (*tgbn_adam_f)(float *, const float *, float *, float *, float *, Py_ssize_t,
                               float, float, float, float) = tgbn_adam_f_base;
    static void (*tgbn_adam_d)(double *, const double *, double *, double *, double *, Py_ssize_t,
                               double, double, double, double) = tgbn_adam_d_base;
    static int tgbn_opt_select_isa(int force_baseline) {
        int level = 0;
        tgbn_adam_f = tgbn_adam_f_base;
        tgbn_adam_d = tgbn_adam_d_base;
    #ifdef TGBN_OPT_HAVE_AVX2
        __builtin_cpu_init();
        if (!force_baseline && __builtin_cpu_supports("avx2")) {
            tgbn_adam_f = tgbn_adam_f_avx2;
            tgbn_adam_d = tgbn_adam_d_avx2;
            level = 1;
        }
    #endif
        return level;
    }
    """
    void tgbn_adam_f(float* p, const float* g, float* m, float* v, float* vh, Py_ssize_t n,
                     float alpha, float c1, float c2, float eps) noexcept nogil
    void tgbn_adam_d(double* p, const double* g, double* m, double* v, double* vh, Py_ssize_t n,
                     double alpha, double c1, double c2, double eps) noexcept nogil
    int tgbn_opt_select_isa(int force_baseline) noexcept nogil


tgbn_opt_select_isa(0)


def select_isa(bint baseline=False):
    """Use the baseline-ISA Adam loop (``baseline=True``) or the best this CPU has (AVX2 when
    available).  Returns the level in use: 0 baseline, 1 AVX2.  (Elementwise, no contraction:
    both give identical results.)"""
    return tgbn_opt_select_isa(1 if baseline else 0)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

cdef str _desc(object a):
    if isinstance(a, cnp.ndarray):
        return f"shape {a.shape} dtype {a.dtype}"
    return type(a).__name__


cdef int _check_slot(str kernel, str name, object a, cnp.ndarray param) except -1:
    """A slot/param array: ndarray, float32/64 like param, C-contiguous, writeable, same shape."""
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    if t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE:
        raise TypeError(f"{kernel}: {name} must be float32 or float64, got {_desc(a)}")
    if arr is not param:
        if t != cnp.PyArray_TYPE(param):
            raise TypeError(f"{kernel}: {name} ({_desc(a)}) must have the dtype of param ({_desc(param)})")
        if (cnp.PyArray_NDIM(arr) != cnp.PyArray_NDIM(param)
                or not cnp.PyArray_CompareLists(cnp.PyArray_DIMS(arr), cnp.PyArray_DIMS(param),
                                                cnp.PyArray_NDIM(arr))):
            raise ValueError(f"{kernel}: {name} ({_desc(a)}) must have the shape of param ({_desc(param)})")
        if cnp.PyArray_DATA(arr) == cnp.PyArray_DATA(param) and cnp.PyArray_SIZE(arr) > 0:
            raise ValueError(f"{kernel}: {name} shares its memory with param")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{kernel}: {name} ({_desc(a)}) must be C-contiguous (it is updated in place)")
    if not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{kernel}: {name} ({_desc(a)}) is read-only (it is updated in place)")
    return 0


cdef cnp.ndarray _grad(str kernel, object grad, cnp.ndarray param):
    """grad as a C-contiguous array of param's dtype and shape (converted when needed)."""
    cdef cnp.ndarray g
    if isinstance(grad, cnp.ndarray):
        g = <cnp.ndarray>grad
        if (cnp.PyArray_TYPE(g) == cnp.PyArray_TYPE(param) and cnp.PyArray_IS_C_CONTIGUOUS(g)
                and cnp.PyArray_NDIM(g) == cnp.PyArray_NDIM(param)
                and cnp.PyArray_CompareLists(cnp.PyArray_DIMS(g), cnp.PyArray_DIMS(param),
                                             cnp.PyArray_NDIM(g))):
            return g
    else:
        try:
            g = np.asarray(grad.data if hasattr(grad, "numpy") else grad)
        except Exception as exc:  # noqa: BLE001
            raise TypeError(f"{kernel}: cannot use grad of type {type(grad).__name__} as an array") from exc
    if g.dtype.kind != "f":
        raise TypeError(f"{kernel}: grad must be floating point, got {_desc(g)} for param {_desc(param)}")
    if (<object>g).shape != (<object>param).shape:
        raise ValueError(f"{kernel}: grad ({_desc(g)}) must have the shape of param ({_desc(param)})")
    return np.ascontiguousarray(g, dtype=(<object>param).dtype)


cdef inline int _threads(Py_ssize_t n) noexcept nogil:
    if n < PAR_SIZE:
        return 1
    cdef int t = openmp.omp_get_max_threads()
    return t if t > 1 else 1


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
    # elements [i0, i1) by the C loop above (vectorised)
    if real is float:
        tgbn_adam_f(p + i0, g + i0, m + i0, v + i0, NULL if vh == NULL else vh + i0, i1 - i0,
                    alpha, c1, c2, eps)
    else:
        tgbn_adam_d(p + i0, g + i0, m + i0, v + i0, NULL if vh == NULL else vh + i0, i1 - i0,
                    alpha, c1, c2, eps)


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


cdef inline void* _ptr(object a) noexcept:
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


# ---------------------------------------------------------------------------
# Python-visible kernels
# ---------------------------------------------------------------------------

def sgd_update(param, grad, velocity, double lr, double momentum, bint nesterov):
    """Keras SGD, in place.  With momentum (velocity not None):
    ``velocity = momentum * velocity - lr * g``; ``param += momentum * velocity - lr * g``
    if nesterov else ``param += velocity``.  Without (velocity None): ``param -= lr * g``."""
    if not isinstance(param, cnp.ndarray):
        _not_array("sgd_update", param)
    cdef cnp.ndarray p = <cnp.ndarray>param
    _check_slot("sgd_update", "param", p, p)
    if velocity is not None:
        _check_slot("sgd_update", "velocity", velocity, p)
    elif momentum != 0.0:
        raise ValueError(f"sgd_update: momentum={momentum} needs a velocity array, got None")
    cdef cnp.ndarray g = _grad("sgd_update", grad, p)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(p)
    cdef void* pp = cnp.PyArray_DATA(p)
    cdef void* gp = cnp.PyArray_DATA(g)
    cdef void* vp = _ptr(velocity)
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
    if not isinstance(param, cnp.ndarray):
        _not_array("rmsprop_update", param)
    cdef cnp.ndarray p = <cnp.ndarray>param
    _check_slot("rmsprop_update", "param", p, p)
    _check_slot("rmsprop_update", "ms", ms, p)
    if mom is not None:
        _check_slot("rmsprop_update", "mom", mom, p)
    elif momentum != 0.0:
        raise ValueError(f"rmsprop_update: momentum={momentum} needs a mom array, got None")
    cdef cnp.ndarray g = _grad("rmsprop_update", grad, p)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(p)
    cdef void* pp = cnp.PyArray_DATA(p)
    cdef void* gp = cnp.PyArray_DATA(g)
    cdef void* sp = cnp.PyArray_DATA(<cnp.ndarray>ms)
    cdef void* mp = _ptr(mom)
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
    if not isinstance(param, cnp.ndarray):
        _not_array("adam_update", param)
    cdef cnp.ndarray p = <cnp.ndarray>param
    _check_slot("adam_update", "param", p, p)
    _check_slot("adam_update", "m", m, p)
    _check_slot("adam_update", "v", v, p)
    if vhat is not None:
        _check_slot("adam_update", "vhat", vhat, p)
    cdef cnp.ndarray g = _grad("adam_update", grad, p)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(p)
    cdef void* pp = cnp.PyArray_DATA(p)
    cdef void* gp = cnp.PyArray_DATA(g)
    cdef void* mp = cnp.PyArray_DATA(<cnp.ndarray>m)
    cdef void* vp = cnp.PyArray_DATA(<cnp.ndarray>v)
    cdef void* hp = _ptr(vhat)
    if m is v or (vhat is not None and (vhat is m or vhat is v)):
        raise ValueError("adam_update: m, v and vhat must be distinct arrays")
    if cnp.PyArray_TYPE(p) == cnp.NPY_FLOAT:
        with nogil:
            _run_adam(<float*>pp, <const float*>gp, <float*>mp, <float*>vp, <float*>hp, n,
                      alpha, beta_1, beta_2, epsilon)
    else:
        with nogil:
            _run_adam(<double*>pp, <const double*>gp, <double*>mp, <double*>vp, <double*>hp, n,
                      alpha, beta_1, beta_2, epsilon)


cdef object _not_array(str kernel, object param):
    raise TypeError(f"{kernel}: param must be a NumPy array (float32 or float64, C-contiguous, "
                    f"writeable), got {type(param).__name__}")
