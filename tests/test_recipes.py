"""glassnet.recipes: data kinds, input scaling, size-aware defaults, and their wiring into
``glassnet train`` (printed, saved, timed apart from the test evaluation); the classic MNIST
script and the recipe study on small data the tests make.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet
from glassnet.cli import TRAIN_DEFAULTS, build_recipe, main
from glassnet.data import MinMaxScaler, StandardScaler, read_idx, scaler_from_dict
from glassnet.recipes import SCALES, data_kind, init_output, make_scaler, resolve, size_defaults

ROOT = Path(__file__).resolve().parents[1]
HINT = "Run 'glassnet --help' for usage."


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def images(n: int, seed: int = 0, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images of 10 classes: class k lights a bar in row band k, on a dark border."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    X = rng.integers(0, 40, (n, side, side)).astype(np.uint8)
    X[:, :2, :] = 0  # border rows dark in every image
    band = (side - 4) // 10
    for i, k in enumerate(y):
        X[i, 2 + band * k:2 + band * (k + 1), 4:side - 4] = rng.integers(180, 256)
    return X, y.astype(np.uint8)


def write_mnist(folder: Path, n_train: int = 300, n_test: int = 100) -> Path:
    write_idx = _bench("recipes").write_idx
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        X, y = images(n, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", X)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", y)
    return folder


# ------------------------------------------------------------------ data kinds and scaling


def test_data_kind_tells_images_from_tables():
    X, _ = images(50)
    assert data_kind(X.reshape(50, -1)) == "pixels"
    assert data_kind(X.reshape(50, -1) / 255.0) == "pixels"
    rng = np.random.default_rng(0)
    units = 10.0 ** rng.uniform(-3, 3, 300)  # 300 features in very different units
    assert data_kind(rng.uniform(0, 1, (50, 300)) * units) == "tabular"
    assert data_kind(rng.normal(size=(50, 784))) == "tabular"  # negative values
    assert data_kind(rng.uniform(0, 16, (50, 64))) == "tabular"  # fewer than 256 features
    assert data_kind(np.zeros((5, 784))) == "tabular"


HOSTILE = {  # a training column, and the test values it must survive
    "zero in train, lit in test": (np.zeros(40), [255.0, -255.0, 1e6]),
    "huge constant": (np.full(40, 1e6), [-1e6, 3e6, 0.0]),
    "one tiny blip": (np.r_[np.zeros(39), 1e-9], [1.0, 255.0]),
    "rarely lit pixel": (np.r_[np.zeros(39), 1.0], [1.0, 1.0]),
}


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_a_feature_constant_in_train_does_not_explode_in_test(case, scale):
    column, test_values = HOSTILE[case]
    rng = np.random.default_rng(1)
    X_train = np.column_stack([rng.normal(0, 1, (40, 3)), column])
    X_test = np.column_stack([rng.normal(0, 1, (len(test_values), 3)), test_values])
    scaler = make_scaler(scale, X_train, "tabular")
    Z, Z_train = scaler.transform(X_test), scaler.transform(X_train)
    assert np.all(np.isfinite(Z))
    if np.ptp(column) == 0:  # constant in training: nothing learned from it, it maps to one value
        np.testing.assert_array_equal(Z[:, 3], Z_train[0, 3])
    # the gain dz/dx of each feature: the odd one at most 1/floor = 10 times the others
    gain = np.abs(scaler.transform(X_train[:1] + 1.0) - Z_train[:1]).ravel()
    assert gain[3] <= 10 * gain[:3].max() * (1 + 1e-9)


def test_standard_scaler_variance_floor():
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.normal(0, 1, 1000), rng.normal(0, 1, 1000),
                         rng.normal(5, 1e-6, 1000), np.full(1000, 3.0)])
    sc = StandardScaler().fit(X)
    median = np.median(X[:, :3].std(axis=0))
    assert sc.scale_[2] == pytest.approx(0.1 * median)  # floored, not 1e-6
    assert sc.scale_[3] == 0  # constant: maps to 0 in every split
    np.testing.assert_array_equal(sc.transform(np.array([[0, 0, 5, 1e9]]))[:, 3], 0.0)
    np.testing.assert_allclose(StandardScaler(floor=0).fit(X).scale_[2], X[:, 2].std())
    for cls in (StandardScaler, MinMaxScaler):
        for bad, error in ((-0.1, ValueError), (float("inf"), ValueError), (True, TypeError),
                           ("0.1", TypeError), (None, TypeError)):
            with pytest.raises(error, match=rf"The 'floor' parameter of {cls.__name__} "
                                            r"must be a float >= 0; got"):
                cls(floor=bad)


def test_minmax_one_range_for_pixels():
    X, _ = images(60)
    X = X.reshape(60, -1).astype(np.float64)
    sc = make_scaler("auto", X, data_kind(X))
    assert isinstance(sc, MinMaxScaler) and not sc.per_feature
    np.testing.assert_allclose(sc.transform(X), (X - X.min()) / (X.max() - X.min()))
    X_test = X.copy()
    X_test[:, 0] = 255  # a border pixel, dark in every training image
    assert sc.transform(X_test).max() <= 1.0
    np.testing.assert_allclose(sc.inverse_transform(sc.transform(X_test)), X_test, atol=1e-9)
    with pytest.raises(TypeError, match=r"The 'per_feature' parameter of MinMaxScaler must be "
                                        r"a bool; got 'no'"):
        MinMaxScaler(per_feature="no")


@pytest.mark.parametrize("scale", ["standard", "minmax"])
@pytest.mark.parametrize("kind", ["pixels", "tabular"])
def test_scalers_round_trip_through_json(scale, kind):
    X, _ = images(30)
    X = X.reshape(30, -1).astype(np.float64)
    sc = make_scaler(scale, X, kind)
    back = scaler_from_dict(json.loads(json.dumps(sc.to_dict())))
    assert type(back) is type(sc) and vars(back).keys() == vars(sc).keys()
    for key, value in vars(sc).items():
        np.testing.assert_array_equal(getattr(back, key), value)


def test_make_scaler_none_and_errors():
    X = np.ones((4, 2))
    assert make_scaler("none", X, "tabular") is None
    for bad in ("Standard", "robust", ""):
        with pytest.raises(ValueError, match=r"The 'scale' parameter must be one of auto, "
                                             r"standard, minmax, none; got"):
            make_scaler(bad, X, "tabular")


# ------------------------------------------------------------------ size-aware defaults


def test_size_defaults_scale_with_the_data():
    sizes = [50, 120, 500, 1500, 1999, 2000, 5000, 20000, 60000, 10**6]
    rules = [size_defaults(n, 10, 3) for n in sizes]
    widths = [r["hidden"][0] for r in rules]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    for n, r in zip(sizes, rules):
        (h,) = r["hidden"]
        assert 64 <= h <= 512 and h & (h - 1) == 0
        assert 16 <= r["batch_size"] <= 128 and 10 <= r["epochs"] <= 100
        assert (r["early_stopping"] is not None) == (r["val_split"] > 0) == (n >= 2000)
        assert 0 < r["weight_decay"] <= 1 / 50
    assert [r["batch_size"] for r in rules] == sorted(r["batch_size"] for r in rules)


def test_resolve_keeps_what_the_user_set():
    X = np.random.default_rng(0).normal(size=(3000, 5))
    auto = resolve(TRAIN_DEFAULTS, X, 2)
    assert "auto" not in [v for k, v in auto.items() if k != "task"]  # the task: the CLI's
    assert auto["early_stopping"] and auto["val_split"]
    mine = resolve(dict(TRAIN_DEFAULTS, hidden=[7], batch_size=3, epochs=2, scale="none",
                        weight_decay=0.5), X, 2)
    assert (mine["hidden"], mine["batch_size"], mine["epochs"], mine["scale"],
            mine["weight_decay"]) == ([7], 3, 2, "none", 0.5)
    no_val = resolve(dict(TRAIN_DEFAULTS, val_split=0.0), X, 2)
    assert no_val["val_split"] == 0 and no_val["early_stopping"] is None
    assert resolve(auto, X, 2) == auto  # resolving twice changes nothing


def test_regression_output_starts_at_the_targets():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(400, 6)), rng.normal(150.0, 70.0, 400)
    net, _ = build_recipe(dict(TRAIN_DEFAULTS), X, 1, False, y)
    pred = net.predict_output(X).ravel()
    assert pred.mean() == pytest.approx(y.mean(), rel=1e-4)
    assert pred.std() == pytest.approx(y.std(), rel=1e-3)
    Y = np.column_stack([y, -y / 100])  # two outputs, each on its own scale
    net2, _ = build_recipe(dict(TRAIN_DEFAULTS), X, 2, False, Y)
    np.testing.assert_allclose(net2.predict_output(X).std(axis=0), Y.std(axis=0), rtol=1e-3)
    init_output(net, X, np.full(400, 2.0))  # constant targets: no division by a zero spread
    out = net.predict_output(X)
    assert np.all(np.isfinite(out)) and out.mean() == pytest.approx(2.0, rel=1e-4)


# ------------------------------------------------------------------ glassnet train


def _npz(tmp_path: Path, X, y, X_test, y_test) -> str:
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y, X_test=X_test, y_test=y_test)
    return f"npz:{path}"


def test_train_prints_and_saves_the_chosen_recipe(tmp_path, capsys):
    assert main(["train", "--data", "circles", "--out", "m.npz", "--quiet"]) == 0
    out = capsys.readouterr().out
    net = glassnet.load("m.npz")
    s = net.info["training"]
    chosen = size_defaults(400, 2, 2)
    assert s["hidden"] == chosen["hidden"] and s["epochs"] == chosen["epochs"]
    assert s["scale"] == "standard" and s["data_kind"] == "tabular"
    line = next(line for line in out.splitlines() if line.startswith("recipe: "))
    assert f"hidden {chosen['hidden'][0]}, batch {chosen['batch_size']}, " \
           f"{chosen['epochs']} epochs" in line and "--scale standard" in line
    assert isinstance(net.scaler, StandardScaler)


@pytest.mark.parametrize("scale, cls", [("minmax", MinMaxScaler), ("standard", StandardScaler),
                                        ("none", type(None)), ("auto", MinMaxScaler)])
def test_train_scale_flag_on_pixels_round_trips(tmp_path, capsys, scale, cls):
    X, y = images(200)
    X_test, y_test = images(50, seed=1)
    spec = _npz(tmp_path, X.reshape(200, -1), y.astype(np.int64), X_test.reshape(50, -1),
                y_test.astype(np.int64))
    assert main(["train", "--data", spec, "--scale", scale, "--epochs", "2", "--quiet",
                 "--out", "m.npz"]) == 0
    out = capsys.readouterr().out
    net = glassnet.load("m.npz")
    assert type(net.scaler) is cls
    assert net.info["training"]["scale"] == (scale if scale != "auto" else "minmax")
    assert f"--scale {net.info['training']['scale']}" in out
    if cls is MinMaxScaler:
        assert net.scaler.per_feature is False  # pixels: one range
        np.testing.assert_array_equal(net.scaler.data_max_, 255.0)
    assert main(["info", "m.npz"]) == 0


def test_train_a_feature_constant_in_train_stays_tame(tmp_path, capsys):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 3))
    X[:, 2] = 0.0
    y = (X[:, 0] > 0).astype(np.int64)
    X_test = rng.normal(size=(60, 3))
    X_test[:, 2] = 1e6  # never seen in training
    spec = _npz(tmp_path, X, y, X_test, (X_test[:, 0] > 0).astype(np.int64))
    for scale in ("standard", "minmax"):
        assert main(["train", "--data", spec, "--scale", scale, "--quiet", "--out", "m.npz"]) == 0
        out = capsys.readouterr().out
        net = glassnet.load("m.npz")
        accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
        assert accuracy > 0.9, (scale, out)
        assert np.all(np.isfinite(net.predict_output(X_test)))


def test_train_bad_scale_is_one_line(capsys):
    assert main(["train", "--scale", "robust"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line and line != HINT]
    assert len(err) == 1 and "unknown scale 'robust'" in err[0] and "minmax" in err[0]


def test_train_early_stopping_by_default_on_large_data(tmp_path, capsys):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(2600, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    spec = _npz(tmp_path, X[:2100], y[:2100], X[2100:], y[2100:])
    assert main(["train", "--data", spec, "--epochs", "6", "--out", "m.npz"]) == 0
    out = capsys.readouterr().out
    net = glassnet.load("m.npz")
    assert net.info["training"]["val_split"] == 0.1
    assert net.info["training"]["early_stopping"] == 5
    best = int(np.argmin(net.history["val_loss"])) + 1
    assert f"best epoch {best} restored" in out
    assert "10% of the training data held out for validation" in out


def test_train_times_test_evaluation_apart(tmp_path, capsys, monkeypatch):
    import time

    from glassnet.cli import train as train_command

    slow = train_command.predicted_labels

    def slow_accuracy(net, X):
        time.sleep(0.2)
        return slow(net, X)

    monkeypatch.setattr(train_command, "predicted_labels", slow_accuracy)
    start = time.perf_counter()
    assert main(["train", "--data", "circles", "--hidden", "8", "--epochs", "3",
                 "--out", "m.npz"]) == 0
    wall = time.perf_counter() - start
    out = capsys.readouterr().out
    match = re.search(r"trained 3 epochs in ([0-9.]+) s; evaluating the test set after each "
                      r"epoch took ([0-9.]+) s more", out)
    assert match, out
    train_s, test_s = map(float, match.groups())
    assert test_s >= 3 * 0.2 - 0.01 and train_s + test_s <= wall + 0.01  # printed to 0.01 s
    assert re.search(r"gradcheck on .*: PASSED, .* \([0-9.]+ s, not part of the training "
                     r"time\)", out)


# ------------------------------------------------------------------ bench scripts


def test_write_idx_reads_back(tmp_path):
    X, y = images(7)
    write_idx = _bench("recipes").write_idx
    write_idx(tmp_path / "x", X)
    write_idx(tmp_path / "y", y)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), X)
    np.testing.assert_array_equal(read_idx(tmp_path / "y"), y)


def test_mnist_classic_runs_every_net_on_small_idx(tmp_path, capsys):
    folder = write_mnist(tmp_path / "mnist")
    classic = _bench("mnist_classic")
    assert classic.main(["--data", f"mnist:{folder}", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "data: mnist:" in out and "300 train / 100 test images" in out
    accuracies = {name: float(acc) for name, acc in
                  re.findall(r"^([a-z-]+): Network.*test accuracy ([0-9.]+)", out, re.MULTILINE)}
    assert set(accuracies) == {"derivation", "cross-entropy", "tuned"}
    assert "Network(784-30-10" in out and "Network(784-100-10" in out
    assert accuracies["tuned"] > 0.5  # the bands are easy: training happened


def test_mnist_classic_says_what_to_put_where(tmp_path, capsys):
    classic = _bench("mnist_classic")
    assert classic.main(["--data", f"mnist:{tmp_path / 'nowhere'}"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "nowhere") in err and "t10k-labels-idx1-ubyte" in err
    assert classic.main(["--data", "digits"]) == 2


def test_recipe_study_runs_on_a_few_sets(tmp_path):
    import subprocess

    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "recipes.py"), "--sets",
                           "iris,moons,diabetes", "--seeds", "1"], check=False, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path,
                          env={**__import__("os").environ,
                               "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows[1:]] == ["| iris", "| moons", "| diabetes"]
    assert "study time:" in proc.stdout and "R^2" in rows[3]


def test_scales_listed_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert all(scale in out for scale in SCALES) and "(default: auto)" in out
