"""Shared timing and reporting for the benchmarks.

Every case times its contenders in the same run and prints one line:

    name                          ours 1.234 ms | numpy 2.468 ms  ours/numpy 0.50 | torch ...

Times are medians over ``repeats`` repeats; each repeat runs the function
enough times to last at least ``min_time`` seconds, so tiny cases are not
dominated by timer resolution.
"""
import gc
import statistics
import time


def median_time(fn, repeats=7, min_time=0.05, warmup=1):
    """Median seconds per call of ``fn()`` over ``repeats`` repeats."""
    for _ in range(warmup):
        fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time or number >= 1 << 24:
            break
        number *= 2 if elapsed == 0 else max(2, min(10, int(min_time / max(elapsed, 1e-9)) + 1))
    times = [elapsed / number]
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats - 1):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(times)


def median_times(contenders, repeats=5, rounds=3, min_time=0.05):
    """Median seconds per call of each ``{name: fn}``, measured in interleaved rounds.

    Each round times every contender once (``median_time``), in an order rotated
    from round to round, so a slow spell of the shared machine or a cache left
    warm by the previous contender does not favour one of them; the result per
    contender is the median over rounds.  Ratios are then taken within one run.
    """
    names = [n for n, fn in contenders.items() if fn is not None]
    samples = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            samples[n].append(median_time(contenders[n], repeats=repeats, min_time=min_time))
    return {n: (statistics.median(samples[n]) if n in samples else None) for n in contenders}


def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:8.3f} ms"
    return f"{seconds:8.3f} s "


def report(name, ours, others, extra=""):
    """Print one line: our time, each other contender's time and ours/theirs."""
    parts = [f"{name:<44} ours {fmt_time(ours)}"]
    for label, t in others.items():
        if t is None:
            continue
        parts.append(f"{label} {fmt_time(t)}  ours/{label} {ours / t:6.3f}")
    line = " | ".join(parts)
    if extra:
        line += " | " + extra
    print(line, flush=True)
    return line


def try_import_torch():
    """PyTorch if importable (bench comparisons only; never a dependency), else None."""
    try:
        import torch
    except Exception:  # noqa: BLE001 - any import failure means: no torch
        return None
    return torch
