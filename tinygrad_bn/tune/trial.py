"""The trial an objective receives, and the function that runs one trial in a worker.

Only a small :class:`TrialSpec` travels to a worker (trial number, parameters, the
objective, the pruner and a snapshot of the peers' learning curves); only a
:class:`TrialResult` travels back.  The worker never touches the storage, so the search
machinery stays in the driver and any ``concurrent.futures`` executor or Dask cluster
can run trials.
"""
import math
import os
import time
import traceback

__all__ = ["Trial", "TrialPruned", "TrialSpec", "TrialResult", "run_trial", "limit_threads"]

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


class TrialPruned(Exception):
    """Raise from an objective (after ``trial.should_prune()``) to stop a trial early."""


class Trial:
    """What the objective sees: ``trial.params`` (a dict), ``trial['lr']`` or
    ``trial.suggest('lr')``, plus ``report``/``should_prune`` for pruning and
    ``set_user_attr`` for extra numbers to keep with the trial (e.g. accuracy)."""

    def __init__(self, number, index, round, params, direction="minimize", pruner=None,
                 peers=()):
        self.number, self.index, self.round = number, index, round
        self.params = dict(params)
        self.direction = direction
        self.intermediate_values = {}
        self.user_attrs = {}
        self._pruner = pruner
        self._peers = list(peers)
        self._pruned = False

    def __getitem__(self, name):
        return self.suggest(name)

    def suggest(self, name, default=None):
        """The value of parameter ``name`` (the search space chose it before the trial
        started).  With a ``default``, a parameter missing from the space gives it."""
        try:
            return self.params[name]
        except KeyError:
            if default is not None:
                return default
            raise KeyError(f"parameter {name!r} is not in the search space "
                           f"(it has {sorted(self.params)})") from None

    def report(self, value, epoch):
        """Record the objective's value after ``epoch`` (epochs done: 1, 2, ...)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) and not hasattr(epoch, "__index__"):
            raise TypeError(f"epoch must be an int, got {epoch!r}")
        self.intermediate_values[int(epoch)] = float(value)

    def should_prune(self):
        """True when the pruner says this trial is not worth continuing."""
        if self._pruned:
            return True
        if self._pruner is None:
            return False
        self._pruned = bool(self._pruner.should_prune(self.index, self.intermediate_values,
                                                      self._peers, self.direction))
        return self._pruned

    def prune(self):
        """Mark the trial pruned without raising (for training-loop callbacks)."""
        self._pruned = True

    @property
    def pruned(self):
        return self._pruned

    def set_user_attr(self, key, value):
        self.user_attrs[str(key)] = value

    def __repr__(self):
        return f"Trial(number={self.number}, params={self.params!r})"


class TrialSpec:
    __slots__ = ("number", "index", "round", "params", "objective", "direction", "pruner",
                 "peers", "limit_threads", "driver_pid")

    def __init__(self, number, index, round, params, objective, direction, pruner=None,
                 peers=(), limit_threads=None):
        self.number, self.index, self.round, self.params = number, index, round, params
        self.objective, self.direction, self.pruner = objective, direction, pruner
        self.peers, self.limit_threads = peers, limit_threads
        self.driver_pid = os.getpid()

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)


class TrialResult:
    __slots__ = ("number", "state", "value", "intermediate", "attrs", "start", "end", "error")

    def __init__(self, number, state, value, intermediate, attrs, start, end, error):
        self.number, self.state, self.value = number, state, value
        self.intermediate, self.attrs = intermediate, attrs
        self.start, self.end, self.error = start, end, error

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)


_limited = None
_limiter = None


def limit_threads(n=1):
    """Cap BLAS/OpenMP threads in this process at ``n`` (pool initializer; idempotent).

    Sets the usual environment variables (read by libraries loaded later) and, when
    threadpoolctl is installed, limits the thread pools already loaded (numpy's BLAS).
    """
    global _limited, _limiter
    if n is None or _limited == n:
        return
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    try:
        import threadpoolctl
    except ImportError:
        pass
    else:
        _limiter = threadpoolctl.threadpool_limits(limits=n)
    _limited = n


def run_trial(spec):
    """Run one trial; never raises for the objective's own errors (they become a failed
    trial with the traceback as error text)."""
    if spec.limit_threads and os.getpid() != spec.driver_pid:
        # a worker process: cap its BLAS/OpenMP threads.  Threads inside the driver's own
        # process (an in-process Dask cluster, a thread pool) keep the driver's settings:
        # limits are process-wide and would outlive the study.
        limit_threads(spec.limit_threads)
    trial = Trial(spec.number, spec.index, spec.round, spec.params, spec.direction,
                  spec.pruner, spec.peers)
    start = time.time()
    value, error = None, None
    try:
        out = spec.objective(trial)
        if trial.pruned:
            state = "pruned"
        else:
            try:
                value = float(out)
            except (TypeError, ValueError):
                state, error = "failed", f"objective returned {out!r}, not a number"
            else:
                if math.isfinite(value):
                    state = "complete"
                else:
                    state, error = "failed", f"objective returned {value}"
    except TrialPruned:
        state = "pruned"
    except Exception as e:  # noqa: BLE001 -- any objective error fails the trial only
        state = "failed"
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        error = "".join(tb[-6:]).strip()
    end = time.time()
    if state == "pruned" and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    if value is not None and not math.isfinite(value):
        value = None
    return TrialResult(spec.number, state, value, dict(trial.intermediate_values),
                       dict(trial.user_attrs), start, end, error)
