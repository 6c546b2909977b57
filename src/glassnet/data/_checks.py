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


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}; pass a value >= 1.")
    return int(value)
