"""Named data sets: scikit-learn's bundled sets and the command line's data specs.

:func:`load_data` turns a spec such as ``"iris"``, ``"spiral"``, ``"mnist:DIR"`` or
``"csv:FILE:TARGET"`` into a :class:`Data` record. scikit-learn is imported only when one of
its sets is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_fits
from .csvfile import read_csv
from .files import _check_lengths, _read_npz, load_mnist
from .labels import NotClassLabels, NotQuantities, encode_labels
from .preprocessing import infer_task
from .synthetic import SYNTHETIC_2D, SYNTHETIC_TASKS, make_2d

__all__ = ["SKLEARN_DATASETS", "Data", "load_data", "load_sklearn", "prefixed_spec"]


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


def shaped(where: Any, X: np.ndarray, y: np.ndarray, X_test: np.ndarray | None = None,
           y_test: np.ndarray | None = None) -> tuple[Any, Any, Any, Any]:
    """The arrays of a data set in the shapes glassnet trains on, or a ValueError naming the
    file, the array and the fix: ``X`` (and ``X_test``) 2-D with at least one feature and the
    same features; a target column of shape ``(n, 1)`` as ``(n,)``; ``y_test`` shaped as ``y``.
    Every loader's data goes through it (:class:`Data` calls it), so no shape reaches the
    network that it would reject with a message of its own."""
    def rows_of(name: str, A: Any) -> None:
        if A is not None and (A.ndim != 2 or A.shape[1] == 0):
            raise ValueError(
                f"{where}: {name!r} has shape {A.shape}; expected (n_samples, n_features) with "
                "at least one feature: one sample per row (a single feature as "
                "X.reshape(-1, 1)).")

    def target(name: str, t: Any) -> Any:
        if t is None:
            return None
        t = np.asarray(t) if not isinstance(t, np.ndarray) else t
        if t.ndim == 2 and t.shape[1] == 1:
            return t[:, 0]
        if t.ndim not in (1, 2):
            raise ValueError(f"{where}: {name!r} has shape {t.shape}; expected one target per "
                             "sample, of shape (n_samples,) or (n_samples, n_outputs).")
        return t

    rows_of("X", X)
    rows_of("X_test", X_test)
    y, y_test = target("y", y), target("y_test", y_test)
    if X_test is not None and X_test.shape[1] != X.shape[1]:
        raise ValueError(f"{where}: 'X_test' has {X_test.shape[1]} features and 'X' "
                         f"{X.shape[1]}; the test part must have the training part's columns.")
    if y_test is not None and y_test.shape[1:] != y.shape[1:]:
        raise ValueError(f"{where}: 'y_test' has targets of shape {y_test.shape[1:]} and 'y' "
                         f"of shape {y.shape[1:]}; give both the same kind of target.")
    return X, y, X_test, y_test


@dataclass
class Data:
    """A loaded data set.

    Attributes
    ----------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
        ``int64`` class indices ``0 .. k-1`` for classification, ``float64`` for regression.
    task : {"classification", "regression"}
    name : str
        The spec it was loaded from.
    feature_names : list of str, optional
    X_test, y_test : ndarray, optional
        A test split shipped with the data (MNIST, or ``X_test``/``y_test``
        arrays in an ``.npz``); ``None`` otherwise.
    classes : ndarray of shape (k,), optional
        For classification, the original label of each class index: ``classes[y]`` are the
        labels in the file. Store it with a model as ``net.classes``.
    columns : list of str, optional
        For a CSV file with a header row, the names of its feature columns (``feature_names``
        as the file names them), which a model can record so that ``predict`` picks them out
        of a file by name (``read_csv(..., columns=...)``); None otherwise.
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    name: str
    feature_names: list[str] | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    classes: np.ndarray | None = None
    columns: list[str] | None = None

    def __post_init__(self) -> None:
        self.X, self.y, self.X_test, self.y_test = shaped(self.name, self.X, self.y,
                                                          self.X_test, self.y_test)

    @property
    def n_features(self) -> int:
        """Number of input features (``X.shape[1]``)."""
        return int(self.X.shape[1])


