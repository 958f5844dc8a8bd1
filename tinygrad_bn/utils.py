"""Data helpers and the random-number source shared by initializers, dropout, shuffling and ``fit``.

Reproducibility
---------------
Every random draw in ``tinygrad_bn`` (initial weights, dropout masks, ``fit``'s
shuffling, ``Dataset.shuffle`` without a seed) comes from NumPy ``Generator``\\ s
derived from one project generator.  ``set_seed(s)`` resets that generator and
nothing else: importing or seeding tinygrad_bn never changes Python's ``random``
or NumPy's global ``np.random`` state, which belong to the user's own code.  So::

    tinygrad_bn.utils.set_seed(0)
    model = Sequential([...]); model.compile(...); model.fit(x, y)

gives bit-identical weights on every run.  ``set_random_seed(s)`` is Keras's
``keras.utils.set_random_seed``: the one explicit call that seeds *everything* --
Python's ``random``, ``np.random`` and the project generator -- for programs
that draw from all three.

Initializers with an explicit ``seed=`` do not touch the project generator.  A
model draws its own shuffling generator from it the first time it is trained (or
from ``fit(..., seed=s)``); that generator's state is saved by ``model.save`` so a
resumed run continues the same stream.
"""
import os
import random as _random

import numpy as np

__all__ = ["set_seed", "set_random_seed", "global_rng", "one_hot", "to_categorical", "batches",
           "atomic_write"]

_GLOBAL = [np.random.default_rng()]


def _seed_arg(seed, fn):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{fn}: seed must be an integer (or None), got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"{fn}: seed must be >= 0, got {seed}")
    return seed


def set_seed(seed):
    """Seed the project's random generator (weights, dropout, shuffling); ``None`` reseeds it
    from the operating system.  Python's ``random`` and ``np.random`` are left alone (use
    :func:`set_random_seed` to seed those too)."""
    if seed is None:
        _GLOBAL[0] = np.random.default_rng()
        return
    _GLOBAL[0] = np.random.default_rng(_seed_arg(seed, "set_seed"))


def set_random_seed(seed):
    """``keras.utils.set_random_seed``: seed Python's ``random``, NumPy's global ``np.random``
    and the project generator (:func:`set_seed`) in one explicit call."""
    seed = _seed_arg(seed, "set_random_seed")
    _random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    set_seed(seed)


def global_rng():
    """The global ``np.random.Generator`` (reset by :func:`set_seed`)."""
    return _GLOBAL[0]


def derive_rng(seed=None):
    """A fresh generator: from ``seed`` when given, else drawn from the global generator."""
    if seed is None:
        seed = int(_GLOBAL[0].integers(0, 2 ** 63 - 1))
    return np.random.default_rng(int(seed))


def _unwrap(value):
    from .tensor import Tensor
    return value.data if isinstance(value, Tensor) else value


def one_hot(labels, num_classes=None, dtype=np.float32):
    """One-hot encode integer labels: shape ``labels.shape + (num_classes,)``.

    ``num_classes`` defaults to ``max(labels) + 1``.  Labels outside
    ``[0, num_classes)`` raise ``ValueError`` naming the first bad one.
    """
    arr = np.asarray(_unwrap(labels))
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


def to_categorical(y, num_classes=None, dtype="float32"):
    """``keras.utils.to_categorical``: class vector to a one-hot (binary class) matrix.

    ``y`` holds integer labels (any shape; a trailing axis of size 1 is dropped, as Keras);
    the result has shape ``y.shape + (num_classes,)``.  ``num_classes`` defaults to
    ``max(y) + 1``.  Labels must be whole numbers in ``[0, num_classes)`` (Keras would index
    out of range or wrap negative labels; here that is a ValueError naming the label)::

        to_categorical([0, 1, 2, 3], num_classes=4)   # the 4x4 identity, float32
    """
    arr = np.asarray(_unwrap(y))
    if arr.ndim > 1 and arr.shape[-1] == 1:
        arr = arr.reshape(arr.shape[:-1])
    if num_classes is not None:
        if isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, (int, np.integer)):
            raise TypeError(f"to_categorical: num_classes must be an integer, got {type(num_classes).__name__} "
                            f"{num_classes!r}")
        if num_classes < 1:
            raise ValueError(f"to_categorical: num_classes must be >= 1, got {num_classes}")
    try:
        np.dtype(dtype)
    except TypeError:
        raise TypeError(f"to_categorical: unknown dtype {dtype!r}") from None
    try:
        return one_hot(arr, num_classes, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise type(e)(str(e).replace("one_hot:", "to_categorical:", 1)) from None


def batches(*arrays, batch_size=32, shuffle=False, seed=None, drop_remainder=False):
    """Iterate over aligned mini-batches of one or more arrays.

    Yields one array per batch when given one array, else a tuple.  With
    ``shuffle=True`` the order is a permutation drawn from ``seed`` (or the
    global generator).  Batches are views when not shuffled.  The last,
    smaller batch is kept unless ``drop_remainder=True``.
    """
    if not arrays:
        raise TypeError("batches: give at least one array")
    arrays = [np.asarray(_unwrap(a)) for a in arrays]
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
    # the naming of earlier versions (no pid): removed once older than an hour
    legacy = re.compile(re.escape(f".{base}.") + r"[a-z0-9_]{8}\.tmp$")
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        m = pat.match(name)
        if m is None and legacy.match(name) is None:
            continue
        full = os.path.join(directory, name)
        alive = None if m is None else _writer_alive(m.group(1), int(m.group(2)))
        age_limit = max_age if m is not None else min(max_age, 3600.0)
        if alive is None:
            try:
                alive = now - os.lstat(full).st_mtime < age_limit
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


def _umask():
    """The process umask, read without changing it where possible (``os.umask`` sets it,
    and another thread creating a file meanwhile would get the temporary value)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


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
    target = os.path.realpath(path)     # through a symlink: the link stays, its target changes
    if os.path.lexists(target) and not (os.path.isfile(target) or os.path.isdir(target)):
        raise ValueError(f"{path!r} exists and is not a regular file (a device, FIFO or socket); "
                         "refusing to replace it")
    directory = os.path.dirname(target)
    base = os.path.basename(target)
    os.makedirs(directory, exist_ok=True)
    _remove_stale_temps(directory, base)
    import tempfile
    fd, tmp = tempfile.mkstemp(prefix=f"{_tmp_prefix(base)}{_HOST_TAG}-{os.getpid()}-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
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
