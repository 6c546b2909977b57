"""The ranks of one distributed fit talking to each other: bounded, failure-aware collectives.

:class:`Group` wraps an MPI communicator for :class:`glassnet.distributed.DataParallel`. Every
collective is non-blocking and waited for with a bound (``timeout`` for a training step's,
``work_timeout`` where a rank may be busy with work of its own, ``slack``), polling as
:func:`poll` does: a few milliseconds of polls that yield the core, then sleeps, so that a
waiting rank leaves its core idle. A rank's exception is noted (:meth:`Group.guard`) and
travels as a flag in the next reduction, after which every rank raises
:class:`RankFailedError` together; a bound that runs out ends the job with ``MPI Abort`` (and
raises should ``Abort`` return). :class:`Progress` is the helper thread that moves
non-blocking reductions along while the main thread computes.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = ["ABORT_GRACE", "SPIN_SECONDS", "Group", "Progress", "RankFailedError", "mpi",
           "poll"]

ABORT_GRACE = 0.5
"""Seconds between a rank's last message and its ``MPI Abort``, for ``mpiexec`` to pass it on."""

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


def mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError("Distributed training needs mpi4py and an MPI library: "
                          "pip install 'glassnet[mpi]' (mpi4py and mpich), then start the "
                          "script with mpiexec -n N.") from err
    return MPI


SPIN_SECONDS = 5e-3
"""How long a wait polls between yields of the core before it starts to sleep."""


def poll(requests: list[Any], seconds: float, Testall: Any) -> bool:
    """Poll ``requests`` until they complete (True) or ``seconds`` pass (False).

    A reduction takes a few polls (its rounds), each after the other ranks' part: for the
    first :data:`SPIN_SECONDS` the rank polls and yields the core between polls
    (``sched_yield``, so that a rank sharing the core goes on); after that it sleeps between
    polls, a tenth of the time waited so far (at most 1 ms), so that a rank waiting for the
    others' own work leaves its core idle.
    """
    start = time.monotonic()
    while not Testall(requests):
        waited = time.monotonic() - start
        if waited > seconds:
            return False
        if waited < SPIN_SECONDS:
            os.sched_yield()
        else:
            time.sleep(min(1e-3, waited / 10))
    return True


