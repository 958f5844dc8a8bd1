"""Loss functions and classes (per-sample values, reductions, sample weights) and the
streaming metrics (top-k, Precision, Recall, AUC).  Numbers are Keras's documented examples
or worked out by hand in the comments."""
import math

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn.keras import losses as K
from tinygrad_bn.keras import metrics as M


def val(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


# ---------------------------------------------------------------------------
# Loss functions: one loss per sample
# ---------------------------------------------------------------------------

CCE_T = [[0, 1, 0], [0, 0, 1]]
CCE_P = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]


def test_categorical_crossentropy_function_keras_example():
    out = val(K.categorical_crossentropy(CCE_T, CCE_P))
    np.testing.assert_allclose(out, [-math.log(0.95), -math.log(0.1)], rtol=1e-6)   # [0.0513, 2.303]
    assert out.shape == (2,)


def test_sparse_categorical_crossentropy_function_keras_example():
    out = val(K.sparse_categorical_crossentropy([1, 2], CCE_P))
    np.testing.assert_allclose(out, [-math.log(0.95), -math.log(0.1)], rtol=1e-6)
    out = val(K.sparse_categorical_crossentropy(np.array([[1], [2]]), CCE_P))   # (N, 1) labels
    np.testing.assert_allclose(out, [-math.log(0.95), -math.log(0.1)], rtol=1e-6)


def test_crossentropy_from_logits_matches_log_softmax_by_hand():
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    lse = np.log(np.exp(z).sum(axis=1))
    expect = np.array([lse[0] - 2.0, lse[1] - 3.0])
    np.testing.assert_allclose(val(K.sparse_categorical_crossentropy([1, 2], z, from_logits=True)), expect, rtol=1e-12)
    np.testing.assert_allclose(val(K.categorical_crossentropy(np.eye(3)[[1, 2]], z, from_logits=True)), expect,
                               rtol=1e-12)
    # along axis 0: the same numbers on the transposed input
    np.testing.assert_allclose(val(K.categorical_crossentropy(np.eye(3)[[1, 2]].T, z.T, from_logits=True,
                                                              axis=0)), expect, rtol=1e-12)


def test_categorical_label_smoothing_by_hand():
    z = np.array([[2.0, 0.0]])
    ls = 0.2   # targets [0.9, 0.1]
    lp = z - np.log(np.exp(z).sum())
    expect = -(0.9 * lp[0, 0] + 0.1 * lp[0, 1])
    assert val(K.categorical_crossentropy([[1, 0]], z, from_logits=True, label_smoothing=ls))[0] == \
        pytest.approx(expect, rel=1e-12)


def test_binary_crossentropy_function_keras_example():
    out = val(K.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]))
    # sample 0: -(log 0.4 + log 0.4) / 2; sample 1: -(log 0.6 + log 0.4) / 2
    np.testing.assert_allclose(out, [-math.log(0.4), -(math.log(0.6) + math.log(0.4)) / 2], rtol=1e-6)


def test_binary_crossentropy_from_logits_by_hand():
    z = np.array([[2.0], [-1.0]])
    out = val(K.binary_crossentropy([[1.0], [1.0]], z, from_logits=True))
    np.testing.assert_allclose(out, [math.log1p(math.exp(-2.0)), math.log1p(math.exp(1.0))], rtol=1e-12)


def test_regression_functions_by_hand():
    t = [[0.0, 1.0], [0.0, 0.0]]
    p = [[1.0, 1.0], [1.0, 0.0]]
    np.testing.assert_allclose(val(K.mean_squared_error(t, p)), [0.5, 0.5])
    np.testing.assert_allclose(val(K.mse(t, p)), [0.5, 0.5])
    np.testing.assert_allclose(val(K.mean_absolute_error(t, p)), [0.5, 0.5])
    np.testing.assert_allclose(val(K.mae([[0.0, 4.0]], [[1.0, 1.0]])), [2.0])
    # huber with delta 1: errors 0.6, -0.6 -> 0.18 each; 0.4, 0.6 -> 0.08, 0.18
    np.testing.assert_allclose(val(K.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])), [0.18, 0.13], rtol=1e-6)
    # huber linear part: error 3 with delta 1 -> 3 - 0.5
    assert val(K.huber([[0.0]], [[3.0]]))[0] == pytest.approx(2.5)


