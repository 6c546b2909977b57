"""Model files: exact round trips, training state, and refusal of bad, foreign and unsafe files."""

import os
import re

import numpy as np
import pytest

import glassnet
from glassnet import Dense, Network, Residual, load, mlp, save
from glassnet.activations import Tanh
from glassnet.data import StandardScaler
from glassnet.layers import Dropout


def make_net(kind, dtype):
    rng = np.random.default_rng(0)
    if kind == "plain":
        net = mlp([4, 6, 3], activation="tanh", loss="cross_entropy", seed=rng, dtype=dtype)
    elif kind == "residual":
        net = Network([Dense(4, 5, "relu", seed=rng, dtype=dtype),
                       Residual(Dense(5, 5, "tanh", seed=rng, dtype=dtype),
                                Dense(5, 5, "elu", seed=rng, dtype=dtype)),
                       Dense(5, 1, "sigmoid", seed=rng, dtype=dtype)],
                      loss="binary_cross_entropy", dtype=dtype)
    else:
        net = Network([Dropout(0.1, width=4, seed=1), Dense(4, 6, {"name": "leaky_relu", "slope": 0.2},
                                                             seed=rng, dtype=dtype),
                       Dropout(0.5, seed=2), Dense(6, 2, seed=rng, dtype=dtype)],
                      loss={"name": "huber", "delta": 0.5}, dtype=dtype, l2=1e-3)
    for p in net.params().values():  # nonzero biases too
        p[...] = rng.normal(scale=0.5, size=p.shape)
    return net


def data(n=12, seed=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), rng.integers(0, 3, n)


@pytest.fixture
def saved(tmp_path):
    """A real model file and the network it holds."""
    net = make_net("plain", "float32")
    path = tmp_path / "model.npz"
    save(net, path)
    return path, net


def rewrite(src, dst, change):
    """Copy the arrays of ``src`` to ``dst`` with ``change(arrays)`` applied, using np.savez."""
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return dst


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["plain", "residual", "dropout"])
def test_round_trip_reproduces_predictions_exactly(tmp_path, kind, dtype):
    net = make_net(kind, dtype)
    X, _ = data()
    path = tmp_path / "m.npz"
    net.save(path)
    loaded = load(path)
    assert loaded.dtype == net.dtype
    assert repr(loaded) == repr(net)
    assert loaded.summary() == net.summary()
    assert loaded.config() == net.config()
    assert list(loaded.params()) == list(net.params())
    for key, p in net.params().items():
        q = loaded.params()[key]
        assert q.dtype == p.dtype
        np.testing.assert_array_equal(q, p, err_msg=key)
    np.testing.assert_array_equal(loaded.predict_output(X), net.predict_output(X))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_round_trip_keeps_loss_penalties_scaler_info_history_and_optimizer(tmp_path):
    rng = np.random.default_rng(4)
    X = 5 + 3 * rng.standard_normal((40, 4))
    y = rng.integers(0, 3, 40)
    net = mlp([4, 6, 3], activation="tanh", loss="cross_entropy", l2=0.01, l1=0.002, seed=0)
    net.scaler = StandardScaler().fit(X)
    net.info = {"note": "round trip", "n": 3, "nested": {"list": [1, 2.5, None]}}
    net.fit(X, y, epochs=2, batch_size=8, optimizer="adam", learning_rate=0.01, seed=0, progress=False,
            metrics=["accuracy"])
    path = tmp_path / "trained.npz"
    save(net, path)
    loaded = load(path)

    assert loaded.loss_fn.name == "cross_entropy"
    assert (loaded.l2, loaded.l1) == (0.01, 0.002)
    assert loaded.loss(net.scaler.transform(X), y) == net.loss(net.scaler.transform(X), y)
    assert isinstance(loaded.scaler, StandardScaler)
    np.testing.assert_array_equal(loaded.scaler.mean_, net.scaler.mean_)
    np.testing.assert_array_equal(loaded.scaler.scale_, net.scaler.scale_)
    np.testing.assert_array_equal(loaded.predict_output(X), net.predict_output(X))  # raw inputs
    assert loaded.info == net.info
    assert len(loaded.history) == 2
    assert loaded.history.to_dict() == net.history.to_dict()

    config, arrays = net.optimizer.state_dict()
    config2, arrays2 = loaded.optimizer.state_dict()
    assert type(loaded.optimizer) is type(net.optimizer)
    assert config2 == config and config["iterations"] == 10
    assert sorted(arrays2) == sorted(arrays) and arrays  # Adam has moment arrays
    for key in arrays:
        np.testing.assert_array_equal(arrays2[key], arrays[key], err_msg=key)
        assert arrays2[key].dtype == arrays[key].dtype


