"""Bad-input battery for the optimizers and schedules.

Every case ends in a clear exception naming the optimizer, the argument and the variable
involved, and a failed ``apply_gradients`` / ``minimize`` / ``set_state`` changes NOTHING:
every variable, every slot, ``iterations`` (and Nadam's momentum cache) compare equal
before and after.
"""
import math

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import optimizers as O
from tinygrad_bn import schedules as S

from badinput import expect_error, expect_isolated_error

NAN, INF = float("nan"), float("inf")


# ---------------------------------------------------------------------------------------------
# Construction and later assignment of hyperparameters (validated as Keras would, or stricter)
# ---------------------------------------------------------------------------------------------
CONSTRUCTION = {
    "lr-negative": (lambda: O.Adam(learning_rate=-0.1), ValueError, ["Adam", "learning_rate", "-0.1"]),
    "lr-nan": (lambda: O.SGD(learning_rate=NAN), ValueError, ["SGD", "learning_rate", "nan"]),
    "lr-inf": (lambda: O.RMSprop(learning_rate=INF), ValueError, ["RMSprop", "learning_rate", "inf"]),
    "lr-string": (lambda: O.SGD(learning_rate="0.1"), TypeError, ["SGD", "learning_rate", "str"]),
    "lr-bool": (lambda: O.Adam(learning_rate=True), TypeError, ["Adam", "learning_rate", "bool"]),
    "lr-array": (lambda: O.Adam(learning_rate=np.array([0.1, 0.2])), TypeError, ["Adam", "learning_rate"]),
    "epsilon-zero": (lambda: O.Adam(epsilon=0), ValueError, ["Adam", "epsilon", "> 0"]),
    "epsilon-negative": (lambda: O.Nadam(epsilon=-1e-7), ValueError, ["Nadam", "epsilon"]),
    "epsilon-nan": (lambda: O.RMSprop(epsilon=NAN), ValueError, ["RMSprop", "epsilon"]),
    "epsilon-inf": (lambda: O.Adagrad(epsilon=INF), ValueError, ["Adagrad", "epsilon"]),
    "beta_1-one": (lambda: O.Adam(beta_1=1.0), ValueError, ["Adam", "beta_1", "[0, 1)"]),
    "beta_2-negative": (lambda: O.AdamW(beta_2=-0.1), ValueError, ["AdamW", "beta_2"]),
    "nadam-beta_1-big": (lambda: O.Nadam(beta_1=1.5), ValueError, ["Nadam", "beta_1"]),
    "lion-beta_1-zero": (lambda: O.Lion(beta_1=0.0), ValueError, ["Lion", "beta_1", "SignSGD"]),
    "adamax-epsilon-zero": (lambda: O.Adamax(epsilon=0.0), ValueError, ["Adamax", "epsilon"]),
    "adadelta-rho-negative": (lambda: O.Adadelta(rho=-0.5), ValueError, ["Adadelta", "rho"]),
    "beta-string": (lambda: O.Adam(beta_1="0.9"), TypeError, ["Adam", "beta_1", "str"]),
    "rho-big": (lambda: O.RMSprop(rho=1.5), ValueError, ["RMSprop", "rho", "[0, 1]"]),
    "rho-nan": (lambda: O.RMSprop(rho=NAN), ValueError, ["RMSprop", "rho"]),
    "momentum-negative": (lambda: O.SGD(momentum=-0.1), ValueError, ["SGD", "momentum"]),
    "momentum-string": (lambda: O.SGD(momentum="0.9"), TypeError, ["SGD", "momentum"]),
    "rmsprop-momentum-big": (lambda: O.RMSprop(momentum=2.0), ValueError, ["RMSprop", "momentum"]),
    "clipnorm-zero": (lambda: O.SGD(clipnorm=0), ValueError, ["SGD", "clipnorm", "> 0"]),
    "clipnorm-negative": (lambda: O.Adam(clipnorm=-1.0), ValueError, ["Adam", "clipnorm"]),
    "clipvalue-zero": (lambda: O.Adam(clipvalue=0.0), ValueError, ["Adam", "clipvalue"]),
    "global_clipnorm-nan": (lambda: O.Adam(global_clipnorm=NAN), ValueError, ["Adam", "global_clipnorm"]),
    "two-clips": (lambda: O.SGD(clipnorm=1.0, clipvalue=1.0), ValueError, ["SGD", "clipnorm", "clipvalue"]),
    "weight_decay-negative": (lambda: O.Adam(weight_decay=-0.1), ValueError, ["Adam", "weight_decay"]),
    "weight_decay-nan": (lambda: O.SGD(weight_decay=NAN), ValueError, ["SGD", "weight_decay"]),
    "adamw-weight_decay-none": (lambda: O.AdamW(weight_decay=None), ValueError, ["AdamW", "weight_decay"]),
    "initial_accumulator-negative": (lambda: O.Adagrad(initial_accumulator_value=-0.1), ValueError,
                                     ["Adagrad", "initial_accumulator_value"]),
    "amsgrad-string": (lambda: O.Adam(amsgrad="yes"), TypeError, ["Adam", "amsgrad", "bool"]),
    "nesterov-two": (lambda: O.SGD(nesterov=2), TypeError, ["SGD", "nesterov"]),
    "centered-none": (lambda: O.RMSprop(centered=None), TypeError, ["RMSprop", "centered"]),
    "name-int": (lambda: O.Adam(name=3), TypeError, ["Adam", "name"]),
    "unknown-kwarg": (lambda: O.SGD(momentun=0.9), ValueError, ["SGD", "not recognized", "momentun"]),
    "keras2-decay": (lambda: O.SGD(decay=0.01), ValueError, ["SGD", "decay", "InverseTimeDecay"]),
    "loss_scale_factor-zero": (lambda: O.Adam(loss_scale_factor=0.0), ValueError, ["Adam", "loss_scale_factor"]),
    "accumulation-one": (lambda: O.SGD(gradient_accumulation_steps=1), ValueError,
                         ["SGD", "gradient_accumulation_steps", ">= 2"]),
    "accumulation-float": (lambda: O.SGD(gradient_accumulation_steps=2.0), TypeError,
                           ["SGD", "gradient_accumulation_steps"]),
    "use_ema-string": (lambda: O.Adam(use_ema="on"), TypeError, ["Adam", "use_ema"]),
    "ema_momentum-big": (lambda: O.SGD(use_ema=True, ema_momentum=1.5), ValueError, ["SGD", "ema_momentum"]),
    "ema_overwrite_frequency-zero": (lambda: O.SGD(use_ema=True, ema_overwrite_frequency=0), ValueError,
                                     ["SGD", "ema_overwrite_frequency"]),
    "ema_overwrite_frequency-float": (lambda: O.SGD(use_ema=True, ema_overwrite_frequency=2.5), TypeError,
                                      ["SGD", "ema_overwrite_frequency"]),
    "get-unknown-name": (lambda: O.get("adamq"), ValueError, ["adamq", "adamw"]),
    "get-bad-type": (lambda: O.get(3.5), TypeError, ["optimizer", "float"]),
    "deserialize-no-class": (lambda: O.deserialize({"config": {}}), ValueError, ["deserialize", "class_name"]),
    "from_config-bad-value": (lambda: O.Adam.from_config({"learning_rate": 0.1, "beta_1": 7}), ValueError,
                              ["Adam", "beta_1"]),
    "exclude-names-not-strings": (lambda: O.AdamW().exclude_from_weight_decay(var_names=[1]), TypeError,
                                  ["exclude_from_weight_decay", "var_names"]),
}


