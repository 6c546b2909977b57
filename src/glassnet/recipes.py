"""Default recipes: from the shape of the data to the settings of ``glassnet train``.

One place for the defaults that depend on the data. :func:`data_kind` tells images from
tables, :func:`make_scaler` scales the inputs to suit, :func:`size_defaults` maps
``(n_samples, n_features, n_out)`` to the hidden width, batch size, epochs and early stopping,
and :func:`resolve` fills the settings a user left at ``"auto"``. bench/recipes.py chose the
rule, on the development sets it names, and reports it on every set (bench/recipes.md).

The rule (``n`` training samples, before any validation split):

* one hidden layer of ``h = 2^round(log2(4 sqrt(n)))`` ReLU units, clipped to ``[64, 512]``;
* batch size ``b = 2^round(log2(n / 32))``, clipped to ``[16, 128]``;
* epochs: enough for about 3000 steps, ``ceil(3000 / ceil(n / b))``, clipped to ``[10, 100]``;
* L2 penalty ``1 / n`` (one significant digit), the derivation's ``lambda / n`` with
  ``lambda = 1``;
* from ``n >= 2000`` on: 10 % of the training data held out (stratified), early stopping
  after 5 epochs without a better validation loss, the best weights restored;
* Adam with learning rate 5e-3 (``TRAIN_DEFAULTS`` in cli.py, not size-dependent);
* inputs: pixels (:func:`data_kind`) scaled to ``[0, 1]`` by one global range
  (``MinMaxScaler(per_feature=False)``), other data standardised with a variance floor
  (``StandardScaler()``); a regression network starts with outputs of the targets' mean
  and spread on the training data (:func:`init_output`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .data import MinMaxScaler, StandardScaler
from .device import to_numpy

__all__ = ["AUTO", "SCALES", "data_kind", "init_output", "make_scaler", "resolve",
           "size_defaults"]

AUTO = "auto"
"""The value of a setting that :func:`resolve` chooses from the data."""

SCALES = ("auto", "standard", "minmax", "none")
"""The choices of ``--scale``."""

#: The settings that :func:`size_defaults` chooses.
SIZE_SETTINGS = ("hidden", "batch_size", "epochs", "early_stopping", "val_split", "weight_decay")
PIXELS_MIN_FEATURES = 256
"""Fewer features than a 16x16 image are a table (scikit-learn's 8x8 digits are block counts)."""


def data_kind(X: np.ndarray) -> str:
    """``'pixels'`` for image-like inputs, ``'tabular'`` for everything else.

    Image-like: at least :data:`PIXELS_MIN_FEATURES` (256, a 16x16 image) features, none
    negative, and the features that vary reach a common scale (their median maximum is at
    least half the largest value): intensities 0..255 or 0..1. A table of measurements in
    different units fails the last test. scikit-learn's 8x8 digits (64 features of counts
    0..16 over 4x4 blocks) are a table here: they do better standardised (compare
    ``python bench/recipes.py --sets digits`` with ``... --set scale=minmax``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] < PIXELS_MIN_FEATURES or X.size == 0:
        return "tabular"
    low, col_max, col_min = float(X.min()), X.max(axis=0), X.min(axis=0)
    high = float(col_max.max())
    varies = col_max > col_min
    if low < 0 or high <= 0 or not varies.any():
        return "tabular"
    return "pixels" if float(np.median(col_max[varies])) >= 0.5 * high else "tabular"


def make_scaler(scale: str, X_train: np.ndarray, kind: str) -> Any:
    """The input scaler for ``--scale scale``, fitted on ``X_train``; None for ``'none'``.

    Parameters
    ----------
    scale : {'auto', 'standard', 'minmax', 'none'}
        ``'auto'``: ``'minmax'`` for pixels, ``'standard'`` otherwise.
    X_train : ndarray of shape (n_samples, n_features)
    kind : {'pixels', 'tabular'}
        From :func:`data_kind`. ``'minmax'`` on pixels uses one range for all features
        (pixels to ``[0, 1]``), on tables one range per feature.
    """
    if scale not in SCALES:
        raise ValueError(f"The 'scale' parameter must be one of {', '.join(SCALES)}; "
                         f"got {scale!r}.")
    if scale == AUTO:
        scale = "minmax" if kind == "pixels" else "standard"
    if scale == "none":
        return None
    if scale == "minmax":
        return MinMaxScaler(per_feature=kind != "pixels").fit(X_train)
    return StandardScaler().fit(X_train)


def _pow2(x: float, low: int, high: int) -> int:
    return int(min(max(2 ** round(math.log2(max(x, 1.0))), low), high))


def size_defaults(n_samples: int, n_features: int, n_out: int) -> dict[str, Any]:
    """The size-aware settings for ``n_samples`` training samples of ``n_features`` features.

    Returns
    -------
    dict
        ``hidden`` (a list of one width), ``batch_size``, ``epochs``, ``early_stopping``
        (patience, or None), ``val_split`` and ``weight_decay``; the rule is in the module
        docstring. ``n_features`` and ``n_out`` do not enter it: the study found the width
        best tied to the number of samples.

    Examples
    --------
    >>> size_defaults(60000, 784, 10)["hidden"], size_defaults(120, 4, 3)["epochs"]
    ([512], 100)
    """
    hidden = _pow2(4 * math.sqrt(n_samples), 64, 512)
    batch_size = _pow2(n_samples / 32, 16, 128)
    large = n_samples >= 2000
    n_fit = n_samples * (0.9 if large else 1.0)
    epochs = int(min(max(math.ceil(3000 / math.ceil(n_fit / batch_size)), 10), 100))
    return {"hidden": [hidden], "batch_size": batch_size, "epochs": epochs,
            "early_stopping": 5 if large else None, "val_split": 0.1 if large else 0.0,
            "weight_decay": float(f"{1 / n_samples:.1g}")}


def resolve(settings: dict[str, Any], X_train: np.ndarray, n_out: int) -> dict[str, Any]:
    """``settings`` with every ``"auto"`` value chosen from the training data.

    Adds ``data_kind``, and replaces ``scale: 'auto'`` by the scaler :func:`make_scaler`
    picks. A value the user set is kept. Early stopping is dropped when there is no
    validation split to watch (the user asked for ``val_split 0``).
    """
    s = dict(settings)
    s["data_kind"] = data_kind(X_train)
    if s.get("scale", AUTO) == AUTO:
        s["scale"] = "minmax" if s["data_kind"] == "pixels" else "standard"
    chosen = size_defaults(len(X_train), X_train.shape[1], n_out)
    user_val_split = s.get("val_split", AUTO) != AUTO
    for name in SIZE_SETTINGS:
        if s.get(name, AUTO) == AUTO:
            s[name] = chosen[name]
    if s["early_stopping"] is not None and not s["val_split"] and user_val_split \
            and not s.get("val_data") and settings.get("early_stopping", AUTO) == AUTO:
        s["early_stopping"] = None
    return s


def init_output(net: Any, X: np.ndarray, y: np.ndarray) -> None:
    """Start a regression network at the targets' scale: on ``X`` its outputs have the mean
    and standard deviation of ``y``.

    With ``u = W a`` the output layer's pre-bias output on ``X``, ``W <- c W`` and
    ``b <- mean(y) - c mean(u)`` with ``c = std(y) / std(u)``, per output. As if the targets had
    been standardised, Adam's steps of about the learning rate then need not walk the bias to
    a mean of, say, 150 (the diabetes set).

    Parameters
    ----------
    net : Network
        Its last layer has ``W`` of shape (n_out, n_hidden) and ``b`` of shape (n_out,); its
        scaler, if any, is fitted.
    X : ndarray of shape (n_samples, n_in)
        Raw training inputs (``net.predict_output`` scales them).
    y : ndarray of shape (n_samples,) or (n_samples, n_out)
    """
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    last = net.layers[-1]
    u = np.asarray(net.predict_output(X), dtype=np.float64).reshape(len(y), -1) - to_numpy(last.b)
    spread, target = u.std(axis=0), y.std(axis=0)
    c = np.where((spread > 0) & (target > 0), target / np.where(spread > 0, spread, 1.0), 1.0)
    last.W[...] *= net.xp.asarray(c[:, None], dtype=last.W.dtype)
    last.b[...] = net.xp.asarray(y.mean(axis=0) - c * u.mean(axis=0), dtype=last.b.dtype)


def describe(s: dict[str, Any]) -> str:
    """One line naming the settings that decide the training, as :func:`resolve` chose them."""
    hidden = ",".join(map(str, s["hidden"])) if isinstance(s["hidden"], list) else s["hidden"]
    stop = (f", early stopping after {s['early_stopping']} epochs without a better "
            f"{'validation' if s['val_split'] or s.get('val_data') else 'training'} loss "
            "(best weights restored)" if s["early_stopping"] else "")
    val = f", {s['val_split']:.0%} of the training data held out for validation" \
        if s["val_split"] else ""
    if s.get("val_data"):
        val = f", validated on {s['val_data']}"
    scale = {"standard": "standardised (variance floor)", "minmax": "scaled to [0, 1]",
             "none": "not scaled"}[s["scale"]]
    if s["scale"] == "minmax":
        scale += " by one range for all features" if s["data_kind"] == "pixels" else " per feature"
    return (f"recipe: hidden {hidden}, batch {s['batch_size']}, {s['epochs']} epochs{val}{stop}; "
            f"{s['optimizer']} lr {s['lr']:g}, weight decay {s['weight_decay']:g}; "
            f"inputs ({s['data_kind']}) {scale}: --scale {s['scale']}")


def fit_summary(history: Any, s: dict[str, Any], train_seconds: float,
                test_seconds: float) -> str:
    """One line: epochs run, training time, and apart from it the per-epoch test evaluation."""
    n = len(history)
    line = f"trained {n} epochs in {train_seconds:.2f} s"
    monitor = "val_loss" if "val_loss" in history.keys() else "loss"
    if s["early_stopping"] and n and monitor in history.keys():
        best = int(np.argmin(history[monitor])) + 1
        line += f" ({'stopped early, ' if n < s['epochs'] else ''}best epoch {best} restored)"
    if test_seconds:
        line += f"; evaluating the test set after each epoch took {test_seconds:.2f} s more"
    return line
