"""All ops: each a forward beside its vjp, in one registry (:data:`REGISTRY`).

The primitives are in ``elementwise``, ``reductions``, ``shape`` and
``linalg``; batch norm and softmax cross-entropy (composite and fused) in
``batchnorm`` and ``softmax_ce``; ``numpy_api`` routes NumPy's functions on
Tensors to them.  The names exported here (and by ``tinygrad_bn``) are each
module's ``__all__``.
"""
from .registry import REGISTRY, op, unbroadcast
from . import elementwise, linalg, reductions, shape
from .elementwise import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from . import numpy_api  # noqa: F401  (fills the NumPy dispatch tables)
from . import batchnorm, softmax_ce  # noqa: F401,E402  composite + fused batch norm and softmax cross-entropy

__all__ = (["REGISTRY", "op", "unbroadcast"] + elementwise.__all__ + linalg.__all__ + reductions.__all__
           + shape.__all__)
