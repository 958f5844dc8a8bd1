"""Higher-order gradients with TF's semantics: a gradient computed while an outer tape
records is recorded by it; jacobian / batch_jacobian; custom ops; fused ops through their
composite twins."""
import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn.ops.batchnorm import batch_norm
from tinygrad_bn.ops.softmax_ce import softmax_cross_entropy


def test_newton_step_on_the_course_cost_lands_on_5():
    w = tg.Var(0.0, dtype=np.float64)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            cost = w ** 2 - 10 * w + 25
        g = inner.gradient(cost, w)
    h = outer.gradient(g, w)
    assert float(g) == -10.0 and float(h) == 2.0
    w.assign_sub(g / h)
    assert abs(float(w) - 5.0) < 1e-12


def test_third_derivative_through_three_tapes():
    x = tg.Var(0.7, dtype=np.float64)
    with tg.GradientTape() as t3:
        with tg.GradientTape() as t2:
            with tg.GradientTape() as t1:
                y = tg.sin(x) * x
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    v = 0.7       # y = x sin x: y''' = -3 sin x - x cos x
    np.testing.assert_allclose(float(d3), -3 * np.sin(v) - v * np.cos(v), rtol=1e-12)


def test_no_outer_tape_records_nothing_extra():
    w = tg.Var(np.array([1.0, 2.0]))
    with tg.GradientTape() as tape:
        y = (tg.exp(w) * w).sum()
    n = len(tape)
    g = tape.gradient(y, w)
    assert n == 3 and type(g.data) is np.ndarray
    # a gradient taken inside an outer tape that does not watch anything involved stays constant
    with tg.GradientTape(watch_accessed_variables=False) as outer:
        with tg.GradientTape() as inner:
            y = (w * w).sum()
        g = inner.gradient(y, w)
    assert len(outer) == 0 and outer.gradient(g, w) is None


def _mlp_params(rng, dtype=np.float64):
    return [tg.Var(rng.standard_normal((4, 5)) * 0.5), tg.Var(rng.standard_normal(5) * 0.1),
            tg.Var(rng.standard_normal((5, 3)) * 0.5)]


def _mlp_loss(params, x, labels):
    w1, b1, w2 = params
    h = tg.tanh(x @ w1 + b1)
    return softmax_cross_entropy(h @ w2, labels)


def _bn_loss(params, x, labels):
    w1, gamma, beta, w2 = params
    h = tg.tanh(batch_norm(x @ w1, gamma, beta))
    return softmax_cross_entropy(h @ w2, labels)


def _grad(loss_fn, params, x, labels):
    with tg.GradientTape() as tape:
        loss = loss_fn(params, x, labels)
    return [g.numpy() for g in tape.gradient(loss, params)]


def _hvp(loss_fn, params, x, labels, vs):
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            loss = loss_fn(params, x, labels)
        grads = inner.gradient(loss, params)
        gv = sum((g * v).sum() for g, v in zip(grads, vs))
    return [h.numpy() for h in outer.gradient(gv, params)]


def _hvp_fd(loss_fn, params, x, labels, vs, eps=1e-5):
    base = [p.numpy() for p in params]
    out = []
    for sign in (1, -1):
        for p, b, v in zip(params, base, vs):
            p.assign(b + sign * eps * v)
        out.append(_grad(loss_fn, params, x, labels))
    for p, b in zip(params, base):
        p.assign(b)
    return [(a - b) / (2 * eps) for a, b in zip(*out)]


@pytest.mark.parametrize("fused", [True, False])
def test_hessian_vector_product_of_an_mlp_loss(fused):
    rng = np.random.default_rng(0)
    params = _mlp_params(rng)
    x = rng.standard_normal((8, 4))
    labels = rng.integers(0, 3, 8)
    vs = [rng.standard_normal(p.shape) for p in params]
    with tg.config(fused=fused):
        hv = _hvp(_mlp_loss, params, x, labels, vs)
        fd = _hvp_fd(_mlp_loss, params, x, labels, vs)
    for a, b in zip(hv, fd):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_hessian_vector_product_through_batch_norm_fused_equals_composite():
    rng = np.random.default_rng(1)
    params = [tg.Var(rng.standard_normal((4, 5))), tg.Var(rng.uniform(0.5, 1.5, 5)),
              tg.Var(rng.standard_normal(5) * 0.1), tg.Var(rng.standard_normal((5, 3)))]
    x = rng.standard_normal((10, 4))
    labels = rng.integers(0, 3, 10)
    vs = [rng.standard_normal(p.shape) for p in params]
    hv_fused = _hvp(_bn_loss, params, x, labels, vs)
    with tg.config(fused=False):
        hv_comp = _hvp(_bn_loss, params, x, labels, vs)
    fd = _hvp_fd(_bn_loss, params, x, labels, vs)
    for a, b, c in zip(hv_fused, hv_comp, fd):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-7)


def test_jacobian_of_softmax_is_its_closed_form():
    x = tg.Var(np.array([0.3, -1.2, 2.0, 0.1]))
    with tg.GradientTape() as tape:
        s = tg.softmax(x)
    jac = tape.jacobian(s, x)
    p = s.numpy()
    assert jac.shape == (4, 4)
    np.testing.assert_allclose(jac.numpy(), np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-15)


