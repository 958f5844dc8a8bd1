"""Optimizers against the Keras update formulas, written out independently here; schedules;
errors that leave every variable untouched."""
import math
import re

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import optimizers, schedules

rng = np.random.default_rng(7)


def run(opt, steps, shape=(5,), dtype=np.float64, grads=None):
    w = tg.Var(rng.standard_normal(shape).astype(dtype))
    start = w.numpy()
    gs = grads if grads is not None else [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]
    for g in gs:
        opt.apply_gradients([(g, w)])
    return start, gs, w.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(dtype, momentum, nesterov):
    lr = 0.05
    start, gs, end = run(optimizers.SGD(lr, momentum=momentum, nesterov=nesterov), 4, dtype=dtype)
    p, vel = start.astype(np.float64), np.zeros_like(start, dtype=np.float64)
    for g in gs:
        vel = momentum * vel - lr * g
        p = p + (momentum * vel - lr * g if nesterov else vel)
    np.testing.assert_allclose(end, p, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop(dtype, momentum):
    lr, rho, eps = 0.01, 0.9, 1e-7
    start, gs, end = run(optimizers.RMSprop(lr, rho=rho, momentum=momentum, epsilon=eps), 4, dtype=dtype)
    p = start.astype(np.float64)
    ms = np.zeros_like(p)
    mom = np.zeros_like(p)
    for g in gs:
        ms = rho * ms + (1 - rho) * g ** 2
        inc = lr * g / np.sqrt(ms + eps)
        if momentum:
            mom = momentum * mom + inc
            p = p - mom
        else:
            p = p - inc
    np.testing.assert_allclose(end, p, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam(dtype, amsgrad):
    lr, b1, b2, eps = 0.02, 0.8, 0.95, 1e-7
    start, gs, end = run(optimizers.Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps, amsgrad=amsgrad), 5,
                         dtype=dtype)
    p = start.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        p = p - alpha * m / (np.sqrt(vmax if amsgrad else v) + eps)
    np.testing.assert_allclose(end, p, rtol=2e-5 if dtype == np.float32 else 1e-12)


def test_keras_defaults():
    assert optimizers.SGD().learning_rate == 0.01
    a = optimizers.Adam()
    assert (a.learning_rate, a.beta_1, a.beta_2, a.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    r = optimizers.RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon) == (0.001, 0.9, 0.0, 1e-7)


def test_non_contiguous_variable_uses_formula_path():
    base = np.zeros((4, 4))
    w = tg.Var(base)
    g = np.ones((4, 4))[:, ::1]
    optimizers.SGD(0.5).apply_gradients([(g.T, w)])
    np.testing.assert_allclose(w.numpy(), -0.5)


def test_none_gradient_names_variable_and_updates_nothing():
    a = tg.Var(np.ones(2), name="kernel")
    b = tg.Var(np.ones(3), name="orphan")
    opt = optimizers.Adam(0.1)
    with pytest.raises(ValueError, match="orphan"):
        opt.apply_gradients([(np.ones(2), a), (None, b)])
    np.testing.assert_array_equal(a.numpy(), 1.0)
    assert opt.iterations == 0


def test_bad_gradient_shape_updates_nothing():
    a = tg.Var(np.ones(2), name="a")
    b = tg.Var(np.ones(3), name="b")
    opt = optimizers.SGD(0.1)
    with pytest.raises(ValueError, match=r"\(4,\).*'b'.*\(3,\)"):
        opt.apply_gradients([(np.ones(2), a), (np.ones(4), b)])
    np.testing.assert_array_equal(a.numpy(), 1.0)


def test_minimize_requires_a_callable():
    w = tg.Var(1.0)
    opt = optimizers.SGD(0.1)
    loss = w * w
    with pytest.raises(TypeError, match="callable"):
        opt.minimize(loss, [w])
    assert float(w) == 1.0


def test_minimize_with_tape_and_callable_var_list():
    w = tg.Var(1.0)
    opt = optimizers.SGD(0.1)
    with tg.GradientTape() as tape:
        loss = w * w
    opt.minimize(loss, [w], tape=tape)
    np.testing.assert_allclose(float(w), 0.8)
    opt.minimize(lambda: w * w, lambda: [w])
    np.testing.assert_allclose(float(w), 0.64, rtol=1e-6)


def test_clipping():
    w = tg.Var(np.zeros(2))
    optimizers.SGD(1.0, clipvalue=0.5).apply_gradients([(np.array([3.0, -0.2]), w)])
    np.testing.assert_allclose(w.numpy(), [-0.5, 0.2])
    w = tg.Var(np.zeros(2))
    optimizers.SGD(1.0, clipnorm=1.0).apply_gradients([(np.array([3.0, 4.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-0.6, -0.8])
    w1, w2 = tg.Var(np.zeros(1)), tg.Var(np.zeros(1))
    optimizers.SGD(1.0, global_clipnorm=1.0).apply_gradients([(np.array([3.0]), w1), (np.array([4.0]), w2)])
    np.testing.assert_allclose([float(w1[0]), float(w2[0])], [-0.6, -0.8])
    with pytest.raises(ValueError):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_learning_rate_can_change_between_steps():
    w = tg.Var(np.zeros(1))
    opt = optimizers.SGD(1.0)
    opt.apply_gradients([(np.ones(1), w)])
    opt.learning_rate = 0.1
    opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.numpy(), [-1.1])
    with pytest.raises(ValueError):
        opt.learning_rate = -1.0


def test_schedule_drives_learning_rate():
    sched = schedules.InverseTimeDecay(1.0, decay_steps=1, decay_rate=1.0)
    w = tg.Var(np.zeros(1))
    opt = optimizers.SGD(sched)
    for _ in range(3):
        opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.numpy(), [-(1.0 + 1 / 2 + 1 / 3)])


def test_schedules_match_keras_formulas():
    e = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert math.isclose(e(5), 0.1 * 0.5 ** 0.5)
    es = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert es(9) == 0.1 and math.isclose(es(10), 0.05)
    i = schedules.InverseTimeDecay(0.2, decay_steps=100, decay_rate=1.0)   # alpha0 / (1 + rate * epoch)
    assert math.isclose(i(300), 0.2 / 4)
    assert math.isclose(schedules.InverseTimeDecay(0.2, 100, 1.0, staircase=True)(150), 0.1)
    p = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert (p(0), p(10), p(11), p(20), p(21)) == (1.0, 1.0, 0.5, 0.5, 0.1)
    c = schedules.CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert c(0) == 1.0 and math.isclose(c(50), 0.1 + 0.9 * 0.5) and math.isclose(c(200), 0.1)
    cw = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=10)
    assert math.isclose(cw(5), 0.5) and math.isclose(cw(10), 1.0)
    with pytest.raises(ValueError):
        schedules.PiecewiseConstantDecay([10], [1.0])
    with pytest.raises(ValueError):
        schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5)
    assert schedules.deserialize(schedules.serialize(c)).get_config() == c.get_config()


