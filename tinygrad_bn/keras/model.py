"""``Model`` (subclassed or functional) and ``Sequential``, with Keras' ``compile`` / ``fit`` /
``evaluate`` / ``predict``.

Three ways to make a model, as in Keras::

    class MLP(Model):                                   # subclassing
        def __init__(self):
            super().__init__()
            self.hidden = Dense(16, activation="relu")
            self.out = Dense(3)
        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

    x = Input(shape=(8,))                               # the functional API
    model = Model(inputs=x, outputs=Dense(3)(Dense(16, activation="relu")(x)))

    model = Sequential([Input(shape=(8,)), Dense(16, activation="relu"), Dense(3)])

One training step serves ``fit``, ``train_on_batch`` and ``train_step`` (which a
subclass may override, as in Keras: it receives ``data`` -- ``(x, y)`` or
``(x, y, sample_weight)`` -- and returns a dict of metric values).  The
default step is one ``GradientTape``, one forward pass, ``compute_loss`` (the
compiled loss with ``sample_weight``, plus ``model.losses``), one
``tape.gradient`` and one ``apply_gradients``.  A step is atomic: layer state
updates (batch norm's moving statistics) recorded during it are applied only
after ``apply_gradients`` has succeeded, so a step that raises leaves
variables, optimizer slots, ``iterations`` and moving statistics as they were.

Data: NumPy arrays (validated once, shuffled by one permutation per epoch), a
``tinygrad_bn.data.Dataset`` (re-iterated every epoch) or a Python generator /
iterator (``steps_per_epoch`` batches per epoch) yielding ``(x, y)`` or
``(x, y, sample_weight)`` batches, each validated before its step.  With
``steps_per_epoch``, one iterator continues across epochs; when it runs out,
training stops with a warning, as in Keras.

Saving: ``save_weights``/``load_weights`` work for every model; ``save`` of the
whole model (architecture included) is for ``Sequential`` only -- for subclassed
and functional models save the weights and rebuild the model in code (Keras
needs ``get_config``/registration for subclassed models too).
"""
import copy
import inspect
import time
import warnings

import numpy as np

import functools

from .._engine import GradientTape, stop_recording_all
from .. import memory as _memory
from ..tensor import Tensor, wrap
from ..utils import derive_rng
from . import callbacks as _callbacks
from . import losses as _losses
from . import metrics as _metrics
from .base_layer import (_STATE, InputLayer, KerasTensor, Layer, PendingStateUpdates, _as_input, _call_losses,
                         _call_scope, _clear_call_losses, _fmt_shape, _is_structure,
                         _probe_output_shape, _unique_name, deferred_state_updates, flatten, map_structure)
from .progress import EpochProgress, format_logs


try:
    from .._kernels import use_blas_pool as _use_blas_pool
except ImportError:                     # kernels not built
    _use_blas_pool = None


def _memory_scope(method):
    """Run a Model entry point in :class:`tinygrad_bn.memory.scope` (its arrays reuse the blocks
    of the previous step instead of faulting in fresh pages), with NumPy's BLAS on the kernels'
    threads (:func:`tinygrad_bn._kernels.use_blas_pool`, once per process)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        if _use_blas_pool is not None:
            _use_blas_pool()            # NumPy's BLAS on the kernels' threads (once; see _kernels)
        with _memory.scope():
            return method(self, *args, **kwargs)
    return run

__all__ = ["Model", "Sequential", "History", "unpack_x_y_sample_weight", "pack_x_y_sample_weight"]

History = _callbacks.History


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------

def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_int(value, fn, name, minimum, allow_none=False):
    if value is None and allow_none:
        return None
    if not _is_int(value):
        raise TypeError(f"{fn}: {name} must be an integer >= {minimum}"
                        + (" or None" if allow_none else "") + f", got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return int(value)


def _check_verbose(verbose, fn):
    if verbose == "auto":
        return 1
    if not _is_int(verbose) or verbose not in (0, 1, 2):
        raise ValueError(f"{fn}: verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _check_callbacks(callbacks, fn):
    if callbacks is None:
        return []
    if isinstance(callbacks, _callbacks.Callback):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"{fn}: callbacks must be a list of Callback instances, got {type(callbacks).__name__}")
    for cb in callbacks:
        if not isinstance(cb, _callbacks.Callback):
            raise TypeError(f"{fn}: every callback must be a Callback instance, got {cb!r}"
                            + (" (a class: did you forget the parentheses?)" if isinstance(cb, type) else ""))
    return list(callbacks)


def _prepare_x(x, fn, where="x", dtype=np.float32):
    """Inputs as a C-contiguous float array with a batch axis, checked finite."""
    if x is None:
        raise ValueError(f"{fn}: {where} is required")
    if isinstance(x, KerasTensor):
        raise TypeError(f"{fn}: {where} is a symbolic KerasTensor (from Input()); pass data (arrays)")
    if isinstance(x, Tensor):
        x = x.data
    try:
        arr = np.asarray(x)
    except ValueError as e:
        raise ValueError(f"{fn}: {where} cannot be converted to an array ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {where} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{fn}: {where} must have a batch axis, got a scalar")
    if arr.ndim == 1:
        arr = arr[:, None]
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if len(arr) == 0:
        raise ValueError(f"{fn}: {where} is empty (0 samples)")
    finite = np.isfinite(arr)
    if not finite.all():
        idx = tuple(int(i) for i in np.argwhere(~finite)[0])
        n_bad = int(arr.size - np.count_nonzero(finite))
        raise ValueError(f"{fn}: {where} contains NaN or inf: {n_bad} value(s), the first at {where}"
                         f"[{', '.join(map(str, idx))}] = {arr[idx]}; clean or impute the data before training")
    return arr


def _length(y):
    y = y.data if isinstance(y, Tensor) else y
    try:
        return len(y)
    except TypeError:
        raise TypeError(f"expected an array with a batch axis, got {type(y).__name__}") from None


def _prepare_sample_weight(sw, n, fn, where="sample_weight"):
    if sw is None:
        return None
    arr = np.asarray(sw.data if isinstance(sw, Tensor) else sw)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {where} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{fn}: {where} must have shape ({n},) (one weight per sample), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{fn}: {where} contains NaN or inf (first at {where}[{int(np.argmin(np.isfinite(arr)))}])")
    return arr


def _check_class_weight(class_weight, fn):
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(f"{fn}: class_weight must be a dict {{class index: weight}}, got "
                        f"{type(class_weight).__name__}")
    if not class_weight:
        raise ValueError(f"{fn}: class_weight is empty")
    for k, v in class_weight.items():
        if not _is_int(k):
            raise TypeError(f"{fn}: class_weight keys must be integer class indices, got {k!r}")
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not np.isfinite(v):
            raise ValueError(f"{fn}: class_weight[{k}] must be a finite number, got {v!r}")
    keys = sorted(int(k) for k in class_weight)
    if keys != list(range(len(keys))):
        raise ValueError(f"{fn}: expected class_weight to be a dict with keys from 0 to one less than the "
                         f"number of classes, found {class_weight}")
    table = np.array([float(class_weight[k]) for k in keys], dtype=np.float32)
    return table


def _class_weights_for(table, y, fn):
    """The per-sample weights class_weight gives targets ``y`` (labels, one-hot rows or binary)."""
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if y.ndim == 2 and y.shape[1] > 1:
        cls = y.argmax(axis=1)
    else:
        cls = np.rint(y.reshape(len(y), -1)[:, 0]).astype(np.int64)
    if len(cls) and (cls.min() < 0 or cls.max() >= len(table)):
        bad = int(cls.max()) if cls.max() >= len(table) else int(cls.min())
        raise ValueError(f"{fn}: class_weight has weights for classes 0..{len(table) - 1} but the targets "
                         f"contain class {bad}")
    return table[cls]


def unpack_x_y_sample_weight(data):
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` -> ``(x, y, sample_weight)`` (as Keras)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"data must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple of {len(data)}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    if y is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def _dataset_class():
    try:
        from ..data import Dataset
    except ImportError:
        return None
    return Dataset


def _kind(x):
    """'arrays', 'dataset' (re-iterable) or 'iterator' (a generator: consumed once)."""
    if x is None or isinstance(x, (np.ndarray, Tensor, KerasTensor, np.generic, int, float)):
        return "arrays"
    ds = _dataset_class()
    if ds is not None and isinstance(x, ds):
        return "dataset"
    if isinstance(x, (list, tuple, dict)):
        return "arrays"
    if hasattr(x, "__next__"):
        return "iterator"
    if hasattr(x, "__iter__") and not hasattr(x, "__array__") and not hasattr(x, "__len__"):
        return "dataset"
    if hasattr(x, "__iter__") and (hasattr(x, "cardinality") or hasattr(x, "element_spec")):
        return "dataset"
    return "arrays"


# ---------------------------------------------------------------------------
# Compiled loss and metrics (the Keras 2 names, for train_step overrides)
# ---------------------------------------------------------------------------

def _takes_sample_weight(loss):
    try:
        return "sample_weight" in inspect.signature(loss.__call__).parameters
    except (TypeError, ValueError):
        return False


def _weighted_loss(loss, supports_sw, y_true, y_pred, sw):
    """``loss(y_true, y_pred, sample_weight)`` with Keras's 'sum_over_batch_size': sum(w * l) / N."""
    if sw is None:
        return loss(y_true, y_pred)
    if supports_sw:
        return loss(y_true, y_pred, sample_weight=sw)
    # Fallback while a loss does not take sample_weight: its per-sample values, weighted here.
    from .. import ops as _ops
    per = copy.copy(loss)
    per.reduction = "none"
    values = per(y_true, y_pred)
    w = np.asarray(sw, dtype=values.data.dtype).reshape((-1,) + (1,) * (values.ndim - 1))
    total = _ops.sum(_ops.multiply(values, w))
    red = getattr(loss, "reduction", "sum_over_batch_size")
    if red == "sum":
        return total
    if red == "none":
        return _ops.multiply(values, w)
    return _ops.multiply(total, 1.0 / max(values.data.size, 1))


