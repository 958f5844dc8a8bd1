# _common.pxi -- included (textually) by every kernel module: the ONE set of input
# checks, the thread policy and the ISA selection they share.
#
# Checks (Python level, before any nogil loop); every error names the kernel and the
# argument, with the shapes / dtypes involved:
#   * inputs (read-only arrays): must be NumPy arrays of the exact dtype (TypeError) and
#     rank (ValueError); a strided, misaligned or byte-swapped input is copied (the
#     result is right, only slower);
#   * outputs and arrays updated in place: exact dtype, shape, C-contiguous, aligned,
#     native byte order, writeable -- else TypeError / ValueError (never a copy: the
#     caller would not see the result);
#   * no output may share memory with an input or with another output (ValueError).
#     The test is the one np.may_share_memory makes (do the byte ranges the arrays span
#     overlap?), written in C: exact for the C-contiguous arrays the kernels write, and
#     cheap enough for the (1, 10) calls the tape makes (~20 ns).
#
# Threads: a kernel runs on the calling thread below a work threshold (per kernel,
# measured: docs/kernels.md), else on min(threads, blocks) OpenMP threads, where threads
# is tinygrad_bn.config(num_threads=...) or, by default, omp_get_max_threads() -- except
# while NumPy's BLAS is still spinning after a matmul (BLAS_SPIN_NS after the last one
# the ops made): then the default is the calling thread alone, since OpenBLAS's idle
# workers busy-wait on the other cores for ~0.13 s after every threaded GEMM, and a
# second kernel thread would only fight them for a core (docs/kernels.md, "Threads").

cimport numpy as cnp
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
import numpy as np

cnp.import_array()

cdef extern from "simd.h":
    int omp_get_max_threads() noexcept nogil     # OpenMP's, or 1 in a build without OpenMP
    int tgbn_select_isa(int level) noexcept nogil
    int tgbn_isa
    int tgbn_num_threads
    void tgbn_expf_arr(const float* x, float* out, Py_ssize_t n) noexcept nogil
    void tgbn_logf_arr(const float* x, float* out, Py_ssize_t n) noexcept nogil


cdef str _desc(object a):
    if isinstance(a, cnp.ndarray):
        return f"shape {a.shape} dtype {a.dtype}"
    return f"a {type(a).__name__}"


cdef str _tname(int typenum):
    if typenum == cnp.NPY_FLOAT:
        return "float32"
    if typenum == cnp.NPY_DOUBLE:
        return "float64"
    return "float32 or float64"


cdef cnp.ndarray _as_array(str kernel, str name, object a):
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{kernel}: {name} must be a NumPy array, got {_desc(a)}")
    return <cnp.ndarray>a


cdef int _check_type(str kernel, str name, cnp.ndarray arr, int typenum) except -1:
    # typenum -1: float32 or float64
    cdef int t = cnp.PyArray_TYPE(arr)
    if typenum < 0:
        if t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE:
            raise TypeError(f"{kernel}: {name} must be float32 or float64, got {_desc(arr)}")
    elif t != typenum:
        raise TypeError(f"{kernel}: {name} must have dtype {_tname(typenum)}, got {_desc(arr)}")
    return 0


cdef int _check_ndim(str kernel, str name, cnp.ndarray arr, int ndim) except -1:
    if cnp.PyArray_NDIM(arr) != ndim:
        raise ValueError(f"{kernel}: {name} must have {ndim} dimension{'s' if ndim != 1 else ''}, "
                         f"got {_desc(arr)}")
    return 0


cdef cnp.ndarray _input(str kernel, str name, object a, int ndim, int typenum):
    """A read-only input of the given rank and type, C-contiguous, aligned and native (a copy
    when it is not)."""
    cdef cnp.ndarray arr = _as_array(kernel, name, a)
    _check_type(kernel, name, arr, typenum)
    if ndim >= 0:
        _check_ndim(kernel, name, arr, ndim)
    if not cnp.PyArray_ISNOTSWAPPED(arr) or not cnp.PyArray_ISCARRAY_RO(arr):
        arr = np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C", copy=True)
    return arr


