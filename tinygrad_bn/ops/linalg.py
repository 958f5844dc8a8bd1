"""Matrix product with all of NumPy's ``matmul`` cases (vector, matrix, batched), and ``dot``."""
import numpy as np

from .registry import op, unbroadcast

try:
    # notes the time of each matmul handed to NumPy's BLAS: the kernels run single-threaded
    # while BLAS's workers still spin after it (tinygrad_bn._kernels, "thread policy")
    from .._kernels import note_blas
except ImportError:                 # pragma: no cover - kernels not built: nobody reads it
    def note_blas():
        pass

__all__ = ["matmul", "dot"]

_ndarray = np.ndarray


def _t(x):
    """``x`` with its last two axes swapped (a view for arrays, a recorded transpose for Tensors)."""
    return x.T if x.ndim == 2 else np.swapaxes(x, -1, -2)


@op(operator="matmul")
class matmul:
    """``a @ b``.  1-D operands are promoted to a row (a) or a column (b) and
    the promoted axis removed again, exactly as NumPy does; batch axes broadcast.

    ``transpose_a`` / ``transpose_b`` (as ``tf.linalg.matmul``) swap the last two
    axes of an operand (of at least 2 dimensions) first, without a copy."""
    def forward(a, b, transpose_a=False, transpose_b=False):
        if transpose_a or transpose_b:
            return _forward_transposed(a, b, transpose_a, transpose_b)
        if not hasattr(a, "ndim"):
            a = np.asarray(a)
        if not hasattr(b, "ndim"):
            b = np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            _not_aligned(a, b)
        # NumPy hands only unit-stride operands to BLAS; a broadcast view (zero strides, as a
        # gradient of a sum can be) would take its naive loop, 100x slower
        try:
            if a.ndim > 1 and not (a.flags.c_contiguous or a.flags.f_contiguous):
                a = np.ascontiguousarray(a)
            if b.ndim > 1 and not (b.flags.c_contiguous or b.flags.f_contiguous):
                b = np.ascontiguousarray(b)
        except AttributeError:      # Tensors (forward run again for a higher order): np.matmul's op does it
            pass
        note_blas()
        return np.matmul(a, b), (a, b)

    def backward(res, g, needs):
        note_blas()
        try:
            a, b = res
        except ValueError:                       # (a, b, transpose_a, transpose_b)
            return _backward_transposed(res, g, needs)
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

    def tensor_backward(res, g, needs):
        # TF's MatMulGrad: each gradient of a 2-D product is one matmul with transposes, so a
        # differentiated backward records one op per gradient (no transpose ops)
        if len(res) == 2:
            a, b = res
            ta = tb = False
        else:
            a, b, ta, tb = res
        if a.ndim != 2 or b.ndim != 2:
            return _swapped_backward(res, g, needs) if ta or tb else matmul.backward(res, g, needs)
        if not ta and not tb:
            return (matmul(g, b, False, True) if needs[0] else None,
                    matmul(a, g, True, False) if needs[1] else None)
        if not ta:
            return (matmul(g, b) if needs[0] else None, matmul(g, a, True, False) if needs[1] else None)
        if not tb:
            return (matmul(b, g, False, True) if needs[0] else None, matmul(a, g) if needs[1] else None)
        return (matmul(b, g, True, True) if needs[0] else None, matmul(g, a, True, True) if needs[1] else None)


def _not_aligned(x, y):
    raise ValueError(f"matmul: shapes {x.shape} and {y.shape} are not aligned "
                     f"({x.shape[-1]} (dim {x.ndim - 1}) != {y.shape[-2] if y.ndim > 1 else y.shape[0]} "
                     f"(dim {max(y.ndim - 2, 0)}))")


def _forward_transposed(a, b, ta, tb):
    if not hasattr(a, "ndim"):
        a = np.asarray(a)
    if not hasattr(b, "ndim"):
        b = np.asarray(b)
    if (ta and a.ndim < 2) or (tb and b.ndim < 2):
        raise ValueError(f"matmul: transpose_a/transpose_b need operands of at least 2 dimensions, "
                         f"got shapes {a.shape} and {b.shape}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
    x = _t(a) if ta else a
    y = _t(b) if tb else b
    if x.shape[-1] != (y.shape[-2] if y.ndim > 1 else y.shape[0]):
        _not_aligned(x, y)
    try:                            # a transposed view of a contiguous array is contiguous (F for C)
        if not (x.flags.c_contiguous or x.flags.f_contiguous):
            x = np.ascontiguousarray(x)
            a = _t(x) if ta else x
        if y.ndim > 1 and not (y.flags.c_contiguous or y.flags.f_contiguous):
            y = np.ascontiguousarray(y)
            b = _t(y) if tb else y
    except AttributeError:          # Tensors (forward run again for a higher order)
        pass
    note_blas()
    return np.matmul(x, y), (a, b, ta, tb)


def _backward_transposed(res, g, needs):
    a, b, ta, tb = res
    if a.ndim != 2 or b.ndim != 2:
        return _swapped_backward(res, g, needs)
    if not ta:                      # a @ b.T
        return (g @ b if needs[0] else None, g.T @ a if needs[1] else None)
    if not tb:                      # a.T @ b
        return (b @ g.T if needs[0] else None, a @ g if needs[1] else None)
    return (b.T @ g.T if needs[0] else None, g.T @ a.T if needs[1] else None)


def _swapped_backward(res, g, needs):
    """Batched product with transposes: the plain product's vjp for the swapped operands."""
    a, b, ta, tb = res
    x = _t(a) if ta else a
    y = _t(b) if tb else b
    gx, gy = matmul.backward((x, y), g, needs)
    return (_t(gx) if ta and gx is not None else gx, _t(gy) if tb and gy is not None else gy)


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
