# The hot path of the autograd engine, compiled: the Tensor, the op dispatch
# (`apply`), the tape's record and its backward walk.
#
# Everything here is op-agnostic: an op is an `Op` holding two plain Python
# functions, `forward(*arrays, **attrs) -> (out, residuals)` and
# `backward(residuals, g, needs) -> one gradient per input`.  The ops
# themselves live in `tinygrad_bn/ops/` where a reader finds each forward
# beside its vjp.  This file only records calls and replays them backwards.
#
# Why Cython: the course example and small models are dominated by per-op
# bookkeeping, not by array work.  Typed fields, a list of records and a dict
# of gradients keyed by the tensors themselves make an op cost about what NumPy charges.

import inspect

import numpy as np

cimport numpy as cnp
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from libc.string cimport memcmp

cnp.import_array()

# The tapes that are currently inside their `with` block, innermost last.  A
# tape records only the ops of the thread that entered it (tapes are
# thread-local, as in TF), so each record carries its thread's id.
cdef list _active_tapes = []

# Ops that Python operators dispatch to (`a + b` -> _OPERATORS["add"]); the
# ops package fills this in when it is imported.
cdef dict _OPERATORS = {}


def set_operator(str name, Op op):
    """Bind a Python operator slot (``"add"``, ``"mul"``, ``"getitem"`` ...) to an op."""
    _OPERATORS[name] = op


cdef inline Op _operator(str name):
    try:
        return <Op>_OPERATORS[name]
    except KeyError:
        raise RuntimeError(f"tinygrad_bn: operator {name!r} is not registered "
                           "(import tinygrad_bn, not tinygrad_bn._engine)") from None


# ---------------------------------------------------------------------------
# Converting user values to arrays
# ---------------------------------------------------------------------------

cdef inline bint _is_float_dtype(object dtype):
    return dtype.kind == 'f'


# The backward walk's per-input checks, without Python attribute lookups for arrays (a
# gradient or a tensor's data may also be a NumPy scalar: then the attributes are read).
cdef inline bint _float_data(object d):
    if cnp.PyArray_Check(d):
        return cnp.PyArray_ISFLOAT(<cnp.ndarray>d)
    return _is_float_dtype(d.dtype)


cdef inline bint _same_shape(object a, object b):
    cdef int nd
    if cnp.PyArray_Check(a) and cnp.PyArray_Check(b):
        nd = cnp.PyArray_NDIM(<cnp.ndarray>a)
        return nd == cnp.PyArray_NDIM(<cnp.ndarray>b) and (
            nd == 0 or memcmp(cnp.PyArray_DIMS(<cnp.ndarray>a), cnp.PyArray_DIMS(<cnp.ndarray>b),
                              nd * sizeof(cnp.npy_intp)) == 0)
    return a.shape == b.shape


cpdef object as_array(object value, object dtype=None):
    """Convert a user value to the array a Tensor stores (TensorFlow's rules).

    A Python float (or a list holding one) becomes float32, a Python int (or
    a list of ints) int32, a bool bool, as ``tf.constant`` does; NumPy arrays
    and NumPy scalars keep their dtype (float64 stays float64).  Complex,
    string and object data raise TypeError.
    """
    cdef object arr
    if isinstance(value, Tensor):
        arr = (<Tensor>value).data
        if type(value) is not Tensor:      # a Var: take a snapshot, its array changes in place
            arr = np.array(arr)
    elif isinstance(value, (np.ndarray, np.generic)):
        arr = value
    else:
        if isinstance(value, (str, bytes)):
            raise TypeError(f"Tensor: cannot make a tensor from a string ({value!r})")
        arr = np.asarray(value)
        if dtype is None:
            if arr.dtype.kind == 'f':
                arr = arr.astype(np.float32)
            elif arr.dtype.kind in 'iu':
                if arr.size and (arr.max() > 2147483647 or arr.min() < -2147483648):
                    arr = arr.astype(np.int64)     # TF: out of int32 range -> int64
                else:
                    arr = arr.astype(np.int32)
    if arr.dtype.kind not in 'biuf':
        raise TypeError(f"Tensor: unsupported dtype {arr.dtype} (shape {np.shape(arr)}); "
                        "tensors hold bool, integer or floating-point numbers")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind not in 'biuf':
            raise TypeError(f"Tensor: unsupported dtype {dtype}")
        if arr.dtype != dtype:
            arr = np.asarray(arr).astype(dtype)
    return arr


# ---------------------------------------------------------------------------
# Op: a named pair of plain functions
# ---------------------------------------------------------------------------

cdef class Op:
    """A differentiable operation: ``forward`` and ``backward`` side by side.

    ``forward(*arrays, **attrs)`` gets NumPy arrays (or NumPy scalars / Python
    numbers for constants) and returns ``(out, residuals)``; ``backward(residuals,
    g, needs)`` gets what forward saved and the gradient ``g`` of the output and
    returns one gradient per tensor input (``None`` where ``needs[i]`` is false).

    The first ``nin`` positional arguments are tensor inputs (``nin == -1``:
    every positional argument is); later positional and keyword arguments are
    passed to ``forward`` untouched.

    Higher-order gradients: under an outer recording tape the backward runs
    again on Tensors (so a backward written with operators and NumPy functions
    is itself recorded).  ``composite``, when given, is a function with
    ``forward``'s signature that computes the same output from other ops; a
    higher-order gradient then differentiates it instead (for ops whose
    backward is a raw kernel).  ``tensor_backward``, when given, has
    ``backward``'s contract and replaces it on Tensors only: the same vjp
    written with fewer recorded ops (e.g. one ``tanh_grad`` op instead of three
    elementwise ones), so the plain ``backward`` on arrays pays for no check.
    It takes precedence over ``composite`` (``softmax_ce`` records one
    ``softmax_ce_grad`` op rather than its composite differentiated again).
    """
    cdef readonly str name
    cdef readonly object forward
    cdef readonly object backward
    cdef readonly int nin
    cdef public object composite
    cdef public object tensor_backward
    cdef public object __doc__

    def __init__(self, str name, forward, backward, int nin=-1, doc=None, composite=None,
                 tensor_backward=None):
        self.name = name
        self.forward = forward
        self.backward = backward
        self.nin = nin
        self.composite = composite
        self.tensor_backward = tensor_backward
        self.__doc__ = doc if doc is not None else getattr(forward, "__doc__", None)

    def __call__(self, *args, **attrs):
        return apply(self, args, attrs)

    @property
    def __signature__(self):
        return inspect.signature(self.forward)

    @property
    def __name__(self):
        return self.name

    def __repr__(self):
        return f"<op {self.name}>"



