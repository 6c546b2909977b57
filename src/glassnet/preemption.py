"""Preemption: SIGTERM and SIGUSR1 during ``fit`` become a checkpoint at the next step.

Batch schedulers warn a job before they stop it: Slurm sends SIGTERM (``scancel``, the end of
the time limit, a preemption) and, with ``#SBATCH --signal=USR1@60``, SIGUSR1 a minute
before; MPICH's ``mpiexec`` forwards both signals to every rank. While ``fit`` runs with a
``checkpoint_dir``, :class:`Preemption` turns the first such signal into a flag. The training
loop looks at the flag after every step (over MPI: the ranks add their flags in the step's own
reduction, so they all see it after the same step), writes the checkpoint of that exact
position (mid-epoch included) and raises :class:`glassnet.training.TrainingInterrupted`;
``fit(..., resume=True)`` then continues bit for bit.

A second signal of the same kind is not waited for: the handler that was there before
``fit`` is put back and the signal delivered again (the default handler ends the process).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

__all__ = ["SIGNALS", "Preemption"]

SIGNALS = ("SIGTERM", "SIGUSR1")
"""The signals that ask a running ``fit`` to checkpoint and stop."""


class Preemption:
    """A context manager that catches :data:`SIGNALS` while it is active.

    Handlers are installed only in the main thread (Python delivers signals there alone), and
    the previous handlers are restored on exit. ``received`` is the name of the first signal
    caught, else None.

    Parameters
    ----------
    enabled : bool
        False gives an inactive object (``received`` stays None).
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signal.Signals(signum).name
            return
        previous = self._previous.pop(signum, None)  # the second one: not caught again
        signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        os.kill(os.getpid(), signum)

    def __enter__(self) -> "Preemption":
        if self.enabled:
            for name in SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for number, previous in self._previous.items():  # None: set outside Python
            signal.signal(number, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()
