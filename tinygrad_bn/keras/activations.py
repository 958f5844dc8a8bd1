"""Activation functions by name, as ``tf.keras.activations`` (Keras 3 definitions).

Each function takes a Tensor (or anything array-like) and returns a Tensor.
They are composed from the engine's primitives (``exp``, ``log``, ``where``,
``maximum`` ...), so the tape differentiates them exactly, with no
hand-written vjp; the one new primitive is :func:`erf` (for the exact GELU),
whose vjp ``2/sqrt(pi) * exp(-x**2)`` is written with NumPy operators.

``get(identifier)`` resolves a name (``'relu'``, ``'gelu'`` ...), ``None``
(linear) or a callable; ``serialize(fn)`` gives a built-in's name back and
``deserialize(name)`` the function.

Keras 3 conventions followed here: ``leaky_relu`` has ``negative_slope=0.2``;
``gelu`` is exact (``approximate=False``) by default;
``hard_sigmoid(x) = relu6(x + 3) / 6``; ``softmax``/``log_softmax`` act on
the last axis by default.
"""
import math

import numpy as np

from .. import ops as _ops
from ..ops.registry import REGISTRY as _REGISTRY, op as _op
from ..tensor import Tensor, wrap

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "softplus", "softsign", "swish",
           "silu", "hard_sigmoid", "hard_silu", "hard_swish", "mish", "exponential", "linear",
           "sigmoid", "tanh", "softmax", "log_softmax", "erf", "get", "serialize", "deserialize"]


def _t(x):
    """A Tensor for ``x`` (Tensors pass through; arrays and numbers are wrapped; float64 stays float64)."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "f":
        if arr.dtype.kind not in "biu":
            raise TypeError(f"activation input must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(np.float32)
    return wrap(arr)


def _d(x):
    return x.data


def _num(name, arg, value, lo=None, lo_open=False):
    """A Python float from a numeric argument, with a clear error naming the activation."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: {arg} must be a number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: {arg} must be finite, got {value!r}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name}: {arg} must be {'>' if lo_open else '>='} {lo}, got {value!r}")
    return v


# ---------------------------------------------------------------------------
# erf: a primitive (forward from SciPy when present, else math.erf per element)
# ---------------------------------------------------------------------------

_SPECIAL = []


def _special(name):
    """``scipy.special.<name>`` (vectorised, exact to the last ulp) when SciPy is installed, else
    ``math.<name>`` element by element.  Imported on first use: SciPy takes ~0.3 s to import."""
    if not _SPECIAL:
        try:
            import scipy.special as sp
            _SPECIAL.append(sp)
        except ImportError:  # pragma: no cover - depends on the environment
            _SPECIAL.append(None)
    sp = _SPECIAL[0]
    if sp is not None:
        return getattr(sp, name)
    scalar = np.frompyfunc(getattr(math, name), 1, 1)

    def fn(x):
        x = np.asarray(x)
        return scalar(x).astype(np.result_type(x.dtype, np.float32), copy=False)
    return fn


def _np_erf(x):
    return _special("erf")(x)


def _np_erfc(x):
    return _special("erfc")(x)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

if "erf" in _REGISTRY:           # the engine may grow its own erf: use it
    erf = _REGISTRY["erf"]
else:
    @_op(name="erf")
    class erf:
        """Gauss error function ``2/sqrt(pi) * integral_0^x exp(-t**2) dt``."""
        def forward(x):
            x = np.asarray(x)
            out = _np_erf(x)
            if x.dtype.kind == "f" and out.dtype != x.dtype:
                out = out.astype(x.dtype)
            return out, x

        def backward(x, g, needs):
            # NumPy operators only, so an outer tape can differentiate this again.
            return (g * (_TWO_OVER_SQRT_PI * np.exp(-(x * x))),)


def _with_value(approx, exact):
    """``exact``'s value with ``approx``'s gradient: ``exact + (approx - stop_gradient(approx))``
    (for composites that cancel digits where a NumPy function does not: logaddexp, expm1, erfc).
    The added term is exactly 0 wherever ``approx`` is finite; elsewhere the value is ``exact``."""
    dt = approx.data.dtype
    exact = np.asarray(exact, dtype=dt)
    if np.array_equal(exact, approx.data):
        return approx
    out = _ops.add(_ops.subtract(approx, _ops.stop_gradient(approx)), exact)
    finite = np.isfinite(approx.data)
    if not finite.all():
        out = _ops.where(finite, out, exact)
    return out


# ---------------------------------------------------------------------------
# The activations
# ---------------------------------------------------------------------------

