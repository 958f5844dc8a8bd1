"""The base ``Layer`` (weights, naming, building, calling, config), ``InputLayer`` and ``Input``.

Also here, because every layer needs them:

* attribute tracking (layers, containers of layers and variables assigned as
  attributes), ``add_loss``/``losses`` (recursing through tracked sublayers)
  and weight regularizers (``add_weight(..., regularizer=fn)``);
* the call context: a sublayer called with ``training=None`` inherits the
  flag of the enclosing call;
* the functional API's symbolic tensors (:class:`KerasTensor`, from
  :func:`Input`) and graph nodes: a layer called on symbolic tensors records a
  node instead of computing;
* state updates: :func:`add_state_update` applies a layer's state change
  (batch norm's moving statistics) at once, or, inside a train step's
  :func:`deferred_state_updates` block, when the step commits -- so a step
  that raises leaves the statistics as they were.

Concrete layers are in :mod:`tinygrad_bn.keras.layers`.
"""
import inspect
import re
import threading

import numpy as np

from ..tensor import Tensor, Var, wrap
from . import initializers as _inits

__all__ = ["Layer", "InputLayer", "Input", "KerasTensor", "add_state_update", "deferred_state_updates"]

_FLOATX = np.float32


# ---------------------------------------------------------------------------
# State updates (BatchNormalization's moving statistics ...) and their deferral
# ---------------------------------------------------------------------------

class _ThreadState(threading.local):
    """Per thread, as the tapes.  Class defaults make every read a plain attribute hit."""
    pending = None       # the innermost deferred_state_updates block, or None
    training = False     # the training flag sublayers called with training=None inherit
    depth = 0            # nesting of layer calls (0: the next call is a top-level one)
    loss_layers = None   # layers that called add_loss since the last top-level call began


_STATE = _ThreadState()


class PendingStateUpdates:
    """The state updates recorded inside one :func:`deferred_state_updates` block.

    ``commit()`` applies them in the order they were recorded (or hands them to an
    enclosing block, which commits or discards them in turn); leaving the block
    without ``commit()`` (an exception in the step) discards them.
    """

    __slots__ = ("_fns", "_parent", "_closed")

    def __init__(self, parent):
        self._fns = []
        self._parent = parent
        self._closed = False

    def append(self, fn):
        self._fns.append(fn)

    def __len__(self):
        return len(self._fns)

    def commit(self):
        fns, self._fns = self._fns, []
        if self._parent is not None:
            self._parent._fns.extend(fns)
            return
        for fn in fns:
            fn()

    def discard(self):
        self._fns = []


class deferred_state_updates:
    """``with deferred_state_updates() as pending:`` -- inside it, :func:`add_state_update`
    records updates in ``pending`` instead of applying them; ``pending.commit()``
    applies them (a train step does that once ``apply_gradients`` has succeeded).
    Updates not committed when the block ends are discarded, so a step that raises
    leaves moving statistics as they were."""

    __slots__ = ("pending",)

    def __enter__(self):
        self.pending = PendingStateUpdates(_STATE.pending)
        _STATE.pending = self.pending
        return self.pending

    def __exit__(self, *exc):
        pending = self.pending
        _STATE.pending = pending._parent
        pending._fns = []
        pending._closed = True
        return False


def add_state_update(fn):
    """Apply a layer's state update ``fn()`` (a zero-argument callable, e.g. the moving
    statistics of batch norm) now, or, inside a train step (a :func:`deferred_state_updates`
    block), when that step commits.  As Keras, a layer called with ``training=True``
    in a user's own ``GradientTape`` loop updates its state immediately."""
    pending = _STATE.pending
    if pending is None:
        fn()
    else:
        pending._fns.append(fn)


# ---------------------------------------------------------------------------
# Call context: the ``training`` flag of the enclosing call, losses added during a call
# ---------------------------------------------------------------------------

def _current_training():
    return _STATE.training


class _call_scope:
    """The context of a top-level forward pass: the training flag sublayers inherit, and the
    losses of the previous pass forgotten (only when no call encloses this one)."""

    __slots__ = ("training", "prev", "depth")

    def __init__(self, training):
        self.training = training

    def __enter__(self):
        self.depth = _STATE.depth
        if self.depth == 0:
            _clear_call_losses()
        self.prev = _STATE.training
        _STATE.training = self.training
        _STATE.depth = self.depth + 1

    def __exit__(self, *exc):
        _STATE.training = self.prev
        _STATE.depth = self.depth
        return False


