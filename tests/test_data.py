"""Tests for glassnet.data."""

from __future__ import annotations

import gzip
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from glassnet import data as gd
from glassnet.data import (
    Data,
    MinMaxScaler,
    StandardScaler,
    iter_batches,
    load_arrays,
    load_data,
    load_mnist,
    load_npz,
    load_sklearn,
    make_2d,
    one_hot,
    open_memmap_dataset,
    read_csv,
    read_idx,
    scaler_from_dict,
    train_test_split,
    train_val_test_split,
)

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
         np.float64: 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr)
    code = CODES[arr.dtype.type]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = False) -> Path:
    raw = idx_bytes(arr)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_fake_mnist(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = False) -> None:
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        imgs[0, 0, 0] = 255
        imgs[0, 0, 1] = 0
        write_idx(folder / f"{prefix}-images-idx3-ubyte{sfx}", imgs, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{sfx}",
                  (np.arange(n) % 10).astype(np.uint8), gz)


# ----------------------------------------------------------------- IDX ----


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_round_trip(tmp_path, gz, dtype):
    rng = np.random.default_rng(1)
    arr = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    # The name gives no hint of compression: detection must use the magic bytes.
    got = read_idx(write_idx(tmp_path / "blob", arr, gz))
    assert got.dtype == np.dtype(dtype)
    assert got.dtype.isnative
    assert got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, arr)


def test_read_idx_wrong_magic(tmp_path):
    p = tmp_path / "bad-idx"
    p.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"bad-idx.*not an IDX file.*two zero bytes"):
        read_idx(p)


def test_read_idx_unknown_dtype(tmp_path):
    p = tmp_path / "code.idx"
    p.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"code\.idx.*unknown IDX dtype code 0x07"):
        read_idx(p)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_idx_truncated(tmp_path, gz):
    raw = idx_bytes(np.zeros((10, 28, 28), np.uint8))[:-100]
    p = tmp_path / "short-idx"
    p.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(ValueError, match=r"short-idx.*truncated.*7840 data bytes.*7740"):
        read_idx(p)


def test_read_idx_truncated_header(tmp_path):
    p = tmp_path / "hdr"
    p.write_bytes(b"\x00\x00\x08\x03" + b"\x00\x00")
    with pytest.raises(ValueError, match=r"hdr.*truncated.*header needs 16 bytes"):
        read_idx(p)


def test_read_idx_corrupt_gzip(tmp_path):
    p = tmp_path / "broken.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.zeros(50, np.uint8)))[:-10])
    with pytest.raises(ValueError, match=r"broken\.gz.*gzip"):
        read_idx(p)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_load_mnist_fake_folder(tmp_path, gz):
    write_fake_mnist(tmp_path, gz=gz)
    X, y = load_mnist(tmp_path)
    assert X.shape == (6, 784) and X.dtype == np.float32
    assert y.shape == (6,) and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert X[0, 0] == 1.0 and X[0, 1] == 0.0
    np.testing.assert_array_equal(y, np.arange(6) % 10)
    X_te, y_te = load_mnist(tmp_path, kind="test")
    assert X_te.shape == (4, 784) and y_te.shape == (4,)


