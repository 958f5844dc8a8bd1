"""The course's two TensorFlow examples (shared/seeds/004), with only imports and names changed:
`Var` for tf.Variable, tinygrad_bn.optimizers.Adam for the Keras optimizer, tinygrad_bn.GradientTape."""
import numpy as np

import tinygrad_bn as tf                     # the only change: which module is "tf"
from tinygrad_bn import Var


def test_apply_gradients_form_converges_to_5():
    w = Var(0, dtype=tf.float32)
    optimizer = tf.optimizers.Adam(0.1)

    def train_step():
        with tf.GradientTape() as tape:
            # manual fore prop, automatic back prop
            cost = w**2 - 10*w + 25
        trainable_variables = [w]
        grads = tape.gradient(cost, trainable_variables)
        optimizer.apply_gradients(zip(grads, trainable_variables))

    print(w)
    train_step()
    print(w)
    np.testing.assert_allclose(float(w), 0.1, rtol=1e-5)   # Adam's first step is lr * sign(g)
    for i in range(1000):
        train_step()
    print(w)
    assert abs(float(w) - 5.0) < 1e-3
    assert w.dtype == np.float32


def test_minimize_form_converges_to_5():
    w = Var(0, dtype=tf.float32)
    x = np.array([1.0, -10.0, 25.0], dtype=np.float32)
    optimizer = tf.optimizers.Adam(0.1)

    def training(x, w, optimizer):
        def cost_fn():
            return x[0]*w**2 + x[1]*w + x[2]  # construct a computation graph
        for i in range(1000):
            optimizer.minimize(cost_fn, [w])
        return w

    w = training(x, w, optimizer)
    print(w)
    assert abs(float(w) - 5.0) < 1e-3
    assert optimizer.iterations == 1000