def test_untrained_net_has_no_training_state(saved):
    path, _ = saved
    loaded = load(path)
    assert loaded.optimizer is None and loaded.history is None and loaded.scaler is None
    assert loaded.info == {}


def test_saving_twice_overwrites(tmp_path):
    path = tmp_path / "m.npz"
    first, second = make_net("plain", "float32"), make_net("plain", "float32")
    for p in second.params().values():
        p += 1
    save(first, path)
    save(second, path)
    np.testing.assert_array_equal(load(path).params()["0.W"], second.params()["0.W"])
    assert os.listdir(tmp_path) == ["m.npz"]


# ---------------------------------------------------------------------- refused files
def test_missing_file_raises_file_not_found(tmp_path):
    path = tmp_path / "nowhere.npz"
    with pytest.raises(FileNotFoundError, match=rf"No model file at {re.escape(str(path))}\."):
        load(path)


def test_corrupt_file_raises_naming_it(tmp_path):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is not a readable glassnet model file") as info:
        load(path)
    assert "pickle" not in str(info.value)


def test_truncated_file_raises_naming_it(saved, tmp_path):
    path, _ = saved
    content = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=rf"{re.escape(str(truncated))} is not a readable glassnet model file"):
        load(truncated)


def test_foreign_npz_raises_naming_it(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones((3, 3)), labels=np.arange(3))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is not a glassnet model file: it has no "
                                         r"'__glassnet__' header\."):
        load(path)


def test_text_file_raises_naming_it(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are not the weights you are looking for\n" * 20)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is not a readable glassnet model file") as info:
        load(path)
    assert "pickle" not in str(info.value)  # not mistaken for a pickle


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_damaged_zip_raises_naming_it(saved, tmp_path, where):
    """Bytes overwritten inside a real file (its zip directory intact)."""
    path, _ = saved
    content = bytearray(path.read_bytes())
    i = int(len(content) * where)
    content[i:i + 16] = b"\xff" * 16
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=re.escape(str(damaged))):
        load(damaged)


def test_empty_file_raises_naming_it(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load(path)


@pytest.mark.parametrize("header, message", [
    ("not json {", r"the model header is not valid JSON"),
    ('{"format": "other"}', r"is not a glassnet model file \(its header names another format\)"),
    ('["glassnet"]', r"is not a glassnet model file \(its header names another format\)"),
    ('{"format": "glassnet", "version": 99}', r"has model format version 99; this glassnet reads version 1"),
    ('{"format": "glassnet", "version": 1}', r"the architecture in the header is invalid"),
])
def test_bad_header_raises(saved, tmp_path, header, message):
    path = rewrite(saved[0], tmp_path / "bad.npz", lambda a: a.update(__glassnet__=np.array(header)))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*{message}"):
        load(path)


_EXECUTED = []


def _payload(marker):
    """What unpickling would run: leaves a trace in a file and in a global."""
    _EXECUTED.append(marker)
    with open(marker, "w") as f:
        f.write("executed")
    return "pwned"


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_payload, (self.marker,))


def test_pickled_object_is_refused_without_running_it(saved, tmp_path):
    marker = str(tmp_path / "marker")
    path = rewrite(saved[0], tmp_path / "evil.npz",
                   lambda a: a.update(payload=np.array([Evil(marker), {"a": 1}], dtype=object)))
    _EXECUTED.clear()
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} holds pickled objects; glassnet "
                                         r"refuses to load them because unpickling can run code"):
        load(path)
    assert not os.path.exists(marker) and _EXECUTED == []
    # the payload is real: loading with pickles allowed would have run it
    with np.load(path, allow_pickle=True) as npz:
        npz["payload"]
    assert os.path.exists(marker) and _EXECUTED == [marker]


def test_pickled_parameter_is_refused(saved, tmp_path):
    path = rewrite(saved[0], tmp_path / "obj.npz",
                   lambda a: a.update({"0.W": np.array([{"a": 1}], dtype=object)}))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} holds pickled objects"):
        load(path)


