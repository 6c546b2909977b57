"""The training loop: mini-batches, an optimiser, validation, early stopping, checkpoints.

At its heart is gradient descent as derived: after each mini-batch's ``backprop``, every
parameter moves against its gradient. Plain SGD is exactly ``W <- W - learning_rate * dW``,
``b <- b - learning_rate * db``; the other optimisers of :mod:`glassnet.optim` change how
the step is formed from ``dW`` and ``db``, not where the gradients come from.

One epoch (:func:`_epoch`)::

    for each mini-batch (X_b, Y_b):          # shuffled with the fit's own Generator
        net.propagate(X_b)                   # forward: every layer caches z, a
        C_b = net.backward(Y_b)              # backward: every layer's delta, dW, db
        clip the gradients (optional)
        optimizer.step(params, grads)        # all parameters at once, in place
        checkpoint every ``checkpoint_every`` steps, or on SIGTERM/SIGUSR1 (then stop)
    record loss, penalty, validation loss, metrics, learning rate, wall time
    learning-rate schedule, early stopping, checkpoint

The first three lines are :func:`train_step` (:func:`gradient`, then :func:`update`): the
same step the playground and the vanishing lab take. The parameters are views into one flat
array ``net.theta`` and the gradients into ``net.grad``, so plain SGD is the one vector
operation ``theta -= learning_rate * grad``. Distributed training runs this same loop with a
:class:`glassnet.distributed.DataParallel` strategy, whose ``gradients`` adds the ranks'
gradients before the update.

A checkpoint holds the position in the loop: after an epoch, or after batch ``b`` of an epoch
(then with the shuffling state of the epoch's start and the epoch's running loss), so that
``resume`` continues bit for bit from either.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from .data._checks import as_dtype, check_real_dtype
from .device import to_numpy
from .validation import check_bool, check_sample_weight, check_scalar
from .init import make_rng
from .metrics import get_metric
from .optim import LBFGS, Optimizer, clip_grad_norm, get_optimizer
from .preemption import Preemption
from .schedules import ReduceOnPlateau, Schedule, get_schedule

if TYPE_CHECKING:
    from .network import Network

__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "ProgressBar",
    "ScheduleEndWarning",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "SingleProcess",
    "fit",
    "gradient",
    "iter_minibatches",
    "partial_fit",
    "train_step",
    "update",
]

CHECKPOINT_NAME = "checkpoint.npz"


class TrainingDivergedError(FloatingPointError):
    """The loss or a weight became NaN or inf; the best weights so far were restored."""


class ScheduleEndWarning(UserWarning):
    """The learning-rate schedule ends before the last epoch: the epochs after its end train at
    its final rate (0 for a cosine schedule run to its end: those epochs change nothing)."""
class TrainingInterrupted(RuntimeError):
    """A SIGTERM or SIGUSR1 stopped ``fit`` after a step; the checkpoint of that step is written.

    ``fit(..., checkpoint_dir=..., resume=True)`` continues from it, bit for bit.

    Attributes
    ----------
    signal : str
        ``'SIGTERM'`` or ``'SIGUSR1'``.
    checkpoint : pathlib.Path
        The checkpoint written.
    epoch, batch : int
        The position: after ``batch`` batches of epoch ``epoch``.
    root : bool
        False on the ranks of a distributed fit other than 0 (which all raise it too).
    exit_status : int
        75 (``EX_TEMPFAIL``): what ``glassnet train`` exits with, so that a wrapper
        (``glassnet launch``, a Slurm job script) knows that the run can be resumed.
    """

    exit_status = 75

    def __init__(self, signal: str, checkpoint: Path, epoch: int, batch: int, n_batches: int,
                 root: bool = True):
        super().__init__(f"training stopped by {signal} after batch {batch} of {n_batches} in "
                         f"epoch {epoch}; the checkpoint {checkpoint} holds that position. "
                         "Run again with resume=True (glassnet train --resume) to continue.")
        self.signal, self.checkpoint, self.epoch, self.batch = signal, checkpoint, epoch, batch
        self.root = root


class Callback:
    """Hooks into :func:`fit`. Subclass and override what you need; every hook is optional.

    The order in one ``fit``: ``on_train_begin``; per epoch, per mini-batch
    ``on_batch_begin`` (before its backprop: the place to set, say, ``net.l2`` for this
    batch) and ``on_batch_end`` (after the parameter update; every layer's ``delta``, ``dW``
    and ``db`` still hold this batch's values); then ``on_epoch_end``, whose ``record`` (the
    epoch's row of the History) a callback may add keys to; finally ``on_train_end``.

    To stop training, a callback sets ``net.stop_training = True`` (in ``on_batch_end`` or
    ``on_epoch_end``): ``fit`` finishes the current epoch, records it and returns. ``fit``
    sets the flag to False when it starts. With ``distributed=True`` the hooks run on every
    rank (``batch`` is the global batch) and training stops when any rank sets the flag.
    """

    def on_train_begin(self, net: "Network", history: "History") -> None:
        """Before the first epoch."""

    def on_batch_begin(self, net: "Network", step: int, batch: np.ndarray) -> None:
        """Before mini-batch number ``step``'s backprop; ``batch`` holds its sample indices.

        ``fit`` calls it only on callbacks that override it, so the default costs nothing.
        """

    def on_batch_end(self, net: "Network", step: int, loss: float) -> None:
        """After mini-batch number ``step`` (counted from 1 over the whole fit)."""

    def on_epoch_end(self, net: "Network", epoch: int, record: dict[str, Any]) -> None:
        """After epoch ``epoch`` (from 1); ``record`` may be extended."""

    def on_train_end(self, net: "Network", history: "History") -> None:
        """After the last epoch."""


class History:
    """What training recorded, one dict per epoch (``loss``, ``val_loss``, metrics, ...).

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
        if key not in self.keys():
            raise KeyError(f"The History has no {key!r}; it has {self.keys()}.")
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

    def _repr_html_(self) -> str:
        from .display import history_html
        return history_html(self)

    def _repr_png_(self) -> bytes | None:
        from .display import history_png
        return history_png(self)

    def _repr_markdown_(self) -> str:
        from .display import history_markdown
        return history_markdown(self)


class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default='val_loss'
        A History key: ``'loss'``, ``'val_loss'``, ``'val_accuracy'``, ... Falls back to
        ``'loss'`` when there is no validation data.
    patience : int, default=10
    min_delta : float, default=0.0
        The smallest change that counts as an improvement.
    restore_best : bool, default=True
        Put back the weights of the best epoch when training ends.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                 restore_best: bool = True):
        if not isinstance(monitor, str):
            raise TypeError(f"The 'monitor' parameter of EarlyStopping must be a str, a History "
                            f"key such as 'val_loss'; got {monitor!r}.")
        self.monitor = monitor
        self.patience = check_scalar(patience, "patience", "EarlyStopping", kind=int, low=1)
        self.min_delta = check_scalar(min_delta, "min_delta", "EarlyStopping", low=0.0)
        self.restore_best = check_bool(restore_best, "restore_best", "EarlyStopping")

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta})")


