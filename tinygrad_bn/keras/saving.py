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
``os.replace``): an interrupted save leaves the previous file intact, and the
next save to the same path removes the temporary file a killed save left behind.
The path is used exactly as given (no extension is appended).

Loading reads a file as untrusted input.  The JSON document is checked field by
field; every array member's ``.npy`` header (shape, dtype) is checked against the
document and the model *before* its data is read, members the model does not need
are never read, and building a model from a saved architecture fails as soon as a
layer asks for a weight the file does not hold -- so memory stays bounded by what the
declared model needs.  Random-generator states are restored only for NumPy's bit
generators, by name.  Truncated, corrupt or malformed files raise ``ValueError``
naming the file and what is wrong.

Training state (for ``BackupAndRestore``)::

    save_training_state(model, directory, epoch)   # -> path of the state file
    load_training_state(model, directory)          # -> epoch, or None if no state
    remove_training_state(directory)               # after training finished
"""
import json
import math
import os
import zipfile
import zlib

import numpy as np

from ..utils import atomic_write

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "save_training_state",
           "load_training_state", "remove_training_state", "TRAINING_STATE_FILE",
           "FORMAT_VERSION"]

FORMAT_VERSION = 1
_DOC = "model.json"
TRAINING_STATE_FILE = "training_state.npz"
_MAX_DOC_BYTES = 64 * 2 ** 20          # the JSON document of any sane model is far smaller
_MAX_SLOTS = 16
_MAX_DEFLATE_RATIO = 100               # weights barely compress; only long runs of zeros do
#: NumPy bit generators a saved random state may name (nothing else is ever looked up)
_BIT_GENERATORS = {name: getattr(np.random, name)
                   for name in ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")}
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError, ValueError, OverflowError, SyntaxError)


def _fspath(path, what):
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{what}: filepath must be a str or os.PathLike, got "
                        f"{type(path).__name__} {path!r}") from None


# -- writing ------------------------------------------------------------------------------
def _rng_state(rng):
    return None if rng is None else rng.bit_generator.state


def _write(path, doc, arrays, what):
    arrays = dict(arrays)
    arrays[_DOC] = np.array(json.dumps(doc))

    def write(fh):
        np.savez(fh, **arrays)

    try:
        return atomic_write(path, write)
    except ValueError as exc:
        raise ValueError(f"{what}: cannot write {path!r}: {exc}") from exc
    except OSError as exc:
        if exc.errno is None:
            raise
        raise type(exc)(exc.errno, f"{what}: cannot write {path!r}: {exc.strerror}") from exc


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


def _optimizer_part(model, arrays):
    """Slots into ``arrays``; returns the JSON description of the optimizer state."""
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
    return {"iterations": int(state["iterations"]), "slots": slot_counts,
            "trainable": [v.name for v in tvars]}


def _model_doc(model, kind, what):
    from . import losses as _losses
    from .. import optimizers as _optimizers
    if not model.built:
        raise ValueError(f"{what}: the model has not been built yet; build it (fit, build or call "
                         "it on data) before saving")
    arrays, info = _weights_part(model)
    doc = {"format": "tinygrad_bn", "version": FORMAT_VERSION, "kind": kind,
           "class_name": type(model).__name__, "config": model.get_config(),
           "build_input_shape": list(model._build_input_shape), "weights": info,
           "rng": _rng_state(model._rng), "layer_rng": _layer_rngs(model), "compile": None}
    if model.optimizer is not None:
        doc["compile"] = {
            "optimizer": _optimizers.serialize(model.optimizer),
            "loss": _losses.serialize(model.loss) if model.loss is not None else None,
            "metrics": model._metric_specs,
            "optimizer_state": _optimizer_part(model, arrays),
        }
    return doc, arrays


def save_weights(model, path):
    """Write the model's weights (and its input shape, so an unbuilt twin can load them)."""
    path = _fspath(path, "save_weights")
    if not model.built:
        raise ValueError("save_weights: the model has not been built yet, so it has no weights to save")
    arrays, info = _weights_part(model)
    doc = {"format": "tinygrad_bn", "version": FORMAT_VERSION, "kind": "weights",
           "build_input_shape": list(model._build_input_shape), "weights": info}
    return _write(path, doc, arrays, "save_weights")


