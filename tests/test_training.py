"""The fit loop: plain SGD against a hand-written loop, every optimiser, History, schedules,
validation, early stopping, divergence, metrics against scikit-learn, regularisers, weights,
dropout, partial_fit, checkpoints and resume (also after SIGKILL), memory-mapped data, progress.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import glassnet
from glassnet import Dense, Network, gradcheck, mlp
from glassnet import training as tr
from glassnet.data import StandardScaler, one_hot
from glassnet.layers import Dropout
from glassnet.metrics import METRICS, get_metric
from glassnet.optim import OPTIMIZERS, SGD, Adam, AdamW
from glassnet.schedules import Cosine, Exponential, ReduceOnPlateau, Step
from glassnet.training import (
    Callback,
    EarlyStopping,
    History,
    ProgressBar,
    TrainingDivergedError,
    fit,
    partial_fit,
)

SRC = Path(__file__).resolve().parents[1] / "src"


# ---------------------------------------------------------------------- helpers


def blobs(n: int = 60, n_features: int = 3, n_classes: int = 3, seed: int = 0):
    """Gaussian blobs around random centres: X of shape (n, n_features), int labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    centres = 2.0 * rng.standard_normal((n_classes, n_features))
    return centres[y] + rng.standard_normal((n, n_features)), y


def classifier(seed: int = 0, dtype: str = "float32", **kwargs) -> Network:
    return mlp([3, 6, 3], activation="tanh", loss="cross_entropy", seed=seed, dtype=dtype, **kwargs)


def copy_params(net: Network) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in net.params().items()}


def assert_params_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        np.testing.assert_array_equal(value, b[key], err_msg=key)


def params_differ(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return any(not np.array_equal(a[k], b[k]) for k in a)


class Recorder(Callback):
    """Copies of the weights before training (``initial``) and at each epoch end."""

    def __init__(self):
        self.initial: dict[str, np.ndarray] = {}
        self.epochs: list[dict[str, np.ndarray]] = []
        self.steps = 0

    def on_train_begin(self, net, history):
        self.initial = copy_params(net)

    def on_batch_end(self, net, step, loss):
        self.steps += 1

    def on_epoch_end(self, net, epoch, record):
        self.epochs.append(copy_params(net))


class RecordingSGD(SGD):
    """Plain SGD that remembers the learning rate and the global gradient norm of every step."""

    def __init__(self, learning_rate: float = 0.01):
        super().__init__(learning_rate)
        self.rates: list[float] = []
        self.norms: list[float] = []

    def step(self, params, grads, closure=None):
        self.rates.append(float(self.learning_rate))
        self.norms.append(math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2))
                                        for g in grads.values())))
        return super().step(params, grads, closure)


def linear_net(dtype: str = "float64", init: str | None = None, seed: int = 0) -> Network:
    return Network([Dense(2, 1, "identity", init=init, seed=seed, dtype=dtype)], loss="mse",
                   dtype=dtype)


# ---------------------------------------------------------------------- the loop itself


def test_sgd_fit_equals_hand_written_loop():
    """fit's plain SGD is W <- W - lr * dW after each batch's backprop.

    fit's hot path folds the learning rate into the output delta, so the two agree to rounding
    (float64, 1e-12), not bit for bit.
    """
    X, y = blobs()
    lr, batch_size, epochs = 0.1, 16, 3
    net = classifier(dtype="float64")
    history = fit(net, X, y, epochs=epochs, batch_size=batch_size, optimizer="sgd",
                  learning_rate=lr, shuffle=False, progress=False)

    hand = classifier(dtype="float64")
    params = hand.params()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, len(X), batch_size):
            Xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            total += hand.backprop(Xb, yb) * len(Xb)
            grads = hand.grads()
            for key, W in params.items():
                W -= lr * grads[key]
        losses.append(total / len(X))

    for key, value in hand.params().items():
        np.testing.assert_allclose(net.params()[key], value, rtol=1e-12, atol=1e-14, err_msg=key)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-12)
    assert history["epoch"] == [1, 2, 3]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fit_lowers_the_loss_with_every_optimizer(name):
    X, y = blobs()
    net = classifier()
    before = net.loss(X, y)
    batch_size = len(X) if name == "lbfgs" else 20  # L-BFGS is a full-batch method
    history = fit(net, X, y, epochs=6, batch_size=batch_size, optimizer=name, progress=False,
                  seed=0)
    assert type(net.optimizer) is OPTIMIZERS[name]
    assert net.optimizer.iterations > 0
    assert history["loss"][-1] < history["loss"][0]
    assert net.loss(X, y) < before


def test_history_records_and_json_round_trip():
    X, y = blobs(seed=0)
    X_val, y_val = blobs(n=30, seed=0)
    net = classifier()
    history = fit(net, X, y, epochs=3, batch_size=16, learning_rate=0.05,
                  validation_data=(X_val, y_val), metrics=["accuracy", "log_loss"],
                  progress=False, seed=0)
    assert net.history is history
    assert len(history) == 3
    expected = {"epoch", "loss", "accuracy", "log_loss", "val_loss", "val_accuracy",
                "val_log_loss", "learning_rate", "time"}
    for record in history.epochs:
        assert set(record) == expected
        assert record["time"] > 0
        assert record["learning_rate"] == 0.05
    assert history["epoch"] == [1, 2, 3]
    assert set(history.keys()) == expected

    # the last record describes the final weights
    a, a_val = net.predict_output(X), net.predict_output(X_val)
    Y, Y_val = one_hot(y, 3), one_hot(y_val, 3)
    assert history["accuracy"][-1] == get_metric("accuracy")(Y, a)
    assert history["val_accuracy"][-1] == get_metric("accuracy")(Y_val, a_val)
    assert history["val_log_loss"][-1] == pytest.approx(get_metric("log_loss")(Y_val, a_val))
    assert history["val_loss"][-1] == pytest.approx(net.loss(X_val, y_val), rel=1e-6)

    restored = History.from_dict(json.loads(history.to_json()))
    assert restored.epochs == history.epochs
    assert restored["val_loss"] == history["val_loss"]
    assert repr(restored).startswith("History(3 epochs")