class Progress:
    """A helper thread that calls ``Test`` on the buckets in flight during the backward pass.

    MPICH advances a non-blocking collective only inside MPI calls (a reduction takes a few
    rounds, each one call after the other ranks' part); while the main thread multiplies
    matrices (the GIL released), this thread makes those calls. It polls soon after a bucket is
    started, then less and less often (the pause doubles from ``first`` to ``longest``
    seconds), so that it takes little from the cores that compute; with nothing in flight it
    waits without polling. At the end of the backward pass the main thread :meth:`take` s what
    is still in flight and polls it itself (faster); a request is only ever tested by the
    thread that holds it.
    """

    def __init__(self, first: float = 5e-5, longest: float = 1e-3):
        self.first, self.longest = first, longest
        self.cond = threading.Condition()
        self.pending: list[Any] = []
        self.fresh = False  # a request came since the last poll: poll soon again
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="glassnet-mpi-progress",
                                       daemon=True)
        self.thread.start()

    def add(self, request: Any) -> None:
        with self.cond:
            self.pending.append(request)
            self.fresh = True
            self.cond.notify_all()

    def take(self) -> list[Any]:
        """The requests still in flight, handed back to the caller."""
        with self.cond:
            pending, self.pending = self.pending, []
        return pending

    def _run(self) -> None:
        pause = self.first
        while True:
            with self.cond:  # tests under the lock: take() never gets a request mid-test
                while not self.pending and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
                before = len(self.pending)
                self.pending = [request for request in self.pending if not request.Test()]
                progressed = self.fresh or len(self.pending) < before
                self.fresh = False
            pause = self.first if progressed else min(2 * pause, self.longest)
            time.sleep(pause)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class Group:
    """The ranks of one fit: bounded waits, failure flags, and stopping all ranks together."""

    def __init__(self, comm: Any, timeout: float, work_timeout: float):
        self.MPI = mpi()
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.timeout, self.work_timeout = timeout, work_timeout
        self.slack = True  # the next wait may be for another rank's own work (set-up first)
        self.bound = "work_timeout"
        self.failure: str | None = None
        self.error: BaseException | None = None
        self.where = self.failed_where = "before training"
        self.progress: Progress | None = None

    def start_progress(self, wanted: bool | None) -> None:
        """The helper thread, where there are other ranks, MPI allows threads, and
        ``wanted`` (None: where the node has two cores per rank)."""
        if self.size == 1 or self.MPI.Query_thread() < self.MPI.THREAD_MULTIPLE:
            return
        if wanted is None:  # the cores the ranks on this node may run on, per rank
            local = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
            cores = set().union(*local.allgather(sorted(os.sched_getaffinity(0))))
            wanted = len(cores) >= 2 * local.Get_size()
            local.Free()
        if wanted:
            self.progress = Progress()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None

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

    def seconds(self) -> float:
        """The bound of the next collective: ``work_timeout`` when the ranks may be busy with
        work of their own before it (``slack``, then cleared), else ``timeout``."""
        seconds = self.work_timeout if self.slack else self.timeout
        self.bound = "work_timeout" if self.slack else "timeout"
        self.slack = False
        return seconds

    def wait(self, requests: list[Any], what: str, background: bool = False,
             seconds: float | None = None) -> None:
        """Until ``requests`` complete (see :func:`poll`), or abort the whole job after the
        timeout. ``background``: the requests were handed to the helper thread; take them
        back first. ``seconds``: default :meth:`seconds`."""
        seconds = self.seconds() if seconds is None else seconds
        if background and self.progress is not None:
            requests = self.progress.take()
        if poll(requests, seconds, self.MPI.Request.Testall):
            return
        self.abort(f"rank {self.rank} waited {seconds:g} s for the other ranks in {what} "
                   f"({self.where}); one of them died or hangs (the bound is Settings."
                   f"{self.bound}).")

    def abort(self, message: str) -> None:
        """End every rank of the job; raises should ``Abort`` ever return."""
        sys.stderr.write(f"glassnet: error: {message} Aborting all {self.size} ranks "
                         "(MPI Abort); the last checkpoint stays valid.\n")
        sys.stderr.flush()
        time.sleep(ABORT_GRACE)  # mpiexec forwards the message before Abort ends the job
        self.comm.Abort(1)
        raise RankFailedError(message, self.rank, [])

    def reduce(self, extra: np.ndarray, flags: np.ndarray) -> None:
        """Sum ``extra`` over the ranks in place (``flags``, one entry per rank, lies in it),
        as the last of the step's reductions; then raise on every rank if any rank failed."""
        if self.failure is not None:
            extra[...] = 0
            flags[self.rank] = 1
        if self.size > 1:  # over one rank the sum is ``extra`` itself
            self.wait([self.comm.Iallreduce(self.MPI.IN_PLACE, extra, op=self.MPI.SUM)],
                      "Allreduce")
        if flags.any():
            self._stop([int(r) for r in np.flatnonzero(flags)])

    def sync(self) -> None:
        """A collective of the failure flags alone."""
        flags = np.zeros(self.size, dtype=np.float64)
        self.reduce(flags, flags)

    def exchange(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (pickled), on every rank: an allgather with a bounded wait."""
        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
        counts = np.zeros(self.size, dtype=np.int64)
        seconds = self.seconds()
        self.wait([self.comm.Iallgather(np.array([data.size], dtype=np.int64), counts)],
                  "Allgather", seconds=seconds)
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
        buffer = np.empty(int(counts.sum()), dtype=np.uint8)
        self.wait([self.comm.Iallgatherv(data, [buffer, counts, displs, self.MPI.BYTE])],
                  "Allgatherv", seconds=seconds)
        return [pickle.loads(buffer[d:d + c].tobytes()) for d, c in zip(displs, counts)]

    def bcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled; small objects), with a bounded wait."""
        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8) if self.rank == 0 else None
        count = np.array([0 if data is None else data.size], dtype=np.int64)
        seconds = self.seconds()
        self.wait([self.comm.Ibcast(count, root=0)], "Bcast", seconds=seconds)
        buffer = data.copy() if data is not None else np.empty(int(count[0]), dtype=np.uint8)
        self.wait([self.comm.Ibcast(buffer, root=0)], "Bcast", seconds=seconds)
        return pickle.loads(buffer.tobytes())

    def Bcast(self, array: np.ndarray) -> None:
        self.wait([self.comm.Ibcast(array, root=0)], "Bcast")

    def gatherv(self, flat: np.ndarray) -> list[np.ndarray] | None:
        """Every rank's float64 vector ``flat``, on rank 0 (None elsewhere)."""
        counts = np.zeros(self.size, dtype=np.int64)
        seconds = self.seconds()
        self.wait([self.comm.Iallgather(np.array([flat.size], dtype=np.int64), counts)],
                  "Allgather", seconds=seconds)
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
        buffer = np.empty(int(counts.sum()) if self.rank == 0 else 0, dtype=np.float64)
        recv = [buffer, counts, displs, self.MPI.DOUBLE] if self.rank == 0 else None
        self.wait([self.comm.Igatherv(flat, recv, root=0)], "Gatherv", seconds=seconds)
        if self.rank != 0:
            return None
        return [buffer[d:d + c] for d, c in zip(displs, counts)]

    def _stop(self, failed: list[int]) -> None:
        self.slack = True
        messages = self.exchange((self.failed_where, self.failure))
        if len(failed) == self.size and self.error is not None:
            raise self.error  # every rank failed alike (a bad argument): the error itself
        if self.rank == 0:
            lines = [f"rank {r} of {self.size} failed {messages[r][0]}: {messages[r][1]}"
                     for r in failed]
            text = "; ".join(lines) + ". All ranks stopped."
        else:
            text = f"rank(s) {failed} failed {self.where}; rank 0 reports the error."
        raise RankFailedError(text, self.rank, failed) from self.error
