"""A compiler without OpenMP (setup.py: ``TINYGRAD_BN_NO_OPENMP=1`` builds as one would): the
kernels must still import, run on the calling thread and give the same results as the
OpenMP build (their blocks, and so their sums, do not depend on the threads).

The kernels are rebuilt in a copy of the source tree (about 20 s on 2 cores); the engine
module is copied from this build.
"""
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXT = sysconfig.get_config_var("EXT_SUFFIX")
ENGINE = os.path.join(ROOT, "tinygrad_bn", "_engine" + EXT)

pytestmark = pytest.mark.skipif(
    not (os.path.exists(os.path.join(ROOT, "setup.py")) and os.path.exists(ENGINE)
         and shutil.which(os.environ.get("CC", "cc").split()[0])
         and importlib.util.find_spec("Cython") and importlib.util.find_spec("setuptools")),
    reason="needs the source tree with its built engine, a C compiler, Cython and setuptools "
           "(pip install -e '.[test]')")

CHECK = """
import hashlib, json
import numpy as np
import tinygrad_bn as tg
from tinygrad_bn import _kernels as K
from tinygrad_bn._kernels import batchnorm as B, optim as O, softmax_ce as C
rng = np.random.default_rng(7)
x = rng.standard_normal((2048, 300)).astype(np.float32)        # above every parallel size
y = rng.integers(0, 300, 2048)
g, b = rng.standard_normal(300).astype(np.float32), rng.standard_normal(300).astype(np.float32)
with tg.config(num_threads=2):                                  # asks for threads: gets none
    out = B.bn_train_forward(x, g, b, 1e-3)
    dx = B.bn_train_backward(x, x[::-1].copy(), out[1], out[3], g)
    grad, loss = np.empty_like(x), np.empty(2048)
    tot = C.ce_forward_sparse(x, y, 0.0, 1.0, grad, loss)
    p = x.ravel().copy(); m = np.zeros_like(p); v = np.zeros_like(p)
    O.adam_update(p, p[::-1].copy(), m, v, None, 1e-3, 0.9, 0.999, 1e-7)
    with tg.GradientTape() as tape:                             # the pool is never switched on
        w = tg.Var(x[:64, :64])
        s = (w @ w).sum()
    tape.gradient(s, w)
arrays = [out[0], out[1], out[3], dx[0], dx[1], dx[2], grad, loss, p, m, v]
print(json.dumps({"policy": K.policy(), "threads": B.max_threads(), "tot": float(tot),
                  "sums": [float(np.asarray(a, np.float64).sum()) for a in arrays],
                  "digests": [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() for a in arrays]}))
"""


def _run(pythonpath):
    env = dict(os.environ, PYTHONPATH=pythonpath)
    for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS"):
        env.pop(k, None)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(CHECK)], capture_output=True, text=True,
                         timeout=120, env=env, cwd="/")
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_kernels_built_without_openmp_import_run_serially_and_match(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "kernels"), src / "kernels",
                    ignore=shutil.ignore_patterns("*.so", "*.html"))
    shutil.copytree(os.path.join(ROOT, "tinygrad_bn"), src / "tinygrad_bn",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__", "*.c", "*.html"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(os.path.join(ROOT, name), src / name)
    shutil.copy2(ENGINE, src / "tinygrad_bn" / os.path.basename(ENGINE))
    env = dict(os.environ, TINYGRAD_BN_NO_OPENMP="1", TINYGRAD_BN_BUILD_ONLY="kernels",
               TINYGRAD_BN_BUILD_TTY="0")
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-j", "2"], cwd=src, env=env,
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-3000:]
    assert len(glob.glob(str(src / "tinygrad_bn" / "_kernels" / ("*" + EXT)))) >= 4
    serial = _run(str(src))
    assert serial["policy"]["case"] == "serial" and not serial["policy"]["blas_pool"]
    assert serial["threads"] == 1
    threaded = _run(ROOT)
    assert threaded["policy"]["case"] != "serial"
    assert serial["tot"] == threaded["tot"]
    assert serial["digests"] == threaded["digests"]             # bit for bit
    assert np.all(np.isfinite(serial["sums"]))