def save_model(model, path):
    """Architecture, weights, compile settings, optimizer state and random states, atomically."""
    path = _fspath(path, "save")
    doc, arrays = _model_doc(model, "model", "save")
    return _write(path, doc, arrays, "save")


# -- reading: an untrusted npz ------------------------------------------------------------
class _Reader:
    """An ``.npz`` file opened for checked reading: headers first, data on demand."""

    def __init__(self, path, what):
        self.path, self.what = path, what
        if not os.path.lexists(path):
            raise FileNotFoundError(f"{what}: no such file {path!r}")
        if os.path.isdir(path):
            raise ValueError(f"{what}: {path!r} is a directory, not a file saved by tinygrad_bn")
        if not os.path.isfile(path):   # a FIFO or a device: opening it could block forever
            raise ValueError(f"{what}: {path!r} is not a regular file")
        try:
            self.size = os.path.getsize(path)
            self.zf = zipfile.ZipFile(path)
        except PermissionError as exc:
            raise PermissionError(exc.errno, f"{what}: cannot read {path!r}: {exc.strerror}") from exc
        except FileNotFoundError as exc:
            raise FileNotFoundError(exc.errno, f"{what}: no such file {path!r}") from exc
        except _READ_ERRORS as exc:
            raise ValueError(f"{what}: {path!r} is not a valid .npz file (truncated or corrupt "
                             f"zip archive: {exc})") from exc
        self.members = {}
        for info in self.zf.infolist():
            if info.filename.endswith(".npy"):
                self.members[info.filename[:-4]] = info
        self._headers = {}

    def close(self):
        self.zf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def fail(self, msg):
        raise ValueError(f"{self.what}: {self.path!r}: {msg}")

    def has(self, key):
        return key in self.members

    def header(self, key, what=None):
        """``(shape, dtype, fortran_order, header_len)`` of member ``key``; checks that the
        member holds exactly the bytes its header declares (without reading them)."""
        if key in self._headers:
            return self._headers[key]
        info = self.members.get(key)
        if info is None:
            self.fail(f"the array {key!r}{f' ({what})' if what else ''} is missing "
                      "(truncated or not written by this version?)")
        if info.flag_bits & 0x1:
            self.fail(f"member {key!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            self.fail(f"member {key!r} uses an unsupported compression method {info.compress_type}")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            self.fail(f"member {key!r} is corrupt (stored size {info.compress_size} != "
                      f"{info.file_size})")
        if (info.compress_type == zipfile.ZIP_DEFLATED
                and info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 2 ** 20):
            self.fail(f"member {key!r} claims {info.file_size} bytes from {info.compress_size} "
                      "compressed ones, an implausible ratio for model arrays (zip bomb?)")
        if info.header_offset + info.compress_size > self.size:
            self.fail(f"member {key!r} is truncated (it ends past the end of the file)")
        try:
            with self.zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    self.fail(f"member {key!r} has an unsupported .npy version {version}")
                hlen = fh.tell()
        except ValueError as exc:
            if str(exc).startswith(self.what):
                raise
            self.fail(f"member {key!r} is not a valid .npy array ({exc})")
        except _READ_ERRORS as exc:
            self.fail(f"member {key!r} cannot be read ({type(exc).__name__}: {exc})")
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            self.fail(f"member {key!r} has an unsupported dtype {dtype}")
        nbytes = math.prod(int(s) for s in shape) * dtype.itemsize
        if info.file_size != hlen + nbytes:
            self.fail(f"member {key!r} declares shape {tuple(shape)} of {dtype} ({nbytes} bytes) "
                      f"but holds {info.file_size - hlen} bytes of data")
        out = (tuple(int(s) for s in shape), dtype, bool(fortran), hlen)
        self._headers[key] = out
        return out

    def read(self, key):
        """The array ``key`` (its header must have been checked with :meth:`header`)."""
        shape, dtype, fortran, hlen = self.header(key)
        nbytes = math.prod(shape) * dtype.itemsize
        try:
            with self.zf.open(self.members[key]) as fh:
                fh.read(hlen)
                buf = fh.read(nbytes)
                extra = fh.read(1)       # reaches the end: zipfile checks the CRC there
        except _READ_ERRORS as exc:
            self.fail(f"member {key!r} is corrupt ({type(exc).__name__}: {exc})")
        if len(buf) != nbytes or extra:
            self.fail(f"member {key!r} is truncated ({len(buf)} of {nbytes} bytes)")
        arr = np.frombuffer(buf, dtype=dtype)
        return arr.reshape(shape, order="F" if fortran else "C")

    def document(self):
        if not self.has(_DOC):
            self.fail(f"not a tinygrad_bn file (no {_DOC!r} entry)")
        shape, dtype, _, _ = self.header(_DOC)
        if dtype.kind != "U" or shape != ():
            self.fail(f"the {_DOC!r} entry is not a string (shape {shape}, dtype {dtype})")
        if dtype.itemsize > _MAX_DOC_BYTES:
            self.fail(f"the {_DOC!r} entry is implausibly large ({dtype.itemsize} bytes)")
        text = str(self.read(_DOC)[()])
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.fail(f"the {_DOC!r} entry is not valid JSON ({type(exc).__name__}: {exc})")
        if not isinstance(doc, dict):
            self.fail(f"the {_DOC!r} entry is not a JSON object")
        return _checked_doc(doc, self)


def _is_int(x, lo=0):
    return isinstance(x, int) and not isinstance(x, bool) and x >= lo


def _checked_doc(doc, r):
    """Check the document's structure; raise ValueError naming the file and the field."""
    if doc.get("format") != "tinygrad_bn":
        r.fail(f"not a tinygrad_bn file (format {doc.get('format')!r})")
    version = doc.get("version")
    if not _is_int(version, 1) or version > FORMAT_VERSION:
        r.fail(f"has an unknown format version {version!r} (this version reads up to "
               f"{FORMAT_VERSION})")
    kind = doc.get("kind")
    if kind not in ("weights", "model", "training_state"):
        r.fail(f"has an unknown kind {kind!r}")
    shape = doc.get("build_input_shape")
    if (not isinstance(shape, list) or len(shape) < 2 or len(shape) > 32
            or not all(s is None or _is_int(s, 1) for s in shape)):
        r.fail(f"field 'build_input_shape' is malformed: {shape!r}")
    info = doc.get("weights")
    if not isinstance(info, dict):
        r.fail("field 'weights' is missing or not an object")
    names, shapes = info.get("names"), info.get("shapes")
    if (not isinstance(names, list) or not isinstance(shapes, list) or len(names) != len(shapes)
            or len(names) > 100_000):
        r.fail("field 'weights' must hold lists 'names' and 'shapes' of equal length")
    for name, shp in zip(names, shapes):
        if not isinstance(name, str) or not isinstance(shp, list) or len(shp) > 32 \
                or not all(_is_int(s) for s in shp):
            r.fail(f"field 'weights' has a malformed entry {name!r}: {shp!r}")
    if kind == "weights":
        return doc
    if not isinstance(doc.get("class_name"), str):
        r.fail(f"field 'class_name' is malformed: {doc.get('class_name')!r}")
    cfg = doc.get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list) \
            or not all(isinstance(c, dict) for c in cfg["layers"]):
        r.fail("field 'config' must be an object with a list of layer objects 'layers'")
    if doc.get("rng") is not None:
        _check_rng_state(doc["rng"], r, "rng")
    lrng = doc.get("layer_rng", {})
    if not isinstance(lrng, dict):
        r.fail("field 'layer_rng' is not an object")
    for k, v in lrng.items():
        if v is not None:
            _check_rng_state(v, r, f"layer_rng[{k!r}]")
    comp = doc.get("compile")
    if comp is not None:
        if not isinstance(comp, dict) or not isinstance(comp.get("optimizer"), dict):
            r.fail("field 'compile' is malformed (no optimizer object)")
        ost = comp.get("optimizer_state")
        if not isinstance(ost, dict) or not _is_int(ost.get("iterations")) \
                or not isinstance(ost.get("slots"), list) \
                or not all(k is None or (_is_int(k) and k <= _MAX_SLOTS) for k in ost["slots"]):
            r.fail(f"field 'compile.optimizer_state' is malformed: {ost!r:.200}")
        if not isinstance(comp.get("metrics", []), list):
            r.fail("field 'compile.metrics' is not a list")
    if kind == "training_state":
        if comp is None:
            r.fail("a training state must hold the optimizer state ('compile' is null)")
        if not _is_int(doc.get("epoch")):
            r.fail(f"field 'epoch' is malformed: {doc.get('epoch')!r}")
        lst = doc.get("layer_rng_list")
        if not isinstance(lst, list):
            r.fail("field 'layer_rng_list' is not a list")
        for i, v in enumerate(lst):
            if v is not None:
                _check_rng_state(v, r, f"layer_rng_list[{i}]")
    return doc