def test_state_roundtrip_and_config():
    w = tg.Var(np.ones(3))
    opt = optimizers.Adam(0.01)
    opt.apply_gradients([(np.ones(3), w)])
    state = opt.get_state([w])
    opt2 = optimizers.Adam.from_config(opt.get_config())
    w2 = tg.Var(w.numpy())
    opt2.set_state(state, [w2])
    opt.apply_gradients([(np.full(3, 0.5), w)])
    opt2.apply_gradients([(np.full(3, 0.5), w2)])
    np.testing.assert_array_equal(w.numpy(), w2.numpy())
    assert optimizers.get("adam").__class__ is optimizers.Adam
    with pytest.raises(ValueError):
        optimizers.get("adamw2")


# ---------------------------------------------------------------------------------------------
# Keras 3 options: weight decay, AdamW, Adagrad, Nadam, centered RMSprop; kernel and NumPy paths
# ---------------------------------------------------------------------------------------------
@pytest.fixture(params=["kernels", "numpy"])
def path(request, monkeypatch):
    """Run a test through the Cython kernels and through the NumPy fallback formulas."""
    if request.param == "numpy":
        monkeypatch.setattr(optimizers, "_kernels", None)
    return request.param


def test_two_adam_steps_from_known_values(path):
    # w = 1, g1 = 0.5, g2 = -1, lr 0.1, Keras defaults, every number in float64 by hand
    b1, b2, eps, lr = 0.9, 0.999, 1e-7, 0.1
    m1, v1 = 0.1 * 0.5, 0.001 * 0.25
    w1 = 1.0 - lr * math.sqrt(1 - b2) / (1 - b1) * m1 / (math.sqrt(v1) + eps)
    m2, v2 = 0.9 * m1 + 0.1 * -1.0, 0.999 * v1 + 0.001 * 1.0
    w2 = w1 - lr * math.sqrt(1 - b2 ** 2) / (1 - b1 ** 2) * m2 / (math.sqrt(v2) + eps)
    w = tg.Var(np.array(1.0))
    opt = optimizers.Adam(lr)
    opt.apply_gradients([(np.array(0.5), w)])
    assert float(w) == pytest.approx(w1, rel=1e-13)
    opt.apply_gradients([(np.array(-1.0), w)])
    assert float(w) == pytest.approx(w2, rel=1e-13)
    assert w1 == pytest.approx(0.9000006325, rel=1e-9)   # the first Adam step is ~lr * sign(g)


