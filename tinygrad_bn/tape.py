"""``GradientTape`` (compiled, in ``_engine.pyx``): records ops while active and
walks the record backwards in ``gradient()``; also ``gradcheck``.

The walk is a loop over a list, newest record first (no recursion, no
topological sort): the order in which ops ran is already a valid order.
"""
import numpy as np

from ._engine import GradientTape, Tensor, as_array, recording, stop_recording_all

__all__ = ["GradientTape", "gradcheck", "gradgradcheck", "GradcheckError", "recording", "stop_recording_all"]


class GradcheckError(AssertionError):
    """The tape's gradient disagrees with finite differences."""


def _float64_inputs(fn_name, inputs):
    """The inputs as arrays, floating ones in float64, and the indexes of the floating ones."""
    arrays = []
    for x in inputs:
        a = np.asarray(as_array(x))
        arrays.append(a.astype(np.float64) if a.dtype.kind == "f" else a)
    checked = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    if not checked:
        raise ValueError(f"{fn_name}: no floating-point input to check")
    return arrays, checked


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0, raise_exception=True):
    """Compare the tape's gradient of ``fn`` with central finite differences, in float64.

    Every floating-point input is converted to float64 and checked; integer and
    boolean inputs (labels, indexes) pass through unchanged.  The output is
    contracted with a fixed random cotangent ``u`` so one scalar
    ``sum(u * fn(*inputs))`` is differentiated, which tests the full vjp.
    Returns True, or raises :class:`GradcheckError` naming the input, the
    element and both values (returns False with ``raise_exception=False``).
    """
    arrays, checked = _float64_inputs("gradcheck", inputs)
    tensors = [Tensor(a) for a in arrays]
    with GradientTape() as tape:
        tape.watch([tensors[i] for i in checked])
        out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(out.shape)
    grads = tape.gradient(out, [tensors[i] for i in checked], output_gradients=u)

    def scalar(args):
        return float(np.sum(u * np.asarray(fn(*[Tensor(a) for a in args]).data, dtype=np.float64)))

    for i, g in zip(checked, grads):
        analytic = np.zeros(arrays[i].shape) if g is None else np.asarray(g.data, dtype=np.float64)
        numeric = np.zeros(arrays[i].shape)
        for j in range(arrays[i].size):
            args = list(arrays)
            plus = arrays[i].copy()
            plus.flat[j] += eps
            minus = arrays[i].copy()
            minus.flat[j] -= eps
            args[i] = plus
            f_plus = scalar(args)
            args[i] = minus
            f_minus = scalar(args)
            numeric.flat[j] = (f_plus - f_minus) / (2 * eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol, equal_nan=False):
            bad = np.unravel_index(np.argmax(np.abs(analytic - numeric)), analytic.shape) if analytic.size else ()
            msg = (f"gradcheck: input {i} (shape {arrays[i].shape}): tape gradient "
                   f"{analytic[bad]!r} != finite difference {numeric[bad]!r} at index {bad}; "
                   f"max abs error {np.max(np.abs(analytic - numeric)):.3e}")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0, raise_exception=True):
    """Check second derivatives: the tape's gradient of the VJP of ``fn`` against
    central finite differences of that VJP, in float64.

    The VJP ``x -> d sum(u * fn(x)) / dx`` (fixed random ``u``) is computed by an
    inner tape while an outer tape records, and contracted with fixed random
    directions ``v``; :func:`gradcheck` then compares the outer tape's gradient
    of ``sum(v * vjp(x))`` with finite differences of it.  This is PyTorch's
    ``gradgradcheck`` for this engine.
    """
    arrays, checked = _float64_inputs("gradgradcheck", inputs)
    out = fn(*[Tensor(a) for a in arrays])
    if not isinstance(out, Tensor):
        raise TypeError(f"gradgradcheck: fn must return a Tensor, got {type(out).__name__}")
    rng = np.random.default_rng(seed + 1)
    u = rng.standard_normal(out.shape)
    vs = [rng.standard_normal(arrays[i].shape) for i in checked]

    def contracted_vjp(*ts):
        with GradientTape() as inner:
            inner.watch([ts[i] for i in checked])
            y = fn(*ts)
        grads = inner.gradient(y, [ts[i] for i in checked], output_gradients=u)
        total = Tensor(np.float64(0.0))
        for g, v in zip(grads, vs):
            if g is not None:
                total = total + (g * v).sum()
        return total

    return gradcheck(contracted_vjp, *arrays, eps=eps, atol=atol, rtol=rtol, seed=seed,
                     raise_exception=raise_exception)