SPEC_FORMS = (
    f"{' | '.join(SKLEARN_DATASETS)} (scikit-learn), "
    f"{' | '.join(SYNTHETIC_2D)} (synthetic 2-D), "
    "mnist:DIR, fashion-mnist:DIR, csv:FILE[:TARGET] (TARGET a column name or index), "
    "npz:FILE, npy:X.npy,y.npy[,X_test.npy,y_test.npy] (X memory-mapped); a path "
    "FILE.csv, FILE.npz or X.npy,y.npy[,...] alone is read as csv:, npz: or npy:"
)
"""Every form of a data spec, for messages and ``--help``: built from the tables, never stale."""


_SUFFIX_PREFIX = {".csv": "csv", ".npz": "npz", ".npy": "npy"}


def prefixed_spec(spec: str) -> str:
    """``spec`` with its prefix: a path ``FILE.csv``, ``FILE.npz`` or ``X.npy,y.npy[,...]``
    given alone becomes ``csv:FILE``, ``npz:FILE`` or ``npy:X.npy,...``; any other spec is
    returned as it is (stripped). The one place a bare path is read as a spec: ``load_data``
    and the command line's checks of the files a spec reads both use it.

    Examples
    --------
    >>> prefixed_spec("iris"), prefixed_spec("data/train.csv"), prefixed_spec("X.npy,y.npy")
    ('iris', 'csv:data/train.csv', 'npy:X.npy,y.npy')
    >>> prefixed_spec("train.txt")
    'train.txt'
    """
    s = spec.strip()
    if s in SKLEARN_DATASETS or s in SYNTHETIC_2D or s.partition(":")[0].lower() in _PREFIXED:
        return s
    files = [part.strip() for part in s.split(",")]
    prefixes = {_SUFFIX_PREFIX.get(Path(f).suffix.lower()) for f in files}
    if len(prefixes) != 1 or None in prefixes:
        return s  # a missing file is then refused as one, not as an unknown spec
    prefix = prefixes.pop()
    if prefix != "npy" and len(files) > 1:
        return s
    return f"{prefix}:{s}"


def absolute_spec(spec: str) -> str:
    """``spec`` with every file or folder it names made absolute: what a model records, so
    that the commands on a saved model find its data from any folder.

    >>> absolute_spec("iris")
    'iris'
    >>> absolute_spec("/data/t.csv:label"), absolute_spec("npy:/d/X.npy, /d/y.npy")
    ('csv:/data/t.csv:label', 'npy:/d/X.npy,/d/y.npy')
    """
    s = prefixed_spec(spec)
    prefix, sep, rest = s.partition(":")
    kind = prefix.lower()
    if not sep or kind not in _PREFIXED or not rest:
        return s
    if kind == "csv":
        path, target = rest, None
        if not Path(rest).exists() and ":" in rest:
            path, target = rest.rsplit(":", 1)
        named = os.path.abspath(path) + ("" if target is None else f":{target}")
    elif kind == "npy":
        named = ",".join(os.path.abspath(part.strip()) for part in rest.split(","))
    else:  # npz:FILE, mnist:DIR, fashion-mnist:DIR
        named = os.path.abspath(rest)
    return f"{prefix}:{named}"


def _load_csv_spec(spec: str, rest: str, range_of: Any = None) -> Data:
    if not rest:
        raise ValueError(f"data spec {spec!r}: expected csv:FILE[:TARGET], the FILE is empty.")
    path, target = rest, "-1"
    if not Path(rest).exists() and ":" in rest:
        path, target = rest.rsplit(":", 1)
    tgt: int | str
    try:
        tgt = int(target)
    except ValueError:
        tgt = target
    if not Path(path).exists():  # read_csv refuses what is not a regular file
        raise FileNotFoundError(f"data spec {spec!r}: CSV file {path!r} not found.")
    X, y, names = read_csv(path, target=tgt, range_of=range_of)
    n_cols = len(names) + 1
    made_up = [f"col{j}" for j in range(n_cols) if isinstance(tgt, int) and j != tgt % n_cols]
    return Data(X, y, infer_task(y), spec, feature_names=names,
                columns=None if names == made_up else list(names))  # without a header: None