def test_kl_divergence_by_hand():
    out = val(K.kl_divergence([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]))
    # sample 0: 1 * log(1 / 0.4); sample 1: targets clipped to 1e-7 -> 1e-7 * (log(1e-7/0.4) + log(1e-7/0.6))
    s1 = 1e-7 * (math.log(1e-7 / 0.4) + math.log(1e-7 / 0.6))
    np.testing.assert_allclose(out, [math.log(2.5), s1], rtol=1e-5)


def test_loss_function_gradients_float64():
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    z = np.array([[0.3, -1.2, 2.0], [0.5, 0.1, -0.4]])
    assert tg.gradcheck(lambda p: K.categorical_crossentropy(t, p, from_logits=True), z)
    assert tg.gradcheck(lambda p: K.binary_crossentropy(t, p, from_logits=True), z)
    assert tg.gradcheck(lambda p: K.huber(t, p, delta=0.7), z)
    assert tg.gradcheck(lambda p: K.mean_squared_error(t, p), z)
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    assert tg.gradcheck(lambda p: K.kl_divergence(probs[::-1], p), probs)


# ---------------------------------------------------------------------------
# Loss classes: reductions and sample weights (Keras's docstring examples)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls,t,p,mean,weighted,w", [
    (K.CategoricalCrossentropy, CCE_T, CCE_P, 1.177, 0.814, [0.3, 0.7]),
    (K.SparseCategoricalCrossentropy, [1, 2], CCE_P, 1.177, 0.814, [0.3, 0.7]),
    (K.BinaryCrossentropy, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.815, 0.458, [1, 0]),
    (K.MeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [1, 0]], 0.5, 0.25, [0.7, 0.3]),
    (K.MeanAbsoluteError, [[0, 1], [0, 0]], [[1, 1], [1, 0]], 0.5, 0.25, [0.7, 0.3]),
    (K.Huber, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.155, 0.09, [1, 0]),
    (K.KLDivergence, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.458, 0.366, [0.8, 0.2]),
])
def test_loss_class_keras_examples(cls, t, p, mean, weighted, w):
    p = np.array(p, np.float32)
    assert float(val(cls()(t, p))) == pytest.approx(mean, abs=1e-3)
    assert float(val(cls()(t, p, sample_weight=w))) == pytest.approx(weighted, abs=1e-3)
    assert float(val(cls(reduction="sum")(t, p))) == pytest.approx(2 * mean, abs=2e-3)
    none = val(cls(reduction="none")(t, p))
    assert none.shape == (2,) and float(none.mean()) == pytest.approx(mean, abs=1e-3)
    assert val(cls(reduction=None)(t, p)).shape == (2,)


def test_sum_over_batch_size_divides_by_count_not_weights():
    loss = K.MeanSquaredError()
    t, p = [[0.0], [0.0], [0.0]], [[1.0], [2.0], [3.0]]       # per-sample 1, 4, 9
    assert float(val(loss(t, p, sample_weight=[1, 0, 2]))) == pytest.approx((1 + 18) / 3)
    assert float(val(K.MeanSquaredError(reduction="mean_with_sample_weight")(t, p, sample_weight=[1, 0, 2]))) \
        == pytest.approx(19 / 3)
    assert float(val(K.MeanSquaredError(reduction="sum")(t, p, sample_weight=[1, 0, 2]))) == pytest.approx(19)
    np.testing.assert_allclose(val(K.MeanSquaredError(reduction="none")(t, p, sample_weight=[[1], [0], [2]])),
                               [1, 0, 18])


def test_sample_weight_ones_equals_unweighted_and_fused_path():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4)).astype(np.float32)
    y = np.array([0, 3, 1, 1, 2, 0])
    loss = K.SparseCategoricalCrossentropy(from_logits=True)
    a = float(val(loss(y, z)))
    b = float(val(loss(y, z, sample_weight=np.ones(6))))
    assert a == pytest.approx(b, rel=1e-6)
    lse = np.log(np.exp(z.astype(np.float64)).sum(axis=1))
    assert a == pytest.approx(float(np.mean(lse - z[np.arange(6), y])), rel=1e-5)


def test_weighted_loss_gradient():
    z = tg.Var(np.array([[0.0, 1.0], [2.0, 0.0]]))
    loss = K.SparseCategoricalCrossentropy(from_logits=True)
    with tg.GradientTape() as tape:
        v = loss([0, 0], z, sample_weight=[2.0, 0.0])
    g = tape.gradient(v, z).numpy()
    sm = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    np.testing.assert_allclose(g[0], 2.0 * (sm - [1, 0]) / 2, rtol=1e-12)
    np.testing.assert_allclose(g[1], [0, 0])


