"""Class labels: any integer labels become the indices ``0 .. k-1``, the originals kept.

A classifier has one output unit per class, so the labels ``{3, 7, 50000000}`` must become
``{0, 1, 2}`` (not a 50-million-unit layer) and the model must keep ``classes = [3, 7,
50000000]`` to answer in the original labels. Targets that cannot be class labels are refused
with the fix: a single class, or values most of which occur once (IDs, or a measured quantity
such as a price stored as whole numbers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["encode_labels"]


def encode_labels(y: Any, source: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """``(indices, classes)`` with ``classes[indices] == y``; ``classes`` sorted and unique.

    Parameters
    ----------
    y : array_like of shape (n_samples,)
        Integer class labels (any values).
    source : str, default='y'
        Where the labels come from (a file, a data spec), for the messages.

    Returns
    -------
    indices : ndarray of int64, shape (n_samples,)
        Each label's position in ``classes``: ``0 .. k-1``.
    classes : ndarray of shape (k,)
        The distinct original labels, ascending.

    Raises
    ------
    ValueError
        When ``y`` is empty or not 1-D, holds one class only, or when more than half of its
        distinct values occur exactly once: such a target looks like IDs or a continuous
        quantity, and a classifier would need an output unit for every value.

    Examples
    --------
    >>> indices, classes = encode_labels([7, 3, 7, 50000000, 3, 50000000])
    >>> indices.tolist(), classes.tolist()
    ([1, 0, 1, 2, 0, 2], [3, 7, 50000000])
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"{source}: class labels must be a non-empty 1-D array; got shape "
                         f"{y.shape}.")
    classes, indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    k, n = len(classes), len(y)
    if k < 2:
        raise ValueError(
            f"{source}: the target has a single class ({classes[0].item()!r}) in all {n} "
            "samples; a classifier needs at least two classes (it would report 100% accuracy "
            "without learning anything). Check that the target is the right column."
        )
    once = int(np.count_nonzero(counts == 1))
    if 2 * once > k:
        raise ValueError(
            f"{source}: the target has {k} distinct values over {n} samples and {once} of them "
            "occur only once: these look like IDs or a measured quantity, not class labels (a "
            "classifier would need one output unit per value). Name the class column (e.g. "
            "csv:FILE:TARGET), or, if this is a quantity to predict, give it as floats (e.g. "
            "np.savez(..., y=y.astype(float))) to train a regression."
        )
    return indices.reshape(-1).astype(np.int64), classes
