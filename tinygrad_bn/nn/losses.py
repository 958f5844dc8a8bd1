"""Deprecated: ``tinygrad_bn.nn.losses`` moved to ``tinygrad_bn.keras.losses`` (kept for one release)."""
import sys
import warnings

from ..keras import losses as _moved

warnings.warn("tinygrad_bn.nn.losses is deprecated; use tinygrad_bn.keras.losses (tinygrad_bn.nn is now TF's tf.nn)",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
