"""Allocator tuning (tinygrad_bn.memory): applied only when asked, never by ``import tinygrad_bn``.

Observed through glibc itself, in fresh processes: a 48 MiB ``malloc`` is above
glibc's default mmap threshold (dynamic, but capped at 32 MiB), so it is served
by ``mmap`` and shows up in ``mallinfo2().hblkhd``; after ``tune_malloc()``
(threshold 64 MiB) it comes from the heap and ``hblkhd`` does not grow.
"""
import os
import subprocess
import sys
import textwrap

import pytest

from tinygrad_bn import memory

pytestmark = pytest.mark.skipif(memory._glibc() is None, reason="glibc allocator tuning is Linux/glibc-only")

PROBE = textwrap.dedent("""
    import ctypes, sys
    class MI(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MI
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    def mmapped_48mib():
        before = libc.mallinfo2().hblkhd
        p = libc.malloc(48 << 20)
        grew = libc.mallinfo2().hblkhd - before
        libc.free(p)
        return grew >= (48 << 20)
    {body}
""")


def _run(body, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "TINYGRAD_BN_MALLOC_TUNING"}
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", PROBE.format(body=textwrap.dedent(body))],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _has_mallinfo2():
    import ctypes
    return hasattr(ctypes.CDLL(None), "mallinfo2")


needs_mallinfo2 = pytest.mark.skipif(not _has_mallinfo2(), reason="glibc < 2.33 has no mallinfo2")


@needs_mallinfo2
def test_probe_sees_the_default_and_the_tuned_threshold():
    # the observation itself works: plain Python mmaps 48 MiB; glibc's own variable stops it
    assert _run("print(mmapped_48mib())") == ["True"]
    assert _run("print(mmapped_48mib())", {"MALLOC_MMAP_THRESHOLD_": str(64 << 20)}) == ["False"]


@needs_mallinfo2
def test_import_leaves_the_allocator_alone():
    body = """
        import tinygrad_bn, tinygrad_bn.keras, tinygrad_bn.memory as m
        import numpy as np
        a = np.ones((256, 256), np.float32); del a
        print(mmapped_48mib(), m.status)
    """
    assert _run(body) == ["True", "None"]


@needs_mallinfo2
def test_tune_malloc_applies_when_asked():
    body = """
        import tinygrad_bn
        from tinygrad_bn import memory
        print(memory.tune_malloc(), mmapped_48mib(), memory.status)
    """
    assert _run(body) == ["True", "False", "True"]


@needs_mallinfo2
@pytest.mark.parametrize("env", [{"TINYGRAD_BN_MALLOC_TUNING": "0"}, {"TINYGRAD_BN_MALLOC_TUNING": "off"},
                                 {"MALLOC_TRIM_THRESHOLD_": "131072"}], ids=["tuning=0", "tuning=off", "glibc-var"])
def test_opt_out_wins_over_an_explicit_call(env):
    body = """
        import tinygrad_bn.memory as m
        print(m.tune_malloc(), mmapped_48mib())
    """
    assert _run(body, env) == ["False", "True"]


@needs_mallinfo2
def test_entry_point_tunes_and_subprocesses_inherit():
    # the project's own entry point (python -m tinygrad_bn ...) applies it; tune passes it on
    body = """
        import os, subprocess, sys
        import tinygrad_bn.__main__ as cli
        cli.main(["--help"])                       # help alone changes nothing
        print(mmapped_48mib())
        import tinygrad_bn.memory as m
        m.tune_malloc(subprocesses=True)
        print(mmapped_48mib(), os.environ["MALLOC_MMAP_THRESHOLD_"])
    """
    out = _run(body)
    assert out[-3:] == ["True", "False", str(64 << 20)]


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match=r"tune_malloc: mmap_threshold must be an int"):
        memory.tune_malloc(mmap_threshold=1.5)
    with pytest.raises(ValueError, match=r"tune_malloc: trim_threshold must be in \[0, 2\*\*31 - 1\]"):
        memory.tune_malloc(trim_threshold=-1)
    with pytest.raises(TypeError, match="tune_malloc: mmap_threshold"):
        memory.tune_malloc(mmap_threshold=True)
