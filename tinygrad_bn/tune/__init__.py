"""Hyperparameter tuning as the course teaches it.

* random search, not a grid, on each parameter's own scale: ``LogUniform`` for learning
  rates, ``OneMinusLogUniform`` for averaging betas, ``IntUniform(log=True)`` for widths;
* coarse to fine: ``study.zoom(top=5)`` or ``study.coarse_to_fine(...)``;
* caviar: many trials in parallel (``n_jobs``, any ``concurrent.futures`` executor, or a
  ``dask.distributed.Client``), one BLAS thread per worker;
* panda: babysit one model with :class:`Babysitter` (train, look, change the learning
  rate, roll back to a checkpoint);
* studies in SQLite survive interruption; pruning by successive halving / Hyperband.

    from tinygrad_bn import tune
    space = {"lr": tune.LogUniform(1e-4, 1), "beta_1": tune.OneMinusLogUniform(0.9, 0.999)}
    study = tune.Study("demo", space, storage="sqlite:///demo.db")
    study.optimize(objective, n_trials=30, n_jobs=2, seed=0)
    print(study.table(10))

See docs/tuning.md.
"""
from .pruners import HyperbandPruner, MedianPruner, Pruner, SuccessiveHalvingPruner
from .space import Choice, IntUniform, LogUniform, OneMinusLogUniform, Space, Uniform
from .storage import Storage, TrialRecord
from .study import Study, load_study
from .table import format_table
from .trial import Trial, TrialPruned, limit_threads

__all__ = ["Uniform", "LogUniform", "OneMinusLogUniform", "IntUniform", "Choice", "Space",
           "Study", "load_study", "Storage", "Trial", "TrialRecord", "TrialPruned",
           "Pruner", "SuccessiveHalvingPruner", "HyperbandPruner", "MedianPruner",
           "format_table", "limit_threads", "Babysitter", "plot_study"]


def __getattr__(name):
    # optional pieces load on first use (matplotlib, the nn API)
    if name == "plot_study":
        from .plots import plot_study
        return plot_study
    if name == "Babysitter":
        from .panda import Babysitter
        return Babysitter
    raise AttributeError(f"module 'tinygrad_bn.tune' has no attribute {name!r}")