def test_empty_batch_reduces_to_zero():
    out = K.MeanSquaredError()(np.zeros((0, 2)), np.zeros((0, 2)))
    assert float(val(out)) == 0.0


def test_loss_names_and_function_identifiers():
    assert isinstance(K.get("huber"), K.Huber)
    assert isinstance(K.get("kld"), K.KLDivergence)
    assert isinstance(K.get(K.mean_squared_error), K.MeanSquaredError)
    assert isinstance(K.get(K.sparse_categorical_crossentropy), K.SparseCategoricalCrossentropy)
    again = K.deserialize(K.serialize(K.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)))
    assert again.from_logits and again.label_smoothing == 0.1


def test_sparse_ignore_class_zeroes_those_samples():
    out = val(K.sparse_categorical_crossentropy([1, 2], CCE_P, ignore_class=2))
    np.testing.assert_allclose(out, [-math.log(0.95), 0.0], rtol=1e-6)


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

def test_top_k_categorical_accuracy_keras_example():
    m = M.TopKCategoricalAccuracy(k=1)
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    m2 = M.TopKCategoricalAccuracy(k=2)
    m2.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m2.result() == pytest.approx(1.0)


def test_sparse_top_k_keras_example_and_default_k():
    m = M.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    assert M.SparseTopKCategoricalAccuracy().k == 5
    # 7 classes, label ranked 6th of 7 -> not in the top 5; ranked 5th -> in
    p = np.array([[0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]])
    m = M.SparseTopKCategoricalAccuracy()
    m.update_state([5], p)
    m.update_state([4], p)
    assert m.result() == pytest.approx(0.5)


def test_precision_recall_keras_examples():
    p = M.Precision()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert p.result() == pytest.approx(2 / 3)
    p.reset_state()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert p.result() == pytest.approx(1.0)
    r = M.Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert r.result() == pytest.approx(2 / 3)
    r.reset_state()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert r.result() == pytest.approx(1.0)


def test_precision_recall_thresholds_and_streaming():
    p = M.Precision(thresholds=[0.3, 0.7])
    # at 0.3: predicted positive {0.4, 0.8, 0.5} of which positives {0.8, 0.5} -> 2/3; at 0.7: {0.8} -> 1
    p.update_state([0, 1], [0.4, 0.8])
    p.update_state([1, 0], [0.5, 0.1])
    np.testing.assert_allclose(p.result(), [2 / 3, 1.0])
    r = M.Recall(thresholds=0.45)
    r.update_state([1, 1, 1, 0], [0.5, 0.45, 0.9, 0.99])   # 0.45 is not above 0.45
    assert r.result() == pytest.approx(2 / 3)
    assert M.Precision().result() == 0.0                  # nothing seen: 0, not NaN


def test_precision_top_k_and_class_id():
    p = M.Precision(top_k=1)
    p.update_state([[0, 0, 1, 1]], [[1, 1, 0, 0]])    # the top-1 (the first) is a negative
    assert p.result() == pytest.approx(0.0)
    r = M.Recall(class_id=1)
    r.update_state([[0, 1], [0, 1], [1, 0]], [[0.2, 0.9], [0.8, 0.3], [0.1, 0.95]])
    assert r.result() == pytest.approx(0.5)


def test_auc_roc_keras_example():
    m = M.AUC(num_thresholds=3)
    # thresholds [-1e-7, 0.5, 1 + 1e-7]: tp [2, 1, 0], fp [2, 0, 0], fn [0, 1, 2], tn [0, 2, 2]
    # tpr [1, 0.5, 0], fpr [1, 0, 0] -> (1 + 0.5) / 2 * 1 + 0 = 0.75
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)


def test_auc_roc_many_thresholds_approaches_rank_statistic():
    # 2 negatives (0.1, 0.4), 2 positives (0.35, 0.8): 3 of 4 positive-negative pairs ordered -> 0.75
    m = M.AUC(num_thresholds=1000)
    m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert m.result() == pytest.approx(0.75, abs=1e-9)