def test_jacobian_shapes_and_unconnected_like_tf():
    x = tg.Var(np.ones((2, 3)))
    u = tg.Var(np.ones(4))
    with tg.GradientTape(persistent=True) as tape:
        y = x * 2.0
    jx, ju = tape.jacobian(y, [x, u])
    assert jx.shape == (2, 3, 2, 3) and ju is None
    np.testing.assert_array_equal(jx.numpy().reshape(6, 6), 2 * np.eye(6))
    jz = tape.jacobian(y, u, unconnected_gradients="zero")
    assert jz.shape == (2, 3, 4) and not jz.numpy().any()


def test_batch_jacobian_equals_a_loop_of_jacobians():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 2))
    xs = rng.standard_normal((5, 3))
    x = tg.Var(xs)
    with tg.GradientTape(persistent=True) as tape:
        y = tg.tanh(x @ w) ** 2
    bj = tape.batch_jacobian(y, x).numpy()
    assert bj.shape == (5, 2, 3)
    for b in range(5):
        xb = tg.Var(xs[b])
        with tg.GradientTape() as t:
            yb = tg.tanh(xb @ w) ** 2
        np.testing.assert_allclose(bj[b], t.jacobian(yb, xb).numpy(), rtol=1e-12)


def test_custom_op_written_with_numpy_functions_is_differentiable_again():
    @tg.op
    class softcube:
        """x**3 / 3 + exp(x): backward written with NumPy functions and operators."""
        def forward(x):
            return x ** 3 / 3 + np.exp(x), x

        def backward(x, g, needs):
            return (g * (x * x + np.exp(x)),)

    assert tg.gradgradcheck(lambda t: softcube(t), np.array([0.3, -0.7, 1.1]))
    x = tg.Var(0.5, dtype=np.float64)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = softcube(x)
        g = inner.gradient(y, x)
    np.testing.assert_allclose(float(outer.gradient(g, x)), 2 * 0.5 + np.exp(0.5), rtol=1e-12)


def test_op_whose_backward_is_a_raw_array_call_refuses_higher_order():
    @tg.op
    class rawsquare:
        def forward(x):
            return x * x, x

        def backward(x, g, needs):
            return (2 * np.asarray(x) * np.asarray(g),)      # arrays only: a silent constant under a tape

    x = tg.Var(1.5, dtype=np.float64)
    with tg.GradientTape() as inner:
        y = rawsquare(x)
    assert float(inner.gradient(y, x)) == 3.0                # first order still works
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = rawsquare(x)
        with pytest.raises(TypeError, match="rawsquare"):
            inner.gradient(y, x)


def test_op_calling_a_kernel_in_backward_refuses_higher_order():
    from tinygrad_bn._kernels import batchnorm as kb

    @tg.op
    class kernel_scale:
        def forward(x):
            return x * 2.0, x

        def backward(x, g, needs):
            out = np.empty((1, g.shape[-1]))
            kb.bn_affine(g.reshape(1, -1), np.full(g.shape[-1], 2.0), np.zeros(g.shape[-1]), out)
            return (out.reshape(g.shape),)

    x = tg.Var(np.array([1.0, 2.0]))
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = kernel_scale(x).sum()
        with pytest.raises(TypeError, match="kernel_scale"):
            inner.gradient(y, x)


def test_gradient_penalty_style_second_order():
    """d/dw of |d(w.x)/dx|^2 (a WGAN-GP-like penalty): analytically 2 w."""
    w = tg.Var(np.array([0.5, -2.0, 1.5]))
    x = tg.Tensor(np.array([1.0, 2.0, 3.0]))
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            inner.watch(x)
            y = (w * x).sum()
        gx = inner.gradient(y, x)
        penalty = (gx * gx).sum()
    np.testing.assert_allclose(outer.gradient(penalty, w).numpy(), 2 * w.numpy())


def test_a_layer_casting_a_float64_input_keeps_it_on_the_tape():
    from tinygrad_bn.keras.layers import Dense
    layer = Dense(2, kernel_initializer="ones")
    v = tg.Var(np.arange(12.0).reshape(3, 4))          # float64 into a float32 layer
    with tg.GradientTape() as tape:
        y = layer(v).sum()
    g = tape.gradient(y, v)
    assert g is not None and g.dtype == np.float64
    np.testing.assert_allclose(g.numpy(), np.full((3, 4), 2.0))


def _third(fn, x0):
    x = tg.Var(np.array(x0, dtype=np.float64))
    with tg.GradientTape() as t3:
        with tg.GradientTape() as t2:
            with tg.GradientTape() as t1:
                y = fn(x)
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    return d1.numpy(), d2.numpy(), t3.gradient(d2, x).numpy()


