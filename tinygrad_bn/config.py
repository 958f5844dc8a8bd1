"""Global switches.

``fused``: use the fused Cython kernels for batch norm and softmax
cross-entropy (the default) or the composite reference built from primitives.
Set it with ``tinygrad_bn.config(fused=False)`` (also usable as a ``with``
block that restores the old value) or the environment variable
``TINYGRAD_BN_FUSED=0``.
"""
import os

_FALSE = ("0", "false", "no", "off")

settings = {"fused": os.environ.get("TINYGRAD_BN_FUSED", "1").strip().lower() not in _FALSE}


class _Restore:
    def __init__(self, old):
        self._old = old

    def __enter__(self):
        return settings

    def __exit__(self, *exc):
        settings.update(self._old)
        return False


def config(**changes):
    """Change settings (``fused=True|False``); returns a context manager that restores them."""
    unknown = set(changes) - set(settings)
    if unknown:
        raise TypeError(f"config: unknown setting(s) {sorted(unknown)}; known: {sorted(settings)}")
    old = dict(settings)
    for key, value in changes.items():
        settings[key] = bool(value)
    return _Restore(old)


def fused():
    """True when the fused kernels are selected."""
    return settings["fused"]


# ``tinygrad_bn.config`` is the function above; let it answer ``tinygrad_bn.config.fused()`` too.
config.fused = fused
config.settings = settings
