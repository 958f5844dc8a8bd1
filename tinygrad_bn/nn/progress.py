"""Deprecated: ``tinygrad_bn.nn.progress`` moved to ``tinygrad_bn.keras.progress`` (kept for one release)."""
import sys
import warnings

from ..keras import progress as _moved

warnings.warn("tinygrad_bn.nn.progress is deprecated; use tinygrad_bn.keras.progress (tinygrad_bn.nn is now TF's tf.nn)",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
