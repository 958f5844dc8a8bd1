"""Panda: babysit one model on digits -- train, look, change the learning rate, roll back.

    python examples/tune_panda.py        # writes panda.png
"""
from tinygrad_bn.datasets import load_digits
from tinygrad_bn.losses import SparseCategoricalCrossentropy
from tinygrad_bn.keras import Activation, BatchNormalization, Dense, Sequential
from tinygrad_bn.optimizers import Adam
from tinygrad_bn.tune import Babysitter


def main(plot="panda.png", checkpoint_dir="panda_ckpt"):
    (x, y), (x_test, y_test) = load_digits()
    xv, yv, x, y = x[:300], y[:300], x[300:], y[300:]
    model = Sequential([Dense(64, use_bias=False), BatchNormalization(), Activation("relu"),
                        Dense(10)])
    model.compile(optimizer=Adam(learning_rate=1e-3), metrics=["accuracy"],
                  loss=SparseCategoricalCrossentropy(from_logits=True))
    sitter = Babysitter(model, x, y, validation_data=(xv, yv), batch_size=32,
                        checkpoint_dir=checkpoint_dir)
    sitter.train(3)                  # day 1: a cautious start
    sitter.checkpoint("day1")        # keep what we have
    sitter.learning_rate = 0.3       # day 2: much bolder ...
    sitter.train(2)                  # ... and the validation loss jumps
    sitter.rollback("day1")          # so go back to day 1 (weights and Adam state)
    sitter.learning_rate = 3e-3      # a gentler nudge up
    sitter.train(4)
    sitter.checkpoint("day3")
    sitter.learning_rate = 1e-3      # anneal for the last stretch
    sitter.train(3)
    loss, acc = sitter.model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}  test accuracy {acc:.4f}")
    sitter.plot(plot)
    print(f"plot written to {plot}")
    return sitter


if __name__ == "__main__":
    main()
