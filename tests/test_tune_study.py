"""Studies: random search, failures, storage, resume, parallel runs, zoom, pruning."""
import math
import sqlite3
import threading
import time

import pytest

from tinygrad_bn import tune
from tinygrad_bn.tune import objectives as obj
from tinygrad_bn.tune.space import Space


def _summary(study):
    return [(t.number, t.round, t.index, t.state, t.params, t.value, t.intermediate)
            for t in study.trials]


def test_random_search_records_everything():
    study = tune.Study("s", obj.log_bowl_space())
    done = study.optimize(obj.fake_training, n_trials=12, seed=3)
    assert len(done) == 12 and len(study.trials) == 12
    for t in study.trials:
        assert t.state == "complete" and t.round == 0
        assert set(t.params) == {"lr", "beta", "units"}
        assert sorted(t.intermediate) == list(range(1, 10))
        assert t.start <= t.end and t.error is None
    best = study.best_trial
    assert best.value == min(t.value for t in study.trials)
    assert study.best_params == best.params
    # parameters of trial i depend on (seed, round, i) only
    space = Space(obj.log_bowl_space())
    assert [t.params for t in study.trials] == [space.sample(3, 0, i) for i in range(12)]


def test_failures_and_nan_are_recorded_and_the_study_goes_on():
    study = tune.Study("f", {"lr": tune.LogUniform(1e-5, 1.0), "beta": tune.Uniform(0.8, 0.99),
                             "units": tune.IntUniform(4, 8)})
    study.optimize(obj.failing_sometimes, n_trials=30, seed=0)
    states = [t.state for t in study.trials]
    assert len(states) == 30
    failed = study.get_trials("failed")
    assert failed and "complete" in states
    errors = [t.error for t in failed]
    assert any("diverged" in e for e in errors) and any("nan" in e for e in errors)
    assert all(t.value is None for t in failed)
    assert study.best_trial.state == "complete"


def test_maximize_and_table_and_dataframe():
    study = tune.Study("m", obj.log_bowl_space(), direction="maximize")
    study.optimize(obj.log_bowl, 8, seed=1)
    assert study.best_value == max(t.value for t in study.trials)
    rows = study.trials_dataframe()
    assert len(rows) == 8 and rows[0]["params_lr"] == study.trials[0].params["lr"]
    text = study.table(3)
    lines = text.splitlines()
    assert len(lines) == 5 and "lr" in lines[0] and "beta" in lines[0]
    assert str(study.best_trial.number) == lines[2].split()[0]


def test_no_completed_trial_is_a_clear_error():
    study = tune.Study("e", obj.log_bowl_space())
    with pytest.raises(ValueError, match="no completed trial"):
        study.best_trial
    with pytest.raises(ValueError, match="zoom needs completed trials"):
        study.zoom()


def test_bad_arguments():
    with pytest.raises(ValueError, match="direction"):
        tune.Study("x", obj.log_bowl_space(), direction="down")
    study = tune.Study("x", obj.log_bowl_space())
    with pytest.raises(ValueError, match="n_trials"):
        study.optimize(obj.log_bowl, -1)
    with pytest.raises(TypeError, match="callable"):
        study.optimize(42, 3)
    with pytest.raises(ValueError, match="unsupported storage"):
        tune.Study("x", obj.log_bowl_space(), storage="postgres://host/db")


