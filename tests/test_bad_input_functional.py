"""Bad-input battery for the functional batch norm / softmax cross-entropy and ``tinygrad_bn.nn``.

Each case must raise a TypeError/ValueError whose message names the function and the
argument (and the shapes/dtypes involved); a case that must *not* raise checks its result.
"""
import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import nn
from tinygrad_bn.keras import functional as F

from badinput import expect_error

X = np.ones((4, 3), np.float32)
G = np.ones(3, np.float32)
B = np.zeros(3, np.float32)
LOGITS = np.zeros((4, 3), np.float32)
LABELS = np.array([0, 1, 2, 0])

BN_TRAIN = [F.batch_norm, F.batch_norm_fused, F.batch_norm_composite]
BN_INFER = [F.batch_norm_inference, F.batch_norm_inference_fused, F.batch_norm_inference_composite]
CE_PATHS = [F.softmax_cross_entropy, F.softmax_cross_entropy_fused, F.softmax_cross_entropy_composite]

CASES = [
    # ---- training batch norm
    ("bn_int_x", lambda f: f(np.ones((4, 3), np.int64), G, B), TypeError, ["batch_norm", "x", "int64"]),
    ("bn_complex_x", lambda f: f(np.ones((4, 3), np.complex128), G, B), TypeError, ["batch_norm", "complex128"]),
    ("bn_bool_x", lambda f: f(np.ones((4, 3), bool), G, B), TypeError, ["batch_norm", "x", "bool"]),
    ("bn_0d_x", lambda f: f(np.float32(1.0), None, None), ValueError, ["batch_norm", "0-d"]),
    ("bn_gamma_shape", lambda f: f(X, np.ones(2, np.float32), B), ValueError,
     ["batch_norm", "gamma", "(2,)", "(3,)", "(4, 3)"]),
    ("bn_beta_shape", lambda f: f(X, G, np.zeros((1, 3), np.float32)), ValueError, ["batch_norm", "beta", "(1, 3)"]),
    ("bn_gamma_int", lambda f: f(X, np.ones(3, np.int32), B), TypeError, ["batch_norm", "gamma", "int32"]),
    ("bn_beta_str", lambda f: f(X, G, np.array(["a", "b", "c"])), TypeError, ["batch_norm", "beta"]),
    ("bn_eps_negative", lambda f: f(X, G, B, epsilon=-1e-3), ValueError, ["batch_norm", "epsilon", "-0.001"]),
    ("bn_eps_nan", lambda f: f(X, G, B, epsilon=float("nan")), ValueError, ["batch_norm", "epsilon", "nan"]),
    ("bn_eps_inf", lambda f: f(X, G, B, epsilon=float("inf")), ValueError, ["batch_norm", "epsilon"]),
    ("bn_eps_str", lambda f: f(X, G, B, epsilon="0.001"), TypeError, ["batch_norm", "epsilon", "str"]),
    ("bn_eps_bool", lambda f: f(X, G, B, epsilon=True), TypeError, ["batch_norm", "epsilon"]),
    ("bn_empty_batch", lambda f: f(np.zeros((0, 3), np.float32), G, B), ValueError,
     ["batch_norm", "(0, 3)", "empty"]),
    ("bn_empty_lead_axis", lambda f: f(np.zeros((3, 0, 3), np.float32), G, B), ValueError,
     ["batch_norm", "(3, 0, 3)", "empty"]),
    ("bn_stats_out_shape", lambda f: f(X, G, B, stats_out=(np.empty(2), np.empty(3))), ValueError,
     ["batch_norm", "stats_out[0]", "(3,)", "(2,)"]),
    ("bn_stats_out_not_pair", lambda f: f(X, G, B, stats_out=np.empty(3)), TypeError, ["batch_norm", "stats_out"]),
    ("bn_stats_out_int", lambda f: f(X, G, B, stats_out=(np.empty(3), np.empty(3, np.int64))), ValueError,
     ["batch_norm", "stats_out[1]", "int64"]),
    ("bn_stats_out_readonly", lambda f: f(X, G, B, stats_out=(np.empty(3), _readonly(np.empty(3)))), ValueError,
     ["batch_norm", "stats_out[1]", "read-only"]),
    ("bn_stats_out_overlap", lambda f: f(X, G, B, stats_out=(_shared[0], _shared[1])), ValueError,
     ["batch_norm", "overlap"]),
]


def _readonly(a):
    a.flags.writeable = False
    return a


_base = np.empty(4)
_shared = (_base[:3], _base[1:])