@pytest.mark.parametrize("case", sorted(CONSTRUCTION))
def test_construction(case):
    fn, exc, words = CONSTRUCTION[case]
    expect_error(fn, exc, *words)


SETTERS = {
    "epsilon": (lambda: O.Adam(0.1), "epsilon", 0.0, ValueError),
    "beta_1": (lambda: O.Adam(0.1), "beta_1", 1.0, ValueError),
    "momentum": (lambda: O.SGD(0.1, momentum=0.5), "momentum", -1.0, ValueError),
    "clipnorm": (lambda: O.SGD(0.1), "clipnorm", -2.0, ValueError),
    "weight_decay": (lambda: O.AdamW(0.1), "weight_decay", "big", TypeError),
    "learning_rate": (lambda: O.SGD(0.1), "learning_rate", -1.0, ValueError),
    "learning_rate-over-schedule": (lambda: O.SGD(S.CosineDecay(0.1, 10)), "learning_rate", 0.01, TypeError),
}


@pytest.mark.parametrize("case", sorted(SETTERS))
def test_setting_a_bad_value_later_raises_and_keeps_the_old(case):
    make, attr, bad, exc = SETTERS[case]
    opt = make()
    before = getattr(opt, attr)
    expect_error(lambda: setattr(opt, attr, bad), exc, type(opt).__name__, attr)
    assert getattr(opt, attr) == before and type(getattr(opt, attr)) is type(before)


