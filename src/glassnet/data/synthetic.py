"""Synthetic 2-D data sets like those of the TensorFlow Playground (:func:`make_2d`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import SeedLike, _check_positive_int, _rng

__all__ = ["SYNTHETIC_2D", "SYNTHETIC_TASKS", "make_2d"]


def _halves(n: int) -> tuple[int, int]:
    return n - n // 2, n // 2


def _circles(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    radius = 5.0
    n_in, n_out = _halves(n)
    r = np.concatenate(
        [rng.uniform(0, radius * 0.5, n_in), rng.uniform(radius * 0.7, radius, n_out)]
    )
    angle = rng.uniform(0, 2 * np.pi, n)
    x, y = r * np.sin(angle), r * np.cos(angle)
    # As in the Playground, noise moves the point used for the label, not the point.
    nx = rng.uniform(-radius, radius, n) * noise
    ny = rng.uniform(-radius, radius, n) * noise
    label = (np.hypot(x + nx, y + ny) < radius * 0.5).astype(np.int64)
    return np.column_stack([x, y]), label


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    pts = rng.uniform(-5, 5, (n, 2))
    pts += np.where(pts > 0, 0.3, -0.3)
    noisy = pts + rng.uniform(-5, 5, (n, 2)) * noise
    label = (noisy[:, 0] * noisy[:, 1] >= 0).astype(np.int64)
    return pts, label


def _gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    variance = 0.5 + noise * (4.0 - 0.5) / 0.5  # the Playground's linear scale 0..0.5 -> 0.5..4
    n_pos, n_neg = _halves(n)
    centers = np.concatenate([np.full(n_pos, 2.0), np.full(n_neg, -2.0)])
    pts = centers[:, None] + np.sqrt(variance) * rng.standard_normal((n, 2))
    label = np.concatenate([np.ones(n_pos, np.int64), np.zeros(n_neg, np.int64)])
    return pts, label


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    parts = []
    for count, delta_t in zip(_halves(n), (0.0, np.pi)):
        i = np.arange(count) / max(count, 1)
        r = i * 5.0
        t = 1.75 * i * 2 * np.pi + delta_t
        x = r * np.sin(t) + rng.uniform(-1, 1, count) * noise
        y = r * np.cos(t) + rng.uniform(-1, 1, count) * noise
        parts.append(np.column_stack([x, y]))
    n_pos, n_neg = _halves(n)
    label = np.concatenate([np.ones(n_pos, np.int64), np.zeros(n_neg, np.int64)])
    return np.concatenate(parts), label


def _thirds(n: int) -> tuple[int, int, int]:
    return n - 2 * (n // 3), n // 3, n // 3


def _spiral3(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three interleaved arms, one class each (the ``spiral`` turned into three arms)."""
    parts, labels = [], []
    for k, count in enumerate(_thirds(n)):
        i = np.arange(count) / max(count, 1)
        r = i * 5.0
        t = 1.25 * i * 2 * np.pi + k * 2 * np.pi / 3
        x = r * np.sin(t) + rng.uniform(-1, 1, count) * noise
        y = r * np.cos(t) + rng.uniform(-1, 1, count) * noise
        parts.append(np.column_stack([x, y]))
        labels.append(np.full(count, k, np.int64))
    return np.concatenate(parts), np.concatenate(labels)


