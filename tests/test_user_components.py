"""A user's own components (layers, losses, optimisers, scalers; subclasses of built-in ones
too) are run by their own methods or refused by name, never swapped for a built-in one:

* a layer is known by :func:`glassnet.layers.layer_kind` (its class, never a built-in name it
  inherits), so copies, gradcheck and float64 run the user's own code, and save, the exports,
  explain and the per-sample and second-order rules refuse it by name;
* a loss's shortcut (MSE's value_and_grad, the fused delta of softmax and sigmoid) runs only
  while the loss it was derived from is the object's own (``Loss.derived_from_own``);
* predict decides labels by the loss's kind, not its name;
* save writes only parts whose class is the built-in one of their name.
"""

from __future__ import annotations

import numpy as np
import pytest
from user_parts import Scale

import glassnet
from glassnet import Dense, Network, gradcheck, load
from glassnet.interop import to_onnx, to_torch
from glassnet.losses import MSE, BinaryCrossEntropy, CrossEntropy
from glassnet.optim import Adam, Optimizer


class Doubled(Dense):
    """``a = 2 f(z)``, with the inherited backward: a wrong gradient gradcheck must catch."""

    def forward(self, a_prev):
        a = super().forward(a_prev)
        a *= 2
        return a

    def infer(self, a_prev):
        return 2 * super().infer(a_prev)


class HeNormalDense(Dense):
    """A subclass that computes what Dense computes: still a class of the user's own."""


def _data(n_out=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(8, 3)), rng.normal(size=(8, n_out))


def _with(layer):
    return Network([Dense(3, 4, "tanh", seed=0), layer, Dense(4, 2, seed=2)], dtype="float64")


LAYERS = {"Doubled": lambda: Doubled(4, 4, "tanh", seed=1),
          "HeNormalDense": lambda: HeNormalDense(4, 4, "tanh", seed=1),
          "Scale": lambda: Scale(4)}


def test_gradcheck_runs_the_users_layer_and_fails_its_wrong_gradient():
    X, y = _data()
    assert gradcheck(_with(Doubled(4, 4, "tanh", seed=1)), X, y).verdict == "FAILED"
    assert gradcheck(_with(HeNormalDense(4, 4, "tanh", seed=1)), X, y).verdict == "PASSED"


@pytest.mark.parametrize("name", LAYERS)
def test_copies_keep_the_users_class_and_predictions(name):
    X, _ = _data()
    net = _with(LAYERS[name]())
    for copy in (net.copy(), net.astype("float32"), net.astype("float64")):
        assert type(copy.layers[1]) is type(net.layers[1])
        np.testing.assert_allclose(copy.predict_output(X), net.predict_output(X), rtol=1e-5,
                                   atol=1e-6)  # float32 rounding for astype('float32')
    assert net.copy().layers[1] is not net.layers[1]


@pytest.mark.parametrize("name", ["HeNormalDense", "Scale"])  # Doubled's is wrong on purpose
def test_a_protocol_layer_trains_and_is_checked(name):
    X, y = _data()
    net = _with(LAYERS[name]())
    net.fit(X, y, epochs=3, progress=False)
    assert gradcheck(net, X, y).verdict == "PASSED"


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("tool", ["save", "to_torch", "to_onnx", "explain", "hvp",
                                  "per_sample_grad_norms"])
def test_every_tool_that_knows_layers_by_kind_refuses_the_users_by_name(tmp_path, name, tool):
    X, y = _data()
    net = _with(LAYERS[name]())
    run = {
        "save": lambda: net.save(tmp_path / "m.npz"),
        "to_torch": lambda: to_torch(net),
        "to_onnx": lambda: to_onnx(net, tmp_path / "m.onnx"),
        "explain": lambda: glassnet.explain(net, X[0], y[0]),
        "hvp": lambda: glassnet.hvp(net, X, y, np.ones(net.n_params)),
        "per_sample_grad_norms": lambda: glassnet.per_sample_grad_norms(net, X, y),
    }[tool]
    with pytest.raises((TypeError, ValueError), match=rf"\b{name}\b"):
        run()
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_layer_kind_never_gives_a_built_in_name_to_another_class():
    from glassnet.layers import BUILT_IN, layer_kind

    assert [layer_kind(cls(3, 3)) for cls in (Dense, HeNormalDense)] == ["Dense", "HeNormalDense"]
    Impostor = type("Dense", (Dense,), {})
    assert layer_kind(Impostor(3, 3)) not in BUILT_IN