# ---------------------------------------------------------------------------------------------
# apply_gradients / minimize / set_state: the error names what is wrong, and nothing changes
# ---------------------------------------------------------------------------------------------
def _snapshot(opt, variables):
    return (opt.iterations, [np.array(v.data, copy=True) for v in variables],
            {k: [s.copy() for s in slots] for k, slots in opt._slots.items()},
            getattr(opt, "_u_product", None))


def _assert_unchanged(before, after):
    assert before[0] == after[0], "iterations changed"
    for a, b in zip(before[1], after[1]):
        np.testing.assert_array_equal(a, b)
    assert before[2].keys() == after[2].keys(), "slots were created"
    for k in before[2]:
        for a, b in zip(before[2][k], after[2][k]):
            np.testing.assert_array_equal(a, b)
    assert before[3] == after[3]


OPTIMIZERS = {
    "SGD": lambda lr=0.1: O.SGD(lr, momentum=0.9, weight_decay=0.01, use_ema=True, ema_overwrite_frequency=2),
    "Adam": lambda lr=0.1: O.Adam(lr, amsgrad=True),
    "Nadam": lambda lr=0.1: O.Nadam(lr),
    "RMSprop": lambda lr=0.1: O.RMSprop(lr, momentum=0.5, centered=True),
    "Adagrad": lambda lr=0.1: O.Adagrad(lr),
    "AdamW": lambda lr=0.1: O.AdamW(lr),
    "Adamax": lambda lr=0.1: O.Adamax(lr),
    "Adadelta": lambda lr=0.1: O.Adadelta(lr),
    "Lion": lambda lr=0.1: O.Lion(lr),
}
STEP_OPTIMIZERS = {**OPTIMIZERS,   # accumulating: the first call of a cycle only adds to the accumulators
                   "Adam-accumulating": lambda lr=0.1: O.Adam(lr, gradient_accumulation_steps=3,
                                                              loss_scale_factor=4.0)}


def _setup(opt_name="Adam", lr=0.1):
    """An optimizer that already took one step on a and b (so slots exist), plus a fresh c."""
    a = tg.Var(np.array([1.0, 2.0, 3.0], np.float32), name="a")
    b = tg.Var(np.array([[0.5, -0.5]]), name="b")
    c = tg.Var(np.array([4.0, 5.0], np.float32), name="c")
    opt = STEP_OPTIMIZERS[opt_name](lr)
    opt.apply_gradients([(np.ones(3, np.float32), a), (np.ones((1, 2)), b)])
    return opt, a, b, c


def _ok(v):
    return np.ones(v.shape, v.dtype), v


def _read_only_var():
    v = tg.Var(np.zeros(2, np.float32), name="frozen")
    v.data.flags.writeable = False
    return v


