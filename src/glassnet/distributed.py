"""Data-parallel synchronous training over MPI ranks: ``mpiexec -n N``, one step in lock-step.

Every rank holds the whole network and the same optimiser. A global mini-batch of ``B`` rows
is cut into ``N`` shards of ``n_r`` rows, ``sum_r n_r = B``; rank ``r`` reads only its shard
(a ``numpy.memmap`` is read row by row, never whole). The loss of the global batch is the mean
over ``B``, so with ``C_r`` the mean over shard ``r``::

    C     = (1/B) sum_i c_i = sum_r (n_r / B) C_r
    dC/dW = sum_r (n_r / B) dC_r/dW                       (uneven shards weigh less)

Each rank runs the network's one forward and backward pass on its shard (the engine of plain
``fit``). The backward pass goes from the output layer down, and the gradients lie in one flat
``net.grad`` in layer order, so the last layers' gradients are its tail. They are cut into
*buckets* (contiguous slices of ``net.grad``, whole layers, about ``bucket_bytes`` each): as
soon as the backward has filled a bucket (``Network.backward(after_layer=...)``), the rank
scales it by ``n_r / B`` and starts a non-blocking ``Iallreduce`` (SUM) of it, while the layers
below are still back-propagating; it waits for all of them only before the optimiser step.
MPICH moves a non-blocking collective along only inside MPI calls, so a helper thread calls
``Test`` on the requests in flight while the main thread is in BLAS (which releases the GIL).
Every rank then applies the same optimiser step to the same sum, so the weights stay identical
without being sent again. The L2/L1 penalty is added on every rank and its weights ``n_r / B``
sum to 1, so it counts once. After the buckets, a small buffer in the same step carries::

    [ weighted loss (1) | failure flag of each rank (N) | ranks that got SIGTERM, SIGUSR1 (2) ]

A rank whose step raised sends zeros and its flag; after the sum every rank sees who failed
and all raise :class:`RankFailedError` together (rank 0's message names the rank and the
error), so no rank is left waiting in a collective. A rank that dies outright is noticed by
``mpiexec`` (it ends the job), or else by the bounded wait: every collective is non-blocking
and waited for at most ``timeout`` seconds (``work_timeout`` where a rank may be busy with its
own work: set-up, evaluation, epoch-end callbacks, checkpoint writes), then
``MPI.COMM_WORLD.Abort``. A SIGTERM or SIGUSR1 on any rank stops every rank after the same
step, with a checkpoint of that step (see :mod:`glassnet.preemption`).

At set-up the ranks compare, in one collective, the number of samples, the features, the
dtypes, fingerprints of the data, the architecture, the scaler and the fit's arguments, and
all raise :class:`RanksDisagreeError` at once, naming the rank and the difference.

Evaluation is sharded too: each rank scores its share of the training rows (for the metrics)
and of the validation rows; the loss sums are added, the outputs gathered on rank 0, which
computes the metrics and broadcasts the epoch's record, so early stopping and schedules decide
alike everywhere. Rank 0 alone shows progress and writes the checkpoints; a checkpoint holds
nothing per rank, so ``resume`` works with another ``N``.

Data order (``Settings(sharding=...)``):

* ``'global'`` (default): the global batches are drawn from a shuffle of the whole set, the
  same on every rank (rank 0's shuffling state is broadcast): the weights after ``k`` steps
  equal those of one process with batch ``B`` (up to the order of floating-point sums).
* ``'contiguous'``: rank ``r`` owns the contiguous rows ``shard_bounds(n, N)[r:r+2]`` of the
  (same) file and shuffles within them; its part of each global batch comes from its shard
  only, so a rank reads only its part of the file. A different sample order, still
  deterministic for a given ``N``.
* ``'files'``: each rank passes its own data (its own file): the training set is the
  concatenation of the ranks' sets, each shuffled on its rank. The ranks' row counts may
  differ; each rank's part of the global batch is in proportion to its rows.

Dropout draws its masks per rank and per step, from a Generator seeded by (shuffling state,
epoch, batch, rank, layer): reproducible for a given ``N``, across ``resume`` (mid-epoch
included), but not the single-process masks.

The loop is :func:`glassnet.training.fit`'s own: ``fit(distributed=...)`` runs it with the
:class:`DataParallel` strategy, so single-process and distributed training cannot drift.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from .collectives import Group, RankFailedError, mpi
from .preemption import SIGNALS
from .training import SingleProcess

if TYPE_CHECKING:
    from .network import Network
    from .training import Callback, History

__all__ = [
    "DataParallel",
    "RankFailedError",
    "RanksDisagreeError",
    "SHARDINGS",
    "Settings",
    "buckets",
    "fit_distributed",
    "quiet_other_ranks",
    "rank_and_size",
    "shard_bounds",
]

DEFAULT_TIMEOUT = 300.0
"""Seconds a rank waits in a step's collective before it aborts the job
(``GLASSNET_MPI_TIMEOUT``)."""

DEFAULT_WORK_TIMEOUT = 3600.0
"""Seconds a rank waits for the others' own work (set-up, evaluation, epoch-end callbacks,
checkpoint writes) before it aborts the job (``GLASSNET_MPI_WORK_TIMEOUT``)."""

DEFAULT_BUCKET_BYTES = 1 << 16
"""Gradients sent per ``Iallreduce`` while the backward pass goes on (whole layers, 64 KiB)."""

SHARDINGS = ("global", "contiguous", "files")
"""Where a rank's rows come from; see the module docstring."""