def test_tanh_derivatives_to_third_order_through_tanh_grad():
    # d tanh = 1 - t^2, d2 = -2 t (1 - t^2), d3 = (6 t^2 - 2)(1 - t^2), t = tanh(x)
    x0 = np.array([-1.3, 0.2, 0.9])
    t = np.tanh(x0)
    d1, d2, d3 = _third(lambda x: tg.tanh(x).sum(), x0)
    np.testing.assert_allclose(d1, 1 - t * t, rtol=1e-12)
    np.testing.assert_allclose(d2, -2 * t * (1 - t * t), rtol=1e-12)
    np.testing.assert_allclose(d3, (6 * t * t - 2) * (1 - t * t), rtol=1e-12)


def test_log_softmax_and_mean_to_third_order():
    # f(x) = mean(log_softmax(x)) for one row of n: d/dx_i = 1/n - p_i; the second and third
    # derivatives of -p_i summed over i: sum_i -(d p_i) = 0 (sum p = 1), so d2 contracted is 0
    x0 = np.array([[0.3, -1.1, 0.8, 0.1]])
    p = np.exp(x0) / np.exp(x0).sum()
    d1, d2, d3 = _third(lambda x: tg.mean(tg.log_softmax(x)), x0)
    np.testing.assert_allclose(d1, 1 / 4 - p, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d2, np.zeros_like(x0), atol=1e-15)
    np.testing.assert_allclose(d3, np.zeros_like(x0), atol=1e-15)


def test_a_differentiated_mlp_backward_records_one_op_per_step():
    # under an outer tape, the vjps of tanh, matmul (with transpose flags, no transpose ops) and
    # a bias add are recorded as: tanh_grad 1, matmul 2 (dW, dx), sum 1 -- 4 ops, no more
    rng = np.random.default_rng(0)
    w = tg.Var(rng.standard_normal((3, 2)))
    b = tg.Var(np.zeros(2))
    x = tg.Var(rng.standard_normal((4, 3)))
    with tg.GradientTape(persistent=True) as outer:
        with tg.GradientTape() as inner:
            y = tg.tanh(x @ w + b)
        before = len(outer)
        gx, gw, gb = inner.gradient(y, [x, w, b], output_gradients=np.ones((4, 2)))
        assert len(outer) - before == 4
    t = np.tanh(x.numpy() @ w.numpy() + b.numpy())
    np.testing.assert_allclose(gw.numpy(), x.numpy().T @ (1 - t * t), rtol=1e-12)
    np.testing.assert_allclose(gx.numpy(), (1 - t * t) @ w.numpy().T, rtol=1e-12)
    np.testing.assert_allclose(gb.numpy(), (1 - t * t).sum(0), rtol=1e-12)
    # and the outer tape differentiates it: d sum(gb) / d b = sum over the batch of -2 t (1 - t^2)
    h = outer.gradient(gb, b)
    np.testing.assert_allclose(h.numpy(), (-2 * t * (1 - t * t)).sum(0), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ls", [0.0, 0.1])
@pytest.mark.parametrize("dense", [False, True])
def test_fused_softmax_ce_to_third_order_equals_its_composite(reduction, ls, dense):
    from tinygrad_bn.ops.softmax_ce import softmax_cross_entropy_composite
    rng = np.random.default_rng(3)
    z = rng.standard_normal((6, 5))
    labels = rng.dirichlet(np.ones(5), 6) * 1.3 if dense else rng.integers(0, 5, 6)
    v = rng.standard_normal((6, 5))
    weights = np.arange(1.0, 7.0)

    def derivatives(loss_fn):
        x = tg.Var(z)
        with tg.GradientTape() as t3:
            with tg.GradientTape() as t2:
                with tg.GradientTape() as t1:
                    loss = loss_fn(x, labels, reduction=reduction, label_smoothing=ls)
                    if reduction == "none":
                        loss = (loss * weights).sum()
                g = t1.gradient(loss, x)
                hv = t2.gradient((g * v).sum(), x)
            third = t3.gradient((hv * hv).sum(), x)
        return g.numpy(), hv.numpy(), third.numpy()

    for fused, ref in zip(derivatives(softmax_cross_entropy), derivatives(softmax_cross_entropy_composite)):
        assert np.all(np.isfinite(ref))
        np.testing.assert_allclose(fused, ref, rtol=1e-10, atol=1e-14)


def test_fused_softmax_ce_backward_records_one_op_under_an_outer_tape():
    # the fused loss's vjp on Tensors is one softmax_ce_grad op (not its composite re-run and
    # differentiated), and the outer tape differentiates it to the closed form
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    x = tg.Var(z)
    with tg.GradientTape(persistent=True) as outer:
        with tg.GradientTape() as inner:
            loss = softmax_cross_entropy(x, labels)
        before = len(outer)
        g = inner.gradient(loss, x)
        assert len(outer) - before == 1
        u = rng.standard_normal((4, 3))
        gu = (g * u).sum()
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(g.numpy(), (p - np.eye(3)[labels]) / 4, rtol=1e-12)
    hv = outer.gradient(gu, x).numpy()
    # the Hessian of the mean CE is block-diagonal: (diag(p_i) - p_i p_i^T) / N per row
    want = np.stack([(np.diag(pi) - np.outer(pi, pi)) @ ui for pi, ui in zip(p, u)]) / 4
    np.testing.assert_allclose(hv, want, rtol=1e-12, atol=1e-15)
