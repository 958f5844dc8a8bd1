"""GradientTape semantics, following tf.GradientTape."""
import sys

import numpy as np
import pytest

import tinygrad_bn as tg


def test_records_only_while_active():
    w = tg.Var(3.0)
    with tg.GradientTape() as tape:
        y = w * w
    z = y * w                                   # after the block: not recorded
    assert len(tape) == 1
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), 6.0)
    with tg.GradientTape() as tape2:
        pass
    assert tape2.gradient(z, w) is None          # z was computed outside tape2


def test_vars_watched_automatically_constants_need_watch():
    w = tg.Var(2.0)
    c = tg.Tensor(5.0)
    with tg.GradientTape() as tape:
        y = w * c
    assert tape.gradient(y, c) is None
    with tg.GradientTape() as tape:
        tape.watch(c)
        y = w * c
    gw, gc = tape.gradient(y, [w, c])
    assert float(gw) == 5.0 and float(gc) == 2.0


def test_watch_accessed_variables_false():
    w = tg.Var(2.0)
    with tg.GradientTape(watch_accessed_variables=False) as tape:
        y = w * w
    assert tape.gradient(y, w) is None
    with tg.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(w)
        y = w * w
    assert tape.watched_variables() == (w,)
    assert float(tape.gradient(y, w)) == 4.0


def test_non_trainable_var_is_not_watched():
    w = tg.Var(2.0, trainable=False)
    with tg.GradientTape() as tape:
        y = w * w
    assert tape.gradient(y, w) is None


def test_second_gradient_call_needs_persistent():
    w = tg.Var(2.0)
    with tg.GradientTape() as tape:
        y = w * w
    tape.gradient(y, w)
    with pytest.raises(RuntimeError, match="persistent"):
        tape.gradient(y, w)
    with tg.GradientTape(persistent=True) as tape:
        y = w * w
        z = y * w
    assert float(tape.gradient(y, w)) == 4.0
    assert float(tape.gradient(z, w)) == 12.0


def test_stop_recording():
    w = tg.Var(2.0)
    with tg.GradientTape() as tape:
        y = w * w
        with tape.stop_recording():
            z = y * 10.0
        out = y + z
    # z is a constant to the tape: d(out)/dw = 2w only
    assert float(tape.gradient(out, w)) == 4.0
    with pytest.raises(RuntimeError, match="not active"):
        tape.stop_recording()


def test_nested_tapes_record_independently():
    w = tg.Var(3.0)
    x = tg.Var(2.0)
    with tg.GradientTape() as outer:
        a = w * x
        with tg.GradientTape() as inner:
            b = a * w
        c = b + x
    assert float(inner.gradient(b, w)) == 6.0            # inner saw only b = a*w (a constant to it)
    gw, gx = outer.gradient(c, [w, x])
    assert float(gw) == 2 * 3.0 * 2.0 and float(gx) == 9.0 + 1.0


def test_sources_structures_are_mirrored():
    w = tg.Var(1.0)
    v = tg.Var(np.array([1.0, 2.0]))
    with tg.GradientTape(persistent=True) as tape:
        y = w * 3.0 + tg.sum(v * v)
    assert isinstance(tape.gradient(y, w), tg.Tensor)
    g = tape.gradient(y, (w, v))
    assert isinstance(g, tuple) and float(g[0]) == 3.0
    g = tape.gradient(y, {"w": w, "more": [v]})
    assert set(g) == {"w", "more"} and isinstance(g["more"], list)
    np.testing.assert_allclose(g["more"][0].numpy(), [2.0, 4.0])


def test_unconnected_gradients():
    w = tg.Var(1.0)
    u = tg.Var(np.ones((2, 3), np.float32))
    with tg.GradientTape(persistent=True) as tape:
        y = w * 2.0
    assert tape.gradient(y, [w, u])[1] is None
    gz = tape.gradient(y, [w, u], unconnected_gradients="zero")[1]
    assert gz.shape == (2, 3) and gz.dtype == np.float32 and not gz.numpy().any()
    with pytest.raises(ValueError):
        tape.gradient(y, w, unconnected_gradients="bogus")


