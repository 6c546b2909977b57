"""The playground's session logic without a server: the step, the network, the frames."""

import base64
from dataclasses import replace

import numpy as np
import pytest

from glassnet import Residual, mlp
from glassnet.optim import SGD, Adagrad, Adam, RMSprop
from glassnet.training import train_step
from glassnet.web.session import Session, build_network, make_optimizer, set_penalty
from glassnet.web.settings import OPTIMIZERS, Settings, feature_matrix, parse_settings
from glassnet.web.upload import Upload


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
    train_step(net, make_optimizer(settings), *net.check_Xy(X, y))
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
    assert frame["loss_test"] == pytest.approx(session.net.loss(session.X_test, session.y_test))
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


# ---------------------------------------------------------------- residual blocks
@pytest.mark.parametrize("activation, f", [
    ("tanh", np.tanh), ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("relu", lambda z: np.maximum(z, 0)), ("identity", lambda z: z),
])
def test_a_residual_block_is_the_input_plus_f_of_its_dense_layer(activation, f):
    """a = a_prev + f(W a_prev + b): nothing is applied after the sum."""
    net = build_network(Settings(residual=True, layers=((3, activation), (3, activation))))
    block = net.layers[1]
    assert block.config()["type"] == "Residual"
    dense = block.layers[0]
    a_prev = np.random.default_rng(1).normal(size=(5, 3)) * 3
    np.testing.assert_allclose(block.forward(a_prev), a_prev + f(a_prev @ dense.W.T + dense.b),
                               rtol=1e-12, atol=1e-12)


def deep_sigmoid(residual):
    return Session(Settings(layers=((4, "sigmoid"),) * 9, residual=residual), now=0.0)


def test_residual_blocks_keep_the_first_layers_gradient_alive():
    """The 9-layer sigmoid stack: ||delta^1|| vanishes without the skips, not with them."""
    plain, skip = (deep_sigmoid(r).frame()["delta_norms"] for r in (False, True))
    assert plain[0] < 1e-6 and skip[0] > 1e-4
    assert skip[0] / plain[0] > 1e4
    assert min(skip) > 1e-4  # no layer's gradient vanishes


def test_the_snapshot_marks_the_residual_blocks():
    snap = Session(Settings(residual=True, layers=((4, "tanh"), (4, "tanh"), (3, "tanh"))),
                   now=0.0).snapshot()
    assert snap["residual"] == [False, True, False, False]


# ---------------------------------------------------------------- all or nothing
def attributes(session):
    return {k: (v if isinstance(v, (int, float, str, type(None))) else id(v))
            for k, v in vars(session).items()}


def broken(*args, **kwargs):
    raise ValueError("broken on purpose")


@pytest.mark.parametrize("where, change", [
    ("build_network", lambda s: s.apply(replace(s.settings, layers=((5, "relu"),)))),
    ("build_network", lambda s: s.reset()),
    ("make_2d", lambda s: s.apply(replace(s.settings, noise=0.3))),
    ("train_test_split", lambda s: s.apply(replace(s.settings, train_ratio=0.3))),
    ("feature_matrix", lambda s: s.apply(replace(s.settings, features=("x1", "x1^2")))),
    ("train_test_split", lambda s: s.use_upload(
        Upload(np.zeros((20, 2)), np.arange(20.0) % 2, (0, 1)))),
    ("make_optimizer", lambda s: s.apply(replace(s.settings, optimizer="adam"))),
    ("feature_matrix", lambda s: s.apply(replace(s.settings, grid=20, learning_rate=0.5,
                                                 regularization="l2", regularization_rate=0.1))),
])
def test_a_change_that_fails_leaves_the_session_as_it_was(monkeypatch, where, change):
    import glassnet.web.session as module

    session = Session(Settings(n_samples=60), now=0.0)
    session.step()
    before, weights = attributes(session), [p.copy() for p in session.net.params().values()]
    in_place = (session.net.l1, session.net.l2, session.optimizer.learning_rate)
    monkeypatch.setattr(module, where, broken)
    with pytest.raises(ValueError, match="broken on purpose"):
        change(session)
    assert attributes(session) == before
    assert (session.net.l1, session.net.l2, session.optimizer.learning_rate) == in_place
    assert all(np.array_equal(a, b) for a, b in zip(session.net.params().values(), weights))
    monkeypatch.undo()
    session.step()
    assert session.epoch == 2