@pytest.mark.parametrize("cls,kwargs", [(optimizers.SGD, {"momentum": 0.5}), (optimizers.RMSprop, {}),
                                        (optimizers.Adam, {}), (optimizers.Adagrad, {}), (optimizers.Nadam, {})])
def test_weight_decay_is_decoupled_keras3(cls, kwargs, path):
    """Keras 3: ``var -= var * wd * lr`` first, then the optimizer's own update on the
    decayed variable; same result as the plain optimizer applied to the decayed start."""
    lr, wd = 0.05, 0.3
    start = rng.standard_normal(6)
    grads = [rng.standard_normal(6) for _ in range(3)]
    w = tg.Var(start.copy())
    ref = tg.Var(start.copy())
    opt, plain = cls(lr, weight_decay=wd, **kwargs), cls(lr, **kwargs)
    for g in grads:
        opt.apply_gradients([(g, w)])
        ref.assign(ref.numpy() - ref.numpy() * wd * lr)
        plain.apply_gradients([(g, ref)])
    np.testing.assert_allclose(w.numpy(), ref.numpy(), rtol=1e-12)
    assert not np.allclose(w.numpy(), run_plain(cls, kwargs, lr, start, grads))


def run_plain(cls, kwargs, lr, start, grads):
    w = tg.Var(start.copy())
    opt = cls(lr, **kwargs)
    for g in grads:
        opt.apply_gradients([(g, w)])
    return w.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adamw_by_hand(dtype, path):
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.99, 1e-7
    start, gs, end = run(optimizers.AdamW(lr, weight_decay=wd, beta_1=b1, beta_2=b2, epsilon=eps), 4, dtype=dtype)
    p = start.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        p = p - p * wd * lr
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        p = p - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(end, p, rtol=2e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad_by_hand(dtype):
    lr, init, eps = 0.1, 0.2, 1e-6
    start, gs, end = run(optimizers.Adagrad(lr, initial_accumulator_value=init, epsilon=eps), 4, dtype=dtype)
    p = start.astype(np.float64)
    acc = np.full_like(p, init)
    for g in gs:
        acc = acc + g * g
        p = p - lr * g / np.sqrt(acc + eps)
    np.testing.assert_allclose(end, p, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nadam_by_hand_keras3(dtype):
    """Keras 3 Nadam: momentum cache u_t = b1 (1 - 0.5 * 0.96**t) and its running product."""
    lr, b1, b2, eps = 0.02, 0.8, 0.95, 1e-7
    start, gs, end = run(optimizers.Nadam(lr, beta_1=b1, beta_2=b2, epsilon=eps), 5, dtype=dtype)
    p = start.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    prod = 1.0
    for t, g in enumerate(gs, start=1):
        u_t = b1 * (1 - 0.5 * 0.96 ** t)
        u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        prod *= u_t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = u_next * m / (1 - prod * u_next) + (1 - u_t) * g / (1 - prod)
        v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(end, p, rtol=2e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop_centered_by_hand(momentum):
    lr, rho, eps = 0.01, 0.9, 1e-7
    start, gs, end = run(optimizers.RMSprop(lr, rho=rho, momentum=momentum, epsilon=eps, centered=True), 4)
    p = start.copy()
    ms = np.zeros_like(p)
    mg = np.zeros_like(p)
    mom = np.zeros_like(p)
    for g in gs:
        ms = rho * ms + (1 - rho) * g * g
        mg = rho * mg + (1 - rho) * g
        inc = lr * g / np.sqrt(ms - mg * mg + eps)
        mom = momentum * mom + inc
        p = p - (mom if momentum else inc)
    np.testing.assert_allclose(end, p, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.RMSprop, optimizers.Adam])
def test_kernel_and_numpy_paths_agree(cls, dtype, monkeypatch):
    kwargs = {"momentum": 0.9, "nesterov": True} if cls is optimizers.SGD else {}
    gs = [rng.standard_normal(7).astype(dtype) for _ in range(4)]
    start = rng.standard_normal(7).astype(dtype)
    results = []
    for kernels in (optimizers._kernels, None):
        monkeypatch.setattr(optimizers, "_kernels", kernels)
        w = tg.Var(start.copy())
        opt = cls(0.03, **kwargs)
        for g in gs:
            opt.apply_gradients([(g, w)])
        results.append(w.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5 if dtype == np.float32 else 1e-13)


# ---------------------------------------------------------------------------------------------
# Copy-on-write: a read of a variable is a value (TF snapshot semantics) through the optimizers
# ---------------------------------------------------------------------------------------------
READS = {
    "stop_gradient": lambda w: tg.stop_gradient(w),
    "[:]": lambda w: w[:],
    "reshape(-1)": lambda w: w.reshape(-1),
    ".T": lambda w: w.T,
    "Tensor(w)": lambda w: tg.Tensor(w),
}


@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize("make_opt", [lambda: optimizers.SGD(0.1), lambda: optimizers.Adam(0.1),
                                      lambda: optimizers.SGD(0.1, momentum=0.9, weight_decay=0.1)],
                         ids=["sgd", "adam", "sgd-momentum-wd"])
def test_snapshot_semantics(read, make_opt, path):
    start = np.array([1.0, -2.0, 3.0])
    g = np.array([0.5, 0.5, -1.0])
    w = tg.Var(start.copy())
    old = READS[read](w)
    opt = make_opt()
    opt.apply_gradients([(g, w)])
    np.testing.assert_array_equal(np.asarray(old.numpy()).reshape(-1), start)
    ref = tg.Var(start.copy())
    make_opt().apply_gradients([(g, ref)])        # the same step with nothing else holding the array
    np.testing.assert_array_equal(w.numpy(), ref.numpy())
    delta = (w - old.reshape(-1)).numpy() if read != ".T" else (w - old).numpy()
    np.testing.assert_allclose(delta, ref.numpy() - start)
    assert np.abs(delta).sum() > 0


def test_no_copy_when_nothing_else_holds_the_array():
    import weakref
    w = tg.Var(np.zeros(4, np.float32))
    opt = optimizers.Adam(0.1)
    opt.apply_gradients([(np.ones(4, np.float32), w)])
    ref = weakref.ref(w.data)
    for _ in range(3):
        opt.apply_gradients([(np.ones(4, np.float32), w)])
        opt.minimize(lambda: (w * w).sum(), [w])
    assert ref() is w.data      # updated in place every time: no copy was needed


def test_persistent_tape_keeps_the_values_it_read():
    a, b = tg.Var(2.0), tg.Var(3.0)
    with tg.GradientTape(persistent=True) as tape:
        loss = a * a * b
    gb = tape.gradient(loss, b)
    optimizers.SGD(1.0).apply_gradients([(gb, b)])     # b: 3 -> 3 - 4 = -1
    assert float(b) == -1.0
    assert float(tape.gradient(loss, a)) == 12.0       # 2 a b with the b the tape saw


def test_variables_and_state_are_values():
    w = tg.Var(np.ones(2))
    opt = optimizers.Adam(0.1)
    opt.apply_gradients([(np.ones(2), w)])
    snap = opt.variables()
    state = opt.get_state([w])
    m_before = snap[1].copy()
    opt.apply_gradients([(np.ones(2), w)])
    np.testing.assert_array_equal(snap[1], m_before)
    np.testing.assert_array_equal(state["slots"][0][0], m_before)
    assert int(snap[0]) == 1 and int(opt.variables()[0]) == 2


# ---------------------------------------------------------------------------------------------
# Learning rates, configs, state
# ---------------------------------------------------------------------------------------------
def test_learning_rate_forms():
    for lr in (0.1, np.float32(0.1), tg.Tensor(np.float64(0.1)), 1):
        opt = optimizers.SGD(lr)
        assert opt.current_learning_rate() == pytest.approx(float(np.float32(0.1)) if isinstance(lr, np.float32)
                                                             else float(lr), rel=1e-12)
    step_fn = optimizers.SGD(lambda step: 1.0 / (step + 1))       # a one-argument function gets the step
    w = tg.Var(np.zeros(1))
    for _ in range(2):
        step_fn.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.numpy(), [-1.5])
    assert optimizers.SGD(lambda: tg.Tensor(np.float32(0.25))).current_learning_rate() == 0.25


def test_keras2_lr_spelling_warns_and_decay_is_refused():
    with pytest.warns(DeprecationWarning, match="learning_rate"):
        opt = optimizers.Adam(lr=0.05)
    assert opt.learning_rate == 0.05
    with pytest.raises(ValueError, match="decay.*InverseTimeDecay"):
        optimizers.SGD(0.1, decay=0.01)
    with pytest.raises(ValueError, match="not recognized.*momentun"):
        optimizers.SGD(0.1, momentun=0.9)
    optimizers.Adam(0.1, loss_scale_factor=None, jit_compile=True)   # Keras defaults spelled out are accepted
    with pytest.raises(ValueError, match="gradient_accumulation_steps.*>= 2"):
        optimizers.Adam(0.1, gradient_accumulation_steps=1)


@pytest.mark.parametrize("opt", [
    optimizers.SGD(0.5, momentum=0.06, nesterov=True, weight_decay=0.004, name="s"),
    optimizers.RMSprop(0.5, rho=0.8, momentum=0.05, epsilon=1e-6, centered=True, clipnorm=2.0),
    optimizers.Adam(0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5, amsgrad=True, global_clipnorm=1.0),
    optimizers.AdamW(0.5, weight_decay=0.008, beta_1=0.5, beta_2=0.67, epsilon=1e-5, amsgrad=True),
    optimizers.Adagrad(0.5, initial_accumulator_value=0.2, epsilon=1e-5, clipvalue=3.0),
    optimizers.Nadam(schedules.ExponentialDecay(0.5, 10, 0.9, name="e"), beta_1=0.5, beta_2=0.67, epsilon=1e-5),
], ids=lambda o: type(o).__name__)
def test_config_roundtrip_all(opt):
    config = opt.get_config()
    again = type(opt).from_config(config)
    assert again.get_config() == config
    via_get = optimizers.get(optimizers.serialize(opt))
    assert type(via_get) is type(opt) and via_get.get_config() == config
    import json
    assert json.loads(json.dumps(optimizers.serialize(opt)))["config"] == config


def test_callable_learning_rate_cannot_be_serialized_but_roundtrips_in_memory():
    opt = optimizers.SGD(lambda: 0.1)
    with pytest.raises(ValueError, match="callable learning rate"):
        optimizers.serialize(opt)
    assert optimizers.SGD.from_config(opt.get_config()).current_learning_rate() == 0.1


def test_nadam_state_roundtrip_restores_momentum_cache():
    a, b = tg.Var(np.ones(3)), tg.Var(np.ones(3))
    opt = optimizers.Nadam(0.05)
    gs = [rng.standard_normal(3) for _ in range(6)]
    for g in gs[:3]:
        opt.apply_gradients([(g, a)])
    opt2 = optimizers.Nadam.from_config(opt.get_config())
    b.assign(a.numpy())
    opt2.set_state(opt.get_state([a]), [b])
    for g in gs[3:]:
        opt.apply_gradients([(g, a)])
        opt2.apply_gradients([(g, b)])
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_build_and_apply_keras3_forms():
    w = tg.Var(np.ones(2))
    opt = optimizers.Adagrad(0.1)
    opt.build([w])
    np.testing.assert_array_equal(opt.variables()[1], [0.1, 0.1])   # initial_accumulator_value
    assert opt.apply([np.ones(2)], [w]) == 1
    np.testing.assert_allclose(w.numpy(), 1 - 0.1 / np.sqrt(1.1 + 1e-7))


def test_get_unknown_and_custom():
    with pytest.raises(ValueError, match="unknown optimizer 'adamq'.*adamw"):
        optimizers.get("adamq")
    with pytest.raises(TypeError, match="cannot make an optimizer from int"):
        optimizers.get(3)

    class Mine(optimizers.SGD):
        pass

    got = optimizers.get({"class_name": "Mine", "config": {"learning_rate": 0.3}}, custom_objects={"Mine": Mine})
    assert type(got) is Mine and got.learning_rate == 0.3


# ---------------------------------------------------------------------------------------------
# Schedules: Keras formulas, validation, serialization
# ---------------------------------------------------------------------------------------------
def test_polynomial_decay_keras_formula():
    p = schedules.PolynomialDecay(0.1, decay_steps=100, end_learning_rate=0.01, power=0.5)
    assert p(0) == pytest.approx(0.1)
    assert p(25) == pytest.approx((0.1 - 0.01) * (0.75 ** 0.5) + 0.01)
    assert p(500) == pytest.approx(0.01)
    c = schedules.PolynomialDecay(0.1, decay_steps=100, end_learning_rate=0.0, power=1.0, cycle=True)
    assert c(150) == pytest.approx(0.1 * (1 - 150 / 200))
    assert c(0) == pytest.approx(0.1)


def test_cosine_decay_without_warmup_target_ignores_warmup_steps():
    """Keras: with warmup_target None there is no warmup, whatever warmup_steps says."""
    c = schedules.CosineDecay(1.0, decay_steps=10, warmup_steps=5)
    assert c(0) == 1.0 and c(5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    # Keras's positional order: (initial_learning_rate, decay_steps, alpha, name, warmup_target, warmup_steps)
    c = schedules.CosineDecay(0.0, 10, 0.0, "cd", 1.0, 10)
    assert c.name == "cd" and c(5) == pytest.approx(0.5) and c(15) == pytest.approx(0.5)


@pytest.mark.parametrize("make,arg", [
    (lambda: schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5), "decay_steps"),
    (lambda: schedules.ExponentialDecay(0.1, decay_steps=-3, decay_rate=0.5), "decay_steps"),
    (lambda: schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=-0.5), "decay_rate"),
    (lambda: schedules.ExponentialDecay(float("nan"), decay_steps=10, decay_rate=0.5), "initial_learning_rate"),
    (lambda: schedules.InverseTimeDecay(0.1, decay_steps=float("inf"), decay_rate=0.5), "decay_steps"),
    (lambda: schedules.InverseTimeDecay(0.1, decay_steps=10, decay_rate=-1.0), "decay_rate"),
    (lambda: schedules.InverseTimeDecay(-0.1, decay_steps=10, decay_rate=1.0), "initial_learning_rate"),
    (lambda: schedules.CosineDecay(0.1, decay_steps=0), "decay_steps"),
    (lambda: schedules.CosineDecay(0.1, decay_steps=10, warmup_steps=-1, warmup_target=1.0), "warmup_steps"),
    (lambda: schedules.CosineDecay(0.1, decay_steps=10, alpha=float("nan")), "alpha"),
    (lambda: schedules.PolynomialDecay(0.1, decay_steps=0), "decay_steps"),
    (lambda: schedules.PolynomialDecay(0.1, decay_steps=10, power=0), "power"),
    (lambda: schedules.PiecewiseConstantDecay([10, 5], [1.0, 0.5, 0.1]), "boundaries"),
    (lambda: schedules.PiecewiseConstantDecay([10], [1.0, float("inf")]), "values[1]"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_schedule_arguments_are_validated(make, arg):
    with pytest.raises(ValueError, match=re.escape(arg)):
        make()


def test_schedule_type_errors_and_overflow():
    with pytest.raises(TypeError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, decay_steps="10", decay_rate=0.5)
    with pytest.raises(TypeError, match="staircase"):
        schedules.ExponentialDecay(0.1, 10, 0.5, staircase="yes")
    grow = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=10.0)
    assert grow(3) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="ExponentialDecay.*not a finite number"):
        grow(400)
    with pytest.raises(ValueError, match="step"):
        schedules.CosineDecay(0.1, 10)(-1)


def test_schedule_serialization_keeps_working():
    for s in (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True, name="e"),
              schedules.InverseTimeDecay(0.2, 100, 1.0), schedules.PolynomialDecay(0.1, 10, cycle=True),
              schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]),
              schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=10)):
        again = schedules.deserialize(schedules.serialize(s))
        assert type(again) is type(s) and again.get_config() == s.get_config()
        assert [again(t) for t in (0, 7, 15, 40)] == [s(t) for t in (0, 7, 15, 40)]
    # a config written before `name` existed still loads
    old = {"class_name": "CosineDecay", "config": {"initial_learning_rate": 1.0, "decay_steps": 100,
                                                   "alpha": 0.1, "warmup_target": None, "warmup_steps": 0}}
    assert schedules.deserialize(old)(50) == pytest.approx(0.1 + 0.9 * 0.5)

    class Halving(schedules.LearningRateSchedule):
        def __init__(self, lr0):
            self.lr0 = lr0

        def __call__(self, step):
            return self.lr0 / 2 ** step

        def get_config(self):
            return {"lr0": self.lr0}

    data = schedules.serialize(Halving(1.0))
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'Halving'"):
        schedules.deserialize(data)
    assert schedules.deserialize(data, custom_objects={"Halving": Halving})(3) == 0.125


