"""The playground's session logic without a server: the step, the network, the frames."""

import base64
from dataclasses import replace

import numpy as np
import pytest

from glassnet import Dense, Residual, mlp
from glassnet.optim import SGD, Adagrad, Adam, RMSprop
from glassnet.web.session import Session, build_network, make_optimizer, set_penalty, train_step
from glassnet.web.settings import OPTIMIZERS, Settings, feature_matrix, parse_settings


@pytest.mark.parametrize("regularization, penalty", [
    ("none", lambda W: 0 * W), ("l1", np.sign), ("l2", lambda W: W),
])
def test_the_sgd_step_is_gradient_descent_plus_the_penalty(regularization, penalty):
    settings = Settings(learning_rate=0.1, regularization=regularization,
                        regularization_rate=0.01)
    net = mlp([2, 3, 1], activation="tanh", seed=0, dtype="float64")
    X, y = np.array([[0.5, -1.0], [1.5, 0.25]]), np.array([0.3, -0.2])
    before = {k: v.copy() for k, v in net.params().items()}
    net.backprop(X, y)
    grads = {k: g.copy() for k, g in net.grads().items()}  # without the penalty
    set_penalty(net, settings)
    train_step(net, make_optimizer(settings), X, y)
    for key, value in net.params().items():
        extra = 0.01 * penalty(before[key]) if key.endswith("W") else 0.0
        np.testing.assert_allclose(value, before[key] - 0.1 * (grads[key] + extra))


def test_the_optimisers_are_the_ones_named():
    def make(name):
        return make_optimizer(Settings(optimizer=name, learning_rate=0.3))

    assert [type(make(name)) for name in OPTIMIZERS] == [SGD, SGD, Adam, RMSprop, Adagrad]
    assert make("sgd").momentum == 0.0 and make("momentum").momentum == 0.9
    assert all(make(name).learning_rate == 0.3 for name in OPTIMIZERS)


def test_the_optimiser_state_persists_across_steps_and_resets_on_reset():
    session = Session(Settings(n_samples=50, batch_size=5, optimizer="adam"), now=0.0)
    adam = session.optimizer
    session.step()  # 25 training points: 5 batches
    assert session.optimizer is adam and adam.iterations == 5
    moments = adam.state_dict()[1]
    assert {"m.0.W", "v.0.W"} <= set(moments)
    session.step()
    assert session.optimizer is adam and adam.iterations == 10
    assert not np.array_equal(adam.state_dict()[1]["m.0.W"], moments["m.0.W"])
    session.apply(replace(session.settings, learning_rate=0.1))  # keeps the state
    assert session.optimizer is adam and adam.learning_rate == 0.1 and adam.iterations == 10
    session.reset()
    assert session.optimizer is not adam and session.optimizer.iterations == 0
    assert session.optimizer.state_dict()[1] == {}
    session.apply(replace(session.settings, optimizer="rmsprop"))  # a new optimiser
    assert isinstance(session.optimizer, RMSprop) and session.optimizer.iterations == 0
    session.apply(replace(session.settings, layers=((3, "tanh"),)))  # a new network
    assert session.optimizer.iterations == 0


def test_the_regularisation_settings_set_the_network_penalty():
    session = Session(Settings(n_samples=50, regularization="l2", regularization_rate=0.03),
                      now=0.0)
    assert (session.net.l1, session.net.l2) == (0.0, 0.03)
    session.apply(replace(session.settings, regularization="l1"))
    assert (session.net.l1, session.net.l2) == (0.03, 0.0)
    frame = session.frame()  # the curves show the data loss, without the penalty
    assert frame["loss_test"] == pytest.approx(
        session.net.loss(session.X_test, session.y_test) - session.net.penalty())
    session.apply(replace(session.settings, regularization="none"))
    assert (session.net.l1, session.net.l2) == (0.0, 0.0)


def test_the_network_follows_the_settings():
    settings = parse_settings({"features": ["x1", "x2", "x1*x2"], "residual": True, "layers": [
        {"units": 5, "activation": "relu"}, {"units": 5, "activation": "tanh"},
        {"units": 3, "activation": "sigmoid"}]})
    net = build_network(settings)
    assert net.sizes == [3, 5, 5, 3, 1] and net.loss_fn.name == "binary_cross_entropy"
    assert [layer.config()["type"] for layer in net.layers] == ["Dense", "Residual", "Dense",
                                                                "Dense"]
    inner = [layer.layers[0] if isinstance(layer, Residual) else layer for layer in net.layers]
    assert [layer.activation.name for layer in inner] == ["relu", "tanh", "sigmoid", "sigmoid"]
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
