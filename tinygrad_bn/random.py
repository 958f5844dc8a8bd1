"""``tf.random``: random tensors drawn from the project's generator (``tinygrad_bn.utils``).

Seeds follow TensorFlow's two-level rule:

* no seeds: draws come from the project generator (``tinygrad_bn.utils.global_rng()``);
* ``set_seed(g)`` seeds the project generator (and only it: Python's ``random`` and
  ``np.random`` are left alone), so the sequence of draws after it repeats run to run;
* an op seed (``normal(..., seed=s)``) draws from a stream of its own,
  ``np.random.default_rng((g, s))`` with ``g`` the global seed given to :func:`set_seed`
  (0 when none was given, or when the project generator was reseeded another way since).
  As in TF, repeated calls with the same op seed continue that stream (different values),
  and ``set_seed`` restarts every op-seed stream.
"""
import numpy as np

from ._engine import Tensor, wrap
from . import utils as _utils

__all__ = ["normal", "uniform", "truncated_normal", "shuffle", "set_seed"]

_STATE = {"seed": None, "gen": None, "streams": {}}


def set_seed(seed):
    """``tf.random.set_seed``: seed the project generator (weights, dropout, shuffling and this
    module's draws) and restart the op-seed streams; ``None`` reseeds from the OS."""
    _utils.set_seed(seed)
    _STATE["seed"] = None if seed is None else int(seed)
    _STATE["gen"] = _utils.global_rng()
    _STATE["streams"] = {}


def _rng(seed, fn):
    if seed is None:
        return _utils.global_rng()
    seed = _utils._seed_arg(seed, fn)
    known = _STATE["seed"] if _STATE["gen"] is _utils.global_rng() else None
    key = (0 if known is None else known, seed)
    rng = _STATE["streams"].get(key)
    if rng is None:
        rng = _STATE["streams"][key] = np.random.default_rng(key)
    return rng


def _shape(shape, fn):
    if isinstance(shape, Tensor):
        shape = shape.data
    try:
        dims = tuple(int(s) for s in ((shape,) if np.ndim(shape) == 0 else shape))
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: shape must be a sequence of integers, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{fn}: shape must not have negative dimensions, got {dims}")
    return dims


def _float_dtype(dtype, fn):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fn}: dtype must be a floating-point dtype, got {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"{fn}: dtype must be a floating-point dtype (float16/32/64), got {dt}")
    return dt


def _value(x, fn, arg):
    v = x.data if isinstance(x, Tensor) else np.asarray(x)
    if v.dtype.kind not in "iuf":
        raise TypeError(f"{fn}: {arg} must be a number, got {x!r}")
    return v


def normal(shape, mean=0.0, stddev=1.0, dtype=np.float32, seed=None, name=None):
    """``tf.random.normal``: samples of N(mean, stddev**2) (``mean``/``stddev`` broadcast)."""
    fn = "normal"
    dims, dt = _shape(shape, fn), _float_dtype(dtype, fn)
    z = _rng(seed, fn).standard_normal(dims)
    out = z * _value(stddev, fn, "stddev") + _value(mean, fn, "mean")
    return wrap(np.ascontiguousarray(np.broadcast_to(out, dims), dtype=dt))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=np.float32, seed=None, name=None):
    """``tf.random.truncated_normal``: normal samples, those more than two standard deviations
    from the mean drawn again."""
    fn = "truncated_normal"
    dims, dt = _shape(shape, fn), _float_dtype(dtype, fn)
    rng = _rng(seed, fn)
    z = rng.standard_normal(dims)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    out = z * _value(stddev, fn, "stddev") + _value(mean, fn, "mean")
    return wrap(np.ascontiguousarray(np.broadcast_to(out, dims), dtype=dt))


def uniform(shape, minval=0, maxval=None, dtype=np.float32, seed=None, name=None):
    """``tf.random.uniform``: samples in ``[minval, maxval)``; ``maxval=None`` means 1 for float
    dtypes, integer dtypes need ``maxval`` (and scalar bounds with ``minval < maxval``)."""
    fn = "uniform"
    dims = _shape(shape, fn)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"uniform: dtype must be a float or integer dtype, got {dtype!r}") from None
    rng = _rng(seed, fn)
    lo = _value(minval, fn, "minval")
    if dt.kind in "iu":
        if maxval is None:
            raise ValueError(f"uniform: must specify maxval for integer dtype {dt}")
        hi = _value(maxval, fn, "maxval")
        if np.ndim(lo) or np.ndim(hi):
            raise ValueError("uniform: integer minval and maxval must be scalars, got shapes "
                             f"{np.shape(lo)} and {np.shape(hi)}")
        if not int(lo) < int(hi):
            raise ValueError(f"uniform: need minval < maxval for integer dtype {dt}, got {int(lo)} and {int(hi)}")
        return wrap(rng.integers(int(lo), int(hi), dims, dtype=dt))
    if dt.kind != "f":
        raise ValueError(f"uniform: dtype must be a float or integer dtype, got {dt}")
    hi = np.asarray(1.0) if maxval is None else _value(maxval, fn, "maxval")
    out = np.asarray(rng.random(dims) * (hi - lo) + lo, dtype=dt)
    out = np.where(out >= np.asarray(hi, dt), np.nextafter(np.asarray(hi, dt), np.asarray(lo, dt)), out)
    return wrap(np.ascontiguousarray(np.broadcast_to(out, dims), dtype=dt))


def shuffle(value, seed=None, name=None):
    """``tf.random.shuffle``: ``value`` with its first axis randomly permuted (a gather, so the
    gradient flows back to the original positions)."""
    from .ops import shape as _S
    if not isinstance(value, Tensor):
        value = Tensor(value)
    if len(value.shape) == 0:
        raise ValueError("shuffle: value must have at least one axis, got a scalar")
    perm = _rng(seed, "shuffle").permutation(value.shape[0])
    return _S.getitem(value, perm)
