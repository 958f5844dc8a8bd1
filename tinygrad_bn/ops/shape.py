"""Shape primitives: reshape, transpose, expand_dims, squeeze, broadcast_to,
concatenate, stack and indexing.  They move values around; their vjps move the
gradient back."""
import numpy as np

from .registry import op, unbroadcast


@op(nin=1)
class reshape:
    """Give ``x`` a new shape with the same number of elements."""
    def forward(x, newshape):
        x = np.asarray(x)
        return x.reshape(newshape), x.shape

    def backward(shape, g, needs):
        return (np.reshape(g, shape),)


@op
class transpose:
    """Permute axes (reverse them by default)."""
    def forward(x, axes=None):
        x = np.asarray(x)
        if axes is None:
            axes = tuple(range(x.ndim))[::-1]
        return np.transpose(x, axes), tuple(np.argsort(axes))

    def backward(inverse, g, needs):
        return (np.transpose(g, inverse),)


@op(nin=1)
class expand_dims:
    """Insert a size-1 axis at ``axis``."""
    def forward(x, axis):
        x = np.asarray(x)
        return np.expand_dims(x, axis), x.shape

    def backward(shape, g, needs):
        return (np.reshape(g, shape),)


@op
class squeeze:
    """Remove size-1 axes (all of them, or those in ``axis``)."""
    def forward(x, axis=None):
        x = np.asarray(x)
        return np.squeeze(x, axis), x.shape

    def backward(shape, g, needs):
        return (np.reshape(g, shape),)


@op(nin=1)
class broadcast_to:
    """Broadcast ``x`` to ``shape`` (the result is a read-only view)."""
    def forward(x, shape):
        x = np.asarray(x)
        return np.broadcast_to(x, shape), x.shape

    def backward(shape, g, needs):
        return (unbroadcast(g, shape),)


@op(name="concatenate")
class _concatenate:
    """Join tensors along an existing axis."""
    def forward(*arrays, axis=0):
        arrays = [np.asarray(a) for a in arrays]
        out = np.concatenate(arrays, axis=axis)
        ax = axis % out.ndim
        return out, (ax, np.cumsum([a.shape[ax] for a in arrays])[:-1])

    def backward(res, g, needs):
        ax, cuts = res
        return tuple(np.split(g, cuts, axis=ax))


@op(name="stack")
class _stack:
    """Join tensors along a new axis."""
    def forward(*arrays, axis=0):
        out = np.stack([np.asarray(a) for a in arrays], axis=axis)
        return out, (axis % out.ndim, len(arrays))

    def backward(res, g, needs):
        ax, n = res
        return tuple(np.take(g, i, axis=ax) for i in range(n))


def concatenate(arrays, axis=0):
    """Join a sequence of tensors along an existing axis (NumPy's signature)."""
    return _concatenate(*arrays, axis=axis)


def stack(arrays, axis=0):
    """Join a sequence of tensors along a new axis (NumPy's signature)."""
    return _stack(*arrays, axis=axis)


def _plain_index(index):
    """Turn Tensors inside an index into arrays."""
    from .._engine import Tensor
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_basic(index):
    """True for indexes made of ints, slices, None and Ellipsis (no repeats possible)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer)) for i in items)


@op(name="getitem", operator="getitem", nin=1)
class getitem:
    """``x[index]``: basic slicing and integer/boolean array indexing.

    The backward scatters the gradient back; repeated integer indexes add up.
    """
    def forward(x, index):
        x = np.asarray(x)
        index = _plain_index(index)
        if isinstance(index, list):
            index = np.asarray(index)
        return x[index], (x.shape, x.dtype, index)

    def backward(res, g, needs):
        shape, dtype, index = res
        out = np.zeros(shape, dtype)
        if _is_basic(index):
            out[index] = g
        else:
            np.add.at(out, index, g)
        return (out,)
