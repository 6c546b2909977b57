"""Checks made before a command starts its work, so that a typo never throws a finished run away.

* :func:`outputs`: every path a command will write, checked at once before the work starts:
  no two outputs are one file and no output is an input (:func:`distinct`); each file can be
  written (:func:`output_file`), ends in a suffix of its :class:`Kind`, and replaces an
  existing file only when that file is of the same kind (a model only by a glassnet model, a
  JSON file only by JSON, ...); each folder can be created or written in
  (:func:`output_folder`), and the files the command writes into it obey the same rule;
* :func:`network_size`: a network must fit in memory before its weights are allocated;
* :func:`port_free`: the playground's port can be listened on.

Each raises :class:`UsageError` with the flag, what is wrong and the fix.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .errors import UsageError

__all__ = ["FIGURE", "FORCED_PREDICTIONS", "HISTORY", "JSON", "MARKDOWN", "MODEL", "PDF",
           "PREDICTIONS", "TABLE", "Kind",
           "distinct", "network_size", "output_file", "output_folder", "outputs", "port_free"]

Named = Sequence[tuple[str, Any]]  # (flag, path or None) pairs


def _read(path: Path, limit: int = 1 << 30) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def _is_model(path: Path) -> bool:
    from ..io import load

    try:
        load(path)
    except (OSError, ValueError):
        return False
    return True


def _is_text(path: Path) -> bool:
    data = _read(path)
    if data is None or b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_NOT_JSON = object()


def _json_of(path: Path) -> Any:
    """The JSON value in ``path``, or ``_NOT_JSON`` for a file that holds none."""
    data = _read(path)
    try:
        return json.loads(b"" if data is None else data)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _is_json(path: Path) -> bool:
    return _json_of(path) is not _NOT_JSON


def _starts_with(magic: bytes) -> Callable[[Path], bool]:
    return lambda path: (_read(path, len(magic)) or b"") == magic


def _is_predictions(path: Path) -> bool:
    return _starts_with(b"\x93NUMPY")(path) if path.suffix == ".npy" else _is_text(path)


def _is_history(path: Path) -> bool:
    """A training history as glassnet writes it: ``{"epochs": [...]}``, nothing else."""
    value = _json_of(path)
    return isinstance(value, dict) and set(value) == {"epochs"} \
        and isinstance(value["epochs"], list)


def _never(path: Path) -> bool:
    """Nothing proves that an existing .csv or .npy holds predictions rather than data."""
    return False


class Kind(NamedTuple):
    """A kind of file a command writes.

    ``what`` names it in messages, ``suffixes`` are the endings its path may have (the first
    is the one suggested), ``holds(path)`` says whether an existing file is of this kind, so
    that the command may replace it.
    """

    what: str
    suffixes: tuple[str, ...]
    holds: Callable[[Path], bool]


MODEL = Kind("a glassnet model", (".npz",), _is_model)
"""A model or a checkpoint written by :func:`glassnet.save` (a checkpoint is a model file)."""
JSON = Kind("a JSON file", (".json",), _is_json)
HISTORY = Kind("a training history glassnet wrote ({\"epochs\": [...]})", (".json",),
               _is_history)
PREDICTIONS = Kind("predictions (replaced only with --force: a .csv or .npy may be data)",
                   (".csv", ".npy"), _never)
"""An existing file is never taken for predictions: ``predict --force`` replaces one
(:data:`FORCED_PREDICTIONS`), and never an input of the command."""
FORCED_PREDICTIONS = Kind("predictions", (".csv", ".npy"), _is_predictions)
TABLE = Kind("a CSV table", (".csv",), _is_text)
FIGURE = Kind("a PNG figure", (".png",), _starts_with(b"\x89PNG\r\n\x1a\n"))
PDF = Kind("a PDF document", (".pdf",), _starts_with(b"%PDF-"))
MARKDOWN = Kind("a Markdown text", (".md",), _is_text)

Files = Sequence[tuple[str, Any, Kind]]  # (flag, path or None, kind)
Folders = Sequence[tuple[str, Any, Mapping[str, Kind]]]  # (flag, folder or None, {name: kind})


def outputs(files: Files = (), folders: Folders = (), inputs: Named = ()) -> None:
    """Check every output of a command before its work starts; the one entry the commands use.

    Parameters
    ----------
    files : sequence of (flag, path, Kind)
        The files the command writes (a path of None is not written).
    folders : sequence of (flag, folder, {name: Kind})
        The folders it writes into, with every file it may write there.
    inputs : sequence of (flag, path)
        The files it reads: no output may be one of them.

    Raises
    ------
    UsageError
        Naming the flag, the path, what is wrong and the fix.
    """
    written: list[tuple[str, Any]] = [(flag, path) for flag, path, _ in files]
    written += [(flag, Path(folder) / name) for flag, folder, names in folders
                if folder is not None for name in names]
    distinct(written, inputs)
    for flag, path, kind in files:
        if path is not None:
            output_file(path, flag, kind)
    for flag, folder, names in folders:
        if folder is not None:
            output_folder(folder, flag)
            for name, kind in names.items():
                _replaceable(Path(folder) / name, f"{flag} {folder}: {Path(folder) / name}", kind)


def _replaceable(path: Path, where: str, kind: Kind) -> None:
    """An existing ``path`` may be replaced only by a file of its own kind."""
    if path.is_file() and not kind.holds(path):
        raise UsageError(f"{where} exists and is not {kind.what}, so it would be lost; move it "
                         "away or choose another path")


def _try_write(folder: Path, flag: str, target: str) -> None:
    """Create and remove a temporary file in ``folder``: the honest test of writability."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".glassnet-write-check.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise UsageError(f"{flag} {target}: cannot write in {folder}/: "
                         f"{err.strerror or err}; choose a writable folder") from None


def output_file(path: str | os.PathLike, flag: str, kind: Kind) -> None:
    """Check that the file ``path`` (given with ``flag``) can be written as a ``kind`` file.

    Its folder must exist and be writable; ``path`` must not be a folder or a device, must end
    in one of ``kind.suffixes``, and may name an existing file only of that kind.
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
    if p.suffix.lower() not in kind.suffixes:
        shown = " or ".join(kind.suffixes)
        raise UsageError(f"{flag} {path} must end in {shown}, as {kind.what} does; name it e.g. "
                         f"{p.with_suffix(kind.suffixes[0])}")
    _replaceable(p, f"{flag} {path}", kind)
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
