"""Values beyond the network's dtype: refused where they are, never an infinity in a cast.

Every path that turns user data into a network's dtype goes through
``glassnet.data._checks.as_dtype`` (the readers check with ``check_fits``, the same rule):
the CSV and NPZ readers, memory-mapped ``.npy`` batches, IDX arrays, arrays given to ``fit``,
``predict`` and ``loss``, targets, the scikit-learn estimators and the scalers. A RuntimeWarning
would fail these tests (pytest runs with filterwarnings=error).
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from glassnet import Dense, Network
from glassnet.cli import main
from glassnet.data import (MinMaxScaler, StandardScaler, load_data, open_memmap_dataset,
                           read_csv, read_idx)

FLOAT32_MAX = float(np.finfo(np.float32).max)  # 3.4028235e38
BEYOND_FLOAT32 = [1e39, -1e39, 3.5e38]  # finite float64 numbers float32 cannot hold
WITHIN_FLOAT32 = 3.4e38
BEYOND = (r"the value {v} in {at} is beyond the range of float32 \(largest magnitude "
          r"3\.40282e\+38\); rescale that column \(e\.g\. divide it by 1e\+\d\d\), or in Python "
          r"use a float64 network \(dtype='float64'\)\.")


def beyond(value, at):
    return BEYOND.format(v=f"{value:.6g}".replace("+", r"\+"), at=at)


def features(value, n=40, seed=0):
    """``(X, y)``: 2 features, ``value`` at row 7, column 1; labels 0/1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    X[7, 1] = value
    return X, (X[:, 0] > 0).astype(np.int64)


def write_csv(path, X, y):
    lines = ["a,b,label"] + [f"{a!r},{b!r},{t}" for (a, b), t in zip(X.tolist(), y.tolist())]
    path.write_text("\n".join(lines) + "\n")
    return path


def net_for(dtype, n_out=2, scaled=True, X=None):
    net = Network([Dense(2, 3, "tanh", seed=0, dtype=dtype), Dense(3, n_out, "softmax", seed=1,
                                                                    dtype=dtype)],
                  loss="cross_entropy", dtype=dtype)
    if scaled:
        net.scaler = StandardScaler().fit(X)
    return net


# ---------------------------------------------------------------- the readers
@pytest.mark.parametrize("value", BEYOND_FLOAT32)
def test_csv_reader_refuses_naming_file_line_and_column(tmp_path, value):
    path = write_csv(tmp_path / "d.csv", *features(value))
    with pytest.raises(ValueError, match=r"d\.csv, line 9, column 1 \('b'\): "
                                         + beyond(value, "@").replace(" in @", "")):
        read_csv(path)
    for spec in (f"csv:{path}", f"csv:{path}:label"):
        with pytest.raises(ValueError, match=r"line 9, column 1 \('b'\).*beyond the range"):
            load_data(spec)
    X, _, _ = read_csv(path, range_of="float64")  # a float64 network can take it
    assert X[7, 1] == value and X.dtype == np.float64
    assert load_data(f"csv:{path}", range_of="float64").X[7, 1] == value


def test_csv_target_column_is_not_a_feature(tmp_path):
    """The range check is for features: a target of 1e39 is a regression target (checked as
    ``y`` when the loss takes it) or a class label (kept exactly)."""
    X, _ = features(0.5)
    path = tmp_path / "t.csv"
    path.write_text("a,b,t\n" + "".join(f"{a},{b},{1e39 * (i % 3 + 1)}\n"
                                         for i, (a, b) in enumerate(X.tolist())))
    _, y, _ = read_csv(path)
    assert y.max() == 3e39


@pytest.mark.parametrize("value", BEYOND_FLOAT32)
@pytest.mark.parametrize("key", ["X", "X_test"])
def test_npz_spec_refuses_naming_the_array_row_and_column(tmp_path, value, key):
    X, y = features(value)
    good, _ = features(0.5)
    arrays = {"X": good, "y": y, "X_test": good, "y_test": y, key: X}
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ValueError, match=rf"data 'npz:\S+d\.npz': {key}: "
                                         + beyond(value, "row 7, column 1")):
        load_data(f"npz:{tmp_path / 'd.npz'}")
    assert load_data(f"npz:{tmp_path / 'd.npz'}", range_of="float64").n_features == 2


