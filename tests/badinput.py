"""Shared helpers for the bad-input batteries (``tests/test_bad_input_*.py``).

Each case must end in the right result or in a clear exception whose message
names the op / argument and the shapes, dtypes or file involved.  A case that
could crash the interpreter (a kernel called directly with hostile buffers)
runs in a subprocess through :func:`run_isolated`, so a segfault is a failed
test, not a dead test run.
"""
import os
import subprocess
import sys
import textwrap

import pytest


def expect_error(fn, exc_types, *must_mention):
    """Call ``fn()``; it must raise one of ``exc_types`` whose message contains every
    string in ``must_mention`` (case-insensitive).  Returns the exception."""
    with pytest.raises(exc_types) as info:
        fn()
    msg = str(info.value).lower()
    notes = getattr(info.value, "__notes__", None) or []
    msg += " " + " ".join(n.lower() for n in notes)
    for word in must_mention:
        assert str(word).lower() in msg, f"error message {str(info.value)!r} does not mention {word!r}"
    return info.value


def run_isolated(code, timeout=60):
    """Run ``code`` in a fresh interpreter; return (returncode, stdout, stderr).

    A negative return code means the child died from a signal (a crash)."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def expect_isolated_error(code, exc_name, *must_mention, timeout=60):
    """``code`` run in a subprocess must raise ``exc_name`` (e.g. "ValueError") with a
    message mentioning every string in ``must_mention``; a crash or a hang fails."""
    rc, out, err = run_isolated(code, timeout=timeout)
    assert rc >= 0, f"the child crashed with signal {-rc}:\n{err[-2000:]}"
    assert rc != 0, f"expected {exc_name}, but the code ran to the end:\n{out[-2000:]}"
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert last.startswith(exc_name), f"expected {exc_name}, got:\n{err[-2000:]}"
    low = err.lower()
    for word in must_mention:
        assert str(word).lower() in low, f"{exc_name} message does not mention {word!r}:\n{last}"
