"""Argument checks shared by the data modules: seeds and positive counts."""

from __future__ import annotations

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
