"""The main job, ``python -m tinygrad_bn demo``, in its short version; data and optional extras."""
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_bn import datasets, demo


def test_load_digits_standardised_split():
    (xt, yt), (xs, ys) = datasets.load_digits()
    assert xt.dtype == np.float32 and yt.dtype == np.int64
    assert xt.shape[1] == 64 and len(xt) + len(xs) == 1797 and abs(len(xs) - 0.2 * 1797) < 2
    np.testing.assert_allclose(xt.mean(0), 0, atol=1e-5)
    std = xt.std(0)
    assert np.all((np.abs(std - 1) < 1e-4) | (std == 0))
    assert set(np.unique(yt)) == set(range(10)) == set(np.unique(ys))
    (xt2, _), _ = datasets.load_digits()
    np.testing.assert_array_equal(xt, xt2)


def test_missing_extras_give_clear_errors(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad_bn\[demo\]"'):
        datasets.load_digits()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad_bn\[demo\]"'):
        demo.plot_curves({}, "x.png")


def test_course_minimize_reaches_5():
    assert demo.course_minimize(out=lambda s: None) == pytest.approx(5.0, abs=1e-3)


def test_quick_demo(tmp_path, capsys):
    png = tmp_path / "curves.png"
    assert demo.main(["--quick", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "w = 5.000" in out
    assert "Epoch 3/3" in out
    for title in ("with batch norm", "without batch norm"):
        line = next(l for l in out.splitlines() if l.startswith(f"{title}: test accuracy"))
        acc = float(line.split("test accuracy")[1].split("%")[0])
        assert acc > 80.0, line
        assert "wall time" in line
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_command_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "tinygrad_bn", "demo", "--quick", "--epochs", "1",
                          "--no-plot", "--verbose", "2"], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "with batch norm: " in res.stdout and "test accuracy" in res.stdout