def test_load_mnist_count_mismatch(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(
        ValueError,
        match=r"train-images-idx3-ubyte has 6 images but .*train-labels-idx1-ubyte has 5 labels",
    ):
        load_mnist(tmp_path)


def test_load_mnist_missing_files(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(
        FileNotFoundError, match=r"t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte\.gz"
    ):
        load_mnist(tmp_path, kind="test")
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*train-labels"):
        load_mnist(tmp_path)


def test_load_mnist_bad_kind(tmp_path):
    with pytest.raises(ValueError, match=r"'train' or 'test', got 'val'"):
        load_mnist(tmp_path, kind="val")


# ----------------------------------------------------------------- CSV ----


def test_read_csv_with_header_target_by_name(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,label,b\n1,0,2.5\n3,1,4\n\n5,2,6\n")
    X, y, names = read_csv(p, target="label")
    assert names == ["a", "b"]
    np.testing.assert_array_equal(X, [[1, 2.5], [3, 4], [5, 6]])
    assert X.dtype == np.float64
    np.testing.assert_array_equal(y, [0, 1, 2])
    assert y.dtype == np.int64


def test_read_csv_without_header_target_by_index(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("1,0.5,2\n3,1.5,4\n")
    X, y, names = read_csv(p)  # default: last column
    assert names == ["col0", "col1"]
    np.testing.assert_array_equal(X, [[1, 0.5], [3, 1.5]])
    np.testing.assert_array_equal(y, [2, 4])
    X, y, names = read_csv(p, target=1)
    assert names == ["col0", "col2"]
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [0.5, 1.5])
    X2, y2, _ = read_csv(p, target=-2)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_read_csv_header_forced(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("10,20,30\n1,2,3\n")
    X, y, names = read_csv(p, header=True)
    assert names == ["10", "20"] and X.shape == (1, 2)
    X, y, names = read_csv(p, header=False)
    assert X.shape == (2, 2)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("a,b,c\n1,2,3\n4,,6\n", r"line 3, column 1 \('b'\): missing value ''"),
        ("a,b,c\n1,2,3\n\n4,5,NA\n", r"line 4, column 2 \('c'\): missing value 'NA'"),
        ("a,b,c\n1,2,3\n4,x5,6\n", r"line 3, column 1 \('b'\): non-numeric value 'x5'"),
        ("1,2,3\n4,5,6\n7,8,oops\n", r"line 3, column 2: non-numeric value 'oops'"),
        ("a,b,c\n1,2,3\n4,5\n", r"line 3: expected 3 fields .* got 2"),
        ("a,b,c\n1,inf,3\n", r"line 2, column 1 \('b'\): value 'inf' is not finite"),
    ],
)
def test_read_csv_bad_values_name_the_line(tmp_path, text, pattern):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=pattern):
        read_csv(p)


def test_read_csv_unknown_target(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"no column named 'z'; the columns are 0: 'a', 1: 'b'"):
        read_csv(p, target="z")
    with pytest.raises(ValueError, match=r"target index 5 is out of range.*0: 'a', 1: 'b'"):
        read_csv(p, target=5)
    q = tmp_path / "nohead.csv"
    q.write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match=r"no header row; pass a column index"):
        read_csv(q, target="a")
    with pytest.raises(TypeError, match=r"target must be"):
        read_csv(q, target=1.5)


def test_read_csv_empty_and_header_only(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("\n\n")
    with pytest.raises(ValueError, match=r"no rows"):
        read_csv(p)
    p.write_text("a,b\n")
    with pytest.raises(ValueError, match=r"only a header row"):
        read_csv(p)


# ----------------------------------------------------------------- NPZ ----


def test_load_npz_and_arrays(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", X=X, y=y, feats=X * 2)
    X2, y2 = load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    X3, y3 = load_npz(tmp_path / "d.npz", x_key="feats", y_key=None)
    np.testing.assert_array_equal(X3, X * 2)
    assert y3 is None
    X4, y4 = load_arrays(tmp_path / "d.npz")
    np.testing.assert_array_equal(X4, X)
    np.testing.assert_array_equal(y4, y)
    np.save(tmp_path / "x.npy", X)
    X5, y5 = load_arrays(tmp_path / "x.npy")
    np.testing.assert_array_equal(X5, X)
    assert y5 is None


def test_load_npz_missing_key_lists_keys(tmp_path):
    np.savez(tmp_path / "d.npz", data=np.zeros((2, 2)), target=np.zeros(2))
    with pytest.raises(ValueError, match=r"no array named 'X'.*\['data', 'target'\]"):
        load_npz(tmp_path / "d.npz")
    with pytest.raises(ValueError, match=r"no array named 'y'.*\['data', 'target'\]"):
        load_npz(tmp_path / "d.npz", x_key="data")


def test_load_npz_length_mismatch(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)), y=np.zeros(2))
    with pytest.raises(ValueError, match=r"'X' has 3 rows but 'y' has 2"):
        load_npz(tmp_path / "d.npz")


def test_load_arrays_refuses_pickles_and_other_suffixes(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"obj\.npy.*never loads pickled"):
        load_arrays(tmp_path / "obj.npy")
    with pytest.raises(ValueError, match=r"expected a file ending in \.npz or \.npy, got '\.txt'"):
        load_arrays(tmp_path / "x.txt")


# ------------------------------------------------------------- sklearn ----


