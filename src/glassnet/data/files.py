"""Readers for data files: IDX (MNIST), NPZ/NPY, and ``.npy`` files as memory maps.

(CSV files: :mod:`.csvfile`.) Every reader opens regular files only (not FIFOs, devices or
directories), checks what a file's header declares against the file before reading its data,
reads into memory only what it returns, and raises a ``ValueError`` naming the file for
anything wrong in it. NumPy files are never unpickled; their arrays must hold real numbers
(:func:`~glassnet.data._checks.check_real_dtype`, the check the in-memory path makes too).
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Union

import numpy as np

from ..archive import NpzArchive, open_regular, read_npy
from ._checks import check_real_dtype

__all__ = [
    "MAX_IN_MEMORY_BYTES",
    "load_arrays",
    "load_mnist",
    "load_npz",
    "open_memmap_dataset",
    "read_idx",
]

MAX_IN_MEMORY_BYTES = 1 << 34
"""The most data bytes an IDX file may declare (16 GiB); larger data sets go as memory maps."""
_CHUNK = 1 << 20
_PICKLE_FIX = ("glassnet never loads pickled (object) arrays; save plain numeric arrays with "
               "np.save / np.savez.")

PathLike = Union[str, "os.PathLike[str]"]


def _as_path(path: Any, name: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}.")
    return Path(path)


# --------------------------------------------------------------------------
# IDX (MNIST / Fashion-MNIST)
# --------------------------------------------------------------------------

_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def _gzip_errors(path: Path, gz: bool) -> Iterator[None]:
    """A damaged gzip stream raises many kinds of errors; each becomes one ValueError."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as exc:
        if not gz:
            raise ValueError(f"{path}: could not read the file ({exc}).") from None
        raise ValueError(
            f"{path}: starts with the gzip magic bytes 1f 8b but could not be "
            f"decompressed ({exc}); the file is probably truncated or corrupt, "
            f"download it again."
        ) from None


