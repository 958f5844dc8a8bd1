"""Benchmark of tinygrad_bn.tune: parallel speed-up and the search's own overhead.

    python -m tinygrad_bn bench --only tune     (about a minute on 2 cores; --quick: seconds)

1. Trials per minute for CPU-bound trials (``objectives.cpu_burn``, NumPy on one BLAS
   thread) with 1 worker (serial in the driver) and 2 worker processes (a warm pool),
   each contender in its own process, interleaved rounds; the speed-up is the median of
   the per-round ratios.  Target on a 2-core machine: >= 1.7x.  Also with the pool's
   start-up included.
2. The search's own overhead (sampling, SQLite transactions, bookkeeping) as a fraction
   of trial time: wall time of ``optimize`` minus the time spent inside the objective,
   measured in its own process.  Target < 1%.  Also the absolute cost per trial with an
   objective that does nothing (SQLite file vs in memory).
"""
import atexit
import concurrent.futures as cf
import os
import tempfile
import time

from .common import Contender, compare, header, measure, parse_args

MOD = "tinygrad_bn.benchmarks.tune"


def _space(work):
    from tinygrad_bn import tune
    from tinygrad_bn.tune import objectives as obj
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


def _storage():
    d = tempfile.mkdtemp(prefix="tgbn-bench-tune-")
    return f"sqlite:///{os.path.join(d, 'bench.db')}"


def study_fn(n_trials, work, n_jobs=1, warm=True, in_memory=False, objective="cpu_burn"):
    """One ``optimize`` of ``n_trials`` trials per call; ``n_jobs`` > 1 uses a process pool
    (kept warm across calls when ``warm``, else created inside each call)."""
    from tinygrad_bn import tune
    from tinygrad_bn.tune import objectives as obj
    from tinygrad_bn.tune.executors import process_pool
    tune.limit_threads(1)   # the serial baseline gets one BLAS thread too: a fair comparison
    fn = obj.cpu_burn if objective == "cpu_burn" else _noop
    storage = None if in_memory else _storage()
    pool = None
    if n_jobs > 1 and warm:
        pool = process_pool(n_jobs)
        atexit.register(pool.shutdown)
        list(pool.map(_noop, [None] * (4 * n_jobs)))

    def run():
        study = tune.Study(f"speed-{time.time_ns()}", _space(work), storage=storage)
        if n_jobs == 1:
            study.optimize(fn, n_trials, seed=0)
        elif pool is not None:
            study.optimize(fn, n_trials, seed=0, executor=pool, n_jobs=n_jobs)
        else:
            study.optimize(fn, n_trials, seed=0, n_jobs=n_jobs)
        bad = [t for t in study.trials if t.state != "complete"]
        if bad:
            raise RuntimeError(f"tune bench: trial failed: {bad[0].error}")
    return run


def overhead_probe(n_trials, work):
    """Measured once at build time: (wall - time inside the objective) / time inside."""
    from tinygrad_bn import tune
    from tinygrad_bn.tune import objectives as obj
    tune.limit_threads(1)
    inside = []

    def timed(trial):
        t0 = time.perf_counter()
        try:
            return obj.cpu_burn(trial)
        finally:
            inside.append(time.perf_counter() - t0)

    study = tune.Study(f"overhead-{time.time_ns()}", _space(work), storage=_storage())
    t0 = time.perf_counter()
    study.optimize(timed, n_trials, seed=0)
    wall = time.perf_counter() - t0
    spent = sum(inside)
    return (lambda: None), {"frac": (wall - spent) / spent, "ms": 1e3 * (wall - spent) / n_trials,
                            "trial_s": spent / n_trials}


def main(argv=None):
    args = parse_args(argv, __doc__)
    header("tune")
    n, work = (4, 500) if args.quick else (12, 10000)
    rounds = args.rounds if not args.quick else 1
    calib = machine_parallelism(200_000 if args.quick else 2_000_000)
    t = compare({"1 worker": Contender(f"{MOD}:study_fn", n_trials=n, work=work),
                 "2 workers": Contender(f"{MOD}:study_fn", n_trials=n, work=work, n_jobs=2),
                 "2 workers cold": Contender(f"{MOD}:study_fn", n_trials=n, work=work, n_jobs=2, warm=False)},
                rounds=min(rounds, 3), repeats=1, min_time=0.0, quick=args.quick)
    _, info = measure(f"{MOD}:overhead_probe", quick=True, n_trials=n, work=work)
    k = 100 if args.quick else 300
    c = compare({"file": Contender(f"{MOD}:study_fn", n_trials=k, work=1, objective="noop"),
                 "memory": Contender(f"{MOD}:study_fn", n_trials=k, work=1, objective="noop", in_memory=True)},
                rounds=min(rounds, 3), repeats=1, min_time=0.0, quick=args.quick)
    calib2 = machine_parallelism(200_000 if args.quick else 2_000_000)
    lines = [f"tune: machine check: a bare 2-process pool runs pure-Python work {calib:.2f}x / "
             f"{calib2:.2f}x faster than 1 process (before / after; < 1.9x means other jobs share the cores)",
             f"tune: CPU-bound trials ({info['trial_s']:.2f} s each, {n} per run, {os.cpu_count()} cores)"]
    one, two, cold = (t.time(k_) for k_ in ("1 worker", "2 workers", "2 workers cold"))
    if one and two:
        lines.append(f"tune: trials/minute  1 worker {60 * n / one:7.1f} | 2 workers {60 * n / two:7.1f} "
                     f"(warm pool)  speed-up {t.ratio('1 worker', '2 workers'):.2f}x (target >= 1.7x)")
    if one and cold:
        lines.append(f"tune: trials/minute  2 workers incl. spawning the pool {60 * n / cold:7.1f}  "
                     f"speed-up {t.ratio('1 worker', '2 workers cold'):.2f}x")
    lines.append(f"tune: search overhead {100 * info['frac']:.3f}% of trial time ({info['ms']:.2f} ms per trial, "
                 f"SQLite file; target < 1%)")
    if c.time("file") and c.time("memory"):
        lines.append(f"tune: per-trial cost with a no-op objective  SQLite file {1e3 * c.time('file') / k:.2f} ms"
                     f" | in memory {1e3 * c.time('memory') / k:.2f} ms")
    for line in lines:
        print(line, flush=True)
    return lines


if __name__ == "__main__":
    main()
