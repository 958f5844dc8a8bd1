"""Search spaces: each dimension samples on its own scale.

The course recipe, made into objects::

    LogUniform(1e-4, 1)            # r = -4 * rand(); alpha = 10 ** r
    OneMinusLogUniform(0.9, 0.999) # r = -3 + 2 * rand()... beta = 1 - 10 ** r
    Uniform(0.0, 0.5)              # dropout-like, linear scale
    IntUniform(16, 512, log=True)  # hidden units, log scale
    Choice([True, False])          # batch norm on / off

Every dimension maps a value to an *internal* coordinate on its own scale
(``to_internal``: identity, ``log10 v`` or ``log10(1 - v)``) in which sampling is
uniform; ``zoom`` narrows a dimension in that coordinate, so coarse-to-fine search
on a learning rate zooms in decades, not in raw units.

A :class:`Space` is an ordered mapping ``name -> dimension``.  ``Space.sample(seed,
round, index)`` draws trial ``index`` of zoom round ``round`` from a generator seeded
with ``(seed, round, index)`` only, so the same trial gets the same parameters
whether it runs serially, in a process pool or on a Dask cluster, and in any order.
"""
import json
import math
import numbers

import numpy as np

__all__ = ["Dimension", "Uniform", "LogUniform", "OneMinusLogUniform", "IntUniform", "Choice",
           "Space", "as_space"]


def _finite_number(name, what, x):
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name}: {what} must be a real number, got {type(x).__name__} {x!r}")
    try:
        x = float(x)
    except OverflowError:
        raise ValueError(f"{name}: {what} must be finite, got {x!r:.30}... (too large for a float)") from None
    if not math.isfinite(x):
        raise ValueError(f"{name}: {what} must be finite, got {x!r}")
    return x


def _half_width(lo, hi):
    """(hi - lo) / 2 without overflow for any finite lo <= hi."""
    return 0.5 * hi - 0.5 * lo


def relative_width(inner, outer):
    """Width of ``inner``'s internal range over ``outer``'s (no overflow on huge ranges)."""
    ilo, ihi = inner.bounds_internal()
    olo, ohi = outer.bounds_internal()
    return _half_width(ilo, ihi) / _half_width(olo, ohi)


class Dimension:
    """One search dimension.  Subclasses define the scale and the sampling."""

    #: True when the dimension is sampled on a log scale (plots use log axes)
    log = False
    #: True for Choice (categorical axis in plots, no ordering for zoom)
    categorical = False

    def sample(self, rng):
        raise NotImplementedError

    def to_internal(self, value):
        """Value -> coordinate on the dimension's own (sampling) scale."""
        raise NotImplementedError

    def from_internal(self, u):
        raise NotImplementedError

    def bounds_internal(self):
        """(lo, hi) of the dimension on its own scale, lo < hi."""
        raise NotImplementedError

    def contains(self, value):
        raise NotImplementedError

    def zoom(self, values, margin):
        """A narrower dimension of the same kind covering ``values`` (values of the best
        trials), padded by ``margin`` times this dimension's width on its own scale."""
        raise NotImplementedError

    def to_dict(self):
        raise NotImplementedError

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self):
        d = self.to_dict()
        kind = d.pop("type")
        return f"{kind}({', '.join(f'{k}={v!r}' for k, v in d.items())})"


class _Continuous(Dimension):
    """Shared code for the three real-valued scales."""

    def __init__(self, low, high):
        name = type(self).__name__
        self.low = _finite_number(name, "low", low)
        self.high = _finite_number(name, "high", high)
        if not self.low < self.high:
            raise ValueError(f"{name}: need low < high, got low={low!r}, high={high!r}")
        self._check()
        lo, hi = self.to_internal(self.low), self.to_internal(self.high)
        self._lo, self._hi = min(lo, hi), max(lo, hi)

    def _check(self):
        pass

    def bounds_internal(self):
        return self._lo, self._hi

    def sample(self, rng):
        # the course recipe: r uniform on the dimension's scale, then map back.  Written as
        # lo*(1-u) + hi*u so that Uniform(-1e308, 1e308) does not overflow on hi - lo.
        u = rng.random()
        r = self._lo * (1.0 - u) + self._hi * u
        return min(max(self.from_internal(r), self.low), self.high)

    def contains(self, value):
        return (isinstance(value, numbers.Real) and not isinstance(value, bool)
                and self.low <= value <= self.high)

    def zoom(self, values, margin):
        margin = _check_margin(margin)
        u = [self.to_internal(_finite_number(type(self).__name__, "zoom value", v)) for v in values]
        if not u:
            raise ValueError(f"{type(self).__name__}.zoom needs at least one value")
        half_pad = margin * _half_width(self._lo, self._hi)   # pad = 2 * half_pad, may be huge
        lo = max(min(u) - half_pad - half_pad, self._lo)
        hi = min(max(u) + half_pad + half_pad, self._hi)
        if _half_width(lo, hi) < 0.5e-12 * max(1.0, abs(hi)):  # all best trials identical: a sliver
            eps = 1e-6 * max(1.0, abs(hi))
            lo, hi = max(lo - eps, self._lo), min(hi + eps, self._hi)
        a, b = sorted((self.from_internal(lo), self.from_internal(hi)))
        a, b = max(a, self.low), min(b, self.high)
        if not a < b:                                   # rounding collapsed it: keep the original
            return type(self)(self.low, self.high)
        return type(self)(a, b)

    def to_dict(self):
        return {"type": type(self).__name__, "low": self.low, "high": self.high}


