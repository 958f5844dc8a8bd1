"""``tinygrad_bn.metrics``: the same objects as ``tinygrad_bn.nn.metrics`` (like ``tf.keras.metrics``)."""
from .nn.metrics import *  # noqa: F401,F403
from .nn.metrics import __all__, get  # noqa: F401
