"""Smoke test of the benchmark machinery and entry point (no speed assertions)."""
import os
import subprocess
import sys

import pytest

from tinygrad_bn.benchmarks import common, step

HERE = "tests.test_bench_smoke"


# factories run in the worker processes (imported there by name)
def whoami(tag):
    import sys as _sys
    info = {"pid": os.getpid(), "tag": tag, "torch_loaded": "torch" in _sys.modules}
    print("noise on stdout must not break the protocol")
    return (lambda: None), info


def broken():
    raise ValueError("this factory is broken on purpose")


def test_each_contender_runs_in_its_own_process():
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res = common.compare({"a": common.Contender(f"{HERE}:whoami", tag="a"),
                          "b": common.Contender(f"{HERE}:whoami", tag="b"),
                          "skipped": None}, rounds=2, quick=True)
    pids = {res.info("a")["pid"], res.info("b")["pid"]}
    assert len(pids) == 2 and os.getpid() not in pids
    assert res.info("a")["tag"] == "a" and res.info("b")["tag"] == "b"
    assert len(res.samples["a"]) == len(res.samples["b"]) == 1   # quick: one round
    assert "skipped" not in res and res.time("skipped") is None and res.ratio("a", "skipped") is None
    assert res.ratio("a", "b") > 0


def test_a_broken_contender_is_reported_and_left_out(capfd):
    res = common.compare({"ok": common.Contender(f"{HERE}:whoami", tag="ok"),
                          "bad": common.Contender(f"{HERE}:broken")}, quick=True)
    assert "ok" in res and "bad" not in res
    err = capfd.readouterr().err
    assert "'bad' failed" in err and "broken on purpose" in err


def test_ratio_is_the_median_of_per_round_ratios():
    # written out by hand: rounds (a, b) = (1, 2), (4, 2), (3, 1) -> ratios 0.5, 2, 3 -> median 2
    res = common.Result({"a": [1.0, 4.0, 3.0], "b": [2.0, 2.0, 1.0]}, {}, {})
    assert res.ratio("a", "b") == 2.0
    assert res.time("a") == 3.0


def test_contender_needs_module_colon_function():
    with pytest.raises(ValueError, match="Contender: factory must be 'module:function'"):
        common.Contender("tinygrad_bn.benchmarks.step.ours_tape")


def test_step_numpy_baseline_learns():
    # the hand-written NumPy step is a real training step: the loss on a fixed batch falls
    x, y = step.data(64)
    s = step.NumpyStep(x, y)
    first = s()
    for _ in range(30):
        last = s()
    assert last < first - 0.1


def test_gemm_bound_counts_the_step_matmuls():
    # batch 10: forward 10*(64*256 + 256*128 + 128*10), dW the same, dX for layers 2 and 3
    fwd = 10 * (64 * 256 + 256 * 128 + 128 * 10)
    dx = 10 * (256 * 128 + 128 * 10)
    assert step.step_flops(10) == 2 * (2 * fwd + dx)


def test_entry_point_runs_a_tiny_case():
    env = {k: v for k, v in os.environ.items()}
    out = subprocess.run([sys.executable, "-m", "tinygrad_bn", "bench", "--only", "core", "--quick", "--no-torch"],
                         capture_output=True, text=True, timeout=300, env=env,
                         cwd=os.path.dirname(os.path.abspath(__file__)))   # not the checkout root
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("course example: 20 Adam minimize steps") and "ours/numpy" in line for line in lines), \
        out.stdout + out.stderr
    assert any(line.startswith("(x*x + x).sum() fwd+bwd") for line in lines), out.stdout
    assert "torch left out" in lines[0] and "| torch " not in out.stdout


def test_unknown_suite_is_an_error():
    out = subprocess.run([sys.executable, "-m", "tinygrad_bn", "bench", "--only", "nope"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "unknown suite(s) ['nope']" in out.stderr
