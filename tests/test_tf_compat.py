"""TF code runs with only ``import tensorflow as tf`` replaced by ``import tinygrad_bn as tf``.

1. The course notes' own TensorFlow code (``shared/seeds/004_*.txt``), read from the file:
   only the imports change, plus the notes' typos that fail in TF too (``tf.variable``,
   ``apply_gradient``, the missing commas between the ``Dense(...)`` lines).
2. A program in the style of the course's TensorFlow assignment, with TF names only.
3. TF's top-level functions and dtype rules.
"""
import pathlib
import re

import numpy as np
import pytest

import tinygrad_bn as tf

SEEDS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "seeds"


def _course_blocks():
    path = next(iter(sorted(SEEDS.glob("004_*.txt"))), None)
    if path is None:
        pytest.skip(f"the course notes are not beside the repository ({SEEDS})")
    text = path.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _port(code):
    code = code.replace("import tensorflow as tf", "import tinygrad_bn as tf")
    code = code.replace("from tensorflow.keras", "from tinygrad_bn.keras")
    code = code.replace("tf.variable(", "tf.Variable(")                       # typo: fails in TF too
    code = code.replace("optimizer.apply_gradient(", "optimizer.apply_gradients(")  # typo: fails in TF too
    code = re.sub(r"(Dense\([^\n]*\))(?=\n\s*Dense)", r"\1,", code)         # the missing commas
    return code


def test_the_notes_contain_the_four_tf_programs():
    blocks = _course_blocks()
    assert len([b for b in blocks if "tensorflow" in b]) >= 3 and len(blocks) == 4


def test_tape_loop_from_the_notes_runs_unchanged():
    block = next(b for b in _course_blocks() if "def train_step" in b)
    ns = {}
    exec(compile(_port(block), "seeds/004 tape loop", "exec"), ns)
    w = ns["w"]
    assert isinstance(w, tf.Variable) and w.dtype == np.float32
    assert abs(float(w) - 5.0) < 1e-3


def test_minimize_form_from_the_notes_runs_unchanged():
    blocks = _course_blocks()
    first = next(b for b in blocks if "def train_step" in b)
    block = next(b for b in blocks if "def training" in b)
    ns = {}
    exec(compile(_port(first.split("w = tf.")[0]) + _port(block), "seeds/004 minimize", "exec"), ns)
    assert abs(float(ns["w"]) - 5.0) < 1e-3
    assert int(ns["optimizer"].iterations) == 1000


@pytest.mark.parametrize("version", ["version 1", "version 2"])
def test_keras_sequential_versions_from_the_notes_run_unchanged(version):
    blocks = _course_blocks()
    block = next(b for b in blocks if version in b)
    imports = "".join(line + "\n" for line in next(b for b in blocks if "version 1" in b).splitlines()
                      if line.startswith(("import ", "from ")))
    block = imports + block          # "version 2" continues the notes' "version 1" cell
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (10, 8))
    Y = rng.integers(0, 10, 400)
    X = (centers[Y] + rng.normal(0, 1, (400, 8))).astype(np.float32)
    ns = {"X": X, "Y": Y}
    tf.random.set_seed(0)            # the weights' initial values: not whatever earlier tests left
    exec(compile(_port(block), f"seeds/004 {version}", "exec"), ns)
    model = ns["model"]
    history = model.history.history if hasattr(model, "history") and model.history else None
    logits_or_probs = model.predict(X, verbose=0)
    accuracy = np.mean(np.argmax(logits_or_probs, axis=1) == Y)
    assert accuracy > 0.6, accuracy      # chance is 0.1; 10 epochs reach 0.77-0.99 over seeds 0-7
    if history is not None:
        assert len(history["loss"]) == 10 and history["loss"][-1] < history["loss"][0]


