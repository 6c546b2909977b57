"""Weight initialisers: ``W`` of shape (n_out, n_in) drawn from an explicit numpy Generator.

Each initialiser is ``f(rng, n_out, n_in) -> float64 array``; the layer casts it to its dtype.
Biases start at zero.

=================  ===========================================  ==========================
name               distribution                                 note
=================  ===========================================  ==========================
normal             N(0, 1)                                      the early derivations' choice
scaled_normal      N(0, 1/n_in)
xavier_uniform     U(-s, s), s = sqrt(6 / (n_in + n_out))       default for sigmoid, tanh, ...
xavier_normal      N(0, 2 / (n_in + n_out))
he_uniform         U(-s, s), s = sqrt(6 / n_in)
he_normal          N(0, 2 / n_in)                               default for the relu family
zeros              0
=================  ===========================================  ==========================
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["INITIALIZERS", "RELU_FAMILY", "default_init", "get_init", "make_rng"]

Initializer = Callable[[np.random.Generator, int, int], np.ndarray]


def normal(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    return rng.standard_normal((n_out, n_in))


def scaled_normal(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    return rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)


def xavier_uniform(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    s = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-s, s, (n_out, n_in))


def xavier_normal(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    return rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / (n_in + n_out))


def he_uniform(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    s = np.sqrt(6.0 / n_in)
    return rng.uniform(-s, s, (n_out, n_in))


def he_normal(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    return rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)


def zeros(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    return np.zeros((n_out, n_in))


INITIALIZERS: dict[str, Initializer] = {
    f.__name__: f
    for f in (normal, scaled_normal, xavier_uniform, xavier_normal, he_uniform, he_normal, zeros)
}
"""Name -> initialiser."""

RELU_FAMILY = frozenset({"relu", "leaky_relu", "elu", "gelu"})


def default_init(activation_name: str) -> str:
    """He for the relu family, Xavier otherwise.

    >>> default_init("relu"), default_init("tanh")
    ('he_normal', 'xavier_uniform')
    """
    return "he_normal" if activation_name in RELU_FAMILY else "xavier_uniform"


def get_init(name: str) -> Initializer:
    """Look up an initialiser by name; an unknown name raises ValueError listing the valid ones."""
    if name not in INITIALIZERS:
        raise ValueError(f"Unknown initializer {name!r}. Valid initializers: {', '.join(INITIALIZERS)}.")
    return INITIALIZERS[name]


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from a seed (None: fresh entropy), or the Generator itself."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be an int, a numpy Generator or None; got {seed!r}.")
    return np.random.default_rng(seed)
