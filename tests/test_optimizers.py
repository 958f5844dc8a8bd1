"""Optimizers against the Keras update formulas, written out independently here; schedules;
errors that leave every variable untouched."""
import math

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
