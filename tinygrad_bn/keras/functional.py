"""Batch norm and softmax cross-entropy as functions (the layers' and losses' functional API).

The implementations -- composite reference, fused kernel op, dispatch and validation --
live in :mod:`tinygrad_bn.ops.batchnorm` and :mod:`tinygrad_bn.ops.softmax_ce`; this module
re-exports them so ``from tinygrad_bn.keras import functional as F`` keeps working.
"""
from ..ops.batchnorm import (batch_norm, batch_norm_composite, batch_norm_fused,  # noqa: F401
                             batch_norm_inference, batch_norm_inference_composite,
                             batch_norm_inference_fused)
from ..ops.softmax_ce import (softmax_cross_entropy, softmax_cross_entropy_composite,  # noqa: F401
                              softmax_cross_entropy_fused)

__all__ = [
    "batch_norm", "batch_norm_composite", "batch_norm_fused",
    "batch_norm_inference", "batch_norm_inference_composite", "batch_norm_inference_fused",
    "softmax_cross_entropy", "softmax_cross_entropy_composite", "softmax_cross_entropy_fused",
]
