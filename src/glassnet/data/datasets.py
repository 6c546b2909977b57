"""Named data sets: scikit-learn's bundled sets and the command line's data specs.

:func:`load_data` turns a spec such as ``"iris"``, ``"spiral"``, ``"mnist:DIR"`` or
``"csv:FILE:TARGET"`` into a :class:`Data` record. scikit-learn is imported only when one of
its sets is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import _np_load, load_mnist, load_npz, read_csv
from .preprocessing import infer_task
from .synthetic import SYNTHETIC_2D, SYNTHETIC_TASKS, make_2d

__all__ = ["SKLEARN_DATASETS", "Data", "load_data", "load_sklearn"]


# --------------------------------------------------------------------------
# scikit-learn's bundled data sets
# --------------------------------------------------------------------------

#: scikit-learn's bundled sets (no download) and their task.
SKLEARN_DATASETS: dict[str, str] = {
    "digits": "classification",
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "diabetes": "regression",
}


def _sklearn_bunch(name: str) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}.")
    if name not in SKLEARN_DATASETS:
        raise ValueError(
            f"unknown scikit-learn data set {name!r}; expected one of "
            f"{sorted(SKLEARN_DATASETS)}."
        )
    try:
        from sklearn import datasets
    except ImportError as exc:
        raise ImportError(
            f"loading the {name!r} data set needs scikit-learn; install it with "
            f"`pip install glassnet[data]`."
        ) from exc
    bunch = getattr(datasets, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=np.float64)
    target = np.asarray(bunch.target)
    y = (
        target.astype(np.int64)
        if SKLEARN_DATASETS[name] == "classification"
        else target.astype(np.float64)
    )
    names = getattr(bunch, "feature_names", None)
    return X, y, None if names is None else [str(n) for n in names]


def load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one of scikit-learn's bundled data sets (no download).

    Parameters
    ----------
    name : {"digits", "iris", "wine", "breast_cancer", "diabetes"}
        Data set name.

    Returns
    -------
    X : ndarray of float64, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
        ``int64`` class labels, or ``float64`` for ``"diabetes"`` (regression).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones).
    ImportError
        If scikit-learn is not installed (``pip install glassnet[data]``).
    """
    X, y, _ = _sklearn_bunch(name)
    return X, y


# --------------------------------------------------------------------------
# Data specs for the command line
# --------------------------------------------------------------------------


@dataclass
class Data:
    """A loaded data set.

    Attributes
    ----------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
        ``int64`` labels for classification, ``float64`` for regression.
    task : {"classification", "regression"}
    name : str
        The spec it was loaded from.
    feature_names : list of str, optional
    X_test, y_test : ndarray, optional
        A test split shipped with the data (MNIST, or ``X_test``/``y_test``
        arrays in an ``.npz``); ``None`` otherwise.
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    name: str
    feature_names: list[str] | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Number of input features (``X.shape[1]``)."""
        return int(self.X.shape[1])


_SPEC_FORMS = (
    "digits | iris | wine | breast_cancer | diabetes (scikit-learn), "
    "circles | xor | gauss | spiral | moons | plane | multi_gauss (synthetic 2-D), "
    "mnist:DIR, fashion-mnist:DIR, csv:FILE[:TARGET] (TARGET a column name or index), "
    "npz:FILE"
)


def _load_csv_spec(spec: str, rest: str) -> Data:
    if not rest:
        raise ValueError(f"data spec {spec!r}: expected csv:FILE[:TARGET], the FILE is empty.")
    path, target = rest, "-1"
    if not Path(rest).is_file() and ":" in rest:
        path, target = rest.rsplit(":", 1)
    tgt: int | str
    try:
        tgt = int(target)
    except ValueError:
        tgt = target
    if not Path(path).is_file():
        raise FileNotFoundError(f"data spec {spec!r}: CSV file {path!r} not found.")
    X, y, names = read_csv(path, target=tgt)
    return Data(X, y, infer_task(y), spec, feature_names=names)


def _load_npz_spec(spec: str, rest: str) -> Data:
    if not Path(rest).is_file():
        raise FileNotFoundError(f"data spec {spec!r}: file {rest!r} not found.")
    X, y = load_npz(rest)
    assert y is not None
    X_test = y_test = None
    with _np_load(Path(rest)) as archive:
        if "X_test" in archive.files and "y_test" in archive.files:
            X_test, y_test = archive["X_test"], archive["y_test"]
    return Data(X, y, infer_task(y), spec, X_test=X_test, y_test=y_test)


def _load_mnist_spec(spec: str, rest: str) -> Data:
    if not rest:
        raise ValueError(f"data spec {spec!r}: expected a folder after the colon.")
    X, y = load_mnist(rest, "train")
    X_test, y_test = load_mnist(rest, "test")
    return Data(X, y, "classification", spec, X_test=X_test, y_test=y_test)


_PREFIXED: dict[str, Callable[[str, str], Data]] = {
    "mnist": _load_mnist_spec,
    "fashion-mnist": _load_mnist_spec,
    "csv": _load_csv_spec,
    "npz": _load_npz_spec,
}


def load_data(spec: str) -> Data:
    """Load a data set from a command-line spec string.

    Parameters
    ----------
    spec : str
        One of:

        * ``digits``, ``iris``, ``wine``, ``breast_cancer``, ``diabetes``:
          scikit-learn's bundled sets (needs ``glassnet[data]``);
        * ``circles``, ``xor``, ``gauss``, ``spiral``, ``moons`` (classification),
          ``plane``, ``multi_gauss`` (regression): :func:`make_2d` with its
          defaults (500 samples, no noise, seed 0);
        * ``mnist:DIR`` or ``fashion-mnist:DIR``: the IDX files in ``DIR``, with
          the official test split in ``X_test`` / ``y_test``;
        * ``csv:FILE[:TARGET]``: :func:`read_csv`, TARGET a column name or an int
          index (default -1, the last column);
        * ``npz:FILE``: arrays ``X`` and ``y`` (and ``X_test``/``y_test`` if present).

    Returns
    -------
    Data
        ``task`` is ``"classification"`` for integer labels, else ``"regression"``.

    Raises
    ------
    ValueError
        For an unknown spec (the message lists the accepted forms).
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str, got {type(spec).__name__}.")
    s = spec.strip()
    if s in SKLEARN_DATASETS:
        X, y, names = _sklearn_bunch(s)
        return Data(X, y, SKLEARN_DATASETS[s], s, feature_names=names)
    if s in SYNTHETIC_2D:
        X, y = make_2d(s)
        return Data(X, y, SYNTHETIC_TASKS[s], s, feature_names=["x1", "x2"])
    prefix, sep, rest = s.partition(":")
    if sep and prefix.lower() in _PREFIXED:
        return _PREFIXED[prefix.lower()](s, rest)
    raise ValueError(f"unknown data spec {spec!r}; expected one of: {_SPEC_FORMS}.")
