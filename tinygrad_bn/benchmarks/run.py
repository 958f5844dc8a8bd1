"""Run the benchmarks: ``python -m tinygrad_bn bench [--only step,core,kernels,train,tune] [--quick]``
(or ``python bench/run.py ...`` in a source checkout).

Each line prints our median time, the other contenders' (hand-written NumPy,
PyTorch when importable, ...) and the ratios ours/theirs.  Every contender runs
in its own process; the processes take turns in interleaved rounds and each
ratio is the median of the per-round ratios (see ``tinygrad_bn.benchmarks.common``).
"""
import argparse
import importlib
import os
import platform
import sys

from . import SUITES
from .common import torch_available


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygrad_bn bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SUITES), help=f"comma-separated suites among {SUITES}")
    parser.add_argument("--quick", action="store_true",
                        help="one round of one repeat on tiny cases: checks that everything runs (no figures)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case (default 5)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose among {SUITES}")
    if args.no_torch:
        os.environ["TINYGRAD_BN_BENCH_NO_TORCH"] = "1"
    import numpy as np
    torch = "installed" if torch_available() else "not installed"
    if args.no_torch:
        torch = "left out (--no-torch)"
    elif torch_available():
        from importlib.metadata import PackageNotFoundError, version
        try:
            torch = version("torch")
        except PackageNotFoundError:
            pass
    print(f"# python {platform.python_version()}, numpy {np.__version__}, torch {torch}, "
          f"{os.cpu_count()} cpus{' (quick: no meaningful figures)' if args.quick else ''}", flush=True)
    flags = (["--quick"] if args.quick else []) + ["--rounds", str(args.rounds)]
    for name in names:
        mod = importlib.import_module(f"{__package__}.{name}")
        mod.main(flags)
    return 0


if __name__ == "__main__":
    sys.exit(main())
