"""The playground's session logic without a server: the step, the network, the frames."""

import base64

import numpy as np
import pytest

from glassnet import Dense, Residual, mlp
from glassnet.web.session import Session, build_network, gradient_step
from glassnet.web.settings import Settings, feature_matrix, parse_settings


@pytest.mark.parametrize("regularization, penalty", [
    ("none", lambda W: 0 * W), ("l1", np.sign), ("l2", lambda W: W),
])
def test_gradient_step_is_gradient_descent_plus_the_penalty(regularization, penalty):
    net = mlp([2, 3, 1], activation="tanh", seed=0, dtype="float64")
    X, y = np.array([[0.5, -1.0], [1.5, 0.25]]), np.array([0.3, -0.2])
    before = {k: v.copy() for k, v in net.params().items()}
    net.backprop(X, y)
    grads = {k: g.copy() for k, g in net.grads().items()}
    gradient_step(net, X, y, learning_rate=0.1, regularization=regularization,
                  regularization_rate=0.01)
    for key, value in net.params().items():
        extra = 0.01 * penalty(before[key]) if key.endswith("W") else 0.0
        np.testing.assert_allclose(value, before[key] - 0.1 * (grads[key] + extra))


def test_the_network_follows_the_settings():
    settings = parse_settings({"features": ["x1", "x2", "x1*x2"], "residual": True, "layers": [
        {"units": 5, "activation": "relu"}, {"units": 5, "activation": "tanh"},
        {"units": 3, "activation": "sigmoid"}]})
    net = build_network(settings)
    assert net.sizes == [3, 5, 5, 3, 1] and net.loss_fn.name == "binary_cross_entropy"
    assert [type(layer) for layer in net.layers] == [Dense, Residual, Dense, Dense]
    assert [layer.activation.name for layer in net.layers] == ["relu", "tanh", "sigmoid", "sigmoid"]
    regression = build_network(parse_settings({"problem": "regression", "dataset": "plane"}))
    assert regression.loss_fn.name == "mse" and regression.layers[-1].activation.name == "identity"
    assert build_network(parse_settings({"layers": []})).sizes == [2, 1]


def test_features_are_computed_from_the_coordinates():
    points = np.array([[1.0, 2.0], [-0.5, 3.0]])
    X = feature_matrix(points, ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"))
    x1, x2 = points.T
    np.testing.assert_allclose(X, np.stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1),
                                            np.sin(x2)], axis=1))


def test_features_keep_the_page_order():
    assert parse_settings({"features": ["sin(x2)", "x1"]}).features == ("x1", "sin(x2)")


def test_a_step_is_one_epoch_of_minibatches():
    session = Session(Settings(n_samples=100, batch_size=7), now=0.0)
    session.step()
    assert session.epoch == 1 and session.position == 50  # 50 training points, 8 batches
    session.train_for(0.0)  # at least one batch, which starts epoch 2
    assert session.epoch == 1 and session.position == 7


def test_the_boundary_is_the_output_on_the_grid_quantised():
    session = Session(Settings(n_samples=50, grid=10), now=0.0)
    frame = session.frame()
    q = np.frombuffer(base64.b64decode(frame["boundary"]), dtype=np.uint8)
    x1 = np.linspace(-6 + 0.6, 6 - 0.6, 10)
    points = np.stack(np.meshgrid(x1, x1[::-1]), axis=-1).reshape(-1, 2)
    p = session.net.forward(feature_matrix(points, ("x1", "x2")))[:, 0]
    np.testing.assert_array_equal(q, np.rint(2 * p * 127.5).astype(np.uint8))


def test_delta_norms_are_those_of_the_training_batch():
    session = Session(Settings(n_samples=50), now=0.0)
    norms = session.frame()["delta_norms"]
    session.net.backprop(session.X_train, session.y_train)
    assert norms == pytest.approx([np.linalg.norm(layer.delta) for layer in session.net.layers])