def _check_rng_state(state, r, field):
    if not isinstance(state, dict) or not isinstance(state.get("bit_generator"), str):
        r.fail(f"field {field!r} is not a random-generator state")
    name = state["bit_generator"]
    if name not in _BIT_GENERATORS:
        r.fail(f"field {field!r} names bit generator {name[:80]!r}; only NumPy's "
               f"{sorted(_BIT_GENERATORS)} are accepted")


def _rng_from_state(state, r, field):
    """A Generator with the saved state; only the allowed NumPy bit generators."""
    if state is None:
        return None
    _check_rng_state(state, r, field)
    bitgen = _BIT_GENERATORS[state["bit_generator"]]()
    try:
        bitgen.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        r.fail(f"field {field!r} holds an invalid {state['bit_generator']} state "
               f"({type(exc).__name__}: {exc})")
    return np.random.Generator(bitgen)


def _weight_plan(r, doc):
    """Check each declared weight's member header against the document: ``[(key, shape)]``."""
    plan = []
    for i, (name, shape) in enumerate(zip(doc["weights"]["names"], doc["weights"]["shapes"])):
        key = f"w{i:04d}"
        mshape, dtype, _, _ = r.header(key, f"weight {name!r}")
        if mshape != tuple(shape):
            r.fail(f"weight {name!r} ({key!r}) is declared with shape {tuple(shape)} but the "
                   f"array has shape {mshape}")
        if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
            r.fail(f"weight {name!r} ({key!r}) has dtype {dtype}; expected a float array")
        plan.append((key, name, tuple(shape)))
    return plan