def test_course_assignment_style_program_with_tf_names_only():
    """One-hot labels with axis, GlorotNormal(seed=...) parameters as Variables, a
    Dataset of minibatches, a GradientTape loop with categorical_crossentropy(from_logits=True)
    and Adam: the shape of the course's TensorFlow programming assignment."""
    rng = np.random.default_rng(1)
    n, features, classes = 256, 12, 6
    centers = rng.normal(0, 2.5, (classes, features))
    labels = rng.integers(0, classes, n)
    x_train = (centers[labels] + rng.normal(0, 1, (n, features))).astype(np.float32)

    def one_hot_matrix(label, depth=6):
        return tf.reshape(tf.one_hot(label, depth, axis=0), shape=[depth])

    y_train = np.stack([one_hot_matrix(int(lab)).numpy() for lab in labels])
    assert y_train.dtype == np.float32 and (y_train.argmax(1) == labels).all()

    def initialize_parameters():
        initializer = tf.keras.initializers.GlorotNormal(seed=1)
        W1 = tf.Variable(initializer(shape=(24, features)))
        b1 = tf.Variable(initializer(shape=(24, 1)))
        W2 = tf.Variable(initializer(shape=(12, 24)))
        b2 = tf.Variable(initializer(shape=(12, 1)))
        W3 = tf.Variable(initializer(shape=(classes, 12)))
        b3 = tf.Variable(initializer(shape=(classes, 1)))
        return {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "W3": W3, "b3": b3}

    def forward_propagation(X, parameters):
        Z1 = tf.math.add(tf.linalg.matmul(parameters["W1"], X), parameters["b1"])
        A1 = tf.keras.activations.relu(Z1)
        Z2 = tf.math.add(tf.linalg.matmul(parameters["W2"], A1), parameters["b2"])
        A2 = tf.keras.activations.relu(Z2)
        return tf.math.add(tf.linalg.matmul(parameters["W3"], A2), parameters["b3"])

    def compute_cost(logits, labels):
        return tf.reduce_sum(tf.keras.losses.categorical_crossentropy(
            tf.transpose(labels), tf.transpose(logits), from_logits=True))

    parameters = initialize_parameters()
    assert parameters["W1"].dtype == np.float32
    optimizer = tf.keras.optimizers.Adam(0.01)
    dataset = tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(x_train),
                                   tf.data.Dataset.from_tensor_slices(y_train)))
    minibatches = dataset.batch(32).prefetch(8)
    costs = []
    for epoch in range(15):
        epoch_cost = 0.0
        for (minibatch_X, minibatch_Y) in minibatches:
            with tf.GradientTape() as tape:
                Z3 = forward_propagation(tf.transpose(minibatch_X), parameters)
                minibatch_cost = compute_cost(Z3, tf.transpose(minibatch_Y))
            trainable_variables = list(parameters.values())
            grads = tape.gradient(minibatch_cost, trainable_variables)
            optimizer.apply_gradients(zip(grads, trainable_variables))
            epoch_cost += float(minibatch_cost)
        costs.append(epoch_cost / n)
    assert costs[-1] < 0.25 * costs[0], costs
    logits = forward_propagation(tf.transpose(tf.constant(x_train)), parameters)
    accuracy = float(tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, axis=0), labels), tf.float32)))
    assert accuracy > 0.95


def test_tf_dtype_rules():
    assert tf.constant(1).dtype == np.int32 and tf.constant(1.0).dtype == np.float32
    assert tf.constant([1, 2]).dtype == np.int32 and tf.constant(True).dtype == np.bool_
    w = tf.Variable(0, dtype=tf.float32)
    assert (w ** 2 - 10 * w + 25).dtype == np.float32                 # weak Python numbers
    x = np.array([1.0, -10.0, 25.0], dtype=np.float32)
    assert (x[0] * w ** 2).dtype == np.float32
    iv = tf.Variable(0)
    assert iv.dtype == np.int32
    with tf.GradientTape() as tape:
        y = iv * 2
    with pytest.raises(TypeError, match=r"Var\(0\.0\)"):
        tape.gradient(y, iv)


