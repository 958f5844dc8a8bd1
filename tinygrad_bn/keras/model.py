"""``Sequential``: a stack of layers with Keras' ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

The training step is lean on purpose: per batch, one ``GradientTape``, one
forward pass through the layers' ``call`` methods, one loss, one
``tape.gradient`` and one ``apply_gradients``; shuffling is one permutation
of the whole data set per epoch (batches are contiguous slices after it);
metrics are computed on NumPy arrays outside the tape; inference
(``evaluate``, ``predict``, validation) runs with no tape at all.  All input
validation happens once, before the first step.
"""
import time

import numpy as np

from .._engine import GradientTape, stop_recording_all
from ..tensor import Tensor, wrap
from ..utils import derive_rng
from . import callbacks as _callbacks
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from .progress import EpochProgress, format_logs

__all__ = ["Sequential", "History"]

History = _callbacks.History


def _shape_str(shape):
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _prepare_x(x, fn, where="x"):
    """Inputs as a C-contiguous float32 array with a batch axis, checked finite."""
    if x is None:
        raise ValueError(f"{fn}: {where} is required")
    if isinstance(x, Tensor):
        x = x.data
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {where} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{fn}: {where} must have a batch axis, got a scalar")
    if arr.ndim == 1:
        arr = arr[:, None]
    arr = np.ascontiguousarray(arr, dtype=np.float32)
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
    return len(y.data if isinstance(y, Tensor) else y)


