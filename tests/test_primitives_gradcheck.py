"""Every primitive against central finite differences in float64 (tinygrad_bn.gradcheck),
over several shapes: plain, broadcasting, size-1 axes and, where it makes sense, empty axes."""
import numpy as np
import pytest

import tinygrad_bn as tg

rng = np.random.default_rng(1234)


def r(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)


def pos(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


def away_from_zero(*shape):
    x = rng.uniform(0.3, 2.0, size=shape)
    return x * rng.choice([-1.0, 1.0], size=shape)


BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3)), ((), (2, 2)),
                 ((0, 3), (3,))]


@pytest.mark.parametrize("fn", [tg.add, tg.subtract, tg.multiply, lambda a, b: a + b, lambda a, b: a * b,
                                lambda a, b: a - b], ids=["add", "sub", "mul", "op+", "op*", "op-"])
@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
def test_binary_arithmetic(fn, sa, sb):
    assert tg.gradcheck(fn, r(*sa), r(*sb))


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
def test_divide(sa, sb):
    assert tg.gradcheck(tg.divide, r(*sa), away_from_zero(*sb))
    assert tg.gradcheck(lambda a, b: a / b, r(*sa), away_from_zero(*sb))


@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((3, 4), ()), ((2, 3), (3,)), ((), ())])
def test_power_with_tensor_exponent(sa, sb):
    assert tg.gradcheck(tg.power, pos(*sa), r(*sb))
    assert tg.gradcheck(lambda a, b: a ** b, pos(*sa), r(*sb))


@pytest.mark.parametrize("k", [2, 3, 0.5, -1.5])
def test_power_constant_exponent(k):
    assert tg.gradcheck(lambda a: a ** k, pos(3, 2))
    assert tg.gradcheck(lambda a: (abs(k) + 0.5) ** a, r(4))


def test_power_exponent_gradient_is_zero_for_nonpositive_base():
    a = tg.Tensor(np.array([-1.0, 0.0, 2.0]))
    b = tg.Tensor(np.array([2.0, 2.0, 2.0]))
    with tg.GradientTape() as tape:
        tape.watch(b)
        y = tg.sum(a ** b)
    gb = tape.gradient(y, b).numpy()
    np.testing.assert_allclose(gb, [0.0, 0.0, 4.0 * np.log(2.0)])


UNARY = [
    ("neg", tg.negative, r), ("neg_op", lambda x: -x, r), ("exp", tg.exp, r), ("log", tg.log, pos),
    ("sqrt", tg.sqrt, pos), ("abs", tg.abs, away_from_zero), ("relu", tg.relu, away_from_zero),
    ("sigmoid", tg.sigmoid, r), ("tanh", tg.tanh, r), ("square", tg.square, r),
    ("softmax", tg.softmax, r), ("softmax0", lambda x: tg.softmax(x, axis=0), r),
    ("log_softmax", tg.log_softmax, r), ("log_softmax0", lambda x: tg.log_softmax(x, axis=0), r),
    ("logsumexp", lambda x: tg.logsumexp(x, axis=-1), r),
    ("method_exp", lambda x: x.exp(), r), ("method_log", lambda x: x.log(), pos),
]


@pytest.mark.parametrize("name,fn,gen", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 1, 3), (1, 1)])
def test_unary(name, fn, gen, shape):
    assert tg.gradcheck(fn, gen(*shape))


@pytest.mark.parametrize("name,fn,gen", [u for u in UNARY if "softmax" not in u[0] and "logsumexp" not in u[0]],
                         ids=[u[0] for u in UNARY if "softmax" not in u[0] and "logsumexp" not in u[0]])
def test_unary_scalar_and_empty(name, fn, gen):
    assert tg.gradcheck(fn, gen())                      # 0-d
    out = fn(tg.Tensor(gen(0, 3)))                      # empty: runs, right shape
    assert out.shape == (0, 3)


def test_sigmoid_is_stable_for_large_inputs():
    y = tg.sigmoid(np.array([-1000.0, 0.0, 1000.0])).numpy()
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])


@pytest.mark.parametrize("fn", [tg.maximum, tg.minimum])
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1), (1, 3))])
def test_maximum_minimum(fn, sa, sb):
    a = r(*sa)
    b = r(*sb)
    b = np.where(np.abs(np.broadcast_to(a, np.broadcast_shapes(sa, sb)) - b).min() < 1e-3, b + 0.01, b)
    assert tg.gradcheck(fn, a, b)


def test_where():
    cond = rng.random((3, 4)) > 0.5
    assert tg.gradcheck(lambda x, y: tg.where(cond, x, y), r(3, 4), r(4))
    assert tg.gradcheck(lambda x, y: tg.where(cond, x, y), r(1, 4), r(3, 1))


AXES = [None, 0, 1, -1, (0, 2), ()]


@pytest.mark.parametrize("name", ["sum", "mean", "var", "max", "min"])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, axis, keepdims):
    fn = getattr(tg, name)
    x = rng.permutation(24).reshape(2, 3, 4) / 7.0 + r(2, 3, 4) * 1e-3   # distinct values: no ties
    assert tg.gradcheck(lambda t: fn(t, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "max", "min"])
