"""Shuffled train/test and train/validation/test splits, stratified for class labels."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import SeedLike, _rng
from .preprocessing import infer_task

__all__ = ["train_test_split", "train_val_test_split"]


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
