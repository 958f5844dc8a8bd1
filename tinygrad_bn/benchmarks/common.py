"""Shared benchmark machinery: every contender in its own process, interleaved rounds.

A case is a dict ``{label: Contender(...)}``.  A :class:`Contender` names a
*factory* (``"module:function"``) and its keyword arguments.  :func:`compare`
starts one worker process per contender (``python -c`` + :func:`_serve`); the
worker imports the factory, calls it once to build the data and the model, and
gets back the zero-argument callable to time.  It calibrates how many calls one
repeat needs (at least ``min_time`` seconds), then waits.  The driver then runs
``rounds`` rounds; in each round every worker in turn (order rotated from round
to round) times ``repeats`` repeats and answers with their median, while the
other workers sleep on their pipe.  By default (:data:`FRESH`) each round has its
own worker processes, each started just before it is timed and stopped after, so
no contender keeps one process's luck for the whole run.  Nothing of one contender (PyTorch's thread
pool, our OpenMP threads, a warm allocator) lives in another's process: in one
shared process PyTorch's step was up to 20x slower here.

Each report line gives, per contender, the median of its per-round times, and
per pair the **median of the per-round ratios** (a slow spell of the shared
machine hits both sides of a ratio taken within one round).

The worker's standard output is kept for the protocol (one JSON object per
line); anything the timed code prints goes to standard error.
"""
import gc
import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import traceback

#: set by ``--quick`` (smoke runs): one round, one repeat, tiny ``min_time``
QUICK = {"rounds": 1, "repeats": 1, "min_time": 0.0, "warmup": 1}


class BenchError(RuntimeError):
    """A worker failed to build or run its contender."""


class Contender:
    """One contender of a case: ``factory(**kwargs)`` returns the callable to time.

    ``factory`` is ``"package.module:function"``; the function may also return
    ``(callable, info)`` with a JSON-serialisable ``info`` dict (shown by
    :meth:`Result.info`).  ``prelude`` is Python source run in the worker before
    anything else is imported (e.g. ``"import torch"``); ``env`` adds
    environment variables; ``malloc`` applies :func:`tinygrad_bn.memory.tune_malloc`
    in the worker first (the benchmark is one of the project's own entry points).
    """

    def __init__(self, factory, prelude="", env=None, malloc=True, **kwargs):
        if not isinstance(factory, str) or factory.count(":") != 1:
            raise ValueError(f"Contender: factory must be 'module:function', got {factory!r}")
        self.factory, self.prelude, self.env, self.malloc, self.kwargs = \
            factory, prelude, dict(env or {}), bool(malloc), kwargs

    def __repr__(self):
        return f"Contender({self.factory!r}, {self.kwargs!r})"


def importable(module):
    """True when ``module`` can be imported (checked without importing it here)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def torch_available():
    """PyTorch is a contender when importable, unless ``TINYGRAD_BN_BENCH_NO_TORCH=1`` (``--no-torch``)."""
    if os.environ.get("TINYGRAD_BN_BENCH_NO_TORCH", "").strip().lower() not in ("", "0", "false", "no", "off"):
        return False
    return importable("torch")


# ---------------------------------------------------------------------------
# the worker side
# ---------------------------------------------------------------------------

_BOOT = """\
import json, sys
spec = json.loads(sys.argv[1])
exec(compile(spec["prelude"], "<prelude>", "exec"), {})
from tinygrad_bn.benchmarks.common import _serve
_serve(spec)
"""


def build(factory, kwargs):
    """Import and call a factory; returns (callable, info)."""
    mod_name, fn_name = factory.split(":")
    made = getattr(importlib.import_module(mod_name), fn_name)(**kwargs)
    if isinstance(made, tuple):
        fn, info = made
    else:
        fn, info = made, {}
    if not callable(fn):
        raise TypeError(f"benchmark factory {factory} returned {type(fn).__name__}, not a callable")
    return fn, dict(info)


def calibrate(fn, min_time, warmup=1):
    """Calls per repeat so that one repeat lasts at least ``min_time`` seconds."""
    for _ in range(warmup):
        fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time or number >= 1 << 24:
            return number
        number *= 2 if elapsed == 0 else max(2, min(10, int(min_time / max(elapsed, 1e-9)) + 1))


def time_repeats(fn, number, repeats):
    """Median seconds per call over ``repeats`` repeats of ``number`` calls (GC off)."""
    times = []
    gc_was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(times)


def _serve(spec):
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                       # stray prints of the timed code go to stderr

    def send(**msg):
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    try:
        if spec.get("malloc"):
            from tinygrad_bn import memory
            memory.tune_malloc()
        fn, info = build(spec["factory"], spec["kwargs"])
        number = calibrate(fn, spec["min_time"], spec["warmup"])
    except BaseException:  # noqa: BLE001 - reported to the driver, which names the contender
        send(error=traceback.format_exc())
        return
    send(ready=True, number=number, info=info)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("cmd") != "time":
            break
        try:
            send(t=time_repeats(fn, number, cmd["repeats"]))
        except BaseException:  # noqa: BLE001
            send(error=traceback.format_exc())
            return


# ---------------------------------------------------------------------------
# the driver side
# ---------------------------------------------------------------------------

class Result:
    """Per-round times of each contender of one case (``samples[label]``, seconds)."""

    def __init__(self, samples, infos, numbers):
        self.samples, self.infos, self.numbers = samples, infos, numbers

    def __contains__(self, label):
        return label in self.samples

    def time(self, label):
        """Median over rounds of ``label``'s time per call, or None when it did not run."""
        s = self.samples.get(label)
        return statistics.median(s) if s else None

    def ratio(self, a, b):
        """Median over rounds of time(a) / time(b) within the round; None if either is missing."""
        sa, sb = self.samples.get(a), self.samples.get(b)
        if not sa or not sb:
            return None
        return statistics.median(x / y for x, y in zip(sa, sb))

    def info(self, label):
        return self.infos.get(label, {})


