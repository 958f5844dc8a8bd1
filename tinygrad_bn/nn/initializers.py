"""Deprecated: ``tinygrad_bn.nn.initializers`` moved to ``tinygrad_bn.keras.initializers`` (kept for one release)."""
import sys
import warnings

from ..keras import initializers as _moved

warnings.warn("tinygrad_bn.nn.initializers is deprecated; use tinygrad_bn.keras.initializers (tinygrad_bn.nn is now TF's tf.nn)",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