def test_reduction_methods_and_scalars(name):
    x = rng.permutation(6).reshape(2, 3) / 3.0
    assert tg.gradcheck(lambda t: getattr(t, name)(), x)
    assert tg.gradcheck(lambda t: getattr(t, name)(axis=1, keepdims=True), x)
    assert tg.gradcheck(lambda t: getattr(tg, name)(t), np.array(1.5))


def test_sum_over_empty_axis():
    x = tg.Tensor(np.zeros((0, 3)))
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.sum(x, axis=0)
    assert y.shape == (3,)
    assert tape.gradient(y, x).shape == (0, 3)


def test_max_ties_share_gradient():
    x = tg.Tensor(np.array([1.0, 3.0, 3.0, 2.0]))
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.max(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [0, 0.5, 0.5, 0])


def test_var_ddof():
    assert tg.gradcheck(lambda t: tg.var(t, axis=0, ddof=1), r(5, 3))
    np.testing.assert_allclose(tg.var(np.arange(5.0), ddof=1).numpy(), np.var(np.arange(5.0), ddof=1))


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4,)), ((4,), (4, 3)), ((2, 4), (4,)), ((2, 3, 4), (4, 5)),
                 ((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 1)), ((4,), (2, 4, 3)),
                 ((2, 3, 4), (4,)), ((0, 4), (4, 2))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_all_numpy_cases(sa, sb):
    a, b = r(*sa), r(*sb)
    np.testing.assert_allclose(tg.matmul(a, b).numpy(), np.matmul(a, b))
    assert tg.gradcheck(tg.matmul, a, b)
    assert tg.gradcheck(lambda x, y: x @ y, a, b)


SHAPE_OPS = [
    ("reshape", lambda x: tg.reshape(x, (4, 3)), (3, 4)),
    ("reshape_method", lambda x: x.reshape(2, -1), (3, 4)),
    ("reshape_method_tuple", lambda x: x.reshape((12,)), (3, 4)),
    ("transpose", tg.transpose, (2, 3, 4)),
    ("transpose_axes", lambda x: tg.transpose(x, (1, 0, 2)), (2, 3, 4)),
    ("T", lambda x: x.T, (3, 4)),
    ("transpose_method", lambda x: x.transpose(2, 0, 1), (2, 3, 4)),
    ("expand_dims", lambda x: tg.expand_dims(x, 1), (3, 4)),
    ("squeeze", tg.squeeze, (3, 1, 4, 1)),
    ("squeeze_axis", lambda x: tg.squeeze(x, axis=1), (3, 1, 4)),
    ("broadcast_to", lambda x: tg.broadcast_to(x, (2, 3, 4)), (3, 1)),
    ("getitem_int", lambda x: x[1], (3, 4)),
    ("getitem_slice", lambda x: x[:, 1:3], (3, 4)),
    ("getitem_step", lambda x: x[::-2, None, ...], (3, 4)),
    ("getitem_array", lambda x: x[np.array([0, 2, 0, 0])], (3, 4)),
    ("getitem_list", lambda x: x[[1, 1, 2]], (3, 4)),
    ("getitem_pairs", lambda x: x[np.array([0, 1, 1]), np.array([2, 2, 3])], (3, 4)),
    ("getitem_mask", lambda x: x[np.array([True, False, True])], (3, 4)),
    ("getitem_tensor_index", lambda x: x[tg.Tensor(np.array([2, 0], dtype=np.int64))], (3, 4)),
]


@pytest.mark.parametrize("name,fn,shape", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops(name, fn, shape):
    assert tg.gradcheck(fn, r(*shape))


def test_getitem_repeated_indices_add_up():
    x = tg.Tensor(np.arange(3.0))
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.sum(x[np.array([0, 0, 2, 0])])
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [3.0, 0.0, 1.0])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis):
    a, b, c = r(2, 3), r(2, 3), r(2, 3)
    assert tg.gradcheck(lambda x, y, z: tg.concatenate([x, y, z], axis=axis), a, b, c)
    assert tg.gradcheck(lambda x, y, z: tg.stack([x, y, z], axis=axis), a, b, c)
    a2 = r(2, 1) if axis != 0 else r(1, 3)
    assert tg.gradcheck(lambda x, y: tg.concatenate((x, y), axis=axis), a, a2 if axis != 0 else a2)


def test_stop_gradient_blocks_gradient():
    x = tg.Var(np.array([1.0, 2.0]))
    with tg.GradientTape() as tape:
        y = tg.sum(x * tg.stop_gradient(x))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [1.0, 2.0])


def test_composition_matches_finite_differences():
    def mlp(x, w1, w2):
        h = tg.tanh(x @ w1)
        return tg.mean(tg.log_softmax(h @ w2) * 0.5 + tg.relu(h).sum(axis=1, keepdims=True))
    assert tg.gradcheck(mlp, r(5, 3), r(3, 4), r(4, 2))
