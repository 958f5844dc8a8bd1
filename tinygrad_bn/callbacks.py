"""``tinygrad_bn.callbacks``: the same objects as ``tinygrad_bn.nn.callbacks`` (like ``tf.keras.callbacks``)."""
from .nn.callbacks import *  # noqa: F401,F403
from .nn.callbacks import __all__  # noqa: F401