# ---------------------------------------------------------------------------
# NumPy's dispatch protocols: the tables and the fallbacks
# ---------------------------------------------------------------------------

cdef dict _UFUNCS = {}          # ufunc -> Op or function, for ufunc(*inputs) without keywords
cdef dict _REDUCES = {}         # ufunc -> function(x, axis=, keepdims=), for ufunc.reduce
cdef set _NONDIFF_UFUNCS = set()    # ufuncs whose result carries no gradient (comparisons, sign ...)
cdef dict _FUNCTIONS = {}       # NumPy function -> implementation on tensors (NumPy's signature)
cdef set _NONDIFF_FUNCTIONS = set() # NumPy functions whose result carries no gradient (argmax, shape ...)


def set_ufunc(ufunc, impl=None, reduce=None, differentiable=True):
    """Route ``ufunc(tensor, ...)`` to ``impl`` (an Op or a function) and ``ufunc.reduce`` to
    ``reduce``; ``differentiable=False`` marks a ufunc whose result has no gradient."""
    if impl is not None:
        _UFUNCS[ufunc] = impl
    if reduce is not None:
        _REDUCES[ufunc] = reduce
    if not differentiable:
        _NONDIFF_UFUNCS.add(ufunc)


def set_function(func, impl=None, differentiable=True):
    """Route the NumPy function ``func(tensor, ...)`` to ``impl`` (with NumPy's signature);
    ``differentiable=False`` marks one whose result has no gradient (it then runs on the arrays)."""
    if impl is not None:
        _FUNCTIONS[func] = impl
    if not differentiable:
        _NONDIFF_FUNCTIONS.add(func)


cdef object _reduce_call(object ufunc, object impl, object x, dict kwargs):
    axis = kwargs.pop("axis", 0)
    keepdims = kwargs.pop("keepdims", False)
    for key, value in list(kwargs.items()):
        if value is None or (key == "where" and value is True):
            del kwargs[key]
    if kwargs:
        kwargs["axis"] = axis
        kwargs["keepdims"] = keepdims
        return _ufunc_fallback(ufunc, "reduce", (x,), kwargs)
    return impl(x, axis=axis, keepdims=keepdims)


cdef object _unwrap_deep(object x):
    if isinstance(x, Tensor):
        return (<Tensor>x).data
    if type(x) is tuple or type(x) is list:
        return type(x)(_unwrap_deep(v) for v in x)
    if type(x) is dict:
        return {k: _unwrap_deep(v) for k, v in (<dict>x).items()}
    return x


cdef bint _any_watched_deep(object x):
    if isinstance(x, Tensor):
        return _watched_by_recording(x)
    if type(x) is tuple or type(x) is list:
        for v in x:
            if _any_watched_deep(v):
                return True
    elif type(x) is dict:
        for v in (<dict>x).values():
            if _any_watched_deep(v):
                return True
    return False


def watched(x):
    """True when a recording ``GradientTape`` of this thread watches ``x`` (a Tensor, or a
    list, tuple or dict holding one): a NumPy-level shortcut on it would be a silent constant."""
    return _any_watched_deep(x)


cdef object _wrap_result(object r):
    if isinstance(r, (np.ndarray, np.generic)) and r.dtype.kind in 'biuf':
        return _wrap(r)
    if type(r) is tuple:
        return tuple(_wrap_result(v) for v in r)
    if type(r) is list:
        return [_wrap_result(v) for v in r]
    return r


cdef object _ufunc_fallback(object ufunc, str method, tuple inputs, dict kwargs):
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if ufunc not in _NONDIFF_UFUNCS and (_any_watched_deep(inputs) or _any_watched_deep(kwargs)):
        how = " with these keyword arguments" if kwargs else ""
        raise TypeError(f"{name}: tinygrad_bn cannot differentiate it{how} while a GradientTape is watching "
                        f"its input (the result would be a silent constant); use the tinygrad_bn ops, or "
                        f"compute it inside tape.stop_recording()")
    out = kwargs.get("out")
    result = getattr(ufunc, method)(*_unwrap_deep(inputs), **_unwrap_deep(kwargs))
    if out is not None:
        return result               # NumPy's own answer: the out= arrays
    return _wrap_result(result)


cdef object _function_fallback(object func, tuple args, dict kwargs):
    if func not in _NONDIFF_FUNCTIONS and (_any_watched_deep(args) or _any_watched_deep(kwargs)):
        name = getattr(func, "__name__", repr(func))
        raise TypeError(f"np.{name}: tinygrad_bn does not differentiate it, and a GradientTape is watching "
                        f"its input (the result would be a silent constant); use the tinygrad_bn ops, or "
                        f"compute it inside tape.stop_recording()")
    return _wrap_result(func(*_unwrap_deep(args), **_unwrap_deep(kwargs)))


# > 0 while a backward runs on Tensors for a higher-order gradient: then a watched
# tensor that is turned into a NumPy array (a silent constant) raises instead.
cdef int _strict = 0


cdef bint _watched_by_recording(object x):
    """True when a recording tape of this thread watches ``x``."""
    cdef GradientTape tape
    cdef unsigned long me
    if not _active_tapes or not isinstance(x, Tensor):
        return False
    me = PyThread_get_thread_ident()
    for tape in _active_tapes:
        if tape._recording and tape._thread == me and tape._watches(x):
            return True
    return False


# ---------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------