cdef cnp.ndarray _inplace(str kernel, str name, object a, int ndim, int typenum):
    """An array the kernel writes: exact type and rank, C-contiguous, aligned, native, writeable."""
    cdef cnp.ndarray arr = _as_array(kernel, name, a)
    _check_type(kernel, name, arr, typenum)
    if ndim >= 0:
        _check_ndim(kernel, name, arr, ndim)
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{kernel}: {name} must be C-contiguous (it is written in place), "
                         f"got a strided view with {_desc(arr)}")
    if not cnp.PyArray_ISALIGNED(arr) or not cnp.PyArray_ISNOTSWAPPED(arr):
        raise ValueError(f"{kernel}: {name} must be aligned and in native byte order (it is written "
                         f"in place), got {_desc(arr)}")
    if not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{kernel}: {name} is read-only ({_desc(arr)}); it is written in place")
    return arr


cdef cnp.ndarray _output(str kernel, str name, object a, int typenum, Py_ssize_t d0, Py_ssize_t d1):
    """An output of shape (d0, d1) (or (d0,) when d1 < 0): allocated when ``a`` is None, else
    checked as by ``_inplace`` and for its shape."""
    cdef cnp.npy_intp dims[2]
    dims[0] = d0
    dims[1] = d1
    if a is None:
        return cnp.PyArray_EMPTY(1 if d1 < 0 else 2, dims, typenum, 0)
    cdef cnp.ndarray arr = _inplace(kernel, name, a, 1 if d1 < 0 else 2, typenum)
    _check_shape(kernel, name, arr, d0, d1)
    return arr


cdef int _check_shape(str kernel, str name, cnp.ndarray arr, Py_ssize_t d0, Py_ssize_t d1) except -1:
    """arr (of the right rank) has shape (d0, d1), or (d0,) when d1 < 0."""
    if cnp.PyArray_DIM(arr, 0) != d0 or (d1 >= 0 and cnp.PyArray_DIM(arr, 1) != d1):
        want = f"({d0},)" if d1 < 0 else f"({d0}, {d1})"
        raise ValueError(f"{kernel}: {name} has shape {(<object>arr).shape}, expected {want}")
    return 0


cdef int _check_like(str kernel, str name, cnp.ndarray arr, str refname, cnp.ndarray ref) except -1:
    """arr has ref's dtype and shape."""
    if cnp.PyArray_TYPE(arr) != cnp.PyArray_TYPE(ref):
        raise TypeError(f"{kernel}: {name} ({_desc(arr)}) must have the dtype of {refname} ({_desc(ref)})")
    if (cnp.PyArray_NDIM(arr) != cnp.PyArray_NDIM(ref)
            or not cnp.PyArray_CompareLists(cnp.PyArray_DIMS(arr), cnp.PyArray_DIMS(ref),
                                            cnp.PyArray_NDIM(arr))):
        raise ValueError(f"{kernel}: {name} ({_desc(arr)}) must have the shape of {refname} ({_desc(ref)})")
    return 0


cdef void _extent(cnp.ndarray a, char** lo, char** hi) noexcept:
    # the byte range [lo, hi) an array's elements span (as np.may_share_memory computes it)
    cdef char* p = <char*>cnp.PyArray_DATA(a)
    cdef char* l = p
    cdef char* h = p
    cdef int k
    cdef cnp.npy_intp st, ext
    for k in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_DIM(a, k) == 0:
            lo[0] = p
            hi[0] = p
            return
        st = cnp.PyArray_STRIDE(a, k)
        ext = st * (cnp.PyArray_DIM(a, k) - 1)
        if ext < 0:
            l += ext
        else:
            h += ext
    lo[0] = l
    hi[0] = h + cnp.PyArray_ITEMSIZE(a)


cdef bint _overlap(cnp.ndarray a, cnp.ndarray b) noexcept:
    cdef char* alo
    cdef char* ahi
    cdef char* blo
    cdef char* bhi
    _extent(a, &alo, &ahi)
    _extent(b, &blo, &bhi)
    return alo < ahi and blo < bhi and alo < bhi and blo < ahi


