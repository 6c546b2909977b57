"""The glassbox commands through main([...]): vanishing, explain, plot, train --monitor --plots."""

import json

import pytest

from glassnet.cli import main


def test_explain_default_text_and_markdown(capsys):
    assert main(["explain"]) == 0
    text = capsys.readouterr().out
    assert "delta^2 = (a^2 - y) ⊙ σ'(z^2)" in text and "learning rate eta = 0.5" in text
    assert main(["explain", "--format", "markdown", "--lr", "0.1"]) == 0
    md = capsys.readouterr().out
    assert r"\delta^{1} = \left((W^{2})^{T} \delta^{2}\right)" in md and r"\eta = 0.1" in md


def test_explain_wide_model_is_summarised(tmp_path, capsys):
    model = tmp_path / "big.npz"
    assert main(["train", "--data", "plane", "--hidden", "20", "--epochs", "1", "--quiet",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["explain", "--from-model", str(model)]) == 0
    out = capsys.readouterr().out
    assert "W^1: 20x2, ||W^1|| = " in out and "the 3 largest of 20x2 entries:" in out


def test_vanishing_writes_tables_and_plots(tmp_path, capsys):
    out = tmp_path / "lab"
    assert main(["vanishing", "--depths", "2,4", "--activations", "sigmoid", "--residual", "off,on",
                 "--width", "8", "--data", "xor", "--steps", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sigmoid" in printed and "wrote lab.csv" in printed
    lines = (out / "lab.csv").read_text().splitlines()
    assert lines[0].startswith("activation,residual,depth,layer") and len(lines) == 1 + 2 * (2 + 4)
    assert len(json.loads((out / "lab.json").read_text())["rows"]) == 4
    for name in ("delta_by_depth.png", "delta_by_depth_trained.png", "learning_speed.png"):
        assert (out / name).stat().st_size > 1000


@pytest.mark.parametrize("argv,message", [
    (["vanishing", "--residual", "maybe"], "expected off, on or off,on"),
    (["vanishing", "--activations", "sigmoid,swish"], "expected comma-separated names"),
    (["explain", "--data", "xor"], "--data needs --from-model"),
    (["plot", "nowhere.json"], "No history file at nowhere.json"),
])
def test_bad_arguments(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_train_monitor_plots_and_redraw(tmp_path, capsys):
    plots_dir = tmp_path / "plots"
    assert main(["train", "--data", "xor", "--hidden", "8,8", "--activation", "tanh",
                 "--epochs", "2", "--monitor", "--plots", str(plots_dir),
                 "--out", str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    assert out.count("|dW first| / |dW last|") == 2 and "|delta|" in out
    for name in ("history.json", "training_curves.png", "gradient_norms.png", "histograms.png",
                 "decision_boundary.png"):
        assert (plots_dir / name).exists(), name
    history = json.loads((plots_dir / "history.json").read_text())
    assert set(history["epochs"][0]["gradients"][0]["layers"]) == {"0", "1", "2"}
    redraw = tmp_path / "redraw"
    assert main(["plot", str(plots_dir / "history.json"), "--out", str(redraw)]) == 0
    assert (redraw / "training_curves.png").exists() and (redraw / "gradient_norms.png").exists()
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["plot", str(tmp_path / "bad.json")]) == 2
    assert 'expected {"epochs": [{...}, ...]}' in capsys.readouterr().err


def test_train_plots_give_predict_raw_inputs_and_forward_scaled_ones(tmp_path, monkeypatch):
    """predict applies the model's scaler itself; forward and jacobian take scaled inputs."""
    import numpy as np

    from glassnet import plots

    seen = {}

    def spy(name):
        def record(net, X, *args, **kwargs):
            seen[name] = (np.asarray(X), net.scaler)
        return record

    monkeypatch.setattr(plots, "plot_decision_boundary", spy("boundary"))
    monkeypatch.setattr(plots, "plot_histograms", spy("histograms"))
    assert main(["train", "--data", "circles", "--hidden", "4", "--epochs", "1", "--quiet",
                 "--plots", str(tmp_path / "p"), "--out", str(tmp_path / "m.npz")]) == 0
    raw, scaler = seen["boundary"]
    assert np.abs(raw).max() > 3  # circles spans about [-6, 6]: raw, not standardised
    scaled, _ = seen["histograms"]
    np.testing.assert_allclose(scaled, scaler.transform(raw)[:500], rtol=1e-6)


@pytest.mark.parametrize("flag", [["--sizes", "3,4,2"], ["--activation", "relu"],
                                  ["--loss", "huber"], ["--residual"], ["--output", "sigmoid"]])
def test_gradcheck_of_a_model_refuses_the_flags_that_build_a_network(tmp_path, capsys, flag):
    model = tmp_path / "m.npz"
    assert main(["train", "--data", "circles", "--hidden", "4", "--epochs", "1", "--quiet",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["gradcheck", str(model), *flag]) == 2
    err = capsys.readouterr().err
    assert f"{flag[0]} build a network and do not apply with MODEL" in err
    assert main(["gradcheck", str(model)]) == 0  # the model alone is checked


def test_gradcheck_of_every_entry_is_bounded_and_names_fast(capsys):
    assert main(["gradcheck", "--sizes", "400,300,10"]) == 2
    assert "pass --fast" in capsys.readouterr().err
    assert main(["gradcheck", "--sizes", "400,300,10", "--fast"]) == 0


@pytest.mark.parametrize("history, words", [
    ({"epochs": [{"loss": "x"}]}, "epoch 1 has no numeric 'loss' (got 'x')"),
    ({"epochs": [{"loss": 1.0}, {"epoch": 2}]}, "epoch 2 has no numeric 'loss' (got None)"),
    ({"epochs": []}, "holds no epochs"),
])
def test_plot_refuses_a_history_it_cannot_draw(tmp_path, capsys, history, words):
    import json

    path = tmp_path / "history.json"
    path.write_text(json.dumps(history))
    assert main(["plot", str(path), "--out", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())
