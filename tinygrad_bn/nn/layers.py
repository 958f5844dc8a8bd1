"""Deprecated: ``tinygrad_bn.nn.layers`` moved to ``tinygrad_bn.keras.layers`` (kept for one release)."""
import sys
import warnings

from ..keras import layers as _moved

warnings.warn("tinygrad_bn.nn.layers is deprecated; use tinygrad_bn.keras.layers (tinygrad_bn.nn is now TF's tf.nn)",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