def _call_losses():
    """The layers that called ``add_loss`` since the current top-level call began."""
    return _STATE.loss_layers


def _clear_call_losses():
    """Forget the losses layers added with ``add_loss`` during the previous forward pass."""
    dirty = _STATE.loss_layers
    if dirty:
        for layer in dirty:
            layer._losses.clear()
        dirty.clear()


# ---------------------------------------------------------------------------
# Naming
# ---------------------------------------------------------------------------

_LAYER_CLASSES = {}
_NAME_COUNTS = {}
_NAME_LOCK = threading.Lock()


def _snake(name):
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def _unique_name(base):
    """``base``, then ``base_1``, ``base_2`` ... (thread-safe: layers made in several threads never collide)."""
    with _NAME_LOCK:
        n = _NAME_COUNTS.get(base, 0)
        _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def _layer_dtype(dtype, who):
    if dtype is None:
        return _FLOATX
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{who}: dtype must be 'float32' or 'float64', got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{who}: dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt.type


def _as_input(x, dtype=_FLOATX):
    """Layer input as a float Tensor of the layer's dtype (other numeric inputs are cast, as Keras does)."""
    if isinstance(x, Tensor):
        if x.data.dtype != dtype:
            if x.data.dtype.kind not in "biuf":
                raise TypeError(f"layer input must be numeric, got dtype {x.data.dtype}")
            return x.astype(dtype)      # the cast op: a watched float input stays on the tape
        return x
    if isinstance(x, KerasTensor):
        raise TypeError("a symbolic input (from Input()) has no value here; build a Model(inputs, outputs) "
                        "and call the model on arrays")
    arr = np.asarray(x)
    if arr.dtype != dtype:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"layer input must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(dtype)
    return wrap(arr)


def _fmt_shape(shape):
    if isinstance(shape, list):
        return "[" + ", ".join(_fmt_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# ---------------------------------------------------------------------------
# Nested structures of inputs (a tensor, or a list/tuple/dict of them)
# ---------------------------------------------------------------------------

def _is_structure(x):
    """A list/tuple/dict of tensors (several inputs), as opposed to one array-like."""
    if isinstance(x, dict):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(e, (Tensor, np.ndarray, KerasTensor, dict)) or
                   (isinstance(e, (list, tuple)) and _is_structure(e)) for e in x)
    return False


def map_structure(fn, x):
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and _is_structure(x):
        return type(x)(map_structure(fn, e) for e in x)
    return fn(x)


def flatten(x):
    if isinstance(x, dict):
        return [leaf for k in x for leaf in flatten(x[k])]
    if isinstance(x, (list, tuple)) and _is_structure(x):
        return [leaf for e in x for leaf in flatten(e)]
    return [x]


def _shape_of(x):
    return tuple(x.shape)


# ---------------------------------------------------------------------------
# Symbolic tensors (the functional API)
# ---------------------------------------------------------------------------

class KerasTensor:
    """A symbolic tensor: the shape (batch axis ``None``) and dtype of a value that does not
    exist yet, and the layer call (``_keras_history``: node) that will produce it.

    ``Input(shape=(4,))`` makes one; calling a layer on symbolic tensors records a node
    and returns new symbolic tensors; ``Model(inputs, outputs)`` turns the recorded graph
    into a model.  Arithmetic on symbolic tensors is not supported: use layers.
    """

    __slots__ = ("shape", "dtype", "name", "_node", "_index")

    def __init__(self, shape, dtype="float32", name=None, node=None, index=0):
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = np.dtype(dtype).name
        self.name = name
        self._node = node
        self._index = index

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def _keras_history(self):
        return (self._node.layer if self._node is not None else None, self._node, self._index)

    def __repr__(self):
        return f"<KerasTensor shape={_fmt_shape(self.shape)}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *a, **k):
        raise TypeError("a symbolic KerasTensor (from Input()) has no value; call layers on it and build "
                        "a Model(inputs, outputs), then call the model on data")

    def __bool__(self):
        raise TypeError("a symbolic KerasTensor has no truth value")

    __hash__ = object.__hash__


