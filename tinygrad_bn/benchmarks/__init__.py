"""The project's benchmarks, shipped with the package: ``python -m tinygrad_bn bench``.

Suites (modules): ``step`` (one training step of a batch-norm MLP at batch 64 ...
4096), ``core`` (the course example, per-op cost), ``kernels`` (the fused
kernels), ``train`` (one epoch of the digits network), ``tune`` (the search's
parallel speed-up and overhead).  Every contender runs in its own worker
process; the processes take turns in interleaved rounds, and each line reports
the median over rounds of the per-round ratios (see :mod:`.common`).

``bench/run.py`` in a source checkout is a thin entry point to :mod:`.run`.
"""
SUITES = ["step", "core", "kernels", "train", "tune"]
