"""``train``'s table of which settings apply when (``APPLIES``), row by row: each setting is
refused where it would do nothing or could not train, by flag and in a TOML file, naming it and
why, before training; and accepted in the setting where it applies."""

from __future__ import annotations

import json

import pytest

import glassnet
from cli_lines import one_line_error
from glassnet.cli import main
from glassnet.cli.train import _TRAIN_FLAGS, APPLIES

TINY = ["train", "--data", "circles", "--hidden", "4", "--epochs", "1", "--quiet", "--out", "m.npz"]

# row -> (settings where it does not apply, the same setting where it does, words of the refusal)
ROWS = {
    "lr": (["--optimizer", "lbfgs", "--lr", "0.1"], ["--optimizer", "sgd", "--lr", "0.1"],
           "does not apply with --optimizer lbfgs"),
    "schedule": (["--optimizer", "lbfgs", "--schedule", "cosine"],
                 ["--optimizer", "adam", "--schedule", "cosine"], "no learning rate to schedule"),
    "clip_norm": (["--optimizer", "lbfgs", "--clip-norm", "1"],
                  ["--optimizer", "adam", "--clip-norm", "1"], "never clipped"),
    "checkpoint_every": (["--checkpoint-every", "3"], ["--checkpoint-every", "3",
                                                       "--checkpoint-dir", "ck"],
                         "needs --checkpoint-dir"),
    "resume": (["--resume"], ["--resume", "--checkpoint-dir", "ck", "--epochs", "2"],
               "needs --checkpoint-dir"),  # one epoch more than the checkpoint's run
    "val_data": (["--val-data", "circles", "--val-split", "0.2"],
                 ["--val-data", "circles", "--val-split", "0"], "exclude each other"),
    "residual": (["--residual", "--hidden", "4,5"], ["--residual", "--hidden", "4,4"],
                 "has none; try --hidden 4,4,4"),
    "device": (["--device", "cuda", "--optimizer", "lbfgs"], ["--device", "cuda"],
               "does not apply with --optimizer lbfgs, which trains on the CPU"),
    "output": (["--output", "relu"], ["--output", "softmax"],
               "does not apply with the cross_entropy loss, which needs a softmax output"),
    "metrics": (["--data", "plane", "--metrics", "accuracy"], ["--metrics", "accuracy"],
                "need class labels, and this is a regression"),
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(glassnet.Network, "fit", lambda *a, **k: pytest.fail("trained"))


def test_every_row_of_the_table_is_tested():
    assert set(ROWS) == set(APPLIES)


def _refused(capsys, argv) -> str:
    return one_line_error(capsys, argv, prefix="glassnet: error: train: ")


@pytest.mark.parametrize("row", sorted(ROWS))
def test_a_setting_that_does_not_apply_is_refused_by_flag(capsys, no_training, row):
    line = _refused(capsys, [*TINY, *ROWS[row][0]])
    assert ROWS[row][2] in line and "--" + row.replace("_", "-") in line


def _toml(extra: list[str]) -> str:
    kinds = {flag: kind for flag, kind, _ in _TRAIN_FLAGS}
    lines, i = [], 0
    while i < len(extra):
        key = extra[i].lstrip("-").replace("-", "_")
        if kinds[extra[i]] is bool:
            lines.append(f"{key} = true")
            i += 1
        else:
            lines.append(f"{key} = {json.dumps(extra[i + 1])}")
            i += 2
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("row", sorted(ROWS))
def test_a_setting_that_does_not_apply_is_refused_in_a_config_file(tmp_path, capsys,
                                                                    no_training, row):
    refused = ROWS[row][0]
    (tmp_path / "r.toml").write_text(_toml(refused if "--data" in refused else
                                           ["--data", "circles", *refused]))
    line = _refused(capsys, [a for a in TINY if a not in ("--data", "circles")] +
                    ["--config", "r.toml"])
    assert ROWS[row][2] in line and f"{row} in r.toml" in line


@pytest.mark.parametrize("row", sorted(ROWS))
def test_the_setting_is_accepted_where_it_applies(tmp_path, capsys, row):
    if row == "resume":  # a checkpoint to resume from, written by train itself
        assert main([*TINY, "--checkpoint-dir", "ck"]) == 0
        capsys.readouterr()
    code = main([*TINY, *ROWS[row][1]])
    err = capsys.readouterr().err
    if row == "device" and code == 2 and "CuPy" in err:
        return  # cuda applies here; this machine has no CuPy, and the refusal says so
    assert code == 0, err
    assert (tmp_path / "m.npz").is_file()
