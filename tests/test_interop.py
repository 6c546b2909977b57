"""glassnet.interop: to and from PyTorch, to ONNX (run in onnxruntime), from scikit-learn.

Each optional package is skipped for on its own: torch tests need torch, ONNX tests onnx and
onnxruntime, scikit-learn tests scikit-learn; the missing-extra errors need none of them.
"""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from glassnet import ACTIVATIONS, Dense, Layer, Network, Residual, gradcheck
from glassnet.interop import ONNX_OPSET, from_sklearn, from_torch, to_onnx, to_torch

DTYPES = ["float32", "float64"]
TORCH_TOL = {"float32": 1e-6, "float64": 1e-12}
ONNX_TOL = {"float32": 1e-5, "float64": 1e-12}
OPTIONS = {
    "leaky_relu": {"slope": 0.2},
    "elu": {"alpha": 0.7},
}  # not the defaults: they must travel
LOSS_OUTPUT = {"mse": "tanh", "cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}


def spec(name):
    return {"name": name, **OPTIONS.get(name, {})}


def build(activation, dtype, loss="mse", output=None, seed=0):
    """3 -> 5 -> Residual(5 -> 5 -> 5) -> 4, every activation ``activation``, nonzero biases."""
    rng = np.random.default_rng(seed)
    act = spec(activation)
    layers = [
        Dense(3, 5, act, seed=rng, dtype=dtype),
        Residual(
            Dense(5, 5, act, seed=rng, dtype=dtype),
            Dense(5, 5, act, seed=rng, dtype=dtype),
        ),
        Dense(5, 4, output or act, seed=rng, dtype=dtype),
    ]
    for key, p in Network(layers, dtype=dtype).params().items():
        if key.endswith("b"):
            p[...] = rng.normal(scale=0.5, size=p.shape)
    return Network(layers, loss=loss, dtype=dtype)


def inputs(n=7, n_in=3, dtype="float64", seed=1):
    return np.random.default_rng(seed).normal(size=(n, n_in)).astype(dtype)


def assert_close(actual, expected, tol):
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------- PyTorch
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_to_torch_forward_equal(torch, activation, dtype):
    net = build(activation, dtype)
    module = to_torch(net)
    X = inputs(dtype=dtype)
    assert all(p.dtype == getattr(torch, dtype) for p in module.parameters())
    with torch.no_grad():
        out = module(torch.from_numpy(X)).numpy()
    assert out.dtype == np.dtype(dtype)
    assert_close(out, net.forward(X), TORCH_TOL[dtype])


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_round_trip_through_torch(torch, activation, dtype):
    net = build(activation, dtype, loss="huber")
    back = from_torch(to_torch(net), loss="huber")
    assert back.config() == net.config()
    for key, value in net.params().items():
        np.testing.assert_array_equal(back.params()[key], value)
    X = inputs()
    assert_close(back.forward(X), net.forward(X), TORCH_TOL[dtype])


@pytest.mark.torch
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_torch_autograd_equals_backprop_every_activation(torch, activation):
    check_gradients(torch, build(activation, "float64"), rtol=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSS_OUTPUT)
def test_torch_autograd_equals_backprop_every_loss(torch, loss, dtype):
    net = build("tanh", dtype, loss=loss, output=LOSS_OUTPUT[loss])
    check_gradients(torch, net, rtol=1e-10 if dtype == "float64" else 1e-4)


def check_gradients(torch, net, rtol):
    """Autograd through ``to_torch(net)`` gives the gradients of ``net.backprop``, input too."""
    X = inputs(dtype=net.dtype)
    y = {"cross_entropy": np.arange(7) % 4, "binary_cross_entropy": np.eye(7, 4)}.get(
        net.loss_fn.name, inputs(n=7, n_in=4, seed=2)
    )
    _, Y = net.check_Xy(X, y)
    module = to_torch(net)
    x = torch.tensor(X, requires_grad=True)
    a, Y = module(x), torch.from_numpy(Y)
    n, name = len(X), net.loss_fn.name
    if name == "cross_entropy":
        loss = -(Y * torch.log(a)).sum() / n
    elif name == "binary_cross_entropy":
        loss = torch.nn.functional.binary_cross_entropy(a, Y, reduction="sum") / n
    else:
        loss = 0.5 * ((a - Y) ** 2).sum() / n
    loss.backward()
    assert net.backprop(X, y, input_grad=True) == pytest.approx(loss.item(), rel=rtol)
    grads = list(net.grads().values())
    assert len(grads) == len(list(module.parameters()))
    for grad, p in zip(grads, module.parameters()):  # to_torch keeps the order of params()
        assert_close(p.grad.numpy(), grad, rtol * np.abs(grad).max())
    assert_close(x.grad.numpy(), net.grad_X, rtol * np.abs(net.grad_X).max())


@pytest.mark.torch
def test_from_torch_reads_a_hand_written_sequential(torch):
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(4, 6),
        nn.LeakyReLU(0.3),
        nn.Sequential(nn.Linear(6, 6), nn.Identity()),
        nn.Linear(6, 3, bias=False),
        nn.Softmax(dim=-1),
    )
    net = from_torch(module, loss="cross_entropy")
    assert [(layer.n_in, layer.n_out, layer.activation.name) for layer in net.layers] == [
        (4, 6, "leaky_relu"),
        (6, 6, "identity"),
        (6, 3, "softmax"),
    ]
    assert net.layers[0].activation.slope == pytest.approx(0.3)
    assert not net.layers[2].b.any()
    X = inputs(n_in=4, dtype="float32")
    with torch.no_grad():
        assert_close(net.forward(X), module(torch.from_numpy(X)).numpy(), 1e-6)