def _guarded_build(model, input_shape, plan, r, who="the saved architecture"):
    """Build ``model`` for ``input_shape``; every weight a layer creates must be the next one
    the file declares, checked *before* the layer allocates it."""
    pos = [0]
    patched = []

    def guard(layer, original):
        def add_weight(name, shape, *args, **kwargs):
            i = pos[0]
            try:
                shp = tuple(int(s) for s in shape)
            except (TypeError, ValueError):
                shp = shape
            if i >= len(plan):
                r.fail(f"{who} creates more weights than the file holds "
                       f"({len(plan)}): layer {layer.name!r} asks for {name!r} of shape {shp}")
            if shp != plan[i][2]:
                r.fail(f"{who} makes weight {layer.name + '/' + str(name)!r} of shape "
                       f"{shp}, but the file's weight {i} ({plan[i][1]!r}) has shape {plan[i][2]}")
            pos[0] += 1
            return original(name, shape, *args, **kwargs)
        return add_weight

    try:
        for layer in model.layers:
            if "add_weight" not in vars(layer):
                layer.add_weight = guard(layer, layer.add_weight)
                patched.append(layer)
        model.build(tuple(input_shape))
    finally:
        for layer in patched:
            vars(layer).pop("add_weight", None)


def _check_model_weights(model, plan, r):
    mine = model.weights
    if len(plan) != len(mine):
        r.fail(f"holds {len(plan)} weight arrays but the model has {len(mine)} "
               f"(saved: {[p[1] for p in plan]}; model: {[v.name for v in mine]})")
    for var, (key, name, shape) in zip(mine, plan):
        if shape != tuple(var.data.shape):
            r.fail(f"saved weight {name!r} has shape {shape} but model weight {var.name!r} has "
                   f"shape {tuple(var.data.shape)}")