class Uniform(_Continuous):
    """Uniform on [low, high] (linear scale)."""

    def to_internal(self, value):
        return float(value)

    def from_internal(self, u):
        return float(u)


class LogUniform(_Continuous):
    """``10**r`` with ``r`` uniform in [log10 low, log10 high]: every decade equally likely.

    ``LogUniform(1e-4, 1)`` is the course's ``r = -4 * np.random.rand(); alpha = 10**r``.
    """

    log = True

    def _check(self):
        if self.low <= 0:
            raise ValueError(f"LogUniform: log-scale bounds must be > 0, got low={self.low!r}")

    def to_internal(self, value):
        return math.log10(value)

    def from_internal(self, u):
        try:
            return 10.0 ** u
        except OverflowError:       # u = log10(high) rounded up, high near the float maximum
            return self.high


class OneMinusLogUniform(_Continuous):
    """``beta = 1 - 10**r`` with ``r`` uniform in [log10(1-high), log10(1-low)].

    ``OneMinusLogUniform(0.0, 0.9999)`` is the course's ``r = -4 * np.random.rand();
    beta = 1 - 10**r`` (``r`` in [-4, 0]).

    For averaging coefficients (momentum, Adam's beta_1/beta_2): ``OneMinusLogUniform(0.9,
    0.999)`` samples ``1 - beta`` log-uniformly in [0.001, 0.1], so [0.9, 0.99) and
    [0.99, 0.999) each get half of the samples -- as dense near 0.999 as near 0.9.
    """

    log = True

    def _check(self):
        if not (0.0 <= self.low and self.high < 1.0):
            raise ValueError("OneMinusLogUniform: bounds must satisfy 0 <= low < high < 1 "
                             f"(1 - beta is sampled on a log scale, so high = 1 is excluded), "
                             f"got low={self.low!r}, high={self.high!r}")

    def to_internal(self, value):
        return math.log10(1.0 - value)

    def from_internal(self, u):
        return 1.0 - 10.0 ** u


class IntUniform(Dimension):
    """Integers in [low, high] inclusive; ``log=True`` makes each decade equally likely
    (hidden units, layer widths)."""

    def __init__(self, low, high, log=False):
        for what, v in (("low", low), ("high", high)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
                raise TypeError(f"IntUniform: {what} must be an integer, got {type(v).__name__} {v!r}")
            if abs(int(v)) > _MAX_INT:
                raise ValueError(f"IntUniform: {what} must be within +-2**53 (sampled through a "
                                 f"float), got {v!r}")
        if not isinstance(log, (bool, np.bool_)):
            raise TypeError(f"IntUniform: log must be True or False, got {log!r}")
        self.low, self.high, self.log = int(low), int(high), bool(log)
        if not self.low < self.high:
            raise ValueError(f"IntUniform: need low < high, got low={low!r}, high={high!r}")
        if self.log and self.low <= 0:
            raise ValueError(f"IntUniform(log=True): bounds must be > 0, got low={low!r}")

    # internal scale: continuous cover [low - 0.5, high + 0.5] so end points are not halved
    def to_internal(self, value):
        return math.log10(value) if self.log else float(value)

    def from_internal(self, u):
        return 10.0 ** u if self.log else float(u)

    def bounds_internal(self):
        if self.log:
            return math.log10(self.low - 0.5), math.log10(self.high + 0.5)
        return self.low - 0.5, self.high + 0.5

    def sample(self, rng):
        lo, hi = self.bounds_internal()
        v = int(round(self.from_internal(lo + (hi - lo) * rng.random())))
        return min(max(v, self.low), self.high)

    def contains(self, value):
        return isinstance(value, numbers.Integral) and self.low <= value <= self.high

    def zoom(self, values, margin):
        margin = _check_margin(margin)
        lo_b, hi_b = self.bounds_internal()
        for v in values:
            if not self.contains(v):
                raise ValueError(f"IntUniform.zoom: value {v!r} is not an integer in "
                                 f"[{self.low}, {self.high}]")
        if not values:
            raise ValueError("IntUniform.zoom needs at least one value")
        u = [self.to_internal(v) for v in values]
        pad = margin * (hi_b - lo_b)
        lo = int(math.floor(self.from_internal(min(u) - pad)))
        hi = int(math.ceil(self.from_internal(max(u) + pad)))
        lo, hi = max(lo, self.low), min(hi, self.high)
        if lo >= hi:
            return Choice([lo])
        return IntUniform(lo, hi, log=self.log)

    def to_dict(self):
        return {"type": "IntUniform", "low": self.low, "high": self.high, "log": self.log}


class Choice(Dimension):
    """One of a list of options (JSON-representable: bool, int, float, str, None)."""

    categorical = True

    def __init__(self, options):
        if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
            raise TypeError(f"Choice: options must be a list, got {options!r}")
        options = list(options)
        if not options:
            raise ValueError("Choice: needs at least one option")
        for o in options:
            if not (o is None or isinstance(o, (bool, int, float, str))):
                raise TypeError(f"Choice: options must be bool, int, float, str or None "
                                f"(they are stored as JSON), got {type(o).__name__} {o!r}")
            if isinstance(o, float) and not math.isfinite(o):
                raise ValueError(f"Choice: options must be finite (they are stored as JSON), got {o!r}")
        if len({json.dumps(o) for o in options}) != len(options):
            raise ValueError(f"Choice: duplicate options in {options!r}")
        self.options = options

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def to_internal(self, value):
        return float(self.options.index(value))

    def from_internal(self, u):
        return self.options[int(u)]

    def bounds_internal(self):
        return -0.5, len(self.options) - 0.5

    def contains(self, value):
        return any(type(value) is type(o) and value == o for o in self.options)

    def zoom(self, values, margin):
        keep = [o for o in self.options if any(type(v) is type(o) and v == o for v in values)]
        return Choice(keep or self.options)

    def to_dict(self):
        return {"type": "Choice", "options": list(self.options)}


_KINDS = {c.__name__: c for c in (Uniform, LogUniform, OneMinusLogUniform, IntUniform, Choice)}
_MAX_INT = 2 ** 53


def _check_margin(margin):
    if isinstance(margin, (bool, np.bool_)) or not isinstance(margin, numbers.Real):
        raise TypeError(f"zoom: margin must be a real number >= 0, got {type(margin).__name__} {margin!r}")
    margin = float(margin)
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"zoom: margin must be a finite number >= 0, got {margin!r}")
    return margin


