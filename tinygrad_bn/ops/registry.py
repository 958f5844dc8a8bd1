"""The one registry of ops, the ``@op`` decorator and the shared ``unbroadcast``.

An op is one definition holding its forward and its vector-Jacobian product::

    @op
    class cube:
        def forward(x):                 # arrays in -> (output, residuals)
            return x ** 3, x
        def backward(x, g, needs):      # residuals, d(loss)/d(output) -> one grad per input
            return (3 * x * x * g,)

``cube`` is then callable on Tensors, NumPy arrays and numbers, and the tape
records it.  The number of tensor inputs is read from ``forward``'s signature:
the leading positional parameters without defaults (all of ``*args`` when it
is variadic); later parameters are attributes passed through untouched.

Higher-order gradients come for free when ``backward`` is written with
operators and NumPy functions (``np.exp``, ``np.sum``, ``np.where`` ...):
under an outer tape the engine calls it with Tensors, NumPy dispatches those
calls to the ops, and the outer tape records them.  Residuals should be the
inputs or the output themselves (anything else is recomputed by running
``forward`` on Tensors).  An op whose backward is a raw kernel passes
``composite=`` (the same function built from other ops) instead.

Optionally the class also defines ``tensor_backward`` (``backward``'s contract),
used instead of ``backward`` only when the engine runs the vjp on Tensors:
the same formula with fewer recorded ops (``tanh`` calls the one op
``tanh_grad`` there, not three elementwise ones).  The array ``backward``
then stays free of checks for Tensors.  It takes precedence over
``composite``: the fused ``softmax_ce`` keeps its composite as the readable
reference and records one ``softmax_ce_grad`` op as its differentiable vjp.
"""
import inspect

import numpy as np

from .._engine import Op, Tensor, set_operator

#: name -> Op, for every op defined with :func:`op`.
REGISTRY = {}


def _count_tensor_inputs(forward):
    nin = 0
    for p in inspect.signature(forward).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return -1
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            nin += 1
        else:
            break
    return nin


def op(cls=None, *, name=None, operator=None, nin=None, composite=None):
    """Turn a class holding ``forward`` and ``backward`` into a registered :class:`Op`.

    ``name`` defaults to the class name.  ``operator`` binds Tensor operators
    and methods to the op (a name or a tuple of names: ``"add"`` makes
    ``a + b`` call it, ``"sum"`` the method ``t.sum()``).  ``nin`` overrides the
    number of tensor inputs read from ``forward``'s signature (for ops whose
    required arguments include non-tensors, e.g. ``reshape(x, shape)``).
    ``composite`` is an equivalent function made of other ops, differentiated
    in place of ``backward`` for higher-order gradients.
    """
    def make(cls):
        forward = cls.__dict__["forward"]
        backward = cls.__dict__["backward"]
        if isinstance(forward, staticmethod):
            forward = forward.__func__
        if isinstance(backward, staticmethod):
            backward = backward.__func__
        tensor_backward = cls.__dict__.get("tensor_backward")
        if isinstance(tensor_backward, staticmethod):
            tensor_backward = tensor_backward.__func__
        op_name = name or cls.__name__
        old = REGISTRY.get(op_name)
        if old is not None and getattr(old.forward, "__module__", "").startswith("tinygrad_bn."):
            raise ValueError(f"op {op_name!r} is a built-in op; choose another name")
        count = _count_tensor_inputs(forward) if nin is None else nin
        the_op = Op(op_name, forward, backward, count, doc=cls.__doc__, composite=composite,
                    tensor_backward=tensor_backward)
        REGISTRY[op_name] = the_op
        for slot in (operator,) if isinstance(operator, str) else (operator or ()):
            set_operator(slot, the_op)
        return the_op

    return make if cls is None else make(cls)


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: the vjp of NumPy broadcasting.

    Leading axes that broadcasting added are summed away, then axes where
    ``shape`` has size 1 are summed with keepdims.  Works on arrays and, for
    higher-order gradients, on Tensors (:func:`unbroadcast_tensor` is the
    cheaper spelling when ``g`` is known to be one).
    """
    try:
        gshape = g.shape
    except AttributeError:          # a Python number: nothing was broadcast
        return np.full(shape, g) if shape else g
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead > 0:
        g = np.add.reduce(g, axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = np.add.reduce(g, axis=axes, keepdims=True)
    if g.shape != shape:            # g smaller than shape: the input was broadcast up by the op itself
        g = np.broadcast_to(g, shape)
        if not isinstance(g, Tensor):
            g = g.copy()
    return g


def unbroadcast_tensor(g, shape):
    """:func:`unbroadcast` of a Tensor ``g``, calling the ops ``sum`` and ``broadcast_to``
    directly (one recorded op per reduction, no detour through NumPy's dispatch)."""
    gshape = g.data.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    if lead > 0:
        g = REGISTRY["sum"](g, tuple(range(lead)))
    if axes:
        g = REGISTRY["sum"](g, axes, True)
    if g.data.shape != shape:       # g smaller than shape: the input was broadcast up by the op itself
        g = REGISTRY["broadcast_to"](g, shape)
    return g


def data_of(x):
    """The array behind a Tensor or array-like (no copy for arrays): what the ops validate."""
    if isinstance(x, Tensor):
        return x.data
    if type(x) is np.ndarray:
        return x
    return np.asarray(x)


def fmt_shape(shape):
    """A shape as NumPy prints it, for error messages: ``(3,)``, ``(2, 4)``."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def shape_of(x):
    """Shape of an array, NumPy scalar or Python number, without np.shape's overhead on arrays."""
    try:
        return x.shape
    except AttributeError:
        return ()
