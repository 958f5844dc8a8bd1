"""Elementwise primitives: each forward beside its vjp.

Binary ops broadcast like NumPy; their backward sums the gradient back down
to each input's shape with :func:`unbroadcast`.  Every backward is written
with operators and NumPy functions, so it also runs on Tensors (and is then
recorded) for higher-order gradients.
"""
import numpy as np

from .registry import op, shape_of, unbroadcast, unbroadcast_tensor

__all__ = ["add", "subtract", "multiply", "divide", "negative", "power", "exp", "log", "sqrt", "abs",
           "relu", "maximum", "minimum", "where", "sigmoid", "tanh", "sin", "cos", "log1p", "expm1",
           "stop_gradient", "cast", "square", "sign", "clip",
           "sub", "mul", "div", "true_divide", "neg", "pow", "absolute"]


@op(operator="add")
class add:
    """``a + b`` with broadcasting."""
    def forward(a, b):
        return a + b, (getattr(a, "shape", ()), getattr(b, "shape", ()))

    def backward(shapes, g, needs):
        try:
            gshape = g.shape
        except AttributeError:      # a Python number
            gshape = None
        sa, sb = shapes
        return ((g if gshape == sa else unbroadcast(g, sa)) if needs[0] else None,
                (g if gshape == sb else unbroadcast(g, sb)) if needs[1] else None)

    def tensor_backward(shapes, g, needs):
        return (unbroadcast_tensor(g, shapes[0]) if needs[0] else None,
                unbroadcast_tensor(g, shapes[1]) if needs[1] else None)


@op(operator="sub")
class subtract:
    """``a - b`` with broadcasting."""
    def forward(a, b):
        return a - b, (getattr(a, "shape", ()), getattr(b, "shape", ()))

    def backward(shapes, g, needs):
        return (unbroadcast(g, shapes[0]) if needs[0] else None,
                unbroadcast(-g, shapes[1]) if needs[1] else None)

    def tensor_backward(shapes, g, needs):
        return (unbroadcast_tensor(g, shapes[0]) if needs[0] else None,
                unbroadcast_tensor(-g, shapes[1]) if needs[1] else None)


@op(operator="mul")
class multiply:
    """``a * b`` with broadcasting."""
    def forward(a, b):
        return a * b, (a, b)

    def backward(ab, g, needs):
        a, b = ab
        ga = gb = None
        if needs[0]:
            ga = g * b
            if ga.shape != a.shape:
                ga = unbroadcast(ga, a.shape)
        if needs[1]:
            gb = g * a
            if gb.shape != b.shape:
                gb = unbroadcast(gb, b.shape)
        return ga, gb


@op(operator="div")
class divide:
    """``a / b`` with broadcasting."""
    def forward(a, b):
        out = a / b
        return out, (a, b, out)

    def backward(res, g, needs):
        a, b, out = res
        return (unbroadcast(g / b, shape_of(a)) if needs[0] else None,
                unbroadcast(-g * out / b, shape_of(b)) if needs[1] else None)


@op(operator="neg")
class negative:
    """``-a``."""
    def forward(a):
        return -a, None

    def backward(_, g, needs):
        return (-g,)


@op(operator="pow")
class power:
    """``a ** b``; the exponent may be a tensor too (its gradient is out * log(a) where a > 0, else 0, as in TF)."""
    def forward(a, b):
        out = a ** b
        return out, (a, b, out)

    def backward(res, g, needs):
        a, b, out = res
        ga = gb = None
        if needs[0]:
            ga = unbroadcast(g * b * a ** (b - 1), shape_of(a))
        if needs[1]:
            pos = a > 0
            log_a = np.log(np.where(pos, a, 1))
            gb = unbroadcast(g * np.where(pos, out * log_a, 0), shape_of(b))
        return ga, gb


@op(operator="exp")
class exp:
    """Elementwise e**x."""
    def forward(x):
        out = np.exp(x)
        return out, out

    def backward(out, g, needs):
        return (g * out,)


@op(operator="log")
class log:
    """Natural logarithm."""
    def forward(x):
        return np.log(x), x

    def backward(x, g, needs):
        return (g / x,)


@op
class log1p:
    """log(1 + x), accurate for small x."""
    def forward(x):
        return np.log1p(x), x

    def backward(x, g, needs):
        return (g / (1 + x),)


@op
class expm1:
    """e**x - 1, accurate for small x."""
    def forward(x):
        out = np.expm1(x)
        return out, out

    def backward(out, g, needs):
        return (g * (out + 1),)


@op
class sqrt:
    """Elementwise square root."""
    def forward(x):
        out = np.sqrt(x)
        return out, out

    def backward(out, g, needs):
        return (g * 0.5 / out,)


@op(operator="abs")
class abs:  # noqa: A001 - NumPy's name
    """Elementwise absolute value (gradient sign(x), 0 at 0)."""
    def forward(x):
        return np.abs(x), x

    def backward(x, g, needs):
        return (g * np.sign(x),)