class ProgressBar(Callback):
    """A tqdm bar per epoch (batches, running loss, samples/s) and a summary line per epoch.

    The bar is drawn in a terminal (on standard error) and in a Jupyter notebook (tqdm's
    notebook widget, through ``tqdm.auto``), or wherever ``force=True``; the summary lines
    are written everywhere, a log file included. Without tqdm only the summary lines are written.
    """

    def __init__(self, n_batches: int, batch_size: int, summary: bool = True,
                 force: bool = False, stream: Any = None):
        self.stream = stream or sys.stderr
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)()) \
            or _in_notebook()
        self.n_batches, self.batch_size, self.summary = n_batches, batch_size, summary
        self.bar: Any = None
        self.epoch = 0

    def _open(self) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.epoch += 1
        self.bar = tqdm(total=self.n_batches, desc=f"epoch {self.epoch}", unit="batch",
                        leave=False, file=self.stream, dynamic_ncols=True)
        self.start, self.total = time.perf_counter(), 0.0

    def on_train_begin(self, net: "Network", history: "History") -> None:
        self.epoch = len(history)

    def on_batch_end(self, net: "Network", step: int, loss: float) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self._open()
            if self.bar is None:
                return
        self.bar.update(1)
        self.total += loss
        rate = self.bar.n * self.batch_size / max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix(loss=f"{self.total / self.bar.n:.4f}", samples_s=f"{rate:,.0f}",
                             refresh=False)

    def on_epoch_end(self, net: "Network", epoch: int, record: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.summary:
            print(format_record(record), file=self.stream, flush=True)


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where tqdm.auto draws a widget)."""
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None and hasattr(shell, "get_ipython") else None
    return type(ip).__name__ == "ZMQInteractiveShell"


def format_record(record: dict[str, Any], epochs: int | None = None) -> str:
    """One line for an epoch's record: ``epoch 3  loss 0.1234  val_loss ...  lr 0.001  0.41s``."""
    epoch = record.get("epoch")
    parts = [f"epoch {epoch:3d}/{epochs}" if epochs else f"epoch {epoch}"]
    for key, value in record.items():
        if key in ("epoch", "time", "learning_rate") or not isinstance(value, float):
            continue
        parts.append(f"{key} {value:.4f}")
    parts.append(f"lr {record.get('learning_rate', 0):.3g}")
    parts.append(f"{record.get('time', 0):.2f}s")
    return "  ".join(parts)


def iter_minibatches(
    n_samples: int, batch_size: int, rng: np.random.Generator | None
) -> Iterator[np.ndarray]:
    """Index arrays of the mini-batches of one epoch (shuffled when ``rng`` is given)."""
    order = rng.permutation(n_samples) if rng is not None else np.arange(n_samples)
    for start in range(0, n_samples, batch_size):
        yield order[start:start + batch_size]


# ---------------------------------------------------------------------- one step


def gradient(net: "Network", X_b: np.ndarray, Y_b: np.ndarray,
             w_b: np.ndarray | None = None,
             after_layer: Callable[[int], None] | None = None) -> float:
    """The gradients of a batch: the forward pass, then the backward pass; returns its loss.

    ``X_b`` and ``Y_b`` are checked arrays on the network's device (``Y_b`` as
    ``net.targets`` gives it). Afterwards every layer's ``delta``, ``dW`` and ``db`` hold this
    batch's values, and ``net.grad`` all the gradients. ``after_layer`` is passed on to
    :meth:`Network.backward` (called as each top-level layer's gradients are complete).
    """
    net.propagate(X_b)  # z^l = a^{l-1} @ W^l.T + b^l, a^l = f(z^l), layer by layer
    # delta^L, then delta^l = (delta^{l+1} @ W^{l+1}) * f'(z^l)
    return net.backward(Y_b, w_b, after_layer=after_layer)


def update(net: "Network", optimizer: Optimizer, clip_norm: float | None = None) -> None:
    """One optimiser step from the gradients in ``net.grad`` (clipped to ``clip_norm`` first).

    Plain SGD: ``theta <- theta - learning_rate * grad``, all parameters at once.
    """
    grads = net.grads()
    if clip_norm is not None:
        clip_grad_norm(grads, clip_norm)
    optimizer.step(net.params(), grads)


def train_step(net: "Network", optimizer: Optimizer, X_b: np.ndarray, Y_b: np.ndarray,
               w_b: np.ndarray | None = None, *, clip_norm: float | None = None) -> float:
    """One step of gradient descent on a batch: :func:`gradient`, then :func:`update`.

    What ``fit`` does for every mini-batch; the playground and the vanishing lab call it
    directly. Returns the batch's loss (before the update).
    """
    loss = gradient(net, X_b, Y_b, w_b)
    update(net, optimizer, clip_norm)
    return loss