def test_auc_pr_interpolation_by_hand():
    # thresholds [-1e-7, 0.5, 1 + 1e-7]; labels [0, 1, 1], predictions [0.2, 0.3, 0.7]
    # tp [2, 1, 0], fp [1, 0, 0], fn [0, 1, 2]; predicted positives p = [3, 1, 0]
    # segment 1 (p 3 -> 1): slope = dtp / dp = 1/2, intercept = tp1 - slope * p1 = 1/2,
    #   area = slope * (dtp + intercept * ln(p0 / p1)) / (tp1 + fn1) = 0.5 * (1 + 0.5 ln 3) / 2
    # segment 2 (p 1 -> 0): p1 = 0 -> ratio 1, slope 1, intercept 0: area = 1 * (1 + 0) / 2
    m = M.AUC(num_thresholds=3, curve="PR")
    m.update_state([0, 1, 1], [0.2, 0.3, 0.7])
    expect = 0.5 * (1 + 0.5 * math.log(3)) / 2 + 0.5
    assert m.result() == pytest.approx(expect, rel=1e-12)


def test_auc_riemann_sums_and_logits():
    m = M.AUC(num_thresholds=3, summation_method="minoring")
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.5)          # min(1, 0.5) * 1
    m = M.AUC(num_thresholds=3, summation_method="majoring")
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(1.0)
    m = M.AUC(num_thresholds=1000, from_logits=True)
    m.update_state([0, 1], [-2.0, 3.0])
    assert m.result() == pytest.approx(1.0)


def test_metrics_by_name_in_compile():
    from tinygrad_bn.keras import Sequential
    from tinygrad_bn.keras.layers import Dense
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    m = Sequential([Dense(1, activation="sigmoid")])
    m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["precision", "recall", "auc"])
    h = m.fit(x, y, epochs=1, batch_size=20, verbose=0)
    for k in ("precision", "recall", "auc"):
        assert 0.0 <= h.history[k][0] <= 1.0
    m2 = Sequential([Dense(4)])
    m2.compile(optimizer="sgd", loss=K.SparseCategoricalCrossentropy(from_logits=True),
               metrics=["sparse_top_k_categorical_accuracy"])
    h2 = m2.fit(x, (np.abs(x[:, 0]) * 2).astype(np.int64) % 4, epochs=1, verbose=0)
    assert h2.history["sparse_top_k_categorical_accuracy"][0] == pytest.approx(1.0)   # k=5 > 4 classes


def test_mean_metrics_with_sample_weight():
    m = M.SparseCategoricalAccuracy()
    m.update_state([0, 1, 1], [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]], sample_weight=[1.0, 3.0, 1.0])
    assert m.result() == pytest.approx(2 / 5)
    mse = M.MeanSquaredError()
    mse.update_state([[0.0, 0.0], [0.0, 0.0]], [[1.0, 3.0], [2.0, 2.0]], sample_weight=[1.0, 0.0])
    assert mse.result() == pytest.approx(5.0)        # sample 0's mean of (1, 9); sample 1 weighs 0


@pytest.mark.parametrize("make,t", [
    (lambda: K.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), np.eye(3)[[0, 2, 1, 1]]),
    (lambda: K.SparseCategoricalCrossentropy(from_logits=True), np.array([0, 2, 1, 1])),
    (lambda: K.MeanSquaredError(), np.arange(12.0).reshape(4, 3) / 10),
    (lambda: K.MeanAbsoluteError(), np.arange(12.0).reshape(4, 3) / 10),
])
def test_fast_mean_path_equals_weighted_general_path(make, t):
    z = np.array([[0.1, 2.0, -1.0], [0.3, 0.2, 0.9], [-2.0, 1.0, 0.5], [1.5, -0.5, 0.0]])
    fast = float(val(make()(t, z)))
    general = float(val(make()(t, z, sample_weight=np.ones(4))))
    per_sample = val(make().__class__(**{**make().get_config(), "reduction": "none"})(t, z))
    assert fast == pytest.approx(general, rel=1e-12) and fast == pytest.approx(per_sample.mean(), rel=1e-12)


def test_loss_ops_composite_twins_match_and_differentiate_twice():
    from tinygrad_bn.keras.losses import (_prob_bce_composite, _prob_cross_entropy_composite,
                                          _sigmoid_bce_composite, prob_bce, prob_cross_entropy, sigmoid_bce)
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, (3, 4))
    t = (rng.uniform(size=(3, 4)) > 0.5) * 1.0
    x = rng.standard_normal((3, 4)) * 3
    for fused, comp, a in ((prob_cross_entropy, _prob_cross_entropy_composite, p),
                           (prob_bce, _prob_bce_composite, p), (sigmoid_bce, _sigmoid_bce_composite, x)):
        np.testing.assert_allclose(val(fused(a, t)), val(comp(tg.Tensor(a), t)), rtol=1e-12)
        assert tg.gradgradcheck(lambda v: fused(v, t), a)
    # the logit BCE's gradient at exactly 0 is sigmoid(0) - z = 0.5 - z in both
    v = tg.Var(np.zeros(2))
    with tg.GradientTape() as tape:
        y = tg.sum(_sigmoid_bce_composite(v, np.array([0.0, 1.0])))
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [0.5, -0.5])


