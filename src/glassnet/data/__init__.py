"""Data loading, synthetic data sets, scalers, splits and batching.

Conventions used throughout this module:

* Samples are rows: ``X`` has shape ``(n_samples, n_features)`` and ``y`` has
  shape ``(n_samples,)``.
* Randomness only comes from an explicit ``seed`` argument, which may be an
  ``int`` or a :class:`numpy.random.Generator`; nothing here touches NumPy's
  global random state.
* Bad values raise :class:`ValueError`, wrong types raise :class:`TypeError`,
  missing files raise :class:`FileNotFoundError`.
* The only runtime dependency is NumPy.  :func:`load_sklearn` imports
  scikit-learn lazily (``pip install glassnet[data]``).

Classification labels are always ``int64`` class indices ``0 .. n_classes-1``;
regression targets are ``float64``.  The task of a target is inferred from its
dtype: an integer (or bool) ``y`` is classification, a floating ``y`` is
regression (see :func:`infer_task`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import SeedLike, _check_positive_int, _rng
from .files import (
    _np_load,
    load_arrays,
    load_mnist,
    load_npz,
    open_memmap_dataset,
    read_csv,
    read_idx,
)
from .synthetic import SYNTHETIC_2D, SYNTHETIC_TASKS, make_2d

__all__ = [
    "Data",
    "MinMaxScaler",
    "SKLEARN_DATASETS",
    "SYNTHETIC_2D",
    "SYNTHETIC_TASKS",
    "StandardScaler",
    "infer_task",
    "iter_batches",
    "load_arrays",
    "load_data",
    "load_mnist",
    "load_npz",
    "load_sklearn",
    "make_2d",
    "one_hot",
    "open_memmap_dataset",
    "read_csv",
    "read_idx",
    "scaler_from_dict",
    "train_test_split",
    "train_val_test_split",
]


def _as_2d_float(X: Any, name: str = "X") -> np.ndarray:
    """Return X as a 2-D floating array (float dtypes kept, others to float64)."""
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {type(X).__name__}.")
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold numbers (bool, int or float), got dtype {arr.dtype}; "
            f"convert it with np.asarray({name}, dtype=float)."
        )
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n_samples, n_features), got shape {arr.shape}; "
            f"for a single feature use {name}.reshape(-1, 1)."
        )
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def infer_task(y: Any) -> str:
    """Return ``"classification"`` for an integer/bool ``y``, else ``"regression"``.

    Parameters
    ----------
    y : array_like, shape (n_samples,)
        Targets.

    Returns
    -------
    str
        ``"classification"`` if ``y`` has an integer or bool dtype,
        ``"regression"`` otherwise.
    """
    kind = np.asarray(y).dtype.kind
    return "classification" if kind in "biu" else "regression"


# --------------------------------------------------------------------------
# 4. scikit-learn bundled data sets
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
# 6. Scalers
# --------------------------------------------------------------------------


class _Scaler:
    """Shared plumbing for the scalers."""

    _params: tuple[str, ...] = ()

    def _check_fitted(self) -> None:
        if getattr(self, self._params[0]) is None:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted yet; call fit(X_train) first."
            )

    def _check_X(self, X: Any) -> np.ndarray:
        self._check_fitted()
        arr = _as_2d_float(X)
        n = len(getattr(self, self._params[0]))
        if arr.shape[1] != n:
            raise ValueError(
                f"X has {arr.shape[1]} features but {type(self).__name__} was fitted on "
                f"{n}; transform data with the same columns as the training data."
            )
        return arr

    @staticmethod
    def _check_fit_X(X: Any) -> np.ndarray:
        arr = _as_2d_float(X)
        if arr.shape[0] == 0:
            raise ValueError("X has no rows; fit needs at least one sample.")
        if not np.all(np.isfinite(arr)):
            raise ValueError("X contains NaN or infinite values; clean the data before fitting.")
        return arr

    def fit_transform(self, X: Any) -> np.ndarray:
        """Fit to ``X`` and return ``X`` transformed; see :meth:`fit` and :meth:`transform`."""
        return self.fit(X).transform(X)  # type: ignore[attr-defined, no-any-return]

    @staticmethod
    def _vector(d: dict[str, Any], key: str, cls: str) -> np.ndarray:
        if key not in d:
            raise ValueError(
                f"{cls} dict is missing key {key!r}; it has {sorted(d)}; use a dict "
                f"made by {cls}.to_dict()."
            )
        try:
            v = np.asarray(d[key], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{cls} dict: {key!r} must be a list of numbers ({exc}).") from None
        if v.ndim != 1:
            raise ValueError(f"{cls} dict: {key!r} must be a flat list, got shape {v.shape}.")
        return v

    @staticmethod
    def _check_type(d: Any, cls: str) -> None:
        if not isinstance(d, dict):
            raise TypeError(f"expected a dict made by {cls}.to_dict(), got {type(d).__name__}.")
        if d.get("type") != cls:
            raise ValueError(f"expected a dict with type {cls!r}, got type {d.get('type')!r}.")


class StandardScaler(_Scaler):
    """Scale each feature to zero mean and unit variance: ``(X - mean) / scale``.

    Fit it on the training split only, then transform every split with it.
    Constant features get ``scale = 1`` (no division by zero), so they map to 0.
    A floating ``X`` keeps its dtype (float32 in, float32 out); integer and bool
    ``X`` become float64.

    Attributes
    ----------
    mean_ : ndarray of float64, shape (n_features,) or None before fit
    scale_ : ndarray of float64, shape (n_features,) or None before fit
        Population standard deviation (``ddof=0``), 1 for constant features.
    """

    _params = ("mean_", "scale_")

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: Any) -> StandardScaler:
        """Compute per-feature mean and standard deviation.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training data.

        Returns
        -------
        StandardScaler
            ``self``.
        """
        arr = self._check_fit_X(X).astype(np.float64, copy=False)
        mean = arr.mean(axis=0)
        std = arr.std(axis=0)
        tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
        self.mean_ = mean
        self.scale_ = np.where(std <= tiny, 1.0, std)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Return ``(X - mean_) / scale_``, shape (n_samples, n_features), dtype of X."""
        arr = self._check_X(X)
        assert self.mean_ is not None and self.scale_ is not None
        dt = arr.dtype
        return ((arr - self.mean_.astype(dt)) / self.scale_.astype(dt)).astype(dt, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Return ``X * scale_ + mean_``, shape (n_samples, n_features), dtype of X."""
        arr = self._check_X(X)
        assert self.mean_ is not None and self.scale_ is not None
        dt = arr.dtype
        return (arr * self.scale_.astype(dt) + self.mean_.astype(dt)).astype(dt, copy=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict ``{"type", "mean", "scale"}`` of plain lists."""
        self._check_fitted()
        assert self.mean_ is not None and self.scale_ is not None
        return {
            "type": "StandardScaler",
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StandardScaler:
        """Rebuild a fitted scaler from :meth:`to_dict` output."""
        cls._check_type(d, "StandardScaler")
        mean = cls._vector(d, "mean", "StandardScaler")
        scale = cls._vector(d, "scale", "StandardScaler")
        if mean.shape != scale.shape:
            raise ValueError(
                f"StandardScaler dict: 'mean' has {mean.size} values but 'scale' has "
                f"{scale.size}; they must match."
            )
        if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
            raise ValueError("StandardScaler dict: 'scale' values must be finite and > 0.")
        obj = cls()
        obj.mean_, obj.scale_ = mean, scale
        return obj


class MinMaxScaler(_Scaler):
    """Scale each feature linearly so the training minimum and maximum map to
    ``feature_range`` (default ``(0, 1)``).

    Fit it on the training split only; other splits may fall outside the range.
    Constant features get a data range of 1 (no division by zero), so they map to
    the lower end of ``feature_range``.  A floating ``X`` keeps its dtype.

    Parameters
    ----------
    feature_range : tuple of 2 floats, default (0.0, 1.0)
        Target ``(low, high)`` with ``low < high``.

    Attributes
    ----------
    data_min_, data_max_ : ndarray of float64, shape (n_features,) or None before fit
    """

    _params = ("data_min_", "data_max_")

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)) -> None:
        if not isinstance(feature_range, (tuple, list)) or len(feature_range) != 2:
            raise TypeError(f"feature_range must be a (low, high) pair, got {feature_range!r}.")
        low, high = float(feature_range[0]), float(feature_range[1])
        if not low < high:
            raise ValueError(
                f"feature_range must have low < high, got {feature_range!r}; e.g. (0, 1)."
            )
        self.feature_range = (low, high)
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None

    def fit(self, X: Any) -> MinMaxScaler:
        """Compute per-feature minimum and maximum.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training data.

        Returns
        -------
        MinMaxScaler
            ``self``.
        """
        arr = self._check_fit_X(X)
        self.data_min_ = arr.min(axis=0).astype(np.float64)
        self.data_max_ = arr.max(axis=0).astype(np.float64)
        return self

    def _scale_offset(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.data_min_ is not None and self.data_max_ is not None
        rng = self.data_max_ - self.data_min_
        rng = np.where(rng == 0, 1.0, rng)
        low, high = self.feature_range
        scale = (high - low) / rng
        return scale, low - self.data_min_ * scale

    def transform(self, X: Any) -> np.ndarray:
        """Return ``X * scale + offset``, shape (n_samples, n_features), dtype of X."""
        arr = self._check_X(X)
        scale, offset = self._scale_offset()
        dt = arr.dtype
        return (arr * scale.astype(dt) + offset.astype(dt)).astype(dt, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo :meth:`transform`; shape (n_samples, n_features), dtype of X."""
        arr = self._check_X(X)
        scale, offset = self._scale_offset()
        dt = arr.dtype
        return ((arr - offset.astype(dt)) / scale.astype(dt)).astype(dt, copy=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict ``{"type", "feature_range", "data_min", "data_max"}``."""
        self._check_fitted()
        assert self.data_min_ is not None and self.data_max_ is not None
        return {
            "type": "MinMaxScaler",
            "feature_range": list(self.feature_range),
            "data_min": self.data_min_.tolist(),
            "data_max": self.data_max_.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MinMaxScaler:
        """Rebuild a fitted scaler from :meth:`to_dict` output."""
        cls._check_type(d, "MinMaxScaler")
        fr = d.get("feature_range", [0.0, 1.0])
        lo = cls._vector(d, "data_min", "MinMaxScaler")
        hi = cls._vector(d, "data_max", "MinMaxScaler")
        if lo.shape != hi.shape:
            raise ValueError(
                f"MinMaxScaler dict: 'data_min' has {lo.size} values but 'data_max' has "
                f"{hi.size}; they must match."
            )
        if np.any(hi < lo):
            raise ValueError("MinMaxScaler dict: every 'data_max' must be >= 'data_min'.")
        obj = cls(tuple(fr))  # type: ignore[arg-type]
        obj.data_min_, obj.data_max_ = lo, hi
        return obj


_SCALERS: dict[str, type[StandardScaler] | type[MinMaxScaler]] = {
    "StandardScaler": StandardScaler,
    "MinMaxScaler": MinMaxScaler,
}


def scaler_from_dict(d: dict[str, Any]) -> StandardScaler | MinMaxScaler:
    """Rebuild a scaler from a ``to_dict()`` dict, dispatching on its ``"type"`` key.

    Parameters
    ----------
    d : dict
        Output of :meth:`StandardScaler.to_dict` or :meth:`MinMaxScaler.to_dict`
        (possibly after a JSON round trip).

    Returns
    -------
    StandardScaler or MinMaxScaler
    """
    if not isinstance(d, dict):
        raise TypeError(f"expected a scaler dict, got {type(d).__name__}.")
    kind = d.get("type")
    if kind not in _SCALERS:
        raise ValueError(
            f"unknown scaler type {kind!r}; expected one of {sorted(_SCALERS)} in the "
            f"dict's 'type' key."
        )
    return _SCALERS[kind].from_dict(d)


# --------------------------------------------------------------------------
# 7. Labels and splits
# --------------------------------------------------------------------------


def _as_labels(y: Any, name: str = "y") -> np.ndarray:
    """Validate class labels and return them as int64 (whole floats accepted)."""
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold integer class labels, got dtype {arr.dtype}; map class "
            f"names to 0..n_classes-1 first (e.g. np.unique({name}, return_inverse=True))."
        )
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D with shape (n_samples,), got shape {arr.shape}.")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if np.any(bad):
            raise ValueError(
                f"{name} must hold integer class labels, got non-integer value "
                f"{arr[bad][0].item()!r}; regression targets cannot be one-hot encoded."
            )
    lab = arr.astype(np.int64)
    if lab.size and lab.min() < 0:
        raise ValueError(
            f"{name} must hold labels >= 0, got {lab.min()}; relabel classes as "
            f"0..n_classes-1."
        )
    return lab


def one_hot(y: Any, n_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer class labels.

    Parameters
    ----------
    y : array_like of int, shape (n_samples,)
        Labels in ``0 .. n_classes-1`` (floats with whole values are accepted).
    n_classes : int, optional
        Number of classes; defaults to ``max(y) + 1``.
    dtype : dtype, default "float32"
        Output dtype.

    Returns
    -------
    ndarray, shape (n_samples, n_classes)
        Row ``i`` is all zeros except a one in column ``y[i]``.
    """
    lab = _as_labels(y)
    if n_classes is None:
        k = int(lab.max()) + 1 if lab.size else 0
        if k == 0:
            raise ValueError("y is empty; pass n_classes to encode an empty label array.")
    else:
        k = _check_positive_int(n_classes, "n_classes")
        if lab.size and lab.max() >= k:
            raise ValueError(
                f"y has label {lab.max()} but n_classes={k} allows only 0..{k - 1}; pass "
                f"a larger n_classes or leave it out."
            )
    out = np.zeros((lab.size, k), dtype=dtype)
    out[np.arange(lab.size), lab] = 1
    return out


def _n_from_size(size: Any, n: int, name: str) -> int:
    """Turn a fraction (0 < f < 1) or a count (int) into a number of samples."""
    if isinstance(size, (bool, np.bool_)):
        raise TypeError(f"{name} must be a float fraction or an int count, got bool.")
    if isinstance(size, (int, np.integer)):
        k = int(size)
    elif isinstance(size, (float, np.floating)):
        if not 0.0 < size < 1.0:
            raise ValueError(
                f"{name} as a fraction must be in (0, 1), got {size}; e.g. {name}=0.2, or "
                f"pass an int count."
            )
        k = int(round(size * n))
    else:
        raise TypeError(f"{name} must be a float fraction or an int count, got {type(size).__name__}.")
    if not 1 <= k <= n - 1:
        raise ValueError(
            f"{name}={size!r} gives {k} of {n} samples; each part needs at least 1 sample, "
            f"so expected 1..{n - 1}."
        )
    return k


def _split_indices(
    y: np.ndarray | None, idx: np.ndarray, k: int, stratify: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, taken) with ``len(taken) == k``."""
    if stratify and y is not None and infer_task(y) == "classification":
        labels = y[idx]
        classes, inverse = np.unique(labels, return_inverse=True)
        counts = np.bincount(inverse, minlength=classes.size)
        # Largest-remainder allocation of k across classes, proportional to class size.
        exact = counts * (k / idx.size)
        take = np.floor(exact).astype(np.int64)
        short = k - int(take.sum())
        if short:
            order = np.argsort(-(exact - take), kind="stable")
            take[order[:short]] += 1
        taken = []
        for c in range(classes.size):
            members = idx[inverse == c]
            taken.append(rng.permutation(members)[: take[c]])
        chosen = np.concatenate(taken)
    else:
        chosen = rng.choice(idx, size=k, replace=False)
    mask = np.zeros(idx.size, dtype=bool)
    mask[np.searchsorted(idx, chosen)] = True
    return rng.permutation(idx[~mask]), rng.permutation(idx[mask])


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    Xa, ya = np.asarray(X), np.asarray(y)
    if Xa.ndim < 1 or ya.ndim < 1:
        raise ValueError("X and y must be arrays with one row per sample, got a scalar.")
    if len(Xa) != len(ya):
        raise ValueError(
            f"X has {len(Xa)} samples but y has {len(ya)}; they must have the same length."
        )
    if len(Xa) < 2:
        raise ValueError(f"need at least 2 samples to split, got {len(Xa)}.")
    return Xa, ya


def train_test_split(
    X: Any, y: Any, test_size: float | int = 0.2, stratify: bool = True, seed: SeedLike = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into train and test parts.

    Parameters
    ----------
    X : array_like, shape (n_samples, ...)
    y : array_like, shape (n_samples,)
    test_size : float or int, default 0.2
        Fraction in ``(0, 1)`` (rounded to a count) or a number of samples.
    stratify : bool, default True
        Keep class proportions in both parts when ``y`` holds classification
        labels (integer dtype); a floating ``y`` (regression) is always split by
        a plain shuffle.
    seed : int or numpy.random.Generator, default 0

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        New arrays (copies) in shuffled order; the inputs are not altered.
    """
    Xa, ya = _check_xy(X, y)
    n = len(Xa)
    k = _n_from_size(test_size, n, "test_size")
    rng = _rng(seed)
    train, test = _split_indices(ya, np.arange(n), k, stratify, rng)
    return Xa[train], Xa[test], ya[train], ya[test]


def train_val_test_split(
    X: Any,
    y: Any,
    val_size: float | int = 0.1,
    test_size: float | int = 0.2,
    stratify: bool = True,
    seed: SeedLike = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into train, validation and test parts.

    Parameters
    ----------
    X : array_like, shape (n_samples, ...)
    y : array_like, shape (n_samples,)
    val_size, test_size : float or int, default 0.1 and 0.2
        Fractions of the *whole* data set (in ``(0, 1)``, summing to less than 1)
        or numbers of samples.
    stratify : bool, default True
        As in :func:`train_test_split`.
    seed : int or numpy.random.Generator, default 0

    Returns
    -------
    X_train, X_val, X_test, y_train, y_val, y_test : ndarray
        New arrays (copies); the inputs are not altered.
    """
    Xa, ya = _check_xy(X, y)
    n = len(Xa)
    n_test = _n_from_size(test_size, n, "test_size")
    n_val = _n_from_size(val_size, n, "val_size")
    if n_test + n_val > n - 1:
        raise ValueError(
            f"val_size={val_size!r} and test_size={test_size!r} leave {n - n_test - n_val} "
            f"of {n} samples for training; expected at least 1, so make them smaller."
        )
    rng = _rng(seed)
    rest, test = _split_indices(ya, np.arange(n), n_test, stratify, rng)
    train, val = _split_indices(ya, np.sort(rest), n_val, stratify, rng)
    return Xa[train], Xa[val], Xa[test], ya[train], ya[val], ya[test]


def iter_batches(
    X: Any,
    y: Any,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: SeedLike = 0,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield mini-batches, reading only the rows of each batch.

    One call is one epoch: every sample appears exactly once (unless
    ``drop_last`` drops the short final batch).  Within a batch the row indices
    are sorted before indexing, so a :class:`numpy.memmap` (see
    :func:`open_memmap_dataset`) is read batch by batch with forward reads and
    the data set never has to fit in memory.

    Parameters
    ----------
    X : ndarray or numpy.memmap, shape (n_samples, ...)
    y : ndarray or numpy.memmap, shape (n_samples, ...), or None
    batch_size : int
        Rows per batch (the last batch may be smaller).
    shuffle : bool, default True
        Visit samples in a random order.
    seed : int or numpy.random.Generator, default 0
        Order of the shuffle.  An int gives the same order every call; pass one
        Generator for all epochs to get a new order each epoch.
    drop_last : bool, default False
        Skip a final batch smaller than ``batch_size``.

    Yields
    ------
    X_batch : ndarray, shape (batch, ...)
        In-memory copy of the batch's rows.
    y_batch : ndarray, shape (batch, ...), or None
    """
    if not hasattr(X, "shape") or not hasattr(X, "__getitem__"):
        raise TypeError(f"X must be a NumPy array or memmap, got {type(X).__name__}.")
    n = X.shape[0]
    if y is not None:
        if not hasattr(y, "shape"):
            raise TypeError(f"y must be a NumPy array, memmap or None, got {type(y).__name__}.")
        if y.shape[0] != n:
            raise ValueError(f"X has {n} samples but y has {y.shape[0]}; they must match.")
    bs = _check_positive_int(batch_size, "batch_size")
    order = _rng(seed).permutation(n) if shuffle else np.arange(n)
    stop_at = n - n % bs if drop_last else n
    for start in range(0, stop_at, bs):
        idx = np.sort(order[start : start + bs])
        xb = np.asarray(X[idx])
        yb = None if y is None else np.asarray(y[idx])
        yield xb, yb


# --------------------------------------------------------------------------
# 9. Data specs for the command line
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
