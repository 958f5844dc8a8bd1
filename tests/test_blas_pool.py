"""NumPy's BLAS on the kernels' OpenMP threads (tinygrad_bn._kernels.use_blas_pool, kernels/blaspool.pyx).

The pool is a process-wide switch made once, so every case that watches it switch runs in
a fresh interpreter.  What must hold: the products are bit-identical to OpenBLAS's own
threads (the same jobs run, on other threads), also with several Python threads in BLAS
at once; the switch happens where the project trains and not at import; where OpenMP
cannot give every job its own thread the jobs still run (POSIX threads), never hang; and
a fork() child goes back to OpenBLAS's threads.
"""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import _kernels as K

POOL = K._POOL["library"] is not None and K.policy()["case"] == "pool"
pytestmark = pytest.mark.skipif(not POOL, reason="NumPy's BLAS is not an OpenBLAS >= 0.3.27 (pthreads) "
                                                 "whose jobs this process's OpenMP runtime can run")

SCRIPT = """
import json, os, threading
import numpy as np
{pre}
import tinygrad_bn as tg
from tinygrad_bn import _kernels as K
from tinygrad_bn._kernels import blaspool

rng = np.random.default_rng(0)
a32 = rng.standard_normal((300, 200)).astype(np.float32)
b32 = rng.standard_normal((200, 260)).astype(np.float32)
a64 = rng.standard_normal((257, 300))
b64 = rng.standard_normal((300, 199))
m64 = rng.standard_normal((3000, 2000))
v64 = rng.standard_normal(2000)
c128 = rng.standard_normal((240, 240)) + 1j * rng.standard_normal((240, 240))
s64 = a64.T @ a64 + 300 * np.eye(300)

def products():
    # threaded GEMMs of several variants (NN, TN, NT), real and complex, a GEMV, and LAPACK:
    # OpenBLAS's parallel LU (solve, inv) runs on its own workers, bypassing the callback, and
    # NumPy calls LAPACK with the GIL held (both once hung 4 threads here)
    return [a32 @ b32, a32.T @ a32, b32 @ b32.T, a64 @ b64, a64.T @ a64, m64 @ v64, c128 @ c128,
            np.linalg.solve(s64, b64), np.linalg.inv(s64), np.linalg.cholesky(s64),
            np.linalg.qr(a64)[1], np.linalg.svd(a64[:200, :150], compute_uv=False),
            np.linalg.eigvalsh(s64[:200, :200])]

want = products()                                   # on OpenBLAS's own threads
out = {"case": K.policy()["case"], "before": K.policy()["blas_pool"], "calls_before": blaspool.stats()["calls"]}
{trigger}
out["after"] = K.policy()["blas_pool"]
got = products()
out["equal"] = all(np.array_equal(w, g) for w, g in zip(want, got))
out["calls"] = blaspool.stats()["calls"]
bad = []

def work(k):
    for _ in range(5):
        for i, (w, g) in enumerate(zip(want, products())):
            if not np.array_equal(w, g):
                bad.append((k, i))

threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
out["threads_bad"] = bad
out["num_threads"] = K.policy()["num_threads"]
out.update(blaspool.stats())
print(json.dumps(out))
"""

TRIGGERS = {
    "tape": "with tg.GradientTape() as tape:\n    pass",
    "fit": ("m = tg.keras.Sequential([tg.keras.layers.Dense(3)])\n"
            "m.compile(optimizer='sgd', loss='mse')\n"
            "m.fit(np.ones((8, 4), np.float32), np.ones((8, 3), np.float32), epochs=1, verbose=0)"),
    "declined": "K.use_blas_pool(False)\nwith tg.GradientTape() as tape:\n    pass",
}


def _script(trigger, pre=""):
    return SCRIPT.replace("{trigger}", TRIGGERS[trigger]).replace("{pre}", pre)


