"""The ``glassnet`` command end to end through ``main([...])``: train (flags, TOML config,
checkpoints and resume, CSV data), evaluate, predict, info, and the one-line usage errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import glassnet
from glassnet.cli import TRAIN_DEFAULTS, main
from glassnet.data import load_data

SMALL = ["--data", "circles", "--hidden", "8", "--epochs", "3"]


def train(tmp_path: Path, *flags: str, out: str = "model.npz") -> Path:
    """Run ``glassnet train`` with ``flags``; returns the saved model's path."""
    path = tmp_path / out
    assert main(["train", *flags, "--out", str(path)]) == 0
    return path


def error_line(capsys, argv: list[str]) -> str:
    """Run a failing command: exit status 2, one message line on stderr, no traceback."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("glassnet: error: "), captured.err
    return lines[0]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the repository


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small classifier trained through the CLI, shared by evaluate/predict/info."""
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "model.npz"
    assert main(["train", *SMALL, "--optimizer", "sgd", "--lr", "0.1", "--schedule", "step",
                 "--metrics", "accuracy,balanced_accuracy", "--val-split", "0.2",
                 "--dropout", "0.1", "--weight-decay", "0.001", "--batch-size", "32",
                 "--history-json", str(folder / "history.json"), "--out", str(path)]) == 0
    return path


# ---------------------------------------------------------------------- train


def test_train_with_flags_writes_model_and_history(trained):
    history = json.loads((trained.parent / "history.json").read_text())["epochs"]
    assert [r["epoch"] for r in history] == [1, 2, 3]
    for record in history:
        assert {"loss", "accuracy", "balanced_accuracy", "val_loss", "val_accuracy",
                "val_balanced_accuracy", "learning_rate", "time", "test_accuracy"} <= set(record)
    # --schedule step over 3 epochs: step_size 1, gamma 0.1
    assert [r["learning_rate"] for r in history] == pytest.approx([0.1, 0.01, 0.001])

    net = glassnet.load(trained)
    layers = net.config()["layers"]
    assert [c["type"] for c in layers] == ["Dense", "Dropout", "Dense"]
    assert layers[1]["p"] == 0.1
    assert net.l2 == 0.001  # --weight-decay is a coupled L2 penalty for sgd
    assert net.sizes == [2, 8, 2]
    assert type(net.optimizer).__name__ == "SGD"
    assert net.optimizer.iterations == 3 * 10  # 320 of 400 training samples, batches of 32
    assert net.history["loss"] == [r["loss"] for r in history]
    assert net.scaler is not None
    assert net.info["training"]["data"] == "circles"


def test_train_prints_progress_and_a_gradient_check(tmp_path, capsys):
    train(tmp_path, *SMALL, "--dropout", "0")
    out = capsys.readouterr().out
    assert out.startswith("data: circles, 400 train / 100 test samples, 2 features; network: "
                          "Network(2-8-2, loss='cross_entropy'")
    assert len(re.findall(r"^epoch +\d/3  loss ", out, flags=re.MULTILINE)) == 3
    assert re.search(r"^test accuracy: \d\.\d{4}$", out, flags=re.MULTILINE)
    assert re.search(r"^gradcheck on 20 test samples, 42 parameters: PASSED", out, flags=re.MULTILINE)
    assert f"saved model to {tmp_path / 'model.npz'}" in out


def test_adamw_weight_decay_is_decoupled(tmp_path):
    net = glassnet.load(train(tmp_path, *SMALL, "--optimizer", "adamw", "--weight-decay", "0.05",
                              "--quiet"))
    assert net.l2 == 0.0
    assert type(net.optimizer).__name__ == "AdamW" and net.optimizer.weight_decay == 0.05


def test_early_stopping_flag_stops_training(tmp_path):
    # a learning rate below float32 resolution leaves the weights, hence val_loss, unchanged
    net = glassnet.load(train(tmp_path, "--data", "circles", "--hidden", "8", "--epochs", "10",
                              "--optimizer", "sgd", "--lr", "1e-30", "--dropout", "0",
                              "--val-split", "0.2", "--early-stopping", "2", "--quiet"))
    assert len(net.history) == 3
    assert len(set(net.history["val_loss"])) == 1