class BatchLog(Callback):
    """Logs the batch hooks in call order; checks that on_batch_begin comes before backprop."""

    def __init__(self, X, y):
        self.X, self.y = X, y
        self.calls: list[tuple[str, int]] = []
        self.batches: list[np.ndarray] = []
        self.losses_before: list[float] = []

    def on_batch_begin(self, net, step, batch):
        self.calls.append(("begin", step))
        self.batches.append(batch.copy())
        self.losses_before.append(net.loss(self.X[batch], self.y[batch]))

    def on_batch_end(self, net, step, loss):
        self.calls.append(("end", step))
        assert loss == pytest.approx(self.losses_before[-1], rel=1e-6)  # this batch, old weights


def test_on_batch_begin_sees_each_batch_before_its_backprop():
    X, y = blobs()  # 60 samples: batches of 16, 16, 16, 12
    log = BatchLog(X, y)
    fit(classifier(), X, y, epochs=2, batch_size=16, learning_rate=0.1, callbacks=[log],
        progress=False, seed=7)
    assert log.calls == [(kind, step) for step in range(1, 9) for kind in ("begin", "end")]
    rng = np.random.default_rng(7)  # fit's shuffling: one permutation per epoch
    expected = [order[i:i + 16] for order in (rng.permutation(60), rng.permutation(60))
                for i in range(0, 60, 16)]
    assert len(log.batches) == len(expected)
    for seen, batch in zip(log.batches, expected):
        np.testing.assert_array_equal(seen, batch)


class StopAt(Callback):
    """Sets ``net.stop_training`` at a given step (on_batch_end) or epoch (on_epoch_end)."""

    def __init__(self, step=None, epoch=None):
        self.step, self.epoch = step, epoch
        self.steps = 0
        self.ended = False

    def on_batch_end(self, net, step, loss):
        self.steps += 1
        if step == self.step:
            net.stop_training = True

    def on_epoch_end(self, net, epoch, record):
        if epoch == self.epoch:
            net.stop_training = True

    def on_train_end(self, net, history):
        self.ended = True


@pytest.mark.parametrize("where, epochs_run", [({"step": 6}, 2), ({"epoch": 3}, 3)])
def test_stop_training_ends_fit_after_the_current_epoch(where, epochs_run):
    X, y = blobs()  # 4 batches per epoch
    net = classifier()
    stop = StopAt(**where)
    history = fit(net, X, y, epochs=10, batch_size=16, callbacks=[stop], progress=False, seed=0)
    assert history["epoch"] == list(range(1, epochs_run + 1))
    assert stop.steps == 4 * epochs_run and stop.ended  # the epoch is finished, then it ends
    assert net.stop_training

    again = fit(net, X, y, epochs=2, batch_size=16, progress=False, seed=0)
    assert len(again) == 2 and not net.stop_training  # each fit starts with the flag down


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, r"The 'epochs' parameter of fit must be an int >= 1; got 0\."),
    ({"batch_size": 0}, r"The 'batch_size' parameter of fit must be an int >= 1; got 0\."),
    ({"optimizer": "sgdx"}, r"Unknown optimizer 'sgdx'; valid names are 'sgd'"),
    ({"lr_schedule": "linear"}, r"Unknown schedule 'linear'; valid names are"),
    ({"metrics": ["f1"]}, r"Unknown metric 'f1'\. Valid metrics: accuracy, balanced_accuracy"),
])
def test_fit_argument_errors(kwargs, match):
    X, y = blobs()
    with pytest.raises(ValueError, match=match):
        fit(classifier(), X, y, progress=False, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 2.5}, r"The 'epochs' parameter of fit must be an int >= 1; got 2\.5\."),
    ({"epochs": "3"}, r"The 'epochs' parameter of fit must be an int >= 1; got '3'\."),
    ({"batch_size": True}, r"The 'batch_size' parameter of fit must be an int >= 1; got True\."),
    ({"clip_norm": "1"}, r"The 'clip_norm' parameter of fit must be a float > 0; got '1'\."),
    ({"shuffle": 1}, r"The 'shuffle' parameter of fit must be a bool; got 1\."),
    ({"class_weight": {0: "2"}}, r"The 'class_weight\[0\]' parameter of fit must be a float >= 0"),
    ({"class_weight": {"a": 1.0}}, r"class_weight's keys are class indices 0\.\.2; got 'a'"),
])
def test_fit_argument_types_are_type_errors(kwargs, match):
    X, y = blobs()
    with pytest.raises(TypeError, match=match):
        fit(classifier(), X, y, progress=False, **kwargs)


@pytest.mark.parametrize("weight", [float("nan"), -1.0, float("inf")])
def test_class_weights_must_be_finite_and_not_negative(weight):
    X, y = blobs()
    with pytest.raises(ValueError, match=r"The 'class_weight\[1\]' parameter of fit must be a "
                                         r"float >= 0; got "):
        fit(classifier(), X, y, progress=False, class_weight={0: 1.0, 1: weight})