def dimension_from_dict(d):
    if not isinstance(d, dict):
        raise ValueError(f"a dimension description must be a dict, got {d!r}")
    d = dict(d)
    kind_name = d.pop("type", None)
    kind = _KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        raise ValueError(f"unknown dimension description {dict(d, type=kind_name)!r}")
    try:
        return kind(**d)
    except TypeError as exc:
        raise ValueError(f"bad {kind_name} description {d!r}: {exc}") from exc


class Space:
    """An ordered mapping ``name -> Dimension``."""

    def __init__(self, dims):
        if isinstance(dims, Space):
            dims = dims.dims
        if not isinstance(dims, dict):
            raise TypeError(f"a search space is a dict name -> dimension, got {type(dims).__name__}")
        if not dims:
            raise ValueError("a search space needs at least one dimension")
        out = {}
        for name, dim in dims.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"dimension names must be non-empty strings, got {name!r}")
            if isinstance(dim, (list, tuple)):
                dim = Choice(dim)
            if not isinstance(dim, Dimension):
                raise TypeError(f"dimension {name!r}: expected Uniform, LogUniform, "
                                f"OneMinusLogUniform, IntUniform or Choice, got {dim!r}")
            out[name] = dim
        self.dims = out

    def __getitem__(self, name):
        return self.dims[name]

    def __iter__(self):
        return iter(self.dims)

    def __len__(self):
        return len(self.dims)

    def items(self):
        return self.dims.items()

    def names(self):
        return list(self.dims)

    def sample(self, seed, round=0, index=0):
        """Parameters of trial ``index`` of zoom round ``round``: depend on these three only."""
        for what, v in (("seed", seed), ("round", round), ("index", index)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError(f"Space.sample: {what} must be a non-negative int, got {v!r}")
        rng = np.random.default_rng([int(seed), int(round), int(index)])
        return {name: _plain(dim.sample(rng)) for name, dim in self.dims.items()}

    def zoom(self, best_params, margin=0.1):
        """Narrow every dimension around ``best_params`` (a list of parameter dicts)."""
        if not best_params:
            raise ValueError("zoom needs at least one finished trial")
        return Space({name: dim.zoom([p[name] for p in best_params], margin)
                      for name, dim in self.dims.items()})

    def to_dict(self):
        return {name: dim.to_dict() for name, dim in self.dims.items()}

    def to_json(self):
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text):
        return cls({name: dimension_from_dict(d) for name, d in json.loads(text).items()})

    def __eq__(self, other):
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __repr__(self):
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self.dims.items())
        return f"Space({{{inner}}})"


def _plain(v):
    """numpy scalars -> Python scalars, so parameters are JSON and pickle friendly."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def as_space(space):
    return space if isinstance(space, Space) else Space(space)
