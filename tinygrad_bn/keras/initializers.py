"""Weight initializers, as in Keras: ``init(shape, dtype) -> ndarray``.

All are seedable: ``GlorotUniform(seed=3)`` returns the same values on every
call (handy in tests); without a seed, values come from the global generator
(``tinygrad_bn.utils.set_seed``).  Strings accepted where Keras accepts them:
``'glorot_uniform'``, ``'glorot_normal'``, ``'he_normal'``, ``'he_uniform'``,
``'random_normal'``, ``'random_uniform'``, ``'truncated_normal'``,
``'zeros'``, ``'ones'`` (see :func:`get`).

Fans follow Keras: for a kernel of shape ``(..., fan_in, fan_out)`` the
receptive field (leading axes) multiplies both; a 1-D shape uses its size for
both.  ``GlorotNormal`` and ``HeNormal`` draw from a normal truncated at two
standard deviations, scaled so the truncated distribution has the intended
variance (Keras' constant 0.87962566103423978).
"""
import math

import numpy as np

from .. import utils as _utils

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "VarianceScaling", "GlorotNormal", "GlorotUniform", "HeNormal",
           "HeUniform", "LecunNormal", "LecunUniform", "Orthogonal", "Identity", "get", "serialize",
           "deserialize", "zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
           "variance_scaling", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
           "lecun_uniform", "orthogonal", "identity"]

_TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def _fans(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = 1
    for s in shape[:-2]:
        receptive *= s
    return shape[-2] * receptive, shape[-1] * receptive


def _num(cls, arg, value, positive=False, nonneg=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{cls}: {arg} must be a number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0) or (nonneg and v < 0):
        need = "a positive" if positive else ("a non-negative" if nonneg else "a finite")
        raise ValueError(f"{cls}: {arg} must be {need} finite number, got {value!r}")
    return v


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype=float32)`` and ``get_config``."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise TypeError(f"{type(self).__name__}: seed must be a non-negative integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)

    def _rng(self):
        return np.random.default_rng(self.seed) if self.seed is not None else _utils.global_rng()

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __init__(self):
        super().__init__(None)

    def __call__(self, shape, dtype=np.float32):
        return np.zeros(shape, dtype=dtype)

    def get_config(self):
        return {}


