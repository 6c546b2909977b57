"""Class labels: any integer labels become the indices ``0 .. k-1``, the originals kept.

A classifier has one output unit per class, so the labels ``{3, 7, 50000000}`` must become
``{0, 1, 2}`` (not a 50-million-unit layer) and the model must keep ``classes = [3, 7,
50000000]`` to answer in the original labels. Targets that cannot be class labels are refused
with the fix: a single class, or values most of which occur once (IDs, or a measured quantity
such as a price stored as whole numbers).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["MANY_CLASSES", "NotClassLabels", "NotQuantities", "check_classes", "classes_problem",
           "label_array",
           "encode_labels", "not_labels"]

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


def label_array(classes: Any) -> np.ndarray:
    """Class labels as an array that keeps each one exactly: NumPy's own dtype where it holds
    them all, else ``object`` (integers beyond int64, which ``np.asarray`` would turn into
    floats, or labels of mixed kinds). The one way glassnet indexes its class labels."""
    labels = list(classes)
    array = np.asarray(labels)
    if array.dtype.kind in "fO" and any(isinstance(c, (int, np.integer))
                                        and not isinstance(c, (bool, np.bool_)) for c in labels):
        array = np.empty(len(labels), dtype=object)
        array[:] = [c.item() if isinstance(c, np.generic) else c for c in labels]
    return array


def classes_problem(classes: list[Any], n_out: int) -> str | None:
    """What is wrong with ``classes`` as the labels of a network of ``n_out`` outputs, or None.

    The one rule, for ``net.classes = ...`` and for a saved model's header: one label per
    output (exactly two for a single output, a sigmoid's 0 and 1), each a string, an int or a finite
    float, none repeated (``1``, ``1.0`` and ``True`` are the same label to a lookup).
    """
    for i, label in enumerate(classes):
        if not isinstance(label, (str, int, float)) or (
                isinstance(label, float) and not math.isfinite(label)):
            return (f"[{i}] must be a class label (a string, an int or a finite number); got "
                    f"{_short(label)}")
    k = len(classes)
    if k != (2 if n_out == 1 else n_out):
        return (f"lists {k} labels for a network of {n_out} outputs; there must be one per "
                "output (or 2 for a single sigmoid output)")
    seen: dict[Any, int] = {}
    for i, label in enumerate(classes):
        if label in seen:
            return (f"must not repeat a label: {classes[seen[label]]!r} (at {seen[label]}) and "
                    f"{label!r} (at {i})")
        seen[label] = i
    return None


def check_classes(classes: Any, n_out: int, name: str = "classes") -> list[Any] | None:
    """``classes`` as a list of labels for a network of ``n_out`` outputs (None stays None).

    Parameters
    ----------
    classes : sequence or 1-D ndarray, or None
        The original class labels, in the order of the outputs.
    n_out : int
        The network's output units.
    name : str, default='classes'
        What is being set, for the message.

    Returns
    -------
    list or None
        Plain Python labels (``np.int64(3)`` becomes ``3``, ``np.str_('cat')`` ``'cat'``).

    Raises
    ------
    TypeError
        For a string, a mapping or a scalar where a sequence of labels belongs.
    ValueError
        For a 2-D array, a label that is not a string, int or finite float, a count that does
        not match the outputs, or a repeated label (:func:`classes_problem`).

    Examples
    --------
    >>> check_classes(np.array(["cat", "dog"]), 2)
    ['cat', 'dog']
    >>> check_classes([0, 1, 2], 2)
    Traceback (most recent call last):
    ...
    ValueError: classes lists 3 labels for a network of 2 outputs; there must be one per output (or 2 for a single sigmoid output).
    """
    if classes is None:
        return None
    if isinstance(classes, (str, bytes, dict)) or not hasattr(classes, "__len__"):
        raise TypeError(f"{name} must be a sequence of class labels, one per output, or None; "
                        f"got {type(classes).__name__}.")
    if isinstance(classes, np.ndarray):
        if classes.ndim != 1:
            raise ValueError(f"{name} must be 1-D, one label per output; got an array of shape "
                             f"{classes.shape}.")
        values = classes.tolist()
    else:
        values = [v.item() if isinstance(v, np.generic) else v for v in classes]
    problem = classes_problem(values, n_out)
    if problem is not None:
        raise ValueError(f"{name}{'' if problem.startswith('[') else ' '}{problem}.")
    return values


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
