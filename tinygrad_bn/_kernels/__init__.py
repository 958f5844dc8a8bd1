"""Compiled kernels (``kernels/*.pyx``): batch norm, softmax cross-entropy, optimizer updates.

Thread policy (details and measurements in docs/kernels.md, "Threads"): the kernels
run their large calls on OpenMP threads, NumPy's matmuls on OpenBLAS threads, on the
same cores.  An OpenMP runtime left at its default keeps its idle threads spinning
for milliseconds after every parallel region, which starves the next matmul.  So:

* **When this package loads the process's OpenMP runtime** (``libgomp.so.1`` not yet
  loaded, and the user set neither ``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT``),
  ``OMP_WAIT_POLICY=PASSIVE`` is put in the environment for the duration of the
  ``import`` of the kernel modules only -- libgomp reads it once, in its constructor,
  when the first module loads it -- and removed right after: no environment variable
  is left behind for other libraries or child processes.  Idle kernel threads then
  sleep at once (futex) instead of spinning.  The one effect that outlives the import:
  a library loaded *later* in the same process that links ``libgomp.so.1`` (PyTorch
  does; the dynamic linker reuses an already loaded soname) shares this runtime, so its
  idle threads also sleep rather than spin.
* **When the runtime is already loaded** (PyTorch imported first: its bundled
  ``libgomp.so.1`` is then the one the kernels use) its wait policy cannot be changed
  any more.  Unless the user chose a policy (``OMP_WAIT_POLICY`` / ``GOMP_SPINCOUNT``
  set) the kernels then run single-threaded by default, so they never leave spinning
  threads behind; ``tinygrad_bn.config(num_threads=N)`` overrides.
* Small calls always stay on the calling thread (per-kernel work thresholds).
* **In a fork() child** (``multiprocessing``'s default start method on Linux) the kernels
  run on one thread, whatever ``num_threads`` says: GNU OpenMP's pool does not survive
  fork(), and the child's first parallel region would wait forever for threads that are
  gone.  Workers started with ``'spawn'`` or ``'forkserver'`` keep the parallel kernels.
* **While NumPy's BLAS is still spinning** -- OpenBLAS's idle workers busy-wait on the
  other cores for ~0.13 s after every threaded matmul, so during training always --
  the default is the calling thread alone: a second kernel thread would only fight a
  spinning BLAS worker for its core.  The ops note the time of each matmul they hand to
  NumPy in ``BLAS_CLOCK`` (``note_blas()``); a kernel call more than 0.15 s after it uses the default
  threads again.  An explicit ``tinygrad_bn.config(num_threads=N)`` is used as given.

``policy()`` says which case applies.  BLAS's own threads are set with threadpoolctl
(``threadpool_limits(1, "blas")``) or ``OPENBLAS_NUM_THREADS`` before NumPy is imported.
"""
import operator
import os
import warnings

import numpy as np

_POLICY = {}


def _gomp_loaded():
    """True when an OpenMP runtime named libgomp.so.1 is mapped in this process (None: unknown)."""
    try:
        with open("/proc/self/maps") as fh:
            return any(os.path.basename(line.rstrip()).startswith("libgomp.so") for line in fh)
    except OSError:
        return None


def _load():
    user = "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ
    loaded = _gomp_loaded()
    set_here = not user and loaded is False
    if set_here:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from . import batchnorm, optim, softmax_ce    # noqa: F401  (loads libgomp)
    finally:
        if set_here:
            os.environ.pop("OMP_WAIT_POLICY", None)
    if user:
        case = "user"                    # the user's OMP_WAIT_POLICY / GOMP_SPINCOUNT
    elif set_here:
        case = "passive"                 # our runtime, initialised passive here
    else:
        case = "shared"                  # a runtime loaded before us (e.g. by torch)
    _POLICY.update(case=case, default_threads=1 if case == "shared" else 0)
    return batchnorm, optim, softmax_ce


_MODULES = _load()

#: CLOCK_MONOTONIC ns of the last matmul the ops handed to NumPy's BLAS, read by every kernel
#: module: while BLAS's idle workers still spin after it, the kernels' default is one thread
#: (see the module docstring).  The ops write it with ``note_blas()``.
BLAS_CLOCK = np.zeros(1, np.int64)
for _mod in _MODULES:
    _mod._set_blas_clock(BLAS_CLOCK)
del _mod
#: ``note_blas()``: store now in ``BLAS_CLOCK`` (the kernels' own clock, CLOCK_MONOTONIC)
note_blas = _MODULES[0]._note_blas


def policy():
    """``{"case": "passive" | "shared" | "user", "num_threads": N, "forked": bool}``: how the
    kernels' OpenMP runtime was initialised (see the module docstring), the threads a large
    kernel call uses now, and whether this process is a fork() child (then: one thread)."""
    return {"case": _POLICY["case"], "num_threads": _MODULES[0].max_threads(),
            "forked": _POLICY.get("forked", False)}


def set_num_threads(n):
    """Threads for the kernels' parallel calls in every module: a positive int, or None for
    the default of the policy (OpenMP's default -- ``OMP_NUM_THREADS`` or the CPUs this
    process may run on -- or 1 when the runtime was loaded by another library first)."""
    if n is None:
        value = _POLICY["default_threads"]
    else:
        if isinstance(n, bool) or not hasattr(type(n), "__index__"):
            raise TypeError(f"set_num_threads: num_threads must be a positive int or None, "
                            f"got {type(n).__name__} {n!r}")
        value = operator.index(n)
        if value < 1:
            raise ValueError(f"set_num_threads: num_threads must be a positive int or None, got {n!r}")
    if _POLICY.get("forked") and value != 1:
        if n is not None:
            warnings.warn(f"set_num_threads({n}): this process was forked, and GNU OpenMP's thread pool "
                          "does not survive fork() (a parallel region would hang), so the kernels stay "
                          "on one thread here; start workers with the 'spawn' or 'forkserver' method for "
                          "parallel kernels", RuntimeWarning, stacklevel=3)
        value = 1
    for mod in _MODULES:
        mod._set_num_threads(value)


def _after_fork_in_child():
    # libgomp keeps its idle pool threads and reuses them for the next parallel region; after
    # fork() only the forking thread exists in the child, so that region would wait forever.
    # From here on every kernel call stays on the calling thread (no parallel region at all).
    _POLICY["forked"] = True
    set_num_threads(None)


set_num_threads(None)
os.register_at_fork(after_in_child=_after_fork_in_child)
