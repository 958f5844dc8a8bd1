"""Keras's documented optimizer behaviours and Keras's own expected numbers (the values in
keras/src/optimizers/*_test.py and the docstring examples), with only the import changed."""
import numpy as np
import pytest

import tinygrad_bn as tf
from tinygrad_bn import keras

opts = keras.optimizers
GRADS = np.array([1.0, 6.0, 7.0, 2.0], np.float32)
START = [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("cls,expected", [
    (opts.SGD, [0.5, -1.0, -0.5, 3.0]),
    (opts.Adam, [0.5, 1.5, 2.5, 3.5]),
    (opts.AdamW, [0.4980, 1.4960, 2.494, 3.492]),
    (opts.RMSprop, [-0.5811, 0.4189, 1.4189, 2.4189]),
    (opts.Adagrad, [0.5233, 1.5007, 2.5005, 3.5061]),
    (opts.Nadam, [0.4686, 1.4686, 2.4686, 3.4686]),
    (opts.Adamax, [0.5, 1.5, 2.5, 3.5]),
    (opts.Adadelta, [0.9993, 1.9993, 2.9993, 3.9993]),
    (opts.Lion, [0.5, 1.5, 2.5, 3.5]),
])
def test_single_step_matches_keras(cls, expected):
    v = tf.Var(np.array(START, np.float32))
    cls(learning_rate=0.5).apply_gradients(zip([GRADS], [v]))
    np.testing.assert_allclose(v.numpy(), expected, rtol=1e-4, atol=1e-4)


def _golden_run(opt, steps=5):
    x = tf.Var(np.ones(10, np.float32))
    grads = np.linspace(0.1, 1.0, 10).astype(np.float32)
    opt.apply_gradients([(np.full(10, 0.01, np.float32), x)])
    out = [x.numpy().copy()]
    for _ in range(steps - 1):
        opt.apply_gradients([(grads, x)])
        out.append(x.numpy().copy())
    return np.array(out)


def test_golden_nadam():
    golden = [[0.4281] * 10,
              [-0.1738, -0.1731, -0.1726, -0.1723, -0.1721, -0.172, -0.1719, -0.1718, -0.1718, -0.1717],
              [-0.7115, -0.7103, -0.7096, -0.7092, -0.709, -0.7088, -0.7086, -0.7085, -0.7085, -0.7084],
              [-1.2335, -1.2322, -1.2313, -1.2309, -1.2306, -1.2304, -1.2302, -1.2301, -1.23, -1.2299],
              [-1.7492, -1.7478, -1.7469, -1.7464, -1.7461, -1.7459, -1.7457, -1.7456, -1.7455, -1.7454]]
    got = _golden_run(opts.Nadam(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5))
    np.testing.assert_allclose(got, golden, rtol=5e-4, atol=5e-4)


def test_golden_adamw():
    golden = [[0.4998] * 10,
              [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
              [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
              [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
              [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159]]
    got = _golden_run(opts.AdamW(learning_rate=1.0, weight_decay=0.5, epsilon=2))
    np.testing.assert_allclose(got, golden, rtol=5e-4, atol=5e-4)


def test_golden_adagrad():
    golden = [[0.9963] * 10,
              [0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209],
              [0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891],
              [0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579],
              [0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825]]
    got = _golden_run(opts.Adagrad(learning_rate=0.2, initial_accumulator_value=0.3, epsilon=1e-6))
    np.testing.assert_allclose(got, golden, rtol=5e-4, atol=5e-4)


def test_golden_adamax():
    golden = [[0.8] * 10,
              [0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691],
              [0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466],
              [0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848],
              [0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126]]
    got = _golden_run(opts.Adamax(learning_rate=0.2, beta_1=0.85, beta_2=0.95, epsilon=1e-6))
    np.testing.assert_allclose(got, golden, rtol=5e-4, atol=5e-4)


def test_golden_adadelta_and_lion():
    ada = np.tile([[0.9978], [0.9947], [0.9915], [0.9882], [0.9849]], (1, 10))
    got = _golden_run(opts.Adadelta(learning_rate=1.0, rho=0.8, epsilon=1e-6))
    np.testing.assert_allclose(got, ada, rtol=5e-4, atol=5e-4)
    lion = np.tile([[0.999], [0.998], [0.997], [0.996], [0.995]], (1, 10))
    np.testing.assert_allclose(_golden_run(opts.Lion()), lion, rtol=5e-4, atol=5e-4)
    for bad in (-0.1, 0.0, 1.1):
        with pytest.raises(ValueError, match="beta_1"):
            opts.Lion(beta_1=bad)


def test_golden_rmsprop_centered_adam_amsgrad_sgd_nesterov():
    rms = np.tile([[0.9967], [0.9933], [0.9908], [0.9885], [0.9864]], (1, 10))
    np.testing.assert_allclose(_golden_run(opts.RMSprop(centered=True)), rms, rtol=5e-4, atol=5e-4)
    adam = np.tile([[0.999], [0.9982], [0.9974], [0.9965], [0.9955]], (1, 10))
    np.testing.assert_allclose(_golden_run(opts.Adam(amsgrad=True)), adam, rtol=5e-4, atol=5e-4)
    sgd_first = [[0.9999] * 3, [0.9989, 0.9979, 0.9969], [0.9979, 0.9959, 0.9939],
                 [0.9969, 0.9939, 0.9909], [0.9959, 0.9919, 0.9879]]
    np.testing.assert_allclose(_golden_run(opts.SGD(nesterov=True))[:, :3], sgd_first, rtol=5e-4, atol=5e-4)


@pytest.mark.parametrize("cls", [opts.SGD, opts.RMSprop, opts.Adam, opts.AdamW, opts.Adagrad, opts.Nadam,
                                 opts.Adamax, opts.Adadelta, opts.Lion])
def test_weight_decay_and_exclusion_like_keras(cls):
    """Keras's test: var1 decays in each of three optimizers, 2 * (1 - 0.004)**3; the
    variable excluded by name and the one excluded by reference stay at 2."""
    g = np.zeros((), np.float32)
    var1, var2, var3 = tf.Var(2.0), tf.Var(2.0, name="exclude"), tf.Var(2.0)
    cls(learning_rate=1.0, weight_decay=0.004).apply_gradients(zip([g], [var1]))
    o2 = cls(learning_rate=1.0, weight_decay=0.004)
    o2.exclude_from_weight_decay(var_names=["exclude"])
    o2.apply_gradients(zip([g, g], [var1, var2]))
    o3 = cls(learning_rate=1.0, weight_decay=0.004)
    o3.exclude_from_weight_decay(var_list=[var3])
    o3.apply_gradients(zip([g, g], [var1, var3]))
    assert float(var1) == pytest.approx(1.9760959, abs=1e-6)
    assert float(var2) == 2.0 and float(var3) == 2.0


def test_clipping_like_keras():
    for cls in (opts.SGD, opts.Adam, opts.Nadam, opts.Adagrad, opts.RMSprop, opts.AdamW):
        w = tf.Var(np.zeros(2))
        cls(learning_rate=1.0, clipnorm=1).apply_gradients([(np.array([100.0, 100.0]), w)])
    # the clipped gradient itself, seen through plain SGD with lr 1: -clip(g)
    w = tf.Var(np.zeros(2))
    opts.SGD(1.0, clipnorm=1).apply_gradients([(np.array([100.0, 100.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-(2 ** 0.5) / 2] * 2)
    w = tf.Var(np.zeros(2))
    opts.SGD(1.0, clipvalue=1).apply_gradients([(np.array([100.0, 100.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-1.0, -1.0])


def test_docstring_examples():
    # SGD: "var1 = 1.0; loss = var1**2 / 2; one step of lr 0.1 -> 0.9"
    opt = opts.SGD(learning_rate=0.1)
    var = tf.Var(1.0)
    step_count = opt.minimize(lambda: (var ** 2) / 2.0, [var]).numpy()
    assert step_count == 1 and float(var) == pytest.approx(0.9)
    assert opt.minimize(lambda: (var ** 2) / 2.0, [var]).numpy() == 2 == opt.iterations
    # SGD with momentum 0.9: the first step moves 0.1, the second 0.18 (reads are values)
    opt = opts.SGD(learning_rate=0.1, momentum=0.9)
    var = tf.Var(1.0)
    val0 = var.value()
    opt.minimize(lambda: (var ** 2) / 2.0, [var])
    val1 = var.value()
    assert float(val0 - val1) == pytest.approx(0.1)
    opt.minimize(lambda: (var ** 2) / 2.0, [var])
    assert float(val1 - var.value()) == pytest.approx(0.18)
    # Adam(0.1) on var1**2/2 from 10: 9.9.  RMSprop(0.1): 9.683772.  Nadam(0.2): "9.8" to one decimal
    for cls, lr, expected, tol in ((opts.Adam, 0.1, 9.9, 1e-5), (opts.RMSprop, 0.1, 9.683772, 1e-6),
                                   (opts.Nadam, 0.2, 9.8, 0.05)):
        var1 = tf.Var(10.0)
        cls(learning_rate=lr).minimize(lambda: (var1 ** 2) / 2.0, [var1])
        assert float(var1) == pytest.approx(expected, abs=tol)


def test_zero_argument_callable_learning_rate():
    """Keras: learning_rate may be "a callable that takes no arguments and returns the
    actual value to use"; it is called at every step."""
    calls = []

    def lr():
        calls.append(1)
        return 0.1 * len(calls)

    w = tf.Var(np.zeros(1))
    opt = opts.SGD(learning_rate=lr)
    for _ in range(3):
        opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.numpy(), [-(0.1 + 0.2 + 0.3)])
    assert len(calls) == 3
    w = tf.Var(np.zeros(1))
    opts.SGD(learning_rate=lambda: 0.1).apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.numpy(), [-0.1])


def test_schedule_is_called_with_iterations_from_zero_and_drives_weight_decay():
    sched = opts.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    w = tf.Var(np.array([1.0]))
    opt = opts.AdamW(learning_rate=sched, weight_decay=0.1)
    opt.apply_gradients([(np.zeros(1), w)])    # step 0: lr 0.1, decay 1 - 0.1*0.1
    opt.apply_gradients([(np.zeros(1), w)])    # step 1: lr 0.05
    np.testing.assert_allclose(w.numpy(), [(1 - 0.01) * (1 - 0.005)])


def test_setting_a_float_over_a_schedule_raises_typeerror():
    opt = opts.SGD(opts.schedules.CosineDecay(0.1, 10))
    with pytest.raises(TypeError, match="schedule"):
        opt.learning_rate = 0.01
    opt = opts.SGD(0.1)
    opt.learning_rate = opts.schedules.CosineDecay(0.1, 10)   # a schedule over a float is fine
    assert opt.current_learning_rate() == pytest.approx(0.1)


def test_adamw_requires_weight_decay_and_defaults_like_keras():
    with pytest.raises(ValueError, match="weight_decay"):
        opts.AdamW(learning_rate=1.0, weight_decay=None)
    a = opts.AdamW()
    assert (a.learning_rate, a.weight_decay, a.beta_1, a.beta_2, a.epsilon, a.amsgrad) == \
        (0.001, 0.004, 0.9, 0.999, 1e-7, False)
    g = opts.Adagrad()
    assert (g.learning_rate, g.initial_accumulator_value, g.epsilon) == (0.001, 0.1, 1e-7)
    n = opts.Nadam()
    assert (n.learning_rate, n.beta_1, n.beta_2, n.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    r = opts.RMSprop()
    assert (r.rho, r.momentum, r.epsilon, r.centered) == (0.9, 0.0, 1e-7, False)


@pytest.mark.parametrize("name,cls", [("sgd", "SGD"), ("adam", "Adam"), ("AdamW", "AdamW"), ("adagrad", "Adagrad"),
                                      ("nadam", "Nadam"), ("RMSprop", "RMSprop"), ("adamax", "Adamax"),
                                      ("adadelta", "Adadelta"), ("lion", "Lion")])
def test_get_by_name_and_config_roundtrip(name, cls):
    opt = opts.get(name)
    assert type(opt).__name__ == cls
    again = opts.deserialize(opts.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == opt.get_config()


def test_rmsprop_boundaries_keras_accepts():
    opts.RMSprop(learning_rate=0.1, rho=0.0)
    opts.RMSprop(learning_rate=0.1, rho=1.0)
    opts.RMSprop(learning_rate=0.1, momentum=1.0)
    opts.RMSprop(learning_rate=0.1, epsilon=1e-12)
    for bad in (-0.1, 1.1, 2.0):
        with pytest.raises(ValueError, match="`rho` must be in"):
            opts.RMSprop(learning_rate=0.1, rho=bad)
        with pytest.raises(ValueError, match="`momentum` must be in"):
            opts.RMSprop(learning_rate=0.1, momentum=bad)


def test_learning_rate_reads_like_tf():
    """TF code reads ``opt.learning_rate.numpy()`` and sets it with ``.assign`` or ``=``."""
    opt = opts.Adam(0.1)
    assert opt.learning_rate.numpy() == np.float32(0.1) and opt.learning_rate == 0.1
    opt.learning_rate.assign(0.01)
    assert opt.current_learning_rate() == 0.01
    opt.learning_rate = opt.learning_rate * 3
    assert opt.learning_rate == pytest.approx(0.03)
    assert opt.lr == pytest.approx(0.03)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate.assign(-1.0)
    assert opt.learning_rate == pytest.approx(0.03)


def test_ema_like_keras3():
    """Keras 3's test_ema: the average starts as the variable after the first step, then
    average = 0.9 average + 0.1 var; every 3rd step the variable takes the average."""
    v = tf.Var(np.array([[3.0, 4.0], [5.0, 6.0]]))
    g = np.ones((2, 2))
    opt = opts.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3)
    opt.apply_gradients([(g, v)])
    np.testing.assert_allclose(v.numpy(), [[2.0, 3.0], [4.0, 5.0]])
    np.testing.assert_allclose(opt.variables()[-1], [[2.0, 3.0], [4.0, 5.0]])
    opt.apply_gradients([(g, v)])
    np.testing.assert_allclose(v.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(opt.variables()[-1], [[1.9, 2.9], [3.9, 4.9]])
    opt.apply_gradients([(g, v)])
    np.testing.assert_allclose(v.numpy(), [[1.71, 2.71], [3.71, 4.71]])
    np.testing.assert_allclose(opt.variables()[-1], [[1.71, 2.71], [3.71, 4.71]])


def test_ema_finalize_and_config():
    w = tf.Var(np.array([1.0]))
    opt = opts.Adam(0.1, use_ema=True, ema_momentum=0.5)
    for _ in range(3):
        opt.apply_gradients([(np.array([1.0]), w)])
    values = []
    w2 = tf.Var(np.array([1.0]))
    plain = opts.Adam(0.1)
    for _ in range(3):
        plain.apply_gradients([(np.array([1.0]), w2)])
        values.append(float(w2.numpy()[0]))
    np.testing.assert_allclose(w.numpy(), values[-1])           # no overwrite frequency: w is not touched
    average = values[0] * 0.25 + values[1] * 0.25 + values[2] * 0.5
    opt.finalize_variable_values([w])
    np.testing.assert_allclose(w.numpy(), [average])
    again = opts.Adam.from_config(opt.get_config())
    assert (again.use_ema, again.ema_momentum, again.ema_overwrite_frequency) == (True, 0.5, None)
    opts.SGD(0.1).finalize_variable_values([w])                  # no EMA: nothing happens
    np.testing.assert_allclose(w.numpy(), [average])


def test_gradient_accumulation_like_keras3():
    """Keras 3: with gradient_accumulation_steps=3 two calls only accumulate; the third
    applies the mean gradient; ``iterations`` counts updates."""
    v = tf.Var(np.array([[1.0, 2.0], [3.0, 4.0]]))
    g = np.ones((2, 2))
    opt = opts.SGD(learning_rate=1.0, gradient_accumulation_steps=3)
    assert opt.gradient_accumulation_steps == 3
    opt.apply_gradients([(g, v)])
    np.testing.assert_allclose(v.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    assert opt.iterations == 0
    opt.apply_gradients([(3 * g, v)])
    np.testing.assert_allclose(v.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    opt.apply_gradients([(2 * g, v)])
    np.testing.assert_allclose(v.numpy(), [[-1.0, 0.0], [1.0, 2.0]])   # mean of 1, 3, 2 is 2
    assert opt.iterations == 1
    opt.apply_gradients([(g, v)])                                      # the accumulator restarted at 0
    opt.apply_gradients([(g, v)])
    opt.apply_gradients([(g, v)])
    np.testing.assert_allclose(v.numpy(), [[-2.0, -1.0], [0.0, 1.0]])


def test_gradient_accumulation_state_roundtrip_mid_cycle():
    a, b = tf.Var(np.zeros(2)), tf.Var(np.zeros(2))
    opt = opts.Adam(0.1, gradient_accumulation_steps=2)
    gs = [np.array([1.0, -1.0]), np.array([0.5, 2.0]), np.array([3.0, 1.0]), np.array([-1.0, 1.0]),
          np.array([2.0, 2.0])]
    for g in gs[:3]:                          # one update, then one call into the next cycle
        opt.apply_gradients([(g, a)])
    state = opt.get_state([a])
    assert state["iterations"] == 3           # raw calls, like Keras's saved _iterations
    opt2 = opts.Adam.from_config(opt.get_config())
    b.assign(a.numpy())
    opt2.set_state(state, [b])
    assert opt2.iterations == 1
    for g in gs[3:]:
        opt.apply_gradients([(g, a)])
        opt2.apply_gradients([(g, b)])
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_loss_scale_factor_like_keras3():
    """The loss is multiplied by the factor (scale_loss) and the gradients divided by it."""
    w = tf.Var(np.array([1.0]))
    opt = opts.SGD(learning_rate=0.1, loss_scale_factor=1024.0)
    assert float(opt.scale_loss(tf.Tensor(np.float64(2.0)))) == 2048.0
    opt.apply_gradients([(np.array([1024.0 * 3.0]), w)])     # a gradient of the scaled loss
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.3])
    w = tf.Var(np.array([1.0]))
    opt.minimize(lambda: (w * w).sum(), [w])                 # minimize scales and unscales
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.1 * 2.0])