@op
class sin:
    """Elementwise sine."""
    def forward(x):
        return np.sin(x), x

    def backward(x, g, needs):
        return (g * np.cos(x),)


@op
class cos:
    """Elementwise cosine."""
    def forward(x):
        return np.cos(x), x

    def backward(x, g, needs):
        return (-g * np.sin(x),)


@op
class relu:
    """max(x, 0) (gradient 0 at 0, as TF and PyTorch)."""
    def forward(x):
        out = np.maximum(x, 0)
        return out, x

    def backward(x, g, needs):
        return (g * (x > 0),)


@op
class maximum:
    """Elementwise maximum with broadcasting; ties send the gradient to ``a``."""
    def forward(a, b):
        return np.maximum(a, b), (a, b)

    def backward(ab, g, needs):
        a, b = ab
        mask = a >= b
        return (unbroadcast(np.where(mask, g, 0), shape_of(a)) if needs[0] else None,
                unbroadcast(np.where(mask, 0, g), shape_of(b)) if needs[1] else None)


@op
class minimum:
    """Elementwise minimum with broadcasting; ties send the gradient to ``a``."""
    def forward(a, b):
        return np.minimum(a, b), (a, b)

    def backward(ab, g, needs):
        a, b = ab
        mask = a <= b
        return (unbroadcast(np.where(mask, g, 0), shape_of(a)) if needs[0] else None,
                unbroadcast(np.where(mask, 0, g), shape_of(b)) if needs[1] else None)


@op
class where:
    """``x`` where ``condition`` holds, else ``y`` (condition is not differentiable)."""
    def forward(condition, x, y):
        cond = condition if getattr(condition, "dtype", None) == np.bool_ else np.asarray(condition, dtype=bool)
        return np.where(cond, x, y), (cond, shape_of(x), shape_of(y))

    def backward(res, g, needs):
        cond, sx, sy = res
        return (None,
                unbroadcast(np.where(cond, g, 0), sx) if needs[1] else None,
                unbroadcast(np.where(cond, 0, g), sy) if needs[2] else None)


def _float_dtype(x):
    dt = getattr(x, "dtype", None)
    return dt if dt is not None and dt.kind == "f" else np.dtype(np.float32)


@op
class sigmoid:
    """Logistic function 1 / (1 + e**-x), computed without overflow; keeps x's float dtype."""
    def forward(x):
        dt = _float_dtype(x)
        x = np.asarray(x, dtype=dt) if not hasattr(x, "dtype") or x.dtype != dt else x
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(dt, copy=False)
        return out, out

    def backward(out, g, needs):
        return (g * out * (1 - out),)


@op
class tanh:
    """Hyperbolic tangent."""
    def forward(x):
        out = np.tanh(x)
        return out, out

    def backward(out, g, needs):
        return (g * (1 - out * out),)

    def tensor_backward(out, g, needs):
        return (tanh_grad(out, g),)             # one recorded op, not three


@op
class tanh_grad:
    """``dy * (1 - y * y)``: the vjp of ``tanh`` given its output ``y`` (TF's ``TanhGrad``), one op
    so that a differentiated backward records one op; its own vjp is TF's ``_TanhGradGrad``."""
    def forward(y, dy):
        return dy * (1 - y * y), (y, dy)

    def backward(res, g, needs):
        y, dy = res
        return (g * dy * y * -2 if needs[0] else None, g * (1 - y * y) if needs[1] else None)

    def tensor_backward(res, g, needs):
        y, dy = res
        return (g * dy * y * -2 if needs[0] else None, tanh_grad(y, g) if needs[1] else None)


@op
class stop_gradient:
    """Identity whose gradient is zero: the tape treats the result as a constant."""
    def forward(x):
        return x, None

    def backward(_, g, needs):
        return (None,)


@op(nin=1, operator="cast")
class cast:
    """``x`` in another dtype (``tf.cast``); differentiable between floating-point dtypes."""
    def forward(x, dtype):
        dtype = np.dtype(dtype)
        if dtype.kind not in "biuf":
            raise TypeError(f"unsupported dtype {dtype}; tensors hold bool, integer or floating-point numbers")
        arr = x if hasattr(x, "astype") else np.asarray(x)
        return arr.astype(dtype), arr.dtype

    def backward(dtype, g, needs):
        return (g.astype(dtype) if dtype.kind == "f" else None,)


def square(x):
    """``x * x``."""
    return multiply(x, x)


def sign(x):
    """Elementwise sign (not differentiable: its gradient is zero almost everywhere)."""
    from .._engine import Tensor
    return Tensor(np.sign(x.data if isinstance(x, Tensor) else np.asarray(x)))


def clip(x, a_min, a_max):
    """Limit ``x`` to [a_min, a_max] (gradient 1 inside, 0 outside; ``None`` leaves a side open)."""
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


# NumPy's other names
sub = subtract
mul = multiply
div = true_divide = divide
neg = negative
pow = power  # noqa: A001
absolute = abs