class RanksDisagreeError(RankFailedError, ValueError):
    """The ranks were given different data, networks or arguments; raised on every rank at
    set-up."""


@dataclass
class Settings:
    """How :func:`fit_distributed` talks to the other ranks; ``fit(distributed=Settings(...))``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Default: ``MPI.COMM_WORLD``.
    timeout : float, optional
        Seconds to wait in a training step's collective before aborting the whole job.
        Default: the ``GLASSNET_MPI_TIMEOUT`` environment variable, else 300.
    work_timeout : float, optional
        Seconds to wait where another rank may be busy with work of its own: set-up (loading
        data), the epoch's evaluation, epoch-end callbacks (rank 0's reports) and checkpoint
        writes (rank 0). Default: ``GLASSNET_MPI_WORK_TIMEOUT``, else 3600.
    bucket_bytes : int, default=65536
        About how many bytes of gradients each ``Iallreduce`` started during the backward
        pass carries (whole layers; a layer larger than this is one bucket of its own).
    overlap : bool, default=True
        Reduce each bucket while the layers below back-propagate. False: one reduction of
        all gradients after the backward pass (the same sums, for comparison).
    progress_thread : bool, optional
        Whether a helper thread drives the buckets' progress while BLAS runs
        (:class:`glassnet.collectives.Progress`). Default: where the node has at least two
        cores per rank (one for the rank, one for its helper); on fewer the helper would
        compete with the ranks for the cores, and the buckets progress between layers.
    sharding : {'global', 'contiguous', 'files'}, default='global'
        Where a rank's rows come from; see :mod:`glassnet.distributed`.
    """

    comm: Any = None
    timeout: float | None = None
    work_timeout: float | None = None
    bucket_bytes: int = DEFAULT_BUCKET_BYTES
    overlap: bool = True
    progress_thread: bool | None = None
    sharding: str = "global"

    def __post_init__(self) -> None:
        for name in ("timeout", "work_timeout"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not 0 < value < float("inf")):
                raise ValueError(f"The {name!r} parameter of Settings must be a float > 0 "
                                 f"(seconds); got {value!r}.")
        if isinstance(self.bucket_bytes, bool) or not isinstance(
                self.bucket_bytes, (int, np.integer)) or self.bucket_bytes < 1:
            raise ValueError(f"The 'bucket_bytes' parameter of Settings must be an int >= 1; "
                             f"got {self.bucket_bytes!r}.")
        if self.sharding not in SHARDINGS:
            raise ValueError(f"The 'sharding' parameter of Settings must be one of "
                             f"{', '.join(map(repr, SHARDINGS))}; got {self.sharding!r}.")