def test_tf_top_level_functions():
    np.testing.assert_array_equal(tf.one_hot([0, 2, 5], 3).numpy(), [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    assert tf.one_hot([1], 3).dtype == np.float32
    np.testing.assert_array_equal(tf.one_hot([0, 1], 2, axis=0, on_value=5, off_value=-1).numpy(),
                                  [[5, -1], [-1, 5]])
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    assert tf.reshape(x, shape=[4]).shape == (4,) and tf.reshape(x, [-1, 1]).shape == (4, 1)
    assert float(tf.reduce_sum(x)) == 10.0
    np.testing.assert_array_equal(tf.reduce_mean(x, axis=1, keepdims=True).numpy(), [[1.5], [3.5]])
    assert float(tf.reduce_max(x)) == 4.0 and float(tf.reduce_min(x)) == 1.0
    assert float(tf.reduce_prod(x)) == 24.0
    assert tf.zeros((2, 3)).dtype == np.float32 and tf.ones([2]).numpy().tolist() == [1.0, 1.0]
    assert tf.zeros_like(x).numpy().sum() == 0 and tf.ones_like(x).dtype == np.float32
    np.testing.assert_array_equal(tf.fill([2, 2], 7).numpy(), [[7, 7], [7, 7]])
    assert tf.fill([2], 7).dtype == np.int32
    np.testing.assert_array_equal(tf.range(5).numpy(), np.arange(5))
    assert tf.range(5).dtype == np.int32 and tf.range(0.0, 1.0, 0.25).dtype == np.float32
    assert tf.cast(x, tf.int32).dtype == np.int32
    assert tf.constant(3.0, shape=(2, 2)).numpy().tolist() == [[3.0, 3.0], [3.0, 3.0]]
    assert tf.constant([1, 2, 3, 4], shape=[2, 2], name="c").shape == (2, 2)
    np.testing.assert_allclose(tf.linalg.matmul(x, x, transpose_b=True).numpy(), x.numpy() @ x.numpy().T)
    np.testing.assert_allclose(tf.math.exp(x).numpy(), np.exp(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(tf.math.softplus(x).numpy(), np.log1p(np.exp(x.numpy())), rtol=1e-6)

    @tf.function
    def double(t):
        return t * 2

    @tf.function(input_signature=None, jit_compile=False)
    def triple(t):
        return t * 3

    assert float(double(tf.constant(2.0))) == 4.0 and float(triple(tf.constant(2.0))) == 6.0


def test_tf_function_gradients_flow_through():
    w = tf.Variable(3.0)

    @tf.function
    def loss():
        return tf.reduce_sum(tf.square(w))

    with tf.GradientTape() as tape:
        y = loss()
    assert float(tape.gradient(y, w)) == 6.0


# -- norms, clipping, gather/tile, tf.random, print and control flow --------------------------
import io  # noqa: E402
import random as _pyrandom  # noqa: E402
import sys  # noqa: E402

import tinygrad_bn as tg  # noqa: E402

_RNG = np.random.default_rng(7)
_X = _RNG.normal(size=(3, 4))


def test_norm_values():
    v = tf.constant([3.0, -4.0])
    assert float(tf.norm(v)) == pytest.approx(5.0) and float(tf.norm(v, ord=1)) == pytest.approx(7.0)
    assert float(tf.norm(v, ord=np.inf)) == pytest.approx(4.0)
    assert float(tf.norm(v, ord=3)) == pytest.approx((27 + 64) ** (1 / 3))
    m = tf.constant([[1.0, -2.0], [3.0, 4.0]])
    assert float(tf.norm(m)) == pytest.approx(30 ** 0.5)                       # all elements
    assert float(tf.norm(m, ord="fro", axis=(0, 1))) == pytest.approx(30 ** 0.5)
    assert float(tf.linalg.norm(m, ord=1, axis=[0, 1])) == pytest.approx(6.0)  # max column sum
    assert float(tf.linalg.norm(m, ord=np.inf, axis=(0, 1))) == pytest.approx(7.0)  # max row sum
    np.testing.assert_allclose(tf.norm(m, axis=1).numpy(), [5 ** 0.5, 5.0], rtol=1e-6)
    np.testing.assert_allclose(tf.norm(m, ord=1, axis=0, keepdims=True).numpy(), [[4.0, 6.0]])
    assert tf.norm(m, axis=(0, 1), keepdims=True).shape == (1, 1) and tf.norm(m).dtype == np.float32
    x = tf.constant(_X)
    for ord_, axis in (("euclidean", -1), (1, 0), (np.inf, 1), (1, (1, 0)), (np.inf, (-1, 0))):
        ref = np.linalg.norm(_X, ord=None if ord_ == "euclidean" else ord_, axis=axis)
        np.testing.assert_allclose(tf.norm(x, ord=ord_, axis=axis).numpy(), ref, rtol=1e-12)
    assert tf.linalg.norm is tf.norm


@pytest.mark.parametrize("kw", [{}, {"ord": 1}, {"ord": np.inf}, {"ord": 3}, {"axis": 1},
                                {"ord": "fro", "axis": (0, 1)}, {"ord": 1, "axis": (0, 1)},
                                {"ord": np.inf, "axis": (1, 0), "keepdims": True}])
def test_norm_gradients_first_and_second_order(kw):
    assert tg.gradcheck(lambda t: tf.norm(t, **kw), _X)
    assert tg.gradgradcheck(lambda t: tf.norm(t, **kw), _X)


def test_norm_bad_inputs():
    m = tf.constant(_X)
    with pytest.raises(ValueError, match="norm: 'ord'"):
        tf.norm(m, ord="fro")                     # TF: 'fro' is a matrix norm only
    with pytest.raises(ValueError, match="norm: 'ord'"):
        tf.norm(m, ord=-1)
    with pytest.raises(ValueError, match="norm: 'axis'"):
        tf.norm(m, axis=(0, 0))
    with pytest.raises(ValueError, match="norm: axis 2 is out of range"):
        tf.norm(m, axis=2)
    with pytest.raises(NotImplementedError, match="spectral"):
        tf.norm(m, ord=2, axis=(0, 1))
    with pytest.raises(TypeError, match="norm: tensor must be floating"):
        tf.norm(tf.constant([1, 2]))


def test_np_linalg_norm_on_tensors():
    t = tf.constant(_X)
    for kw in ({}, {"ord": "fro"}, {"ord": 1}, {"ord": np.inf}, {"axis": 1}, {"axis": 0, "ord": 1},
               {"axis": -1, "ord": np.inf, "keepdims": True}, {"keepdims": True}, {"ord": "nuc"}):
        out = np.linalg.norm(t, **kw)
        assert isinstance(out, tf.Tensor)
        np.testing.assert_allclose(out.numpy(), np.linalg.norm(_X, **kw), rtol=1e-12)
    v = tf.Variable(np.array([3.0, 4.0, 12.0]))
    with tf.GradientTape() as tape:
        y = np.linalg.norm(v)
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), np.array([3.0, 4.0, 12.0]) / 13.0)
    w = tf.Variable(np.array([[1.0, -2.0], [3.0, 4.0]]))
    with tf.GradientTape() as tape:
        y = np.linalg.norm(w, ord=1)                   # max column sum: column 1, |-2| + |4|
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), [[0.0, -1.0], [0.0, 1.0]])
    with tf.GradientTape() as tape:
        with pytest.raises(TypeError, match=r"np\.linalg\.norm.*ord=3"):
            np.linalg.norm(v, ord=3)
        with pytest.raises(TypeError, match=r"np\.linalg\.norm.*ord='nuc'"):
            np.linalg.norm(w, ord="nuc")


