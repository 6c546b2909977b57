"""The GPU path (glassnet.device): a network on ``device='cuda'`` computes what it computes on the CPU.

Every comparison runs for each device in DEVICES: on a machine without CuPy or without a GPU
the ``cuda`` cases skip (``cupy.cuda.is_available()`` is the check) and the ``cpu`` cases
still run the same code, so the tests themselves are exercised everywhere. The reference is
always a float64 network trained on the CPU; GPU and CPU differ only in the order of the
sums inside the matrix products (rtol 1e-9 after training).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import glassnet
from glassnet import Dense, Network, Residual, gradcheck, jacobian, mlp
from glassnet.device import DEVICES, check_device, cuda_available, get_device, set_device, to_numpy
from glassnet.diagnostics import GradientMonitor
from glassnet.layers import Dropout
from glassnet.optim import SGD
from glassnet.schedules import Cosine

HAS_CUPY = importlib.util.find_spec("cupy") is not None
GPU = HAS_CUPY and cuda_available()
on_devices = pytest.mark.parametrize("device", [
    pytest.param(d, marks=pytest.mark.skipif(d == "cuda" and not GPU, reason="no CUDA GPU with CuPy"))
    for d in DEVICES])
needs_gpu = pytest.mark.skipif(not GPU, reason="no CUDA GPU with CuPy")
RTOL, ATOL = 1e-9, 1e-12


def on(device, x):
    """Whether ``x`` is an array of ``device``."""
    return type(x).__module__.startswith("cupy" if device == "cuda" else "numpy")


def data(n=96, n_in=5, kind="classes", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    if kind == "classes":
        return X, rng.integers(0, 3, n)
    if kind == "binary":
        return X, rng.integers(0, 2, n)
    return X, rng.normal(size=(n, 2))


def nets(device, build):
    """The same float64 network built twice (seeded): a CPU reference and one on ``device``."""
    return build(), build().to(device)


def assert_same_params(net, ref):
    for key, p in net.params().items():
        np.testing.assert_allclose(to_numpy(p), ref.params()[key], rtol=RTOL, atol=ATOL, err_msg=key)


ARCHS = {
    # the hot path: fused softmax/cross-entropy, plain SGD folds the learning rate
    "relu-softmax": (lambda: mlp([5, 16, 8, 3], "relu", "softmax", seed=1, dtype="float64"),
                     "classes", {}),
    # the hot path: fused sigmoid/binary cross-entropy, sample weights, tanh
    "tanh-sigmoid": (lambda: mlp([5, 12, 1], "tanh", "sigmoid", loss="binary_cross_entropy",
                                 seed=2, dtype="float64"), "binary",
                     {"sample_weight": np.linspace(0.5, 2, 96)}),
    # the hot path, not fused: mse, with L2 and L1 penalties
    "sigmoid-mse": (lambda: mlp([5, 10, 2], "sigmoid", l2=1e-2, l1=1e-3, seed=3, dtype="float64"),
                    "rows", {}),
    # the hot path with Dropout: masks drawn on the host, applied on the device
    "relu-dropout": (lambda: mlp([5, 16, 8, 3], "relu", "softmax", dropout=0.3, seed=5,
                                 dtype="float64"), "classes", {}),
    # the reference path: Residual and Dropout layers
    "residual-dropout": (lambda: mlp([5, 8, 8, 8, 3], "relu", "softmax", residual=True,
                                     dropout=0.2, seed=4, dtype="float64"), "classes", {}),
}


@on_devices
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "nesterov"])
def test_fit_on_device_equals_fit_on_cpu(device, arch, optimizer):
    build, kind, extra = ARCHS[arch]
    ref, net = nets(device, build)
    X, y = data(kind=kind)
    args = dict(epochs=3, batch_size=20, learning_rate=0.05, seed=7,
                progress=False, metrics=["mse"] if kind == "rows" else ["accuracy"],
                validation_split=0.2, **extra)
    make = (lambda: SGD(momentum=0.9, nesterov=True)) if optimizer == "nesterov" \
        else (lambda: optimizer)
    h_ref, h = ref.fit(X, y, optimizer=make(), **args), net.fit(X, y, optimizer=make(), **args)
    assert_same_params(net, ref)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h[key], h_ref[key], rtol=RTOL)
    assert all(on(device, p) for p in net.params().values())  # the weights stayed there
    assert all(on(device, g) for g in net.grads().values())
    np.testing.assert_allclose(net.predict_output(X), ref.predict_output(X), rtol=RTOL, atol=ATOL)


@on_devices
def test_predict_returns_numpy_and_takes_device_inputs(device):
    ref, net = nets(device, ARCHS["relu-softmax"][0])
    X, _ = data()
    for inputs in (X, net.to_device(X)):
        out = net.predict_output(inputs, batch_size=40)  # all Dense: the preallocated path
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, ref.predict_output(X), rtol=RTOL, atol=ATOL)
        labels = net.predict(inputs)
        assert isinstance(labels, np.ndarray)
        np.testing.assert_array_equal(labels, ref.predict(X))
    ref2, net2 = nets(device, ARCHS["residual-dropout"][0])  # the layer-by-layer path
    np.testing.assert_allclose(net2.predict_output(X, batch_size=40), ref2.predict_output(X),
                               rtol=RTOL, atol=ATOL)


@on_devices
def test_forward_and_backprop_stay_on_device(device):
    ref, net = nets(device, ARCHS["residual-dropout"][0])
    X, y = data(n=10)
    a = net.forward(X)
    assert on(device, a)
    assert net.backprop(X, y, input_grad=True) == pytest.approx(ref.backprop(X, y, input_grad=True),
                                                                 rel=RTOL)
    assert on(device, net.grad_X)
    np.testing.assert_allclose(to_numpy(net.grad_X), ref.grad_X, rtol=RTOL, atol=ATOL)
    for key, g in net.grads().items():
        assert on(device, g)
        np.testing.assert_allclose(to_numpy(g), ref.grads()[key], rtol=RTOL, atol=ATOL, err_msg=key)
    assert net.loss(X, y) == pytest.approx(ref.loss(X, y), rel=RTOL)
    grad_X = glassnet.input_gradient(net, X, y)
    assert isinstance(grad_X, np.ndarray)
    np.testing.assert_allclose(grad_X, glassnet.input_gradient(ref, X, y), rtol=RTOL, atol=ATOL)


@on_devices
def test_glass_box_tools_take_a_device_network(device):
    ref, net = nets(device, lambda: mlp([4, 6, 3], "tanh", "softmax", seed=5, dtype="float64"))
    X, y = data(n=6, n_in=4)
    report = gradcheck(net, X, y)
    assert report.passed and report.max_rel_error < 1e-6
    for mode in ("reverse", "forward"):
        J = jacobian(net, X, mode=mode)
        assert isinstance(J, np.ndarray)
        np.testing.assert_allclose(J, jacobian(ref, X, mode=mode), rtol=RTOL, atol=ATOL)
    assert str(glassnet.explain(net, X[0], y[0])) == str(glassnet.explain(ref, X[0], y[0]))
    monitor = GradientMonitor()
    net.fit(X, y, epochs=2, batch_size=3, callbacks=[monitor], progress=False, seed=0)
    ref.fit(X, y, epochs=2, batch_size=3, callbacks=[GradientMonitor()], progress=False, seed=0)
    stats, ref_stats = monitor.snapshots[-1]["layers"], ref.history.epochs[-1]["gradients"][-1]["layers"]
    for key in ref_stats:
        for name, value in ref_stats[key].items():
            if isinstance(value, float):
                    assert stats[key][name] == pytest.approx(value, rel=1e-7, abs=1e-12), (key, name)


@on_devices
@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib not installed")
def test_plots_of_a_device_network(device, tmp_path):
    from glassnet import plots

    ref, net = nets(device, lambda: mlp([4, 6, 3], "tanh", "softmax", seed=5, dtype="float64"))
    X, y = data(n=30, n_in=4)
    plots.plot_histograms(net, X, path=tmp_path / "hist.png")
    plots.plot_saliency(net, X, y, image_shape=(2, 2), path=tmp_path / "saliency.png")
    plots.plot_decision_boundary(mlp([2, 5, 3], "tanh", "softmax", seed=0, device=device),
                                 X[:, :2], y, resolution=20, path=tmp_path / "boundary.png")
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("hist.png", "saliency.png", "boundary.png"))


@on_devices
def test_save_load_and_continue(device, tmp_path):
    ref, net = nets(device, ARCHS["relu-softmax"][0])
    X, y = data()
    args = dict(epochs=2, batch_size=16, optimizer="adam", learning_rate=0.01, seed=3,
                progress=False)
    ref.fit(X, y, **args)
    net.fit(X, y, **args)
    net.save(tmp_path / "model.npz")
    loaded = glassnet.load(tmp_path / "model.npz")  # the default device: the CPU
    assert loaded.device == "cpu"
    assert_same_params(loaded, ref)
    _, state = loaded.optimizer.state_dict()
    _, ref_state = ref.optimizer.state_dict()
    for key, value in ref_state.items():
        np.testing.assert_allclose(state[key], value, rtol=RTOL, atol=ATOL, err_msg=key)
    # the loaded optimiser state follows the network to the device at its next step
    loaded.to(device)
    loaded.fit(X, y, **dict(args, optimizer=None, seed=4))
    ref.fit(X, y, **dict(args, optimizer=None, seed=4))
    assert_same_params(loaded, ref)
    # and back: train on the device, then on the CPU
    net.to("cpu")
    net.fit(X, y, **dict(args, optimizer=None, seed=4))
    assert all(isinstance(p, np.ndarray) for p in net.params().values())
    assert_same_params(net, ref)


@on_devices
def test_checkpoint_resume_on_device_is_identical(device, tmp_path):
    ref, net = nets(device, ARCHS["residual-dropout"][0])
    X, y = data()
    args = dict(batch_size=16, optimizer="adam", learning_rate=0.01, seed=3, progress=False,
                validation_split=0.25, early_stopping=5)
    full = ARCHS["residual-dropout"][0]().to(device)
    full.fit(X, y, epochs=4, lr_schedule=Cosine(total=4), **args)
    net.fit(X, y, epochs=2, checkpoint_dir=tmp_path, lr_schedule=Cosine(total=4), **args)
    resumed = ARCHS["residual-dropout"][0]().to(device)
    resumed.fit(X, y, epochs=4, checkpoint_dir=tmp_path, resume=True, lr_schedule=Cosine(total=4),
                **args)
    for key, p in resumed.params().items():
        assert on(device, p)
        np.testing.assert_array_equal(to_numpy(p), to_numpy(full.params()[key]), err_msg=key)
    ref.fit(X, y, epochs=4, lr_schedule=Cosine(total=4), **args)
    assert_same_params(full, ref)


@on_devices
def test_memmap_inputs_on_device(device, tmp_path):
    ref, net = nets(device, ARCHS["relu-softmax"][0])
    X, y = data()
    path = tmp_path / "X.npy"
    np.save(path, X)
    X_mm = np.load(path, mmap_mode="r")
    args = dict(epochs=2, batch_size=16, optimizer="sgd", learning_rate=0.1, seed=1,
                progress=False, metrics=["accuracy"])
    net.fit(X_mm, y, **args)
    ref.fit(X, y, **args)
    assert_same_params(net, ref)


@on_devices
def test_set_device_is_the_default_for_new_networks(device, tmp_path):
    before = get_device()
    mlp([2, 3, 1], seed=0).save(tmp_path / "m.npz")
    try:
        set_device(device)
        assert get_device() == device
        net = mlp([2, 3, 1], seed=0)
        assert net.device == device and on(device, net.layers[0].W)
        assert glassnet.load(tmp_path / "m.npz").device == device
        assert Network([Dense(2, 1)], device="cpu").device == "cpu"  # an explicit device wins
    finally:
        set_device(before)
    assert mlp([2, 3, 1]).device == before


def test_device_errors():
    with pytest.raises(ValueError, match=r"'device' parameter must be one of \['cpu', 'cuda'\]; got 'gpu'"):
        mlp([2, 1], device="gpu")
    with pytest.raises(ValueError, match="set_device takes one of"):
        set_device(None)
    assert check_device(None) == get_device()
    if not HAS_CUPY:
        with pytest.raises(ImportError, match=r"pip install 'glassnet\[gpu\]'"):
            mlp([2, 1], device="cuda")
    elif not GPU:
        with pytest.raises(ValueError, match="finds no CUDA GPU"):
            mlp([2, 1], device="cuda")


@on_devices
def test_cli_train_on_device(device, tmp_path, capsys):
    from glassnet.cli import main

    out = tmp_path / "model.npz"
    status = main(["train", "--device", device, "--epochs", "2", "--hidden", "32", "--quiet",
                   "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    net = glassnet.load(out)
    assert net.info["training"]["device"] == device
    assert net.device == "cpu" and net.n_params == 64 * 32 + 32 + 32 * 10 + 10


@pytest.mark.skipif(GPU, reason="a GPU is present")
def test_cli_train_without_a_gpu_says_why(tmp_path, capsys):
    from glassnet.cli import main

    status = main(["train", "--device", "cuda", "--epochs", "1", "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert status == 2
    assert ("glassnet[gpu]" in err) if not HAS_CUPY else ("finds no CUDA GPU" in err)
    assert not (tmp_path / "m.npz").exists()


def test_cpu_network_repr_and_to_cpu_keep_the_arrays():
    net = mlp([3, 4, 2], seed=0)
    W = net.layers[0].W
    assert net.to("cpu") is net and net.layers[0].W is W  # no copy on the same device
    assert "device" not in repr(net)
    assert net.xp is np
    from glassnet.device import on_device_of

    moved = on_device_of([1.0, 2.0], W)
    assert isinstance(moved, np.ndarray) and moved.tolist() == [1.0, 2.0]
    assert on_device_of(W, W) is W


@needs_gpu
def test_gpu_specifics():
    import cupy

    net = mlp([5, 16, 3], "relu", "softmax", seed=0, device="cuda")
    assert repr(net).endswith("device='cuda')") and net.xp is cupy
    X, y = data()
    with pytest.raises(ValueError, match="L-BFGS runs through scipy on the CPU"):
        net.fit(X, y, optimizer="lbfgs", progress=False)
    with pytest.raises(ValueError, match="Distributed training runs on the CPU"):
        net.fit(X, y, distributed=True, progress=False)
    # the fit keeps the parameters in one flat device array; a float32 path stays float32
    net.fit(X, y, epochs=1, batch_size=32, optimizer="adam", progress=False)
    assert all(isinstance(p, cupy.ndarray) and p.dtype == np.float32
               for p in list(net.params().values()) + list(net.grads().values()))
    state = net.optimizer._state
    assert all(isinstance(a, cupy.ndarray) and a.dtype == np.float32
               for slot in state.values() for a in slot.values())
    # inputs given as CuPy arrays are used in place
    h = net.fit(cupy.asarray(X), cupy.asarray(y), epochs=1, batch_size=32, progress=False)
    assert np.isfinite(h["loss"][0])


@needs_gpu
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_to_torch_from_a_gpu_network():
    from glassnet.interop import to_torch

    net = mlp([4, 6, 2], "tanh", seed=0, dtype="float64", device="cuda")
    X = np.random.default_rng(0).normal(size=(5, 4))
    import torch

    out = to_torch(net)(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(out, net.predict_output(X), rtol=1e-9)


def test_dense_residual_dropout_network_copies_keep_their_device():
    net = Network([Dense(3, 4, "relu", seed=0), Residual(Dense(4, 4, "tanh", seed=1)),
                   Dropout(0.5, seed=2), Dense(4, 2, seed=3)])
    copy = net.astype("float64")
    assert copy.device == net.device == "cpu"
    assert copy.layers[1].layers[0].W.dtype == np.float64
