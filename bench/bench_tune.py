"""The tune benchmarks (code in ``tinygrad_bn/benchmarks/tune.py``, shipped with the package):
each contender in its own process, interleaved rounds, median of per-round ratios.

    python bench/bench_tune.py [--rounds N] [--quick]      (= python -m tinygrad_bn bench --only tune)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygrad_bn.benchmarks.tune import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
