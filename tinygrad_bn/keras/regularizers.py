"""Weight regularizers, as ``tf.keras.regularizers``: ``penalty = regularizer(weight)``.

``L1(l1)``: ``l1 * sum(|w|)``; ``L2(l2)``: ``l2 * sum(w**2)`` (no factor 1/2,
as Keras); ``L1L2(l1, l2)``: both.  The lower-case forms are the same
classes (``l1()``/``l2()`` default to 0.01 as in Keras), and ``l1_l2()``
defaults to ``l1=0.01, l2=0.01`` as ``tf.keras`` does (the ``L1L2`` class to
zeros).  The penalty is a scalar Tensor built from the tape's primitives, so
its gradient reaches the weight; layers add it to ``layer.losses``.
"""
import math

import numpy as np

from .. import ops as _ops

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize", "deserialize"]


def _factor(cls, arg, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{cls}: {arg} must be a non-negative float, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{cls}: {arg} must be a non-negative finite float, got {arg}={value!r}")
    return v


class Regularizer:
    """Base class: ``__call__(weight) -> scalar Tensor``, ``get_config()``, ``from_config()``."""

    def __call__(self, x):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        name = type(self).__name__
        self.l1 = _factor(name, "l1", l1)
        self.l2 = _factor(name, "l2", l2)

    def __call__(self, x):
        total = None
        if self.l1:
            total = _ops.multiply(_ops.sum(_ops.abs(x)), self.l1)
        if self.l2:
            sq = _ops.multiply(_ops.sum(_ops.multiply(x, x)), self.l2)
            total = sq if total is None else _ops.add(total, sq)
        if total is None:
            total = _ops.multiply(_ops.sum(x), 0.0)
        return total

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)`` (default ``l1=0.01``)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1, l2=0.0)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)`` (default ``l2=0.01``)."""

    def __init__(self, l2=0.01):
        super().__init__(l1=0.0, l2=l2)

    def get_config(self):
        return {"l2": self.l2}


l1 = L1
l2 = L2


def l1_l2(l1=0.01, l2=0.01):  # noqa: F811 - the parameters shadow the aliases, as in Keras
    """``L1L2(l1, l2)`` with tf.keras's defaults (0.01 each)."""
    return L1L2(l1=l1, l2=l2)


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "l1l2": l1_l2}


def serialize(regularizer):
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    raise TypeError(f"cannot serialize {regularizer!r}: only Regularizer instances can be saved")


def deserialize(config, custom_objects=None):
    if config is None:
        return None
    if isinstance(config, str):
        return get(config)
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown regularizer class {name!r}; known: {sorted(_CLASSES)}")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """A regularizer from None, a name (``'l1'``, ``'l2'``, ``'l1_l2'``), a config dict,
    an instance or a callable ``fn(weight) -> scalar``."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        make = _BY_NAME.get(identifier.lower())
        if make is None:
            raise ValueError(f"unknown regularizer {identifier!r}; known: {sorted(_BY_NAME)}")
        return make()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"cannot interpret {identifier!r} as a regularizer")
