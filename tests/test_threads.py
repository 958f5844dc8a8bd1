"""The kernels' thread policy (tinygrad_bn/_kernels/__init__.py, docs/kernels.md "Threads").

Each case runs in a fresh interpreter: the policy is decided when the OpenMP runtime
loads, once per process.  "Spinning" is measured as the CPU time the process burns
while its main thread sleeps right after a parallel kernel call: idle OpenMP threads
that sleep burn ~0, spinning ones milliseconds per region.
"""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import _kernels as K

HAS_TORCH = importlib.util.find_spec("torch") is not None

PROBE = """
import json, os, sys, time
import numpy as np
{pre}
import tinygrad_bn as tg
from tinygrad_bn import _kernels as K
from tinygrad_bn._kernels import batchnorm as B
pol = K.policy()
x = np.ones((4096, 256), np.float32)
g, b = np.ones(256, np.float32), np.zeros(256, np.float32)
with tg.config(num_threads=2):
    spins = []
    for _ in range(5):                       # the least CPU burnt in a sleep after a parallel call:
        B.bn_train_forward(x, g, b, 1e-3)    # one sleep can be charged for a straggling wake-up
        c0 = time.process_time()
        time.sleep(0.1)
        spins.append(time.process_time() - c0)
    spin = min(spins)
print(json.dumps(dict(pol, spin=spin, env=os.environ.get("OMP_WAIT_POLICY"),
                      spincount=os.environ.get("GOMP_SPINCOUNT"), after=K.policy()["num_threads"])))
"""


def _probe(pre="", env=None, affinity=None):
    e = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                                           "OMP_NUM_THREADS")}
    e.update(env or {})
    cmd = [sys.executable, "-c", textwrap.dedent(PROBE.format(pre=pre))]
    if affinity is not None:
        cmd = [sys.executable, "-c",
               f"import os; os.sched_setaffinity(0, {affinity!r}); "
               f"exec(compile({textwrap.dedent(PROBE.format(pre=pre))!r}, 'probe', 'exec'))"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=e)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


#: NumPy's BLAS can run on the kernels' pool here (OpenBLAS >= 0.3.27, pthreads build)
POOL = K._POOL["library"] is not None and K.policy()["case"] in ("pool", "passive")


def test_default_policy_bounds_the_spin_and_leaves_no_environment_variable():
    r = _probe()
    assert r["case"] == ("pool" if POOL else "passive")
    assert r["env"] is None and r["spincount"] is None       # nothing left in os.environ
    if r["case"] == "passive":
        assert r["spin"] < 0.001, r              # idle threads sleep at once
    else:
        # libgomp's default spin (GOMP_SPINCOUNT=300000, ~6 ms) then sleep; OMP_WAIT_POLICY=ACTIVE
        # would spin on for the whole sleep (~175 ms of CPU in 0.1 s on 2 cores)
        assert r["spin"] < 0.04, r


def test_passive_when_the_blas_pool_is_turned_off():
    r = _probe(env={"TINYGRAD_BN_BLAS_POOL": "0"})
    assert r["case"] == "passive" and not r["blas_pool"]
    assert r["env"] is None
    assert r["spin"] < 0.001, r


def test_the_probe_sees_libgomps_default_spinning():
    """What the default policy avoids: libgomp's own spin before sleeping (GOMP_SPINCOUNT=300000)."""
    # a spinning thread shows only when it gets a core: on a busy machine one probe can see
    # none, so the most of three probes is taken (the passive tests take the least)
    runs = []
    for _ in range(3):
        r = _probe(env={"GOMP_SPINCOUNT": "300000"})
        assert r["case"] == "user"
        runs.append(r["spin"])
        if r["spin"] > 0.001:
            break
    assert max(runs) > 0.001, runs


def test_user_choice_is_respected():
    r = _probe(env={"OMP_WAIT_POLICY": "ACTIVE"})
    assert r["case"] == "user"
    assert r["env"] == "ACTIVE"
    assert r["spin"] > 0.02, r                   # the user asked for spinning threads


def test_omp_num_threads_sets_the_default():
    r = _probe(env={"OMP_NUM_THREADS": "1"})
    assert r["num_threads"] == 1


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_one_core_runs_single_threaded():
    r = _probe(affinity={sorted(os.sched_getaffinity(0))[0]})
    assert r["case"] == ("pool" if POOL else "passive")
    assert r["num_threads"] == 1


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torch_loaded_first_runs_single_threaded_by_default():
    r = _probe(pre="import torch\ntorch.ones(4) @ torch.ones(4)")
    assert r["case"] == "shared"                 # torch's libgomp.so.1 is the runtime
    assert not r["blas_pool"]                    # (and OpenBLAS keeps its own threads)
    assert r["num_threads"] == 1                 # so the kernels leave no spinning threads
    assert r["after"] == 1                       # config(...) restored the default


def test_config_num_threads_sets_every_module_and_restores():
    from tinygrad_bn._kernels import batchnorm, optim, softmax_ce
    before = [m.max_threads() for m in (batchnorm, optim, softmax_ce)]
    with tg.config(num_threads=3):
        assert [m.max_threads() for m in (batchnorm, optim, softmax_ce)] == [3, 3, 3]
        assert tg.config.num_threads() == 3
    assert [m.max_threads() for m in (batchnorm, optim, softmax_ce)] == before
    assert tg.config.num_threads() is None


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                      ("2", TypeError), (True, TypeError)])
def test_config_num_threads_is_validated(bad, exc):
    before = K.policy()["num_threads"]
    with pytest.raises(exc, match="num_threads"):
        tg.config(num_threads=bad)
    assert K.policy()["num_threads"] == before


