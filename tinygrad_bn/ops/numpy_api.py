"""NumPy functions on Tensors: the tables behind ``Tensor.__array_ufunc__`` (NEP 13)
and ``Tensor.__array_function__`` (NEP 18).

``np.exp(t)``, ``np.float32(2) * t``, ``np.sum(t, axis=0)``, ``np.where(c, t, 0)`` call
the ops and are recorded, exactly like ``t.exp()``, ``2 * t``, ``t.sum(axis=0)``.
That is also how a backward written with NumPy functions becomes
differentiable: under an outer tape it gets Tensors, and these tables send its
NumPy calls to the ops.  Functions without an entry here run on the arrays
when no tape watches their input and raise TypeError when one does (their
result would be a silent constant).  Functions whose result carries no
gradient (``argmax``, ``shape``, ``isfinite`` ...) always run on the arrays.
"""
import numpy as np

from .._engine import Tensor, set_function, set_ufunc, watched
from . import elementwise as E
from . import linalg as L
from . import reductions as R
from . import shape as S

__all__ = []


def _no(name, **given):
    bad = sorted(k for k, v in given.items() if v is not None and v is not np._NoValue)
    if bad:
        raise TypeError(f"np.{name} on tensors: argument(s) {bad} are not supported "
                        "(dtype changes and out= arrays are not differentiable; use tinygrad_bn.cast)")


# -- ufuncs -------------------------------------------------------------------
for _uf, _impl in ((np.add, E.add), (np.subtract, E.subtract), (np.multiply, E.multiply),
                   (np.divide, E.divide), (np.true_divide, E.divide), (np.negative, E.negative),
                   (np.power, E.power), (np.exp, E.exp), (np.log, E.log), (np.sqrt, E.sqrt),
                   (np.absolute, E.abs), (np.maximum, E.maximum), (np.minimum, E.minimum),
                   (np.tanh, E.tanh), (np.sin, E.sin), (np.cos, E.cos), (np.log1p, E.log1p),
                   (np.expm1, E.expm1), (np.matmul, L.matmul)):
    set_ufunc(_uf, _impl)
set_ufunc(np.square, E.square)
set_ufunc(np.positive, lambda x: x)
set_ufunc(np.reciprocal, lambda x: E.divide(1, x))
set_ufunc(np.fmax, E.maximum)
set_ufunc(np.fmin, E.minimum)
set_ufunc(np.add, reduce=R.sum)
set_ufunc(np.multiply, reduce=R.prod)
set_ufunc(np.maximum, reduce=R.max_)
set_ufunc(np.minimum, reduce=R.min_)
for _uf in (np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal, np.sign,
            np.isnan, np.isinf, np.isfinite, np.signbit, np.floor, np.ceil, np.rint, np.trunc,
            np.logical_and, np.logical_or, np.logical_xor, np.logical_not, np.invert, np.bitwise_and,
            np.bitwise_or, np.bitwise_xor, np.floor_divide, np.remainder, np.fmod, np.isnat):
    set_ufunc(_uf, differentiable=False)


# -- array functions (NumPy's signatures) ---------------------------------------------------
def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    _no("sum", dtype=dtype, out=out, initial=initial, where=where)
    return R.sum(a, axis=axis, keepdims=bool(keepdims))


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=np._NoValue):
    _no("mean", dtype=dtype, out=out, where=where)
    return R.mean(a, axis=axis, keepdims=bool(keepdims))


def _spread(fn, name):
    """np.var / np.std on tensors (``correction`` is NumPy 2's name for ``ddof``)."""
    def impl(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue,
             mean=np._NoValue, correction=np._NoValue):
        _no(name, dtype=dtype, out=out, where=where, mean=mean)
        if correction is not np._NoValue:
            ddof = correction
        return fn(a, axis=axis, keepdims=bool(keepdims), ddof=ddof)
    impl.__name__ = name
    return impl


def _extreme(fn, name):
    def impl(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
        _no(name, out=out, initial=initial, where=where)
        return fn(a, axis=axis, keepdims=bool(keepdims))
    impl.__name__ = name
    return impl


def _prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    _no("prod", dtype=dtype, out=out, initial=initial, where=where)
    return R.prod(a, axis=axis, keepdims=bool(keepdims))


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise TypeError("np.reshape on tensors: only order='C'")
    if shape is None:
        shape = newshape
    return S.reshape(a, shape)


def _transpose(a, axes=None):
    return S.transpose(a, None if axes is None else tuple(axes))


def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no("concatenate", out=out, dtype=dtype)
    if axis is None:
        return S.concatenate([S.reshape(a, (-1,)) for a in arrays], axis=0)
    return S.concatenate(arrays, axis=axis)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no("stack", out=out, dtype=dtype)
    return S.stack(arrays, axis=axis)


def _where(condition, x=None, y=None):
    if x is None and y is None:
        raise TypeError("np.where(condition) on tensors (the indexes) is not differentiable; "
                        "use np.nonzero on the array")
    return E.where(condition, x, y)


def _clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue, max=np._NoValue, **kwargs):
    _no("clip", out=out)
    lo = min if a_min is np._NoValue else a_min
    hi = max if a_max is np._NoValue else a_max
    return E.clip(a, None if lo is np._NoValue else lo, None if hi is np._NoValue else hi)


def _squeeze(a, axis=None):
    return S.squeeze(a, axis=axis)