cdef int _disjoint(str kernel, str name, cnp.ndarray a, str other, cnp.ndarray b) except -1:
    """ValueError when output ``name`` shares memory with ``other`` (an input or an output)."""
    if _overlap(a, b):
        raise ValueError(f"{kernel}: {name} shares memory with {other} ({_desc(a)} / {_desc(b)}); "
                         f"an output must not overlap an input or another output")
    return 0


# CLOCK_MONOTONIC time (ns) of the last matmul the ops handed to NumPy's own BLAS threads, in
# an int64 array shared by the kernel modules (tinygrad_bn._kernels.BLAS_CLOCK[0], written by
# _note_blas unless BLAS_CLOCK[1] says BLAS runs on the kernels' pool); NULL until _set_blas_clock.
cdef long long* _blas_clock = NULL
cdef object _blas_clock_owner = None
DEF BLAS_SPIN_NS = 150000000    # OpenBLAS's workers spin ~130 ms after a GEMM (measured)


cdef inline bint _blas_spinning() noexcept nogil:
    cdef timespec ts
    if _blas_clock == NULL:
        return False
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <long long>ts.tv_sec * 1000000000 + ts.tv_nsec - _blas_clock[0] < BLAS_SPIN_NS


cdef inline int _threads_for(Py_ssize_t work, Py_ssize_t par_work, Py_ssize_t parts) noexcept nogil:
    """Threads for a kernel call doing ``work`` elements in ``parts`` independent blocks."""
    if work < par_work or parts < 2:
        return 1
    cdef int t
    if tgbn_num_threads > 0:
        t = tgbn_num_threads                # the user's choice, whatever BLAS does
    else:
        t = omp_get_max_threads()
        if t > 1 and _blas_spinning():
            return 1
    if t > parts:
        t = <int>parts
    return t if t > 1 else 1


def _set_blas_clock(cnp.ndarray[cnp.int64_t, ndim=1, mode="c"] clock not None):
    """Read the time of the ops' last matmul from ``clock[0]`` (see ``_threads_for``)."""
    global _blas_clock, _blas_clock_owner
    if clock.shape[0] < 2:
        raise ValueError("_set_blas_clock: clock must hold two int64 (time, BLAS on our pool)")
    _blas_clock_owner = clock
    _blas_clock = <long long*>clock.data


def _note_blas():
    """Record now (CLOCK_MONOTONIC) as the time of the last matmul: the ops call it before each
    matmul they hand to NumPy (through ``tinygrad_bn._kernels.note_blas``).  Nothing to record
    while BLAS runs on the kernels' own pool (``clock[1]``): no OpenBLAS worker spins then."""
    cdef timespec ts
    if _blas_clock != NULL and _blas_clock[1] == 0:
        clock_gettime(CLOCK_MONOTONIC, &ts)
        _blas_clock[0] = <long long>ts.tv_sec * 1000000000 + ts.tv_nsec


def _threads_for_work(Py_ssize_t work, Py_ssize_t par_work, Py_ssize_t parts):
    """The thread count a kernel call of this size would use now (for tests)."""
    return _threads_for(work, par_work, parts)


def _set_num_threads(int n):
    """Threads for this module's parallel kernels (0: OpenMP's default).  Use
    ``tinygrad_bn.config(num_threads=...)``, which sets every module."""
    global tgbn_num_threads
    if n < 0:
        raise ValueError(f"_set_num_threads: n must be >= 0, got {n}")
    tgbn_num_threads = n


def max_threads():
    """Threads a large kernel call of this module would use."""
    return tgbn_num_threads if tgbn_num_threads > 0 else omp_get_max_threads()


def select_isa(baseline=False, *, level=None):
    """Choose this module's float32 loops: the best the CPU has (default; AVX2+FMA when
    available), the baseline x86-64 C loops (``baseline=True`` or ``level=0``), or the plain
    Cython loops the C loops replace (``level=-1``, for tests and measurements).  Returns the
    level in use: -1 Cython, 0 baseline C, 1 AVX2."""
    cdef int lev
    if level is None:
        lev = 0 if baseline else 99
    else:
        lev = int(level)
    return tgbn_select_isa(lev)


tgbn_select_isa(99)