INFER_CASES = [
    ("bni_int_x", lambda f: f(np.ones((4, 3), np.int32), G * 0, G, G, B), TypeError,
     ["batch_norm_inference", "x", "int32"]),
    ("bni_mean_shape", lambda f: f(X, np.zeros(4, np.float32), G, G, B), ValueError,
     ["batch_norm_inference", "moving_mean", "(4,)", "(3,)"]),
    ("bni_var_missing", lambda f: f(X, G * 0, None, G, B), TypeError, ["batch_norm_inference", "moving_var"]),
    ("bni_var_int", lambda f: f(X, G * 0, np.ones(3, np.int64), G, B), TypeError,
     ["batch_norm_inference", "moving_var", "int64"]),
    ("bni_gamma_shape", lambda f: f(X, G * 0, G, np.ones(5, np.float32), B), ValueError,
     ["batch_norm_inference", "gamma", "(5,)"]),
    ("bni_eps_negative", lambda f: f(X, G * 0, G, G, B, epsilon=-1.0), ValueError,
     ["batch_norm_inference", "epsilon"]),
    ("bni_0d", lambda f: f(np.float64(2.0), G * 0, G, None, None), ValueError, ["batch_norm_inference", "0-d"]),
]

CE_CASES = [
    ("ce_int_logits", lambda f: f(np.zeros((4, 3), np.int64), LABELS), TypeError,
     ["softmax_cross_entropy", "logits", "int64"]),
    ("ce_1d_logits", lambda f: f(np.zeros(3, np.float32), LABELS[:1]), ValueError,
     ["softmax_cross_entropy", "logits", "(3,)"]),
    ("ce_3d_logits", lambda f: f(np.zeros((2, 2, 3), np.float32), LABELS[:2]), ValueError,
     ["softmax_cross_entropy", "(N, C)", "(2, 2, 3)"]),
    ("ce_no_classes", lambda f: f(np.zeros((4, 0), np.float32), LABELS), ValueError,
     ["softmax_cross_entropy", "no classes", "(4, 0)"]),
    ("ce_label_high", lambda f: f(LOGITS, np.array([0, 1, 3, 0])), ValueError,
     ["softmax_cross_entropy", "label 3", "[0, 3)"]),
    ("ce_label_negative", lambda f: f(LOGITS, np.array([0, -1, 2, 0], np.int32)), ValueError,
     ["softmax_cross_entropy", "-1", "[0, 3)"]),
    ("ce_label_uint64_huge", lambda f: f(LOGITS, np.array([0, 2 ** 64 - 1, 2, 0], np.uint64)), ValueError,
     ["softmax_cross_entropy", str(2 ** 64 - 1)]),
    ("ce_label_shape", lambda f: f(LOGITS, np.array([0, 1, 2])), ValueError,
     ["softmax_cross_entropy", "labels", "(4,)", "(3,)"]),
    ("ce_label_2d_int", lambda f: f(LOGITS, np.zeros((4, 3), np.int64)), ValueError,
     ["softmax_cross_entropy", "integer labels", "(4, 3)"]),
    ("ce_dense_shape", lambda f: f(LOGITS, np.zeros((4, 2), np.float32)), ValueError,
     ["softmax_cross_entropy", "dense labels", "(4, 3)", "(4, 2)"]),
    ("ce_float_1d_labels", lambda f: f(LOGITS, np.zeros(4, np.float32)), ValueError,
     ["softmax_cross_entropy", "dense labels", "(4,)"]),
    ("ce_bool_labels", lambda f: f(LOGITS, np.zeros(4, bool)), TypeError, ["softmax_cross_entropy", "labels", "bool"]),
    ("ce_str_labels", lambda f: f(LOGITS, np.array(["a", "b", "c", "d"])), TypeError,
     ["softmax_cross_entropy", "labels"]),
    ("ce_reduction", lambda f: f(LOGITS, LABELS, reduction="avg"), ValueError,
     ["softmax_cross_entropy", "reduction", "'avg'"]),
    ("ce_reduction_none_obj", lambda f: f(LOGITS, LABELS, reduction=None), ValueError,
     ["softmax_cross_entropy", "reduction", "None"]),
    ("ce_ls_above", lambda f: f(LOGITS, LABELS, label_smoothing=1.5), ValueError,
     ["softmax_cross_entropy", "label_smoothing", "1.5"]),
    ("ce_ls_negative", lambda f: f(LOGITS, LABELS, label_smoothing=-0.1), ValueError,
     ["softmax_cross_entropy", "label_smoothing"]),
    ("ce_ls_nan", lambda f: f(LOGITS, LABELS, label_smoothing=float("nan")), ValueError,
     ["softmax_cross_entropy", "label_smoothing", "nan"]),
    ("ce_ls_str", lambda f: f(LOGITS, LABELS, label_smoothing="0.1"), TypeError,
     ["softmax_cross_entropy", "label_smoothing", "str"]),
]


