"""Memory-mapped ``.npy`` data for the command line: ``npy:X.npy,y.npy`` and a scaler fitted by chunks.

A spec ``npy:X.npy,y.npy`` opens the features as a read-only ``numpy.memmap`` (nothing is
read yet: ``fit`` reads the rows of each batch, a distributed rank only its own) and reads the
targets, which are small, into memory. ``npy:X.npy,y.npy,X_test.npy,y_test.npy`` adds a test
set; without one, the last 20% of the rows are the test set, a slice of the same memory map
(no copy, and no shuffling: shuffle the file first if its rows are ordered). Every other spec
goes to :func:`glassnet.data.load_data`.

:func:`fit_scaler` standardises a memory map without reading it whole: the mean and the
variance are accumulated over chunks of rows (Chan's parallel update), in float64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .datasets import Data, load_data
from .files import open_memmap_dataset
from .preprocessing import StandardScaler, infer_task

__all__ = ["TEST_SHARE", "fit_scaler", "load_npy_spec", "load_spec", "load_validation"]

TEST_SHARE = 0.2
"""The share of the rows an ``npy:`` spec without test files keeps as its test set (the last)."""

CHUNK_ROWS = 65536


def load_spec(spec: str) -> Data:
    """``npy:...`` as :func:`load_npy_spec`, anything else as :func:`glassnet.data.load_data`."""
    if isinstance(spec, str) and spec.strip().lower().startswith("npy:"):
        return load_npy_spec(spec)
    return load_data(spec)


def load_validation(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a validation spec: ``npy:X.npy,y.npy`` whole (X memory-mapped), or the
    training part of any other :func:`glassnet.data.load_data` spec."""
    if isinstance(spec, str) and spec.strip().lower().startswith("npy:"):
        files = [part.strip() for part in spec.strip()[4:].split(",")]
        if len(files) != 2 or not all(files):
            raise ValueError(f"validation spec {spec!r}: expected npy:X.npy,y.npy.")
        for name in files:
            if not Path(name).is_file():
                raise FileNotFoundError(f"validation spec {spec!r}: file {name!r} not found.")
        return _open(*files)
    data = load_data(spec)
    return data.X, data.y


def load_npy_spec(spec: str) -> Data:
    """Open ``npy:X.npy,y.npy[,X_test.npy,y_test.npy]``; X memory-mapped, y in memory.

    Raises
    ------
    ValueError
        For a spec with another number of files, or files that do not pair up (see
        :func:`glassnet.data.open_memmap_dataset`).
    FileNotFoundError
        For a file that does not exist.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "X.npy"), np.zeros((10, 3)))
    >>> np.save(os.path.join(folder, "y.npy"), np.arange(10) % 2)
    >>> data = load_npy_spec(f"npy:{folder}/X.npy,{folder}/y.npy")
    >>> type(data.X).__name__, data.X.shape, data.X_test.shape
    ('memmap', (8, 3), (2, 3))
    """
    files = [part.strip() for part in spec.strip()[4:].split(",")]
    if len(files) not in (2, 4) or not all(files):
        raise ValueError(f"data spec {spec!r}: expected npy:X.npy,y.npy or "
                         "npy:X.npy,y.npy,X_test.npy,y_test.npy (file names separated by "
                         "commas).")
    for name in files:
        if not Path(name).is_file():
            raise FileNotFoundError(f"data spec {spec!r}: file {name!r} not found.")
    X, y = _open(files[0], files[1])
    if len(files) == 4:
        X_test, y_test = _open(files[2], files[3])
        if X_test.shape[1:] != X.shape[1:]:
            raise ValueError(f"data spec {spec!r}: {files[2]} has rows of shape "
                             f"{X_test.shape[1:]}, {files[0]} of shape {X.shape[1:]}.")
    else:
        n_train = len(X) - int(round(TEST_SHARE * len(X)))
        if n_train <= 0 or n_train >= len(X):
            raise ValueError(f"data spec {spec!r}: {len(X)} rows are too few to keep the last "
                             f"{TEST_SHARE:.0%} as a test set; give X_test.npy,y_test.npy too.")
        X, X_test, y, y_test = X[:n_train], X[n_train:], y[:n_train], y[n_train:]
    return Data(X, y, infer_task(y), spec.strip(), X_test=X_test, y_test=y_test)


def _open(x_path: str, y_path: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = open_memmap_dataset(x_path, y_path)
    if X.ndim != 2:
        raise ValueError(f"{x_path}: expected a 2-D array (n_samples, n_features); got shape "
                         f"{X.shape}.")
    return X, np.asarray(y)


def fit_scaler(X: Any, chunk_rows: int = CHUNK_ROWS) -> StandardScaler:
    """A :class:`StandardScaler` fitted on ``X``; a memory map by chunks of ``chunk_rows`` rows.

    For arrays in memory this is ``StandardScaler().fit(X)``. For a memory map the per-feature
    mean and variance of each chunk are merged with Chan et al.'s update
    ``M2 = M2_a + M2_b + delta^2 n_a n_b / n``, so that no more than a chunk is in memory.
    """
    if not isinstance(X, np.memmap):
        return StandardScaler().fit(X)
    n, mean, m2 = 0, np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for start in range(0, len(X), chunk_rows):
        chunk = np.asarray(X[start:start + chunk_rows], dtype=np.float64)
        if not np.all(np.isfinite(chunk)):
            raise ValueError(f"X contains NaN or inf (rows {start} to "
                             f"{start + len(chunk) - 1}). Clean the data file.")
        k, chunk_mean = len(chunk), chunk.mean(axis=0)
        delta = chunk_mean - mean
        m2 += ((chunk - chunk_mean) ** 2).sum(axis=0) + delta**2 * n * k / (n + k)
        mean += delta * k / (n + k)
        n += k
    scaler = StandardScaler()
    std = np.sqrt(m2 / max(n, 1))
    tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    scaler.mean_, scaler.scale_ = mean, np.where(std <= tiny, 1.0, std)
    return scaler