def test_clip_by_norm_and_global_norm():
    t = tf.constant([3.0, 4.0])
    np.testing.assert_allclose(tf.clip_by_norm(t, 1.0).numpy(), [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(tf.clip_by_norm(t, 10.0).numpy(), [3.0, 4.0])       # not clipped
    m = np.array([[3.0, 4.0], [0.3, 0.4]])
    np.testing.assert_allclose(tf.clip_by_norm(tf.constant(m), 1.0, axes=[1]).numpy(),
                               [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)
    assert tf.clip_by_norm(tf.zeros([3]), 1.0).numpy().tolist() == [0.0, 0.0, 0.0]
    a, b = _RNG.normal(size=(2, 3)), _RNG.normal(size=4)
    g = np.sqrt((a ** 2).sum() + (b ** 2).sum())
    assert float(tf.linalg.global_norm([tf.constant(a), None, tf.constant(b)])) == pytest.approx(g)
    for clip in (0.5 * g, 2.0 * g):
        clipped, norm_ = tf.clip_by_global_norm([tf.constant(a), None, tf.constant(b)], clip)
        assert clipped[1] is None and float(norm_) == pytest.approx(g)
        np.testing.assert_allclose(clipped[0].numpy(), a * clip / max(g, clip), rtol=1e-12)
        np.testing.assert_allclose(clipped[2].numpy(), b * clip / max(g, clip), rtol=1e-12)
    clipped, _ = tf.clip_by_global_norm([tf.constant(a)], 1.0, use_norm=4.0)
    np.testing.assert_allclose(clipped[0].numpy(), a / 4.0)
    clipped, _ = tf.clip_by_global_norm([tf.constant([1.0, np.inf])], 1.0)
    assert np.isnan(clipped[0].numpy()).all()                                  # as in TF
    assert not hasattr(tf, "global_norm")                                      # TF2: tf.linalg only
    assert tg.gradcheck(lambda x: tf.clip_by_norm(x, 1.0), a)
    assert tg.gradcheck(lambda x: tf.clip_by_norm(x, 1.0, axes=0), a)
    assert tg.gradcheck(lambda x, y: tf.clip_by_global_norm([x, y], 1.0)[0][0], a, b)
    assert tg.gradcheck(lambda x, y: tf.clip_by_global_norm([x, y], 100.0)[0][1], a, b)
    assert tg.gradcheck(lambda x, y: tf.linalg.global_norm([x, y]), a, b)
    with pytest.raises(TypeError, match="clip_by_global_norm: t_list must be a sequence"):
        tf.clip_by_global_norm(tf.constant(a), 1.0)
    with pytest.raises(ValueError, match="clip_by_norm: clip_norm must be > 0"):
        tf.clip_by_norm(t, -1.0)


def test_gather_and_tile():
    p = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(tf.gather(tf.constant(p), [2, 0, 2]).numpy(), p[[2, 0, 2]])
    np.testing.assert_array_equal(tf.gather(p, [[3, 1]], axis=1).numpy(), p[:, [[3, 1]]])
    assert tf.gather(p, [[3, 1]], axis=-1).shape == (3, 1, 2) and tf.gather(p, 1).shape == (4,)
    assert tg.gradcheck(lambda x: tf.gather(x, [2, 0, 2]), p)
    assert tg.gradcheck(lambda x: tf.gather(x, np.array([[1, 1], [3, 0]]), axis=1), p)
    with tf.GradientTape() as tape:
        x = tf.Variable(p)
        y = tf.reduce_sum(tf.gather(x, [1, 1, 2]))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [[0] * 4, [2] * 4, [1] * 4])
    with pytest.raises(NotImplementedError, match="gather: batch_dims=1"):
        tf.gather(p, [[0]], batch_dims=1)
    with pytest.raises(ValueError, match=r"gather: index 3 is outside \[0, 3\)"):
        tf.gather(p, [0, 3])
    with pytest.raises(ValueError, match=r"gather: index -1"):
        tf.gather(p, [-1])
    with pytest.raises(TypeError, match="gather: indices must be integers"):
        tf.gather(p, [0.5])

    t = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(tf.tile(tf.constant(t), [2, 3]).numpy(),
                                  [[1, 2, 1, 2, 1, 2], [3, 4, 3, 4, 3, 4]] * 2)
    assert tf.tile(tf.constant([1, 2]), tf.constant([2])).numpy().tolist() == [1, 2, 1, 2]
    assert tf.tile(t, [0, 1]).shape == (0, 2) and tf.tile(t, [1, 1]).numpy().tolist() == t.tolist()
    assert tg.gradcheck(lambda x: tf.tile(x, [3, 2]), t)
    assert tg.gradgradcheck(lambda x: tf.tile(x, [2, 1]) ** 2, t)
    with tf.GradientTape() as tape:
        x = tf.Variable(t)
        y = tf.reduce_sum(tf.tile(x, [2, 3]))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [[6, 6], [6, 6]])
    with pytest.raises(ValueError, match=r"tile: multiples must have one entry per axis.*\(2, 2\)"):
        tf.tile(t, [2])
    with pytest.raises(ValueError, match="tile: multiples must be >= 0"):
        tf.tile(t, [1, -1])


def test_tf_random_shapes_dtypes_and_ranges():
    assert tf.random.normal([2, 3]).shape == (2, 3) and tf.random.normal([2]).dtype == np.float32
    assert tf.random.normal((4,), dtype=tf.float64).dtype == np.float64
    big = tf.random.normal([20000], mean=2.0, stddev=3.0).numpy()
    assert abs(big.mean() - 2.0) < 0.1 and abs(big.std() - 3.0) < 0.1
    u = tf.random.uniform([5000]).numpy()
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.03
    u = tf.random.uniform([5000], minval=-2.0, maxval=-1.0, dtype=tf.float64).numpy()
    assert u.dtype == np.float64 and u.min() >= -2.0 and u.max() < -1.0
    i = tf.random.uniform([3000], minval=2, maxval=5, dtype=tf.int32).numpy()
    assert i.dtype == np.int32 and set(i.tolist()) == {2, 3, 4}
    tn = tf.random.truncated_normal([5000], mean=1.0, stddev=0.5).numpy()
    assert tn.min() >= 0.0 and tn.max() <= 2.0 and tn.dtype == np.float32
    s = tf.random.shuffle(tf.range(50)).numpy()
    assert sorted(s.tolist()) == list(range(50)) and s.tolist() != list(range(50))
    with pytest.raises(ValueError, match="uniform: must specify maxval for integer dtype"):
        tf.random.uniform([2], dtype=tf.int32)
    with pytest.raises(ValueError, match="normal: dtype must be a floating-point dtype"):
        tf.random.normal([2], dtype=tf.int32)
    with pytest.raises(TypeError, match="normal: shape must be a sequence of integers"):
        tf.random.normal("ab")
    with pytest.raises(ValueError, match="shuffle: value must have at least one axis"):
        tf.random.shuffle(tf.constant(1.0))


def test_tf_random_seeds():
    py_state, np_state = _pyrandom.getstate(), np.random.get_state()
    tf.random.set_seed(11)
    a = [tf.random.normal([3]).numpy(), tf.random.uniform([3]).numpy(), tf.random.shuffle(tf.range(8)).numpy()]
    s1, s2 = tf.random.normal([3], seed=5).numpy(), tf.random.normal([3], seed=5).numpy()
    tf.random.set_seed(11)
    b = [tf.random.normal([3]).numpy(), tf.random.uniform([3]).numpy(), tf.random.shuffle(tf.range(8)).numpy()]
    t1, t2 = tf.random.normal([3], seed=5).numpy(), tf.random.normal([3], seed=5).numpy()
    for x, y in zip(a + [s1, s2], b + [t1, t2]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(s1, s2)                 # an op seed's stream goes on, as in TF
    tf.random.set_seed(12)
    assert not np.array_equal(tf.random.normal([3], seed=5).numpy(), s1)   # the global seed counts
    assert _pyrandom.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    with pytest.raises(TypeError, match="seed must be an integer"):
        tf.random.normal([2], seed=1.5)
    tf.random.set_seed(None)


def test_tf_print():
    out = io.StringIO()
    tf.print("tensors:", tf.range(10), {2: tf.range(10) * 2}, output_stream=out)
    assert out.getvalue() == "tensors: [0 1 2 ... 7 8 9] {2: [0 2 4 ... 14 16 18]}\n"
    out = io.StringIO()
    tf.print(tf.range(2), tf.range(2) * 2, sep=",", end="|", output_stream=out)
    tf.print(tf.constant([[1.5, 2.0], [3.0, 4.0]]), tf.constant(7), output_stream=out)
    assert out.getvalue() == "[0 1],[0 2]|[[1.5 2]\n [3 4]] 7\n"
    err = io.StringIO()
    old, sys.stderr = sys.stderr, err
    try:
        tf.print(tf.range(5), summarize=-1)            # stderr by default, as in TF
    finally:
        sys.stderr = old
    assert err.getvalue() == "[0 1 2 3 4]\n"
    with pytest.raises(ValueError, match="print: output_stream"):
        tf.print(1, output_stream="nowhere")


def test_cond_and_while_loop():
    assert tf.cond(tf.constant(True), lambda: 1, lambda: 2) == 1
    assert tf.cond(tf.constant(2.0) < 1.0, true_fn=lambda: 1, false_fn=lambda: 2) == 2
    with pytest.raises(TypeError, match="cond: false_fn must be callable"):
        tf.cond(True, lambda: 1, 2)
    with pytest.raises(ValueError, match="cond: the condition must be a scalar"):
        tf.cond(tf.constant([True, False]), lambda: 1, lambda: 2)
    i, s = tf.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s + i), (tf.constant(0), tf.constant(0)))
    assert int(i) == 5 and int(s) == 0 + 1 + 2 + 3 + 4
    out = tf.while_loop(lambda i: i < 100, lambda i: i + 1, [tf.constant(0)], maximum_iterations=3)
    assert isinstance(out, list) and int(out[0]) == 3
    x = tf.Variable(1.5)
    with tf.GradientTape() as tape:
        _, y = tf.while_loop(lambda k, v: k < 3, lambda k, v: (k + 1, v * x), (0, tf.constant(1.0)))
    assert float(y) == pytest.approx(1.5 ** 3) and float(tape.gradient(y, x)) == pytest.approx(3 * 1.5 ** 2)
    with pytest.raises(ValueError, match=r"while_loop: body must return 2 loop variable\(s\)"):
        tf.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1,), (0, 0))


