"""The data of a saved model: how every command that takes ``MODEL`` and ``--data`` gets
``(X, y)`` for it (``evaluate``, ``explain``, ``hvp``, ``sharpness``, ``per-sample``,
``landscape``), and how ``predict`` checks its inputs.

:func:`model_data` reads the data spec the model records (``glassnet train`` writes it) unless
``--data`` names another, settles it for the model's task, checks its features against the
model's input size before any scaler sees them, maps its class labels onto the model's own
(refusing labels the model never saw), takes the part asked for (the test split of the
recorded seed, or every row) and gives the targets as the model's loss takes them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .data import load_for_task, loss_targets, model_indices, split_data, task_of, \
    training_settings
from .errors import UsageError

__all__ = ["ModelData", "check_features", "model_data"]


class ModelData(NamedTuple):
    """Raw inputs ``X`` (n_samples, n_in), targets ``y`` (class indices of the model, or
    quantities), ``Y`` as the loss takes them, the spec read and which part of it."""

    X: np.ndarray
    y: np.ndarray
    Y: np.ndarray
    spec: str
    part: str


def check_features(net: Any, model: str, X: np.ndarray, what: str, fix: str) -> None:
    """Refuse inputs whose feature count is not the model's input size, naming both."""
    if X.ndim != 2 or X.shape[1] != net.n_in:
        got = X.shape[1] if X.ndim == 2 else f"shape {X.shape} instead of"
        raise UsageError(f"{what} has {got} features per sample, and the model {model} takes "
                         f"{net.n_in}; {fix}")


def model_data(net: Any, model: str, spec: str | None, command: str, part: str = "test"
               ) -> ModelData:
    """``(X, y, Y)`` of the model ``net`` (read from the file ``model``) on ``spec``.

    Parameters
    ----------
    spec : str or None
        ``--data``; None: the data set the model records.
    command : str
        Who asks, for the messages (``"evaluate"``).
    part : {'test', 'all'}
        ``test``: the test split the model was trained beside (the data's own test part, or
        the recorded seed's 80/20 split); ``all``: every row of the training part.

    Raises
    ------
    UsageError
        No spec recorded nor given; targets of another task; a feature count other than the
        model's; class labels the model was not trained on. Each names the model and the spec.
    """
    settings = training_settings(net)
    recorded = settings.get("data")
    spec = spec or recorded
    if spec is None:
        raise UsageError(f"{command}: {model} does not record its data set; pass --data SPEC "
                         f"with samples of {net.n_in} features (a model written by 'glassnet "
                         "train' records its data)")
    where = f"--data {spec}" if spec != recorded else f"the data {spec} recorded in {model}"
    fix = (f"pass --data with the data it was trained on ({recorded})" if recorded else
           f"pass --data with samples of {net.n_in} features")
    classify = task_of(net) == "classification"
    data, _, _ = load_for_task(spec, "classification" if classify else "regression",
                               asked_by=f"{model}, a classifier,")
    check_features(net, model, data.X, where, fix)
    if part == "all":
        X, y = data.X, data.y
    else:
        seed = settings.get("seed", 0)
        _, X, _, y = split_data(data, seed)
    if classify and np.ndim(y) == 1:
        try:
            y = model_indices(net, data, y)  # the model's own class numbering
        except UsageError as err:
            raise UsageError(f"{command}: {where}: {err}; {fix}") from None
        n_classes = max(net.n_out, 2)
        if len(y) and (np.min(y) < 0 or np.max(y) >= n_classes):
            bad = sorted({int(v) for v in np.asarray(y).tolist() if not 0 <= v < n_classes})
            raise UsageError(f"{command}: {where} has class labels the model {model} was not "
                             f"trained on: {', '.join(map(str, bad[:5]))}; it knows "
                             f"{n_classes} classes, 0..{n_classes - 1}; {fix}")
    elif not classify:
        n_targets = 1 if np.ndim(y) == 1 else int(np.shape(y)[1])
        if n_targets != net.n_out:
            raise UsageError(f"{command}: {where} has {n_targets} target column(s), and the "
                             f"model {model} predicts {net.n_out}; {fix}")
    return ModelData(X, y, loss_targets(net, y, classify), spec, part)
