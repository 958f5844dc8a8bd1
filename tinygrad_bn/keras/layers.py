"""Keras-style layers (``tf.keras.layers``): built lazily on first call, the input size inferred.

Layers: ``Dense``, ``BatchNormalization``, ``LayerNormalization``, ``Activation``, ``ReLU``,
``LeakyReLU``, ``ELU``, ``Softmax``, ``Dropout``, ``GaussianNoise``, ``Flatten``, ``Reshape``,
``Permute``, ``RepeatVector``, ``Identity``, ``Lambda``, ``ActivityRegularization``,
``Embedding`` and the merging layers ``Add``, ``Subtract``, ``Multiply``, ``Average``,
``Maximum``, ``Minimum``, ``Concatenate`` (called on a list of inputs).  Every constructor
argument is validated as Keras does (a TypeError or ValueError naming the layer and the
argument); ``dtype='float64'`` gives float64 weights, computation and outputs; weight and
activity regularizers put their penalties in ``layer.losses``.

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


import functools

import numpy as np

from .. import ops as _ops
from ..ops import batchnorm as _bn_ops
from ..ops.linalg import note_blas as _note_blas
from ..ops.registry import op as _op
from ..tensor import Tensor, wrap
from . import functional as F
from . import activations as _acts
from . import base_layer as _base_layer
from . import initializers as _inits
from . import regularizers as _regs
from .base_layer import (_FLOATX, _LAYER_CLASSES, Input, InputLayer, Layer, _as_input,  # noqa: F401
                         _fmt_shape, _snake, _unique_name)

__all__ = ["Layer", "InputLayer", "Input", "Dense", "BatchNormalization", "LayerNormalization", "Activation",
           "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "Flatten", "Reshape", "Add", "Subtract",
           "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Embedding", "Permute", "RepeatVector",
           "Identity", "ActivityRegularization", "GaussianNoise", "Lambda", "get_activation",
           "deserialize", "serialize"]

# ---------------------------------------------------------------------------
# Fused dense ops: one tape record for x @ W (+ b) (+ relu)
# ---------------------------------------------------------------------------

def _dense_forward(x, w, b, relu):
    x = np.asarray(x)
    shape = x.shape
    x2 = x if x.ndim == 2 else x.reshape(-1, shape[-1])
    _note_blas()
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
    _note_blas()
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
# Argument checks (Keras's rules, with errors naming the layer and the argument)
# ---------------------------------------------------------------------------

def _is_real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _int_arg(layer, arg, value, lo=1, allow_none=False):
    """An int >= ``lo`` (integral floats such as 4.0 are accepted, as Keras's ``int(units)``)."""
    if value is None and allow_none:
        return None
    if not _is_real(value):
        raise TypeError(f"{layer}: {arg} must be an integer >= {lo}, got {value!r} ({type(value).__name__})")
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or value != int(value):
            raise ValueError(f"{layer}: {arg} must be an integer >= {lo}, got {value!r}")
    v = int(value)
    if v < lo:
        raise ValueError(f"{layer}: {arg} must be an integer >= {lo}, got {value!r}")
    return v


def _float_arg(layer, arg, value, lo=None, hi=None, lo_open=False, hi_open=False, allow_none=False):
    """A finite float in the given range (``lo_open``/``hi_open``: the end is excluded)."""
    if value is None and allow_none:
        return None
    if not _is_real(value):
        raise TypeError(f"{layer}: {arg} must be a number, got {value!r} ({type(value).__name__})")
    v = float(value)
    bad = not np.isfinite(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        bad = True
    if hi is not None and (v > hi or (hi_open and v == hi)):
        bad = True
    if bad:
        lo_s = "-inf" if lo is None else repr(float(lo))
        hi_s = "inf" if hi is None else repr(float(hi))
        rng = ("(" if lo_open or lo is None else "[") + f"{lo_s}, {hi_s}" + (")" if hi_open or hi is None else "]")
        raise ValueError(f"{layer}: {arg} must be a finite number in {rng}, got {value!r}")
    return v


def _bool_arg(layer, arg, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{layer}: {arg} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def _axis_list(layer, value):
    """``axis`` as a tuple of ints (validated against the input rank in ``build``)."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    if not items:
        raise ValueError(f"{layer}: axis must not be empty")
    out = []
    for a in items:
        if not _is_real(a) or isinstance(a, (float, np.floating)):
            raise TypeError(f"{layer}: axis must be an integer or a list of integers, got {value!r}")
        out.append(int(a))
    return tuple(out)


def _resolve_axes(layer, name, axes, ndim, input_shape, allow_batch=False):
    res = []
    for a in axes:
        b = a + ndim if a < 0 else a
        if not (0 if allow_batch else 1) <= b < ndim:
            raise ValueError(f"{type(layer).__name__} layer {name!r}: axis {a} is out of range for inputs "
                             f"with shape {_fmt_shape(input_shape)} (rank {ndim})")
        res.append(b)
    if len(set(res)) != len(res):
        raise ValueError(f"{type(layer).__name__} layer {name!r}: axis {axes} repeats an axis")
    return tuple(sorted(res))


def _no_constraint(layer, **constraints):
    for arg, value in constraints.items():
        if value is not None:
            raise NotImplementedError(f"{layer}: {arg} is not supported (weight constraints are not "
                                      f"implemented), got {value!r}")


# ---------------------------------------------------------------------------
# What the concrete layers share: activity regularization, weights with regularizers
# ---------------------------------------------------------------------------

def _is_concrete(x):
    """True for values a layer computes on now (Tensors, arrays, numbers); False for symbolic inputs."""
    if isinstance(x, (list, tuple)):
        return all(_is_concrete(t) for t in x)
    return isinstance(x, (Tensor, np.ndarray, int, float, np.generic))


class _KerasLayer(Layer):
    """The concrete layers' base: ``activity_regularizer`` (``reg(output) / batch size`` added
    with ``add_loss`` at each call, as tf.keras), ``compute_dtype``, and regularizers and
    initializers restored from their configs.  ``dtype`` ('float32' default or 'float64':
    weights, computation and output) is the base Layer's."""

    def __init__(self, activity_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self._set_activity_regularizer(activity_regularizer)

    def _set_activity_regularizer(self, value):
        # The activity penalty is added by ``call`` itself (models may call ``layer.call``
        # directly, skipping ``__call__``); only a layer that has one pays for the wrapper.
        self._activity_reg = _regs.get(value)
        self.__dict__.pop("call", None)
        if self._activity_reg is not None:
            plain = type(self).call

            @functools.wraps(plain)
            def call(*args, **kwargs):
                y = plain(self, *args, **kwargs)
                if self._activity_reg is not None and isinstance(y, Tensor):
                    self._add_activity_loss(y)
                return y

            object.__setattr__(self, "call", call)

    @property
    def compute_dtype(self):
        return self.dtype

    @property
    def activity_regularizer(self):
        return self._activity_reg

    @activity_regularizer.setter
    def activity_regularizer(self, value):
        self._set_activity_regularizer(value)

    def _add_weight(self, name, shape, initializer, trainable=True, regularizer=None):
        return self.add_weight(name, shape, initializer, trainable=trainable, regularizer=regularizer)

    def _add_activity_loss(self, y):
        penalty = self._activity_reg(y)
        n = y.shape[0] if y.ndim else 1
        if n:
            penalty = _ops.divide(penalty, float(n))   # batch-size independent, as tf.keras
        self.add_loss(penalty)

    def get_config(self):
        cfg = super().get_config()
        if self._activity_reg is not None:
            cfg["activity_regularizer"] = _regs.serialize(self._activity_reg)
        return cfg

    @classmethod
    def from_config(cls, config):
        cfg = dict(config)
        for key, value in list(cfg.items()):
            if key.endswith("_regularizer") and isinstance(value, (dict, str)):
                cfg[key] = _regs.deserialize(value)
            elif key.endswith("_initializer") and isinstance(value, dict):
                cfg[key] = _inits.deserialize(value)
        return cls(**cfg)


def _apply_or_defer(fn):
    """Apply a state update now, or at the commit of the enclosing train step."""
    _base_layer.add_state_update(fn)


# ---------------------------------------------------------------------------
# Activations by name (tinygrad_bn.keras.activations)
# ---------------------------------------------------------------------------

_linear = _acts.linear


def get_activation(identifier):
    """An activation function from a name (see :mod:`tinygrad_bn.keras.activations`),
    None (linear) or a callable."""
    return _acts.get(identifier)


def _activation_name(identifier):
    if identifier is None or isinstance(identifier, str):
        return _acts.serialize(identifier)
    if _acts.is_builtin(identifier):
        return _acts.serialize(identifier)
    return identifier  # a custom callable (not serializable)


# ---------------------------------------------------------------------------
# Dense
# ---------------------------------------------------------------------------

class Dense(_KerasLayer):
    """Fully connected layer: ``activation(x @ kernel + bias)``.

    ``kernel`` has shape ``(input features, units)``; the input size is taken
    from the first input.  Inputs with more than two axes are multiplied along
    the last one.  ``use_bias=False`` drops the bias: do that when a
    :class:`BatchNormalization` follows, since its β already supplies a shift
    and the mean subtraction cancels any bias exactly.
    ``kernel_regularizer``/``bias_regularizer`` add ``reg(weight)`` to
    ``layer.losses``; ``activity_regularizer`` adds ``reg(output) / batch size``.
    ``dtype='float64'`` makes weights, computation and output float64.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        self.units = _int_arg("Dense", "units", units, lo=1)
        _no_constraint("Dense", kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.activation = get_activation(activation)
        self._activation_id = _activation_name(activation)
        self._fuse_relu = (self.activation is _ops.relu or self.activation is _acts.relu
                           or _acts._library_name(self.activation) == "relu")   # e.g. tinygrad_bn.nn.relu
        self.use_bias = _bool_arg("Dense", "use_bias", use_bias)
        self.kernel_initializer = _inits.get(kernel_initializer)
        self.bias_initializer = _inits.get(bias_initializer)
        self.kernel_regularizer = _regs.get(kernel_regularizer)
        self.bias_regularizer = _regs.get(bias_regularizer)
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Dense layer {self.name!r} needs inputs with a batch axis and a feature axis, "
                             f"got input shape {_fmt_shape(input_shape)}")
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(f"Dense layer {self.name!r}: the last input axis must have a known size")
        if int(in_features) < 1:
            raise ValueError(f"Dense layer {self.name!r}: inputs have no features "
                             f"(input shape {_fmt_shape(input_shape)})")
        self.kernel = self._add_weight("kernel", (int(in_features), self.units), self.kernel_initializer,
                                       regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self._add_weight("bias", (self.units,), self.bias_initializer,
                                         regularizer=self.bias_regularizer)
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
        if self.kernel_regularizer is not None:
            cfg["kernel_regularizer"] = _regs.serialize(self.kernel_regularizer)
        if self.bias_regularizer is not None:
            cfg["bias_regularizer"] = _regs.serialize(self.bias_regularizer)
        return cfg


# ---------------------------------------------------------------------------
# Batch normalization
# ---------------------------------------------------------------------------

class BatchNormalization(_KerasLayer):
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

    The moving-statistics update goes through
    :func:`tinygrad_bn.keras.base_layer.add_state_update`: applied at once in a
    user's own loop, at the commit of a ``fit`` step (so a step that raises
    leaves them unchanged).  An empty batch in training is a ValueError (its
    statistics do not exist).  NaN inputs give NaN outputs and statistics.

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
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, **kwargs):
        name = "BatchNormalization"
        axes = _axis_list(name, axis)
        if len(axes) != 1:
            raise ValueError(f"{name}: only a single feature axis is supported, got axis={axis!r}")
        self.axis = axes[0]
        self.momentum = _float_arg(name, "momentum", momentum, lo=0.0, hi=1.0)
        self.epsilon = _float_arg(name, "epsilon", epsilon, lo=0.0, lo_open=True)
        self.center = _bool_arg(name, "center", center)
        self.scale = _bool_arg(name, "scale", scale)
        _bool_arg(name, "synchronized", synchronized)   # one device: nothing to synchronize
        _no_constraint(name, beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        super().__init__(**kwargs)
        self.beta_initializer = _inits.get(beta_initializer)
        self.gamma_initializer = _inits.get(gamma_initializer)
        self.moving_mean_initializer = _inits.get(moving_mean_initializer)
        self.moving_variance_initializer = _inits.get(moving_variance_initializer)
        self.beta_regularizer = _regs.get(beta_regularizer)
        self.gamma_regularizer = _regs.get(gamma_regularizer)
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
        if dim < 1:
            raise ValueError(f"BatchNormalization layer {self.name!r}: axis {self.axis} has size 0 "
                             f"(input shape {_fmt_shape(input_shape)})")
        self._axis = axis
        self._ndim = ndim
        if axis != ndim - 1:  # move the feature axis last for the kernel, and back
            perm = [i for i in range(ndim) if i != axis] + [axis]
            self._perm = tuple(perm)
            self._inv = tuple(int(i) for i in np.argsort(perm))
        if self.scale:
            self.gamma = self._add_weight("gamma", (dim,), self.gamma_initializer,
                                          regularizer=self.gamma_regularizer)
        if self.center:
            self.beta = self._add_weight("beta", (dim,), self.beta_initializer,
                                         regularizer=self.beta_regularizer)
        self.moving_mean = self._add_weight("moving_mean", (dim,), self.moving_mean_initializer, trainable=False)
        self.moving_variance = self._add_weight("moving_variance", (dim,), self.moving_variance_initializer,
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

    def _train_call(self, x, bias=None, relu=False):
        """The training branch of ``call`` (feature axis last): batch statistics, moving
        averages updated (or deferred to the step's commit).  ``bias``/``relu``: a Dense
        layer's bias before and a ReLU after, fused into the batch norm (see
        :func:`fused_block`)."""
        n = x.data.size // max(x.shape[-1], 1)
        if n == 0:
            raise ValueError(f"BatchNormalization layer {self.name!r}: an empty batch (input shape "
                             f"{_fmt_shape(x.shape)}) has no batch statistics to normalize with in "
                             "training; moving statistics left unchanged")
        if bias is None and not relu:
            y, mean, var = F.batch_norm(x, self.gamma, self.beta, epsilon=self.epsilon, return_stats=True)
        else:
            y, mean, var = _bn_ops.batch_norm_block(x, bias, self.gamma, self.beta, epsilon=self.epsilon,
                                                    relu=relu, return_stats=True)
        m = self.momentum
        mm_var, mv_var = self.moving_mean, self.moving_variance
        # mean and var are fresh arrays of this call (batch_norm allocates them): no copy needed

        def update():
            for v, stat in ((mm_var, mean), (mv_var, var)):
                arr = v._writable()
                arr *= m
                arr += (1.0 - m) * stat

        _apply_or_defer(update)
        return y

    def call(self, x, training=False):
        if self._perm is not None:
            x = _ops.transpose(x, self._perm)
        if training and not self.use_moving_statistics:
            y = self._train_call(x)
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
        if self.beta_regularizer is not None:
            cfg["beta_regularizer"] = _regs.serialize(self.beta_regularizer)
        if self.gamma_regularizer is not None:
            cfg["gamma_regularizer"] = _regs.serialize(self.gamma_regularizer)
        return cfg


# ---------------------------------------------------------------------------
# Layer normalization
# ---------------------------------------------------------------------------

class LayerNormalization(_KerasLayer):
    """Layer normalization (Ba et al.), as Keras: each sample is normalised over ``axis``
    (the last by default, or a list of axes) with its own mean and biased variance::

        y = gamma * (x - mean) / sqrt(var + epsilon) + beta

    The statistics come from the same ``mean``/``var`` primitives as the composite
    batch norm (batch norm reduces over the batch axes, this over the feature axes,
    keeping dims); ``gamma``/``beta`` have the shape of the normalised axes.
    The same computation in training and inference; no moving statistics.
    ``rms_scaling=True`` (Keras 3): ``y = gamma * x / sqrt(mean(x**2) + epsilon)``.
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        name = "LayerNormalization"
        self.axis = _axis_list(name, axis)
        self._axis_arg = axis if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = _float_arg(name, "epsilon", epsilon, lo=0.0, lo_open=True)
        self.center = _bool_arg(name, "center", center)
        self.scale = _bool_arg(name, "scale", scale)
        self.rms_scaling = _bool_arg(name, "rms_scaling", rms_scaling)
        _no_constraint(name, beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        super().__init__(**kwargs)
        self.beta_initializer = _inits.get(beta_initializer)
        self.gamma_initializer = _inits.get(gamma_initializer)
        self.beta_regularizer = _regs.get(beta_regularizer)
        self.gamma_regularizer = _regs.get(gamma_regularizer)
        self.gamma = self.beta = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if ndim < 1:
            raise ValueError(f"LayerNormalization layer {self.name!r} needs inputs with at least one axis")
        axes = _resolve_axes(self, self.name, self.axis, ndim, input_shape, allow_batch=ndim == 1)
        for a in axes:
            if input_shape[a] is None:
                raise ValueError(f"LayerNormalization layer {self.name!r}: axis {a} must have a known size "
                                 f"(input shape {_fmt_shape(input_shape)})")
        self._axes = axes
        self._ndim = ndim
        # parameters broadcast against the input: its sizes on the normalised axes, 1 elsewhere
        last = axes == tuple(range(axes[0], ndim)) if axes else True
        shape = tuple(int(input_shape[a]) for a in axes)
        self._param_shape = shape if last else tuple(int(input_shape[i]) if i in axes else 1
                                                      for i in range(axes[0], ndim))
        self._stored_shape = shape
        if self.scale or self.rms_scaling:
            self.gamma = self._add_weight("gamma", shape, self.gamma_initializer,
                                          regularizer=self.gamma_regularizer)
        if self.center and not self.rms_scaling:
            self.beta = self._add_weight("beta", shape, self.beta_initializer,
                                         regularizer=self.beta_regularizer)
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if self.built:
            ok = len(input_shape) == self._ndim and all(
                input_shape[a] == n for a, n in zip(self._axes, self._stored_shape))
            if not ok:
                raise ValueError(f"LayerNormalization layer {self.name!r} was built for inputs of shape "
                                 f"{_fmt_shape(self.input_shape)} (normalising axes {self._axes}), got "
                                 f"{_fmt_shape(input_shape)}")
        return tuple(input_shape)

    def _param(self, p):
        if self._param_shape == self._stored_shape:
            return p
        return _ops.reshape(p, self._param_shape)

    def call(self, x, training=False):
        axes = self._axes
        if self.rms_scaling:
            ms = _ops.mean(_ops.multiply(x, x), axis=axes, keepdims=True)
            y = _ops.divide(x, _ops.sqrt(_ops.add(ms, self.epsilon)))
        else:
            mu = _ops.mean(x, axis=axes, keepdims=True)          # the composite batch norm's statistics,
            sigma2 = _ops.var(x, axis=axes, keepdims=True)       # over the feature axes of each sample
            y = _ops.divide(_ops.subtract(x, mu), _ops.sqrt(_ops.add(sigma2, self.epsilon)))
        if self.gamma is not None:
            y = _ops.multiply(y, self._param(self.gamma))
        if self.beta is not None:
            y = _ops.add(y, self._param(self.beta))
        return y

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=list(self.axis) if isinstance(self._axis_arg, (list, tuple)) else self.axis[0],
                   epsilon=self.epsilon, center=self.center, scale=self.scale, rms_scaling=self.rms_scaling,
                   beta_initializer=_inits.serialize(self.beta_initializer),
                   gamma_initializer=_inits.serialize(self.gamma_initializer))
        if self.beta_regularizer is not None:
            cfg["beta_regularizer"] = _regs.serialize(self.beta_regularizer)
        if self.gamma_regularizer is not None:
            cfg["gamma_regularizer"] = _regs.serialize(self.gamma_regularizer)
        return cfg


# ---------------------------------------------------------------------------
# Activation layers
# ---------------------------------------------------------------------------

class Activation(_KerasLayer):
    """Applies an activation by name (``'relu'``, ``'gelu'``, ``'softmax'`` ...) or callable."""

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


class ReLU(_KerasLayer):
    """``max(x, 0)``; Keras's general form with ``max_value``, ``negative_slope`` and ``threshold``
    (see :func:`tinygrad_bn.keras.activations.relu`)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        self.max_value = _float_arg("ReLU", "max_value", max_value, lo=0.0, allow_none=True)
        self.negative_slope = _float_arg("ReLU", "negative_slope", negative_slope, lo=0.0)
        self.threshold = _float_arg("ReLU", "threshold", threshold)
        super().__init__(**kwargs)

    def call(self, x, training=False):
        if self.max_value is None and self.negative_slope == 0.0 and self.threshold == 0.0:
            return _ops.relu(x)
        return _acts.relu(x, negative_slope=self.negative_slope, max_value=self.max_value,
                          threshold=self.threshold)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(max_value=self.max_value, negative_slope=self.negative_slope, threshold=self.threshold)
        return cfg


# ---------------------------------------------------------------------------
# Fusion: Dense -> BatchNormalization -> ReLU as one batch-norm op (Sequential)
# ---------------------------------------------------------------------------

def _plain(layer, cls):
    """True when ``layer`` runs ``cls.call`` itself: no override in a subclass and no wrapper
    on the instance (an activity regularizer, a user's patch)."""
    return type(layer).call is cls.call and "call" not in layer.__dict__


def _is_relu(layer):
    """A ReLU layer with Keras's defaults, or ``Activation('relu')``."""
    if isinstance(layer, ReLU):
        return (_plain(layer, ReLU) and layer.max_value is None and layer.negative_slope == 0.0
                and layer.threshold == 0.0)
    if isinstance(layer, Activation):
        act = layer.activation
        return _plain(layer, Activation) and (act is _ops.relu or act is _acts.relu
                                              or _acts._library_name(act) == "relu")
    return False


def _plain_dense(layer):
    return isinstance(layer, Dense) and _plain(layer, Dense) and layer.activation is _linear


def _plain_bn(layer):
    return isinstance(layer, BatchNormalization) and _plain(layer, BatchNormalization) and layer._perm is None


class FusedBlock:
    """``[Dense] -> BatchNormalization -> [ReLU]`` of a Sequential model run as one fused
    batch norm in training: the Dense layer's matmul, then :func:`ops.batch_norm_block`
    (its bias folded into the batch mean, the ReLU applied as the output is written and
    gated in the backward), so the step makes no pass over memory for the bias, its
    gradient or the ReLU.  The result, the gradients and the moving statistics are those of
    the three layers called one after the other (up to rounding; the bias's gradient, zero
    up to rounding in both, is computed from dx's closed form).  In inference, or when a
    layer's configuration no longer allows it (an activity regularizer, a non-default ReLU,
    ``use_moving_statistics``), it simply calls the layers.  Weights, names, configs and
    saving are the layers' own: this is only how ``Sequential`` runs them."""

    _call_has_training = True

    def __init__(self, dense, bn, relu):
        self.dense, self.bn, self.relu = dense, bn, relu
        self.layers = [l for l in (dense, bn, relu) if l is not None]

    def __repr__(self):
        return "FusedBlock(" + " -> ".join(l.name for l in self.layers) + ")"

    def _fusable(self):
        dense, bn, relu = self.dense, self.bn, self.relu
        return (not bn.use_moving_statistics and _plain_bn(bn)
                and (dense is None or _plain_dense(dense)) and (relu is None or _is_relu(relu)))

    def call(self, x, training=False):
        if training and self._fusable():
            bias = None
            dense = self.dense
            if dense is not None:
                x = dense_nobias_op(x, dense.kernel)
                bias = dense.bias
            return self.bn._train_call(x, bias, self.relu is not None)
        for layer in self.layers:
            x = layer.call(x, training) if layer._call_has_training else layer.call(x)
        return x


def fusion_plan(layers):
    """The steps a Sequential model runs for ``layers``: each layer, except that every run
    ``Dense -> BatchNormalization -> ReLU`` (Dense without activation; either end optional,
    the batch norm required, with its feature axis last) becomes one :class:`FusedBlock`."""
    plan, i, n = [], 0, len(layers)
    while i < n:
        dense = layers[i] if _plain_dense(layers[i]) else None
        j = i + (dense is not None)
        if j < n and _plain_bn(layers[j]):
            relu = layers[j + 1] if j + 1 < n and _is_relu(layers[j + 1]) else None
            if dense is not None or relu is not None:
                plan.append(FusedBlock(dense, layers[j], relu))
                i = j + 1 + (relu is not None)
                continue
        plan.append(layers[i])
        i += 1
    return plan


class LeakyReLU(_KerasLayer):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (the layer's Keras default slope is 0.3;
    ``alpha=`` is accepted as tf.keras 2 spelled it)."""

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        if alpha is not None:
            negative_slope = alpha
        self.negative_slope = _float_arg("LeakyReLU", "negative_slope", negative_slope, lo=0.0)
        super().__init__(**kwargs)

    def call(self, x, training=False):
        return _acts.leaky_relu(x, self.negative_slope)

    def get_config(self):
        cfg = super().get_config()
        cfg["negative_slope"] = self.negative_slope
        return cfg


class ELU(_KerasLayer):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        self.alpha = _float_arg("ELU", "alpha", alpha)
        super().__init__(**kwargs)

    def call(self, x, training=False):
        return _acts.elu(x, self.alpha)

    def get_config(self):
        cfg = super().get_config()
        cfg["alpha"] = self.alpha
        return cfg


class Softmax(_KerasLayer):
    """Softmax along ``axis`` (default the last)."""

    def __init__(self, axis=-1, **kwargs):
        axes = _axis_list("Softmax", axis)
        if len(axes) != 1:
            raise ValueError(f"Softmax: only a single axis is supported, got axis={axis!r}")
        self.axis = axes[0]
        super().__init__(**kwargs)

    def build(self, input_shape):
        _resolve_axes(self, self.name, (self.axis,), len(input_shape), input_shape, allow_batch=True)
        super().build(input_shape)

    def call(self, x, training=False):
        return _ops.softmax(x, axis=self.axis)

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg


# ---------------------------------------------------------------------------
# Dropout, Flatten, Reshape
# ---------------------------------------------------------------------------

class Dropout(_KerasLayer):
    """Inverted dropout: in training, zero each input with probability ``rate`` and
    scale the rest by ``1 / (1 - rate)``; identity at inference.

    The mask comes from the layer's own generator (seeded by ``seed``, else
    drawn from the global one when built); ``model.save`` stores its state.
    ``noise_shape`` (Keras): the mask's shape, broadcast over the input (``None``
    entries take the input's size), e.g. ``(None, 1, D)`` drops whole features.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        self.rate = _float_arg("Dropout", "rate", rate, lo=0.0, hi=1.0, hi_open=True)
        if seed is not None:
            seed = _int_arg("Dropout", "seed", seed, lo=0)
        if noise_shape is not None:
            if not isinstance(noise_shape, (list, tuple)):
                raise TypeError(f"Dropout: noise_shape must be a tuple of sizes (None for the input's), "
                                f"got {noise_shape!r}")
            noise_shape = tuple(None if s is None else _int_arg("Dropout", "noise_shape", s, lo=1)
                                for s in noise_shape)
        self.noise_shape = noise_shape
        self.seed = seed
        super().__init__(**kwargs)
        self._rng = None

    def build(self, input_shape):
        from ..utils import derive_rng
        if self.noise_shape is not None and len(self.noise_shape) != len(input_shape):
            raise ValueError(f"Dropout layer {self.name!r}: noise_shape {self.noise_shape} has "
                             f"{len(self.noise_shape)} axes but inputs have shape {_fmt_shape(input_shape)}")
        self._rng = derive_rng(self.seed)
        super().build(input_shape)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(n if s is None else s for s, n in zip(self.noise_shape, x.shape))
            for s, n in zip(shape, x.shape):
                if s != 1 and s != n:
                    raise ValueError(f"Dropout layer {self.name!r}: noise_shape {self.noise_shape} does not "
                                     f"broadcast to the input shape {_fmt_shape(x.shape)}")
        keep = self._rng.random(shape, dtype=np.float32) >= self.rate
        mask = keep.astype(x.data.dtype)
        mask *= 1.0 / (1.0 - self.rate)
        return _ops.multiply(x, mask)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed,
                   noise_shape=None if self.noise_shape is None else list(self.noise_shape))
        return cfg


class Flatten(_KerasLayer):
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
        if x.ndim < 2:
            return _ops.reshape(x, (x.shape[0] if x.ndim else 1, 1))
        return _ops.reshape(x, (x.shape[0], -1))


class Reshape(_KerasLayer):
    """Reshapes each sample to ``target_shape`` (the batch axis is kept; one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        if not isinstance(target_shape, (list, tuple)):
            raise TypeError(f"Reshape: target_shape must be a tuple of sizes, got {target_shape!r}")
        shape = tuple(-1 if (_is_real(s) and int(s) == -1) else _int_arg("Reshape", "target_shape", s, lo=1)
                      for s in target_shape)
        if sum(1 for s in shape if s == -1) > 1:
            raise ValueError(f"Reshape: target_shape may contain at most one -1, got {target_shape!r}")
        self.target_shape = shape
        super().__init__(**kwargs)

    def _resolved(self, input_shape):
        n = 1
        for s in input_shape[1:]:
            if s is None:
                return self.target_shape
            n *= int(s)
        known = 1
        for s in self.target_shape:
            if s != -1:
                known *= s
        shape = self.target_shape
        if -1 in shape:
            if n % known:
                raise ValueError(f"Reshape layer {self.name!r}: cannot reshape inputs of shape "
                                 f"{_fmt_shape(input_shape)} ({n} values per sample) to {self.target_shape}")
            shape = tuple(n // known if s == -1 else s for s in shape)
        elif known != n:
            raise ValueError(f"Reshape layer {self.name!r}: cannot reshape inputs of shape "
                             f"{_fmt_shape(input_shape)} ({n} values per sample) to {self.target_shape} "
                             f"({known} values)")
        return shape

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(None if s == -1 else s for s in self._resolved(input_shape))

    def call(self, x, training=False):
        return _ops.reshape(x, (x.shape[0],) + self._resolved(x.shape))

    def get_config(self):
        cfg = super().get_config()
        cfg["target_shape"] = list(self.target_shape)
        return cfg


class Permute(_KerasLayer):
    """Permutes the non-batch axes: ``dims`` is a permutation of ``1..ndim-1`` (Keras counts from 1)."""

    def __init__(self, dims, **kwargs):
        if not isinstance(dims, (list, tuple)) or not dims:
            raise TypeError(f"Permute: dims must be a non-empty tuple of axes (counted from 1), got {dims!r}")
        dims = tuple(_int_arg("Permute", "dims", d, lo=1) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(dims)}, got {dims!r}")
        self.dims = dims
        super().__init__(**kwargs)

    def _check(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute layer {self.name!r}: dims {self.dims} need inputs with "
                             f"{len(self.dims) + 1} axes, got shape {_fmt_shape(input_shape)}")

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, x, training=False):
        self._check(x.shape)
        return _ops.transpose(x, (0,) + self.dims)

    def get_config(self):
        cfg = super().get_config()
        cfg["dims"] = list(self.dims)
        return cfg


class RepeatVector(_KerasLayer):
    """Repeats each sample ``n`` times: ``(N, D) -> (N, n, D)``."""

    def __init__(self, n, **kwargs):
        self.n = _int_arg("RepeatVector", "n", n, lo=1)
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"RepeatVector layer {self.name!r} needs inputs of shape (batch, features), "
                             f"got {_fmt_shape(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def call(self, x, training=False):
        self.compute_output_shape(x.shape)
        return _ops.broadcast_to(_ops.expand_dims(x, 1), (x.shape[0], self.n, x.shape[1]))

    def get_config(self):
        cfg = super().get_config()
        cfg["n"] = self.n
        return cfg


class Identity(_KerasLayer):
    """Returns its input unchanged."""

    def call(self, x, training=False):
        return x


class ActivityRegularization(_KerasLayer):
    """Identity that adds ``l1 * sum(|x|) + l2 * sum(x**2)`` (per sample) to ``losses``."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        if "activity_regularizer" in kwargs:
            raise TypeError("ActivityRegularization: give l1= and l2=, not activity_regularizer=")
        self.l1 = _float_arg("ActivityRegularization", "l1", l1, lo=0.0)
        self.l2 = _float_arg("ActivityRegularization", "l2", l2, lo=0.0)
        super().__init__(activity_regularizer=_regs.L1L2(l1=self.l1, l2=self.l2), **kwargs)

    def call(self, x, training=False):
        return x

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("activity_regularizer", None)
        cfg.update(l1=self.l1, l2=self.l2)
        return cfg


class GaussianNoise(_KerasLayer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` in training; identity otherwise."""

    def __init__(self, stddev, seed=None, **kwargs):
        self.stddev = _float_arg("GaussianNoise", "stddev", stddev, lo=0.0)
        self.seed = None if seed is None else _int_arg("GaussianNoise", "seed", seed, lo=0)
        super().__init__(**kwargs)
        self._rng = None

    def build(self, input_shape):
        from ..utils import derive_rng
        self._rng = derive_rng(self.seed)
        super().build(input_shape)

    def call(self, x, training=False):
        if not training or self.stddev == 0.0:
            return x
        noise = self._rng.standard_normal(x.shape).astype(x.data.dtype) * x.data.dtype.type(self.stddev)
        return _ops.add(x, noise)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(stddev=self.stddev, seed=self.seed)
        return cfg


class Lambda(_KerasLayer):
    """Wraps a function of the inputs (``Lambda(lambda x: x * 2)``); ``arguments`` are extra keyword
    arguments for it.  ``output_shape`` (without the batch axis) declares the output shape for the
    functional API; without it the shape is found by one call on zeros.  A Lambda layer cannot be
    saved to a config (its function is code)."""

    def __init__(self, function, output_shape=None, arguments=None, **kwargs):
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {function!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda: arguments must be a dict of keyword arguments, got {arguments!r}")
        if output_shape is not None and not callable(output_shape):
            if not isinstance(output_shape, (list, tuple)):
                raise TypeError(f"Lambda: output_shape must be a tuple (without the batch axis) or a callable, "
                                f"got {output_shape!r}")
            output_shape = tuple(None if d is None else _int_arg("Lambda", "output_shape", d, lo=0)
                                 for d in output_shape)
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        if self._output_shape is not None:
            batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
            return (batch,) + self._output_shape
        from .._engine import stop_recording_all

        def zeros(shape):
            return wrap(np.zeros(tuple(1 if d is None else d for d in shape), self.dtype))
        arg = [zeros(sh) for sh in input_shape] if isinstance(input_shape, list) else zeros(input_shape)
        with stop_recording_all():
            out = self.function(arg, **self.arguments)
        shape = out.shape
        batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        return (batch,) + tuple(shape[1:])

    def call(self, x, training=False):
        return self.function(x, **self.arguments)

    def get_config(self):
        raise TypeError(f"Lambda layer {self.name!r}: its function cannot be saved in a config; "
                        "subclass Layer instead")


# ---------------------------------------------------------------------------
# Merging layers (several inputs, given as a list)
# ---------------------------------------------------------------------------

class _Merge(_KerasLayer):
    """Base of the layers that combine a list of inputs of the same shape."""

    _min_inputs = 2

    def _check_list(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"{type(self).__name__} layer {self.name!r} takes a list of inputs, "
                            f"got {type(inputs).__name__}")
        if len(inputs) < self._min_inputs:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} needs at least {self._min_inputs} "
                             f"inputs, got {len(inputs)}")

    def build(self, input_shape):
        self._check_shapes(input_shape)
        self.input_shape = [tuple(s) for s in input_shape]
        self.built = True

    def _check_shapes(self, shapes):
        first = tuple(shapes[0])
        for i, s in enumerate(shapes[1:], 1):
            s = tuple(s)
            same = len(s) == len(first) and all(a is None or b is None or a == b
                                                for a, b in zip(s[1:], first[1:]))
            if not same:
                raise ValueError(f"{type(self).__name__} layer {self.name!r}: input {i} has shape "
                                 f"{_fmt_shape(s)} but input 0 has shape {_fmt_shape(first)}; "
                                 "inputs must have the same shape")

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        return tuple(input_shape[0])

    def __call__(self, inputs, *args, **kwargs):
        self._check_list(inputs)
        return super().__call__(list(inputs), *args, **kwargs)

    def _check_call(self, inputs):
        shapes = [tuple(x.shape) for x in inputs]
        self.compute_output_shape(shapes)
        self._check_batch(shapes)

    def _check_batch(self, shapes):
        n = shapes[0][0] if shapes[0] else None
        for i, s in enumerate(shapes):
            if s and s[0] != n:
                raise ValueError(f"{type(self).__name__} layer {self.name!r}: input {i} has batch size {s[0]} "
                                 f"but input 0 has {n}")


class Add(_Merge):
    """Elementwise sum of the inputs."""

    def call(self, inputs, training=False):
        self._check_call(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = _ops.add(out, x)
        return out


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    def _check_list(self, inputs):
        super()._check_list(inputs)
        if len(inputs) != 2:
            raise ValueError(f"Subtract layer {self.name!r} needs exactly 2 inputs, got {len(inputs)}")

    def call(self, inputs, training=False):
        self._check_call(inputs)
        return _ops.subtract(inputs[0], inputs[1])


class Multiply(_Merge):
    """Elementwise product of the inputs."""

    def call(self, inputs, training=False):
        self._check_call(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = _ops.multiply(out, x)
        return out


class Average(_Merge):
    """Elementwise mean of the inputs."""

    def call(self, inputs, training=False):
        self._check_call(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = _ops.add(out, x)
        return _ops.divide(out, float(len(inputs)))


class Maximum(_Merge):
    """Elementwise maximum of the inputs."""

    def call(self, inputs, training=False):
        self._check_call(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = _ops.maximum(out, x)
        return out


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    def call(self, inputs, training=False):
        self._check_call(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = _ops.minimum(out, x)
        return out


class Concatenate(_Merge):
    """Joins the inputs along ``axis`` (the last by default); other axes must match."""

    def __init__(self, axis=-1, **kwargs):
        axes = _axis_list("Concatenate", axis)
        if len(axes) != 1:
            raise ValueError(f"Concatenate: axis must be a single integer, got {axis!r}")
        self.axis = axes[0]
        super().__init__(**kwargs)

    def _check_shapes(self, shapes):
        first = tuple(shapes[0])
        ndim = len(first)
        ax = self.axis + ndim if self.axis < 0 else self.axis
        if not 0 < ax < ndim:
            raise ValueError(f"Concatenate layer {self.name!r}: axis {self.axis} is not a feature axis of "
                             f"inputs with shape {_fmt_shape(first)}")
        for i, s in enumerate(shapes[1:], 1):
            s = tuple(s)
            ok = len(s) == ndim and all(a is None or b is None or a == b
                                        for j, (a, b) in enumerate(zip(s, first)) if j not in (0, ax))
            if not ok:
                raise ValueError(f"Concatenate layer {self.name!r}: input {i} has shape {_fmt_shape(s)} and "
                                 f"input 0 has shape {_fmt_shape(first)}; all axes but axis {self.axis} "
                                 "must match")
        return ax

    def compute_output_shape(self, input_shape):
        ax = self._check_shapes(input_shape)
        sizes = [s[ax] for s in input_shape]
        out = list(input_shape[0])
        out[ax] = None if any(s is None for s in sizes) else int(sum(sizes))
        return tuple(out)

    def call(self, inputs, training=False):
        self._check_call(inputs)
        return _ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg


# ---------------------------------------------------------------------------
# Embedding
# ---------------------------------------------------------------------------

class Embedding(_KerasLayer):
    """Looks up rows of an ``(input_dim, output_dim)`` table for integer indices in
    ``[0, input_dim)``; the output has the indices' shape plus ``output_dim``.
    The gradient of repeated indices adds up."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, **kwargs):
        self.input_dim = _int_arg("Embedding", "input_dim", input_dim, lo=1)
        self.output_dim = _int_arg("Embedding", "output_dim", output_dim, lo=1)
        if _bool_arg("Embedding", "mask_zero", mask_zero):
            raise NotImplementedError("Embedding: mask_zero=True is not supported (no masking)")
        _no_constraint("Embedding", embeddings_constraint=embeddings_constraint)
        super().__init__(**kwargs)
        init = embeddings_initializer
        if isinstance(init, str) and init.lower() == "uniform":
            init = _inits.RandomUniform(-0.05, 0.05)
        self.embeddings_initializer = _inits.get(init)
        self.embeddings_regularizer = _regs.get(embeddings_regularizer)
        self.embeddings = None

    def build(self, input_shape):
        self.embeddings = self._add_weight("embeddings", (self.input_dim, self.output_dim),
                                           self.embeddings_initializer, regularizer=self.embeddings_regularizer)
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def _indices(self, x):
        arr = x.data if isinstance(x, Tensor) else np.asarray(x)
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise ValueError(f"Embedding layer {self.name!r}: indices must be integers, got non-integer "
                                 f"values (dtype {arr.dtype})")
        elif arr.dtype.kind not in "iub":
            raise TypeError(f"Embedding layer {self.name!r}: indices must be integers, got dtype {arr.dtype}")
        idx = arr.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.input_dim):
            bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
            raise ValueError(f"Embedding layer {self.name!r}: index {bad} is out of range [0, {self.input_dim}) "
                             f"(input_dim={self.input_dim})")
        return idx

    def __call__(self, x, *args, **kwargs):
        if not _is_concrete(x):
            return Layer.__call__(self, x, *args, **kwargs)
        idx = self._indices(x)           # before any cast to float: checked as given
        if not self.built:
            self.build((None,) + idx.shape[1:])
        return self.call(idx)

    def call(self, x, training=None):
        # (a model may call this directly with its float-cast input: the indices are checked again)
        idx = x if isinstance(x, np.ndarray) and x.dtype == np.int64 else self._indices(x)
        return _ops.getitem(self.embeddings, idx)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(input_dim=self.input_dim, output_dim=self.output_dim,
                   embeddings_initializer=_inits.serialize(self.embeddings_initializer))
        if self.embeddings_regularizer is not None:
            cfg["embeddings_regularizer"] = _regs.serialize(self.embeddings_regularizer)
        return cfg


# ---------------------------------------------------------------------------
# Serialization
# ---------------------------------------------------------------------------

def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _builtin_classes():
    """The library's own layer classes by name (a user class of the same name, e.g. a test's
    ``class Add(Layer)``, must not replace them when a saved model is loaded)."""
    out = {}
    for obj in list(globals().values()) + [InputLayer]:
        if isinstance(obj, type) and issubclass(obj, Layer) and not obj.__name__.startswith("_"):
            out[obj.__name__] = obj
    return out


def deserialize(config, custom_objects=None):
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _builtin_classes().get(name) or _LAYER_CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown layer class {name!r}; pass it in custom_objects={{{name!r}: cls}}")
    cfg = dict(config.get("config", {}))
    for key, value in list(cfg.items()):
        if key.endswith("_initializer") and isinstance(value, dict):
            cfg[key] = _inits.deserialize(value, custom_objects)
        elif key.endswith("_regularizer") and isinstance(value, dict):
            cfg[key] = _regs.deserialize(value, custom_objects)
    return cls.from_config(cfg)
