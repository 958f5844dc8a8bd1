"""Keras-style layers: built lazily on first call, the input size inferred.

Every layer has ``trainable_variables``, ``non_trainable_variables``,
``weights``, ``get_weights()`` / ``set_weights()``, ``get_config()`` and is
called as ``layer(x, training=False)``.  A layer is built (its variables
created) the first time it sees an input, or by ``layer.build(input_shape)``.

``training`` and ``trainable`` are different things:

* ``training`` (an argument of every call) says which *computation* to run:
  batch statistics and dropout when True, moving statistics and identity when
  False.  ``fit`` passes True, ``evaluate``/``predict``/``model(x)`` False.
* ``trainable`` (an attribute) says whether the layer's weights are *updated*:
  ``layer.trainable = False`` removes them from ``trainable_variables`` so
  gradient tapes stop watching them and optimizers never touch them.
"""


import numpy as np

from .. import ops as _ops
from ..ops.registry import op as _op
from ..tensor import Tensor, Var, wrap
from . import functional as F
from . import initializers as _inits
from .base_layer import (_FLOATX, _LAYER_CLASSES, Input, InputLayer, Layer, _as_input,  # noqa: F401
                         _fmt_shape, _snake, _unique_name)

__all__ = ["Layer", "InputLayer", "Input", "Dense", "BatchNormalization", "Activation", "ReLU",
           "Softmax", "Dropout", "Flatten", "get_activation", "deserialize", "serialize"]

# ---------------------------------------------------------------------------
# Fused dense ops: one tape record for x @ W (+ b) (+ relu)
# ---------------------------------------------------------------------------

def _dense_forward(x, w, b, relu):
    x = np.asarray(x)
    shape = x.shape
    x2 = x if x.ndim == 2 else x.reshape(-1, shape[-1])
    out = x2 @ w
    if b is not None:
        out += b
    if relu:
        np.maximum(out, 0, out=out)
    res = (x2, w, out if relu else None, shape)
    if x.ndim != 2:
        out = out.reshape(shape[:-1] + (w.shape[1],))
    return out, res


def _dense_backward(res, g, needs, has_bias):
    x2, w, out, shape = res
    g2 = g if g.ndim == 2 else g.reshape(-1, w.shape[1])
    if out is not None:
        g2 = g2 * (out > 0)
    gx = gw = gb = None
    if needs[0]:
        gx = g2 @ w.T
        if len(shape) != 2:
            gx = gx.reshape(shape)
    if needs[1]:
        gw = x2.T @ g2
    if has_bias and needs[2]:
        gb = g2.sum(axis=0)
    return (gx, gw, gb) if has_bias else (gx, gw)


@_op(name="nn.dense")
class dense_op:
    """``x @ w + b``, then ReLU when ``relu=True``: one record for a whole Dense layer."""
    def forward(x, w, b, relu=False):
        return _dense_forward(x, w, b, relu)

    def backward(res, g, needs):
        return _dense_backward(res, g, needs, True)


@_op(name="nn.dense_nobias")
class dense_nobias_op:
    """``x @ w``, then ReLU when ``relu=True`` (a Dense layer with ``use_bias=False``)."""
    def forward(x, w, relu=False):
        return _dense_forward(x, w, None, relu)

    def backward(res, g, needs):
        return _dense_backward(res, g, needs, False)


# ---------------------------------------------------------------------------
# Activations by name
# ---------------------------------------------------------------------------

def _linear(x):
    return x


def _softmax(x):
    return _ops.softmax(x, axis=-1)


_ACTIVATIONS = {
    "linear": _linear,
    "relu": _ops.relu,
    "softmax": _softmax,
    "sigmoid": _ops.sigmoid,
    "tanh": _ops.tanh,
    "log_softmax": lambda x: _ops.log_softmax(x, axis=-1),
    "exponential": _ops.exp,
}


def get_activation(identifier):
    """An activation function from a name (``'relu'``, ``'linear'``, ``'softmax'``,
    ``'sigmoid'``, ``'tanh'``, ``'log_softmax'``, ``'exponential'``), None (linear) or a callable."""
    if identifier is None:
        return _linear
    if isinstance(identifier, str):
        try:
            return _ACTIVATIONS[identifier.lower()]
        except KeyError:
            raise ValueError(f"unknown activation {identifier!r}; known: {sorted(_ACTIVATIONS)}") from None
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a callable, got {identifier!r}")


def _activation_name(identifier):
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        get_activation(identifier)
        return identifier.lower()
    for name, fn in _ACTIVATIONS.items():
        if fn is identifier:
            return name
    return identifier  # a custom callable (not serializable)


# ---------------------------------------------------------------------------
# Dense
# ---------------------------------------------------------------------------

