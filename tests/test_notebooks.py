"""The tutorial notebook docs/notebooks/backprop.ipynb, executed with nbclient, outputs checked.

The numbers the notebook prints are recomputed here with the same calls and compared.
"""

import os
import re
from pathlib import Path

import numpy as np
import pytest

import glassnet

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "backprop.ipynb"


@pytest.fixture(scope="module")
def cells():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), "commit the notebook without outputs"
    # the kernel runs in docs/notebooks and must import this glassnet, not another one
    src = str(Path(glassnet.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *([old] if old else [])])
    try:
        nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    return [c for c in nb.cells if c.cell_type == "code"]


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _data(cell, mime):
    for o in cell.outputs:
        if o.output_type in ("execute_result", "display_data") and mime in o.data:
            return o.data[mime]
    raise AssertionError(f"no {mime} output in {cell.source[:60]!r}")


def _find(cells, needle):
    return next(c for c in cells if needle in c.source)


@pytest.mark.slow
def test_notebook_runs_without_errors(cells):
    for cell in cells:
        assert all(o.output_type != "error" for o in cell.outputs), cell.source


@pytest.mark.slow
def test_notebook_shows_the_learners_network_and_its_derivation(cells):
    net = glassnet.mlp([2, 3, 2], activation="sigmoid", output="sigmoid", loss="mse", seed=0,
                       dtype="float64")
    assert "Network 2-3-2: 17 parameters, loss mse, float64" in _data(cells[0], "text/html")
    x, y = np.array([0.05, 0.10]), np.array([0.01, 0.99])
    shown = _data(_find(cells, "e = net.explain(x, y)"), "text/markdown")
    assert shown == net.explain(x, y).markdown()
    assert r"\delta^{1} = \left((W^{2})^{T} \delta^{2}\right) \odot \sigma'(z^{1})" in shown
    latex = _data(_find(cells, "e = net.explain(x, y)"), "text/latex")
    assert latex.startswith("$$\\begin{gathered}")


@pytest.mark.slow
def test_the_four_equations_agree_to_rounding(cells):
    text = _text(_find(cells, "bp1 ="))
    values = dict(re.findall(r"(BP\d) max \|difference\| = ([0-9.e+-]+)", text))
    assert sorted(values) == ["BP1", "BP2", "BP3", "BP4"]
    assert all(float(v) < 1e-15 for v in values.values())


@pytest.mark.slow
def test_steps_and_stepper(cells):
    lines = _text(_find(cells, "for step in e.steps()")).splitlines()
    assert len(lines) == 16 and lines[5].split()[1] == "backward"
    assert "delta^2 = (a^2 - y) ⊙ σ'(z^2)" in lines[5]
    stepper = _find(cells, "stepper(e)")
    assert _text(stepper).strip() == "a^1 = σ(z^1)"
    assert "application/vnd.jupyter.widget-view+json" in stepper.outputs[-1].data


@pytest.mark.slow
def test_vanishing_gradient_and_the_residual_skip(cells):
    plain = re.search(r"plain: \|\|delta\^1\|\| / \|\|delta\^L\|\| = ([0-9.e+-]+)",
                      _text(_find(cells, "def delta_norms")))
    skips = re.search(r"residual: \|\|delta\^1\|\| / \|\|delta\^L\|\| = ([0-9.e+-]+)",
                      _text(_find(cells, "skips, ex = delta_norms(True)")))
    x, y = np.array([0.05, 0.10]), np.array([0.01, 0.99])
    for match, residual in ((plain, False), (skips, True)):
        deep = glassnet.mlp([2] + [8] * 10 + [2], activation="sigmoid", loss="mse",
                            residual=residual, seed=0, dtype="float64")
        norms = [np.linalg.norm(t.delta) for t in deep.explain(x, y).layers]
        assert match.group(1) == f"{norms[0] / norms[-1]:.3e}"
    assert float(plain.group(1)) < 1e-5 and float(skips.group(1)) > 1e-2
    assert "dC/da^9 = dC/da^10 + (W^10)^T delta^10" in _text(_find(cells, "skips, ex ="))


@pytest.mark.slow
def test_check_and_training_outputs(cells):
    text = _text(_find(cells, "check_backprop"))
    assert text.count("PASSED: every equation agrees") == 1
    assert "recognised: ['sigma_prime_of_a']" in text
    assert "gradcheck PASSED" in _data(_find(cells, "glassnet.gradcheck(net"), "text/html")
    png = _data(_find(cells, "history = net.fit"), "image/png")
    assert isinstance(png, str) and len(png) > 1000  # base64 of the loss plot
