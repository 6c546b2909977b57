"""Untrusted files: open regular files only, and check ``.npz`` / ``.npy`` headers before data.

Everything glassnet reads from disk (model files, data files) goes through :func:`open_regular`,
so a path that is a FIFO, a device such as ``/dev/zero``, a directory or a socket is refused at
once instead of blocking or being read without end.

:class:`NpzArchive` reads an ``.npz`` archive (the format of :func:`numpy.savez`) without
trusting it. Opening it reads the zip directory and every member's small ``.npy`` header (never
its data) and checks, before one byte of data is read:

* the members are stored or deflated (no other compression, no encryption), and their names
  are unique ``<key>.npy`` names;
* no member holds Python objects (their data would be unpickled, which runs code);
* each member's size is exactly what its ``.npy`` header declares (shape times item size), so a
  header that declares 2**40 elements in a small member is refused;
* the members decompress to at most :data:`MAX_EXPANSION` times the size of the file, plus
  :data:`MIN_ALLOWANCE` bytes (a zip bomb is refused before it is inflated).

:meth:`NpzArchive.read` then reads one member, and only the ones asked for are read. Any failure
of the zip or ``.npy`` parsers on damaged bytes (``BadZipFile``, ``NotImplementedError``,
``EOFError``, a bad CRC, ...) becomes a ``ValueError`` that names the file and the member.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.lib.format as npy_format

__all__ = ["MAX_EXPANSION", "MIN_ALLOWANCE", "ArchiveError", "Member", "NpzArchive",
           "open_regular", "read_npy", "read_npy_header"]

MAX_EXPANSION = 16
"""An archive may decompress to at most this many times its size on disk (plus the allowance).

``numpy.savez`` (and glassnet's ``save``) store members uncompressed, a ratio of 1; weights
compressed by ``savez_compressed`` shrink by well under 2x."""

MIN_ALLOWANCE = 1 << 20
"""Bytes any archive may decompress to whatever its size (small, highly compressible files)."""

MAX_MEMBERS = 100_000
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # zip local file header, up to the file name
_MAX_NPY_HEADER = 10_000  # numpy's own limit for np.load (ast.literal_eval of the header)
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
}


class ArchiveError(ValueError):
    """A file that glassnet refuses to read; the message names the file and the part."""


def open_regular(path: str | os.PathLike, what: str = "file") -> IO[bytes]:
    """Open ``path`` for binary reading if it is a regular file (after following symlinks).

    The file is opened with ``O_NONBLOCK`` and checked with ``fstat`` on the open descriptor,
    so a FIFO cannot block the call and the check is about the very file that is read.

    Parameters
    ----------
    path : str or path-like
    what : str, default='file'
        What the file should be, for the message (``'model file'``, ``'CSV file'``).

    Returns
    -------
    binary file object, positioned at the start

    Raises
    ------
    FileNotFoundError
        When nothing is at ``path``.
    ValueError
        When ``path`` is a directory, FIFO, device or socket, or cannot be opened
        (permissions); the message names it.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"No {what} at {path}.") from None
    except OSError as err:
        raise ArchiveError(f"{path}: cannot open the {what} ({err.strerror or err}).") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise ArchiveError(f"{path} is {kind}, not a regular {what}; glassnet reads only "
                               "regular files. Pass the path of the file itself.")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@dataclass(frozen=True)
