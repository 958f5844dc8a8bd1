"""Run every benchmark: ``python bench/run.py [--only step,core,kernels,train,tune] [--quick]``
(the same as ``python -m tinygrad_bn bench``).  The benchmarks live in the package,
``tinygrad_bn/benchmarks/``, so that they also run from an installed copy."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygrad_bn.benchmarks.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