# ---------------------------------------------------------------------------------------------
# Aliasing: a gradient that is (a view of) the variable's own array, two Vars on one array
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_opt,expected", [
    (lambda: optimizers.SGD(0.5), [0.5, -1.0, 1.5]),                    # w - 0.5 w
    # Adam's first step: lr * g / (|g| + eps / sqrt(1 - beta_2))
    (lambda: optimizers.Adam(0.1), [1 - 0.1 * 1 / (1 + 1e-7 / 0.001 ** 0.5), -2 + 0.1 * 2 / (2 + 1e-7 / 0.001 ** 0.5),
                                    3 - 0.1 * 3 / (3 + 1e-7 / 0.001 ** 0.5)]),
])
def test_gradient_aliasing_the_variable(make_opt, expected, path):
    for grad_of in (lambda w: w, lambda w: w.data, lambda w: w.data[:], lambda w: w[:]):
        w = tg.Var(np.array([1.0, -2.0, 3.0]))
        make_opt().apply_gradients([(grad_of(w), w)])
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-12)


def test_two_variables_sharing_one_array_are_updated_independently():
    a = tg.Var(np.ones(3))
    b = tg.Var(np.ones(3))
    b.data = a.data
    optimizers.SGD(1.0).apply_gradients([(np.full(3, 0.25), a), (np.full(3, 0.5), b)])
    np.testing.assert_array_equal(a.numpy(), 0.75)
    np.testing.assert_array_equal(b.numpy(), 0.5)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.RMSprop, optimizers.Nadam,
                                 optimizers.Adagrad])
