"""TensorFlow's top-level functions, with TF's signatures where TF and NumPy differ.

``import tinygrad_bn as tf`` then runs TF2 code that stays within what the
engine implements: ``tf.one_hot(labels, depth)``, ``tf.reshape(x, shape)``,
``tf.constant(1)`` (int32, as in TF), ``tf.cast``, ``tf.reduce_sum(x, axis=1)``,
``tf.zeros((2, 3))`` (float32, TF's default), ``tf.range``, ``tf.math.*``,
``tf.linalg.matmul``, ``@tf.function``.  The NumPy-named ops (``sum``,
``mean``, ``concatenate`` ...) keep NumPy's signatures.
"""
import builtins
import enum
import functools

import numpy as np

from ._engine import Tensor, as_array, wrap
from .ops import elementwise as _E
from .ops import linalg as _L
from .ops import reductions as _R
from .ops import shape as _S
from . import linalg as _linalg
from .linalg import norm

__all__ = ["constant", "convert_to_tensor", "cast", "one_hot", "reduce_sum", "reduce_mean", "reduce_max",
           "reduce_min", "reduce_prod", "reduce_logsumexp", "reduce_variance", "reduce_std", "reduce_any",
           "reduce_all", "zeros", "ones", "zeros_like", "ones_like", "fill", "range", "concat", "add_n",
           "clip_by_value", "argmax", "argmin", "equal", "not_equal", "less", "less_equal", "greater",
           "greater_equal", "shape", "size", "rank", "identity", "function", "newaxis", "bool",
           "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "is_tensor",
           "linspace", "norm", "clip_by_norm", "clip_by_global_norm", "gather", "tile", "print", "cond",
           "while_loop", "einsum", "UnconnectedGradients"]

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64, uint8 = np.int8, np.int16, np.int32, np.int64, np.uint8
bool = np.bool_  # noqa: A001 - TF's name (tf.bool)
newaxis = None


class UnconnectedGradients(str, enum.Enum):
    """``tf.UnconnectedGradients``: what ``gradient``/``jacobian`` return for a source the
    target does not depend on (``NONE``: None, ``ZERO``: zeros).  The members are the strings
    ``"none"`` and ``"zero"``, which the tape takes as well."""
    NONE = "none"
    ZERO = "zero"


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(as_array(x))


def constant(value, dtype=None, shape=None, name=None):
    """``tf.constant``: a Tensor from any array-like (a Python int is int32, a float float32).
    ``shape`` reshapes a value of the same size or fills it from a scalar."""
    t = Tensor(value, dtype)
    if shape is not None:
        shape = tuple(int(s) for s in ((shape,) if isinstance(shape, (int, np.integer)) else shape))
        arr = t.data
        if np.size(arr) == 1:
            t = wrap(np.full(shape, np.asarray(arr).reshape(()), dtype=arr.dtype))
        elif np.size(arr) == int(np.prod(shape)):
            t = wrap(np.asarray(arr).reshape(shape))
        else:
            raise TypeError(f"constant: cannot give a value of shape {np.shape(arr)} the shape {shape}")
    return t


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """``tf.convert_to_tensor``: Tensors pass through (a Var gives a snapshot of its value)."""
    if isinstance(value, Tensor) and type(value) is Tensor and (dtype is None or value.dtype == np.dtype(dtype)):
        return value
    if dtype is None and dtype_hint is not None and not isinstance(value, (Tensor, np.ndarray, np.generic)):
        dtype = dtype_hint
    return Tensor(value, dtype)


def is_tensor(x):
    """True for Tensors and Vars (``tf.is_tensor``)."""
    return isinstance(x, Tensor)