@pytest.mark.torch
def test_torch_residual_module_pickles(torch):
    module = to_torch(build("elu", "float64"))
    X = torch.from_numpy(inputs())
    with torch.no_grad():
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(module))(X), module(X))


@pytest.mark.torch
@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda nn: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)),
            ValueError,
            r"module\[1\], a BatchNorm1d: glassnet has no layer for it\. Supported modules: Linear",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Conv1d(1, 1, 1))),
            ValueError,
            r"module\[1\]\[0\], a Conv1d.*Supported modules:.*GELU \(approximate='tanh'\)",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(3, 4), nn.GELU()),
            ValueError,
            r"nn.GELU\(approximate='none'\); glassnet's gelu is the tanh form",
        ),
        (lambda nn: nn.Sequential(nn.Linear(3, 4), nn.Softplus(beta=2.0)), ValueError, "beta=1"),
        (
            lambda nn: nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=0)),
            ValueError,
            "nn.Softmax\\(dim=1\\)",
        ),
        (
            lambda nn: nn.Sequential(nn.Tanh(), nn.Linear(3, 4)),
            ValueError,
            r"module\[0\] is Tanh with no nn.Linear right before it",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.ReLU()),
            ValueError,
            "ReLU with no nn.Linear right before it",
        ),
        (lambda nn: nn.Sequential(nn.ReLU()), ValueError, "found no nn.Linear"),
        (lambda nn: nn.Sequential(nn.Linear(3, 4)).half(), ValueError, "module.float\\(\\)"),
        (lambda nn: nn.Linear(3, 4), TypeError, "takes a torch.nn.Sequential; got Linear"),
    ],
)
def test_from_torch_errors(torch, make, error, match):
    with pytest.raises(error, match=match):
        from_torch(make(torch.nn))


@pytest.mark.torch
def test_from_torch_reads_residual_modules(torch):
    from glassnet.interop import TorchResidual

    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 4),
                           TorchResidual(nn.Sequential(nn.Linear(4, 4), nn.Tanh())))
    net = from_torch(module)
    assert isinstance(net.layers[1], Residual)
    assert net.layers[1].layers[0].activation.name == "tanh"  # a = x + tanh(W x + b)
    X = inputs(dtype="float32")
    with torch.no_grad():
        assert_close(net.forward(X), module(torch.from_numpy(X)).numpy(), 1e-6)
    after_sum = nn.Sequential(nn.Linear(3, 4), TorchResidual(nn.Linear(4, 4), nn.Tanh()))
    with pytest.raises(ValueError, match=r"module\[1\] applies Tanh after the sum: glassnet's "
                                         r"residual block is a = x \+ F\(x\)"):
        from_torch(after_sum)

    inner = nn.Sequential(
        nn.Linear(3, 4), TorchResidual(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)))
    )
    with pytest.raises(ValueError, match=r"module\[1\]\.body\[1\], a LayerNorm: glassnet has no"):
        from_torch(inner)
    after = nn.Sequential(nn.Linear(3, 4), TorchResidual(nn.Linear(4, 4), nn.Dropout()))
    with pytest.raises(ValueError, match=r"module\[1\]\.activation, a Dropout"):
        from_torch(after)


