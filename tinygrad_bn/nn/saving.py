"""Deprecated: ``tinygrad_bn.nn.saving`` moved to ``tinygrad_bn.keras.saving`` (kept for one release)."""
import sys
import warnings

from ..keras import saving as _moved

warnings.warn("tinygrad_bn.nn.saving is deprecated; use tinygrad_bn.keras.saving (tinygrad_bn.nn is now TF's tf.nn)",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
