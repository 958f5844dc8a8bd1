"""Deprecated: ``tinygrad_bn.nn.functional`` moved to ``tinygrad_bn.keras.functional`` (kept for one release)."""
import sys
import warnings

from ..keras import functional as _moved

warnings.warn("tinygrad_bn.nn.functional is deprecated; use tinygrad_bn.keras.functional (tinygrad_bn.nn is now TF's tf.nn)",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