def test_sqlite_reopen_resumes_and_checks_the_space(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    a = tune.Study("r", obj.log_bowl_space(), storage=url)
    a.optimize(obj.log_bowl, 5, seed=11)
    before = _summary(a)
    b = tune.Study("r", obj.log_bowl_space(), storage=url)
    assert _summary(b) == before
    b.optimize(obj.log_bowl, 9)  # the stored seed is reused
    assert _summary(b)[:5] == before and len(b.trials) == 9
    fresh = tune.Study("fresh", obj.log_bowl_space())
    fresh.optimize(obj.log_bowl, 9, seed=11)
    assert [t.params for t in fresh.trials] == [t.params for t in b.trials]
    c = tune.Study.load("r", url)
    assert c.base_space == Space(obj.log_bowl_space()) and len(c.trials) == 9
    with pytest.raises(ValueError, match="different search space"):
        tune.Study("r", {"lr": tune.LogUniform(1e-3, 1)}, storage=url)
    with pytest.raises(ValueError, match="direction"):
        tune.Study("r", None, "maximize", storage=url)
    con = sqlite3.connect(tmp_path / "study.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_drivers_on_one_file_share_the_work(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    tune.Study("c", obj.log_bowl_space(), storage=url)
    errors = []

    def driver():
        try:
            s = tune.Study("c", obj.log_bowl_space(), storage=url)  # its own connection
            s.optimize(lambda t: obj.fake_training(t, epochs=3, sleep=0.002), 40, seed=5)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=driver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    trials = tune.Study.load("c", url).trials
    assert len(trials) == 40 and all(t.state == "complete" for t in trials)
    assert sorted(t.index for t in trials) == list(range(40))
    assert len({t.number for t in trials}) == 40


def test_process_pool_gives_the_serial_results():
    serial = tune.Study("p", obj.log_bowl_space())
    serial.optimize(obj.cpu_burn, 6, seed=21)
    pooled = tune.Study("p", obj.log_bowl_space())
    pooled.optimize(obj.cpu_burn, 6, seed=21, n_jobs=2)
    key = lambda s: sorted((t.index, t.params["lr"], t.value, t.state) for t in s.trials)
    assert key(pooled) == key(serial)


def test_workers_run_with_one_blas_thread():
    study = tune.Study("threads", {"x": tune.Uniform(0, 1)})
    study.optimize(obj.report_thread_limits, 2, n_jobs=2, seed=0)
    for t in study.trials:
        assert t.state == "complete", t.error
        assert t.attrs["OMP_NUM_THREADS"] == "1" and t.attrs["OPENBLAS_NUM_THREADS"] == "1"
        assert t.attrs["blas_threads"] in (None, 1)


def test_coarse_to_fine_beats_plain_random_search():
    wins, c2f_best, rnd_best = 0, [], []
    for seed in range(5):
        c2f = tune.Study("c2f", obj.log_bowl_space())
        c2f.coarse_to_fine(obj.log_bowl, rounds=3, trials_per_round=20, top=5, seed=seed)
        plain = tune.Study("plain", obj.log_bowl_space())
        plain.optimize(obj.log_bowl, 60, seed=seed)
        assert len(c2f.trials) == len(plain.trials) == 60
        assert [r for r, _, _ in c2f.rounds()] == [0, 1, 2]
        c2f_best.append(c2f.best_value)
        rnd_best.append(plain.best_value)
        wins += c2f.best_value < plain.best_value
    assert wins >= 4, (c2f_best, rnd_best)
    assert sorted(c2f_best)[2] < 0.5 * sorted(rnd_best)[2]


def test_zoom_rounds_are_recorded_and_narrow_in_log_space():
    study = tune.Study("z", obj.log_bowl_space())
    study.optimize(obj.log_bowl, 30, seed=2)
    space = study.zoom(top=5, margin=0.0)
    rounds = study.rounds()
    assert len(rounds) == 2 and rounds[1][2]["from_round"] == 0
    assert len(rounds[1][2]["top"]) == 5
    best5 = study.best_trials(5)
    lrs = [t.params["lr"] for t in best5]
    assert math.isclose(space["lr"].low, min(lrs)) and math.isclose(space["lr"].high, max(lrs))
    study.optimize(obj.log_bowl, 10)
    r1 = study.get_trials(round=1)
    assert len(r1) == 10 and all(space["lr"].contains(t.params["lr"]) for t in r1)


def test_successive_halving_prunes_bad_trials():
    study = tune.Study("sh", obj.log_bowl_space())
    pruner = tune.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    study.optimize(obj.fake_training, 30, seed=4, pruner=pruner)
    pruned = study.get_trials("pruned")
    complete = study.get_trials("complete")
    assert len(pruned) >= 10 and len(complete) >= 3
    assert all(max(t.intermediate) in (1, 3) for t in pruned)  # stopped at a rung
    assert all(t.value == t.intermediate[max(t.intermediate)] for t in pruned)
    # pruning keeps the good ones: the best of the pruned study is as good as without
    plain = tune.Study("plain", obj.log_bowl_space())
    plain.optimize(obj.fake_training, 30, seed=4)
    assert study.best_value == plain.best_value


def test_hyperband_brackets_and_pruner_validation():
    hb = tune.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)
    assert hb.n_brackets == 3
    study = tune.Study("hb", obj.log_bowl_space())
    study.optimize(obj.fake_training, 30, seed=4, pruner=hb)
    pruned = study.get_trials("pruned")
    assert pruned and all(hb.bracket_of(t.index) != 2 for t in pruned)  # last bracket never prunes
    with pytest.raises(ValueError):
        tune.SuccessiveHalvingPruner(reduction_factor=1)
    with pytest.raises(TypeError, match="Pruner"):
        study.optimize(obj.log_bowl, 31, pruner="sh")


def test_trial_access_and_report_validation():
    t = tune.Trial(0, 0, 0, {"lr": 0.1})
    assert t["lr"] == t.suggest("lr") == t.params["lr"] == 0.1
    with pytest.raises(KeyError, match="not in the search space"):
        t.suggest("momentum")
    with pytest.raises(TypeError):
        t.report(1.0, "one")
    t.report(0.5, 1)
    assert t.intermediate_values == {1: 0.5} and not t.should_prune()


def test_interrupt_releases_running_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'i.db'}"
    study = tune.Study("i", obj.log_bowl_space(), storage=url)

    def interrupted(trial):
        if trial.index == 3:
            raise KeyboardInterrupt
        return obj.log_bowl(trial)

    with pytest.raises(KeyboardInterrupt):
        study.optimize(interrupted, 6, seed=0)
    assert [t.state for t in study.trials] == ["complete"] * 3 + ["waiting"]
    study.optimize(obj.log_bowl, 6)
    assert [t.state for t in study.trials] == ["complete"] * 6
    assert study.trials[3].params == Space(obj.log_bowl_space()).sample(0, 0, 3)


