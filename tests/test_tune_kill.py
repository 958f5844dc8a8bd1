"""A study survives SIGKILL of its driver: re-open, finish, nothing lost or run twice."""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from tinygrad_bn import tune
from tinygrad_bn.tune import objectives as obj

N_TRIALS = 12

SCRIPT = textwrap.dedent("""
    import functools, sys
    from tinygrad_bn import tune
    from tinygrad_bn.tune import objectives as obj
    study = tune.Study("killme", obj.log_bowl_space(), storage=sys.argv[1])
    slow = functools.partial(obj.fake_training, epochs=4, sleep=0.05)
    study.optimize(slow, {n}, seed=9, n_jobs=int(sys.argv[2]))
""")


def _count(db, state):
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT COUNT(*) FROM trials WHERE state = ?", (state,)).fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0
    finally:
        con.close()


def _children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_sigkill_mid_study_then_resume(tmp_path, n_jobs):
    import functools
    db = tmp_path / "study.db"
    url = f"sqlite:///{db}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(n=N_TRIALS), url, str(n_jobs)],
                            env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _count(db, "complete") < 3 or _count(db, "running") < 1:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the study never got going"
        time.sleep(0.02)
    children = _children(proc.pid)
    assert len(children) >= n_jobs - 1 + (n_jobs > 1)  # pool workers (+ resource tracker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    # the dead driver's pool workers do not linger as orphans
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)], "orphaned workers left running"

    study = tune.Study("killme", obj.log_bowl_space(), storage=url)
    before = {t.number: t for t in study.get_trials("complete")}
    assert 3 <= len(before) < N_TRIALS
    assert any(t.state == "running" for t in study.trials)  # died mid-trial

    slow = functools.partial(obj.fake_training, epochs=4, sleep=0.001)
    study.optimize(slow, N_TRIALS, seed=9)
    after = study.trials
    assert len(after) == N_TRIALS
    assert [t.state for t in after] == ["complete"] * N_TRIALS
    for number, t in before.items():  # every completed trial kept, untouched
        assert after[number] == t
    assert sorted(t.index for t in after) == list(range(N_TRIALS))  # none duplicated
    assert len({tuple(sorted(t.params.items())) for t in after}) == N_TRIALS
    requeued = [t for t in after if t.attempts > 1]
    assert requeued, "the trial that was running when the driver died ran again"
    space = tune.Space(obj.log_bowl_space())
    assert all(t.params == space.sample(9, 0, t.index) for t in after)


TWO_DRIVERS = textwrap.dedent("""
    import functools, sys
    from tinygrad_bn import tune
    from tinygrad_bn.tune import objectives as obj
    study = tune.Study("two", obj.log_bowl_space(), storage=sys.argv[1])
    study.optimize(functools.partial(obj.fake_training, epochs=4, sleep=0.1), 30, seed=4)
""")


def _running_owned_by(db, pid):
    con = sqlite3.connect(db, timeout=30)
    try:
        rows = con.execute("SELECT number, owner FROM trials WHERE state = 'running'").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()
    return [n for n, owner in rows if owner and owner.split(":")[-2] == str(pid)]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_survivor_requeues_a_dead_drivers_trial_while_it_runs(tmp_path):
    """Two drivers share a study of 30 trials; one is SIGKILLed mid-trial while the other
    runs.  The survivor takes the dead driver's trial back and returns with 30 finished."""
    import functools
    db = tmp_path / "two.db"
    url = f"sqlite:///{db}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", TWO_DRIVERS, url], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _running_owned_by(db, proc.pid):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the other driver never started a trial"
        time.sleep(0.02)

    killed = []

    def kill_the_other_driver(study, record):
        if killed:
            return
        while True:                      # the other driver is between two trials only briefly
            held = _running_owned_by(db, proc.pid)
            if held:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed.extend(held)

    survivor = tune.Study("two", obj.log_bowl_space(), storage=url)
    done = survivor.optimize(functools.partial(obj.fake_training, epochs=4, sleep=0.002), 30,
                             seed=4, callbacks=[kill_the_other_driver])
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL and len(killed) == 1
    trials = survivor.trials
    assert [t.state for t in trials] == ["complete"] * 30        # nothing stuck 'running'
    assert sorted(t.index for t in trials) == list(range(30))
    again = survivor.storage.trial(survivor._sid, killed[0])
    assert again.attempts == 2 and again.state == "complete"
    assert killed[0] in [t.number for t in done]                 # the survivor ran it
    space = tune.Space(obj.log_bowl_space())
    assert all(t.params == space.sample(4, 0, t.index) for t in trials)