cdef class Tensor:
    """An immutable n-d array that the tape can differentiate through.

    ``Tensor(value, dtype=None)`` wraps a NumPy array (see :func:`as_array` for
    the dtype rules).  Operators (``+ - * / ** @``, unary ``-``, ``x[idx]``,
    comparisons) and the NumPy-named functions of ``tinygrad_bn`` accept
    Tensors, NumPy arrays, NumPy scalars and Python numbers on either side.
    """
    cdef public object data
    cdef public bint trainable

    __array_priority__ = 1000

    # -- NumPy's dispatch protocols (NEP 13 ufuncs, NEP 18 functions) ---------
    # np.exp(t), np.float32(2) * t, np.sum(t, axis=0) ... call the registered
    # ops, so they are recorded like t.exp(), 2 * t, t.sum(axis=0).  What the
    # engine does not differentiate raises TypeError while a tape watches the
    # input; otherwise it computes on the arrays.  The ops package fills the tables.
    def __array_ufunc__(self, ufunc, str method, *inputs, **kwargs):
        cdef object impl
        if method == "__call__":
            if not kwargs:
                impl = _UFUNCS.get(ufunc)
                if impl is not None:
                    if type(impl) is Op:
                        return apply(<Op>impl, inputs, None)
                    return impl(*inputs)
        elif method == "reduce" and len(inputs) == 1:
            impl = _REDUCES.get(ufunc)
            if impl is not None:
                return _reduce_call(ufunc, impl, inputs[0], kwargs)
        return _ufunc_fallback(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        impl = _FUNCTIONS.get(func)
        if impl is not None:
            return impl(*args, **kwargs)
        return _function_fallback(func, args, kwargs)

    def __init__(self, value, dtype=None):
        self.data = as_array(value, dtype)
        self.trainable = False

    # -- array protocol and conversions ------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def numpy(self):
        """The value as a NumPy array (a copy: changing it leaves the tensor alone)."""
        return np.array(self.data)

    def __array__(self, dtype=None, copy=None):
        if _strict and _watched_by_recording(self):
            raise TypeError(f"a tensor of shape {self.data.shape} was converted to a NumPy array inside a backward "
                            "that is being differentiated (higher-order gradient): the result would be a silent "
                            "constant. Write the backward with operators and NumPy functions on its arguments "
                            "(they dispatch to the ops), or give the op a composite=")
        if copy is False and dtype is not None and np.dtype(dtype) != self.data.dtype:
            raise ValueError("Tensor.__array__: a dtype change needs a copy")
        arr = np.asarray(self.data)
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        if copy:
            arr = arr.copy()
        return arr

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __index__(self):
        if self.data.dtype.kind not in 'iub':
            raise TypeError(f"only integer tensors can be used as an index, not {self.data.dtype}")
        return int(self.data)

    def __bool__(self):
        return bool(self.data)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __repr__(self):
        body = np.array2string(np.asarray(self.data), separator=", ", threshold=20, prefix="  ")
        return f"<{type(self).__name__} shape={self.data.shape} dtype={self.data.dtype} numpy={body}>"

    def __str__(self):
        return f"Tensor({np.asarray(self.data)}, shape={self.data.shape}, dtype={self.data.dtype})"

    def __reduce__(self):
        return (Tensor, (np.asarray(self.data),))

    # -- operators: thin calls into the registered ops ---------------------
    def __add__(self, other):
        return apply(_operator("add"), (self, other), None)

    def __radd__(self, other):
        return apply(_operator("add"), (other, self), None)

    def __sub__(self, other):
        return apply(_operator("sub"), (self, other), None)

    def __rsub__(self, other):
        return apply(_operator("sub"), (other, self), None)

    def __mul__(self, other):
        return apply(_operator("mul"), (self, other), None)

    def __rmul__(self, other):
        return apply(_operator("mul"), (other, self), None)

    def __truediv__(self, other):
        return apply(_operator("div"), (self, other), None)

    def __rtruediv__(self, other):
        return apply(_operator("div"), (other, self), None)

    def __pow__(self, other, modulo=None):
        if modulo is not None:
            return NotImplemented
        return apply(_operator("pow"), (self, other), None)

    def __rpow__(self, other, modulo=None):
        if modulo is not None:
            return NotImplemented
        return apply(_operator("pow"), (other, self), None)

    def __matmul__(self, other):
        return apply(_operator("matmul"), (self, other), None)

    def __rmatmul__(self, other):
        return apply(_operator("matmul"), (other, self), None)

    def __neg__(self):
        return apply(_operator("neg"), (self,), None)

    def __pos__(self):
        return self

    def __abs__(self):
        return apply(_operator("abs"), (self,), None)

    def __invert__(self):
        if self.data.dtype.kind not in 'biu':
            raise TypeError(f"~ (invert) needs a bool or integer tensor, got dtype {self.data.dtype}")
        return _wrap(np.invert(self.data))

    def __getitem__(self, index):
        return apply(_operator("getitem"), (self, index), None)

    # -- methods for the common ops ------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return apply(_operator("sum"), (self,), {"axis": axis, "keepdims": keepdims})

    def mean(self, axis=None, keepdims=False):
        return apply(_operator("mean"), (self,), {"axis": axis, "keepdims": keepdims})

    def var(self, axis=None, keepdims=False, ddof=0):
        return apply(_operator("var"), (self,), {"axis": axis, "keepdims": keepdims, "ddof": ddof})

    def max(self, axis=None, keepdims=False):
        return apply(_operator("max"), (self,), {"axis": axis, "keepdims": keepdims})

    def min(self, axis=None, keepdims=False):
        return apply(_operator("min"), (self,), {"axis": axis, "keepdims": keepdims})

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(_operator("reshape"), (self, shape), None)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return apply(_operator("transpose"), (self, tuple(axes) if axes else None), None)

    @property
    def T(self):
        return apply(_operator("transpose"), (self, None), None)

    def prod(self, axis=None, keepdims=False):
        return apply(_operator("prod"), (self,), {"axis": axis, "keepdims": keepdims})

    def squeeze(self, axis=None):
        return apply(_operator("squeeze"), (self,), {"axis": axis} if axis is not None else None)

    def flatten(self):
        return apply(_operator("reshape"), (self, (-1,)), None)

    def ravel(self):
        return apply(_operator("reshape"), (self, (-1,)), None)

    def swapaxes(self, axis1, axis2):
        cdef list axes = list(range(self.data.ndim))
        a = axis1 % self.data.ndim
        b = axis2 % self.data.ndim
        axes[a], axes[b] = axes[b], axes[a]
        return apply(_operator("transpose"), (self, tuple(axes)), None)

    def argmax(self, axis=None):
        return _wrap(np.argmax(self.data, axis=axis))

    def argmin(self, axis=None):
        return _wrap(np.argmin(self.data, axis=axis))

    def tolist(self):
        return np.asarray(self.data).tolist()

    def item(self, *args):
        return np.asarray(self.data).item(*args)

    def exp(self):
        return apply(_operator("exp"), (self,), None)

    def log(self):
        return apply(_operator("log"), (self,), None)

    def astype(self, dtype, copy=True):
        """This tensor in another dtype (``tf.cast``: differentiable between float dtypes)."""
        return apply(_operator("cast"), (self, dtype), None)

    def __hash__(self):
        # Identity hash, computed in C: the tape keys its dicts by tensors.
        return <Py_hash_t>((<size_t><void*>self) >> 4)

    # Comparisons are elementwise and give bool tensors, as in TF and PyTorch;
    # they are not differentiable.  Tensors stay hashable by identity (as
    # PyTorch's are): the tape keys its dicts by the tensors themselves.
    def __eq__(self, other):
        return _compare(np.equal, self, other)

    def __ne__(self, other):
        return _compare(np.not_equal, self, other)

    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)


