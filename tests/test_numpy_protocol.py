"""NumPy functions on tensors (NEP 13 ufuncs, NEP 18 array functions) and elementwise comparisons."""
import numpy as np
import pytest

import tinygrad_bn as tg


def test_numpy_functions_inside_a_tape_give_the_exact_gradient():
    w = tg.Var(np.array([0.5, 2.0, -1.0, 3.0]))
    with tg.GradientTape() as tape:
        y = np.sum(np.exp(w) * np.abs(w - 1.0))
    assert isinstance(y, tg.Tensor)
    x = w.numpy()
    expected = np.exp(x) * np.abs(x - 1) + np.exp(x) * np.sign(x - 1)
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), expected, rtol=1e-14)


def test_numpy_scalar_on_the_left_still_records():
    w = tg.Var(np.float32(3.0))
    with tg.GradientTape() as tape:
        y = np.float32(-10.0) * w
    assert isinstance(y, tg.Tensor) and y.dtype == np.float32
    assert float(tape.gradient(y, w)) == -10.0
    a = np.arange(3.0)
    with tg.GradientTape() as tape:
        z = (a * w + a / w - a ** w).sum()         # ndarray on the left of every operator
    expected = np.sum(a - a / 9.0 - a ** 3 * np.log(np.where(a > 0, a, 1)))
    np.testing.assert_allclose(float(tape.gradient(z, w)), expected, rtol=1e-5)


@pytest.mark.parametrize("fn,grad", [
    (lambda t: np.mean(np.square(t), axis=0), lambda x: 2 * x / 2),
    (lambda t: np.max(t, axis=1), lambda x: (x == x.max(axis=1, keepdims=True)) * 1.0),
    (lambda t: np.reshape(t, (3, 2)).T @ np.ones(3), lambda x: np.ones_like(x)),
    (lambda t: np.concatenate([t, t * 2], axis=1), lambda x: np.full_like(x, 3.0)),
    (lambda t: np.stack([t, np.sqrt(t)]), lambda x: 1 + 0.5 / np.sqrt(x)),
    (lambda t: np.where(t > 0.5, t, 0.0), lambda x: (x > 0.5) * 1.0),
    (lambda t: np.clip(t, 0.3, 0.8), lambda x: ((x >= 0.3) & (x <= 0.8)) * 1.0),
    (lambda t: np.expand_dims(np.squeeze(t[:1]), 0), lambda x: np.vstack([np.ones(3), np.zeros(3)])),
    (lambda t: np.transpose(np.broadcast_to(t, (4, 2, 3))), lambda x: np.full_like(x, 4.0)),
    (lambda t: np.dot(t, np.arange(3.0)), lambda x: np.tile(np.arange(3.0), (2, 1))),
    (lambda t: np.var(t) + np.std(t), None),
    (lambda t: np.maximum(t, 0.6) + np.minimum(t, 0.6), lambda x: np.ones_like(x)),
    (lambda t: np.log(np.add.reduce(t, axis=1)), lambda x: 1 / x.sum(axis=1, keepdims=True) * np.ones_like(x)),
])
def test_array_functions_dispatch_and_differentiate(fn, grad):
    x = np.array([[0.2, 0.9, 0.4], [0.7, 0.55, 0.1]])
    w = tg.Var(x)
    with tg.GradientTape() as tape:
        y = fn(w)
    assert isinstance(y, tg.Tensor)
    np.testing.assert_allclose(y.numpy(), fn(x), rtol=1e-12)
    g = tape.gradient(y, w)
    if grad is not None:
        np.testing.assert_allclose(g.numpy(), grad(x), rtol=1e-12)
    else:
        assert tg.gradcheck(fn, x)


def test_unsupported_numpy_function_raises_only_while_watched():
    w = tg.Var(np.array([3.0, 1.0, 2.0]))
    with tg.GradientTape():
        with pytest.raises(TypeError, match="cumsum"):
            np.cumsum(w)
        with pytest.raises(TypeError, match="arctan"):
            np.arctan(w)
        with pytest.raises(TypeError, match="np.exp"):
            np.exp(w, out=np.empty(3))
        # no gradient to lose: indexes, tests, shapes
        assert int(np.argmax(w)) == 0 and np.shape(w) == (3,) and bool(np.all(np.isfinite(w)))
    c = tg.Tensor(np.array([3.0, 1.0, 2.0]))      # not watched: computed on the array
    np.testing.assert_array_equal(np.cumsum(c).numpy(), [3.0, 4.0, 6.0])
    np.testing.assert_allclose(np.arctan(c).numpy(), np.arctan([3.0, 1.0, 2.0]))


def test_comparisons_are_elementwise_bool_tensors():
    assert bool(tg.sigmoid(0.0) == 0.5)
    t = tg.Tensor(np.array([1.0, 2.0, 3.0]))
    for got, want in ((t == 2.0, [False, True, False]), (t != 2.0, [True, False, True]),
                      (t < 2.0, [True, False, False]), (t <= 2.0, [True, True, False]),
                      (t > 2.0, [False, False, True]), (t >= 2.0, [False, True, True]),
                      (t == tg.Tensor(np.array([1.0, 0.0, 3.0])), [True, False, True])):
        assert isinstance(got, tg.Tensor) and got.dtype == np.bool_
        np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t == t)
    assert (t == None) is False and (t != "a") is True      # noqa: E711 - as PyTorch: not equal


def test_tensors_stay_hashable_by_identity():
    a = tg.Tensor(np.ones(2))
    b = tg.Tensor(np.ones(2))
    d = {a: 1, b: 2}
    assert d[a] == 1 and d[b] == 2 and len({a, b, a}) == 2