def _gauss3(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs at distance 3 from the origin, 120 degrees apart, one class each."""
    variance = 0.5 + noise * (4.0 - 0.5) / 0.5  # as gauss
    angles = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
    labels = np.concatenate([np.full(count, k, np.int64) for k, count in enumerate(_thirds(n))])
    centers = 3.0 * np.column_stack([np.cos(angles), np.sin(angles)])[labels]
    pts = centers + np.sqrt(variance) * rng.standard_normal((n, 2))
    return pts, labels


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n_a, n_b = _halves(n)
    ta = rng.uniform(0, np.pi, n_a)
    tb = rng.uniform(0, np.pi, n_b)
    a = np.column_stack([np.cos(ta), np.sin(ta)])
    b = np.column_stack([1 - np.cos(tb), 0.5 - np.sin(tb)])
    pts = (np.concatenate([a, b]) - [0.5, 0.25]) * 3.0
    pts += rng.standard_normal((n, 2)) * (noise * 3.0)
    label = np.concatenate([np.zeros(n_a, np.int64), np.ones(n_b, np.int64)])
    return pts, label


def _plane(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    radius = 6.0
    pts = rng.uniform(-radius, radius, (n, 2))
    noisy = pts + rng.uniform(-radius, radius, (n, 2)) * noise
    return pts, (noisy[:, 0] + noisy[:, 1]) / 10.0


_MULTI_GAUSS = np.array(
    [[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]],
    dtype=np.float64,
)


def _multi_gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    radius = 6.0
    pts = rng.uniform(-radius, radius, (n, 2))
    noisy = pts + rng.uniform(-radius, radius, (n, 2)) * noise
    dist = np.hypot(
        noisy[:, 0:1] - _MULTI_GAUSS[:, 0], noisy[:, 1:2] - _MULTI_GAUSS[:, 1]
    )  # (n, 6)
    bumps = _MULTI_GAUSS[:, 2] * np.clip(1.0 - dist / 2.0, 0.0, 1.0)
    pick = np.argmax(np.abs(bumps), axis=1)
    return pts, bumps[np.arange(n), pick]


#: Registry of synthetic 2-D generators: name -> ``fn(n_samples, noise, rng) -> (X, y)``.
SYNTHETIC_2D: dict[
    str, Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]
] = {
    "circles": _circles,
    "xor": _xor,
    "gauss": _gauss,
    "spiral": _spiral,
    "moons": _moons,
    "spiral3": _spiral3,
    "gauss3": _gauss3,
    "plane": _plane,
    "multi_gauss": _multi_gauss,
}

#: Task of each synthetic set.
SYNTHETIC_TASKS: dict[str, str] = {
    "circles": "classification",
    "xor": "classification",
    "gauss": "classification",
    "spiral": "classification",
    "moons": "classification",
    "spiral3": "classification",
    "gauss3": "classification",
    "plane": "regression",
    "multi_gauss": "regression",
}


def make_2d(
    name: str, n_samples: int = 500, noise: float = 0.0, seed: SeedLike = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Generate a 2-D toy data set like those of the TensorFlow Playground.

    Coordinates lie in about ``[-6, 6]`` on both axes, as in the Playground
    (``circles`` and ``xor`` within ``[-5.3, 5.3]``, ``spiral`` within
    ``[-5, 5]`` before noise, ``moons`` within ``[-4.5, 4.5] x [-2.25, 2.25]``
    before noise, ``plane`` and ``multi_gauss`` uniform on ``[-6, 6]^2``;
    ``gauss`` is centred on ``(2, 2)`` and ``(-2, -2)``).

    ``noise`` follows the Playground's slider as a fraction (its 0..50 % is
    0.0..0.5 here; larger values are allowed):

    * ``circles``, ``xor``, ``plane``, ``multi_gauss``: the label is computed at a
      point displaced by ``noise * uniform(-r, r)`` (``r`` = 5 or 6), so noise
      blurs the labels while the points stay where they are (Playground behaviour).
    * ``gauss``: the variance grows linearly from 0.5 (noise 0) to 4 (noise 0.5).
    * ``spiral``: each coordinate moves by ``noise * uniform(-1, 1)``.
    * ``moons`` (not in the Playground): scikit-learn's two moons, centred and
      scaled by 3, plus Gaussian jitter of standard deviation ``3 * noise``.
    * ``spiral3`` and ``gauss3`` (three classes, not in the Playground): three spiral
      arms (noise as ``spiral``), and three Gaussian blobs centred 3 from the origin,
      120 degrees apart (variance as ``gauss``).

    Parameters
    ----------
    name : str
        Data set: ``"circles"``, ``"xor"``, ``"gauss"``, ``"spiral"``, ``"moons"``,
        ``"spiral3"``, ``"gauss3"``, ``"plane"`` or ``"multi_gauss"``; see
        :data:`SYNTHETIC_2D` and :data:`SYNTHETIC_TASKS`.
    n_samples : int, default 500
        Number of points (classification sets split them evenly between the classes,
        the first class getting what does not divide).
    noise : float, default 0.0
        Noise level, ``>= 0``.
    seed : int or numpy.random.Generator, default 0
        Source of randomness; the same int gives the same data.

    Returns
    -------
    X : ndarray of float64, shape (n_samples, 2)
        Points, in shuffled order.
    y : ndarray, shape (n_samples,)
        ``int64`` labels 0/1 for the two-class sets, 0/1/2 for ``spiral3`` and ``gauss3``;
        ``float64`` targets for ``plane`` (``(x1 + x2) / 10``, in ``[-1.2, 1.2]`` at noise
        0) and ``multi_gauss`` (in ``[-1, 1]``), the regression sets.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}.")
    if name not in SYNTHETIC_2D:
        raise ValueError(
            f"unknown synthetic data set {name!r}; expected one of {sorted(SYNTHETIC_2D)}."
        )
    n = _check_positive_int(n_samples, "n_samples")
    from ..validation import check_scalar

    noise = check_scalar(noise, "noise", "make_2d", low=0.0)
    rng = _rng(seed)
    X, y = SYNTHETIC_2D[name](n, float(noise), rng)
    order = rng.permutation(n)
    return np.ascontiguousarray(X[order], dtype=np.float64), y[order]
