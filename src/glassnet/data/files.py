"""Readers for data files: IDX (MNIST), CSV, NPZ/NPY, and ``.npy`` files as memory maps.

Errors name the file (for CSV also the line and column), what was expected and what came.
NumPy files are loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

__all__ = [
    "load_arrays",
    "load_mnist",
    "load_npz",
    "open_memmap_dataset",
    "read_csv",
    "read_idx",
]

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


def _read_bytes_maybe_gzip(path: Path) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(
                f"{path}: starts with the gzip magic bytes 1f 8b but could not be "
                f"decompressed ({exc}); the file is probably truncated or corrupt, "
                f"download it again."
            ) from exc
    return raw


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST / Fashion-MNIST format), plain or gzipped.

    Compression is detected from the gzip magic bytes ``1f 8b``, not from the
    file name.

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
        If the magic number is wrong, the dtype code is unknown, or the file
        has fewer (or more) data bytes than its header says.
    """
    p = _as_path(path)
    data = _read_bytes_maybe_gzip(p)
    if len(data) < 4:
        raise ValueError(
            f"{p}: truncated IDX file: expected at least a 4-byte header, got "
            f"{len(data)} bytes; download the file again."
        )
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{p}: not an IDX file: expected a magic number starting with two zero "
            f"bytes, got {data[:4].hex(' ')}; check that this is an MNIST-style "
            f"idx file (e.g. train-images-idx3-ubyte[.gz])."
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"{p}: unknown IDX dtype code 0x{code:02X}; expected one of {known}; "
            f"the file is corrupt or not an IDX file."
        )
    if ndim == 0:
        raise ValueError(f"{p}: IDX header says 0 dimensions; expected at least 1.")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{p}: truncated IDX file: header needs {header_len} bytes for {ndim} "
            f"dimensions, got {len(data)}; download the file again."
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    got = len(data) - header_len
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
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header_len)
    return arr.astype(dtype.newbyteorder("=")).reshape(shape)


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_plain_or_gz(folder: Path, name: str) -> Path | None:
    for candidate in (name, name + ".gz"):
        p = folder / candidate
        if p.is_file():
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
# CSV
# --------------------------------------------------------------------------

_MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def read_csv(
    path: PathLike,
    target: int | str | None = -1,
    header: bool | str = "auto",
    delimiter: str = ",",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a numeric CSV file into features and a target.

    Parameters
    ----------
    path : str or os.PathLike
        CSV file (UTF-8; a byte-order mark is ignored).  Blank lines are skipped.
    target : int, str or None, default -1
        Target column: a 0-based index (negative counts from the end) or a
        column name (needs a header row). None: every column is a feature and
        ``y`` is None (inputs for prediction).
    header : {"auto", True, False}, default "auto"
        Whether the first row holds column names.  ``"auto"`` treats the first
        row as a header if any of its fields is non-numeric.
    delimiter : str, default ","
        Field separator.

    Returns
    -------
    X : ndarray of float64, shape (n_samples, n_columns - 1)
        All columns but the target.
    y : ndarray, shape (n_samples,)
        The target column: ``int64`` if every value is a whole number
        (classification), else ``float64`` (regression).
    feature_names : list of str, length n_columns - 1
        Names from the header, or ``"col<i>"`` (``i`` the 0-based column index)
        without one.

    Raises
    ------
    ValueError
        For a missing or non-numeric value (the message names the 1-based line
        number and the column), a row with the wrong number of fields, an
        unknown target, or a file with no data rows.
    """
    p = _as_path(path)
    if target is not None and (
            isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer, str))):
        raise TypeError(
            f"target must be a column index (int) or a column name (str), got "
            f"{type(target).__name__}."
        )
    if not (isinstance(header, bool) or (isinstance(header, str) and header == "auto")):
        raise ValueError(f"header must be 'auto', True or False, got {header!r}.")

    rows: list[tuple[int, list[str]]] = []
    with open(p, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        for row in reader:
            if not row or all(not f.strip() for f in row):
                continue
            rows.append((reader.line_num, [f.strip() for f in row]))
    if not rows:
        raise ValueError(f"{p}: the file has no rows; expected a CSV file with data.")

    first_line, first = rows[0]
    has_header = (
        any(f.lower() not in _MISSING_TOKENS and not _is_number(f) for f in first)
        if header == "auto"
        else bool(header)
    )
    n_cols = len(first)
    if has_header:
        names = first
        data_rows = rows[1:]
    else:
        names = [f"col{i}" for i in range(n_cols)]
        data_rows = rows
    if not data_rows:
        raise ValueError(f"{p}: only a header row was found; expected data rows below it.")
    if n_cols < (1 if target is None else 2):
        raise ValueError(
            f"{p}: expected at least 2 columns (features and a target), got {n_cols}; "
            f"check the delimiter (now {delimiter!r})."
        )

    def col_label(j: int) -> str:
        return f"column {j} ({names[j]!r})" if has_header else f"column {j}"

    # Resolve the target column.
    listing = ", ".join(f"{j}: {n!r}" for j, n in enumerate(names))
    if target is None:
        t = n_cols  # no target column
    elif isinstance(target, str):
        if not has_header:
            raise ValueError(
                f"{p}: target {target!r} is a column name, but the file has no header "
                f"row; pass a column index instead (0..{n_cols - 1}, or -1 for the last)."
            )
        matches = [j for j, n in enumerate(names) if n == target]
        if not matches:
            raise ValueError(
                f"{p}: no column named {target!r}; the columns are {listing}."
            )
        if len(matches) > 1:
            raise ValueError(
                f"{p}: column name {target!r} appears {len(matches)} times (indices "
                f"{matches}); pass a column index instead."
            )
        t = matches[0]
    else:
        t = int(target)
        if not -n_cols <= t < n_cols:
            raise ValueError(
                f"{p}: target index {t} is out of range for {n_cols} columns; expected "
                f"{-n_cols}..{n_cols - 1}; the columns are {listing}."
            )
        t %= n_cols

    values = np.empty((len(data_rows), n_cols), dtype=np.float64)
    for i, (line, row) in enumerate(data_rows):
        if len(row) != n_cols:
            raise ValueError(
                f"{p}, line {line}: expected {n_cols} fields (as in line {first_line}), "
                f"got {len(row)}; check for a stray or missing delimiter."
            )
        for j, field in enumerate(row):
            if field.lower() in _MISSING_TOKENS:
                raise ValueError(
                    f"{p}, line {line}, {col_label(j)}: missing value {field!r}; "
                    f"expected a number. Fill in or drop the row."
                )
            try:
                v = float(field)
            except ValueError:
                raise ValueError(
                    f"{p}, line {line}, {col_label(j)}: non-numeric value {field!r}; "
                    f"expected a number. Encode categories as numbers first."
                ) from None
            if not math.isfinite(v):
                raise ValueError(
                    f"{p}, line {line}, {col_label(j)}: value {field!r} is not finite; "
                    f"expected a finite number."
                )
            values[i, j] = v

    keep = [j for j in range(n_cols) if j != t]
    X = np.ascontiguousarray(values[:, keep])
    if target is None:
        return X, None, [names[j] for j in keep]  # type: ignore[return-value]
    y_col = values[:, t]
    y = y_col.astype(np.int64) if np.all(y_col == np.round(y_col)) else y_col.copy()
    return X, y, [names[j] for j in keep]


# --------------------------------------------------------------------------
# NPZ / NPY
# --------------------------------------------------------------------------


def _np_load(p: Path, **kwargs: Any) -> Any:
    try:
        return np.load(p, allow_pickle=False, **kwargs)
    except ValueError as exc:
        raise ValueError(
            f"{p}: could not load ({exc}); glassnet never loads pickled (object) "
            f"arrays; save plain numeric arrays with np.save / np.savez."
        ) from exc


def load_npz(
    path: PathLike, x_key: str = "X", y_key: str | None = "y"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load features and targets from a ``.npz`` archive (``allow_pickle=False``).

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
        If a key is missing (the message lists the keys present) or the
        lengths of X and y differ.
    """
    p = _as_path(path)
    with _np_load(p) as archive:
        present = sorted(archive.files)
        wanted = [x_key] + ([y_key] if y_key is not None else [])
        for key in wanted:
            if key not in archive.files:
                raise ValueError(
                    f"{p}: no array named {key!r}; the archive holds {present}; pass "
                    f"x_key=/y_key= with one of those names."
                )
        X = archive[x_key]
        y = archive[y_key] if y_key is not None else None
    if y is not None and len(X) != len(y):
        raise ValueError(
            f"{p}: {x_key!r} has {len(X)} rows but {y_key!r} has {len(y)}; they must "
            f"have one target per sample."
        )
    return X, y


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
        return _np_load(p), None
    raise ValueError(f"{p}: expected a file ending in .npz or .npy, got {suffix or 'no suffix'!r}.")


# --------------------------------------------------------------------------
# Memory-mapped .npy files
# --------------------------------------------------------------------------


def open_memmap_dataset(
    x_path: PathLike, y_path: PathLike | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Open ``.npy`` files read-only as memory maps (nothing is read yet).

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

    Notes
    -----
    Pass the result to :func:`iter_batches` to train on data larger than RAM:
    only the rows of one batch are read at a time.
    """
    paths = [_as_path(x_path, "x_path")]
    if y_path is not None:
        paths.append(_as_path(y_path, "y_path"))
    arrays = []
    for p in paths:
        if p.suffix.lower() != ".npy":
            raise ValueError(
                f"{p}: memory mapping needs a .npy file, got {p.suffix or 'no suffix'!r}; "
                f"save the array with np.save (a .npz archive cannot be memory-mapped)."
            )
        arrays.append(_np_load(p, mmap_mode="r"))
    X = arrays[0]
    y = arrays[1] if len(arrays) > 1 else None
    if y is not None and len(X) != len(y):
        raise ValueError(
            f"{paths[0]} has {len(X)} rows but {paths[1]} has {len(y)}; they must have "
            f"one target per sample."
        )
    return X, y