STEP_CASES = {
    # name: (build the failing call from (opt, a, b, c), exception, words in the message)
    "shape-mismatch-late": (lambda o, a, b, c: o.apply_gradients([_ok(a), _ok(c), (np.ones(3), b)]),
                            ValueError, ["apply_gradients", "'b'", "(3,)", "(1, 2)"]),
    "none-gradient": (lambda o, a, b, c: o.apply_gradients([_ok(a), (None, c)]), ValueError, ["'c'", "None"]),
    "complex-gradient": (lambda o, a, b, c: o.apply_gradients([_ok(a), (np.ones(2, complex), c)]), TypeError,
                         ["'c'", "complex"]),
    "string-gradient": (lambda o, a, b, c: o.apply_gradients([_ok(a), (np.array(["x", "y"]), c)]), TypeError,
                        ["'c'", "<U1"]),
    "bool-gradient": (lambda o, a, b, c: o.apply_gradients([_ok(a), (np.ones(2, bool), c)]), TypeError,
                      ["'c'", "bool"]),
    "ragged-gradient": (lambda o, a, b, c: o.apply_gradients([_ok(a), ([[1.0], [1.0, 2.0]], c)]),
                        (TypeError, ValueError), ["'c'"]),
    "not-a-var": (lambda o, a, b, c: o.apply_gradients([_ok(a), (np.ones(2), tg.Tensor(np.ones(2)))]),
                  TypeError, ["apply_gradients", "Var", "Tensor"]),
    "integer-var": (lambda o, a, b, c: o.apply_gradients([_ok(a), (np.ones(3), tg.Var(np.arange(3), name="n"))]),
                    TypeError, ["'n'", "int", "Var(0.0)", "float32"]),
    "read-only-var-late": (lambda o, a, b, c: o.apply_gradients([_ok(a), _ok(b), (np.ones(2, np.float32),
                                                                               _read_only_var())]),
                           ValueError, ["'frozen'", "read-only"]),
    "same-var-twice": (lambda o, a, b, c: o.apply_gradients([_ok(a), _ok(c), _ok(a)]), ValueError,
                       ["'a'", "more than once"]),
    "empty": (lambda o, a, b, c: o.apply_gradients([]), ValueError, ["apply_gradients", "no"]),
    "apply-length-mismatch": (lambda o, a, b, c: o.apply([np.ones(3, np.float32)], [a, b]), ValueError,
                              ["apply", "1 gradients for 2 variables"]),
    "not-pairs": (lambda o, a, b, c: o.apply_gradients([a, b]), TypeError, ["apply_gradients", "pairs"]),
    "minimize-non-callable-loss": (lambda o, a, b, c: o.minimize((a * a).sum(), [a]), TypeError,
                                   ["minimize", "callable"]),
    "minimize-unused-var": (lambda o, a, b, c: o.minimize(lambda: (a * a).sum(), [a, c]), ValueError,
                            ["'c'", "None"]),
    "slots-shape-changed": (lambda o, a, b, c: (setattr(a, "data", np.zeros(5, np.float32)),
                                                o.apply_gradients([(np.ones(5, np.float32), a)])),
                            ValueError, ["'a'", "slots", "(3,)", "(5,)"]),
    "set_state-wrong-count": (lambda o, a, b, c: o.set_state(o.get_state([a, b]), [a]), ValueError,
                              ["set_state", "2 variables"]),
    "set_state-wrong-shape": (lambda o, a, b, c: o.set_state(o.get_state([a, b]), [b, a]), ValueError,
                              ["set_state", "shape"]),
    "set_state-negative-iterations": (lambda o, a, b, c: o.set_state({"iterations": -1, "slots": [None]}, [a]),
                                      ValueError, ["set_state", "iterations"]),
    "set_state-not-a-dict": (lambda o, a, b, c: o.set_state([1, 2], [a]), ValueError, ["set_state", "dict"]),
}


@pytest.mark.parametrize("opt_name", ["Adam", "SGD", "Nadam", "Adam-accumulating"])
@pytest.mark.parametrize("case", sorted(STEP_CASES))
def test_failed_step_changes_nothing(case, opt_name):
    opt, a, b, c = _setup(opt_name)
    fn, exc, words = STEP_CASES[case]
    before = _snapshot(opt, [a, b, c])
    expect_error(lambda: fn(opt, a, b, c), exc, *words)
    if case == "slots-shape-changed":
        before[1][0] = np.zeros(5, np.float32)      # the test itself replaced a's array
    _assert_unchanged(before, _snapshot(opt, [a, b, c]))


def _nan_schedule():
    class Broken(S.LearningRateSchedule):
        def __call__(self, step):
            return 0.1 if step < 1 else NAN

        def get_config(self):
            return {}
    return Broken()


def _raising_lr():
    raise RuntimeError("lr service down")


LR_CASES = {
    "schedule-nan": (_nan_schedule, ValueError, ["learning rate", "Broken", "nan", "step 1"]),
    "callable-negative": (lambda: (lambda: -0.5), ValueError, ["learning rate", "-0.5"]),
    "callable-inf": (lambda: (lambda: INF), ValueError, ["learning rate", "inf"]),
    "callable-string": (lambda: (lambda: "fast"), TypeError, ["learning rate", "fast"]),
    "callable-array": (lambda: (lambda: np.ones(3)), TypeError, ["learning rate"]),
    "callable-raises": (lambda: _raising_lr, RuntimeError, ["lr service down", "_raising_lr",
                                                            "no variable was updated"]),
    "exponential-overflow": (lambda: S.ExponentialDecay(0.1, decay_steps=1, decay_rate=1e300), ValueError,
                             ["ExponentialDecay", "not a finite", "step 400", "no variable was updated"]),
}


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("case", sorted(LR_CASES))
def test_bad_learning_rate_at_step_time_changes_nothing(case, opt_name):
    make_lr, exc, words = LR_CASES[case]
    lr = make_lr()
    a = tg.Var(np.array([1.0, 2.0, 3.0], np.float32), name="a")
    opt = OPTIMIZERS[opt_name](lr if case == "schedule-nan" else 0.1)
    opt.apply_gradients([_ok(a)])                  # one good step first: slots exist
    if case != "schedule-nan":
        opt._learning_rate, opt._lr_kind = None, None  # bypass the float -> callable guard of the setter
        opt.learning_rate = lr
    if case == "exponential-overflow":
        opt.iterations = 400
    before = _snapshot(opt, [a])
    expect_error(lambda: opt.apply_gradients([_ok(a)]), exc, *words, opt_name)
    _assert_unchanged(before, _snapshot(opt, [a]))


