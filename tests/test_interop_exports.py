"""Exports that predict what glassnet predicts: the input scaler travels, Dropout exports as
nothing, every part that cannot be exported is refused by name; from_torch reads logits
classifiers. Models come from the real producer, ``glassnet train`` (``cli.main``)."""

import re

import numpy as np
import pytest

import glassnet
from glassnet import Dense, Network, Residual, mlp
from glassnet.cli import main
from glassnet.data import MinMaxScaler, StandardScaler, load_data
from glassnet.interop import ONNX_LAYERS, TORCH_LAYERS, from_torch, to_onnx, to_torch
from glassnet.layers import Dropout, Layer


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A model written by `glassnet train` on digits (with its StandardScaler) and raw X."""
    pytest.importorskip("sklearn")
    path = tmp_path_factory.mktemp("train") / "digits.npz"
    assert main(["train", "--data", "digits", "--epochs", "3", "--quiet", "--dropout", "0.1",
                 "--out", str(path)]) == 0
    net = glassnet.load(path)
    X = load_data("digits").X  # raw pixel values 0..16
    return net, X


def torch_outputs(module, X, dtype):
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(X, dtype=dtype))).numpy()


def onnx_outputs(path, X, dtype):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": np.asarray(X, dtype=dtype)})[0]


def test_trained_digits_model_has_a_scaler_and_dropout(digits_model):
    net, X = digits_model
    assert isinstance(net.scaler, StandardScaler)
    assert any(layer.config()["type"] == "Dropout" for layer in net.layers)
    # the scaler matters: without it the network sees other inputs
    assert not np.allclose(net.forward(X), net.predict_output(X), atol=1e-3)


@pytest.mark.torch
def test_to_torch_of_a_trained_model_predicts_like_glassnet_on_raw_inputs(digits_model):
    pytest.importorskip("torch")
    net, X = digits_model
    out = torch_outputs(to_torch(net), X, net.dtype)
    expected = net.predict_output(X)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert np.mean(out.argmax(1) == net.predict(X)) == 1.0


def test_to_onnx_of_a_trained_model_predicts_like_glassnet_on_raw_inputs(digits_model, tmp_path):
    pytest.importorskip("onnx")
    net, X = digits_model
    path = tmp_path / "digits.onnx"
    model = to_onnx(net, path)
    ops = [node.op_type for node in model.graph.node]
    assert ops[:2] == ["Sub", "Mul"] and "Dropout" not in ops  # the scaler, documented first
    out = onnx_outputs(path, X, net.dtype)
    np.testing.assert_allclose(out, net.predict_output(X), rtol=1e-5, atol=1e-6)
    assert np.mean(out.argmax(1) == net.predict(X)) == 1.0


def minmax_net(dtype):
    rng = np.random.default_rng(0)
    X = 100 + 50 * rng.standard_normal((40, 3))
    net = mlp([3, 5, 2], activation="tanh", dropout=0.3, seed=0, dtype=dtype)
    net.scaler = MinMaxScaler((-1, 1)).fit(X)
    return net, X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_minmax_scaler_travels_too(dtype, tmp_path):
    net, X = minmax_net(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    if pytest.importorskip("onnx") and __import__("importlib").util.find_spec("onnxruntime"):
        to_onnx(net, tmp_path / "m.onnx")
        np.testing.assert_allclose(onnx_outputs(tmp_path / "m.onnx", X, dtype),
                                   net.predict_output(X), rtol=tol, atol=tol)
    torch = pytest.importorskip("torch")
    module = to_torch(net)
    np.testing.assert_allclose(torch_outputs(module, X, dtype), net.predict_output(X),
                               rtol=tol, atol=tol)
    assert not any(isinstance(m, torch.nn.Dropout) for m in module.modules())


@pytest.mark.torch
def test_scaler_round_trips_through_torch(digits_model):
    pytest.importorskip("torch")
    net, X = digits_model
    back = from_torch(to_torch(net), loss="cross_entropy")
    assert isinstance(back.scaler, StandardScaler)
    np.testing.assert_array_equal(back.scaler.mean_, net.scaler.mean_)
    np.testing.assert_allclose(back.predict_output(X), net.predict_output(X), rtol=1e-5, atol=1e-6)


def readme_dropout_net():
    """The README's API example: mlp([64, 128, 10], ..., dropout=0.2) with a scaler."""
    d = load_data("digits")
    net = glassnet.mlp([64, 128, 10], activation="relu", loss="cross_entropy", dropout=0.2, seed=0)
    net.scaler = StandardScaler().fit(d.X)
    net.fit(d.X[:200], d.y[:200], epochs=1, seed=0, progress=False)
    return net, d.X


