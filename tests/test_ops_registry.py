"""Registry-driven op tests (PyTorch's OpInfo idea): every registered built-in op, every sample
in ``tests/op_samples.py``: gradcheck and gradgradcheck in float64, the dtype rules, and the
NumPy-protocol path (``np.exp(t)`` ...) giving the same value and gradient as the op."""
import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.keras  # noqa: F401  registers the layers' and losses' ops
import tinygrad_bn.keras.activations  # noqa: F401
import tinygrad_bn.nn  # noqa: F401

from op_samples import SAMPLES

BUILTIN = sorted(name for name, o in tg.REGISTRY.items()
                 if getattr(o.forward, "__module__", "").startswith("tinygrad_bn."))
CASES = [(name, i) for name in BUILTIN for i in range(len(SAMPLES.get(name, ())))]


def test_every_builtin_op_has_samples():
    missing = [name for name in BUILTIN if not SAMPLES.get(name)]
    assert not missing, f"built-in ops without samples in tests/op_samples.py: {missing}"


def _free(sample):
    """Indexes of the sample's differentiable inputs (float, not declared constant)."""
    return [i for i, a in enumerate(sample.tensors)
            if np.asarray(a).dtype.kind == "f" and i not in sample.const]


def _split(sample):
    """(differentiable inputs as float64, a function of them calling an op with the rest fixed)."""
    free = _free(sample)

    def call(op, *xs):
        args = list(sample.tensors)
        for i, x in zip(free, xs):
            args[i] = x
        return op(*args, *sample.attrs, **sample.kwargs)
    return [np.asarray(sample.tensors[i], dtype=np.float64) for i in free], call


@pytest.mark.parametrize("name,i", CASES)
def test_gradcheck(name, i):
    op = tg.REGISTRY[name]
    xs, call = _split(SAMPLES[name][i])
    if not xs:
        pytest.skip("no differentiable input")
    if name == "stop_gradient":
        with tg.GradientTape() as tape:
            x = tg.Tensor(xs[0])
            tape.watch(x)
            y = op(x)
        assert tape.gradient(y, x) is None
        return
    assert tg.gradcheck(lambda *ts: call(op, *ts), *xs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name,i", CASES)
def test_gradgradcheck(name, i):
    op = tg.REGISTRY[name]
    xs, call = _split(SAMPLES[name][i])
    if not xs or name == "stop_gradient":
        pytest.skip("no differentiable input")
    assert tg.gradgradcheck(lambda *ts: call(op, *ts), *xs, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name,i", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(name, i, dtype):
    """Float inputs of one dtype give an output and gradients of that dtype (cast: its target)."""
    op = tg.REGISTRY[name]
    xs, call = _split(SAMPLES[name][i])
    if not xs:
        pytest.skip("no differentiable input")
    ts = [tg.Tensor(x.astype(dtype)) for x in xs]
    sample = SAMPLES[name][i]
    args = [np.asarray(a).astype(dtype) if np.asarray(a).dtype.kind == "f" else a for a in sample.tensors]
    for j, t in zip(_free(sample), ts):
        args[j] = t
    with tg.GradientTape() as tape:
        tape.watch(ts)
        y = op(*args, *sample.attrs, **sample.kwargs)
    expected = np.dtype(sample.attrs[0]) if name == "cast" else np.dtype(dtype)
    assert y.dtype == expected
    for t, g in zip(ts, tape.gradient(y, ts)):
        assert g is None or g.dtype == dtype


NUMPY_CASES = [(name, i) for name, i in CASES if SAMPLES[name][i].numpy is not None]


@pytest.mark.parametrize("name,i", NUMPY_CASES)
def test_numpy_function_on_tensors_is_the_op(name, i):
    """np.<fn>(tensors) dispatches to the op (NEP 13/18): same value, recorded, same gradient."""
    sample = SAMPLES[name][i]
    op = tg.REGISTRY[name]
    xs, call = _split(sample)

    def via_numpy(*ts):
        args = list(sample.tensors)
        for j, t in zip(_free(sample), ts):
            args[j] = t
        return sample.numpy(*args, *sample.attrs, **sample.kwargs)

    ts1 = [tg.Tensor(x) for x in xs]
    ts2 = [tg.Tensor(x) for x in xs]
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(ts1 + ts2)
        y_op = call(op, *ts1)
        y_np = via_numpy(*ts2)
    assert isinstance(y_np, tg.Tensor), f"np function on tensors returned {type(y_np).__name__}"
    np.testing.assert_allclose(y_np.numpy(), y_op.numpy(), rtol=1e-12, atol=1e-12)
    ref = sample.numpy(*[np.asarray(a) for a in sample.tensors], *sample.attrs, **sample.kwargs)
    np.testing.assert_allclose(y_np.numpy(), ref, rtol=1e-12, atol=1e-12)
    u = np.random.default_rng(0).standard_normal(y_op.shape)
    g_op = tape.gradient(y_op, ts1, output_gradients=u)
    g_np = tape.gradient(y_np, ts2, output_gradients=u)
    for a, b in zip(g_op, g_np):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-12)