def test_other_float_dtypes_use_the_numpy_formulas(cls, dtype):
    w = tg.Var(np.array([1.0, -1.0], dtype))
    ref = tg.Var(np.array([1.0, -1.0]))
    for var in (w, ref):
        opt = cls(0.01)
        for _ in range(3):
            opt.apply_gradients([(np.array([0.5, -0.25]), var)])
    assert w.dtype == dtype
    np.testing.assert_allclose(w.numpy().astype(np.float64), ref.numpy(), rtol=2e-3 if dtype == np.float16 else 1e-12)


# ---------------------------------------------------------------------------------------------
# Fuzzing: random hyperparameters and gradients against a np.longdouble reference
# ---------------------------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _reference(name, hp, start, grads):
    """Keras's update formulas in np.longdouble, step by step."""
    L = np.longdouble
    p = start.astype(L)
    s1 = np.zeros_like(p)
    s2 = np.zeros_like(p)
    s3 = np.zeros_like(p)
    lr = L(hp["learning_rate"])
    prod = L(1)
    for t, g in enumerate(grads, start=1):
        g = g.astype(L)
        wd = hp.get("weight_decay")
        if wd:
            p = p - p * L(wd) * lr
        if name == "SGD":
            mu = L(hp["momentum"])
            s1 = mu * s1 - lr * g
            p = p + (mu * s1 - lr * g if hp["nesterov"] else s1)
        elif name == "RMSprop":
            rho, mu, eps = L(hp["rho"]), L(hp["momentum"]), L(hp["epsilon"])
            s1 = rho * s1 + (1 - rho) * g * g
            inc = lr * g / np.sqrt(s1 + eps)
            s2 = mu * s2 + inc
            p = p - (s2 if hp["momentum"] > 0 else inc)
        elif name == "Adam":
            b1, b2, eps = L(hp["beta_1"]), L(hp["beta_2"]), L(hp["epsilon"])
            s1 = s1 + (g - s1) * (1 - b1)
            s2 = s2 + (g * g - s2) * (1 - b2)
            s3 = np.maximum(s3, s2)
            alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            p = p - alpha * s1 / (np.sqrt(s3 if hp["amsgrad"] else s2) + eps)
        elif name == "Nadam":
            b1, b2, eps = L(hp["beta_1"]), L(hp["beta_2"]), L(hp["epsilon"])
            u_t = b1 * (1 - L(0.5) * L(0.96) ** t)
            u_next = b1 * (1 - L(0.5) * L(0.96) ** (t + 1))
            prod = prod * u_t
            s1 = s1 + (g - s1) * (1 - b1)
            s2 = s2 + (g * g - s2) * (1 - b2)
            m_hat = u_next * s1 / (1 - prod * u_next) + (1 - u_t) * g / (1 - prod)
            p = p - lr * m_hat / (np.sqrt(s2 / (1 - b2 ** t)) + eps)
    return p


