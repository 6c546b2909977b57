"""Memory-mapped ``.npy`` data: the spec ``npy:X.npy,y.npy[,X_test.npy,y_test.npy]``.

:func:`glassnet.data.load_data` hands such a spec here. The features are opened as a
read-only ``numpy.memmap`` (nothing is read yet: ``fit`` reads the rows of each batch, a
distributed rank only its own), the targets, which are small, are read into memory. A scaler
fits a memory map chunk by chunk (:class:`glassnet.data.StandardScaler`), never whole.

Without test files the data set has no test part of its own; ``glassnet train`` then keeps
the last :data:`TEST_SHARE` of the rows as its test set, a slice of the same memory map (no
copy and no shuffling: shuffle the file first if its rows are ordered).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .datasets import Data, shaped
from .files import open_memmap_dataset
from .preprocessing import infer_task

__all__ = ["TEST_SHARE", "load_npy_spec", "memmap_split"]

TEST_SHARE = 0.2
"""The share of a memory-mapped data set's rows ``glassnet train`` tests on (the last)."""


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
    >>> type(data.X).__name__, data.X.shape, data.X_test
    ('memmap', (10, 3), None)
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
    X_test = y_test = None
    if len(files) == 4:
        X_test, y_test = _open(files[2], files[3])
    X, y, X_test, y_test = shaped(f"data spec {spec.strip()!r}", X, y, X_test, y_test)
    return Data(X, y, infer_task(y), spec.strip(), X_test=X_test, y_test=y_test)


def memmap_split(X: np.memmap, y: np.ndarray, name: str) -> tuple[np.ndarray, ...]:
    """``(X_train, X_test, y_train, y_test)``: the last :data:`TEST_SHARE` of the rows are the
    test set, views of the memory map (a stratified shuffle would read it all into memory)."""
    n_train = len(X) - int(round(TEST_SHARE * len(X)))
    if n_train <= 0 or n_train >= len(X):
        raise ValueError(f"data {name!r}: {len(X)} rows are too few to keep the last "
                         f"{TEST_SHARE:.0%} as a test set; give X_test.npy,y_test.npy too.")
    return X[:n_train], X[n_train:], y[:n_train], y[n_train:]


def _open(x_path: str, y_path: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = open_memmap_dataset(x_path, y_path)  # checks X is 2-D, one target per row
    return X, np.asarray(y)
