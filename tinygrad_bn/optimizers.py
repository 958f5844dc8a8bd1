"""Optimizers with Keras semantics and defaults: ``SGD``, ``RMSprop``, ``Adam``.

    opt = Adam(0.1)
    opt.minimize(cost_fn, [w])                   # cost_fn is a callable
    opt.apply_gradients(zip(grads, variables))   # gradients from your own tape

Updates run in place on each ``Var``'s array, through the fused Cython
kernels in ``tinygrad_bn._kernels.optim`` (one pass over memory) with a NumPy
formula as the fallback for odd layouts.  Every (gradient, variable) pair is
checked before any variable changes, so bad input never half-applies a step.
"""
import math

import numpy as np

from . import schedules
from ._engine import GradientTape, Tensor
from .tensor import Var

try:
    from ._kernels import optim as _kernels
except ImportError:  # kernels not built yet: NumPy formulas only
    _kernels = None

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "get"]


class Optimizer:
    """Base class: learning rate (float or schedule), step count, clipping and slots."""

    #: names of the per-variable state arrays, in order
    slot_names = ()

    def __init__(self, learning_rate, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None):
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{type(self).__name__}: use at most one of clipnorm, clipvalue, global_clipnorm")
        self.learning_rate = learning_rate
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.name = name or type(self).__name__
        self.iterations = 0
        self._slots = {}      # id(var) -> list of state arrays
        self._tracked = []    # variables with slots, in first-use order (keeps ids valid)

    # -- learning rate -------------------------------------------------------
    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, Tensor):
            value = float(value)
        if not (callable(value) or isinstance(value, (int, float, np.floating, np.integer))):
            raise TypeError(f"{type(self).__name__}: learning_rate must be a number or a schedule, "
                            f"got {type(value).__name__}")
        if not callable(value) and not value >= 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be >= 0, got {value}")
        self._learning_rate = value if callable(value) else float(value)

    lr = learning_rate

    def current_learning_rate(self):
        """The learning rate the next step will use."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    # -- the two entry points -----------------------------------------------
    def minimize(self, loss, var_list, tape=None):
        """One step: differentiate ``loss()`` with respect to ``var_list`` and apply.

        ``loss`` must be a callable (the tape has to watch it being computed).
        With ``tape=``, ``loss`` may instead be a tensor computed under that tape.
        Returns the loss value.
        """
        if callable(var_list):
            var_list = var_list()
        if tape is None:
            if not callable(loss):
                raise TypeError(
                    f"{type(self).__name__}.minimize: `loss` must be a callable that computes the loss "
                    f"(e.g. `lambda: cost(w)`), got a {type(loss).__name__}. A loss computed before the call "
                    "carries no record of how it was computed, so there is nothing to differentiate; pass a "
                    "function, or compute the loss under a GradientTape and pass tape=..., or use "
                    "tape.gradient + apply_gradients.")
            with GradientTape() as tape:
                loss_value = loss()
        else:
            loss_value = loss() if callable(loss) else loss
        grads = tape.gradient(loss_value, list(var_list))
        self.apply_gradients(zip(grads, var_list))
        return loss_value

    def apply_gradients(self, grads_and_vars):
        """Apply one step for each ``(gradient, variable)`` pair; returns the new step count."""
        pairs = []
        for pair in grads_and_vars:
            try:
                g, v = pair
            except (TypeError, ValueError):
                raise TypeError(f"{type(self).__name__}.apply_gradients: expected (gradient, variable) "
                                f"pairs, got {pair!r}") from None
            pairs.append(self._checked(g, v))
        if not pairs:
            raise ValueError(f"{type(self).__name__}.apply_gradients: no (gradient, variable) pairs given")
        pairs = self._clip(pairs)
        lr = self.current_learning_rate()
        self.iterations += 1
        for g, v in pairs:
            slots = self._slots.get(id(v))
            if slots is None:
                slots = self._make_slots(v)
            self._update(v.data, g, slots, lr)
        return self.iterations

    def _checked(self, g, v):
        if not isinstance(v, Var):
            raise TypeError(f"{type(self).__name__}.apply_gradients: can only update Var objects, "
                            f"got {type(v).__name__}")
        if g is None:
            raise ValueError(f"{type(self).__name__}.apply_gradients: the gradient for variable {v.name!r} "
                             f"(shape {v.shape}) is None: the loss does not depend on it. Remove it from "
                             "the variable list or check that it is used to compute the loss. "
                             "No variable was updated.")
        arr = g.data if isinstance(g, Tensor) else np.asarray(g)
        if arr.shape != v.data.shape:
            raise ValueError(f"{type(self).__name__}.apply_gradients: gradient of shape {arr.shape} for "
                             f"variable {v.name!r} of shape {v.data.shape}; no variable was updated")
        if arr.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.apply_gradients: gradient for {v.name!r} has dtype "
                            f"{arr.dtype}; expected a floating-point gradient")
        if arr.dtype != v.data.dtype:
            arr = arr.astype(v.data.dtype)
        return arr, v

    def _clip(self, pairs):
        if self.clipvalue is not None:
            c = float(self.clipvalue)
            return [(np.clip(g, -c, c), v) for g, v in pairs]
        if self.clipnorm is not None:
            c = float(self.clipnorm)
            out = []
            for g, v in pairs:
                n = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
                out.append((g * (c / n) if n > c else g, v))
            return out
        if self.global_clipnorm is not None:
            c = float(self.global_clipnorm)
            n = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g, _ in pairs))
            if n > c:
                return [(g * (c / n), v) for g, v in pairs]
        return pairs

    def _make_slots(self, v):
        slots = [np.zeros_like(v.data) for _ in self._slot_names_for()]
        self._slots[id(v)] = slots
        self._tracked.append(v)
        return slots

    def _slot_names_for(self):
        return self.slot_names

    def _update(self, param, grad, slots, lr):
        raise NotImplementedError

    # -- state, for checkpoints ----------------------------------------------
    def get_state(self, var_list):
        """``{"iterations": n, "slots": [[arrays] per variable of var_list]}`` (copies)."""
        return {"iterations": self.iterations,
                "slots": [[s.copy() for s in self._slots[id(v)]] if id(v) in self._slots else None
                          for v in var_list]}

    def set_state(self, state, var_list):
        """Restore what :meth:`get_state` returned, matching variables by position."""
        var_list = list(var_list)
        slots = state["slots"]
        if len(slots) != len(var_list):
            raise ValueError(f"{type(self).__name__}.set_state: state has {len(slots)} variables, "
                             f"model has {len(var_list)}")
        for v, s in zip(var_list, slots):
            if s is None:
                continue
            if len(s) != len(self._slot_names_for()) or any(np.shape(a) != v.shape for a in s):
                raise ValueError(f"{type(self).__name__}.set_state: slot shapes do not match variable "
                                 f"{v.name!r} of shape {v.shape}")
        self.iterations = int(state["iterations"])
        for v, s in zip(var_list, slots):
            if s is not None:
                if id(v) not in self._slots:
                    self._make_slots(v)
                for dst, src in zip(self._slots[id(v)], s):
                    np.copyto(dst, src, casting="unsafe")

    def variables(self):
        """All state arrays (step count first), like ``keras.Optimizer.variables``."""
        out = [np.asarray(self.iterations)]
        for v in self._tracked:
            out.extend(self._slots[id(v)])
        return out

    def get_config(self):
        lr = self._learning_rate
        return {"name": self.name,
                "learning_rate": schedules.serialize(lr) if isinstance(lr, schedules.LearningRateSchedule) else lr,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = schedules.deserialize(lr)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self._learning_rate!r} iterations={self.iterations}>"


def _kernel_ok(param, grad):
    return (_kernels is not None and param.flags.c_contiguous and grad.flags.c_contiguous
            and param.dtype in (np.float32, np.float64))


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras formulation:
    ``velocity = momentum * velocity - lr * g; param += velocity``."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum}")
        super().__init__(learning_rate, **kwargs)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _slot_names_for(self):
        return ("velocity",) if self.momentum > 0 else ()

    def _update(self, param, g, slots, lr):
        velocity = slots[0] if slots else None
        if _kernel_ok(param, g):
            _kernels.sgd_update(param, g, velocity, lr, self.momentum, self.nesterov)
            return
        if velocity is None:
            param -= lr * g
            return
        velocity *= self.momentum
        velocity -= lr * g
        if self.nesterov:
            param += self.momentum * velocity - lr * g
        else:
            param += velocity

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop, Keras formulation: ``ms = rho*ms + (1-rho)*g**2; param -= lr*g/sqrt(ms + eps)``
    (with momentum, the increment is accumulated in a velocity first)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, **kwargs):
        if not 0 <= rho < 1:
            raise ValueError(f"RMSprop: rho must be in [0, 1), got {rho}")
        super().__init__(learning_rate, **kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def _slot_names_for(self):
        return ("ms", "momentum") if self.momentum > 0 else ("ms",)

    def _update(self, param, g, slots, lr):
        ms = slots[0]
        mom = slots[1] if len(slots) > 1 else None
        if _kernel_ok(param, g):
            _kernels.rmsprop_update(param, g, ms, mom, lr, self.rho, self.momentum, self.epsilon)
            return
        ms *= self.rho
        ms += (1 - self.rho) * g * g
        inc = lr * g / np.sqrt(ms + self.epsilon)
        if mom is None:
            param -= inc
        else:
            mom *= self.momentum
            mom += inc
            param -= mom

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam (Kingma & Ba), Keras formulation and defaults (``epsilon=1e-7``, not PyTorch's 1e-8):
    ``m += (g - m)(1 - b1); v += (g*g - v)(1 - b2); param -= alpha * m / (sqrt(v) + eps)`` with
    ``alpha = lr * sqrt(1 - b2**t) / (1 - b1**t)``; ``amsgrad`` uses the running max of v."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        for nm, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= b < 1:
                raise ValueError(f"Adam: {nm} must be in [0, 1), got {b}")
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def _slot_names_for(self):
        return ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _update(self, param, g, slots, lr):
        t = self.iterations  # already incremented: 1 on the first step
        alpha = lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        m, v = slots[0], slots[1]
        vhat = slots[2] if self.amsgrad else None
        if _kernel_ok(param, g):
            _kernels.adam_update(param, g, m, v, vhat, alpha, self.beta_1, self.beta_2, self.epsilon)
            return
        m += (g - m) * (1 - self.beta_1)
        v += (g * g - v) * (1 - self.beta_2)
        if vhat is not None:
            np.maximum(vhat, v, out=vhat)
            v = vhat
        param -= alpha * m / (np.sqrt(v) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier):
    """An optimizer from a string (``'adam'``), a config dict, or an instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]()
        except KeyError:
            raise ValueError(f"unknown optimizer {identifier!r}; choose from {sorted(_BY_NAME)}") from None
    if isinstance(identifier, dict):
        cls = _BY_NAME[identifier["class_name"].lower()]
        return cls.from_config(identifier["config"])
    raise TypeError(f"cannot make an optimizer from {type(identifier).__name__}")


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