@pytest.mark.parametrize(
    ("name", "shape", "task"),
    [
        ("digits", (1797, 64), "classification"),
        ("iris", (150, 4), "classification"),
        ("wine", (178, 13), "classification"),
        ("breast_cancer", (569, 30), "classification"),
        ("diabetes", (442, 10), "regression"),
    ],
)
def test_load_sklearn(name, shape, task):
    pytest.importorskip("sklearn")
    X, y = load_sklearn(name)
    assert X.shape == shape and X.dtype == np.float64
    assert y.shape == (shape[0],)
    assert y.dtype == (np.int64 if task == "classification" else np.float64)
    assert gd.SKLEARN_DATASETS[name] == task


def test_load_sklearn_unknown_name():
    with pytest.raises(ValueError, match=r"unknown.*'mnist'.*'breast_cancer'.*'iris'"):
        load_sklearn("mnist")


def test_load_sklearn_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install glassnet\[data\]"):
        load_sklearn("iris")


# ----------------------------------------------------------- synthetic ----


@pytest.mark.parametrize("name", sorted(gd.SYNTHETIC_2D))
def test_make_2d_shapes_dtypes(name):
    X, y = make_2d(name, n_samples=101, noise=0.1, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,)
    assert np.all(np.isfinite(X)) and np.all(np.isfinite(y))
    if gd.SYNTHETIC_TASKS[name] == "classification":
        assert y.dtype == np.int64
        n_classes = 3 if name.endswith("3") else 2
        assert set(np.unique(y)) == set(range(n_classes))
        counts = np.bincount(y)
        assert counts.max() - counts.min() <= 30  # about even (noise moves some labels)
    else:
        assert y.dtype == np.float64
        assert np.unique(y).size > 50
    X0, _ = make_2d(name, n_samples=500, noise=0.0, seed=0)
    assert np.abs(X0).max() <= 6.0


@pytest.mark.parametrize("name", sorted(gd.SYNTHETIC_2D))
def test_make_2d_seeded(name):
    X1, y1 = make_2d(name, 200, 0.2, seed=7)
    X2, y2 = make_2d(name, 200, 0.2, seed=7)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, y3 = make_2d(name, 200, 0.2, seed=8)
    assert not np.array_equal(X1, X3)
    X4, y4 = make_2d(name, 200, 0.2, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(X1, X4)


@pytest.mark.parametrize("name", sorted(gd.SYNTHETIC_2D))
def test_make_2d_noise_changes_data(name):
    X0, y0 = make_2d(name, 300, 0.0, seed=1)
    X1, y1 = make_2d(name, 300, 0.3, seed=1)
    assert not (np.array_equal(X0, X1) and np.array_equal(y0, y1))


def test_make_2d_noise_free_labels_are_clean():
    X, y = make_2d("circles", 400, 0.0, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.all(r[y == 1] < 2.5) and np.all(r[y == 0] >= 3.5)
    X, y = make_2d("xor", 400, 0.0, seed=0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] >= 0).astype(np.int64))
    X, y = make_2d("plane", 400, 0.0, seed=0)
    np.testing.assert_allclose(y, X.sum(axis=1) / 10)


def test_make_2d_errors():
    with pytest.raises(ValueError, match=r"unknown synthetic data set 'ring'.*'circles'"):
        make_2d("ring")
    with pytest.raises(ValueError, match=r"The 'noise' parameter of make_2d must be a float >= 0; got -0.1"):
        make_2d("xor", noise=-0.1)
    with pytest.raises(ValueError, match=r"The 'n_samples' parameter of make_2d must be an int >= 1; got 0"):
        make_2d("xor", n_samples=0)
    with pytest.raises(TypeError, match=r"seed must be an int or a numpy.random.Generator"):
        make_2d("xor", seed=1.5)


