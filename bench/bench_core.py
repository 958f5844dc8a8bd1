"""The core benchmarks (code in ``tinygrad_bn/benchmarks/core.py``, shipped with the package):
each contender in its own process, interleaved rounds, median of per-round ratios.

    python bench/bench_core.py [--rounds N] [--quick]      (= python -m tinygrad_bn bench --only core)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygrad_bn.benchmarks.core import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