def rank_and_size(comm: Any = None) -> tuple[int, int]:
    """``(rank, number of ranks)`` of ``comm`` (default ``COMM_WORLD``); (0, 1) without mpi4py."""
    try:
        MPI = mpi()
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


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """``total`` split in proportion to ``weights`` (largest remainders), >= 1 where weight > 0."""
    weights = np.asarray(weights, dtype=np.float64)
    exact = total * weights / weights.sum()
    parts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - parts), kind="stable")
    parts[order[: total - parts.sum()]] += 1
    return np.where(weights > 0, np.maximum(parts, 1), 0)


def buckets(net: "Network", bucket_bytes: int) -> list[tuple[int, int, int]]:
    """The gradient buckets of ``net``, in the order the backward pass fills them.

    Returns ``(layer, start, stop)`` triples: ``net.grad[start:stop]`` holds the gradients of
    top-level layers ``layer, layer + 1, ...`` and is complete once the backward pass has been
    through ``layer``. Buckets are whole layers, closed from the output layer down as soon as
    they hold ``bucket_bytes`` or more; layers without parameters join their neighbours.

    Examples
    --------
    >>> from glassnet import mlp
    >>> net = mlp([784, 256, 128, 10])   # 200960, 32896 and 1290 parameters
    >>> buckets(net, 1 << 17)             # 128 KiB: the last two layers, then the first
    [(1, 200960, 235146), (0, 0, 200960)]
    """
    sizes = np.zeros(len(net.layers), dtype=np.int64)
    for key, param in net.params().items():
        sizes[int(key.split(".")[0])] += param.size
    starts = np.concatenate([[0], np.cumsum(sizes)])
    itemsize = net.grad.dtype.itemsize
    result, stop = [], int(starts[-1])
    for i in range(len(net.layers) - 1, -1, -1):
        size = stop - int(starts[i])
        if size and (size * itemsize >= bucket_bytes or i == 0):
            result.append((i, int(starts[i]), stop))
            stop = int(starts[i])
    return result


def _timeouts(settings: Settings) -> tuple[float, float]:
    """``(timeout, work_timeout)``: the settings, else the environment, else the defaults."""
    found = []
    for name, variable, default in (("timeout", "GLASSNET_MPI_TIMEOUT", DEFAULT_TIMEOUT),
                                    ("work_timeout", "GLASSNET_MPI_WORK_TIMEOUT",
                                     DEFAULT_WORK_TIMEOUT)):
        value = getattr(settings, name)
        if value is None:
            text = os.environ.get(variable, "")
            try:
                value = float(text) if text else default
            except ValueError:
                value = -1.0
            if not 0 < value < float("inf"):
                raise ValueError(f"The environment variable {variable} must be a number of "
                                 f"seconds > 0; got {text!r}.")
        found.append(float(value))
    return found[0], found[1]


def _difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first place where the JSON-like values ``a`` and ``b`` differ: (path, a's, b's)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else (path, a, b)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= 80 else text[:77] + "..."