def test_non_scalar_target_sums_and_output_gradients_weight():
    v = tg.Var(np.array([1.0, 2.0, 3.0]))
    with tg.GradientTape(persistent=True) as tape:
        y = v * v
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [2.0, 4.0, 6.0])
    np.testing.assert_allclose(tape.gradient(y, v, output_gradients=np.array([1.0, 0.0, -1.0])).numpy(),
                               [2.0, 0.0, -6.0])
    with pytest.raises(ValueError, match="shape"):
        tape.gradient(y, v, output_gradients=np.ones(2))


def test_list_of_targets_adds_up():
    w = tg.Var(2.0)
    with tg.GradientTape() as tape:
        a = w * w
        b = w * 3.0
    assert float(tape.gradient([a, b], w)) == 4.0 + 3.0


def test_gradient_wrt_intermediate_and_target_itself():
    w = tg.Var(2.0)
    with tg.GradientTape(persistent=True) as tape:
        h = w * 3.0
        y = h * h
    assert float(tape.gradient(y, h)) == 12.0
    assert float(tape.gradient(y, y)) == 1.0


def test_integer_tensors_are_not_differentiable():
    i = tg.Tensor(np.array([1, 2, 3]))
    with tg.GradientTape() as tape:
        with pytest.raises(TypeError, match="floating"):
            tape.watch(i)
    w = tg.Var(np.array([1.0, 2.0, 3.0]))
    with tg.GradientTape(persistent=True) as tape:
        y = w * i
    with pytest.raises(TypeError, match="int64"):
        tape.gradient(y, i)
    with pytest.raises(TypeError, match="floating-point targets"):
        tape.gradient(i * 2, w)


def test_gradient_dtype_follows_source():
    w = tg.Var(np.ones(3, np.float32))
    with tg.GradientTape() as tape:
        y = tg.sum(w * np.ones(3, np.float64))     # promoted to float64 inside
    g = tape.gradient(y, w)
    assert g.dtype == np.float32


def test_long_chain_has_no_recursion_limit():
    w = tg.Var(1.0, dtype=np.float64)
    n = 100_000
    assert n > sys.getrecursionlimit()
    with tg.GradientTape() as tape:
        y = w
        for _ in range(n):
            y = y * 1.0000001
    g = float(tape.gradient(y, w))
    np.testing.assert_allclose(g, 1.0000001 ** n, rtol=1e-9)


def test_reset_and_reuse():
    w = tg.Var(2.0)
    with tg.GradientTape(persistent=True) as tape:
        y = w * w
        tape.reset()
        z = w * 5.0
    assert tape.gradient(y, w) is None
    assert float(tape.gradient(z, w)) == 5.0


def test_gradient_inside_an_outer_tape_is_recorded():
    w = tg.Var(3.0)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = w * w * w
        g = inner.gradient(y, w)
        z = g * 1.0
    # as in TF: the inner gradient 3 w**2 is recorded by the outer tape
    assert float(outer.gradient(z, w)) == 18.0      # d(3 w**2)/dw = 6 w


def test_tapes_are_thread_local():
    import threading
    w = tg.Var(2.0)
    other = tg.Var(3.0)
    done = threading.Event()
    go = threading.Event()

    def worker():
        go.wait()
        for _ in range(50):
            _ = other * other          # another thread's ops: not on the main thread's tape
        done.set()

    th = threading.Thread(target=worker)
    th.start()
    with tg.GradientTape() as tape:
        y = w * w
        go.set()
        done.wait(10)
    th.join()
    assert len(tape) == 1
    assert float(tape.gradient(y, w)) == 4.0


def test_tensor_of_var_is_a_snapshot():
    w = tg.Var(np.array([1.0, 2.0]))
    t = tg.Tensor(w)
    w.assign([5.0, 6.0])
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_stop_recording_all_pauses_this_threads_tapes():
    w = tg.Var(2.0)
    with tg.GradientTape() as tape:
        with tg.tape.stop_recording_all():
            assert not tg.tape.recording()
            y = w * w
        assert tg.tape.recording()
    assert len(tape) == 0
