"""Bad-input battery for layers, activations, regularizers, losses and metrics: each case
must raise a clear TypeError/ValueError (or NotImplementedError) naming the layer / function
and the argument, and must leave no half-updated state behind."""
import numpy as np
import pytest

from badinput import expect_error
from tinygrad_bn.keras import activations as A
from tinygrad_bn.keras import initializers as I
from tinygrad_bn.keras import layers as L
from tinygrad_bn.keras import losses as K
from tinygrad_bn.keras import metrics as M
from tinygrad_bn.keras import regularizers as R

X2 = np.ones((2, 3), np.float32)
P = np.array([[0.2, 0.8], [0.6, 0.4]], np.float32)


def built_dense():
    d = L.Dense(2, name="d5")
    d(np.ones((1, 5), np.float32))
    return d


def built_ln():
    ln = L.LayerNormalization(name="ln3")
    ln(X2)
    return ln


CASES = [
    # --- layer constructors ---------------------------------------------------
    ("dense_units_str", lambda: L.Dense("a"), TypeError, ["Dense", "units"]),
    ("dense_units_zero", lambda: L.Dense(0), ValueError, ["Dense", "units"]),
    ("dense_units_fraction", lambda: L.Dense(2.5), ValueError, ["Dense", "units", "2.5"]),
    ("dense_units_bool", lambda: L.Dense(True), TypeError, ["Dense", "units"]),
    ("dense_units_none", lambda: L.Dense(None), TypeError, ["Dense", "units"]),
    ("dense_use_bias_str", lambda: L.Dense(3, use_bias="yes"), TypeError, ["Dense", "use_bias"]),
    ("dense_unknown_activation", lambda: L.Dense(3, activation="relux"), ValueError, ["activation", "relux"]),
    ("dense_activation_number", lambda: L.Dense(3, activation=5), TypeError, ["activation"]),
    ("dense_unknown_regularizer", lambda: L.Dense(3, kernel_regularizer="l3"), ValueError, ["regularizer", "l3"]),
    ("dense_constraint", lambda: L.Dense(3, kernel_constraint=lambda w: w), NotImplementedError,
     ["Dense", "kernel_constraint"]),
    ("dense_dtype_int", lambda: L.Dense(3, dtype="int32"), ValueError, ["Dense", "dtype"]),
    ("dense_unknown_kwarg", lambda: L.Dense(3, unitz=4), TypeError, ["Dense", "unitz"]),
    ("bn_momentum_range", lambda: L.BatchNormalization(momentum=1.5), ValueError,
     ["BatchNormalization", "momentum"]),
    ("bn_momentum_nan", lambda: L.BatchNormalization(momentum=float("nan")), ValueError,
     ["BatchNormalization", "momentum"]),
    ("bn_epsilon_zero", lambda: L.BatchNormalization(epsilon=0), ValueError, ["BatchNormalization", "epsilon"]),
    ("bn_epsilon_str", lambda: L.BatchNormalization(epsilon="x"), TypeError, ["BatchNormalization", "epsilon"]),
    ("bn_two_axes", lambda: L.BatchNormalization(axis=[1, 2]), ValueError, ["BatchNormalization", "axis"]),
    ("bn_axis_float", lambda: L.BatchNormalization(axis=1.5), TypeError, ["BatchNormalization", "axis"]),
    ("bn_center_int", lambda: L.BatchNormalization(center=1), TypeError, ["BatchNormalization", "center"]),
    ("bn_axis_out_of_range", lambda: L.BatchNormalization(axis=5)(X2), ValueError,
     ["BatchNormalization", "axis 5"]),
    ("ln_epsilon_negative", lambda: L.LayerNormalization(epsilon=-1), ValueError,
     ["LayerNormalization", "epsilon"]),
    ("ln_axis_str", lambda: L.LayerNormalization(axis="a"), TypeError, ["LayerNormalization", "axis"]),
    ("ln_repeated_axis", lambda: L.LayerNormalization(axis=[1, -1])(X2), ValueError,
     ["LayerNormalization", "repeats"]),
    ("dropout_rate_one", lambda: L.Dropout(1.0), ValueError, ["Dropout", "rate"]),
    ("dropout_rate_negative", lambda: L.Dropout(-0.1), ValueError, ["Dropout", "rate"]),
    ("dropout_rate_str", lambda: L.Dropout("0.5"), TypeError, ["Dropout", "rate"]),
    ("dropout_seed_negative", lambda: L.Dropout(0.5, seed=-1), ValueError, ["Dropout", "seed"]),
    ("dropout_noise_shape_rank", lambda: L.Dropout(0.5, noise_shape=(1, 2, 3))(X2, training=True), ValueError,
     ["Dropout", "noise_shape"]),
    ("dropout_noise_shape_mismatch", lambda: L.Dropout(0.5, noise_shape=(1, 2))(X2, training=True), ValueError,
     ["Dropout", "noise_shape", "(2, 3)"]),
    ("softmax_axis_range", lambda: L.Softmax(axis=2)(X2), ValueError, ["Softmax", "axis 2"]),
    ("relu_max_value_negative", lambda: L.ReLU(max_value=-1), ValueError, ["ReLU", "max_value"]),
    ("relu_slope_negative", lambda: L.ReLU(negative_slope=-0.1), ValueError, ["ReLU", "negative_slope"]),
    ("leaky_slope_str", lambda: L.LeakyReLU(negative_slope="x"), TypeError, ["LeakyReLU", "negative_slope"]),
    ("elu_alpha_inf", lambda: L.ELU(alpha=float("inf")), ValueError, ["ELU", "alpha"]),
    ("reshape_not_tuple", lambda: L.Reshape(5), TypeError, ["Reshape", "target_shape"]),
    ("reshape_two_unknowns", lambda: L.Reshape((-1, -1)), ValueError, ["Reshape", "-1"]),
    ("reshape_zero", lambda: L.Reshape((0, 3)), ValueError, ["Reshape", "target_shape"]),
    ("reshape_wrong_size", lambda: L.Reshape((4,))(X2), ValueError, ["Reshape", "3 values per sample"]),
    ("embedding_input_dim", lambda: L.Embedding(0, 3), ValueError, ["Embedding", "input_dim"]),
    ("embedding_output_dim_str", lambda: L.Embedding(3, "4"), TypeError, ["Embedding", "output_dim"]),
    ("embedding_index_out_of_range", lambda: L.Embedding(4, 2)(np.array([[1, 4]])), ValueError,
     ["Embedding", "index 4", "input_dim=4"]),
    ("embedding_negative_index", lambda: L.Embedding(4, 2)(np.array([-1])), ValueError, ["Embedding", "-1"]),
    ("embedding_fractional_index", lambda: L.Embedding(4, 2)(np.array([0.5])), ValueError,
     ["Embedding", "integers"]),
    ("embedding_string_index", lambda: L.Embedding(4, 2)(np.array(["a"])), TypeError, ["Embedding", "dtype"]),
    ("permute_not_permutation", lambda: L.Permute((1, 3)), ValueError, ["Permute", "permutation"]),
    ("permute_rank_mismatch", lambda: L.Permute((2, 1))(X2), ValueError, ["Permute", "(2, 3)"]),
    ("repeat_vector_n", lambda: L.RepeatVector(0), ValueError, ["RepeatVector", "n"]),
    ("repeat_vector_rank", lambda: L.RepeatVector(2)(np.ones((2, 3, 4))), ValueError, ["RepeatVector", "(2, 3, 4)"]),
    ("gaussian_noise_stddev", lambda: L.GaussianNoise(-0.1), ValueError, ["GaussianNoise", "stddev"]),
    ("lambda_not_callable", lambda: L.Lambda(3), TypeError, ["Lambda", "function"]),
    ("activity_reg_l1_negative", lambda: L.ActivityRegularization(l1=-1.0), ValueError,
     ["ActivityRegularization", "l1"]),
    # --- merging layers -------------------------------------------------------
    ("concat_single_input", lambda: L.Concatenate()([X2]), ValueError, ["Concatenate", "at least 2"]),
    ("concat_not_list", lambda: L.Concatenate()(X2), TypeError, ["Concatenate", "list"]),
    ("concat_axis_mismatch", lambda: L.Concatenate(axis=-1)([np.ones((2, 3, 4)), np.ones((2, 5, 4))]),
     ValueError, ["Concatenate", "input 1", "(None, 5, 4)"]),
    ("add_shape_mismatch", lambda: L.Add()([X2, np.ones((2, 4))]), ValueError, ["Add", "input 1", "same shape"]),
    ("add_batch_mismatch", lambda: L.Add()([X2, np.ones((3, 3))]), ValueError, ["Add", "batch size 3"]),
    ("subtract_three_inputs", lambda: L.Subtract()([X2, X2, X2]), ValueError, ["Subtract", "exactly 2"]),
    # --- wrong inputs to built layers ------------------------------------------
    ("dense_feature_mismatch", lambda: built_dense()(np.ones((2, 4), np.float32)), ValueError,
     ["'d5'", "5 features", "got 4"]),
    ("dense_1d_input", lambda: L.Dense(2)(np.ones(3, np.float32)), ValueError, ["Dense", "(None,)"]),
    ("dense_string_input", lambda: L.Dense(2)(np.array([["a", "b"]])), TypeError, ["numeric"]),
    ("ln_feature_mismatch", lambda: built_ln()(np.ones((2, 4), np.float32)), ValueError, ["'ln3'", "(2, 4)"]),
    ("bn_empty_training_batch", lambda: L.BatchNormalization(name="bn0")(np.zeros((0, 3), np.float32),
                                                                          training=True),
     ValueError, ["'bn0'", "empty batch", "(0, 3)"]),
    # --- initializers ------------------------------------------------------------
    ("init_stddev_negative", lambda: I.RandomNormal(stddev=-1.0), ValueError, ["RandomNormal", "stddev"]),
    ("init_uniform_bounds", lambda: I.RandomUniform(minval=1.0, maxval=0.0), ValueError,
     ["RandomUniform", "maxval", "minval"]),
    ("init_scale_zero", lambda: I.VarianceScaling(scale=0.0), ValueError, ["VarianceScaling", "scale"]),
    ("init_seed_str", lambda: I.GlorotUniform(seed="1"), TypeError, ["GlorotUniform", "seed"]),
    ("init_constant_str", lambda: I.Constant("a"), TypeError, ["Constant", "value"]),
    ("init_orthogonal_1d", lambda: I.Orthogonal()((3,)), ValueError, ["Orthogonal", "2 axes"]),
    ("init_unknown_name", lambda: I.get("glorot_uniformm"), ValueError, ["initializer", "glorot_uniformm"]),
    # --- activations ----------------------------------------------------------
    ("act_relu_max_value", lambda: A.relu(X2, max_value=-1.0), ValueError, ["relu", "max_value"]),
    ("act_gelu_approximate", lambda: A.gelu(X2, approximate="yes"), TypeError, ["gelu", "approximate"]),
    ("act_softmax_axis", lambda: A.softmax(X2, axis=3), ValueError, ["softmax", "axis 3"]),
    ("act_elu_alpha", lambda: A.elu(X2, alpha="a"), TypeError, ["elu", "alpha"]),
    ("act_string_input", lambda: A.tanh(np.array(["a"])), TypeError, ["activation", "dtype"]),
    ("act_get_number", lambda: A.get(3), TypeError, ["activation"]),
    # --- regularizers -----------------------------------------------------------
    ("reg_l2_negative", lambda: R.L2(-1), ValueError, ["L2", "l2"]),
    ("reg_l1_str", lambda: R.L1("a"), TypeError, ["L1", "l1"]),
    ("reg_l1l2_nan", lambda: R.L1L2(l1=float("nan")), ValueError, ["L1L2", "l1"]),
    ("reg_get_number", lambda: R.get(5), TypeError, ["regularizer"]),
    # --- losses -------------------------------------------------------------------
    ("cce_shape_mismatch", lambda: K.categorical_crossentropy(np.ones((2, 3)), P), ValueError,
     ["categorical_crossentropy", "(2, 3)", "(2, 2)"]),
    ("cce_axis_range", lambda: K.categorical_crossentropy(P, P, axis=2), ValueError,
     ["categorical_crossentropy", "axis 2"]),
    ("cce_label_smoothing_range", lambda: K.CategoricalCrossentropy(label_smoothing=1.5), ValueError,
     ["CategoricalCrossentropy", "label_smoothing"]),
    ("cce_from_logits_str", lambda: K.CategoricalCrossentropy(from_logits="yes"), TypeError,
     ["CategoricalCrossentropy", "from_logits"]),
    ("cce_string_targets", lambda: K.categorical_crossentropy(np.array([["a", "b"]] * 2), P), TypeError,
     ["categorical_crossentropy", "y_true"]),
    ("scce_label_too_large", lambda: K.sparse_categorical_crossentropy([0, 2], P), ValueError,
     ["sparse_categorical_crossentropy", "label 2", "[0, 2)"]),
    ("scce_label_negative", lambda: K.SparseCategoricalCrossentropy(from_logits=True)([-1, 0], P), ValueError,
     ["label -1", "[0, 2)"]),
    ("scce_label_uint64_huge", lambda: K.sparse_categorical_crossentropy(np.array([2 ** 63, 0], np.uint64), P),
     ValueError, ["sparse_categorical_crossentropy", str(2 ** 63)]),
    ("scce_fractional_label", lambda: K.sparse_categorical_crossentropy([0.5, 1.0], P), ValueError,
     ["sparse_categorical_crossentropy", "integer"]),
    ("scce_one_hot_given", lambda: K.sparse_categorical_crossentropy(P, P), ValueError,
     ["sparse_categorical_crossentropy", "categorical_crossentropy", "(2, 2)"]),
    ("scce_ignore_class_str", lambda: K.SparseCategoricalCrossentropy(ignore_class="x"), TypeError,
     ["ignore_class"]),
    ("bce_shape_mismatch", lambda: K.binary_crossentropy(np.ones((2, 3)), P), ValueError,
     ["binary_crossentropy", "(2, 3)", "(2, 2)"]),
    ("mse_shape_mismatch", lambda: K.MeanSquaredError()(np.ones((3, 2)), P), ValueError,
     ["mean_squared_error", "(3, 2)"]),
    ("huber_delta_zero", lambda: K.Huber(delta=0.0), ValueError, ["huber", "delta"]),
    ("loss_reduction_unknown", lambda: K.MeanAbsoluteError(reduction="avg"), ValueError,
     ["MeanAbsoluteError", "reduction", "avg"]),
    ("loss_sample_weight_shape", lambda: K.MeanSquaredError()(P, P, sample_weight=[1.0, 2.0, 3.0]), ValueError,
     ["MeanSquaredError", "sample_weight", "(3,)"]),
    ("loss_sample_weight_str", lambda: K.BinaryCrossentropy()(P, P, sample_weight=np.array(["a", "b"])),
     TypeError, ["BinaryCrossentropy", "sample_weight"]),
    ("loss_string_predictions", lambda: K.mean_absolute_error(P, np.array([["a", "b"]] * 2)), TypeError,
     ["mean_absolute_error", "y_pred"]),
    ("hinge_shape_mismatch", lambda: K.hinge(np.ones((2, 3)), P), ValueError, ["hinge", "(2, 3)"]),
    ("cosine_axis_range", lambda: K.CosineSimilarity(axis=4)(P, P), ValueError, ["cosine_similarity", "axis 4"]),
    ("cosine_unknown_kwarg", lambda: K.CosineSimilarity(axes=1), TypeError, ["CosineSimilarity", "axes"]),
    ("loss_get_unknown", lambda: K.get("mean_squared_eror"), ValueError, ["loss", "mean_squared_eror"]),
    # --- metrics --------------------------------------------------------------------
    ("topk_k_zero", lambda: M.TopKCategoricalAccuracy(k=0), ValueError, ["TopKCategoricalAccuracy", "k"]),
    ("topk_k_float", lambda: M.SparseTopKCategoricalAccuracy(k=1.5), TypeError,
     ["SparseTopKCategoricalAccuracy", "k"]),
    ("sparse_topk_label_range", lambda: M.SparseTopKCategoricalAccuracy(k=1).update_state([0, 5], P), ValueError,
     ["SparseTopKCategoricalAccuracy", "label 5", "[0, 2)"]),
    ("topk_shape_mismatch", lambda: M.TopKCategoricalAccuracy().update_state([[1, 0, 0]], P), ValueError,
     ["TopKCategoricalAccuracy", "(1, 3)", "(2, 2)"]),
    ("precision_threshold_range", lambda: M.Precision(thresholds=1.5), ValueError, ["Precision", "thresholds"]),
    ("precision_threshold_str", lambda: M.Precision(thresholds=["a"]), TypeError, ["Precision", "thresholds"]),
    ("recall_shape_mismatch", lambda: M.Recall().update_state([1, 0, 1], [0.2, 0.9]), ValueError,
     ["Recall", "(3,)", "(2,)"]),
    ("precision_class_id_range", lambda: M.Precision(class_id=3).update_state(P, P), ValueError,
     ["Precision", "class_id 3"]),
    ("auc_num_thresholds", lambda: M.AUC(num_thresholds=1), ValueError, ["AUC", "num_thresholds"]),
    ("auc_curve", lambda: M.AUC(curve="XY"), ValueError, ["AUC", "curve", "XY"]),
    ("auc_summation_method", lambda: M.AUC(summation_method="simpson"), ValueError, ["AUC", "summation_method"]),
    ("auc_logits_given", lambda: M.AUC().update_state([0, 1], [-2.0, 3.0]), ValueError,
     ["AUC", "[0, 1]", "sigmoid"]),
    ("auc_nan_prediction", lambda: M.AUC().update_state([0, 1], [0.5, np.nan]), ValueError, ["AUC", "NaN"]),
    ("metric_sample_weight_shape", lambda: M.CategoricalAccuracy().update_state(P, P, sample_weight=[1, 2, 3]),
     ValueError, ["CategoricalAccuracy", "sample_weight"]),
    ("metric_bce_shape_mismatch", lambda: M.BinaryCrossentropy().update_state(np.ones((2, 3)), P), ValueError,
     ["binary_crossentropy", "(2, 3)"]),
    ("metric_get_unknown", lambda: M.get("precisionx"), ValueError, ["metric", "precisionx"]),
    ("binary_accuracy_threshold", lambda: M.BinaryAccuracy(threshold="half"), TypeError,
     ["BinaryAccuracy", "threshold"]),
]


@pytest.mark.parametrize("fn,exc,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(fn, exc, words):
    expect_error(fn, exc, *words)


def test_enough_cases():
    assert len(CASES) >= 30


def test_failed_metric_update_leaves_state_unchanged():
    m = M.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    before = (m.true_positives.copy(), m.false_positives.copy())
    with pytest.raises(ValueError):
        m.update_state([0, 1], [0.5, 2.0])
    assert (m.true_positives == before[0]).all() and (m.false_positives == before[1]).all()
    assert m.result() == pytest.approx(0.75)


def test_failed_bn_call_leaves_moving_stats_unchanged():
    bn = L.BatchNormalization()
    bn(X2, training=False)
    with pytest.raises(ValueError):
        bn(np.ones((2, 4), np.float32), training=True)       # wrong feature count
    with pytest.raises(ValueError):
        bn(np.zeros((0, 3), np.float32), training=True)      # empty batch
    np.testing.assert_array_equal(bn.moving_mean.numpy(), [0, 0, 0])
    np.testing.assert_array_equal(bn.moving_variance.numpy(), [1, 1, 1])
