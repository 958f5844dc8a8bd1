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
    with pytest.raises(ValueError, match="weight arrays but the model has"):
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
    with pytest.raises(ValueError, match="cannot read"):
        load_model(bad)
    with pytest.raises(ValueError, match="not been built"):
        Sequential([Dense(2)]).save(tmp_path / "x.npz")
