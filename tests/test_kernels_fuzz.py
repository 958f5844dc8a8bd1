"""Hypothesis fuzzing of every fused kernel against a NumPy reference in np.longdouble,
including NaN / inf inputs (issue 8: wherever the composite definition gives NaN, so must
the kernel).  The references are the composite definitions written in NumPy:

* batch norm: mean, biased var, ``gamma * (x - mean) / sqrt(var + eps) + beta``;
* softmax CE: ``-sum(t * log_softmax(x))`` with the one-hot / smoothed target t, gradient
  ``(softmax(x) * sum(t) - t) * scale``;
* optimizers: the Keras update formulas.

Each kernel is also run with the float32 C loops replaced by the plain Cython ones
(``select_isa(level=-1)``) and with the baseline C loops (``level=0``).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_bn._kernels import batchnorm as BN
from tinygrad_bn._kernels import optim as OPT
from tinygrad_bn._kernels import softmax_ce as CE

LD = np.longdouble
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                derandomize=True)
LEVELS = [-1, 0, 1]


@pytest.fixture(params=LEVELS, ids=["cython", "baseline", "best"])
def level(request):
    mods = (BN, CE, OPT)
    before = [m.select_isa() for m in mods]
    for m in mods:
        m.select_isa(level=request.param)
    yield request.param
    for m, lev in zip(mods, before):
        m.select_isa(level=lev)


def _close(got, ref, dtype, what, scale=None, cond=1.0):
    """NaN exactly where the reference has NaN, infinities equal, finite values within a few
    ulps of the dtype relative to the reference's magnitude (times ``cond``, the condition
    number of the problem, e.g. |mean| / std for batch norm)."""
    got = np.asarray(got, dtype=LD)
    ref = np.asarray(ref, dtype=LD)
    assert np.array_equal(np.isnan(got), np.isnan(ref)), f"{what}: NaN pattern differs\n{got}\n{ref}"
    inf = np.isinf(ref)
    assert np.array_equal(got[inf], ref[inf]), f"{what}: infinities differ"
    fin = np.isfinite(ref)
    assert np.isfinite(got[fin]).all(), f"{what}: non-finite where the reference is finite"
    if fin.any():
        s = np.max(np.abs(ref[fin])) if scale is None else scale
        tol = (2e-5 if dtype == np.float32 else 1e-11) * (s + 1) * cond
        err = np.max(np.abs(got[fin] - ref[fin]))
        assert err <= tol, f"{what}: max error {err} > {tol}"


def _special(draw, shape, dtype, p=0.15):
    """Finite values with some NaN / +inf / -inf sprinkled in (or none)."""
    x = draw(hnp.arrays(dtype, shape, elements=st.floats(-30, 30, width=32)))
    if draw(st.booleans()):
        mask = draw(hnp.arrays(np.int8, shape, elements=st.sampled_from([0] * 8 + [1, 2, 3])))
        x = x.copy()
        x[mask == 1] = np.nan
        x[mask == 2] = np.inf
        x[mask == 3] = -np.inf
    return x


# ---------------------------------------------------------------------------
# softmax cross-entropy
# ---------------------------------------------------------------------------

def ce_ref(x, t, scale, labels=None, ls=0.0):
    """The composite: integer labels pick -(1 - ls) * logp[label] (- ls / C * sum(logp) when
    smoothing), dense labels give -sum(t * logp); t is the smoothed target."""
    x = x.astype(LD)
    t = t.astype(LD)
    with np.errstate(all="ignore"):
        m = x.max(axis=1, keepdims=True)                # NaN-propagating, as the composite
        z = x - m
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        logp = z - lse
        if labels is None:
            loss = -(t * logp).sum(axis=1)
        else:
            c = x.shape[1]
            loss = -logp[np.arange(len(labels)), labels] * LD(1 - ls)
            if ls:
                loss = loss - logp.sum(axis=1) * LD(ls / c)
        grad = (np.exp(logp) * t.sum(axis=1, keepdims=True) - t) * scale
    return loss, grad


@st.composite
def ce_case(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, 19))
    # 33 .. 130: the row path (its vector max loop runs from C = 64 on)
    c = draw(st.sampled_from([1, 2, 3, 7, 8, 10, 17, 32, 33, 40, 70, 130]))
    x = _special(draw, (n, c), dtype) if draw(st.booleans()) else draw(
        hnp.arrays(dtype, (n, c), elements=st.floats(-50, 50, width=32)))
    ls = draw(st.sampled_from([0.0, 0.1, 1.0]))
    sparse = draw(st.booleans())
    labels = np.asarray(draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1))))
    if sparse:
        t = np.eye(c)[labels]
    else:
        y = draw(hnp.arrays(dtype, (n, c), elements=st.floats(0, 1, width=32)))
        labels = y
        t = y.astype(np.float64)
    t = t * (1 - ls) + ls / c
    return x, labels, t, ls, sparse


@FUZZ
@given(case=ce_case(), scale=st.sampled_from([1.0, 0.25]))
def test_softmax_ce_fuzz(level, case, scale):
    x, labels, t, ls, sparse = case
    n, c = x.shape
    grad, loss = np.empty_like(x), np.empty(n)
    fn = CE.ce_forward_sparse if sparse else CE.ce_forward_dense
    total = fn(x, labels, ls, scale, grad, loss)
    rl, rg = ce_ref(x, t, scale, labels if sparse else None, ls)
    _close(loss, rl, x.dtype, "loss")
    _close(grad, rg, x.dtype, "grad", scale=scale)
    with np.errstate(all="ignore"):
        _close([total], [rl.sum()], x.dtype, "total")


def test_softmax_ce_nan_logit_issue_case():
    # issue 8: [[0, nan, 0]], label 0 gave loss 0.693 in float32
    for dtype in (np.float32, np.float64):
        for c in (3, 40):                               # lane path and row path
            x = np.zeros((1, c), dtype)
            x[0, 1] = np.nan
            g, loss = np.empty_like(x), np.empty(1)
            total = CE.ce_forward_sparse(x, np.array([0]), 0.0, 1.0, g, loss)
            assert np.isnan(total) and np.isnan(loss).all() and np.isnan(g).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [10, 1000])
def test_softmax_ce_nan_in_parallel_blocks(level, dtype, c):
    rng = np.random.default_rng(5)
    n = 262144 // c + 40                               # above the parallel size
    x = rng.standard_normal((n, c)).astype(dtype)
    bad = rng.choice(n, 9, replace=False)
    x[bad, rng.integers(0, c, 9)] = np.nan
    y = rng.integers(0, c, n)
    g, loss = np.empty_like(x), np.empty(n)
    CE.ce_forward_sparse(x, y, 0.0, 1.0, g, loss)
    assert np.array_equal(np.isnan(loss), np.isin(np.arange(n), bad))
    assert np.array_equal(np.isnan(g).all(axis=1), np.isin(np.arange(n), bad))
    assert not np.isnan(np.delete(g, bad, axis=0)).any()


def test_expf_propagates_nan():
    x = np.array([0.0, -1.0, -87.5, -np.inf, np.nan, -0.0, -1e-30] + [-5.0] * 9, np.float32)
    out = np.empty_like(x)
    CE.expf_vec(x, out)
    assert np.isnan(out[4]) and out[3] == 0 and out[2] == 0 and out[0] == 1 and out[5] == 1
    np.testing.assert_allclose(out[[1, 6, 7]], np.exp(x[[1, 6, 7]].astype(np.float64)), rtol=3e-7)


# ---------------------------------------------------------------------------
# batch norm
# ---------------------------------------------------------------------------

def bn_ref(x, gamma, beta, dy, eps):
    x, gamma, beta, dy = (a.astype(LD) for a in (x, gamma, beta, dy))
    n = x.shape[0]
    with np.errstate(all="ignore"):
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc * xc).mean(axis=0)
        inv = 1 / np.sqrt(var + LD(eps))
        xhat = xc * inv
        y = gamma * xhat + beta
        dbeta = dy.sum(axis=0)
        dgamma = (dy * xhat).sum(axis=0)
        dx = gamma * inv / n * (n * dy - dbeta - xhat * dgamma)
    return y, mu, var, dx, dgamma, dbeta


@st.composite
def bn_case(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(2, 45))
    d = draw(st.integers(1, 21))
    if draw(st.booleans()):
        x = _special(draw, (n, d), dtype, p=0.05)
    else:
        loc = draw(st.sampled_from([0.0, 3.0, 1e4]))
        sd = draw(st.sampled_from([1e-2, 1.0, 5.0]))
        z = draw(hnp.arrays(np.float64, (n, d), elements=st.floats(-3, 3)))
        x = (loc + sd * z).astype(dtype)
    gamma = draw(hnp.arrays(dtype, d, elements=st.floats(0.5, 2, width=32)))
    beta = draw(hnp.arrays(dtype, d, elements=st.floats(-1, 1, width=32)))
    dy = draw(hnp.arrays(dtype, (n, d), elements=st.floats(-2, 2, width=32)))
    if draw(st.integers(0, 5)) == 0:
        dy = dy.copy()
        dy[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = np.nan
    return x, gamma, beta, dy


@FUZZ
@given(case=bn_case())
def test_batch_norm_fuzz(level, case):
    x, gamma, beta, dy = case
    eps = 1e-3
    y, mu, var, inv = BN.bn_train_forward(x, gamma, beta, eps)
    dx, dg, db = BN.bn_train_backward(x, dy, mu, inv, gamma)
    ry, rmu, rvar, rdx, rdg, rdb = bn_ref(x, gamma, beta, dy, eps)
    # the input's own rounding is amplified by |mean| / sqrt(var + eps) (a float64 reference
    # is itself off by that much): the tolerance scales with it
    fc = np.isfinite(rmu) & np.isfinite(rvar)
    cond = float(np.max(np.abs(rmu[fc]) / np.sqrt(rvar[fc] + LD(eps)), initial=0)) + 1.0

    def big(a):
        return float(np.max(np.abs(a[np.isfinite(a)]), initial=1))
    _close(mu, rmu, x.dtype, "mean", scale=big(rmu))
    _close(y, ry, x.dtype, "y", scale=big(ry), cond=cond)
    _close(dx, rdx, x.dtype, "dx", scale=big(rdx), cond=cond)
    _close(db, rdb, x.dtype, "dbeta")
    _close(dg, rdg, x.dtype, "dgamma", scale=big(rdg) + big(rdb), cond=cond)
    assert np.array_equal(np.isnan(var), np.isnan(rvar))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_batch_norm_non_finite_in_parallel_blocks(level, dtype, bad):
    rng = np.random.default_rng(7)
    n, d = 2100, 512                                   # several blocks, parallel
    x = rng.standard_normal((n, d)).astype(dtype)
    x[777, 5] = bad
    g, b = np.ones(d, dtype), np.zeros(d, dtype)
    y, mu, var, inv = BN.bn_train_forward(x, g, b, 1e-3)
    col = np.zeros(d, bool)
    col[5] = True
    assert np.array_equal(np.isnan(var), col)          # inf - inf / inf * 0 in the composite too
    assert np.isnan(y[:, 5]).all() and not np.isnan(np.delete(y, 5, axis=1)).any()
    dy = rng.standard_normal((n, d)).astype(dtype)
    dy[10, 9] = np.nan
    x[777, 5] = 0
    y, mu, var, inv = BN.bn_train_forward(x, g, b, 1e-3)
    dx, dg, db = BN.bn_train_backward(x, dy, mu, inv, g)
    col = np.zeros(d, bool)
    col[9] = True
    assert np.array_equal(np.isnan(dg), col) and np.array_equal(np.isnan(db), col)
    assert np.isnan(dx[:, 9]).all() and not np.isnan(np.delete(dx, 9, axis=1)).any()


def test_batch_norm_inference_nan():
    x = np.ones((5, 3), np.float32)
    x[2, 1] = np.nan
    out = np.empty_like(x)
    BN.bn_affine(x, np.ones(3), np.zeros(3), out)
    assert np.array_equal(np.isnan(out), np.isnan(x))
    dx, s1, s2 = np.empty_like(x), np.empty(3), np.empty(3)
    BN.bn_infer_backward(x, np.ones_like(x), np.zeros(3), np.ones(3), dx, s1, s2)
    assert np.isnan(s2[1]) and not np.isnan(s2[[0, 2]]).any() and not np.isnan(s1).any()


# ---------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------

@st.composite
def opt_case(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.sampled_from([1, 3, 8, 17, 40]))
    p = draw(hnp.arrays(dtype, n, elements=st.floats(-5, 5, width=32)))
    g = _special(draw, n, dtype) if draw(st.booleans()) else draw(
        hnp.arrays(dtype, n, elements=st.floats(-5, 5, width=32)))
    s1 = draw(hnp.arrays(dtype, n, elements=st.floats(0, 2, width=32)))
    s2 = draw(hnp.arrays(dtype, n, elements=st.floats(0, 2, width=32)))
    s3 = draw(hnp.arrays(dtype, n, elements=st.floats(0, 2, width=32)))
    if draw(st.integers(0, 3)) == 0:
        s3 = s3.copy()
        s3[0] = np.nan                                  # a NaN already in a slot
    return p, g, s1, s2, s3


@FUZZ
@given(case=opt_case(), amsgrad=st.booleans())
def test_adam_fuzz(level, case, amsgrad):
    p, g, m, v, vh = (a.copy() for a in case)
    a, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7
    P, G, M, V, H = (x.astype(LD) for x in (p, g, m, v, vh))
    with np.errstate(all="ignore"):
        M = M + (G - M) * LD(1 - b1)
        V = V + (G * G - V) * LD(1 - b2)
        H = np.maximum(H, V)
        P = P - LD(a) * M / (np.sqrt(H if amsgrad else V) + LD(eps))
    OPT.adam_update(p, g, m, v, vh if amsgrad else None, a, b1, b2, eps)
    _close(m, M, p.dtype, "m")
    _close(v, V, p.dtype, "v")
    _close(p, P, p.dtype, "param")
    if amsgrad:
        _close(vh, H, p.dtype, "vhat")


@FUZZ
@given(case=opt_case(), momentum=st.sampled_from([0.0, 0.9]))
def test_rmsprop_fuzz(level, case, momentum):
    p, g, ms, mom, _ = (a.copy() for a in case)
    lr, rho, eps = 1e-2, 0.9, 1e-7
    P, G, S, MO = (x.astype(LD) for x in (p, g, ms, mom))
    with np.errstate(all="ignore"):
        S = LD(rho) * S + LD(1 - rho) * G * G
        inc = LD(lr) * G / np.sqrt(S + LD(eps))
        if momentum:
            MO = LD(momentum) * MO + inc
            P = P - MO
        else:
            P = P - inc
    OPT.rmsprop_update(p, g, ms, mom if momentum else None, lr, rho, momentum, eps)
    _close(ms, S, p.dtype, "ms")
    _close(p, P, p.dtype, "param")
    if momentum:
        _close(mom, MO, p.dtype, "mom")


@FUZZ
@given(case=opt_case(), momentum=st.sampled_from([0.0, 0.9]), nesterov=st.booleans())
def test_sgd_fuzz(case, momentum, nesterov):
    p, g, vel, _, _ = (a.copy() for a in case)
    lr = 1e-2
    P, G, VL = (x.astype(LD) for x in (p, g, vel))
    with np.errstate(all="ignore"):
        if momentum:
            VL = LD(momentum) * VL - LD(lr) * G
            P = P + (LD(momentum) * VL - LD(lr) * G if nesterov else VL)
        else:
            P = P - LD(lr) * G
    OPT.sgd_update(p, g, vel if momentum else None, lr, momentum, nesterov)
    _close(p, P, p.dtype, "param")
    if momentum:
        _close(vel, VL, p.dtype, "velocity")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_nan_in_parallel_blocks(level, dtype):
    n = 300_003                                        # above the parallel size
    rng = np.random.default_rng(9)
    g = rng.standard_normal(n).astype(dtype)
    g[[5, 250_000]] = np.nan
    for kernel in ("adam", "amsgrad", "rmsprop"):
        p = np.zeros(n, dtype)
        s = [np.zeros(n, dtype) for _ in range(3)]
        s[2][7] = np.nan                                  # a NaN in vhat alone also propagates
        if kernel == "rmsprop":
            OPT.rmsprop_update(p, g, s[0], None, 1e-3, 0.9, 0.0, 1e-7)
        else:
            OPT.adam_update(p, g, s[0], s[1], s[2] if kernel == "amsgrad" else None,
                            1e-3, 0.9, 0.999, 1e-7)
        want = [5, 250_000] + ([7] if kernel == "amsgrad" else [])
        assert sorted(np.flatnonzero(np.isnan(p))) == sorted(want), kernel