class Member:
    """One ``.npy`` member of an archive, described by its header (its data not yet read).

    Attributes
    ----------
    key : str
        The name without ``.npy`` (as ``np.load(...)[key]``).
    shape : tuple of int
    dtype : numpy.dtype
    fortran_order : bool
    size : int
        Bytes of the member once decompressed: the ``.npy`` header plus ``nbytes``.
    """

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    size: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_npy_header(fp: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """``(shape, dtype, fortran_order, header_length)`` of the ``.npy`` stream ``fp``.

    Reads only the header (at most about 10 kB). ``where`` names the stream in errors.
    """
    start = fp.tell()
    try:
        version = npy_format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fp, _MAX_NPY_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(fp, _MAX_NPY_HEADER)
        else:
            raise ArchiveError(f"{where}: .npy format version {version} is not supported; "
                               "expected 1.0 or 2.0 (what np.save writes).")
    except ArchiveError:
        raise
    except Exception as err:  # noqa: BLE001 - damaged bytes may fail in any way
        raise ArchiveError(f"{where} is not a valid .npy array ({_describe(err)}).") from None
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ArchiveError(f"{where}: the .npy header declares the invalid shape {shape}.")
    return tuple(shape), np.dtype(dtype), bool(fortran), fp.tell() - start


def _check_no_objects(dtype: np.dtype, path: Path, part: str, pickle_fix: str) -> None:
    if dtype.hasobject:
        raise ArchiveError(
            f"{path} holds pickled objects; glassnet refuses to load them because unpickling "
            f"can run code ({part} has dtype {dtype}). {pickle_fix}"
        )


def read_npy(path: str | os.PathLike, *, mmap: bool = False,
             pickle_fix: str = "Save plain numeric arrays with np.save.") -> np.ndarray:
    """Read a ``.npy`` file whose header agrees with its size (or memory-map it, read-only).

    Raises
    ------
    FileNotFoundError
        When nothing is at ``path``.
    ValueError
        For a file that is not a regular file, not ``.npy``, holds objects, or whose size
        differs from what its header declares (truncated, or a header that lies).
    """
    path = Path(path)
    with open_regular(path, ".npy file") as f:
        shape, dtype, fortran, offset = read_npy_header(f, str(path))
        _check_no_objects(dtype, path, "the array", pickle_fix)
        size = os.fstat(f.fileno()).st_size
        expected = offset + math.prod(shape) * dtype.itemsize
        if size != expected:
            raise ArchiveError(
                f"{path}: the .npy header declares shape {shape} of {dtype} ({expected} bytes "
                f"with the header) but the file has {size} bytes; it is truncated or damaged."
            )
        if mmap:
            if math.prod(shape) == 0:
                return np.zeros(shape, dtype=dtype)
            order = "F" if fortran else "C"
            # the open descriptor, checked above (not the path again, which may have changed)
            return np.memmap(f, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
        try:
            f.seek(0)
            return npy_format.read_array(f, allow_pickle=False)
        except Exception as err:  # noqa: BLE001
            raise ArchiveError(f"{path}: could not read the array ({_describe(err)}).") from None


class NpzArchive:
    """An ``.npz`` archive whose directory and member headers were checked on opening.

    Parameters
    ----------
    path : str or path-like
    what : str, default='NumPy .npz archive'
        What the file should be, for messages: ``"{path} is not a readable {what}: ..."``.
    pickle_fix : str
        The advice given when a member holds Python objects.

    Attributes
    ----------
    members : dict of str to Member
        Every member, by key, in the archive's order.
    size : int
        The file's size in bytes.

    Raises
    ------
    FileNotFoundError
        When nothing is at ``path``.
    ValueError
        For a file that is not a regular file, not a zip archive, damaged, compressed in another
        way, holds objects, or whose members' headers and sizes disagree (see the module).
    """

    def __init__(self, path: str | os.PathLike, what: str = "NumPy .npz archive",
                 pickle_fix: str = "Save plain numeric arrays with np.savez."):
        self.path = Path(path)
        self.what = what
        self.pickle_fix = pickle_fix
        self._file = open_regular(self.path, what)
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            with self._parsing("the zip directory"):
                if not zipfile.is_zipfile(self._file):
                    raise self.error("not a zip archive (truncated, or not an .npz file)")
                self._file.seek(0)
                self._zip = zipfile.ZipFile(self._file)
                infos = self._zip.infolist()
            self.members = self._check_directory(infos)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ errors
    def error(self, reason: str) -> ArchiveError:
        """``ValueError('{path} is not a readable {what}: {reason}.')``."""
        return ArchiveError(f"{self.path} is not a readable {self.what}: {reason}.")

    @contextlib.contextmanager
    def _parsing(self, part: str) -> Iterator[None]:
        """Turn any failure of the zip machinery on damaged bytes into an error naming ``part``."""
        try:
            yield
        except ArchiveError:
            raise
        except Exception as err:  # noqa: BLE001 - damaged bytes may fail in any way
            raise self.error(f"{part} is damaged ({_describe(err)})") from None

    # ------------------------------------------------------------------ opening
    def _check_directory(self, infos: list[zipfile.ZipInfo]) -> dict[str, Member]:
        if len(infos) > MAX_MEMBERS:
            raise self.error(f"it has {len(infos)} members, more than {MAX_MEMBERS}")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise self.error(f"the member names {twice} appear more than once")
        budget = max(MIN_ALLOWANCE, MAX_EXPANSION * self.size)
        total = sum(info.file_size for info in infos)
        if total > budget:
            raise self.error(
                f"its members would decompress to {total} bytes, more than {MAX_EXPANSION} "
                f"times the file's {self.size} bytes (a zip bomb, or a damaged directory)"
            )
        members: dict[str, Member] = {}
        for info in infos:
            member = self._check_member(info)
            members[member.key] = member
        return members

    def _check_member(self, info: zipfile.ZipInfo) -> Member:
        name = info.filename
        where = f"member {name!r}"
        if not name.endswith(".npy") or len(name) == 4:
            raise self.error(f"{where} is not an .npy array (np.savez names members <key>.npy)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self.error(f"{where} uses compression method {info.compress_type}; expected "
                             "stored or deflated members (what np.savez writes)")
        if info.flag_bits & 0x1:
            raise self.error(f"{where} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise self.error(f"{where} has inconsistent sizes in the zip directory")
        self._check_local_header(info, where)
        with self._parsing(where), self._zip.open(info) as stream:
            shape, dtype, fortran, offset = read_npy_header(stream, f"{self.path}: {where}")
        _check_no_objects(dtype, self.path, where, self.pickle_fix)
        member = Member(name[:-4], shape, dtype, fortran, info.file_size)
        if offset + member.nbytes != info.file_size:
            raise self.error(
                f"{where} declares shape {shape} of {dtype} ({member.nbytes} bytes of data) but "
                f"holds {info.file_size - offset}; it is truncated or its header lies"
            )
        return member

    def _check_local_header(self, info: zipfile.ZipInfo, where: str) -> None:
        """The member's own header must repeat what the directory says (zipfile ignores it)."""
        with self._parsing(where):
            self._file.seek(info.header_offset)
            raw = self._file.read(_LOCAL_HEADER.size)
        if len(raw) != _LOCAL_HEADER.size:
            raise self.error(f"{where}: its local header is cut off")
        magic, _, flags, method, _, _, crc, csize, usize, _, _ = _LOCAL_HEADER.unpack(raw)
        same = magic == b"PK\x03\x04" and flags == info.flag_bits and method == info.compress_type
        if same and not flags & 0x08:  # without a data descriptor, the header has crc and sizes
            same = crc == info.CRC and csize in (info.compress_size, 0xFFFFFFFF) \
                and usize in (info.file_size, 0xFFFFFFFF)
        if not same:
            raise self.error(f"{where}: its local header disagrees with the zip directory "
                             "(the file is damaged)")

    # ------------------------------------------------------------------ reading
    def read(self, key: str) -> np.ndarray:
        """The array of member ``key``, read and CRC-checked (already known to fit its header)."""
        where = f"member {key + '.npy'!r}"
        with self._parsing(where), self._zip.open(key + ".npy") as stream:
            array = npy_format.read_array(stream, allow_pickle=False)
            if stream.read(1):  # also reaches the end, where zipfile checks the CRC
                raise self.error(f"{where} holds more bytes than its header declares")
        return array

    def close(self) -> None:
        zf = getattr(self, "_zip", None)
        if zf is not None:
            zf.close()
        self._file.close()

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(err: BaseException) -> str:
    """``'Type: message'``, cut to 200 characters (messages of zipfile may quote raw bytes)."""
    text = str(err)
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
