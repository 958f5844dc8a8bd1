"""Matrix product with all of NumPy's ``matmul`` cases (vector, matrix, batched), and ``dot``."""
import numpy as np

from .registry import op, unbroadcast

__all__ = ["matmul", "dot"]


@op(operator="matmul")
class matmul:
    """``a @ b``.  1-D operands are promoted to a row (a) or a column (b) and
    the promoted axis removed again, exactly as NumPy does; batch axes broadcast."""
    def forward(a, b):
        if not hasattr(a, "ndim"):
            a = np.asarray(a)
        if not hasattr(b, "ndim"):
            b = np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                             f"({ka} (dim {a.ndim - 1}) != {kb} (dim {max(b.ndim - 2, 0)}))")
        # NumPy hands only unit-stride operands to BLAS; a broadcast view (zero strides, as a
        # gradient of a sum can be) would take its naive loop, 100x slower
        if a.ndim > 1 and not (a.flags.c_contiguous or a.flags.f_contiguous):
            a = np.ascontiguousarray(a)
        if b.ndim > 1 and not (b.flags.c_contiguous or b.flags.f_contiguous):
            b = np.ascontiguousarray(b)
        return np.matmul(a, b), (a, b)

    def backward(ab, g, needs):
        a, b = ab
        if a.ndim == 2 and b.ndim == 2:          # the common case, kept cheap
            return (g @ b.T if needs[0] else None, a.T @ g if needs[1] else None)
        if a.ndim == 1 and b.ndim == 1:          # inner product: a scalar output
            return (g * b if needs[0] else None, g * a if needs[1] else None)
        a2 = np.expand_dims(a, 0) if a.ndim == 1 else a    # (1, k)
        b2 = np.expand_dims(b, 1) if b.ndim == 1 else b    # (k, 1)
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if needs[0]:
            ga = np.reshape(unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape), a.shape)
        if needs[1]:
            gb = np.reshape(unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape), b.shape)
        return ga, gb


def dot(a, b):
    """NumPy's ``dot`` for the cases that are a ``matmul`` (vectors, matrices) or a product with a scalar."""
    from .elementwise import multiply
    na = len(a.shape) if hasattr(a, "shape") else np.ndim(a)
    nb = len(b.shape) if hasattr(b, "shape") else np.ndim(b)
    if na == 0 or nb == 0:
        return multiply(a, b)
    if nb > 2:
        raise ValueError("dot: operands of more than 2 dimensions on the right are not supported; use matmul")
    return matmul(a, b)