def test_missing_array_raises(saved, tmp_path):
    path = rewrite(saved[0], tmp_path / "missing.npz", lambda a: a.pop("1.W"))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: the arrays do not match the architecture "
                                         r"in the header \(missing: \['1\.W'\], unexpected: none\)"):
        load(path)


def test_extra_array_raises(saved, tmp_path):
    path = rewrite(saved[0], tmp_path / "extra.npz", lambda a: a.update({"2.W": np.ones((2, 2), "float32")}))
    with pytest.raises(ValueError, match=r"\(missing: none, unexpected: \['2\.W'\]\)"):
        load(path)


def test_wrong_shape_raises(saved, tmp_path):
    path = rewrite(saved[0], tmp_path / "shape.npz", lambda a: a.update({"0.W": np.ones((4, 6), "float32")}))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: array '0\.W' has shape \(4, 6\) and dtype "
                                         r"float32; the header's architecture needs \(6, 4\) and float32\."):
        load(path)


def test_wrong_dtype_raises(saved, tmp_path):
    path = rewrite(saved[0], tmp_path / "dtype.npz",
                   lambda a: a.update({"0.b": a["0.b"].astype("float64")}))
    with pytest.raises(ValueError, match=r"array '0\.b' has shape \(6,\) and dtype float64; the header's "
                                         r"architecture needs \(6,\) and float32"):
        load(path)


def test_non_finite_weights_raise(saved, tmp_path):
    def poison(arrays):
        arrays["1.b"] = arrays["1.b"].copy()
        arrays["1.b"][0] = np.nan

    path = rewrite(saved[0], tmp_path / "nan.npz", poison)
    with pytest.raises(ValueError, match=r"array '1\.b' contains NaN or inf"):
        load(path)


# ---------------------------------------------------------------------- saving safely
def test_interrupted_save_leaves_old_file_and_no_temp_files(saved, monkeypatch):
    path, old = saved
    new = make_net("plain", "float32")
    for p in new.params().values():
        p += 1

    def crash(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save(new, path)
    monkeypatch.undo()
    assert os.listdir(path.parent) == [path.name]
    loaded = load(path)
    for key, p in old.params().items():
        np.testing.assert_array_equal(loaded.params()[key], p)


def test_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save(make_net("plain", "float32"), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


class MyTanh:
    """A user's own activation (follows the protocol, not in the registry)."""

    name = "my_tanh"

    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z, a):
        return 1 - a * a

    def backward(self, z, a, grad_a):
        return grad_a * (1 - a * a)

    def jvp(self, z, a, dz):
        return dz * (1 - a * a)


class Tanh2(Tanh):
    """Passes itself off under a registry name."""


@pytest.mark.parametrize("activation, name", [(MyTanh(), "my_tanh"), (Tanh2(), "tanh")])
@pytest.mark.parametrize("inside_residual", [False, True])
def test_custom_activation_refuses_to_save(tmp_path, activation, name, inside_residual):
    inner = Dense(3, 3, activation, seed=0)
    layer = Residual(inner) if inside_residual else inner
    net = Network([layer, Dense(3, 1, seed=1)])
    path = tmp_path / "custom.npz"
    with pytest.raises(ValueError, match=rf"Cannot save the network to .*: the activation of "
                                         rf"layer 0(\.0)?, '{name}' \(class .*\), is not one of "
                                         r"glassnet's own .*; model files hold no code"):
        save(net, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_loading_never_unpickles(saved, monkeypatch):
    """No pickle function runs while loading, and every .npy read refuses pickles."""
    import pickle

    import numpy.lib.format as npy_format

    path, net = saved
    calls = []
    real_read_array = npy_format.read_array

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle", False))
        return real_read_array(*args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while loading a model")

    monkeypatch.setattr(npy_format, "read_array", spy)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    loaded = glassnet.load(path)
    assert calls and not any(calls)
    monkeypatch.undo()
    with np.load(path, allow_pickle=False) as npz:  # every array reads without pickle
        arrays = {k: npz[k] for k in npz.files}
    assert all(a.dtype != object for a in arrays.values())
    assert "__glassnet__" in arrays and set(net.params()) <= set(arrays)
    np.testing.assert_array_equal(loaded.params()["0.W"], net.params()["0.W"])
