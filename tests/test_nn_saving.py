"""Saving: weights, whole models, exact resume, atomic writes."""
import json
import os
from functools import partial

import numpy as np
import pytest

from _data import make_blobs
import tinygrad_bn as tg
from tinygrad_bn.losses import SparseCategoricalCrossentropy
from tinygrad_bn.keras import BatchNormalization, Dense, Dropout, ReLU, Sequential, load_model, saving


blobs = partial(make_blobs, n=200, d=8, c=3)


def make_model(seed=0):
    tg.utils.set_seed(seed)
    model = Sequential([Dense(16, use_bias=False), BatchNormalization(), ReLU(), Dropout(0.2),
                        Dense(8, use_bias=False), BatchNormalization(), ReLU(), Dense(3)])
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def test_save_load_weights_roundtrip(tmp_path):
    x, y = blobs()
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "w.npz"
    model.save_weights(path)
    other = make_model(seed=1)               # unbuilt: load_weights builds it from the file
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x), other.predict(x))
    # the file is an ordinary npz with a JSON document
    with np.load(path) as f:
        doc = json.loads(str(f["model.json"]))
        assert doc["weights"]["names"][0].endswith("/kernel")
        assert f["w0000"].shape == (8, 16)
    wrong = Sequential([Dense(4), Dense(3)])
    with pytest.raises(ValueError, match=r"the model makes weight .* of shape \(8, 4\).*\(8, 16\)"):
        wrong.load_weights(path)         # checked as the model builds, before anything is read
    wrong = Sequential([Dense(16, use_bias=False), BatchNormalization()])
    with pytest.raises(ValueError, match="holds 12 weight arrays but the model has 5"):
        wrong.load_weights(path)


def test_save_and_load_model(tmp_path):
    x, y = blobs()
    model = make_model()
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert type(loaded.optimizer).__name__ == "Adam"
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    assert loaded.layers[1].momentum == 0.99 and loaded.layers[3].rate == 0.2
    with pytest.raises(ValueError, match="holds only weights"):
        model.save_weights(tmp_path / "w.npz")
        load_model(tmp_path / "w.npz")


def test_resume_is_exact(tmp_path):
    """2 epochs + save + load + 2 epochs == 4 epochs straight (same seed)."""
    x, y = blobs()
    straight = make_model(seed=3)
    h4 = straight.fit(x, y, epochs=4, batch_size=16, verbose=0)

    first = make_model(seed=3)
    h2 = first.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "ckpt.npz"
    first.save(path)
    tg.utils.set_seed(999)                    # the global generator no longer matters
    resumed = load_model(path)
    h2b = resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)

    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.optimizer.iterations == straight.optimizer.iterations
    assert h2.history["loss"] + h2b.history["loss"] == h4.history["loss"]


def test_interrupted_save_leaves_old_file_loadable(tmp_path, monkeypatch):
    x, y = blobs()
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    old_pred = model.predict(x)
    model.fit(x, y, epochs=1, verbose=0)     # weights change

    real_savez = np.savez

    def dying_savez(fh, **arrays):
        real_savez(fh, **{k: arrays[k] for k in list(arrays)[:2]})   # half the file ...
        fh.write(b"\0" * 100)
        raise KeyboardInterrupt("simulated crash in the middle of writing")

    monkeypatch.setattr(saving.np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    with pytest.raises(KeyboardInterrupt):
        model.save_weights(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]           # no temporary file left behind
    np.testing.assert_array_equal(load_model(path).predict(x), old_pred)

    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]
    np.testing.assert_array_equal(load_model(path).predict(x), old_pred)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz.* is not a valid .npz file"):
        load_model(bad)
    with pytest.raises(ValueError, match="not been built"):
        Sequential([Dense(2)]).save(tmp_path / "x.npz")


