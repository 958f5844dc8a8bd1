"""Saving and loading models in an open format: one ``.npz`` file holding NumPy
arrays plus a JSON document.

Layout of a file written by ``model.save(path)``::

    model.json       a 0-d unicode array: the JSON document (architecture, compile
                     settings, optimizer config and step count, random-generator states,
                     the names and shapes of every array below)
    w0000, w0001 ... the model's weights, layer by layer in creation order
                     (Dense: kernel, bias; BatchNormalization: gamma, beta,
                     moving_mean, moving_variance)
    o0000_0 ...      optimizer slots (Adam: m, v) per trainable variable

``model.save_weights(path)`` writes the same layout without the architecture
and optimizer.  Read one by hand with ``np.load(path)`` and
``json.loads(str(f["model.json"]))``.

Every write is atomic (temporary file in the same directory, fsync,
``os.replace``): an interrupted save leaves the previous file intact.  The
path is used exactly as given (no extension is appended).
"""
import json
import os

import numpy as np

from ..utils import atomic_write

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_DOC = "model.json"


def _rng_state(rng):
    return None if rng is None else rng.bit_generator.state


def _rng_from_state(state):
    if state is None:
        return None
    cls = getattr(np.random, state["bit_generator"])
    bitgen = cls()
    bitgen.state = state
    return np.random.Generator(bitgen)


def _write(path, doc, arrays):
    arrays = dict(arrays)
    arrays[_DOC] = np.array(json.dumps(doc))

    def write(fh):
        np.savez(fh, **arrays)

    return atomic_write(path, write)


def _read(path, what):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what}: no such file {path!r}")
    try:
        with np.load(path, allow_pickle=False) as f:
            if _DOC not in f.files:
                raise ValueError(f"{what}: {path!r} is not a tinygrad_bn file (no {_DOC!r} entry)")
            doc = json.loads(str(f[_DOC]))
            arrays = {k: np.array(f[k]) for k in f.files if k != _DOC}
    except (OSError, ValueError, EOFError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(what):
            raise
        raise ValueError(f"{what}: cannot read {path!r}: {exc}") from exc
    if doc.get("format") != "tinygrad_bn" or doc.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{what}: {path!r} has an unknown format/version "
                         f"({doc.get('format')!r}, {doc.get('version')!r})")
    return doc, arrays


def _weights_part(model):
    arrays = {}
    names, shapes = [], []
    for i, var in enumerate(model.weights):
        arrays[f"w{i:04d}"] = np.array(var.data)
        names.append(var.name)
        shapes.append(list(var.data.shape))
    return arrays, {"names": names, "shapes": shapes}


def _layer_rngs(model):
    return {layer.name: _rng_state(layer._rng) for layer in model.layers
            if getattr(layer, "_rng", None) is not None}


def save_weights(model, path):
    """Write the model's weights (and its input shape, so an unbuilt twin can load them)."""
    if not model.built:
        raise ValueError("save_weights: the model has not been built yet, so it has no weights to save")
    arrays, info = _weights_part(model)
    doc = {"format": "tinygrad_bn", "version": FORMAT_VERSION, "kind": "weights",
           "build_input_shape": list(model._build_input_shape), "weights": info}
    return _write(path, doc, arrays)


def _assign_weights(model, doc, arrays, what, path):
    info = doc["weights"]
    mine = model.weights
    saved = [arrays[f"w{i:04d}"] for i in range(len(info["names"]))]
    if len(saved) != len(mine):
        raise ValueError(f"{what}: {path!r} holds {len(saved)} weight arrays but the model has {len(mine)} "
                         f"(saved: {info['names']}; model: {[v.name for v in mine]})")
    for var, arr, name in zip(mine, saved, info["names"]):
        if arr.shape != var.data.shape:
            raise ValueError(f"{what}: saved weight {name!r} has shape {arr.shape} but model weight "
                             f"{var.name!r} has shape {var.data.shape}")
    for var, arr in zip(mine, saved):
        var.assign(arr)


