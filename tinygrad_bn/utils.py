"""Data helpers and the random-number source shared by initializers, dropout and ``fit``.

Reproducibility
---------------
Every random draw in ``tinygrad_bn.keras`` comes from NumPy ``Generator``\\ s that
are derived from one global generator.  ``set_seed(s)`` resets it (and seeds
Python's ``random`` and NumPy's legacy global state for the user's own code),
so::

    tinygrad_bn.utils.set_seed(0)
    model = Sequential([...]); model.compile(...); model.fit(x, y)

gives bit-identical weights on every run.  Initializers with an explicit
``seed=`` do not touch the global generator.  A model draws its own shuffling
generator from the global one the first time it is trained (or from
``fit(..., seed=s)``); that generator's state is saved by ``model.save`` so a
resumed run continues the same stream.
"""
import os
import random as _random

import numpy as np

__all__ = ["set_seed", "global_rng", "one_hot", "batches", "atomic_write"]

_GLOBAL = [np.random.default_rng()]


def set_seed(seed):
    """Seed every random source tinygrad_bn uses (plus ``random`` and ``np.random``)."""
    if seed is None:
        _GLOBAL[0] = np.random.default_rng()
        return
    seed = int(seed)
    _GLOBAL[0] = np.random.default_rng(seed)
    _random.seed(seed)
    np.random.seed(seed % (2 ** 32))


def global_rng():
    """The global ``np.random.Generator`` (reset by :func:`set_seed`)."""
    return _GLOBAL[0]


def derive_rng(seed=None):
    """A fresh generator: from ``seed`` when given, else drawn from the global generator."""
    if seed is None:
        seed = int(_GLOBAL[0].integers(0, 2 ** 63 - 1))
    return np.random.default_rng(int(seed))


def one_hot(labels, num_classes=None, dtype=np.float32):
    """One-hot encode integer labels: shape ``labels.shape + (num_classes,)``.

    ``num_classes`` defaults to ``max(labels) + 1``.  Labels outside
    ``[0, num_classes)`` raise ``ValueError`` naming the first bad one.
    """
    arr = np.asarray(getattr(labels, "data", labels))
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError("one_hot: labels must be whole numbers")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"one_hot: labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if num_classes is None:
        if arr.size == 0:
            raise ValueError("one_hot: num_classes is required for empty labels")
        num_classes = int(arr.max()) + 1
    num_classes = int(num_classes)
    bad = (arr < 0) | (arr >= num_classes)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"one_hot: label {int(arr[idx])} at index {idx if len(idx) > 1 else idx[0]} "
                         f"is outside [0, {num_classes})")
    out = np.zeros(arr.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, arr[..., None], 1, axis=-1)
    return out


def batches(*arrays, batch_size=32, shuffle=False, seed=None, drop_remainder=False):
    """Iterate over aligned mini-batches of one or more arrays.

    Yields one array per batch when given one array, else a tuple.  With
    ``shuffle=True`` the order is a permutation drawn from ``seed`` (or the
    global generator).  Batches are views when not shuffled.  The last,
    smaller batch is kept unless ``drop_remainder=True``.
    """
    if not arrays:
        raise TypeError("batches: give at least one array")
    arrays = [np.asarray(getattr(a, "data", a)) for a in arrays]
    n = len(arrays[0])
    for i, a in enumerate(arrays[1:], 1):
        if len(a) != n:
            raise ValueError(f"batches: array 0 has {n} rows but array {i} has {len(a)}")
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be >= 1, got {batch_size}")
    if shuffle:
        perm = derive_rng(seed).permutation(n)
        arrays = [a[perm] for a in arrays]
    stop = n - n % batch_size if drop_remainder else n
    for start in range(0, stop, batch_size):
        part = tuple(a[start:start + batch_size] for a in arrays)
        yield part[0] if len(part) == 1 else part


def _tmp_prefix(base):
    return f".{base}.tmp-"


def _writer_alive(host, pid):
    """False only when the temporary file's writer certainly exited: it ran on this host
    and its pid is gone (or a zombie).  Other hosts' writers are judged by age."""
    if host != _HOST_TAG:
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _remove_stale_temps(directory, base, max_age=24 * 3600.0):
    """Remove temporary files a killed earlier save to ``base`` left in ``directory``.

    Only names of this target's pattern (``.<base>.tmp-<host>-<pid>-<random>``) are
    considered; one is removed when its writer's process is gone (same host), or when it
    is older than ``max_age`` seconds (a writer on another host sharing the directory).
    A live writer's file is never touched.  Returns the removed names."""
    import re
    import time
    pat = re.compile(re.escape(_tmp_prefix(base)) + r"([0-9a-f]{8})-(\d+)-[A-Za-z0-9_]+$")
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        m = pat.match(name)
        if m is None:
            continue
        full = os.path.join(directory, name)
        alive = _writer_alive(m.group(1), int(m.group(2)))
        if alive is None:
            try:
                alive = now - os.lstat(full).st_mtime < max_age
            except OSError:
                continue
        if alive:
            continue
        try:
            os.unlink(full)
            removed.append(name)
        except OSError:
            pass
    return removed


def _host_tag():
    import hashlib
    import socket
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


_HOST_TAG = _host_tag()


def atomic_write(path, write):
    """Write a file atomically: ``write(fileobj)`` into a temporary file in the
    same directory, flush + fsync, then ``os.replace`` onto ``path``.

    If ``write`` raises the previous file at ``path`` is untouched and the
    temporary file is removed.  If the process is killed mid-write its temporary
    file (``.<name>.tmp-<host>-<pid>-<random>``) stays behind; the next write to the
    same ``path`` removes it once that pid is gone (see :func:`_remove_stale_temps`).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    os.makedirs(directory, exist_ok=True)
    _remove_stale_temps(directory, base)
    import tempfile
    fd, tmp = tempfile.mkstemp(prefix=f"{_tmp_prefix(base)}{_HOST_TAG}-{os.getpid()}-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path
