"""GradientMonitor's statistics and warnings, and the vanishing-gradient lab."""

import json
import warnings

import numpy as np
import pytest

from glassnet import (
    Dense,
    ExplodingGradientWarning,
    GradientMonitor,
    Residual,
    VanishingGradientWarning,
    mlp,
)
from glassnet.diagnostics import (
    lab_network,
    lab_table_csv,
    lab_table_json,
    layer_stats,
    monitored_layers,
    vanishing_lab,
)


def small_data(n=40, n_in=4, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, n_classes, n)


def test_layer_stats_by_hand():
    X, y = small_data()
    net = mlp([4, 6, 3], activation="relu", loss="cross_entropy", seed=0, dtype="float64")
    net.layers[0].b[0] = -100.0  # unit 0 never fires: dead on every sample
    net.backprop(X, y)
    layer = net.layers[0]
    stats = layer_stats(layer)
    n = len(X)
    assert stats["delta_norm"] == pytest.approx(np.mean(np.linalg.norm(n * layer.delta, axis=1)))
    assert stats["grad_W_norm"] == pytest.approx(np.linalg.norm(layer.dW))
    assert stats["grad_b_norm"] == pytest.approx(np.linalg.norm(layer.db))
    assert stats["update_ratio"] == pytest.approx(np.linalg.norm(layer.dW) / np.linalg.norm(layer.W))
    assert stats["dead_share"] == pytest.approx(np.mean(np.all(layer.z <= 0, axis=0)))
    assert stats["dead_share"] >= 1 / 6
    assert stats["saturated_share"] is None
    assert stats["a_mean"] == pytest.approx(layer.a.mean())
    assert stats["a_std"] == pytest.approx(layer.a.std())


def test_delta_norm_does_not_depend_on_batch_size():
    X, y = small_data(n=1)
    net = mlp([4, 5, 3], activation="tanh", loss="cross_entropy", seed=1, dtype="float64")
    net.backprop(X, y)
    one = layer_stats(net.layers[0])["delta_norm"]
    net.backprop(np.repeat(X, 7, axis=0), np.repeat(y, 7))
    assert layer_stats(net.layers[0])["delta_norm"] == pytest.approx(one, rel=1e-12)


@pytest.mark.parametrize("act,bound", [("sigmoid", lambda a: (a < 0.01) | (a > 0.99)),
                                       ("tanh", lambda a: np.abs(a) > 0.99)])
def test_saturated_share(act, bound):
    X, y = small_data()
    net = mlp([4, 6, 3], activation=act, loss="cross_entropy", seed=0, dtype="float64")
    net.layers[0].b[:3] = 20.0  # half the units pinned at the upper bound
    net.backprop(X, y)
    a = net.layers[0].a
    share = layer_stats(net.layers[0])["saturated_share"]
    assert share == pytest.approx(np.mean(bound(a)))
    assert 0.5 <= share < 1
    assert layer_stats(net.layers[0])["dead_share"] is None


def test_layer_stats_needs_a_backward_pass():
    with pytest.raises(RuntimeError, match=r"needs the values of a backward pass"):
        layer_stats(Dense(2, 2))


def test_monitor_records_every_layer_into_the_history():
    X, y = small_data()
    net = mlp([4, 6, 6, 3], activation="relu", loss="cross_entropy", residual=True, seed=0)
    assert any(isinstance(layer, Residual) for layer in net.layers)
    monitor = GradientMonitor()
    history = net.fit(X, y, epochs=3, batch_size=16, callbacks=[monitor], seed=0)
    keys = [key for key, _ in monitored_layers(net)]
    assert keys == ["0", "1", "1.0", "2"]
    for epoch, record in enumerate(history.epochs, start=1):
        (snap,) = record["gradients"]  # once per epoch, from its last batch (3 batches/epoch)
        assert snap["epoch"] == epoch and snap["step"] == 3 * epoch
        assert list(snap["layers"]) == keys
        assert snap["layers"]["1"]["grad_W_norm"] is None  # the block itself has no W
        assert snap["layers"]["1.0"]["grad_W_norm"] > 0
        assert snap["ratio"] == pytest.approx(
            snap["layers"]["0"]["grad_W_norm"] / snap["layers"]["2"]["grad_W_norm"])
    saved = json.loads(history.to_json())  # JSON-able: saved with the history
    assert saved["epochs"][2]["gradients"][0]["layers"]["0"]["delta_norm"] > 0
    assert len(monitor.snapshots) == 3


