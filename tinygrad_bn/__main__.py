"""``python -m tinygrad_bn demo | bench | tune`` (and ``course``, the course's minimize example)."""
import sys

USAGE = """usage: python -m tinygrad_bn COMMAND [options]

commands:
  demo     train the course's network with and without batch norm on digits (the main job)
  course   the course's TensorFlow example: Adam drives w to 5
  bench    run the benchmarks (ours vs hand-written NumPy vs PyTorch when installed)
  tune     random-search hyperparameters of the demo network (see --help)
"""


def course(argv=None):
    """The course's two TF examples, with tinygrad_bn names."""
    import time

    import numpy as np

    import tinygrad_bn as tg

    w = tg.Var(0, dtype=np.float32)
    optimizer = tg.optimizers.Adam(0.1)

    def train_step():
        with tg.GradientTape() as tape:
            cost = w ** 2 - 10 * w + 25
        trainable_variables = [w]
        grads = tape.gradient(cost, trainable_variables)
        optimizer.apply_gradients(zip(grads, trainable_variables))

    print(w)
    train_step()
    print(w)
    t0 = time.perf_counter()
    for _ in range(1000):
        train_step()
    print(w, f"  (1000 apply_gradients steps in {1e3 * (time.perf_counter() - t0):.1f} ms)")

    w = tg.Var(0, dtype=np.float32)
    x = np.array([1.0, -10.0, 25.0], dtype=np.float32)
    optimizer = tg.optimizers.Adam(0.1)

    def training(x, w, optimizer):
        def cost_fn():
            return x[0] * w ** 2 + x[1] * w + x[2]
        for _ in range(1000):
            optimizer.minimize(cost_fn, [w])
        return w

    t0 = time.perf_counter()
    w = training(x, w, optimizer)
    print(w, f"  (1000 minimize steps in {1e3 * (time.perf_counter() - t0):.1f} ms)")
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "course":
        return course(rest)
    if cmd == "demo":
        from . import demo
        return demo.main(rest)
    if cmd == "bench":
        import importlib.util
        import os
        here = os.path.dirname(os.path.abspath(__file__))
        runner = os.path.join(os.path.dirname(here), "bench", "run.py")
        if not os.path.exists(runner):
            print("bench/ is not next to the package (run from a source checkout)", file=sys.stderr)
            return 2
        spec = importlib.util.spec_from_file_location("tinygrad_bn_bench_run", runner)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.main(rest)
    if cmd == "tune":
        from .tune import cli
        return cli.main(rest)
    print(f"unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
