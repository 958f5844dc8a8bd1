"""``tinygrad_bn.initializers``: the same objects as ``tinygrad_bn.keras.initializers`` (like ``tf.keras.initializers``)."""
from .keras.initializers import *  # noqa: F401,F403
from .keras.initializers import __all__, get  # noqa: F401