@pytest.mark.torch
def test_from_torch_checks_the_loss(torch):
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())
    with pytest.raises(ValueError, match="cross_entropy loss needs a softmax output layer"):
        from_torch(module, loss="cross_entropy")
    with pytest.raises(ValueError, match="cannot read the torch loss L1Loss; supported: Cross"):
        from_torch(module, loss=torch.nn.L1Loss())
    with pytest.raises(ValueError, match="Unknown loss 'l1'"):
        from_torch(module, loss="l1")


class Cube:
    """A user's own activation: glassnet runs it, exporters cannot."""

    name = "cube"

    def forward(self, z):
        return z**3

    def derivative(self, z, a):
        return 3 * z**2

    def backward(self, z, a, grad_a):
        return grad_a * 3 * z**2

    def jvp(self, z, a, dz):
        return 3 * z**2 * dz


class Scale(Layer):
    """A user's own layer (no Dense, no Residual)."""

    n_in = n_out = 3

    def astype(self, dtype):
        return self


@pytest.mark.parametrize("export", ["torch", "onnx"])
def test_exporters_refuse_what_they_cannot_write(export, tmp_path):
    if export == "torch":
        pytest.importorskip("torch")
        write = to_torch
    else:
        pytest.importorskip("onnx")

        def write(net):
            return to_onnx(net, tmp_path / "net.onnx")

    name = f"to_{export}"
    with pytest.raises(
        ValueError,
        match=rf"{name} cannot export the custom activation 'cube' of "
        r"layer 1\.0; supported activations: identity, sigmoid",
    ):
        write(Network([Dense(3, 3), Residual(Dense(3, 3, Cube()))]))
    with pytest.raises(
        TypeError,
        match=f"{name} cannot export layer 0 of type Scale; supported layers: Dense, Residual",
    ):
        write(Network([Scale()]))
    with pytest.raises(TypeError, match=f"{name} takes a glassnet Network; got list"):
        write([Dense(3, 3)])
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- ONNX
@pytest.fixture
def ort():
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


def run_onnx(ort, path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": X})[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_onnx_equals_onnxruntime(ort, activation, dtype, tmp_path):
    import onnx

    net = build(activation, dtype)
    path = tmp_path / "net.onnx"
    model = to_onnx(net, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert model.opset_import[0].version == ONNX_OPSET
    assert "Gelu" not in {node.op_type for node in model.graph.node}
    for n in (1, 9):  # the batch dimension is dynamic
        X = inputs(n=n, dtype=dtype, seed=n)
        out = run_onnx(ort, path, X)
        assert out.dtype == np.dtype(dtype)
        assert_close(out, net.forward(X), ONNX_TOL[dtype])


def test_onnx_graph_layout(ort, tmp_path):
    model = to_onnx(build("relu", "float32"), tmp_path / "net.onnx")
    gemms = [node for node in model.graph.node if node.op_type == "Gemm"]
    assert [list(node.input[1:]) for node in gemms] == [
        ["0.W", "0.b"],
        ["1.0.W", "1.0.b"],
        ["1.1.W", "1.1.b"],
        ["2.W", "2.b"],
    ]
    assert all(attr.name == "transB" and attr.i == 1 for node in gemms for attr in node.attribute)
    assert [node.op_type for node in model.graph.node].count("Add") == 1  # the skip
    shape = model.graph.input[0].type.tensor_type.shape.dim
    assert (shape[0].dim_param, shape[1].dim_value) == ("batch", 3)
    assert {t.name: tuple(t.dims) for t in model.graph.initializer}["0.W"] == (
        5,
        3,
    )  # (n_out, n_in)


def test_onnx_write_replaces_the_file_atomically(ort, tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"old")
    net = build("tanh", "float32")
    to_onnx(net, path)
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]  # no temporary left behind
    X = inputs(dtype="float32")
    assert_close(run_onnx(ort, path, X), net.forward(X), 1e-5)


# ---------------------------------------------------------------------------- scikit-learn
@pytest.fixture
def sklearn():
    return pytest.importorskip("sklearn")


def fit_quietly(estimator, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


SKLEARN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


@pytest.mark.parametrize("activation", SKLEARN_ACTIVATIONS)
def test_from_sklearn_multiclass(sklearn, activation):
    from sklearn.metrics import log_loss
    from sklearn.neural_network import MLPClassifier

    X = inputs(n=40, n_in=4)
    labels = np.array(["ant", "bee", "cat"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    clf = MLPClassifier(
        hidden_layer_sizes=(6, 5), activation=activation, max_iter=30, random_state=0
    )
    fit_quietly(clf, X, labels)
    net = from_sklearn(clf)
    assert (net.sizes, net.loss_fn.name, net.dtype) == ([4, 6, 5, 3], "cross_entropy", np.float64)
    assert_close(net.forward(X), clf.predict_proba(X), 1e-12)
    y = np.searchsorted(clf.classes_, labels)  # glassnet's labels index classes_
    assert net.loss(X, y) == pytest.approx(log_loss(labels, clf.predict_proba(X)), rel=1e-12)
    report = gradcheck(net, X[:10], y[:10])
    assert report.passed, str(report)


def test_from_sklearn_binary_and_multilabel(sklearn):
    from sklearn.neural_network import MLPClassifier

    X = inputs(n=30, n_in=3)
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(5,), activation="tanh", max_iter=30, random_state=0)
    fit_quietly(clf, X, y)
    net = from_sklearn(clf)
    assert (net.sizes, net.loss_fn.name) == ([3, 5, 1], "binary_cross_entropy")
    assert_close(net.forward(X), clf.predict_proba(X)[:, 1:], 1e-12)
    np.testing.assert_array_equal(net.predict(X), clf.predict(X))
    assert gradcheck(net, X[:10], y[:10]).passed

    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 2] > 1], axis=1).astype(int)
    clf = fit_quietly(MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0), X, Y)
    net = from_sklearn(clf)
    assert (net.sizes, net.loss_fn.name) == ([3, 5, 3], "binary_cross_entropy")
    assert_close(net.forward(X), clf.predict_proba(X), 1e-12)
    assert gradcheck(net, X[:10], Y[:10]).passed


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_from_sklearn_regressor(sklearn, n_outputs):
    from sklearn.neural_network import MLPRegressor

    X = inputs(n=30, n_in=3)
    y = np.sin(X[:, :n_outputs]).squeeze()
    reg = MLPRegressor(hidden_layer_sizes=(6,), activation="logistic", max_iter=30, random_state=0)
    fit_quietly(reg, X, y)
    net = from_sklearn(reg)
    assert (net.sizes, net.loss_fn.name) == ([3, 6, n_outputs], "mse")
    prediction = reg.predict(X)
    assert_close(net.forward(X), prediction.reshape(len(X), -1), 1e-12)
    # scikit-learn's squared_error halves the mean over samples *and* outputs; glassnet sums outputs
    sklearn_loss = 0.5 * np.mean((prediction - y) ** 2)
    assert net.loss(X, y) == pytest.approx(n_outputs * sklearn_loss, rel=1e-12)
    assert gradcheck(net, X[:10], y[:10]).passed


