"""Data-parallel synchronous training over MPI ranks: ``mpiexec -n N``, one step in lock-step.

Every rank holds the whole network and the same optimiser. A global mini-batch of ``B`` rows
(the same indices on every rank: the shuffling Generator's state is broadcast from rank 0) is
cut into ``N`` contiguous shards of ``n_r`` rows, ``sum_r n_r = B``; rank ``r`` reads only
its shard (a ``numpy.memmap`` is read row by row, never whole). The loss of the global batch
is the mean over ``B``, so with ``C_r`` the mean over shard ``r``::

    C     = (1/B) sum_i c_i = sum_r (n_r / B) C_r
    dC/dW = sum_r (n_r / B) dC_r/dW                       (uneven shards weigh less)

Each rank runs the network's one forward and backward pass on its shard (the engine of plain
``fit``), scales the flat gradient ``net.grad`` by ``n_r / B``, and an ``Allreduce`` (SUM)
per step adds the ranks' ``net.grad`` in place; every rank applies the same optimiser step to
the same sum, so the weights stay identical without being sent again. The L2/L1 penalty is
added on every rank and its weights ``n_r / B`` sum to 1, so it counts once. Beside the
gradients, a second small buffer in the same step carries::

    [ weighted loss (1) | failure flag of each rank (N) ]

A rank whose step raised sends zeros and its flag; after the sum every rank sees who failed
and all raise :class:`RankFailedError` together (rank 0's message names the rank and the
error), so no rank is left waiting in a collective. A rank that dies outright is noticed by
``mpiexec`` (it ends the job), or else by the bounded wait: the reduction is the
non-blocking ``Iallreduce``, polled until ``timeout`` seconds, then ``MPI.COMM_WORLD.Abort``.

Rank 0 alone shows progress, evaluates validation data and metrics (then broadcasts the
epoch's record, so early stopping and schedules decide alike everywhere) and writes the
checkpoints. A checkpoint holds nothing per rank, so ``resume`` works with another ``N``.

The loop is :func:`glassnet.training.fit`'s own: ``fit(distributed=...)`` runs it with the
:class:`DataParallel` strategy (the batch step above, the broadcasts, rank 0's evaluation and
checkpoints, the failure handling), so single-process and distributed training cannot drift.

Dropout draws its masks per rank, from a Generator seeded by (shuffling state, epoch, rank,
layer): reproducible for a given ``N`` and after ``resume``, but not the single-process masks.
Without dropout the weights after ``k`` steps equal those of one process with batch ``B``
(up to the order of floating-point sums).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from .training import SingleProcess

if TYPE_CHECKING:
    from .network import Network
    from .training import Callback, History

__all__ = [
    "DataParallel",
    "RankFailedError",
    "Settings",
    "fit_distributed",
    "quiet_other_ranks",
    "rank_and_size",
    "shard_bounds",
]

DEFAULT_TIMEOUT = 300.0
"""Seconds a rank waits in a collective before it aborts the job (``GLASSNET_MPI_TIMEOUT``)."""


class RankFailedError(RuntimeError):
    """A rank of a distributed fit raised; raised on every rank so that all stop together.

    Attributes
    ----------
    rank : int
        The rank this error was raised on (the message is the full one on rank 0).
    failed : list of int
        The ranks that failed.
    """

    def __init__(self, message: str, rank: int = 0, failed: Sequence[int] = ()):
        super().__init__(message)
        self.rank, self.failed = rank, list(failed)


@dataclass
class Settings:
    """How :func:`fit_distributed` talks to the other ranks; ``fit(distributed=Settings(...))``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Default: ``MPI.COMM_WORLD``.
    timeout : float, optional
        Seconds to wait in a collective before aborting the whole job. Default: the
        ``GLASSNET_MPI_TIMEOUT`` environment variable, else 300.
    """

    comm: Any = None
    timeout: float | None = None


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError("Distributed training needs mpi4py and an MPI library: "
                          "pip install 'glassnet[mpi]' (mpi4py and mpich), then start the "
                          "script with mpiexec -n N.") from err
    return MPI


def rank_and_size(comm: Any = None) -> tuple[int, int]:
    """``(rank, number of ranks)`` of ``comm`` (default ``COMM_WORLD``); (0, 1) without mpi4py."""
    try:
        MPI = _mpi()
    except ImportError:
        return 0, 1
    comm = comm or MPI.COMM_WORLD
    return comm.Get_rank(), comm.Get_size()


def quiet_other_ranks() -> bool:
    """Send standard output of every rank but 0 to ``os.devnull``; True on rank 0."""
    rank, _ = rank_and_size()
    if rank != 0:
        sys.stdout = open(os.devnull, "w")
    return rank == 0


def shard_bounds(n: int, n_ranks: int) -> np.ndarray:
    """Offsets of ``n_ranks`` contiguous shards of ``n`` rows, as even as can be.

    Rank ``r`` takes rows ``[bounds[r], bounds[r + 1])``; the first ``n % n_ranks`` ranks
    take one row more. A rank's shard is empty when ``n < n_ranks``.

    Examples
    --------
    >>> shard_bounds(10, 3).tolist()
    [0, 4, 7, 10]
    >>> shard_bounds(1, 2).tolist()
    [0, 1, 1]
    """
    sizes = np.full(n_ranks, n // n_ranks, dtype=np.int64)
    sizes[: n % n_ranks] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


class _Group:
    """The ranks of one fit: bounded waits, failure flags, and stopping all ranks together."""

    def __init__(self, comm: Any, timeout: float):
        self.MPI = _mpi()
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.timeout = timeout
        self.failure: str | None = None
        self.error: BaseException | None = None
        self.where = self.failed_where = "before training"

    @contextmanager
    def guard(self, where: str | None = None) -> Iterator[None]:
        """Catch an exception of this rank, to be reported at the next collective."""
        if where is not None:
            self.where = where
        try:
            yield
        except Exception as err:
            self.note(err)

    def note(self, err: Exception) -> None:
        """Record ``err`` (being handled) for the next collective; the first one counts."""
        if self.failure is not None:
            return
        self.error, self.failed_where = err, self.where
        self.failure = f"{type(err).__name__}: {err}"
        sys.stderr.write(f"[glassnet rank {self.rank}] failed {self.where}:\n"
                         + traceback.format_exc())
        sys.stderr.flush()

    def wait(self, request: Any, what: str) -> None:
        """Poll ``request`` until done, or abort the whole job after ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        polls = 0
        while not request.Test():
            polls += 1
            if polls > 1000:  # a long wait: leave the core to others (oversubscribed hosts)
                time.sleep(1e-4)
            if time.monotonic() > deadline:
                self.abort(f"rank {self.rank} waited {self.timeout:g} s for the other ranks in "
                           f"{what} ({self.where}); one of them died or hangs.")

    def abort(self, message: str) -> None:
        sys.stderr.write(f"glassnet: error: {message} Aborting all {self.size} ranks "
                         "(MPI Abort); the last checkpoint stays valid.\n")
        sys.stderr.flush()
        self.comm.Abort(1)

    def allreduce(self, flat: np.ndarray, flags: np.ndarray, *more: np.ndarray) -> None:
        """Sum ``flat`` (and the arrays ``more``) over the ranks in place; raise on every rank
        if any rank failed (``flags`` lies in ``flat``: one entry per rank)."""
        if self.failure is not None:
            for array in (flat, *more):
                array[...] = 0
            flags[self.rank] = 1
        requests = [self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
                    for array in (*more, flat)]
        for request in requests:
            self.wait(request, "Allreduce")
        if np.any(flags):
            self._stop([int(r) for r in np.flatnonzero(flags)])

    def sync(self) -> None:
        """A collective of the failure flags alone (epoch ends, set-up)."""
        flags = np.zeros(self.size, dtype=np.float64)
        self.allreduce(flags, flags)

    def bcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled; small objects, once per epoch)."""
        return self.comm.bcast(obj, root=0)

    def Bcast(self, array: np.ndarray) -> None:
        self.wait(self.comm.Ibcast(array, root=0), "Bcast")

    def _stop(self, failed: list[int]) -> None:
        messages = self.comm.gather((self.failed_where, self.failure), root=0)
        if len(failed) == self.size and self.error is not None:
            raise self.error  # every rank failed alike (a bad argument): the error itself
        if self.rank == 0:
            lines = [f"rank {r} of {self.size} failed {messages[r][0]}: {messages[r][1]}"
                     for r in failed]
            text = "; ".join(lines) + ". All ranks stopped."
        else:
            text = f"rank(s) {failed} failed {self.where}; rank 0 reports the error."
        raise RankFailedError(text, self.rank, failed) from self.error


def _timeout(settings: Settings) -> float:
    if settings.timeout is not None:
        return float(settings.timeout)
    return float(os.environ.get("GLASSNET_MPI_TIMEOUT", DEFAULT_TIMEOUT))


def _seed_dropout(net: "Network", rng: np.random.Generator, epoch: int, rank: int) -> None:
    """Each rank's own masks: Generators from (shuffling state, epoch, rank, layer)."""
    layers = net.random_layers()
    if not layers:
        return
    state = json.dumps(rng.bit_generator.state, sort_keys=True, default=str).encode()
    key = int.from_bytes(hashlib.sha256(state).digest()[:16], "little")
    for j, layer in enumerate(layers):
        layer.rng = np.random.default_rng(np.random.SeedSequence(key, spawn_key=(epoch, rank, j)))