def test_toml_config_with_flags_overriding_it(tmp_path, capsys):
    config = tmp_path / "recipe.toml"
    config.write_text('data = "circles"\nhidden = [8, 4]\nepochs = 2\nbatch-size = 50\n'
                      'optimizer = "adam"\nschedule = "constant"\ndropout = 0.0\nquiet = true\n')
    net = glassnet.load(train(tmp_path, "--config", str(config), "--epochs", "3"))
    assert net.sizes == [2, 8, 4, 2]
    assert len(net.history) == 3  # the flag beat the file
    assert type(net.optimizer).__name__ == "Adam"
    assert net.optimizer.iterations == 3 * 8  # 400 samples, batch-size 50 from the file
    assert net.history["learning_rate"] == [TRAIN_DEFAULTS["lr"]] * 3  # the default lr
    assert not re.search(r"^epoch", capsys.readouterr().out, flags=re.MULTILINE)  # quiet from the file


def test_checkpoint_then_resume_equals_a_straight_run(tmp_path):
    flags = ["--data", "circles", "--hidden", "8", "--schedule", "constant", "--quiet"]
    straight = glassnet.load(train(tmp_path, *flags, "--epochs", "4",
                                   "--checkpoint-dir", str(tmp_path / "a"), out="a.npz"))
    train(tmp_path, *flags, "--epochs", "2", "--checkpoint-dir", str(tmp_path / "b"),
          out="b2.npz")
    checkpoint = glassnet.load(tmp_path / "b" / "checkpoint.npz")
    assert len(checkpoint.history) == 2
    resumed = glassnet.load(train(tmp_path, *flags, "--epochs", "4", "--checkpoint-dir",
                                  str(tmp_path / "b"), "--resume", out="b4.npz"))
    for key, value in straight.params().items():
        np.testing.assert_array_equal(resumed.params()[key], value)
    assert resumed.history["epoch"] == [1, 2, 3, 4]
    assert resumed.history["loss"] == straight.history["loss"]


def write_csv(path: Path) -> Path:
    data = load_data("moons")
    rows = ["x1,label,x2"] + [f"{a:.17g},{t},{b:.17g}" for (a, b), t in zip(data.X, data.y)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_train_and_evaluate_on_csv_with_a_named_target(tmp_path, capsys):
    csv = write_csv(tmp_path / "moons.csv")
    model = train(tmp_path, "--data", f"csv:{csv}:label", "--hidden", "6", "--epochs", "2",
                  "--quiet")
    net = glassnet.load(model)
    assert net.sizes == [2, 6, 2] and net.loss_fn.name == "cross_entropy"
    assert net.info["training"]["data"] == f"csv:{csv}:label"
    capsys.readouterr()
    assert main(["evaluate", str(model)]) == 0
    assert "data: csv:" in capsys.readouterr().out


# ---------------------------------------------------------------------- evaluate, predict, info


def confusion(out: str) -> np.ndarray:
    lines = out.split("confusion matrix (rows: true class, columns: predicted class)\n")[1]
    rows = [line.split() for line in lines.strip().splitlines()[1:]]
    return np.array([[int(v) for v in row[1:]] for row in rows])


def test_evaluate_prints_metrics_and_a_confusion_matrix(trained, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(trained)]) == 0
    out = capsys.readouterr().out
    assert "data: circles, test split (seed 0), 100 samples" in out
    assert re.search(r"^loss: \d+\.\d+ \(cross_entropy, the mean over samples of -sum_j y_j log "
                     r"a_j: the training objective, without the penalty\)$", out, flags=re.MULTILINE)
    for name in ("accuracy", "balanced_accuracy", "log_loss"):  # each with what it means
        assert re.search(rf"^{name}: \d+\.\d+ \(.+\)$", out, flags=re.MULTILINE), name
    loss = float(re.search(r"^loss: (\S+)", out, flags=re.MULTILINE).group(1))
    log_loss = float(re.search(r"^log_loss: (\S+)", out, flags=re.MULTILINE).group(1))
    assert loss == pytest.approx(log_loss, abs=5e-5)  # one meaning: cross-entropy is the loss
    matrix = confusion(out)
    assert matrix.shape == (2, 2) and matrix.sum() == 100
    accuracy = float(re.search(r"^accuracy: (\S+) ", out, flags=re.MULTILINE).group(1))
    assert accuracy == pytest.approx(np.trace(matrix) / 100, abs=5e-5)

    assert main(["evaluate", str(trained), "--all"]) == 0
    out = capsys.readouterr().out
    assert "all samples, 500 samples" in out and confusion(out).sum() == 500