# ------------------------------------------------------------- scalers ----


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_scaler_fits_on_train_only(cls):
    rng = np.random.default_rng(0)
    X_train = rng.normal(3.0, 2.0, (50, 3))
    X_test = rng.normal(10.0, 5.0, (20, 3))
    sc = cls().fit(X_train)
    Z = sc.transform(X_train)
    if cls is StandardScaler:
        np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(Z.std(axis=0), 1.0)
        np.testing.assert_allclose(sc.mean_, X_train.mean(axis=0))
    else:
        np.testing.assert_allclose(Z.min(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(Z.max(axis=0), 1.0)
    # Transforming the test split uses the training statistics, not its own.
    Zt = sc.transform(X_test)
    assert Zt.mean() > 1.0
    np.testing.assert_allclose(sc.inverse_transform(Zt), X_test)
    np.testing.assert_allclose(cls().fit_transform(X_train), Z)


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_scaler_dict_round_trip(cls):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    sc = cls().fit(X)
    d = json.loads(json.dumps(sc.to_dict()))
    assert d["type"] == cls.__name__
    for rebuilt in (cls.from_dict(d), scaler_from_dict(d)):
        assert type(rebuilt) is cls
        np.testing.assert_array_equal(rebuilt.transform(X), sc.transform(X))
        np.testing.assert_array_equal(rebuilt.inverse_transform(X), sc.inverse_transform(X))


def test_minmax_feature_range_round_trip():
    X = np.array([[0.0], [5.0], [10.0]])
    sc = MinMaxScaler((-1, 1)).fit(X)
    np.testing.assert_allclose(sc.transform(X).ravel(), [-1, 0, 1])
    sc2 = scaler_from_dict(json.loads(json.dumps(sc.to_dict())))
    np.testing.assert_allclose(sc2.transform(X).ravel(), [-1, 0, 1])


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_scaler_constant_column(cls):
    X = np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]])
    sc = cls().fit(X)
    Z = sc.transform(X)
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(Z[:, 1], 0.0)
    np.testing.assert_allclose(sc.inverse_transform(Z), X)


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaler_keeps_float_dtype(cls, dtype):
    X = np.random.default_rng(2).normal(size=(10, 3)).astype(dtype)
    sc = cls().fit(X)
    assert sc.transform(X).dtype == dtype
    assert sc.inverse_transform(sc.transform(X)).dtype == dtype
    assert cls().fit_transform(np.arange(6).reshape(3, 2)).dtype == np.float64


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_scaler_errors(cls):
    with pytest.raises(RuntimeError, match=r"not fitted yet; call fit\(X_train\) first"):
        cls().transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"must be 2-D .* got shape \(3,\).*reshape\(-1, 1\)"):
        cls().fit(np.zeros(3))
    with pytest.raises(ValueError, match=r"NaN or infinite"):
        cls().fit(np.array([[1.0], [np.nan]]))
    sc = cls().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"X has 3 features but .* fitted on 2"):
        sc.transform(np.zeros((1, 3)))
    with pytest.raises(TypeError, match=r"must hold numbers"):
        cls().fit(np.array([["a"]]))


def test_scaler_from_dict_errors():
    with pytest.raises(ValueError, match=r"unknown scaler type 'Robust'.*'MinMaxScaler'"):
        scaler_from_dict({"type": "Robust"})
    with pytest.raises(ValueError, match=r"missing key 'scale'"):
        scaler_from_dict({"type": "StandardScaler", "mean": [0.0]})
    with pytest.raises(TypeError, match=r"expected a scaler dict"):
        scaler_from_dict([1, 2])


# ------------------------------------------------------ one_hot, splits ----


def test_one_hot():
    out = one_hot([2, 0, 1, 2])
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    out = one_hot(np.array([1.0, 0.0]), n_classes=4, dtype=np.float64)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0, 1, 0, 0], [1, 0, 0, 0]])


@pytest.mark.parametrize(
    ("y", "kwargs", "exc", "pattern"),
    [
        ([0, 1.5], {}, ValueError, r"non-integer value 1\.5"),
        ([0, -1], {}, ValueError, r"labels >= 0, got -1"),
        ([0, 3], {"n_classes": 3}, ValueError, r"label 3 but n_classes=3 allows only 0\.\.2"),
        (["a", "b"], {}, TypeError, r"integer class labels, got dtype <U1"),
        ([[0, 1]], {}, ValueError, r"must be 1-D"),
    ],
)
def test_one_hot_errors(y, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        one_hot(y, **kwargs)


def _class_fraction(y):
    return np.bincount(y, minlength=3) / len(y)


def test_stratified_split_keeps_proportions_and_inputs():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [100, 60, 40])
    rng.shuffle(y)
    X = np.arange(400, dtype=np.float64).reshape(200, 2)
    X_copy, y_copy = X.copy(), y.copy()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, seed=1)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    assert len(y_te) == 50 and len(y_tr) == 150
    np.testing.assert_array_equal(np.bincount(y_te), [25, 15, 10])
    np.testing.assert_allclose(_class_fraction(y_tr), _class_fraction(y))
    # Rows stay paired with their labels and every row is used once.
    all_rows = np.concatenate([X_tr[:, 0], X_te[:, 0]]) / 2
    np.testing.assert_array_equal(np.sort(all_rows), np.arange(200))
    np.testing.assert_array_equal(y[(X_te[:, 0] / 2).astype(int)], y_te)
    # Results are copies.
    X_tr[:] = -1
    np.testing.assert_array_equal(X, X_copy)
    assert not np.shares_memory(y_te, y)


