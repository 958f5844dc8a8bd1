"""One training step of the issue-9 MLP (batch 64 ... 4096), each contender in its own process.

The code lives in the package (``tinygrad_bn/benchmarks/step.py``) so that
``python -m tinygrad_bn bench --only step`` also works from an installed copy.

    python bench/bench_step.py [--batch 64,4096] [--rounds 5] [--quick]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygrad_bn.benchmarks.step import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
