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

from cpython.pythread cimport PyThread_get_thread_ident
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM

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


cpdef object as_array(object value, object dtype=None):
    """Convert a user value to the array a Tensor stores.

    Python floats, ints and (nested) lists become float32, as in TensorFlow;
    NumPy arrays and NumPy scalars keep their dtype (float64 stays float64);
    booleans stay boolean.  String and object data raise TypeError.
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
        if dtype is None and arr.dtype.kind in 'iuf':
            arr = arr.astype(np.float32)
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
    """
    cdef readonly str name
    cdef readonly object forward
    cdef readonly object backward
    cdef readonly int nin
    cdef public object __doc__

    def __init__(self, str name, forward, backward, int nin=-1, doc=None):
        self.name = name
        self.forward = forward
        self.backward = backward
        self.nin = nin
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

    # NumPy must hand binary operators over to us (np.float32(2) * w -> w.__rmul__).
    __array_ufunc__ = None
    __array_priority__ = 1000

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
        cdef Py_ssize_t i
        for i in range(self.data.shape[0]):
            yield self[i]

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

    def exp(self):
        return apply(_operator("exp"), (self,), None)

    def log(self):
        return apply(_operator("log"), (self,), None)

    def astype(self, dtype):
        """A non-differentiable copy with another dtype."""
        return _wrap(np.asarray(self.data).astype(dtype))

    def __hash__(self):
        # Identity hash, computed in C: the tape keys its dicts by tensors.
        return <Py_hash_t>((<size_t><void*>self) >> 4)

    # Comparisons are elementwise and not differentiable.  == and != keep
    # Python's identity meaning (not defined here), so tensors stay hashable
    # and the tape can key its dicts by the tensors themselves (tinygrad_bn.equal
    # compares values).
    def __lt__(self, other):
        return Tensor(np.less(self.data, _raw(other)))

    def __le__(self, other):
        return Tensor(np.less_equal(self.data, _raw(other)))

    def __gt__(self, other):
        return Tensor(np.greater(self.data, _raw(other)))

    def __ge__(self, other):
        return Tensor(np.greater_equal(self.data, _raw(other)))


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
    cdef readonly Tensor out
    cdef readonly object residuals


cdef class GradientTape:
    """Records operations for automatic differentiation, like ``tf.GradientTape``.

    Inside ``with GradientTape() as tape:`` every op with a watched input is
    recorded; ``tape.gradient(target, sources)`` then walks the record backwards
    and returns d(sum(target))/d(source) for each source.  Trainable ``Var``\\ s
    are watched automatically (unless ``watch_accessed_variables=False``);
    ``tape.watch(t)`` adds any float tensor.

    A tape can be used for one ``gradient()`` call unless ``persistent=True``.
    Tapes nest: each active tape records the ops that touch what it watches.
    Gradients are constants: a gradient computed inside an outer tape is not
    itself recorded (no higher-order derivatives).
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
        return self

    def __exit__(self, *exc):
        self._recording = False
        self._entered = False
        _remove_tape(self)
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

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """Gradients of ``target`` with respect to ``sources``.

        ``sources`` may be one tensor, a list/tuple or a dict of tensors; the
        result has the same structure.  A non-scalar target is summed (or
        weighted by ``output_gradients``); a list of targets adds up.  A source
        the target does not depend on gives ``None``, or zeros with
        ``unconnected_gradients="zero"``.
        """
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"GradientTape.gradient: unconnected_gradients must be 'none' or 'zero', "
                             f"got {unconnected_gradients!r}")
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient: a non-persistent tape can compute gradients only once; "
                               "create it with GradientTape(persistent=True) to call gradient() several times")
        self._used = True
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
        for s in src_list:
            if not isinstance(s, Tensor):
                raise TypeError(f"GradientTape.gradient: sources must be Tensors or Vars, got {type(s).__name__}")
            if not _is_float_dtype((<Tensor>s).data.dtype):
                raise TypeError(f"GradientTape.gradient: cannot differentiate with respect to a tensor of dtype "
                                f"{(<Tensor>s).data.dtype} (shape {(<Tensor>s).data.shape}); "
                                "integer and boolean tensors are not differentiable")
        grads = self._backward(tgt_list, og_list, src_list)
        results = []
        cdef Tensor s_t
        for s in src_list:
            s_t = <Tensor>s
            g = grads.get(s_t)
            if g is None:
                if unconnected_gradients == "zero":
                    results.append(_wrap(np.zeros(s_t.data.shape, s_t.data.dtype)))
                else:
                    results.append(None)
            else:
                if g.dtype != s_t.data.dtype:
                    g = np.asarray(g).astype(s_t.data.dtype)
                results.append(_wrap(g))
        if not self.persistent:
            self._records = []
            self._refs = []
            self._watched = set()
        if isinstance(sources, Tensor):
            return results[0]
        if type(sources) is list and len(results) == len(<list>sources):
            return results
        return _unflatten(sources, results)

    cdef dict _backward(self, list targets, object out_grads, list sources):
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
                seed = np.asarray(_raw(out_grads[i]), dtype=t.data.dtype)
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
                if isinstance(x, Tensor) and x in depends and (<Tensor>x).data.dtype.kind == 'f':
                    needs.append(True)
                    any_need = True
                else:
                    needs.append(False)
            if not any_need:
                continue
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
                if gi.shape != t.data.shape:
                    raise RuntimeError(f"op {rec.op.name}: backward returned a gradient of shape {gi.shape} "
                                       f"for input {i} of shape {t.data.shape}")
                prev = grads.get(t)
                grads[t] = gi if prev is None else prev + gi
        return grads


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
        elif (isinstance(a, _ndarray) or isinstance(a, _generic) or type(a) is float
              or type(a) is int or type(a) is bool):
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
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if not msg.startswith(op.name + ":"):
            msg = f"{op.name}: {msg}"
        raise type(exc)(f"{msg} [inputs: {_describe(list(arrays), nin)}]") from exc
    if type(res) is not tuple or PyTuple_GET_SIZE(<tuple>res) != 2:
        raise TypeError(f"op {op.name}: forward must return (output, residuals), got {type(res).__name__}")
    cdef Tensor out = _wrap(<object>PyTuple_GET_ITEM(<tuple>res, 0))
    if has_tensor and _active_tapes:
        _record(op, args[:nin] if nin < n else args, out, <object>PyTuple_GET_ITEM(<tuple>res, 1))
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


cdef void _record(Op op, tuple inputs, Tensor out, object residuals) except *:
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
