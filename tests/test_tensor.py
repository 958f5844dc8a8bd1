"""Tensor and Var: dtype rules, conversions, operators with NumPy on either side, errors."""
import pickle

import numpy as np
import pytest

import tinygrad_bn as tg


def test_python_values_follow_tf_dtypes_arrays_keep_dtype():
    # TF: a Python float is float32, a Python int int32 (tf.constant(3).dtype == tf.int32)
    assert tg.Tensor(1.5).dtype == np.float32
    assert tg.Tensor(3).dtype == np.int32
    assert tg.Tensor([[1, 2], [3, 4]]).dtype == np.int32
    assert tg.Tensor([1, 2.5]).dtype == np.float32
    assert tg.Tensor(2 ** 40).dtype == np.int64
    assert tg.Tensor(np.zeros(2)).dtype == np.float64
    assert tg.Tensor(np.float64(1.0)).dtype == np.float64
    assert tg.Tensor(np.arange(3)).dtype == np.int64
    assert tg.Tensor(True).dtype == np.bool_
    assert tg.Tensor(1, dtype=np.float64).dtype == np.float64
    assert tg.Var(0, dtype=tg.float32).dtype == np.float32
    assert tg.Var(np.zeros(3)).dtype == np.float64


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([object(), 1], dtype=object), "abc"])
def test_string_and_object_data_raise_type_error(bad):
    with pytest.raises(TypeError, match="dtype|string"):
        tg.Tensor(bad)
    with pytest.raises(TypeError):
        tg.Var(bad)


def test_numpy_defers_to_tensor_on_the_left():
    w = tg.Var(2.0)
    for left in (np.float32(-10.0), np.float64(3.0), np.array([1.0, 2.0], np.float32), 4, 2.5):
        out = left * w
        assert isinstance(out, tg.Tensor), type(left)
        np.testing.assert_allclose(out.numpy(), np.asarray(left) * 2.0)
    for fn in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a / b, lambda a, b: a ** b):
        out = fn(np.float32(3.0), w)
        assert isinstance(out, tg.Tensor)
        np.testing.assert_allclose(out.numpy(), fn(3.0, 2.0), rtol=1e-6)
    m = np.eye(2, dtype=np.float32)
    assert isinstance(m @ tg.Tensor(np.ones((2, 2), np.float32)), tg.Tensor)


def test_numpy_left_operand_is_recorded():
    w = tg.Var(2.0)
    with tg.GradientTape() as tape:
        y = np.float32(-10.0) * w + np.array(25.0, np.float32)
    assert float(tape.gradient(y, w)) == -10.0


def test_python_scalars_keep_tensor_dtype():
    w = tg.Var(np.ones(2, np.float64))
    assert (w * 2.0).dtype == np.float64
    v = tg.Var(np.ones(2, np.float32))
    assert (v * 2.0 + 1).dtype == np.float32
    assert (2 ** v).dtype == np.float32


def test_conversions_and_repr():
    w = tg.Var(np.array([1.5, 2.5], np.float32), name="w")
    assert w.shape == (2,) and w.ndim == 1 and w.size == 2 and len(w) == 2
    np.testing.assert_array_equal(np.asarray(w), [1.5, 2.5])
    assert np.asarray(w, dtype=np.float64).dtype == np.float64
    arr = w.numpy()
    arr[0] = 99
    assert float(w[0]) == 1.5                   # numpy() is a copy
    assert float(tg.Var(3.0)) == 3.0 and int(tg.Tensor(7.0)) == 7
    assert "w" in repr(w) and "float32" in repr(w) and "1.5" in repr(w)
    assert "Tensor" in repr(tg.Tensor([1.0]))
    assert [float(t) for t in tg.Tensor([1.0, 2.0])] == [1.0, 2.0]
    t = pickle.loads(pickle.dumps(tg.Tensor([1.0, 2.0])))
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_var_assign_family():
    w = tg.Var(np.zeros(3, np.float32))
    assert w.assign([1.0, 2.0, 3.0]) is w
    w.assign_add(np.ones(3))
    w.assign_sub(tg.Tensor([0.5, 0.5, 0.5]))
    np.testing.assert_allclose(w.numpy(), [1.5, 2.5, 3.5])
    assert w.dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\)"):
        w.assign([1.0, 2.0])
    np.testing.assert_allclose(w.numpy(), [1.5, 2.5, 3.5])       # untouched by the failed assign
    with pytest.raises(TypeError):
        w.assign(np.array(["a", "b", "c"]))


def test_comparisons_are_elementwise_and_hashable():
    t = tg.Tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal((t > 1.5).numpy(), [False, True, True])
    np.testing.assert_array_equal((t <= 2).numpy(), [True, True, False])
    assert len({t, tg.Tensor([1.0])}) == 2
    np.testing.assert_array_equal(tg.equal(t, [1.0, 0.0, 3.0]).numpy(), [True, False, True])


def test_shape_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        tg.matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"add.*\(2, 3\).*\(4,\)"):
        tg.Tensor(np.ones((2, 3))) + np.ones(4)
    with pytest.raises(ValueError, match="reshape"):
        tg.Tensor(np.ones(6)).reshape(4, 2)


def test_ops_outside_a_tape_record_nothing():
    w = tg.Var(2.0)
    y = w * w
    assert isinstance(y, tg.Tensor) and float(y) == 4.0
    assert not tg.tape.recording()


def test_operator_methods():
    x = tg.Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(x.sum(axis=0).numpy(), [3, 5, 7])
    np.testing.assert_allclose(x.mean().numpy(), 2.5)
    np.testing.assert_allclose(x.var().numpy(), np.var(np.arange(6.0)))
    assert x.T.shape == (3, 2) and x.reshape(3, 2).shape == (3, 2)
    np.testing.assert_allclose(abs(-x).numpy(), x.numpy())
    np.testing.assert_allclose((+x).numpy(), x.numpy())