def _package_root():
    import tinygrad_bn
    return os.path.dirname(os.path.dirname(os.path.abspath(tinygrad_bn.__file__)))


#: seconds a worker may take to answer one request before it is killed (``TINYGRAD_BN_BENCH_TIMEOUT``)
TIMEOUT = float(os.environ.get("TINYGRAD_BN_BENCH_TIMEOUT", "900"))


def _readline(label, proc):
    if os.name == "posix":
        import select
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        if not ready:
            proc.kill()
            proc.wait()
            raise BenchError(f"benchmark worker {label!r} did not answer within {TIMEOUT:.0f} s (killed)")
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise BenchError(f"benchmark worker {label!r} exited (code {proc.returncode}) without answering")
    msg = json.loads(line)
    if "error" in msg:
        raise BenchError(f"benchmark worker {label!r} failed:\n{msg['error']}")
    return msg


#: seconds between two timings of different contenders (idle threads of the last one settle)
SETTLE = 0.3


#: a fresh worker process for every contender in every round (``TINYGRAD_BN_BENCH_FRESH=0``: one
#: process per contender for all rounds).  Measured here: the same step at batch 64 ran at
#: 0.46 ms in some processes and 0.69 ms in others, each process staying in its mode (where
#: its threads landed, its memory layout), so with one process per contender a ratio could
#: read 0.82 or 1.28 for the same code; a new process per round averages over that.
FRESH = os.environ.get("TINYGRAD_BN_BENCH_FRESH", "1").strip().lower() not in ("0", "false", "no", "off")