def cast(x, dtype, name=None):
    """``tf.cast``: ``x`` in ``dtype`` (differentiable between float dtypes)."""
    return _E.cast(x, dtype)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """``tf.one_hot``: a new axis of size ``depth`` (last by default, or ``axis``) holding
    ``on_value`` (1) at each index and ``off_value`` (0) elsewhere; indices outside
    [0, depth) give an all-``off_value`` row, as in TF.  float32 unless ``dtype`` or the values say."""
    idx = _data(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got dtype {idx.dtype}")
    depth = int(depth)
    if depth < 0:
        raise ValueError(f"one_hot: depth must be >= 0, got {depth}")
    if dtype is None:       # TF: the dtype of on_value (or off_value), else float32
        given = on_value if on_value is not None else off_value
        dtype = _data(given).dtype if given is not None else np.float32
    dtype = np.dtype(dtype)
    on = np.asarray(1 if on_value is None else _data(on_value)).astype(dtype)
    off = np.asarray(0 if off_value is None else _data(off_value)).astype(dtype)
    out = np.where(idx[..., None] == np.arange(depth), on, off).astype(dtype)
    if axis is not None and axis != -1:
        nd = out.ndim
        if not -nd <= axis < nd:
            raise ValueError(f"one_hot: axis {axis} is out of range for indices of rank {idx.ndim}")
        out = np.moveaxis(out, -1, axis % nd)
    return wrap(np.ascontiguousarray(out))


def _reduction(fn, name):
    def reduce(input_tensor, axis=None, keepdims=False, name=None):
        if isinstance(axis, list):
            axis = tuple(axis)
        return fn(input_tensor, axis=axis, keepdims=keepdims)
    reduce.__name__ = reduce.__qualname__ = name
    reduce.__doc__ = f"``tf.{name}(input_tensor, axis=None, keepdims=False)``."
    return reduce


reduce_sum = _reduction(_R.sum, "reduce_sum")
reduce_mean = _reduction(_R.mean, "reduce_mean")
reduce_max = _reduction(_R.max_, "reduce_max")
reduce_min = _reduction(_R.min_, "reduce_min")
reduce_prod = _reduction(_R.prod, "reduce_prod")
reduce_logsumexp = _reduction(_R.logsumexp, "reduce_logsumexp")
reduce_variance = _reduction(_R.var, "reduce_variance")
reduce_std = _reduction(_R.std, "reduce_std")


def reduce_any(input_tensor, axis=None, keepdims=False, name=None):
    """``tf.reduce_any`` (not differentiable)."""
    return wrap(np.any(_data(input_tensor), axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=keepdims))


def reduce_all(input_tensor, axis=None, keepdims=False, name=None):
    """``tf.reduce_all`` (not differentiable)."""
    return wrap(np.all(_data(input_tensor), axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=keepdims))


def _shape_arg(shape, fn):
    if isinstance(shape, Tensor):
        shape = shape.data
    try:
        return tuple(int(s) for s in ((shape,) if np.ndim(shape) == 0 else shape))
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: shape must be a sequence of integers, got {shape!r}") from None


def zeros(shape, dtype=np.float32, name=None):
    """``tf.zeros``: float32 by default (NumPy's default is float64)."""
    return wrap(np.zeros(_shape_arg(shape, "zeros"), dtype))


def ones(shape, dtype=np.float32, name=None):
    """``tf.ones``: float32 by default (NumPy's default is float64)."""
    return wrap(np.ones(_shape_arg(shape, "ones"), dtype))


def zeros_like(input, dtype=None, name=None):  # noqa: A002 - TF's name
    """``tf.zeros_like`` (a constant)."""
    return wrap(np.zeros_like(_data(input), dtype=dtype))


def ones_like(input, dtype=None, name=None):  # noqa: A002 - TF's name
    """``tf.ones_like`` (a constant)."""
    return wrap(np.ones_like(_data(input), dtype=dtype))


def fill(dims, value, name=None):
    """``tf.fill``: ``dims`` filled with ``value`` (its dtype by TF's rules)."""
    v = as_array(value)
    return wrap(np.full(_shape_arg(dims, "fill"), v, dtype=np.asarray(v).dtype))


def range(start, limit=None, delta=1, dtype=None, name=None):  # noqa: A001 - TF's name
    """``tf.range``: int32 for int arguments, float32 for floats (or ``dtype``)."""
    if limit is None:
        start, limit = 0, start
    vals = [_data(v) if isinstance(v, Tensor) else v for v in (start, limit, delta)]
    if dtype is None:
        kinds = [np.asarray(v).dtype.kind for v in vals]
        dtype = np.float32 if "f" in kinds else np.int32
    if delta == 0:
        raise ValueError("range: delta must not be 0")
    return wrap(np.arange(*vals, dtype=dtype))


def linspace(start, stop, num, name=None, axis=0):
    """``tf.linspace`` (float32 for Python numbers)."""
    dt = np.float32 if isinstance(start, (int, float)) and isinstance(stop, (int, float)) else None
    return wrap(np.linspace(_data(start), _data(stop), int(num), axis=axis, dtype=dt))


def concat(values, axis, name=None):
    """``tf.concat(values, axis)``."""
    return _S.concatenate(values, axis=axis)


def add_n(inputs, name=None):
    """``tf.add_n``: the sum of a list of tensors of the same shape."""
    inputs = list(inputs)
    if not inputs:
        raise ValueError("add_n: needs at least one input")
    total = inputs[0]
    for x in inputs[1:]:
        total = _E.add(total, x)
    return total if isinstance(total, Tensor) else Tensor(total)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``tf.clip_by_value`` (gradient 1 inside the range, 0 outside)."""
    return _E.clip(t, clip_value_min, clip_value_max)


def identity(input, name=None):  # noqa: A002
    """``tf.identity``: the same value, differentiable (a Var gives a snapshot)."""
    return input if type(input) is Tensor else _E.multiply(input, 1)


def argmax(input, axis=None, output_type=np.int64, name=None):  # noqa: A002
    """Index of the maximum along ``axis`` (NumPy's axis=None flattens; not differentiable)."""
    return wrap(np.argmax(_data(input), axis=axis).astype(output_type))


def argmin(input, axis=None, output_type=np.int64, name=None):  # noqa: A002
    """Index of the minimum along ``axis`` (not differentiable)."""
    return wrap(np.argmin(_data(input), axis=axis).astype(output_type))


def _comparison(ufunc, name):
    def compare(x, y, name=None):
        return wrap(ufunc(_data(x), _data(y)))
    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"Elementwise ``{name}`` as a bool tensor (not differentiable)."
    return compare


equal = _comparison(np.equal, "equal")
not_equal = _comparison(np.not_equal, "not_equal")
less = _comparison(np.less, "less")
less_equal = _comparison(np.less_equal, "less_equal")
greater = _comparison(np.greater, "greater")
greater_equal = _comparison(np.greater_equal, "greater_equal")


def shape(input, out_type=np.int32, name=None):  # noqa: A002
    """``tf.shape``: the shape as an int32 tensor."""
    return wrap(np.asarray(np.shape(_data(input)), dtype=out_type))


def size(input, out_type=np.int32, name=None):  # noqa: A002
    """``tf.size``: the number of elements."""
    return wrap(np.asarray(np.size(_data(input)), dtype=out_type))


def rank(input, name=None):  # noqa: A002
    """``tf.rank``: the number of dimensions."""
    return wrap(np.int32(np.ndim(_data(input))))


def function(func=None, input_signature=None, autograph=True, jit_compile=None, reduce_retracing=False,
             experimental_implements=None, experimental_autograph_options=None, experimental_attributes=None,
             experimental_relax_shapes=None, experimental_compile=None, experimental_follow_type_hints=None):
    """``tf.function`` with TF's signature, so decorated code runs.  It runs the
    function eagerly (no graph is traced, nothing is compiled): the same results,
    the speed of eager code."""
    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            return fn(*args, **kwargs)
        run.python_function = fn
        return run
    return decorate if func is None else decorate(func)


# -- norms and clipping ----------------------------------------------------------------------
def clip_by_norm(t, clip_norm, axes=None, name=None):
    """``tf.clip_by_norm``: ``t * clip_norm / max(l2norm(t), clip_norm)``, the L2 norm taken over
    ``axes`` (all of them by default).  As in TF, a zero norm gives a finite gradient."""
    if not isinstance(t, Tensor):
        t = Tensor(t)
    if t.dtype.kind != "f":
        raise TypeError(f"clip_by_norm: t must be floating point, got dtype {t.dtype}")
    if isinstance(axes, list):
        axes = tuple(axes)
    cn = _data(clip_norm)
    if np.ndim(cn) != 0:
        raise ValueError(f"clip_by_norm: clip_norm must be a scalar, got shape {np.shape(cn)}")
    if not cn > 0:
        raise ValueError(f"clip_by_norm: clip_norm must be > 0, got {cn!r}")
    l2sum = _R.sum(_E.square(t), axis=axes, keepdims=True)
    positive = l2sum.data > 0
    l2norm = _E.where(positive, _E.sqrt(_E.where(positive, l2sum, 1)), l2sum)   # sqrt without inf at 0
    return _E.divide(_E.multiply(t, clip_norm), _E.maximum(l2norm, clip_norm))


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """``tf.clip_by_global_norm``: every tensor times ``clip_norm / max(global_norm, clip_norm)``;
    returns ``(list_clipped, global_norm)``.  ``None`` entries stay ``None``; a NaN or inf
    global norm makes every clipped value NaN, as in TF."""
    t_list = _linalg._tensor_list(t_list, "clip_by_global_norm")
    cn = _data(clip_norm)
    if np.ndim(cn) != 0:
        raise ValueError(f"clip_by_global_norm: clip_norm must be a scalar, got shape {np.shape(cn)}")
    if not cn > 0:
        raise ValueError(f"clip_by_global_norm: clip_norm must be > 0, got {cn!r}")
    if use_norm is None:
        use_norm = _linalg.global_norm(t_list)
    use_norm = use_norm if isinstance(use_norm, Tensor) else Tensor(use_norm)
    scale = _E.divide(clip_norm, _E.maximum(use_norm, clip_norm))
    if not np.isfinite(use_norm.data):
        with np.errstate(invalid="ignore"):
            scale = _E.add(scale, _E.subtract(use_norm, use_norm))   # NaN, as in TF
    out = []
    for t in t_list:
        if t is None:
            out.append(None)
            continue
        dt = _data(t).dtype
        s = _E.cast(scale, dt) if dt.kind == "f" and scale.dtype != dt else scale
        out.append(_E.multiply(t, s))
    return out, use_norm


# -- gather and tile ----------------------------------------------------------------------------
def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    """``tf.gather``: slices of ``params`` along ``axis`` (0 by default) at ``indices`` (any
    shape); the result has shape ``params.shape[:axis] + indices.shape + params.shape[axis+1:]``.
    Differentiable (repeated indices add up).  Indices must lie in ``[0, params.shape[axis])``,
    as TF checks on CPU; only ``batch_dims=0`` is implemented."""
    bd = np.asarray(_data(batch_dims))
    if bd.ndim != 0 or bd.dtype.kind not in "iu" or int(bd) != 0:
        raise NotImplementedError(f"gather: batch_dims={batch_dims!r} is not implemented (only batch_dims=0)")
    if not isinstance(params, Tensor):
        params = Tensor(params)
    idx = np.asarray(_data(indices))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather: indices must be integers (int32/int64), got dtype {idx.dtype}")
    nd = len(params.shape)
    ax = 0 if axis is None else _data(axis)
    if np.ndim(ax) != 0 or np.asarray(ax).dtype.kind not in "iu":
        raise TypeError(f"gather: axis must be an integer, got {axis!r}")
    ax = int(ax)
    if not -nd <= ax < nd:
        raise ValueError(f"gather: axis {ax} is out of range for params of shape {tuple(params.shape)}")
    ax %= nd
    n = params.shape[ax]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].flat[0]
        raise ValueError(f"gather: index {int(bad)} is outside [0, {n}) (axis {ax} of params of shape "
                         f"{tuple(params.shape)})")
    return _S.getitem(params, (slice(None),) * ax + (idx.astype(np.intp, copy=False),))


def tile(input, multiples, name=None):  # noqa: A002 - TF's name
    """``tf.tile``: ``input`` repeated ``multiples[i]`` times along axis ``i`` (one multiple per
    axis); differentiable (broadcast_to + reshape, so the gradient sums the copies)."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    m = np.asarray(_data(multiples))
    if m.dtype.kind not in "iu" or m.ndim != 1:
        raise TypeError(f"tile: multiples must be a 1-D sequence of integers, got {multiples!r}")
    shp = tuple(input.shape)
    if m.shape[0] != len(shp):
        raise ValueError(f"tile: multiples must have one entry per axis of input: got {m.shape[0]} for "
                         f"input of shape {shp}")
    if (m < 0).any():
        raise ValueError(f"tile: multiples must be >= 0, got {m.tolist()}")
    m = [int(v) for v in m]
    if all(v == 1 for v in m):
        return identity(input)
    inter = tuple(v for pair in zip([1] * len(shp), shp) for v in pair)
    wide = tuple(v for pair in zip(m, shp) for v in pair)
    out = _S.broadcast_to(_S.reshape(input, inter), wide)
    return _S.reshape(out, tuple(a * b for a, b in zip(m, shp)))


# -- printing and control flow (eager) --------------------------------------------------------
def _format(x, summarize):
    if isinstance(x, Tensor):
        a = np.asarray(x.data)
        fmt = {"int_kind": str, "float_kind": "{:g}".format}
        if a.ndim == 0:
            return fmt["float_kind"](a.item()) if a.dtype.kind == "f" else str(a.item())
        edge = a.size if summarize is None or summarize < 0 else int(summarize)
        return np.array2string(a, threshold=(a.size if summarize is None or summarize < 0 else 2 * edge),
                               edgeitems=max(edge, 1), separator=" ", max_line_width=10 ** 9, formatter=fmt)
    if isinstance(x, np.ndarray):
        return _format(wrap(x), summarize)
    if isinstance(x, list):
        return "[" + ", ".join(_format(v, summarize) for v in x) + "]"
    if isinstance(x, tuple):
        inner = ", ".join(_format(v, summarize) for v in x)
        return "(" + inner + ("," if len(x) == 1 else "") + ")"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_format(v, summarize)}" for k, v in x.items()) + "}"
    return str(x)


def print(*inputs, output_stream=None, summarize=3, sep=" ", end="\n", name=None):  # noqa: A001 - TF's name
    """``tf.print``: Tensors print as their values (the first and last ``summarize`` elements of
    each long axis; ``summarize=-1`` or None prints all), nested lists/tuples/dicts of them too.
    ``output_stream`` is a file object (``sys.stderr`` by default, as TF), or the strings
    ``'stderr'``/``'stdout'``/``'file://<path>'`` (appended to)."""
    import sys
    text = sep.join(_format(x, summarize) for x in inputs) + end
    stream = sys.stderr if output_stream is None else output_stream
    if isinstance(stream, str):
        if stream in ("stderr", "stdout"):
            stream = getattr(sys, stream)
        elif stream.startswith("file://"):
            with builtins.open(stream[len("file://"):], "a", encoding="utf-8") as f:
                f.write(text)
            return None
        else:
            raise ValueError(f"print: output_stream must be a file object, 'stderr', 'stdout' or "
                             f"'file://<path>', got {stream!r}")
    if not hasattr(stream, "write"):
        raise TypeError(f"print: output_stream must have a write() method, got {type(stream).__name__}")
    stream.write(text)
    return None


def _truth(pred, fn):
    v = np.asarray(_data(pred))
    if v.size != 1:
        raise ValueError(f"{fn}: the condition must be a scalar, got shape {v.shape}")
    return builtins.bool(v.reshape(()))


def cond(pred, true_fn=None, false_fn=None, name=None):
    """``tf.cond``, eagerly: calls ``true_fn()`` if ``pred`` (a bool or scalar tensor) holds,
    else ``false_fn()``, and returns its result (gradients flow through the branch taken)."""
    if not callable(true_fn):
        raise TypeError(f"cond: true_fn must be callable, got {type(true_fn).__name__}")
    if not callable(false_fn):
        raise TypeError(f"cond: false_fn must be callable, got {type(false_fn).__name__}")
    return true_fn() if _truth(pred, "cond") else false_fn()


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10, back_prop=True,
               swap_memory=False, maximum_iterations=None, name=None):
    """``tf.while_loop``, eagerly: ``while cond(*loop_vars): loop_vars = body(*loop_vars)``, at
    most ``maximum_iterations`` times.  ``loop_vars`` is a tuple/list (or one tensor) and the
    result has the same structure; gradients flow through the iterations run."""
    if not callable(cond) or not callable(body):
        raise TypeError("while_loop: cond and body must be callable, got "
                        f"{type(cond).__name__} and {type(body).__name__}")
    single = not isinstance(loop_vars, (list, tuple))
    kind = list if isinstance(loop_vars, list) else tuple
    vars_ = [loop_vars] if single else list(loop_vars)
    if not vars_:
        raise ValueError("while_loop: loop_vars must not be empty")
    if maximum_iterations is not None:
        maximum_iterations = int(_data(maximum_iterations))
        if maximum_iterations < 0:
            raise ValueError(f"while_loop: maximum_iterations must be >= 0, got {maximum_iterations}")
    count = 0
    while (maximum_iterations is None or count < maximum_iterations) and _truth(cond(*vars_), "while_loop"):
        new = body(*vars_)
        if len(vars_) == 1 and not isinstance(new, (list, tuple)):
            new = [new]
        if not isinstance(new, (list, tuple)) or len(new) != len(vars_):
            got = len(new) if isinstance(new, (list, tuple)) else type(new).__name__
            raise ValueError(f"while_loop: body must return {len(vars_)} loop variable(s) (the structure of "
                             f"loop_vars), got {got}")
        vars_ = list(new)
        count += 1
    return vars_[0] if single else kind(vars_)


# -- einsum ---------------------------------------------------------------------------------------
def _einsum_spec(equation, n):
    eq = equation.replace(" ", "")
    if "..." in eq:
        raise NotImplementedError("einsum: ellipsis ('...') subscripts are not implemented")
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != n:
        raise ValueError(f"einsum: equation {equation!r} has {len(ins)} operand(s), got {n} input(s)")
    letters = set("".join(ins) + out)
    if not all(c.isalpha() for c in letters):
        raise ValueError(f"einsum: subscripts must be letters, got {equation!r}")
    if not arrow:        # implicit output: the letters that appear once, in alphabetical order
        joined = "".join(ins)
        out = "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    for s in ins + [out]:
        if len(set(s)) != len(s):
            raise NotImplementedError(f"einsum: repeated subscripts within one operand ({s!r} in {equation!r}: "
                                      "traces and diagonals) are not implemented")
    if set(out) - set("".join(ins)):
        raise ValueError(f"einsum: output subscripts {out!r} do not all appear in the inputs of {equation!r}")
    return ins, out


def _sum_out(x, subs, keep):
    """Sum away the letters of ``subs`` not in ``keep``."""
    axes = tuple(i for i, c in enumerate(subs) if c not in keep)
    if axes:
        x = _R.sum(x, axis=axes)
        subs = "".join(c for c in subs if c in keep)
    return x, subs


def einsum(equation, *inputs, **kwargs):
    """``tf.einsum`` for one or two operands without repeated subscripts inside an operand
    (no traces/diagonals, no ``...``): sums, transposes, outer, inner, matrix and batched
    products.  Composed of sum, transpose, reshape and matmul, so it is differentiable."""
    ins, out = _einsum_spec(equation, len(inputs))
    xs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    for x, s in zip(xs, ins):
        if len(x.shape) != len(s):
            raise ValueError(f"einsum: operand of shape {tuple(x.shape)} does not match subscripts {s!r} "
                             f"in {equation!r}")
    if len(xs) == 1:
        x, s = _sum_out(xs[0], ins[0], out)
        return x if s == out else _S.transpose(x, tuple(s.index(c) for c in out))
    if len(xs) != 2:
        raise NotImplementedError(f"einsum: only one or two operands are implemented, got {len(xs)}")
    (a, b), (sa, sb) = xs, ins
    dims = {}
    for x, subs in ((a, sa), (b, sb)):
        for c, d in zip(subs, x.shape):
            if dims.setdefault(c, d) != d:
                raise ValueError(f"einsum: subscript {c!r} has sizes {dims[c]} and {d} in {equation!r}")
    a, sa = _sum_out(a, sa, sb + out)          # letters only in one operand and not in the output
    b, sb = _sum_out(b, sb, sa + out)
    batch = [c for c in sa if c in sb and c in out]
    contract = [c for c in sa if c in sb and c not in out]
    left = [c for c in sa if c not in sb]
    right = [c for c in sb if c not in sa]

    def size(cs):
        n = 1
        for c in cs:
            n *= dims[c]
        return n

    a3 = _S.reshape(_S.transpose(a, tuple(sa.index(c) for c in batch + left + contract)),
                    (size(batch), size(left), size(contract)))
    b3 = _S.reshape(_S.transpose(b, tuple(sb.index(c) for c in batch + contract + right)),
                    (size(batch), size(contract), size(right)))
    prod = _S.reshape(_L.matmul(a3, b3), tuple(dims[c] for c in batch + left + right))
    order = "".join(batch + left + right)
    return prod if order == out else _S.transpose(prod, tuple(order.index(c) for c in out))