class _Guarded:
    """A callback whose errors on this rank are reported to all ranks at the next collective."""

    def __init__(self, callback: "Callback", group: Group):
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
    :func:`fit_distributed`). ``agree`` compares the ranks' data and arguments and shares rank
    0's shuffling state; ``begin`` broadcasts rank 0's weights; the batch step
    backpropagates this rank's shard of the global batch with the network's one engine and
    reduces the gradients bucket by bucket as the backward pass fills them; the evaluation is
    sharded and reduced; rank 0 writes checkpoints and shows progress; a rank's error is
    reported to every rank at the next collective, as :class:`RankFailedError`.
    """

    def __init__(self, net: "Network", distributed: Any = True):
        super().__init__(net)
        settings = distributed if isinstance(distributed, Settings) else Settings()
        self.settings = settings
        self.group = Group(settings.comm or mpi().COMM_WORLD, *_timeouts(settings))
        self.rank, self.size = self.group.rank, self.group.size
        self.root = self.rank == 0
        self.sharding = settings.sharding
        self.begun = False
        self.sizes: np.ndarray | None = None  # rows of each rank's shard (sharded modes)
        self.signal: str | None = None  # the signal the ranks' last reduction reported
        self.step_rows = 0

    # ------------------------------------------------------------------ set-up
    def check(self, opt: Any, validation_split: float) -> None:
        from .optim import LBFGS

        if isinstance(opt, LBFGS):
            raise ValueError("L-BFGS takes full-batch steps of its own; distributed=True "
                             "supports the mini-batch optimisers (sgd, adam, ...).")

    def agree(self, rng: Any, facts: Any) -> None:
        """One collective of every rank's facts; all raise :class:`RanksDisagreeError` on a
        difference. Then rank 0's shuffling state is everyone's."""
        mine: dict[str, Any] = {}
        with self.group.guard("comparing the ranks' data and arguments"):
            mine = facts()
            if self.sharding == "files":  # each rank its own rows
                del mine["n_samples"], mine["data"]
            mine["distributed"] = {"sharding": self.sharding, "overlap": self.settings.overlap,
                                   "bucket_bytes": self.settings.bucket_bytes,
                                   "progress_thread": self.settings.progress_thread}
        self.group.sync()  # a rank whose data failed to load meets the others here
        everyone = self.group.exchange(mine)
        for r, theirs in enumerate(everyone):
            found = _difference(everyone[0], theirs)
            if found is not None:
                where, ours, other = found
                hint = " (or Settings(sharding='files'), a file per rank)" \
                    if where in ("n_samples", "data") else ""
                raise RanksDisagreeError(
                    f"The ranks disagree: rank {r} of {self.size} has {where} = {_short(other)}"
                    f" where rank 0 has {_short(ours)}. Start every rank with the same data "
                    f"and fit arguments{hint}.", self.rank, [r])
        if self.sharding != "global" and not hasattr(rng, "integers"):
            raise ValueError(f"Settings(sharding={self.sharding!r}) draws each rank's order "
                             "from a numpy Generator; pass seed=<int> or a Generator.")
        if hasattr(rng, "bit_generator"):
            self.group.slack = True
            rng.bit_generator.state = self.group.bcast(rng.bit_generator.state)

    def plan(self, n: int, batch_size: int) -> tuple[int, int]:
        """'global': one process's plan. Sharded: each rank's shard ``sizes`` (after any
        validation split) and its part ``local`` of a global batch, in proportion."""
        if self.sharding == "global":
            return super().plan(n, batch_size)
        if self.sharding == "contiguous":
            self.sizes = np.diff(shard_bounds(n, self.size))
        else:  # the ranks' own row counts, after their validation splits
            self.group.slack = True
            self.group.sync()
            self.group.slack = True
            self.sizes = np.array(self.group.exchange(n), dtype=np.int64)
        batch_size = min(batch_size, int(self.sizes.sum()))
        holders = int(np.count_nonzero(self.sizes))
        if batch_size < holders:
            raise ValueError(f"Settings(sharding={self.sharding!r}) takes at least one row "
                             f"from each of the {holders} ranks with rows per step; got "
                             f"batch_size={batch_size}. Use batch_size >= {holders}.")
        self.local = _apportion(batch_size, self.sizes)  # each rank's part of a global batch
        steps = [-(-int(n_r) // int(b_r)) for n_r, b_r in zip(self.sizes, self.local) if n_r]
        return batch_size, max(steps)

    def begin(self, rng: np.random.Generator, memmapped: bool, n_batches: int) -> None:
        super().begin(rng, memmapped, n_batches)
        self.group.where = "setting up training"
        self.group.slack = True
        self.group.sync()  # a rank whose set-up failed meets the others here (running)
        self.begun = True
        self.group.slack = True
        self.group.Bcast(self.net.theta)  # rank 0's initial (or resumed) weights, all at once
        self.n_batches = n_batches
        self.random = self.net.random_layers()
        n = self.size
        self.extra = np.zeros(1 + n + len(SIGNALS), dtype=np.float64)  # loss | flags | signals
        self.flags = self.extra[1:1 + n]
        self.buckets = buckets(self.net, self.settings.bucket_bytes) if self.settings.overlap \
            else [(0, 0, self.net.grad.size)]
        self.low = {layer: k for k, (layer, _, _) in enumerate(self.buckets)}
        self.after_layer = self._bucket_ready if self.settings.overlap else None
        if self.settings.overlap:
            self.group.start_progress(self.settings.progress_thread)

    def guarded(self, callbacks: list["Callback"]) -> list[Any]:
        return [_Guarded(callback, self.group) for callback in callbacks]

    def guard(self, where: str) -> Any:
        return self.group.guard(where)

    # ------------------------------------------------------------------ an epoch's batches
    def epoch_begin(self, rng: np.random.Generator, epoch: int) -> None:
        """The key of this epoch's dropout masks, from the shuffling state (the same on every
        rank, and again after a resume)."""
        self.epoch = epoch
        if self.random:
            state = json.dumps(getattr(getattr(rng, "bit_generator", None), "state", None),
                               sort_keys=True, default=str).encode()
            self.dropout_key = int.from_bytes(hashlib.sha256(state).digest()[:16], "little")

    def batches(self, n: int, batch_size: int, rng: Any) -> Iterator[np.ndarray]:
        """'global': the single-process batches (this rank takes its part in ``gradients``).
        Sharded: this rank's part of each global batch, from its own shard."""
        if self.sharding == "global":
            return super().batches(n, batch_size, rng)
        key = None if rng is None else int(rng.integers(2**63))  # the same on every rank
        offset = int(np.sum(self.sizes[:self.rank])) if self.sharding == "contiguous" else 0
        n_r, b_r = int(self.sizes[self.rank]), int(self.local[self.rank])
        order = np.arange(n_r) if key is None else \
            np.random.default_rng([key, self.rank]).permutation(n_r)
        order += offset
        self.rows = [int(sum(min(b, max(0, m - k * b)) for m, b in zip(self.sizes, self.local)))
                     for k in range(self.n_batches)]
        return (order[k * b_r:(k + 1) * b_r] for k in range(self.n_batches))

    def batch_rows(self, batch: np.ndarray) -> int:
        return self.step_rows

    def order(self) -> str | None:
        """Sharded: the order depends on the number of ranks (None for 'global')."""
        return None if self.sharding == "global" else f"sharding={self.sharding!r} over " \
            f"{self.size} ranks"

    # ------------------------------------------------------------------ the step
    def gradients(self, X: Any, Y: np.ndarray, w: np.ndarray | None, batch: np.ndarray,
                  epoch: int, b: int) -> float:
        """This rank's part of the global ``batch``: ``net.grad`` and the loss, summed over
        the ranks (bucket by bucket during the backward pass, then the loss and flags)."""
        if self.sharding == "global":  # shard_bounds(len(batch), size)[rank:rank + 2]
            rows, r = len(batch), self.rank
            q, extra_row = divmod(rows, self.size)
            lo = r * q + min(r, extra_row)
            mine = batch[lo:lo + q + (r < extra_row)]
        else:
            mine, rows = batch, self.rows[b - 1]
        net, extra, group = self.net, self.extra, self.group
        self.step_rows, self.weight = rows, len(mine) / rows  # C = sum_r (n_r / B) C_r
        self.sent, self.requests = 0, []
        extra.fill(0)
        if self.preemption.received is not None:
            extra[1 + self.size + SIGNALS.index(self.preemption.received)] = 1
        if self.random:
            self._seed_dropout(b)
        group.where = f"in epoch {epoch}, batch {b} of {self.n_batches}"
        try:  # group.guard, inline: the step's own cost stays small
            if group.failure is not None:  # an earlier callback failed: send the flag now
                pass
            elif len(mine) == 0:  # fewer rows than ranks: this rank adds nothing
                net.grad[:] = 0
            else:
                extra[0] = super().gradients(X, Y, w, mine, epoch, b) * self.weight
        except Exception as err:
            group.note(err)
        while self.sent < len(self.buckets):  # the rest (all, without overlap; zeros on failure)
            if group.failure is not None:
                layer, start, stop = self.buckets[self.sent]
                net.grad[start:stop] = 0
            self._send(self.sent, scale=group.failure is None)
        group.wait(self.requests, "Allreduce", background=group.progress is not None)
        group.reduce(extra, self.flags)
        if extra[1 + self.size:].any():
            counts = extra[1 + self.size:]
            self.signal = next(name for name, c in zip(SIGNALS, counts) if c)
        return float(extra[0])

    def _bucket_ready(self, layer: int) -> None:
        """``after_layer`` of the backward pass: send the bucket that ``layer`` completes
        (without a helper thread, move the buckets in flight along first)."""
        if self.requests and self.group.progress is None:
            self.group.MPI.Request.Testall(self.requests)
        k = self.low.get(layer)
        if k is not None and k == self.sent:
            self._send(k, scale=True)

    def _send(self, k: int, scale: bool) -> None:
        """Scale bucket ``k`` by ``n_r / B`` and start its ``Iallreduce`` (SUM, in place)."""
        _, start, stop = self.buckets[k]
        view = self.net.grad[start:stop]
        if scale and self.weight != 1:
            view *= view.dtype.type(self.weight)
        self.sent += 1
        if self.size == 1:  # over one rank the sum is the bucket itself
            return
        MPI = self.group.MPI
        request = self.group.comm.Iallreduce(MPI.IN_PLACE, view, op=MPI.SUM)
        self.requests.append(request)
        if self.group.progress is not None:
            self.group.progress.add(request)

    def _seed_dropout(self, b: int) -> None:
        """This step's masks on this rank: Generators from (epoch key, epoch, batch, rank,
        layer)."""
        for j, layer in enumerate(self.random):
            seq = np.random.SeedSequence(self.dropout_key, spawn_key=(self.epoch, b, self.rank, j))
            layer.rng = np.random.default_rng(seq)

    def interrupted(self) -> str | None:
        return self.signal

    # ------------------------------------------------------------------ evaluation
    def eval_rows(self, n: int, own: bool) -> tuple[int, int]:
        if own and self.sharding == "files":
            return 0, n
        bounds = shard_bounds(n, self.size)
        return int(bounds[self.rank]), int(bounds[self.rank + 1])

    def total(self, values: np.ndarray) -> np.ndarray:
        extra = np.zeros(len(values) + self.size)
        extra[:len(values)] = values
        self.group.slack = True  # the ranks' shares of the evaluation may differ in time
        self.group.reduce(extra, extra[len(values):])
        return extra[:len(values)]

    def gather(self, *parts: np.ndarray) -> tuple[np.ndarray, ...] | None:
        if not parts:
            return () if self.root else None
        rows = np.array([len(p) for p in parts], dtype=np.float64)
        flat = np.concatenate([rows] + [np.asarray(p, dtype=np.float64).ravel() for p in parts])
        self.group.slack = True
        pieces = self.group.gatherv(flat)
        if pieces is None:
            return None
        widths = [int(np.prod(p.shape[1:])) for p in parts]
        joined: list[list[np.ndarray]] = [[] for _ in parts]
        for piece in pieces:
            counts, offset = piece[:len(parts)].astype(np.int64), len(parts)
            for j, (count, width) in enumerate(zip(counts, widths)):
                joined[j].append(piece[offset:offset + count * width].reshape(count, width))
                offset += count * width
        return tuple(np.concatenate(j).astype(p.dtype) for j, p in zip(joined, parts))

    def share(self, scores: dict[str, float]) -> dict[str, float]:
        self.group.slack = True  # rank 0 computes the metrics
        return self.group.bcast(scores)

    # ------------------------------------------------------------------ checkpoints, the end
    def checkpoint(self, write: Any, *args: Any) -> None:
        if self.root and self.group.failure is None:
            with self.group.guard("writing a checkpoint"):
                write(*args)
        self.group.slack = True  # the others wait for rank 0's write at the next collective

    def stop(self, stop: bool) -> bool:
        """True on every rank when any rank stops (``net.stop_training``); failures and
        signals are heard here too."""
        flat = np.zeros(self.size + 1 + len(SIGNALS))
        flat[self.size] = bool(stop)
        for j, name in enumerate(SIGNALS):
            flat[self.size + 1 + j] = self.preemption.received == name
        self.group.slack = True  # after rank 0's epoch-end callbacks and checkpoint
        self.group.reduce(flat, flat[:self.size])
        self.signal = next((name for name, c in zip(SIGNALS, flat[self.size + 1:]) if c), None)
        return bool(flat[self.size])

    def end(self) -> None:
        self.group.slack = True
        self.group.sync()

    @contextmanager
    def running(self) -> Iterator["DataParallel"]:
        """Around ``fit``: a fault outside the guarded steps never leaves a rank waiting."""
        from .training import TrainingDivergedError, TrainingInterrupted

        try:
            yield self
        except (RankFailedError, TrainingDivergedError, TrainingInterrupted):
            raise
        except BaseException as err:
            if not self.begun and isinstance(err, Exception):  # the others wait in set-up
                self.group.note(err)
                self.group.slack = True
                self.group.sync()  # raises RankFailedError, or err itself if every rank failed
            if self.size == 1:
                raise
            self.group.abort(f"rank {self.rank} raised {type(err).__name__}: {err} "
                             f"{self.group.where}.")
            raise
        finally:
            self.group.close()