class Dense(Layer):
    """Fully connected layer: ``activation(x @ kernel + bias)``.

    ``kernel`` has shape ``(input features, units)``; the input size is taken
    from the first input.  Inputs with more than two axes are multiplied along
    the last one.  ``use_bias=False`` drops the bias: do that when a
    :class:`BatchNormalization` follows, since its β already supplies a shift
    and the mean subtraction cancels any bias exactly.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        units = int(units)
        if units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units}")
        self.units = units
        self.activation = get_activation(activation)
        self._activation_id = _activation_name(activation)
        self._fuse_relu = self.activation is _ops.relu
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _inits.get(kernel_initializer)
        self.bias_initializer = _inits.get(bias_initializer)
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Dense layer {self.name!r} needs inputs with a batch axis and a feature axis, "
                             f"got input shape {_fmt_shape(input_shape)}")
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(f"Dense layer {self.name!r}: the last input axis must have a known size")
        self.kernel = self.add_weight("kernel", (int(in_features), self.units), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer)
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if self.built:
            expected = self.kernel.data.shape[0]
            got = input_shape[-1] if len(input_shape) else None
            if len(input_shape) < 2 or got != expected:
                raise ValueError(
                    f"Dense layer {self.name!r} was built for inputs with {expected} features, but got "
                    f"{got} features (input shape {_fmt_shape(input_shape)})")
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, x, training=False):
        if self.bias is not None:
            y = dense_op(x, self.kernel, self.bias, relu=self._fuse_relu)
        else:
            y = dense_nobias_op(x, self.kernel, relu=self._fuse_relu)
        if self._fuse_relu or self.activation is _linear:
            return y
        return self.activation(y)

    def get_config(self):
        cfg = super().get_config()
        act = self._activation_id
        if not isinstance(act, str):
            raise TypeError(f"Dense layer {self.name!r}: a custom activation callable cannot be saved; "
                            "use a named activation or an Activation layer")
        cfg.update(units=self.units, activation=act, use_bias=self.use_bias,
                   kernel_initializer=_inits.serialize(self.kernel_initializer),
                   bias_initializer=_inits.serialize(self.bias_initializer))
        return cfg


# ---------------------------------------------------------------------------
# Batch normalization
# ---------------------------------------------------------------------------

class BatchNormalization(Layer):
    """Batch normalization (Ioffe & Szegedy), with Keras' conventions.

    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` per feature along
    ``axis``.  With ``training=True`` the mean and (biased) variance of the
    current batch are used (the fused kernel), and the moving statistics are
    updated as Keras does::

        moving_mean     = momentum * moving_mean     + (1 - momentum) * batch_mean
        moving_variance = momentum * moving_variance + (1 - momentum) * batch_var

    (``momentum=0.99``, ``epsilon=1e-3`` as Keras; PyTorch's ``momentum=0.1``
    means the opposite weighting, and PyTorch stores an unbiased variance).
    With ``training=False`` the moving statistics are used, so a single
    example can be predicted.

    ``trainable=False`` freezes gamma and beta (they leave
    ``trainable_variables``) but does *not* change what ``training`` does:
    inside ``fit`` the layer still normalizes with batch statistics and keeps
    updating its moving statistics.  (Keras 2.1+ instead switches a
    non-trainable BN layer to inference mode.)  To run a layer on its moving
    statistics while training the rest of the model, set
    ``layer.use_moving_statistics = True``.

    ``center=False`` drops beta, ``scale=False`` drops gamma.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError("BatchNormalization: only a single feature axis is supported")
            axis = axis[0]
        self.axis = int(axis)
        self.momentum = float(momentum)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum} "
                             "(Keras convention: 0.99 keeps 99% of the old moving average)")
        self.epsilon = float(epsilon)
        if self.epsilon <= 0:
            raise ValueError(f"BatchNormalization: epsilon must be positive, got {epsilon}")
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _inits.get(beta_initializer)
        self.gamma_initializer = _inits.get(gamma_initializer)
        self.moving_mean_initializer = _inits.get(moving_mean_initializer)
        self.moving_variance_initializer = _inits.get(moving_variance_initializer)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self.use_moving_statistics = False
        self._perm = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if ndim < 2:
            raise ValueError(f"BatchNormalization layer {self.name!r} needs inputs with a batch axis, "
                             f"got input shape {_fmt_shape(input_shape)}")
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 0 < axis < ndim:
            raise ValueError(f"BatchNormalization layer {self.name!r}: axis {self.axis} is not a feature axis "
                             f"of inputs with shape {_fmt_shape(input_shape)}")
        dim = input_shape[axis]
        if dim is None:
            raise ValueError(f"BatchNormalization layer {self.name!r}: axis {self.axis} must have a known size")
        dim = int(dim)
        self._axis = axis
        self._ndim = ndim
        if axis != ndim - 1:  # move the feature axis last for the kernel, and back
            perm = [i for i in range(ndim) if i != axis] + [axis]
            self._perm = tuple(perm)
            self._inv = tuple(int(i) for i in np.argsort(perm))
        if self.scale:
            self.gamma = self.add_weight("gamma", (dim,), self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight("beta", (dim,), self.beta_initializer)
        self.moving_mean = self.add_weight("moving_mean", (dim,), self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (dim,), self.moving_variance_initializer,
                                               trainable=False)
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if self.built:
            expected = self.moving_mean.data.shape[0]
            if len(input_shape) != self._ndim or input_shape[self._axis] != expected:
                got = input_shape[self._axis] if len(input_shape) == self._ndim else None
                raise ValueError(
                    f"BatchNormalization layer {self.name!r} was built for inputs with {expected} features "
                    f"on axis {self.axis}, but got {got} (input shape {_fmt_shape(input_shape)})")
        return tuple(input_shape)

    def call(self, x, training=False):
        if self._perm is not None:
            x = _ops.transpose(x, self._perm)
        if training and not self.use_moving_statistics:
            y, mean, var = F.batch_norm(x, self.gamma, self.beta, epsilon=self.epsilon, return_stats=True)
            m = self.momentum
            mm = self.moving_mean.data
            mv = self.moving_variance.data
            mm *= m
            mm += (1.0 - m) * np.asarray(mean, dtype=mm.dtype)
            mv *= m
            mv += (1.0 - m) * np.asarray(var, dtype=mv.dtype)
        else:
            y = F.batch_norm_inference(x, self.moving_mean.data, self.moving_variance.data,
                                       self.gamma, self.beta, epsilon=self.epsilon)
        if self._perm is not None:
            y = _ops.transpose(y, self._inv)
        return y

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center,
                   scale=self.scale,
                   beta_initializer=_inits.serialize(self.beta_initializer),
                   gamma_initializer=_inits.serialize(self.gamma_initializer),
                   moving_mean_initializer=_inits.serialize(self.moving_mean_initializer),
                   moving_variance_initializer=_inits.serialize(self.moving_variance_initializer))
        return cfg


# ---------------------------------------------------------------------------
# Activations, dropout, flatten
# ---------------------------------------------------------------------------

class Activation(Layer):
    """Applies an activation by name (``'relu'``, ``'softmax'`` ...) or callable."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = get_activation(activation)
        self._activation_id = _activation_name(activation)

    def call(self, x, training=False):
        return self.activation(x)

    def get_config(self):
        cfg = super().get_config()
        if not isinstance(self._activation_id, str):
            raise TypeError(f"Activation layer {self.name!r}: a custom callable cannot be saved")
        cfg["activation"] = self._activation_id
        return cfg


class ReLU(Layer):
    """max(x, 0)."""

    def call(self, x, training=False):
        return _ops.relu(x)


class Softmax(Layer):
    """Softmax along ``axis`` (default the last)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, x, training=False):
        return _ops.softmax(x, axis=self.axis)

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg


class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability ``rate`` and
    scale the rest by ``1 / (1 - rate)``; identity at inference.

    The mask comes from the layer's own generator (seeded by ``seed``, else
    drawn from the global one when built); ``model.save`` stores its state.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        rate = float(rate)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.seed = seed
        self._rng = None

    def build(self, input_shape):
        from ..utils import derive_rng
        self._rng = derive_rng(self.seed)
        super().build(input_shape)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        keep = self._rng.random(x.shape, dtype=np.float32) >= self.rate
        mask = keep.astype(x.data.dtype)
        mask *= 1.0 / (1.0 - self.rate)
        return _ops.multiply(x, mask)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg


class Flatten(Layer):
    """Flattens every axis but the batch axis."""

    def compute_output_shape(self, input_shape):
        n = 1
        for s in input_shape[1:]:
            if s is None:
                return (input_shape[0], None)
            n *= s
        return (input_shape[0], n)

    def call(self, x, training=False):
        if x.ndim == 2:
            return x
        return _ops.reshape(x, (x.shape[0], -1))


# ---------------------------------------------------------------------------
# Serialization
# ---------------------------------------------------------------------------

def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config, custom_objects=None):
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _LAYER_CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown layer class {name!r}; pass it in custom_objects={{{name!r}: cls}}")
    cfg = dict(config.get("config", {}))
    for key, value in list(cfg.items()):
        if key.endswith("_initializer") and isinstance(value, dict):
            cfg[key] = _inits.deserialize(value, custom_objects)
    return cls.from_config(cfg)
