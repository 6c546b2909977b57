"""Mini-batches of arrays or memory maps, reading only the rows of each batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ._checks import SeedLike, _check_positive_int, _rng

__all__ = ["iter_batches"]


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
    bs = _check_positive_int(batch_size, "batch_size", "iter_batches")
    order = _rng(seed).permutation(n) if shuffle else np.arange(n)
    stop_at = n - n % bs if drop_last else n
    for start in range(0, stop_at, bs):
        idx = np.sort(order[start : start + bs])
        xb = np.asarray(X[idx])
        yb = None if y is None else np.asarray(y[idx])
        yield xb, yb
