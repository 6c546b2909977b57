"""Checks made before a command starts its work, so that a typo never throws a finished run away.

* :func:`output_file` and :func:`output_folder`: every path a command will write is writable
  now (a temporary file is created and removed beside the target);
* :func:`distinct`: no two outputs are the same file, and no output is one of the inputs;
* :func:`network_size`: a network must fit in memory before its weights are allocated;
* :func:`port_free`: the playground's port can be listened on.

Each raises :class:`UsageError` with the flag, what is wrong and the fix.
"""

from __future__ import annotations

import itertools
import os
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = ["distinct", "network_size", "output_file", "output_folder", "port_free"]

Named = Sequence[tuple[str, Any]]  # (flag, path or None) pairs


def _try_write(folder: Path, flag: str, target: str) -> None:
    """Create and remove a temporary file in ``folder``: the honest test of writability."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".glassnet-write-check.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise UsageError(f"{flag} {target}: cannot write in {folder}/: "
                         f"{err.strerror or err}; choose a writable folder") from None


def output_file(path: str | os.PathLike, flag: str) -> None:
    """Check that the file ``path`` (given with ``flag``) can be written.

    Its folder must exist and be writable; ``path`` must not be a folder or a device.
    """
    p = Path(path)
    if str(path) == "":
        raise UsageError(f"{flag}: expected a file name; got an empty string")
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise UsageError(f"{flag} {path} names a folder; name a file, e.g. {p / 'model.npz'}")
    if p.exists() and not p.is_file():
        raise UsageError(f"{flag} {path} exists and is not a regular file; name a new file")
    folder = p.parent
    if not folder.exists():
        raise UsageError(f"{flag} {path}: the folder {folder}/ does not exist; create it first "
                         f"(mkdir -p {folder}) or choose another path")
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: {folder} is not a folder; choose another path")
    _try_write(folder, flag, str(path))


def output_folder(path: str | os.PathLike, flag: str) -> None:
    """Check that the folder ``path`` exists and is writable, or can be created."""
    p = Path(path)
    if str(path) == "":
        raise UsageError(f"{flag}: expected a folder name; got an empty string")
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a folder; name a folder")
    existing = p
    while not existing.exists():  # the folder is created later, with its missing parents
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {path}: {existing} is a file, not a folder; choose another path")
    _try_write(existing, flag, str(path))


def distinct(outputs: Named, inputs: Named = ()) -> None:
    """Refuse two outputs that are one file, and an output that would overwrite an input.

    ``outputs`` and ``inputs`` are ``(flag, path)`` pairs; a path of None is skipped. Paths are
    compared after resolving ``..`` and symbolic links.
    """
    seen: dict[str, tuple[str, Any]] = {}
    for flag, path in outputs:
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            first = seen[key]
            raise UsageError(f"{flag} {path} and {first[0]} {first[1]} are the same file: one "
                             "would overwrite the other; choose different paths")
        seen[key] = (flag, path)
    for flag, path in inputs:
        if path is not None and os.path.realpath(path) in seen:
            out = seen[os.path.realpath(path)]
            raise UsageError(f"{out[0]} {out[1]} would overwrite the {flag} file {path}; "
                             "choose another output path")


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        return None


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover


def network_size(sizes: Sequence[int], batch_size: int, what: str, fix: str,
                 itemsize: int = 4) -> None:
    """Refuse a network whose training would not fit in this machine's memory.

    The estimate counts the weights four times (the weights, their gradients and two
    optimiser moments) and the activations of one batch four times (``z``, ``a``, ``delta``
    and a buffer), each entry ``itemsize`` bytes. Nothing is allocated.
    """
    sizes = [int(s) for s in sizes]
    n_params = sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(sizes))
    need = itemsize * (4 * n_params + 4 * batch_size * sum(sizes))
    memory = _physical_memory() or 2 ** 40  # without a way to ask: assume 1 TB
    if need > memory:
        shown = "-".join(map(str, sizes)) if len(sizes) <= 8 else \
            f"{sizes[0]}-...-{sizes[-1]} ({len(sizes)} layers)"
        raise UsageError(f"{what}: the network {shown} has {n_params:.3g} parameters and needs "
                         f"about {_bytes(need)} to train; this machine has {_bytes(memory)} of "
                         f"memory. {fix}")


def port_free(host: str, port: int) -> None:
    """Refuse a port that is taken (or a host that is not an address of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise UsageError(f"playground: cannot listen on {host}:{port}: "
                             f"{err.strerror or err}; stop the program using it or pass "
                             "another --port") from None
