"""Matrix product with all of NumPy's ``matmul`` cases (vector, matrix, batched)."""
import numpy as np

from .registry import op, unbroadcast


@op(operator="matmul")
class matmul:
    """``a @ b``.  1-D operands are promoted to a row (a) or a column (b) and
    the promoted axis removed again, exactly as NumPy does; batch axes broadcast."""
    def forward(a, b):
        a = np.asarray(a)
        b = np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                             f"({ka} (dim {a.ndim - 1}) != {kb} (dim {max(b.ndim - 2, 0)}))")
        return np.matmul(a, b), (a, b)

    def backward(ab, g, needs):
        a, b = ab
        if a.ndim == 2 and b.ndim == 2:          # the common case, kept cheap
            return (g @ b.T if needs[0] else None, a.T @ g if needs[1] else None)
        if a.ndim == 1 and b.ndim == 1:          # inner product: a scalar output
            return (g * b if needs[0] else None, g * a if needs[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a    # (1, k)
        b2 = b[:, None] if b.ndim == 1 else b    # (k, 1)
        g2 = np.asarray(g)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if needs[0]:
            ga = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if needs[1]:
            gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb
