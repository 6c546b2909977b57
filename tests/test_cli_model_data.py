"""Every command that takes a saved model and data gets ``(X, y)`` one way
(:func:`glassnet.cli.model_data.model_data`): the model's own data works; data with another
feature count is one line naming the model and the spec; labels the model never saw are
refused, naming them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import glassnet
from cli_lines import one_line_error
from glassnet.cli import main

COMMANDS = {
    "evaluate": lambda m, d: ["evaluate", m, *d],
    "explain": lambda m, d: ["explain", "--from-model", m, *d],
    "hvp": lambda m, d: ["hvp", "--from-model", m, *d],
    "sharpness": lambda m, d: ["sharpness", m, "--samples", "30", "--iters", "5", *d],
    "per-sample": lambda m, d: ["per-sample", m, "--samples", "30", *d],
    "landscape": lambda m, d: ["landscape", m, "--samples", "30", "--resolution", "3",
                               "--out", "land", *d],
}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model_data") / "m.npz"
    assert main(["train", "--data", "circles", "--hidden", "4", "--epochs", "2", "--quiet",
                 "--out", str(path)]) == 0
    return str(path)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "unseen.npz", X=rng.normal(size=(60, 2)),
             y=np.array([0, 1, 5] * 20))


fails = one_line_error


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("data", [[], ["--data", "circles"]], ids=["recorded", "given"])
def test_the_models_own_data_works(capsys, model, command, data):
    assert main(COMMANDS[command](model, data)) == 0, capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_another_feature_count_names_the_model_and_the_spec(capsys, model, monkeypatch,
                                                            command):
    monkeypatch.setattr(glassnet.Network, "scale_inputs", lambda *a: pytest.fail("scaled"))
    line = fails(capsys, COMMANDS[command](model, ["--data", "iris"]))
    assert "--data iris has 4 features per sample" in line and f"the model {model} takes 2" in line
    assert "pass --data with the data it was trained on (circles)" in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_labels_the_model_never_saw_are_refused(capsys, model, command):
    line = fails(capsys, COMMANDS[command](model, ["--data", "npz:unseen.npz"]))
    assert line.startswith(f"glassnet: error: {command}: --data npz:unseen.npz")
    assert "class labels the model was not trained on: 5" in line


def test_predict_checks_the_feature_count_against_the_model(capsys, model, tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((3, 5)))
    line = fails(capsys, ["predict", model, "--input", "wide.npy", "--output", "y.npy"])
    assert f"--input wide.npy has 5 features per sample, and the model {model} takes 2" in line
    assert not (tmp_path / "y.npy").exists()


def test_a_classifier_trained_with_mse_gets_one_hot_targets(capsys, tmp_path):
    """The loss's own targets: what made landscape and sharpness fail on such models."""
    assert main(["train", "--data", "circles", "--hidden", "4", "--loss", "mse", "--epochs",
                 "1", "--quiet", "--out", "mse.npz"]) == 0
    for command in ("sharpness", "per-sample", "landscape"):
        assert main(COMMANDS[command]("mse.npz", [])) == 0, capsys.readouterr().err


@pytest.mark.parametrize("form", ["csv", "npz", "npy"])
def test_a_model_finds_its_data_from_any_folder(tmp_path, monkeypatch, capsys, form):
    """train records the data spec with absolute paths, so evaluate, explain and the others
    read the same files wherever they are run from."""
    r = np.random.default_rng(0)
    X, y = r.random((60, 3)), np.arange(60) % 2
    here = tmp_path / "trained_here"
    here.mkdir()
    monkeypatch.chdir(here)
    if form == "csv":
        Path("d.csv").write_text("a,b,c,label\n" + "".join(
            f"{a},{b},{c},{t}\n" for (a, b, c), t in zip(X, y)))
        spec = "d.csv"
    elif form == "npz":
        np.savez("d.npz", X=X, y=y)
        spec = "npz:d.npz"
    else:
        np.save("X.npy", X.astype(np.float32))
        np.save("y.npy", y)
        spec = "npy:X.npy,y.npy"
    assert main(["train", "--data", spec, "--epochs", "1", "--quiet", "--out", "m.npz"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(here / "m.npz")]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["explain", "--from-model", str(here / "m.npz")]) == 0
