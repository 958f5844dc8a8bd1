"""A study: random search on the right scales, coarse to fine, resumable, in parallel.

    study = Study("lr-search", {"lr": LogUniform(1e-4, 1), "beta_1": OneMinusLogUniform(0.9, 0.999)},
                  storage="sqlite:///study.db")
    study.optimize(objective, n_trials=40, n_jobs=2, seed=0)
    study.zoom(top=5)                       # next round samples near the best five
    study.optimize(objective, n_trials=20)  # round 1: 20 trials in the narrowed space
    print(study.table(10)); study.best_trial

``optimize(objective, n_trials)`` brings the *current round* to ``n_trials`` finished
trials (complete, pruned or failed).  Trials finished earlier -- before an interruption,
or by another driver working on the same study -- count, so re-running the same script
after a crash resumes it: completed trials are kept, trials that were running when the
driver died run again with the same parameters, and the round ends with exactly
``n_trials`` trials.
"""
import concurrent.futures as cf
import math
import numbers
import os
import threading
import time

from . import space as _space
from .executors import resolve_executor, thread_env
from .pruners import Pruner
from .storage import FINISHED, Storage, make_owner
from .table import format_table
from .trial import TrialSpec, run_trial

__all__ = ["Study", "load_study"]


class Study:
    """A named study in a storage (``None``: in memory; ``'sqlite:///path.db'``: a file).

    Opening an existing name re-opens it (the search space and direction must match, or
    be omitted to take the stored ones).
    """

    def __init__(self, name, space=None, direction=None, storage=None):
        if not isinstance(name, str):
            raise TypeError(f"a study's name must be a str, got {type(name).__name__} {name!r}")
        if not name:
            raise ValueError(f"a study needs a non-empty name, got {name!r}")
        if direction is not None and direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        self.name = name
        self._storage = storage if isinstance(storage, Storage) else Storage(storage)
        space_json = _space.as_space(space).to_json() if space is not None else None
        sid, stored_dir, stored_space, _ = self._storage.get_or_create_study(
            name, direction or "minimize", space_json)
        if space_json is not None and stored_space != space_json:
            raise ValueError(f"study {name!r} already exists in {self._storage.path} with a "
                             f"different search space:\n  stored: "
                             f"{_space.Space.from_json(stored_space)!r}\n  given:  "
                             f"{_space.as_space(space)!r}\nuse another name, or pass space=None "
                             "to re-open it")
        if direction is not None and direction != stored_dir:
            raise ValueError(f"study {name!r} was created with direction={stored_dir!r}, "
                             f"not {direction!r}")
        self._sid = sid
        self.direction = stored_dir
        self.base_space = _space.Space.from_json(stored_space)

    @classmethod
    def load(cls, name, storage):
        return cls(name, None, None, storage)

    @property
    def storage(self):
        return self._storage

    # -- rounds ---------------------------------------------------------------------------
    def rounds(self):
        """``[(round, Space, info)]``: the space each zoom round sampled from."""
        return [(r, _space.Space.from_json(s), info) for r, s, info in self._storage.rounds(self._sid)]

    @property
    def current_round(self):
        return self._storage.rounds(self._sid)[-1][0]

    @property
    def space(self):
        """The space the current round samples from."""
        return _space.Space.from_json(self._storage.rounds(self._sid)[-1][1])

    @property
    def seed(self):
        return self._storage.get_or_create_study(self.name, None, None)[3]

    # -- trials ---------------------------------------------------------------------------
    @property
    def trials(self):
        """All trial records, by number."""
        return self._storage.trials(self._sid)

    def get_trials(self, states=None, round=None):
        if isinstance(states, str):
            states = (states,)
        return self._storage.trials(self._sid, states, round)

    def _sorted_complete(self):
        done = self.get_trials(("complete",))
        sign = 1.0 if self.direction == "minimize" else -1.0
        return sorted(done, key=lambda t: (sign * t.value, t.number))

    @property
    def best_trial(self):
        done = self._sorted_complete()
        if not done:
            raise ValueError(f"study {self.name!r} has no completed trial yet")
        return done[0]

    @property
    def best_value(self):
        return self.best_trial.value

    @property
    def best_params(self):
        return self.best_trial.params

    def best_trials(self, k=5):
        return self._sorted_complete()[:k]

    # -- running --------------------------------------------------------------------------
    def _resolve_seed(self, seed):
        if seed is None:
            stored = self.seed
            if stored is not None:
                return stored
            seed = int.from_bytes(os.urandom(4), "little")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0 \
                or seed >= 2 ** 63:
            raise ValueError(f"seed must be a non-negative int below 2**63, got {seed!r}")
        seed = int(seed)
        self._storage.set_seed_if_unset(self._sid, seed)
        return seed

    def optimize(self, objective, n_trials, executor=None, n_jobs=1, seed=None, pruner=None,
                 timeout=None, callbacks=(), show_progress=False, threads_per_worker=1,
                 stale_after=120.0, heartbeat_interval=10.0, requeue_stale=True):
        """Random search: bring the current round to ``n_trials`` finished trials.

        objective: ``objective(trial) -> float`` (must be picklable -- a module-level
            function -- to run in processes or on Dask).  Raising or returning NaN fails
            that trial only; raise ``TrialPruned`` (or call ``trial.prune()``) to prune.
        executor: None (serial in this process, or a process pool of ``n_jobs``), any
            ``concurrent.futures.Executor``, or a ``dask.distributed.Client``.
        seed: parameters of trial ``i`` of round ``r`` depend only on ``(seed, r, i)``;
            None takes the study's stored seed (the first seed used), or a random one.
        pruner: a ``Pruner`` (successive halving, Hyperband, median) or None.
        timeout: seconds after which no new trial starts (and no more waiting for others).
        callbacks: ``cb(study, record)`` after each finished trial, in the driver.
        stale_after: a trial is taken back from a driver whose heartbeat (every
            ``heartbeat_interval`` s) is older than this; a driver on this host whose process
            is gone loses its trials at once.  While it runs -- and, once nothing is left to
            claim, while other drivers still hold trials -- this driver re-queues (or, with
            ``requeue_stale=False``, fails) such trials and runs them, so ``optimize`` returns
            with the round complete even when another driver died.
        Returns the list of records finished by this call.
        """
        if not callable(objective):
            raise TypeError(f"objective must be callable, got {objective!r}")
        if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 0:
            raise ValueError(f"n_trials must be a non-negative int, got {n_trials!r}")
        n_trials = int(n_trials)
        if pruner is not None and not isinstance(pruner, Pruner):
            raise TypeError(f"pruner must be a Pruner or None, got {pruner!r}")
        if isinstance(n_jobs, bool) or not (n_jobs is None or isinstance(n_jobs, numbers.Integral)):
            raise ValueError(f"n_jobs must be a positive int or -1, got {n_jobs!r}")
        if n_jobs is not None and not (n_jobs >= 1 or n_jobs == -1):
            raise ValueError(f"n_jobs must be a positive int or -1, got {n_jobs!r}")
        if timeout is not None:
            timeout = _positive_seconds("timeout", timeout)
        stale_after = _positive_seconds("stale_after", stale_after)
        heartbeat_interval = _positive_seconds("heartbeat_interval", heartbeat_interval)
        if heartbeat_interval >= stale_after:
            raise ValueError(f"heartbeat_interval ({heartbeat_interval}) must be shorter than "
                             f"stale_after ({stale_after}), or live drivers look dead")
        if threads_per_worker is not None and (isinstance(threads_per_worker, bool) or not isinstance(
                threads_per_worker, numbers.Integral) or threads_per_worker < 1):
            raise ValueError(f"threads_per_worker must be a positive int or None, got {threads_per_worker!r}")
        for name, flag in (("show_progress", show_progress), ("requeue_stale", requeue_stale)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        if callable(callbacks) or isinstance(callbacks, (str, bytes)) \
                or not hasattr(callbacks, "__iter__"):
            raise TypeError(f"callbacks must be a list of callables cb(study, record), got {callbacks!r}")
        callbacks = list(callbacks)
        for cb in callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks: {cb!r} is not callable")
        seed = self._resolve_seed(seed)
        storage, sid = self._storage, self._sid
        if not storage.in_memory:
            storage.recover_stale(sid, stale_after, requeue=requeue_stale)
        rnd = self.current_round
        space = self.space
        owner = make_owner()
        pool, owned, slots, env_threads = resolve_executor(executor, n_jobs, threads_per_worker)
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = min(0.5, heartbeat_interval)   # how often to look for dead drivers' trials
        finished = []
        progress = _progress(show_progress, n_trials,
                             len(storage.trials(sid, FINISHED, rnd)))
        stop_hb = threading.Event()
        hb = None
        if not storage.in_memory:
            hb = threading.Thread(target=_heartbeat_loop, daemon=True,
                                  args=(storage, sid, owner, heartbeat_interval, stop_hb))
            hb.start()

        def timed_out():
            return deadline is not None and time.monotonic() > deadline

        def claim():
            if timed_out():
                return None
            got = storage.claim(sid, rnd, n_trials, owner,
                                lambda idx: space.sample(seed, rnd, idx))
            if got is None:
                return None
            number, idx, params = got
            peers = storage.peers(sid) if pruner is not None else ()
            return TrialSpec(number, idx, rnd, params, objective, self.direction, pruner,
                             peers, threads_per_worker if pool is not None else None)

        last_recover = [time.monotonic()]

        def recover(force=False):
            """Re-queue trials of dead drivers (at most every ``poll`` seconds)."""
            if storage.in_memory:
                return []
            now = time.monotonic()
            if not force and now - last_recover[0] < poll:
                return []
            last_recover[0] = now
            return storage.recover_stale(sid, stale_after, requeue=requeue_stale)

        def record(res):
            mine = storage.finish(sid, res.number, owner, res.state, res.value, res.intermediate,
                                  res.attrs, res.start, res.end, res.error)
            if not mine:  # taken from us meanwhile (we looked dead); its new owner records it
                return
            rec = storage.trial(sid, res.number)
            if rec is not None:
                finished.append(rec)
                for cb in callbacks:
                    cb(self, rec)
            if progress is not None:
                progress.update(1)

        in_flight = {}
        try:
            while True:
                if pool is None:
                    spec = claim()
                    if spec is not None:
                        record(run_trial(spec))
                        recover()
                        continue
                else:
                    while len(in_flight) < slots:
                        spec = claim()
                        if spec is None:
                            break
                        with thread_env(env_threads):
                            fut = pool.submit(run_trial, spec)
                        in_flight[fut] = spec
                    if in_flight:
                        done, _ = cf.wait(list(in_flight), timeout=poll,
                                          return_when=cf.FIRST_COMPLETED)
                        for fut in done:
                            spec = in_flight.pop(fut, None)
                            if spec is None:  # already recorded when the pool broke
                                continue
                            try:
                                res = fut.result()
                            except Exception as e:  # noqa: BLE001 -- the worker, not the objective, failed
                                now = time.time()
                                from .trial import TrialResult
                                res = TrialResult(spec.number, "failed", None, {}, {}, now, now,
                                                  f"worker failed: {type(e).__name__}: {e}")
                                if owned and isinstance(e, cf.process.BrokenProcessPool):
                                    pool.shutdown(wait=False, cancel_futures=True)
                                    pool, _, _, _ = resolve_executor(None, slots, threads_per_worker)
                                    for f2, s2 in list(in_flight.items()):
                                        in_flight.pop(f2)
                                        record(TrialResult(s2.number, "failed", None, {}, {}, now,
                                                           now, f"worker pool broke: {e}"))
                            record(res)
                        recover()
                        continue
                # nothing left to claim and nothing of ours running: the round is done unless
                # other drivers still hold trials; wait for them, taking back a dead one's
                if timed_out() or not storage.running_count(sid, rnd, exclude_owner=owner):
                    break
                if not recover(force=True):
                    time.sleep(poll)
        finally:
            for fut in in_flight:
                fut.cancel()
            # trials we did not finish (interrupt, error in the driver) go back to waiting
            storage.release(sid, owner)
            stop_hb.set()
            if owned and pool is not None:
                pool.shutdown(wait=not in_flight, cancel_futures=True)
            if progress is not None:
                progress.close()
        return finished

    # -- coarse to fine --------------------------------------------------------------------
    def zoom(self, top=5, margin=0.1):
        """Start a new round that samples around the best ``top`` completed trials (an int,
        or a fraction in (0, 1) of the completed trials).

        Each dimension is narrowed on its own scale (decades for log dimensions) to the
        range the best trials span, padded by ``margin`` times the current round's width
        and kept inside the original space; a Choice keeps the options the best trials
        used.  Returns the new round's space."""
        done = self._sorted_complete()
        if not done:
            raise ValueError("zoom needs completed trials: run optimize first")
        if isinstance(top, float) and 0 < top < 1:
            k = max(1, int(math.ceil(top * len(done))))
        elif isinstance(top, int) and not isinstance(top, bool) and top >= 1:
            k = top
        else:
            raise ValueError(f"top must be an int >= 1 or a fraction in (0, 1), got {top!r}")
        margin = _space._check_margin(margin)
        best = done[:k]
        cur_round = self.current_round
        cur = self.space
        dims = {}
        for name, base_dim in self.base_space.items():
            cdim = cur[name]
            if type(cdim) is type(base_dim):
                rel = margin * _space.relative_width(cdim, base_dim)
            else:
                rel = 0.0
            dims[name] = base_dim.zoom([t.params[name] for t in best], rel)
        new = _space.Space(dims)
        info = {"from_round": cur_round, "top": [t.number for t in best], "margin": margin}
        self._storage.add_round(self._sid, cur_round + 1, new.to_json(), info)
        return self.space

    def coarse_to_fine(self, objective, rounds=3, trials_per_round=20, top=5, margin=0.1,
                       **optimize_kwargs):
        """``rounds`` rounds of ``trials_per_round`` random trials, zooming on the best
        ``top`` between rounds.  Resumable like ``optimize``.  Returns the best trial."""
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds must be an int >= 1, got {rounds!r}")
        for k in range(rounds):  # rounds count from the study's round 0: resumable
            if self.current_round < k:
                self.zoom(top=top, margin=margin)
            if self.current_round == k:
                self.optimize(objective, trials_per_round, **optimize_kwargs)
        return self.best_trial

    # -- looking at results -----------------------------------------------------------------
    def trials_dataframe(self, states=None):
        """A list of flat dicts, one per trial (``params_<name>``, ``user_attrs_<key>``),
        ready for ``pandas.DataFrame(...)`` if you have pandas -- or for :meth:`table`."""
        rows = []
        for t in self.get_trials(states):
            row = {"number": t.number, "round": t.round, "index": t.index, "state": t.state,
                   "value": t.value}
            for k, v in t.params.items():
                row[f"params_{k}"] = v
            for k, v in t.attrs.items():
                row[f"user_attrs_{k}"] = v
            row["epochs"] = max(t.intermediate) if t.intermediate else None
            row["duration"] = t.duration
            row["start"], row["end"], row["error"] = t.start, t.end, t.error
            rows.append(row)
        return rows

    def table(self, k=None, states=("complete", "pruned", "failed"), sort=True):
        """The trials as a text table, best first (``k`` rows at most)."""
        recs = self.get_trials(states)
        if sort:
            sign = 1.0 if self.direction == "minimize" else -1.0
            order = {"complete": 0, "pruned": 1, "failed": 2, "running": 3, "waiting": 4}
            recs.sort(key=lambda t: (order[t.state], sign * t.value if t.value is not None
                                     else math.inf, t.number))
        if k is not None:
            recs = recs[:k]
        names = self.base_space.names()
        attr_keys = []
        for t in recs:
            for a in t.attrs:
                if a not in attr_keys:
                    attr_keys.append(a)
        cols = ["#", "round", "state", "value"] + names + attr_keys + ["epochs", "time (s)"]
        rows = []
        for t in recs:
            rows.append([t.number, t.round, t.state, t.value] + [t.params.get(n) for n in names]
                        + [t.attrs.get(a) for a in attr_keys]
                        + [max(t.intermediate) if t.intermediate else None,
                           t.duration])
        return format_table(cols, rows)

    def plot(self, path, **kwargs):
        """Write the overview PNG (objective vs each parameter, zoom rounds, learning curves)."""
        from .plots import plot_study
        return plot_study(self, path, **kwargs)

    def __repr__(self):
        return f"Study(name={self.name!r}, direction={self.direction!r}, storage={self._storage.path!r})"


def load_study(name, storage):
    return Study.load(name, storage)


def _positive_seconds(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__} {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return value


def _heartbeat_loop(storage, sid, owner, interval, stop):
    while not stop.wait(interval):
        try:
            storage.heartbeat(sid, owner)
        except Exception:  # noqa: BLE001 -- a missed heartbeat is not fatal
            pass


def _progress(show, total, initial):
    if not show:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as e:
        raise ImportError("show_progress=True needs tqdm: pip install tinygrad_bn[tune]") from e
    return tqdm(total=total, initial=initial, unit="trial")
