"""Deprecated: ``tinygrad_bn.nn.model`` moved to ``tinygrad_bn.keras.model`` (kept for one release)."""
import sys
import warnings

from ..keras import model as _moved

warnings.warn("tinygrad_bn.nn.model is deprecated; use tinygrad_bn.keras.model (tinygrad_bn.nn is now TF's tf.nn)",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