# ---------------------------------------------------------------- classes, dropout
def test_three_classes_get_a_softmax_output_and_regions_per_class():
    session = Session(Settings(dataset="gauss3", n_samples=90, grid=12), now=0.0)
    net = session.net
    assert net.n_out == 3 and net.loss_fn.name == "cross_entropy"
    assert net.layers[-1].activation.name == "softmax"
    snap = session.snapshot()
    assert snap["classes"] == [0, 1, 2] and snap["sizes"] == [2, 4, 2, 3]
    assert {p[2] for p in snap["train"]} == {0.0, 1.0, 2.0}
    assert snap["boundary"] is None
    p = net.forward(session.grid_X)
    classes = np.frombuffer(base64.b64decode(snap["regions"]["class"]), dtype=np.uint8)
    confidence = np.frombuffer(base64.b64decode(snap["regions"]["confidence"]), dtype=np.uint8)
    np.testing.assert_array_equal(classes, p.argmax(axis=1))
    np.testing.assert_array_equal(confidence, np.rint((p.max(axis=1) - 1 / 3) / (2 / 3) * 255))
    assert len(snap["neurons"][-1]) == 3  # one map per class, p drawn as 2p - 1
    session.step()
    assert session.error is None and session.frame()["loss_train"] < snap["loss_train"]


def test_two_classes_keep_one_sigmoid_unit():
    snap = Session(Settings(n_samples=50), now=0.0).snapshot()
    assert snap["classes"] == [0, 1] and snap["sizes"][-1] == 1 and snap["regions"] is None
    regression = Session(Settings(dataset="plane", problem="regression", n_samples=50), 0.0)
    assert regression.snapshot()["classes"] is None


def test_dropout_follows_each_hidden_layer_that_has_it():
    settings = parse_settings({"residual": True, "layers": [
        {"units": 3, "activation": "tanh", "dropout": 0.2},
        {"units": 3, "activation": "relu", "dropout": 0.5},
        {"units": 2, "activation": "tanh"}]})
    assert settings.layers == ((3, "tanh", 0.2), (3, "relu", 0.5), (2, "tanh", 0.0))
    net = build_network(settings)
    assert [layer.config()["type"] for layer in net.layers] == [
        "Dense", "Dropout", "Residual", "Dropout", "Dense", "Dense"]
    assert [layer.p for layer in net.layers if layer.config()["type"] == "Dropout"] == [0.2, 0.5]
    assert net.sizes == [2, 3, 3, 2, 1] and not net.training
    snap = Session(settings, now=0.0).snapshot()
    assert snap["residual"] == [False, True, False, False]  # the drawn layers only
    assert len(snap["neurons"]) == len(snap["weights"]) == len(snap["delta_norms"]) == 4


def test_dropout_drops_units_in_the_training_step_only(monkeypatch):
    import glassnet.web.session as module

    seen = []

    def spy(net, optimizer, X_b, Y_b):
        seen.append(net.training)
        loss = train_step(net, optimizer, X_b, Y_b)
        masks = [layer.mask for layer in net.layers if layer.config()["type"] == "Dropout"]
        seen.append(all(m is not None and (m == 0).any() for m in masks))
        return loss

    session = Session(Settings(n_samples=120, batch_size=30,
                               layers=((8, "tanh", 0.5), (8, "tanh", 0.5))), now=0.0)
    monkeypatch.setattr(module, "train_step", spy)
    session.step()
    assert seen == [True, True, True, True]  # 2 batches, each in training mode with masks
    assert not session.net.training
    first, second = session.frame(), session.frame()  # inference: no randomness
    assert first["boundary"] == second["boundary"] and first["neurons"] == second["neurons"]


def test_a_layer_given_as_units_and_activation_has_no_dropout():
    assert Settings(layers=((4, "relu"),)).layers == ((4, "relu", 0.0),)
    assert Settings(layers=((4, "relu"),)).to_json()["layers"] == [
        {"units": 4, "activation": "relu", "dropout": 0.0}]
    assert parse_settings({"layers": [{"units": 4}]}).layers == ((4, "tanh", 0.0),)
