"""Deprecated home of the fused ops; they live in :mod:`tinygrad_bn.ops.batchnorm` and
:mod:`tinygrad_bn.ops.softmax_ce` (with their composites, dispatch and validation).

Kept only so ``from tinygrad_bn.ops import fused`` / ``fused.softmax_ce`` keep working for one
release.  ``last_batch_stats`` is gone: the batch statistics are ordinary outputs
(``batch_norm(..., return_stats=True)`` or ``stats_out=(mean_buf, var_buf)``).
"""
from .batchnorm import batch_norm_infer, batch_norm_train  # noqa: F401
from .softmax_ce import softmax_ce  # noqa: F401

__all__ = ["batch_norm_train", "batch_norm_infer", "softmax_ce"]
