"""How a command fails: one line ``glassnet: error: ...`` and an exit status, never a traceback.

Every exception that leaves a subcommand goes through :func:`failure`, which gives its exit
status and its one-line message:

* status 2, a usage error: a bad command line (:class:`UsageError`, what argparse rejects), or
  an input the command cannot use, found before the work starts: a missing or unreadable file,
  a bad value (``ValueError``, ``TypeError``, ``FileNotFoundError``, ``IsADirectoryError``,
  ``NotADirectoryError``), a missing optional dependency (``ImportError``);
* status 75 (``EX_TEMPFAIL``), a run stopped by SIGTERM or SIGUSR1 after writing its
  checkpoint (:class:`glassnet.training.TrainingInterrupted`): run it again with ``--resume``;
* status 1, a run that failed: :class:`RunFailed` (a failed gradient check), a full or
  read-only disk and other ``OSError``, a diverged training (``FloatingPointError``), memory
  running out, a ``RuntimeError``, Ctrl+C, and anything unexpected (named as an internal
  error).

``glassnet --debug ...`` prints the traceback as well. Warnings are one line too
(:func:`one_line_warning`): ``glassnet: warning: ... (RuntimeWarning)``.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["RunFailed", "UsageError", "closest", "failure", "one_line_warning"]


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


class RunFailed(Exception):
    """A run that did its work but failed a check (the message says what was kept): status 1."""


def closest(word: str, valid: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the valid word nearest to ``word``, or ``""``.

    Leading dashes do not count towards the likeness (``--bogus`` is not near ``--out``).
    """
    bare = {option.lstrip("-"): option for option in valid}
    match = difflib.get_close_matches(word.lstrip("-"), list(bare), n=1, cutoff=0.6)
    return f" (did you mean {bare[match[0]]}?)" if match else ""


def _os_message(err: OSError) -> str:
    if err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return err.strerror or str(err) or type(err).__name__


# (exception types, exit status, message); the first row that matches wins
_POLICY: list[tuple[tuple[type[BaseException], ...], int, object]] = [
    ((UsageError,), 2, str),
    ((RunFailed,), 1, str),
    ((FileNotFoundError, IsADirectoryError, NotADirectoryError), 2,
     lambda err: str(err) if not err.filename else _os_message(err)),
    ((OSError,), 1, _os_message),
    ((FloatingPointError,), 1, lambda err: f"training diverged: {err}"),
    ((MemoryError,), 1, lambda err: f"out of memory ({err or 'no details'}); use smaller "
                                    "layers, batches or data"),
    ((KeyboardInterrupt,), 1, lambda err: "interrupted (Ctrl-C); files already saved are as "
                                          "they were (a save is all or nothing), and a run "
                                          "with --checkpoint-dir continues with --resume"),
    ((ValueError, TypeError, ImportError), 2, str),
    ((RuntimeError,), 1, str),
]


def failure(err: BaseException) -> tuple[int, str]:
    """The exit status and the one-line message (without ``glassnet: error: ``) for ``err``."""
    from ..training import TrainingInterrupted

    resumable = [((TrainingInterrupted,), TrainingInterrupted.exit_status, str)]
    for kinds, status, message in resumable + _POLICY:
        if isinstance(err, kinds):
            text = message(err)  # type: ignore[operator]
            break
    else:
        status = 1
        text = (f"internal error ({type(err).__name__}: {err}); run again with --debug for the "
                "traceback, and please report it")
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return status, " ".join(lines) or type(err).__name__


def one_line_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                     file: Any = None, line: str | None = None) -> None:
    """A ``warnings.showwarning`` that writes ``glassnet: warning: MESSAGE (CATEGORY)``."""
    text = " ".join(str(message).split())
    print(f"glassnet: warning: {text} ({category.__name__})", file=file or sys.stderr)
