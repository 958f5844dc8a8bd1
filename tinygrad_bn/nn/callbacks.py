"""Deprecated: ``tinygrad_bn.nn.callbacks`` moved to ``tinygrad_bn.keras.callbacks`` (kept for one release)."""
import sys
import warnings

from ..keras import callbacks as _moved

warnings.warn("tinygrad_bn.nn.callbacks is deprecated; use tinygrad_bn.keras.callbacks (tinygrad_bn.nn is now TF's tf.nn)",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
