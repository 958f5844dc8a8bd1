"""``tinygrad_bn.losses``: the same objects as ``tinygrad_bn.keras.losses`` (like ``tf.keras.losses``)."""
from .keras.losses import *  # noqa: F401,F403
from .keras.losses import __all__, get  # noqa: F401