def test_einsum_one_and_two_operands():
    a, b = _RNG.normal(size=(2, 3, 4)), _RNG.normal(size=(2, 4, 5))
    m, v = _RNG.normal(size=(3, 4)), _RNG.normal(size=4)
    np.testing.assert_allclose(tf.einsum("ij,jk->ik", m, b[0]).numpy(), m @ b[0], rtol=1e-12)
    np.testing.assert_allclose(tf.einsum("bij,bjk->bik", a, b).numpy(), a @ b, rtol=1e-12)
    np.testing.assert_allclose(tf.einsum("bij,bjk->bki", a, b).numpy(), np.transpose(a @ b, (0, 2, 1)), rtol=1e-12)
    np.testing.assert_allclose(tf.einsum("i,j->ij", v, v).numpy(), v[:, None] * v[None, :])
    np.testing.assert_allclose(float(tf.einsum("i,i->", v, v)), (v * v).sum(), rtol=1e-12)
    np.testing.assert_allclose(tf.einsum("ij,j->i", m, v).numpy(), m @ v, rtol=1e-12)
    np.testing.assert_allclose(tf.einsum("ij->ji", m).numpy(), m.T)
    np.testing.assert_allclose(tf.einsum("ij->j", m).numpy(), m.sum(0), rtol=1e-12)
    np.testing.assert_allclose(tf.einsum("ij,jk", m, b[1]).numpy(), m @ b[1], rtol=1e-12)   # implicit output
    np.testing.assert_allclose(tf.einsum("ij,jk->i", m, b[1]).numpy(), (m @ b[1]).sum(1), rtol=1e-12)
    assert tg.gradcheck(lambda x, y: tf.einsum("bij,bjk->bki", x, y), a, b)
    assert tg.gradcheck(lambda x, y: tf.einsum("ij,j->i", x, y), m, v)
    with pytest.raises(NotImplementedError, match="einsum: repeated subscripts"):
        tf.einsum("ii->i", np.eye(2))
    with pytest.raises(ValueError, match="einsum: subscript 'j' has sizes 4 and 3"):
        tf.einsum("ij,jk->ik", m, m)
    with pytest.raises(ValueError, match="does not match subscripts"):
        tf.einsum("ijk->i", m)


def test_unconnected_gradients_enum_as_in_tf():
    x = tf.Variable(np.array([1.0, 2.0]))
    y = tf.Variable(np.array([3.0]))
    with tf.GradientTape(persistent=True) as tape:
        z = tf.reduce_sum(x * x)
    gx, gy = tape.gradient(z, [x, y], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(gy.numpy(), [0.0])
    assert tape.gradient(z, [x, y], unconnected_gradients=tf.UnconnectedGradients.NONE)[1] is None
    np.testing.assert_array_equal(tape.jacobian(z, y, unconnected_gradients=tf.UnconnectedGradients.ZERO).numpy(),
                                  [0.0])
    assert tf.UnconnectedGradients.ZERO == "zero" and tf.UnconnectedGradients("none") is tf.UnconnectedGradients.NONE
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(z, x, unconnected_gradients="zeros")
