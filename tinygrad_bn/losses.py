"""``tinygrad_bn.losses``: the same objects as ``tinygrad_bn.nn.losses`` (like ``tf.keras.losses``)."""
from .nn.losses import *  # noqa: F401,F403
from .nn.losses import __all__, get  # noqa: F401
