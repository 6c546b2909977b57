"""Metrics reported by ``fit`` and ``glassnet evaluate``.

Each metric is ``f(Y, a) -> float`` on the targets ``Y`` as the loss encodes them (one-hot rows
for cross-entropy, 0/1 columns for binary cross-entropy, values for regression) and the
network's outputs ``a``, both of shape (n_samples, n_out). ``greater_is_better`` tells early
stopping which way is good.

=====================  ========================================================  =========
name                   definition                                                better
=====================  ========================================================  =========
accuracy               share of samples whose predicted class is the true one    higher
balanced_accuracy      mean over classes of the recall                           higher
top_k_accuracy         true class among the k largest outputs (``top_3_accuracy``) higher
log_loss               mean cross-entropy of the outputs                         lower
mse                    mean over samples and units of ``(a - y)^2``              lower
mae                    mean over samples and units of ``|a - y|``                lower
r2                     ``1 - SS_res / SS_tot``, averaged over the outputs        higher
=====================  ========================================================  =========
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["METRICS", "Metric", "confusion_matrix", "get_metric"]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool
    definition: str = ""
    """What the number is, in words (the table above): ``glassnet evaluate`` prints it."""

    def __call__(self, Y: np.ndarray, a: np.ndarray) -> float:
        return float(self.fn(Y, a))


def _labels(Y: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted labels: argmax for several units, a 0.5 threshold for one."""
    if Y.shape[1] == 1:
        return (Y[:, 0] > 0.5).astype(int), (a[:, 0] > 0.5).astype(int)
    return Y.argmax(axis=1), a.argmax(axis=1)


def accuracy(Y: np.ndarray, a: np.ndarray) -> float:
    true, pred = _labels(Y, a)
    return float(np.mean(true == pred))


def balanced_accuracy(Y: np.ndarray, a: np.ndarray) -> float:
    true, pred = _labels(Y, a)
    recalls = [np.mean(pred[true == c] == c) for c in np.unique(true)]
    return float(np.mean(recalls))


def top_k_accuracy(Y: np.ndarray, a: np.ndarray, k: int = 5) -> float:
    true = Y.argmax(axis=1)
    k = min(k, a.shape[1])
    top = np.argpartition(-a, k - 1, axis=1)[:, :k]
    return float(np.mean(np.any(top == true[:, None], axis=1)))


def log_loss(Y: np.ndarray, a: np.ndarray) -> float:
    eps = np.finfo(np.float64).eps
    a64 = np.clip(a.astype(np.float64), eps, 1 - eps)
    if Y.shape[1] == 1:
        return float(-np.mean(Y[:, 0] * np.log(a64[:, 0]) + (1 - Y[:, 0]) * np.log(1 - a64[:, 0])))
    return float(-np.mean(np.sum(Y * np.log(a64), axis=1)))


def mse(Y: np.ndarray, a: np.ndarray) -> float:
    return float(np.mean((a - Y) ** 2))


def mae(Y: np.ndarray, a: np.ndarray) -> float:
    return float(np.mean(np.abs(a - Y)))


def r2(Y: np.ndarray, a: np.ndarray) -> float:
    """``1 - SS_res / SS_tot`` per output, averaged. An output whose target is constant
    (``SS_tot = 0``) scores 1 when it is predicted exactly and 0 otherwise, as scikit-learn's
    ``r2_score`` (its ``force_finite``)."""
    ss_res = np.sum((Y - a) ** 2, axis=0)
    ss_tot = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    constant = np.where(ss_res == 0, 1.0, 0.0)
    scores = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), constant)
    return float(np.mean(scores))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", accuracy, True, "share of samples whose predicted class is the true one"),
        Metric("balanced_accuracy", balanced_accuracy, True, "mean over classes of the recall"),
        Metric("top_k_accuracy", top_k_accuracy, True, "true class among the k largest outputs"),
        Metric("log_loss", log_loss, False, "mean cross-entropy of the outputs"),
        Metric("mse", mse, False, "mean over samples and units of (a - y)^2"),
        Metric("mae", mae, False, "mean over samples and units of |a - y|"),
        Metric("r2", r2, True, "1 - SS_res / SS_tot, averaged over the outputs"),
    )
}
"""Name -> Metric. ``top_K_accuracy`` with a number (``top_3_accuracy``) sets k."""


def get_metric(name: str) -> Metric:
    """Look up a metric; ``'top_3_accuracy'`` gives top-k accuracy with k = 3.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    match = re.fullmatch(r"top_(\d+)_accuracy", name) if isinstance(name, str) else None
    if match:
        k = int(match.group(1))
        return Metric(name, lambda Y, a: top_k_accuracy(Y, a, k), True,
                      f"true class among the {k} largest outputs")
    if name not in METRICS:
        raise ValueError(f"Unknown metric {name!r}. Valid metrics: {', '.join(METRICS)} "
                         "(top_k_accuracy also as top_3_accuracy, ...).")
    return METRICS[name]


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``C[i, j]``: the number of samples of class ``i`` predicted as ``j``."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix
