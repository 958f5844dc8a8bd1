"""Bad-input battery for the kernels called directly (``tinygrad_bn._kernels.*``).

Each case is a few lines of code calling one kernel with hostile arguments; it must end
in the right result or in a TypeError / ValueError whose message names the kernel and
the argument.  The cases that could crash the interpreter (outputs overlapping inputs,
slots aliasing each other: writes through one buffer seen through another while the loop
runs without the GIL) run in a child interpreter through ``run_isolated`` -- all of them
in one child, each under its own try, so a crash shows as a failure of the case that was
running, not as a dead test run.
"""
import json
import textwrap

import numpy as np
import pytest

from badinput import expect_error, run_isolated

PRELUDE = """
import numpy as np
from tinygrad_bn._kernels import batchnorm as BN, optim as OPT, softmax_ce as CE
f32, f64 = np.float32, np.float64
def ro(a):
    a = np.array(a)
    a.flags.writeable = False
    return a
"""

# (id, code, expected, isolated): expected is (exception name, words...) or ("ok", check)
CASES = [
    # --- softmax CE, integer labels ---------------------------------------------------------
    ("ce-grad-overlaps-labels",
     "lab = np.zeros(16, np.int64); x = np.zeros((4, 8), f32)\n"
     "CE.ce_forward_sparse(x, lab[:4], 0.0, 1.0, lab.view(f32)[:32].reshape(4, 8), np.empty(4))",
     ("ValueError", "ce_forward_sparse", "grad shares memory with labels"), True),
    ("ce-loss-overlaps-labels",
     "lab = np.zeros(8, np.int64); x = np.zeros((4, 3), f32)\n"
     "CE.ce_forward_sparse(x, lab[:4], 0.0, 1.0, np.empty((4, 3), f32), lab.view(f64)[2:6])",
     ("ValueError", "ce_forward_sparse", "loss shares memory with labels"), True),
    ("ce-loss-is-labels-int64-as-float",
     "lab = np.zeros(4, np.int64)\n"
     "CE.ce_forward_sparse(np.zeros((4, 40), f32), lab, 0.0, 1.0, np.empty((4, 40), f32), lab.view(f64))",
     ("ValueError", "loss shares memory with labels"), True),
    ("ce-grad-is-logits",
     "x = np.zeros((4, 3), f32); CE.ce_forward_sparse(x, np.zeros(4, np.int64), 0.0, 1.0, x, np.empty(4))",
     ("ValueError", "grad shares memory with logits"), True),
    ("ce-loss-overlaps-grad",
     "g = np.empty((4, 4), f64)\n"
     "CE.ce_forward_sparse(np.zeros((4, 4)), np.zeros(4, np.int64), 0.0, 1.0, g, g.reshape(-1)[:4])",
     ("ValueError", "grad shares memory with loss"), True),
    ("ce-label-too-large",
     "CE.ce_forward_sparse(np.zeros((3, 10), f32), np.array([1, 10, 2]), 0.0, 1.0, np.empty((3, 10), f32), np.empty(3))",
     ("ValueError", "ce_forward_sparse", "label 10 at index 1", "[0, 10)"), False),
    ("ce-label-negative-int32",
     "CE.ce_forward_sparse(np.zeros((3, 10), f32), np.array([0, 1, -1], np.int32), 0.0, 1.0, np.empty((3, 10), f32), np.empty(3))",
     ("ValueError", "label -1 at index 2"), False),
    ("ce-label-uint64-huge",
     "CE.ce_forward_sparse(np.zeros((2, 4), f32), np.array([0, 2**63 + 5], np.uint64), 0.0, 1.0, np.empty((2, 4), f32), np.empty(2))",
     ("ValueError", "label 9223372036854775813 at index 1"), False),
    ("ce-label-uint64-max",
     "CE.ce_forward_sparse(np.zeros((1, 4)), np.array([2**64 - 1], np.uint64), 0.0, 1.0, np.empty((1, 4)), np.empty(1))",
     ("ValueError", "label 18446744073709551615 at index 0"), False),
    ("ce-label-int8-negative",
     "CE.ce_forward_sparse(np.zeros((2, 4)), np.array([3, -128], np.int8), 0.0, 1.0, np.empty((2, 4)), np.empty(2))",
     ("ValueError", "label -128 at index 1"), False),
    ("ce-labels-uint8-ok",
     "x = np.array([[0.0, 1.0, 2.0]]); g = np.empty((1, 3)); l = np.empty(1)\n"
     "t = CE.ce_forward_sparse(x, np.array([2], np.uint8), 0.0, 1.0, g, l)\n"
     "ref = np.log(np.exp(x).sum()) - 2.0\n"
     "assert abs(t - ref) < 1e-12 and abs(l[0] - ref) < 1e-12",
     ("ok",), False),
    ("ce-labels-bool",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.array([True, False]), 0.0, 1.0, np.empty((2, 3)), np.empty(2))",
     ("TypeError", "labels must be integer class ids", "bool"), False),
    ("ce-labels-float-sparse",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.array([0.0, 1.0]), 0.0, 1.0, np.empty((2, 3)), np.empty(2))",
     ("TypeError", "ce_forward_sparse", "labels", "float64"), False),
    ("ce-labels-2d",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.zeros((2, 1), np.int64), 0.0, 1.0, np.empty((2, 3)), np.empty(2))",
     ("ValueError", "labels must have 1 dimension", "(2, 1)"), False),
    ("ce-labels-wrong-length",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.zeros(3, np.int64), 0.0, 1.0, np.empty((2, 3)), np.empty(2))",
     ("ValueError", "labels have shape (3,)", "expected (2,)"), False),
    ("ce-labels-list",
     "CE.ce_forward_sparse(np.zeros((2, 3)), [0, 1], 0.0, 1.0, np.empty((2, 3)), np.empty(2))",
     ("TypeError", "labels must be a NumPy array", "list"), False),
    ("ce-logits-int",
     "CE.ce_forward_sparse(np.zeros((2, 3), np.int32), np.zeros(2, np.int64), 0.0, 1.0, np.empty((2, 3)), np.empty(2))",
     ("TypeError", "logits must be float32 or float64", "int32"), False),
    ("ce-logits-float16",
     "CE.ce_forward_sparse(np.zeros((2, 3), np.float16), np.zeros(2, np.int64), 0.0, 1.0, np.empty((2, 3)), np.empty(2))",
     ("TypeError", "logits", "float16"), False),
    ("ce-logits-1d",
     "CE.ce_forward_sparse(np.zeros(3), np.zeros(1, np.int64), 0.0, 1.0, np.empty((1, 3)), np.empty(1))",
     ("ValueError", "logits must have 2 dimensions", "(3,)"), False),
    ("ce-logits-no-classes",
     "CE.ce_forward_sparse(np.zeros((2, 0)), np.zeros(2, np.int64), 0.0, 1.0, np.empty((2, 0)), np.empty(2))",
     ("ValueError", "no classes"), False),
    ("ce-grad-wrong-dtype",
     "CE.ce_forward_sparse(np.zeros((2, 3), f32), np.zeros(2, np.int64), 0.0, 1.0, np.empty((2, 3)), np.empty(2))",
     ("TypeError", "grad must have dtype float32", "float64"), False),
    ("ce-grad-wrong-shape",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.zeros(2, np.int64), 0.0, 1.0, np.empty((3, 2)), np.empty(2))",
     ("ValueError", "grad has shape (3, 2)", "expected (2, 3)"), False),
    ("ce-grad-strided",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.zeros(2, np.int64), 0.0, 1.0, np.empty((2, 6))[:, ::2], np.empty(2))",
     ("ValueError", "grad must be C-contiguous"), False),
    ("ce-grad-read-only",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.zeros(2, np.int64), 0.0, 1.0, ro(np.empty((2, 3))), np.empty(2))",
     ("ValueError", "grad is read-only"), False),
    ("ce-grad-none",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.zeros(2, np.int64), 0.0, 1.0, None, np.empty(2))",
     ("TypeError", "grad and loss must be NumPy arrays"), False),
    ("ce-loss-float32",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.zeros(2, np.int64), 0.0, 1.0, np.empty((2, 3)), np.empty(2, f32))",
     ("TypeError", "loss must have dtype float64"), False),
    ("ce-label-smoothing-out-of-range",
     "CE.ce_forward_sparse(np.zeros((2, 3)), np.zeros(2, np.int64), 1.5, 1.0, np.empty((2, 3)), np.empty(2))",
     ("ValueError", "label_smoothing must be in [0, 1]", "1.5"), False),
    ("ce-nan-logit-gives-nan",
     "x = np.array([[0, np.nan, 0]], f32); g = np.empty_like(x); l = np.empty(1)\n"
     "t = CE.ce_forward_sparse(x, np.array([0]), 0.0, 1.0, g, l)\n"
     "assert np.isnan(t) and np.isnan(l).all() and np.isnan(g).all()",
     ("ok",), False),
    ("ce-byte-swapped-logits-right-result",
     "x = np.array([[1.0, 2.0, 0.5]]); g1, g2 = np.empty((1, 3)), np.empty((1, 3)); l = np.empty(1)\n"
     "a = CE.ce_forward_sparse(x, np.array([1]), 0.0, 1.0, g1, l)\n"
     "b = CE.ce_forward_sparse(x.astype('>f8'), np.array([1], '>i8'), 0.0, 1.0, g2, l)\n"
     "assert a == b and (g1 == g2).all()",
     ("ok",), False),
    # --- softmax CE, dense labels -----------------------------------------------------------
    ("ce-dense-grad-overlaps-labels",
     "y = np.zeros((4, 3), f32); CE.ce_forward_dense(np.zeros((4, 3), f32), y, 0.0, 1.0, y, np.empty(4))",
     ("ValueError", "ce_forward_dense", "grad shares memory with labels"), True),
    ("ce-dense-labels-dtype",
     "CE.ce_forward_dense(np.zeros((2, 3), f32), np.zeros((2, 3)), 0.0, 1.0, np.empty((2, 3), f32), np.empty(2))",
     ("TypeError", "ce_forward_dense", "labels", "dtype of the logits"), False),
    ("ce-dense-labels-shape",
     "CE.ce_forward_dense(np.zeros((2, 3)), np.zeros((2, 4)), 0.0, 1.0, np.empty((2, 3)), np.empty(2))",
     ("ValueError", "labels has shape (2, 4)", "expected (2, 3)"), False),
    ("ce-dense-nan-label-gives-nan-row",
     "y = np.array([[1.0, 0.0], [np.nan, 1.0]]); g = np.empty((2, 2)); l = np.empty(2)\n"
     "CE.ce_forward_dense(np.zeros((2, 2)), y, 0.0, 1.0, g, l)\n"
     "assert np.isfinite(l[0]) and np.isnan(l[1]) and np.isnan(g[1]).all() and np.isfinite(g[0]).all()",
     ("ok",), False),
    ("ce-expf-out-is-x",
     "x = np.zeros(9, f32); CE.expf_vec(x, x)",
     ("ValueError", "expf_vec", "out shares memory with x"), False),
    # --- batch norm -------------------------------------------------------------------------
    ("bn-affine-a-int",
     "BN.bn_affine(np.ones((2, 3), f32), np.ones(3, np.int64), np.ones(3), np.empty((2, 3), f32))",
     ("TypeError", "bn_affine", "a must have dtype float64", "int64"), False),
    ("bn-affine-out-none",
     "BN.bn_affine(np.ones((2, 3), f32), np.ones(3), np.ones(3), None)",
     ("TypeError", "bn_affine", "out"), False),
    ("bn-affine-out-is-x",
     "x = np.ones((2, 3), f32); BN.bn_affine(x, np.ones(3), np.ones(3), x)",
     ("ValueError", "bn_affine", "out shares memory with x"), True),
    ("bn-affine-b-wrong-shape",
     "BN.bn_affine(np.ones((2, 3)), np.ones(3), np.ones(4), np.empty((2, 3)))",
     ("ValueError", "bn_affine", "b has shape (4,)", "expected (3,)"), False),
    ("bn-affine-out-dtype",
     "BN.bn_affine(np.ones((2, 3)), np.ones(3), np.ones(3), np.empty((2, 3), f32))",
     ("TypeError", "bn_affine", "out must have dtype float64"), False),
    ("bn-forward-x-int",
     "BN.bn_train_forward(np.ones((2, 3), np.int64), np.ones(3), np.zeros(3), 1e-3)",
     ("TypeError", "bn_train_forward", "x must be float32 or float64", "int64"), False),
    ("bn-forward-x-list",
     "BN.bn_train_forward([[1.0, 2.0]], np.ones(2), np.zeros(2), 1e-3)",
     ("TypeError", "bn_train_forward", "x must be a NumPy array", "list"), False),
    ("bn-forward-x-3d",
     "BN.bn_train_forward(np.ones((2, 3, 4)), np.ones(4), np.zeros(4), 1e-3)",
     ("ValueError", "bn_train_forward", "x must have 2 dimensions", "(2, 3, 4)"), False),
    ("bn-forward-gamma-shape",
     "BN.bn_train_forward(np.ones((2, 3)), np.ones(2), np.zeros(3), 1e-3)",
     ("ValueError", "gamma has shape (2,)", "expected (3,)"), False),
    ("bn-forward-gamma-dtype",
     "BN.bn_train_forward(np.ones((2, 3), f32), np.ones(3), np.zeros(3, f32), 1e-3)",
     ("TypeError", "gamma must have dtype float32", "float64"), False),
    ("bn-forward-out-is-x",
     "x = np.ones((600, 512), f32); BN.bn_train_forward(x, np.ones(512, f32), np.zeros(512, f32), 1e-3, x)",
     ("ValueError", "bn_train_forward", "out shares memory with x"), True),
    ("bn-forward-mean-is-var",
     "m = np.empty(3); BN.bn_train_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), 1e-3, None, m, m)",
     ("ValueError", "mean shares memory with var"), True),
    ("bn-forward-mean-read-only",
     "BN.bn_train_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), 1e-3, None, ro(np.empty(3)))",
     ("ValueError", "mean is read-only"), False),
    ("bn-forward-epsilon-negative",
     "BN.bn_train_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), -1e-3)",
     ("ValueError", "bn_train_forward", "epsilon must be >= 0"), False),
    ("bn-forward-epsilon-nan",
     "BN.bn_train_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), float('nan'))",
     ("ValueError", "epsilon", "nan"), False),
    ("bn-forward-nan-column",
     "x = np.ones((4, 3)); x[1, 2] = np.nan\n"
     "y, mu, var, inv = BN.bn_train_forward(x, np.ones(3), np.zeros(3), 1e-3)\n"
     "assert np.isnan(y[:, 2]).all() and np.isfinite(y[:, :2]).all() and np.isnan(mu[2]) and np.isnan(var[2])",
     ("ok",), False),
    ("bn-backward-dx-is-dy",
     "x = np.ones((600, 512), f32); dy = np.ones_like(x)\n"
     "y, mu, var, inv = BN.bn_train_forward(x, np.ones(512, f32), np.zeros(512, f32), 1e-3)\n"
     "BN.bn_train_backward(x, dy, mu, inv, np.ones(512, f32), dy)",
     ("ValueError", "bn_train_backward", "dx shares memory with dy"), True),
    ("bn-backward-dgamma-is-mean",
     "x = np.ones((4, 3)); y, mu, var, inv = BN.bn_train_forward(x, np.ones(3), np.zeros(3), 1e-3)\n"
     "BN.bn_train_backward(x, x.copy(), mu, inv, np.ones(3), None, mu)",
     ("ValueError", "dgamma shares memory with mean"), True),
    ("bn-backward-mean-float32",
     "x = np.ones((4, 3)); BN.bn_train_backward(x, x, np.zeros(3, f32), np.ones(3), np.ones(3))",
     ("TypeError", "bn_train_backward", "mean must have dtype float64", "float32"), False),
    ("bn-backward-dy-shape",
     "x = np.ones((4, 3)); BN.bn_train_backward(x, np.ones((4, 2)), np.zeros(3), np.ones(3), np.ones(3))",
     ("ValueError", "dy has shape (4, 2)", "expected (4, 3)"), False),
    ("bn-infer-backward-sums-alias",
     "x = np.ones((4, 3)); s = np.empty(3)\n"
     "BN.bn_infer_backward(x, x, np.zeros(3), np.ones(3), np.empty((4, 3)), s, s)",
     ("ValueError", "bn_infer_backward", "sum_dy shares memory with sum_dyxc"), True),
    ("bn-infer-backward-dx-none",
     "x = np.ones((4, 3)); BN.bn_infer_backward(x, x, np.zeros(3), np.ones(3), None, np.empty(3), np.empty(3))",
     ("TypeError", "bn_infer_backward", "dx"), False),
    # --- optimizers -------------------------------------------------------------------------
    ("adam-m-v-overlapping-views",
     "p = np.ones(100_000, f32); buf = np.zeros(150_000, f32)\n"
     "OPT.adam_update(p, p * 0.1, buf[:100_000], buf[50_000:], None, 0.1, 0.9, 0.999, 1e-7)",
     ("ValueError", "adam_update", "v shares memory with m"), True),
    ("adam-m-is-param-view",
     "p = np.ones(8, f32); OPT.adam_update(p, np.ones(8, f32), p[:], np.zeros(8, f32), None, 0.1, 0.9, 0.999, 1e-7)",
     ("ValueError", "adam_update", "m shares memory with param"), True),
    ("adam-vhat-overlaps-v",
     "buf = np.zeros(16); p = np.ones(8)\n"
     "OPT.adam_update(p, np.ones(8), np.zeros(8), buf[:8], buf[4:12], 0.1, 0.9, 0.999, 1e-7)",
     ("ValueError", "vhat shares memory with v"), True),
    ("adam-grad-shifted-view-of-param",
     "buf = np.ones(200_001, f32); p = buf[:200_000]\n"
     "OPT.adam_update(p, buf[1:], np.zeros_like(p), np.zeros_like(p), None, 0.1, 0.9, 0.999, 1e-7)",
     ("ValueError", "adam_update", "grad overlaps part of param"), True),
    ("adam-grad-is-m",
     "p = np.ones(8); m = np.zeros(8); OPT.adam_update(p, m, m, np.zeros(8), None, 0.1, 0.9, 0.999, 1e-7)",
     ("ValueError", "m shares memory with grad"), True),
    ("adam-grad-is-param-ok",
     "p = np.full(5, 2.0); OPT.adam_update(p, p, np.zeros(5), np.zeros(5), None, 0.1, 0.9, 0.999, 1e-7)\n"
     "assert np.all(p < 2.0) and np.isfinite(p).all()",
     ("ok",), False),
    ("adam-m-dtype",
     "OPT.adam_update(np.ones(3, f32), np.ones(3, f32), np.zeros(3), np.zeros(3, f32), None, 0.1, 0.9, 0.999, 1e-7)",
     ("TypeError", "adam_update", "m", "dtype of param"), False),
    ("adam-v-shape",
     "OPT.adam_update(np.ones(3), np.ones(3), np.zeros(3), np.zeros(4), None, 0.1, 0.9, 0.999, 1e-7)",
     ("ValueError", "adam_update", "v", "shape of param"), False),
    ("adam-param-read-only",
     "OPT.adam_update(ro(np.ones(3)), np.ones(3), np.zeros(3), np.zeros(3), None, 0.1, 0.9, 0.999, 1e-7)",
     ("ValueError", "adam_update", "param is read-only"), False),
    ("adam-param-strided",
     "OPT.adam_update(np.ones(6)[::2], np.ones(3), np.zeros(3), np.zeros(3), None, 0.1, 0.9, 0.999, 1e-7)",
     ("ValueError", "adam_update", "param must be C-contiguous"), False),
    ("adam-param-int",
     "OPT.adam_update(np.ones(3, np.int64), np.ones(3), np.zeros(3), np.zeros(3), None, 0.1, 0.9, 0.999, 1e-7)",
     ("TypeError", "adam_update", "param must be float32 or float64"), False),
    ("adam-param-list",
     "OPT.adam_update([1.0], np.ones(1), np.zeros(1), np.zeros(1), None, 0.1, 0.9, 0.999, 1e-7)",
     ("TypeError", "adam_update", "param must be a NumPy array"), False),
    ("adam-grad-int",
     "OPT.adam_update(np.ones(3), np.ones(3, np.int64), np.zeros(3), np.zeros(3), None, 0.1, 0.9, 0.999, 1e-7)",
     ("TypeError", "adam_update", "grad must be floating point"), False),
    ("adam-grad-shape",
     "OPT.adam_update(np.ones(3), np.ones(4), np.zeros(3), np.zeros(3), None, 0.1, 0.9, 0.999, 1e-7)",
     ("ValueError", "adam_update", "grad", "shape of param"), False),
    ("adam-nan-grad-gives-nan",
     "p = np.ones(4); g = np.array([0.1, np.nan, 0.1, 0.1])\n"
     "OPT.adam_update(p, g, np.zeros(4), np.zeros(4), None, 0.1, 0.9, 0.999, 1e-7)\n"
     "assert np.isnan(p[1]) and np.isfinite(p[[0, 2, 3]]).all()",
     ("ok",), False),
    ("amsgrad-nan-vhat-kept",
     "p = np.ones(4); vh = np.array([0.0, np.nan, 0.0, 0.0])\n"
     "OPT.adam_update(p, np.ones(4), np.zeros(4), np.zeros(4), vh, 0.1, 0.9, 0.999, 1e-7)\n"
     "assert np.isnan(vh[1]) and np.isnan(p[1]) and np.isfinite(p[[0, 2, 3]]).all()",
     ("ok",), False),
    ("rmsprop-ms-is-mom",
     "s = np.zeros(8); OPT.rmsprop_update(np.ones(8), np.ones(8), s, s, 0.1, 0.9, 0.5, 1e-7)",
     ("ValueError", "rmsprop_update", "mom shares memory with ms"), True),
    ("rmsprop-momentum-without-mom",
     "OPT.rmsprop_update(np.ones(3), np.ones(3), np.zeros(3), None, 0.1, 0.9, 0.5, 1e-7)",
     ("ValueError", "rmsprop_update", "momentum=0.5 needs a mom array"), False),
    ("rmsprop-ms-int",
     "OPT.rmsprop_update(np.ones(3), np.ones(3), np.zeros(3, np.int32), None, 0.1, 0.9, 0.0, 1e-7)",
     ("TypeError", "rmsprop_update", "ms must be float32 or float64"), False),
    ("sgd-velocity-is-param-view",
     "p = np.ones((4, 4)); OPT.sgd_update(p, np.ones((4, 4)), p.reshape(4, 4), 0.1, 0.9, False)",
     ("ValueError", "sgd_update", "velocity shares memory with param"), True),
    ("sgd-momentum-without-velocity",
     "OPT.sgd_update(np.ones(3), np.ones(3), None, 0.1, 0.9, False)",
     ("ValueError", "sgd_update", "momentum=0.9 needs a velocity array"), False),
]

