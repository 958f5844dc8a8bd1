"""Optimizers with Keras 3 semantics and defaults: ``SGD``, ``RMSprop``, ``Adam``, ``AdamW``,
``Adagrad``, ``Nadam``, ``Adamax``, ``Adadelta``, ``Lion`` (``tf.keras.optimizers`` is this module).

    opt = Adam(0.1)
    opt.minimize(cost_fn, [w])                   # cost_fn is a callable
    opt.apply_gradients(zip(grads, variables))   # gradients from your own tape

The learning rate is a number, a :class:`schedules.LearningRateSchedule` (called with
``iterations``, 0 on the first step) or a zero-argument callable (``lambda: 0.1``, as
Keras documents); it is evaluated once per step.  ``weight_decay`` is Keras 3's
decoupled decay, ``var -= var * weight_decay * lr`` before the update (``AdamW`` is
Adam with ``weight_decay=0.004``); ``exclude_from_weight_decay`` works as in Keras.
``use_ema`` keeps Keras 3's moving average of the weights (``ema_momentum``,
``ema_overwrite_frequency``, ``finalize_variable_values``); ``loss_scale_factor``
(``scale_loss``) and ``gradient_accumulation_steps`` work as in Keras 3.

Every hyperparameter is validated when it is set (at construction or later), as
Keras would, and ``apply_gradients`` checks every (gradient, variable) pair, the
learning rate and the slots *before writing anything*: a step that raises leaves
every variable, every slot and ``iterations`` as they were.

Updates run in place on each variable's array as returned by ``Var._writable()``
(copy-on-write: a tensor, view or tape residual that still holds the old array
keeps the old value, TF's snapshot semantics), through the fused Cython kernels in
``tinygrad_bn._kernels.optim`` where they apply, with NumPy formulas otherwise.
"""
import inspect
import math
import re
import warnings

import numpy as np

from . import schedules
from ._engine import GradientTape, Tensor
from .tensor import Var

try:
    from ._kernels import optim as _kernels
except ImportError:  # kernels not built yet: NumPy formulas only
    _kernels = None

__all__ = ["Optimizer", "StepCount", "LearningRate", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Nadam",
           "Adamax", "Adadelta", "Lion", "get", "serialize",
           "deserialize", "schedules"]

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