def _read_slots(r, doc, tvars):
    """Optimizer slot arrays per trainable variable (headers checked before reading)."""
    ost = doc["compile"]["optimizer_state"]
    if len(ost["slots"]) != len(tvars):
        r.fail(f"the optimizer state covers {len(ost['slots'])} variables but the model has "
               f"{len(tvars)} trainable ones")
    for i, k in enumerate(ost["slots"]):
        for j in range(k or 0):
            key = f"o{i:04d}_{j}"
            shape, dtype, _, _ = r.header(key, f"optimizer slot {j} of {tvars[i].name!r}")
            if shape != tuple(tvars[i].data.shape) or dtype.kind != "f":
                r.fail(f"optimizer slot {key!r} has shape {shape} and dtype {dtype}, but variable "
                       f"{tvars[i].name!r} has shape {tuple(tvars[i].data.shape)}")
    return [None if k is None else [r.read(f"o{i:04d}_{j}") for j in range(k)]
            for i, k in enumerate(ost["slots"])]


def _rebuild(what, r, fn, *args):
    """Run a deserializer on the file's description; its errors name the file."""
    try:
        return fn(*args)
    except ValueError as exc:
        if str(exc).startswith(what):
            raise
        r.fail(f"the saved description cannot be rebuilt ({type(exc).__name__}: {exc})")
    except (TypeError, KeyError, AttributeError, IndexError, OverflowError, RecursionError) as exc:
        r.fail(f"the saved description cannot be rebuilt ({type(exc).__name__}: {exc})")


def _open(path, what):
    return _Reader(_fspath(path, what), what)


# -- public loaders -------------------------------------------------------------------------
def load_weights(model, path):
    """Load weights written by ``save_weights``, ``save`` or ``save_training_state``
    (matched by position, shapes checked).  Nothing is assigned unless every array is good."""
    with _open(path, "load_weights") as r:
        doc = r.document()
        plan = _weight_plan(r, doc)
        if not model.built:
            _guarded_build(model, doc["build_input_shape"], plan, r, "the model")
        _check_model_weights(model, plan, r)
        arrays = [r.read(key) for key, _, _ in plan]
    for var, arr in zip(model.weights, arrays):
        var.assign(arr)
    return model


def load_model(path, custom_objects=None, compile=True):
    """Rebuild a model saved with ``model.save(path)``: architecture, weights, and (with
    ``compile=True``) loss, metrics, optimizer and its state, so training resumes exactly."""
    from .model import Sequential
    from . import losses as _losses
    from .. import optimizers as _optimizers
    what = "load_model"
    with _open(path, what) as r:
        doc = r.document()
        if doc["kind"] == "weights":
            r.fail("holds only weights (written by save_weights); rebuild the model in code and "
                   "call model.load_weights(path)")
        if doc["class_name"] != "Sequential":
            r.fail(f"unknown model class {doc['class_name']!r}")
        plan = _weight_plan(r, doc)
        model = _rebuild(what, r, Sequential.from_config, doc["config"], custom_objects)
        _rebuild(what, r, _guarded_build, model, doc["build_input_shape"], plan, r)
        _check_model_weights(model, plan, r)
        arrays = [r.read(key) for key, _, _ in plan]
        model_rng = _rng_from_state(doc.get("rng"), r, "rng")
        layer_rngs = {}
        for layer in model.layers:
            state = doc.get("layer_rng", {}).get(layer.name)
            if state is not None:
                layer_rngs[layer.name] = _rng_from_state(state, r, f"layer_rng[{layer.name!r}]")
        comp = doc.get("compile")
        opt_state = None
        if compile and comp is not None:
            optimizer = _rebuild(what, r, _optimizers.get, comp["optimizer"], custom_objects)
            loss = None
            if comp.get("loss") is not None:
                loss = _rebuild(what, r, _losses.deserialize, comp["loss"], custom_objects)
            _rebuild(what, r, model.compile, optimizer, loss, comp.get("metrics"))
            tvars = model.trainable_variables
            slots = _read_slots(r, doc, tvars)
            opt_state = ({"iterations": comp["optimizer_state"]["iterations"], "slots": slots}, tvars)
    for var, arr in zip(model.weights, arrays):
        var.assign(arr)
    model._rng = model_rng
    for layer in model.layers:
        if layer.name in layer_rngs:
            layer._rng = layer_rngs[layer.name]
    if opt_state is not None:
        model.optimizer.set_state(*opt_state)
    return model


# -- training state (BackupAndRestore) -----------------------------------------------------
def _state_file(directory, what):
    directory = _fspath(directory, what)
    return directory, os.path.join(directory, TRAINING_STATE_FILE)


