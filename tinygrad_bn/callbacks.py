"""``tinygrad_bn.callbacks``: the same objects as ``tinygrad_bn.keras.callbacks`` (like ``tf.keras.callbacks``)."""
from .keras.callbacks import *  # noqa: F401,F403
from .keras.callbacks import __all__  # noqa: F401