cdef object _compare(object ufunc, Tensor a, object b):
    cdef object rb
    if isinstance(b, Tensor):
        rb = (<Tensor>b).data
    elif b is None or isinstance(b, (str, bytes)):
        return NotImplemented
    else:
        rb = b
    try:
        return _wrap(ufunc(a.data, rb))
    except TypeError:
        return NotImplemented


cdef inline object _raw(object x):
    return (<Tensor>x).data if isinstance(x, Tensor) else x


cdef inline Tensor _wrap(object data):
    cdef Tensor t = Tensor.__new__(Tensor)
    t.data = data
    t.trainable = False
    return t


def wrap(data):
    """Make a Tensor around an array without conversion or checks (internal)."""
    return _wrap(data)


# ---------------------------------------------------------------------------
# The tape
# ---------------------------------------------------------------------------

cdef class Record:
    """One recorded op call: what the backward walk needs to replay it."""
    cdef readonly Op op
    cdef readonly tuple inputs      # the call's tensor-position arguments (Tensors or constants)
    cdef readonly tuple args        # every positional argument of the call
    cdef readonly tuple arrays      # what forward saw in each position (arrays for Tensors)
    cdef readonly dict attrs        # keyword attributes, or None
    cdef readonly Tensor out
    cdef readonly object residuals


cdef object _DERIVED = object()      # marker: a residual computed inside forward (not an input/output)


# The caching allocator (tinygrad_bn.memory): a tape's `with` block and gradient() run in its
# scope once the process has differentiated arrays of 128 KiB or more (until then, tapes of
# small tensors -- the course's scalar loops -- pay nothing for it).  Checked on every 61st
# gradient() call while off (a prime: a loop making an even number of gradient() calls per
# step -- an HVP's inner and outer tapes -- would otherwise only ever show the same tape),
# on the tape's outputs and on the sources (whose gradients have their size).
cdef object _alloc = None
cdef bint _alloc_on = False
cdef bint _alloc_looked = False
cdef unsigned long _grad_calls = 0


cdef void _maybe_turn_alloc_on(list records, list sources) except *:
    global _alloc, _alloc_on, _alloc_looked, _grad_calls
    cdef Record rec
    _grad_calls += 1
    if _grad_calls % 61 != 1:
        return
    if not _alloc_looked:
        _alloc_looked = True
        from . import memory
        _alloc = memory._alloc
    if _alloc is None:
        return
    for rec in records:
        if (<Tensor>rec.out).data.nbytes >= 131072:
            _alloc_on = True
            return
    for x in sources:
        if isinstance(x, Tensor) and (<Tensor>x).data.nbytes >= 131072:
            _alloc_on = True
            return


# The first tape starts sharing the kernels' OpenMP threads with NumPy's BLAS
# (tinygrad_bn._kernels.use_blas_pool: once per process, where available).
cdef bint _pool_asked = False


cdef void _ask_for_the_pool() except *:
    global _pool_asked
    _pool_asked = True
    try:
        from ._kernels import use_blas_pool
    except ImportError:             # kernels not built
        return
    use_blas_pool()