@pytest.mark.parametrize("export", ["torch", "onnx"])
def test_readme_dropout_network_exports(export, tmp_path):
    pytest.importorskip("sklearn")
    net, X = readme_dropout_net()
    if export == "torch":
        pytest.importorskip("torch")
        out = torch_outputs(to_torch(net), X, net.dtype)
    else:
        pytest.importorskip("onnx")
        to_onnx(net, tmp_path / "net.onnx")
        out = onnx_outputs(tmp_path / "net.onnx", X, net.dtype)
    np.testing.assert_allclose(out, net.predict_output(X), rtol=1e-5, atol=1e-6)
    assert np.array_equal(out.argmax(1), net.predict(X))


def test_dropout_only_and_leading_dropout_export(tmp_path):
    net = Network([Dropout(0.5, width=3), Dense(3, 2, "tanh", seed=0), Dropout(0.2)])
    X = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    if __import__("importlib").util.find_spec("onnxruntime"):
        to_onnx(net, tmp_path / "d.onnx")
        np.testing.assert_allclose(onnx_outputs(tmp_path / "d.onnx", X, "float32"),
                                   net.predict_output(X), rtol=1e-6, atol=1e-6)
    if __import__("importlib").util.find_spec("torch"):
        np.testing.assert_allclose(torch_outputs(to_torch(net), X, "float32"),
                                   net.predict_output(X), rtol=1e-6, atol=1e-6)


class Odd(Layer):
    """A layer type the exporters have no entry for, with a config like the built-in ones."""

    n_in = n_out = 3

    def config(self):
        return {"type": "Odd"}

    def astype(self, dtype):
        return self


class RobustScaler:
    """An input scaler of a kind the exporters cannot write."""

    def transform(self, X):
        return X

    def to_dict(self):
        return {"type": "RobustScaler"}


@pytest.mark.parametrize("export", ["torch", "onnx"])
def test_unexportable_parts_are_refused_by_name_never_dropped(export, tmp_path):
    pytest.importorskip(export)

    def write(net):
        return to_torch(net) if export == "torch" else to_onnx(net, tmp_path / "x.onnx")

    with pytest.raises(TypeError, match=rf"to_{export} cannot export layer 1 of type Odd; "
                                        r"supported layers: Dense, Residual, Dropout"):
        write(Network([Dense(3, 3), Odd()]))
    with pytest.raises(TypeError, match=r"layer 0\.1 of type Odd"):
        write(Network([Residual(Dense(3, 3), Odd())]))
    net = mlp([3, 4, 2], seed=0)
    net.scaler = RobustScaler()
    with pytest.raises(ValueError, match=rf"to_{export} cannot export the network's input scaler "
                                         r"RobustScaler: it has no operations\(\) of the forms"):
        write(net)
    assert not (tmp_path / "x.onnx").exists()


def test_registries_cover_the_same_layer_types():
    from glassnet.layers import LAYERS

    assert set(TORCH_LAYERS) == set(ONNX_LAYERS) == set(LAYERS)


# ---------------------------------------------------------------------------- from_torch
def train_torch_logits_classifier(torch, n_in=4, n_classes=3, dropout=False):
    """The most common torch classifier: ends in Linear, trained with nn.CrossEntropyLoss."""
    nn = torch.nn
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, n_in)).astype("float32")
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    layers = [nn.Linear(n_in, 16), nn.ReLU()] + ([nn.Dropout(0.2)] if dropout else []) \
        + [nn.Linear(16, n_classes)]
    model = nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(60):
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(xt), yt).backward()
        opt.step()
    return model.eval(), X, y