class Sequential:
    """A linear stack of layers, like ``keras.Sequential``.

    ``Sequential([Dense(25, activation='relu'), Dense(10)])`` is built on its
    first input (or by ``Input(shape=...)`` as first element, ``build``, or a
    layer's ``input_shape=``).  ``model(x, training=False)`` is differentiable
    and can be used in your own ``GradientTape`` loop.

    Reproducibility: ``tinygrad_bn.utils.set_seed(s)`` before creating the
    model makes initial weights, dropout masks and shuffling identical run to
    run; ``fit(..., seed=s)`` reseeds only the shuffling.
    """

    def __init__(self, layers=None, name=None):
        self.name = name if name is not None else _layers._unique_name("sequential")
        self.layers = []
        self.built = False
        self._build_input_shape = None
        self.output_shape = None
        self.optimizer = None
        self.loss = None
        self._metrics = []
        self._metric_specs = []
        self.stop_training = False
        self.history = None
        self._rng = None
        self._declared_input = None
        for layer in layers or []:
            self.add(layer)

    # -- structure ------------------------------------------------------------
    def add(self, layer):
        """Append a layer (an ``Input``/``InputLayer`` first fixes the input shape)."""
        if isinstance(layer, _layers.InputLayer):
            if self.layers or self._declared_input is not None:
                raise ValueError("Sequential.add: an Input layer can only be the first layer")
            self._declared_input = layer._input_shape_arg
            return
        if not isinstance(layer, _layers.Layer):
            raise TypeError(f"Sequential.add: expected a Layer instance, got {type(layer).__name__}"
                            + (" (a class: did you forget the parentheses?)" if isinstance(layer, type) else ""))
        if any(l.name == layer.name for l in self.layers):
            raise ValueError(f"Sequential.add: a layer named {layer.name!r} is already in the model; "
                             "layer names must be unique")
        self.layers.append(layer)
        if self.built or self._declared_input is not None:
            self.build(self._build_input_shape or self._declared_input)
        elif len(self.layers) == 1 and layer._input_shape_arg is not None:
            self.build(layer._input_shape_arg)
        return None

    def pop(self):
        """Remove the last layer."""
        if not self.layers:
            raise TypeError("Sequential.pop: there are no layers in the model")
        layer = self.layers.pop()
        if self.built and self.layers:
            self.build(self._build_input_shape)
        return layer

    def build(self, input_shape):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis first, may be None)."""
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"Sequential.build: input_shape must include the batch axis, e.g. (None, 64); "
                             f"got {input_shape}")
        shape = (None,) + tuple(None if s is None else int(s) for s in input_shape[1:])
        full = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
                layer.input_shape = shape
                layer.built = True
            shape = layer.check_input_shape(shape)
            layer.output_shape = shape
        self._build_input_shape = full
        self.output_shape = shape
        self.built = bool(self.layers)

    def _check_input_shape(self, shape):
        shape = (None,) + tuple(shape[1:])
        for layer in self.layers:
            shape = layer.check_input_shape(shape)
        return shape

    def _require_built(self, fn):
        if not self.built:
            raise ValueError(
                f"{fn}: the model has not been built yet, so it has no weights. Train it with fit() first, "
                "or build it explicitly: model.build((None, n_features)), an Input(shape=...) first layer, "
                "or call it on a batch, model(x)")

    # -- calling -------------------------------------------------------------
    def __call__(self, x, training=False):
        x = _layers._as_input(x)
        if not self.built:
            if not self.layers:
                raise ValueError("Sequential: the model has no layers")
            self.build(x.shape)
        else:
            self._check_input_shape(x.shape)
        return self._forward(x, bool(training))

    call = __call__

    def _forward(self, x, training):
        for layer in self.layers:
            x = layer.call(x, training)
        return x

    # -- variables -----------------------------------------------------------
    @property
    def trainable_variables(self):
        return [v for layer in self.layers for v in layer.trainable_variables]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self):
        return [v for layer in self.layers for v in layer.non_trainable_variables]

    non_trainable_weights = non_trainable_variables

    @property
    def weights(self):
        """Every variable, layer by layer in creation order."""
        return [v for layer in self.layers for v in layer.weights]

    variables = weights

    @property
    def trainable(self):
        return all(layer.trainable for layer in self.layers)

    @trainable.setter
    def trainable(self, value):
        for layer in self.layers:
            layer.trainable = value

    def get_weights(self):
        return [np.array(v.data) for v in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"set_weights: the model has {len(mine)} weights but {len(weights)} arrays were given")
        for v, w in zip(mine, weights):
            if np.shape(w) != v.data.shape:
                raise ValueError(f"set_weights: weight {v.name!r} has shape {v.data.shape}, got {np.shape(w)}")
        for v, w in zip(mine, weights):
            v.assign(w)

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers: {[l.name for l in self.layers]}")

    # -- summary -------------------------------------------------------------
    def summary(self, print_fn=print, line_length=72):
        """Print the layers, their output shapes and parameter counts."""
        if not self.built:
            raise ValueError(f"summary: the model {self.name!r} has not been built yet; call build(), fit() or "
                             "model(x) first, or start it with Input(shape=...)")
        rows = [(f" {layer.name} ({type(layer).__name__})", _shape_str(layer.output_shape),
                 f"{layer.count_params():,}") for layer in self.layers]
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
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer (name or instance; Keras' default ``'rmsprop'``), the
        loss (name, instance or function) and metrics (``['accuracy']`` ...)."""
        from .. import optimizers as _optimizers
        self.optimizer = _optimizers.get(optimizer)
        self.loss = _losses.get(loss) if loss is not None else None
        specs = list(metrics or [])
        if isinstance(metrics, (str, _metrics.Metric)):
            specs = [metrics]
        self._metrics = [_metrics.resolve(m, self.loss) for m in specs]
        names = [m.name for m in self._metrics]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"compile: metric names must be unique and not 'loss', got {names}")
        self._metric_specs = [_metrics.serialize(m) for m in specs]
        self.compiled = True

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self._metrics]

    def _require_compiled(self, fn):
        if self.optimizer is None:
            raise RuntimeError(f"{fn}: compile the model first, e.g. model.compile(optimizer='adam', "
                               "loss=SparseCategoricalCrossentropy(from_logits=True))")
        if self.loss is None:
            raise ValueError(f"{fn}: the model was compiled without a loss; pass loss= to compile()")

    # -- data checks -----------------------------------------------------------
    def _prepare_xy(self, x, y, fn, xname="x", yname="y"):
        x = _prepare_x(x, fn, xname)
        if y is None:
            raise ValueError(f"{fn}: {yname} (the targets) is required")
        if _length(y) != len(x):
            raise ValueError(f"{fn}: {xname} and {yname} have different lengths: {xname} has {len(x)} samples, "
                             f"{yname} has {_length(y)}")
        if not self.built:
            self.build((None,) + x.shape[1:])
        else:
            self._check_input_shape(x.shape)
        y = self.loss.prepare_targets(y.data if isinstance(y, Tensor) else y, self.output_shape, yname)
        return x, y

    # -- training ------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, seed=None):
        """Train for ``epochs - initial_epoch`` epochs of mini-batch steps; returns a :class:`History`.

        ``validation_split`` holds out the *last* fraction of the data (before
        shuffling, as Keras); ``validation_data=(x_val, y_val)`` is used as
        given.  ``verbose``: 1 (or 'auto') live progress bar, 2 one line per
        epoch, 0 silent.  ``seed`` reseeds the shuffling generator.
        """
        self._require_compiled("fit")
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"fit: batch_size must be >= 1, got {batch_size}")
        epochs, initial_epoch = int(epochs), int(initial_epoch)
        verbose = 1 if verbose == "auto" else int(verbose)
        x, y = self._prepare_xy(x, y, "fit")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val)")
            val = self._prepare_xy(validation_data[0], validation_data[1], "fit", "x_val", "y_val")
        elif validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
            split = int(len(x) * (1.0 - validation_split))
            if split < 1 or split == len(x):
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or no "
                                 f"validation samples out of {len(x)}")
            val = (x[split:], y[split:])
            x, y = x[:split], y[:split]
        if seed is not None:
            self._rng = np.random.default_rng(int(seed))
        elif self._rng is None:
            self._rng = derive_rng()
        tvars = self.trainable_variables
        if not tvars:
            raise ValueError("fit: the model has no trainable variables (all layers frozen?)")
        self._warn_softmax_with_logits()

        n = len(x)
        steps = -(-n // batch_size)
        history = History()
        cbs = _callbacks.CallbackList(list(callbacks or []) + [history], self,
                                      {"epochs": epochs, "steps": steps, "verbose": verbose,
                                       "batch_size": batch_size, "samples": n})
        self.history = history
        self.stop_training = False
        loss_fn, opt, forward, metrics = self.loss, self.optimizer, self._forward, self._metrics
        batch_begin, batch_end = cbs.batch_begin, cbs.batch_end
        rng = self._rng
        cbs.on_train_begin({})
        for epoch in range(initial_epoch, epochs):
            if self.stop_training:
                break
            cbs.on_epoch_begin(epoch, {})
            for m in metrics:
                m.reset_state()
            if shuffle:
                perm = rng.permutation(n)
                xs, ys = x[perm], y[perm]
            else:
                xs, ys = x, y
            loss_sum = 0.0
            seen = 0

            def running():
                logs = {"loss": loss_sum / max(seen, 1)}
                for m in metrics:
                    logs[m.name] = m.result()
                return logs

            bar = EpochProgress(epoch, epochs, steps, verbose)
            for b in range(steps):
                if batch_begin:
                    for cb in batch_begin:
                        cb.on_train_batch_begin(b, {})
                s = b * batch_size
                xb = xs[s:s + batch_size]
                yb = ys[s:s + batch_size]
                with GradientTape() as tape:
                    out = forward(wrap(xb), True)
                    loss = loss_fn(yb, out)
                grads = tape.gradient(loss, tvars)
                opt.apply_gradients(zip(grads, tvars))
                nb = len(xb)
                loss_sum += float(loss.data) * nb
                seen += nb
                if metrics:
                    od = out.data
                    for m in metrics:
                        m.update_state(yb, od)
                if bar.bar is not None:
                    bar.update(b + 1, running)
                if batch_end:
                    logs = running()
                    for cb in batch_end:
                        cb.on_train_batch_end(b, logs)
                if self.stop_training:
                    break
            logs = running()
            if val is not None:
                for k, v in self._test_loop(val[0], val[1], batch_size).items():
                    logs["val_" + k] = v
            cbs.on_epoch_end(epoch, logs)
            bar.close(logs)
        cbs.on_train_end({})
        return history

    def _warn_softmax_with_logits(self):
        last = self.layers[-1] if self.layers else None
        if last is None or not getattr(self.loss, "from_logits", False):
            return
        act = getattr(last, "_activation_id", None)
        if act == "softmax" or isinstance(last, _layers.Softmax):
            import warnings
            warnings.warn(f"{type(self.loss).__name__}(from_logits=True) receives the output of a softmax "
                          f"(layer {last.name!r}): the loss will apply softmax a second time. Use a linear "
                          "last layer, or from_logits=False.", stacklevel=3)

    def train_on_batch(self, x, y):
        """One training step on one batch; returns the loss (and metrics as a list when compiled with some)."""
        self._require_compiled("train_on_batch")
        x, y = self._prepare_xy(x, y, "train_on_batch")
        tvars = self.trainable_variables
        with GradientTape() as tape:
            out = self._forward(wrap(x), True)
            loss = self.loss(y, out)
        self.optimizer.apply_gradients(zip(tape.gradient(loss, tvars), tvars))
        if not self._metrics:
            return float(loss.data)
        res = [float(loss.data)]
        for m in self._metrics:
            m.reset_state()
            m.update_state(y, out.data)
            res.append(m.result())
        return res

    # -- inference -------------------------------------------------------------
    def _test_loop(self, x, y, batch_size):
        loss_fn, forward, metrics = self.loss, self._forward, self._metrics
        for m in metrics:
            m.reset_state()
        loss_sum = 0.0
        n = len(x)
        with stop_recording_all():
            for s in range(0, n, batch_size):
                xb = x[s:s + batch_size]
                yb = y[s:s + batch_size]
                out = forward(wrap(xb), False)
                loss_sum += float(loss_fn(yb, out).data) * len(xb)
                for m in metrics:
                    m.update_state(yb, out.data)
        logs = {"loss": loss_sum / n}
        for m in metrics:
            logs[m.name] = m.result()
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """Loss (and metrics) in inference mode: a float without metrics, else ``[loss, *metrics]``
        (a dict with ``return_dict=True``).  The loss is the mean over all samples."""
        self._require_compiled("evaluate")
        batch_size = 32 if batch_size is None else int(batch_size)
        self._require_built("evaluate")
        x, y = self._prepare_xy(x, y, "evaluate")
        t0 = time.perf_counter()
        logs = self._test_loop(x, y, batch_size)
        verbose = 1 if verbose == "auto" else int(verbose)
        if verbose:
            steps = -(-len(x) // batch_size)
            print(f"{steps}/{steps} - {time.perf_counter() - t0:.2f}s - {format_logs(logs)}")
        if return_dict:
            return logs
        if not self._metrics:
            return logs["loss"]
        return [logs[k] for k in self.metrics_names]

    def predict(self, x, batch_size=None, verbose=0):
        """Outputs in inference mode (BN moving statistics, no dropout), as a NumPy array,
        computed in batches of ``batch_size`` (default 32) with no tape."""
        self._require_built("predict")
        batch_size = 32 if batch_size is None else int(batch_size)
        x = _prepare_x(x, "predict")
        self._check_input_shape(x.shape)
        out = None
        n = len(x)
        with stop_recording_all():
            for s in range(0, n, batch_size):
                o = self._forward(wrap(x[s:s + batch_size]), False).data
                if out is None:
                    out = np.empty((n,) + o.shape[1:], dtype=o.dtype)
                out[s:s + len(o)] = o
        return out

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=len(_prepare_x(x, "predict_on_batch")))

    def test_on_batch(self, x, y):
        self._require_compiled("test_on_batch")
        x, y = self._prepare_xy(x, y, "test_on_batch")
        logs = self._test_loop(x, y, len(x))
        return logs["loss"] if not self._metrics else [logs[k] for k in self.metrics_names]

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
        """Write architecture, weights, compile settings, optimizer state and the shuffling
        generator's state (npz + JSON, atomic); reload with ``tinygrad_bn.keras.load_model``."""
        from .saving import save_model
        return save_model(self, filepath)

    def get_config(self):
        cfg = {"name": self.name, "layers": [_layers.serialize(l) for l in self.layers]}
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls([_layers.deserialize(c, custom_objects) for c in config["layers"]], name=config.get("name"))

    def __repr__(self):
        return f"<Sequential {self.name!r} layers={[l.name for l in self.layers]} built={self.built}>"
