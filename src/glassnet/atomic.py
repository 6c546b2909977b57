"""Writing files so that nothing saved is lost: a temporary file beside the target, renamed over it.

:func:`atomic_write` is how glassnet writes every file (models, checkpoints, ONNX exports,
predictions): the previous file stays as it was until the new one is complete and on disk,
and the temporary files of writes whose process was killed are removed by the next write to
the same path (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "remove_stale_temporaries"]


def atomic_write(path: str | os.PathLike, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync, then rename it to ``path``.

    The temporary file is ``.<name>.<pid>.<random>.tmp``; those left by saves whose process
    was killed are removed first (see :func:`remove_stale_temporaries`). The file gets the
    permissions ``open()`` would give it (``0o666`` less the umask), or those of the file it
    replaces. Every ``OSError`` (a full disk, a read-only folder, ``path`` naming a folder)
    names ``path``, never the temporary file.
    """
    if os.fspath(path) == "":
        raise FileNotFoundError(errno.ENOENT, "an empty path names no file; give a file name",
                                "")
    path = Path(path)
    folder = path.parent
    if path.is_dir():  # refused before anything is written beside it
        raise IsADirectoryError(errno.EISDIR, "is a folder; name a file in it", str(path))
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"the folder {folder} does not exist; create it "
                                "first", str(path))
    remove_stale_temporaries(path)
    tmp = None
    try:
        fd, tmp = _create_temporary(path)
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))  # replacing: keep its mode
        except FileNotFoundError:
            pass  # a new file: the mode os.open gave it, as open() would
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(err, OSError):
            raise _naming(err, path) from err
        raise
    _fsync_folder(folder)


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file ``.<name>.<pid>.<random>.tmp`` beside ``path``, opened for writing with mode
    ``0o666`` (the kernel takes the umask off, as for ``open(path, "w")``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` (of the same class) naming the target ``path`` instead of the temporary file."""
    if err.filename == str(path) and err.filename2 is None:
        return err
    reason = err.strerror or str(err) or type(err).__name__
    try:
        return type(err)(err.errno, reason, str(path))
    except TypeError:  # a subclass with a constructor of its own
        return OSError(err.errno, reason, str(path))


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove the temporary files that killed saves to ``path`` left beside it.

    A temporary file of :func:`atomic_write` is named ``.<name>.<pid>.<random>.tmp``; it is
    stale when process ``pid`` no longer runs (a save still running elsewhere keeps its file).
    Names without a pid (from older versions) are always stale. Only files and symlinks are
    removed, never what they point to.

    Returns
    -------
    list of str
        The names removed.
    """
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):-len(".tmp")].split(".")[0]
        if pid.isdigit() and _running(int(pid)):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                continue
            os.unlink(entry.path)
            removed.append(name)
        except OSError:
            pass
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be saving
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