class DoubleMSE(MSE):
    name = "double_mse"

    def per_sample(self, a, Y):
        return 2 * super().per_sample(a, Y)

    def unit_grad(self, a, Y):
        return 2 * (a - Y)


class SmoothCE(CrossEntropy):
    """Label smoothing: ``c = -sum_j y'_j log a_j`` with ``y' = 0.9 y + 0.1 / k``."""

    name = "smooth_ce"

    def _smooth(self, Y):
        return 0.9 * Y + 0.1 / Y.shape[1]

    def per_sample(self, a, Y):
        return super().per_sample(a, self._smooth(Y))

    def unit_grad(self, a, Y):
        return super().unit_grad(a, self._smooth(Y))


class Renamed(CrossEntropy):
    name = "my_cross_entropy"


@pytest.mark.parametrize("loss, output, n_out", [(DoubleMSE(), "identity", 2),
                                                 (SmoothCE(), "softmax", 3)])
def test_a_users_loss_built_on_a_built_in_one_trains_as_its_own_methods_say(loss, output, n_out):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 3))
    y = rng.integers(0, n_out, 10) if output == "softmax" else rng.normal(size=(10, n_out))
    net = glassnet.mlp([3, 5, n_out], "tanh", output=output, loss=loss, dtype="float64", seed=0)
    assert not net.fused
    Y = net.loss_fn.targets(y, n_out, np.float64)
    expected = float(loss.per_sample(net.predict_output(X), Y).mean())
    assert net.loss(X, y) == pytest.approx(expected, rel=1e-12)
    assert net.backprop(X, y) == pytest.approx(expected, rel=1e-12)
    assert gradcheck(net, X, y).verdict == "PASSED"
    history = net.fit(X, y, epochs=1, batch_size=10, shuffle=False, progress=False)
    assert history["loss"][0] == pytest.approx(expected, rel=1e-9)


def test_a_renamed_loss_keeps_the_fused_delta_and_its_kind():
    X, _ = _data()
    net = glassnet.mlp([3, 4, 3], output="softmax", loss=Renamed(), seed=0)
    assert net.fused  # it changes nothing the fused delta was derived from
    labels = net.predict(X)
    assert labels.shape == (8,) and labels.dtype.kind == "i"
    net = glassnet.mlp([3, 4, 1], output="sigmoid",
                       loss=type("MyBCE", (BinaryCrossEntropy,), {"name": "my_bce"})(), seed=0)
    assert set(net.predict(X).tolist()) <= {0, 1}


def test_the_hvp_of_a_changed_loss_is_not_the_inherited_one():
    X, y = _data()
    net = glassnet.mlp([3, 4, 2], loss=DoubleMSE(), dtype="float64", seed=0)
    with pytest.raises(NotImplementedError, match="DoubleMSE changes per_sample or unit_grad"):
        glassnet.hvp(net, X, y, np.ones(net.n_params))


class ZeroStepAdam(Adam):
    def _update(self, param, grad, lr):
        super()._update(param, grad, 0.0 * lr)


class SignSGD(Optimizer):
    name = "signsgd"

    def _update(self, param, grad, lr):
        param -= lr * np.sign(grad)


class NoisyScaler(glassnet.data.StandardScaler):
    pass


def _trained(**fit):
    X, _ = _data()
    y = np.arange(8) % 2
    net = glassnet.mlp([3, 4, 2], output="softmax", loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=1, progress=False, **fit)
    return net