cdef class GradientTape:
    """Records operations for automatic differentiation, like ``tf.GradientTape``.

    Inside ``with GradientTape() as tape:`` every op with a watched input is
    recorded; ``tape.gradient(target, sources)`` then walks the record backwards
    and returns d(sum(target))/d(source) for each source.  Trainable ``Var``\\ s
    are watched automatically (unless ``watch_accessed_variables=False``);
    ``tape.watch(t)`` adds any float tensor.

    A tape can be used for one ``gradient()`` call unless ``persistent=True``.
    Tapes nest, and a ``gradient()`` computed while an outer tape records is
    itself recorded by it, so the outer tape differentiates the gradient
    (second and higher derivatives, as in TF).  Without an outer tape the
    backward pass works on plain arrays and records nothing.
    """
    cdef readonly bint persistent
    cdef readonly bint watch_accessed_variables
    cdef list _records
    cdef set _watched          # watched tensors (hashed by identity)
    cdef list _refs            # tensors passed to watch(), in order
    cdef bint _recording
    cdef bint _used
    cdef bint _entered
    cdef unsigned long _thread
    cdef object _prev_alloc    # the NumPy memory handler to restore at __exit__, or None

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._records = []
        self._watched = set()
        self._refs = []
        self._recording = False
        self._used = False
        self._entered = False

    def __enter__(self):
        if self._entered:
            raise RuntimeError("GradientTape: this tape is already active (tapes are not re-entrant)")
        self._entered = True
        self._recording = True
        self._thread = PyThread_get_thread_ident()
        _active_tapes.append(self)
        if not _pool_asked:
            _ask_for_the_pool()
        if _alloc_on:
            self._prev_alloc = _alloc.activate()
        return self

    def __exit__(self, *exc):
        self._recording = False
        self._entered = False
        _remove_tape(self)
        if self._prev_alloc is not None:
            _alloc.restore(self._prev_alloc)
            self._prev_alloc = None
        return False

    def watch(self, tensor):
        """Watch a tensor (or a list/tuple/dict of tensors) so ops on it are recorded."""
        for t in _flatten(tensor, []):
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.watch: expected a Tensor, got {type(t).__name__}")
            if not _is_float_dtype((<Tensor>t).data.dtype):
                raise TypeError(f"GradientTape.watch: cannot watch a tensor of dtype {(<Tensor>t).data.dtype}; "
                                "only floating-point tensors are differentiable")
            self._watched.add(t)
            self._refs.append(t)

    def stop_recording(self):
        """Context manager: ops run inside it are not recorded on this tape."""
        if not self._entered:
            raise RuntimeError("GradientTape.stop_recording: the tape is not active "
                               "(use it inside the tape's `with` block)")
        return _Pause(self)

    def reset(self):
        """Forget everything recorded so far (the tape stays usable)."""
        self._records = []
        self._watched = set()
        self._refs = []
        self._used = False

    def watched_variables(self):
        """The trainable variables this tape has seen used by a recorded op, in first-use order."""
        cdef Record rec
        seen = set()
        out = []
        for t in self._refs:
            if getattr(t, "trainable", False) and id(t) not in seen:
                seen.add(id(t)); out.append(t)
        for rec in self._records:
            for t in rec.inputs:
                if isinstance(t, Tensor) and (<Tensor>t).trainable and id(t) not in seen:
                    seen.add(id(t)); out.append(t)
        return tuple(out)

    def __len__(self):
        return len(self._records)

    cdef inline bint _watches(self, object x):
        cdef Tensor t
        if not isinstance(x, Tensor):
            return False
        t = <Tensor>x
        if t.trainable and self.watch_accessed_variables:
            return True
        return t in self._watched

    # -- gradients -----------------------------------------------------------
    cdef list _check_sources(self, str fn, list src_list):
        for s in src_list:
            if not isinstance(s, Tensor):
                raise TypeError(f"GradientTape.{fn}: sources must be Tensors or Vars, got {type(s).__name__}")
            if not _is_float_dtype((<Tensor>s).data.dtype):
                hint = ""
                if (<Tensor>s).data.dtype.kind in "iu":
                    hint = (" (a Python int makes an int32 tensor, as in TF: write Var(0.0) or "
                            "Var(0, dtype=tinygrad_bn.float32))")
                name = getattr(s, "name", None)
                what = f"variable {name!r}" if name is not None else "a tensor"
                raise TypeError(f"GradientTape.{fn}: cannot differentiate with respect to {what} of dtype "
                                f"{(<Tensor>s).data.dtype} (shape {(<Tensor>s).data.shape}); integer and boolean "
                                f"tensors are not differentiable{hint}")
        return src_list

    cdef void _start(self, str fn) except *:
        if self._used and not self.persistent:
            raise RuntimeError(f"GradientTape.{fn}: a non-persistent tape can compute gradients only once; "
                               f"create it with GradientTape(persistent=True) to call {fn}() several times")
        self._used = True

    cdef void _finish(self):
        if not self.persistent:
            self._records = []
            self._refs = []
            self._watched = set()

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """Gradients of ``target`` with respect to ``sources``.

        ``sources`` may be one tensor, a list/tuple or a dict of tensors; the
        result has the same structure.  A non-scalar target is summed (or
        weighted by ``output_gradients``); a list of targets adds up.  A source
        the target does not depend on gives ``None``, or zeros with
        ``unconnected_gradients="zero"``.
        """
        unconnected_gradients = _unconnected(unconnected_gradients)
        self._start("gradient")
        cdef list src_list
        cdef list tgt_list
        if isinstance(sources, Tensor):
            src_list = [sources]
        elif type(sources) is list:
            src_list = _flatten(sources, []) if _nested(<list>sources) else list(<list>sources)
        else:
            src_list = _flatten(sources, [])
        tgt_list = [target] if isinstance(target, Tensor) else _flatten(target, [])
        if output_gradients is not None:
            og_list = _flatten(output_gradients, [])
            if len(og_list) != len(tgt_list):
                raise ValueError(f"GradientTape.gradient: {len(og_list)} output_gradients for "
                                 f"{len(tgt_list)} targets")
        else:
            og_list = None
        self._check_sources("gradient", src_list)
        if not _alloc_on:
            _maybe_turn_alloc_on(self._records, src_list)
        prev_alloc = _alloc.activate() if _alloc_on else None
        try:
            results = self._grad_list(tgt_list, og_list, src_list, unconnected_gradients)
        finally:
            if prev_alloc is not None:
                _alloc.restore(prev_alloc)
            self._finish()
        if isinstance(sources, Tensor):
            return results[0]
        if type(sources) is list and len(results) == len(<list>sources):
            return results
        return _unflatten(sources, results)

    def jacobian(self, target, sources, unconnected_gradients="none", parallel_iterations=None,
                 experimental_use_pfor=True):
        """The Jacobian of ``target`` with respect to each source, as ``tf.GradientTape.jacobian``:
        for a source of shape S the result has shape ``target.shape + S``.
        ``parallel_iterations`` and ``experimental_use_pfor`` are accepted and ignored."""
        unconnected_gradients = _unconnected(unconnected_gradients)
        if not isinstance(target, Tensor):
            raise TypeError(f"GradientTape.jacobian: target must be a Tensor, got {type(target).__name__}")
        self._start("jacobian")
        cdef list src_list = [sources] if isinstance(sources, Tensor) else _flatten(sources, [])
        self._check_sources("jacobian", src_list)
        cdef Tensor t = <Tensor>target
        try:
            results = self._jacobian_list(t, src_list, unconnected_gradients, False)
        finally:
            self._finish()
        if isinstance(sources, Tensor):
            return results[0]
        return _unflatten(sources, results)

    def batch_jacobian(self, target, source, unconnected_gradients="none", parallel_iterations=None,
                       experimental_use_pfor=True):
        """Per-example Jacobians, as ``tf.GradientTape.batch_jacobian``: ``target`` (B, ...) and
        ``source`` (B, ...) give shape ``(B,) + target.shape[1:] + source.shape[1:]``, where
        ``result[b] = d target[b] / d source[b]`` (examples are assumed independent, as in TF)."""
        unconnected_gradients = _unconnected(unconnected_gradients)
        if not isinstance(target, Tensor) or not isinstance(source, Tensor):
            raise TypeError("GradientTape.batch_jacobian: target and source must be Tensors")
        cdef Tensor t = <Tensor>target
        cdef Tensor s = <Tensor>source
        if t.data.ndim < 1 or s.data.ndim < 1 or t.data.shape[0] != s.data.shape[0]:
            raise ValueError(f"GradientTape.batch_jacobian: target {t.data.shape} and source {s.data.shape} "
                             "must have the same first (batch) dimension")
        self._start("batch_jacobian")
        self._check_sources("batch_jacobian", [source])
        try:
            return self._jacobian_list(t, [source], unconnected_gradients, True)[0]
        finally:
            self._finish()

    cdef list _jacobian_list(self, Tensor t, list src_list, str unconnected, bint batch):
        cdef Py_ssize_t j, m
        cdef tuple tshape = t.data.shape
        cdef tuple inner = tshape[1:] if batch else tshape
        m = 1
        for d in inner:
            m *= d
        rows = []                       # rows[j][k]: gradient of output element j for source k
        for j in range(m):
            seed = np.zeros(inner, t.data.dtype)
            seed.flat[j] = 1
            if batch:
                seed = np.broadcast_to(seed, tshape).copy()
            rows.append(self._grad_list([t], [seed], src_list, "none"))
        results = []
        for k in range(len(src_list)):
            s = <Tensor>src_list[k]
            sshape = s.data.shape
            col = [row[k] for row in rows]
            if all(c is None for c in col):
                if unconnected == "zero":
                    shape = ((tshape[0],) + inner + sshape[1:]) if batch else (tshape + sshape)
                    results.append(_wrap(np.zeros(shape, s.data.dtype)))
                else:
                    results.append(None)
                continue
            zero = None
            parts = []
            for c in col:
                if c is None:
                    if zero is None:
                        zero = _wrap(np.zeros(sshape, s.data.dtype))
                    c = zero
                parts.append(c)
            if not parts:               # a target with no elements
                shape = ((tshape[0],) + inner + sshape[1:]) if batch else (tshape + sshape)
                results.append(_wrap(np.zeros(shape, s.data.dtype)))
                continue
            stacked = _operator("stack")(*parts, axis=1 if batch else 0)
            if batch:
                out_shape = (tshape[0],) + inner + sshape[1:]
            else:
                out_shape = tshape + sshape
            results.append(_operator("reshape")(stacked, out_shape))
        return results

    cdef list _grad_list(self, list tgt_list, object og_list, list src_list, str unconnected):
        """One backward walk; a gradient per source (Tensor, or None when unconnected)."""
        cdef bint hi = _others_recording(self)
        cdef bint was = self._recording
        if hi:
            self._recording = False        # this tape does not record its own backward pass
        try:
            grads = self._backward(tgt_list, og_list, src_list, hi)
        finally:
            self._recording = was
        results = []
        cdef Tensor s_t
        for s in src_list:
            s_t = <Tensor>s
            g = grads.get(s_t)
            if g is None:
                if unconnected == "zero":
                    results.append(_wrap(np.zeros(s_t.data.shape, s_t.data.dtype)))
                else:
                    results.append(None)
            elif isinstance(g, Tensor):
                if (<Tensor>g).data.dtype != s_t.data.dtype:
                    g = _operator("cast")(g, s_t.data.dtype)
                results.append(g)
            else:
                if g.dtype != s_t.data.dtype:
                    g = np.asarray(g).astype(s_t.data.dtype)
                results.append(_wrap(g))
        return results

    cdef dict _backward(self, list targets, object out_grads, list sources, bint hi):
        cdef dict grads = {}
        cdef Record rec
        cdef Tensor t
        cdef Py_ssize_t i, n, k
        cdef set depends = set()
        cdef list needs
        cdef bint any_need
        for i, tg in enumerate(targets):
            if not isinstance(tg, Tensor):
                raise TypeError(f"GradientTape.gradient: target must be a Tensor, got {type(tg).__name__}")
            t = <Tensor>tg
            if not _is_float_dtype(t.data.dtype):
                raise TypeError(f"GradientTape.gradient: the target has dtype {t.data.dtype}; "
                                "only floating-point targets can be differentiated")
            if out_grads is not None:
                og = out_grads[i]
                if hi and isinstance(og, Tensor) and _watched_by_recording(og):
                    seed = og                   # differentiable seed (e.g. a vector-Jacobian product)
                    if (<Tensor>og).data.shape != t.data.shape:
                        raise ValueError(f"GradientTape.gradient: output_gradients shape {og.shape} does not "
                                         f"match target shape {t.data.shape}")
                else:
                    seed = np.asarray(_raw(og), dtype=t.data.dtype)
                    if seed.shape != t.data.shape:
                        raise ValueError(f"GradientTape.gradient: output_gradients shape {seed.shape} does not "
                                         f"match target shape {t.data.shape}")
            elif t.data.ndim == 0:
                seed = _scalar_one(t.data.dtype)
            else:
                seed = np.ones(t.data.shape, t.data.dtype)
            prev = grads.get(t)
            grads[t] = seed if prev is None else prev + seed
        for s in sources:
            if self._watches(s):        # as in TF: an unwatched source gets no gradient
                depends.add(s)
        # Forward sweep: which recorded tensors depend on a source at all.
        for rec in self._records:
            for x in rec.inputs:
                if isinstance(x, Tensor) and x in depends:
                    depends.add(rec.out)
                    break
        # Backward sweep over the record, newest first.
        cdef list records = self._records
        n = len(records)
        for k in range(n - 1, -1, -1):
            rec = <Record>records[k]
            if rec.out not in depends:
                continue
            g = grads.get(rec.out)
            if g is None:
                continue
            needs = []
            any_need = False
            for x in rec.inputs:
                if isinstance(x, Tensor) and x in depends and _float_data((<Tensor>x).data):
                    needs.append(True)
                    any_need = True
                else:
                    needs.append(False)
            if not any_need:
                continue
            if hi and (_watched_by_recording(g) or _any_input_watched(rec.inputs)):
                gin = _differentiable_backward(rec, g, needs)
            else:
                if isinstance(g, Tensor):
                    g = (<Tensor>g).data
                gin = rec.op.backward(rec.residuals, g, needs)
            if len(gin) != len(rec.inputs):
                raise RuntimeError(f"op {rec.op.name}: backward returned {len(gin)} gradients "
                                   f"for {len(rec.inputs)} inputs")
            for i in range(len(needs)):
                if not needs[i]:
                    continue
                gi = gin[i]
                if gi is None:
                    continue
                t = <Tensor>rec.inputs[i]
                if not _same_shape(gi, t.data):
                    raise RuntimeError(f"op {rec.op.name}: backward returned a gradient of shape {gi.shape} "
                                       f"for input {i} of shape {t.data.shape}")
                prev = grads.get(t)
                grads[t] = gi if prev is None else prev + gi
        return grads