def _read_up_to(stream: IO[bytes], n: int) -> bytes:
    """At most ``n`` bytes, read in chunks: memory grows only with what the stream holds."""
    chunks, left = [], n
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST / Fashion-MNIST format), plain or gzipped.

    Compression is detected from the gzip magic bytes ``1f 8b``, not from the
    file name. The header is read first and the data size it declares is checked against
    the file (a plain file's size is known before any data is read; a gzipped one is read in
    chunks and stops at the declared size), so a file whose header lies is refused without
    reading more than it holds.

    Parameters
    ----------
    path : str or os.PathLike
        File to read.

    Returns
    -------
    ndarray, shape given by the file's header
        The data in native byte order, with the dtype named by the header
        (``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``).
        For MNIST images the shape is ``(n, 28, 28)``, for labels ``(n,)``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the path is not a regular file, the magic number is wrong, the dtype code is
        unknown, the header declares more than :data:`MAX_IN_MEMORY_BYTES`, or the file has
        fewer (or more) data bytes than its header says.
    """
    p = _as_path(path)
    with open_regular(p, "IDX file") as raw:
        gz = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        size = os.fstat(raw.fileno()).st_size
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw  # type: ignore[assignment]
        with _gzip_errors(p, gz):
            head = _read_up_to(stream, 4)
            shape, dtype = _idx_header(p, head, stream)
            header_len = 4 + 4 * len(shape)
            expected = math.prod(shape) * dtype.itemsize
            if expected > MAX_IN_MEMORY_BYTES:
                raise ValueError(
                    f"{p}: the IDX header declares shape {shape} of {dtype.name} ({expected} "
                    f"bytes), more than glassnet reads into memory ({MAX_IN_MEMORY_BYTES}); the "
                    "file is corrupt, or convert it to .npy and open it as a memory map."
                )
            if not gz:
                _check_idx_size(p, shape, dtype, expected, size - header_len)
            data = _read_up_to(stream, expected)
            if len(data) < expected:
                _check_idx_size(p, shape, dtype, expected, len(data))
            if stream.read(1):  # a gzip stream: read to its end, where its CRC is checked
                raise ValueError(
                    f"{p}: IDX file has more bytes than its header says (shape {shape} of "
                    f"{dtype.name} needs {expected} data bytes); the file is corrupt, download "
                    "it again."
                )
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(shape))
    return arr.astype(dtype.newbyteorder("=")).reshape(shape)


def _idx_header(p: Path, head: bytes, stream: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    if len(head) < 4:
        raise ValueError(
            f"{p}: truncated IDX file: expected at least a 4-byte header, got "
            f"{len(head)} bytes; download the file again."
        )
    if head[0] != 0 or head[1] != 0:
        raise ValueError(
            f"{p}: not an IDX file: expected a magic number starting with two zero "
            f"bytes, got {head[:4].hex(' ')}; check that this is an MNIST-style "
            f"idx file (e.g. train-images-idx3-ubyte[.gz])."
        )
    code, ndim = head[2], head[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"{p}: unknown IDX dtype code 0x{code:02X}; expected one of {known}; "
            f"the file is corrupt or not an IDX file."
        )
    if ndim == 0:
        raise ValueError(f"{p}: IDX header says 0 dimensions; expected at least 1.")
    dims = _read_up_to(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{p}: truncated IDX file: header needs {4 + 4 * ndim} bytes for {ndim} "
            f"dimensions, got {4 + len(dims)}; download the file again."
        )
    shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4", count=ndim))
    return shape, _IDX_DTYPES[code]


def _check_idx_size(p: Path, shape: tuple[int, ...], dtype: np.dtype, expected: int,
                    got: int) -> None:
    if got < expected:
        raise ValueError(
            f"{p}: truncated IDX file: header says shape {shape} of {dtype.name} "
            f"({expected} data bytes), but only {got} data bytes follow; download "
            f"the file again."
        )
    if got > expected:
        raise ValueError(
            f"{p}: IDX file has {got - expected} bytes more than its header says "
            f"(shape {shape} of {dtype.name} needs {expected} data bytes); the file "
            f"is corrupt, download it again."
        )


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_plain_or_gz(folder: Path, name: str) -> Path | None:
    for candidate in (name, name + ".gz"):
        p = folder / candidate
        if p.exists():  # read_idx refuses what is not a regular file, saying what it is
            return p
    return None


def load_mnist(folder: PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST from a folder of IDX files.

    Looks for the standard names ``train-images-idx3-ubyte`` and
    ``train-labels-idx1-ubyte`` (``kind="train"``) or ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte`` (``kind="test"``), each optionally ending in
    ``.gz``.  Fashion-MNIST uses the same names.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder holding the files.
    kind : {"train", "test"}
        Which split to load.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, n_pixels)
        Images flattened row-major (784 pixels for 28x28 images), scaled to
        ``[0, 1]``.
    y : ndarray of int64, shape (n_samples,)
        Labels.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message lists the names looked for.
    ValueError
        If the files are malformed or image and label counts differ.
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, got {type(kind).__name__}.")
    if kind not in _MNIST_FILES:
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}.")
    base = _as_path(folder, "folder")
    img_name, lbl_name = _MNIST_FILES[kind]
    img_path = _find_plain_or_gz(base, img_name)
    lbl_path = _find_plain_or_gz(base, lbl_name)
    missing = [n for n, p in ((img_name, img_path), (lbl_name, lbl_path)) if p is None]
    if missing:
        looked = ", ".join(f"{n} or {n}.gz" for n in missing)
        raise FileNotFoundError(
            f"MNIST {kind} files not found in {base}: looked for {looked}; download "
            f"them from the MNIST / Fashion-MNIST site and keep the standard names."
        )
    assert img_path is not None and lbl_path is not None  # for the type checker
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{img_path}: expected uint8 images of shape (n, rows, cols), got "
            f"{images.dtype} of shape {images.shape}."
        )
    if labels.ndim != 1:
        raise ValueError(f"{lbl_path}: expected 1-D labels, got shape {labels.shape}.")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"image/label count mismatch: {img_path} has {images.shape[0]} images but "
            f"{lbl_path} has {labels.shape[0]} labels; the two files must come from "
            f"the same split and release."
        )
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    X /= np.float32(255.0)
    return X, labels.astype(np.int64)


# --------------------------------------------------------------------------
# NPZ / NPY
# --------------------------------------------------------------------------


def _read_npz(p: Path, keys: list[str], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (and those of ``optional`` that are present) of an ``.npz``.

    Each member's header is checked (real-number dtype) before its data is read; the other
    members are never read.
    """
    with NpzArchive(p, pickle_fix=_PICKLE_FIX) as archive:
        present = sorted(archive.members)
        for key in keys:
            if key not in archive.members:
                raise ValueError(
                    f"{p}: no array named {key!r}; the archive holds {present}. Save the "
                    f"arrays under the names {' and '.join(map(repr, keys))} (np.savez(path, "
                    f"{', '.join(f'{k}=...' for k in keys)})), or in Python pass x_key=/y_key= "
                    "with the names it has."
                )
        wanted = [*keys, *(k for k in optional if k in archive.members)]
        for key in wanted:
            check_real_dtype(archive.members[key].dtype, key, source=p)
        return {key: archive.read(key) for key in wanted}


