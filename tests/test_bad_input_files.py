"""Bad-input battery for files and studies: save/load of models, weights and training
states, and the tuning module (search spaces, study storage files, study arguments).

Every case ends in the right result or in a clear exception naming the file or the
argument.  Crafted files are built by hand here (zip members and ``.npy`` headers
written directly), so the loader sees exactly what an attacker or a broken disk gives it.
"""
import io
import json
import math
import os
import sqlite3
import tracemalloc
import zipfile

import numpy as np
import pytest

from badinput import expect_error
import tinygrad_bn as tg
from tinygrad_bn import tune
from tinygrad_bn.keras import Dense, Dropout, Sequential, load_model, saving
from tinygrad_bn.tune import objectives as obj
from tinygrad_bn.tune.storage import StorageError


# -- a small saved model, and tools to take its file apart ------------------------------------
def _model(seed=0):
    tg.utils.set_seed(seed)
    m = Sequential([Dense(4, input_shape=(3,), name="d1"), Dropout(0.5, name="drop"), Dense(2, name="d2")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("saved")
    m = _model()
    x = np.arange(24, dtype=np.float32).reshape(8, 3) / 24
    m.fit(x, np.arange(8) % 2, epochs=1, verbose=0)
    m.save(d / "model.npz")
    m.save_weights(d / "weights.npz")
    saving.save_training_state(m, d / "state", 1)
    return {"model": d / "model.npz", "weights": d / "weights.npz",
            "state": d / "state" / saving.TRAINING_STATE_FILE, "x": x, "pred": m.predict(x)}


def _members(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _npy(arr):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=True)
    return buf.getvalue()


def _npy_header_only(shape, descr="<f4", data=b""):
    """A .npy member whose header declares ``shape`` but holds only ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _doc(members):
    arr = np.load(io.BytesIO(members["model.json.npy"]))
    return json.loads(str(arr))


def _write_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _crafted(tmp_path, src, edit_doc=None, drop=(), put=None, name="crafted.npz"):
    members = _members(src)
    if edit_doc is not None:
        doc = _doc(members)
        edit_doc(doc)
        members["model.json.npy"] = _npy(np.array(json.dumps(doc)))
    for k in drop:
        del members[k]
    members.update(put or {})
    return _write_zip(tmp_path / name, members)


def _set(path, value):
    """A doc editor setting ``doc[path[0]][path[1]]... = value``."""
    def edit(doc):
        d = doc
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return edit


# -- load: the file itself ----------------------------------------------------------------------
def _truncated(tmp_path, saved, frac):
    data = saved["model"].read_bytes()
    p = tmp_path / "cut.npz"
    p.write_bytes(data[:int(len(data) * frac)])
    return p


FILE_CASES = {
    "truncated_half": (lambda t, s: _truncated(t, s, 0.5), ValueError, ["cut.npz", "not a valid .npz"]),
    "truncated_to_zero": (lambda t, s: _truncated(t, s, 0.0), ValueError, ["cut.npz", "not a valid .npz"]),
    "truncated_last_byte": (lambda t, s: _truncated(t, s, 0.9999), ValueError, ["cut.npz"]),
    "random_bytes": (lambda t, s: (t / "r.npz").write_bytes(os.urandom(4096)) and t / "r.npz",
                     ValueError, ["r.npz", "not a valid .npz"]),
    "foreign_npz": (lambda t, s: (np.savez(t / "f.npz", a=np.ones(3)), t / "f.npz")[1],
                    ValueError, ["f.npz", "not a tinygrad_bn file"]),
    "foreign_zip_text": (lambda t, s: _write_zip(t / "z.npz", {"readme.txt": b"hello"}),
                         ValueError, ["z.npz", "not a tinygrad_bn file"]),
    "directory": (lambda t, s: (os.makedirs(t / "dir.npz"), t / "dir.npz")[1],
                  ValueError, ["dir.npz", "directory"]),
    "missing_file": (lambda t, s: t / "nope.npz", FileNotFoundError, ["nope.npz"]),
    "fifo_would_block": (lambda t, s: (os.mkfifo(t / "pipe.npz"), t / "pipe.npz")[1],
                         ValueError, ["pipe.npz", "not a regular file"]),
    "device": (lambda t, s: "/dev/zero", ValueError, ["/dev/zero", "not a regular file"]),
    "doc_bad_json": (lambda t, s: _crafted(t, s["model"], put={"model.json.npy": _npy(np.array("{oops"))}),
                     ValueError, ["crafted.npz", "not valid JSON"]),
    "doc_deep_json": (lambda t, s: _crafted(t, s["model"], put={"model.json.npy": _npy(np.array("[" * 100_000))}),
                      ValueError, ["crafted.npz", "not valid JSON"]),
    "doc_not_a_string": (lambda t, s: _crafted(t, s["model"], put={"model.json.npy": _npy(np.arange(3))}),
                         ValueError, ["crafted.npz", "not a string"]),
    "doc_json_array": (lambda t, s: _crafted(t, s["model"], put={"model.json.npy": _npy(np.array("[1, 2]"))}),
                       ValueError, ["crafted.npz", "not a JSON object"]),
    "doc_pickled_object": (lambda t, s: _crafted(t, s["model"], put={"model.json.npy": _npy(np.array([{}], dtype=object))}),
                           ValueError, ["crafted.npz", "unsupported dtype"]),
    "format_foreign": (lambda t, s: _crafted(t, s["model"], _set(["format"], "keras")),
                       ValueError, ["crafted.npz", "format"]),
    "version_from_the_future": (lambda t, s: _crafted(t, s["model"], _set(["version"], 99)),
                                ValueError, ["crafted.npz", "version 99"]),
    "kind_unknown": (lambda t, s: _crafted(t, s["model"], _set(["kind"], "pickle")),
                     ValueError, ["crafted.npz", "kind 'pickle'"]),
    "weight_member_missing": (lambda t, s: _crafted(t, s["model"], drop=["w0002.npy"]),
                              ValueError, ["crafted.npz", "'w0002'", "missing"]),
    "weight_wrong_shape": (lambda t, s: _crafted(t, s["model"], put={"w0000.npy": _npy(np.ones((3, 5), np.float32))}),
                           ValueError, ["crafted.npz", "d1/kernel", "(3, 4)", "(3, 5)"]),
    "weight_integer_dtype": (lambda t, s: _crafted(t, s["model"], put={"w0000.npy": _npy(np.ones((3, 4), np.int64))}),
                             ValueError, ["crafted.npz", "d1/kernel", "int64"]),
    "weight_header_lies_about_size": (
        lambda t, s: _crafted(t, s["model"], _set(["weights", "shapes", 0], [100_000, 100_000]),
                              put={"w0000.npy": _npy_header_only((100_000, 100_000), data=b"\0" * 48)}),
        ValueError, ["crafted.npz", "'w0000'", "(100000, 100000)", "holds 48 bytes"]),
    "weight_truncated_data": (lambda t, s: _crafted(t, s["model"], put={"w0001.npy": _npy(np.ones(4, np.float32))[:-3]}),
                              ValueError, ["crafted.npz", "'w0001'", "holds 13 bytes"]),
    "architecture_disagrees": (lambda t, s: _crafted(t, s["model"], _set(["config", "layers", 0, "config", "units"], 5)),
                               ValueError, ["crafted.npz", "(3, 5)", "(3, 4)"]),
    "architecture_unknown_layer": (lambda t, s: _crafted(t, s["model"], _set(["config", "layers", 1, "class_name"], "Evil")),
                                   ValueError, ["crafted.npz", "cannot be rebuilt", "Evil"]),
    "architecture_bad_kwarg": (lambda t, s: _crafted(t, s["model"], _set(["config", "layers", 0, "config", "bogus"], 1)),
                               ValueError, ["crafted.npz", "cannot be rebuilt", "bogus"]),
    "architecture_not_a_list": (lambda t, s: _crafted(t, s["model"], _set(["config", "layers"], "Dense")),
                                ValueError, ["crafted.npz", "config"]),
    "build_input_shape_malformed": (lambda t, s: _crafted(t, s["model"], _set(["build_input_shape"], ["a", 3])),
                                    ValueError, ["crafted.npz", "build_input_shape"]),
    "weights_list_malformed": (lambda t, s: _crafted(t, s["model"], _set(["weights", "shapes"], [[3, 4]])),
                               ValueError, ["crafted.npz", "'weights'"]),
    "rng_names_any_attribute": (lambda t, s: _crafted(t, s["model"], _set(["rng", "bit_generator"], "seed")),
                                ValueError, ["crafted.npz", "'seed'", "PCG64"]),
    "rng_names_a_dunder": (lambda t, s: _crafted(t, s["model"], _set(["layer_rng", "drop", "bit_generator"], "__loader__")),
                           ValueError, ["crafted.npz", "__loader__"]),
    "rng_state_malformed": (lambda t, s: _crafted(t, s["model"], _set(["rng", "state"], "x")),
                            ValueError, ["crafted.npz", "invalid PCG64 state"]),
    "rng_state_not_a_dict": (lambda t, s: _crafted(t, s["model"], _set(["rng"], [1, 2])),
                             ValueError, ["crafted.npz", "'rng'"]),
    "optimizer_unknown": (lambda t, s: _crafted(t, s["model"], _set(["compile", "optimizer", "class_name"], "Oracle")),
                          ValueError, ["crafted.npz", "cannot be rebuilt", "oracle"]),
    "optimizer_slot_missing": (lambda t, s: _crafted(t, s["model"], drop=["o0001_1.npy"]),
                               ValueError, ["crafted.npz", "'o0001_1'", "missing"]),
    "optimizer_slot_wrong_shape": (lambda t, s: _crafted(t, s["model"], put={"o0000_0.npy": _npy(np.ones(2, np.float32))}),
                                   ValueError, ["crafted.npz", "'o0000_0'", "(2,)", "(3, 4)"]),
    "optimizer_iterations_negative": (lambda t, s: _crafted(t, s["model"], _set(["compile", "optimizer_state", "iterations"], -1)),
                                      ValueError, ["crafted.npz", "optimizer_state"]),
    "optimizer_slot_count_absurd": (lambda t, s: _crafted(t, s["model"], _set(["compile", "optimizer_state", "slots"], [10**9] * 4)),
                                    ValueError, ["crafted.npz", "optimizer_state"]),
    "weights_only_file": (lambda t, s: s["weights"], ValueError, ["weights.npz", "holds only weights"]),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_load_model_bad_file(case, saved, tmp_path):
    make, exc, words = FILE_CASES[case]
    path = make(tmp_path, saved)
    expect_error(lambda: load_model(path), exc, "load_model", *words)


def _bit_flip(tmp_path, saved):
    """Flip one byte inside the data of a stored member: the CRC no longer matches."""
    data = bytearray(saved["model"].read_bytes())
    with zipfile.ZipFile(saved["model"]) as z:
        info = z.getinfo("w0000.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 8
    data[start] ^= 0xFF
    p = tmp_path / "flipped.npz"
    p.write_bytes(bytes(data))
    return p


def test_load_model_corrupt_member_crc(saved, tmp_path):
    expect_error(lambda: load_model(_bit_flip(tmp_path, saved)), ValueError, "flipped.npz", "'w0000'",
                 "corrupt")


def _peak_mib(fn):
    tracemalloc.start()
    try:
        fn()
    except ValueError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2 ** 20


def test_huge_declared_architecture_is_refused_before_allocating(saved, tmp_path):
    """The file declares a (3, 4) kernel but its architecture asks for Dense(10**9): the
    layer's request is refused before the initializer allocates 12 GB."""
    path = _crafted(tmp_path, saved["model"], _set(["config", "layers", 0, "config", "units"], 10 ** 9))
    expect_error(lambda: load_model(path), ValueError, "crafted.npz", "(3, 1000000000)", "(3, 4)")
    assert _peak_mib(lambda: load_model(path)) < 8


def test_zip_bomb_member_is_refused_before_reading(saved, tmp_path):
    members = _members(saved["model"])
    members["w0000.npy"] = _npy_header_only((10_000_000,), data=bytes(40_000_000))
    path = _write_zip(tmp_path / "bomb.npz", members, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 400_000
    expect_error(lambda: load_model(path), ValueError, "bomb.npz", "'w0000'", "zip bomb")
    assert _peak_mib(lambda: load_model(path)) < 8


def test_unused_huge_member_is_never_read(saved, tmp_path):
    """A member the model does not need is ignored (right result), not decompressed."""
    members = _members(saved["model"])
    members["junk.npy"] = _npy(np.arange(5_000_000, dtype=np.float32))     # 20 MB
    path = _write_zip(tmp_path / "extra.npz", members)
    peak = []
    tracemalloc.start()
    try:
        m = load_model(path)
        peak.append(tracemalloc.get_traced_memory()[1] / 2 ** 20)
    finally:
        tracemalloc.stop()
    assert peak[0] < 8
    np.testing.assert_array_equal(m.predict(saved["x"]), saved["pred"])


def test_fortran_order_and_float64_members_load_right(saved, tmp_path):
    """Legitimate variants: a Fortran-ordered and a float64 weight load to the same values."""
    with np.load(saved["model"]) as f:
        k0, k2 = f["w0000"], f["w0002"]
    path = _crafted(tmp_path, saved["model"], put={"w0000.npy": _npy(np.asfortranarray(k0)),
                                                   "w0002.npy": _npy(k2.astype(np.float64))})
    m = load_model(path)
    np.testing.assert_array_equal(m.get_weights()[0], k0)
    np.testing.assert_array_equal(m.predict(saved["x"]), saved["pred"])


# -- load_weights / training state ---------------------------------------------------------------
def test_load_weights_mismatch_changes_nothing(saved, tmp_path):
    m = _model(seed=3)
    m.build((None, 3))
    before = m.get_weights()
    path = _crafted(tmp_path, saved["weights"], put={"w0003.npy": _npy(np.ones(7, np.float32))})
    expect_error(lambda: m.load_weights(path), ValueError, "load_weights", "crafted.npz", "'w0003'")
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = Sequential([Dense(5, input_shape=(3,)), Dense(2)])
    expect_error(lambda: other.load_weights(saved["weights"]), ValueError, "weights.npz", "shape")


STATE_CASES = {
    "epoch_missing": _set(["epoch"], None),
    "epoch_negative": _set(["epoch"], -3),
    "layer_rngs_not_a_list": _set(["layer_rng_list"], {}),
    "layer_rng_bad_name": _set(["layer_rng_list", 1], {"bit_generator": "RandomState", "state": {}}),
    "no_optimizer_state": _set(["compile"], None),
}


@pytest.mark.parametrize("case", sorted(STATE_CASES))
def test_load_training_state_bad_document(case, saved, tmp_path):
    os.makedirs(tmp_path / "b")
    _crafted(tmp_path / "b", saved["state"], STATE_CASES[case], name=saved["state"].name)
    m = _model(seed=9)
    expect_error(lambda: saving.load_training_state(m, tmp_path / "b"), ValueError,
                 "load_training_state", saving.TRAINING_STATE_FILE)
    assert not m.built or m.optimizer.iterations == 0


def test_load_training_state_path_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    expect_error(lambda: saving.load_training_state(_model(), tmp_path / "f"), ValueError,
                 "load_training_state", "is not a directory")


# -- save: where it cannot write --------------------------------------------------------------
def _trained():
    m = _model()
    m.build((None, 3))
    return m


SAVE_CASES = {
    "unwritable_dir": (lambda t: "/proc/tinygrad_bn_model.npz", OSError, ["/proc/tinygrad_bn_model.npz"]),
    "parent_is_a_file": (lambda t: (t.joinpath("f").write_text("x"), t / "f" / "m.npz")[1], OSError, ["m.npz"]),
    "path_is_a_directory": (lambda t: (os.makedirs(t / "d.npz"), t / "d.npz")[1], OSError, ["d.npz"]),
    "path_is_an_int": (lambda t: 3, TypeError, ["filepath", "int"]),
    "path_is_a_fifo": (lambda t: (os.mkfifo(t / "p.npz"), t / "p.npz")[1], ValueError, ["p.npz", "not a regular file"]),
    "path_is_none": (lambda t: None, TypeError, ["filepath"]),
}


@pytest.mark.parametrize("case", sorted(SAVE_CASES))
def test_save_bad_path(case, tmp_path):
    make, exc, words = SAVE_CASES[case]
    path = make(tmp_path)
    m = _trained()
    expect_error(lambda: m.save(path), exc, "save", *words)
    expect_error(lambda: m.save_weights(path), exc, "save_weights", *words)
    # nothing half-written is left in a writable parent
    if isinstance(path, os.PathLike) and os.path.isdir(os.path.dirname(path)):
        assert not [n for n in os.listdir(os.path.dirname(path)) if ".tmp-" in n]
    if case == "path_is_a_fifo":
        assert not os.path.isfile(path)           # the FIFO was not replaced


def test_save_unbuilt_and_state_bad_epoch(tmp_path):
    expect_error(lambda: Sequential([Dense(2)]).save(tmp_path / "x.npz"), ValueError, "save", "not been built")
    expect_error(lambda: saving.save_training_state(_trained(), tmp_path, 1.5), ValueError,
                 "save_training_state", "epoch")
    expect_error(lambda: saving.save_training_state(_trained(), tmp_path, True), ValueError,
                 "save_training_state", "epoch")


# -- tune: search spaces ---------------------------------------------------------------------
SPACE_CASES = {
    "uniform_nan_low": (lambda: tune.Uniform(float("nan"), 1), ValueError, ["Uniform", "low", "finite"]),
    "uniform_inf_high": (lambda: tune.Uniform(0, float("inf")), ValueError, ["Uniform", "high", "finite"]),
    "uniform_int_too_big": (lambda: tune.Uniform(0, 10 ** 400), ValueError, ["Uniform", "high", "too large"]),
    "uniform_equal": (lambda: tune.Uniform(1, 1), ValueError, ["Uniform", "low < high"]),
    "uniform_reversed": (lambda: tune.Uniform(2, 1), ValueError, ["Uniform", "low < high"]),
    "uniform_str": (lambda: tune.Uniform("0", 1), TypeError, ["Uniform", "low", "str"]),
    "uniform_bool": (lambda: tune.Uniform(True, 2), TypeError, ["Uniform", "low", "bool"]),
    "uniform_none": (lambda: tune.Uniform(0, None), TypeError, ["Uniform", "high"]),
    "log_zero": (lambda: tune.LogUniform(0, 1), ValueError, ["LogUniform", "> 0"]),
    "log_negative": (lambda: tune.LogUniform(-1, 1), ValueError, ["LogUniform", "> 0"]),
    "log_nan": (lambda: tune.LogUniform(1e-3, float("nan")), ValueError, ["LogUniform", "high"]),
    "one_minus_high_one": (lambda: tune.OneMinusLogUniform(0.9, 1.0), ValueError, ["OneMinusLogUniform", "high < 1"]),
    "one_minus_low_negative": (lambda: tune.OneMinusLogUniform(-0.1, 0.9), ValueError, ["OneMinusLogUniform", "0 <= low"]),
    "one_minus_reversed": (lambda: tune.OneMinusLogUniform(0.99, 0.9), ValueError, ["OneMinusLogUniform", "low < high"]),
    "int_float_bound": (lambda: tune.IntUniform(1.5, 3), TypeError, ["IntUniform", "low", "integer"]),
    "int_huge_bound": (lambda: tune.IntUniform(0, 2 ** 60), ValueError, ["IntUniform", "high", "2**53"]),
    "int_log_not_bool": (lambda: tune.IntUniform(1, 9, log="yes"), TypeError, ["IntUniform", "log"]),
    "int_log_zero": (lambda: tune.IntUniform(0, 9, log=True), ValueError, ["IntUniform", "> 0"]),
    "choice_empty": (lambda: tune.Choice([]), ValueError, ["Choice", "at least one"]),
    "choice_nan": (lambda: tune.Choice([0.1, float("nan")]), ValueError, ["Choice", "finite"]),
    "choice_string": (lambda: tune.Choice("abc"), TypeError, ["Choice", "list"]),
    "choice_object": (lambda: tune.Choice([object()]), TypeError, ["Choice", "object"]),
    "choice_duplicate": (lambda: tune.Choice([1, 1]), ValueError, ["Choice", "duplicate"]),
    "space_empty": (lambda: tune.Space({}), ValueError, ["search space", "at least one"]),
    "space_not_a_dict": (lambda: tune.Space([tune.Uniform(0, 1)]), TypeError, ["search space", "dict"]),
    "space_int_name": (lambda: tune.Space({1: tune.Uniform(0, 1)}), TypeError, ["names", "1"]),
    "space_bad_dimension": (lambda: tune.Space({"x": 3}), TypeError, ["'x'", "3"]),
    "sample_negative_seed": (lambda: tune.Space({"x": tune.Uniform(0, 1)}).sample(-1), ValueError, ["sample", "seed"]),
    "zoom_margin_str": (lambda: tune.Uniform(0, 1).zoom([0.5], "a"), TypeError, ["margin"]),
    "zoom_margin_nan": (lambda: tune.LogUniform(1e-3, 1).zoom([0.1], float("nan")), ValueError, ["margin"]),
    "dimension_dict_unknown": (lambda: tune.space.dimension_from_dict({"type": "Gauss"}), ValueError, ["Gauss"]),
    "dimension_dict_bad_keys": (lambda: tune.space.dimension_from_dict({"type": "Uniform", "lo": 1}), ValueError, ["Uniform", "lo"]),
}


@pytest.mark.parametrize("case", sorted(SPACE_CASES))
def test_space_bad_arguments(case):
    make, exc, words = SPACE_CASES[case]
    expect_error(make, exc, *words)


def test_space_edge_values_are_right():
    assert tune.OneMinusLogUniform(0.0, 0.9999).bounds_internal()[1] == 0.0
    x = [tune.Uniform(-1e308, 1e308).sample(np.random.default_rng(i)) for i in range(200)]
    assert all(math.isfinite(v) and -1e308 <= v <= 1e308 for v in x)
    assert tune.Uniform(np.float32(0), np.int64(2)).high == 2.0          # numpy scalars are fine


# -- tune: storage files ---------------------------------------------------------------------
def _sqlite_file(tmp_path, name="a.db"):
    p = tmp_path / name
    s = tune.Study("s", obj.log_bowl_space(), storage=str(p))
    s.optimize(obj.log_bowl, 3, seed=0)
    s.storage.close()
    con = sqlite3.connect(p)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return p


def _foreign_schema(tmp_path):
    p = tmp_path / "optuna.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name TEXT)")
    con.commit()
    con.close()
    return p


def _other_app(tmp_path):
    p = tmp_path / "app.db"
    con = sqlite3.connect(p)
    con.execute("PRAGMA application_id = 42")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    return p


def _cut(tmp_path, n):
    data = _sqlite_file(tmp_path, "whole.db").read_bytes()
    p = tmp_path / "cut.db"
    p.write_bytes(data[:n] if n > 0 else data[:len(data) // 2])
    return p


STORAGE_CASES = {
    "random_bytes": (lambda t: (t / "j.db").write_bytes(os.urandom(3000)) and t / "j.db", StorageError, ["j.db", "not an SQLite"]),
    "text_file": (lambda t: (t / "t.db").write_text("id,value\n1,2\n") and t / "t.db", StorageError, ["t.db", "not an SQLite"]),
    "truncated_header": (lambda t: _cut(t, 60), StorageError, ["cut.db", "truncated"]),
    "truncated_half": (lambda t: _cut(t, 0), StorageError, ["cut.db"]),
    "foreign_schema": (_foreign_schema, StorageError, ["optuna.db", "not a tinygrad_bn study"]),
    "other_application": (_other_app, StorageError, ["app.db", "another application"]),
    "directory": (lambda t: (os.makedirs(t / "d.db"), t / "d.db")[1], StorageError, ["d.db", "directory"]),
    "fifo": (lambda t: (os.mkfifo(t / "p.db"), t / "p.db")[1], StorageError, ["p.db", "not a regular file"]),
    "missing_directory": (lambda t: t / "no" / "s.db", FileNotFoundError, ["s.db", "does not exist"]),
    "unwritable_place": (lambda t: "/proc/tinygrad_bn_study.db", PermissionError, ["/proc/tinygrad_bn_study.db"]),
    "unwritable_file": (lambda t: "/proc/version", PermissionError, ["/proc/version", "writ"]),
    "unsupported_url": (lambda t: "postgres://host/db", ValueError, ["postgres://host/db", "unsupported"]),
    "not_a_path": (lambda t: 3.5, TypeError, ["storage", "float"]),
    "empty_path": (lambda t: "sqlite:///", ValueError, ["storage", "no file path"]),
}


@pytest.mark.parametrize("case", sorted(STORAGE_CASES))
def test_storage_bad_file(case, tmp_path):
    make, exc, words = STORAGE_CASES[case]
    storage = make(tmp_path)
    if isinstance(storage, os.PathLike):
        storage = f"sqlite:///{storage}"
    expect_error(lambda: tune.Study("s", obj.log_bowl_space(), storage=storage), exc, *words)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write read-only files")
def test_storage_read_only_file(tmp_path):
    p = _sqlite_file(tmp_path)
    p.chmod(0o444)
    expect_error(lambda: tune.Study("s", None, storage=str(p)), PermissionError, "a.db")


def test_storage_memory_url_creates_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite:///:memory:", "sqlite://", ":memory:", None):
        s = tune.Study("m", obj.log_bowl_space(), storage=url)
        assert s.storage.in_memory
        s.optimize(obj.log_bowl, 2, seed=0)
        assert len(s.trials) == 2
    assert os.listdir(tmp_path) == []


def test_storage_our_file_reopens(tmp_path):
    p = _sqlite_file(tmp_path)
    assert len(tune.Study.load("s", f"sqlite:///{p}").trials) == 3
    con = sqlite3.connect(p)
    assert con.execute("PRAGMA application_id").fetchone()[0] == tune.storage.APPLICATION_ID
    con.close()


# -- tune: study arguments ---------------------------------------------------------------------
def _study():
    return tune.Study("a", obj.log_bowl_space())


STUDY_CASES = {
    "name_int": (lambda: tune.Study(3, obj.log_bowl_space()), TypeError, ["name", "int"]),
    "name_empty": (lambda: tune.Study("", obj.log_bowl_space()), ValueError, ["name"]),
    "direction_bad": (lambda: tune.Study("a", obj.log_bowl_space(), direction="down"), ValueError, ["direction", "down"]),
    "load_missing": (lambda: tune.Study.load("ghost", None), KeyError, ["ghost"]),
    "n_trials_negative": (lambda: _study().optimize(obj.log_bowl, -1), ValueError, ["n_trials", "-1"]),
    "n_trials_float": (lambda: _study().optimize(obj.log_bowl, 2.5), ValueError, ["n_trials", "2.5"]),
    "n_trials_bool": (lambda: _study().optimize(obj.log_bowl, True), ValueError, ["n_trials"]),
    "objective_not_callable": (lambda: _study().optimize(42, 3), TypeError, ["objective", "callable"]),
    "n_jobs_zero": (lambda: _study().optimize(obj.log_bowl, 3, n_jobs=0), ValueError, ["n_jobs", "0"]),
    "n_jobs_float": (lambda: _study().optimize(obj.log_bowl, 3, n_jobs=1.5), ValueError, ["n_jobs", "1.5"]),
    "timeout_negative": (lambda: _study().optimize(obj.log_bowl, 3, timeout=-1), ValueError, ["timeout"]),
    "timeout_nan": (lambda: _study().optimize(obj.log_bowl, 3, timeout=float("nan")), ValueError, ["timeout"]),
    "timeout_str": (lambda: _study().optimize(obj.log_bowl, 3, timeout="1"), TypeError, ["timeout", "str"]),
    "stale_after_zero": (lambda: _study().optimize(obj.log_bowl, 3, stale_after=0), ValueError, ["stale_after"]),
    "heartbeat_longer_than_stale": (lambda: _study().optimize(obj.log_bowl, 3, stale_after=5, heartbeat_interval=10),
                                    ValueError, ["heartbeat_interval", "stale_after"]),
    "callbacks_not_callable": (lambda: _study().optimize(obj.log_bowl, 3, callbacks=[3]), TypeError, ["callbacks", "3"]),
    "callbacks_a_function": (lambda: _study().optimize(obj.log_bowl, 3, callbacks=print), TypeError, ["callbacks"]),
    "seed_negative": (lambda: _study().optimize(obj.log_bowl, 3, seed=-1), ValueError, ["seed", "-1"]),
    "seed_str": (lambda: _study().optimize(obj.log_bowl, 3, seed="0"), ValueError, ["seed"]),
    "threads_per_worker_zero": (lambda: _study().optimize(obj.log_bowl, 3, threads_per_worker=0), ValueError, ["threads_per_worker"]),
    "requeue_not_bool": (lambda: _study().optimize(obj.log_bowl, 3, requeue_stale="no"), TypeError, ["requeue_stale"]),
    "pruner_str": (lambda: _study().optimize(obj.log_bowl, 3, pruner="sh"), TypeError, ["pruner"]),
    "executor_unknown": (lambda: _study().optimize(obj.log_bowl, 3, executor="gpu"), ValueError, ["executor", "gpu"]),
    "rounds_bool": (lambda: _study().coarse_to_fine(obj.log_bowl, rounds=True), ValueError, ["rounds"]),
}


@pytest.mark.parametrize("case", sorted(STUDY_CASES))
def test_study_bad_arguments(case):
    make, exc, words = STUDY_CASES[case]
    expect_error(make, exc, *words)


@pytest.mark.parametrize("top, margin, exc, word", [(0, 0.1, ValueError, "top"),
                                                    (float("nan"), 0.1, ValueError, "top"),
                                                    (3, -1.0, ValueError, "margin"),
                                                    (3, "wide", TypeError, "margin")])
def test_zoom_bad_arguments(top, margin, exc, word):
    s = _study()
    s.optimize(obj.log_bowl, 6, seed=0)
    expect_error(lambda: s.zoom(top=top, margin=margin), exc, word)
    assert s.current_round == 0                   # nothing recorded


PRUNER_CASES = {
    "sh_min_resource_zero": (lambda: tune.SuccessiveHalvingPruner(min_resource=0), ["min_resource"]),
    "sh_min_resource_bool": (lambda: tune.SuccessiveHalvingPruner(min_resource=True), ["min_resource"]),
    "sh_reduction_one": (lambda: tune.SuccessiveHalvingPruner(reduction_factor=1), ["reduction_factor"]),
    "sh_min_peers_str": (lambda: tune.SuccessiveHalvingPruner(min_peers="3"), ["min_peers"]),
    "sh_max_below_min": (lambda: tune.SuccessiveHalvingPruner(min_resource=3, max_resource=2), ["max_resource"]),
    "hyperband_min_resource_zero": (lambda: tune.HyperbandPruner(min_resource=0), ["min_resource"]),
    "hyperband_max_float": (lambda: tune.HyperbandPruner(max_resource=9.5), ["max_resource", "9.5"]),
    "median_warmup_negative": (lambda: tune.MedianPruner(warmup_epochs=-1), ["warmup_epochs"]),
    "median_min_peers_zero": (lambda: tune.MedianPruner(min_peers=0), ["min_peers"]),
}


@pytest.mark.parametrize("case", sorted(PRUNER_CASES))
def test_pruner_bad_arguments(case):
    make, words = PRUNER_CASES[case]
    expect_error(make, ValueError, *words)


@pytest.mark.parametrize("what, exc, words", [
    (lambda b: setattr(b, "learning_rate", float("inf")), ValueError, ["learning_rate", "inf"]),
    (lambda b: setattr(b, "learning_rate", "fast"), TypeError, ["learning_rate", "str"]),
    (lambda b: b.train(epochs=0), ValueError, ["epochs", "0"]),
    (lambda b: b.train(epochs=2.5), ValueError, ["epochs", "2.5"]),
    (lambda b: b.checkpoint("../escape"), ValueError, ["tag", "../escape"]),
    (lambda b: b.rollback("never-saved"), KeyError, ["never-saved"]),
], ids=["lr_inf", "lr_str", "epochs_zero", "epochs_float", "tag_path", "rollback_unknown"])
def test_babysitter_bad_arguments(what, exc, words, tmp_path):
    b = tune.Babysitter(_trained(), np.zeros((4, 3), np.float32), np.zeros(4, np.int64),
                        checkpoint_dir=tmp_path / "ck", verbose=False)
    lr = b.learning_rate
    expect_error(lambda: what(b), exc, *words)
    assert b.learning_rate == lr and b.epoch == 0 and not os.path.exists(tmp_path / "escape.npz")


def test_storage_damaged_while_a_study_is_open(tmp_path):
    p = tmp_path / "live.db"
    s = tune.Study("a", obj.log_bowl_space(), storage=str(p))
    s.optimize(obj.log_bowl, 2, seed=0)
    con = sqlite3.connect(p)
    con.execute("DROP TABLE trials")
    con.commit()
    con.close()
    expect_error(lambda: s.optimize(obj.log_bowl, 4), StorageError, "live.db", "no such table")


@pytest.mark.parametrize("argv, words", [
    (["--storage", "{junk}", "--objective", "bowl", "--plot", "none"], ["junk.db", "not an SQLite"]),
    (["--jobs", "0", "--objective", "bowl"], ["--jobs", "0"]),
    (["--seed", "-3", "--objective", "bowl"], ["--seed", "-3"]),
    (["--top", "0", "--objective", "bowl"], ["--top"]),
], ids=["cli_foreign_storage", "cli_jobs_zero", "cli_seed_negative", "cli_top_zero"])
def test_tune_cli_bad_arguments(argv, words, tmp_path, capsys):
    from tinygrad_bn.tune.cli import main
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    assert main([a.format(junk=junk) for a in argv]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, err