STRUCTURAL = {"SGD": ("momentum", 0.0), "Adam": ("amsgrad", False), "RMSprop": ("centered", False),
              "AdamW": ("amsgrad", True)}


@pytest.mark.parametrize("opt_name", sorted(STRUCTURAL))
def test_structural_hyperparameter_change_is_refused_atomically(opt_name):
    opt, a, b, c = _setup(opt_name)
    attr, value = STRUCTURAL[opt_name]
    setattr(opt, attr, value)
    before = _snapshot(opt, [a, b, c])
    expect_error(lambda: opt.apply_gradients([_ok(a), _ok(b)]), ValueError, "'a'", "slot", "new optimizer")
    _assert_unchanged(before, _snapshot(opt, [a, b, c]))


def test_a_loss_that_raises_inside_minimize_changes_nothing():
    opt, a, b, c = _setup("Adam")
    before = _snapshot(opt, [a, b, c])

    def loss():
        (a * a).sum()
        raise FloatingPointError("bad batch")

    expect_error(lambda: opt.minimize(loss, [a, b]), FloatingPointError, "bad batch")
    _assert_unchanged(before, _snapshot(opt, [a, b, c]))


def test_a_generator_of_pairs_that_fails_midway_changes_nothing():
    opt, a, b, c = _setup("SGD")
    before = _snapshot(opt, [a, b, c])

    def pairs():
        yield _ok(a)
        raise KeyError("no gradient for layer 2")

    expect_error(lambda: opt.apply_gradients(pairs()), KeyError, "layer 2")
    _assert_unchanged(before, _snapshot(opt, [a, b, c]))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_nan_gradient_propagates_ieee(opt_name):
    """Not an error: a NaN gradient gives NaN where it is and finite values elsewhere, in
    the kernels and the NumPy formulas alike (a diverging model stays visible)."""
    w = tg.Var(np.array([1.0, 2.0, 3.0], np.float32))
    OPTIMIZERS[opt_name]().apply_gradients([(np.array([NAN, 1.0, 1.0], np.float32), w)])
    out = w.numpy()
    assert math.isnan(out[0]) and np.isfinite(out[1:]).all()


def test_read_only_array_found_before_the_kernel_in_a_fresh_process():
    expect_isolated_error("""
        import numpy as np, tinygrad_bn as tg
        a = tg.Var(np.ones(3, np.float32), name="a")
        b = tg.Var(np.ones(3, np.float32), name="b")
        b.data = np.frombuffer(np.ones(3, np.float32).tobytes(), np.float32)   # read-only memory
        opt = tg.optimizers.Adam(0.1)
        try:
            opt.apply_gradients([(np.ones(3, np.float32), a), (np.ones(3, np.float32), b)])
        finally:
            assert opt.iterations == 0 and (a.numpy() == 1).all()
    """, "ValueError", "'b'", "read-only")


def test_schedule_bad_steps_and_arguments():
    expect_error(lambda: S.CosineDecay(0.1, 10)(NAN), ValueError, "CosineDecay", "step")
    expect_error(lambda: S.ExponentialDecay(0.1, 10, 0.5)("3"), TypeError, "ExponentialDecay", "step")
    expect_error(lambda: S.PiecewiseConstantDecay([1, 2], [0.1]), ValueError, "PiecewiseConstantDecay",
                 "len(values)")
    expect_error(lambda: S.PiecewiseConstantDecay(5, [0.1]), TypeError, "PiecewiseConstantDecay", "boundaries")
    expect_error(lambda: S.deserialize({"class_name": "os.system", "config": {}}), ValueError, "os.system")
    expect_error(lambda: S.deserialize({"class_name": "CosineDecay", "config": [1]}), ValueError,
                 "CosineDecay", "dict")
    expect_error(lambda: S.serialize(lambda step: 0.1), TypeError, "serialize", "LearningRateSchedule")