@pytest.mark.parametrize("value", BEYOND_FLOAT32)
def test_npy_memmap_batches_refuse_naming_the_file(tmp_path, value):
    X, y = features(value)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    X_map, y_map = open_memmap_dataset(tmp_path / "X.npy", tmp_path / "y.npy")
    net = net_for("float32", scaled=False)
    with pytest.raises(ValueError, match=r"X \(\S+X\.npy, epoch 1, batch 1\): "
                                         + beyond(value, "row 7, column 1")):
        net.fit(X_map, y_map, epochs=1, batch_size=40, shuffle=False, progress=False)
    data = load_data(f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}")  # not read at load
    assert isinstance(data.X, np.memmap)
    net64 = net_for("float64", X=X)
    net64.fit(X_map, y_map, epochs=1, batch_size=40, shuffle=False, progress=False)


@pytest.mark.parametrize("value", BEYOND_FLOAT32)
def test_idx_arrays_refused_by_a_float32_network(tmp_path, value):
    X, y = features(value)
    header = bytes([0, 0, 0x0E, 2]) + struct.pack(">2I", *X.shape)
    (tmp_path / "x.idx.gz").write_bytes(gzip.compress(header + X.astype(">f8").tobytes()))
    X_idx = read_idx(tmp_path / "x.idx.gz")
    with pytest.raises(ValueError, match="^X: " + beyond(value, "row 7, column 1")):
        net_for("float32", scaled=False).predict(X_idx)
    assert net_for("float64", X=X_idx).predict(X_idx).shape == (40,)


# ---------------------------------------------------------------- arrays given to a network
CALLS = {
    "fit": lambda net, X, y: net.fit(X, y, epochs=1, batch_size=8, progress=False),
    "predict": lambda net, X, y: net.predict(X),
    "predict_output": lambda net, X, y: net.predict_output(X),
    "loss": lambda net, X, y: net.loss(X, y),
    "check_X": lambda net, X, y: net.check_X(X),
}


@pytest.mark.parametrize("call, scaled", [(call, scaled) for call in sorted(CALLS)
                                           for scaled in (False, True)
                                           if not scaled or call not in ("loss", "check_X")])
@pytest.mark.parametrize("value", BEYOND_FLOAT32)
def test_network_methods_refuse_beyond_float32(call, value, scaled):
    """With and without a scaler (loss and check_X take inputs already scaled)."""
    X, y = features(value)
    net = net_for("float32", scaled=scaled, X=X)
    with pytest.raises(ValueError, match="^X: " + beyond(value, "row 7, column 1")):
        CALLS[call](net, X, y)


@pytest.mark.parametrize("call", ["fit", "predict", "predict_output"])
@pytest.mark.parametrize("value", [*BEYOND_FLOAT32, WITHIN_FLOAT32])
def test_float64_network_takes_them(call, value):
    X, y = features(value)
    CALLS[call](net_for("float64", X=X), X, y)


@pytest.mark.parametrize("call", ["fit", "predict"])
def test_float32_takes_values_within_its_range(call):
    X, y = features(WITHIN_FLOAT32)
    CALLS[call](net_for("float32", X=X), X, y)
    CALLS[call](net_for("float32", X=X), X.astype(np.float32), y)


@pytest.mark.parametrize("value", BEYOND_FLOAT32)
def test_regression_targets_beyond_float32(value):
    X, _ = features(0.5)
    y = np.linspace(0, 1, len(X))
    y[11] = value
    net = Network([Dense(2, 1, "identity", seed=0)], loss="mse")
    with pytest.raises(ValueError, match="^y: " + beyond(value, "row 11, column 0")):
        net.fit(X, y, epochs=1, progress=False)


def test_nan_still_refused_as_nan():
    X, y = features(np.nan)
    with pytest.raises(ValueError, match=r"^X contains NaN or inf\. Remove or impute"):
        net_for("float32", scaled=False).predict(X)