def test_predict_csv_and_npy_labels_and_probabilities(trained, tmp_path, capsys):
    X = load_data("circles").X[:25]
    net = glassnet.load(trained)
    labels, proba = net.predict(X), net.predict_output(X)
    np.save(tmp_path / "X.npy", X)
    (tmp_path / "X.csv").write_text("".join(f"{a:.17g},{b:.17g}\n" for a, b in X))

    for source in ("X.csv", "X.npy"):
        (tmp_path / "labels.npy").unlink(missing_ok=True)  # predictions replace no file
        assert main(["predict", str(trained), "--input", str(tmp_path / source),
                     "--output", str(tmp_path / "labels.npy")]) == 0
        np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), labels)
    assert "wrote 25 predictions to" in capsys.readouterr().out

    assert main(["predict", str(trained), "--input", str(tmp_path / "X.npy"),
                 "--output", str(tmp_path / "labels.csv")]) == 0
    written = (tmp_path / "labels.csv").read_text().split()
    assert [int(v) for v in written] == labels.tolist()

    assert main(["predict", str(trained), "--input", str(tmp_path / "X.csv"), "--proba",
                 "--output", str(tmp_path / "proba.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), proba, rtol=1e-6)
    assert main(["predict", str(trained), "--input", str(tmp_path / "X.npy"), "--proba",
                 "--output", str(tmp_path / "proba.csv")]) == 0
    rows = np.loadtxt(tmp_path / "proba.csv", delimiter=",")
    assert rows.shape == (25, 2)
    np.testing.assert_allclose(rows, proba, rtol=1e-6)


def test_info_prints_summary_settings_and_history(trained, capsys):
    capsys.readouterr()
    assert main(["info", str(trained)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"model: {trained}\n")
    assert re.search(r"^1 +Dropout +8 -> 8 \(p=0\.1\)", out, flags=re.MULTILINE)
    assert "total parameters: 42" in out
    assert "input scaling: StandardScaler" in out
    assert re.search(r"^optimizer: SGD\(learning_rate=.*\) after 30 steps$", out, flags=re.MULTILINE)
    assert "  data: circles\n" in out and "  hidden: 8\n" in out and "  optimizer: sgd\n" in out
    assert "history: 3 epochs" in out
    assert len(re.findall(r"^  epoch \d  loss ", out, flags=re.MULTILINE)) == 3


# ---------------------------------------------------------------------- errors


def test_unknown_flag(capsys):
    assert error_line(capsys, ["train", "--colour", "red"]) == \
        "glassnet: error: train: unknown flag --colour (see 'glassnet train --help')"


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "-3"], ("train: argument --epochs: must be an integer in "
     "1..1,000,000 (a million passes over the data; more is a typo: stop earlier with "
     "--early-stopping); got -3 (see 'glassnet train --help')")),
    (["train", "--hidden", "8,0"],
     ("train: argument --hidden: layer sizes must be integers > 0; got '8,0' "
     "(see 'glassnet train --help')")),
    (["train", "--val-split", "1.5"],
     "train: argument --val-split: must be in [0, 1); got 1.5 (see 'glassnet train --help')"),
    (["train", "--resume"], "train: --resume needs --checkpoint-dir, the folder of the checkpoint"),
])
def test_bad_train_arguments(capsys, argv, message):
    assert error_line(capsys, argv) == "glassnet: error: " + message


def test_csv_target_that_does_not_exist(tmp_path, capsys):
    csv = write_csv(tmp_path / "moons.csv")
    line = error_line(capsys, ["train", "--data", f"csv:{csv}:colour", "--epochs", "1"])
    assert line == (f"glassnet: error: {csv}: no column named 'colour'; the columns are "
                    "0: 'x1', 1: 'label', 2: 'x2'.")


def test_unknown_toml_setting(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('data = "circles"\ncolour = "red"\n')
    line = error_line(capsys, ["train", "--config", str(config)])
    assert line.startswith(f"glassnet: error: train: unknown setting 'colour' in {config}; valid: ")
    assert "batch_size" in line and "epochs" in line


@pytest.mark.parametrize("command", [["evaluate"], ["info"],
                                     ["predict", "--input", "X.npy", "--output", "y.npy"]])
def test_missing_model_file(tmp_path, capsys, command):
    missing = tmp_path / "nope.npz"
    argv = [command[0], str(missing), *command[1:]]
    assert error_line(capsys, argv) == f"glassnet: error: No model file at {missing}."


def test_predictions_csv_reads_back_as_written(tmp_path):
    """Text labels with commas and quotes stay one field; float32 outputs round-trip exactly."""
    import csv

    from glassnet.cli.models import _csv_text

    labels = np.array(["big, red", 'say "hi"', "plain"], dtype=object)
    rows = list(csv.reader(_csv_text(labels).splitlines()))
    assert [r[0] for r in rows] == labels.tolist() and all(len(r) == 1 for r in rows)
    proba = np.random.default_rng(0).random((200, 3)).astype(np.float32)
    back = np.loadtxt(_csv_text(proba).splitlines(), delimiter=",", dtype=np.float32)
    np.testing.assert_array_equal(back, proba)