# -- training state (the pair BackupAndRestore uses) ------------------------------------------
def test_training_state_resume_is_exact(tmp_path):
    """2 epochs + save_training_state + a fresh twin + load_training_state + 2 epochs equals
    4 epochs straight: weights, moving statistics, Adam slots, iterations, the shuffling and
    the dropout streams all come back."""
    x, y = blobs()
    straight = make_model(seed=5)
    h4 = straight.fit(x, y, epochs=4, batch_size=16, verbose=0)

    first = make_model(seed=5)
    first.fit(x, y, epochs=2, batch_size=16, verbose=0)
    first.optimizer.learning_rate = 0.001      # same value, set explicitly
    backup = tmp_path / "backup"
    path = saving.save_training_state(first, backup, 2)
    assert os.path.dirname(path) == str(backup) and os.listdir(backup) == [saving.TRAINING_STATE_FILE]

    twin = make_model(seed=77)                  # other initial weights, other dropout stream, unbuilt
    assert not twin.built
    assert saving.load_training_state(twin, backup) == 2
    assert twin.optimizer.iterations == first.optimizer.iterations == 2 * 13
    for a, b in zip(first.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    h = twin.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    for a, b in zip(straight.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h.history["loss"] == h4.history["loss"][2:]


def test_training_state_absent_bad_and_unchanged_on_failure(tmp_path):
    x, y = blobs()
    model = make_model()
    assert saving.load_training_state(model, tmp_path / "nothing-yet") is None
    assert saving.load_training_state(model, tmp_path) is None          # empty directory
    model.fit(x, y, epochs=1, verbose=0)
    model.optimizer.learning_rate = 0.0123       # e.g. ReduceLROnPlateau lowered it
    saving.save_training_state(model, tmp_path / "b", 1)

    other = make_model(seed=2)
    other.fit(x, y, epochs=1, verbose=0)
    before = other.get_weights()
    it_before = other.optimizer.iterations
    # corrupt one optimizer slot in a copy of the file: nothing may change
    src = tmp_path / "b" / saving.TRAINING_STATE_FILE
    with np.load(src) as f:
        members = {k: f[k] for k in f.files}
    members["o0000_1"] = np.zeros((3, 3), np.float32)
    os.makedirs(tmp_path / "c")
    np.savez(tmp_path / "c" / saving.TRAINING_STATE_FILE, **members)
    with pytest.raises(ValueError, match=r"training_state.npz.*o0000_1.*shape \(3, 3\)"):
        saving.load_training_state(other, tmp_path / "c")
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert other.optimizer.iterations == it_before

    assert saving.load_training_state(other, tmp_path / "b") == 1
    assert other.optimizer.learning_rate == 0.0123

    sgd = make_model()
    sgd.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="saved with optimizer 'Adam'.*'SGD'"):
        saving.load_training_state(sgd, tmp_path / "b")
    with pytest.raises(ValueError, match="compile the model"):
        saving.load_training_state(Sequential([Dense(3)]), tmp_path / "b")
    with pytest.raises(ValueError, match="epoch must be a non-negative int"):
        saving.save_training_state(model, tmp_path / "b", -1)
    with pytest.raises(ValueError, match="not compiled"):
        saving.save_training_state(Sequential([Dense(3)]), tmp_path / "b", 0)
    with pytest.raises(ValueError, match="not a training state"):
        model.save(tmp_path / "d" / saving.TRAINING_STATE_FILE)
        saving.load_training_state(model, tmp_path / "d")
    assert saving.remove_training_state(tmp_path / "b") is True
    assert not os.path.exists(tmp_path / "b")
    assert saving.remove_training_state(tmp_path / "b") is False


# -- a killed save: its temporary file goes at the next save -------------------------------------
KILLED_WRITER = """
import sys, time
from tinygrad_bn.utils import atomic_write
def write(fh):
    fh.write(b"x" * 100_000)
    fh.flush()
    print("writing", flush=True)
    time.sleep(600)                 # killed here, mid-write
atomic_write(sys.argv[1], write)
"""


def _start_writer(path):
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="needs SIGKILL")
def test_killed_save_leaves_a_temp_file_the_next_save_removes(tmp_path):
    import signal
    x, y = blobs()
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    dead = [_start_writer(path) for _ in range(2)]
    live = _start_writer(path)
    for proc in dead:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    temps = sorted(n for n in os.listdir(tmp_path) if n != "model.npz")
    assert len(temps) == 3 and all(n.startswith(".model.npz.tmp-") for n in temps)
    # files that merely look similar belong to others and stay
    (tmp_path / ".model.npz.tmp-notmine").write_bytes(b"")
    (tmp_path / ".other.npz.tmp-00000000-1-abc").write_bytes(b"")
    try:
        model.save(path)
        left = sorted(os.listdir(tmp_path))
        live_tmp = [n for n in left if n.startswith(".model.npz.tmp-") and f"-{live.pid}-" in n]
        assert len(live_tmp) == 1, left          # the live writer's file is kept
        assert left == sorted(["model.npz", ".model.npz.tmp-notmine", ".other.npz.tmp-00000000-1-abc"]
                              + live_tmp)
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait()
        live.stdout.close()
        for proc in dead:
            proc.stdout.close()
    model.save_weights(path)                       # now that writer is dead too
    assert sorted(os.listdir(tmp_path)) == sorted(["model.npz", ".model.npz.tmp-notmine",
                                                   ".other.npz.tmp-00000000-1-abc"])
    np.testing.assert_array_equal(Sequential([Dense(16, use_bias=False), BatchNormalization(), ReLU(),
                                              Dropout(0.2), Dense(8, use_bias=False),
                                              BatchNormalization(), ReLU(), Dense(3)])
                                  .load_weights(path).predict(x), model.predict(x))


def test_old_style_temp_files_go_once_an_hour_old(tmp_path):
    """Temporary files of the earlier naming (no pid in the name) are removed only when old."""
    path = tmp_path / "w.txt"
    old, fresh = tmp_path / ".w.txt.ab12cd34.tmp", tmp_path / ".w.txt.zz99yy88.tmp"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    two_hours_ago = os.path.getmtime(old) - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    tg.utils.atomic_write(path, lambda fh: fh.write(b"done"))
    assert sorted(os.listdir(tmp_path)) == [".w.txt.zz99yy88.tmp", "w.txt"]
    assert path.read_bytes() == b"done"


def test_save_through_a_symlink_keeps_the_link(tmp_path):
    x, y = blobs()
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    os.makedirs(tmp_path / "real")
    (tmp_path / "real" / "m.npz").write_bytes(b"old")
    os.symlink(tmp_path / "real" / "m.npz", tmp_path / "link.npz")
    model.save(tmp_path / "link.npz")
    assert os.path.islink(tmp_path / "link.npz")
    np.testing.assert_array_equal(load_model(tmp_path / "real" / "m.npz").predict(x), model.predict(x))
