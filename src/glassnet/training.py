"""The training loop: mini-batches, an optimiser, validation, early stopping, checkpoints.

At its heart is gradient descent as derived: after each mini-batch's ``backprop``, every
parameter moves against its gradient. Plain SGD is exactly ``W <- W - learning_rate * dW``,
``b <- b - learning_rate * db``; the other optimisers of :mod:`glassnet.optim` change how
the step is formed from ``dW`` and ``db``, not where the gradients come from.

One epoch::

    for each mini-batch (X_b, y_b):          # shuffled with the fit's own Generator
        C_b = net.backprop(X_b, y_b)         # sets every layer's delta, dW, db
        clip the gradients (optional)
        optimizer.step(params, grads)        # in place

For chains of Dense layers the same step runs on buffers allocated once, with the parameters
in one flat array (:mod:`glassnet.fastpath`); plain SGD is then ``theta -= learning_rate * grad``.
    record loss, validation loss, metrics, learning rate, wall time
    learning-rate schedule, early stopping, checkpoint
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from .device import to_numpy
from .fastpath import FastPath
from .init import make_rng
from .metrics import get_metric
from .optim import LBFGS, SGD, Optimizer, clip_grad_norm, get_optimizer
from .schedules import ReduceOnPlateau, Schedule, get_schedule

if TYPE_CHECKING:
    from .network import Network

__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "ProgressBar",
    "TrainingDivergedError",
    "fit",
    "iter_minibatches",
    "partial_fit",
]

CHECKPOINT_NAME = "checkpoint.npz"


class TrainingDivergedError(FloatingPointError):
    """The loss or a weight became NaN or inf; the best weights so far were restored."""


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
        _check_int("patience", patience, low=1, owner="EarlyStopping")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ValueError(f"The 'min_delta' parameter of EarlyStopping must be a float >= 0; "
                             f"got {min_delta!r}.")
        self.monitor, self.patience = monitor, int(patience)
        self.min_delta, self.restore_best = float(min_delta), bool(restore_best)

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta})")


class ProgressBar(Callback):
    """A tqdm bar per epoch (batches, running loss, samples/s) and a summary line per epoch.

    Writes to standard error, and only when it is a terminal (``force=True`` overrides).
    Without tqdm installed only the summary lines are written.
    """

    def __init__(self, n_batches: int, batch_size: int, summary: bool = True,
                 force: bool = False, stream: Any = None):
        self.stream = stream or sys.stderr
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)())
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
        if self.enabled and self.summary:
            print(format_record(record), file=self.stream)


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


@np.errstate(over="ignore", invalid="ignore")  # non-finite values raise TrainingDivergedError
def fit(
    net: "Network",
    X: Any,
    y: Any,
    *,
    epochs: int = 10,
    batch_size: int = 32,
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
    resume: bool = False,
    distributed: Any = False,
) -> History:
    """Train ``net`` on ``(X, y)``; returns the :class:`History` of this fit.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_in)
        A ``numpy.memmap`` is read batch by batch, never whole. When ``net.scaler`` is set,
        inputs are scaled with it.
    y : array-like
        Targets as the network's loss takes them (labels or rows).
    epochs : int, default=10
        The epoch to stop after (counting epochs of a resumed run too).
    batch_size : int, default=32
        Clipped to the number of samples; the last batch of an epoch may be smaller.
    optimizer : str or Optimizer, optional
        A name of :data:`glassnet.optim.OPTIMIZERS` or an object. Default: the network's
        optimiser from an earlier fit (a warm start), else plain SGD.
    learning_rate : float, optional
        The optimiser's base learning rate (default: the optimiser's own default; 0.01 for SGD).
    lr_schedule : str or Schedule, optional
        Per-epoch learning rate; a name of :data:`glassnet.schedules.SCHEDULES` or an object.
        ``'plateau'`` (scikit-learn's ``'adaptive'``) watches the early-stopping metric.
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
        A progress bar and a summary line per epoch on standard error, when it is a terminal.
    seed : int, Generator or order source, optional
        Source of the shuffling order and the validation split: a seed, a numpy Generator (its
        stream goes on across fits), or any object whose ``permutation(n)`` gives each epoch's
        order (the scikit-learn estimators pass scikit-learn's own shuffling this way).
    checkpoint_dir : path, optional
        Write ``checkpoint.npz`` there after every epoch, atomically: model, optimiser state,
        random state, scaler and history.
    resume : bool, default=False
        Continue from the checkpoint in ``checkpoint_dir``: the result equals, bit for bit,
        an uninterrupted run with the same arguments.
    distributed : bool or glassnet.distributed.Settings, default=False
        Data-parallel over the MPI ranks of ``mpiexec -n N`` (call ``fit`` on every rank):
        ``batch_size`` is then the global batch, split over the ranks; see
        :mod:`glassnet.distributed` (this loop, with its :class:`DataParallel` hooks).

    Returns
    -------
    History
        Per epoch: ``loss`` (mean of the batch losses, weighted by batch size), ``val_loss``
        and the metrics when asked for, ``learning_rate`` and ``time`` (seconds).

    Raises
    ------
    TrainingDivergedError
        When the loss or a weight becomes NaN or inf; the message names the epoch and batch,
        and the best weights so far are restored first.
    """
    if net.device != "cpu" and distributed is not False:
        raise ValueError(f"Distributed training runs on the CPU; this network is on "
                         f"{net.device!r}. Call net.to('cpu') first.")
    if distributed is not False and not isinstance(distributed, _SingleProcess):
        kwargs = {k: v for k, v in locals().items() if k not in ("net", "X", "y")}
        from .distributed import fit_distributed  # this fit, with the hooks of DataParallel

        return fit_distributed(net, X, y, **kwargs)
    run = _SingleProcess(net) if distributed is False else distributed
    _check_int("epochs", epochs, low=1)
    _check_int("batch_size", batch_size, low=1)
    opt = _make_optimizer(net, optimizer, learning_rate)
    run.check(opt, validation_split)
    X, Y, w, memmapped = _prepare(net, X, y, sample_weight, class_weight)
    rng = seed if hasattr(seed, "permutation") else make_rng(seed)  # a Generator or an order source
    val = None
    if validation_data is not None:
        X_val, Y_val, w_val, _ = _prepare(net, *validation_data, None, None)
        val = (X_val, Y_val)
    elif validation_split:
        if isinstance(validation_split, bool) or not 0 < validation_split < 1:
            raise ValueError(f"The 'validation_split' parameter of fit must be a float in [0, 1); "
                             f"got {validation_split!r}.")
        X, Y, w, val = _split(net, X, Y, w, validation_split, rng)

    schedule = get_schedule(lr_schedule) if lr_schedule is not None else None
    if schedule is not None and schedule.learning_rate is None:
        schedule.learning_rate = opt.learning_rate
    stopper = EarlyStopping(patience=early_stopping) if isinstance(early_stopping, int) \
        and not isinstance(early_stopping, bool) else early_stopping
    monitor = _monitor_name(stopper, val is not None)
    metric_fns = [get_metric(name) for name in metrics]
    watch = _Watch(monitor, metric_fns, stopper)

    history, start_epoch = net.history if resume else History(), 1
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint_dir, the folder of the checkpoint.")
        history, start_epoch = _resume(net, checkpoint, opt, schedule, watch, rng)
    if checkpoint is not None and run.root:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)

    if not memmapped:  # on a GPU: the data moves to the device once, here (a memmap: per batch)
        X = net.to_device(X)
    Y, w = net.to_device(Y), net.to_device(w)
    if val is not None:
        val = (net.to_device(val[0]), net.to_device(val[1]))
    n = len(X)
    batch_size = min(batch_size, n)
    n_batches = -(-n // batch_size)
    run.begin(rng, memmapped, n_batches)  # distributed: rank 0's weights and shuffling state
    net.history = history
    watch.remember(net)  # the weights to fall back on before any epoch has finished
    callbacks = list(callbacks)
    if progress and run.root:
        callbacks.append(ProgressBar(n_batches, batch_size))
    batch_begin = [c for c in callbacks  # only the overrides: the batch loop stays lean
                   if getattr(type(c), "on_batch_begin", Callback.on_batch_begin)
                   is not Callback.on_batch_begin]
    callbacks, batch_begin = run.guarded(callbacks), run.guarded(batch_begin)
    # the hot path: preallocated buffers, parameters in one flat array (see fastpath.py)
    fast = run.fast_path(opt)
    # plain SGD with nobody else reading the gradients: fold the learning rate into the
    # output delta, so that the step is theta -= grad
    fold = fast is not None and type(opt) is SGD and opt.momentum == 0 \
        and opt.weight_decay == 0 and clip_norm is None \
        and all(type(c) is ProgressBar for c in callbacks)
    params = net.params()
    net.stop_training = False
    for callback in callbacks:
        callback.on_train_begin(net, history)
    step = (start_epoch - 1) * n_batches
    for epoch in range(start_epoch, epochs + 1):
        if schedule is not None and not isinstance(schedule, ReduceOnPlateau):
            opt.learning_rate = schedule(epoch - 1)
        run.epoch_begin(rng, epoch)
        start, total = time.perf_counter(), 0.0
        scale = run.scale = float(opt.learning_rate) if fold else 1.0
        net.training = True
        quiet = np.errstate(under="ignore")  # once per epoch: exp may underflow to 0, harmlessly
        quiet.__enter__()
        try:
            for b, batch in enumerate(iter_minibatches(n, batch_size, rng if shuffle else None), 1):
                if memmapped:  # read only this batch's rows, in file order
                    batch = np.sort(batch)
                for callback in batch_begin:
                    callback.on_batch_begin(net, step + 1, batch)
                batch_loss, grads = run(X, Y, w, batch, epoch, b)
                if not math.isfinite(batch_loss):
                    watch.restore(net)
                    raise TrainingDivergedError(
                        f"The training loss became {batch_loss} in epoch {epoch}, batch {b} of "
                        f"{n_batches}; the weights of the best epoch so far were restored. "
                        "Lower the learning rate, scale the inputs or clip the gradients "
                        "(clip_norm).")
                if fold:  # W <- W - learning_rate * dC/dW, all parameters at once
                    fast.theta -= fast.grad  # type: ignore[union-attr]
                    opt.iterations += 1
                else:
                    if clip_norm is not None:
                        clip_grad_norm(grads, clip_norm)
                    if fast is not None:  # all parameters in one flat array: one step for all
                        opt.step_flat(fast.theta, fast.grad, params)
                    else:
                        closure = run.closure(grads) if isinstance(opt, LBFGS) else None
                        opt.step(params, grads, closure)
                total += batch_loss * len(batch)
                step += 1
                for callback in callbacks:
                    callback.on_batch_end(net, step, batch_loss)
        finally:
            quiet.__exit__(None, None, None)
            net.training = False
            if fold:  # the gradients mean dC/dW again
                fast.unscale(scale)  # type: ignore[union-attr]
        bad = [key for key, p in params.items() if not np.all(np.isfinite(p))]
        if bad:
            watch.restore(net)
            raise TrainingDivergedError(
                f"The weights {bad} became NaN or inf in epoch {epoch}, batch {n_batches}; the "
                "weights of the best epoch so far were restored. Lower the learning rate.")
        record: dict[str, Any] = {"epoch": epoch, "loss": total / n}
        record.update(run.scores(epoch, _scores, net, X, Y, val, metric_fns, memmapped))
        record["learning_rate"] = float(opt.learning_rate)
        record["time"] = time.perf_counter() - start
        stop = watch.update(net, record)
        if isinstance(schedule, ReduceOnPlateau):
            opt.learning_rate = schedule.update(record[monitor])
            stop = stop or schedule.should_stop
        for callback in callbacks:
            callback.on_epoch_end(net, epoch, record)
        history.append(record)
        if checkpoint is not None:
            run.checkpoint(epoch, _write_checkpoint, net, checkpoint, epoch, opt, schedule, watch,
                           rng)
        if run.stop(stop or net.stop_training):  # distributed: all ranks alike
            break
    run.end()
    if stopper is not None and stopper.restore_best:
        watch.restore(net)
    for callback in callbacks:
        callback.on_train_end(net, history)
    return history


def partial_fit(net: "Network", X: Any, y: Any, **kwargs: Any) -> History:
    """One more epoch over ``(X, y)``, keeping the optimiser state: data that arrives in pieces.

    The records are appended to ``net.history``. Takes the arguments of :func:`fit` except
    ``epochs`` and ``resume``.
    """
    previous = getattr(net, "history", None) or History()
    history = fit(net, X, y, epochs=1, **kwargs)
    for record in history.epochs:
        record["epoch"] = len(previous) + 1
        previous.append(record)
    net.history = previous
    return previous


# ---------------------------------------------------------------------- helpers


class _SingleProcess:
    """The pieces of :func:`fit` that training over MPI ranks replaces; here, one process.

    ``__call__`` is the batch step, ``(loss, grads)`` of a batch's rows; the other methods are
    hooks at fixed points of the loop, no-ops here. :class:`glassnet.distributed.DataParallel`
    overrides them (a rank's shard of each batch, summed over the ranks; rank 0 evaluates and
    writes), so that there is one training loop.
    """

    root = True  # shows progress, writes checkpoints

    def __init__(self, net: "Network"):
        self.net = net
        self.memmapped = False
        self.fast: FastPath | None = None
        self.scale = 1.0  # the learning rate folded into the output delta (fast SGD), else 1

    def fast_path(self, opt: Optimizer) -> FastPath | None:
        """Set up the preallocated hot path where it covers the network (see fastpath.py)."""
        if not self.memmapped and not isinstance(opt, LBFGS):
            self.fast = FastPath.build(self.net)
        return self.fast

    def check(self, opt: Optimizer, validation_split: float) -> None:
        """Raise for arguments this way of training cannot take."""
        if isinstance(opt, LBFGS) and self.net.device != "cpu":
            raise ValueError(f"L-BFGS runs through scipy on the CPU; this network is on "
                             f"{self.net.device!r}. Call net.to('cpu') first, or use a "
                             "first-order optimizer such as 'adam'.")

    def begin(self, rng: np.random.Generator, memmapped: bool, n_batches: int) -> None:
        """After the set-up, before ``on_train_begin``."""
        self.memmapped = memmapped

    def guarded(self, callbacks: list[Callback]) -> list[Callback]:
        """The callbacks as the loop calls them."""
        return callbacks

    def epoch_begin(self, rng: np.random.Generator, epoch: int) -> None:
        """Before the first batch of ``epoch``."""

    def __call__(self, X: Any, Y: np.ndarray, w: np.ndarray | None, batch: np.ndarray,
                 epoch: int, b: int) -> tuple[float, dict[str, np.ndarray]]:
        """The loss of the rows ``batch`` and its gradients (``net.grads()``)."""
        if self.fast is not None:
            return self.fast.backprop(X, Y, batch, w, self.scale), self.fast.grads
        rows = self.net.to_device(batch)  # the indices where the data lives (a memmap: the host)
        X_b = _batch_inputs(self.net, X, batch if self.memmapped else rows, self.memmapped,
                            epoch, b)
        Y_b, w_b = Y[rows], None if w is None else w[rows]
        self.inputs = (X_b, Y_b, w_b)  # for the L-BFGS closure
        return self.net._backprop(X_b, Y_b, w=w_b), self.net.grads()

    def closure(self, grads: dict[str, np.ndarray]) -> Any:
        """For L-BFGS: the last batch's loss at the current weights, ``grads`` set in place."""
        return _lbfgs_closure(self.net, *self.inputs, grads)

    def scores(self, epoch: int, evaluate: Any, *args: Any) -> dict[str, float]:
        """The epoch's validation loss and metrics, ``evaluate(*args)``."""
        return evaluate(*args)

    def checkpoint(self, epoch: int, write: Any, *args: Any) -> None:
        """Write the epoch's checkpoint, ``write(*args)``."""
        write(*args)

    def stop(self, stop: bool) -> bool:
        """Whether training ends after this epoch."""
        return stop

    def end(self) -> None:
        """After the last epoch, before the best weights are restored and ``on_train_end``."""


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
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (len(X),) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"sample_weight must be finite, >= 0 and of shape ({len(X)},); "
                             f"got shape {w.shape}.")
    if class_weight is not None:
        if not net.loss_fn.classifier:
            raise ValueError("class_weight needs a classification loss (cross_entropy or "
                             f"binary_cross_entropy); the network uses {net.loss_fn.name}.")
        labels = Y.argmax(axis=1) if Y.shape[1] > 1 else (Y[:, 0] > 0.5).astype(int)
        n_classes = max(Y.shape[1], 2)
        if class_weight == "balanced":
            counts = np.bincount(labels, minlength=n_classes).astype(float)
            table = np.where(counts > 0, len(labels) / (n_classes * np.maximum(counts, 1)), 0.0)
        elif isinstance(class_weight, dict):
            table = np.ones(n_classes)
            for label, weight in class_weight.items():
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


def _batch_inputs(net: "Network", X: np.ndarray, batch: np.ndarray, memmapped: bool,
                  epoch: int, b: int) -> np.ndarray:
    if not memmapped:
        return X[batch]
    X_b = np.asarray(X[batch], dtype=net.dtype)
    if not np.all(np.isfinite(X_b)):
        raise ValueError(f"X contains NaN or inf (epoch {epoch}, batch {b}). Clean the data file.")
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


def _lbfgs_closure(net: "Network", X_b: np.ndarray, Y_b: np.ndarray, w_b: np.ndarray | None,
                   grads: dict[str, np.ndarray]) -> Any:
    """For LBFGS: the batch loss at the current weights, with ``grads`` filled in place."""
    def closure() -> float:
        loss = net._backprop(X_b, Y_b, w=w_b)
        for key, g in net.grads().items():
            grads[key][...] = g
        return loss
    return closure


def _loss(net: "Network", X: np.ndarray, Y: np.ndarray) -> float:
    """Mean loss over ``X`` in batches (inference mode), the penalty included once."""
    total = 0.0
    for i in range(0, len(X), 4096):  # X on the network's device
        a = net._forward(X[i:i + 4096])
        total += net._data_loss(a, Y[i:i + 4096]) * len(a)
    return total / len(X) + net.penalty()


def _scores(net: "Network", X, Y, val, metric_fns, memmapped: bool) -> dict[str, float]:
    """An epoch's metrics on the training data, validation loss and validation metrics."""
    scores = _evaluate(net, X, Y, metric_fns, memmapped)
    if val is not None:
        X_val, Y_val = val
        scores["val_loss"] = _loss(net, X_val, Y_val)
        val_scores = _evaluate(net, X_val, Y_val, metric_fns, False)
        scores.update({f"val_{k}": v for k, v in val_scores.items()})
    return scores


def _evaluate(net: "Network", X, Y, metric_fns, memmapped: bool) -> dict[str, float]:
    if not metric_fns:
        return {}
    outputs = []
    for i in range(0, len(X), 4096):
        X_b = X[i:i + 4096]
        outputs.append(to_numpy(net._forward(net.to_device(net.scale_inputs(X_b)) if memmapped
                                             else X_b)))
    a, Y = np.concatenate(outputs), to_numpy(Y)  # the metrics run on the host
    return {m.name: m(Y, a) for m in metric_fns}


def _write_checkpoint(net, path, epoch, opt, schedule, watch, rng) -> None:
    from .io import save

    state = {
        "epoch": epoch,
        "rng": rng.bit_generator.state,
        "dropout_rngs": [layer.rng.bit_generator.state for layer in net._dropouts],
        "schedule": schedule.to_dict() if schedule is not None else None,
        "watch": watch.state(),
    }
    best = {f"best.{k}": v for k, v in watch.best_params.items()}
    save(net, path, extra={"checkpoint": state}, extra_arrays=best)


def _resume(net, path, opt, schedule, watch, rng):
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
    rng.bit_generator.state = state["rng"]
    for layer, rng_state in zip(net._dropouts, state["dropout_rngs"]):
        layer.rng.bit_generator.state = rng_state
    if schedule is not None and state["schedule"] is not None:
        restored = Schedule.from_dict(state["schedule"])
        schedule.__dict__.update(restored.__dict__)
    watch.load_state(state["watch"])
    watch.best_params = {k[len("best."):]: net.to_device(v) for k, v in arrays.items()
                         if k.startswith("best.")}
    net.scaler = saved.scaler if saved.scaler is not None else net.scaler
    return saved.history or History(), state["epoch"] + 1


def _check_int(name: str, value: Any, low: int, owner: str = "fit") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"The {name!r} parameter of {owner} must be an int >= {low}; got {value!r}.")