# -- validation of hyperparameters ---------------------------------------------------------------
def _real(owner, name, value):
    """``value`` as a Python float: a real number (not a bool), a NumPy scalar or a 0-d tensor."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: `{name}` must be a real number, got {type(value).__name__} "
                        f"({name}={value!r})")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{owner}: `{name}` must be a number, got {name}=nan")
    return value


def _unit(owner, name, value):
    """A decay rate in [0, 1)."""
    value = _real(owner, name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: `{name}` must be in [0, 1), got {name}={value!r}")
    return value


def _closed_unit(owner, name, value):
    """A rate in [0, 1] (Keras's range for SGD/RMSprop momentum and RMSprop rho)."""
    value = _real(owner, name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}: `{name}` must be in [0, 1], got {name}={value!r}")
    return value


def _positive(owner, name, value):
    """A finite number > 0 (epsilon)."""
    value = _real(owner, name, value)
    if not 0.0 < value < math.inf:
        raise ValueError(f"{owner}: `{name}` must be a finite number > 0, got {name}={value!r}")
    return value


def _nonneg(owner, name, value):
    value = _real(owner, name, value)
    if not 0.0 <= value < math.inf:
        raise ValueError(f"{owner}: `{name}` must be a finite number >= 0, got {name}={value!r}")
    return value


def _optional(check):
    def optional(owner, name, value):
        return None if value is None else check(owner, name, value)
    return optional


def _clip(owner, name, value):
    """A clipping threshold: > 0 (``inf`` means no clipping)."""
    value = _real(owner, name, value)
    if not value > 0.0:
        raise ValueError(f"{owner}: `{name}` must be > 0 (or None for no clipping), got {name}={value!r}")
    return value


def _count(owner, name, value):
    """An integer >= 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: `{name}` must be an integer >= 1 or None, got {type(value).__name__} "
                        f"({name}={value!r})")
    if value < 1:
        raise ValueError(f"{owner}: `{name}` must be an integer >= 1 or None, got {name}={value!r}")
    return int(value)


def _accumulation(owner, name, value):
    value = _count(owner, name, value)
    if value < 2:
        raise ValueError(f"{owner}: `{name}` must be an integer >= 2 (or None), got {name}={value!r}")
    return value


def _flag(owner, name, value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{owner}: `{name}` must be a bool, got {type(value).__name__} ({name}={value!r})")


class _Hyper:
    """A validated hyperparameter.  It defines ``__set__`` but no ``__get__``, so a write
    goes through the check while a read is a plain instance-dict lookup (the update
    loop reads these at every step)."""

    def __init__(self, check):
        self.check = check

    def __set_name__(self, owner, name):
        self.name = name

    def __set__(self, obj, value):
        d = obj.__dict__
        d[self.name] = self.check(type(obj).__name__, self.name, value)
        if "_nslots" in d:   # a structural hyperparameter may change the slot count
            obj._hyper_changed()


class StepCount(int):
    """The step count ``apply_gradients`` and ``minimize`` return (TF returns the
    ``iterations`` variable): an int that also has ``.numpy()``, so TF's
    ``step = opt.minimize(loss, [var]).numpy()`` runs."""

    __slots__ = ()

    def numpy(self):
        return np.int64(self)


class LearningRate(float):
    """A number learning rate as ``optimizer.learning_rate`` returns it: a float that also
    answers TF's ``lr.numpy()`` and ``lr.assign(value)`` (which sets the optimizer's)."""

    __slots__ = ("_optimizer",)

    def __new__(cls, value, optimizer=None):
        self = super().__new__(cls, value)
        self._optimizer = optimizer
        return self

    def numpy(self):
        return np.float32(self)

    def assign(self, value):
        if self._optimizer is None:
            raise TypeError("LearningRate.assign: this value is not attached to an optimizer")
        self._optimizer.learning_rate = value
        return self._optimizer.learning_rate

    def __repr__(self):
        return repr(float(self))

    def __reduce__(self):
        return (float, (float(self),))


_LR_NUMBER, _LR_SCHEDULE, _LR_CALLABLE, _LR_STEP_CALLABLE = range(4)


def _takes_no_argument(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    for p in sig.parameters.values():
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD,
                                                                p.KEYWORD_ONLY):
            return False
    return True


class Optimizer:
    """Base class: learning rate (number, schedule or callable), step count, weight decay,
    clipping and per-variable slots.

    Subclasses declare ``_own_slot_names()`` (and ``_own_slot_inits()`` when not zeros),
    ``_step_constants(lr, t)`` (pure: computed before anything is written) and
    ``_update(param, grad, slots, consts, kernels)``.
    """

    weight_decay = _Hyper(_optional(_nonneg))
    use_ema = _Hyper(_flag)
    ema_momentum = _Hyper(_closed_unit)
    ema_overwrite_frequency = _Hyper(_optional(_count))
    loss_scale_factor = _Hyper(_optional(_positive))
    gradient_accumulation_steps = _Hyper(_optional(_accumulation))
    clipnorm = _Hyper(_optional(_clip))
    clipvalue = _Hyper(_optional(_clip))
    global_clipnorm = _Hyper(_optional(_clip))

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, **kwargs):
        cls = type(self).__name__
        if "lr" in kwargs:  # Keras 2 spelling
            warnings.warn(f"{cls}: `lr` is deprecated, use `learning_rate`", DeprecationWarning, stacklevel=3)
            learning_rate = kwargs.pop("lr")
        if kwargs.pop("decay", None) is not None:
            raise ValueError(f"{cls}: the Keras 2 argument `decay` is not supported (Keras 3 dropped it); "
                             "use a schedule, e.g. learning_rate=schedules.InverseTimeDecay(lr, decay_steps=1, "
                             "decay_rate=decay) for the same 1/(1 + decay * t) decay")
        if "jit_compile" in kwargs:
            _flag(cls, "jit_compile", kwargs.pop("jit_compile"))   # no effect: there is no compiler
        if kwargs:
            raise ValueError(f"{cls}: argument(s) not recognized: {kwargs}")
        given = [n for n, c in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                ("global_clipnorm", global_clipnorm)) if c is not None]
        if len(given) > 1:
            raise ValueError(f"{cls}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set, "
                             f"got clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{cls}: `name` must be a string, got {type(name).__name__}")
        self._learning_rate = None
        self._lr_kind = None
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._accum_phase = 0     # calls since the last update, with gradient_accumulation_steps
        self.name = name if name is not None else self._default_name
        self.iterations = 0
        self._slots = {}      # id(var) -> list of state arrays
        self._tracked = []    # variables with slots, in first-use order (keeps ids valid)
        self._wd_exclude_ids = set()
        self._wd_exclude_vars = []
        self._wd_exclude_pattern = None
        self._wd_cache = {}
        self._nslots = 0
        self._hyper_changed()

    def _hyper_changed(self):
        """Derived numbers the step reads, kept current by every hyperparameter write."""
        self._nslots = len(self._slot_names_for())
        self._plain = not (self.weight_decay or self.use_ema or self.clipnorm is not None
                           or self.clipvalue is not None or self.global_clipnorm is not None
                           or self.loss_scale_factor is not None or self.gradient_accumulation_steps is not None
                           or self._has_begin_step)

    _default_name = "optimizer"

    # -- learning rate -------------------------------------------------------
    @property
    def learning_rate(self):
        """What was set: a schedule, a callable, or a number, returned as a
        :class:`LearningRate` (a float with TF's ``.numpy()`` and ``.assign(value)``).
        ``current_learning_rate()`` gives the number the next step uses."""
        lr = self._learning_rate
        if self._lr_kind == _LR_NUMBER:
            return LearningRate(lr, self)
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        cls = type(self).__name__
        if isinstance(value, schedules.LearningRateSchedule):
            kind = _LR_SCHEDULE
        elif callable(value):
            kind = _LR_CALLABLE if _takes_no_argument(value) else _LR_STEP_CALLABLE
        else:
            if self._lr_kind in (_LR_SCHEDULE, _LR_CALLABLE, _LR_STEP_CALLABLE):
                what = type(self._learning_rate).__name__
                raise TypeError(
                    f"{cls}: this optimizer's learning rate is a {what} (a schedule or a callable), so it "
                    f"cannot be set to the number {value!r}: that would silently discard the schedule. "
                    "Create the optimizer with a float learning_rate if it must be settable.")
            value = _real(cls, "learning_rate", value)
            if not 0.0 <= value < math.inf:
                raise ValueError(f"{cls}: `learning_rate` must be a finite number >= 0, got "
                                 f"learning_rate={value!r}")
            kind = _LR_NUMBER
        self._learning_rate = value
        self._lr_kind = kind

    lr = learning_rate

    def current_learning_rate(self):
        """The learning rate the next step will use: a schedule is called with ``iterations``
        (0 on the first step), a callable with no argument (Keras), or with the step if it
        requires one argument.  Raises if the value is not a finite number >= 0."""
        kind = self._lr_kind
        lr = self._learning_rate
        if kind == _LR_NUMBER:
            return lr
        source = f"schedule {lr!r}" if kind == _LR_SCHEDULE else f"callable {getattr(lr, '__name__', lr)!r}"
        cls = type(self).__name__
        try:
            value = lr(self.iterations) if kind in (_LR_SCHEDULE, _LR_STEP_CALLABLE) else lr()
        except Exception as exc:
            exc.add_note(f"{cls}: raised by the learning rate ({source}) at step {self.iterations}; "
                         "no variable was updated")
            raise
        try:
            value = _real(cls, "learning_rate", value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{cls}: the learning rate from {source} at step {self.iterations} is "
                            f"{value!r}; it must be a finite number >= 0. No variable was updated.") from None
        if not 0.0 <= value < math.inf:
            raise ValueError(f"{cls}: the learning rate from {source} at step {self.iterations} is "
                             f"{value!r}; it must be a finite number >= 0. No variable was updated.")
        return value

    # -- weight decay ----------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras: variables in ``var_list``, or whose name contains one of ``var_names``
        (e.g. ``['bias']``), get no weight decay."""
        self._wd_exclude_vars = list(var_list or [])
        self._wd_exclude_ids = {id(v) for v in self._wd_exclude_vars}
        if var_names:
            if isinstance(var_names, str) or not all(isinstance(s, str) for s in var_names):
                raise TypeError(f"{type(self).__name__}.exclude_from_weight_decay: `var_names` must be a list "
                                f"of strings, got {var_names!r}")
            self._wd_exclude_pattern = re.compile("|".join(sorted(set(var_names))))
        else:
            self._wd_exclude_pattern = None
        self._wd_cache = {}

    def _use_weight_decay(self, v):
        key = id(v)
        use = self._wd_cache.get(key)
        if use is None:
            use = key not in self._wd_exclude_ids and not (
                self._wd_exclude_pattern is not None and self._wd_exclude_pattern.search(str(v.name)))
            self._wd_cache[key] = use
        return use

    # -- the entry points ------------------------------------------------------
    def minimize(self, loss, var_list, tape=None):
        """One step: differentiate ``loss()`` with respect to ``var_list`` and apply.

        ``loss`` must be a callable (the tape has to watch it being computed).
        With ``tape=``, ``loss`` may instead be a tensor computed under that tape (a callable
        is then computed under ``tape``, as TF does).
        Returns the new step count, as TF does (a :class:`StepCount`, an int with ``.numpy()``).
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
        elif callable(loss):
            with tape:                      # TF: a callable loss is computed under the given tape
                loss_value = loss()
        else:
            loss_value = loss
        var_list = list(var_list)
        if self.loss_scale_factor is None:
            grads = tape.gradient(loss_value, var_list)
        else:   # the gradient of scale_loss(loss); apply_gradients divides it again
            seed = np.full(np.shape(loss_value.data if isinstance(loss_value, Tensor) else loss_value),
                           self.loss_scale_factor)
            grads = tape.gradient(loss_value, var_list, output_gradients=seed)
        return self.apply_gradients(zip(grads, var_list))

    def apply(self, grads, trainable_variables):
        """Keras 3's form: ``apply(grads, variables)`` = ``apply_gradients(zip(grads, variables))``,
        with the two lists required to have the same length (zip would drop the extras)."""
        grads, trainable_variables = list(grads), list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(f"{type(self).__name__}.apply: {len(grads)} gradients for {len(trainable_variables)} "
                             "variables; give one gradient per variable. No variable was updated.")
        return self.apply_gradients(zip(grads, trainable_variables))

    def build(self, var_list):
        """Create the slots of every variable in ``var_list`` now (Keras ``build``)."""
        checked = [self._checked_var(v, "build") for v in var_list]
        for v in checked:
            if id(v) not in self._slots:
                self._make_slots(v)

    def apply_gradients(self, grads_and_vars):
        """Apply one step for each ``(gradient, variable)`` pair; returns the new step count
        (a :class:`StepCount`: an int with ``.numpy()``, like TF's ``iterations``).

        Everything is checked first (pairs, shapes, dtypes, writeability, duplicates, slots,
        the learning rate): a step that raises changes nothing."""
        checked = []
        all_slots = self._slots
        nslots = self._nslots
        kernels = _kernels
        for pair in grads_and_vars:
            try:
                g, v = pair
            except (TypeError, ValueError):
                raise TypeError(f"{type(self).__name__}.apply_gradients: expected (gradient, variable) "
                                f"pairs, got {pair!r:.200}") from None
            # the common case inline (this runs at every step): a float Var, a gradient array
            # of its shape and dtype, slots made for it
            if not isinstance(v, Var) or g is None:
                self._checked(g, v)          # raises the right error
            data = v.data
            dt = data.dtype
            flags = data.flags
            if not flags.writeable or (dt is not _F32 and dt is not _F64 and dt.kind != "f"):
                self._checked_var(v, "apply_gradients")
            arr = g.data if isinstance(g, Tensor) else g
            if ((type(arr) is not np.ndarray and not isinstance(arr, np.generic))  # a 0-d result may be a scalar
                    or arr.dtype is not dt or arr.shape != data.shape):
                arr = self._checked(g, v)[0]
            slots = all_slots.get(id(v))
            if slots is not None and (len(slots) != nslots or (
                    nslots and (slots[0].dtype is not dt or slots[0].shape != data.shape))):
                self._check_slots(v, slots, nslots)
            checked.append((arr, v, slots,
                            kernels if flags.c_contiguous and (dt is _F32 or dt is _F64) else None))
        data = flags = None   # no extra reference to a variable's array: _writable() would copy it
        if not checked:
            raise ValueError(f"{type(self).__name__}.apply_gradients: no (gradient, variable) pairs given")
        if len(checked) > 1:
            self._check_distinct(checked)
        plain = self._plain
        if not plain and (self.loss_scale_factor is not None or self.gradient_accumulation_steps is not None):
            checked = self._unscale_and_accumulate(checked)
            if checked is None:            # an accumulation-only call
                return StepCount(self.iterations)
        lr = self.current_learning_rate() if self._lr_kind else self._learning_rate
        t = self.iterations + 1
        consts = self._step_constants(lr, t)
        update = self._update
        if plain:   # no clipping, decay, EMA, ...: the common step, with the fewest checks
            self.iterations = t
            for g, v, slots, kern in checked:
                if slots is None:
                    slots = self._make_slots(v)
                update(v._writable(), g, slots, consts, kern)
            return StepCount(t)
        if self.clipvalue is not None or self.clipnorm is not None or self.global_clipnorm is not None:
            checked = self._clip_gradients(checked)
        wd = self.weight_decay
        wd_lr = wd * lr if wd else 0.0
        # -- nothing below raises for input that passed the checks above ----------
        if self._has_begin_step:
            self._begin_step(t)
        self.iterations = t
        ema = self.use_ema
        for g, v, slots, kern in checked:
            new = slots is None
            if new:
                slots = self._make_slots(v)
            param = v._writable()
            if wd_lr and self._use_weight_decay(v):
                param -= param * np.asarray(wd_lr, dtype=param.dtype)
            update(param, g, slots, consts, kern)
            if ema:
                self._update_average(param, slots[-1], 0.0 if new else self.ema_momentum, t)
        if self.gradient_accumulation_steps is not None:
            acc = len(self._own_slot_names())
            for _, v, _, _ in checked:
                self._slots[id(v)][acc].fill(0)
            self._accum_phase = 0
        return StepCount(t)

    def scale_loss(self, loss):
        """Keras: the loss times ``loss_scale_factor`` (the gradients are divided by it again
        before the update), or the loss itself."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def _unscale_and_accumulate(self, checked):
        """Keras's ``loss_scale_factor`` (gradients divided by it) and
        ``gradient_accumulation_steps``: a call that is not the N-th only adds the gradients
        to the accumulators (returns None); the N-th returns the mean of the N gradients."""
        scale = self.loss_scale_factor
        if scale is not None:
            checked = [(g / np.asarray(scale, dtype=g.dtype), *rest) for g, *rest in checked]
        steps = self.gradient_accumulation_steps
        if steps is None:
            return checked
        acc = len(self._own_slot_names())
        if self._accum_phase + 1 < steps:
            for g, v, slots, _ in checked:
                if slots is None:
                    slots = self._make_slots(v)
                slots[acc] += g
            self._accum_phase += 1
            return None
        return [((g + slots[acc]) / np.asarray(steps, dtype=g.dtype) if slots is not None
                 else g / np.asarray(steps, dtype=g.dtype), v, slots, kern) for g, v, slots, kern in checked]

    def _update_average(self, param, average, momentum, t):
        """Keras's EMA of the weights: ``average = m * average + (1 - m) * var`` (m = 0 on
        the variable's first step); every ``ema_overwrite_frequency`` steps the variable
        takes the average's value."""
        dt = param.dtype.type
        average *= dt(momentum)
        average += dt(1.0 - momentum) * param
        freq = self.ema_overwrite_frequency
        if freq and t % freq == 0:
            np.copyto(param, average)

    def finalize_variable_values(self, var_list):
        """Keras: at the end of training, with ``use_ema`` each variable takes its moving
        average (a no-op otherwise).  Checked before anything is written."""
        if not self.use_ema:
            return
        var_list = [self._checked_var(v, "finalize_variable_values") for v in var_list]
        pairs = [(v, self._slots[id(v)][-1]) for v in var_list if id(v) in self._slots]
        for v, average in pairs:
            if average.shape != v.shape or average.dtype != v.dtype:
                raise ValueError(f"{type(self).__name__}.finalize_variable_values: the average of {v.name!r} has "
                                 f"shape {average.shape} dtype {average.dtype}, the variable {v.shape} {v.dtype}")
        for v, average in pairs:
            np.copyto(v._writable(), average)

    # -- checks (no writes) ----------------------------------------------------
    def _checked_var(self, v, fn):
        cls = type(self).__name__
        if not isinstance(v, Var):
            raise TypeError(f"{cls}.{fn}: can only update Var objects, got {type(v).__name__}")
        data = v.data
        dt = data.dtype
        if dt.kind != "f":
            raise TypeError(f"{cls}.{fn}: variable {v.name!r} has dtype {dt} (shape {data.shape}); optimizers "
                            "update floating-point variables only. Create it as a float, e.g. Var(0.0) "
                            "instead of Var(0), or Var(value, dtype=np.float32). No variable was updated.")
        if not data.flags.writeable:
            raise ValueError(f"{cls}.{fn}: variable {v.name!r} (shape {data.shape}, dtype {dt}) is read-only: "
                             "its array is not writeable. No variable was updated.")
        return v

    def _checked(self, g, v):
        self._checked_var(v, "apply_gradients")
        cls = type(self).__name__
        if g is None:
            raise ValueError(f"{cls}.apply_gradients: the gradient for variable {v.name!r} "
                             f"(shape {v.shape}) is None: the loss does not depend on it. Remove it from "
                             "the variable list or check that it is used to compute the loss. "
                             "No variable was updated.")
        if isinstance(g, Tensor):
            arr = g.data
        else:
            try:
                arr = np.asarray(g)
            except Exception as exc:  # noqa: BLE001  a ragged list, an object that is no array
                raise TypeError(f"{cls}.apply_gradients: the gradient for variable {v.name!r} is not an array "
                                f"({type(g).__name__}: {exc}). No variable was updated.") from None
        dt = v.data.dtype
        if arr.shape != v.data.shape:
            raise ValueError(f"{cls}.apply_gradients: gradient of shape {arr.shape} for "
                             f"variable {v.name!r} of shape {v.data.shape}; no variable was updated")
        if arr.dtype != dt:
            if arr.dtype.kind not in "fiu":
                raise TypeError(f"{cls}.apply_gradients: gradient for {v.name!r} has dtype {arr.dtype}; "
                                f"expected a real number array (the variable is {dt}). No variable was updated.")
            arr = arr.astype(dt)
        return arr, v

    def _check_distinct(self, triples):
        seen = set()
        for t in triples:
            v = t[1]
            if id(v) in seen:
                raise ValueError(f"{type(self).__name__}.apply_gradients: variable {v.name!r} (shape {v.shape}) "
                                 "appears more than once; each variable can be updated once per step (sum its "
                                 "gradients instead). No variable was updated.")
            seen.add(id(v))

    def _check_slots(self, v, slots, nslots):
        cls = type(self).__name__
        if len(slots) != nslots:
            raise ValueError(f"{cls}.apply_gradients: variable {v.name!r} has {len(slots)} slot(s) but this "
                             f"configuration needs {nslots} ({', '.join(self._slot_names_for()) or 'none'}): "
                             "a structural hyperparameter (momentum on/off, amsgrad, centered) changed after "
                             "the first step. Create a new optimizer. No variable was updated.")
        data = v.data
        for s in slots:
            if s.shape != data.shape or s.dtype != data.dtype:
                raise ValueError(f"{cls}.apply_gradients: the slots of variable {v.name!r} have shape {s.shape} "
                                 f"and dtype {s.dtype} but the variable now has shape {data.shape} and dtype "
                                 f"{data.dtype}. No variable was updated.")

    def _clip_gradients(self, triples):
        """Keras clipping of ``(gradient, variable, slots)`` triples (new gradient arrays)."""
        if self.clipvalue is not None:
            c = self.clipvalue
            return [(np.clip(g, -c, c), *rest) for g, *rest in triples]
        if self.clipnorm is not None:
            c = self.clipnorm
            out = []
            for g, *rest in triples:
                n = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
                out.append((g * np.asarray(c / n, dtype=g.dtype) if n > c else g, *rest))
            return out
        if self.global_clipnorm is not None:
            c = self.global_clipnorm
            n = math.sqrt(sum(float(np.sum(np.square(t[0], dtype=np.float64))) for t in triples))
            if n > c:
                return [(g * np.asarray(c / n, dtype=g.dtype), *rest) for g, *rest in triples]
        return triples

    # -- slots and the per-step hooks --------------------------------------------
    def _make_slots(self, v):
        inits = self._slot_inits()
        slots = [np.full_like(v.data, init, order="C") if init else np.zeros_like(v.data, order="C")
                 for init in inits]
        self._slots[id(v)] = slots
        self._tracked.append(v)
        return slots

    def _slot_names_for(self):
        """Names of each variable's state arrays, in order (the EMA ``average`` last)."""
        names = self._own_slot_names()
        if self.__dict__.get("gradient_accumulation_steps"):
            names = names + ("gradient_accumulator",)
        return names + ("average",) if self.__dict__.get("use_ema") else names

    def _own_slot_names(self):
        return ()

    def _own_slot_inits(self):
        return [0.0] * len(self._own_slot_names())

    def _slot_inits(self):
        inits = self._own_slot_inits()
        if self.__dict__.get("gradient_accumulation_steps"):
            inits = inits + [0.0]
        return inits + [0.0] if self.__dict__.get("use_ema") else inits

    def _step_constants(self, lr, t):
        """Per-step numbers for ``_update``, from the learning rate and the step ``t`` (1 first).
        Must not change any state."""
        return lr

    _has_begin_step = False

    def _begin_step(self, t):
        """Optimizer-wide state updated once per step, after all checks passed (called when
        the class sets ``_has_begin_step``)."""

    def _update(self, param, grad, slots, consts, kernels):
        """Update ``param`` (the array from ``Var._writable()``) and ``slots`` in place;
        ``kernels`` is the kernel module when param is a C-contiguous float32/float64
        array, else None (use the NumPy formulas)."""
        raise NotImplementedError

    # -- state, for checkpoints ----------------------------------------------
    def get_state(self, var_list):
        """``{"iterations": n, "slots": [[arrays] per variable of var_list]}`` (copies); with
        ``gradient_accumulation_steps`` n counts calls, as Keras's raw iteration count does."""
        steps = self.gradient_accumulation_steps
        return {"iterations": self.iterations * steps + self._accum_phase if steps else self.iterations,
                "slots": [[s.copy() for s in self._slots[id(v)]] if id(v) in self._slots else None
                          for v in var_list]}

    def set_state(self, state, var_list):
        """Restore what :meth:`get_state` returned, matching variables by position.
        Everything is checked before anything is written."""
        cls = type(self).__name__
        var_list = list(var_list)
        try:
            iterations, slots = state["iterations"], state["slots"]
        except (TypeError, KeyError):
            raise ValueError(f"{cls}.set_state: expected a dict with 'iterations' and 'slots', "
                             f"got {state!r:.200}") from None
        if isinstance(iterations, (bool, np.bool_)) or not isinstance(iterations, (int, np.integer)) \
                or iterations < 0:
            raise ValueError(f"{cls}.set_state: 'iterations' must be an integer >= 0, got {iterations!r}")
        if len(slots) != len(var_list):
            raise ValueError(f"{cls}.set_state: state has {len(slots)} variables, "
                             f"model has {len(var_list)}")
        for v in var_list:
            self._checked_var(v, "set_state")
        nslots = len(self._slot_names_for())
        for v, s in zip(var_list, slots):
            if s is None:
                continue
            if len(s) != nslots or any(np.shape(a) != v.shape for a in s):
                raise ValueError(f"{cls}.set_state: slot shapes do not match variable "
                                 f"{v.name!r} of shape {v.shape}")
            for a in s:
                if np.asarray(a).dtype.kind not in "fiu":
                    raise ValueError(f"{cls}.set_state: a slot of variable {v.name!r} has dtype "
                                     f"{np.asarray(a).dtype}, expected real numbers")
        steps = self.gradient_accumulation_steps
        self.iterations, self._accum_phase = divmod(int(iterations), steps) if steps else (int(iterations), 0)
        self._restored_iterations(self.iterations)
        for v, s in zip(var_list, slots):
            if s is not None:
                if id(v) not in self._slots:
                    self._make_slots(v)
                for dst, src in zip(self._slots[id(v)], s):
                    np.copyto(dst, src, casting="unsafe")

    def _restored_iterations(self, t):
        """Rebuild optimizer-wide state that is a function of the step count."""

    def variables(self):
        """The state, like ``keras.Optimizer.variables``: the step count first, then each
        variable's slots.  These are copies (values): later steps do not change them."""
        out = [np.asarray(self.iterations)]
        for v in self._tracked:
            out.extend(s.copy() for s in self._slots[id(v)])
        return out

    # -- configuration -------------------------------------------------------------
    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = schedules.deserialize(lr, custom_objects=custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self._learning_rate!r} iterations={self.iterations}>"


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras formulation:
    ``velocity = momentum * velocity - lr * g; param += velocity`` (Nesterov:
    ``param += momentum * velocity - lr * g``)."""

    _default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        self.momentum = momentum
        self.nesterov = nesterov
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)

    momentum = _Hyper(_closed_unit)   # Keras: "`momentum` must be a float between [0, 1]"
    nesterov = _Hyper(_flag)

    def _own_slot_names(self):
        return ("velocity",) if self.momentum > 0 else ()

    def _update(self, param, g, slots, lr, kernels):
        velocity = slots[0] if self.momentum > 0 else None
        if kernels is not None:
            kernels.sgd_update(param, g, velocity, lr, self.momentum if velocity is not None else 0.0,
                                self.nesterov)
            return
        dt = param.dtype.type
        if velocity is None:
            param -= dt(lr) * g
            return
        velocity *= dt(self.momentum)
        velocity -= dt(lr) * g
        if self.nesterov:
            param += dt(self.momentum) * velocity - dt(lr) * g
        else:
            param += velocity

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop, Keras formulation: ``ms = rho*ms + (1-rho)*g**2; param -= lr*g/sqrt(ms + eps)``;
    ``centered`` divides by ``sqrt(ms - mg**2 + eps)`` with ``mg`` the moving mean of g; with
    momentum the increment is accumulated first (``mom = momentum*mom + inc; param -= mom``)."""

    _default_name = "rmsprop"
    rho = _Hyper(_closed_unit)        # Keras accepts both ends of [0, 1]
    momentum = _Hyper(_closed_unit)
    epsilon = _Hyper(_positive)
    centered = _Hyper(_flag)

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)

    def _own_slot_names(self):
        names = ("ms", "momentum") if self.momentum > 0 else ("ms",)
        return names + ("mg",) if self.centered else names

    def _update(self, param, g, slots, lr, kernels):
        ms = slots[0]
        mom = slots[1] if self.momentum > 0 else None
        if kernels is not None and not self.centered:
            kernels.rmsprop_update(param, g, ms, mom, lr, self.rho, self.momentum if mom is not None else 0.0,
                                    self.epsilon)
            return
        dt = param.dtype.type
        rho = dt(self.rho)
        ms *= rho
        ms += (dt(1) - rho) * g * g
        if self.centered:
            mg = slots[2 if self.momentum > 0 else 1]
            mg *= rho
            mg += (dt(1) - rho) * g
            denom = ms - mg * mg + dt(self.epsilon)
        else:
            denom = ms + dt(self.epsilon)
        inc = dt(lr) * g / np.sqrt(denom)
        if mom is None:
            param -= inc
        else:
            mom *= dt(self.momentum)
            mom += inc
            param -= mom

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adam(Optimizer):
    """Adam (Kingma & Ba), Keras formulation and defaults (``epsilon=1e-7``, not PyTorch's 1e-8):
    ``m += (g - m)(1 - b1); v += (g*g - v)(1 - b2); param -= alpha * m / (sqrt(v) + eps)`` with
    ``alpha = lr * sqrt(1 - b2**t) / (1 - b1**t)``; ``amsgrad`` uses the running max of v."""

    _default_name = "adam"
    beta_1 = _Hyper(_unit)
    beta_2 = _Hyper(_unit)
    epsilon = _Hyper(_positive)
    amsgrad = _Hyper(_flag)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)

    def _own_slot_names(self):
        return ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _step_constants(self, lr, t):
        return lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def _update(self, param, g, slots, alpha, kernels):
        m, v = slots[0], slots[1]
        vhat = slots[2] if self.amsgrad else None
        if kernels is not None:
            kernels.adam_update(param, g, m, v, vhat, alpha, self.beta_1, self.beta_2, self.epsilon)
            return
        dt = param.dtype.type
        m += (g - m) * dt(1 - self.beta_1)
        v += (g * g - v) * dt(1 - self.beta_2)
        if vhat is not None:
            np.maximum(vhat, v, out=vhat)
            v = vhat
        param -= dt(alpha) * m / (np.sqrt(v) + dt(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), Keras 3: before each Adam
    update ``var -= var * weight_decay * lr`` (default ``weight_decay=0.004``)."""

    _default_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: `weight_decay` must be a float (AdamW is Adam with weight decay), "
                             "got weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, name, **kwargs)


class Adagrad(Optimizer):
    """Adagrad, Keras formulation and defaults: ``acc += g*g; param -= lr*g/sqrt(acc + eps)``
    with the accumulator starting at ``initial_accumulator_value`` (0.1)."""

    _default_name = "adagrad"
    initial_accumulator_value = _Hyper(_nonneg)
    epsilon = _Hyper(_positive)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)

    def _own_slot_names(self):
        return ("accumulator",)

    def _own_slot_inits(self):
        return [self.initial_accumulator_value]

    def _update(self, param, g, slots, lr, kernels):
        acc = slots[0]
        dt = param.dtype.type
        acc += g * g
        param -= dt(lr) * g / np.sqrt(acc + dt(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam (Dozat 2015), Keras 3 formulation: Adam with Nesterov momentum and the momentum
    cache ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``::

        m += (g - m)(1 - b1);  v += (g*g - v)(1 - b2)
        m_hat = u_{t+1} m / (1 - prod_{i<=t+1} u_i) + (1 - u_t) g / (1 - prod_{i<=t} u_i)
        param -= lr * m_hat / (sqrt(v / (1 - b2**t)) + eps)
    """

    _default_name = "nadam"
    beta_1 = _Hyper(_unit)
    beta_2 = _Hyper(_unit)
    epsilon = _Hyper(_positive)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self._u_product = 1.0

    def _u(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _own_slot_names(self):
        return ("m", "v")

    def _step_constants(self, lr, t):
        u_t, u_next = self._u(t), self._u(t + 1)
        prod_t = self._u_product * u_t
        prod_next = prod_t * u_next
        return lr, u_next / (1.0 - prod_next), (1.0 - u_t) / (1.0 - prod_t), 1.0 / (1.0 - self.beta_2 ** t)

    _has_begin_step = True

    def _begin_step(self, t):
        self._u_product *= self._u(t)

    def _restored_iterations(self, t):
        prod = 1.0
        for i in range(1, t + 1):
            factor = self._u(i)
            if factor == self.beta_1:       # 0.96**i underflowed: every later factor is beta_1
                prod *= self.beta_1 ** (t - i + 1)
                break
            prod *= factor
        self._u_product = prod

    def _update(self, param, g, slots, consts, kernels):
        lr, c_m, c_g, c_v = consts
        m, v = slots[0], slots[1]
        dt = param.dtype.type
        m += (g - m) * dt(1 - self.beta_1)
        v += (g * g - v) * dt(1 - self.beta_2)
        m_hat = dt(c_m) * m + dt(c_g) * g
        param -= dt(lr) * m_hat / (np.sqrt(v * dt(c_v)) + dt(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm), Keras formulation and defaults:
    ``m += (g - m)(1 - b1); u = max(b2 * u, |g|); param -= lr * m / ((1 - b1**t)(u + eps))``."""

    _default_name = "adamax"
    beta_1 = _Hyper(_unit)
    beta_2 = _Hyper(_unit)
    epsilon = _Hyper(_positive)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)

    def _own_slot_names(self):
        return ("m", "u")

    def _step_constants(self, lr, t):
        return lr / (1.0 - self.beta_1 ** t)

    def _update(self, param, g, slots, step, kernels):
        m, u = slots[0], slots[1]
        dt = param.dtype.type
        m += (g - m) * dt(1 - self.beta_1)
        np.maximum(u * dt(self.beta_2), np.abs(g), out=u)
        param -= dt(step) * m / (u + dt(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012), Keras formulation and defaults (``learning_rate=0.001``,
    ``rho=0.95``): ``acc_g = rho acc_g + (1 - rho) g**2; d = -sqrt(acc_d + eps) / sqrt(acc_g + eps) * g;
    acc_d = rho acc_d + (1 - rho) d**2; param += lr * d``."""

    _default_name = "adadelta"
    rho = _Hyper(_closed_unit)
    epsilon = _Hyper(_positive)

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        self.rho = rho
        self.epsilon = epsilon
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)

    def _own_slot_names(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def _update(self, param, g, slots, lr, kernels):
        acc_g, acc_d = slots[0], slots[1]
        dt = param.dtype.type
        rho, eps = dt(self.rho), dt(self.epsilon)
        acc_g *= rho
        acc_g += (dt(1) - rho) * g * g
        delta = -(np.sqrt(acc_d + eps) * g) / np.sqrt(acc_g + eps)
        acc_d *= rho
        acc_d += (dt(1) - rho) * delta * delta
        param += dt(lr) * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion (Chen et al. 2023), Keras formulation and defaults:
    ``param -= lr * sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g``; ``beta_1`` in (0, 1]."""

    _default_name = "lion"
    beta_2 = _Hyper(_unit)

    def _check_beta_1(owner, name, value):
        value = _real(owner, name, value)
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{owner}: `beta_1` must be in (0, 1] (with 0 Lion degenerates to SignSGD), "
                             f"got beta_1={value!r}")
        return value

    beta_1 = _Hyper(_check_beta_1)
    del _check_beta_1

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)

    def _own_slot_names(self):
        return ("m",)

    def _update(self, param, g, slots, lr, kernels):
        m = slots[0]
        dt = param.dtype.type
        param -= dt(lr) * np.sign(m * dt(self.beta_1) + g * dt(1.0 - self.beta_1))
        m *= dt(self.beta_2)
        m += g * dt(1.0 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad, "nadam": Nadam,
            "adamax": Adamax, "adadelta": Adadelta, "lion": Lion}


def get(identifier, custom_objects=None):
    """An optimizer from a string (``'adam'``, ``'adamw'`` ...), a config dict
    (``{"class_name": ..., "config": ...}``), or an instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]()
        except KeyError:
            raise ValueError(f"unknown optimizer {identifier!r}; choose from {sorted(_BY_NAME)}") from None
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects=custom_objects)
    raise TypeError(f"cannot make an optimizer from {type(identifier).__name__}; pass a name such as 'adam', "
                    "a config dict or an Optimizer")


def serialize(optimizer):
    """``{"class_name": ..., "config": ...}`` (JSON-ready: a callable learning rate cannot be saved)."""
    config = optimizer.get_config()
    lr = config.get("learning_rate")
    if callable(lr):
        raise ValueError(f"{type(optimizer).__name__}: cannot serialize the callable learning rate {lr!r}; "
                         "use a float or a schedules.LearningRateSchedule to save the optimizer")
    return {"class_name": type(optimizer).__name__, "config": config}


def deserialize(config, custom_objects=None):
    """The optimizer that :func:`serialize` described."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"optimizers.deserialize: expected {{'class_name': ..., 'config': ...}}, "
                         f"got {config!r:.200}")
    name = config["class_name"]
    classes = dict(_BY_NAME)
    for key, value in (custom_objects or {}).items():
        classes[key.lower()] = value
    cls = classes.get(str(name).lower())
    if cls is None:
        raise ValueError(f"optimizers.deserialize: unknown optimizer {name!r}; choose from {sorted(_BY_NAME)}")
    return cls.from_config(config.get("config", {}), custom_objects=custom_objects)
