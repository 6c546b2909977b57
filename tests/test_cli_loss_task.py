"""A loss the task's targets cannot feed is refused before any network is built, naming --loss
and --task and the fix; every other (loss, task) pair trains. Over every loss of LOSSES, every
--task, on class labels (circles: 0 and 1) and on quantities (plane: -1.13..1.17)."""

from __future__ import annotations

import pytest

import glassnet.cli.train
from glassnet.cli import main
from glassnet.losses import LOSSES


def _expected(loss: str, task: str, data: str) -> str | None:
    """The words of the refusal, or None where the pair trains."""
    settled = "regression" if data == "plane" or task == "regression" else "classification"
    if settled != "regression":
        return None
    if loss == "cross_entropy":
        return "--loss cross_entropy needs class labels, and --task regression"
    if loss == "binary_cross_entropy" and data == "plane":
        return "--loss binary_cross_entropy takes targets in [0, 1]"
    return None  # mse and huber; bce on 0/1 targets read as quantities


CASES = [(loss, task, data) for loss in LOSSES for task in ("auto", "classification",
                                                             "regression")
         for data in ("circles", "plane") if not (data == "plane" and task == "classification")]


@pytest.mark.parametrize("loss, task, data", CASES, ids=["-".join(c) for c in CASES])
def test_every_loss_with_every_task(tmp_path, capsys, monkeypatch, loss, task, data):
    monkeypatch.chdir(tmp_path)
    words = _expected(loss, task, data)
    if words is not None:
        monkeypatch.setattr(glassnet.cli.train, "mlp", lambda *a, **k: pytest.fail("built"))
    code = main(["train", "--data", data, "--task", task, "--loss", loss, "--hidden", "4",
                 "--epochs", "1", "--quiet", "--out", "m.npz"])
    err = capsys.readouterr().err
    if words is None:
        assert code == 0, err
        assert (tmp_path / "m.npz").is_file()
    else:
        assert code == 2 and err.count("\n") == 1 and err.startswith("glassnet: error: train: ")
        assert words in err and "--task" in err and "use --loss" in err
        assert not (tmp_path / "m.npz").exists()


def test_an_explicit_regression_refuses_cross_entropy_before_loading_the_data(
        tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(glassnet.cli.train, "load_for_task", lambda *a, **k: pytest.fail("load"))
    assert main(["train", "--data", "digits", "--task", "regression", "--loss",
                 "cross_entropy"]) == 2
    assert "--loss cross_entropy needs class labels" in capsys.readouterr().err
