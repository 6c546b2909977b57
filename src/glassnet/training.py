"""The training loop: mini-batches, shuffling, gradient descent, and the per-epoch history.

Gradient descent as derived: after each mini-batch's ``backprop``, every parameter moves
against its gradient, ``W <- W - learning_rate * dW`` and ``b <- b - learning_rate * db``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from .init import make_rng

if TYPE_CHECKING:
    from .network import Network

__all__ = ["Callback", "History", "fit", "iter_minibatches"]


class Callback:
    """Hooks into :func:`fit`. Subclass and override what you need; every hook is optional.

    The order in one ``fit``: ``on_train_begin``; per epoch, per mini-batch
    ``on_batch_end`` (after the parameter update; every layer's ``delta``, ``dW`` and ``db``
    still hold this batch's values); then ``on_epoch_end``, whose ``record`` (the epoch's row
    of the History) a callback may add keys to; finally ``on_train_end``.
    """

    def on_train_begin(self, net: "Network", history: "History") -> None:
        """Before the first epoch."""

    def on_batch_end(self, net: "Network", step: int, loss: float) -> None:
        """After mini-batch number ``step`` (counted from 1 over the whole fit)."""

    def on_epoch_end(self, net: "Network", epoch: int, record: dict[str, Any]) -> None:
        """After epoch ``epoch`` (from 1); ``record`` may be extended."""

    def on_train_end(self, net: "Network", history: "History") -> None:
        """After the last epoch."""


class History:
    """What training recorded, one dict per epoch (``loss``, ``learning_rate``, ``time``, ...).

    ``history["loss"]`` gives that key over the epochs; ``to_dict``/``from_dict`` and
    ``to_json`` make it JSON.

    Examples
    --------
    >>> h = History()
    >>> h.append({"epoch": 1, "loss": 0.5}); h.append({"epoch": 2, "loss": 0.25})
    >>> h["loss"]
    [0.5, 0.25]
    """

    def __init__(self, epochs: list[dict[str, Any]] | None = None):
        self.epochs: list[dict[str, Any]] = list(epochs or [])

    def append(self, record: dict[str, Any]) -> None:
        self.epochs.append(record)

    def __getitem__(self, key: str) -> list[Any]:
        return [record.get(key) for record in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for record in self.epochs:
            seen.update(dict.fromkeys(record))
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        return cls(data.get("epochs", []))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, keys={self.keys()})"


def iter_minibatches(
    n_samples: int, batch_size: int, rng: np.random.Generator | None
) -> Iterator[np.ndarray]:
    """Index arrays of the mini-batches of one epoch (shuffled when ``rng`` is given)."""
    order = rng.permutation(n_samples) if rng is not None else np.arange(n_samples)
    for start in range(0, n_samples, batch_size):
        yield order[start:start + batch_size]


def fit(
    net: "Network",
    X: Any,
    y: Any,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 0.1,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
    callbacks: Any = (),
) -> History:
    """Train ``net`` by mini-batch gradient descent; returns the per-epoch :class:`History`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_in)
    y : array-like
        Targets as the network's loss takes them (labels or rows).
    epochs : int, default=10
    batch_size : int, default=32
        Clipped to the number of samples; the last batch of an epoch may be smaller.
    learning_rate : float, default=0.1
        ``eta`` in ``W <- W - eta * dW``.
    shuffle : bool, default=True
        Draw a new order of the samples every epoch.
    seed : int or Generator, optional
        Source of the shuffling order.
    callbacks : sequence of Callback, default=()
        Hooks called during training; see :class:`Callback`.

    Returns
    -------
    History
        Per epoch: ``loss`` (mean of the batch losses, weighted by batch size),
        ``learning_rate`` and ``time`` (seconds).
    """
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
            or not learning_rate > 0 or not np.isfinite(learning_rate):
        raise ValueError(f"The 'learning_rate' parameter of fit must be a float > 0; "
                         f"got {learning_rate!r}.")
    X, Y = net.check_Xy(X, y)
    rng = make_rng(seed) if shuffle else None
    params, n = net.params(), len(X)
    history, step = History(), 0
    for callback in callbacks:
        callback.on_train_begin(net, history)
    for epoch in range(1, epochs + 1):
        start, total = time.perf_counter(), 0.0
        for batch in iter_minibatches(n, batch_size, rng):
            batch_loss = net._backprop(X[batch], Y[batch])
            total += batch_loss * len(batch)
            grads = net.grads()
            for key, param in params.items():
                param -= learning_rate * grads[key]  # gradient descent, in place
            step += 1
            for callback in callbacks:
                callback.on_batch_end(net, step, batch_loss)
        loss = total / n
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"The training loss became {loss} in epoch {epoch}. Lower the learning rate "
                "or scale the inputs."
            )
        record = {"epoch": epoch, "loss": loss, "learning_rate": float(learning_rate),
                  "time": time.perf_counter() - start}
        for callback in callbacks:
            callback.on_epoch_end(net, epoch, record)
        history.append(record)
    for callback in callbacks:
        callback.on_train_end(net, history)
    return history


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"The {name!r} parameter of fit must be an int > 0; got {value!r}.")