def linear(x):
    """The identity (``activation=None``); arrays come back as Tensors like every activation."""
    return x if isinstance(x, Tensor) else _t(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, Keras's general form.

    With the defaults ``max(x, 0)``.  Otherwise ``x`` where ``x > threshold``
    (clipped at ``max_value`` when given) and
    ``negative_slope * (x - threshold)`` below the threshold.
    """
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _ops.relu(_t(x))
    x = _t(x)
    negative_slope = _num("relu", "negative_slope", negative_slope, lo=0.0)
    threshold = _num("relu", "threshold", threshold)
    if max_value is not None:
        max_value = _num("relu", "max_value", max_value, lo=0.0)
    xd = _d(x)
    zero = np.zeros((), xd.dtype)
    if threshold != 0.0:
        pos = _ops.where(xd > threshold, x, zero)
    else:
        pos = _ops.relu(x)
    if max_value is not None:
        pos = _ops.where(xd >= max_value, np.asarray(max_value, xd.dtype), pos)
    if negative_slope != 0.0:
        below = xd < threshold
        neg = _ops.where(below, _ops.multiply(_ops.subtract(x, threshold), negative_slope), zero)
        pos = _ops.add(pos, neg)
    return pos


def relu6(x):
    """``min(max(x, 0), 6)`` (gradient 1 strictly between 0 and 6, as TF)."""
    x = _t(x)
    xd = _d(x)
    inside = (xd > 0) & (xd < 6)
    return _ops.where(inside, x, np.where(xd >= 6, xd.dtype.type(6), xd.dtype.type(0)))


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (Keras 3 default slope 0.2)."""
    negative_slope = _num("leaky_relu", "negative_slope", negative_slope)
    x = _t(x)
    return _ops.where(_d(x) > 0, x, _ops.multiply(x, negative_slope))


def elu(x, alpha=1.0):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""
    alpha = _num("elu", "alpha", alpha)
    x = _t(x)
    xd = _d(x)
    # exp of min(x, 0): the positive side never overflows (its branch is unused there)
    neg = _ops.multiply(_ops.subtract(_ops.exp(_ops.minimum(x, np.zeros((), xd.dtype))), 1.0), alpha)
    out = _ops.where(xd > 0, x, neg)
    # the value of exp(x) - 1 from expm1 (no cancellation for small |x|)
    return _with_value(out, np.where(xd > 0, xd, alpha * np.expm1(np.minimum(xd, 0))))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """Scaled ELU: ``scale * elu(x, alpha)`` with Klambauer et al.'s constants."""
    return _ops.multiply(elu(x, _SELU_ALPHA), _SELU_SCALE)


def softplus(x):
    """``log(1 + exp(x))``, to the last digits; its gradient is ``sigmoid(x)`` everywhere.

    The value comes from NumPy's ``logaddexp(0, x)``; the tape differentiates the
    composite ``where(x > 0, x, 0) + log(1 + exp(t))`` with ``t = -|x|`` written as
    ``where(x > 0, -x, x)`` (so the slope at 0 is exactly 1/2 and nothing overflows),
    which equals it up to rounding (see :func:`_with_value`).
    """
    x = _t(x)
    xd = _d(x)
    dt = xd.dtype
    zero = np.zeros((), dt)
    positive = xd > 0
    t = _ops.where(positive, _ops.negative(x), x)
    approx = _ops.add(_ops.where(positive, x, zero), _ops.log(_ops.add(_ops.exp(t), 1.0)))
    return _with_value(approx, np.logaddexp(np.zeros((), dt), xd))


def softsign(x):
    """``x / (1 + |x|)``."""
    x = _t(x)
    return _ops.divide(x, _ops.add(_ops.abs(x), 1.0))


def silu(x):
    """Sigmoid linear unit (swish): ``x * sigmoid(x)``."""
    x = _t(x)
    return _ops.multiply(x, _ops.sigmoid(x))


swish = silu


def hard_sigmoid(x):
    """Keras 3's piecewise-linear sigmoid: ``relu6(x + 3) / 6`` (0 below -3, 1 above 3)."""
    x = _t(x)
    return _ops.divide(relu6(_ops.add(x, 3.0)), 6.0)


def hard_silu(x):
    """``x * hard_sigmoid(x)`` (hard swish)."""
    x = _t(x)
    return _ops.multiply(x, hard_sigmoid(x))


hard_swish = hard_silu


def mish(x):
    """``x * tanh(softplus(x))`` (Misra 2019)."""
    x = _t(x)
    return _ops.multiply(x, _ops.tanh(softplus(x)))


_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(x, approximate=False):
    """Gaussian error linear unit.

    ``approximate=False`` (Keras 3's default): ``x * 0.5 * (1 + erf(x / sqrt(2)))``;
    ``approximate=True``: ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3)))``.
    """
    if not isinstance(approximate, (bool, np.bool_)):
        raise TypeError(f"gelu: approximate must be True or False, got {approximate!r}")
    x = _t(x)
    if approximate:
        inner = _ops.multiply(_ops.add(x, _ops.multiply(_ops.multiply(_ops.multiply(x, x), x), 0.044715)),
                              _SQRT_2_OVER_PI)
        return _ops.multiply(_ops.multiply(x, 0.5), _ops.add(_ops.tanh(inner), 1.0))
    out = _ops.multiply(_ops.multiply(x, 0.5), _ops.add(erf(_ops.multiply(x, _SQRT_HALF)), 1.0))
    # the value from erfc: 1 + erf(z) cancels for z << 0, erfc(-z) does not
    xd = _d(x)
    return _with_value(out, 0.5 * xd * _np_erfc(-xd * _SQRT_HALF))


def exponential(x):
    """``exp(x)``."""
    return _ops.exp(_t(x))


def sigmoid(x):
    """``1 / (1 + exp(-x))``, computed without overflow."""
    return _ops.sigmoid(_t(x))


def tanh(x):
    """Hyperbolic tangent."""
    return _ops.tanh(_t(x))


def _axis_arg(name, axis, ndim):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an integer, got {axis!r}")
    if not -ndim <= int(axis) < max(ndim, 1):
        raise ValueError(f"{name}: axis {axis} is out of range for an input with {ndim} dimensions")
    return int(axis)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (the last by default)."""
    x = _t(x)
    return _ops.softmax(x, axis=_axis_arg("softmax", axis, x.ndim))


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, computed stably."""
    x = _t(x)
    return _ops.log_softmax(x, axis=_axis_arg("log_softmax", axis, x.ndim))


# ---------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------

_BY_NAME = {
    "linear": linear, "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu, "selu": selu,
    "gelu": gelu, "softplus": softplus, "softsign": softsign, "silu": silu, "swish": silu,
    "hard_sigmoid": hard_sigmoid, "hard_silu": hard_silu, "hard_swish": hard_silu, "mish": mish,
    "exponential": exponential, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "log_softmax": log_softmax,
}

# The engine's own functions under a Keras name (``activation=tinygrad_bn.relu`` serialises as 'relu').
_ALSO = {_ops.relu: "relu", _ops.sigmoid: "sigmoid", _ops.tanh: "tanh", _ops.exp: "exponential",
         _ops.softmax: "softmax", _ops.log_softmax: "log_softmax"}


def get(identifier):
    """The activation function for a name (``'relu'``, ``'gelu'`` ...), ``None`` (linear),
    a ``{'class_name': name}`` dict or a callable (returned unchanged)."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        identifier = identifier.get("config", {}).get("name", identifier.get("class_name"))
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise ValueError(f"unknown activation {identifier!r}; known: {sorted(_BY_NAME)}")
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name, None or a callable, got {identifier!r} "
                    f"({type(identifier).__name__})")


def serialize(activation):
    """The name of a built-in activation (a custom callable: its ``__name__``, which
    :func:`deserialize` resolves only through ``custom_objects``)."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        activation = get(activation)
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return "silu" if name == "swish" else ("hard_silu" if name == "hard_swish" else name)
    name = _ALSO.get(activation) if _hashable(activation) else None
    if name is None:
        name = _library_name(activation)
    if name is not None:
        return name
    if callable(activation):
        return getattr(activation, "__name__", repr(activation))
    raise TypeError(f"cannot serialize {activation!r} as an activation")


def _library_name(fn):
    """The Keras name of another of the library's functions with the same definition
    (``tinygrad_bn.nn.relu`` is 'relu', as tf.keras serialises ``tf.nn.relu``), else None."""
    name = getattr(fn, "__name__", None)
    module = getattr(fn, "__module__", None) or ""
    if isinstance(name, str) and name in _BY_NAME and module.startswith("tinygrad_bn.") \
            and module != __name__:
        return name
    return None


def _hashable(x):
    try:
        hash(x)
    except TypeError:
        return False
    return True


def deserialize(config, custom_objects=None):
    """The activation for a name (or a dict from Keras' config format)."""
    name = config
    if isinstance(config, dict):
        name = config.get("config", {}).get("name", config.get("class_name"))
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if not isinstance(name, str):
        raise TypeError(f"activations.deserialize: expected a name, got {config!r}")
    return get(name)


def is_builtin(activation):
    """True when ``activation`` is one of this module's functions (or the engine's under a Keras name)."""
    return (any(fn is activation for fn in _BY_NAME.values()) or (_hashable(activation) and activation in _ALSO)
            or _library_name(activation) is not None)
