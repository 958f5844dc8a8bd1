"""The benchmarks' shared machinery lives in the package: ``tinygrad_bn.benchmarks.common``
(every contender in its own process, interleaved rounds, median of per-round ratios).
This module re-exports it for scripts that import ``bench/common.py``."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygrad_bn.benchmarks.common import *  # noqa: E402,F401,F403
from tinygrad_bn.benchmarks.common import (BenchError, Contender, Result, compare, fmt_time,  # noqa: E402,F401
                                           measure, report, torch_available)