class Node:
    """One call of a layer on symbolic inputs: ``outputs = layer(args, **kwargs)``."""

    __slots__ = ("layer", "args", "kwargs", "outputs", "parents")

    def __init__(self, layer, args, kwargs, outputs):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.parents = [t._node for t in flatten(args) if isinstance(t, KerasTensor) and t._node is not None]


# ---------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------

_UNTRACKED = frozenset(("_vars", "_losses", "_callable_losses", "_weight_regularizers", "_tracked",
                        "_inbound_nodes", "_out_shape", "_trainable", "built", "name", "input_shape",
                        "output_shape", "_input_shape_arg", "_dtype",
                        # Model bookkeeping (never layers the model owns)
                        "_step_layers", "_step_tvars", "_step_forward", "_step_layer_ids", "_step_static_losses",
                        "_single_loss", "_step_plain_loss", "_metric_args", "_metric_out",
                        "_metrics_for_outputs", "_graph", "_metrics", "_call_flags", "_plan",
                        "_loss_list", "_metric_weighted", "_metric_sw", "_metric_specs", "_out_cache",
                        "_n_outputs_struct", "inputs", "outputs", "history", "optimizer", "compiled_loss",
                        "compiled_metrics", "_loss_tracker", "loss", "_loss_weights"))


def _walk_container(c, out, seen, depth):
    if depth > 8:
        return
    for e in (c.values() if isinstance(c, dict) else c):
        if isinstance(e, Layer):
            if id(e) not in seen:
                seen.add(id(e))
                out.append(e)
        elif isinstance(e, (list, tuple, dict)):
            _walk_container(e, out, seen, depth + 1)