@pytest.mark.parametrize("path", BN_TRAIN, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case,call,exc,words", CASES, ids=[c[0] for c in CASES])
def test_batch_norm_bad_input(path, case, call, exc, words):
    expect_error(lambda: call(path), exc, *words)


@pytest.mark.parametrize("path", BN_INFER, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case,call,exc,words", INFER_CASES, ids=[c[0] for c in INFER_CASES])
def test_batch_norm_inference_bad_input(path, case, call, exc, words):
    expect_error(lambda: call(path), exc, *words)


@pytest.mark.parametrize("path", CE_PATHS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case,call,exc,words", CE_CASES, ids=[c[0] for c in CE_CASES])
def test_softmax_ce_bad_input(path, case, call, exc, words):
    expect_error(lambda: call(path), exc, *words)


def test_fused_only_paths_refuse_float16_with_a_clear_error():
    expect_error(lambda: F.batch_norm_fused(X.astype(np.float16), None, None), TypeError,
                 "batch_norm_fused", "float16")
    expect_error(lambda: F.softmax_cross_entropy_fused(LOGITS.astype(np.float16), LABELS), TypeError,
                 "softmax_cross_entropy_fused", "float16")


def test_bad_input_leaves_stats_buffers_untouched():
    m, v = np.full(3, 7.0), np.full(3, 7.0)
    expect_error(lambda: F.batch_norm(X, np.ones(2, np.float32), B, stats_out=(m, v)), ValueError, "gamma")
    assert (m == 7).all() and (v == 7).all()


def test_bad_op_calls_name_the_op():
    from tinygrad_bn.ops.batchnorm import batch_norm_train
    from tinygrad_bn.ops.softmax_ce import softmax_ce
    expect_error(lambda: batch_norm_train(np.ones((4, 3), np.int32), G, B), TypeError, "batch_norm_train", "int32")
    expect_error(lambda: batch_norm_train(X, G, B, 1e-3, (np.empty(3), np.empty(2))), ValueError,
                 "batch_norm_train", "stats_out")
    expect_error(lambda: softmax_ce(LOGITS, LABELS, "mean", 2.0), ValueError, "softmax_ce", "label_smoothing")
    expect_error(lambda: softmax_ce(LOGITS, LABELS, "avg"), ValueError, "softmax_ce", "reduction")


# ---- tf.nn

NN_CASES = [
    ("nn_sigmoid_int", lambda: nn.sigmoid(np.array([1, 2])), TypeError, ["sigmoid", "x", "int"]),
    ("nn_softmax_axis", lambda: nn.softmax(np.zeros((2, 3)), axis=3), ValueError, ["softmax", "axis 3"]),
    ("nn_softmax_axis_float", lambda: nn.softmax(np.zeros((2, 3)), axis=1.0), TypeError, ["softmax", "axis"]),
    ("nn_moments_axes", lambda: nn.moments(np.zeros((2, 3)), axes=[2]), ValueError, ["moments", "axis 2"]),
    ("nn_moments_axes_repeat", lambda: nn.moments(np.zeros((2, 3)), axes=[0, -2]), ValueError,
     ["moments", "repeated"]),
    ("nn_moments_axes_str", lambda: nn.moments(np.zeros((2, 3)), axes="0"), TypeError, ["moments", "axes"]),
    ("nn_bn_broadcast", lambda: nn.batch_normalization(np.zeros((2, 3)), np.zeros(4), np.ones(3), None, None, 1e-3),
     ValueError, ["batch_normalization", "mean (4,)", "x (2, 3)"]),
    ("nn_bn_eps_negative",
     lambda: nn.batch_normalization(np.zeros((2, 3)), np.zeros(3), np.ones(3), None, None, -1.0),
     ValueError, ["batch_normalization", "variance_epsilon"]),
    ("nn_bn_mean_none", lambda: nn.batch_normalization(np.zeros((2, 3)), None, np.ones(3), None, None, 1e-3),
     TypeError, ["batch_normalization", "mean"]),
    ("nn_sce_shape", lambda: nn.softmax_cross_entropy_with_logits(np.zeros((2, 4)), np.zeros((2, 3))), ValueError,
     ["softmax_cross_entropy_with_logits", "(2, 4)", "(2, 3)"]),
    ("nn_sce_int_labels", lambda: nn.softmax_cross_entropy_with_logits(np.zeros((2, 3), np.int64), np.zeros((2, 3))),
     TypeError, ["softmax_cross_entropy_with_logits", "labels", "int64"]),
    ("nn_sce_scalar", lambda: nn.softmax_cross_entropy_with_logits(np.float64(1), np.float64(0)), ValueError,
     ["softmax_cross_entropy_with_logits", "scalar"]),
    ("nn_sparse_float_labels", lambda: nn.sparse_softmax_cross_entropy_with_logits(np.zeros(2), np.zeros((2, 3))),
     TypeError, ["sparse_softmax_cross_entropy_with_logits", "labels", "float64"]),
    ("nn_sparse_rank", lambda: nn.sparse_softmax_cross_entropy_with_logits(np.zeros((2, 3), np.int64),
                                                                           np.zeros((2, 3))),
     ValueError, ["sparse_softmax_cross_entropy_with_logits", "(2,)", "(2, 3)"]),
    ("nn_sparse_range", lambda: nn.sparse_softmax_cross_entropy_with_logits(np.array([0, 3]), np.zeros((2, 3))),
     ValueError, ["sparse_softmax_cross_entropy_with_logits", "label 3", "[0, 3)"]),
    ("nn_sigmoid_ce_shape", lambda: nn.sigmoid_cross_entropy_with_logits(labels=np.zeros(3), logits=np.zeros(4)),
     ValueError, ["sigmoid_cross_entropy_with_logits", "(4,)", "(3,)"]),
    ("nn_sigmoid_ce_missing", lambda: nn.sigmoid_cross_entropy_with_logits(logits=np.zeros(4)), TypeError,
     ["sigmoid_cross_entropy_with_logits", "labels"]),
    ("nn_l2_loss_int", lambda: nn.l2_loss(np.array([1, 2])), TypeError, ["l2_loss", "t"]),
    ("nn_bias_add_2d_bias", lambda: nn.bias_add(np.zeros((2, 3)), np.zeros((1, 3))), ValueError,
     ["bias_add", "1-D", "(1, 3)"]),
    ("nn_bias_add_dtype", lambda: nn.bias_add(np.zeros((2, 3)), np.zeros(3, np.float32)), TypeError,
     ["bias_add", "float32", "float64"]),
    ("nn_bias_add_format", lambda: nn.bias_add(np.zeros((2, 3)), np.zeros(3), data_format="HWC"), ValueError,
     ["bias_add", "data_format"]),
    ("nn_dropout_rate", lambda: nn.dropout(np.zeros(3), 1.0), ValueError, ["dropout", "rate"]),
    ("nn_dropout_rate_str", lambda: nn.dropout(np.zeros(3), "0.5"), TypeError, ["dropout", "rate"]),
    ("nn_dropout_noise_shape", lambda: nn.dropout(np.zeros((2, 3)), 0.5, noise_shape=[4, 3]), ValueError,
     ["dropout", "noise_shape", "(2, 3)"]),
    ("nn_dropout_seed", lambda: nn.dropout(np.zeros(3), 0.5, seed=1.5), TypeError, ["dropout", "seed"]),
    ("nn_gelu_approximate", lambda: nn.gelu(np.zeros(3), approximate="yes"), TypeError, ["gelu", "approximate"]),
    ("nn_average_loss_batch", lambda: nn.compute_average_loss(np.ones(3), global_batch_size=0), ValueError,
     ["compute_average_loss", "global_batch_size"]),
    ("nn_embedding_ids_range", lambda: nn.embedding_lookup(np.zeros((3, 2)), np.array([0, 3])), ValueError,
     ["embedding_lookup", "[0, 3)"]),
    ("nn_embedding_ids_float", lambda: nn.embedding_lookup(np.zeros((3, 2)), np.array([0.0])), TypeError,
     ["embedding_lookup", "ids"]),
]


@pytest.mark.parametrize("case,call,exc,words", NN_CASES, ids=[c[0] for c in NN_CASES])
def test_tf_nn_bad_input(case, call, exc, words):
    expect_error(call, exc, *words)


def test_edge_inputs_that_are_not_errors():
    # epsilon 0 on a constant feature: var 0 -> 0/0 = NaN as IEEE says (not an exception)
    with np.errstate(all="ignore"):
        for f in BN_TRAIN:
            y = f(np.ones((3, 2)), None, None, epsilon=0.0)
            assert np.isnan(y.numpy()).all()
    # one example is a valid batch (its variance is 0)
    y = F.batch_norm(np.array([[1.0, 2.0]]), None, None)
    np.testing.assert_array_equal(y.numpy(), [[0.0, 0.0]])
    # label_smoothing 0 and 1 are both inside [0, 1]
    for ls in (0, 1):
        assert np.isfinite(F.softmax_cross_entropy(LOGITS, LABELS, label_smoothing=ls).numpy())
    # int32, int16 and uint8 labels are all class ids
    for dt in (np.int32, np.int16, np.uint8):
        np.testing.assert_allclose(F.softmax_cross_entropy(LOGITS, LABELS.astype(dt)).numpy(), np.log(3), rtol=1e-6)
