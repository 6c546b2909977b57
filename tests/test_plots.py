"""The figures: their axes, titles, lines and scales (not pixels), and the PNG files."""

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from glassnet import GradientMonitor, mlp  # noqa: E402
from glassnet import plots  # noqa: E402
from glassnet.diagnostics import vanishing_lab  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    net = mlp([2, 6, 6, 2], activation="tanh", loss="cross_entropy", residual=True, seed=0)
    history = net.fit(X, y, epochs=4, batch_size=20, callbacks=[GradientMonitor()], seed=0)
    for i, record in enumerate(history.epochs):  # what a validating fit adds
        record["val_loss"], record["accuracy"] = 0.9 - 0.1 * i, 0.5 + 0.1 * i
    return net, X, y, history


def test_training_curves(trained, tmp_path):
    _, _, _, history = trained
    fig = plots.plot_training_curves(history, path=tmp_path / "curves.png")
    loss_ax, metric_ax = fig.axes
    assert loss_ax.get_yscale() == "log" and loss_ax.get_title() == "Loss"
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel()) == ("epoch", "loss")
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["loss", "val_loss"]
    assert [line.get_label() for line in metric_ax.get_lines()] == ["accuracy"]
    assert (tmp_path / "curves.png").stat().st_size > 1000
    one_axis = plots.plot_training_curves({"epochs": [{"epoch": 1, "loss": 1.0}]})
    assert len(one_axis.axes) == 1
    with pytest.raises(ValueError, match="at least one epoch"):
        plots.plot_training_curves({"epochs": []})


def test_gradient_norms(trained, tmp_path):
    _, _, _, history = trained
    fig = plots.plot_gradient_norms(json.loads(history.to_json()), path=tmp_path / "g.png")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "training step"
    assert ax.get_ylabel() == "||dC/dW^l||"
    assert [line.get_label() for line in ax.get_lines()] == ["layer 0", "layer 1.0", "layer 2"]
    assert len(ax.get_lines()[0].get_xdata()) == 4
    assert (tmp_path / "g.png").exists()
    with pytest.raises(ValueError, match="recorded with GradientMonitor"):
        plots.plot_gradient_norms({"epochs": [{"loss": 1.0}]})


def test_lab_plots(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 5))
    y = np.arange(40) % 3
    rows = vanishing_lab(depths=[2, 4], activations=["sigmoid"], residual=[False, True], width=6,
                         data=(X, y), steps=3, n_measure=20)
    fig = plots.plot_delta_by_depth(rows, path=tmp_path / "d.png")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 4
    assert "sigmoid, skips, depth 4" in [line.get_label() for line in ax.get_lines()]
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [2, 4, 2, 4]
    assert ax.get_xlabel().startswith("hidden layer")
    speed = plots.plot_learning_speed(rows[1::2], path=tmp_path / "s.png")
    visible = [a for a in speed.axes if a.get_lines()]
    assert len(visible) == 2 and all(a.get_yscale() == "log" for a in visible)
    assert len(visible[0].get_lines()) == 4  # one per hidden layer
    assert (tmp_path / "d.png").exists() and (tmp_path / "s.png").exists()


def test_decision_boundary_and_histograms(trained, tmp_path):
    net, X, y, _ = trained
    fig = plots.plot_decision_boundary(net, X, y, resolution=30, path=tmp_path / "b.png")
    (ax,) = fig.axes
    assert ax.get_title() == "Decision boundary" and ax.get_legend() is not None
    assert len(ax.collections[-1].get_offsets()) == len(X)
    with pytest.raises(ValueError, match="needs 2-D inputs"):
        plots.plot_decision_boundary(mlp([3, 2]), np.ones((4, 3)), np.zeros(4))
    hist = plots.plot_histograms(net, X, path=tmp_path / "h.png")
    assert len(hist.axes) == 2 * 3  # weights and activations of the 3 Dense layers
    assert hist.axes[0].get_title() == "W of layer 0"
    assert (tmp_path / "b.png").exists() and (tmp_path / "h.png").exists()


def test_saliency_is_the_jacobian(tmp_path):
    from glassnet import jacobian

    rng = np.random.default_rng(0)
    net = mlp([16, 8, 3], activation="tanh", loss="cross_entropy", seed=0)
    X, y = rng.normal(size=(12, 16)), np.arange(12) % 3
    fig = plots.plot_saliency(net, X, y, path=tmp_path / "sal.png")
    images = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in images] == ["dy_0/dx", "dy_1/dx", "dy_2/dx"]
    expected = jacobian(net, X)[y == 1, 1].mean(axis=0).reshape(4, 4)
    np.testing.assert_allclose(images[1].get_images()[0].get_array(), expected, rtol=1e-6)
    assert (tmp_path / "sal.png").exists()
    with pytest.raises(ValueError, match="not a square image"):
        plots.plot_saliency(mlp([5, 2]), np.ones((2, 5)))


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install glassnet\[plot\]"):
        plots.plot_training_curves({"epochs": [{"loss": 1.0}]})