def save_training_state(model, directory, epoch):
    """Atomically write everything needed to resume training after ``epoch`` finished epochs:
    weights (moving statistics included), optimizer slots and ``iterations``, the optimizer's
    learning rate, the shuffling and dropout random states, and ``epoch``.

    The state lives in ``directory/training_state.npz`` (the directory is created); the
    previous state stays intact until the new one is complete.  Returns the file's path."""
    what = "save_training_state"
    directory, path = _state_file(directory, what)
    if not _is_int(epoch):
        raise ValueError(f"{what}: epoch must be a non-negative int (epochs finished), got {epoch!r}")
    if model.optimizer is None:
        raise ValueError(f"{what}: the model is not compiled, so it has no optimizer state to save")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"{what}: {directory!r} exists and is not a directory")
    doc, arrays = _model_doc(model, "training_state", what)
    doc["epoch"] = int(epoch)
    doc["layer_rng_list"] = [_rng_state(getattr(layer, "_rng", None)) for layer in model.layers]
    return _write(path, doc, arrays, what)


def load_training_state(model, directory):
    """Restore what :func:`save_training_state` wrote into ``model`` (compiled with the same
    optimizer class; built or not) and return the saved ``epoch`` (epochs finished, i.e. the
    ``initial_epoch`` to resume at).  Returns None when ``directory`` holds no state.

    Everything is checked before anything is changed: a bad file raises ValueError naming
    it and leaves the model as it was."""
    what = "load_training_state"
    directory, path = _state_file(directory, what)
    if not os.path.lexists(path):
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise ValueError(f"{what}: {directory!r} is not a directory")
        return None
    if model.optimizer is None:
        raise ValueError(f"{what}: compile the model before restoring a training state into it")
    with _open(path, what) as r:
        doc = r.document()
        if doc["kind"] != "training_state":
            r.fail(f"holds a {doc['kind']!r} file, not a training state")
        comp = doc["compile"]
        saved_opt = comp["optimizer"].get("class_name")
        if saved_opt != type(model.optimizer).__name__:
            r.fail(f"was saved with optimizer {saved_opt!r}, but the model uses "
                   f"{type(model.optimizer).__name__!r}")
        plan = _weight_plan(r, doc)
        if not model.built:
            _guarded_build(model, doc["build_input_shape"], plan, r, "the model")
        _check_model_weights(model, plan, r)
        if len(doc["layer_rng_list"]) != len(model.layers):
            r.fail(f"holds random states for {len(doc['layer_rng_list'])} layers but the model has "
                   f"{len(model.layers)}")
        arrays = [r.read(key) for key, _, _ in plan]
        tvars = model.trainable_variables
        slots = _read_slots(r, doc, tvars)
        model_rng = _rng_from_state(doc.get("rng"), r, "rng")
        layer_rngs = [_rng_from_state(s, r, f"layer_rng_list[{i}]")
                      for i, s in enumerate(doc["layer_rng_list"])]
        lr = comp["optimizer"].get("config", {}).get("learning_rate")
        restore_lr = (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr)
                      and lr >= 0 and not callable(model.optimizer.learning_rate))
        # the optimizer validates the slots before it writes anything; check here first so a
        # failure cannot leave the weights assigned and the slots not
        n_slots = len(model.optimizer._slot_names_for())
        for var, s in zip(tvars, slots):
            if s is not None and len(s) != n_slots:
                r.fail(f"holds {len(s)} optimizer slots for {var.name!r}; "
                       f"{type(model.optimizer).__name__} has {n_slots}")
    model.optimizer.set_state({"iterations": comp["optimizer_state"]["iterations"], "slots": slots},
                              tvars)
    for var, arr in zip(model.weights, arrays):
        var.assign(arr)
    if restore_lr:
        model.optimizer.learning_rate = lr
    model._rng = model_rng
    for layer, rng in zip(model.layers, layer_rngs):
        if hasattr(layer, "_rng"):
            layer._rng = rng
    return int(doc["epoch"])


def remove_training_state(directory):
    """Delete the state :func:`save_training_state` wrote (and the directory if it is then
    empty).  Returns True if a state file was removed."""
    directory, path = _state_file(directory, "remove_training_state")
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    try:
        os.rmdir(directory)
    except OSError:
        pass
    return True
