"""Memory for training loops: a scoped caching allocator (on by default), and glibc tuning
(an explicit call, never done at import).

The problem: glibc serves allocations above a (dynamic, at most 32 MiB) threshold
with ``mmap`` and gives memory back with ``munmap``/trim as soon as it is freed.  A
training loop allocates and frees arrays of the same few sizes thousands of times,
so with the defaults each step pays fresh page faults for memory it has just
returned: about 4000 minor faults (16 MB the kernel zeroes) per step of the
issue-9 MLP at batch 4096, which made the step ~1.75x slower.  PyTorch users meet
the same effect and reach for jemalloc or ``MALLOC_*`` variables.

**The scoped cache (default).**  :class:`scope` makes the arrays NumPy allocates
inside it come from a small caching allocator (``tinygrad_bn._kernels.alloc``, a
NumPy memory handler, NEP 49): freed blocks of 128 KiB or more are kept (up to
256 MiB, :func:`set_cache_limit`) and handed out again for the same size, so a
step reuses the memory of the previous one with no page fault.  NumPy keeps the
handler in a context variable, so the cache serves only allocations made inside a
scope, in that thread or task (arrays made elsewhere, and the rest of your
process, use NumPy's default allocator); an array remembers its handler and is
freed back to the cache wherever it dies.  The project's own code runs in a scope:
``GradientTape`` (its ``with`` block and ``gradient()``; so ``minimize`` too, through its
tape) and ``Model.fit`` / ``train_on_batch`` / ``evaluate`` / ``predict``
(``apply_gradients`` updates in place and allocates nothing large).
:func:`release` frees the cached blocks; :func:`cache_stats` counts them;
``TINYGRAD_BN_ALLOC_CACHE=0`` (read at import) turns the cache off.

**glibc tuning (explicit).**  :func:`tune_malloc` raises both thresholds (arrays
under 64 MiB come from the heap; up to 256 MiB of free heap is kept).  It changes the
allocator of the *whole process*, so the library never does it by itself: ``import
tinygrad_bn`` (and ``Sequential.fit``) leave your process as they found it.
The project's own entry points apply it: ``python -m tinygrad_bn demo | course
| bench | tune`` (``tune`` also passes it to its worker processes through
glibc's ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``).  In your own
training script, call it once at the top::

    from tinygrad_bn import memory
    memory.tune_malloc()

or set glibc's variables yourself before Python starts
(``MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456``).

It does nothing and returns False off glibc, when ``TINYGRAD_BN_MALLOC_TUNING=0``,
or when one of glibc's ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``
variables is set (your choice wins).

Measured on the 2-core shared machine (each variant in its own process, median
of per-round ratios; ``python -m tinygrad_bn bench --only kernels,step``, the
``malloc`` / ``no tune_malloc`` lines): a fused batch-norm forward + backward
alone gains nothing measurable, at (256, 256) tuned/default 0.85-1.14 and at
(4096, 1024) 0.94-1.08, because glibc's dynamic threshold adapts when one size is
freed and reallocated; a whole training step, which frees and reallocates many
sizes, gains at large batches: the issue-9 MLP step (tape loop) tuned/default
0.73, 0.74 and 0.50 at batch 4096 and 0.37 at batch 1024 over three runs; at
batch 64-256 the runs were within the (large) noise of the shared machine.
That is why the entry points apply it and why the library does
not: in your own script the choice is yours (one call, above).  With the scoped
cache a training step no longer needs it (its arrays are reused, not faulted in).
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

DEFAULT_MMAP_THRESHOLD = 64 << 20
DEFAULT_TRIM_THRESHOLD = 256 << 20

_FALSE = ("0", "false", "no", "off")

#: None until :func:`tune_malloc` is called; then what it last returned
status = None

def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version          # glibc only (musl has no such symbol)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return libc


def opted_out():
    """True when the user asked for no tuning (``TINYGRAD_BN_MALLOC_TUNING=0`` or glibc's own variables)."""
    if os.environ.get("TINYGRAD_BN_MALLOC_TUNING", "1").strip().lower() in _FALSE:
        return True
    return "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ


def tune_malloc(mmap_threshold=DEFAULT_MMAP_THRESHOLD, trim_threshold=DEFAULT_TRIM_THRESHOLD,
                subprocesses=False):
    """Raise glibc's mmap and trim thresholds for this process; True when applied.

    ``subprocesses=True`` also sets ``MALLOC_MMAP_THRESHOLD_`` /
    ``MALLOC_TRIM_THRESHOLD_`` in ``os.environ`` so that processes started later
    get the same thresholds from glibc at their start.
    """
    global status
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"tune_malloc: {name} must be an int (bytes), got {type(value).__name__}")
        if not 0 <= value <= 2 ** 31 - 1:
            raise ValueError(f"tune_malloc: {name} must be in [0, 2**31 - 1] bytes, got {value}")
    if mmap_threshold > 32 << 20 and sys.maxsize < 2 ** 32:
        raise ValueError(f"tune_malloc: mmap_threshold above 32 MiB is refused by 32-bit glibc, got {mmap_threshold}")
    if opted_out():
        status = False
        return False
    libc = _glibc()
    if libc is None:
        status = False
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, trim_threshold))
    if ok and subprocesses:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(mmap_threshold)
        os.environ["MALLOC_TRIM_THRESHOLD_"] = str(trim_threshold)
    status = ok
    return ok


# ---------------------------------------------------------------------------
# The scoped caching allocator
# ---------------------------------------------------------------------------

try:
    from ._kernels import alloc as _alloc
except ImportError:             # pragma: no cover - kernels not built
    _alloc = None
if os.environ.get("TINYGRAD_BN_ALLOC_CACHE", "1").strip().lower() in _FALSE:
    _alloc = None
if _alloc is not None and hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_alloc._after_fork_in_child)


class scope:
    """``with memory.scope():`` NumPy arrays allocated inside come from the caching allocator
    (see the module's docstring); nests; does nothing when the cache is off."""

    __slots__ = ("_prev",)

    def __enter__(self):
        self._prev = _alloc.activate() if _alloc is not None else None
        return self

    def __exit__(self, *exc):
        if self._prev is not None:
            _alloc.restore(self._prev)
            self._prev = None
        return False


def release():
    """Free the blocks the cache holds; returns the bytes given back (0 when it is off)."""
    return _alloc.release() if _alloc is not None else 0


def set_cache_limit(nbytes):
    """Keep at most ``nbytes`` of freed blocks (0: keep none); returns the previous limit."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise ValueError(f"set_cache_limit: nbytes must be an int >= 0, got {nbytes!r}")
    return _alloc.set_limit(nbytes) if _alloc is not None else 0


def cache_stats():
    """``{'enabled', 'cached_bytes', 'cached_blocks', 'hits', 'misses', 'limit'}``."""
    if _alloc is None:
        return {"enabled": False, "cached_bytes": 0, "cached_blocks": 0, "hits": 0, "misses": 0, "limit": 0}
    return dict(_alloc.stats(), enabled=True)


def _tune_at_import():
    """Kept only so an older ``tinygrad_bn/__init__.py`` still imports; does nothing."""
    return None
