"""Learning-rate schedules with Keras semantics (``tf.keras.optimizers.schedules``).

A schedule is called with the optimizer's step count (``optimizer.iterations``,
0 for the first update) and returns the learning rate for that step.  Arguments
are validated when the schedule is made; a value that is not a finite number
(an exponential growth that overflows) raises instead of reaching an optimizer.
"""
import math

import numpy as np

__all__ = ["LearningRateSchedule", "ExponentialDecay", "InverseTimeDecay", "PolynomialDecay",
           "PiecewiseConstantDecay", "CosineDecay", "serialize", "deserialize"]


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config()``."""

    def __call__(self, step):
        raise NotImplementedError(f"learning-rate schedule {type(self).__name__} must override "
                                  "__call__(self, step)")

    def get_config(self):
        raise NotImplementedError(f"learning-rate schedule {type(self).__name__} must override get_config() "
                                  "to be serializable")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = "..."
        return f"{type(self).__name__}({args})"


# -- argument checks -----------------------------------------------------------------------------
def _real(cls, name, value):
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{cls}: `{name}` must be a real number, got {type(value).__name__} ({name}={value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{cls}: `{name}` must be a finite number, got {name}={value!r}")
    return value


def _nonneg(cls, name, value):
    value = _real(cls, name, value)
    if value < 0:
        raise ValueError(f"{cls}: `{name}` must be >= 0, got {name}={value!r}")
    return value


def _positive(cls, name, value):
    value = _real(cls, name, value)
    if not value > 0:
        raise ValueError(f"{cls}: `{name}` must be > 0, got {name}={value!r}")
    return value


def _steps(cls, name, value, minimum=1):
    """A step count: a number of steps (Keras takes ints; a positive float is accepted for
    ``decay_steps`` as Keras's own examples use ``decay_steps=1.0``)."""
    value = _real(cls, name, value)
    if value < minimum:
        raise ValueError(f"{cls}: `{name}` must be {'> 0' if minimum else '>= 0'}, got {name}={value!r}")
    return int(value) if value == int(value) else value


def _flag(cls, name, value):
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{cls}: `{name}` must be a bool, got {type(value).__name__} ({name}={value!r})")


def _name(cls, value):
    if not isinstance(value, str):
        raise TypeError(f"{cls}: `name` must be a string, got {type(value).__name__}")
    return value


def _step(cls, step):
    if isinstance(step, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{cls}: the step must be a number, got {step!r}")
    try:
        step = float(step)
    except (TypeError, ValueError):
        raise TypeError(f"{cls}: the step must be a number, got {type(step).__name__}") from None
    if not step >= 0 or math.isinf(step):
        raise ValueError(f"{cls}: the step must be a finite number >= 0, got {step!r}")
    return step


def _finite(cls, value, step):
    if not math.isfinite(value):
        raise ValueError(f"{cls}: the learning rate at step {step:g} is {value!r} (not a finite number)")
    return value


class _TimeDecay(LearningRateSchedule):
    """Shared by the two decays that depend on ``step / decay_steps`` (floored with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        cls = type(self).__name__
        self.initial_learning_rate = _nonneg(cls, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps(cls, "decay_steps", decay_steps)
        self.decay_rate = _nonneg(cls, "decay_rate", decay_rate)
        self.staircase = _flag(cls, "staircase", staircase)
        self.name = _name(cls, cls if name is None else name)

    def _progress(self, step):
        p = _step(type(self).__name__, step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return dict(initial_learning_rate=self.initial_learning_rate, decay_steps=self.decay_steps,
                    decay_rate=self.decay_rate, staircase=self.staircase, name=self.name)


class ExponentialDecay(_TimeDecay):
    """``lr0 * decay_rate ** (step / decay_steps)`` (integer division with ``staircase``)."""

    def __call__(self, step):
        p = self._progress(step)
        try:
            value = self.initial_learning_rate * self.decay_rate ** p
        except OverflowError:
            value = math.inf
        return _finite(type(self).__name__, value, p * self.decay_steps)


class InverseTimeDecay(_TimeDecay):
    """``lr0 / (1 + decay_rate * step / decay_steps)``: the decay the course teaches
    (alpha = alpha0 / (1 + decay_rate * epoch_num) with ``decay_steps`` = steps per epoch)."""

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


class PolynomialDecay(LearningRateSchedule):
    """``(lr0 - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end``; with
    ``cycle`` the horizon is the first multiple of ``decay_steps`` above the step (Keras)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        cls = type(self).__name__
        self.initial_learning_rate = _nonneg(cls, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps(cls, "decay_steps", decay_steps)
        self.end_learning_rate = _nonneg(cls, "end_learning_rate", end_learning_rate)
        self.power = _positive(cls, "power", power)
        self.cycle = _flag(cls, "cycle", cycle)
        self.name = _name(cls, name)

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        horizon = self.decay_steps
        if self.cycle:
            horizon = horizon * (1.0 if step == 0 else math.ceil(step / horizon))
        else:
            step = min(step, horizon)
        return ((self.initial_learning_rate - self.end_learning_rate) * (1.0 - step / horizon) ** self.power
                + self.end_learning_rate)

    def get_config(self):
        return dict(initial_learning_rate=self.initial_learning_rate, decay_steps=self.decay_steps,
                    end_learning_rate=self.end_learning_rate, power=self.power, cycle=self.cycle, name=self.name)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while step <= boundaries[0], ``values[1]`` while step <= boundaries[1], ...
    and ``values[-1]`` after the last boundary (Keras semantics)."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        cls = "PiecewiseConstantDecay"
        try:
            boundaries, values = list(boundaries), list(values)
        except TypeError:
            raise TypeError(f"{cls}: `boundaries` and `values` must be lists of numbers") from None
        boundaries = [_real(cls, f"boundaries[{i}]", b) for i, b in enumerate(boundaries)]
        values = [_nonneg(cls, f"values[{i}]", v) for i, v in enumerate(values)]
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"{cls}: need len(values) == len(boundaries) + 1, "
                             f"got {len(values)} values for {len(boundaries)} boundaries")
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"{cls}: boundaries must increase strictly, got {boundaries}")
        self.boundaries = [int(b) if b == int(b) else b for b in boundaries]
        self.values = values
        self.name = _name(cls, name)

    def __call__(self, step):
        step = _step("PiecewiseConstantDecay", step)
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self):
        return dict(boundaries=self.boundaries, values=self.values, name=self.name)


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` to ``alpha * initial_learning_rate`` over
    ``decay_steps``; with ``warmup_target``, first a linear warmup from ``initial_learning_rate``
    to ``warmup_target`` over ``warmup_steps``, then the decay from ``warmup_target`` (Keras
    semantics: without ``warmup_target`` there is no warmup)."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        cls = "CosineDecay"
        self.initial_learning_rate = _nonneg(cls, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps(cls, "decay_steps", decay_steps)
        self.alpha = _nonneg(cls, "alpha", alpha)
        self.name = _name(cls, name)
        self.warmup_target = None if warmup_target is None else _nonneg(cls, "warmup_target", warmup_target)
        self.warmup_steps = _steps(cls, "warmup_steps", warmup_steps, minimum=0)

    def __call__(self, step):
        step = _step("CosineDecay", step)
        if self.warmup_target is None:
            peak, step = self.initial_learning_rate, min(step, self.decay_steps)
        else:
            step = min(step, self.decay_steps + self.warmup_steps)
            if step < self.warmup_steps:
                start = self.initial_learning_rate
                return (self.warmup_target - start) * step / self.warmup_steps + start
            peak, step = self.warmup_target, step - self.warmup_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return dict(initial_learning_rate=self.initial_learning_rate, decay_steps=self.decay_steps,
                    alpha=self.alpha, name=self.name, warmup_target=self.warmup_target,
                    warmup_steps=self.warmup_steps)


_ALL = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PolynomialDecay, PiecewiseConstantDecay,
                                CosineDecay)}


def serialize(schedule):
    """``{"class_name": ..., "config": ...}`` for saving."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"schedules.serialize: expected a LearningRateSchedule, got {type(schedule).__name__}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(data, custom_objects=None):
    """The schedule :func:`serialize` described; a schedule class of your own is found in
    ``custom_objects`` (``{"MySchedule": MySchedule}``)."""
    if not isinstance(data, dict) or "class_name" not in data:
        raise ValueError(f"schedules.deserialize: expected {{'class_name': ..., 'config': ...}}, got {data!r:.200}")
    classes = dict(_ALL)
    classes.update(custom_objects or {})
    cls = classes.get(data["class_name"])
    if cls is None or not (isinstance(cls, type) and issubclass(cls, LearningRateSchedule)):
        raise ValueError(f"schedules.deserialize: unknown learning-rate schedule {data.get('class_name')!r}; "
                         f"built in: {sorted(_ALL)} (pass custom_objects= for your own)")
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"schedules.deserialize: the config of {data['class_name']} must be a dict, "
                         f"got {type(config).__name__}")
    return cls.from_config(config)