def load_npz(
    path: PathLike, x_key: str = "X", y_key: str | None = "y"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load features and targets from a ``.npz`` archive (no pickles; only these two read).

    Parameters
    ----------
    path : str or os.PathLike
        Archive written by :func:`numpy.savez` or :func:`numpy.savez_compressed`.
    x_key : str, default "X"
        Key of the feature array, shape (n_samples, n_features).
    y_key : str or None, default "y"
        Key of the target array, shape (n_samples,); ``None`` loads no target.

    Returns
    -------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,), or None

    Raises
    ------
    ValueError
        If a key is missing (the message lists the keys present), an array does not hold
        real numbers, the lengths of X and y differ, or the archive is damaged, holds
        objects, or would decompress far beyond its size.
    """
    p = _as_path(path)
    arrays = _read_npz(p, [x_key] + ([y_key] if y_key is not None else []))
    X = arrays[x_key]
    y = arrays[y_key] if y_key is not None else None
    _check_lengths(p, X, y, x_key, y_key)
    return X, y


def _check_lengths(p: Any, X: np.ndarray, y: np.ndarray | None, x_key: Any, y_key: Any) -> None:
    if y is not None and (X.ndim == 0 or y.ndim == 0 or len(X) != len(y)):
        raise ValueError(
            f"{p}: {x_key!r} has {len(X) if X.ndim else 0} rows but {y_key!r} has "
            f"{len(y) if y.ndim else 0}; they must have one target per sample."
        )


def load_arrays(path: PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Load ``(X, y)`` from a ``.npz`` (keys ``"X"``, ``"y"``) or ``(X, None)`` from a ``.npy``.

    Parameters
    ----------
    path : str or os.PathLike
        File ending in ``.npz`` or ``.npy``.

    Returns
    -------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,), or None
        ``None`` for a ``.npy`` file.
    """
    p = _as_path(path)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return load_npz(p)
    if suffix == ".npy":
        X = _open_npy(p, "X")
        return np.array(X), None  # the data is read here, after the header was checked
    raise ValueError(f"{p}: expected a file ending in .npz or .npy, got {suffix or 'no suffix'!r}.")


def _open_npy(p: Path, name: str) -> np.ndarray:
    """A ``.npy`` file as a read-only memory map, its header and dtype checked."""
    arr = read_npy(p, mmap=True, pickle_fix=_PICKLE_FIX)
    check_real_dtype(arr.dtype, name, source=p)
    if isinstance(arr, np.memmap):  # opened from a file object: name it, for the messages
        arr.filename = str(p)  # (its slices inherit it) of the rows checked batch by batch
    return arr


# --------------------------------------------------------------------------
# Memory-mapped .npy files
# --------------------------------------------------------------------------


def open_memmap_dataset(
    x_path: PathLike, y_path: PathLike | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Open ``.npy`` files read-only as memory maps (nothing is read yet).

    The headers are checked against the files' sizes, and the dtypes with the same check as
    in-memory data (real numbers only: no complex, bool, string, datetime or object arrays).

    Parameters
    ----------
    x_path : str or os.PathLike
        ``.npy`` file of features, shape (n_samples, n_features).
    y_path : str or os.PathLike, optional
        ``.npy`` file of targets, shape (n_samples,).

    Returns
    -------
    X : numpy.memmap, shape (n_samples, n_features)
    y : numpy.memmap, shape (n_samples,), or None

    Raises
    ------
    ValueError
        Naming the file: not a regular ``.npy`` file, a header that disagrees with the file's
        size, a dtype other than real numbers, X not 2-D, or a different number of rows.

    Notes
    -----
    Pass the result to :func:`iter_batches` to train on data larger than RAM:
    only the rows of one batch are read at a time.
    """
    paths = [_as_path(x_path, "x_path")]
    if y_path is not None:
        paths.append(_as_path(y_path, "y_path"))
    arrays = []
    for p, name in zip(paths, ("X", "y")):
        if p.suffix.lower() != ".npy":
            raise ValueError(
                f"{p}: memory mapping needs a .npy file, got {p.suffix or 'no suffix'!r}; "
                f"save the array with np.save (a .npz archive cannot be memory-mapped)."
            )
        arrays.append(_open_npy(p, name))
    X = arrays[0]
    y = arrays[1] if len(arrays) > 1 else None
    if X.ndim != 2:
        raise ValueError(f"{paths[0]}: X must be 2-D with shape (n_samples, n_features); got "
                         f"shape {X.shape}.")
    if y is not None and (y.ndim == 0 or len(X) != len(y)):
        raise ValueError(
            f"{paths[0]} has {len(X)} rows but {paths[1]} has {len(y) if y.ndim else 0}; they "
            f"must have one target per sample."
        )
    return X, y
