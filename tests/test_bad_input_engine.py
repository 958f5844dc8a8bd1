"""Bad-input battery for the engine: primitives, Tensor/Var, the tape, NumPy functions on
tensors and TF's top-level functions.  Every case ends in a clear exception naming the op or
function and the shapes/dtypes, or in the right (IEEE) result; nothing is half-changed."""
import numpy as np
import pytest

import tinygrad_bn as tg
from badinput import expect_error

T = tg.Tensor
ones = np.ones


def _var():
    return tg.Var(np.ones(3))


ERRORS = [
    # (id, callable, exception types, words the message must contain)
    ("add-strings", lambda: T(ones(2)) + np.array(["a", "b"]), TypeError, ["add", "<U1"]),
    ("add-complex-array", lambda: tg.add(T(ones(2)), ones(2) * 1j), TypeError, ["add", "complex"]),
    ("mul-complex-scalar", lambda: T(ones(2)) * 1j, TypeError, ["multiply", "complex"]),
    ("sub-object", lambda: T(ones(2)) - np.array([object(), 1], dtype=object), TypeError, ["subtract", "object"]),
    ("add-none", lambda: T(ones(2)) + None, TypeError, ["add"]),
    ("broadcast", lambda: T(ones(3)) + T(ones(4)), ValueError, ["add", "(3,)", "(4,)"]),
    ("mul-broadcast", lambda: T(ones((2, 3))) * T(ones((3, 2))), ValueError, ["multiply", "(2, 3)"]),
    ("matmul-align", lambda: T(ones((2, 3))) @ T(ones((2, 3))), ValueError, ["matmul", "(2, 3)"]),
    ("matmul-0d", lambda: tg.matmul(T(1.0), T(ones(2))), ValueError, ["matmul", "1-D"]),
    ("reshape-size", lambda: tg.reshape(T(ones(6)), (4, 2)), ValueError, ["reshape", "(6,)"]),
    ("reshape-two-minus-one", lambda: tg.reshape(T(ones(6)), (-1, -1)), ValueError, ["reshape"]),
    ("sum-axis", lambda: tg.sum(T(ones(6)), axis=3), ValueError, ["sum", "axis 3"]),
    ("sum-axis-float", lambda: tg.sum(T(ones(6)), axis=0.5), TypeError, ["sum", "axis"]),
    ("sum-repeated-axis", lambda: tg.sum(T(ones((2, 2))), axis=(0, 0)), ValueError, ["sum", "repeated"]),
    ("mean-axis", lambda: tg.mean(T(ones((2, 2))), axis=-3), ValueError, ["mean", "axis -3"]),
    ("max-empty", lambda: tg.max(T(np.ones((0, 3)))), ValueError, ["max", "(0, 3)"]),
    ("min-empty", lambda: tg.min(T(np.ones(0))), ValueError, ["min", "zero-size"]),
    ("getitem-range", lambda: T(ones(3))[5], IndexError, ["getitem", "(3,)"]),
    ("getitem-float", lambda: T(ones(3))[1.5], IndexError, ["getitem"]),
    ("concat-shapes", lambda: tg.concatenate([T(ones((2, 3))), T(ones((2, 2)))]), ValueError,
     ["concatenate", "(2, 3)", "(2, 2)"]),
    ("stack-shapes", lambda: tg.stack([T(ones(2)), T(ones(3))]), ValueError, ["stack", "(2,)", "(3,)"]),
    ("transpose-axes", lambda: tg.transpose(T(ones((2, 3))), (0, 0)), ValueError, ["transpose"]),
    ("squeeze-axis", lambda: tg.squeeze(T(ones((2, 3))), axis=0), ValueError, ["squeeze", "(2, 3)"]),
    ("broadcast_to", lambda: tg.broadcast_to(T(ones(3)), (2, 4)), ValueError, ["broadcast_to", "(3,)"]),
    ("where-shapes", lambda: tg.where(ones(3) > 0, T(ones(3)), T(ones(4))), ValueError, ["where"]),
    ("cast-complex", lambda: tg.cast(T(ones(2)), np.complex64), TypeError, ["cast", "complex"]),
    ("tensor-string", lambda: T("abc"), TypeError, ["string"]),
    ("tensor-object", lambda: T([object()]), TypeError, ["object"]),
    ("tensor-complex", lambda: T(np.ones(2) * 1j), TypeError, ["complex"]),
    ("tensor-bad-dtype", lambda: T(1.0, dtype="U3"), TypeError, ["dtype"]),
    ("var-string", lambda: tg.Var("abc"), TypeError, ["string"]),
    ("assign-shape", lambda: _var().assign(np.ones(4)), ValueError, ["assign", "(4,)", "(3,)"]),
    ("assign-dtype", lambda: _var().assign(np.array(["a", "b", "c"])), TypeError, ["assign", "<U1"]),
    ("assign_add-shape", lambda: _var().assign_add(np.ones((3, 1))), ValueError, ["assign_add", "(3, 1)"]),
    ("watch-int", lambda: tg.GradientTape().watch(T(np.arange(3))), TypeError, ["watch", "int"]),
    ("watch-non-tensor", lambda: tg.GradientTape().watch(np.ones(2)), TypeError, ["watch", "ndarray"]),
    ("len-0d", lambda: len(T(1.0)), TypeError, ["0-d"]),
    ("iter-0d", lambda: iter(T(1.0)), TypeError, ["0-d"]),
    ("bool-many", lambda: bool(T(ones(2))), ValueError, ["ambiguous"]),
    ("index-float", lambda: [1, 2][T(1.0)], TypeError, ["integer"]),
    ("invert-float", lambda: ~T(ones(2)), TypeError, ["invert", "float64"]),
    ("one_hot-float", lambda: tg.one_hot(np.array([0.5]), 3), TypeError, ["one_hot", "float64"]),
    ("one_hot-depth", lambda: tg.one_hot([0], -1), ValueError, ["one_hot", "depth"]),
    ("one_hot-axis", lambda: tg.one_hot([0, 1], 3, axis=4), ValueError, ["one_hot", "axis"]),
    ("zeros-shape", lambda: tg.zeros("ab"), TypeError, ["zeros", "shape"]),
    ("constant-shape", lambda: tg.constant([1, 2, 3], shape=(2, 2)), TypeError, ["constant", "(2, 2)"]),
    ("range-delta", lambda: tg.range(0, 5, 0), ValueError, ["range", "delta"]),
    ("add_n-empty", lambda: tg.add_n([]), ValueError, ["add_n"]),
]