def _load_npz_spec(spec: str, rest: str, range_of: Any = None) -> Data:
    if not Path(rest).exists():
        raise FileNotFoundError(f"data spec {spec!r}: file {rest!r} not found.")
    arrays = _read_npz(Path(rest), ["X", "y"], optional=("X_test", "y_test"))
    X, y = arrays["X"], arrays["y"]
    _check_lengths(rest, X, y, "X", "y")
    X_test, y_test = arrays.get("X_test"), arrays.get("y_test")
    if X_test is None or y_test is None:
        X_test = y_test = None
    else:
        _check_lengths(rest, X_test, y_test, "X_test", "y_test")
    X, y, X_test, y_test = shaped(rest, X, y, X_test, y_test)
    return Data(X, y, infer_task(y), spec, X_test=X_test, y_test=y_test)


def _load_mnist_spec(spec: str, rest: str, range_of: Any = None) -> Data:
    if not rest:
        raise ValueError(f"data spec {spec!r}: expected a folder after the colon.")
    X, y = load_mnist(rest, "train")
    X_test, y_test = load_mnist(rest, "test")
    return Data(X, y, "classification", spec, X_test=X_test, y_test=y_test)


_PREFIXED: dict[str, Callable[[str, str, Any], Data]] = {
    "mnist": _load_mnist_spec,
    "fashion-mnist": _load_mnist_spec,
    "csv": _load_csv_spec,
    "npz": _load_npz_spec,
    "npy": lambda spec, rest, range_of: _npy_source().load_npy_spec(spec),
}


def _npy_source() -> Any:
    from . import npy_source  # it builds on this module

    return npy_source