class SingleProcess:
    """How :func:`fit` computes a batch's gradients and who evaluates and writes: one process.

    ``gradients`` is the batch step up to the optimiser (forward, backward); the other methods
    are hooks at fixed points of the loop, no-ops or the whole data set here. ``step`` is the
    function that computes a batch's gradients, ``step(net, X_b, Y_b, w_b, after_layer) ->
    loss``: :func:`gradient`, unless fit's ``per_sample_clip`` makes it a
    :class:`glassnet.per_sample.PrivateGradient` (DP-SGD).
    :class:`glassnet.distributed.DataParallel` overrides the hooks (a rank's shard of each
    batch, summed over the ranks; the ranks' shares of the evaluation, reduced; rank 0
    writes), so that there is one training loop and one engine.
    """

    root = True  # shows progress, writes checkpoints
    after_layer: Callable[[int], None] | None = None
    """Called by the backward pass after each top-level layer (see :meth:`Network.backward`)."""

    def __init__(self, net: "Network"):
        self.net = net
        self.memmapped = False
        self._rows: dict[tuple[str, int], np.ndarray] = {}
        self.inputs: tuple[Any, ...] = ()
        self.step: Any = gradient  # the batch's gradients: forward, then backward
        self.preemption = Preemption(False)

    @contextmanager
    def running(self) -> Iterator["SingleProcess"]:
        """Around the whole fit."""
        yield self

    def check(self, opt: Optimizer, validation_split: float) -> None:
        """Raise for arguments this way of training cannot take."""
        if isinstance(opt, LBFGS) and self.net.device != "cpu":
            raise ValueError(f"L-BFGS runs through scipy on the CPU; this network is on "
                             f"{self.net.device!r}. Call net.to('cpu') first, or use a "
                             "first-order optimizer such as 'adam'.")

    def agree(self, rng: Any, facts: Callable[[], dict[str, Any]]) -> None:
        """Before the validation split: the processes compare ``facts()`` and share ``rng``."""

    def plan(self, n: int, batch_size: int) -> tuple[int, int]:
        """``(batch_size, n_batches)`` of an epoch over ``n`` samples."""
        batch_size = min(batch_size, n)
        return batch_size, -(-n // batch_size)

    def begin(self, rng: np.random.Generator, memmapped: bool, n_batches: int) -> None:
        """After the set-up, before ``on_train_begin``."""
        self.memmapped = memmapped

    def guarded(self, callbacks: list[Callback]) -> list[Callback]:
        """The callbacks as the loop calls them."""
        return callbacks

    def guard(self, where: str) -> Any:
        """Around work whose failure the other processes must hear of."""
        return nullcontext()

    def epoch_begin(self, rng: np.random.Generator, epoch: int) -> None:
        """Before the first batch of ``epoch``."""

    def batches(self, n: int, batch_size: int, rng: Any) -> Iterator[np.ndarray]:
        """The epoch's mini-batches: index arrays (shuffled when ``rng`` is given)."""
        return iter_minibatches(n, batch_size, rng)

    def batch_rows(self, batch: np.ndarray) -> int:
        """How many samples the step on ``batch`` takes (over all processes)."""
        return len(batch)

    def order(self) -> str | None:
        """What the epoch's batch order depends on beyond the shuffling state (None: nothing);
        a mid-epoch checkpoint resumes only where this is the same."""
        return None

    def take(self, A: np.ndarray, batch: np.ndarray, name: str) -> np.ndarray:
        """``A[batch]``, gathered into an array kept per batch size (no allocation per step)."""
        key = (name, len(batch))
        out = self._rows.get(key)
        if out is None or out.dtype != A.dtype or type(out) is not type(A):
            out = self._rows[key] = self.net.xp.empty((len(batch),) + A.shape[1:], A.dtype)
        if type(A) is np.ndarray:  # mode="clip": with out= and "raise", numpy copies via a temporary
            return A.take(batch, axis=0, out=out, mode="clip")
        return self.net.xp.take(A, self.net.to_device(batch), axis=0, out=out)

    def gradients(self, X: Any, Y: np.ndarray, w: np.ndarray | None, batch: np.ndarray,
                  epoch: int, b: int) -> float:
        """The loss of the rows ``batch`` and its gradients, left in ``net.grad``."""
        if self.memmapped:
            X_b = _batch_inputs(self.net, X, batch, epoch, b)
        else:
            X_b = self.take(X, batch, "X")
        Y_b = self.take(Y, batch, "Y")
        w_b = None if w is None else self.take(w, batch, "w")
        self.inputs = (X_b, Y_b, w_b)  # for the L-BFGS closure
        return self.step(self.net, X_b, Y_b, w_b, self.after_layer)

    def closure(self) -> Any:
        """For L-BFGS: the cost of the last batch at the current weights, ``net.grad`` set."""
        return lambda: gradient(self.net, *self.inputs) + self.net.penalty()

    def interrupted(self) -> str | None:
        """The signal that asks training to checkpoint and stop after this step, if any."""
        return self.preemption.received

    # the epoch's evaluation (see _scores): which rows this process scores, and the reductions
    def eval_rows(self, n: int, own: bool) -> tuple[int, int]:
        """The rows ``[lo, hi)`` of an ``n``-row set that this process evaluates.

        ``own``: the set was split off this process's own training data."""
        return 0, n

    def total(self, values: np.ndarray) -> np.ndarray:
        """``values`` summed over the processes."""
        return values

    def gather(self, *parts: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """The processes' ``parts`` joined in row order, where the metrics are computed."""
        return parts

    def share(self, scores: dict[str, float]) -> dict[str, float]:
        """The root's ``scores``, on every process."""
        return scores

    def checkpoint(self, write: Any, *args: Any) -> None:
        """Write a checkpoint, ``write(*args)``."""
        write(*args)

    def stop(self, stop: bool) -> bool:
        """Whether training ends after this epoch."""
        return stop

    def end(self) -> None:
        """After the last epoch, before the best weights are restored and ``on_train_end``."""


# ---------------------------------------------------------------------- fit


@np.errstate(over="ignore", invalid="ignore")  # non-finite values raise TrainingDivergedError
def fit(
    net: "Network",
    X: Any,
    y: Any,
    *,
    epochs: int = 10,
    batch_size: int | None = None,
    optimizer: str | Optimizer | None = None,
    learning_rate: float | None = None,
    lr_schedule: str | Schedule | None = None,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float = 0.0,
    early_stopping: int | EarlyStopping | None = None,
    callbacks: Sequence[Callback] = (),
    metrics: Sequence[str] = (),
    class_weight: dict[int, float] | str | None = None,
    sample_weight: Any = None,
    clip_norm: float | None = None,
    shuffle: bool = True,
    progress: bool = True,
    seed: int | np.random.Generator | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    distributed: Any = False,
    per_sample_clip: float | None = None,
    noise_multiplier: float = 0.0,
) -> History:
    """Train ``net`` on ``(X, y)``; returns the :class:`History` of this fit.

    Every mini-batch is one :func:`gradient` (the network's forward and backward pass) and one
    :func:`update` (the optimiser's step over the flat parameters); the rest of ``fit`` is
    set-up (:func:`_setup`) and bookkeeping per epoch (:func:`_epoch`).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_in)
        A ``numpy.memmap`` is read batch by batch, never whole. When ``net.scaler`` is set,
        inputs are scaled with it.
    y : array-like
        Targets as the network's loss takes them (labels or rows).
    epochs : int, default=10
        The epoch to stop after (counting epochs of a resumed run too).
    batch_size : int, optional
        Default 32, and the whole training set for L-BFGS (a full-batch method). Clipped to
        the number of samples; the last batch of an epoch may be smaller.
    optimizer : str or Optimizer, optional
        A name of :data:`glassnet.optim.OPTIMIZERS` or an object. Default: the network's
        optimiser from an earlier fit (a warm start), else plain SGD.
    learning_rate : float, optional
        The optimiser's base learning rate (default: the optimiser's own default; 0.01 for SGD).
    lr_schedule : str or Schedule, optional
        Per-epoch learning rate; a name of :data:`glassnet.schedules.SCHEDULES` or an object.
        A named schedule that needs a length runs over ``epochs``. ``'plateau'``
        (scikit-learn's ``'adaptive'``) watches the early-stopping metric.
    validation_data : (X_val, y_val), optional
    validation_split : float in [0, 1), default=0.0
        Hold out this share of ``(X, y)`` (stratified for class labels) when no
        ``validation_data`` is given.
    early_stopping : int or EarlyStopping, optional
        An int is the patience of ``EarlyStopping()``.
    callbacks : sequence of Callback
    metrics : sequence of str
        Names of :mod:`glassnet.metrics`, computed on the training data (``accuracy``) and on
        the validation data (``val_accuracy``) after each epoch.
    class_weight : dict or 'balanced', optional
        Weight of each class in the loss (classification losses).
    sample_weight : array-like of shape (n_samples,), optional
        Weight of each sample in the loss: ``C = (1/n) sum_i w_i c_i``.
    clip_norm : float, optional
        Rescale the gradients when their global L2 norm exceeds this.
    shuffle : bool, default=True
    progress : bool, default=True
        A summary line per epoch on standard error, wherever it goes (a log file too), and a
        progress bar per epoch when standard error is a terminal or in a notebook
        (:class:`ProgressBar`). ``progress=False``: nothing.
    seed : int, Generator or order source, optional
        Source of the shuffling order and the validation split: a seed, a numpy Generator (its
        stream goes on across fits), or any object whose ``permutation(n)`` gives each epoch's
        order (the scikit-learn estimators pass scikit-learn's own shuffling this way).
    checkpoint_dir : path, optional
        Write ``checkpoint.npz`` there after every epoch, atomically: model, optimiser state,
        random state, scaler and history. While ``fit`` runs, a SIGTERM or SIGUSR1 (what
        batch schedulers send before they stop a job) makes it write the checkpoint after
        the current step and raise :class:`TrainingInterrupted` (see
        :mod:`glassnet.preemption`).
    checkpoint_every : int, optional
        Also write the checkpoint after every ``checkpoint_every`` steps (mini-batches,
        counted over the whole fit), mid-epoch included. Needs ``checkpoint_dir``.
    resume : bool, default=False
        Continue from the checkpoint in ``checkpoint_dir`` (written after an epoch or
        mid-epoch): the result equals, bit for bit, an uninterrupted run with the same
        arguments.
    distributed : bool or glassnet.distributed.Settings, default=False
        Data-parallel over the MPI ranks of ``mpiexec -n N`` (call ``fit`` on every rank):
        ``batch_size`` is then the global batch, split over the ranks; see
        :mod:`glassnet.distributed` (this loop, with its :class:`DataParallel` strategy).
    per_sample_clip : float, optional
        DP-SGD: clip every sample's gradient (over all parameters) to this norm ``C`` before
        the batch mean, ``(1/n) sum_i g_i min(1, C / ||g_i||)``; see
        :class:`glassnet.per_sample.PrivateGradient`. The penalty's gradient is added after.
    noise_multiplier : float, default=0.0
        With ``per_sample_clip``: add Gaussian noise of standard deviation
        ``noise_multiplier * C / n`` to each gradient entry, drawn from the fit's own Generator
        (``seed``), so that a resumed run draws the same noise.

    Returns
    -------
    History
        Per epoch: ``loss`` (the mean of the batch losses, weighted by batch size, without
        the penalty), ``penalty`` (at the end of the epoch, when the network has one),
        ``val_loss`` and the metrics when asked for, ``learning_rate`` and ``time`` (seconds).

    Raises
    ------
    TrainingDivergedError
        When the loss or a weight becomes NaN or inf; the message names the epoch and batch,
        and the best weights so far are restored first.
    TrainingInterrupted
        After a SIGTERM or SIGUSR1, once the checkpoint of the step is written.
    """
    strategy = _strategy(net, distributed)
    if per_sample_clip is not None or noise_multiplier:  # DP-SGD: another step, the same loop
        from .per_sample import private_step

        if noise_multiplier and type(strategy) is not SingleProcess:
            raise ValueError("noise_multiplier runs in one process: every rank would add its own "
                             "noise. Train without distributed, or without noise.")
        chosen = net.optimizer if optimizer is None else optimizer
        if isinstance(chosen, LBFGS) or chosen == "lbfgs":
            raise ValueError("per_sample_clip needs a first-order optimizer such as 'sgd'; "
                             "L-BFGS evaluates its own gradients.")
        seed = seed if hasattr(seed, "permutation") else make_rng(seed)
        strategy.step = private_step(per_sample_clip, noise_multiplier, seed)
    with strategy.running(), Preemption(checkpoint_dir is not None) as preemption:
        strategy.preemption = preemption
        run = _setup(net, X, y, strategy, epochs=epochs, batch_size=batch_size,
                     optimizer=optimizer, learning_rate=learning_rate, lr_schedule=lr_schedule,
                     validation_data=validation_data, validation_split=validation_split,
                     early_stopping=early_stopping, callbacks=callbacks, metrics=metrics,
                     class_weight=class_weight, sample_weight=sample_weight,
                     clip_norm=clip_norm, shuffle=shuffle, progress=progress, seed=seed,
                     checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
                     resume=resume)
        for epoch in range(run.start_epoch, epochs + 1):
            if _epoch(run, epoch):
                break
        return _finish(run)


def _strategy(net: "Network", distributed: Any) -> SingleProcess:
    if distributed is False or distributed is None:
        return SingleProcess(net)
    if isinstance(distributed, SingleProcess):
        return distributed
    if net.device != "cpu":
        raise ValueError(f"Distributed training runs on the CPU; this network is on "
                         f"{net.device!r}. Call net.to('cpu') first.")
    from .distributed import DataParallel

    return DataParallel(net, distributed)


@dataclass
class _Run:
    """Everything one fit carries from epoch to epoch."""

    net: "Network"
    strategy: SingleProcess
    opt: Optimizer
    X: Any
    Y: np.ndarray
    w: np.ndarray | None
    val: tuple[np.ndarray, np.ndarray] | None
    rng: Any
    batch_size: int
    n_batches: int
    epochs: int
    shuffle: bool
    clip_norm: float | None
    schedule: Schedule | None
    stopper: EarlyStopping | None
    monitor: str
    metric_fns: list[Any]
    watch: "_Watch"
    history: History
    checkpoint: Path | None
    callbacks: list[Any]
    batch_begin: list[Any]
    start_epoch: int
    memmapped: bool
    val_memmapped: bool
    val_split: bool  # the validation rows were split off the training data
    checkpoint_every: int | None
    position: dict[str, Any] | None  # where a mid-epoch checkpoint left off
    step: int = 0


def _setup(net: "Network", X: Any, y: Any, strategy: SingleProcess, *, epochs: int,
           batch_size: int | None, optimizer: Any, learning_rate: float | None,
           lr_schedule: Any, validation_data: Any, validation_split: float,
           early_stopping: Any, callbacks: Sequence[Callback], metrics: Sequence[str],
           class_weight: Any, sample_weight: Any, clip_norm: float | None, shuffle: bool,
           progress: bool, seed: Any, checkpoint_dir: Any, checkpoint_every: int | None,
           resume: bool) -> _Run:
    """Check the arguments, prepare the data, the optimiser, the schedule and the checkpoint."""
    check_scalar(epochs, "epochs", "fit", kind=int, low=1)
    if batch_size is not None:
        check_scalar(batch_size, "batch_size", "fit", kind=int, low=1)
    if clip_norm is not None:
        check_scalar(clip_norm, "clip_norm", "fit", low=0.0, low_open=True)
    check_bool(shuffle, "shuffle", "fit")
    check_bool(resume, "resume", "fit")
    check_scalar(validation_split, "validation_split", "fit", low=0.0, high=1.0, high_open=True)
    if checkpoint_every is not None:
        check_scalar(checkpoint_every, "checkpoint_every", "fit", kind=int, low=1)
        if checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir, the folder to write the "
                             "checkpoint to.")
    if validation_data is not None and (not isinstance(validation_data, (tuple, list))
                                        or len(validation_data) != 2):
        raise TypeError("The 'validation_data' parameter of fit must be a pair (X_val, y_val); "
                        f"got {_shape_of(validation_data)}.")
    callbacks = _check_callbacks(callbacks)
    opt = _make_optimizer(net, optimizer, learning_rate)
    if isinstance(opt, LBFGS):  # its line search chooses every step: these would do nothing
        given = [name for name, value in (("learning_rate", learning_rate),
                                          ("lr_schedule", lr_schedule), ("clip_norm", clip_norm))
                 if value is not None]
        if given:
            raise ValueError(f"L-BFGS chooses each step by its line search, so {', '.join(given)}"
                             f" would have no effect; leave {'it' if len(given) == 1 else 'them'}"
                             " out, or use another optimizer.")
    strategy.check(opt, validation_split)
    X, Y, w, memmapped = _prepare(net, X, y, sample_weight, class_weight)
    rng = seed if hasattr(seed, "permutation") else make_rng(seed)  # a Generator or an order source
    val, val_memmapped = None, False
    if validation_data is not None:
        X_val, Y_val, _, val_memmapped = _prepare(net, *validation_data, None, None)
        val = (X_val, Y_val)
    metric_names = [metrics] if isinstance(metrics, str) else list(metrics)
    schedule = get_schedule(lr_schedule, epochs=epochs) if lr_schedule is not None else None
    if schedule is not None and schedule.learning_rate is None:
        schedule.learning_rate = opt.learning_rate
    settings = {"epochs": epochs, "batch_size": batch_size, "optimizer": opt.get_config(),
                "lr_schedule": schedule.to_dict() if schedule is not None else None,
                "validation_split": validation_split, "early_stopping": early_stopping,
                "metrics": metric_names, "class_weight": class_weight, "clip_norm": clip_norm,
                "shuffle": shuffle, "checkpoint_dir": checkpoint_dir,
                "checkpoint_every": checkpoint_every, "resume": resume,
                "sample_weight": sample_weight is not None}
    # distributed: one collective compares the ranks' data and arguments, then rank 0's
    # shuffling state is everyone's (before the split draws from it)
    strategy.agree(rng, lambda: _facts(net, X, Y, w, val, settings))
    if val is None and validation_split:
        X, Y, w, val = _split(net, X, Y, w, validation_split, rng)
        val_memmapped = memmapped  # raw rows, checked and scaled batch by batch

    if early_stopping is None or isinstance(early_stopping, EarlyStopping):
        stopper = early_stopping
    else:  # an int: the patience, checked there
        stopper = EarlyStopping(patience=early_stopping)
    monitor = _monitor_name(stopper, val is not None)
    metric_fns = [get_metric(name) for name in metric_names]
    watch = _Watch(monitor, metric_fns, stopper)

    history, start_epoch, position = net.history if resume else History(), 1, None
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint_dir, the folder of the checkpoint.")
        history, start_epoch, position = _resume(net, checkpoint, opt, schedule, watch, rng)
        if position is not None and position.get("order") != strategy.order():
            raise ValueError(
                f"The checkpoint {checkpoint} was written in the middle of epoch "
                f"{position['epoch']} by a run whose batch order was {position.get('order')!r} "
                f"(this one: {strategy.order()!r}); resume it the same way, or from a "
                "checkpoint written at the end of an epoch.")
    if checkpoint is not None and strategy.root:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
    _check_schedule_end(schedule, start_epoch, epochs)

    if not memmapped:  # on a GPU: the data moves to the device once, here (a memmap: per batch)
        X = net.to_device(X)
    Y, w = net.to_device(Y), net.to_device(w)
    if val is not None:
        val = (val[0] if val_memmapped else net.to_device(val[0]), net.to_device(val[1]))
    n = len(X)
    batch_size = n if batch_size is None and isinstance(opt, LBFGS) else batch_size or 32
    batch_size, n_batches = strategy.plan(n, batch_size)
    strategy.begin(rng, memmapped, n_batches)  # distributed: rank 0's weights
    net.history = history
    watch.remember(net)  # the weights to fall back on before any epoch has finished
    if progress and strategy.root:
        callbacks.append(ProgressBar(n_batches, batch_size))
    batch_begin = [c for c in callbacks  # only the overrides: the batch loop stays lean
                   if getattr(type(c), "on_batch_begin", Callback.on_batch_begin)
                   is not Callback.on_batch_begin]
    net.stop_training = False
    run = _Run(net, strategy, opt, X, Y, w, val, rng, batch_size, n_batches, epochs, shuffle,
               clip_norm, schedule, stopper, monitor, metric_fns, watch, history, checkpoint,
               strategy.guarded(callbacks), strategy.guarded(batch_begin), start_epoch,
               memmapped, val_memmapped, validation_data is None and val is not None,
               checkpoint_every, position,
               step=(start_epoch - 1) * n_batches)
    for callback in run.callbacks:
        callback.on_train_begin(net, history)
    return run


def _epoch(run: _Run, epoch: int) -> bool:
    """One epoch: the mini-batch steps, then the epoch's record; True when training stops."""
    net, opt, strategy = run.net, run.opt, run.strategy
    if run.schedule is not None and not isinstance(run.schedule, ReduceOnPlateau):
        opt.learning_rate = run.schedule(epoch - 1)
    order_state = _rng_state(run.rng)  # before this epoch's order is drawn (mid-epoch checkpoints)
    strategy.epoch_begin(run.rng, epoch)
    start, total, seen, skip = time.perf_counter(), 0.0, 0, 0
    if run.position is not None and run.position["epoch"] == epoch:  # resumed mid-epoch
        skip, total, seen = run.position["batch"], run.position["total"], run.position["seen"]
        run.step += skip
    run.position = None
    closure = strategy.closure() if isinstance(opt, LBFGS) else None
    net.training = True
    try:
        with np.errstate(under="ignore"):  # exp may underflow to 0, harmlessly
            for b, batch in enumerate(strategy.batches(len(run.X), run.batch_size,
                                                       run.rng if run.shuffle else None), 1):
                if b <= skip:  # done before the checkpoint this run resumed from
                    continue
                for callback in run.batch_begin:
                    callback.on_batch_begin(net, run.step + 1, batch)
                loss = strategy.gradients(run.X, run.Y, run.w, batch, epoch, b)
                if not math.isfinite(loss):
                    run.watch.restore(net)
                    raise TrainingDivergedError(
                        f"The training loss became {loss} in epoch {epoch}, batch {b} of "
                        f"{run.n_batches}; the weights of the best epoch so far were restored. "
                        "Lower the learning rate, scale the inputs or clip the gradients "
                        "(clip_norm).")
                if closure is not None:  # L-BFGS: its own iterations on this batch
                    opt.step(net.params(), net.grads(), closure)
                else:
                    update(net, opt, run.clip_norm)
                rows = strategy.batch_rows(batch)
                total += loss * rows
                seen += rows
                run.step += 1
                for callback in run.callbacks:
                    callback.on_batch_end(net, run.step, loss)
                if run.checkpoint is not None and b < run.n_batches:
                    _mid_epoch_checkpoint(run, epoch, b, total, seen, order_state)
    finally:
        net.training = False
    if not np.all(np.isfinite(net.theta)):
        run.watch.restore(net)
        bad = [key for key, p in net.params().items() if not np.all(np.isfinite(p))]
        raise TrainingDivergedError(
            f"The weights {bad} became NaN or inf in epoch {epoch}, batch {run.n_batches}; the "
            "weights of the best epoch so far were restored. Lower the learning rate.")
    record: dict[str, Any] = {"epoch": epoch, "loss": total / seen}
    if net.l2 or net.l1:
        record["penalty"] = net.penalty()
    record.update(_scores(run, epoch))
    record["learning_rate"] = float(opt.learning_rate)
    record["time"] = time.perf_counter() - start
    stop = run.watch.update(net, record)
    if isinstance(run.schedule, ReduceOnPlateau):
        opt.learning_rate = run.schedule.update(record[run.monitor])
        stop = stop or run.schedule.should_stop
    for callback in run.callbacks:
        callback.on_epoch_end(net, epoch, record)
    run.history.append(record)
    if run.checkpoint is not None:
        strategy.checkpoint(_write_checkpoint, net, run.checkpoint, epoch, opt, run.schedule,
                            run.watch, _rng_state(run.rng))
    stop = strategy.stop(stop or net.stop_training)  # distributed: all ranks alike
    signal = strategy.interrupted()
    if signal is not None and not stop and epoch < run.epochs:
        raise TrainingInterrupted(signal, run.checkpoint, epoch, run.n_batches, run.n_batches,
                                  strategy.root)
    return stop


def _mid_epoch_checkpoint(run: _Run, epoch: int, b: int, total: float, seen: int,
                          order_state: Any) -> None:
    """After batch ``b`` (not the epoch's last): the checkpoint when it is due or a signal came.

    Every ``checkpoint_every`` steps; and on SIGTERM/SIGUSR1, after which training stops
    with :class:`TrainingInterrupted`. The position holds the shuffling state from before the
    epoch's order was drawn, so that ``resume`` draws the same order and skips ``b`` batches.
    """
    signal = run.strategy.interrupted()
    due = run.checkpoint_every is not None and run.step % run.checkpoint_every == 0
    if not (due or signal):
        return
    position = {"epoch": epoch, "batch": b, "total": total, "seen": seen}
    if run.strategy.order() is not None:
        position["order"] = run.strategy.order()
    run.strategy.checkpoint(_write_checkpoint, run.net, run.checkpoint, epoch - 1, run.opt,
                            run.schedule, run.watch, order_state, position)
    if signal is not None:
        run.strategy.end()  # distributed: every rank waits until rank 0's write is done
        raise TrainingInterrupted(signal, run.checkpoint, epoch, b, run.n_batches,
                                  run.strategy.root)


def _check_schedule_end(schedule: Schedule | None, start_epoch: int, epochs: int) -> None:
    """Say so when epochs ``start_epoch..epochs`` run past the schedule's end (epoch ``e`` uses
    ``schedule(e - 1)``, so epochs after ``ends_at`` train at the final rate)."""
    end = getattr(schedule, "ends_at", None)
    if end is None or epochs <= end:
        return
    first = max(start_epoch, end + 1)
    rate = schedule.final_rate  # type: ignore[union-attr]
    what = ("which leaves the weights where they are" if rate == 0
            else "the schedule's final rate")
    warnings.warn(
        f"The {schedule.name} schedule ends at epoch {end}: epochs {first}-{epochs} train at "  # type: ignore[union-attr]
        f"learning rate {rate:g}, {what}. Give the schedule the run's length "
        f"(lr_schedule='{schedule.name}' fills in epochs={epochs}), or stop at epoch {end}.",  # type: ignore[union-attr]
        ScheduleEndWarning, stacklevel=5)  # the caller of fit (fit, its errstate, _setup)


def _finish(run: _Run) -> History:
    run.strategy.end()
    if run.stopper is not None and run.stopper.restore_best:
        run.watch.restore(run.net)
    for callback in run.callbacks:
        callback.on_train_end(run.net, run.history)
    return run.history


def partial_fit(net: "Network", X: Any, y: Any, **kwargs: Any) -> History:
    """One more epoch over ``(X, y)``, keeping the optimiser state: data that arrives in pieces.

    The records are appended to ``net.history``. Takes the arguments of :func:`fit` except
    ``epochs`` and ``resume``. ``optimizer`` given by the name of the network's optimiser (the
    same arguments on every call) keeps that optimiser and its state; another name or an
    Optimizer object starts from it afresh.
    """
    previous = getattr(net, "history", None) or History()
    spec, current = kwargs.get("optimizer"), getattr(net, "optimizer", None)
    if isinstance(spec, str) and current is not None and spec == current.name:
        kwargs.pop("optimizer")  # the same name on every call: the state it has goes on
    history = fit(net, X, y, epochs=1, **kwargs)
    for record in history.epochs:
        record["epoch"] = len(previous) + 1
        previous.append(record)
    net.history = previous
    return previous


# ---------------------------------------------------------------------- helpers


class _Watch:
    """Tracks the monitored value, the best weights, and early stopping's patience."""

    def __init__(self, monitor: str, metric_fns: list[Any], stopper: EarlyStopping | None):
        greater = monitor.removeprefix("val_") in {m.name for m in metric_fns if m.greater_is_better}
        self.monitor, self.sign = monitor, (-1.0 if greater else 1.0)
        self.stopper = stopper
        self.best = np.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_params: dict[str, np.ndarray] = {}

    def remember(self, net: "Network") -> None:
        self.best_params = {k: v.copy() for k, v in net.params().items()}

    def restore(self, net: "Network") -> None:
        for key, param in net.params().items():
            param[...] = self.best_params[key]

    def update(self, net: "Network", record: dict[str, Any]) -> bool:
        if self.monitor not in record:
            raise ValueError(f"Early stopping monitors {self.monitor!r}, which the History does "
                             f"not have; it has {sorted(record)}. Add the metric or validation data.")
        value = self.sign * record[self.monitor]
        min_delta = self.stopper.min_delta if self.stopper else 0.0
        if value < self.best - min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, record["epoch"], 0
            self.remember(net)
        else:
            self.bad_epochs += 1
        return self.stopper is not None and self.bad_epochs >= self.stopper.patience

    def state(self) -> dict[str, Any]:
        return {"best": None if not np.isfinite(self.best) else self.best,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state(self, state: dict[str, Any]) -> None:
        self.best = np.inf if state["best"] is None else state["best"]
        self.best_epoch, self.bad_epochs = state["best_epoch"], state["bad_epochs"]


def _monitor_name(stopper: EarlyStopping | None, has_val: bool) -> str:
    if stopper is None:
        return "val_loss" if has_val else "loss"
    if stopper.monitor.startswith("val_") and not has_val:
        return stopper.monitor.removeprefix("val_")
    return stopper.monitor


def _prepare(net: "Network", X: Any, y: Any, sample_weight: Any, class_weight: Any):
    """Checked inputs (scaled by ``net.scaler``), targets and per-sample weights."""
    memmapped = isinstance(X, np.memmap)
    if memmapped:  # check shape and dtype now; values batch by batch
        check_real_dtype(X.dtype, "X", getattr(X, "filename", None))
        if X.ndim != 2 or X.shape[1] != net.n_in or X.shape[0] == 0:
            net.check_X(X[:1] if X.ndim == 2 and len(X) else X)
        n_y = len(y)
        if n_y != len(X):
            raise ValueError(f"X and y have different numbers of samples: {len(X)} and {n_y}. "
                             "Give one target per sample.")
        Y = net.loss_fn.targets(np.asarray(y), net.n_out, net.dtype)
    else:
        X = net.scale_inputs(X)
        X, Y = net.check_Xy(X, y)
    w = None
    if sample_weight is not None:
        w = check_sample_weight(sample_weight, len(X), "fit", some_positive=True)
    if class_weight is not None:
        if not net.loss_fn.classifier:
            raise ValueError("class_weight needs a classification loss (cross_entropy or "
                             f"binary_cross_entropy); the network uses {net.loss_fn.name}.")
        labels = Y.argmax(axis=1) if Y.shape[1] > 1 else (Y[:, 0] > 0.5).astype(int)
        n_classes = max(Y.shape[1], 2)
        if class_weight == "balanced":  # n / (n_present * count), as scikit-learn: over the
            counts = np.bincount(labels, minlength=n_classes).astype(float)  # classes present
            present = int(np.count_nonzero(counts))
            table = np.where(counts > 0, len(labels) / (present * np.maximum(counts, 1)), 0.0)
        elif isinstance(class_weight, dict):
            table = np.ones(n_classes)
            for label, weight in class_weight.items():
                check_scalar(weight, f"class_weight[{label!r}]", "fit", low=0.0)
                if isinstance(label, (bool, np.bool_)) or not isinstance(label, numbers.Integral):
                    raise TypeError(f"class_weight's keys are class indices 0..{n_classes - 1}; "
                                    f"got {label!r}.")
                if not 0 <= int(label) < n_classes:
                    raise ValueError(f"class_weight names class {label!r}; the classes are "
                                     f"0..{n_classes - 1}.")
                table[int(label)] = float(weight)
        else:
            raise ValueError(f"class_weight must be a dict {{class: weight}} or 'balanced'; "
                             f"got {class_weight!r}.")
        cw = table[labels]
        w = cw if w is None else w * cw
    if w is not None:
        w = w.astype(net.dtype)
    return X, Y, w, memmapped


def _batch_inputs(net: "Network", X: np.ndarray, batch: np.ndarray, epoch: int,
                  b: int) -> np.ndarray:
    """The rows ``batch`` of a memory-mapped ``X``, checked, scaled, on the device.

    The file is read in row order (a sequential read), and the rows are put back in the
    batch's order, so that the batch is the one an array in memory would give.
    """
    order = np.argsort(batch)
    X_b = np.empty((len(batch), X.shape[1]), dtype=net.dtype)
    where = _in_file(X, f"epoch {epoch}, batch {b}")
    X_b[order] = as_dtype(X[batch[order]], net.dtype, where=where,
                          rows=batch[order], fix="Clean the data file.")
    return net.to_device(net.scale_inputs(X_b))


def _split(net: "Network", X, Y, w, fraction, rng):
    """Hold out ``fraction`` of the samples, stratified by class for classification losses."""
    n = len(X)
    if net.loss_fn.classifier:
        labels = Y.argmax(axis=1) if Y.shape[1] > 1 else (Y[:, 0] > 0.5).astype(int)
        held = []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            held.append(idx[:int(round(fraction * len(idx)))])
        val_idx = np.sort(np.concatenate(held))
    else:
        val_idx = np.sort(rng.permutation(n)[:int(round(fraction * n))])
    if len(val_idx) == 0 or len(val_idx) == n:
        raise ValueError(f"validation_split={fraction} leaves {len(val_idx)} of {n} samples for "
                         "validation; choose a split that leaves samples on both sides.")
    keep = np.setdiff1d(np.arange(n), val_idx)
    return X[keep], Y[keep], None if w is None else w[keep], (X[val_idx], Y[val_idx])


def _shape_of(value: Any) -> str:
    """``'a tuple of 3'``, ``'an ndarray of shape (60, 3)'``: what a wrong argument was."""
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__}" + (f" of shape {shape}" if shape is not None else "")


def _check_callbacks(callbacks: Any) -> list[Callback]:
    """``callbacks`` as a list, each a :class:`Callback`; a clear TypeError otherwise."""
    if isinstance(callbacks, Callback):
        raise TypeError("The 'callbacks' parameter of fit must be a list of Callback objects; "
                        f"got one {type(callbacks).__name__}: pass [it].")
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError("The 'callbacks' parameter of fit must be a list of Callback objects; "
                        f"got {type(callbacks).__name__}.") from None
    for i, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise TypeError(f"The 'callbacks' parameter of fit must hold Callback objects "
                            f"(subclasses of glassnet.Callback); entry {i} is "
                            f"{type(callback).__name__} {callback!r:.60}.")
    return callbacks


def _make_optimizer(net: "Network", spec: Any, learning_rate: float | None) -> Optimizer:
    if spec is None and getattr(net, "optimizer", None) is not None:
        opt = net.optimizer
        if learning_rate is not None:
            opt.learning_rate = learning_rate
        return opt
    spec = "sgd" if spec is None else spec
    if isinstance(spec, Optimizer):
        opt = spec
        if learning_rate is not None:
            opt.learning_rate = learning_rate
    else:
        opt = get_optimizer(spec, **({} if learning_rate is None else {"learning_rate": learning_rate}))
    net.optimizer = opt
    return opt


_EVAL_ROWS = 4096  # rows per forward pass when evaluating


def _eval_batch(net: "Network", X: Any, i: int, j: int, raw: bool) -> np.ndarray:
    """Rows ``i:j`` of ``X`` as the first layer takes them; ``raw`` rows (a memory map, not
    checked or scaled yet) are checked, scaled by ``net.scaler`` and moved to the device."""
    if not raw:
        return X[i:j]
    X_b = as_dtype(np.asarray(X[i:j]), net.dtype, where=_in_file(X, f"rows {i} to {j - 1}"),
                   rows=i, fix="Clean the data file.")
    return net.to_device(net.scale_inputs(X_b))


def _in_file(X: Any, where: str) -> str:
    """``' (epoch 1, batch 5)'``, with the file of a memory map: ``' (X.npy, epoch 1, ...)'``."""
    filename = getattr(X, "filename", None)
    return f" ({filename}, {where})" if filename else f" ({where})"


def _loss_total(net: "Network", X: Any, Y: np.ndarray, lo: int, hi: int, raw: bool) -> float:
    """``sum_i c_i`` over the rows ``[lo, hi)`` (no penalty), in inference mode."""
    total = 0.0
    for i in range(lo, hi, _EVAL_ROWS):
        j = min(i + _EVAL_ROWS, hi)
        net.propagate(_eval_batch(net, X, i, j, raw))
        total += net.output_loss(Y[i:j]) * (j - i)
    return total


def _outputs(net: "Network", X: Any, lo: int, hi: int, raw: bool) -> np.ndarray:
    """The outputs ``a^L`` of the rows ``[lo, hi)``, on the host."""
    outputs = [to_numpy(net.infer(_eval_batch(net, X, i, min(i + _EVAL_ROWS, hi), raw))).copy()
               for i in range(lo, hi, _EVAL_ROWS)]
    return np.concatenate(outputs) if outputs else np.empty((0, net.n_out), net.dtype)


def _scores(run: _Run, epoch: int) -> dict[str, float]:
    """An epoch's metrics on the training data, validation loss and validation metrics.

    Each process scores its own rows (``strategy.eval_rows``); the validation loss sums are
    added over the processes (``total``) and the outputs joined in row order where the
    metrics are computed (``gather``, rank 0), whose scores every process then takes
    (``share``). With one process: the whole sets, here.
    """
    net, strategy, fns, val = run.net, run.strategy, run.metric_fns, run.val
    parts: list[np.ndarray] = []
    loss_total = np.zeros(2)  # [sum of the validation losses, validation rows]
    with strategy.guard(f"evaluating epoch {epoch}"):
        if fns:
            lo, hi = strategy.eval_rows(len(run.X), own=True)  # own: a rank's file
            parts += [_outputs(net, run.X, lo, hi, run.memmapped), to_numpy(run.Y[lo:hi])]
        if val is not None:
            lo, hi = strategy.eval_rows(len(val[0]), own=run.val_split)
            loss_total[:] = _loss_total(net, val[0], val[1], lo, hi, run.val_memmapped), hi - lo
            if fns:
                parts += [_outputs(net, val[0], lo, hi, run.val_memmapped),
                          to_numpy(val[1][lo:hi])]
    loss_total = strategy.total(loss_total)  # distributed: every rank's failure is heard here
    joined = strategy.gather(*parts)
    scores: dict[str, float] = {}
    if joined is not None:  # on the root
        if fns:
            a, Y = joined[0], joined[1]
            scores.update({m.name: m(Y, a) for m in fns})
        if val is not None:
            scores["val_loss"] = float(loss_total[0]) / float(loss_total[1])
            if fns:
                a, Y = joined[2], joined[3]
                scores.update({f"val_{m.name}": m(Y, a) for m in fns})
    return strategy.share(scores)


def _rng_state(rng: Any) -> Any:
    """The state of a numpy Generator (None for another order source)."""
    return rng.bit_generator.state if hasattr(rng, "bit_generator") else None


def _write_checkpoint(net, path, epoch, opt, schedule, watch, rng_state,
                      position=None) -> None:
    """The checkpoint after epoch ``epoch``, or at ``position`` within the next one.

    ``position`` is ``{"epoch", "batch", "total", "seen"}``: batches done in that epoch and
    its running loss; ``rng_state`` is then the state before that epoch's order was drawn.
    """
    from .io import save

    state = {
        "epoch": epoch,
        "rng": rng_state,
        "dropout_rngs": [layer.rng.bit_generator.state for layer in net.random_layers()],
        "schedule": schedule.to_dict() if schedule is not None else None,
        "watch": watch.state(),
    }
    if position is not None:
        state["position"] = position
    best = {f"best.{k}": v for k, v in watch.best_params.items()}
    save(net, path, extra={"checkpoint": state}, extra_arrays=best)


def _resume(net, path, opt, schedule, watch, rng):
    """Load the checkpoint at ``path``; returns ``(history, start_epoch, position)``."""
    from .io import load_with_extra

    if not path.exists():
        raise FileNotFoundError(f"No checkpoint to resume from at {path}. Train with "
                                "checkpoint_dir first, or drop resume.")
    saved, extra, arrays = load_with_extra(path)
    if saved.config()["layers"] != net.config()["layers"]:
        raise ValueError(f"The checkpoint {path} holds another architecture than this network.")
    state = extra["checkpoint"]
    for key, param in net.params().items():
        param[...] = net.to_device(saved.params()[key])
    if saved.optimizer is not None:
        config, optim_arrays = saved.optimizer.state_dict()
        opt.load_state_dict(config, optim_arrays)
    if state["rng"] is not None and hasattr(rng, "bit_generator"):
        rng.bit_generator.state = state["rng"]
    for layer, rng_state in zip(net.random_layers(), state["dropout_rngs"]):
        layer.rng.bit_generator.state = rng_state
    if schedule is not None and state["schedule"] is not None:
        restored = Schedule.from_dict(state["schedule"])
        schedule.__dict__.update(restored.__dict__)
    watch.load_state(state["watch"])
    watch.best_params = {k[len("best."):]: net.to_device(v) for k, v in arrays.items()
                         if k.startswith("best.")}
    net.scaler = saved.scaler if saved.scaler is not None else net.scaler
    return saved.history or History(), state["epoch"] + 1, state.get("position")


def _facts(net: "Network", X: Any, Y: np.ndarray, w: np.ndarray | None, val: Any,
           settings: dict[str, Any]) -> dict[str, Any]:
    """What every process of a distributed fit must share: data shapes and fingerprints, the
    network, its scaler and the fit's arguments (JSON-able)."""
    def fingerprint(*arrays: Any) -> str:
        digest = hashlib.sha256()
        for A in arrays:
            if A is None:
                continue
            rows = np.unique(np.linspace(0, len(A) - 1, min(len(A), 16)).astype(np.int64))
            digest.update(np.ascontiguousarray(to_numpy(A[rows])).tobytes())
        return digest.hexdigest()[:16]

    facts = {"n_samples": len(X), "n_features": int(X.shape[1]), "X dtype": str(X.dtype),
             "network": net.config(), "fit": settings,
             "scaler": net.scaler.to_dict() if net.scaler is not None else None,
             "targets": list(Y.shape[1:]), "data": fingerprint(X, Y, w)}
    if val is not None:
        facts["validation"] = {"n_samples": len(val[0]), "data": fingerprint(*val)}
    return json.loads(json.dumps(facts, default=repr))



