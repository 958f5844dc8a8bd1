"""``tinygrad_bn.nn`` as TF's ``tf.nn``: values against NumPy formulas written out here, and
gradcheck in float64."""
import math

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import nn

rng = np.random.default_rng(7)


def _away_from(x, points, margin=0.05):
    """x nudged so no element lies within ``margin`` of a kink."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + margin * 2 * np.sign(x[near] - p + 1e-12)
    return x


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


_SELU_A, _SELU_S = 1.6732632423543772, 1.0507009873554805
_erf = np.vectorize(math.erf)

ACTIVATIONS = [
    ("relu", lambda x: nn.relu(x), lambda x: np.maximum(x, 0), [0.0]),
    ("relu6", lambda x: nn.relu6(x), lambda x: np.minimum(np.maximum(x, 0), 6), [0.0, 6.0]),
    ("elu", lambda x: nn.elu(x), lambda x: np.where(x > 0, x, np.expm1(x)), [0.0]),
    ("selu", lambda x: nn.selu(x), lambda x: _SELU_S * np.where(x > 0, x, _SELU_A * np.expm1(x)), [0.0]),
    ("leaky_relu", lambda x: nn.leaky_relu(x), lambda x: np.where(x > 0, x, 0.2 * x), [0.0]),
    ("leaky_relu_a", lambda x: nn.leaky_relu(x, alpha=0.05), lambda x: np.where(x > 0, x, 0.05 * x), [0.0]),
    ("sigmoid", lambda x: nn.sigmoid(x), _sig, []),
    ("tanh", lambda x: nn.tanh(x), np.tanh, []),
    ("softplus", lambda x: nn.softplus(x), lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0), []),
    ("softsign", lambda x: nn.softsign(x), lambda x: x / (1 + np.abs(x)), [0.0]),
    ("silu", lambda x: nn.silu(x), lambda x: x * _sig(x), []),
    ("silu_beta", lambda x: nn.silu(x, beta=1.7), lambda x: x * _sig(1.7 * x), []),
    ("swish", lambda x: nn.swish(x), lambda x: x * _sig(x), []),
    ("gelu", lambda x: nn.gelu(x), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), []),
    ("gelu_tanh", lambda x: nn.gelu(x, approximate=True),
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), []),
]


@pytest.mark.parametrize("name,fn,ref,kinks", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_values_and_gradients(name, fn, ref, kinks):
    x = _away_from(rng.uniform(-8, 8, size=(4, 5)), kinks)
    np.testing.assert_allclose(fn(x).numpy(), ref(x), rtol=1e-12, atol=1e-14)
    x32 = x.astype(np.float32)
    y32 = fn(x32)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.numpy(), ref(x), rtol=2e-6, atol=1e-6)
    assert tg.gradcheck(fn, x)


def test_float_only_activations_refuse_integers():
    with pytest.raises(TypeError, match=r"sigmoid: x must be a floating-point tensor"):
        nn.sigmoid(np.array([1, 2]))
    with pytest.raises(TypeError, match=r"softmax: logits"):
        nn.softmax(np.array([1, 2]))


def test_softmax_default_axis_is_last_and_axis_argument():
    x = rng.standard_normal((3, 4))
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(nn.softmax(x).numpy(), e / e.sum(-1, keepdims=True), rtol=1e-12)
    e0 = np.exp(x - x.max(0, keepdims=True))
    np.testing.assert_allclose(nn.softmax(x, axis=0).numpy(), e0 / e0.sum(0, keepdims=True), rtol=1e-12)
    ref = x - x.max(-1, keepdims=True) - np.log(e.sum(-1, keepdims=True))
    np.testing.assert_allclose(nn.log_softmax(x).numpy(), ref, rtol=1e-12)
    assert tg.gradcheck(lambda t: nn.log_softmax(t, axis=0), x)
    with pytest.raises(ValueError, match="softmax: axis 2 is out of range"):
        nn.softmax(x, axis=2)


# ---------------------------------------------------------------------------
# moments, batch_normalization, and friends
# ---------------------------------------------------------------------------

def test_moments_values_shapes_and_gradients():
    x = rng.standard_normal((4, 3, 5)) * 2 + 1
    m, v = nn.moments(x, axes=[0, 2])
    assert m.shape == v.shape == (3,)
    np.testing.assert_allclose(m.numpy(), x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(v.numpy(), x.var(axis=(0, 2)), rtol=1e-12)
    mk, vk = nn.moments(x, axes=[0], keepdims=True)
    assert mk.shape == vk.shape == (1, 3, 5)
    assert tg.gradcheck(lambda t: nn.moments(t, [0, 2])[0], x)
    assert tg.gradcheck(lambda t: nn.moments(t, [0, 2])[1], x)
    m16, v16 = nn.moments(x.astype(np.float16), axes=[0, 2])
    assert m16.dtype == v16.dtype == np.float16


def test_batch_normalization_is_tfs_formula():
    x = rng.standard_normal((6, 4))
    mean, var = rng.standard_normal(4), rng.random(4) + 0.1
    offset, scale = rng.standard_normal(4), rng.standard_normal(4)
    eps = 1e-3
    inv = scale / np.sqrt(var + eps)
    ref = x * inv + (offset - mean * inv)
    np.testing.assert_allclose(nn.batch_normalization(x, mean, var, offset, scale, eps).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(nn.batch_normalization(x, mean, var, None, None, eps).numpy(),
                               (x - mean) / np.sqrt(var + eps), rtol=1e-10, atol=1e-12)
    assert tg.gradcheck(lambda a, b, c, d, e: nn.batch_normalization(a, b, c, d, e, eps),
                        x, mean, var, offset, scale)


def test_batch_normalization_with_moments_normalises():
    x = rng.standard_normal((32, 3)) * 5 + 2
    m, v = nn.moments(x, axes=[0])
    y = nn.batch_normalization(x, m, v, None, None, 0.0).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(0), 1, rtol=1e-12)


def test_normalize_moments_and_sufficient_statistics_round_trip():
    x = rng.standard_normal((5, 4)) + 3
    shift = np.full(4, 3.0)
    count, m_ss, v_ss, s = nn.sufficient_statistics(x, [0], shift=shift)
    assert float(count.numpy()) == 5.0
    np.testing.assert_allclose(m_ss.numpy(), (x - 3).sum(0), rtol=1e-12)
    mean, var = nn.normalize_moments(count, m_ss, v_ss, s)
    np.testing.assert_allclose(mean.numpy(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), x.var(0), rtol=1e-10)


def test_l2_normalize():
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(nn.l2_normalize(x, axis=1).numpy(),
                               x / np.sqrt((x ** 2).sum(1, keepdims=True)), rtol=1e-12)
    np.testing.assert_allclose(nn.l2_normalize(np.zeros(3)).numpy(), 0.0)
    assert tg.gradcheck(lambda t: nn.l2_normalize(t, axis=0), x)


# ---------------------------------------------------------------------------
# Cross-entropies
# ---------------------------------------------------------------------------

def _np_log_softmax(x, axis=-1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


@pytest.mark.parametrize("fused", [True, False])
def test_softmax_cross_entropy_with_logits(fused):
    logits = rng.standard_normal((2, 3, 5))
    labels = rng.dirichlet(np.ones(5), size=(2, 3))
    with tg.config(fused=fused):
        out = nn.softmax_cross_entropy_with_logits(labels, logits)
        assert out.shape == (2, 3)
        np.testing.assert_allclose(out.numpy(), -(labels * _np_log_softmax(logits)).sum(-1), rtol=1e-12)
        # axis=0 on a (5, 4) layout
        l0, y0 = logits[0].T, labels[0].T
        out0 = nn.softmax_cross_entropy_with_logits(y0, l0, axis=0)
        np.testing.assert_allclose(out0.numpy(), -(y0 * _np_log_softmax(l0, 0)).sum(0), rtol=1e-12)
        # TF v2: the gradient flows into the labels as well
        assert tg.gradcheck(lambda y, x: nn.softmax_cross_entropy_with_logits(y, x), labels, logits)
        assert tg.gradcheck(lambda y, x: nn.softmax_cross_entropy_with_logits(y, x, axis=0), y0, l0)


def test_softmax_cross_entropy_with_logits_label_gradient_is_minus_log_softmax():
    logits = rng.standard_normal((4, 3))
    Y = tg.Var(rng.dirichlet(np.ones(3), size=4))
    with tg.GradientTape() as tape:
        loss = tg.sum(nn.softmax_cross_entropy_with_logits(Y, logits))
    np.testing.assert_allclose(tape.gradient(loss, Y).numpy(), -_np_log_softmax(logits), rtol=1e-12)


@pytest.mark.parametrize("fused", [True, False])
def test_sparse_softmax_cross_entropy_with_logits(fused):
    logits = rng.standard_normal((2, 3, 4))
    labels = rng.integers(0, 4, size=(2, 3))
    with tg.config(fused=fused):
        out = nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        assert out.shape == (2, 3)
        lp = _np_log_softmax(logits)
        ref = -np.take_along_axis(lp, labels[..., None], -1)[..., 0]
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
        assert tg.gradcheck(lambda x: nn.sparse_softmax_cross_entropy_with_logits(labels, x), logits)
        with pytest.raises(ValueError, match=r"sparse_softmax_cross_entropy_with_logits: label 4"):
            nn.sparse_softmax_cross_entropy_with_logits(np.array([0, 4]), logits[0, :2])


def test_sigmoid_cross_entropy_with_logits():
    x = _away_from(rng.uniform(-6, 6, size=(3, 4)), [0.0])
    z = rng.random((3, 4))
    ref = -(z * np.log(_sig(x)) + (1 - z) * np.log(1 - _sig(x)))
    np.testing.assert_allclose(nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x).numpy(), ref, rtol=1e-10)
    assert tg.gradcheck(lambda a, b: nn.sigmoid_cross_entropy_with_logits(labels=a, logits=b), z, x)
    # stable far out: the naive formula overflows or rounds to 0
    big = nn.sigmoid_cross_entropy_with_logits(labels=np.array([1.0, 1.0, 0.0]),
                                               logits=np.array([100.0, -100.0, 800.0])).numpy()
    np.testing.assert_allclose(big, [math.exp(-100), 100.0, 800.0], rtol=1e-12)
    # the gradient at 0 is sigmoid(0) - z
    X = tg.Var(np.zeros(2))
    with tg.GradientTape() as tape:
        loss = tg.sum(nn.sigmoid_cross_entropy_with_logits(labels=np.array([1.0, 0.25]), logits=X))
    np.testing.assert_allclose(tape.gradient(loss, X).numpy(), [-0.5, 0.25])


def test_weighted_cross_entropy_with_logits():
    x = rng.uniform(-4, 4, size=(5,))
    z = rng.random(5)
    pw = 2.5
    ref = -(pw * z * np.log(_sig(x)) + (1 - z) * np.log(1 - _sig(x)))
    np.testing.assert_allclose(nn.weighted_cross_entropy_with_logits(z, x, pw).numpy(), ref, rtol=1e-10)
    assert tg.gradcheck(lambda a: nn.weighted_cross_entropy_with_logits(z, a, pw), x)


def test_l2_loss_and_average_losses():
    t = rng.standard_normal((3, 2))
    assert float(nn.l2_loss(t).numpy()) == pytest.approx((t ** 2).sum() / 2, rel=1e-14)
    T = tg.Var(t)
    with tg.GradientTape() as tape:
        loss = nn.l2_loss(T)
    np.testing.assert_allclose(tape.gradient(loss, T).numpy(), t)
    per = np.array([1.0, 2.0, 3.0, 6.0])
    assert float(nn.compute_average_loss(per).numpy()) == 3.0
    assert float(nn.compute_average_loss(per, global_batch_size=8).numpy()) == 1.5
    assert float(nn.compute_average_loss(per, sample_weight=np.array([1.0, 0, 0, 0.5])).numpy()) == 1.0
    assert float(nn.scale_regularization_loss([np.float64(1.5), np.float64(2.0)]).numpy()) == 3.5


# ---------------------------------------------------------------------------
# bias_add, dropout, embedding_lookup
# ---------------------------------------------------------------------------

def test_bias_add_formats():
    x = rng.standard_normal((2, 3, 4, 5))
    b5, b3 = np.arange(5.0), np.arange(3.0)
    np.testing.assert_allclose(nn.bias_add(x, b5).numpy(), x + b5)
    np.testing.assert_allclose(nn.bias_add(x, b3, data_format="NCHW").numpy(), x + b3[:, None, None])
    assert tg.gradcheck(lambda a, b: nn.bias_add(a, b, data_format="NCHW"), x, b3)
    with pytest.raises(ValueError, match=r"bias_add: bias of shape \(3,\).*channel axis 3"):
        nn.bias_add(x, b3)


def test_dropout():
    x = np.ones((200, 50))
    a = nn.dropout(x, 0.3, seed=5).numpy()
    b = nn.dropout(x, 0.3, seed=5).numpy()
    np.testing.assert_array_equal(a, b)
    kept = a != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(a[kept], 1 / 0.7)
    np.testing.assert_array_equal(np.asarray(tg.Tensor(nn.dropout(x, 0.0)).numpy()), x)
    cols = nn.dropout(x, 0.5, noise_shape=[1, 50], seed=1).numpy()
    assert (cols == cols[0]).all()                       # one mask per column
    X = tg.Var(rng.standard_normal((4, 6)))
    with tg.GradientTape() as tape:
        y = nn.dropout(X, 0.5, seed=3)
        total = tg.sum(y)
    g = tape.gradient(total, X).numpy()
    np.testing.assert_allclose(g, (y.numpy() != 0) * 2.0)
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\)"):
        nn.dropout(x, 1.0)


def test_embedding_lookup():
    p = rng.standard_normal((5, 3))
    ids = np.array([[0, 4], [4, 2]])
    np.testing.assert_allclose(nn.embedding_lookup(p, ids).numpy(), p[ids])
    assert tg.gradcheck(lambda t: nn.embedding_lookup(t, ids), p)


def test_every_name_is_exported():
    for name in nn.__all__:
        assert callable(getattr(nn, name)), name
    for name in ("relu", "moments", "batch_normalization", "softmax_cross_entropy_with_logits",
                 "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits", "l2_loss"):
        assert name in nn.__all__
