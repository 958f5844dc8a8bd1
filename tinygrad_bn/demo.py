"""``python -m tinygrad_bn demo``: the main job.

1. The course's TensorFlow example with tinygrad_bn names: Adam drives the
   minimum of ``w**2 - 10 w + 25`` to w = 5.
2. The course's Keras network (Dense 25 relu, Dense 15 relu, Dense 10 linear,
   ``from_logits=True``) with batch norm after each hidden Dense
   (Dense ``use_bias=False`` -> BatchNormalization -> ReLU), trained on
   scikit-learn's handwritten digits with live progress bars; test accuracy
   and wall time are printed.
3. The same network without batch norm, for comparison.
4. Both learning curves in a PNG (when matplotlib is installed).

``--quick`` runs a few epochs only (used by the test suite).
"""
import argparse
import os
import sys
import time

import numpy as np

__all__ = ["main", "build_network", "course_minimize"]


def course_minimize(steps=1000, out=print):
    """The course's ``optimizer.minimize`` example: returns the final w (should be 5)."""
    import tinygrad_bn as tg
    w = tg.Var(0, dtype=np.float32)
    x = np.array([1.0, -10.0, 25.0], dtype=np.float32)
    optimizer = tg.optimizers.Adam(0.1)

    def cost_fn():
        return x[0] * w ** 2 + x[1] * w + x[2]

    t0 = time.perf_counter()
    for _ in range(steps):
        optimizer.minimize(cost_fn, [w])
    dt = time.perf_counter() - t0
    out(f"w = {float(w.data):.5f} after {steps} Adam(0.1) minimize steps on w**2 - 10*w + 25 "
        f"(minimum at w = 5), {1e3 * dt:.1f} ms")
    return float(w.data)


def build_network(batch_norm=True):
    """The course's digits network; with batch norm, each hidden Dense drops its bias
    (BN's beta replaces it) and is followed by BatchNormalization and ReLU."""
    from .keras import BatchNormalization, Dense, ReLU, Sequential
    if batch_norm:
        return Sequential([
            Dense(25, use_bias=False), BatchNormalization(), ReLU(),
            Dense(15, use_bias=False), BatchNormalization(), ReLU(),
            Dense(10, activation="linear"),
        ], name="digits_bn")
    return Sequential([
        Dense(25, activation="relu"),
        Dense(15, activation="relu"),
        Dense(10, activation="linear"),
    ], name="digits_plain")


def _train(batch_norm, data, args, out):
    import tinygrad_bn as tg
    from .losses import SparseCategoricalCrossentropy
    (x_train, y_train), (x_test, y_test) = data
    tg.utils.set_seed(args.seed)
    model = build_network(batch_norm)
    steps = args.epochs * -(-len(x_train) // args.batch_size)
    lr = tg.schedules.CosineDecay(args.lr, steps) if args.cosine else args.lr
    model.compile(optimizer=tg.optimizers.Adam(lr),
                  loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    title = "with batch norm" if batch_norm else "without batch norm"
    out(f"\n== Network {title}: " + " -> ".join(
        f"{type(l).__name__}({getattr(l, 'units', '')})".replace("()", "") for l in model.layers))
    if batch_norm:
        model.build((None, x_train.shape[1]))
        model.summary(print_fn=out)
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_data=(x_test, y_test), verbose=args.verbose)
    wall = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    out(f"{title}: test accuracy {100 * acc:.2f}%  test loss {loss:.4f}  "
        f"training wall time {wall:.2f} s ({args.epochs} epochs, batch {args.batch_size}, "
        f"{1e3 * wall / steps:.2f} ms/step incl. validation)")
    return {"model": model, "history": history.history, "acc": acc, "loss": loss, "wall": wall}


def plot_curves(results, path):
    """Write the learning curves (loss and accuracy, train and test, both networks) to ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('the learning-curve plot needs matplotlib, an optional extra: '
                          'pip install "tinygrad_bn[demo]"') from None
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110)
    colors = {"with batch norm": "tab:blue", "without batch norm": "tab:orange"}
    for label, res in results.items():
        h = res["history"]
        epochs = np.arange(1, len(h["loss"]) + 1)
        c = colors.get(label)
        ax_loss.plot(epochs, h["loss"], color=c, lw=1.8, label=f"{label}, train")
        ax_loss.plot(epochs, h["val_loss"], color=c, lw=1.8, ls="--", label=f"{label}, test")
        ax_acc.plot(epochs, 100 * np.asarray(h["accuracy"]), color=c, lw=1.8, label=f"{label}, train")
        ax_acc.plot(epochs, 100 * np.asarray(h["val_accuracy"]), color=c, lw=1.8, ls="--",
                    label=f"{label}, test ({100 * res['acc']:.1f}%)")
    ax_loss.set_yscale("log")
    ax_loss.set_title("Cross-entropy loss (log scale)")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_acc.set_title("Accuracy")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(80, 100.5)
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8.5)
    fig.suptitle("Digits (8x8), Dense 25 -> 15 -> 10, Adam: with vs without batch norm", fontsize=12)
    fig.tight_layout()
    from .utils import atomic_write
    atomic_write(path, lambda fh: fig.savefig(fh, format="png"))
    plt.close(fig)
    return path


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tinygrad_bn demo",
                                description="Train the course's digits network with and without batch norm.")
    p.add_argument("--quick", action="store_true", help="a few epochs only (for tests)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per network (default 100, quick: 3)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    p.add_argument("--no-cosine", dest="cosine", action="store_false",
                   help="constant learning rate instead of cosine decay to 0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                   help="1: a live progress bar per epoch (default), 2: one line per epoch, 0: quiet")
    p.add_argument("--plot", default="learning_curves.png",
                   help="PNG for the learning curves (default learning_curves.png)")
    p.add_argument("--no-plot", dest="plot", action="store_const", const=None, help="skip the PNG")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 3 if args.quick else 100
    return args


def main(argv=None):
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    out = print
    t_start = time.perf_counter()
    out("== The course's example: optimizer.minimize(cost_fn, [w])")
    course_minimize(out=out)

    from .datasets import load_digits
    data = load_digits(test_size=0.2, seed=0)
    (x_train, y_train), (x_test, y_test) = data
    out(f"\n== Digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels, 10 classes "
        "(standardised with the training statistics)")

    results = {}
    results["with batch norm"] = _train(True, data, args, out)
    results["without batch norm"] = _train(False, data, args, out)

    bn, plain = results["with batch norm"], results["without batch norm"]
    out("\n== Summary")
    out(f"with batch norm:    test accuracy {100 * bn['acc']:.2f}%   wall time {bn['wall']:.2f} s")
    out(f"without batch norm: test accuracy {100 * plain['acc']:.2f}%   wall time {plain['wall']:.2f} s")
    if args.plot:
        try:
            path = plot_curves(results, args.plot)
            out(f"learning curves written to {os.path.abspath(path)}")
        except ImportError as exc:
            out(f"(no plot: {exc})")
    out(f"total demo time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
