"""``tinygrad_bn.nn``: TensorFlow's ``tf.nn`` functions on the tape.

The Keras-style layers, models, losses and callbacks that lived here before
0.2 are in :mod:`tinygrad_bn.keras` (as ``tf.keras``).  Their old names
(``tinygrad_bn.nn.Dense``, ``tinygrad_bn.nn.layers`` ...) still work for one
release and raise a ``DeprecationWarning``.
"""
import importlib
import warnings

from ._functions import *  # noqa: F401,F403
from ._functions import __all__  # noqa: F401

_MOVED_MODULES = ("layers", "model", "losses", "metrics", "initializers", "callbacks", "saving",
                  "functional", "progress")


def __getattr__(name):
    if name in _MOVED_MODULES:
        return importlib.import_module(f".{name}", __name__)
    keras = importlib.import_module("..keras", __name__)
    if hasattr(keras, name):
        warnings.warn(f"tinygrad_bn.nn.{name} is deprecated; use tinygrad_bn.keras.{name} "
                      "(tinygrad_bn.nn is now TF's tf.nn)", DeprecationWarning, stacklevel=2)
        return getattr(keras, name)
    raise AttributeError(f"module 'tinygrad_bn.nn' has no attribute {name!r}")