cdef str _unconnected(object value):
    """'none' or 'zero' (the strings, or tf.UnconnectedGradients.NONE / .ZERO)."""
    if value == "none":
        return "none"
    if value == "zero":
        return "zero"
    raise ValueError(f"GradientTape.gradient: unconnected_gradients must be 'none' or 'zero' "
                     f"(or UnconnectedGradients.NONE / .ZERO), got {value!r}")


cdef bint _others_recording(GradientTape me_tape):
    """True when a tape other than ``me_tape`` records in this thread (higher-order mode)."""
    cdef GradientTape tape
    cdef unsigned long me
    if not _active_tapes:
        return False
    me = PyThread_get_thread_ident()
    for tape in _active_tapes:
        if tape is not me_tape and tape._recording and tape._thread == me:
            return True
    return False


cdef bint _any_input_watched(tuple inputs):
    for x in inputs:
        if _watched_by_recording(x):
            return True
    return False


# ---------------------------------------------------------------------------
# Higher order: a backward step that outer tapes can differentiate
# ---------------------------------------------------------------------------

cdef object _differentiable_backward(Record rec, object g, list needs):
    """Run ``rec``'s backward on Tensors so that the recording tapes record it.

    The residuals that forward saved are the input and output arrays in the
    common case: they are replaced by the Tensors holding them.  An op that
    saved anything computed inside forward is run forward again on Tensors
    (recorded too) to get differentiable residuals; an op with a
    ``composite`` is differentiated through that instead.
    """
    global _strict
    cdef Op op = rec.op
    cdef Tensor gt = <Tensor>g if isinstance(g, Tensor) else _wrap(g)
    if op.composite is not None and op.tensor_backward is None:
        return _composite_backward(rec, gt, needs)
    cdef dict known = {}
    for i in range(len(rec.inputs)):
        x = rec.inputs[i]
        if isinstance(x, Tensor):
            known[id(rec.arrays[i])] = x
    known.setdefault(id(rec.out.data), rec.out)
    res = _substitute(rec.residuals, known, rec.arrays)
    if res is _DERIVED:
        _strict += 1
        try:
            if rec.attrs:
                again = op.forward(*rec.args, **rec.attrs)
            else:
                again = op.forward(*rec.args)
        except Exception as exc:
            raise TypeError(f"op {op.name}: a higher-order gradient needs its forward and backward to run on "
                            f"Tensors, and forward failed ({type(exc).__name__}: {exc}); write them with "
                            "operators and NumPy functions, or give the op a composite=") from exc
        finally:
            _strict -= 1
        res = again[1]
    _strict += 1
    try:
        if op.tensor_backward is not None:
            return op.tensor_backward(res, gt, needs)
        return op.backward(res, gt, needs)
    except Exception as exc:
        raise TypeError(f"op {op.name}: a higher-order gradient needs its backward to run on Tensors, and it "
                        f"failed ({type(exc).__name__}: {exc}); write the backward with operators and NumPy "
                        "functions, or give the op a composite=") from exc
    finally:
        _strict -= 1