def test_monitor_every_k_steps():
    X, y = small_data()
    net = mlp([4, 5, 3], activation="tanh", loss="cross_entropy", seed=0)
    monitor = GradientMonitor(every=2)
    history = net.fit(X, y, epochs=3, batch_size=8, callbacks=[monitor])  # 5 steps per epoch
    steps = [snap["step"] for record in history.epochs for snap in record["gradients"]]
    assert steps == list(range(2, 16, 2))
    assert [len(record["gradients"]) for record in history.epochs] == [2, 3, 2]


def test_vanishing_warning_on_a_deep_sigmoid_stack():
    X, y = small_data(n_in=8)
    net = lab_network(8, 3, depth=12, activation="sigmoid", residual=False, width=16, seed=0)
    with pytest.warns(VanishingGradientWarning, match=r"first layer is .* times that of the last"):
        net.fit(X, y, epochs=2, callbacks=[GradientMonitor()])


def test_no_warning_with_identity_skips():
    X, y = small_data(n_in=8)
    net = lab_network(8, 3, depth=12, activation="sigmoid", residual=True, width=16, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.fit(X, y, epochs=2, callbacks=[GradientMonitor()])


def test_thresholds_are_the_users_and_each_warning_comes_once():
    X, y = small_data()
    net = mlp([4, 5, 3], activation="tanh", loss="cross_entropy", seed=0)
    with pytest.warns(ExplodingGradientWarning, match=r"explode_ratio=1e-06") as record:
        net.fit(X, y, epochs=3, callbacks=[GradientMonitor(vanish_ratio=1e-9, explode_ratio=1e-6)])
    assert len(record) == 1


@pytest.mark.parametrize("kwargs,match", [
    ({"every": 0}, r"'every' parameter of GradientMonitor must be an int >= 1; got 0"),
    ({"vanish_ratio": -1}, r"'vanish_ratio' parameter of GradientMonitor must be a float > 0"),
    ({"vanish_ratio": 10, "explode_ratio": 1}, r"needs vanish_ratio < explode_ratio"),
])
def test_monitor_parameter_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientMonitor(**kwargs)


# ---------------------------------------------------------------- the lab
def test_sigmoid_deltas_vanish_and_identity_skips_keep_them():
    """16 sigmoid layers: sigmoid' <= 1/4 per layer, measured ~0.24, so ||delta^1|| / ||delta^16||
    is about 0.24^15 ~ 4e-10 (the test asks only for < 1/100). With identity skips the ratio is
    about 1.4 (the test asks only for > 1/10)."""
    plain, skip = vanishing_lab(depths=[16], activations=["sigmoid"], residual=[False, True],
                                steps=0, seed=0)
    assert plain["delta_init"][0] < plain["delta_init"][-1] / 100
    assert plain["decay_per_layer"] < 0.25  # sigmoid's bound, the weights roughly norm-preserving
    assert skip["delta_init"][0] > skip["delta_init"][-1] / 10
    assert len(plain["delta_init"]) == 16


def test_lab_rows_tables_and_training():
    X, y = small_data(n=64, n_in=6)
    rows = vanishing_lab(depths=[2, 3], activations=["tanh"], residual=[False, True], width=8,
                         data=(X, y), steps=5, seed=1, n_measure=32)
    assert [(r["depth"], r["residual"]) for r in rows] == [(2, False), (3, False), (2, True), (3, True)]
    for row in rows:
        assert np.shape(row["db_norms"]) == (5, row["depth"])
        assert len(row["delta_trained"]) == row["depth"] and not row["diverged"]
    csv_text = lab_table_csv(rows)
    assert csv_text.splitlines()[0] == "activation,residual,depth,layer,delta_init,delta_trained"
    assert len(csv_text.splitlines()) == 1 + 2 + 3 + 2 + 3
    assert json.loads(lab_table_json(rows))["rows"][1]["depth"] == 3


def test_lab_rejects_regression_targets_and_bad_depths():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="needs integer class labels"):
        vanishing_lab(depths=[2], data=(X, X[:, 0]), steps=0)
    with pytest.raises(ValueError, match=r"depths must be ints >= 1; got \[0\]"):
        vanishing_lab(depths=[0], data=(X, np.zeros(10, int)), steps=0)


def test_monitor_skips_dropout_layers():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    net = mlp([4, 6, 6, 3], activation="relu", loss="cross_entropy", dropout=0.5, seed=0)
    monitor = GradientMonitor()
    history = net.fit(X, y, epochs=2, batch_size=8, callbacks=[monitor], progress=False, seed=0)
    keys = list(history["gradients"][-1][-1]["layers"])
    assert keys == ["0", "2", "4"]  # the Dense layers; the Dropout layers 1 and 3 have no delta
