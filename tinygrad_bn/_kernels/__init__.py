"""Compiled kernels (``kernels/*.pyx``): batch norm, softmax cross-entropy, optimizer updates.

Thread policy (details and measurements in docs/kernels.md, "Threads"): the kernels
run their large calls on OpenMP threads, NumPy's matmuls on OpenBLAS threads, on the
same cores.  Two pools of threads that each spin while idle take the cores from each
other (an OpenMP runtime left at its default spins for milliseconds after every parallel
region, OpenBLAS's workers for ~0.13 s after every threaded matmul).  So:

* **One pool, where NumPy's BLAS allows it** (OpenBLAS >= 0.3.27 built with pthreads, as
  in NumPy's wheels, and this package loads the OpenMP runtime): OpenBLAS's threaded calls
  hand their jobs to ``blaspool``'s callback, which runs them on the kernels' own OpenMP
  threads (``use_blas_pool``).  The project switches it on where it trains -- the first
  ``GradientTape``, ``Model.fit`` and the other Model entry points -- not at import, and it
  stays on for the process (``use_blas_pool(False)`` or ``TINYGRAD_BN_BLAS_POOL=0`` keep
  OpenBLAS's own threads).  With one pool, idle threads may spin: the runtime keeps
  libgomp's own default (300000 spins, ~6 ms here, then sleep; ``case == "pool"``).
  Products are bit-identical to OpenBLAS's own threads: the same jobs run, on other threads.
* **When this package loads the runtime but BLAS cannot share it** (another BLAS, an older
  OpenBLAS, ``TINYGRAD_BN_BLAS_POOL=0``): ``OMP_WAIT_POLICY=PASSIVE`` is put in the
  environment for the duration of the ``import`` of the kernel modules only -- libgomp reads
  it once, in its constructor, when the first module loads it -- and removed right after;
  idle kernel threads then sleep at once (futex) instead of spinning (``case == "passive"``).
* In both cases, the one effect that outlives the import: a library loaded *later* in the
  same process that links ``libgomp.so.1`` (PyTorch does; the dynamic linker reuses an
  already loaded soname) shares this runtime and its wait policy.
* **When the runtime is already loaded** (PyTorch imported first: its bundled
  ``libgomp.so.1`` is then the one the kernels use) its wait policy cannot be changed
  any more.  Unless the user chose a policy (``OMP_WAIT_POLICY`` / ``GOMP_SPINCOUNT``
  set) the kernels then run single-threaded by default, so they never leave spinning
  threads behind; ``tinygrad_bn.config(num_threads=N)`` overrides.  OpenBLAS keeps its
  own threads then, and also when the user chose a policy.
* Small calls always stay on the calling thread (per-kernel work thresholds).
* **In a fork() child** (``multiprocessing``'s default start method on Linux) the kernels
  run on one thread, whatever ``num_threads`` says, and OpenBLAS gets its own threads
  back: GNU OpenMP's pool does not survive fork(), and the child's first parallel region
  would wait forever for threads that are gone.  Workers started with ``'spawn'`` or
  ``'forkserver'`` keep the parallel kernels.
* **While NumPy's BLAS is still spinning on its own threads** -- OpenBLAS's idle workers
  busy-wait on the other cores for ~0.13 s after every threaded matmul -- the default is
  the calling thread alone: a second kernel thread would only fight a spinning BLAS worker
  for its core.  The ops note the time of each matmul they hand to NumPy in
  ``BLAS_CLOCK[0]`` (``note_blas()``; nothing is noted while the pool is shared,
  ``BLAS_CLOCK[1] == 1``); a kernel call more than 0.15 s after it uses the default threads
  again.  An explicit ``tinygrad_bn.config(num_threads=N)`` is used as given.

(A build without OpenMP -- a compiler without ``-fopenmp`` -- runs every kernel on the
calling thread, ``case == "serial"``.)  ``policy()`` says which case applies.  BLAS's own threads are set with threadpoolctl
(``threadpool_limits(1, "blas")``) or ``OPENBLAS_NUM_THREADS`` before NumPy is imported.
"""
import operator
import os
import warnings

import numpy as np