cdef object _substitute(object res, dict known, tuple arrays):
    """``res`` with input/output arrays replaced by their Tensors; _DERIVED if a float
    array that is neither an input, an output nor a constant argument is found."""
    cdef object t
    if res is None or type(res) is int or type(res) is float or type(res) is bool or type(res) is str:
        return res
    if isinstance(res, (np.ndarray, np.generic)):
        t = known.get(id(res))
        if t is not None:
            return t
        if res.dtype.kind not in 'fc':
            return res                  # masks, indexes: constants
        for a in arrays:
            if a is res:
                return res              # a constant argument of the call
        return _DERIVED
    if type(res) is tuple or type(res) is list:
        out = []
        for v in res:
            r = _substitute(v, known, arrays)
            if r is _DERIVED:
                return _DERIVED
            out.append(r)
        return tuple(out) if type(res) is tuple else out
    return res


cdef object _composite_backward(Record rec, Tensor gt, list needs):
    """Differentiate ``op.composite`` (the same function written with other ops) in place of the
    op's own backward; the outer tapes record it all, so they differentiate it again."""
    cdef GradientTape inner = GradientTape(persistent=False, watch_accessed_variables=False)
    wanted = [rec.inputs[i] for i in range(len(needs)) if needs[i]]
    with inner:
        inner.watch(wanted)
        out = rec.op.composite(*rec.args, **(rec.attrs or {}))
    got = inner.gradient(out, wanted, output_gradients=gt)
    result = []
    cdef Py_ssize_t j = 0
    for i in range(len(needs)):
        if needs[i]:
            result.append(got[j])
            j += 1
        else:
            result.append(None)
    return tuple(result)


cdef dict _ONES = {}


cdef object _scalar_one(object dtype):
    one = _ONES.get(dtype)
    if one is None:
        one = _ONES[dtype] = dtype.type(1)
    return one


cdef void _remove_tape(GradientTape tape):
    cdef Py_ssize_t i
    for i in range(len(_active_tapes) - 1, -1, -1):
        if _active_tapes[i] is tape:
            del _active_tapes[i]
            return