def _run(code, env=None, timeout=180):
    e = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS",
                                                           "OMP_DYNAMIC", "OMP_THREAD_LIMIT",
                                                           "TINYGRAD_BN_BLAS_POOL")}
    e.update(env or {})
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=timeout, env=e)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("trigger", ["tape", "fit"])
def test_training_shares_the_pool_and_products_stay_bit_identical(trigger):
    r = _run(_script(trigger))
    assert r["case"] == "pool"
    assert r["before"] is False and r["calls_before"] == 0      # importing changed nothing
    assert r["after"] is True                                   # training did
    assert r["calls"] > 0                                       # the products ran on the pool ...
    assert r["equal"]                                           # ... with OpenBLAS's own bits
    assert r["threads_bad"] == []                               # 4 Python threads in BLAS at once
    assert r["fallbacks"] == 0


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_with_torch_loaded_first_blas_shares_torchs_runtime_and_the_kernels_get_their_threads_back():
    # torch's libgomp (spinning, initialised before us) is the kernels' runtime: with OpenBLAS's
    # own threads beside it the kernels stay on one thread; once BLAS runs on it too they need not
    r = _run(_script("tape", pre="import torch\ntorch.ones(4) @ torch.ones(4)"))
    assert r["case"] == "shared"
    assert r["after"] is True and r["calls"] > 0 and r["equal"] and r["threads_bad"] == []
    if len(os.sched_getaffinity(0)) > 1:
        assert r["num_threads"] > 1              # was 1 before the tape (test_threads.py)


def test_declined_pool_stays_off():
    r = _run(_script("declined"))
    assert r["after"] is False and r["calls"] == 0 and r["equal"] and r["threads_bad"] == []


@pytest.mark.parametrize("env", [{"OMP_THREAD_LIMIT": "1"}, {"OMP_DYNAMIC": "true"}])
def test_jobs_run_on_posix_threads_where_openmp_cannot_promise_a_thread_each(env):
    # a GEMM's jobs wait for each other: run one after another they would hang
    r = _run(_script("tape"), env=env)
    assert r["after"] is True and r["equal"] and r["threads_bad"] == []
    assert r["fallbacks"] == r["calls"] > 0


FORK = """
import json, os
import numpy as np
import tinygrad_bn as tg
from tinygrad_bn import _kernels as K
from tinygrad_bn._kernels import blaspool
a = np.random.default_rng(1).standard_normal((400, 400)).astype(np.float32)
with tg.GradientTape():
    pass
want = a @ a
calls = blaspool.stats()["calls"]
assert K.policy()["blas_pool"] and calls > 0
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    got = a @ a                              # OpenBLAS's own threads again (libgomp's pool is gone)
    msg = dict(pool=K.policy()["blas_pool"], equal=bool(np.array_equal(got, want)),
               calls=blaspool.stats()["calls"] - calls)
    os.write(w, json.dumps(msg).encode())
    os._exit(0)
os.close(w)
child = json.loads(os.read(r, 4096).decode())
_, status = os.waitpid(pid, 0)
child["status"] = os.waitstatus_to_exitcode(status)
child["parent_pool"] = K.policy()["blas_pool"]
child["parent_equal"] = bool(np.array_equal(a @ a, want))
print(json.dumps(child))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_gives_blas_its_own_threads_back():
    r = _run(FORK, timeout=60)
    assert r == {"pool": False, "equal": True, "calls": 0, "status": 0, "parent_pool": True,
                 "parent_equal": True}


def test_kernels_take_every_core_after_a_matmul_on_the_pool():
    # no OpenBLAS worker spins after a matmul run on the pool, so a large kernel call right
    # after one uses the default threads (with OpenBLAS's own threads: one, test_threads.py)
    from tinygrad_bn._kernels import BLAS_CLOCK, batchnorm
    from tinygrad_bn.keras import Dense
    assert K.use_blas_pool()
    BLAS_CLOCK[0] = 0
    layer = Dense(64)
    layer(np.ones((256, 128), np.float32))
    assert BLAS_CLOCK[0] == 0                    # nothing to note
    big = (4_000_000, 1_000_000, 64)
    assert batchnorm._threads_for_work(*big) == min(batchnorm.max_threads(), 64)


def test_training_results_do_not_depend_on_the_pool():
    # the same steps, the pool on and off in one process: identical weights
    from tinygrad_bn.keras import layers
    rng = np.random.default_rng(5)
    x = rng.standard_normal((512, 96)).astype(np.float32)
    y = rng.integers(0, 10, 512)
    weights = []
    was, declined = K.policy()["blas_pool"], K._POOL.get("declined", False)
    try:
        for on in (True, False):
            K._POOL["declined"] = not on         # fit() must not switch it back on
            K._set_pool(on)
            tg.utils.set_seed(11)
            m = tg.keras.Sequential([layers.Dense(128), layers.BatchNormalization(), layers.ReLU(),
                                     layers.Dense(10)])
            m.compile(optimizer=tg.optimizers.Adam(1e-3),
                      loss=tg.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            m.fit(x, y, batch_size=256, epochs=2, verbose=0, shuffle=False)
            weights.append([np.asarray(v.numpy()) for v in m.weights])
    finally:
        K._POOL["declined"] = declined
        K._set_pool(was)
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