def fit_distributed(net: "Network", X: Any, y: Any, *, distributed: Any = True,
                    **kwargs: Any) -> "History":
    """:func:`glassnet.training.fit` over the MPI ranks; call it on every rank alike.

    Takes the arguments of ``fit`` (``batch_size`` is the global batch ``B``); ``fit``'s own
    loop runs, with the :class:`DataParallel` strategy.

    Parameters
    ----------
    distributed : True or Settings, default=True
        ``True`` uses ``MPI.COMM_WORLD`` and the defaults of :class:`Settings`.

    Returns
    -------
    History
        The same on every rank.

    Notes
    -----
    Callbacks run on every rank, with the global batch (this rank's part of it when sharded)
    and its loss and the same epoch record; the progress bar only on rank 0. ``resume`` reads
    the checkpoint on every rank, so ``checkpoint_dir`` must be visible to all of them; it is
    written by rank 0 only. Not supported: L-BFGS.

    Raises
    ------
    RanksDisagreeError
        On every rank at set-up, when the ranks' data, network or arguments differ.
    RankFailedError
        On every rank, when any rank raised during training.
    TrainingDivergedError
        As ``fit``; on every rank alike.
    TrainingInterrupted
        On every rank, after a SIGTERM or SIGUSR1 and the checkpoint of that step.
    """
    from .training import fit

    return fit(net, X, y, distributed=distributed or True, **kwargs)
