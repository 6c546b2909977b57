"""What users see is true (issue 14), through the real producer: models written by
``glassnet train`` reload whatever state training reached, "loss" means one thing everywhere,
gradcheck neither fails correct networks nor passes broken ones, and the API takes what the
command line takes."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import glassnet
from glassnet.activations import ACTIVATIONS, Sigmoid
from glassnet.cli import main
from glassnet.training import History, ScheduleEndWarning


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def train(capsys, *argv):
    assert main(["train", *argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


# ------------------------------------------------------------------ a learning rate of 0
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_a_cosine_schedule_run_to_its_end_saves_a_model_everything_reads(capsys, optimizer):
    train(capsys, "--data", "circles", "--hidden", "4", "--epochs", "3", "--schedule", "cosine",
          "--optimizer", optimizer, "--checkpoint-dir", "ck", "--quiet", "--out", "m.npz")
    net = glassnet.load("m.npz")
    assert net.optimizer.learning_rate == pytest.approx(0.0, abs=1e-12) or \
        net.history["learning_rate"][-1] < net.history["learning_rate"][0]
    for argv in (["info", "m.npz"], ["evaluate", "m.npz"]):
        assert main(argv) == 0, capsys.readouterr().err
    np.savetxt("X.csv", np.zeros((3, 2)), delimiter=",")
    assert main(["predict", "m.npz", "--input", "X.csv", "--output", "y.csv"]) == 0
    glassnet.load("ck/checkpoint.npz")  # the checkpoint reads too


def test_the_optimisers_take_a_rate_of_zero_and_resume_says_what_it_does(capsys):
    train(capsys, "--data", "circles", "--hidden", "4", "--epochs", "3", "--schedule", "cosine",
          "--checkpoint-dir", "ck", "--quiet", "--out", "m.npz")
    before = glassnet.load("m.npz").theta.copy()
    with warnings.catch_warnings():  # as a user's shell has them: printed, one line each
        warnings.simplefilter("default")
        assert main(["train", "--data", "circles", "--hidden", "4", "--epochs", "6", "--schedule",
                     "cosine", "--checkpoint-dir", "ck", "--resume", "--quiet", "--out",
                     "m.npz"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"The cosine schedule ends at epoch 3: epochs 4-6 train at learning rate 0, "
                     r"which leaves the weights where they are", err), err
    np.testing.assert_array_equal(glassnet.load("m.npz").theta, before)


def test_fit_warns_when_epochs_run_past_the_schedule():
    from glassnet.schedules import Cosine

    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    net = glassnet.mlp([2, 3, 2], loss="cross_entropy")
    with pytest.warns(ScheduleEndWarning, match="epochs 3-5 train at learning rate 0.001"):
        net.fit(X, y, epochs=5, lr_schedule=Cosine(total=2, min_lr=1e-3), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.fit(X, y, epochs=2, lr_schedule=Cosine(total=2), progress=False)  # no warning


@pytest.mark.parametrize("name", ["cosine", "step", "exponential", "constant", "invscaling"])
def test_fit_takes_every_schedule_name_with_the_command_lines_defaults(name):
    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    net = glassnet.mlp([2, 3, 2], loss="cross_entropy")
    history = net.fit(X, y, epochs=4, lr_schedule=name, learning_rate=0.1, optimizer="sgd",
                      progress=False)
    rates = history["learning_rate"]
    assert rates[0] == pytest.approx(0.1) and len(rates) == 4
    if name == "cosine":  # over the fit's own epochs
        assert rates == pytest.approx([0.1 * (1 + np.cos(np.pi * t / 4)) / 2 for t in range(4)])
    if name == "step":
        assert rates == pytest.approx([0.1, 0.01, 0.001, 0.0001])  # step_size = max(1, 4 // 3)


# ------------------------------------------------------------------ one meaning for loss
def test_train_prints_the_loss_and_the_penalty_apart(capsys):
    out = train(capsys, "--data", "digits", "--hidden", "32", "--epochs", "2",
                "--weight-decay", "0.01", "--out", "m.npz")
    line = next(l for l in out.splitlines() if l.startswith("epoch   2/2"))
    loss, penalty = (float(re.search(rf"  {k} (\S+)", line).group(1)) for k in ("loss", "penalty"))
    net = glassnet.load("m.npz")
    assert net.history["loss"][-1] == pytest.approx(loss, abs=1e-4)
    assert net.history["penalty"][-1] == pytest.approx(net.penalty(), rel=1e-4)
    assert penalty == pytest.approx(net.penalty(), abs=1e-4)


def test_evaluate_says_what_the_loss_and_each_metric_mean(capsys):
    train(capsys, "--data", "diabetes", "--hidden", "8", "--epochs", "3", "--quiet", "--out", "r.npz")
    assert main(["evaluate", "r.npz"]) == 0
    out = capsys.readouterr().out
    loss = float(re.search(r"^loss: (\S+) \(mse, the mean over samples of 0\.5 \|\|a - y\|\|\^2",
                           out, re.MULTILINE).group(1))
    mse = float(re.search(r"^mse: (\S+) \(mean over samples and units of \(a - y\)\^2\)",
                          out, re.MULTILINE).group(1))
    assert loss == pytest.approx(mse / 2, rel=1e-3)  # 0.5 ||a - y||^2 against (a - y)^2


def test_network_loss_is_the_data_term_and_cost_adds_the_penalty():
    net = glassnet.mlp([3, 4, 2], seed=0, l2=0.5)
    X, Y = np.ones((5, 3)), np.zeros((5, 2))
    assert net.cost(X, Y) == pytest.approx(net.loss(X, Y) + net.penalty())
    assert net.backprop(X, Y) == pytest.approx(net.loss(X, Y))
    assert net.penalty() > 0


def test_history_names_the_keys_it_has():
    history = History([{"epoch": 1, "loss": 0.5}])
    assert history["loss"] == [0.5]
    with pytest.raises(KeyError, match=r"The History has no 'typo'; it has \['epoch', 'loss'\]"):
        history["typo"]


# ------------------------------------------------------------------ gradcheck
def test_a_deep_sigmoid_stack_passes_gradcheck_from_the_command_line(capsys):
    assert main(["gradcheck", "--sizes", "4,16,16,16,16,16,16,16,16,16,16,3",
                 "--activation", "sigmoid"]) == 0
    out = capsys.readouterr().out
    assert "gradcheck PASSED" in out
    rel = float(re.search(r"^-\s+input\s+\S+\s+\S+\s+(\S+)", out, re.MULTILINE).group(1))
    assert rel > 1e-6  # the tiny input gradient's relative error: judged against atol instead


def test_a_trained_elu_model_passes_gradcheck(capsys):
    train(capsys, "--data", "moons", "--hidden", "16,16", "--activation", "elu", "--epochs", "5",
          "--quiet", "--out", "e.npz")
    assert main(["gradcheck", "e.npz", "--samples", "20"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("depth", [3, 11])
def test_gradcheck_still_fails_a_wrong_derivative_in_a_vanishing_network(monkeypatch, depth):
    class HalfSigmoid(Sigmoid):  # f' off by a factor of 2: 0.5 a (1 - a)
        def derivative(self, z, a):
            return 0.5 * a * (1 - a)

    sizes = [4] + [16] * depth + [3]
    net = glassnet.mlp(sizes, activation=HalfSigmoid(), loss="cross_entropy", dtype="float64")
    X, y = np.random.default_rng(0).normal(size=(6, 4)), np.arange(6) % 3
    report = glassnet.gradcheck(net, X, y, fast=True)
    assert not report.passed
    assert not [r for r in report.rows if r.layer == "0"][0].passed  # even the tiny first layer


def test_gradcheck_checks_its_own_parameters():
    net = glassnet.mlp([2, 3, 1])
    X, y = np.ones((2, 2)), np.zeros(2)
    for bad in (float("nan"), 0.0, -1e-4, float("inf")):
        with pytest.raises(ValueError, match=r"The 'eps' parameter of gradcheck must be a float > 0"):
            glassnet.gradcheck(net, X, y, eps=bad)
    with pytest.raises(ValueError, match=r"The 'tol' parameter of gradcheck must be a float > 0"):
        glassnet.gradcheck(net, X, y, tol=float("nan"))
    with pytest.raises(TypeError, match=r"The 'eps' parameter of gradcheck"):
        glassnet.gradcheck(net, X, y, eps="1e-4")


def test_every_activation_declares_where_it_is_not_smooth():
    for name, cls in ACTIVATIONS.items():
        assert isinstance(cls().nonsmooth, tuple), name
    assert ACTIVATIONS["elu"]().nonsmooth == (0.0,)  # f'' jumps at 0 for every alpha
    assert ACTIVATIONS["tanh"]().nonsmooth == ()
