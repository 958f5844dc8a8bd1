"""The allocator tuning done at import: on by default on glibc, off on request."""
import os
import subprocess
import sys

import pytest

import tinygrad_bn
from tinygrad_bn import memory


def _status(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "TINYGRAD_BN_MALLOC_TUNING"}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", "import tinygrad_bn.memory as m, tinygrad_bn; print(m.status)"],
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_tuned_by_default_and_switchable():
    assert tinygrad_bn is not None
    assert memory.tune_malloc() in (True, False)
    assert _status({}) in ("True", "False")          # False only on a non-glibc libc
    assert _status({"TINYGRAD_BN_MALLOC_TUNING": "0"}) == "None"
    assert _status({"MALLOC_TRIM_THRESHOLD_": "131072"}) == "None"