def load_weights(model, path):
    """Load weights written by ``save_weights`` or ``save`` (matched by position, shapes checked)."""
    doc, arrays = _read(path, "load_weights")
    if not model.built:
        shape = doc.get("build_input_shape")
        if shape is None:
            raise ValueError("load_weights: the model is not built and the file has no input shape")
        model.build(tuple(shape))
    _assign_weights(model, doc, arrays, "load_weights", path)
    return model


def save_model(model, path):
    """Architecture, weights, compile settings, optimizer state and random states, atomically."""
    if not model.built:
        raise ValueError("save: the model has not been built yet; build it (fit, build or call it on "
                         "data) before saving")
    from . import losses as _losses
    from .. import optimizers as _optimizers
    arrays, info = _weights_part(model)
    doc = {"format": "tinygrad_bn", "version": FORMAT_VERSION, "kind": "model",
           "class_name": type(model).__name__, "config": model.get_config(),
           "build_input_shape": list(model._build_input_shape), "weights": info,
           "rng": _rng_state(model._rng), "layer_rng": _layer_rngs(model), "compile": None}
    if model.optimizer is not None:
        tvars = model.trainable_variables
        state = model.optimizer.get_state(tvars)
        slot_counts = []
        for i, slots in enumerate(state["slots"]):
            if slots is None:
                slot_counts.append(None)
                continue
            slot_counts.append(len(slots))
            for j, s in enumerate(slots):
                arrays[f"o{i:04d}_{j}"] = np.array(s)
        doc["compile"] = {
            "optimizer": _optimizers.serialize(model.optimizer),
            "loss": _losses.serialize(model.loss) if model.loss is not None else None,
            "metrics": model._metric_specs,
            "optimizer_state": {"iterations": int(state["iterations"]), "slots": slot_counts,
                                "trainable": [v.name for v in tvars]},
        }
    return _write(path, doc, arrays)


def load_model(path, custom_objects=None, compile=True):
    """Rebuild a model saved with ``model.save(path)``: architecture, weights, and (with
    ``compile=True``) loss, metrics, optimizer and its state, so training resumes exactly."""
    from .model import Sequential
    from . import losses as _losses
    from .. import optimizers as _optimizers
    doc, arrays = _read(path, "load_model")
    if doc.get("kind") != "model":
        raise ValueError(f"load_model: {os.fspath(path)!r} holds only weights (written by save_weights); "
                         "rebuild the model in code and call model.load_weights(path)")
    if doc["class_name"] != "Sequential":
        raise ValueError(f"load_model: unknown model class {doc['class_name']!r}")
    model = Sequential.from_config(doc["config"], custom_objects=custom_objects)
    model.build(tuple(doc["build_input_shape"]))
    _assign_weights(model, doc, arrays, "load_model", path)
    model._rng = _rng_from_state(doc.get("rng"))
    for layer in model.layers:
        state = doc.get("layer_rng", {}).get(layer.name)
        if state is not None:
            layer._rng = _rng_from_state(state)
    comp = doc.get("compile")
    if compile and comp is not None:
        optimizer = _optimizers.get(comp["optimizer"])
        loss = _losses.deserialize(comp["loss"], custom_objects) if comp["loss"] is not None else None
        model.compile(optimizer=optimizer, loss=loss, metrics=comp["metrics"])
        ost = comp["optimizer_state"]
        tvars = model.trainable_variables
        if len(ost["slots"]) != len(tvars):
            raise ValueError(f"load_model: optimizer state covers {len(ost['slots'])} variables but the model "
                             f"has {len(tvars)} trainable ones")
        slots = [None if k is None else [arrays[f"o{i:04d}_{j}"] for j in range(k)]
                 for i, k in enumerate(ost["slots"])]
        optimizer.set_state({"iterations": ost["iterations"], "slots": slots}, tvars)
    return model