@pytest.mark.torch
@pytest.mark.parametrize("loss", ["cross_entropy", "torch-module"])
@pytest.mark.parametrize("dropout", [False, True])
def test_from_torch_imports_a_logits_classifier_as_softmax_cross_entropy(loss, dropout):
    torch = pytest.importorskip("torch")
    model, X, y = train_torch_logits_classifier(torch, dropout=dropout)
    spec = torch.nn.CrossEntropyLoss() if loss == "torch-module" else loss
    net = from_torch(model, loss=spec)
    assert net.loss_fn.name == "cross_entropy" and net.layers[-1].activation.name == "softmax"
    with torch.no_grad():
        logits = model(torch.from_numpy(X))
        probs = torch.softmax(logits, dim=1).numpy()
        torch_loss = torch.nn.CrossEntropyLoss()(logits, torch.from_numpy(y)).item()
    np.testing.assert_allclose(net.forward(X), probs, rtol=1e-5, atol=1e-6)
    assert np.array_equal(net.predict(X), logits.numpy().argmax(1))
    assert net.loss(X, y) == pytest.approx(torch_loss, rel=1e-5)
    net.fit(X, y, epochs=1, progress=False, seed=0)  # and it trains on as a glassnet network


@pytest.mark.torch
def test_from_torch_imports_a_bce_with_logits_classifier_as_sigmoid():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
    net = from_torch(model, loss=nn.BCEWithLogitsLoss())
    assert net.loss_fn.name == "binary_cross_entropy"
    X = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy(X))).numpy()
    np.testing.assert_allclose(net.forward(X), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("where, value", [("0.weight", np.nan), ("0.bias", np.inf),
                                           ("2.weight", -np.inf), ("2.bias", np.nan)])
def test_from_torch_refuses_non_finite_weights_naming_them(where, value):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    index, name = where.split(".")
    with torch.no_grad():
        getattr(model[int(index)], name).view(-1)[1] = value
    with pytest.raises(ValueError, match=rf"The {name} of module\[{index}\] contains NaN or inf"):
        from_torch(model)


@pytest.mark.parametrize("kind", ["coef", "intercept"])
def test_from_sklearn_refuses_non_finite_weights(kind):
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPRegressor

    from glassnet.interop import from_sklearn

    reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(np.random.default_rng(0).normal(size=(20, 2)), np.arange(20.0))
    (reg.coefs_ if kind == "coef" else reg.intercepts_)[1][0] = np.nan
    with pytest.raises(ValueError, match=r"coefs_\[1\] / intercepts_\[1\] contains NaN or inf"):
        from_sklearn(reg)


@pytest.mark.parametrize("make, option", [
    (lambda nn, t: nn.CrossEntropyLoss(label_smoothing=0.2), "label_smoothing=0.2"),
    (lambda nn, t: nn.CrossEntropyLoss(weight=t.tensor([1.0, 5.0, 1.0])), "weight=a tensor"),
    (lambda nn, t: nn.CrossEntropyLoss(reduction="sum"), "reduction='sum'"),
    (lambda nn, t: nn.BCEWithLogitsLoss(pos_weight=t.tensor([4.0])), "pos_weight=a tensor"),
    (lambda nn, t: nn.BCELoss(weight=t.tensor([2.0])), "weight=a tensor"),
    (lambda nn, t: nn.MSELoss(reduction="none"), "reduction='none'"),
])
def test_from_torch_refuses_loss_options_glassnet_has_not(make, option):
    torch = pytest.importorskip("torch")
    from glassnet.interop import from_torch

    nn = torch.nn
    n_out = 1 if "BCE" in repr(make(nn, torch)) else 3
    module = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, n_out))
    with pytest.raises(ValueError, match=rf"cannot read \w+\({re.escape(option)}\): glassnet's "
                                         "losses are unweighted means"):
        from_torch(module, loss=make(nn, torch))
    assert from_torch(module, loss=type(make(nn, torch))()).n_out == n_out  # the defaults read


def test_from_torch_refuses_a_softplus_threshold_it_does_not_have():
    torch = pytest.importorskip("torch")
    from glassnet.interop import from_torch

    nn = torch.nn
    with pytest.raises(ValueError, match=r"nn.Softplus\(beta=1.0, threshold=1.0\); glassnet's "
                                         r"softplus is torch's default"):
        from_torch(nn.Sequential(nn.Linear(3, 4), nn.Softplus(threshold=1.0), nn.Linear(4, 2)))