@pytest.mark.parametrize("bad, exc", [("no", TypeError), ("False", TypeError), (None, TypeError),
                                      (0.0, TypeError), (2, ValueError)])
def test_config_fused_accepts_only_booleans(bad, exc):
    before = tg.config.fused()
    with pytest.raises(exc, match="fused"):
        tg.config(fused=bad)
    assert tg.config.fused() == before


def test_config_fused_zero_one_and_all_or_nothing():
    before = tg.config.fused()
    with tg.config(fused=0):
        assert tg.config.fused() is False
    with tg.config(fused=np.bool_(True)):
        assert tg.config.fused() is True
    with pytest.raises(TypeError):
        tg.config(fused=False, num_threads="x")      # nothing changes when one value is bad
    assert tg.config.fused() == before


@pytest.mark.parametrize("threads", [1, 2])
def test_results_do_not_depend_on_threads(threads):
    from tinygrad_bn._kernels import batchnorm, optim, softmax_ce
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2100, 512)).astype(np.float32)     # above every parallel size
    y = rng.integers(0, 512, 2100)
    outs = []
    for t in (threads, 1):
        with tg.config(num_threads=t):
            bn = batchnorm.bn_train_forward(x, np.ones(512, np.float32), np.zeros(512, np.float32), 1e-3)
            g, loss = np.empty_like(x), np.empty(2100)
            tot = softmax_ce.ce_forward_sparse(x, y, 0.0, 1.0, g, loss)
            p = x.ravel().copy()
            m, v = np.zeros_like(p), np.zeros_like(p)
            optim.adam_update(p, p[::-1].copy(), m, v, None, 1e-3, 0.9, 0.999, 1e-7)
            outs.append((bn[0], bn[1], g, tot, p))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def openblas_threads():
    """This process's BLAS on OpenBLAS's own threads for one test (the pool back after it)."""
    was, declined = K.policy()["blas_pool"], K._POOL.get("declined", False)
    K._POOL["declined"] = True                   # a tape must not switch it back on
    K._set_pool(False)
    yield
    K._POOL["declined"] = declined
    K._set_pool(was)


def test_kernels_run_on_one_thread_while_blas_spins_after_a_matmul(openblas_threads):
    # OpenBLAS's idle workers busy-wait ~0.13 s after a threaded GEMM: a kernel call in that
    # window runs on the calling thread alone (by default), and on the default threads after
    from tinygrad_bn._kernels import BLAS_CLOCK, batchnorm, optim, softmax_ce
    big = (4_000_000, 1_000_000, 64)             # work, threshold, blocks: a parallel call
    mods = (batchnorm, optim, softmax_ce)
    BLAS_CLOCK[0] = 0                            # no matmul for ages
    idle = [m._threads_for_work(*big) for m in mods]
    assert idle == [min(m.max_threads(), 64) for m in mods]
    a = tg.Var(np.ones((3, 3), np.float32))
    with tg.GradientTape() as tape:
        y = (a @ a).sum()                        # the matmul op notes the time
    assert [m._threads_for_work(*big) for m in mods] == [1, 1, 1]
    BLAS_CLOCK[0] = 0
    tape.gradient(y, a)                          # so does its backward
    assert [m._threads_for_work(*big) for m in mods] == [1, 1, 1]
    with tg.config(num_threads=2):               # an explicit choice is used as given
        assert [m._threads_for_work(*big) for m in mods] == [2, 2, 2]
    BLAS_CLOCK[0] = time.monotonic_ns() - 200_000_000      # 0.2 s ago: BLAS sleeps again
    assert [m._threads_for_work(*big) for m in mods] == idle
    assert [m._threads_for_work(1000, 1_000_000, 64) for m in mods] == [1, 1, 1]   # small: always 1


def test_a_dense_layer_notes_its_matmuls_too(openblas_threads):
    from tinygrad_bn._kernels import BLAS_CLOCK
    from tinygrad_bn.keras import Dense
    layer = Dense(4)
    layer.build((None, 3))
    BLAS_CLOCK[0] = 0
    t0 = time.monotonic_ns()
    layer(np.ones((2, 3), np.float32))
    assert BLAS_CLOCK[0] >= t0


FORK = """
import os, sys, warnings, numpy as np
import tinygrad_bn as tg
from tinygrad_bn._kernels import batchnorm as B, policy
x = np.random.default_rng(0).standard_normal((4096, 512)).astype(np.float32)
g, b = np.ones(512, np.float32), np.zeros(512, np.float32)
with tg.config(num_threads=2):
    want = B.bn_train_forward(x, g, b, 1e-3)[0]          # the parent's OpenMP pool is up
    pid = os.fork()
    if pid == 0:                                         # the child: no parallel region may start
        try:
            assert policy()["forked"] and policy()["num_threads"] == 1
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                with tg.config(num_threads=2):
                    assert policy()["num_threads"] == 1
                    got = B.bn_train_forward(x, g, b, 1e-3)[0]
            assert any("fork" in str(m.message) for m in w), [str(m.message) for m in w]
            assert np.array_equal(got, want)
        except BaseException as exc:
            print("child failed:", repr(exc), flush=True)
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status), "parent forked", policy()["forked"])
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_runs_the_kernels_on_one_thread_instead_of_hanging():
    # GNU OpenMP's pool does not survive fork(): a parallel region in the child would wait
    # forever for the parent's threads. The child stays on one thread (and says so).
    out = subprocess.run([sys.executable, "-c", FORK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert "child exit 0 parent forked False" in out.stdout, out.stdout
