"""``tinygrad_bn.math``: TF's ``tf.math`` names for the ops."""
import numpy as np

from .ops import (abs, add, cos, divide, exp, expm1, log, log1p, log_softmax, maximum, minimum,  # noqa: F401
                  multiply, negative, pow, sigmoid, sin, softmax, sqrt, square, subtract, tanh)
from .tf_api import (argmax, argmin, equal, greater, greater_equal, less, less_equal,  # noqa: F401
                     not_equal, reduce_all, reduce_any, reduce_logsumexp, reduce_max, reduce_mean,
                     reduce_min, reduce_prod, reduce_std, reduce_sum, reduce_variance, add_n)
from .ops import sign  # noqa: F401
from .tf_api import _data, wrap


def reciprocal(x, name=None):
    """1 / x."""
    return divide(1, x)


def softplus(features, name=None):
    """log(1 + exp(x)), computed stably."""
    return add(maximum(features, 0), log1p(exp(negative(abs(features)))))


def squared_difference(x, y, name=None):
    """(x - y) ** 2."""
    d = subtract(x, y)
    return multiply(d, d)


def is_nan(x, name=None):
    """Elementwise NaN test (not differentiable)."""
    return wrap(np.isnan(_data(x)))


def is_finite(x, name=None):
    """Elementwise finiteness test (not differentiable)."""
    return wrap(np.isfinite(_data(x)))
