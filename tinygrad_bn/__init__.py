"""tinygrad_bn: a small, fast reverse-mode autograd engine with Cython kernels.

    import tinygrad_bn as tg
    w = tg.Var(0.0)
    opt = tg.optimizers.Adam(0.1)
    for _ in range(1000):
        opt.minimize(lambda: w ** 2 - 10 * w + 25, [w])
"""
import numpy as np

from ._engine import Op
from .config import config
from .ops import *  # noqa: F401,F403  every op module's __all__
from .ops import REGISTRY, op, unbroadcast  # noqa: F401
from .tape import GradcheckError, GradientTape, gradcheck, gradgradcheck
from .tensor import Tensor, Var
from .tf_api import *  # noqa: F401,F403  TF's top-level functions (one_hot, reduce_sum, zeros ...)
from . import linalg, math, optimizers, schedules  # noqa: E402

Variable = Var

__version__ = "0.1.0"


def __getattr__(name):
    # Heavier subpackages load on first use: tinygrad_bn.keras, .tune, .utils, .datasets ...
    import importlib
    if name in ("nn", "keras", "tune", "utils", "datasets", "data", "memory", "initializers", "losses", "callbacks",
                "metrics", "demo", "random"):
        return importlib.import_module(f".{name}", __name__)
    if name == "TensorSpec":
        return importlib.import_module(".data", __name__).TensorSpec
    raise AttributeError(f"module 'tinygrad_bn' has no attribute {name!r}")
