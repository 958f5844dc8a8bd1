"""tinygrad_bn: a small, fast reverse-mode autograd engine with Cython kernels.

    import tinygrad_bn as tg
    w = tg.Var(0.0)
    opt = tg.optimizers.Adam(0.1)
    for _ in range(1000):
        opt.minimize(lambda: w ** 2 - 10 * w + 25, [w])
"""
import numpy as np

from . import memory as _memory

_memory._tune_at_import()

from ._engine import Op  # noqa: E402
from .config import config
from .ops import (REGISTRY, abs, add, broadcast_to, concatenate, div, divide, exp, expand_dims,
                  getitem, log, log_softmax, logsumexp, matmul, max, maximum, mean, min, minimum,
                  mul, multiply, neg, negative, op, pow, power, relu, reshape, sigmoid, softmax,
                  sqrt, square, squeeze, stack, stop_gradient, sub, subtract, sum, tanh, transpose,
                  true_divide, unbroadcast, var, where)
from .tape import GradcheckError, GradientTape, gradcheck
from .tensor import Tensor, Var, constant
from . import optimizers, schedules  # noqa: E402

float16, float32, float64 = np.float16, np.float32, np.float64
int32, int64 = np.int32, np.int64
Variable = Var

__version__ = "0.1.0"


def argmax(x, axis=None):
    """Index of the maximum (not differentiable)."""
    return Tensor(np.argmax(np.asarray(x), axis=axis))


def equal(a, b):
    """Elementwise a == b as a boolean tensor (not differentiable)."""
    return Tensor(np.equal(np.asarray(a), np.asarray(b)))


def __getattr__(name):
    # Heavier subpackages load on first use: tinygrad_bn.keras, .tune, .utils, .datasets ...
    import importlib
    if name in ("nn", "keras", "tune", "utils", "datasets", "data", "initializers", "losses", "callbacks",
                "metrics", "demo"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinygrad_bn' has no attribute {name!r}")