class Ones(Zeros):
    """All ones."""

    def __call__(self, shape, dtype=np.float32):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    """Every element equal to ``value``."""

    def __init__(self, value=0.0):
        super().__init__(None)
        self.value = _num("Constant", "value", value)

    def __call__(self, shape, dtype=np.float32):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal with ``mean`` and ``stddev`` (Keras defaults 0 and 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = _num(type(self).__name__, "mean", mean)
        self.stddev = _num(type(self).__name__, "stddev", stddev, nonneg=True)

    def __call__(self, shape, dtype=np.float32):
        return (self._rng().standard_normal(shape) * self.stddev + self.mean).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """Uniform in ``[minval, maxval)`` (Keras defaults -0.05, 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval = _num("RandomUniform", "minval", minval)
        self.maxval = _num("RandomUniform", "maxval", maxval)
        if self.maxval < self.minval:
            raise ValueError(f"RandomUniform: maxval ({maxval!r}) must be >= minval ({minval!r})")

    def __call__(self, shape, dtype=np.float32):
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated_normal(rng, shape, stddev):
    """Standard normal redrawn until inside [-2, 2], times ``stddev``."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while np.any(bad):
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out * stddev


class TruncatedNormal(Initializer):
    """Normal truncated at two standard deviations (values beyond are redrawn)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = _num("TruncatedNormal", "mean", mean)
        self.stddev = _num("TruncatedNormal", "stddev", stddev, nonneg=True)

    def __call__(self, shape, dtype=np.float32):
        return (_truncated_normal(self._rng(), shape, self.stddev) + self.mean).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """Keras' ``VarianceScaling``: variance ``scale / n`` with n = fan_in, fan_out or their mean.

    ``distribution``: ``'truncated_normal'``, ``'untruncated_normal'`` or ``'uniform'``.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        scale = _num(type(self).__name__, "scale", scale, positive=True)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling: distribution must be 'truncated_normal', "
                             f"'untruncated_normal' or 'uniform', got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype=np.float32):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            out = _truncated_normal(rng, shape, math.sqrt(var) / _TRUNC_STD)
        elif self.distribution == "untruncated_normal":
            out = rng.standard_normal(shape) * math.sqrt(var)
        else:
            limit = math.sqrt(3.0 * var)
            out = rng.uniform(-limit, limit, shape)
        return np.asarray(out).astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class _Preset(VarianceScaling):
    _preset = {}

    def __init__(self, seed=None):
        super().__init__(seed=seed, **self._preset)

    def get_config(self):
        return {"seed": self.seed}


class GlorotNormal(_Preset):
    """Truncated normal, stddev sqrt(2 / (fan_in + fan_out)) (Xavier normal, as Keras)."""
    _preset = {"scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"}


class GlorotUniform(_Preset):
    """Uniform in ±sqrt(6 / (fan_in + fan_out)) (Xavier uniform; Keras' Dense default)."""
    _preset = {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}


class HeNormal(_Preset):
    """Truncated normal, stddev sqrt(2 / fan_in) (for ReLU networks)."""
    _preset = {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}


class HeUniform(_Preset):
    """Uniform in ±sqrt(6 / fan_in)."""
    _preset = {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"}


class LecunNormal(_Preset):
    """Truncated normal, stddev sqrt(1 / fan_in)."""
    _preset = {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}


class LecunUniform(_Preset):
    """Uniform in ±sqrt(3 / fan_in)."""
    _preset = {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al.): the Q of the QR decomposition of a
    standard normal matrix, sign-corrected so the distribution is uniform (as Keras).  Shapes with
    more than two axes are flattened to ``(prod(shape[:-1]), shape[-1])``."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = _num("Orthogonal", "gain", gain)

    def __call__(self, shape, dtype=np.float32):
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must have at least 2 axes, got {shape}")
        rows = int(np.prod(shape[:-1]))
        cols = shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; rectangular: ones on the diagonal)."""

    def __init__(self, gain=1.0):
        super().__init__(None)
        self.gain = _num("Identity", "gain", gain)

    def __call__(self, shape, dtype=np.float32):
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2:
            raise ValueError(f"Identity: the shape must have exactly 2 axes, got {shape}")
        return (self.gain * np.eye(*shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = {c.__name__: c for c in (Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal,
                                    VarianceScaling, GlorotNormal, GlorotUniform, HeNormal, HeUniform,
                                    LecunNormal, LecunUniform, Orthogonal, Identity)}
_ALIASES = {"zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
            "random_normal": RandomNormal, "random_uniform": RandomUniform,
            "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
            "glorot_normal": GlorotNormal, "xavier_normal": GlorotNormal,
            "glorot_uniform": GlorotUniform, "xavier_uniform": GlorotUniform,
            "he_normal": HeNormal, "he_uniform": HeUniform,
            "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
            "orthogonal": Orthogonal, "identity": Identity,
            "uniform": RandomUniform, "normal": RandomNormal}

# tf.keras's lower-case aliases of the classes (``tf.keras.initializers.glorot_uniform(seed=0)``)
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal, identity = VarianceScaling, Orthogonal, Identity
glorot_normal, glorot_uniform, he_normal, he_uniform = GlorotNormal, GlorotUniform, HeNormal, HeUniform
lecun_normal, lecun_uniform = LecunNormal, LecunUniform


def get(identifier):
    """An initializer from a string, a config dict, an instance or a callable ``(shape, dtype)``."""
    if identifier is None:
        return None
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"unknown initializer {identifier!r}; known: {sorted(_ALIASES)}")
        return cls()
    raise TypeError(f"cannot interpret {identifier!r} as an initializer")


def serialize(init):
    """A JSON-able description (``{'class_name', 'config'}``) of an initializer."""
    if not isinstance(init, Initializer):
        raise TypeError(f"cannot serialize the custom initializer {init!r}; "
                        "subclass tinygrad_bn.initializers.Initializer and define get_config()")
    return {"class_name": type(init).__name__, "config": init.get_config()}


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return get(config)
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown initializer class {name!r}")
    return cls.from_config(config.get("config", {}))
