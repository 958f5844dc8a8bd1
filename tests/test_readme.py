"""The README's "Adding an op" example runs as written."""
import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _section_code(title):
    text = open(README, encoding="utf-8").read()
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, f"no python block under {title!r}"
    return "\n".join(blocks)


def test_adding_an_op_example_runs(capsys):
    code = _section_code("Adding an op")
    namespace = {}
    exec(compile(code, README, "exec"), namespace)
    out = capsys.readouterr().out
    assert "Tensor" in out


def test_course_example_runs():
    namespace = {}
    exec(compile(_section_code("The course example"), README, "exec"), namespace)
    assert abs(float(namespace["w"]) - 5.0) < 1e-3


def test_keras_section_runs(capsys):
    import pytest
    pytest.importorskip("sklearn")
    namespace = {}
    exec(compile(_section_code("Keras-style models"), README, "exec"), namespace)
    model = namespace["model"]
    loss, acc = model.evaluate(namespace["X_test"], namespace["Y_test"], verbose=0)
    assert acc > 0.9
