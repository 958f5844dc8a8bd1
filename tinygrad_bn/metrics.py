"""``tinygrad_bn.metrics``: the same objects as ``tinygrad_bn.keras.metrics`` (like ``tf.keras.metrics``)."""
from .keras.metrics import *  # noqa: F401,F403
from .keras.metrics import __all__, get  # noqa: F401
