"""Commands that rebuild what ``train`` did use the model's recorded task and settings:
``landscape --from-init`` rebuilds the initial weights of every classifier (mse and huber ones
included, with their sigmoid output), and ``--monitor`` and ``--plots`` are settings of
``train`` like every other, settable in the TOML file."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import load
from glassnet.cli import main
from glassnet.cli.second_order import _initial_network


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "huber", "binary_cross_entropy"])
def test_from_init_rebuilds_the_weights_train_started_from(tmp_path, capsys, loss):
    """A model trained with a learning rate of 1e-12 still holds its initial weights."""
    assert main(["train", "--data", "circles", "--hidden", "5", "--loss", loss, "--optimizer",
                 "sgd", "--lr", "1e-12", "--epochs", "1", "--quiet", "--out", "m.npz"]) == 0
    net = load("m.npz")
    start = _initial_network(net)
    for key, value in start.params().items():
        np.testing.assert_allclose(value, net.params()[key], atol=1e-6)
    assert start.layers[-1].activation.name == net.layers[-1].activation.name
    capsys.readouterr()
    assert main(["landscape", "m.npz", "--from-init", "--resolution", "3", "--samples", "20",
                 "--out", "land"]) == 0, capsys.readouterr().err
    assert "initial (t=0) -> m.npz (t=1)" in capsys.readouterr().out


def test_from_init_refuses_a_regression_naming_why(capsys):
    assert main(["train", "--data", "plane", "--hidden", "4", "--epochs", "1", "--quiet",
                 "--out", "m.npz"]) == 0
    capsys.readouterr()
    assert main(["landscape", "m.npz", "--from-init", "--out", "land"]) == 2
    assert "regression model's first output layer" in capsys.readouterr().err


def test_monitor_and_plots_are_settable_in_the_config_file(tmp_path, capsys):
    (tmp_path / "r.toml").write_text('monitor = true\nplots = "figs"\n')
    assert main(["train", "--config", "r.toml", "--data", "circles", "--hidden", "4",
                 "--epochs", "2", "--out", "m.npz"]) == 0
    out = capsys.readouterr().out
    assert out.count("|dW first| / |dW last|") == 2  # the --monitor table, every epoch
    assert (tmp_path / "figs" / "history.json").is_file()
    assert (tmp_path / "figs" / "training_curves.png").is_file()


def test_a_config_plots_folder_is_checked_before_training(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "r.toml").write_text('plots = "a_file"\n')
    assert main(["train", "--config", "r.toml", "--data", "circles", "--out", "m.npz"]) == 2
    assert "--plots a_file is a file" in capsys.readouterr().err