class CompiledLoss:
    """``model.compiled_loss(y, y_pred, sample_weight=None, regularization_losses=None)`` (Keras 2 style)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        total = self.model._compiled_loss_value(y_true, y_pred, sample_weight)
        for extra in regularization_losses or ():
            total = total + extra
        return total


class CompiledMetrics:
    """``model.compiled_metrics.update_state(y, y_pred, sample_weight=None)`` (Keras 2 style)."""

    def __init__(self, model):
        self.model = model

    @property
    def metrics(self):
        return list(self.model._metrics)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.model._update_compiled_metrics(y_true, y_pred, sample_weight)

    def reset_state(self):
        for m in self.model._metrics:
            m.reset_state()


class _LossTracker(_metrics.Mean):
    """The running loss (a ``Mean`` named 'loss'), with a fast path for ``(float, batch size)``."""

    def update_state(self, values, sample_weight=None, weight=None):
        if type(values) is float and type(sample_weight) is int and weight is None:
            self.total += values * sample_weight
            self.count += sample_weight
            return
        super().update_state(values, sample_weight=sample_weight, weight=weight)


def _metric_takes_sample_weight(metric):
    try:
        return "sample_weight" in inspect.signature(metric.update_state).parameters
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

class Model(Layer):
    """A model: ``Model(inputs, outputs)`` (functional) or a subclass with ``call`` (subclassing).

    A model is a layer: it can be called on data (``model(x, training=False)``,
    differentiable, for your own ``GradientTape`` loops), on symbolic inputs
    (nesting a model in a functional graph) and used inside other models.
    """

    def __init__(self, *args, **kwargs):
        inputs = kwargs.pop("inputs", None)
        outputs = kwargs.pop("outputs", None)
        if args:
            if len(args) > 2 or inputs is not None or (len(args) == 2 and outputs is not None):
                raise TypeError("Model: give the graph as Model(inputs, outputs) or Model(inputs=..., outputs=...)")
            inputs = args[0]
            if len(args) == 2:
                outputs = args[1]
        name = kwargs.pop("name", None)
        trainable = kwargs.pop("trainable", True)
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"Model: unexpected keyword argument(s) {sorted(kwargs)}")
        graph = inputs is not None or outputs is not None
        if name is None and graph and type(self) is Model:
            name = _unique_name("functional")
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        self._init_training_state()
        self._graph = None
        if graph:
            self._init_graph(inputs, outputs)

    def _init_training_state(self):
        self.optimizer = None
        self.loss = None
        self._loss_list = None        # one Loss per output (resolved at the first step)
        self._loss_weights = None
        self._metrics = []
        self._metric_specs = []
        self._loss_tracker = _LossTracker(name="loss")
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._rng = None
        self._build_input_shape = None
        self._step_forward = None     # set by fit while arrays are validated: the fast forward
        self._step_tvars = None
        self._step_layer_ids = None
        self._step_static_losses = None
        self._step_plain_loss = None
        self._single_loss = None
        self._out_cache = {}
        self._metric_weighted = []
        self._metric_sw = []
        self._metric_out = []
        self._metric_args = ([], [], None)
        self._metrics_for_outputs = 1

    # -- the functional graph ------------------------------------------------
    def _init_graph(self, inputs, outputs):
        if inputs is None or outputs is None:
            raise ValueError("Model: a functional model needs both inputs and outputs, "
                             "e.g. Model(inputs=x, outputs=y) with x = Input(shape=(4,))")
        in_list = flatten(inputs)
        out_list = flatten(outputs)
        for where, lst in (("inputs", in_list), ("outputs", out_list)):
            for t in lst:
                if not isinstance(t, KerasTensor):
                    raise TypeError(f"Model: {where} must be symbolic tensors from Input() and layer calls "
                                    f"(or lists/dicts of them), got {type(t).__name__}")
        if len({id(t) for t in in_list}) != len(in_list):
            raise ValueError("Model: the same input tensor is listed twice in inputs")
        in_ids = {id(t) for t in in_list}
        order, visited = [], set()

        def visit(node, depth=0):
            if id(node) in visited:
                return
            if depth > 10000:
                raise ValueError("Model: the layer graph is too deep")
            visited.add(id(node))
            if isinstance(node.layer, InputLayer) and not node.parents:
                raise ValueError(f"Model: graph disconnected: the outputs depend on the input "
                                 f"{node.layer.name!r}, which is not in inputs (inputs: "
                                 f"{[t.name for t in in_list]})")
            for t in flatten(node.args):
                if id(t) in in_ids:
                    continue
                visit(t._node, depth + 1)
            order.append(node)

        for t in out_list:
            if id(t) not in in_ids:
                visit(t._node)
        layers = []
        seen = set()
        for t in in_list:
            layer = t._node.layer if t._node is not None else None
            if isinstance(layer, InputLayer) and id(layer) not in seen:
                seen.add(id(layer))
                layers.append(layer)
        for node in order:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                layers.append(node.layer)
        self._graph = {"inputs": inputs, "outputs": outputs, "in_list": in_list, "out_list": out_list,
                       "nodes": order}
        self._graph_layers = layers           # tracked: the weights of every layer in the graph
        self.inputs = in_list
        self.outputs = out_list
        shapes = [t.shape for t in in_list]
        self._build_input_shape = shapes[0] if len(shapes) == 1 else shapes
        self.input_shape = self._build_input_shape
        self.output_shape = out_list[0].shape if len(out_list) == 1 else [t.shape for t in out_list]
        self._dtype = np.dtype(in_list[0].dtype).type if in_list else self._dtype
        self.built = True

    def _run_graph(self, x, training):
        g = self._graph
        in_list = g["in_list"]
        if isinstance(x, dict):
            if isinstance(g["inputs"], dict):
                missing = [k for k in g["inputs"] if k not in x]
                if missing:
                    raise ValueError(f"model {self.name!r}: missing inputs {missing}")
                flat = flatten({k: x[k] for k in g["inputs"]})
            else:
                names = [t.name for t in in_list]
                missing = [n for n in names if n not in x]
                if missing:
                    raise ValueError(f"model {self.name!r}: missing inputs {missing} (the inputs are {names})")
                flat = [x[n] for n in names]
        else:
            flat = flatten(x) if _is_structure(x) else [x]
        if len(flat) != len(in_list):
            raise ValueError(f"model {self.name!r} expects {len(in_list)} input(s) "
                             f"{[_fmt_shape(t.shape) for t in in_list]}, got {len(flat)}")
        vals = {}
        for t, v in zip(in_list, flat):
            v = v if isinstance(v, Tensor) else _as_input(v, np.dtype(t.dtype).type)
            if v.ndim != len(t.shape) or any(a is not None and a != b for a, b in zip(t.shape[1:], v.shape[1:])):
                raise ValueError(f"model {self.name!r}: input {t.name!r} expects shape {_fmt_shape(t.shape)}, "
                                 f"got {tuple(v.shape)}")
            vals[id(t)] = v
        for node in g["nodes"]:
            args = map_structure(lambda t: vals[id(t)], node.args)
            kw = node.kwargs
            if "training" in kw:
                out = node.layer(args, **kw)
            else:
                out = node.layer(args, training=training, **kw)
            outs = node.outputs
            if isinstance(outs, KerasTensor):
                vals[id(outs)] = out
            else:
                for t, o in zip(outs, out):
                    vals[id(t)] = o
        return map_structure(lambda t: vals[id(t)], g["outputs"])

    # -- calling -------------------------------------------------------------
    def call(self, inputs, training=None):
        if self._graph is not None:
            return self._run_graph(inputs, bool(training))
        raise NotImplementedError(f"{type(self).__name__}: a subclassed Model must define "
                                  "call(self, inputs, training=None)")

    def __call__(self, inputs, training=None, **kwargs):
        if self._graph is not None and not isinstance(inputs, KerasTensor) and not (
                _is_structure(inputs) and any(isinstance(t, KerasTensor) for t in flatten(inputs))):
            # Inputs are converted and checked per input by the graph itself.
            if training is None:
                from .base_layer import _current_training
                training = _current_training()
            with _call_scope(bool(training)):
                return self.call(inputs, training=bool(training), **kwargs)
        out = Layer.__call__(self, inputs, training=training, **kwargs)
        if self._build_input_shape is None and not isinstance(out, KerasTensor):
            self._build_input_shape = self.input_shape
        return out

    def build(self, input_shape):
        """Create the weights: for a subclassed model, by one call on zeros of ``input_shape``
        (batch axis first, None allowed), as Keras does."""
        if self._graph is not None:
            return
        if isinstance(input_shape, tuple) and input_shape and isinstance(input_shape[0], (list, tuple)):
            input_shape = [tuple(s) for s in input_shape]
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple)):
            shapes = [(None,) + tuple(s[1:]) for s in input_shape]
        else:
            input_shape = tuple(input_shape)
            if len(input_shape) < 1:
                raise ValueError(f"{type(self).__name__}.build: input_shape must include the batch axis, "
                                 f"e.g. (None, 64); got {input_shape}")
            shapes = (None,) + tuple(input_shape[1:])
        self.built = True      # before the probe, so Layer.__call__ does not come back here
        self.input_shape = shapes
        self._build_input_shape = shapes
        try:
            out = _probe_output_shape(self, shapes, self._dtype)
        except Exception:
            self.built = False
            raise
        self.output_shape = out

    def compute_output_shape(self, input_shape):
        if self._graph is not None:
            return self.output_shape
        return _probe_output_shape(self, input_shape, self._dtype)

    def check_input_shape(self, input_shape):
        # A subclassed model's sublayers check their own inputs when called.
        return None

    def _output_shapes(self, x):
        """The output shapes (a list, one per output) for validated inputs ``x``."""
        if self._graph is not None:
            return [t.shape for t in self._graph["out_list"]]
        key = tuple(tuple(a.shape[1:]) for a in flatten(x))
        cached = self._out_cache.get(key)
        if cached is not None:
            return cached
        sample = map_structure(lambda a: a[:1], x)
        with stop_recording_all(), deferred_state_updates():
            out = self(sample, training=False)
        outs = flatten(out) if _is_structure(out) else [out]
        shapes = [(None,) + tuple(o.shape[1:]) for o in outs]
        self.output_shape = shapes[0] if len(shapes) == 1 else shapes
        self._out_cache[key] = shapes
        return shapes

    def _output_names(self, n):
        if self._graph is not None and isinstance(self._graph["outputs"], dict):
            return list(self._graph["outputs"])
        if self._graph is not None:
            names = [t._node.layer.name for t in self._graph["out_list"]]
            if len(set(names)) == len(names):
                return names
        return [f"output_{i + 1}" for i in range(n)]

    # -- structure ---------------------------------------------------------------
    @property
    def layers(self):
        if self._graph is not None:
            return list(self._graph_layers)
        return self._direct_sublayers()

    def get_layer(self, name=None, index=None):
        layers = self.layers
        if index is not None:
            if not _is_int(index):
                raise TypeError(f"get_layer: index must be an int, got {index!r}")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range for a model with {len(layers)} layers")
            return layers[index]
        if name is None:
            raise ValueError("get_layer: give a layer name or an index")
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers: {[l.name for l in layers]}")

    def _require_built(self, fn):
        if not self.built:
            raise ValueError(
                f"{fn}: the model has not been built yet, so it has no weights. Train it with fit() first, "
                "or build it explicitly: model.build((None, n_features)), an Input(shape=...) first layer, "
                "or call it on a batch, model(x)")

    # -- summary -------------------------------------------------------------
    def _summary_rows(self):
        rows = []
        for layer in self.layers:
            shape = getattr(layer, "output_shape", None) or layer._out_shape
            if isinstance(layer, InputLayer):
                shape = layer._input_shape_arg
            shape_s = "?" if shape is None else _fmt_shape(list(shape) if isinstance(shape, list) else shape)
            rows.append((f" {layer.name} ({type(layer).__name__})", shape_s, f"{layer.count_params():,}"))
        return rows

    def summary(self, print_fn=print, line_length=72):
        """Print the layers, their output shapes and parameter counts."""
        if not self.built:
            raise ValueError(f"summary: the model {self.name!r} has not been built yet; call build(), fit() or "
                             "model(x) first, or start it with Input(shape=...)")
        rows = self._summary_rows()
        w0 = max([len(" Layer (type)")] + [len(r[0]) for r in rows]) + 3
        w1 = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 3
        line_length = max(line_length, w0 + w1 + 10)
        lines = [f'Model: "{self.name}"', "_" * line_length,
                 " Layer (type)".ljust(w0) + "Output Shape".ljust(w1) + "Param #", "=" * line_length]
        lines += [a.ljust(w0) + b.ljust(w1) + c for a, b, c in rows]
        total = self.count_params()
        trainable = sum(v.data.size for v in self.trainable_variables)
        lines += ["=" * line_length, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {total - trainable:,}", "_" * line_length]
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    # -- compile -------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Choose the optimizer (name or instance; Keras' default ``'rmsprop'``), the loss (name,
        instance or function; a list/dict for several outputs), ``loss_weights`` and metrics.

        ``run_eagerly``, ``jit_compile`` and ``auto_scale_loss`` are accepted for
        compatibility (everything runs eagerly); ``steps_per_execution`` must be a positive
        int and does not change results.  ``weighted_metrics`` are metrics that also receive
        the sample weights."""
        from .. import optimizers as _optimizers
        _check_int(steps_per_execution, "compile", "steps_per_execution", 1)
        self.optimizer = _optimizers.get(optimizer)
        if loss is None:
            self.loss = None
        elif isinstance(loss, (list, tuple)):
            if not loss:
                raise ValueError("compile: loss is an empty list")
            self.loss = [_losses.get(l) for l in loss]
        elif isinstance(loss, dict):
            self.loss = {k: _losses.get(l) for k, l in loss.items()}
        else:
            self.loss = _losses.get(loss)
        if loss_weights is not None:
            if not isinstance(loss_weights, (list, tuple, dict)):
                raise TypeError(f"compile: loss_weights must be a list or a dict, got {type(loss_weights).__name__}")
            vals = loss_weights.values() if isinstance(loss_weights, dict) else loss_weights
            for w in vals:
                if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) \
                        or not np.isfinite(w):
                    raise ValueError(f"compile: loss_weights must be finite numbers, got {loss_weights!r}")
        self._loss_weights = loss_weights
        self._loss_list = None
        self._single_loss = None
        first_loss = self.loss[0] if isinstance(self.loss, list) else (
            next(iter(self.loss.values())) if isinstance(self.loss, dict) and self.loss else self.loss)
        specs, weighted = [], []
        per_output = None
        if isinstance(metrics, dict):      # {output name: [metrics]} for a model with several outputs
            per_output = {}
            for k, v in metrics.items():
                v = [v] if isinstance(v, (str, _metrics.Metric)) else v
                if not isinstance(v, (list, tuple)):
                    raise TypeError(f"compile: metrics[{k!r}] must be a list of metric names or Metric "
                                    f"instances, got {v!r}")
                per_output[k] = list(v)
            metrics = None
        for arg, dest, nm in ((metrics, specs, "metrics"), (weighted_metrics, weighted, "weighted_metrics")):
            if arg is None:
                continue
            if isinstance(arg, (str, _metrics.Metric)):
                arg = [arg]
            if not isinstance(arg, (list, tuple)):
                raise TypeError(f"compile: {nm} must be a list of metric names or Metric instances, got {arg!r}")
            dest.extend(arg)
        resolved = [_metrics.resolve(m, first_loss) for m in specs]
        resolved_w = [_metrics.resolve(m, first_loss) for m in weighted]
        for m in (per_output or {}).values():
            for spec in m:
                _metrics.resolve(copy.deepcopy(spec), first_loss)     # unknown names fail here
        self._metric_args = (specs, weighted, per_output)
        self._metrics = resolved + resolved_w
        self._metric_weighted = [False] * len(resolved) + [True] * len(resolved_w)
        self._metric_out = [0] * len(self._metrics)
        self._metrics_for_outputs = 1
        names = [m.name for m in self._metrics]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"compile: metric names must be unique and not 'loss', got {names}")
        self._metric_specs = [_metrics.serialize(m) for m in specs]
        self._metric_sw = [_metric_takes_sample_weight(m) for m in self._metrics]
        self.compiled = True
        self.compiled_loss = CompiledLoss(self)
        self.compiled_metrics = CompiledMetrics(self)

    @property
    def metrics(self):
        """The loss tracker, then the compiled metrics (``fit`` resets them every epoch)."""
        return [self._loss_tracker] + list(self._metrics)

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def _require_compiled(self, fn, need_loss=True):
        if self.optimizer is None:
            raise RuntimeError(f"{fn}: compile the model first, e.g. model.compile(optimizer='adam', "
                               "loss=SparseCategoricalCrossentropy(from_logits=True))")
        if need_loss and self.loss is None:
            raise ValueError(f"{fn}: the model was compiled without a loss; pass loss= to compile()")

    def _resolve_losses(self, n_out):
        """One loss (and weight, and sample_weight support flag) per output."""
        if self._loss_list is not None and len(self._loss_list) == n_out:
            return self._loss_list
        loss = self.loss
        names = self._output_names(n_out)
        if isinstance(loss, list):
            if len(loss) != n_out:
                raise ValueError(f"compile: {len(loss)} losses were given for a model with {n_out} output(s)")
            per = list(loss)
        elif isinstance(loss, dict):
            unknown = [k for k in loss if k not in names]
            if unknown:
                raise ValueError(f"compile: loss names {unknown} are not outputs of the model (outputs: {names})")
            per = [loss.get(k) for k in names]
        else:
            per = [loss] * n_out
        lw = self._loss_weights
        if lw is None:
            weights = [1.0] * n_out
        elif isinstance(lw, dict):
            unknown = [k for k in lw if k not in names]
            if unknown:
                raise ValueError(f"compile: loss_weights names {unknown} are not outputs (outputs: {names})")
            weights = [float(lw.get(k, 1.0)) for k in names]
        else:
            if len(lw) != n_out:
                raise ValueError(f"compile: {len(lw)} loss_weights were given for a model with {n_out} output(s)")
            weights = [float(w) for w in lw]
        self._loss_list = [(l, w, _takes_sample_weight(l) if l is not None else False)
                           for l, w in zip(per, weights)]
        if n_out == 1 and per[0] is not None and weights[0] == 1.0:
            self._single_loss = (per[0], self._loss_list[0][2])
        if (n_out > 1 or self._metric_args[2]) and self._metrics_for_outputs != (n_out, tuple(names)):
            self._expand_metrics(n_out, names, per)
        return self._loss_list

    def _expand_metrics(self, n_out, names, per_losses):
        """One copy of each compiled metric per output, named ``<output>_<metric>`` (as Keras)."""
        specs, weighted, per_output = self._metric_args
        if per_output is not None:
            unknown = [k for k in per_output if k not in names]
            if unknown:
                raise ValueError(f"compile: metrics names {unknown} are not outputs of the model (outputs: {names})")
        ms, w, outs = [], [], []
        for i in range(n_out):
            lists = ((specs, False), (weighted, True)) if per_output is None else \
                ((per_output.get(names[i], []), False), (weighted, True))
            for spec_list, is_w in lists:
                for spec in spec_list:
                    m = _metrics.resolve(copy.deepcopy(spec), per_losses[i])
                    if n_out > 1:
                        m.name = f"{names[i]}_{m.name}"
                    ms.append(m)
                    w.append(is_w)
                    outs.append(i)
        mnames = [m.name for m in ms]
        if len(set(mnames)) != len(mnames):
            raise ValueError(f"compile: metric names must be unique, got {mnames}")
        self._metrics, self._metric_weighted, self._metric_out = ms, w, outs
        self._metric_sw = [_metric_takes_sample_weight(m) for m in ms]
        self._metrics_for_outputs = (n_out, tuple(names))

    # -- the loss and metrics of one step ------------------------------------
    def _compiled_loss_value(self, y, y_pred, sample_weight):
        outs = flatten(y_pred) if _is_structure(y_pred) else [y_pred]
        if len(outs) == 1:
            ys = [y]
        elif isinstance(y, dict):
            ys = [y[k] for k in self._output_names(len(outs))]
        else:
            ys = list(y) if isinstance(y, (list, tuple)) else [y]
            if len(ys) != len(outs):
                raise ValueError(f"the model has {len(outs)} outputs but {len(ys)} targets were given")
        total = None
        for (loss, w, sw_ok), yt, yp in zip(self._resolve_losses(len(outs)), ys, outs):
            if loss is None:
                continue
            value = _weighted_loss(loss, sw_ok, yt, yp, sample_weight)
            if w != 1.0:
                value = value * w
            total = value if total is None else total + value
        if total is None:
            raise ValueError("the compiled losses cover none of the model's outputs")
        return total

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss (with ``sample_weight``) plus every loss in ``model.losses``
        (``add_loss`` terms and weight regularizers), as Keras."""
        single = self._single_loss
        if single is not None and type(y_pred) is Tensor:
            loss, sw_ok = single
            total = loss(y, y_pred) if sample_weight is None else _weighted_loss(loss, sw_ok, y, y_pred,
                                                                                 sample_weight)
        else:
            total = self._compiled_loss_value(y, y_pred, sample_weight)
        static = self._step_static_losses
        if static is None:
            extra = self.losses
        else:
            # During fit: the layers with weight regularizers / callable losses (found once), and
            # the layers that called add_loss in this forward pass.
            extra = []
            for layer in static:
                extra.extend(fn() for fn in layer._callable_losses)
                extra.extend(reg(v) for v, reg in layer._weight_regularizers)
            dirty = _call_losses()
            if dirty:
                ids = self._step_layer_ids
                for layer in dirty:
                    if id(layer) in ids:
                        extra.extend(layer._losses)
        for term in extra:
            total = total + term
        return total

    def _update_compiled_metrics(self, y, y_pred, sample_weight):
        if not self._metrics:
            return
        outs = flatten(y_pred) if _is_structure(y_pred) else [y_pred]
        outs = [o.data if isinstance(o, Tensor) else o for o in outs]
        if len(outs) == 1:
            ys = [y]
        elif isinstance(y, dict):
            ys = [y[k] for k in self._output_names(len(outs))]
        else:
            ys = list(y)
        if self._metrics_for_outputs != 1 and self._metrics_for_outputs[0] != len(outs):
            raise ValueError(f"the compiled metrics were set up for {self._metrics_for_outputs[0]} outputs, "
                             f"the model returned {len(outs)}")
        for m, weighted, sw_ok, i in zip(self._metrics, self._metric_weighted, self._metric_sw, self._metric_out):
            if sample_weight is not None and sw_ok and weighted:
                m.update_state(ys[i], outs[i], sample_weight=sample_weight)
            else:
                m.update_state(ys[i], outs[i])

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics and return every metric's result (a dict), as Keras."""
        self._update_compiled_metrics(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        return {m.name: m.result() for m in self.metrics}

    # -- the one training step -------------------------------------------------
    def train_step(self, data):
        """One optimisation step on ``data`` = ``(x, y)`` or ``(x, y, sample_weight)``; returns the
        metrics (a dict).  Override it to customise training, as in Keras: ``fit`` and
        ``train_on_batch`` call it."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        return self._default_train_step(x, y, sample_weight)

    def _default_train_step(self, x, y, sample_weight=None, logs=True):
        # The body of the default train_step (fit calls it directly when train_step is not overridden;
        # with logs=False when nothing reads per-batch logs: the metrics are then read at the epoch end).
        tvars = self._step_tvars
        if tvars is None:
            tvars = self.trainable_variables
        forward = self._step_forward
        with GradientTape() as tape:
            if forward is not None:
                # _call_scope(True), written out: this runs once per batch
                st = _STATE
                depth, prev = st.depth, st.training
                if depth == 0 and st.loss_layers:
                    _clear_call_losses()
                st.training, st.depth = True, depth + 1
                try:
                    y_pred = forward(x, True)
                finally:
                    st.training, st.depth = prev, depth
            else:
                y_pred = self(x, training=True)
            plain = self._step_plain_loss
            if (plain is not None and sample_weight is None and not _STATE.loss_layers
                    and type(y_pred) is Tensor):
                loss = plain(y, y_pred)
            else:
                loss = self.compute_loss(x, y, y_pred, sample_weight)
        grads = tape.gradient(loss, tvars)
        self.optimizer.apply_gradients(zip(grads, tvars))
        n = len(x) if type(x) is Tensor else len(flatten(x)[0])
        self._loss_tracker.update_state(float(loss.data), n)
        if logs:
            return self.compute_metrics(x, y, y_pred, sample_weight)
        if self._metrics:
            self._update_compiled_metrics(y, y_pred, sample_weight)
        return None

    def test_step(self, data):
        """One evaluation step (no tape, ``training=False``); returns the metrics."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        forward = self._step_forward
        if forward is not None:
            with _call_scope(False):
                y_pred = forward(x, False)
        else:
            y_pred = self(x, training=False)
        loss = self.compute_loss(x, y, y_pred, sample_weight, training=False)
        first = flatten(x)[0] if _is_structure(x) else x
        self._loss_tracker.update_state(float(loss.data), len(first))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        forward = self._step_forward
        if forward is not None:
            with _call_scope(False):
                return forward(x, False)
        return self(x, training=False)

    def _atomic_train_step(self, data):
        """``train_step`` with the layers' state updates committed only if it returns."""
        with deferred_state_updates() as pending:
            logs = self.train_step(data)
            pending.commit()
        return logs

    # -- data ------------------------------------------------------------------
    def _input_dtype(self):
        return self._dtype

    def _prepare_inputs(self, x, fn, where="x"):
        dt = self._input_dtype()
        if isinstance(x, dict):
            x = {k: _prepare_x(v, fn, f"{where}[{k!r}]", dt) for k, v in x.items()}
        elif isinstance(x, (list, tuple)) and _is_structure(x):
            x = [_prepare_x(v, fn, f"{where}[{i}]", dt) for i, v in enumerate(x)]
        else:
            x = _prepare_x(x, fn, where, dt)
        lengths = {len(a) for a in flatten(x)}
        if len(lengths) != 1:
            raise ValueError(f"{fn}: the inputs in {where} have different numbers of samples: {sorted(lengths)}")
        return x

    def _check_model_input(self, x, fn):
        """Build the model for ``x`` or check that ``x`` fits it."""
        shapes = [a.shape for a in flatten(x)]
        if self._graph is not None:
            in_list = self._graph["in_list"]
            if len(shapes) != len(in_list):
                raise ValueError(f"{fn}: the model expects {len(in_list)} input(s), got {len(shapes)}")
            for t, s in zip(in_list, shapes):
                if len(s) != len(t.shape) or any(a is not None and a != b for a, b in zip(t.shape[1:], s[1:])):
                    raise ValueError(f"{fn}: input {t.name!r} expects shape {_fmt_shape(t.shape)} "
                                     f"(None: any size), got data of shape {s}")
        elif not self.built and not isinstance(self, Sequential):
            self.build([(None,) + tuple(s[1:]) for s in shapes] if len(shapes) > 1 else (None,) + shapes[0][1:])

    def _prepare_targets(self, y, out_shapes, fn, yname, n):
        if y is None:
            raise ValueError(f"{fn}: {yname} (the targets) is required")
        losses = self._resolve_losses(len(out_shapes))
        if len(out_shapes) == 1:
            ys = [y]
        elif isinstance(y, dict):
            names = self._output_names(len(out_shapes))
            missing = [k for k in names if k not in y]
            if missing:
                raise ValueError(f"{fn}: {yname} has no targets for outputs {missing}")
            ys = [y[k] for k in names]
        else:
            if not isinstance(y, (list, tuple)) or len(y) != len(out_shapes):
                raise ValueError(f"{fn}: the model has {len(out_shapes)} outputs: give {yname} as a list of "
                                 f"{len(out_shapes)} arrays")
            ys = list(y)
        out = []
        for i, (yi, shape, (loss, _, _)) in enumerate(zip(ys, out_shapes, losses)):
            where = yname if len(ys) == 1 else f"{yname}[{i}]"
            if yi is None:
                raise ValueError(f"{fn}: {where} (the targets) is required")
            if _length(yi) != n:
                raise ValueError(f"{fn}: x and {where} have different lengths: x has {n} samples, "
                                 f"{where} has {_length(yi)}")
            yi = yi.data if isinstance(yi, Tensor) else yi
            if loss is not None and hasattr(loss, "prepare_targets"):
                yi = loss.prepare_targets(yi, shape, where)
            else:
                yi = np.asarray(yi)
            out.append(yi)
        if len(out_shapes) == 1:
            return out[0]
        if isinstance(y, dict):
            return dict(zip(self._output_names(len(out)), out))
        return out

    def _prepare_xy(self, x, y, fn, xname="x", yname="y", sample_weight=None, require_y=True):
        x = self._prepare_inputs(x, fn, xname)
        n = len(flatten(x)[0])
        if y is None and require_y:
            raise ValueError(f"{fn}: {yname} (the targets) is required")
        self._check_model_input(x, fn)
        if y is None:
            return x, None, _prepare_sample_weight(sample_weight, n, fn)
        out_shapes = self._model_output_shapes(x)
        y = self._prepare_targets(y, out_shapes, fn, yname, n)
        sw = _prepare_sample_weight(sample_weight, n, fn)
        return x, y, sw

    def _model_output_shapes(self, x):
        return self._output_shapes(x)

    def _fast_forward(self):
        """A forward pass for inputs already validated against the model (None: use ``self(x)``)."""
        return None

    # -- batches -------------------------------------------------------------
    def _array_batches(self, x, y, sw, batch_size, shuffle, rng, class_table, fn):
        n = len(flatten(x)[0])
        if shuffle:
            perm = rng.permutation(n)
            xs = map_structure(lambda a: a[perm], x)
            ys = map_structure(lambda a: a[perm], y) if y is not None else None
            sws = sw[perm] if sw is not None else None
        else:
            xs, ys, sws = x, y, sw
        single = not isinstance(xs, (dict, list))
        for s in range(0, n, batch_size):
            e = s + batch_size
            xb = wrap(xs[s:e]) if single else map_structure(lambda a: wrap(a[s:e]), xs)
            if ys is None:
                yield (xb,)
                continue
            yb = ys[s:e] if isinstance(ys, np.ndarray) else map_structure(lambda a: a[s:e], ys)
            swb = sws[s:e] if sws is not None else None
            if class_table is not None:
                cw = _class_weights_for(class_table, yb, fn)
                swb = cw if swb is None else swb * cw
            yield (xb, yb) if swb is None else (xb, yb, swb)

    def _checked_batches(self, source, fn, class_table, need_y=True, where="x"):
        """Batches from a Dataset or generator, each validated (and converted) before its step."""
        for i, data in enumerate(source):
            xb, yb, swb = unpack_x_y_sample_weight(data)
            xb = self._prepare_inputs(xb, fn, f"{where} (batch {i})")
            n = len(flatten(xb)[0])
            try:
                self._check_model_input(xb, fn)
            except ValueError as e:
                raise ValueError(f"{fn}: batch {i} of the input does not fit the model: {e}") from e
            if need_y:
                if yb is None:
                    raise ValueError(f"{fn}: the batches must be (x, y) or (x, y, sample_weight) tuples; "
                                     f"batch {i} has no targets")
                yb = self._prepare_targets(yb, self._model_output_shapes(xb), fn, f"y (batch {i})", n)
                swb = _prepare_sample_weight(swb, n, fn, f"sample_weight (batch {i})")
                if class_table is not None:
                    cw = _class_weights_for(class_table, yb, fn)
                    swb = cw if swb is None else swb * cw
            xw = wrap(xb) if isinstance(xb, np.ndarray) else map_structure(wrap, xb)
            if not need_y:
                yield (xw,)
            else:
                yield (xw, yb) if swb is None else (xw, yb, swb)

    # -- training ------------------------------------------------------------
    @_memory_scope
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1, seed=None):
        """Train for ``epochs - initial_epoch`` epochs; returns a :class:`History`.

        ``x``: arrays (with ``y``), a ``tinygrad_bn.data.Dataset`` or a generator yielding
        ``(x, y)`` / ``(x, y, sample_weight)`` batches.  ``validation_split`` holds out the
        *last* fraction of array data (before shuffling, as Keras); ``validation_data`` is
        ``(x_val, y_val)``, ``(x_val, y_val, sample_weight_val)`` or a Dataset, evaluated
        every ``validation_freq`` epochs.  ``class_weight={class: weight}`` multiplies each
        sample's weight by its class's.  ``verbose``: 1 (or 'auto') progress bar, 2 one line
        per epoch, 0 silent.  ``seed`` reseeds the shuffling generator.
        """
        fn = "fit"
        custom_step = type(self).train_step is not Model.train_step
        self._require_compiled(fn, need_loss=not custom_step)
        kind = _kind(x)
        batch_size = _check_int(batch_size, fn, "batch_size", 1, allow_none=True)
        epochs = _check_int(epochs, fn, "epochs", 0)
        initial_epoch = _check_int(initial_epoch, fn, "initial_epoch", 0)
        if initial_epoch > epochs:
            raise ValueError(f"fit: initial_epoch ({initial_epoch}) must be <= epochs ({epochs})")
        verbose = _check_verbose(verbose, fn)
        steps_per_epoch = _check_int(steps_per_epoch, fn, "steps_per_epoch", 1, allow_none=True)
        validation_steps = _check_int(validation_steps, fn, "validation_steps", 1, allow_none=True)
        validation_batch_size = _check_int(validation_batch_size, fn, "validation_batch_size", 1, allow_none=True)
        validation_freq = _check_int(validation_freq, fn, "validation_freq", 1)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"fit: shuffle must be True or False, got {shuffle!r}")
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.floating,
                                                                                   np.integer)):
            raise TypeError(f"fit: validation_split must be a float in [0, 1), got {validation_split!r}")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        callbacks = _check_callbacks(callbacks, fn)
        class_table = _check_class_weight(class_weight, fn)
        if seed is not None:
            self._rng = np.random.default_rng(_check_int(seed, fn, "seed", 0))
        elif self._rng is None:
            self._rng = derive_rng()

        val = None
        if kind == "arrays":
            bs = 32 if batch_size is None else batch_size
            x, y, sw = self._prepare_xy(x, y, fn, sample_weight=sample_weight, require_y=not custom_step)
            if validation_data is None and validation_split:
                n = len(flatten(x)[0])
                split = int(n * (1.0 - validation_split))
                if split < 1 or split == n:
                    raise ValueError(f"fit: validation_split={validation_split} leaves no training or no "
                                     f"validation samples out of {n}")
                if y is None:
                    raise ValueError("fit: validation_split needs targets y")
                val = ("arrays", map_structure(lambda a: a[split:], x), map_structure(lambda a: a[split:], y),
                       None if sw is None else sw[split:])
                x, y = map_structure(lambda a: a[:split], x), map_structure(lambda a: a[:split], y)
                sw = None if sw is None else sw[:split]
            n = len(flatten(x)[0])
            steps = -(-n // bs) if steps_per_epoch is None else steps_per_epoch
            if class_table is not None and isinstance(y, (list, dict)):
                raise ValueError("fit: class_weight is supported for single-output models only")
        else:
            if y is not None:
                what = "Dataset" if kind == "dataset" else "generator"
                raise ValueError(f"fit: y must not be given when x is a {what} (it yields the targets)")
            if sample_weight is not None:
                raise ValueError("fit: sample_weight must not be given with a Dataset or generator input "
                                 "(yield (x, y, sample_weight) batches instead)")
            if batch_size is not None:
                raise ValueError("fit: batch_size must not be given with a Dataset or generator input "
                                 "(the data is already batched)")
            if validation_split:
                raise ValueError("fit: validation_split is only supported for array inputs; "
                                 "pass validation_data instead")
            if kind == "iterator" and steps_per_epoch is None and epochs - initial_epoch > 1:
                warnings.warn("fit: a generator without steps_per_epoch is consumed by the first epoch; "
                              "later epochs have no data", stacklevel=3)
            bs = None
            steps = steps_per_epoch
            if steps is None and kind == "dataset":
                card = getattr(x, "cardinality", None)
                c = card() if callable(card) else None
                try:
                    c = int(c.numpy() if hasattr(c, "numpy") else c) if c is not None else None
                except (TypeError, ValueError):
                    c = None
                steps = c if c is not None and c >= 0 else None
        if validation_data is not None:
            val = self._prepare_validation(validation_data, fn)

        self._begin_steps(kind)
        if not self._step_tvars and self.built and type(self).train_step is Model.train_step:
            self._end_steps()
            raise ValueError("fit: the model has no trainable variables (all layers frozen?)")
        try:
            self._warn_softmax_with_logits()
            history = History()
            cbs = _callbacks.CallbackList(list(callbacks) + [history], self,
                                          {"epochs": epochs, "steps": steps, "verbose": verbose,
                                           "batch_size": bs, "samples": None if kind != "arrays" else n})
        except BaseException:
            self._end_steps()
            raise
        self.history = history
        self.stop_training = False
        batch_begin, batch_end = cbs.batch_begin, cbs.batch_end
        st = _STATE
        fast_step = not custom_step
        step = self._default_train_step if fast_step else self.train_step
        rng = self._rng
        persistent = None         # with steps_per_epoch: one iterator across epochs (as Keras)
        ran_out = False
        try:
            cbs.on_train_begin({})
            # As Keras 3: a callback (BackupAndRestore) may set the epoch to resume at.
            resume = getattr(self, "_initial_epoch", None)
            if resume is not None:
                initial_epoch = _check_int(resume, fn, "the resumed initial epoch", 0)
            rng = self._rng            # (after on_train_begin: a restored state replaces the generator)
            for epoch in range(initial_epoch, epochs):
                if self.stop_training or ran_out:
                    break
                for m in self.metrics:
                    m.reset_state()
                cbs.on_epoch_begin(epoch, {})
                if steps_per_epoch is not None:
                    if persistent is None:
                        persistent = iter(self._epoch_source(kind, x, y, sw if kind == "arrays" else None, bs,
                                                             shuffle, rng, class_table, fn))
                    source, limit = persistent, steps_per_epoch
                else:
                    source, limit = iter(self._epoch_source(kind, x, y, sw if kind == "arrays" else None, bs,
                                                            shuffle, rng, class_table, fn)), None
                logs = {}
                bar = EpochProgress(epoch, epochs, steps, verbose)
                want_logs = bool(batch_end)
                b = 0
                while limit is None or b < limit:
                    try:
                        data = next(source)
                    except StopIteration:
                        if limit is not None or b == 0:
                            ran_out = True
                            persistent = None
                            warnings.warn("fit: your input ran out of data; interrupting training. Make sure "
                                          "that your dataset or generator can generate at least "
                                          "steps_per_epoch * epochs batches (Dataset.repeat()).", stacklevel=3)
                        break
                    if batch_begin:
                        for cb in batch_begin:
                            cb.on_train_batch_begin(b, {})
                    # deferred_state_updates(), written out: this runs once per batch
                    outer = st.pending
                    pending = st.pending = PendingStateUpdates(outer)
                    try:
                        if fast_step:
                            logs = step(*data, logs=want_logs)
                        else:
                            logs = self._logs_to_floats(step(data))
                        pending.commit()
                    finally:
                        st.pending = outer
                    b += 1
                    if bar.bar is not None:
                        bar.update(b, lambda: logs if logs is not None else self.get_metrics_result())
                    if batch_end:
                        for cb in batch_end:
                            cb.on_train_batch_end(b - 1, dict(logs))
                    if self.stop_training:
                        break
                bar.done = b
                if b == 0:
                    bar.close({})
                    break
                logs = dict(logs) if logs is not None else self.get_metrics_result()
                if val is not None and (epoch + 1) % validation_freq == 0:
                    cbs.on_test_begin({})
                    vlogs = self._evaluate_source(val, validation_batch_size or bs or 32, validation_steps, fn,
                                                  cbs, "x_val")
                    cbs.on_test_end(vlogs)
                    for k, v in vlogs.items():
                        logs["val_" + k] = v
                cbs.on_epoch_end(epoch, logs)
                bar.close(logs)
            finalize = getattr(self.optimizer, "finalize_variable_values", None)
            if finalize is not None:        # Keras 3: EMA weights replace the trained ones (use_ema)
                finalize(self.trainable_variables)
            cbs.on_train_end({})
        finally:
            self._end_steps()
        return history

    @staticmethod
    def _logs_to_floats(logs):
        if logs is None:
            return {}
        if not isinstance(logs, dict):
            raise TypeError(f"train_step must return a dict of metric values, got {type(logs).__name__}")
        out = {}
        for k, v in logs.items():
            if isinstance(v, Tensor):
                v = v.data
            if isinstance(v, np.ndarray) and v.size == 1:
                v = float(v)
            elif isinstance(v, (np.floating, np.integer)):
                v = float(v)
            out[k] = v
        return out

    def _begin_steps(self, kind):
        if not self.built:     # built by the first batch (a Dataset or generator): the general path
            self._end_steps()
            return
        layers = self._flatten_layers()
        self._step_tvars = self._collect(True, layers)
        self._step_layer_ids = {id(l) for l in layers}
        self._step_static_losses = [l for l in layers if l._callable_losses or l._weight_regularizers]
        self._step_forward = self._fast_forward() if kind == "arrays" else None
        # The compiled loss alone (no regularizers, compute_loss not overridden): called directly.
        self._step_plain_loss = None
        if type(self).compute_loss is Model.compute_loss and not self._step_static_losses \
                and self.loss is not None and not isinstance(self.loss, (list, dict)):
            if self._graph is None or len(self._graph["out_list"]) == 1:
                self._resolve_losses(1)
            if self._single_loss is not None:
                self._step_plain_loss = self._single_loss[0]

    def _end_steps(self):
        self._step_tvars = self._step_layer_ids = self._step_static_losses = self._step_forward = None
        self._step_plain_loss = None

    def _epoch_source(self, kind, x, y, sw, bs, shuffle, rng, class_table, fn):
        if kind == "arrays":
            return self._array_batches(x, y, sw, bs, shuffle, rng, class_table, fn)
        return self._checked_batches(x, fn, class_table)

    def _prepare_validation(self, validation_data, fn):
        kind = _kind(validation_data)
        if kind != "arrays":
            return (kind, validation_data)
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be a tuple (x_val, y_val), (x_val, y_val, "
                             "sample_weight_val) or a Dataset")
        vx, vy = validation_data[0], validation_data[1]
        vsw = validation_data[2] if len(validation_data) == 3 else None
        vx, vy, vsw = self._prepare_xy(vx, vy, fn, "x_val", "y_val", sample_weight=vsw)
        return ("arrays", vx, vy, vsw)

    def _evaluate_source(self, val, batch_size, steps, fn, cbs=None, where="x"):
        for m in self.metrics:
            m.reset_state()
        kind = val[0]
        if kind == "arrays":
            source = self._array_batches(val[1], val[2], val[3], batch_size, False, None, None, fn)
        else:
            source = self._checked_batches(val[1], fn, None, where=where)
        custom = type(self).test_step is not Model.test_step
        logs = {}
        with stop_recording_all():
            for i, data in enumerate(source):
                if steps is not None and i >= steps:
                    break
                if cbs is not None:
                    cbs.on_test_batch_begin(i, {})
                logs = self.test_step(data)
                if custom:
                    logs = self._logs_to_floats(logs)
                if cbs is not None:
                    cbs.on_test_batch_end(i, dict(logs))
        return dict(logs)

    def _warn_softmax_with_logits(self):
        layers = self.layers
        last = layers[-1] if layers else None
        loss = self.loss
        if last is None or isinstance(loss, (list, dict)) or not getattr(loss, "from_logits", False):
            return
        act = getattr(last, "_activation_id", None)
        from .layers import Softmax
        if act == "softmax" or isinstance(last, Softmax):
            warnings.warn(f"{type(loss).__name__}(from_logits=True) receives the output of a softmax "
                          f"(layer {last.name!r}): the loss will apply softmax a second time. Use a linear "
                          "last layer, or from_logits=False.", stacklevel=4)

    @_memory_scope
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch (the same step as ``fit``); returns the loss (and
        the metrics as a list when compiled with some, or a dict with ``return_dict=True``)."""
        fn = "train_on_batch"
        self._require_compiled(fn, need_loss=type(self).train_step is Model.train_step)
        class_table = _check_class_weight(class_weight, fn)
        x, y, sw = self._prepare_xy(x, y, fn, sample_weight=sample_weight)
        if class_table is not None:
            cw = _class_weights_for(class_table, y, fn)
            sw = cw if sw is None else sw * cw
        for m in self.metrics:
            m.reset_state()
        self._begin_steps("arrays")
        try:
            xb = wrap(x) if isinstance(x, np.ndarray) else map_structure(wrap, x)
            logs = self._logs_to_floats(self._atomic_train_step(pack_x_y_sample_weight(xb, y, sw)))
        finally:
            self._end_steps()
        return self._format_result(logs, return_dict)

    def _format_result(self, logs, return_dict):
        if return_dict:
            return logs
        if len(logs) == 1:
            return next(iter(logs.values()))
        return list(logs.values())

    # -- inference -------------------------------------------------------------
    @_memory_scope
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss (and metrics) in inference mode: a float without metrics, else ``[loss, *metrics]``
        (a dict with ``return_dict=True``).  The loss is the (weighted) mean over all samples."""
        fn = "evaluate"
        self._require_compiled(fn, need_loss=type(self).test_step is Model.test_step)
        batch_size = _check_int(batch_size, fn, "batch_size", 1, allow_none=True)
        steps = _check_int(steps, fn, "steps", 1, allow_none=True)
        verbose = _check_verbose(verbose, fn)
        callbacks = _check_callbacks(callbacks, fn)
        kind = _kind(x)
        if kind == "arrays":
            if self._graph is None and not self.built and isinstance(self, Sequential):
                self._require_built(fn)
            x, y, sw = self._prepare_xy(x, y, fn, sample_weight=sample_weight)
            val = ("arrays", x, y, sw)
            bs = 32 if batch_size is None else batch_size
        else:
            if y is not None or sample_weight is not None or batch_size is not None:
                raise ValueError("evaluate: y, sample_weight and batch_size must not be given with a Dataset "
                                 "or generator input")
            val = (kind, x)
            bs = None
        cbs = _callbacks.CallbackList(callbacks, self, {"verbose": verbose, "steps": steps})
        t0 = time.perf_counter()
        cbs.on_test_begin({})
        self._begin_steps(kind)
        try:
            logs = self._evaluate_source(val, bs or 32, steps, fn, cbs)
        finally:
            self._end_steps()
        cbs.on_test_end(logs)
        if verbose:
            n_steps = -(-len(flatten(x)[0]) // bs) if kind == "arrays" else "?"
            print(f"{n_steps}/{n_steps} - {time.perf_counter() - t0:.2f}s - {format_logs(logs)}")
        return self._format_result(logs, return_dict)

    @_memory_scope
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs in inference mode (BN moving statistics, no dropout), as NumPy arrays,
        computed in batches of ``batch_size`` (default 32) with no tape."""
        fn = "predict"
        batch_size = _check_int(batch_size, fn, "batch_size", 1, allow_none=True)
        steps = _check_int(steps, fn, "steps", 1, allow_none=True)
        if verbose != "auto":
            _check_verbose(verbose, fn)
        callbacks = _check_callbacks(callbacks, fn)
        kind = _kind(x)
        if kind == "arrays":
            if not self.built and isinstance(self, Sequential):
                self._require_built(fn)
            x = self._prepare_inputs(x, fn)
            self._check_model_input(x, fn)
            if isinstance(self, Sequential):
                self._check_input_shape(x.shape)
            source = self._array_batches(x, None, None, 32 if batch_size is None else batch_size,
                                         False, None, None, fn)
        else:
            if batch_size is not None:
                raise ValueError("predict: batch_size must not be given with a Dataset or generator input")
            source = self._checked_batches(x, fn, None, need_y=False)
        cbs = _callbacks.CallbackList(callbacks, self, {"steps": steps})
        cbs.on_predict_begin({})
        outs = []
        self._begin_steps(kind)
        try:
            with stop_recording_all():
                for i, data in enumerate(source):
                    if steps is not None and i >= steps:
                        break
                    cbs.on_predict_batch_begin(i, {})
                    o = self.predict_step(data)
                    outs.append(map_structure(lambda t: t.data if isinstance(t, Tensor) else np.asarray(t), o))
                    cbs.on_predict_batch_end(i, {"outputs": outs[-1]})
        finally:
            self._end_steps()
        cbs.on_predict_end({})
        if not outs:
            raise ValueError("predict: the input yielded no batches")
        first = outs[0]
        if isinstance(first, np.ndarray):
            return np.concatenate(outs) if len(outs) > 1 else first
        if isinstance(first, dict):
            return {k: np.concatenate([o[k] for o in outs]) for k in first}
        return [np.concatenate([o[i] for o in outs]) for i in range(len(first))]

    @_memory_scope
    def predict_on_batch(self, x):
        n = len(flatten(self._prepare_inputs(x, "predict_on_batch"))[0])
        return self.predict(x, batch_size=n, verbose=0)

    @_memory_scope
    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch", need_loss=type(self).test_step is Model.test_step)
        x, y, sw = self._prepare_xy(x, y, "test_on_batch", sample_weight=sample_weight)
        self._begin_steps("arrays")
        try:
            logs = self._evaluate_source(("arrays", x, y, sw), len(flatten(x)[0]), None, "test_on_batch")
        finally:
            self._end_steps()
        return self._format_result(logs, return_dict)

    # -- saving ----------------------------------------------------------------
    def save_weights(self, filepath):
        """Write the weights to ``filepath`` (npz + JSON, atomic)."""
        from .saving import save_weights
        return save_weights(self, filepath)

    def load_weights(self, filepath):
        """Load weights written by :meth:`save_weights` or :meth:`save` (builds the model if needed)."""
        from .saving import load_weights
        return load_weights(self, filepath)

    def save(self, filepath):
        """Write architecture, weights, compile settings and optimizer state (Sequential models;
        for subclassed and functional models use :meth:`save_weights` and rebuild in code)."""
        if not isinstance(self, Sequential):
            raise NotImplementedError(
                f"save: saving the whole model (architecture included) is supported for Sequential models; "
                f"for the {'functional' if self._graph is not None else 'subclassed'} model {self.name!r} "
                "use model.save_weights(path) and rebuild the model in code before load_weights(path)")
        from .saving import save_model
        return save_model(self, filepath)

    def get_config(self):
        """For a functional model: the layers' configs and the graph (which node feeds which),
        enough for :meth:`from_config` to rebuild it; for a subclassed model only the name (as
        Keras, a subclass that takes constructor arguments must define its own get_config)."""
        if self._graph is None:
            return {"name": self.name, "trainable": self._trainable}
        from .layers import serialize
        g = self._graph
        in_pos = {id(t): i for i, t in enumerate(g["in_list"])}
        node_pos = {id(n): i for i, n in enumerate(g["nodes"])}

        def ref(t):
            if id(t) in in_pos:
                return ["input", in_pos[id(t)]]
            return ["node", node_pos[id(t._node)], t._index]

        def struct(x):
            if isinstance(x, KerasTensor):
                return {"ref": ref(x)}
            if isinstance(x, dict):
                return {"dict": {k: struct(v) for k, v in x.items()}}
            return {"list": [struct(v) for v in x]}

        layers = [l for l in self._graph_layers if not isinstance(l, InputLayer)]
        nodes = []
        for n in g["nodes"]:
            if any(not isinstance(v, (bool, int, float, str, type(None))) for v in n.kwargs.values()):
                raise TypeError(f"get_config: layer {n.layer.name!r} was called with arguments that cannot be "
                                f"serialized: {sorted(n.kwargs)}")
            nodes.append({"layer": n.layer.name, "args": struct(n.args), "kwargs": dict(n.kwargs)})
        return {"name": self.name, "trainable": self._trainable,
                "inputs": [serialize(t._node.layer) for t in g["in_list"]],
                "input_structure": struct(g["inputs"]) if not isinstance(g["inputs"], KerasTensor) else None,
                "layers": [serialize(l) for l in layers], "nodes": nodes,
                "outputs": struct(g["outputs"])}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild a functional model from :meth:`get_config` (new layers, new weights)."""
        if "nodes" not in config:
            return cls(name=config.get("name"), trainable=config.get("trainable", True))
        from .layers import deserialize
        try:
            inputs = [deserialize(c, custom_objects).output for c in config["inputs"]]
            layers = {}
            for c in config["layers"]:
                layer = deserialize(c, custom_objects)
                layers[layer.name] = layer
            outs = []

            def value(spec):
                if "ref" in spec:
                    r = spec["ref"]
                    if r[0] == "input":
                        return inputs[r[1]]
                    o = outs[r[1]]
                    return o if isinstance(o, KerasTensor) else o[r[2]]
                if "dict" in spec:
                    return {k: value(v) for k, v in spec["dict"].items()}
                return [value(v) for v in spec["list"]]

            for n in config["nodes"]:
                outs.append(layers[n["layer"]](value(n["args"]), **n.get("kwargs", {})))
            in_struct = config.get("input_structure")
            model_inputs = inputs[0] if in_struct is None else value(in_struct)
            return cls(model_inputs, value(config["outputs"]), name=config.get("name"),
                       trainable=config.get("trainable", True))
        except (KeyError, IndexError, TypeError) as e:
            raise ValueError(f"Model.from_config: the configuration is malformed ({type(e).__name__}: {e})") from None

    def __repr__(self):
        kind = "functional" if self._graph is not None else "subclassed"
        return f"<{type(self).__name__} {self.name!r} ({kind}) built={self.built}>"


# ---------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------

class Sequential(Model):
    """A linear stack of layers, like ``keras.Sequential``.

    ``Sequential([Dense(25, activation='relu'), Dense(10)])`` is built on its
    first input (or by ``Input(shape=...)`` as first element, ``build``, or a
    layer's ``input_shape=``).  ``model(x, training=False)`` is differentiable
    and can be used in your own ``GradientTape`` loop.

    Reproducibility: ``tinygrad_bn.utils.set_seed(s)`` before creating the
    model makes initial weights, dropout masks and shuffling identical run to
    run; ``fit(..., seed=s)`` reseeds only the shuffling.
    """

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        self._call_flags = []
        self._plan = []
        self.output_shape = None
        self._declared_input = None
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise TypeError(f"Sequential: layers must be a list of layers, got {type(layers).__name__}")
        for layer in layers or []:
            self.add(layer)

    # -- structure ------------------------------------------------------------
    @property
    def layers(self):
        return list(self._layers)

    def add(self, layer):
        """Append a layer (an ``Input(...)``/``InputLayer`` first fixes the input shape)."""
        if isinstance(layer, KerasTensor):
            src = layer._node.layer if layer._node is not None else None
            if not isinstance(src, InputLayer):
                raise TypeError("Sequential.add: a symbolic tensor can only be an Input(shape=...) "
                                "(use the functional API, Model(inputs, outputs), for graphs)")
            layer = src
        if isinstance(layer, InputLayer):
            if self._layers or self._declared_input is not None:
                raise ValueError("Sequential.add: an Input layer can only be the first layer")
            self._declared_input = layer._input_shape_arg
            self._dtype = layer._dtype
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer instance, got {type(layer).__name__}"
                            + (" (a class: did you forget the parentheses?)" if isinstance(layer, type) else ""))
        if layer is self:
            raise ValueError("Sequential.add: a model cannot contain itself")
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"Sequential.add: a layer named {layer.name!r} is already in the model; "
                             "layer names must be unique")
        if not self._layers and self._declared_input is None:
            self._dtype = layer._dtype
        self._layers.append(layer)
        if self.built or self._declared_input is not None:
            self.build(self._build_input_shape or self._declared_input)
        elif len(self._layers) == 1 and layer._input_shape_arg is not None:
            self.build(layer._input_shape_arg)
        return None

    def pop(self):
        """Remove the last layer."""
        if not self._layers:
            raise TypeError("Sequential.pop: there are no layers in the model")
        layer = self._layers.pop()
        if self.built and self._layers:
            self.build(self._build_input_shape)
        elif not self._layers:
            self.built = False
        return layer

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis first, may be None)."""
        if input_shape is None:
            input_shape = self._declared_input
            if input_shape is None:
                raise ValueError("Sequential.build: give the input shape, e.g. model.build((None, 64))")
        try:
            input_shape = tuple(input_shape)
        except TypeError:
            raise TypeError(f"Sequential.build: input_shape must be a tuple such as (None, 64), "
                            f"got {input_shape!r}") from None
        if len(input_shape) < 2:
            raise ValueError(f"Sequential.build: input_shape must include the batch axis, e.g. (None, 64); "
                             f"got {input_shape}")
        try:
            shape = (None,) + tuple(None if s is None else int(s) for s in input_shape[1:])
        except (TypeError, ValueError):
            raise TypeError(f"Sequential.build: input_shape must hold ints or None, got {input_shape!r}") from None
        full = shape
        for layer in self._layers:
            if not layer.built:
                layer._maybe_build(shape)
            if layer._knows_output_shape():
                shape = layer.check_input_shape(shape)
            else:
                shape = _probe_output_shape(layer, shape, layer._dtype)
            layer.output_shape = shape
        self._build_input_shape = full
        self.input_shape = full
        self.output_shape = shape
        self.built = bool(self._layers)
        self._call_flags = [l._call_has_training for l in self._layers]
        from .layers import fusion_plan
        self._plan = fusion_plan(self._layers)      # Dense -> BN -> ReLU runs fused in training

    def _check_input_shape(self, shape):
        shape = (None,) + tuple(shape[1:])
        for layer in self._layers:
            if not layer._knows_output_shape():
                return self.output_shape        # a custom layer checks its inputs when called
            shape = layer.check_input_shape(shape)
        return shape

    def check_input_shape(self, input_shape):
        return self._check_input_shape(input_shape)

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
            return self.output_shape
        return self._check_input_shape(input_shape)

    def _maybe_build(self, shape):
        if not self.built:
            if not self._layers:
                raise ValueError(f"Sequential {self.name!r}: the model has no layers")
            self.build(shape)

    # -- calling -------------------------------------------------------------
    def call(self, inputs, training=None):
        return self._forward(inputs, bool(training))

    def _forward(self, x, training):
        for step in self._plan:
            x = step.call(x, training) if step._call_has_training else step.call(x)
        return x

    def _fast_forward(self):
        return self._forward if self.built else None

    def _check_model_input(self, x, fn):
        if isinstance(x, (list, dict)):
            raise ValueError(f"{fn}: a Sequential model takes one input array, got {len(flatten(x))} inputs")
        if not self._layers:
            raise ValueError(f"{fn}: the Sequential model {self.name!r} has no layers")
        if not self.built:
            self.build((None,) + x.shape[1:])
        else:
            self._check_input_shape(x.shape)

    def _model_output_shapes(self, x):
        return [self.output_shape]

    def _output_names(self, n):
        return [self._layers[-1].name] if n == 1 and self._layers else super()._output_names(n)

    def count_params(self):
        return sum(layer.count_params() for layer in self._layers)

    def get_layer(self, name=None, index=None):
        return super().get_layer(name=name, index=index)

    def _summary_rows(self):
        return [(f" {layer.name} ({type(layer).__name__})", _fmt_shape(layer.output_shape),
                 f"{layer.count_params():,}") for layer in self._layers]

    def get_config(self):
        from .layers import serialize
        return {"name": self.name, "layers": [serialize(l) for l in self._layers]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .layers import deserialize
        return cls([deserialize(c, custom_objects) for c in config["layers"]], name=config.get("name"))

    def __repr__(self):
        return f"<Sequential {self.name!r} layers={[l.name for l in self._layers]} built={self.built}>"
