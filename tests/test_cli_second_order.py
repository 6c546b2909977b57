"""``glassnet hvp``, ``sharpness``, ``per-sample`` and ``landscape``, through ``main([...])`` on
models written by ``glassnet train``."""

import json
import re

import numpy as np
import pytest

from glassnet import load, mlp, save
from glassnet.cli import main
from glassnet.data import load_data

pytest.importorskip("sklearn")  # the digits and iris data sets


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A digits model trained with plain SGD, an iris model small enough to write out, and a
    digits model that barely moved from its initial weights (learning rate 1e-9)."""
    root = tmp_path_factory.mktemp("models")
    paths = {"digits": root / "digits.npz", "iris": root / "iris.npz", "still": root / "still.npz"}
    common = ["--epochs", "2", "--quiet", "--batch-size", "32"]
    assert main(["train", "--hidden", "12", "--optimizer", "sgd", "--lr", "0.1", "--out",
                 str(paths["digits"]), *common]) == 0
    assert main(["train", "--data", "iris", "--hidden", "6", "--activation", "tanh", "--out",
                 str(paths["iris"]), *common]) == 0
    assert main(["train", "--hidden", "12", "--optimizer", "sgd", "--lr", "1e-9", "--out",
                 str(paths["still"]), *common]) == 0
    return paths


def numbers(pattern, text):
    found = re.findall(pattern, text)
    return [float(x) for m in found for x in (m if isinstance(m, tuple) else (m,))]


def test_sharpness_prints_the_top_eigenvalues_and_the_stability_edge(models, capsys):
    from glassnet.sharpness import hessian_eigenvalues

    assert main(["sharpness", str(models["digits"]), "--samples", "200", "--top", "2"]) == 0
    out = capsys.readouterr().out
    values = numbers(r"lambda_\d = (\S+)", out)
    assert len(values) == 2 and values[0] >= values[1]
    assert "stability edge 20;" in out  # 2 / learning_rate with the saved SGD, lr 0.1
    net = load(models["digits"])  # the same numbers from the library
    data = load_data("digits")
    rows = np.sort(np.random.default_rng(0).choice(len(data.X), size=200, replace=False))
    eig = hessian_eigenvalues(net.astype("float64"), net.scale_inputs(data.X[rows]),
                              data.y[rows], k=2, iters=30)
    np.testing.assert_allclose(values, eig.values, rtol=1e-5)
    ratio = numbers(r"lambda_max is (\S+) times it", out)[0]
    assert ratio == pytest.approx(values[0] / 20, rel=1e-2)


def test_sharpness_of_an_adam_model_names_no_edge(models, capsys):
    assert main(["sharpness", str(models["iris"]), "--method", "power", "--iters", "40"]) == 0
    out = capsys.readouterr().out
    assert "power" in out and "adaptive, no fixed stability edge" in out
    assert len(numbers(r"lambda_\d = (\S+)", out)) == 1


def test_per_sample_prints_norms_noise_and_drivers(models, capsys):
    from glassnet.per_sample import per_sample_grad_norms

    assert main(["per-sample", str(models["digits"]), "--samples", "300", "--weight", "0.W:3,20",
                 "--top", "4"]) == 0
    out = capsys.readouterr().out
    assert "dC/d0.W[3, 20]" in out
    assert len(re.findall(r"^\s+\d+\s+-?\d\.\d+e.*%$", out, re.MULTILINE)) == 4
    assert re.search(r"^\s+0\s+\S+e[-+]\d+\s+\S+e[-+]\d+$", out, re.MULTILINE)  # the noise table
    net = load(models["digits"]).astype("float64")
    data = load_data("digits")
    rows = np.sort(np.random.default_rng(0).choice(len(data.X), size=300, replace=False))
    norms = per_sample_grad_norms(net, net.scale_inputs(data.X[rows]), data.y[rows])
    assert numbers(r"mean (\S+)", out)[0] == pytest.approx(norms.mean(), rel=1e-3)
    assert main(["per-sample", str(models["digits"]), "--samples", "50"]) == 0  # default entry
    assert "dC/d0.W[" in capsys.readouterr().out


@pytest.mark.parametrize("weight,message", [
    ("0.W", "expected KEY:j,k"), ("0.W:x", "expected KEY:j,k"), (":1", "expected KEY:j,k")])
def test_per_sample_refuses_a_bad_weight_entry(models, capsys, weight, message):
    assert main(["per-sample", str(models["digits"]), "--weight", weight]) == 2
    assert message in capsys.readouterr().err


def test_per_sample_refuses_an_entry_outside_the_weights(models, capsys):
    assert main(["per-sample", str(models["digits"]), "--weight", "0.W:12,0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("glassnet: error: weight_drivers: index (12, 0) is outside 0.W")
    assert len(err.strip().splitlines()) == 1


def test_landscape_from_init_rebuilds_the_real_initial_weights(models, tmp_path, capsys):
    """A model trained with learning rate 1e-9 is its initial weights to ~1e-8: the line from
    the rebuilt initialisation must start where it ends."""
    out_dir = tmp_path / "still"
    assert main(["landscape", str(models["still"]), "--from-init", "--resolution", "5",
                 "--samples", "200", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    t0, t1 = numbers(r"loss (\S+) at t=0, (\S+) at t=1", out)
    assert t0 == pytest.approx(t1, rel=1e-3)
    data = json.loads((out_dir / "landscape.json").read_text())
    assert len(data["plane"]["loss"]) == 5 and data["samples"] == 200
    loss = np.array(data["line"]["loss"])
    t = np.array(data["line"]["t"])
    assert loss[np.argmin(np.abs(t))] == pytest.approx(loss[np.argmin(np.abs(t - 1))], rel=1e-6)
    for name in ("line.png", "contour.png", "surface.png"):
        assert (out_dir / name).read_bytes()[:4] == b"\x89PNG"


def test_landscape_between_two_models_and_the_trained_one_is_lower(models, tmp_path, capsys):
    assert main(["landscape", str(models["digits"]), "--from-init", "--resolution", "3",
                 "--samples", "200", "--out", str(tmp_path)]) == 0
    t0, t1 = numbers(r"loss (\S+) at t=0, (\S+) at t=1", capsys.readouterr().out)
    assert t1 < t0
    assert main(["landscape", str(models["digits"]), "--other", str(models["still"]),
                 "--resolution", "3", "--samples", "100", "--out", str(tmp_path)]) == 0
    assert "barrier" in capsys.readouterr().out


def test_landscape_lab_draws_plain_and_residual(tmp_path, capsys):
    assert main(["landscape", "--lab", "--depth", "3", "--width", "8", "--epochs", "1",
                 "--resolution", "4", "--samples", "100", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "plain, relu, depth 3" in out and "residual, relu, depth 3" in out
    data = json.loads((tmp_path / "lab.json").read_text())
    assert set(data) == {"plain", "residual"}
    assert (tmp_path / "lab.png").stat().st_size > 0


def test_hvp_worked_example_and_a_small_saved_model(models, capsys):
    assert main(["hvp"]) == 0
    out = capsys.readouterr().out
    assert "network 2-3-2, loss mse" in out and "R-backward" in out
    pairs = re.findall(r"^\s+[Wb]\^\d\[[\d,]+\]\s+(\S+)\s+\(\s*(\S+)\)$", out, re.MULTILINE)
    assert len(pairs) == 17  # every parameter of the 2-3-2 network
    for computed, numeric in pairs:
        assert float(computed) == pytest.approx(float(numeric), rel=1e-6, abs=1e-12)
    assert main(["hvp", "--format", "markdown", "--direction", "ones"]) == 0
    assert capsys.readouterr().out.startswith("# The Hessian-vector product")
    assert main(["hvp", "--from-model", str(models["iris"]), "--sample", "3"]) == 0
    assert "network 4-6-3, loss cross_entropy" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["hvp", "--from-model", "DIGITS"], "at most 16 units per layer"),
    (["hvp", "--from-model", "IRIS", "--sample", "999"], "--sample must be in 0..149"),
    (["hvp", "--data", "iris"], "--data needs --from-model"),
    (["sharpness", "missing.npz"], "No model file at missing.npz"),
    (["landscape"], "needs MODEL (or --lab)"),
    (["landscape", "DIGITS", "--lab"], "--lab builds its own networks"),
    (["landscape", "SAVED", "--from-init"], "--from-init needs a model written by glassnet train"),
    (["landscape", "DIGITS", "--other", "IRIS"], "another architecture"),
    (["sharpness", "SAVED"], "does not record its data set; pass --data"),
])
def test_every_failure_is_one_line(models, tmp_path, capsys, argv, message):
    saved = tmp_path / "saved.npz"
    save(mlp([64, 12, 10], loss="cross_entropy"), saved)
    names = {"DIGITS": str(models["digits"]), "IRIS": str(models["iris"]), "SAVED": str(saved)}
    argv = [names.get(a, a) for a in argv] + (["--out", str(tmp_path)]
                                              if argv[0] == "landscape" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("glassnet: error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["sharpness", "m.npz", "--samples", "0"],
                                  ["landscape", "m.npz", "--span", "-1"],
                                  ["landscape", "m.npz", "--other", "a", "--from-init"],
                                  ["hvp", "--direction", "random"]])
def test_bad_flags_are_usage_errors(argv, capsys):
    assert main(argv) == 2
    assert "glassnet" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["hvp", "sharpness", "per-sample", "landscape"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: glassnet {command}" in capsys.readouterr().out