@pytest.mark.parametrize("min_delta", [float("nan"), -0.1, float("inf")])
def test_early_stopping_min_delta_is_checked(min_delta):
    from glassnet.training import EarlyStopping

    with pytest.raises(ValueError, match=r"The 'min_delta' parameter of EarlyStopping must be a "
                                         r"float >= 0; got "):
        EarlyStopping(min_delta=min_delta)


# ---------------------------------------------------------------------- schedules


@pytest.mark.parametrize("schedule, closed_form", [
    (lambda: Step(step_size=2, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 2)),
    (lambda: Exponential(gamma=0.7), lambda t: 0.1 * 0.7 ** t),
    (lambda: Cosine(total=5), lambda t: 0.1 * (1 + math.cos(math.pi * t / 5)) / 2),
], ids=["step", "exponential", "cosine"])
def test_schedule_sets_the_closed_form_rate_each_epoch(schedule, closed_form):
    X, y = blobs()
    opt = RecordingSGD(learning_rate=0.1)
    history = fit(classifier(), X, y, epochs=5, batch_size=20, optimizer=opt,
                  lr_schedule=schedule(), progress=False, seed=0)
    expected = [closed_form(t) for t in range(5)]
    assert history["learning_rate"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # every step of epoch t used that epoch's rate (3 batches per epoch)
    assert opt.rates == pytest.approx(np.repeat(expected, 3).tolist(), rel=1e-12, abs=1e-15)


def exact_linear_problem(n: int = 40):
    """A linear net and targets it already fits exactly: the gradient is zero, the loss stalls."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 2))
    net = linear_net()
    return net, X, net.predict_output(X)[:, 0].copy()


def test_plateau_schedule_lowers_the_rate_when_the_loss_stalls():
    net, X, y = exact_linear_problem()
    history = fit(net, X, y, epochs=6, batch_size=40, learning_rate=0.1, progress=False,
                  lr_schedule=ReduceOnPlateau(factor=0.5, patience=1))
    assert history["loss"] == [0.0] * 6
    assert history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])


def test_plateau_by_name_uses_scikit_learn_defaults():
    net, X, y = exact_linear_problem()
    history = fit(net, X, y, epochs=14, batch_size=40, learning_rate=0.1, progress=False,
                  lr_schedule="plateau")
    # best at epoch 1, then 11 epochs without improvement (> patience 10): divide by 5
    assert history["learning_rate"] == pytest.approx([0.1] * 12 + [0.02] * 2)


def test_plateau_keeps_the_rate_while_the_loss_improves():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 2))
    y = X @ np.array([1.5, -2.0]) + 0.5
    history = fit(linear_net(), X, y, epochs=6, batch_size=40, learning_rate=0.05,
                  lr_schedule=ReduceOnPlateau(factor=0.5, patience=0), progress=False)
    assert all(a - b > 1e-4 for a, b in zip(history["loss"], history["loss"][1:]))
    assert history["learning_rate"] == [0.05] * 6


# ---------------------------------------------------------------------- validation


def capture_split(monkeypatch):
    """Wrap training._split to keep what it returns."""
    seen = {}
    original = tr._split

    def spy(net, X, Y, w, fraction, rng):
        out = original(net, X, Y, w, fraction, rng)
        seen["train"], seen["val"] = (out[0], out[1]), out[3]
        return out

    monkeypatch.setattr(tr, "_split", spy)
    return seen


def test_validation_split_is_stratified(monkeypatch):
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], [30, 20, 10])
    X = rng.standard_normal((60, 3)) + y[:, None]
    seen = capture_split(monkeypatch)
    recorder = Recorder()
    history = fit(classifier(), X, y, epochs=1, batch_size=1, validation_split=0.2,
                  callbacks=[recorder], progress=False, seed=0)
    (X_tr, Y_tr), (X_val, Y_val) = seen["train"], seen["val"]
    assert np.bincount(Y_val.argmax(1), minlength=3).tolist() == [6, 4, 2]
    assert np.bincount(Y_tr.argmax(1), minlength=3).tolist() == [24, 16, 8]
    assert recorder.steps == 48  # only the kept samples are trained on
    rows = {tuple(r) for r in np.asarray(X, dtype=np.float32)}
    train_rows, val_rows = {tuple(r) for r in X_tr}, {tuple(r) for r in X_val}
    assert not train_rows & val_rows and train_rows | val_rows == rows
    assert "val_loss" in history.epochs[0]


def test_validation_split_for_regression_is_a_plain_share(monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 2))
    seen = capture_split(monkeypatch)
    fit(linear_net(), X, X.sum(1), epochs=1, validation_split=0.25, progress=False, seed=0)
    assert len(seen["val"][0]) == 10 and len(seen["train"][0]) == 30


@pytest.mark.parametrize("fraction, error", [(1.0, ValueError), (1.5, ValueError),
                                             (-0.1, ValueError), (float("nan"), ValueError),
                                             (True, TypeError)])
def test_validation_split_out_of_range(fraction, error):
    X, y = blobs()
    with pytest.raises(error, match=r"The 'validation_split' parameter of fit must be a "
                                    r"float in \[0, 1\); got"):
        fit(classifier(), X, y, validation_split=fraction, progress=False)


@pytest.mark.parametrize("fraction, held", [(0.01, 0), (0.99, 60)])
def test_validation_split_leaving_one_side_empty(fraction, held):
    X, y = blobs()
    with pytest.raises(ValueError, match=rf"validation_split={fraction} leaves {held} of 60 "
                                         "samples for validation"):
        fit(classifier(), X, y, validation_split=fraction, progress=False)


def test_validation_data_shape_is_checked():
    X, y = blobs()
    with pytest.raises(ValueError, match=r"X and y have different numbers of samples: 10 and 9"):
        fit(classifier(), X, y, validation_data=(X[:10], y[:9]), progress=False)


# ---------------------------------------------------------------------- early stopping


def overfitting_problem():
    """Gradient descent drives w from 0 to 1 (train: y = x); validation wants w = 0.3.

    The validation loss is (w - 0.3)^2 E[x^2], so it falls while w < 0.3 and rises after.
    """
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 1))
    net = Network([Dense(1, 1, "identity", init="zeros", dtype="float64")], loss="mse",
                  dtype="float64")
    return net, X, X[:, 0], (X, 0.3 * X[:, 0])


@pytest.mark.parametrize("restore_best", [True, False])
def test_early_stopping_stops_after_patience_and_restores_the_best(restore_best):
    net, X, y, val = overfitting_problem()
    recorder = Recorder()
    stopper = EarlyStopping(patience=3, restore_best=restore_best)
    history = fit(net, X, y, epochs=50, batch_size=40, learning_rate=0.1, optimizer="sgd",
                  validation_data=val, early_stopping=stopper, callbacks=[recorder],
                  progress=False)
    best = int(np.argmin(history["val_loss"])) + 1
    assert 1 < best < len(history) == best + 3 < 50
    assert history["val_loss"][-1] > history["val_loss"][best - 1]
    assert params_differ(recorder.epochs[best - 1], recorder.epochs[-1])
    expected = recorder.epochs[best - 1] if restore_best else recorder.epochs[-1]
    assert_params_equal(net.params(), expected)


def test_early_stopping_int_patience_and_fallback_to_the_training_loss():
    net, X, y = exact_linear_problem()
    # no validation data: 'val_loss' falls back to 'loss', which stalls at 0 after epoch 1
    history = fit(net, X, y, epochs=20, batch_size=40, learning_rate=0.1, early_stopping=2,
                  progress=False)
    assert len(history) == 3


def test_early_stopping_on_a_greater_is_better_metric():
    X_c = np.random.default_rng(6).standard_normal((40, 2))
    y_c = (X_c[:, 0] > 0).astype(int)
    net = mlp([2, 2], loss="cross_entropy", seed=0)
    history = fit(net, X_c, y_c, epochs=30, batch_size=40, learning_rate=0.5,
                  validation_data=(X_c, y_c), metrics=["accuracy"],
                  early_stopping=EarlyStopping(monitor="val_accuracy", patience=2),
                  progress=False)
    best = int(np.argmax(history["val_accuracy"])) + 1
    assert len(history) == best + 2


def test_early_stopping_on_an_unknown_key():
    X, y = blobs()
    with pytest.raises(ValueError, match=r"Early stopping monitors 'val_f1', which the History "
                                         r"does not have; it has \['epoch', 'learning_rate'"):
        fit(classifier(), X, y, validation_data=(X, y), progress=False,
            early_stopping=EarlyStopping(monitor="val_f1"))


@pytest.mark.parametrize("kwargs, match", [
    ({"patience": 0}, r"The 'patience' parameter of EarlyStopping must be an int >= 1; got 0\."),
    ({"min_delta": -1.0},
     r"The 'min_delta' parameter of EarlyStopping must be a float >= 0; got -1\.0\."),
])
def test_early_stopping_parameter_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


# ---------------------------------------------------------------------- divergence


def test_nan_loss_raises_naming_epoch_and_batch_and_restores_the_best():
    X, y = blobs(n=40)
    net = classifier()

    class Poison(Callback):  # a NaN weight after epoch 3, batch 1: batch 2's loss is NaN
        def on_batch_end(self, net, step, loss):
            if step == 2 * 4 + 1:
                net.params()["0.W"][0, 0] = np.nan

    recorder = Recorder()
    with pytest.raises(TrainingDivergedError, match=r"The training loss became nan in epoch 3, "
                                                    r"batch 2 of 4; the weights of the best"):
        fit(net, X, y, epochs=5, batch_size=10, learning_rate=0.1,
            callbacks=[recorder, Poison()], progress=False, seed=0)
    assert len(net.history) == 2 and len(recorder.epochs) == 2
    best = int(np.argmin(net.history["loss"]))
    assert_params_equal(net.params(), recorder.epochs[best])
    assert all(np.all(np.isfinite(p)) for p in net.params().values())


def test_overflowing_learning_rate_raises_and_restores_finite_weights():
    rng = np.random.default_rng(7)
    X = 100 * rng.standard_normal((64, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    net = mlp([3, 16, 1], seed=0)
    recorder = Recorder()
    with pytest.raises(TrainingDivergedError, match=r"in epoch \d+, batch \d+ of 4"):
        fit(net, X, y, epochs=20, batch_size=16, learning_rate=10.0, callbacks=[recorder],
            progress=False, seed=0)
    if len(net.history):
        expected = recorder.epochs[int(np.argmin(net.history["loss"]))]
    else:
        expected = recorder.initial
    assert_params_equal(net.params(), expected)
    assert all(np.all(np.isfinite(p)) for p in net.params().values())


# ---------------------------------------------------------------------- metrics


def _classes(n: int = 200, k: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.standard_normal((n, k)) + 1.5 * np.eye(k)[y]
    a = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return y, one_hot(y, k, dtype="float64"), a


def _regression(seed: int = 0):
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((100, 2))
    return Y, Y + 0.5 * rng.standard_normal((100, 2))


def _metric_case(name):
    from sklearn import metrics as skm

    if name in ("mse", "mae", "r2"):
        Y, a = _regression()
        oracle = {"mse": skm.mean_squared_error, "mae": skm.mean_absolute_error,
                  "r2": skm.r2_score}[name]
        return Y, a, oracle(Y, a)
    y, Y, a = _classes()
    labels = list(range(7))
    expected = {
        "accuracy": lambda: skm.accuracy_score(y, a.argmax(1)),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, a.argmax(1)),
        "top_k_accuracy": lambda: skm.top_k_accuracy_score(y, a, k=5, labels=labels),
        "log_loss": lambda: skm.log_loss(y, a, labels=labels),
    }[name]()
    return Y, a, expected


@pytest.mark.parametrize("name", list(METRICS))
def test_metric_against_scikit_learn(name):
    Y, a, expected = _metric_case(name)
    metric = get_metric(name)
    assert metric.name == name
    assert metric(Y, a) == pytest.approx(expected, rel=1e-12)
    assert metric.greater_is_better == (name in ("accuracy", "balanced_accuracy",
                                                 "top_k_accuracy", "r2"))


@pytest.mark.parametrize("case", ["exact", "off"])
@pytest.mark.parametrize("name", ["mse", "mae", "r2"])
def test_regression_metrics_on_a_constant_target_column_agree_with_scikit_learn(name, case):
    from sklearn import metrics as skm

    Y = np.c_[np.ones(5), np.arange(5.0)]
    a = np.c_[np.ones(5) + (0.0 if case == "exact" else 0.1), np.arange(5.0) + 0.1]
    oracle = {"mse": skm.mean_squared_error, "mae": skm.mean_absolute_error,
              "r2": skm.r2_score}[name]
    assert get_metric(name)(Y, a) == pytest.approx(oracle(Y, a), rel=1e-12)


@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "log_loss"])
def test_binary_metrics_with_one_output_unit(name):
    from sklearn import metrics as skm

    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 150)
    p = 1 / (1 + np.exp(-(rng.standard_normal(150) + 1.2 * (2 * y - 1))))
    expected = {"accuracy": lambda: skm.accuracy_score(y, p > 0.5),
                "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, p > 0.5),
                "log_loss": lambda: skm.log_loss(y, p)}[name]()
    assert get_metric(name)(y[:, None].astype(float), p[:, None]) == pytest.approx(expected,
                                                                                  rel=1e-12)


def test_top_3_accuracy():
    from sklearn.metrics import top_k_accuracy_score

    y, Y, a = _classes(seed=1)
    metric = get_metric("top_3_accuracy")
    assert metric.name == "top_3_accuracy" and metric.greater_is_better
    assert metric(Y, a) == pytest.approx(top_k_accuracy_score(y, a, k=3, labels=range(7)))
    assert metric(Y, a) != get_metric("top_k_accuracy")(Y, a)


def test_unknown_metric_lists_the_valid_ones():
    valid = ", ".join(METRICS)
    with pytest.raises(ValueError, match=rf"Unknown metric 'f1'\. Valid metrics: {valid} "
                                         r"\(top_k_accuracy also as top_3_accuracy"):
        get_metric("f1")


# ---------------------------------------------------------------------- regularisers


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_weight_penalty_gradients_pass_gradcheck(penalty):
    X, y = blobs(n=12)
    strength = 0.3
    net = classifier(dtype="float64", **{penalty: strength})
    plain = classifier(dtype="float64")
    report = gradcheck(net, X, y)
    assert report.passed, report.table()

    # the penalty is really there: weights only, biases untouched
    W = [layer.W for layer in net.layers]
    extra = (0.5 * strength * sum(np.sum(w ** 2) for w in W) if penalty == "l2"
             else strength * sum(np.sum(np.abs(w)) for w in W))
    assert net.cost(X, y) - plain.loss(X, y) == pytest.approx(extra, rel=1e-12)
    assert net.loss(X, y) == pytest.approx(plain.loss(X, y), rel=1e-12)  # the data term alone
    net.backprop(X, y)
    plain.backprop(X, y)
    for layer, ref in zip(net.layers, plain.layers):
        grad = strength * (layer.W if penalty == "l2" else np.sign(layer.W))
        np.testing.assert_allclose(layer.dW - ref.dW, grad, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(layer.db, ref.db)


def test_adamw_decay_shrinks_weights_that_get_no_gradient():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((40, 3))
    X[:, 2] = 0.0  # the weights of feature 2 get a zero gradient
    y = X[:, :2] @ np.array([[1.0, -1.0], [0.5, 2.0]])
    net = Network([Dense(3, 2, "identity", seed=0, dtype="float64")], loss="mse", dtype="float64")
    W0 = net.layers[0].W.copy()
    lr, decay = 0.01, 0.5
    fit(net, X, y, epochs=4, batch_size=10, optimizer=AdamW(learning_rate=lr, weight_decay=decay),
        shuffle=False, progress=False)
    expected = W0[:, 2].copy()
    for _ in range(16):
        expected *= 1.0 - lr * decay
    np.testing.assert_array_equal(net.layers[0].W[:, 2], expected)
    assert np.all(np.abs(expected) < np.abs(W0[:, 2]))

    plain = Network([Dense(3, 2, "identity", seed=0, dtype="float64")], loss="mse",
                    dtype="float64")
    fit(plain, X, y, epochs=4, batch_size=10, optimizer=Adam(learning_rate=lr), shuffle=False,
        progress=False)
    np.testing.assert_array_equal(plain.layers[0].W[:, 2], W0[:, 2])
    assert not np.array_equal(plain.layers[0].W[:, :2], W0[:, :2])


def test_clip_norm_caps_the_gradient_norm_the_optimizer_sees():
    X, y = blobs()
    X = 20 * X
    free, clipped = RecordingSGD(0.01), RecordingSGD(0.01)
    fit(classifier(), X, y, epochs=2, batch_size=20, optimizer=free, progress=False, seed=0)
    fit(classifier(), X, y, epochs=2, batch_size=20, optimizer=clipped, clip_norm=0.5,
        progress=False, seed=0)
    assert free.norms[0] > 1.0  # the first steps see the same unclipped gradient
    assert max(clipped.norms) <= 0.5 * (1 + 1e-6)
    assert clipped.norms[0] == pytest.approx(0.5, rel=1e-5)


def test_clip_norm_must_be_positive():
    X, y = blobs()
    with pytest.raises(ValueError, match=r"The 'clip_norm' parameter of fit must be a "
                                         r"float > 0; got 0\.0\."):
        fit(classifier(), X, y, clip_norm=0.0, progress=False)


# ---------------------------------------------------------------------- sample and class weights


def test_sample_weight_two_equals_duplicating_the_sample():
    # The loss is (1/n) sum_i w_i c_i, so compare at equal n: weight 2 on sample 0 and 0 on
    # sample 1 against the data set in which sample 1 is replaced by a copy of sample 0.
    X, y = blobs(n=40)
    w = np.ones(40)
    w[0], w[1] = 2.0, 0.0
    X_dup, y_dup = X.copy(), y.copy()
    X_dup[1], y_dup[1] = X[0], y[0]
    a, b = classifier(dtype="float64"), classifier(dtype="float64")
    ha = fit(a, X, y, sample_weight=w, epochs=3, batch_size=8, learning_rate=0.2,
             shuffle=False, progress=False)
    hb = fit(b, X_dup, y_dup, epochs=3, batch_size=8, learning_rate=0.2, shuffle=False,
             progress=False)
    for key, value in a.params().items():
        np.testing.assert_allclose(value, b.params()[key], rtol=1e-12, atol=1e-14)
    assert ha["loss"] == pytest.approx(hb["loss"], rel=1e-12)
    assert params_differ(a.params(), copy_params(classifier(dtype="float64")))


def imbalanced():
    rng = np.random.default_rng(10)
    y = np.repeat([0, 1], [30, 10])
    return rng.standard_normal((40, 3)) + y[:, None], y


def _fit_weights(**kwargs):
    X, y = imbalanced()
    net = mlp([3, 4, 2], activation="tanh", loss="cross_entropy", seed=0)
    fit(net, X, y, epochs=2, batch_size=8, learning_rate=0.2, progress=False, seed=0, **kwargs)
    return copy_params(net)


def test_balanced_class_weights_are_scikit_learns_with_a_class_missing():
    """n / (n_present * count) over the classes y holds (scikit-learn's compute_class_weight):
    an output class without samples does not shrink every weight."""
    from sklearn.utils.class_weight import compute_class_weight

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.choice([0, 1, 3], size=30, p=[0.6, 0.3, 0.1])
    present = np.unique(y)
    expected = dict(zip(present.tolist(), compute_class_weight("balanced", classes=present, y=y)))

    def trained(**kwargs):
        net = mlp([3, 4, 4], activation="tanh", loss="cross_entropy", seed=0)  # class 2 empty
        fit(net, X, y, epochs=1, batch_size=30, learning_rate=0.5, progress=False, seed=0,
            shuffle=False, **kwargs)
        return copy_params(net)

    assert_params_equal(trained(class_weight="balanced"), trained(class_weight=expected))


def test_class_weight_balanced_and_dict_are_per_sample_weights():
    _, y = imbalanced()
    balanced = np.where(y == 0, 40 / (2 * 30), 40 / (2 * 10))
    assert_params_equal(_fit_weights(class_weight="balanced"), _fit_weights(sample_weight=balanced))
    assert_params_equal(_fit_weights(class_weight={1: 3.0}),
                        _fit_weights(sample_weight=np.where(y == 1, 3.0, 1.0)))
    both = _fit_weights(class_weight={1: 3.0}, sample_weight=np.full(40, 0.5))
    assert_params_equal(both, _fit_weights(sample_weight=np.where(y == 1, 1.5, 0.5)))
    assert params_differ(_fit_weights(class_weight="balanced"), _fit_weights())


@pytest.mark.parametrize("kwargs, match", [
    ({"class_weight": {2: 1.0}}, r"class_weight names class 2; the classes are 0\.\.1\."),
    ({"class_weight": {2: 1.0}}, r"class_weight names class 2; the classes are 0\.\.1\."),
    ({"class_weight": "auto"},
     r"class_weight must be a dict \{class: weight\} or 'balanced'; got 'auto'\."),
])
def test_weight_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _fit_weights(**kwargs)


def test_class_weight_needs_a_classification_loss():
    with pytest.raises(ValueError, match=r"class_weight needs a classification loss "
                                         r"\(cross_entropy or binary_cross_entropy\); the "
                                         r"network uses mse\."):
        fit(linear_net(), np.ones((4, 2)), np.arange(4.0), class_weight="balanced",
            progress=False)


# ---------------------------------------------------------------------- dropout


def dropout_net(dropout_seed: int) -> Network:
    return Network([Dense(3, 8, "relu", seed=0), Dropout(0.5, seed=dropout_seed),
                    Dense(8, 3, "softmax", seed=1)], loss="cross_entropy")


def test_dropout_in_fit_is_deterministic_under_a_seed():
    X, y = blobs()
    runs = {}
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        net = dropout_net(seed)
        fit(net, X, y, epochs=2, batch_size=10, learning_rate=0.1, shuffle=False, progress=False)
        runs[name] = copy_params(net)
    assert_params_equal(runs["a"], runs["b"])
    assert params_differ(runs["a"], runs["c"])

    # mlp(dropout=...) with the same seeds twice: identical too
    nets = [mlp([3, 8, 3], loss="cross_entropy", dropout=0.3, seed=4) for _ in range(2)]
    for net in nets:
        fit(net, X, y, epochs=2, batch_size=10, progress=False, seed=5)
    assert_params_equal(nets[0].params(), nets[1].params())


def test_predict_after_fit_has_dropout_off():
    X, y = blobs()
    net = dropout_net(0)
    fit(net, X, y, epochs=1, progress=False)
    assert net.training is False
    first, second = net.predict_output(X), net.predict_output(X)
    np.testing.assert_array_equal(first, second)
    plain = Network([net.layers[0], net.layers[2]], loss="cross_entropy")
    np.testing.assert_array_equal(first, plain.predict_output(X))


# ---------------------------------------------------------------------- partial_fit, warm start


def test_partial_fit_keeps_optimizer_state_and_appends_history():
    X, y = blobs(n=40)
    net = classifier()
    partial_fit(net, X, y, optimizer="adam", batch_size=10, shuffle=False, progress=False)
    opt = net.optimizer
    assert opt.iterations == 4
    history = net.partial_fit(X, y, batch_size=10, shuffle=False, progress=False)
    assert net.optimizer is opt and opt.iterations == 8
    assert history is net.history and history["epoch"] == [1, 2]

    straight = classifier()
    fit(straight, X, y, epochs=2, optimizer="adam", batch_size=10, shuffle=False, progress=False)
    assert_params_equal(net.params(), straight.params())
    assert history["loss"] == straight.history["loss"]


def test_second_fit_warm_starts_from_the_current_weights():
    X, y = blobs()
    net = classifier()
    fit(net, X, y, epochs=3, optimizer="adam", batch_size=16, shuffle=False, progress=False)
    fit(net, X, y, epochs=2, batch_size=16, shuffle=False, progress=False)
    straight = classifier()
    fit(straight, X, y, epochs=5, optimizer="adam", batch_size=16, shuffle=False, progress=False)
    assert_params_equal(net.params(), straight.params())
    assert net.optimizer.iterations == straight.optimizer.iterations == 20


# ---------------------------------------------------------------------- checkpoints and resume


class CheckpointSpy(Callback):
    """At each epoch end, how many epochs the checkpoint on disk holds (written after us)."""

    def __init__(self, path: Path):
        self.path, self.seen = path, []

    def on_epoch_end(self, net, epoch, record):
        self.seen.append(len(glassnet.load(self.path).history) if self.path.exists() else 0)


def test_checkpoint_is_written_every_epoch(tmp_path):
    X, y = blobs()
    net = classifier()
    spy = CheckpointSpy(tmp_path / "ck" / "checkpoint.npz")
    fit(net, X, y, epochs=4, batch_size=16, checkpoint_dir=tmp_path / "ck", callbacks=[spy],
        progress=False, seed=0)
    assert spy.seen == [0, 1, 2, 3]
    saved = glassnet.load(tmp_path / "ck" / "checkpoint.npz")
    assert len(saved.history) == 4
    assert_params_equal(saved.params(), net.params())
    assert saved.optimizer.iterations == net.optimizer.iterations == 16


def _resume_run(checkpoint_dir, epochs, resume=False, net_seed=0):
    X, y = blobs(n=50)
    net = mlp([3, 8, 8, 3], activation="relu", loss="cross_entropy", dropout=0.2, seed=net_seed)
    fit(net, X, y, epochs=epochs, batch_size=8, optimizer="adam", learning_rate=0.01,
        lr_schedule=Cosine(total=6), validation_split=0.2, metrics=["accuracy"], seed=3,
        checkpoint_dir=checkpoint_dir, resume=resume, progress=False)
    return net


def _without_times(history):
    return [{k: v for k, v in record.items() if k != "time"} for record in history.epochs]


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    straight = _resume_run(tmp_path / "a", 6)
    _resume_run(tmp_path / "b", 3)
    resumed = _resume_run(tmp_path / "b", 6, resume=True, net_seed=99)  # weights from the file
    assert_params_equal(resumed.params(), straight.params())
    assert _without_times(resumed.history) == _without_times(straight.history)
    assert len(resumed.history) == 6
    assert resumed.optimizer.iterations == straight.optimizer.iterations


def test_resume_errors(tmp_path):
    X, y = blobs()
    with pytest.raises(ValueError, match=r"resume=True needs checkpoint_dir, the folder of the "
                                         r"checkpoint\."):
        fit(classifier(), X, y, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match=r"No checkpoint to resume from at .*checkpoint"
                                                r"\.npz\. Train with checkpoint_dir first"):
        fit(classifier(), X, y, resume=True, checkpoint_dir=tmp_path, progress=False)
    fit(classifier(), X, y, epochs=1, checkpoint_dir=tmp_path, progress=False)
    other = mlp([3, 5, 3], loss="cross_entropy", seed=0)
    with pytest.raises(ValueError, match=r"holds another architecture than this network"):
        fit(other, X, y, epochs=2, resume=True, checkpoint_dir=tmp_path, progress=False)


KILL_SCRIPT = """
import sys, time
import numpy as np
import glassnet
from glassnet.training import Callback

class Slow(Callback):
    def on_epoch_end(self, net, epoch, record):
        time.sleep(0.05)

rng = np.random.default_rng(0)
X = rng.standard_normal((200, 4))
y = (X[:, 0] > 0).astype(int)
net = glassnet.mlp([4, 16, 2], loss="cross_entropy", seed=0)
net.fit(X, y, epochs=100000, batch_size=16, checkpoint_dir=sys.argv[1], callbacks=[Slow()],
        progress=False, seed=0)
"""


def test_checkpoint_survives_sigkill_mid_training(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(KILL_SCRIPT)
    checkpoint = tmp_path / "ck" / "checkpoint.npz"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "ck")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        epochs = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if checkpoint.exists():
                epochs = len(glassnet.load(checkpoint).history)
                if epochs >= 3:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()
        assert epochs >= 3, "no checkpoint with 3 epochs within 20 s"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stderr.close()
    net = glassnet.load(checkpoint)
    assert len(net.history) >= epochs
    assert net.history["epoch"] == list(range(1, len(net.history) + 1))
    assert net.optimizer.iterations == 13 * len(net.history)  # 200 samples, batches of 16
    assert all(np.all(np.isfinite(p)) for p in net.params().values())


# ---------------------------------------------------------------------- memory-mapped data


class RowCounter(np.memmap):
    """A memmap that records how many rows every indexing reads."""

    def __getitem__(self, key):
        out = super().__getitem__(key)
        reads = getattr(self, "reads", None)
        if reads is not None:
            reads.append(np.shape(out)[0] if np.ndim(out) else 1)
        return out


def _memmap(tmp_path, X):
    path = tmp_path / "X.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    assert isinstance(mm, np.memmap)
    return mm


@pytest.mark.parametrize("shuffle", [True, False])
def test_memmap_fit_equals_in_memory_fit(tmp_path, shuffle):
    X, y = blobs(n=90)
    kwargs = {"epochs": 3, "batch_size": 16, "learning_rate": 0.1, "optimizer": "adam",
              "shuffle": shuffle, "progress": False, "seed": 0}
    nets = []
    for data in (X, _memmap(tmp_path, X)):
        net = classifier(dtype="float64")
        net.scaler = StandardScaler().fit(X)
        fit(net, data, y, **kwargs)
        nets.append(net)
    mem, mapped = nets
    # in memory fit takes the preallocated hot path, the memmap the reference backprop (on
    # sorted batches when shuffling): the same arithmetic, summed in another order
    for key, value in mem.params().items():
        np.testing.assert_allclose(mapped.params()[key], value, rtol=1e-12, atol=1e-12)


def test_memmap_fit_reads_batch_by_batch(tmp_path):
    X, y = blobs(n=50)
    mm = _memmap(tmp_path, X).view(RowCounter)
    mm.reads = []
    fit(classifier(), mm, y, epochs=2, batch_size=10, progress=False, seed=0)
    assert len(mm.reads) == 10 and max(mm.reads) == 10 and sum(mm.reads) == 100

    # a NaN in the last row shows up only when its batch is read, not before
    X_bad = X.copy()
    X_bad[-1, 0] = np.nan
    recorder = Recorder()
    with pytest.raises(ValueError, match=r"X contains NaN or inf \(\S+X\.npy, epoch 1, batch 5\)\. Clean "
                                         r"the data file\."):
        fit(classifier(), _memmap(tmp_path, X_bad), y, epochs=1, batch_size=10, shuffle=False,
            callbacks=[recorder], progress=False)
    assert recorder.steps == 4


# ---------------------------------------------------------------------- progress


def test_a_log_gets_one_summary_line_per_epoch_and_no_bar(capsys):
    X, y = blobs()
    history = fit(classifier(), X, y, epochs=2, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "\r" not in captured.err  # not a terminal: no bar redraws
    lines = captured.err.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1", "epoch 2"]
    assert lines[1].startswith(f"epoch 2  loss {history['loss'][1]:.4f}")


def test_a_notebook_gets_the_bar(monkeypatch):
    class ZMQInteractiveShell:  # what get_ipython() returns in a Jupyter kernel
        pass

    fake = type(sys)("IPython")
    fake.get_ipython = ZMQInteractiveShell
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert ProgressBar(4, 10, stream=io.StringIO()).enabled
    monkeypatch.setitem(sys.modules, "IPython", None)
    assert not ProgressBar(4, 10, stream=io.StringIO()).enabled


def test_forced_progress_bar_writes_a_summary_line_per_epoch():
    X, y = blobs(n=40)
    stream = io.StringIO()
    bar = ProgressBar(n_batches=4, batch_size=10, force=True, stream=stream)
    history = fit(classifier(), X, y, epochs=3, batch_size=10, callbacks=[bar], progress=False,
                  metrics=["accuracy"])
    lines = [line.rsplit("\r", 1)[-1] for line in stream.getvalue().splitlines()]
    summaries = [line for line in lines if re.match(r"epoch \d+  loss ", line)]
    assert len(summaries) == 3
    for epoch, (line, record) in enumerate(zip(summaries, history.epochs), 1):
        assert line.startswith(f"epoch {epoch}  loss {record['loss']:.4f}  accuracy ")
        assert "  lr 0.01  " in line

    quiet = io.StringIO()
    fit(classifier(), X, y, epochs=2, batch_size=10, progress=False,
        callbacks=[ProgressBar(4, 10, summary=False, force=True, stream=quiet)])
    assert "loss" not in quiet.getvalue()