def _spawn(c, root, min_time, warmup):
    spec = {"factory": c.factory, "kwargs": c.kwargs, "prelude": c.prelude, "malloc": c.malloc,
            "min_time": min_time, "warmup": warmup}
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(c.env)
    return subprocess.Popen([sys.executable, "-c", _BOOT, json.dumps(spec)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def _time_once(label, proc, repeats, settle):
    # Let the previous contender's idle threads go to sleep first: OpenBLAS's workers spin
    # ~0.13 s after the last matmul (measured), which took a core from whoever was timed next
    # (our step at batch 1024 read 2x slow that way).
    time.sleep(settle)
    proc.stdin.write(json.dumps({"cmd": "time", "repeats": repeats}) + "\n")
    proc.stdin.flush()
    return _readline(label, proc)["t"]


def compare(contenders, rounds=5, repeats=5, min_time=0.05, warmup=1, quick=False, fresh=None):
    """Time ``{label: Contender or None}``, each in its own process, in interleaved rounds.

    ``None`` entries (e.g. PyTorch not installed) are skipped.  Returns a
    :class:`Result`.  A contender whose worker fails is reported on stderr and
    left out (its ratios are then None), so one broken contender does not hide
    the others.  ``fresh`` (default :data:`FRESH`, off with ``quick``): a new worker
    process for every contender in every round, started just before it is timed.
    """
    if quick:
        rounds, repeats, min_time, warmup = QUICK["rounds"], QUICK["repeats"], QUICK["min_time"], QUICK["warmup"]
        fresh = False if fresh is None else fresh
    fresh = FRESH if fresh is None else fresh
    settle = 0.0 if quick else SETTLE
    root = _package_root()
    live = {label: c for label, c in contenders.items() if c is not None}
    names = list(live)
    infos, numbers = {}, {}
    samples = {n: [] for n in names}
    if fresh:
        for r in range(rounds):
            k = r % max(1, len(names))
            for label in names[k:] + names[:k]:
                if label not in samples:
                    continue
                proc = _spawn(live[label], root, min_time, warmup)
                try:
                    msg = _readline(label, proc)
                    infos.setdefault(label, msg.get("info", {}))
                    numbers.setdefault(label, msg["number"])
                    samples[label].append(_time_once(label, proc, repeats, settle))
                except BenchError as exc:
                    print(f"# {exc}", file=sys.stderr, flush=True)
                    samples.pop(label)
                finally:
                    _stop(proc)
        n_rounds = min((len(s) for s in samples.values()), default=0)
        return Result({n: s[:n_rounds] for n, s in samples.items()}, infos, numbers)
    procs = {}
    try:
        for label in names:
            procs[label] = _spawn(live[label], root, min_time, warmup)
        for label in list(procs):
            try:
                msg = _readline(label, procs[label])
            except BenchError as exc:
                print(f"# {exc}", file=sys.stderr, flush=True)
                _stop(procs.pop(label))
                samples.pop(label)
                continue
            infos[label], numbers[label] = msg.get("info", {}), msg["number"]
        for r in range(rounds):
            k = r % max(1, len(names))
            for label in names[k:] + names[:k]:
                if label not in procs:
                    continue
                try:
                    samples[label].append(_time_once(label, procs[label], repeats, settle))
                except BenchError as exc:
                    print(f"# {exc}", file=sys.stderr, flush=True)
                    _stop(procs.pop(label))
                    samples.pop(label)
        n_rounds = min((len(s) for s in samples.values()), default=0)
        return Result({n: s[:n_rounds] for n, s in samples.items()}, infos, numbers)
    finally:
        for proc in procs.values():
            _stop(proc)


def _stop(proc):
    try:
        if proc.poll() is None:
            proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            proc.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for f in (proc.stdin, proc.stdout):
        try:
            f.close()
        except (OSError, ValueError):
            pass


def measure(factory, quick=False, min_time=0.05, repeats=5, **kwargs):
    """Seconds per call of one factory's callable, in its own process (e.g. a bandwidth probe)."""
    res = compare({"x": Contender(factory, **kwargs)}, rounds=1, repeats=repeats, min_time=min_time,
                  quick=quick)
    if "x" not in res:
        raise BenchError(f"measure: {factory} failed (see above)")
    return res.time("x"), res.info("x")


# ---------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------

def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:8.3f} ms"
    return f"{seconds:8.3f} s "


def report(name, result, ours, others, extra=""):
    """Print one line: ``ours``' time, then each other contender's time and the ratio
    ours/theirs (median of per-round ratios).  ``others`` maps a printed name to a label."""
    if isinstance(others, (list, tuple)):
        others = {o: o for o in others}
    parts = [f"{name:<46} {ours} {fmt_time(result.time(ours))}"]
    for shown, label in others.items():
        t = result.time(label)
        if t is None:
            continue
        r = result.ratio(ours, label)
        parts.append(f"{shown} {fmt_time(t)}  {ours}/{shown} {r:6.3f}" if r is not None
                     else f"{shown} {fmt_time(t)}")
    line = " | ".join(parts)
    if extra:
        line += " | " + extra
    print(line, flush=True)
    return line


def header(suite):
    """A comment line naming the machine's state, for the top of a suite."""
    import platform

    import numpy as np
    print(f"# --- {suite}: python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} cpus, each contender in its own process, interleaved rounds; "
          f"ratios = median of per-round ratios", flush=True)


def parse_args(argv, doc, extra=None):
    """The suites' common options: ``--quick`` (one tiny round, a smoke test) and ``--rounds``."""
    import argparse
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    ap.add_argument("--quick", action="store_true", help="one round, one repeat, small cases (smoke test)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    if extra is not None:
        extra(ap)
    return ap.parse_args(sys.argv[1:] if argv is None else argv)


def try_import_torch():
    """PyTorch if importable, else None (only for worker-side factories)."""
    try:
        import torch
    except Exception:  # noqa: BLE001 - any import failure means: no torch
        return None
    return torch
