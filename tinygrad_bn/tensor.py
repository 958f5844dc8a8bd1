"""``Tensor`` (compiled, in ``_engine.pyx``) and ``Var``, the trainable variable.

A Tensor is an immutable array the tape can differentiate through; a Var is a
Tensor whose value the optimizers update in place, and which every
``GradientTape`` watches automatically (like ``tf.Variable``).
"""
import itertools
import sys

import numpy as np

from ._engine import Tensor, as_array, wrap

__all__ = ["Tensor", "Var", "as_array", "wrap"]

_var_ids = itertools.count()


class Var(Tensor):
    """A trainable variable, like ``tf.Variable``.

    ``Var(0.)`` and ``Var(0, dtype=np.float32)`` hold a float32 scalar; ``Var(0)`` an
    int32 one, as in TF (not differentiable); a float64 array stays float64.  The value is an owned, contiguous NumPy array that
    optimizers update in place, copy-on-write: a read (a view, a tape's residual)
    keeps the value it saw, as in TF, because every in-place writer gets its
    target from :meth:`_writable`.
    """

    def __init__(self, initial_value, dtype=None, trainable=True, name=None):
        if callable(initial_value):
            initial_value = initial_value()
        arr = as_array(initial_value, dtype)
        self.data = np.array(arr, order="C", copy=True)
        self.trainable = bool(trainable)
        self.name = name if name is not None else f"Variable_{next(_var_ids)}"

    def __reduce__(self):
        return (Var, (np.array(self.data), None, self.trainable, self.name))

    def _value_like(self, value, op):
        arr = np.asarray(value.data if isinstance(value, Tensor) else value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"Var.{op}: cannot use a value of dtype {arr.dtype} for variable "
                            f"{self.name!r} of dtype {self.data.dtype}")
        if arr.shape != self.data.shape:
            raise ValueError(f"Var.{op}: value of shape {arr.shape} does not match the shape "
                             f"{self.data.shape} of variable {self.name!r}")
        return arr

    def _writable(self):
        """The array to update in place: ``self.data`` when nothing else refers to it,
        else a fresh copy that becomes ``self.data`` (copy-on-write).

        This is what makes every read of a variable a value (TF semantics): a
        tensor, view or tape residual that still holds the old array keeps the
        old numbers.  Only the reference count is checked, so an update that
        nobody observes costs no copy.  Every in-place writer (``assign*``,
        the optimizers) must get its target array from here.
        """
        arr = self.data
        if not arr.flags.writeable:
            raise ValueError(f"variable {self.name!r} (shape {arr.shape}, dtype {arr.dtype}) is read-only: "
                             "its array is not writeable")
        # references: the attribute, the local `arr`, getrefcount's own argument
        if sys.getrefcount(arr) > 3:
            arr = np.array(arr, order="C", copy=True)
            self.data = arr
        return arr

    def assign(self, value):
        """Set the value (same shape; cast to the variable's dtype).  Returns the variable."""
        value = self._value_like(value, "assign")
        np.copyto(self._writable(), value, casting="unsafe")
        return self

    def assign_add(self, delta):
        """Add ``delta`` in place.  Returns the variable."""
        arr = self._value_like(delta, "assign_add")
        out = self._writable()
        np.add(out, arr, out=out, casting="unsafe")
        return self

    def assign_sub(self, delta):
        """Subtract ``delta`` in place.  Returns the variable."""
        arr = self._value_like(delta, "assign_sub")
        out = self._writable()
        np.subtract(out, arr, out=out, casting="unsafe")
        return self

    def read_value(self):
        """A constant Tensor holding a copy of the current value."""
        return wrap(self.data.copy())

    value = read_value

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", threshold=20)
        return f"<Var {self.name!r} shape={self.data.shape} dtype={self.data.dtype}, numpy={body}>"

    __str__ = __repr__
