"""Preprocessing: the feature scalers and the targets (:func:`infer_task`, :func:`one_hot`).

Fit a scaler on the training split only and transform every split with it; ``to_dict`` and
:func:`scaler_from_dict` carry a fitted scaler through JSON (a saved model's header keeps it).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from ._checks import _check_positive_int, all_finite, as_dtype

__all__ = ["MinMaxScaler", "StandardScaler", "infer_task", "one_hot", "scaler_from_dict"]

CHUNK_ROWS = 65536
"""A scaler fits a memory-mapped ``X`` longer than this by chunks of this many rows."""


# --------------------------------------------------------------------------
# Scalers
# --------------------------------------------------------------------------


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


def _check_floor(floor: Any, owner: str) -> float:
    from ..validation import check_scalar

    return check_scalar(floor, "floor", owner, low=0.0)


def _floored(spread: np.ndarray, varies: np.ndarray, floor: float) -> np.ndarray:
    """``max(spread_j, floor * median spread)`` where feature ``j`` varies, else 0."""
    least = floor * np.median(spread[varies]) if varies.any() else 0.0
    return np.where(varies, np.maximum(spread, least), 0.0)


def _reciprocal(scale: np.ndarray) -> np.ndarray:
    """``1 / scale``, and 0 where ``scale`` is 0 (a feature that maps to a constant)."""
    return np.divide(1.0, scale, out=np.zeros_like(scale), where=scale != 0)


class _Scaler:
    """Shared plumbing for the scalers."""

    _params: tuple[str, ...] = ()

    def _check_fitted(self) -> None:
        if getattr(self, self._params[0]) is None:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted yet; call fit(X_train) first."
            )

    def _n_features(self) -> int:
        """The number of features the scaler was fitted on (refused before it is fitted)."""
        self._check_fitted()
        return len(getattr(self, self._params[0]))

    def _check_X(self, X: Any) -> np.ndarray:
        n = self._n_features()
        arr = _as_2d_float(X)
        if arr.shape[1] != n:
            raise ValueError(
                f"X has {arr.shape[1]} features but {type(self).__name__} was fitted on "
                f"{n}; transform data with the same columns as the training data."
            )
        return arr

    @staticmethod
    def _apply(arr: np.ndarray, formula: Any, *params: Any) -> np.ndarray:
        """``formula(arr, *params)`` in ``arr``'s dtype, the fitted float64 ``params`` cast to
        it. Where that overflows (float32 data near the end of its range, ``3e38 - -3e38``),
        it is computed in float64 and cast back, and a result beyond the dtype is refused
        (:func:`~glassnet.data._checks.as_dtype`): never an infinity or a RuntimeWarning."""
        dt = arr.dtype
        with np.errstate(over="ignore", invalid="ignore"):
            out = formula(arr, *(np.asarray(p).astype(dt) for p in params)).astype(dt, copy=False)
        if all_finite(out):
            return out
        return as_dtype(formula(arr.astype(np.float64), *params), dt,
                        fix="Clean the data before scaling it.")

    _squares = False  # whether fit sums squares (StandardScaler's variance)

    @classmethod
    def _check_fit_X(cls, X: Any) -> np.ndarray:
        arr = _as_2d_float(X)
        if arr.shape[0] == 0:
            raise ValueError("X has no rows; fit needs at least one sample.")
        if not np.all(np.isfinite(arr)):
            raise ValueError("X contains NaN or infinite values; clean the data before fitting.")
        limit = math.sqrt(np.finfo(np.float64).max / len(arr))  # a sum of squares stays finite
        big = (np.abs(arr).max(axis=0).astype(np.float64) > limit) if cls._squares \
            else np.zeros(1, bool)
        if np.any(big):
            j = int(np.argmax(big))
            raise ValueError(f"X: column {j} holds {float(np.abs(arr[:, j]).max()):.4g}, whose "
                             "square overflows the scaler's float64 moments; rescale that column "
                             "first.")
        return arr

    @classmethod
    def _fit_chunks(cls, X: Any) -> Iterator[np.ndarray]:
        """The training rows, checked: one array, or a memory map (``np.memmap``) as chunks of
        ``CHUNK_ROWS`` rows, so that fitting on a file larger than memory reads it piece by
        piece (a chunk in memory at a time)."""
        if not isinstance(X, np.memmap) or len(X) <= CHUNK_ROWS:
            yield cls._check_fit_X(X)
            return
        for start in range(0, len(X), CHUNK_ROWS):
            try:
                yield cls._check_fit_X(X[start:start + CHUNK_ROWS])
            except ValueError as err:
                raise ValueError(f"rows {start} to {min(start + CHUNK_ROWS, len(X)) - 1}: "
                                 f"{err}") from None

    def __repr__(self) -> str:
        from ..display import scaler_summary
        return scaler_summary(self)

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
    A floating ``X`` keeps its dtype (float32 in, float32 out); integer and bool
    ``X`` become float64.

    The variance floor: ``scale_j = max(std_j, floor * median_k std_k)``, the median taken
    over the features that vary, so that a feature that barely varies in the training split
    (a border pixel that is lit in two images) is not divided by a tiny deviation. A feature
    that is constant in the training split carries nothing the network could learn from; its
    ``scale_`` is 0 and it maps to 0 in every split, whatever values it takes there.

    Parameters
    ----------
    floor : float, default=0.1
        The smallest scale, as a fraction of the median standard deviation of the features.
        0 keeps every deviation as it is (constant features still map to 0).

    Attributes
    ----------
    mean_ : ndarray of float64, shape (n_features,) or None before fit
    scale_ : ndarray of float64, shape (n_features,) or None before fit
        Population standard deviation (``ddof=0``), floored; 0 for constant features.
    """

    _squares = True
    _params = ("mean_", "scale_")

    def __init__(self, floor: float = 0.1) -> None:
        self.floor = _check_floor(floor, "StandardScaler")
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
        n, mean, var = 0, 0.0, 0.0
        for chunk in self._fit_chunks(X):  # Chan et al.'s merge of the chunks' moments:
            chunk = chunk.astype(np.float64, copy=False)  # M2 = M2_a + M2_b + d^2 n_a n_b / n
            k, chunk_mean, chunk_var = len(chunk), chunk.mean(axis=0), chunk.var(axis=0)
            if n == 0:
                mean, var = chunk_mean, chunk_var
            else:
                d = chunk_mean - mean
                var = (var * n + chunk_var * k + d**2 * (n * k / (n + k))) / (n + k)
                mean = mean + d * (k / (n + k))
            n += k
        std = np.sqrt(var)
        varies = std > 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
        self.mean_ = mean
        self.scale_ = _floored(std, varies, self.floor)
        return self

    def operations(self) -> tuple[str, np.ndarray, np.ndarray]:
        """``('sub_mul', mean_, 1 / scale_)``: :meth:`transform` is ``(X - p) * q``, with
        ``q = 0`` for a constant feature. The exporters write these same two operations."""
        assert self.mean_ is not None and self.scale_ is not None
        return "sub_mul", self.mean_, _reciprocal(self.scale_)

    def transform(self, X: Any) -> np.ndarray:
        """Return ``(X - mean_) / scale_`` (0 where ``scale_`` is 0), dtype of X."""
        arr = self._check_X(X)
        _, mean, inv = self.operations()
        return self._apply(arr, lambda x, m, q: (x - m) * q, mean, inv)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Return ``X * scale_ + mean_``, shape (n_samples, n_features), dtype of X."""
        arr = self._check_X(X)
        assert self.mean_ is not None and self.scale_ is not None
        return self._apply(arr, lambda x, s, m: x * s + m, self.scale_, self.mean_)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict ``{"type", "floor", "mean", "scale"}`` of plain lists."""
        self._check_fitted()
        assert self.mean_ is not None and self.scale_ is not None
        return {
            "type": "StandardScaler",
            "floor": self.floor,
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
        if np.any(scale < 0) or not np.all(np.isfinite(scale)) or not np.all(np.isfinite(mean)):
            raise ValueError("StandardScaler dict: 'mean' values must be finite and 'scale' "
                             "values finite and >= 0 (0 for a constant feature).")
        obj = cls(d.get("floor", 0.1))
        obj.mean_, obj.scale_ = mean, scale
        return obj


class MinMaxScaler(_Scaler):
    """Scale linearly so the training minimum and maximum map to ``feature_range``
    (default ``(0, 1)``): ``X * scale + offset``, ``scale = (high - low) / (max - min)``.

    Fit it on the training split only; other splits may fall outside the range.
    With ``per_feature=False`` one minimum and one maximum, over all features, scale
    every feature alike: pixels to ``[0, 1]``, where a border pixel that is dark in
    every training image keeps its brightness in a test image instead of being
    stretched by its own tiny range. The range floor, as in :class:`StandardScaler`:
    each feature's range is at least ``floor`` times the median range of the features
    that vary. A feature constant in the training split (a range of 0) maps to the
    lower end of ``feature_range`` in every split. A floating ``X`` keeps its dtype.

    Parameters
    ----------
    feature_range : tuple of 2 floats, default (0.0, 1.0)
        Target ``(low, high)`` with ``low < high``.
    per_feature : bool, default=True
        One range per feature (True), or one range for all of them (False).
    floor : float, default=0.1
        The smallest range, as a fraction of the median range of the features.

    Attributes
    ----------
    data_min_, data_max_ : ndarray of float64, shape (n_features,) or None before fit
        With ``per_feature=False`` every entry holds the same global value.
    """

    _params = ("data_min_", "data_max_")

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0),
                 per_feature: bool = True, floor: float = 0.1) -> None:
        if not isinstance(feature_range, (tuple, list)) or len(feature_range) != 2:
            raise TypeError(f"feature_range must be a (low, high) pair, got {feature_range!r}.")
        low, high = float(feature_range[0]), float(feature_range[1])
        if not low < high:
            raise ValueError(
                f"feature_range must have low < high, got {feature_range!r}; e.g. (0, 1)."
            )
        if not isinstance(per_feature, (bool, np.bool_)):
            raise TypeError(f"The 'per_feature' parameter of MinMaxScaler must be a bool; "
                            f"got {per_feature!r}.")
        self.feature_range = (low, high)
        self.per_feature = bool(per_feature)
        self.floor = _check_floor(floor, "MinMaxScaler")
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
        chunks = [(c.min(axis=0), c.max(axis=0)) for c in self._fit_chunks(X)]
        self.data_min_ = np.min([lo for lo, _ in chunks], axis=0).astype(np.float64)
        self.data_max_ = np.max([hi for _, hi in chunks], axis=0).astype(np.float64)
        if not self.per_feature:
            self.data_min_[:] = self.data_min_.min()
            self.data_max_[:] = self.data_max_.max()
        return self

    def _span(self) -> np.ndarray:
        """Each feature's range, floored; 0 for a feature constant in the training split."""
        assert self.data_min_ is not None and self.data_max_ is not None
        span = self.data_max_ - self.data_min_
        return _floored(span, span > 0, self.floor)

    def operations(self) -> tuple[str, np.ndarray, np.ndarray]:
        """``('mul_add', scale, offset)``: :meth:`transform` is ``X * p + q``. The exporters
        write these same two operations."""
        assert self.data_min_ is not None
        low, high = self.feature_range
        scale = (high - low) * _reciprocal(self._span())
        return "mul_add", scale, low - self.data_min_ * scale

    def transform(self, X: Any) -> np.ndarray:
        """Return ``X * scale + offset``, shape (n_samples, n_features), dtype of X."""
        arr = self._check_X(X)
        _, scale, offset = self.operations()
        return self._apply(arr, lambda x, p, q: x * p + q, scale, offset)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo :meth:`transform`; shape (n_samples, n_features), dtype of X."""
        arr = self._check_X(X)
        assert self.data_min_ is not None and self.data_max_ is not None
        low, high = self.feature_range
        span = self._span() / (high - low)
        return self._apply(arr, lambda x, lo, p, q: (x - lo) * p + q, low, span, self.data_min_)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict ``{"type", "feature_range", "per_feature", "data_min",
        "data_max"}``."""
        self._check_fitted()
        assert self.data_min_ is not None and self.data_max_ is not None
        return {
            "type": "MinMaxScaler",
            "feature_range": list(self.feature_range),
            "per_feature": self.per_feature,
            "floor": self.floor,
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
        obj = cls(tuple(fr), d.get("per_feature", True),  # type: ignore[arg-type]
                  d.get("floor", 0.0))  # files from before the floor had none
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
# Targets
# --------------------------------------------------------------------------


def infer_task(y: Any) -> str:
    """Return ``"classification"`` for integer, bool or text labels, else ``"regression"``.

    Parameters
    ----------
    y : array_like, shape (n_samples,)
        Targets.

    Returns
    -------
    str
        ``"classification"`` if ``y`` has an integer, bool or string dtype, or is an object
        array of Python ints (integers beyond int64, as :func:`~glassnet.data.read_csv` reads
        them); ``"regression"`` otherwise.
    """
    y = np.asarray(y)
    if y.dtype.kind == "O":
        return "classification" if all(isinstance(v, int) for v in y.ravel().tolist()) \
            else "regression"
    return "classification" if y.dtype.kind in "biuUS" else "regression"


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
        k = _check_positive_int(n_classes, "n_classes", "one_hot")
        if lab.size and lab.max() >= k:
            raise ValueError(
                f"y has label {lab.max()} but n_classes={k} allows only 0..{k - 1}; pass "
                f"a larger n_classes or leave it out."
            )
    out = np.zeros((lab.size, k), dtype=dtype)
    out[np.arange(lab.size), lab] = 1
    return out