def load_data(spec: str, task: str = "auto", range_of: Any = "float32") -> Data:
    """Load a data set from a command-line spec string.

    Parameters
    ----------
    spec : str
        One of:

        * ``digits``, ``iris``, ``wine``, ``breast_cancer``, ``diabetes``:
          scikit-learn's bundled sets (needs ``glassnet[data]``);
        * ``circles``, ``xor``, ``gauss``, ``spiral``, ``moons``, ``spiral3``,
          ``gauss3`` (classification; the last two of three classes),
          ``plane``, ``multi_gauss`` (regression): :func:`make_2d` with its
          defaults (500 samples, no noise, seed 0);
        * ``mnist:DIR`` or ``fashion-mnist:DIR``: the IDX files in ``DIR``, with
          the official test split in ``X_test`` / ``y_test``;
        * ``csv:FILE[:TARGET]``: :func:`read_csv`, TARGET a column name or an int
          index (default -1, the last column);
        * ``npz:FILE``: arrays ``X`` and ``y`` (and ``X_test``/``y_test`` if present);
        * ``npy:X.npy,y.npy[,X_test.npy,y_test.npy]``: ``X`` a read-only memory map (a file
          larger than memory trains batch by batch), ``y`` in memory; see
          :func:`glassnet.data.npy_source.load_npy_spec`;
        * a path ``FILE.csv``, ``FILE.npz`` or ``X.npy,y.npy[,...]`` alone: as with
          the prefix ``csv:``, ``npz:`` or ``npy:`` (:func:`prefixed_spec`).
    task : {'auto', 'classification', 'regression'}, default='auto'
        ``auto``: whole-number targets are class labels (unless they look like IDs or a
        quantity: refused, see :func:`~glassnet.data.labels.not_labels`), others quantities.
        ``classification``: whole-number class labels, however many. ``regression``: every
        target a quantity (float).
    range_of : {'float32', 'float64'} or None, default='float32'
        The dtype of the network that will take the features (float32, a network's default;
        None: no check): a feature beyond its range is
        refused now, naming the file and where in it (a CSV's line and column, an array's row
        and column), not later as an infinity. A memory map's rows are checked as ``fit``
        reads them. The features keep their dtype.

    Returns
    -------
    Data
        ``task`` is ``"classification"`` for integer labels, else ``"regression"``. Class
        labels are mapped to ``0 .. k-1`` (train and test splits alike) with the original
        labels in ``Data.classes``.

    Raises
    ------
    ValueError
        For an unknown spec (the message lists the accepted forms), a file that cannot be
        read (naming it), or class labels that are not class labels: a single class, or
        values most of which occur once (IDs, a quantity stored as whole numbers); see
        :func:`~glassnet.data.encode_labels`.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str, got {type(spec).__name__}.")
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"The 'task' parameter of load_data must be 'auto', 'classification' "
                         f"or 'regression'; got {task!r}.")
    s = prefixed_spec(spec)
    if s in SKLEARN_DATASETS:
        X, y, names = _sklearn_bunch(s)
        data = Data(X, y, SKLEARN_DATASETS[s], s, feature_names=names)
    elif s in SYNTHETIC_2D:
        X, y = make_2d(s)
        data = Data(X, y, SYNTHETIC_TASKS[s], s, feature_names=["x1", "x2"])
    else:
        prefix, sep, rest = s.partition(":")
        if not (sep and prefix.lower() in _PREFIXED):
            raise ValueError(f"unknown data spec {spec!r}; expected one of: {SPEC_FORMS}.")
        data = _PREFIXED[prefix.lower()](s, rest, range_of)
    if range_of is not None:
        for X, name in ((data.X, "X"), (data.X_test, "X_test")):
            if X is not None and not isinstance(X, np.memmap):
                check_fits(X, range_of, f"data {data.name!r}: {name}")
    return _with_task(data, task)


def _with_task(data: Data, task: str) -> Data:
    """The targets as ``task`` wants them; class labels (train and test together) as
    ``0 .. k-1``, the originals kept."""
    if task == "regression":
        for y in (data.y, data.y_test):
            if y is not None and np.asarray(y).dtype.kind in "USO":
                _refuse_text_quantities(data.name, np.asarray(y))
        data.task = "regression"
        data.y = np.asarray(data.y, dtype=np.float64)
        if data.y_test is not None:
            data.y_test = np.asarray(data.y_test, dtype=np.float64)
        return data
    if task == "classification" and data.task != "classification":
        y = np.asarray(data.y)
        if not (y.dtype.kind in "biuUSO" or np.all(y == np.round(y))):
            bad = ", ".join(f"{v:g}" for v in y[y != np.round(y)][:3])
            reason = f"class labels must be whole numbers; the target has values such as {bad}"
            raise NotClassLabels(f"data {data.name!r}: task='classification': {reason}.",
                                 reason, 0)
        data.task = "classification"
    if data.task != "classification" or np.ndim(data.y) != 1:
        return data
    n = len(data.y)
    has_test = data.y_test is not None and np.ndim(data.y_test) == 1
    both = np.concatenate([data.y, data.y_test]) if has_test else data.y  # type: ignore[list-item]
    text = np.asarray(both).dtype.kind in "US"  # plainly class labels, however many
    indices, data.classes = encode_labels(both, f"data {data.name!r}",
                                          check=task == "auto" and not text)
    data.y = indices[:n]
    if has_test:
        data.y_test = indices[n:]
    return data


def _refuse_text_quantities(name: str, y: np.ndarray) -> None:
    """A regression on a target that is not numbers: text labels, or integers beyond int64."""
    if y.dtype.kind == "O":  # Python ints beyond int64: numbers, but not exact as floats
        return
    sample = ", ".join(repr(str(v)) for v in np.unique(y)[:3])
    reason = f"the target holds text, such as {sample}, which are class labels, not quantities"
    raise NotQuantities(f"data {name!r}: task='regression': {reason}; train a classifier "
                        "(task='auto' or 'classification') or name a numeric target column.",
                        reason)
