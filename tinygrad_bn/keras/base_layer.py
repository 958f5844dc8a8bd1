"""The base ``Layer`` (weights, naming, building, calling, config), ``InputLayer`` and ``Input``.

Concrete layers are in :mod:`tinygrad_bn.keras.layers`.
"""
import re
import threading

import numpy as np

from ..tensor import Tensor, Var, wrap
from . import initializers as _inits

__all__ = ["Layer", "InputLayer", "Input", "add_state_update", "deferred_state_updates"]

_FLOATX = np.float32


# ---------------------------------------------------------------------------
# State updates (BatchNormalization's moving statistics ...) and their deferral
# ---------------------------------------------------------------------------

_STATE = threading.local()   # per thread, as the tapes: .pending is the innermost deferral or None


class PendingStateUpdates:
    """The state updates recorded inside one :func:`deferred_state_updates` block.

    ``commit()`` applies them in the order they were recorded (or hands them to an
    enclosing block, which commits or discards them in turn); leaving the block
    without ``commit()`` (an exception in the step) discards them.
    """

    __slots__ = ("_fns", "_parent", "_closed")

    def __init__(self, parent):
        self._fns = []
        self._parent = parent
        self._closed = False

    def append(self, fn):
        self._fns.append(fn)

    def __len__(self):
        return len(self._fns)

    def commit(self):
        fns, self._fns = self._fns, []
        if self._parent is not None:
            self._parent._fns.extend(fns)
            return
        for fn in fns:
            fn()

    def discard(self):
        self._fns = []


class deferred_state_updates:
    """``with deferred_state_updates() as pending:`` -- inside it, :func:`add_state_update`
    records updates in ``pending`` instead of applying them; ``pending.commit()``
    applies them (a train step does that once ``apply_gradients`` has succeeded).
    Updates not committed when the block ends are discarded, so a step that raises
    leaves moving statistics as they were."""

    __slots__ = ("pending",)

    def __enter__(self):
        self.pending = PendingStateUpdates(getattr(_STATE, "pending", None))
        _STATE.pending = self.pending
        return self.pending

    def __exit__(self, *exc):
        pending = self.pending
        _STATE.pending = pending._parent
        pending._fns = []
        pending._closed = True
        return False


def add_state_update(fn):
    """Apply a layer's state update ``fn()`` (a zero-argument callable, e.g. the moving
    statistics of batch norm) now, or, inside a train step (a :func:`deferred_state_updates`
    block), when that step commits.  As Keras, a layer called with ``training=True``
    in a user's own ``GradientTape`` loop updates its state immediately."""
    pending = getattr(_STATE, "pending", None)
    if pending is None:
        fn()
    else:
        pending._fns.append(fn)


# ---------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------

_LAYER_CLASSES = {}
_NAME_COUNTS = {}


def _snake(name):
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def _unique_name(base):
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def _as_input(x):
    """Layer input as a float Tensor (float64 data is cast to float32, as Keras does)."""
    if isinstance(x, Tensor):
        if x.data.dtype.kind != "f":
            return wrap(np.asarray(x.data, dtype=_FLOATX))
        return x
    arr = np.asarray(x)
    if arr.dtype != _FLOATX:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"layer input must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(_FLOATX)
    return wrap(arr)


def _fmt_shape(shape):
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class Layer:
    """Base class of all layers.

    Subclasses implement ``build(input_shape)`` (create weights with
    :meth:`add_weight`), ``call(x, training=False)`` and, when the output
    shape differs from the input, ``compute_output_shape(input_shape)``.
    Input shapes include the batch axis (``None`` when unknown).
    """

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        _LAYER_CLASSES[cls.__name__] = cls

    def __init__(self, name=None, trainable=True, input_shape=None, dtype="float32", **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        if dtype not in ("float32", np.float32):
            raise ValueError(f"{type(self).__name__}: only float32 layers are supported, got dtype={dtype!r}")
        self.name = name if name is not None else _unique_name(_snake(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._vars = []          # [(Var, intrinsically trainable)] in creation order
        self.input_shape = None  # with the batch axis, set by build
        self._input_shape_arg = None if input_shape is None else (None,) + tuple(int(s) for s in input_shape)

    # -- weights ------------------------------------------------------------
    def add_weight(self, name, shape, initializer="zeros", trainable=True):
        """Create a float32 variable named ``<layer>/<name>`` from an initializer."""
        init = _inits.get(initializer)
        value = np.asarray(init(tuple(shape), _FLOATX), dtype=_FLOATX)
        var = Var(value, trainable=bool(trainable) and self._trainable, name=f"{self.name}/{name}")
        self._vars.append((var, bool(trainable)))
        return var

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for var, intrinsic in self._vars:
            var.trainable = intrinsic and self._trainable

    @property
    def trainable_variables(self):
        return [v for v, t in self._vars if t and self._trainable]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self):
        return [v for v, t in self._vars if not (t and self._trainable)]

    non_trainable_weights = non_trainable_variables

    @property
    def variables(self):
        """All variables in creation order (for Dense: kernel, bias; for
        BatchNormalization: gamma, beta, moving_mean, moving_variance).  The
        order does not change when ``trainable`` is toggled, so saved weights
        always line up."""
        return [v for v, _ in self._vars]

    weights = variables

    def get_weights(self):
        """Copies of the weight arrays, in the order of :attr:`weights`."""
        return [np.array(v.data) for v in self.weights]

    def set_weights(self, weights):
        """Set the weights from a list of arrays (same order and shapes as :meth:`get_weights`)."""
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(f"layer {self.name!r} has {len(mine)} weights "
                             f"({[v.name for v in mine]}) but {len(weights)} arrays were given")
        for var, w in zip(mine, weights):
            w = np.asarray(w)
            if w.shape != var.data.shape:
                raise ValueError(f"layer {self.name!r}: weight {var.name!r} has shape {var.data.shape}, "
                                 f"got an array of shape {w.shape}")
        for var, w in zip(mine, weights):
            var.assign(w)

    def count_params(self):
        return int(sum(v.data.size for v, _ in self._vars))

    # -- building and calling ----------------------------------------------
    def build(self, input_shape):
        self.input_shape = tuple(input_shape)
        self.built = True

    def _maybe_build(self, shape):
        if not self.built:
            shape = (None,) + tuple(shape[1:])
            self.build(shape)
            self.input_shape = shape
            self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def check_input_shape(self, input_shape):
        """Raise ValueError when ``input_shape`` cannot feed this (built) layer; return the output shape."""
        return self.compute_output_shape(input_shape)

    def __call__(self, x, training=False):
        x = _as_input(x)
        if not self.built:
            self._maybe_build(x.shape)
        else:
            self.check_input_shape(x.shape)
        return self.call(x, training=bool(training))

    def call(self, x, training=False):
        return x

    # -- config -------------------------------------------------------------
    def get_config(self):
        cfg = {"name": self.name, "trainable": self._trainable}
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


class InputLayer(Layer):
    """Declares the input shape (without the batch axis) of a Sequential model."""

    def __init__(self, shape=None, name=None, input_shape=None, **kwargs):
        if shape is None:
            shape = input_shape
        if shape is None:
            raise ValueError("InputLayer: give the input shape (without the batch axis), e.g. shape=(64,)")
        super().__init__(name=name, input_shape=shape, **kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg["shape"] = list(self._input_shape_arg[1:])
        return cfg


def Input(shape, name=None):
    """``Input(shape=(64,))`` as the first element of ``Sequential([...])`` fixes the input size."""
    return InputLayer(shape=shape, name=name)


