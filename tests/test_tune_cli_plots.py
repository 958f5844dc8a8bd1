"""The CLI, the plots and the digits objective (the Keras-style API)."""
import importlib.util

import pytest

from tinygrad_bn import tune
from tinygrad_bn.tune import cli
from tinygrad_bn.tune import objectives as obj


def test_plot_png_is_written_atomically(tmp_path):
    pytest.importorskip("matplotlib")
    space = obj.log_bowl_space()
    space["bn"] = tune.Choice([True, False])
    study = tune.Study("plot", space)
    study.optimize(obj.fake_training, 12, seed=0, pruner=tune.SuccessiveHalvingPruner())
    study.zoom(4)
    study.optimize(obj.fake_training, 6)
    study.optimize(obj.failing_sometimes, 8)  # failed trials are drawn too
    out = tmp_path / "study.png"
    assert study.plot(out) == str(out) or out.exists()
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert [p.name for p in tmp_path.iterdir()] == ["study.png"]  # no temporary left over


def test_cli_on_the_synthetic_objective(tmp_path, capsys):
    db = tmp_path / "cli.db"
    png = tmp_path / "cli.png"
    plot = str(png) if importlib.util.find_spec("matplotlib") else "none"
    argv = ["--trials", "8", "--rounds", "2", "--objective", "bowl", "--storage", str(db),
            "--plot", plot, "--seed", "3", "--pruner", "sh"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "best trial #" in out and "round" in out and "lr" in out
    study = tune.Study.load("digits", f"sqlite:///{db}")
    assert len(study.trials) == 8 and len(study.rounds()) == 2
    assert cli.main(["tune"] + argv) == 0  # resumable: nothing left to do
    assert len(tune.Study.load("digits", f"sqlite:///{db}").trials) == 8
    if plot != "none":
        assert png.exists()


def test_digits_objective_trains_and_reports():
    pytest.importorskip("sklearn")
    study = tune.Study("digits", obj.digits_space(), storage=None)
    study.optimize(obj.DigitsObjective(epochs=2), 2, seed=0,
                   pruner=tune.SuccessiveHalvingPruner(min_peers=1))
    for t in study.trials:
        assert t.state in ("complete", "pruned"), t.error
        assert sorted(t.intermediate)[0] == 1 and 0 <= t.attrs.get("val_acc", 0.5) <= 1
    assert study.best_value < 2.3  # better than chance (log 10)


def test_babysitter_checkpoint_rollback(tmp_path):
    pytest.importorskip("sklearn")
    from tinygrad_bn.losses import SparseCategoricalCrossentropy
    from tinygrad_bn.optimizers import Adam
    from tinygrad_bn.tune import Babysitter
    x, y, xv, yv = obj._digits_data()
    model = obj.build_digits_model({"hidden_units": 16, "batch_norm": True})
    model.compile(optimizer=Adam(learning_rate=1e-3), metrics=["accuracy"],
                  loss=SparseCategoricalCrossentropy(from_logits=True))
    sitter = Babysitter(model, x[:400], y[:400], validation_data=(xv, yv), batch_size=64,
                        checkpoint_dir=tmp_path, verbose=False)
    sitter.train(1)
    sitter.checkpoint("a")
    w = [a.copy() for a in sitter.model.get_weights()]
    sitter.learning_rate = 0.5
    sitter.train(1)
    sitter.rollback("a")
    assert sitter.epoch == 1
    assert all((a == b).all() for a, b in zip(w, sitter.model.get_weights()))
    sitter.learning_rate = 1e-3
    sitter.train(1)
    assert [r["epoch"] for r in sitter.log] == [1, 2, 2]
    assert sitter.log[1].get("abandoned") and not sitter.log[2].get("abandoned")
    if importlib.util.find_spec("matplotlib"):
        assert sitter.plot(tmp_path / "panda.png")