def test_sparse_ignore_class_mean_over_valid_entries():
    # per-sample [-log 0.95, (ignored)] -> the mean over the one valid sample
    loss = K.SparseCategoricalCrossentropy(ignore_class=2)
    assert float(val(loss([1, 2], CCE_P))) == pytest.approx(-math.log(0.95), rel=1e-6)
    assert float(val(K.SparseCategoricalCrossentropy(ignore_class=2, reduction="sum")([1, 2], CCE_P))) == \
        pytest.approx(-math.log(0.95), rel=1e-6)
    assert float(val(loss([2, 2], CCE_P))) == 0.0


# ---------------------------------------------------------------------------
# More Keras losses and the loss-valued metrics (Keras's docstring examples, checked by hand)
# ---------------------------------------------------------------------------

HT, HP = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]


@pytest.mark.parametrize("cls,t,p,mean,weighted,w", [
    # hinge: labels -> [[-1, 1], [-1, -1]]; terms [[1.6, 0.6], [1.4, 1.6]] -> per sample [1.1, 1.5]
    (K.Hinge, HT, HP, 1.3, 0.55, [1, 0]),
    # squared: [[2.56, 0.36], [1.96, 2.56]] -> [1.46, 2.26]
    (K.SquaredHinge, HT, HP, 1.86, 0.73, [1, 0]),
    # categorical: pos [0.4, 0], neg [0.6, 0.6] -> [1.2, 1.6]
    (K.CategoricalHinge, HT, HP, 1.4, 0.6, [1, 0]),
    # poisson: [[1 - 0, 1 - log 1], [0 - 0, 0 - 0]] -> [1, 0]
    (K.Poisson, HT, [[1, 1], [0, 0]], 0.5, 0.4, [0.8, 0.2]),
    # log cosh: [log cosh 1 / 2, 0] -> [0.2169, 0]
    (K.LogCosh, HT, [[1, 1], [0, 0]], math.log(math.cosh(1)) / 4, math.log(math.cosh(1)) / 2 * 0.8 / 2, [0.8, 0.2]),
    # cosine: [0, -1]
    (K.CosineSimilarity, [[0, 1], [1, 1]], [[1, 0], [1, 1]], -0.5, -0.1, [0.8, 0.2]),
    # mape: [[50, 0], [50, 100]] -> [25, 75]
    (K.MeanAbsolutePercentageError, [[2, 1], [2, 3]], [[1, 1], [1, 0]], 50.0, 20.0, [0.7, 0.3]),
    # msle: [[log(2)^2, 0], [log(2)^2, 0]] / 2 -> [0.2402, 0.2402]
    (K.MeanSquaredLogarithmicError, HT, [[1, 1], [1, 0]], math.log(2) ** 2 / 2, math.log(2) ** 2 / 4, [0.7, 0.3]),
])
def test_more_losses_keras_examples(cls, t, p, mean, weighted, w):
    p = np.array(p, np.float64)
    assert float(val(cls()(t, p))) == pytest.approx(mean, abs=1e-6)
    assert float(val(cls()(t, p, sample_weight=w))) == pytest.approx(weighted, abs=1e-6)
    assert val(cls(reduction="none")(t, p)).shape == (2,)
    assert tg.gradcheck(lambda v: cls(reduction="none")(t, v), p + 0.05)
    assert isinstance(K.get(cls().name), cls)


