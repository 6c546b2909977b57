"""A model the scikit-learn estimators save answers in their labels on the command line.

``MLPClassifier.save`` writes a glassnet model; ``glassnet predict`` and ``glassnet evaluate`` on
it (and ``glassnet.load(path).predict``) give the original labels, strings or integers of any
size, not the indices 0..k-1. The same for a network imported with ``from_sklearn``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from glassnet import load  # noqa: E402
from glassnet.cli import main  # noqa: E402
from glassnet.sklearn import MLPClassifier  # noqa: E402

LABELS = {
    "text 3": ["cat", "dog", "emu"],
    "text 2": ["no", "yes"],
    "beyond 2**53": [100000000000000001, 100000000000000003],
    "beyond 2**53, 3": [100000000000000001, 100000000000000003, 100000000000000005],
    "small": [3, 7, 50000000],
}


def dataset(labels, n=120, seed=0):
    rng = np.random.default_rng(seed)
    index = np.arange(n) % len(labels)
    X = rng.normal(size=(n, 2)) * 0.1 + np.stack([index, -index], axis=1).astype(float)
    return X, np.array(labels)[index]


def fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def write_csv(path, X, y=None):
    head = "a,b" + ("" if y is None else ",label")
    rows = [f"{a!r},{b!r}" + ("" if y is None else f",{t}")
            for (a, b), t in zip(X.tolist(), [None] * len(X) if y is None else y.tolist())]
    path.write_text("\n".join([head, *rows]) + "\n")
    return path


def check_cli(tmp_path, model, X, y, expected, capsys):
    """predict and evaluate on ``model`` answer in the labels ``expected`` (the estimator's
    own predictions)."""
    assert load(model).predict(X).tolist() == expected.tolist()
    assert main(["predict", str(model), "--input", str(write_csv(tmp_path / "in.csv", X)),
                 "--output", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().split() == [str(v) for v in expected.tolist()]
    capsys.readouterr()
    assert main(["evaluate", str(model), "--data", f"csv:{write_csv(tmp_path / 'd.csv', X, y)}",
                 "--all"]) == 0
    out = capsys.readouterr().out
    header = out.split("confusion matrix")[1].splitlines()[1].split()
    assert header == [str(v) for v in sorted(set(y.tolist()))]
    accuracy = float(out.split("accuracy: ")[1].split()[0])
    assert accuracy == pytest.approx(np.mean(expected == y), abs=1e-4)


@pytest.mark.parametrize("name", sorted(LABELS))
def test_saved_estimator_answers_in_its_labels(tmp_path, name, capsys):
    X, y = dataset(LABELS[name])
    est = fit(MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=500, random_state=0), X, y)
    assert np.mean(est.predict(X) == y) > 0.9
    est.save(tmp_path / "m.npz")
    assert load(tmp_path / "m.npz").classes == sorted(LABELS[name])
    check_cli(tmp_path, tmp_path / "m.npz", X, y, est.predict(X), capsys)
    back = MLPClassifier.load(tmp_path / "m.npz")  # the estimator's own round trip still holds
    assert back.predict(X).tolist() == est.predict(X).tolist()


@pytest.mark.parametrize("name", ["text 3", "text 2", "beyond 2**53"])
def test_from_sklearn_answers_in_its_labels(tmp_path, name, capsys):
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    from glassnet.interop import from_sklearn

    X, y = dataset(LABELS[name])
    clf = fit(SkMLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=500, random_state=0), X, y)
    net = from_sklearn(clf)
    assert net.predict(X).tolist() == clf.predict(X).tolist()
    net.save(tmp_path / "m.npz")
    check_cli(tmp_path, tmp_path / "m.npz", X, y, clf.predict(X), capsys)


def test_multilabel_and_regressor_carry_no_classes(tmp_path):
    from glassnet.sklearn import MLPRegressor

    X, _ = dataset(["a", "b"])
    Y = np.stack([X[:, 0] > 0.5, X[:, 1] < -0.5], axis=1).astype(int)
    est = fit(MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0), X, Y)
    est.save(tmp_path / "ml.npz")
    assert load(tmp_path / "ml.npz").classes is None
    reg = fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0), X, X[:, 0])
    reg.save(tmp_path / "r.npz")
    assert load(tmp_path / "r.npz").classes is None
