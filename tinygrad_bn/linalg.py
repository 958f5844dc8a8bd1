"""``tinygrad_bn.linalg``: TF's ``tf.linalg`` names."""
from .ops import matmul as _matmul
from .ops import swapaxes as _swapaxes


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, name=None):
    """``tf.linalg.matmul``: ``a @ b`` with optional transposes of the last two axes."""
    if transpose_a or adjoint_a:
        a = _swapaxes(a, -1, -2)
    if transpose_b or adjoint_b:
        b = _swapaxes(b, -1, -2)
    return _matmul(a, b)