def test_trial_of_a_silent_remote_driver_is_taken_back_by_heartbeat(tmp_path):
    """A driver on another host stops heart-beating while it holds a trial: once its
    heartbeat is stale_after old, the driver still running re-queues and runs that trial."""
    import time as _time
    url = f"sqlite:///{tmp_path / 'remote.db'}"
    study = tune.Study("r", obj.log_bowl_space(), storage=url)
    space = Space(obj.log_bowl_space())
    storage, sid = study.storage, study._sid
    got = storage.claim(sid, 0, 8, "far-away-host:4242:cafe", lambda i: space.sample(1, 0, i))
    assert got[1] == 0                              # it holds trial index 0, heartbeat now
    t0 = _time.monotonic()
    done = study.optimize(obj.log_bowl, 8, seed=1, stale_after=0.5, heartbeat_interval=0.1)
    assert _time.monotonic() - t0 >= 0.45            # it waited for the heartbeat to go stale
    assert [t.state for t in study.trials] == ["complete"] * 8
    assert len(done) == 8 and study.trials[0].attempts == 2
    assert study.trials[0].params == space.sample(1, 0, 0)


def test_a_live_other_driver_is_waited_for_not_robbed():
    """In one process two drivers share an in-memory storage; the first to run out of
    trials waits for the other's running trial instead of returning early or re-running it."""
    shared = tune.Storage(None)
    a = tune.Study("w", obj.log_bowl_space(), storage=shared)
    b = tune.Study("w", obj.log_bowl_space(), storage=shared)
    gate = threading.Event()
    started = threading.Event()

    def slow(trial):
        if trial.index == 0:
            started.set()
            gate.wait(10)
        return obj.log_bowl(trial)

    th = threading.Thread(target=lambda: a.optimize(slow, 6, seed=2))
    th.start()
    assert started.wait(10)
    result = []
    tb = threading.Thread(target=lambda: result.append(b.optimize(obj.log_bowl, 6, seed=2)))
    tb.start()
    deadline = time.monotonic() + 20
    while len(shared.trials(b._sid, ("complete",))) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    tb.join(0.3)
    assert tb.is_alive()                 # b ran out of trials but waits for a's running one
    gate.set()
    th.join(10)
    tb.join(10)
    assert [t.state for t in b.trials] == ["complete"] * 6
    assert all(t.attempts == 1 for t in b.trials)
    assert len(result[0]) == 5           # b ran the other five