def test_from_sklearn_dtype(sklearn):
    from sklearn.neural_network import MLPRegressor

    X = inputs(n=20)
    reg = fit_quietly(MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0), X, X[:, 0])
    net = from_sklearn(reg, dtype="float32")
    assert net.dtype == np.float32
    assert_close(net.forward(X)[:, 0], reg.predict(X), 1e-5)


def test_from_sklearn_errors(sklearn):
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    with pytest.raises(
        TypeError,
        match="takes a fitted sklearn MLPClassifier or MLPRegressor; got LinearRegression",
    ):
        from_sklearn(LinearRegression())
    with pytest.raises(ValueError, match="This MLPClassifier is not fitted yet. Call fit"):
        from_sklearn(MLPClassifier())
    X = inputs(n=20)
    poisson = MLPRegressor(loss="poisson", hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    fit_quietly(poisson, X, np.exp(X[:, 0]))
    with pytest.raises(
        ValueError,
        match="output activation 'exp' \\(loss='poisson'\\); supported "
        "output activations: softmax, logistic, identity",
    ):
        from_sklearn(poisson)


# ---------------------------------------------------------------------------- optional imports
@pytest.mark.parametrize(
    "call, module, extra",
    [
        (lambda path: to_torch(build("relu", "float32")), "torch", "torch"),
        (lambda path: from_torch(None), "torch", "torch"),
        (lambda path: to_onnx(build("relu", "float32"), path), "onnx", "onnx"),
        (lambda path: from_sklearn(None), "sklearn", "data"),
    ],
)
def test_missing_extra_names_the_install(monkeypatch, tmp_path, call, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled package looks like
    with pytest.raises(
        ImportError,
        match=rf"needs .*, which is not installed\. Install it with: "
        rf"pip install 'glassnet\[{extra}\]'",
    ):
        call(tmp_path / "net.onnx")
    assert list(tmp_path.iterdir()) == []


def test_importing_glassnet_imports_no_heavy_package():
    code = (
        "import sys, glassnet, glassnet.interop; "
        "print([m for m in ('torch', 'onnx', 'onnxruntime', 'sklearn') if sys.modules.get(m)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