class Layer:
    """Base class of all layers (and of ``Model``).

    Subclasses implement ``build(input_shape)`` (create weights with
    :meth:`add_weight`), ``call(inputs, training=None)`` and, when the output
    shape differs from the input, ``compute_output_shape(input_shape)``.
    Input shapes include the batch axis (``None`` when unknown).

    Layers, lists/tuples/dicts of layers and variables assigned as attributes
    are tracked, as in Keras: their variables appear in ``trainable_variables``,
    ``non_trainable_variables`` and ``weights`` (own first, then the
    sublayers' in assignment order, each variable once), and their losses in
    ``losses``.  A layer called with ``training=None`` (the default) inherits
    the flag of the call it happens in (``fit`` runs with ``training=True``).
    """

    _call_has_training = True
    _call_has_mask = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        _LAYER_CLASSES[cls.__name__] = cls
        if "call" in cls.__dict__:
            try:
                params = inspect.signature(cls.call).parameters
            except (TypeError, ValueError):
                params = {}
            var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            cls._call_has_training = "training" in params or var_kw
            cls._call_has_mask = "mask" in params

    def __init__(self, name=None, trainable=True, input_shape=None, dtype=None, **kwargs):
        who = type(self).__name__
        if kwargs:
            raise TypeError(f"{who}: unexpected keyword argument(s) {sorted(kwargs)}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{who}: name must be a string, got {name!r}")
        if not isinstance(trainable, (bool, np.bool_)):
            raise TypeError(f"{who}: trainable must be True or False, got {trainable!r}")
        self._dtype = _layer_dtype(dtype, who)
        self.name = name if name is not None else _unique_name(_snake(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self.__dict__.setdefault("_vars", [])   # [(Var, intrinsically trainable)] in creation order
        self._losses = []        # tensors added by add_loss during the last call
        self._callable_losses = []
        self._weight_regularizers = []   # [(Var, regularizer)]
        self.__dict__.setdefault("_tracked", {})   # attribute name -> a layer or a container of layers
        self._inbound_nodes = []
        self._out_shape = None
        self.input_shape = None  # with the batch axis, set by build
        if input_shape is None:
            self._input_shape_arg = None
        else:
            try:
                self._input_shape_arg = (None,) + tuple(None if s is None else int(s) for s in input_shape)
            except (TypeError, ValueError):
                raise TypeError(f"{who}: input_shape must be a tuple of ints (without the batch axis), "
                                f"got {input_shape!r}") from None

    # -- attribute tracking --------------------------------------------------
    def __setattr__(self, name, value):
        if name not in _UNTRACKED:
            d = self.__dict__
            tracked = d.get("_tracked")
            if tracked is None:
                tracked = d["_tracked"] = {}
            if isinstance(value, (Layer, list, tuple, dict)) and not isinstance(value, KerasTensor):
                tracked[name] = value
            elif isinstance(value, Var):
                tracked.pop(name, None)
                vars_ = d.get("_vars")
                if vars_ is None:
                    vars_ = d["_vars"] = []
                if not any(v is value for v, _ in vars_):
                    vars_.append((value, bool(value.trainable)))
            else:
                tracked.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self.__dict__.get("_tracked", {}).pop(name, None)
        object.__delattr__(self, name)

    def _direct_sublayers(self):
        """The tracked sublayers, in assignment order (containers walked depth first), each once."""
        tracked = self.__dict__.get("_tracked")
        if not tracked:
            return []
        out = []
        seen = {id(self)}
        for v in tracked.values():
            if isinstance(v, Layer):
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
            else:
                _walk_container(v, out, seen, 0)
        return out

    def _flatten_layers(self, include_self=True, recursive=True):
        """This layer and every tracked sublayer (depth first, each once)."""
        out = [self] if include_self else []
        seen = {id(self)}
        stack = list(reversed(self._direct_sublayers()))
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            if recursive:
                stack.extend(reversed(layer._direct_sublayers()))
        return out

    @property
    def submodules(self):
        return self._flatten_layers(include_self=False)

    # -- weights ------------------------------------------------------------
    @property
    def dtype(self):
        return np.dtype(self._dtype).name

    def add_weight(self, name=None, shape=(), initializer="zeros", trainable=True, dtype=None,
                   regularizer=None, constraint=None):
        """Create a variable named ``<layer>/<name>`` from an initializer (in the layer's dtype).

        ``regularizer`` (a callable of the variable, e.g. ``regularizers.l2(1e-4)``) adds
        ``regularizer(variable)`` to :attr:`losses`."""
        if constraint is not None:
            raise NotImplementedError(f"{type(self).__name__}.add_weight: constraints are not supported")
        if name is None:
            name = f"variable_{len(self._vars)}"
        dt = self._dtype if dtype is None else _layer_dtype(dtype, f"{type(self).__name__}.add_weight")
        init = _inits.get(initializer)
        try:
            shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise TypeError(f"layer {self.name!r}: add_weight shape must be a tuple of ints, got {shape!r}") from None
        value = np.asarray(init(shape, dt), dtype=dt)
        var = Var(value, trainable=bool(trainable) and self._trainable, name=f"{self.name}/{name}")
        self._vars.append((var, bool(trainable)))
        if regularizer is not None:
            if not callable(regularizer):
                raise TypeError(f"layer {self.name!r}: regularizer must be callable, got {regularizer!r}")
            self._weight_regularizers.append((var, regularizer))
        return var

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freezing a layer freezes every sublayer, as in Keras."""
        value = bool(value)
        for layer in self._flatten_layers():
            layer._trainable = value
            for var, intrinsic in layer._vars:
                var.trainable = intrinsic and value

    def _collect(self, which, layers=None):
        seen = set()
        out = []
        for layer in (self._flatten_layers() if layers is None else layers):
            for var, intrinsic in layer._vars:
                if id(var) in seen:
                    continue
                is_t = intrinsic and layer._trainable
                if which is None or which == is_t:
                    seen.add(id(var))
                    out.append(var)
        return out

    @property
    def trainable_variables(self):
        return self._collect(True)

    @property
    def trainable_weights(self):
        return self._collect(True)

    @property
    def non_trainable_variables(self):
        return self._collect(False)

    @property
    def non_trainable_weights(self):
        return self._collect(False)

    @property
    def variables(self):
        """All variables, this layer's in creation order then the sublayers' (for Dense: kernel,
        bias; for BatchNormalization: gamma, beta, moving_mean, moving_variance).  The order does
        not change when ``trainable`` is toggled, so saved weights always line up."""
        return self._collect(None)

    @property
    def weights(self):
        return self._collect(None)

    def get_weights(self):
        """Copies of the weight arrays, in the order of :attr:`weights`."""
        return [np.array(v.data) for v in self.weights]

    def set_weights(self, weights):
        """Set the weights from a list of arrays (same order and shapes as :meth:`get_weights`);
        nothing is assigned unless every array fits."""
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(f"set_weights: layer {self.name!r} has {len(mine)} weights "
                             f"({[v.name for v in mine]}) but {len(weights)} arrays were given")
        arrays = []
        for var, w in zip(mine, weights):
            w = np.asarray(w.data if isinstance(w, Tensor) else w)
            if w.shape != var.data.shape:
                raise ValueError(f"set_weights: layer {self.name!r}: weight {var.name!r} has shape "
                                 f"{var.data.shape}, got an array of shape {w.shape}")
            if w.dtype.kind not in "biuf":
                raise TypeError(f"set_weights: weight {var.name!r} needs a numeric array, got dtype {w.dtype}")
            arrays.append(w)
        for var, w in zip(mine, arrays):
            var.assign(w)

    def count_params(self):
        return int(sum(v.data.size for v in self.weights))

    # -- losses ---------------------------------------------------------------
    def add_loss(self, loss):
        """Add a loss term (a scalar tensor computed in ``call``, e.g. an activity penalty; or a
        zero-argument callable evaluated each time :attr:`losses` is read).  ``fit`` adds every
        loss of the model to the compiled loss.  Tensors added in a call are forgotten at the
        next top-level call, as in Keras."""
        if callable(loss) and not isinstance(loss, Tensor):
            self._callable_losses.append(loss)
            return
        if not isinstance(loss, Tensor):
            loss = wrap(np.asarray(loss, dtype=self._dtype))
        if loss.data.size != 1:
            raise ValueError(f"add_loss: layer {self.name!r} got a loss of shape {loss.shape}; "
                             "add a scalar (reduce it first)")
        self._losses.append(loss)
        dirty = _STATE.loss_layers
        if dirty is None:
            dirty = _STATE.loss_layers = []
        dirty.append(self)

    @property
    def losses(self):
        """Losses added with :meth:`add_loss` in the last call, then weight-regularization
        terms (computed now, so differentiable inside a tape), this layer's and its sublayers'."""
        out = []
        for layer in self._flatten_layers():
            out.extend(layer._losses)
            out.extend(fn() for fn in layer._callable_losses)
            out.extend(reg(var) for var, reg in layer._weight_regularizers)
        return out

    # -- building and calling ----------------------------------------------
    def build(self, input_shape):
        self.input_shape = input_shape if isinstance(input_shape, list) else tuple(input_shape)
        self.built = True

    def _maybe_build(self, shape):
        if not self.built:
            if isinstance(shape, list):
                shape = [(None,) + tuple(s[1:]) for s in shape]
            else:
                shape = (None,) + tuple(shape[1:])
            self.build(shape)
            self.input_shape = shape
            self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape if isinstance(input_shape, list) else tuple(input_shape)

    def check_input_shape(self, input_shape):
        """Raise ValueError when ``input_shape`` cannot feed this (built) layer; return the output shape."""
        return self.compute_output_shape(input_shape)

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, KerasTensor) or (_is_structure(inputs) and
                                               any(isinstance(t, KerasTensor) for t in flatten(inputs))):
            return self._symbolic_call(inputs, training, kwargs)
        dtype = self._dtype
        if _is_structure(inputs):
            x = map_structure(lambda t: _as_input(t, dtype), inputs)
            shape = [_shape_of(t) for t in flatten(x)]
            if not self.built:
                self._maybe_build(shape)
        else:
            x = _as_input(inputs, dtype)
            if not self.built:
                self._maybe_build(x.shape)
            else:
                self.check_input_shape(x.shape)
        if training is None:
            training = _STATE.training
        else:
            training = bool(training)
        outer = _STATE.depth
        if outer == 0:
            _clear_call_losses()
        prev = _STATE.training
        _STATE.training = training
        _STATE.depth = outer + 1
        try:
            if self._call_has_training:
                out = self.call(x, training=training, **kwargs)
            else:
                out = self.call(x, **kwargs)
        finally:
            _STATE.training = prev
            _STATE.depth = outer
        if self._out_shape is None and isinstance(out, Tensor):
            self._out_shape = (None,) + tuple(out.shape[1:])
        return out

    def call(self, inputs, training=None):
        return inputs

    # -- the functional API ----------------------------------------------------
    def _knows_output_shape(self):
        """True when ``compute_output_shape`` can be trusted: the class defines it (or
        ``check_input_shape``), or is one of ours."""
        cls = type(self)
        return (cls.compute_output_shape is not Layer.compute_output_shape
                or cls.check_input_shape is not Layer.check_input_shape
                or cls.__module__.startswith("tinygrad_bn."))

    def _symbolic_output_shape(self, shapes):
        """Output shape(s) for input shape(s): ``compute_output_shape`` when it can be trusted,
        else one call on zeros (batch 1, no tape, state untouched)."""
        if self._knows_output_shape():
            return self.compute_output_shape(shapes)
        return _probe_output_shape(self, shapes, self._dtype)

    def _symbolic_call(self, inputs, training, kwargs):
        leaves = flatten(inputs)
        for t in leaves:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"layer {self.name!r}: cannot mix symbolic inputs (from Input()) with "
                                f"values ({type(t).__name__}) in one call")
        shapes = [t.shape for t in leaves] if _is_structure(inputs) else inputs.shape
        if not self.built:
            self._maybe_build(shapes)
        out_shapes = self._symbolic_output_shape(shapes)
        node = Node(self, inputs, dict(kwargs, training=training) if training is not None else dict(kwargs), None)
        dtype = self._dtype
        if isinstance(out_shapes, list) and out_shapes and isinstance(out_shapes[0], (tuple, list)):
            outputs = [KerasTensor(s, dtype, name=f"{self.name}_{i}", node=node, index=i)
                       for i, s in enumerate(out_shapes)]
        else:
            outputs = KerasTensor(out_shapes, dtype, name=self.name, node=node, index=0)
            self.output_shape = tuple(out_shapes)
        node.outputs = outputs
        self._inbound_nodes.append(node)
        return outputs

    # -- config -------------------------------------------------------------
    def get_config(self):
        cfg = {"name": self.name, "trainable": self._trainable}
        if self._dtype is not _FLOATX:
            cfg["dtype"] = self.dtype
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _probe_output_shape(layer, shapes, dtype):
    from .._engine import stop_recording_all

    def zeros(shape):
        return np.zeros(tuple(1 if s is None else s for s in shape), dtype=dtype)
    arg = [zeros(s) for s in shapes] if isinstance(shapes, list) else zeros(shapes)
    with stop_recording_all(), deferred_state_updates():
        out = layer(arg, training=False)
    if isinstance(out, (list, tuple)):
        return [(None,) + tuple(o.shape[1:]) for o in out]
    return (None,) + tuple(out.shape[1:])


class InputLayer(Layer):
    """The layer behind ``Input(shape=...)``: declares an input's shape (without the batch axis)."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None, **kwargs):
        if shape is None:
            shape = input_shape
        if shape is None:
            raise ValueError("InputLayer: give the input shape (without the batch axis), e.g. shape=(64,)")
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        if not isinstance(shape, (tuple, list)):
            raise TypeError(f"Input: shape must be a tuple of ints (without the batch axis), got {shape!r}")
        for s in shape:
            if s is not None and (isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0):
                raise ValueError(f"Input: shape must hold non-negative ints or None, got {tuple(shape)!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"Input: batch_size must be a positive int or None, got {batch_size!r}")
        super().__init__(name=name, input_shape=shape, dtype=dtype, **kwargs)
        self.built = True
        self.input_shape = self._input_shape_arg
        self.output_shape = self._input_shape_arg
        self.output = KerasTensor(self._input_shape_arg, self._dtype, name=self.name,
                                  node=Node(self, (), {}, None), index=0)
        self.output._node.outputs = self.output

    def get_config(self):
        cfg = super().get_config()
        cfg["shape"] = list(self._input_shape_arg[1:])
        return cfg


def Input(shape=None, batch_size=None, dtype=None, name=None):
    """A symbolic input, ``x = Input(shape=(4,))`` (shape without the batch axis), for the
    functional API: ``Model(inputs=x, outputs=Dense(2)(x))``.  As the first element of
    ``Sequential([Input(shape=(64,)), ...])`` it fixes the model's input size."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name).output
