"""Learning-rate schedules with Keras semantics.

A schedule is called with the optimizer's step count (``optimizer.iterations``,
0 for the first update) and returns the learning rate for that step.
"""
import math

__all__ = ["LearningRateSchedule", "ExponentialDecay", "InverseTimeDecay",
           "PiecewiseConstantDecay", "CosineDecay", "serialize", "deserialize"]


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config()``."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _positive(name, value, cls):
    if not value > 0:
        raise ValueError(f"{cls}: {name} must be > 0, got {value!r}")


class _TimeDecay(LearningRateSchedule):
    """Shared by the two decays that depend on ``step / decay_steps`` (floored with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        _positive("decay_steps", decay_steps, type(self).__name__)
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def _progress(self, step):
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return dict(initial_learning_rate=self.initial_learning_rate, decay_steps=self.decay_steps,
                    decay_rate=self.decay_rate, staircase=self.staircase)


class ExponentialDecay(_TimeDecay):
    """``lr0 * decay_rate ** (step / decay_steps)`` (integer division with ``staircase``)."""

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class InverseTimeDecay(_TimeDecay):
    """``lr0 / (1 + decay_rate * step / decay_steps)``: the decay the course teaches
    (alpha = alpha0 / (1 + decay_rate * epoch_num) with ``decay_steps`` = steps per epoch)."""

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while step <= boundaries[0], ``values[1]`` while step <= boundaries[1], ...
    and ``values[-1]`` after the last boundary (Keras semantics)."""

    def __init__(self, boundaries, values):
        boundaries = list(boundaries)
        values = [float(v) for v in values]
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: need len(values) == len(boundaries) + 1, "
                             f"got {len(values)} values for {len(boundaries)} boundaries")
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got {boundaries}")
        self.boundaries = boundaries
        self.values = values

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self):
        return dict(boundaries=self.boundaries, values=self.values)


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` to ``alpha * initial_learning_rate`` over
    ``decay_steps``, after an optional linear warmup to ``warmup_target`` (Keras semantics)."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        _positive("decay_steps", decay_steps, "CosineDecay")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.alpha = float(alpha)
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = float(step)
        start = self.initial_learning_rate
        if self.warmup_target is not None and step < self.warmup_steps:
            return start + (self.warmup_target - start) * step / self.warmup_steps
        peak = self.warmup_target if self.warmup_target is not None else start
        t = min(max(step - self.warmup_steps, 0.0), self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * t))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return dict(initial_learning_rate=self.initial_learning_rate, decay_steps=self.decay_steps,
                    alpha=self.alpha, warmup_target=self.warmup_target, warmup_steps=self.warmup_steps)


_ALL = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay)}


def serialize(schedule):
    """``{"class_name": ..., "config": ...}`` for saving."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(data):
    try:
        cls = _ALL[data["class_name"]]
    except KeyError:
        raise ValueError(f"unknown learning-rate schedule {data.get('class_name')!r}") from None
    return cls.from_config(data["config"])