class _Guarded:
    """A callback whose errors on this rank are reported to all ranks at the next collective."""

    def __init__(self, callback: "Callback", group: _Group):
        self.callback, self.group = callback, group

    def on_train_begin(self, net: "Network", history: "History") -> None:
        with self.group.guard("in on_train_begin"):
            self.callback.on_train_begin(net, history)

    def on_batch_begin(self, net: "Network", step: int, batch: np.ndarray) -> None:
        with self.group.guard(f"in on_batch_begin of step {step}"):
            self.callback.on_batch_begin(net, step, batch)

    def on_batch_end(self, net: "Network", step: int, loss: float) -> None:
        with self.group.guard():  # where the batch step left it: "in epoch e, batch b of n"
            self.callback.on_batch_end(net, step, loss)

    def on_epoch_end(self, net: "Network", epoch: int, record: dict[str, Any]) -> None:
        with self.group.guard(f"after epoch {epoch}"):
            self.callback.on_epoch_end(net, epoch, record)

    def on_train_end(self, net: "Network", history: "History") -> None:
        self.callback.on_train_end(net, history)  # after the last collective: raises here


class DataParallel(SingleProcess):
    """The strategy with which :func:`glassnet.training.fit` trains over the MPI ranks.

    ``fit(distributed=...)`` creates one and runs its one loop with it (see
    :func:`fit_distributed`): the batch step backpropagates this rank's shard of the global
    batch with the network's one engine, weighs ``net.grad`` by ``n_r / B``, and sums it over
    the ranks (``Iallreduce``);
    ``begin`` broadcasts rank 0's weights and shuffling state; ``epoch_begin`` seeds this
    rank's dropout masks; rank 0 alone evaluates (``scores``, broadcast to every rank),
    writes checkpoints and shows progress; a rank's error is reported to every rank at the
    next collective, as :class:`RankFailedError`.
    """

    def __init__(self, net: "Network", distributed: Any = True):
        super().__init__(net)
        settings = distributed if isinstance(distributed, Settings) else Settings()
        self.group = _Group(settings.comm or _mpi().COMM_WORLD, _timeout(settings))
        self.rank, self.size = self.group.rank, self.group.size
        self.root = self.rank == 0
        self.begun = False

    def check(self, opt: Any, validation_split: float) -> None:
        from .optim import LBFGS

        if validation_split:
            raise ValueError("validation_split is not supported with distributed=True; pass "
                             "validation_data=(X_val, y_val) instead.")
        if isinstance(opt, LBFGS):
            raise ValueError("L-BFGS takes full-batch steps of its own; distributed=True "
                             "supports the mini-batch optimisers (sgd, adam, ...).")

    def begin(self, rng: np.random.Generator, memmapped: bool, n_batches: int) -> None:
        super().begin(rng, memmapped, n_batches)
        self.group.sync()  # a rank whose set-up failed meets the others here (running)
        self.begun = True
        rng.bit_generator.state = self.group.bcast(rng.bit_generator.state)
        self.group.Bcast(self.net.theta)  # rank 0's initial (or resumed) weights, all at once
        self.n_batches = n_batches
        self.extra = np.zeros(1 + self.size, dtype=np.float64)  # [weighted loss | flags]

    def guarded(self, callbacks: list["Callback"]) -> list[Any]:
        return [_Guarded(callback, self.group) for callback in callbacks]

    def epoch_begin(self, rng: np.random.Generator, epoch: int) -> None:
        _seed_dropout(self.net, rng, epoch, self.rank)

    def gradients(self, X: Any, Y: np.ndarray, w: np.ndarray | None, batch: np.ndarray,
                  epoch: int, b: int) -> float:
        """This rank's shard of the global ``batch``: ``net.grad`` and the loss, summed over the ranks."""
        bounds = shard_bounds(len(batch), self.size)
        mine = batch[bounds[self.rank]:bounds[self.rank + 1]]
        net, extra = self.net, self.extra
        extra[:] = 0
        with self.group.guard(f"in epoch {epoch}, batch {b} of {self.n_batches}"):
            if len(mine) == 0:  # fewer rows than ranks: this rank adds nothing
                net.grad[:] = 0
            else:
                share = len(mine) / len(batch)  # C = sum_r (n_r / B) C_r, the same for dC/dW
                extra[0] = super().gradients(X, Y, w, mine, epoch, b) * share
                net.grad *= net.grad.dtype.type(share)
        self.group.allreduce(extra, extra[1:], net.grad)
        return float(extra[0])

    def scores(self, epoch: int, evaluate: Any, *args: Any) -> dict[str, float]:
        scores: dict[str, float] = {}
        if self.root:
            with self.group.guard(f"evaluating epoch {epoch}"):
                scores = evaluate(*args)
        self.group.sync()
        return self.group.bcast(scores)

    def checkpoint(self, epoch: int, write: Any, *args: Any) -> None:
        if self.root and self.group.failure is None:
            with self.group.guard(f"writing the checkpoint of epoch {epoch}"):
                write(*args)

    def stop(self, stop: bool) -> bool:
        """True on every rank when any rank stops (``net.stop_training``); failures raise here."""
        flat = np.zeros(self.size + 1)
        flat[-1] = bool(stop)
        self.group.allreduce(flat, flat[:self.size])
        return bool(flat[-1])

    def end(self) -> None:
        self.group.sync()

    @contextmanager
    def running(self) -> Iterator["DataParallel"]:
        """Around ``fit``: a fault outside the guarded steps never leaves a rank waiting."""
        from .training import TrainingDivergedError

        try:
            yield self
        except (RankFailedError, TrainingDivergedError):
            raise
        except BaseException as err:
            if not self.begun and isinstance(err, Exception):  # the others wait in begin
                self.group.note(err)
                self.group.sync()  # raises RankFailedError, or err itself if every rank failed
            if self.size == 1:
                raise
            self.group.abort(f"rank {self.rank} raised {type(err).__name__}: {err} "
                             f"{self.group.where}.")


def fit_distributed(net: "Network", X: Any, y: Any, *, distributed: Any = True,
                    **kwargs: Any) -> "History":
    """:func:`glassnet.training.fit` over the MPI ranks; call it on every rank alike.

    Takes the arguments of ``fit`` (``batch_size`` is the global batch ``B``); ``fit``'s own
    loop runs, with the :class:`DataParallel` strategy.

    Parameters
    ----------
    distributed : True or Settings, default=True
        ``True`` uses ``MPI.COMM_WORLD`` and the default timeout.

    Returns
    -------
    History
        The same on every rank.

    Notes
    -----
    Callbacks run on every rank, with the global batch and its loss and the same epoch
    record; the progress bar only on rank 0. Validation data and metrics are evaluated on
    rank 0 alone. ``resume`` reads the checkpoint on every rank, so ``checkpoint_dir`` must
    be visible to all of them; it is written by rank 0 only. Not supported:
    ``validation_split`` (pass ``validation_data``) and L-BFGS.

    Raises
    ------
    RankFailedError
        On every rank, when any rank raised during training.
    TrainingDivergedError
        As ``fit``; on every rank alike.
    """
    from .training import fit

    return fit(net, X, y, distributed=distributed or True, **kwargs)
