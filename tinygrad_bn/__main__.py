"""``python -m tinygrad_bn demo | bench | tune`` (and ``course``, the course's minimize example)."""
import sys

USAGE = """usage: python -m tinygrad_bn COMMAND [options]

commands:
  demo     train the course's network with and without batch norm on digits (the main job)
  course   the course's TensorFlow example: Adam drives w to 5
  bench    run the benchmarks (ours vs hand-written NumPy vs PyTorch when installed), each
           contender in its own process; --only step,core,kernels,train,tune  --quick  --no-torch
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
    if cmd not in ("course", "demo", "bench", "tune"):
        print(f"unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    # The project's own entry points keep freed arrays for reuse (tinygrad_bn.memory);
    # importing the library never does.  ``tune`` passes it on to its worker processes.
    from . import memory
    memory.tune_malloc(subprocesses=(cmd == "tune"))
    if cmd == "course":
        return course(rest)
    if cmd == "demo":
        from . import demo
        return demo.main(rest)
    if cmd == "bench":
        from .benchmarks import run
        return run.main(rest)
    from .tune import cli
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main())