# beta_2 / rho stay >= 0.5: with beta_2 near 0, Keras's ``v += (g*g - v)(1 - beta_2)`` cancels
# catastrophically in float32 when g shrinks 1000x between steps (the formula's property, not
# the implementation's: the kernel and Keras round the same way)
_HP = {
    "SGD": st.fixed_dictionaries({"learning_rate": st.floats(0, 1), "momentum": st.sampled_from([0.0, 0.5, 0.99]),
                                  "nesterov": st.booleans(), "weight_decay": st.sampled_from([None, 0.01])}),
    "RMSprop": st.fixed_dictionaries({"learning_rate": st.floats(0, 1), "rho": st.floats(0.5, 0.999),
                                      "momentum": st.sampled_from([0.0, 0.9]),
                                      "epsilon": st.sampled_from([1e-7, 1e-3])}),
    "Adam": st.fixed_dictionaries({"learning_rate": st.floats(0, 1), "beta_1": st.floats(0, 0.99),
                                   "beta_2": st.floats(0.5, 0.999), "epsilon": st.sampled_from([1e-7, 1e-3, 1.0]),
                                   "amsgrad": st.booleans(), "weight_decay": st.sampled_from([None, 0.004])}),
    "Nadam": st.fixed_dictionaries({"learning_rate": st.floats(0, 1), "beta_1": st.floats(0, 0.99),
                                    "beta_2": st.floats(0.5, 0.999), "epsilon": st.sampled_from([1e-7, 1e-3])}),
}


