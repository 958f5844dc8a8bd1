"""Sample inputs of every built-in op, the way PyTorch's OpInfo declares them.

``SAMPLES[name]`` lists :class:`Sample`\\ s for ``tinygrad_bn.REGISTRY[name]``.
The registry-driven tests (``tests/test_ops_registry.py``) run gradcheck,
gradgradcheck, the dtype rules and the NumPy-protocol path over every sample;
a built-in op without samples fails the suite.  Values stay away from kinks
and ties (abs at 0, max ties) where finite differences are meaningless.

Adding a built-in op: define it in its ops module (forward beside backward)
and add its samples here.
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Sample:
    tensors: tuple                      # the tensor inputs (float arrays are checked)
    attrs: tuple = ()                   # positional non-tensor arguments after the tensors
    kwargs: dict = field(default_factory=dict)
    const: tuple = ()                   # indexes of float tensor inputs that carry no gradient
    numpy: object = None                # a NumPy function computing the same (NEP 13/18 path)


def _r(*shape, lo=-1.0, hi=1.0, seed=0):
    rng = np.random.default_rng(seed + 7 * len(shape) + sum(shape))
    return rng.uniform(lo, hi, shape)


def _pos(*shape, seed=0):
    return _r(*shape, lo=0.5, hi=2.0, seed=seed)


def _apart(*shape, seed=0):
    """Values with distinct magnitudes and no zeros (no ties, no kinks)."""
    n = int(np.prod(shape)) if shape else 1
    vals = (np.arange(n) + 1.0) / (n + 1) * 2 + 0.1
    rng = np.random.default_rng(seed)
    vals = vals * rng.choice([-1.0, 1.0], size=n)
    rng.shuffle(vals)
    return vals.reshape(shape)


def _binary(np_fn, a_maker=_r, b_maker=_r):
    return [Sample((a_maker(3, 4), b_maker(3, 4)), numpy=np_fn),
            Sample((a_maker(3, 4), b_maker(4, seed=1)), numpy=np_fn),        # broadcasting
            Sample((a_maker(2, 1, 3), b_maker(4, 1, seed=2)), numpy=np_fn),
            Sample((a_maker(), b_maker(3, seed=3)), numpy=np_fn)]


def _unary(np_fn, maker=_r):
    return [Sample((maker(3, 4),), numpy=np_fn), Sample((maker(5),), numpy=np_fn),
            Sample((maker(),), numpy=np_fn)]


def _reduction(np_fn, maker=_r):
    return [Sample((maker(3, 4),), numpy=np_fn), Sample((maker(3, 4),), kwargs={"axis": 0}, numpy=np_fn),
            Sample((maker(2, 3, 4),), kwargs={"axis": (0, 2), "keepdims": True}, numpy=np_fn),
            Sample((maker(2, 3),), kwargs={"axis": -1}, numpy=np_fn)]


_labels = np.array([0, 2, 1, 2])
_dense_t = np.eye(3)[[0, 2, 1, 2]] * 0.8 + 0.2 / 3

SAMPLES = {
    "add": _binary(np.add),
    "subtract": _binary(np.subtract),
    "multiply": _binary(np.multiply),
    "divide": _binary(np.divide, b_maker=_pos),
    "power": [Sample((_pos(3, 4), _r(3, 4)), numpy=np.power), Sample((_pos(3, 4), _pos(4)), numpy=np.power),
              Sample((_pos(3), np.array(2.0)), numpy=np.power)],
    "negative": _unary(np.negative),
    "exp": _unary(np.exp),
    "log": _unary(np.log, _pos),
    "log1p": _unary(np.log1p, _pos),
    "expm1": _unary(np.expm1),
    "sqrt": _unary(np.sqrt, _pos),
    "abs": _unary(np.abs, _apart),
    "sin": _unary(np.sin),
    "cos": _unary(np.cos),
    "relu": _unary(None, _apart),
    "tanh": _unary(np.tanh),
    "tanh_grad": [Sample((_r(3, 4) * 0.9, _r(3, 4, seed=1))), Sample((_r(5) * 0.9, _r(5, seed=1))),
                  Sample((np.array(0.3), np.array(-1.2)))],
    "sigmoid": _unary(None),
    "maximum": [Sample((_apart(3, 4), _apart(3, 4, seed=1)), numpy=np.maximum),
                Sample((_apart(3, 4), _apart(4, seed=2)), numpy=np.maximum)],
    "minimum": [Sample((_apart(3, 4), _apart(3, 4, seed=1)), numpy=np.minimum),
                Sample((_apart(3, 4), _apart(4, seed=2)), numpy=np.minimum)],
    "where": [Sample((_r(3, 4) > 0, _r(3, 4), _r(3, 4, seed=1)), numpy=np.where),
              Sample((_r(3, 4) > 0, _r(4), _r(3, 1, seed=1)), numpy=np.where)],
    "stop_gradient": [Sample((_r(3),))],
    "cast": [Sample((_r(3, 2),), attrs=(np.float64,))],
    "matmul": [Sample((_r(3, 4), _r(4, 2)), numpy=np.matmul), Sample((_r(4), _r(4, 2)), numpy=np.matmul),
               Sample((_r(3, 4), _r(4)), numpy=np.matmul), Sample((_r(4), _r(4, seed=1)), numpy=np.matmul),
               Sample((_r(2, 3, 4), _r(4, 2)), numpy=np.matmul),
               Sample((_r(4, 3), _r(4, 2)), kwargs={"transpose_a": True}),
               Sample((_r(3, 4), _r(2, 4)), kwargs={"transpose_b": True}),
               Sample((_r(4, 3), _r(2, 4)), kwargs={"transpose_a": True, "transpose_b": True}),
               Sample((_r(2, 4, 3), _r(2, 4)), kwargs={"transpose_a": True, "transpose_b": True})],
    "sum": _reduction(np.sum),
    "mean": _reduction(np.mean),
    "var": _reduction(np.var) + [Sample((_r(3, 4),), kwargs={"axis": 1, "ddof": 1}, numpy=np.var)],
    "max": _reduction(np.max, _apart),
    "min": _reduction(np.min, _apart),
    "prod": _reduction(np.prod, _pos) + [Sample((np.array([[0.0, 2.0, 3.0], [1.5, 0.5, 2.0]]),),
                                                kwargs={"axis": 1}, numpy=np.prod)],
    "softmax": [Sample((_r(3, 4),)), Sample((_r(3, 4),), kwargs={"axis": 0})],
    "log_softmax": [Sample((_r(3, 4),)), Sample((_r(2, 3, 4),), kwargs={"axis": 1})],
    "log_softmax_grad": [Sample((_r(3, 4) - 1.5, _r(3, 4, seed=1))),
                         Sample((_r(2, 3, 4) - 1.0, _r(2, 3, 4, seed=1)), kwargs={"axis": 1})],
    "mean_grad": [Sample((_r(3),), attrs=((3, 4), (1,), False, 4)),
                  Sample((_r(1, 4),), attrs=((3, 4), (0,), True, 3)),
                  Sample((np.array(0.7),), attrs=((2, 3), (0, 1), False, 6))],
    "reshape": [Sample((_r(3, 4),), attrs=((2, 6),), numpy=np.reshape),
                Sample((_r(3, 4),), attrs=((-1,),), numpy=np.reshape)],
    "transpose": [Sample((_r(3, 4),), numpy=np.transpose),
                  Sample((_r(2, 3, 4),), kwargs={"axes": (1, 2, 0)}, numpy=np.transpose)],
    "expand_dims": [Sample((_r(3, 4),), attrs=(1,), numpy=np.expand_dims)],
    "squeeze": [Sample((_r(3, 1, 4),), numpy=np.squeeze), Sample((_r(1, 3, 1),), kwargs={"axis": 0},
                                                                 numpy=np.squeeze)],
    "broadcast_to": [Sample((_r(3, 1),), attrs=((2, 3, 4),), numpy=np.broadcast_to)],
    "concatenate": [Sample((_r(2, 3), _r(1, 3, seed=1)), numpy=lambda *a, **k: np.concatenate(a, **k)),
                    Sample((_r(2, 3), _r(2, 2, seed=1)), kwargs={"axis": 1},
                           numpy=lambda *a, **k: np.concatenate(a, **k))],
    "stack": [Sample((_r(2, 3), _r(2, 3, seed=1)), numpy=lambda *a, **k: np.stack(a, **k)),
              Sample((_r(2, 3), _r(2, 3, seed=1)), kwargs={"axis": 2}, numpy=lambda *a, **k: np.stack(a, **k))],
    "getitem": [Sample((_r(4, 3),), attrs=((slice(1, 3), 0),)), Sample((_r(4, 3),), attrs=(np.array([0, 2, 0]),)),
                Sample((_r(4, 3),), attrs=(_r(4, 3) > 0,))],
    "scatter": [Sample((_r(3),), attrs=((4,), np.array([0, 2, 0]))), Sample((_r(2, 3),), attrs=((4, 3), slice(1, 3)))],
    "batch_norm_train": [Sample((_r(6, 3) * 3 + 1, _pos(3), _r(3, seed=1)), kwargs={"epsilon": 1e-3}),
                         Sample((_r(2, 4, 3), _pos(3), _r(3, seed=1)))],
    "batch_norm_block_train": [Sample((_r(6, 3) * 3 + 1, _r(3, seed=4), _pos(3), _r(3, seed=1)),
                                      kwargs={"epsilon": 1e-3}),
                               Sample((_r(6, 3) * 3 + 1, _r(3, seed=4), _pos(3), _r(3, seed=1)),
                                      kwargs={"relu": True}),
                               Sample((_r(2, 4, 3), _r(3, seed=5), _pos(3), _r(3, seed=2)),
                                      kwargs={"relu": True})],
    "batch_norm_infer": [Sample((_r(5, 3), _pos(3), _r(3, seed=1), _r(3, seed=2), _pos(3, seed=3)),
                                kwargs={"epsilon": 1e-3}, const=(3, 4))],
    "softmax_ce": [Sample((_r(4, 3) * 2, _labels)), Sample((_r(4, 3), _labels), kwargs={"reduction": "sum"}),
                   Sample((_r(4, 3), _labels), kwargs={"reduction": "none", "label_smoothing": 0.1}),
                   Sample((_r(4, 3), _dense_t))],
    "softmax_ce_grad": [Sample((_r(4, 3) * 2, np.array(0.7)), attrs=(_labels,)),
                        Sample((_r(4, 3), _r(4, seed=2)), attrs=(_labels, "none", 0.1)),
                        Sample((_r(4, 3), np.array(1.3)), attrs=(_dense_t * 1.2, "sum", 0.2)),
                        Sample((_r(4, 3), _r(4, seed=3)), attrs=(_dense_t, "none"))],
    "erf": _unary(None),
    "nn.dense": [Sample((_r(4, 3), _r(3, 2), _r(2, seed=1))),
                 Sample((_apart(4, 3), _r(3, 2), _r(2, seed=1)), kwargs={"relu": True})],
    "nn.dense_nobias": [Sample((_r(4, 3), _r(3, 2)))],
    "nn.prob_cross_entropy": [Sample((_pos(4, 3), _dense_t), const=(1,))],
    "nn.sigmoid_bce": [Sample((_r(4, 3) * 3, (_r(4, 3, seed=1) > 0) * 1.0), const=(1,))],
    "nn.prob_bce": [Sample((_r(4, 3, lo=0.1, hi=0.9), (_r(4, 3, seed=1) > 0) * 1.0), const=(1,))],
}