PARTS = {
    "optimizer subclass": (lambda: _trained(optimizer=ZeroStepAdam()), "the optimizer, 'adam'"),
    "optimizer of its own": (lambda: _trained(optimizer=SignSGD(0.1)), "the optimizer, 'signsgd'"),
    "loss subclass": (lambda: glassnet.mlp([3, 4, 3], output="softmax", loss=Renamed()),
                      "the loss, 'my_cross_entropy'"),
    "scaler subclass": (lambda: _with_scaler(NoisyScaler), "the input scaler, 'NoisyScaler'"),
    "scikit-learn scaler": (lambda: _with_scaler(_sklearn_scaler),
                            "the input scaler, 'StandardScaler'"),
}


def _sklearn_scaler():
    from sklearn.preprocessing import StandardScaler

    return StandardScaler()


def test_a_scaler_is_checked_when_it_is_set():
    net = glassnet.mlp([3, 4, 2])
    with pytest.raises(TypeError, match=r"Network.scaler must be a fitted scaler with a "
                                        r"transform\(X\) method"):
        net.scaler = "standard"
    with pytest.raises(RuntimeError, match="StandardScaler is not fitted yet"):
        net.scaler = glassnet.data.StandardScaler()
    with pytest.raises(ValueError, match="fitted on 2 features; the network takes 3"):
        net.scaler = glassnet.data.StandardScaler().fit(np.ones((4, 2)))
    X, _ = _data()
    net.scaler = _sklearn_scaler().fit(X)  # a scaler of your own scales fit and predict
    assert net.predict_output(X).shape == (8, 2)


def _with_scaler(cls):
    net = glassnet.mlp([3, 4, 2])
    net.scaler = cls().fit(_data()[0])
    return net


@pytest.mark.parametrize("part", PARTS)
def test_save_refuses_every_part_of_your_own_and_writes_nothing(tmp_path, part):
    build, where = PARTS[part]
    net = build()
    with pytest.raises(ValueError, match=rf"{where} \(class .*\), is not one of glassnet's own"):
        net.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []
    if part.startswith("optimizer"):  # the fix the message gives works
        net.optimizer = None
        net.save(tmp_path / "m.npz")
        np.testing.assert_array_equal(load(tmp_path / "m.npz").theta, net.theta)


class ScaledTanh(glassnet.activations.Tanh):
    """``f = 2 tanh(z)`` with its own derivative, but Tanh's second derivative inherited."""

    name = "scaled_tanh"

    def forward(self, z, out=None):
        return 2 * np.tanh(z)

    def derivative(self, z, a, out=None):
        return 2 * (1 - np.tanh(z) ** 2)


def test_an_activation_that_changes_the_function_keeps_no_inherited_second_derivative():
    X, y = _data()
    net = Network([Dense(3, 4, ScaledTanh(), seed=0), Dense(4, 2, seed=1)], dtype="float64")
    assert gradcheck(net, X, y).verdict == "PASSED"  # first order: its own methods
    with pytest.raises(TypeError, match="ScaledTanh.*keeps the second_derivative it inherits"):
        glassnet.hvp(net, X, y, np.ones(net.n_params))


@pytest.mark.parametrize("info, where", [({1: 2}, "net.info has the key 1"),
                                         ({"a": [{"b": {(1, 2): 3}}]},
                                          r"net.info\['a'\]\[0\]\['b'\] has the key \(1, 2\)")])
def test_save_refuses_info_that_would_load_as_something_else(tmp_path, info, where):
    net = glassnet.mlp([3, 4, 2])
    net.info = info
    with pytest.raises(ValueError, match=rf"{where} .*whose keys are strings"):
        net.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("X", [[[1, 2, 3], [1, 2]], [[1, 2, 3], [1, [2], 3]]])
@pytest.mark.parametrize("scaled", [False, True])
def test_ragged_inputs_are_named_as_such(X, scaled):
    net = glassnet.mlp([3, 4, 2])
    if scaled:
        net.scaler = glassnet.data.StandardScaler().fit(_data()[0])
    with pytest.raises(ValueError, match="X must be a rectangular array of numbers; got nested "
                                         "sequences whose lengths differ"):
        net.predict(X)


def test_check_backprop_given_a_network_says_what_it_takes():
    with pytest.raises(TypeError, match="source is the path of a student file; got a Network"):
        glassnet.check_backprop(glassnet.mlp([3, 4, 2]))
