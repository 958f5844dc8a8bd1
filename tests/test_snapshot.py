"""A tensor is a value (TF semantics): reads of a Var are snapshots that later
assignments and optimizer steps cannot change, through views, residuals and
persistent or nested tapes; with no extra copy when nobody holds the old value."""
import numpy as np
import pytest

import tinygrad_bn as tg

VIEWS = {
    "stop_gradient": lambda w: tg.stop_gradient(w),
    "[:]": lambda w: w[:],
    "[1:]": lambda w: w[1:],
    "reshape(-1)": lambda w: w.reshape(-1),
    ".T": lambda w: w.T,
    "Tensor(w)": lambda w: tg.Tensor(w),
    "w + 0": lambda w: w + 0,
    "np.transpose": lambda w: np.transpose(w),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_reads_keep_their_value_after_a_step(name, opt):
    w = tg.Var(np.arange(1.0, 7.0).reshape(2, 3) if name == ".T" else np.arange(1.0, 7.0))
    before = w.numpy()
    old = VIEWS[name](w)
    optimizer = getattr(tg.optimizers, opt)(0.1)
    with tg.GradientTape() as tape:
        loss = (w * w).sum()
    optimizer.apply_gradients([(tape.gradient(loss, w), w)])
    np.testing.assert_array_equal(np.asarray(old.data).reshape(-1), VIEWS[name](tg.Tensor(before)).numpy().reshape(-1))
    assert np.abs(w.numpy() - before).sum() > 0.1      # the real update size, not 0


def test_persistent_tape_uses_the_values_read_during_the_forward():
    a = tg.Var(2.0)
    b = tg.Var(3.0)
    with tg.GradientTape(persistent=True) as tape:
        loss = a * a * b
    gb = tape.gradient(loss, b)
    assert float(gb) == 4.0
    tg.optimizers.SGD(1.0).apply_gradients([(gb, b)])       # b: 3 -> -1
    assert float(b) == -1.0
    assert float(tape.gradient(loss, a)) == 12.0             # 2 a b with the b of the forward, as TF


def test_assign_inside_the_tape_does_not_change_the_gradient():
    v = tg.Var(2.0)
    with tg.GradientTape() as tape:
        y = v * v
        v.assign(10.0)
    assert float(tape.gradient(y, v)) == 4.0
    for method in ("assign_add", "assign_sub"):
        v = tg.Var(np.array([1.0, 2.0]))
        with tg.GradientTape() as tape:
            y = (v * v).sum()
            getattr(v, method)(np.array([5.0, 5.0]))
        np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [2.0, 4.0])


def test_nested_tapes_and_higher_order_keep_values():
    w = tg.Var(3.0, dtype=np.float64)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = w * w * w
        g = inner.gradient(y, w)
    w.assign(100.0)
    assert float(g) == 27.0
    assert float(outer.gradient(g, w)) == 18.0


def test_no_copy_when_nothing_else_holds_the_array():
    w = tg.Var(np.ones(1000))
    opt = tg.optimizers.Adam(0.01)
    for _ in range(2):
        with tg.GradientTape() as tape:
            loss = (w * w).sum()
        grad = tape.gradient(loss, w)
        arr = id(w.data)
        opt.apply_gradients([(grad, w)])
        assert id(w.data) == arr          # updated in place: no reference was left behind
    view = w[:10]
    arr = id(w.data)
    w.assign_add(np.ones(1000))
    assert id(w.data) != arr and float(view[0]) != float(w[0])   # copy-on-write


def test_read_only_variable_is_refused_before_anything_changes():
    w = tg.Var(np.ones(3))
    w.data.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        w.assign(np.zeros(3))
    np.testing.assert_array_equal(w.numpy(), np.ones(3))
