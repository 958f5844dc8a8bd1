"""Global switches: ``tinygrad_bn.config(...)``.

``fused``: use the fused Cython kernels for batch norm and softmax cross-entropy
(the default) or the composite reference built from primitives.  A bool (or 0 / 1):
``tinygrad_bn.config(fused=False)``; the environment variable ``TINYGRAD_BN_FUSED=0``
sets the default.

``num_threads``: the threads the kernels use for their large calls (a positive int),
or None for the default (OpenMP's default, i.e. ``OMP_NUM_THREADS`` or the CPUs this
process may run on; 1 when another library loaded the OpenMP runtime first -- see
``tinygrad_bn._kernels`` and docs/kernels.md, "Threads").  This does not change
NumPy's BLAS threads: set those with threadpoolctl
(``threadpoolctl.threadpool_limits(1, user_api="blas")``) or ``OPENBLAS_NUM_THREADS``
before NumPy is imported.

``config(...)`` changes the settings at once and returns a context manager that
restores the previous values: ``with tinygrad_bn.config(fused=False): ...``.
"""
import os

import numpy as np

_FALSE = ("0", "false", "no", "off")
_TRUE = ("1", "true", "yes", "on")


def _env_fused():
    raw = os.environ.get("TINYGRAD_BN_FUSED", "1").strip().lower()
    if raw in _FALSE:
        return False
    if raw in _TRUE or raw == "":
        return True
    raise ValueError(f"TINYGRAD_BN_FUSED must be one of {_TRUE + _FALSE}, got {raw!r}")


settings = {"fused": _env_fused(), "num_threads": None}


def _check_fused(value):
    # only real booleans and the integers 0 / 1: a string such as "no" is not a boolean
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if hasattr(type(value), "__index__") and not isinstance(value, str):
        import operator
        iv = operator.index(value)
        if iv in (0, 1):
            return bool(iv)
        raise ValueError(f"config: fused must be True or False (or 0 / 1), got {value!r}")
    raise TypeError(f"config: fused must be a bool (True / False, or 0 / 1), got "
                    f"{type(value).__name__} {value!r}")


def _check_threads(value):
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"config: num_threads must be a positive int or None, got "
                        f"{type(value).__name__} {value!r}")
    import operator
    iv = operator.index(value)
    if iv < 1:
        raise ValueError(f"config: num_threads must be a positive int or None, got {value!r}")
    return iv


_CHECKS = {"fused": _check_fused, "num_threads": _check_threads}


def _apply(key, value):
    settings[key] = value
    if key == "num_threads":
        from ._kernels import set_num_threads
        set_num_threads(value)


class _Restore:
    def __init__(self, old):
        self._old = old

    def __enter__(self):
        return settings

    def __exit__(self, *exc):
        for key, value in self._old.items():
            if settings[key] != value:
                _apply(key, value)
        return False


def config(**changes):
    """Change settings (``fused=True|False``, ``num_threads=N|None``); returns a context
    manager that restores them.  Every value is checked before any is changed."""
    unknown = set(changes) - set(settings)
    if unknown:
        raise TypeError(f"config: unknown setting(s) {sorted(unknown)}; known: {sorted(settings)}")
    checked = {key: _CHECKS[key](value) for key, value in changes.items()}
    old = dict(settings)
    for key, value in checked.items():
        _apply(key, value)
    return _Restore(old)


def fused():
    """True when the fused kernels are selected."""
    return settings["fused"]


def num_threads():
    """The kernels' thread setting (None: the default)."""
    return settings["num_threads"]


# ``tinygrad_bn.config`` is the function above; let it answer ``tinygrad_bn.config.fused()`` too.
config.fused = fused
config.num_threads = num_threads
config.settings = settings
