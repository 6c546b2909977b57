"""The command line agrees with the API and tells the truth (issue 14), through the real producer:
every model here is written by ``glassnet train`` and then read by the other subcommands.

A failed gradient check fails the run; L-BFGS is full-batch; mse, huber and binary
cross-entropy train on class labels; ``csv:FILE`` names its target; residual blocks, L1 and
gradient clipping have flags; ``explain --from-model`` works on what ``train`` writes.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

import glassnet
from glassnet.cli import main
from glassnet.data import load_data, train_test_split

TINY = ["--data", "circles", "--hidden", "4", "--epochs", "2", "--quiet"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def train(capsys, *flags: str, out: str = "m.npz") -> tuple[glassnet.Network, str]:
    """``glassnet train FLAGS --out OUT``: the loaded model and what it printed."""
    status = main(["train", *flags, "--out", out])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return glassnet.load(out), captured.out


def one_error_line(capsys, argv: list[str], status: int) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("glassnet: error: "), err
    return err.removeprefix("glassnet: error: ").strip()


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(glassnet.Network, "fit", lambda *a, **k: pytest.fail("training started"))


# ---------------------------------------------------------------------- a failed gradient check
def test_a_failed_gradient_check_fails_the_run_and_keeps_the_model(capsys, monkeypatch, tmp_path):
    from glassnet.activations import Tanh

    monkeypatch.setattr(Tanh, "derivative", lambda self, z, a: 1 - a)  # should be 1 - a**2
    assert main(["train", *TINY, "--activation", "tanh", "--out", "m.npz",
                 "--history-json", "h.json"]) == 1
    captured = capsys.readouterr()
    verdict = [line for line in captured.out.splitlines() if line.startswith("gradcheck")]
    assert len(verdict) == 1
    assert re.match(r"gradcheck on 20 test samples, 22 parameters: FAILED, worst relative error "
                    r"\S+ \(tolerance 1e-06\); the model is saved all the same, and the run fails \(\S+ s, not part of the training time\)$",
                    verdict[0])
    assert "saved model to m.npz" in captured.out
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0].startswith("glassnet: error: the gradient check FAILED")
    assert "the model was saved to m.npz all the same" in err[0]
    net = glassnet.load("m.npz")  # the model and the history are kept
    assert len(net.history) == 2 and (tmp_path / "h.json").is_file()


def test_a_passed_gradient_check_exits_0(capsys):
    _, out = train(capsys, *TINY, "--activation", "tanh")
    assert re.search(r"^gradcheck on 20 test samples, 22 parameters: PASSED, worst relative "
                     r"error \S+ \(\S+ s, not part of the training time\)$", out, re.MULTILINE)


# ---------------------------------------------------------------------- L-BFGS
def test_lbfgs_is_full_batch_and_prints_no_learning_rate(capsys):
    net, out = train(capsys, "--data", "circles", "--hidden", "8", "--epochs", "4",
                     "--optimizer", "lbfgs")
    assert net.info["training"]["batch_size"] == 400  # every training sample in each step
    assert "lbfgs on one full batch of 400 samples" in out
    epochs = re.findall(r"^epoch .*$", out, re.MULTILINE)
    assert len(epochs) == 4 and not any(" lr " in line for line in epochs)
    losses = net.history["loss"]  # full batch: each step starts where the last one ended
    assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(losses)), losses
    assert float(re.search(r"^test accuracy: (\S+)$", out, re.MULTILINE).group(1)) >= 0.95
    assert main(["info", "m.npz"]) == 0
    history = re.findall(r"^  epoch \d.*$", capsys.readouterr().out, re.MULTILINE)
    assert len(history) == 4 and not any(" lr " in line for line in history)


def test_lbfgs_takes_mini_batches_when_asked(capsys):
    net, out = train(capsys, *TINY, "--optimizer", "lbfgs", "--batch-size", "50")
    assert net.info["training"]["batch_size"] == 50 and "lbfgs on mini-batches of 50" in out


def test_other_optimizers_keep_the_recipes_batch_and_their_lr(capsys):
    from glassnet.recipes import size_defaults

    net, out = train(capsys, "--data", "circles", "--hidden", "4", "--epochs", "1")
    assert net.info["training"]["batch_size"] == size_defaults(400, 2, 2)["batch_size"]
    assert re.search(r"^epoch +1/1 .* lr 0\.005 ", out, re.MULTILINE)


# ---------------------------------------------------------------------- other losses on classes
@pytest.mark.parametrize("loss", ["mse", "huber", "binary_cross_entropy"])
@pytest.mark.parametrize("data, n_classes", [("circles", 2), ("iris", 3)])
def test_other_losses_train_on_class_labels(tmp_path, capsys, loss, data, n_classes):
    net, out = train(capsys, "--data", data, "--loss", loss, "--activation", "sigmoid",
                     "--hidden", "6", "--epochs", "2", "--quiet")
    assert net.loss_fn.name == loss and net.n_out == n_classes
    assert net.layers[-1].activation.name == "sigmoid"  # sigmoid + 0.5 ||a - y||^2 for mse
    assert net.info["training"]["task"] == "classification"
    printed = float(re.search(r"^test accuracy: (\S+)$", out, re.MULTILINE).group(1))
    assert re.search(r"^gradcheck on .*: PASSED", out, re.MULTILINE)

    assert main(["evaluate", "m.npz"]) == 0
    report = capsys.readouterr().out
    assert float(re.search(r"^accuracy: (\S+) \(", report, re.MULTILINE).group(1)) == \
        pytest.approx(printed, abs=5e-5)
    assert "confusion matrix" in report and f"({loss}, the mean over samples of " in report

    d = load_data(data)
    np.save(tmp_path / "X.npy", d.X)
    assert main(["predict", "m.npz", "--input", "X.npy", "--output", "labels.npy"]) == 0
    labels = np.load(tmp_path / "labels.npy")
    assert labels.shape == (len(d.X),) and labels.dtype.kind == "i"
    np.testing.assert_array_equal(labels, net.predict_output(d.X).argmax(axis=1))


def test_the_classic_sigmoid_mse_classifier_learns(capsys):
    _, out = train(capsys, "--data", "iris", "--loss", "mse", "--activation", "sigmoid",
                   "--hidden", "8", "--optimizer", "sgd", "--lr", "3", "--epochs", "30",
                   "--batch-size", "16", "--weight-decay", "0", "--quiet")
    assert float(re.search(r"^test accuracy: (\S+)$", out, re.MULTILINE).group(1)) >= 0.8


def test_output_flag_and_regression_keep_their_meaning(capsys):
    net, _ = train(capsys, *TINY, "--loss", "mse", "--output", "identity")
    assert net.layers[-1].activation.name == "identity" and net.n_out == 2
    net, out = train(capsys, "--data", "plane", "--hidden", "4", "--epochs", "1", "--quiet")
    assert net.n_out == 1 and net.info["training"]["task"] == "regression"
    assert net.layers[-1].activation.name == "identity" and "test loss:" in out


# ---------------------------------------------------------------------- csv:FILE and its target
def write_csv(path: Path, columns: dict[str, np.ndarray], header: bool = True) -> str:
    names = list(columns)
    rows = [",".join(names)] if header else []
    n_rows = len(columns[names[0]])
    rows += [",".join(f"{columns[n][i]:.17g}" for n in names) for i in range(n_rows)]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def moons_columns(extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    d = load_data("moons")
    return {"x1": d.X[:, 0], "x2": d.X[:, 1], "label": d.y, **(extra or {})}


def test_csv_without_a_target_says_which_column_it_took(tmp_path, capsys):
    path = write_csv(tmp_path / "moons.csv", moons_columns())
    net, out = train(capsys, "--data", f"csv:{path}", "--hidden", "4", "--epochs", "1")
    assert "target: column 2 ('label'), the last one (class labels); name another with " \
           "csv:FILE:COLUMN" in out
    assert net.n_out == 2


def test_csv_without_a_header_names_the_column_by_index(tmp_path, capsys):
    path = write_csv(tmp_path / "moons.csv", moons_columns(), header=False)
    _, out = train(capsys, "--data", f"csv:{path}", "--hidden", "4", "--epochs", "1")
    assert "target: column 2, the last one (class labels)" in out


@pytest.mark.parametrize("feature", ["ids", "counts", "negative"])
def test_csv_refuses_a_feature_taken_as_classes(tmp_path, capsys, no_training, feature):
    n = 500
    values = {"ids": np.arange(n), "counts": np.random.default_rng(0).integers(0, 300, n),
              "negative": np.arange(n) - 250}[feature]
    path = write_csv(tmp_path / "data.csv", moons_columns({"age": values}))
    line = one_error_line(capsys, ["train", "--data", f"csv:{path}"], 2)
    assert "no target column was named, so column 3 ('age'), the last one, was taken" in line
    assert re.search(r"the target's \d+ distinct whole numbers in 500 rows \(\d+ of them "
                     r"occurring only once\) look like IDs or a measured quantity", line)
    assert f"--data csv:{path}:COLUMN" in line and "--task regression" in line


def test_csv_with_the_target_named_or_the_task_given(tmp_path, capsys):
    path = write_csv(tmp_path / "data.csv", moons_columns({"age": np.arange(500)}))
    net, out = train(capsys, "--data", f"csv:{path}:label", "--hidden", "4", "--epochs", "1")
    assert net.n_out == 2 and net.n_in == 3 and "target:" not in out
    net, out = train(capsys, "--data", f"csv:{path}", "--task", "regression", "--hidden", "4",
                     "--epochs", "1", "--quiet")
    assert net.n_out == 1 and net.loss_fn.name == "mse"
    assert "target: column 3 ('age'), the last one (a quantity (regression))" in out
    assert main(["evaluate", "m.npz"]) == 0
    assert re.search(r"^r2: ", capsys.readouterr().out, re.MULTILINE)


def test_csv_float_target_is_a_quantity_and_cannot_be_forced_into_classes(tmp_path, capsys):
    columns = moons_columns({"y": np.linspace(0, 1, 500) + 0.001})
    path = write_csv(tmp_path / "data.csv", columns)
    net, out = train(capsys, "--data", f"csv:{path}", "--hidden", "4", "--epochs", "1")
    assert net.n_out == 1 and "(a quantity (regression))" in out
    line = one_error_line(capsys, ["train", "--data", f"csv:{path}", "--task",
                                   "classification"], 2)
    assert "--task classification needs whole-number class labels" in line and "0.001" in line


def test_npz_target_that_looks_like_a_feature(tmp_path, capsys, no_training):
    np.savez(tmp_path / "d.npz", X=np.random.default_rng(0).normal(size=(300, 2)),
             y=np.arange(300))
    line = one_error_line(capsys, ["train", "--data", f"npz:{tmp_path / 'd.npz'}"], 2)
    assert "the target's 300 distinct whole numbers in 300 rows (300 of them occurring only " \
        "once) look like IDs or a measured quantity" in line
    assert "--task regression" in line and "--task classification to train 300 classes" in line


# ---------------------------------------------------------------------- residual, L1, clipping
def test_residual_flag_builds_identity_skip_blocks(capsys):
    net, out = train(capsys, "--data", "circles", "--hidden", "6,6,6", "--residual",
                     "--epochs", "1", "--quiet")
    assert [c["type"] for c in net.config()["layers"]] == ["Dense", "Residual", "Residual",
                                                           "Dense"]
    assert net.info["training"]["residual"] is True
    assert re.search(r"^gradcheck on .*: PASSED", out, re.MULTILINE)


def test_residual_flag_needs_equal_widths(capsys, no_training):
    line = one_error_line(capsys, ["train", *TINY, "--hidden", "8,4", "--residual"], 2)
    assert "--residual" in line and "--hidden 8,4 has none" in line


def test_l1_flag_shrinks_the_weights(capsys):
    flags = ["--data", "circles", "--hidden", "8", "--epochs", "5", "--weight-decay", "0",
             "--optimizer", "sgd", "--lr", "0.5", "--quiet"]
    plain, _ = train(capsys, *flags, out="plain.npz")
    sparse, out = train(capsys, *flags, "--l1", "0.1", out="l1.npz")
    assert plain.l1 == 0.0 and sparse.l1 == 0.1
    assert sparse.info["training"]["l1"] == 0.1
    l1_norm = [sum(np.abs(layer.W).sum() for layer in net.layers) for net in (plain, sparse)]
    assert l1_norm[1] < 0.5 * l1_norm[0]
    # L1 drives weights to W = 0, where |W| has no derivative: the check leaves it out
    assert re.search(r"^gradcheck on 20 test samples, 42 parameters \(without the L1 penalty, "
                     r"which has no derivative at W = 0\): PASSED", out, re.MULTILINE)


def test_clip_norm_flag_bounds_every_step(capsys):
    start = glassnet.mlp([2, 8, 2], loss="cross_entropy", seed=0).params()
    flags = ["--data", "circles", "--hidden", "8", "--optimizer", "sgd", "--lr", "1",
             "--weight-decay", "0", "--epochs", "1", "--batch-size", "50", "--quiet"]

    def moved(net):
        return np.sqrt(sum(np.sum((net.params()[k] - start[k]) ** 2) for k in start))

    free, _ = train(capsys, *flags, out="free.npz")
    clipped, _ = train(capsys, *flags, "--clip-norm", "0.001", out="clipped.npz")
    assert clipped.info["training"]["clip_norm"] == 0.001
    assert 0 < moved(clipped) <= 8 * 1.0 * 0.001 * (1 + 1e-5)  # 8 steps of at most lr * 0.001
    assert moved(free) > 0.05


def test_the_new_settings_from_a_toml_file(tmp_path, capsys):
    (tmp_path / "r.toml").write_text('data = "circles"\nhidden = [4, 4]\nresidual = true\n'
                                     'l1 = 0.001\nclip-norm = 2.0\nepochs = 1\nquiet = true\n'
                                     'loss = "mse"\n')
    net, _ = train(capsys, "--config", str(tmp_path / "r.toml"))
    assert net.l1 == 0.001 and net.info["training"]["clip_norm"] == 2.0
    assert net.config()["layers"][1]["type"] == "Residual" and net.loss_fn.name == "mse"


# ---------------------------------------------------------------------- explain --from-model
def circles_test_split():
    d = load_data("circles")
    return train_test_split(d.X, d.y, test_size=0.2, stratify=True, seed=0)


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_explain_a_trained_model_on_its_own_test_split(capsys, fmt):
    net, _ = train(capsys, *TINY, "--activation", "tanh")
    assert main(["explain", "--from-model", "m.npz", "--sample", "3", "--format", fmt]) == 0
    out = capsys.readouterr().out
    _, X_test, _, y_test = circles_test_split()
    x_scaled = net.scale_inputs(X_test[3:4])
    header, body = out.split("\n\n", 1)
    assert header.splitlines()[0] == ("explaining sample 3 of the test split of circles "
                                      f"(seed 0), held out from training, target {y_test[3]}")
    assert "scaled by the model's StandardScaler" in header
    assert "the network sees scaled inputs" in header
    shown = re.search(r"to x = \[([^\]]+)\]", header).group(1)
    np.testing.assert_allclose([float(v) for v in shown.split(", ")], x_scaled[0], rtol=1e-3)
    expected = glassnet.explain(net, x_scaled, y_test[3])
    assert body == (expected.markdown() if fmt == "markdown" else expected.text())


def test_explain_a_trained_model_on_other_data(capsys):
    net, _ = train(capsys, *TINY)
    assert main(["explain", "--from-model", "m.npz", "--data", "xor", "--sample", "5"]) == 0
    out = capsys.readouterr().out
    xor = load_data("xor")
    assert out.startswith(f"explaining sample 5 of xor, target {xor.y[5]}\n")
    body = out.split("\n\n", 1)[1]
    assert body == glassnet.explain(net, net.scale_inputs(xor.X[5:6]), xor.y[5]).text()


def test_explain_a_model_trained_with_mse_on_classes(capsys):
    net, _ = train(capsys, *TINY, "--loss", "mse", "--activation", "sigmoid")
    assert main(["explain", "--from-model", "m.npz"]) == 0
    out = capsys.readouterr().out
    _, X_test, _, y_test = circles_test_split()
    one_hot = np.eye(2)[y_test[0]]
    body = out.split("\n\n", 1)[1]
    assert body == glassnet.explain(net, net.scale_inputs(X_test[:1]), one_hot).text()


def test_explain_a_model_that_records_no_data(tmp_path, capsys):
    glassnet.save(glassnet.mlp([2, 3, 2], loss="cross_entropy", seed=0), tmp_path / "api.npz")
    line = one_error_line(capsys, ["explain", "--from-model", str(tmp_path / "api.npz")], 2)
    assert "does not record its data set" in line and "pass --data SPEC with samples of 2 features" in line
    assert main(["explain", "--from-model", str(tmp_path / "api.npz"), "--data", "xor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("explaining sample 0 of xor") and "scaled by" not in out


@pytest.mark.parametrize("change, words", [
    (["--seed", "3"], "--seed 3 (the checkpoint's run: 0)"),
    (["--lr", "0.1"], "--lr 0.1 (the checkpoint's run: 0.005)"),
    (["--batch-size", "7"], "--batch-size 7 (the checkpoint's run: "),
    (["--hidden", "5"], "--hidden 5 (the checkpoint's run: 4)"),
])
def test_resume_refuses_settings_of_another_run(tmp_path, capsys, change, words):
    """A resumed run is the checkpoint's: another seed would draw another split (test rows
    trained on), another rate or batch would be recorded but not the run that happened."""
    base = ["train", "--data", "iris", "--hidden", "4", "--quiet", "--out",
            str(tmp_path / "m.npz"), "--checkpoint-dir", str(tmp_path / "ck")]
    assert main([*base, "--epochs", "2"]) == 0
    before = (tmp_path / "ck" / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert main([*base, "--epochs", "4", "--resume", *change]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert (tmp_path / "ck" / "checkpoint.npz").read_bytes() == before
    assert main([*base, "--epochs", "1", "--resume"]) == 2
    assert "has finished 2 epochs, so --epochs 1 leaves nothing to train" in \
        capsys.readouterr().err
    assert main([*base, "--epochs", "4", "--resume"]) == 0  # the same run goes on


def test_a_toml_setting_given_twice_in_two_spellings_is_refused(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("weight-decay = 0.1\nweight_decay = 0.2\nepochs = 1\n")
    assert main(["train", "--config", str(config), "--quiet", "--out",
                 str(tmp_path / "m.npz")]) == 2
    assert "sets weight_decay twice (weight-decay and weight_decay); keep one" in \
        capsys.readouterr().err


@pytest.mark.parametrize("header, rows, shown", [
    ("", "1,2,cat\n2,3,dog\n3,1,cat\n4,2,dog\n", "target: column 2, the last one"),
    ("a,b,label\n", "1,2,cat\n2,3,dog\n3,1,cat\n4,2,dog\n", "column 2 ('label'), the last"),
    ("a;b;label\n", "1;2;0\n2;3;1\n3;1;0\n4;2;1\n", "target: column 2 ('label'), the last"),
])
def test_the_target_note_names_the_column_as_read_csv_reads_the_file(tmp_path, capsys, header,
                                                                     rows, shown):
    """A header-less file of text labels has no column names: its first label is data."""
    path = tmp_path / "d.csv"
    path.write_text(header + rows * 3)
    assert main(["train", "--data", str(path), "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "m.npz")]) == 0
    assert shown in capsys.readouterr().out
