"""The ``glassnet`` command line, driven through ``main([...])``."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glassnet import load, mlp, save
from glassnet.activations import ACTIVATIONS, Tanh
from glassnet.cli import main
from glassnet.recipes import size_defaults

SRC = Path(__file__).resolve().parents[1] / "src"


def verdict_line(out):
    lines = [line for line in out.splitlines() if line.startswith("gradcheck ")]
    assert len(lines) == 1, out
    return lines[0]


# ---------------------------------------------------------------------- gradcheck
def test_gradcheck_default_passes_and_prints_a_table(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^layer\s+tensor\s+shape\s+max abs err\s+max rel err\s+ok", out, re.MULTILINE)
    for layer, name, shape in [("0", "W", "5x4"), ("0", "b", "5"), ("1", "W", "3x5"), ("1", "b", "3"),
                               ("-", "input", "8x4")]:
        assert re.search(rf"^{re.escape(layer)}\s+{name}\s+{shape}\s+\S+e[-+]\d+\s+\S+e[-+]\d+\s+yes$", out,
                         re.MULTILINE), (layer, name)
    assert re.match(r"gradcheck PASSED: worst relative error \d\.\d\de-\d+, worst absolute error "
                    r"\d\.\d\de-\d+ \(a tensor passes when abs err <= 1e-09 \* max\(1, \|C\|\) \+ "
                    r"1e-06 \* max\|gradient\|; every entry\)",
                    verdict_line(out))
    assert "total parameters: 43" in out  # the summary of the 4-5-3 network comes first


def test_gradcheck_residual_relu(capsys):
    argv = ["gradcheck", "--sizes", "3,4,4,2", "--activation", "relu", "--residual", "--samples", "5",
            "--loss", "cross_entropy", "--seed", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # an identity-skip block a = x + relu(W x + b)
    assert re.search(r"^1\s+Residual\s+4 -> 4 \(\+skip\)\s+\d+$", out, re.MULTILINE)
    assert re.search(r"^\s+1\.0\s+Dense\s+4 -> 4\s+relu", out, re.MULTILINE)
    assert re.search(r"^1\.0\s+W\s+4x4\s", out, re.MULTILINE)  # the block's inner weights are checked
    assert re.search(r"^2\s+Dense\s+4 -> 2\s+softmax", out, re.MULTILINE)
    assert verdict_line(out).startswith("gradcheck PASSED")


def test_gradcheck_fast(capsys):
    assert main(["gradcheck", "--sizes", "5,6,2", "--fast", "--loss", "binary_cross_entropy"]) == 0
    out = capsys.readouterr().out
    assert "random directions" in verdict_line(out) and "PASSED" in verdict_line(out)


def test_gradcheck_saved_model(tmp_path, capsys):
    path = tmp_path / "model.npz"
    save(mlp([6, 7, 3], activation="gelu", loss="cross_entropy", seed=2), path)
    assert main(["gradcheck", str(path), "--samples", "4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^0\s+Dense\s+6 -> 7\s+gelu\s+49$", out, re.MULTILINE)
    assert re.search(r"^-\s+input\s+4x6\s", out, re.MULTILINE)
    assert verdict_line(out).startswith("gradcheck PASSED")


def test_gradcheck_exit_status_1_when_a_check_fails(monkeypatch, capsys):
    class BrokenTanh(Tanh):
        def derivative(self, z, a):
            return 1 - a  # should be 1 - a**2

    monkeypatch.setitem(ACTIVATIONS, "tanh", BrokenTanh)  # the registry the CLI builds from
    assert main(["gradcheck"]) == 1
    captured = capsys.readouterr()
    out = captured.out
    assert captured.err.startswith("glassnet: error: gradcheck FAILED for 0.W, 0.b, -.input: ")
    assert len(captured.err.splitlines()) == 1
    assert verdict_line(out).startswith("gradcheck FAILED")
    assert re.search(r"^0\s+W\s+5x4\s.*NO$", out, re.MULTILINE)
    assert re.search(r"^1\s+W\s+3x5\s.*yes$", out, re.MULTILINE)  # the output layer is still right


def test_gradcheck_missing_model_file(tmp_path, capsys):
    path = tmp_path / "absent.npz"
    assert main(["gradcheck", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"glassnet: error: No model file at {path}.\n"


# ---------------------------------------------------------------------- usage errors
@pytest.mark.parametrize("argv, message", [
    (["bogus"], r"unknown command 'bogus'; choose from train, evaluate, .*\(see 'glassnet --help'\)$"),
    (["trian"], r"unknown command 'trian' \(did you mean train\?\)"),
    (["gradchek"], r"unknown command 'gradchek' \(did you mean gradcheck\?\)"),
    (["gradcheck", "--bogus"], r"gradcheck: unknown flag --bogus \(see 'glassnet gradcheck --help'\)$"),
    (["gradcheck", "--sampels", "3"], r"gradcheck: unknown flag --sampels \(did you mean --samples\?\)"),
    (["train", "--bogus", "1"], r"train: unknown flag --bogus \(see 'glassnet train --help'\)$"),
    (["train", "--epohcs", "3"], r"train: unknown flag --epohcs \(did you mean --epochs\?\)"),
    (["train", "--batchsize=3"], r"train: unknown flag --batchsize \(did you mean --batch-size\?\)"),
    (["--verison"], r"unknown flag --verison \(did you mean --version\?\)"),
    (["train", "-x"], r"train: unknown flag -x \(see 'glassnet train --help'\)$"),
    (["train", "--epochs", "-3"], r"train: argument --epochs: must be an integer in 1..1,000,000 \(.*\); got -3"),
    (["train", "--e", "3"], r"train: ambiguous option: --e could match --epochs, --early-stopping"),
    (["gradcheck", "--sizes", "0,3"], (r"gradcheck: argument --sizes: layer sizes must be integers > 0; "
                                       r"got '0,3' \(see 'glassnet gradcheck --help'\)$")),
    (["gradcheck", "--sizes", "3,x"], r"gradcheck: argument --sizes: expected comma-separated integers like 64,32; got '3,x'"),
    (["gradcheck", "--sizes", "3"], r"gradcheck: --sizes needs at least an input and an output size$"),
    (["gradcheck", "--activation", "swish"], r"gradcheck: argument --activation: unknown activation 'swish'"),
    (["gradcheck", "--activation", "tahn"], r"gradcheck: argument --activation: unknown activation 'tahn' \(did you mean tanh\?\)"),
    (["train", "--epochs", "-1"], r"train: argument --epochs: must be an integer in 1..1,000,000 \(.*\); got -1"),
    (["train", "--epochs", "2.5"], r"train: argument --epochs: expected a int; got '2\.5'"),
    (["train", "--lr", "abc"], r"train: argument --lr: expected a float; got 'abc'"),
    (["train", "--lr", "0"], r"train: argument --lr: must be > 0; got 0"),
    (["train", "--dropout", "1"], r"train: argument --dropout: must be in \[0, 1\); got 1"),
    (["train", "--hidden", "0,3"], r"train: argument --hidden: layer sizes must be integers > 0"),
    (["train", "--optimizer", "newton"], r"train: argument --optimizer: unknown optimizer 'newton'; choose from .*adam"),
    (["train", "--optimizer", "adan"], r"train: argument --optimizer: unknown optimizer 'adan' \(did you mean adam\?\)"),
    (["predict", "m.npz"], r"predict: the following arguments are required: --input, --output"),
    (["info", "a.npz", "b.npz"], r"unrecognized arguments: b\.npz"),
])
def test_usage_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("glassnet: error: "), lines[0]
    assert re.search(message, lines[0].removeprefix("glassnet: error: ")), lines[0]
    assert "Traceback" not in captured.err


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: glassnet") and "gradcheck" in out and "train" in out


def test_python_m_glassnet_help():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", "glassnet", "--help"], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: glassnet")
    for command in ("train", "evaluate", "predict", "info", "gradcheck"):
        assert command in result.stdout
    assert result.stderr == ""


# ---------------------------------------------------------------------- the default recipe
@pytest.mark.slow
def test_default_train_on_digits(tmp_path, capsys):
    pytest.importorskip("sklearn")
    path = tmp_path / "m.npz"
    assert main(["train", "--out", str(path)]) == 0
    out = capsys.readouterr().out
    accuracy = re.findall(r"^test accuracy: (\d\.\d+)$", out, re.MULTILINE)
    assert len(accuracy) == 1, out
    assert float(accuracy[0]) >= 0.97
    chosen = size_defaults(1438, 64, 10)  # the 80 % of digits' 1797 samples
    (h,) = chosen["hidden"]
    n_params = 64 * h + h + h * 10 + 10
    assert re.search(rf"^gradcheck on 20 test samples, {n_params} parameters \(3 random "
                     r"directions per tensor\): PASSED, worst relative error", out, re.MULTILINE), out
    assert f"saved model to {path}" in out
    net = load(path)
    assert repr(net) == f"Network(64-{h}-10, loss='cross_entropy', dtype='float32', " \
                        f"params={n_params})"
    assert net.scaler is not None and net.optimizer is not None
    assert len(net.history) == chosen["epochs"]
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    assert np.mean(net.predict(X) == y) > 0.97
