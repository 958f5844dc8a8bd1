"""Deprecated: ``tinygrad_bn.nn.metrics`` moved to ``tinygrad_bn.keras.metrics`` (kept for one release)."""
import sys
import warnings

from ..keras import metrics as _moved

warnings.warn("tinygrad_bn.nn.metrics is deprecated; use tinygrad_bn.keras.metrics (tinygrad_bn.nn is now TF's tf.nn)",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