def _expand_dims(a, axis):
    return S.expand_dims(a, axis)


def _broadcast_to(array, shape, subok=False):
    return S.broadcast_to(array, tuple(shape) if not isinstance(shape, int) else (shape,))


def _swapaxes(a, axis1, axis2):
    return S.swapaxes(a, axis1, axis2)


def _moveaxis(a, source, destination):
    nd = len(a.shape)
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [s % nd for s in src]
    dst = [d % nd for d in dst]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return S.transpose(a, tuple(order))


def _dot(a, b, out=None):
    _no("dot", out=out)
    return L.dot(a, b)


def _ravel(a, order="C"):
    return S.reshape(a, (-1,))


def _take(a, indices, axis=None, out=None, mode="raise"):
    _no("take", out=out)
    if axis is None:
        return S.getitem(S.reshape(a, (-1,)), np.asarray(indices))
    return S.getitem(a, (slice(None),) * (axis % len(a.shape)) + (np.asarray(indices),))


def _split(ary, indices_or_sections, axis=0):
    n = ary.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError("np.split: array split does not result in an equal division")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step))
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    ax = axis % len(ary.shape)
    return [S.getitem(ary, (slice(None),) * ax + (slice(bounds[i], bounds[i + 1]),))
            for i in range(len(bounds) - 1)]


def _flip(m, axis=None):
    nd = len(m.shape)
    axes = range(nd) if axis is None else ([axis] if isinstance(axis, int) else axis)
    index = [slice(None)] * nd
    for ax in axes:
        index[ax % nd] = slice(None, None, -1)
    return S.getitem(m, tuple(index))


def _linalg_norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm on tensors, by NumPy's rules: ``ord`` None (the 2-norm of the flattened
    input, or of each vector along an int ``axis``; Frobenius for a 2-tuple axis), 2, 1 and
    ``np.inf`` for vectors, 'fro' (or None), 1 and ``np.inf`` for matrices.  Other ords (the
    nuclear and spectral norms, p-norms ...) run on the arrays when no tape watches the input
    and raise TypeError when one does."""
    from .. import linalg as LA
    nd = len(x.shape) if hasattr(x, "shape") else np.ndim(x)
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    elif axis is not None:
        axis = tuple(axis)
    if axis is None and ord is not None:
        axis = tuple(range(nd)) if nd in (1, 2) else None       # NumPy: ord needs a 1-D or 2-D input
    keepdims = bool(keepdims)
    vector = axis is not None and len(axis) == 1
    matrix = axis is not None and len(axis) == 2
    if axis is None and ord is None:
        out = LA.norm(x, "euclidean", None)
        if keepdims:
            out = S.reshape(out, (1,) * nd)
        return out
    if vector and (ord is None or (not isinstance(ord, str) and ord in (2, 1, np.inf))):
        return LA.norm(x, "euclidean" if ord is None else ord, axis[0], keepdims)
    if matrix and (ord is None or (isinstance(ord, str) and ord == "fro")
                   or (not isinstance(ord, str) and ord in (1, np.inf))):
        return LA.norm(x, "fro" if ord is None else ord, axis, keepdims)
    if watched(x):
        raise TypeError(f"np.linalg.norm on tensors: ord={ord!r} with axis={axis} is not differentiable "
                        f"here (supported: None/2, 1, inf for vectors; None/'fro', 1, inf for matrices), "
                        f"and a GradientTape is watching the input of shape {tuple(x.shape)}")
    return Tensor(np.linalg.norm(x.data if isinstance(x, Tensor) else x, ord=ord, axis=axis, keepdims=keepdims))


for _func, _impl in ((np.sum, _sum), (np.mean, _mean), (np.var, _spread(R.var, "var")), (np.std, _spread(R.std, "std")),
                     (np.max, _extreme(R.max_, "max")), (np.amax, _extreme(R.max_, "amax")),
                     (np.min, _extreme(R.min_, "min")), (np.amin, _extreme(R.min_, "amin")),
                     (np.prod, _prod), (np.reshape, _reshape), (np.transpose, _transpose),
                     (np.concatenate, _concatenate), (np.stack, _stack), (np.where, _where),
                     (np.clip, _clip), (np.squeeze, _squeeze), (np.expand_dims, _expand_dims),
                     (np.broadcast_to, _broadcast_to), (np.swapaxes, _swapaxes), (np.moveaxis, _moveaxis),
                     (np.dot, _dot), (np.ravel, _ravel), (np.take, _take), (np.split, _split),
                     (np.flip, _flip), (np.linalg.norm, _linalg_norm)):
    set_function(_func, _impl)

# Functions whose result has no gradient (indexes, shapes, tests, constants of the same shape).
for _func in (np.shape, np.ndim, np.size, np.result_type, np.argmax, np.argmin, np.argsort, np.nonzero,
              np.count_nonzero, np.any, np.all, np.allclose, np.isclose, np.array_equal, np.array_equiv,
              np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.searchsorted, np.iscomplexobj,
              np.isrealobj, np.around, np.round, np.copyto, np.array_repr, np.array_str, np.array2string,
              np.histogram, np.save, np.savez, np.savetxt, np.may_share_memory, np.shares_memory, np.can_cast,
              np.bincount, np.digitize, np.argwhere, np.flatnonzero):
    set_function(_func, differentiable=False)
