"""Elementwise primitives: each forward beside its vjp.

Binary ops broadcast like NumPy; their backward sums the gradient back down
to each input's shape with :func:`unbroadcast`.
"""
import numpy as np

from .registry import op, shape_of, unbroadcast


@op(operator="add")
class add:
    """``a + b`` with broadcasting."""
    def forward(a, b):
        return a + b, (a, b)

    def backward(ab, g, needs):
        # only tensor inputs can need a gradient, and their arrays have .shape
        return (unbroadcast(g, ab[0].shape) if needs[0] else None,
                unbroadcast(g, ab[1].shape) if needs[1] else None)


@op(operator="sub")
class subtract:
    """``a - b`` with broadcasting."""
    def forward(a, b):
        return a - b, (a, b)

    def backward(ab, g, needs):
        return (unbroadcast(g, ab[0].shape) if needs[0] else None,
                unbroadcast(-g, ab[1].shape) if needs[1] else None)


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


@op
class exp:
    """Elementwise e**x."""
    def forward(x):
        out = np.exp(x)
        return out, out

    def backward(out, g, needs):
        return (g * out,)


@op
class log:
    """Natural logarithm."""
    def forward(x):
        return np.log(x), x

    def backward(x, g, needs):
        return (g / x,)


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
        return (unbroadcast(g * mask, shape_of(a)) if needs[0] else None,
                unbroadcast(g * ~mask, shape_of(b)) if needs[1] else None)


@op
class minimum:
    """Elementwise minimum with broadcasting; ties send the gradient to ``a``."""
    def forward(a, b):
        return np.minimum(a, b), (a, b)

    def backward(ab, g, needs):
        a, b = ab
        mask = a <= b
        return (unbroadcast(g * mask, shape_of(a)) if needs[0] else None,
                unbroadcast(g * ~mask, shape_of(b)) if needs[1] else None)


@op
class where:
    """``x`` where ``condition`` holds, else ``y`` (condition is not differentiable)."""
    def forward(condition, x, y):
        cond = np.asarray(condition, dtype=bool)
        return np.where(cond, x, y), (cond, shape_of(x), shape_of(y))

    def backward(res, g, needs):
        cond, sx, sy = res
        zero = np.zeros((), dtype=g.dtype)
        return (None,
                unbroadcast(np.where(cond, g, zero), sx) if needs[1] else None,
                unbroadcast(np.where(cond, zero, g), sy) if needs[2] else None)


@op
class sigmoid:
    """Logistic function 1 / (1 + e**-x), computed without overflow."""
    def forward(x):
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.result_type(x, np.float32), copy=False)
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


@op
class stop_gradient:
    """Identity whose gradient is zero: the tape treats the result as a constant."""
    def forward(x):
        return x, None

    def backward(_, g, needs):
        return (None,)


def square(x):
    """``x * x``."""
    return multiply(x, x)
