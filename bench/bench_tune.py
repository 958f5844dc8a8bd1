"""Benchmark of tinygrad_bn.tune: parallel speed-up and the search's own overhead.

    python bench/bench_tune.py            # about a minute on 2 cores
    python bench/bench_tune.py --quick

1. Trials per minute for CPU-bound trials (``objectives.cpu_burn``, NumPy on one BLAS
   thread) with 1 worker (serial in the driver) and 2 worker processes.  Target on a
   2-core machine: >= 1.7x with 2 workers.  Reported with a warm pool (steady state) and
   with the pool's start-up included.
2. The search's own overhead (sampling, SQLite transactions, bookkeeping) as a fraction
   of trial time, measured in the driver: wall time of ``optimize`` minus the time spent
   inside the objective.  Target < 1%.  Also the absolute cost per trial with an
   objective that does nothing.
"""
import argparse
import concurrent.futures as cf
import os
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygrad_bn import tune  # noqa: E402
from tinygrad_bn.tune import objectives as obj  # noqa: E402
from tinygrad_bn.tune.executors import process_pool  # noqa: E402


def _space(work):
    space = obj.log_bowl_space()
    space["work"] = tune.Choice([work])
    return space


def _noop(trial):
    return 0.0


def _spin(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


def machine_parallelism(n=2_000_000):
    """Speed-up of a bare ProcessPoolExecutor(2) on pure-Python work, right now: the best
    any 2-worker scheme can do on this (shared) machine at this moment."""
    t0 = time.perf_counter()
    for _ in range(4):
        _spin(n)
    serial = time.perf_counter() - t0
    with cf.ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [10, 10]))
        t0 = time.perf_counter()
        list(pool.map(_spin, [n] * 4))
        par = time.perf_counter() - t0
    return serial / par


def _warm(pool, n):
    list(pool.map(_noop, [None] * (4 * n)))


def _run(n_trials, work, storage, tag, **kw):
    study = tune.Study(f"speed-{tag}-{time.time_ns()}", _space(work), storage=storage)
    t0 = time.perf_counter()
    study.optimize(obj.cpu_burn, n_trials, seed=0, **kw)
    dt = time.perf_counter() - t0
    assert all(t.state == "complete" for t in study.trials), study.trials[0].error
    return 60.0 * n_trials / dt


def speedup(n_trials, work, storage, repeats=3):
    """Best-of-``repeats`` trials/minute, serial vs a warm 2-process pool, interleaved so
    that bursts of other jobs on a shared machine hit both alike."""
    one, two = [], []
    with process_pool(2) as pool:
        _warm(pool, 2)
        for _ in range(repeats):
            one.append(_run(n_trials, work, storage, "serial"))
            two.append(_run(n_trials, work, storage, "pool", executor=pool, n_jobs=2))
    return max(one), max(two)


def overhead(n_trials, work, storage):
    """(overhead fraction, ms of overhead per trial) for serial CPU-bound trials."""
    inside = []

    def timed(trial):
        t0 = time.perf_counter()
        try:
            return obj.cpu_burn(trial)
        finally:
            inside.append(time.perf_counter() - t0)

    study = tune.Study(f"overhead-{time.time_ns()}", _space(work), storage=storage)
    t0 = time.perf_counter()
    study.optimize(timed, n_trials, seed=0)
    wall = time.perf_counter() - t0
    spent = sum(inside)
    return (wall - spent) / spent, 1e3 * (wall - spent) / n_trials, spent / n_trials


def per_trial_cost(n_trials, storage):
    study = tune.Study(f"noop-{time.time_ns()}", _space(1), storage=storage)
    t0 = time.perf_counter()
    study.optimize(_noop, n_trials, seed=0)
    return 1e3 * (time.perf_counter() - t0) / n_trials


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    tune.limit_threads(1)  # the serial baseline gets one BLAS thread too: a fair comparison
    # cpu_burn does ~23 us per unit of work on an idle core: ~0.1 s / ~0.25 s per trial
    n, work = (8, 4000) if args.quick else (12, 10000)
    calib = machine_parallelism()
    with tempfile.TemporaryDirectory() as d:
        storage = f"sqlite:///{os.path.join(d, 'bench.db')}"
        one, two = speedup(n, work, storage, repeats=2 if args.quick else 3)
        two_cold = _run(n, work, storage, "cold", n_jobs=2)
        frac, ms, trial_s = overhead(n, work, storage)
        cost_file = per_trial_cost(100 if args.quick else 300, storage)
    cost_mem = per_trial_cost(100 if args.quick else 300, None)
    calib2 = machine_parallelism()
    print(f"tune: machine check: a bare 2-process pool runs pure-Python work {calib:.2f}x / "
          f"{calib2:.2f}x faster than 1 process (before / after; < 1.9x means other jobs "
          f"share the cores)")
    print(f"tune: CPU-bound trials ({trial_s:.2f} s each, {n} per run, {os.cpu_count()} cores)")
    print(f"tune: trials/minute (best of interleaved runs)  1 worker {one:7.1f} | "
          f"2 workers {two:7.1f} (warm pool)  "
          f"speed-up {two / one:.2f}x (target >= 1.7x)")
    print(f"tune: trials/minute  2 workers incl. spawning the pool {two_cold:7.1f}  "
          f"speed-up {two_cold / one:.2f}x")
    print(f"tune: search overhead {100 * frac:.3f}% of trial time ({ms:.2f} ms per trial, "
          f"SQLite file; target < 1%)")
    print(f"tune: per-trial cost with a no-op objective  SQLite file {cost_file:.2f} ms | "
          f"in memory {cost_mem:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