_POLICY = {}
#: the shared pool: library (NumPy's OpenBLAS, when it can share), declined (use_blas_pool(False));
#: whether it is installed is blaspool.installed()
_POOL = {"library": None, "declined": False}
#: ``TINYGRAD_BN_POOL_SPINCOUNT``: a GOMP_SPINCOUNT for the runtime when BLAS can share its pool
#: (read at import, for measurements; by default libgomp keeps its own, 300000)
_POOL_SPINCOUNT = os.environ.get("TINYGRAD_BN_POOL_SPINCOUNT")


def _gomp_loaded():
    """True when an OpenMP runtime named libgomp.so.1 is mapped in this process (None: unknown)."""
    try:
        with open("/proc/self/maps") as fh:
            return any(os.path.basename(line.rstrip()).startswith("libgomp.so") for line in fh)
    except OSError:
        return None


def _numpy_openblas():
    """The OpenBLAS NumPy's matmul calls, as ``(path, address of its
    set_threads_callback_function, MAX_THREADS)``, when it is a pthreads build exporting that
    function (OpenBLAS >= 0.3.27; NumPy's wheels) with room above its workers' slots; else None."""
    if os.environ.get("TINYGRAD_BN_BLAS_POOL", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        with open("/proc/self/maps") as fh:
            fields = [line.split(None, 5) for line in fh]
    except OSError:
        return None
    paths = {f[5].strip() for f in fields if len(f) == 6}
    paths = sorted(p for p in paths if "openblas" in p.lower() and ".so" in os.path.basename(p))
    np_dir = os.path.dirname(np.__file__)
    mine = [p for p in paths if p.startswith((np_dir + os.sep, np_dir + ".libs" + os.sep))]
    candidates = mine or (paths if len(paths) == 1 else [])
    if len(candidates) != 1:
        return None
    import ctypes
    try:
        lib = ctypes.CDLL(candidates[0], mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
    except (OSError, AttributeError):
        return None
    import re
    for prefix in ("scipy_openblas_", "openblas_"):
        for suffix in ("64_", ""):
            names = ("set_threads_callback_function", "get_parallel", "get_config", "get_num_threads",
                     "get_num_procs")
            fns = [getattr(lib, f"{prefix}{n}{suffix}", None) for n in names]
            if any(f is None for f in fns):
                continue
            setter, parallel, config, nthreads, nprocs = fns
            parallel.restype = nthreads.restype = nprocs.restype = ctypes.c_int
            config.restype = ctypes.c_char_p
            if parallel() != 1:             # 1: pthreads server; 2 (OpenMP build) runs on OpenMP already
                return None
            # the callback's jobs take the top slots of OpenBLAS's per-worker arrays (blaspool.pyx):
            # they must stay clear of its own workers'
            m = re.search(rb"MAX_THREADS=(\d+)", config() or b"")
            slots = int(m.group(1)) if m else 0
            if 2 * max(nthreads(), nprocs()) > slots:
                return None
            return candidates[0], ctypes.cast(setter, ctypes.c_void_p).value, slots
    return None


def _load():
    user = "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ
    loaded = _gomp_loaded()
    set_here = not user and loaded is False
    blas = None if user else _numpy_openblas()
    # our runtime: libgomp's default spin when BLAS can share its pool (one pool: its idle
    # threads may spin, there is no other pool to starve), else passive
    if blas:
        var, value = ("GOMP_SPINCOUNT", _POOL_SPINCOUNT) if _POOL_SPINCOUNT else (None, None)
    else:
        var, value = "OMP_WAIT_POLICY", "PASSIVE"
    set_here = set_here and var is not None
    if set_here:
        os.environ[var] = value
    try:
        from . import batchnorm, blaspool, optim, softmax_ce    # noqa: F401  (loads libgomp)
    finally:
        if set_here:
            os.environ.pop(var, None)
    now = _gomp_loaded()
    if loaded is False and now is False:
        case = "serial"                  # kernels built without OpenMP: no threads at all
    elif user:
        case = "user"                    # the user's OMP_WAIT_POLICY / GOMP_SPINCOUNT
    elif loaded is False:
        case = "pool" if blas else "passive"   # our runtime, initialised here
    else:
        case = "shared"                  # a runtime loaded before us (e.g. by torch)
    if blas and now:
        blaspool._attach(blas[1], blas[2])
        _POOL.update(library=blas[0])
    _POLICY.update(case=case, default_threads=1 if case == "shared" else 0)
    return (batchnorm, optim, softmax_ce), blaspool


_MODULES, _blaspool = _load()

#: CLOCK_MONOTONIC ns of the last matmul the ops handed to NumPy's BLAS, read by every kernel
#: module: while BLAS's idle workers still spin after it, the kernels' default is one thread
#: (see the module docstring).  The ops write it with ``note_blas()``.
BLAS_CLOCK = np.zeros(2, np.int64)     # [1]: 1 while BLAS runs on the kernels' pool (no spinning)
for _mod in _MODULES:
    _mod._set_blas_clock(BLAS_CLOCK)
del _mod
#: ``note_blas()``: store now in ``BLAS_CLOCK`` (the kernels' own clock, CLOCK_MONOTONIC)
note_blas = _MODULES[0]._note_blas


def policy():
    """``{"case": "pool" | "passive" | "shared" | "user" | "serial", "num_threads": N, "forked": bool,
    "blas_pool": bool}``: how the kernels' OpenMP runtime was initialised (see the module
    docstring), the threads a large kernel call uses now, whether this process is a fork()
    child (then: one thread), and whether NumPy's BLAS runs on the kernels' threads now."""
    return {"case": _POLICY["case"], "num_threads": _MODULES[0].max_threads(),
            "forked": _POLICY.get("forked", False), "blas_pool": _blaspool.installed()}


def use_blas_pool(on=True):
    """Run NumPy's threaded BLAS calls on the kernels' OpenMP threads (``on=True``), or give
    OpenBLAS its own threads back (``on=False``); returns whether the pool is shared now.

    The project calls ``use_blas_pool()`` when it starts training -- the first
    ``GradientTape``, ``Model.fit`` / ``train_on_batch`` / ``evaluate`` / ``predict`` -- and
    it stays on for the life of the process (OpenBLAS's callback is one process-wide pointer;
    switching it back and forth while another thread is inside a BLAS call would let that
    call's jobs and OpenBLAS's workers share scratch buffers).  It is available where NumPy's
    BLAS is OpenBLAS >= 0.3.27 built with pthreads and the kernels run on GNU OpenMP -- their
    own runtime (``policy()["case"] == "pool"``) or one another library loaded first
    (``"shared"``, e.g. torch's) -- and not where the user set ``OMP_WAIT_POLICY`` /
    ``GOMP_SPINCOUNT`` (``"user"``) or the kernels have no OpenMP (``"serial"``);
    ``TINYGRAD_BN_BLAS_POOL=0`` (read at
    import) or ``use_blas_pool(False)`` keeps OpenBLAS's own threads.  A fork() child always
    goes back to them.  Results are bit-identical either way: the same jobs run, on other
    threads.  See docs/kernels.md, "Threads"."""
    if not on:
        _POOL["declined"] = True
        _set_pool(False)
        return False
    if (_blaspool.installed() or _POOL["declined"] or _POOL["library"] is None
            or _POLICY.get("forked") or _POLICY["case"] not in ("pool", "shared")):
        return _blaspool.installed()
    _set_pool(True)
    return _blaspool.installed()


def _set_pool(on):
    if on:
        _blaspool.install()
    else:
        _blaspool.uninstall()
    on = _blaspool.installed()
    BLAS_CLOCK[1] = 1 if on else 0
    if _POLICY["case"] == "shared":
        # a runtime loaded by another library (torch) spins after every region; with OpenBLAS's
        # own threads beside it the kernels stay on one thread, with one pool they need not
        _POLICY["default_threads"] = 0 if on else 1
        from .. import config as _config
        if _config.settings["num_threads"] is None:
            set_num_threads(None)


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
    _blaspool._after_fork_in_child()         # OpenBLAS's own (re-created) workers, not libgomp's
    BLAS_CLOCK[1] = 0
    set_num_threads(None)


set_num_threads(None)
os.register_at_fork(after_in_child=_after_fork_in_child)