def test_split_determinism_and_regression_shuffle():
    X = np.arange(100.0).reshape(50, 2)
    y = np.linspace(0, 1, 50)
    a = train_test_split(X, y, 0.2, seed=3)
    b = train_test_split(X, y, 0.2, seed=3)
    c = train_test_split(X, y, 0.2, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])
    assert a[1].shape == (10, 2) and a[3].dtype == np.float64
    np.testing.assert_array_equal(a[3], y[(a[1][:, 0] / 2).astype(int)])


def test_train_val_test_split():
    y = np.repeat([0, 1], [80, 20])
    X = np.arange(100.0)[:, None]
    y_copy = y.copy()
    X_tr, X_va, X_te, y_tr, y_va, y_te = train_val_test_split(
        X, y, val_size=0.1, test_size=0.2, seed=0
    )
    np.testing.assert_array_equal(y, y_copy)
    assert (len(y_tr), len(y_va), len(y_te)) == (70, 10, 20)
    np.testing.assert_array_equal(np.bincount(y_te), [16, 4])
    np.testing.assert_array_equal(np.bincount(y_va), [8, 2])
    np.testing.assert_array_equal(np.sort(np.concatenate([X_tr, X_va, X_te]).ravel()), X.ravel())
    np.testing.assert_array_equal(y[X_va.ravel().astype(int)], y_va)


def test_split_errors():
    X, y = np.zeros((10, 2)), np.zeros(10, np.int64)
    with pytest.raises(ValueError, match=r"X has 10 samples but y has 9"):
        train_test_split(X, y[:9])
    with pytest.raises(ValueError, match=r"test_size as a fraction must be in \(0, 1\), got 1.5"):
        train_test_split(X, y, test_size=1.5)
    with pytest.raises(ValueError, match=r"test_size=10 gives 10 of 10 samples"):
        train_test_split(X, y, test_size=10)
    with pytest.raises(ValueError, match=r"leave 0 of 10 samples for training"):
        train_val_test_split(X, y, val_size=0.5, test_size=0.5)


# --------------------------------------------------- memmap and batches ----


def test_iter_batches_memmap_matches_memory(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(103, 5)).astype(np.float32)
    y = np.arange(103, dtype=np.int64)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    Xm, ym = open_memmap_dataset(tmp_path / "X.npy", tmp_path / "y.npy")
    assert isinstance(Xm, np.memmap) and isinstance(ym, np.memmap)
    mem = list(iter_batches(X, y, 16, shuffle=True, seed=5))
    mm = list(iter_batches(Xm, ym, 16, shuffle=True, seed=5))
    assert len(mem) == len(mm) == 7
    for (xa, ya), (xb, yb) in zip(mem, mm):
        assert type(xb) is np.ndarray and type(yb) is np.ndarray
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        assert np.all(np.diff(ya) > 0)  # sorted indices within each batch
        np.testing.assert_array_equal(xa, X[ya])
    seen = np.concatenate([b for _, b in mm])
    np.testing.assert_array_equal(np.sort(seen), y)  # every sample exactly once
    assert not np.array_equal(seen, y)  # shuffled across batches
    other = np.concatenate([b for _, b in iter_batches(X, y, 16, shuffle=True, seed=6)])
    assert not np.array_equal(seen, other)


def test_iter_batches_options():
    X = np.arange(10.0)[:, None]
    batches = list(iter_batches(X, None, 4, shuffle=False))
    assert [b.shape[0] for b, _ in batches] == [4, 4, 2]
    assert all(yb is None for _, yb in batches)
    np.testing.assert_array_equal(batches[0][0].ravel(), [0, 1, 2, 3])
    assert len(list(iter_batches(X, None, 4, shuffle=False, drop_last=True))) == 2
    gen = np.random.default_rng(0)
    e1 = np.concatenate([b.ravel() for b, _ in iter_batches(X, None, 3, seed=gen)])
    e2 = np.concatenate([b.ravel() for b, _ in iter_batches(X, None, 3, seed=gen)])
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(np.sort(e2), X.ravel())


def test_iter_batches_errors():
    with pytest.raises(ValueError, match=r"The 'batch_size' parameter of iter_batches must be an int >= 1; got 0"):
        next(iter_batches(np.zeros((3, 1)), None, 0))
    with pytest.raises(ValueError, match=r"X has 3 samples but y has 2"):
        next(iter_batches(np.zeros((3, 1)), np.zeros(2), 1))


