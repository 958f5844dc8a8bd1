"""Run every benchmark: ``python bench/run.py [--only core,kernels,tune,train]``
(or ``python -m tinygrad_bn bench``).  Each line prints our median time, the
hand-written NumPy one, PyTorch's when torch is importable, and the ratios, all
from the same run."""
import argparse
import importlib
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SUITES = ["core", "kernels", "train", "tune"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    parser.add_argument("--only", default=",".join(SUITES),
                        help=f"comma-separated suites among {SUITES}")
    args = parser.parse_args(argv)
    import numpy as np
    from common import try_import_torch
    torch = try_import_torch()
    print(f"# python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'not installed'}, {os.cpu_count()} cpus", flush=True)
    for name in args.only.split(","):
        name = name.strip()
        if not name:
            continue
        try:
            mod = importlib.import_module(f"bench_{name}")
        except ImportError as exc:
            print(f"# suite {name}: not available ({exc})")
            continue
        print(f"# --- {name} ---", flush=True)
        mod.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
