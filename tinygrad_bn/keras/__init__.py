"""``tinygrad_bn.keras``: Keras-style neural networks on the tinygrad_bn tape (as ``tf.keras``).

    from tinygrad_bn.keras import Sequential, Dense, BatchNormalization, ReLU
    from tinygrad_bn.losses import SparseCategoricalCrossentropy

    model = Sequential([Dense(25, use_bias=False), BatchNormalization(), ReLU(),
                        Dense(10)])
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, validation_split=0.1)

Submodules: ``layers``, ``model``, ``losses``, ``metrics``, ``initializers``,
``callbacks``, ``saving``, ``functional`` (batch norm and softmax
cross-entropy as functions).
"""
from . import callbacks, initializers, layers, losses, metrics
from .. import optimizers  # noqa: E402  one implementation: tf.keras.optimizers is tinygrad_bn.optimizers
from .layers import (Activation, BatchNormalization, Dense, Dropout, Flatten, Input, InputLayer, Layer, ReLU,
                     Softmax)
from .model import History, Sequential
from .saving import load_model

__all__ = ["Sequential", "History", "load_model", "Layer", "Input", "InputLayer", "Dense",
           "BatchNormalization", "Activation", "ReLU", "Softmax", "Dropout", "Flatten",
           "callbacks", "initializers", "layers", "losses", "metrics", "optimizers"]
