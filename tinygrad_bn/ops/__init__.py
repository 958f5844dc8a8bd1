"""All ops: each a forward beside its vjp, in one registry (:data:`REGISTRY`).

The primitives are in ``elementwise``, ``reductions``, ``shape`` and
``linalg``; fused kernels (batch norm, softmax cross-entropy) in ``fused``.
"""
from .._engine import set_operator
from .registry import REGISTRY, op, unbroadcast
from .elementwise import (abs, add, divide, exp, log, maximum, minimum, multiply, negative,
                          power, relu, sigmoid, sqrt, square, stop_gradient, subtract, tanh, where)
from .reductions import log_softmax, logsumexp, max_, mean, min_, softmax, sum, var
from .shape import (broadcast_to, concatenate, expand_dims, getitem, reshape, squeeze, stack,
                    transpose)
from .linalg import matmul
from . import fused  # noqa: E402,F401  fused batch norm / softmax cross-entropy kernels as ops

for _name, _op in (("sum", sum), ("mean", mean), ("var", var), ("max", max_), ("min", min_),
                   ("reshape", reshape), ("transpose", transpose), ("exp", exp), ("log", log)):
    set_operator(_name, _op)

# NumPy's short names.
sub = subtract
mul = multiply
div = true_divide = divide
neg = negative
pow = power  # noqa: A001
max = max_  # noqa: A001
min = min_  # noqa: A001
