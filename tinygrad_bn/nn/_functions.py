"""TF's ``tf.nn`` functions (relu, softmax, moments, batch_normalization, the cross-entropies ...)."""
from ..ops import log_softmax, relu, sigmoid, softmax  # noqa: F401

__all__ = ["relu", "sigmoid", "softmax", "log_softmax"]
