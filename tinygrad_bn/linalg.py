"""``tinygrad_bn.linalg``: TF's ``tf.linalg`` names."""
import numpy as np

from ._engine import Tensor as _Tensor
from .ops import abs as _abs
from .ops import add as _add
from .ops import matmul as _matmul
from .ops import max as _max
from .ops import power as _power
from .ops import sqrt as _sqrt
from .ops import square as _square
from .ops import squeeze as _squeeze
from .ops import sum as _sum
from .ops import swapaxes as _swapaxes


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, name=None):
    """``tf.linalg.matmul``: ``a @ b`` with optional transposes of the last two axes."""
    if transpose_a or adjoint_a:
        a = _swapaxes(a, -1, -2)
    if transpose_b or adjoint_b:
        b = _swapaxes(b, -1, -2)
    return _matmul(a, b)


def _rank(x):
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def _int_axis(a, fn, rank):
    if isinstance(a, _Tensor):
        a = a.data
    if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) \
            and not (isinstance(a, np.ndarray) and a.ndim == 0 and a.dtype.kind in "iu"):
        raise ValueError(f"{fn}: 'axis' must be None, an integer, or a tuple of 2 unique integers, got {a!r}")
    a = int(a)
    if not -rank <= a < rank:
        raise ValueError(f"{fn}: axis {a} is out of range for a tensor of rank {rank}")
    return a % rank


def _vector_norm(x, ord, axes, keepdims):
    if ord in ("euclidean", 2):
        return _sqrt(_sum(_square(x), axis=axes, keepdims=keepdims))
    if ord == 1:
        return _sum(_abs(x), axis=axes, keepdims=keepdims)
    if ord == np.inf:
        return _max(_abs(x), axis=axes, keepdims=keepdims)
    return _power(_sum(_power(_abs(x), ord), axis=axes, keepdims=keepdims), 1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    """'fro'/'euclidean', 1 (the largest column sum of |x|) or inf (the largest row sum)."""
    if ord in ("fro", "euclidean"):
        return _sqrt(_sum(_square(x), axis=axes, keepdims=keepdims))
    rows, cols = axes
    sum_axis, max_axis = (rows, cols) if ord == 1 else (cols, rows)
    out = _max(_sum(_abs(x), axis=sum_axis, keepdims=True), axis=max_axis, keepdims=True)
    return out if keepdims else _squeeze(out, axis=axes)


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None, keep_dims=None):
    """``tf.norm`` / ``tf.linalg.norm``: vector and matrix norms, composed of differentiable
    ops (so gradients of any order work; as in TF, the 2-norm of zeros has no finite gradient).

    ``axis=None``: the norm of all elements as one vector (``'euclidean'``, 1, ``np.inf`` or any
    ``p > 0``); an int: vector norms along it; a 2-tuple ``(rows, cols)``: matrix norms --
    ``'euclidean'``/``'fro'`` (Frobenius), 1 (max column sum of ``|x|``), ``np.inf`` (max row
    sum).  The spectral matrix norm (``ord=2`` with a 2-tuple axis) is not implemented.
    """
    fn = "norm"
    keepdims = bool(keep_dims if keepdims is None else keepdims)
    if not isinstance(tensor, _Tensor):
        tensor = _Tensor(tensor)
    rank = _rank(tensor)
    if tensor.dtype.kind not in "fc":
        raise TypeError(f"{fn}: tensor must be floating point, got dtype {tensor.dtype}")
    if isinstance(axis, (tuple, list)) and len(axis) == 2:
        axes = tuple(_int_axis(a, fn, rank) for a in axis)
        if axes[0] == axes[1]:
            raise ValueError(f"{fn}: 'axis' must be None, an integer, or a tuple of 2 unique integers, "
                             f"got {tuple(axis)}")
        if isinstance(ord, str) and ord not in ("euclidean", "fro") or \
                not isinstance(ord, str) and ord not in (1, 2, np.inf):
            raise ValueError(f"{fn}: 'ord' must be a supported matrix norm in ['euclidean', 'fro', 1, 2, inf], "
                             f"got {ord!r}")
        if ord == 2:
            raise NotImplementedError(f"{fn}: the spectral matrix norm (ord=2 with axis={tuple(axis)}) "
                                      "is not implemented")
        return _matrix_norm(tensor, ord, axes, keepdims)
    if isinstance(axis, (tuple, list)):
        if len(axis) != 1:
            raise ValueError(f"{fn}: 'axis' must be None, an integer, or a tuple of 2 unique integers, "
                             f"got {tuple(axis)}")
        axis = axis[0]
    axes = None if axis is None else _int_axis(axis, fn, rank)
    ok = ord == "euclidean" or not isinstance(ord, (str, bool, np.bool_)) and np.isscalar(ord) \
        and np.isreal(ord) and ord > 0
    if not ok:
        raise ValueError(f"{fn}: 'ord' must be a supported vector norm ('euclidean', 1, 2, inf or a real "
                         f"p > 0), got {ord!r}")
    return _vector_norm(tensor, ord, axes, keepdims)


def _tensor_list(t_list, fn):
    """``t_list`` as a list, or TypeError when it is not a sequence of tensors."""
    if isinstance(t_list, (_Tensor, np.ndarray, str)) or not hasattr(t_list, "__iter__"):
        raise TypeError(f"{fn}: t_list must be a sequence of tensors, got {type(t_list).__name__}")
    return list(t_list)


def global_norm(t_list, name=None):
    """``tf.linalg.global_norm``: ``sqrt(sum(l2norm(t) ** 2 for t in t_list))``; ``None``
    entries are ignored."""
    total = None
    for t in _tensor_list(t_list, "global_norm"):
        if t is None:
            continue
        s = _sum(_square(t))
        total = s if total is None else _add(total, s)
    if total is None:
        return _Tensor(np.float32(0.0))
    return _sqrt(total)