@settings(max_examples=25, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(_HP)), dtype=st.sampled_from([np.float32, np.float64]),
       n=st.integers(1, 40), steps=st.integers(1, 4), seed=st.integers(0, 2 ** 31 - 1))
def test_hypothesis_updates_match_longdouble_reference(data, name, dtype, n, steps, seed):
    hp = data.draw(_HP[name])
    r = np.random.default_rng(seed)
    start = r.standard_normal(n).astype(dtype)
    grads = [(r.standard_normal(n) * 10.0 ** r.integers(-3, 3)).astype(dtype) for _ in range(steps)]
    w = tg.Var(start.copy())
    opt = getattr(optimizers, name)(**hp)
    for g in grads:
        opt.apply_gradients([(g, w)])
    ref = _reference(name, hp, start, grads).astype(np.float64)
    scale = np.maximum(np.abs(ref), np.abs(start.astype(np.float64))) + 1.0
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert np.all(np.abs(w.numpy().astype(np.float64) - ref) <= tol * scale * steps)


def test_minimize_with_a_tape_and_a_callable_records_on_that_tape():
    """TF: ``minimize(callable, var_list, tape=tape)`` computes the loss under ``tape``."""
    w = tg.Var(3.0)
    tape = tg.GradientTape()
    optimizers.SGD(0.1).minimize(lambda: w * w, [w], tape=tape)
    assert float(w) == pytest.approx(3.0 - 0.1 * 6.0)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning", "ignore:overflow:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make_opt", [lambda: optimizers.SGD(0.1), lambda: optimizers.SGD(0.1, momentum=0.9),
                                      lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                                      lambda: optimizers.RMSprop(0.1), lambda: optimizers.RMSprop(0.1, momentum=0.5),
                                      lambda: optimizers.Adam(0.1), lambda: optimizers.Adam(0.1, amsgrad=True)],
                         ids=["sgd", "momentum", "nesterov", "rmsprop", "rmsprop-mom", "adam", "amsgrad"])
