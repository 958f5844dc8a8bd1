"""``tinygrad_bn.initializers``: the same objects as ``tinygrad_bn.nn.initializers`` (like ``tf.keras.initializers``)."""
from .nn.initializers import *  # noqa: F401,F403
from .nn.initializers import __all__, get  # noqa: F401