@pytest.mark.parametrize("fn,exc,words", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_input_raises_a_clear_error(fn, exc, words):
    expect_error(fn, exc, *words)


def _tape_case(kind):
    w = tg.Var(np.ones(3))
    with tg.GradientTape() as tape:
        y = (w * w).sum()
    if kind == "twice":
        tape.gradient(y, w)
        return tape.gradient(y, w)
    if kind == "unconnected":
        return tape.gradient(y, w, unconnected_gradients="zeros")
    if kind == "og-shape":
        return tape.gradient(y, w, output_gradients=np.ones(2))
    if kind == "og-count":
        return tape.gradient([y, y], w, output_gradients=[1.0])
    if kind == "source":
        return tape.gradient(y, [w, 3.0])
    if kind == "int-source":
        return tape.gradient(y, tg.Var(0))
    if kind == "target":
        return tape.gradient("y", w)
    if kind == "int-target":
        return tape.gradient(T(np.arange(2)), w)
    if kind == "stop-outside":
        return tape.stop_recording()
    if kind == "jacobian-target":
        return tape.jacobian([y], w)
    if kind == "batch-jacobian":
        return tape.batch_jacobian(w * 2, T(np.ones((2, 3))))
    raise AssertionError(kind)


TAPE = [("twice", RuntimeError, ["persistent"]), ("unconnected", ValueError, ["unconnected_gradients"]),
        ("og-shape", ValueError, ["output_gradients", "(2,)"]), ("og-count", ValueError, ["output_gradients"]),
        ("source", TypeError, ["sources", "float"]), ("int-source", TypeError, ["int32", "Var(0.0)"]),
        ("target", TypeError, ["target", "str"]), ("int-target", TypeError, ["target", "int"]),
        ("stop-outside", RuntimeError, ["stop_recording", "not active"]),
        ("jacobian-target", TypeError, ["jacobian", "target"]),
        ("batch-jacobian", ValueError, ["batch_jacobian", "(3,)", "(2, 3)"])]


@pytest.mark.parametrize("kind,exc,words", TAPE, ids=[t[0] for t in TAPE])
def test_tape_misuse_raises_a_clear_error(kind, exc, words):
    expect_error(lambda: _tape_case(kind), exc, *words)


def test_reentering_a_tape_raises():
    tape = tg.GradientTape()
    with tape:
        with pytest.raises(RuntimeError, match="already active"):
            tape.__enter__()


def test_numpy_exception_classes_keep_their_type_and_gain_the_op():
    """apply() must not rebuild exceptions whose class has another constructor (NumPy's own)."""
    class Odd(ValueError):
        def __init__(self, a, b):
            super().__init__(f"odd {a} {b}")

    @tg.op
    class raises_odd:
        def forward(x):
            raise Odd(1, 2)

        def backward(_, g, needs):
            return (g,)

    with pytest.raises(Odd) as info:
        raises_odd(T(ones(2)))
    assert any("raises_odd" in n for n in getattr(info.value, "__notes__", []))


IEEE = [
    ("logsumexp all -inf", lambda: tg.logsumexp(T(np.array([[-np.inf, -np.inf], [0.0, 0.0]])), axis=1),
     [-np.inf, np.log(2.0)]),
    ("logsumexp +inf", lambda: tg.logsumexp(T(np.array([[np.inf, 1.0]])), axis=1), [np.inf]),
    ("logsumexp nan", lambda: tg.logsumexp(T(np.array([np.nan, 1.0]))), np.nan),
    ("var ddof >= n", lambda: tg.var(T(np.array([1.0, 2.0])), ddof=2), np.inf),
    ("log 0", lambda: tg.log(T(np.array([0.0]))), [-np.inf]),
    ("softmax nan", lambda: tg.softmax(T(np.array([0.0, np.nan, 1.0]))), [np.nan] * 3),
    ("sigmoid float16", lambda: tg.sigmoid(T(np.float16(0.0))), 0.5),
]


@pytest.mark.parametrize("fn,expected", [c[1:] for c in IEEE], ids=[c[0] for c in IEEE])
def test_ieee_results(fn, expected):
    with np.errstate(all="ignore"):
        got = fn().numpy()
    np.testing.assert_array_equal(got, np.asarray(expected, dtype=got.dtype))


def test_sigmoid_keeps_float16_and_var_backward_with_large_ddof_is_not_an_exception():
    assert tg.sigmoid(T(np.ones(2, np.float16))).dtype == np.float16
    v = tg.Var(np.array([1.0, 3.0]))
    with tg.GradientTape() as tape:
        y = tg.var(v, ddof=2)
    with np.errstate(all="ignore"):
        g = tape.gradient(y, v).numpy()
    assert not np.isfinite(g).any()           # inf/nan, as the division by zero says; no ZeroDivisionError


def test_gradient_of_logsumexp_at_inf_rows_is_nan_not_an_error():
    x = tg.Var(np.array([[-np.inf, 0.0], [1.0, 2.0]]))
    with tg.GradientTape() as tape:
        y = tg.logsumexp(x, axis=1).sum()
    with np.errstate(all="ignore"):
        g = tape.gradient(y, x).numpy()
    np.testing.assert_allclose(g[1], np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum())
    np.testing.assert_allclose(g[0], [0.0, 1.0])