# ---------------------------------------------------------------- scalers
@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_scalers_fit_large_float32_data_without_overflow(cls):
    """Means and variances accumulate in float64: 1e31 squared overflows float32, not them."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(1000, 3)) * 1e30 + 1e31).astype(np.float32)
    scaler = cls().fit(X)
    T = scaler.transform(X)
    assert T.dtype == np.float32 and np.all(np.isfinite(T))
    back = scaler.inverse_transform(T)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, X, rtol=1e-5)
    if cls is StandardScaler:
        np.testing.assert_allclose(scaler.mean_, X.astype(np.float64).mean(0), rtol=1e-12)
        np.testing.assert_allclose(scaler.scale_, X.astype(np.float64).std(0), rtol=1e-12)
    X[0, 0], X[1, 1] = FLOAT32_MAX, -FLOAT32_MAX  # the ends of float32 itself
    scaler = cls().fit(X)
    T = scaler.transform(X)
    assert T.dtype == np.float32 and np.all(np.isfinite(T))


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_scalers_at_the_ends_of_float32(cls):
    """MinMaxScaler's inverse multiplies by the range 6.8e38, beyond float32: computed in
    float64 where float32 overflows, and the result, within float32, comes back."""
    X = np.array([[-FLOAT32_MAX], [0.0], [FLOAT32_MAX]], dtype=np.float32)
    scaler = cls(floor=0.0).fit(X)
    T = scaler.transform(X)
    assert T.dtype == np.float32 and np.all(np.isfinite(T))
    back = scaler.inverse_transform(T)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, X, rtol=1e-6, atol=1e32)


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_scaler_output_beyond_float32_is_refused(cls):
    scaler = cls(floor=0.0).fit(np.array([[0.0], [1e-10]]))
    with pytest.raises(ValueError, match=r"^X: the value .* in row 0, column 0 is beyond the "
                                         r"range of float32"):
        scaler.transform(np.array([[1e30]], dtype=np.float32))


# ---------------------------------------------------------------- scikit-learn estimators
@pytest.mark.parametrize("value", BEYOND_FLOAT32)
@pytest.mark.parametrize("which", ["MLPClassifier", "MLPRegressor"])
def test_sklearn_estimators_refuse_beyond_float32(value, which):
    pytest.importorskip("sklearn")
    import glassnet.sklearn as gs

    X, y = features(value)
    est = getattr(gs, which)(hidden_layer_sizes=(3,), max_iter=2, dtype="float32")
    with pytest.raises(ValueError, match="^X: " + beyond(value, "row 7, column 1")):
        est.fit(X, y)


# ---------------------------------------------------------------- the command line
@pytest.mark.parametrize("value", BEYOND_FLOAT32)
def test_cli_train_and_predict_refuse_in_one_line(tmp_path, value, capsys):
    bad = write_csv(tmp_path / "bad.csv", *features(value))
    good = write_csv(tmp_path / "good.csv", *features(0.5))
    assert main(["train", "--data", f"csv:{bad}", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "m.npz")]) in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glassnet: error: ")
    assert "bad.csv, line 9, column 1 ('b')" in err[0] and "beyond the range of float32" in err[0]
    assert not (tmp_path / "m.npz").exists()
    assert main(["train", "--data", f"csv:{good}", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "m.npz")]) == 0
    capsys.readouterr()
    inputs = tmp_path / "in.csv"
    X, _ = features(value)
    inputs.write_text("a,b\n" + "".join(f"{a!r},{b!r}\n" for a, b in X.tolist()))
    assert main(["predict", str(tmp_path / "m.npz"), "--input", str(inputs),
                 "--output", str(tmp_path / "p.csv")]) in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in.csv, line 9, column 1 ('b')" in err[0]
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("memmapped", [False, True])
def test_standardising_values_whose_squares_overflow_is_refused_not_warned(tmp_path, memmapped):
    """StandardScaler sums squares in float64: a column of 1e300 would make its variance inf
    (a RuntimeWarning, then nonsense); it is refused naming the column. MinMaxScaler sums
    nothing and takes it."""
    X = np.ones((40, 3))
    X[5, 1] = 1e300
    if memmapped:
        np.save(tmp_path / "X.npy", X)
        X = np.load(tmp_path / "X.npy", mmap_mode="r")
    with pytest.raises(ValueError, match=r"column 1 holds 1e\+300, whose square overflows"):
        StandardScaler().fit(X)
    assert MinMaxScaler().fit(X).transform(np.asarray(X))[5, 1] == 1.0
