"""In-place optimizer kernels == the Keras formulas written in NumPy."""
import numpy as np
import pytest

from tinygrad_bn._kernels import optim as K

SHAPES = [(), (1,), (7,), (3, 5), (70000,)]   # 0-d, tiny, 2-D, large (threads)
RTOL = {np.float32: 2e-6, np.float64: 1e-13}


def arrays(shape, dtype, seed, n):
    rng = np.random.default_rng(seed)
    return [np.array(rng.standard_normal(shape), dtype=dtype, order="C") for _ in range(n)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(shape, dtype, momentum, nesterov):
    p, g, vel = arrays(shape, dtype, 1, 3)
    lr = 0.05
    rp, rv = p.copy(), vel.copy()
    for _ in range(3):
        if momentum:
            rv = momentum * rv - lr * g
            rp = rp + (momentum * rv - lr * g if nesterov else rv)
        else:
            rp = rp - lr * g
        K.sgd_update(p, g, vel if momentum else None, lr, momentum, nesterov)
    np.testing.assert_allclose(p, rp, rtol=RTOL[dtype], atol=1e-7)
    if momentum:
        np.testing.assert_allclose(vel, rv, rtol=RTOL[dtype], atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop(shape, dtype, momentum):
    p, g, mom = arrays(shape, dtype, 2, 3)
    ms = np.array(np.abs(arrays(shape, dtype, 3, 1)[0]))
    lr, rho, eps = 0.01, 0.9, 1e-7
    rp, rms, rmom = p.copy(), ms.copy(), mom.copy()
    for _ in range(3):
        rms = rho * rms + (1 - rho) * g * g
        inc = lr * g / np.sqrt(rms + eps)
        if momentum:
            rmom = momentum * rmom + inc
            rp = rp - rmom
        else:
            rp = rp - inc
        K.rmsprop_update(p, g, ms, mom if momentum else None, lr, rho, momentum, eps)
    np.testing.assert_allclose(ms, rms, rtol=RTOL[dtype])
    np.testing.assert_allclose(p, rp, rtol=RTOL[dtype], atol=1e-7)
    if momentum:
        np.testing.assert_allclose(mom, rmom, rtol=RTOL[dtype], atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam(shape, dtype, amsgrad):
    p, g = arrays(shape, dtype, 4, 2)
    m = np.zeros(shape, dtype)
    v = np.zeros(shape, dtype)
    vhat = np.zeros(shape, dtype) if amsgrad else None
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
    rp, rm, rv = p.copy(), m.copy(), v.copy()
    rvh = None if vhat is None else vhat.copy()
    for t in range(1, 4):
        gt = g * (1.0 if t != 2 else -0.3)        # v decreases at step 2: amsgrad keeps the max
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        rm = rm + (gt - rm) * (1 - b1)
        rv = rv + (gt * gt - rv) * (1 - b2)
        if rvh is not None:
            rvh = np.maximum(rvh, rv)
            rp = rp - alpha * rm / (np.sqrt(rvh) + eps)
        else:
            rp = rp - alpha * rm / (np.sqrt(rv) + eps)
        K.adam_update(p, gt, m, v, vhat, alpha, b1, b2, eps)
    np.testing.assert_allclose(m, rm, rtol=RTOL[dtype], atol=1e-10)
    np.testing.assert_allclose(v, rv, rtol=RTOL[dtype], atol=1e-12)
    np.testing.assert_allclose(p, rp, rtol=RTOL[dtype], atol=1e-7)
    if amsgrad:
        np.testing.assert_allclose(vhat, rvh, rtol=RTOL[dtype])


def test_grad_any_dtype_and_layout_is_converted():
    p = np.zeros((4, 3), np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    g = np.arange(24, dtype=np.float64).reshape(4, 6)[:, ::2]   # float64, strided
    K.adam_update(p, g, m, v, None, 0.1, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(m, 0.1 * g.astype(np.float32), rtol=1e-6)
    p2 = np.zeros(3)
    K.sgd_update(p2, np.array([1, 2, 3], np.float32), None, 0.5, 0.0, False)
    np.testing.assert_allclose(p2, [-0.5, -1, -1.5])


def test_errors_name_kernel_shapes_dtypes():
    p = np.zeros(3, np.float32)
    with pytest.raises(TypeError, match=r"adam_update: m .*float32 or float64.*int64"):
        K.adam_update(p, p.copy(), np.zeros(3, np.int64), np.zeros(3, np.float32), None, 0.1, 0.9, 0.99, 1e-7)
    with pytest.raises(TypeError, match=r"adam_update: v \(shape \(3,\) dtype float64\) must have the dtype of param"):
        K.adam_update(p, p.copy(), np.zeros(3, np.float32), np.zeros(3), None, 0.1, 0.9, 0.99, 1e-7)
    with pytest.raises(ValueError, match=r"sgd_update: velocity \(shape \(4,\).*shape of param \(shape \(3,\)"):
        K.sgd_update(p, p.copy(), np.zeros(4, np.float32), 0.1, 0.9, False)
    with pytest.raises(ValueError, match=r"rmsprop_update: grad .*shape"):
        K.rmsprop_update(p, np.zeros(4, np.float32), np.zeros(3, np.float32), None, 0.1, 0.9, 0.0, 1e-7)
    with pytest.raises(ValueError, match="C-contiguous"):
        K.sgd_update(np.zeros(6, np.float32)[::2], p, None, 0.1, 0.0, False)
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        K.sgd_update(ro, p, None, 0.1, 0.0, False)
    with pytest.raises(TypeError, match="param must be a NumPy array"):
        K.sgd_update([0.0, 1.0], p, None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match="needs a velocity"):
        K.sgd_update(p, p.copy(), None, 0.1, 0.9, False)
    with pytest.raises(TypeError, match="grad must be floating point"):
        K.sgd_update(p, np.zeros(3, np.int64), None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match="v shares memory with m"):
        m = np.zeros(3, np.float32)
        K.adam_update(p, p.copy(), m, m, None, 0.1, 0.9, 0.99, 1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("baseline", [False, True])
def test_adam_vector_loop_is_exactly_the_formula(dtype, amsgrad, baseline):
    # the vectorised loop (vector body + scalar tail, both ISAs) does the scalar formula's
    # roundings: equal bit for bit to the same formula in NumPy in the arrays' dtype
    level = K.select_isa()
    try:
        K.select_isa(baseline=baseline)
        for n in (1, 3, 4, 5, 8, 9, 17, 1000, 70001):
            p, g, m = arrays((n,), dtype, 11, 3)
            v = np.abs(arrays((n,), dtype, 12, 1)[0])
            vh = np.abs(arrays((n,), dtype, 13, 1)[0]) if amsgrad else None
            alpha, b1, b2, eps = 1e-3 * np.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2), 0.9, 0.999, 1e-7
            t = np.dtype(dtype).type
            rm = m + (g - m) * t(1 - b1)
            rv = v + (g * g - v) * t(1 - b2)
            d = rv if vh is None else np.where(vh > rv, vh, rv)
            rp = p - t(alpha) * rm / (np.sqrt(d) + t(eps))
            K.adam_update(p, g, m, v, vh, alpha, b1, b2, eps)
            np.testing.assert_array_equal(m, rm)
            np.testing.assert_array_equal(v, rv)
            np.testing.assert_array_equal(p, rp)
            if amsgrad:
                np.testing.assert_array_equal(vh, d)
    finally:
        assert K.select_isa() == level


def test_adam_grad_aliasing_param_matches_scalar_order():
    # grad may be param's own array: every element reads g and p before writing p
    p = np.linspace(-1, 1, 37, dtype=np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    ref_p, ref_m, ref_v = p.copy(), m.copy(), v.copy()
    K.adam_update(ref_p, p.copy(), ref_m, ref_v, None, 0.1, 0.9, 0.999, 1e-7)
    K.adam_update(p, p, m, v, None, 0.1, 0.9, 0.999, 1e-7)
    np.testing.assert_array_equal(p, ref_p)
    np.testing.assert_array_equal(m, ref_m)
