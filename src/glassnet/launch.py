"""Run a training command again after it fails, from its checkpoint: ``glassnet launch``.

``glassnet launch --max-restarts 3 -- mpiexec -n 4 glassnet train --distributed
--checkpoint-dir ck ...`` runs the command; when it ends with a failure (a dead rank ends the
whole MPI job; a preempted run exits with :data:`INTERRUPTED`) and a checkpoint exists in its
``--checkpoint-dir``, it runs it again with ``--resume`` added, up to ``max_restarts`` times.
A run continued this way is bit-identical to one that never stopped (see
:func:`glassnet.training.fit`).

The wrapper never restarts after a usage error (exit status 2: the same command would fail
the same way), nor after a signal sent to the wrapper itself: SIGTERM, SIGINT, SIGHUP and
SIGUSR1 are passed on to the command (started in a session of its own, so that it gets each
signal once) and the wrapper then exits with the command's status. On Slurm the job script's
requeue (``docs/examples/slurm/train.sbatch``) plays this part across jobs.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any, Callable, Sequence

from .training import TrainingInterrupted

__all__ = ["INTERRUPTED", "USAGE", "checkpoint_dir_of", "run_with_restarts"]

INTERRUPTED = TrainingInterrupted.exit_status
"""Exit status of ``glassnet train`` stopped by SIGTERM/SIGUSR1 after writing its checkpoint
(``EX_TEMPFAIL``: run it again, with ``--resume``)."""

USAGE = 2
"""Exit status of a usage error: never restarted."""

FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1")


def checkpoint_dir_of(command: Sequence[str]) -> str | None:
    """The value of ``--checkpoint-dir`` in ``command`` (``--checkpoint-dir DIR`` or ``=DIR``)."""
    for i, arg in enumerate(command):
        if arg == "--checkpoint-dir" and i + 1 < len(command):
            return command[i + 1]
        if arg.startswith("--checkpoint-dir="):
            return arg.split("=", 1)[1]
    return None


def run_with_restarts(command: Sequence[str], max_restarts: int,
                      checkpoint_dir: str | None = None,
                      log: Callable[[str], None] = lambda line: None,
                      popen: Callable[..., Any] = subprocess.Popen) -> int:
    """Run ``command``, and again with ``--resume`` while it fails; returns its last status.

    Parameters
    ----------
    command : sequence of str
        The command line, e.g. ``["mpiexec", "-n", "4", "glassnet", "train", ...]``.
    max_restarts : int
        How many times to run it again at most.
    checkpoint_dir : str, optional
        Where its checkpoint is; default: the command's own ``--checkpoint-dir``.
    log : callable, optional
        Called with one line for every restart.

    Raises
    ------
    ValueError
        For an empty command, a negative ``max_restarts``, or a command that writes no
        checkpoint to restart from.
    """
    if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
        raise ValueError(f"The 'max_restarts' parameter of run_with_restarts must be an int "
                         f">= 0; got {max_restarts!r}.")
    command = list(command)
    if not command:
        raise ValueError("run_with_restarts needs a command to run, e.g. glassnet launch "
                         "--max-restarts 3 -- glassnet train --checkpoint-dir ck.")
    folder = checkpoint_dir or checkpoint_dir_of(command)
    if folder is None:
        raise ValueError("A restarted run continues from its checkpoint: give the command "
                         "--checkpoint-dir DIR (or pass --checkpoint-dir to glassnet launch).")
    checkpoint = Path(folder) / "checkpoint.npz"
    stopped: list[int] = []
    child: list[Any] = []

    def forward(signum: int, frame: Any) -> None:
        stopped.append(signum)
        if child:
            child[0].send_signal(signum)

    previous = {}
    for name in FORWARDED:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, forward)
    try:
        restarts = 0
        while True:
            child[:] = [popen(command, start_new_session=True)]
            status = child[0].wait()
            if status == 0 or status == USAGE or stopped or restarts >= max_restarts:
                return status
            if not checkpoint.exists():
                log(f"the run failed (exit status {status}) before writing {checkpoint}; "
                    "nothing to restart from")
                return status
            restarts += 1
            if "--resume" not in command:
                command.append("--resume")
            log(f"the run failed (exit status {status}); restart {restarts} of "
                f"{max_restarts} from {checkpoint}")
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
