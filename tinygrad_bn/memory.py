"""Keep freed array memory for reuse instead of handing it back to the OS.

glibc serves allocations above a (dynamic) threshold with ``mmap`` and trims
the heap whenever enough of its top is free.  A training loop allocates and
frees arrays of the same few sizes thousands of times, so with the defaults
every step pays page faults to get the same memory back: at (256, 256) float32
a batch-norm forward + backward took 3× longer than its kernels.  PyTorch users
meet the same effect and reach for jemalloc or ``MALLOC_*`` variables.

:func:`tune_malloc` raises both thresholds (arrays under 64 MiB come from the
heap; up to 256 MiB of free heap is kept), which is what ``import tinygrad_bn``
does on glibc systems.  It changes the whole process's allocator, so it can be
turned off: set ``TINYGRAD_BN_MALLOC_TUNING=0`` before importing; it also stays
off when glibc's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``
variables are set (your choice wins).
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: what :func:`tune_malloc` did at import: True (tuned), False (not glibc, or refused), None (disabled)
status = None


def tune_malloc(mmap_threshold=64 << 20, trim_threshold=256 << 20):
    """Set glibc's mmap and trim thresholds; returns True when both were applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version           # glibc only (musl has no such symbol)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))) and \
        bool(mallopt(M_TRIM_THRESHOLD, int(trim_threshold)))


def _tune_at_import():
    global status
    if os.environ.get("TINYGRAD_BN_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return None
    status = tune_malloc()
    return status