IDS = [c[0] for c in CASES]
assert len(set(IDS)) == len(IDS)

CHILD = PRELUDE + """
import json, sys, traceback
cases = json.loads(sys.argv[1] if len(sys.argv) > 1 else {cases!r})
for cid, code in cases:
    print("RUNNING " + cid, flush=True)
    try:
        exec(code, dict(globals()))
        res = ["ok", ""]
    except BaseException as exc:   # noqa: BLE001
        res = [type(exc).__name__, str(exc)]
    print("RESULT " + json.dumps([cid] + res), flush=True)
"""


@pytest.fixture(scope="module")
def isolated_results():
    todo = [[c[0], c[1]] for c in CASES if c[3]]
    rc, out, err = run_isolated(CHILD.format(cases=json.dumps(todo)), timeout=120)
    results, running = {}, None
    for line in out.splitlines():
        if line.startswith("RUNNING "):
            running = line[8:]
        elif line.startswith("RESULT "):
            cid, name, msg = json.loads(line[7:])
            results[cid] = (name, msg)
            running = None
    return results, rc, running, err


def _check(expected, name, msg):
    if expected[0] == "ok":
        assert name == "ok", f"expected the right result, got {name}: {msg}"
        return
    assert name == expected[0], f"expected {expected[0]}, got {name}: {msg}"
    low = msg.lower()
    for word in expected[1:]:
        assert word.lower() in low, f"message {msg!r} does not mention {word!r}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_kernel_bad_input(case, isolated_results):
    cid, code, expected, isolated = case
    if isolated:
        results, rc, running, err = isolated_results
        assert cid in results, (f"the child died (return code {rc}) while running {running!r}:\n"
                                f"{err[-2000:]}")
        _check(expected, *results[cid])
        return
    ns = {}
    exec(textwrap.dedent(PRELUDE), ns)
    if expected[0] == "ok":
        exec(code, ns)
    else:
        exc_type = {"TypeError": TypeError, "ValueError": ValueError}[expected[0]]
        expect_error(lambda: exec(code, ns), exc_type, *expected[1:])


def test_battery_size():
    assert len(CASES) >= 40
