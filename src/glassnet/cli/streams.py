"""Standard output and error that survive a closed pipe (``glassnet train | head -1``).

When the reader of a pipe goes away, the next write raises ``BrokenPipeError``. The command's
work (training, then saving the model) must not stop for that: :func:`pipe_safe` wraps both
streams so that such a write is dropped, and every later one too. The file descriptor is then
pointed at ``os.devnull``, so that Python's own final flush at exit has nowhere to fail. The
same holds for any other failure to write the output (a log file on a full disk, a closed
descriptor: ``glassnet train >&-``): the output is lost, the work is not.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["pipe_safe"]


class _PipeSafe:
    """A text stream that drops its output once the pipe behind it is closed."""

    def __init__(self, stream: Any):
        self.stream = stream
        self.broken = stream is None  # Python's stream for a descriptor closed at start-up

    def _closed(self) -> None:
        self.broken = True
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self.stream.write(text)
            except (OSError, ValueError):  # a closed pipe, a full disk, a closed file
                self._closed()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._closed()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...
        return getattr(self.stream, name)


@contextlib.contextmanager
def pipe_safe() -> Iterator[None]:
    """Within this block, a closed pipe on stdout or stderr drops output instead of raising."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _PipeSafe(sys.stdout), _PipeSafe(sys.stderr)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _PipeSafe):
                stream.flush()
        sys.stdout, sys.stderr = saved