def test_open_memmap_dataset_errors(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((4, 2)))
    np.save(tmp_path / "y.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"X\.npy has 4 rows but .*y\.npy has 3"):
        open_memmap_dataset(tmp_path / "X.npy", tmp_path / "y.npy")
    np.savez(tmp_path / "d.npz", X=np.zeros(2))
    with pytest.raises(ValueError, match=r"memory mapping needs a \.npy file, got '\.npz'"):
        open_memmap_dataset(tmp_path / "d.npz")
    X, y = open_memmap_dataset(tmp_path / "X.npy")
    assert y is None and X.shape == (4, 2)


# ----------------------------------------------------------- load_data ----


@pytest.mark.parametrize("name", sorted(gd.SKLEARN_DATASETS))
def test_load_data_sklearn(name):
    pytest.importorskip("sklearn")
    d = load_data(name)
    assert isinstance(d, Data)
    assert d.task == gd.SKLEARN_DATASETS[name] and d.name == name
    assert d.X.ndim == 2 and len(d.y) == len(d.X)
    assert d.feature_names is not None and len(d.feature_names) == d.n_features
    assert d.X_test is None


@pytest.mark.parametrize("name", sorted(gd.SYNTHETIC_2D))
def test_load_data_synthetic(name):
    d = load_data(name)
    X, y = make_2d(name)
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_array_equal(d.y, y)
    assert d.task == gd.SYNTHETIC_TASKS[name]
    assert d.feature_names == ["x1", "x2"]


@pytest.mark.parametrize("prefix", ["mnist", "fashion-mnist"])
def test_load_data_mnist(tmp_path, prefix):
    write_fake_mnist(tmp_path, gz=True)
    d = load_data(f"{prefix}:{tmp_path}")
    assert d.task == "classification"
    assert d.X.shape == (6, 784) and d.X_test is not None and d.X_test.shape == (4, 784)
    assert d.y_test is not None and d.y_test.dtype == np.int64


def test_load_data_csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,kind\n1,2.5,0\n3,4.5,1\n5,6.5,1\n")
    d = load_data(f"csv:{p}")
    assert d.task == "classification" and d.feature_names == ["a", "b"]
    np.testing.assert_array_equal(d.y, [0, 1, 1])
    np.testing.assert_array_equal(d.classes, [0, 1])
    d = load_data(f"csv:{p}:b")
    assert d.task == "regression" and d.feature_names == ["a", "kind"]
    np.testing.assert_array_equal(d.y, [2.5, 4.5, 6.5])
    assert d.classes is None
    with pytest.raises(ValueError, match=r"3 distinct whole numbers in 3 rows.*look like IDs"):
        load_data(f"csv:{p}:0")  # column a: 1, 3, 5
    p.write_text("a,b,kind\n1,2.5,0\n3,4.5,1\n1,6.5,1\n3,1.5,0\n")
    d = load_data(f"csv:{p}:0")
    np.testing.assert_array_equal(d.y, [0, 1, 0, 1])  # labels 1 and 3 as class indices
    np.testing.assert_array_equal(d.classes, [1, 3])
    assert d.feature_names == ["b", "kind"]
    d = load_data(f"csv:{p}:-2")
    assert d.feature_names == ["a", "kind"]
    with pytest.raises(FileNotFoundError, match=r"CSV file .*nope\.csv.* not found"):
        load_data(f"csv:{tmp_path / 'nope.csv'}")


def test_load_data_npz(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, X=np.zeros((4, 3)), y=np.array([0.5, 1, 2, 3]))
    d = load_data(f"npz:{p}")
    assert d.task == "regression" and d.X.shape == (4, 3) and d.X_test is None
    np.savez(p, X=np.zeros((4, 3)), y=np.arange(4), X_test=np.ones((2, 3)), y_test=np.arange(2))
    d = load_data(f"npz:{p}")
    assert d.task == "classification"
    assert d.X_test is not None and d.X_test.shape == (2, 3)


@pytest.mark.parametrize("spec", ["cifar10", "csv", "foo:bar", ""])
def test_load_data_unknown_spec(spec):
    with pytest.raises(ValueError, match=r"unknown data spec .*mnist:DIR.*csv:FILE\[:TARGET\]"):
        load_data(spec)