cdef class _Pause:
    cdef GradientTape tape
    cdef bint was

    def __cinit__(self, GradientTape tape):
        self.tape = tape

    def __enter__(self):
        self.was = self.tape._recording
        self.tape._recording = False
        return self

    def __exit__(self, *exc):
        self.tape._recording = self.was
        return False


def stop_recording_all():
    """Context manager pausing every tape this thread has active (for inference code)."""
    return _PauseAll()


cdef class _PauseAll:
    cdef list paused

    def __enter__(self):
        cdef GradientTape tape
        cdef unsigned long me = PyThread_get_thread_ident()
        self.paused = []
        for tape in _active_tapes:
            if tape._thread == me and tape._recording:
                tape._recording = False
                self.paused.append(tape)
        return self

    def __exit__(self, *exc):
        cdef GradientTape tape
        for tape in self.paused:
            tape._recording = True
        return False


def recording():
    """True when a tape of this thread is recording."""
    cdef GradientTape tape
    cdef unsigned long me = PyThread_get_thread_ident()
    for tape in _active_tapes:
        if tape._recording and tape._thread == me:
            return True
    return False


# ---------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------

cdef object _ndarray = np.ndarray
cdef object _generic = np.generic
# NumPy scalar types a constant operand may have without a dtype check (the course's x[0])
cdef set _NUMERIC_SCALARS = {np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                             np.uint8, np.uint16, np.uint32, np.uint64, np.bool_}


cpdef object apply(Op op, tuple args, dict attrs):
    """Run ``op`` on ``args`` and, if a tape watches one of its inputs, record it."""
    cdef Py_ssize_t n = PyTuple_GET_SIZE(args)
    cdef Py_ssize_t nin = n if op.nin < 0 or op.nin > n else op.nin
    cdef Py_ssize_t i
    cdef object a, arr
    cdef bint has_tensor = False
    cdef tuple arrays = PyTuple_New(n)      # what forward sees: arrays in tensor positions
    for i in range(n):
        a = <object>PyTuple_GET_ITEM(args, i)
        if i >= nin:
            arr = a
        elif isinstance(a, Tensor):
            arr = (<Tensor>a).data
            has_tensor = True
        elif type(a) in _NUMERIC_SCALARS:
            arr = a
        elif isinstance(a, _ndarray) or isinstance(a, _generic):
            if (<object>a).dtype.kind not in 'biuf':
                raise TypeError(f"{op.name}: unsupported operand dtype {a.dtype} (shape {np.shape(a)}); "
                                "tensors hold bool, integer or floating-point numbers")
            arr = a
        elif type(a) is float or type(a) is int or type(a) is bool:
            arr = a
        else:
            arr = _constant(op, a)
        Py_INCREF(arr)
        PyTuple_SET_ITEM(arrays, i, arr)
    try:
        if attrs:
            res = op.forward(*arrays, **attrs)
        else:
            res = op.forward(*arrays)
    except (ValueError, TypeError, IndexError) as exc:
        msg = str(exc)
        if not msg.startswith(op.name + ":"):
            msg = f"{op.name}: {msg}"
        msg = f"{msg} [inputs: {_describe(list(arrays), nin)}]"
        if type(exc) is ValueError or type(exc) is TypeError or type(exc) is IndexError:
            raise type(exc)(msg) from exc
        # another class (NumPy's own errors have other constructors): keep it, add the context
        if hasattr(exc, "add_note"):
            exc.add_note(msg)
        raise
    if type(res) is not tuple or PyTuple_GET_SIZE(<tuple>res) != 2:
        raise TypeError(f"op {op.name}: forward must return (output, residuals), got {type(res).__name__}")
    cdef Tensor out = _wrap(<object>PyTuple_GET_ITEM(<tuple>res, 0))
    if has_tensor and _active_tapes:
        _record(op, args[:nin] if nin < n else args, args, arrays, attrs, out,
                <object>PyTuple_GET_ITEM(<tuple>res, 1))
    return out


cdef str _describe(list arrays, Py_ssize_t nin):
    parts = []
    for i in range(nin):
        a = arrays[i]
        if hasattr(a, "shape") and hasattr(a, "dtype"):
            parts.append(f"shape {tuple(a.shape)} {a.dtype}")
        else:
            parts.append(type(a).__name__)
    return ", ".join(parts)


cdef object _constant(Op op, object a):
    """A non-tensor argument in a tensor position: lists become float32 arrays."""
    try:
        return as_array(a)
    except TypeError as exc:
        raise TypeError(f"{op.name}: {exc}") from None


cdef void _record(Op op, tuple inputs, tuple args, tuple arrays, dict attrs, Tensor out,
                  object residuals) except *:
    cdef GradientTape tape
    cdef Record rec = None
    cdef unsigned long me = PyThread_get_thread_ident()
    for tape in _active_tapes:
        if not tape._recording or tape._thread != me:
            continue
        for x in inputs:
            if tape._watches(x):
                break
        else:
            continue
        if rec is None:
            rec = Record.__new__(Record)
            rec.op = op
            rec.inputs = inputs
            rec.args = args
            rec.arrays = arrays
            rec.attrs = attrs
            rec.out = out
            rec.residuals = residuals
        tape._records.append(rec)
        tape._watched.add(out)
    # Keep watched inputs alive while a tape refers to them by id: records do that.


# ---------------------------------------------------------------------------
# Structures of sources / results
# ---------------------------------------------------------------------------

cdef bint _nested(list xs):
    for x in xs:
        if not isinstance(x, Tensor):
            return True
    return False


cdef list _flatten(object x, list out):
    if isinstance(x, dict):
        for k in x:
            _flatten(x[k], out)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _flatten(v, out)
    else:
        out.append(x)
    return out


def _unflatten(structure, list flat):
    it = iter(flat)
    return _rebuild(structure, it)


def _rebuild(structure, it):
    if isinstance(structure, dict):
        return type(structure)((k, _rebuild(structure[k], it)) for k in structure)
    if isinstance(structure, tuple):
        return tuple(_rebuild(v, it) for v in structure)
    if isinstance(structure, list):
        return [_rebuild(v, it) for v in structure]
    return next(it)
