"""Checks shared by the data modules: seeds, positive counts, real dtypes, and the one
conversion of user data to a network's dtype (:func:`as_dtype`)."""

from __future__ import annotations

import math
from typing import Any, Union

import numpy as np

SeedLike = Union[int, np.random.Generator]


def _rng(seed: SeedLike | None, name: str = "seed") -> np.random.Generator:
    """Return a Generator from an int seed or pass a Generator through."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int or a numpy.random.Generator, got "
            f"{type(seed).__name__}; pass e.g. {name}=0 or "
            f"{name}=np.random.default_rng(0)."
        )
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative int, got {seed}; pass e.g. {name}=0.")
    return np.random.default_rng(int(seed))


def _check_positive_int(value: Any, name: str, owner: str = "make_2d") -> int:
    from ..validation import check_scalar

    return check_scalar(value, name, owner, kind=int, low=1)


REAL_KINDS = "iuf"
"""dtype kinds of real numbers: signed and unsigned integers and floats (no bool, complex, dates,
strings or objects)."""


def check_real_dtype(dtype: Any, name: str = "X", source: Any = None) -> np.dtype:
    """Refuse any dtype but real numbers: the one dtype check for in-memory and file data.

    Parameters
    ----------
    dtype : dtype-like
        The dtype of an array, or of a file's array (a memory map's is known before any data
        is read).
    name : str, default='X'
        What the array is, for the message.
    source : str or path-like, optional
        The file the array comes from. Then the error is a ValueError naming it (a file with
        the wrong content); without a file it is a TypeError (an argument of the wrong type).

    Returns
    -------
    numpy.dtype

    Raises
    ------
    TypeError, ValueError
        For complex, bool, string, bytes, datetime, timedelta, structured or object dtypes.
    """
    dt = np.dtype(dtype)
    if dt.kind in REAL_KINDS and dt.fields is None:
        return dt
    message = (f"{name} must hold real numbers (integers or floats); got dtype {dt}. Convert "
               f"it first, e.g. {name}.astype('float32') for numbers stored as another type.")
    if source is None:
        raise TypeError(message)
    raise ValueError(f"{source}: {message}")


def as_dtype(X: Any, dtype: Any, name: str = "X", *, where: str = "", rows: Any = None,
             fix: str = "Remove or impute those values first.") -> Any:
    """``X`` in ``dtype``, every value finite: the one conversion of user data to a network's dtype.

    Every path that turns data into a network's dtype goes through here: arrays given to
    ``fit``, ``predict`` and the other methods, memory-mapped batches, targets, the scikit-learn
    estimators; the file readers check their values with :func:`check_fits`, the same rule. A
    value beyond the range of ``dtype`` (``1e39`` for float32) would become ``inf`` in the cast;
    it is refused, naming where it is, instead of being blamed on the data as an infinity.

    Parameters
    ----------
    X : ndarray (NumPy or CuPy)
        Real numbers (see :func:`check_real_dtype`).
    dtype : dtype-like
        The network's dtype.
    name : str, default='X'
        What ``X`` is, for the message.
    where : str, default=''
        Where ``X`` comes from, e.g. ``' (epoch 1, batch 5)'``, put after ``name``.
    rows : int or ndarray of int, optional
        The row numbers of ``X``'s rows in the whole data set: a first row (an int) or one
        number per row; default ``0 .. n-1``.
    fix : str
        What to do about a NaN or an infinity in ``X`` itself.

    Returns
    -------
    ndarray
        ``X`` cast to ``dtype`` (``X`` itself when it has that dtype already).

    Raises
    ------
    ValueError
        For a NaN or an infinity (``'X contains NaN or inf'``), or a finite value beyond the
        range of ``dtype`` (naming the row, the column, the value, the dtype and the fix).

    Examples
    --------
    >>> as_dtype(np.array([[1.0, 1e39]]), "float32")
    Traceback (most recent call last):
    ...
    ValueError: X: the value 1e+39 in row 0, column 1 is beyond the range of float32 (largest magnitude 3.40282e+38); rescale that column (e.g. divide it by 1e+30), or in Python use a float64 network (dtype='float64').
    """
    from ..device import array_module

    dt = np.dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        out = X.astype(dt, copy=False)
    if all_finite(out):
        return out
    xp = array_module(out)
    _refuse(X, tuple(int(i) for i in xp.argwhere(~xp.isfinite(out))[0]), dt, name, where, rows,
            fix)
    return out  # pragma: no cover - _refuse raises


def all_finite(X: Any) -> bool:
    """Whether every entry of the float array ``X`` (NumPy or CuPy) is finite, in one fast pass:
    a NaN or inf makes the row sums non-finite, and only a sum that overflows (or a NaN) is
    checked entry by entry. The row sums are one matrix-vector product (BLAS), faster than
    ``X.sum()``."""
    from ..device import array_module

    if X.size == 0:
        return True
    xp = array_module(X)
    flat = X.reshape(len(X), -1) if X.ndim else X.reshape(1, 1)
    with np.errstate(over="ignore", invalid="ignore"):
        total = (flat @ xp.ones(flat.shape[1], X.dtype)).sum()
    return bool(xp.isfinite(total)) or bool(xp.all(xp.isfinite(X)))


def check_fits(X: Any, dtype: Any, name: str = "X", *, where: str = "", rows: Any = None,
               fix: str = "Remove or impute those values first.") -> None:
    """Refuse what :func:`as_dtype` would refuse in ``X``, without keeping the cast: the check
    of the file readers, whose data keeps its own dtype until a network takes it."""
    as_dtype(X, dtype, name, where=where, rows=rows, fix=fix)


def _refuse(X: Any, bad: tuple[int, ...], dt: np.dtype, name: str, where: str, rows: Any,
            fix: str) -> None:
    from ..device import to_numpy

    value = to_numpy(X[bad]).item()
    if not math.isfinite(value):
        raise ValueError(f"{name} contains NaN or inf{where}. {fix}")
    row = bad[0] if bad else 0
    if rows is not None:
        row = int(rows + row) if np.ndim(rows) == 0 else int(np.asarray(rows)[row])
    at = f"row {row}" + (f", column {bad[1]}" if len(bad) == 2 else "")
    raise ValueError(f"{name}{where}: {beyond_range(value, dt, at)}")


def beyond_range(value: float, dtype: Any, at: str = "") -> str:
    """Why ``value`` cannot be a ``dtype`` number, and the fix: the one wording of the refusal
    (:func:`as_dtype` and the CSV reader use it)."""
    dt = np.dtype(dtype)
    scale = 10.0 ** (math.floor(math.log10(abs(value))) - 9)
    return (f"the value {value:.6g}{' in ' + at if at else ''} is beyond the range of {dt} "
            f"(largest magnitude {float(np.finfo(dt).max):.6g}); rescale that column (e.g. "
            f"divide it by {scale:.0e}), or in Python use a float64 network (dtype='float64').")
