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

__all__ = ["MANY_CLASSES", "NotClassLabels", "NotQuantities", "encode_labels", "not_labels"]

MANY_CLASSES = 20
"""Whole-number targets with more distinct values than this and fewer than this many samples
per value on average look like a feature (a count, an age, an ID), not class labels."""


class NotClassLabels(ValueError):
    """Targets given or taken as class labels that are not: ``reason`` says why, without the
    source and the fix (a command line words those its own way)."""

    def __init__(self, message: str, reason: str, n_classes: int):
        super().__init__(message)
        self.reason, self.n_classes = reason, n_classes


class NotQuantities(ValueError):
    """Targets taken as quantities (a regression) that are not numbers: ``reason`` says why,
    without the source and the fix."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def not_labels(y: Any) -> str | None:
    """Why whole-number targets ``y`` do not look like class labels, or None when they do.

    The one rule: they look like IDs or a measured quantity when more than half of the distinct
    values occur exactly once, or when there are more than :data:`MANY_CLASSES` distinct values
    with fewer than :data:`MANY_CLASSES` samples per value on average.
    """
    classes, counts = np.unique(np.asarray(y), return_counts=True)
    k, n = len(classes), int(counts.sum())
    once = int(np.count_nonzero(counts == 1))
    if 2 * once > k or (k > MANY_CLASSES and k * MANY_CLASSES > n):
        return (f"the target's {k} distinct whole numbers in {n} rows ({once} of them occurring "
                "only once) look like IDs or a measured quantity, not class labels (a classifier "
                "would need one output unit per value)")
    return None


def encode_labels(y: Any, source: str = "y", *, check: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, classes)`` with ``classes[indices] == y``; ``classes`` sorted and unique.

    Parameters
    ----------
    y : array_like of shape (n_samples,)
        Integer class labels (any values).
    source : str, default='y'
        Where the labels come from (a file, a data spec), for the messages.
    check : bool, default=True
        Refuse targets that do not look like class labels (:func:`not_labels`); False when the
        caller was told they are (``task='classification'``).

    Returns
    -------
    indices : ndarray of int64, shape (n_samples,)
        Each label's position in ``classes``: ``0 .. k-1``.
    classes : ndarray of shape (k,)
        The distinct original labels, ascending.

    Raises
    ------
    ValueError
        When ``y`` is empty or not 1-D, holds one class only, or (``check``) does not look
        like class labels (:func:`not_labels`).

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
    reason = not_labels(y) if check else None
    if reason is not None:
        raise NotClassLabels(
            f"{source}: {reason}. Name the class column (csv:FILE:TARGET), train a regression "
            f"on it (load_data(spec, task='regression')), or train {k} classes anyway "
            "(task='classification').", reason, k)
    return indices.reshape(-1).astype(np.int64), classes
