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
    exec(compile(_port(block), f"seeds/004 {version}", "exec"), ns)
    model = ns["model"]
    history = model.history.history if hasattr(model, "history") and model.history else None
    logits_or_probs = model.predict(X, verbose=0)
    accuracy = np.mean(np.argmax(logits_or_probs, axis=1) == Y)
    assert accuracy > 0.8, accuracy
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
