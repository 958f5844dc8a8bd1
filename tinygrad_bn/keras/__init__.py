"""``tinygrad_bn.keras``: Keras-style neural networks on the tinygrad_bn tape (as ``tf.keras``).

    from tinygrad_bn.keras import Sequential, Model, Input
    from tinygrad_bn.keras.layers import Dense, BatchNormalization, ReLU
    from tinygrad_bn.keras.losses import SparseCategoricalCrossentropy

    model = Sequential([Dense(25, use_bias=False), BatchNormalization(), ReLU(), Dense(10)])
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, validation_split=0.1)

Models: ``Sequential``, the functional ``Model(inputs, outputs)`` with ``Input(shape=...)``,
and subclasses of ``Model`` defining ``call`` (see :mod:`tinygrad_bn.keras.model`).

Submodules as in ``tf.keras``: ``layers``, ``losses``, ``metrics``, ``optimizers`` (with
``schedules``; the same objects as ``tinygrad_bn.optimizers``), ``initializers``,
``regularizers``, ``activations``, ``callbacks``, ``utils`` (``to_categorical``,
``set_random_seed``), ``backend``, ``models``; plus ``model``, ``base_layer``, ``saving`` and
``functional`` (batch norm and softmax cross-entropy as functions).
"""
import sys as _sys
import types as _types

from . import activations, base_layer, callbacks, initializers, layers, losses, metrics, regularizers
from .. import optimizers  # noqa: E402  one implementation: tf.keras.optimizers is tinygrad_bn.optimizers
from .. import utils  # noqa: E402  tf.keras.utils: to_categorical, set_random_seed ... (one implementation)
from .base_layer import Input, InputLayer, KerasTensor, Layer
from .layers import Activation, BatchNormalization, Dense, Dropout, Flatten, ReLU, Softmax
from .model import History, Model, Sequential
from .saving import load_model


def _submodule(name, doc, **attrs):
    """A small module object importable as ``tinygrad_bn.keras.<name>`` (as ``tf.keras.<name>``)."""
    mod = _types.ModuleType(f"{__name__}.{name}", doc)
    mod.__dict__.update(attrs)
    mod.__all__ = sorted(attrs)
    _sys.modules[mod.__name__] = mod
    return mod


def _floatx():
    return "float32"


def _epsilon():
    return 1e-7


def _clear_session():
    """Reset the automatic layer names (as Keras)."""
    base_layer._NAME_COUNTS.clear()


backend = _submodule("backend", "``tf.keras.backend``: floatx(), epsilon(), clear_session().",
                     floatx=_floatx, epsilon=_epsilon, clear_session=_clear_session)
models = _submodule("models", "``tf.keras.models``: Sequential, Model, load_model.",
                    Sequential=Sequential, Model=Model, load_model=load_model)

__all__ = ["Sequential", "Model", "Input", "InputLayer", "KerasTensor", "History", "load_model", "Layer",
           "Dense", "BatchNormalization", "Activation", "ReLU", "Softmax", "Dropout", "Flatten",
           "activations", "backend", "callbacks", "models", "initializers", "layers", "losses", "metrics", "optimizers",
           "regularizers", "utils"]