def test_kernels_give_nan_and_inf_where_the_formulas_do(make_opt, dtype, monkeypatch):
    """IEEE propagation: the fused kernels and the NumPy formulas agree on NaN/inf placement."""
    g1 = np.array([np.nan, np.inf, -np.inf, 1.0, 0.0, 1e30], dtype)
    g2 = np.array([1.0, 1.0, 1.0, np.nan, np.inf, -1e30], dtype)
    outs = []
    for kernels in (optimizers._kernels, None):
        monkeypatch.setattr(optimizers, "_kernels", kernels)
        w = tg.Var(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype))
        opt = make_opt()
        opt.apply_gradients([(g1, w)])
        opt.apply_gradients([(g2, w)])
        outs.append(w.numpy())
    np.testing.assert_array_equal(np.isnan(outs[0]), np.isnan(outs[1]))
    np.testing.assert_array_equal(np.isinf(outs[0]), np.isinf(outs[1]))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, equal_nan=True)
    assert np.isnan(outs[0][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adamax_adadelta_lion_by_hand(dtype):
    tol = 2e-5 if dtype == np.float32 else 1e-12
    lr, b1, b2, eps = 0.05, 0.8, 0.9, 1e-6
    start, gs, end = run(optimizers.Adamax(lr, beta_1=b1, beta_2=b2, epsilon=eps), 4, dtype=dtype)
    p, m, u = start.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g))
        p = p - lr * m / ((1 - b1 ** t) * (u + eps))
    np.testing.assert_allclose(end, p, rtol=tol)
    rho = 0.9
    start, gs, end = run(optimizers.Adadelta(1.0, rho=rho, epsilon=eps), 4, dtype=dtype)
    p, acc_g, acc_d = start.astype(np.float64), 0.0, 0.0
    for g in gs:
        acc_g = rho * acc_g + (1 - rho) * g * g
        d = -np.sqrt(acc_d + eps) / np.sqrt(acc_g + eps) * g
        acc_d = rho * acc_d + (1 - rho) * d * d
        p = p + d
    np.testing.assert_allclose(end, p, rtol=tol)
    start, gs, end = run(optimizers.Lion(lr, beta_1=b1, beta_2=b2), 4, dtype=dtype)
    p, m = start.astype(np.float64), 0.0
    for g in gs:
        p = p - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
    np.testing.assert_allclose(end, p, rtol=tol)