def test_loss_valued_metrics_keras_examples():
    m = M.BinaryCrossentropy()
    m.update_state(HT, HP)
    assert m.result() == pytest.approx((-math.log(0.4) - (math.log(0.6) + math.log(0.4)) / 2) / 2, rel=1e-6)
    m = M.SparseCategoricalCrossentropy()
    m.update_state([1, 2], CCE_P, sample_weight=[0.3, 0.7])
    assert m.result() == pytest.approx((-0.3 * math.log(0.95) - 0.7 * math.log(0.1)) / 1.0, rel=1e-6)
    m = M.RootMeanSquaredError()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert m.result() == pytest.approx(0.5)
    m = M.CosineSimilarity(axis=1)
    m.update_state([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
    assert m.result() == pytest.approx(0.5)
    assert isinstance(M.get("categorical_crossentropy"), M.CategoricalCrossentropy)


def test_metric_result_is_a_float_with_numpy():
    m = M.CategoricalAccuracy()
    m.update_state(tg.constant([[0.0, 1.0], [1.0, 0.0]]), tg.constant([[0.2, 0.8], [0.3, 0.7]]))
    r = m.result()
    assert isinstance(r, float) and r == 0.5
    assert r.numpy() == np.float32(0.5) and r.numpy().dtype == np.float32   # TF code calls .numpy()
    m.reset_states()                                                        # the TF 2 spelling
    assert m.result() == 0.0


def test_every_loss_and_metric_class_round_trips_its_config():
    for name, cls in K._CLASSES.items():
        loss = cls(reduction="sum")
        again = K.deserialize(K.serialize(loss))
        assert type(again) is cls and again.get_config() == loss.get_config(), name
    for name, cls in M._CLASSES.items():
        metric = cls()
        again = M.deserialize(M.serialize(metric))
        assert type(again) is cls and again.get_config() == metric.get_config(), name


def test_mean_metric_called_like_tf_tutorials():
    train_loss = M.Mean(name="train_loss")
    assert train_loss(tg.constant(2.0)) == 2.0
    assert train_loss(tg.constant(4.0)) == 3.0
    train_loss.update_state([1.0, 3.0], sample_weight=[1.0, 0.0])
    assert train_loss.result() == pytest.approx(7.0 / 3.0)
    s = M.Sum()
    s(np.array([1.0, 2.0]))
    assert s([3.0], sample_weight=[2.0]) == 9.0


def test_tf2_reduction_names():
    t, p = [[0.0], [0.0]], [[1.0], [3.0]]
    assert float(val(K.MeanSquaredError(reduction=K.Reduction.SUM)(t, p))) == 10.0
    assert float(val(K.MeanSquaredError(reduction=K.Reduction.AUTO)(t, p))) == 5.0
    assert val(K.MeanSquaredError(reduction=K.Reduction.NONE)(t, p)).tolist() == [1.0, 9.0]


def test_user_loss_subclass_gets_reduction_and_weights():
    class Cubed(K.Loss):
        def call(self, y_true, y_pred):
            d = tg.subtract(y_pred, np.asarray(y_true, np.float64))
            return tg.mean(d * d * d, axis=-1)

    loss = Cubed(name="cubed")
    assert float(val(loss([[0.0], [0.0]], np.array([[1.0], [2.0]]), sample_weight=[1.0, 0.5]))) == \
        pytest.approx((1 + 4) / 2)


def test_top_k_non_finite_rows_are_misses_and_ties_are_hits():
    m = M.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([0, 0, 1], [[0.9, np.nan, 0.0], [0.5, 0.5, 0.1], [0.2, 0.1, np.inf]])
    # row 0 holds NaN: miss; row 1: the label ties for the top: hit (TF's in_top_k); row 2: inf: miss
    assert m.result() == pytest.approx(1 / 3)


def test_auc_roc_agrees_with_sklearn_on_random_scores():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    y = (rng.uniform(size=400) < 0.4).astype(np.float64)
    s = np.clip(0.3 * y + rng.uniform(size=400) * 0.7, 0, 1)
    w = rng.uniform(0.1, 2.0, size=400)
    m = M.AUC(num_thresholds=4001)
    m.update_state(y[:150], s[:150], sample_weight=w[:150])      # streaming: two batches
    m.update_state(y[150:], s[150:], sample_weight=w[150:])
    assert m.result() == pytest.approx(sklearn_metrics.roc_auc_score(y, s, sample_weight=w), abs=1e-3)


def test_confusion_counts_with_unsorted_thresholds_and_boundaries():
    p = M.Precision(thresholds=[0.7, 0.3])
    p.update_state([0, 1], [0.4, 0.8])
    p.update_state([1, 0], [0.5, 0.1])
    np.testing.assert_allclose(p.result(), [1.0, 2 / 3])
    r = M.Recall(thresholds=[0.5, 0.0, 1.0])
    r.update_state([1, 1, 0], [0.5, 0.0, 1.0])     # equal to a threshold is not above it
    np.testing.assert_array_equal(r.true_positives, [0, 1, 0])
    np.testing.assert_array_equal(r.false_negatives, [2, 1, 2])
    np.testing.assert_array_equal(r.false_positives, [1, 1, 0])
