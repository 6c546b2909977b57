"""Data: files, named and synthetic data sets, scalers, splits and mini-batches.

What lives where:

* :mod:`.files`: readers for IDX (MNIST) and NPZ/NPY files, ``.npy`` files as memory maps;
* :mod:`.csvfile`: the CSV reader, which checks as it streams;
* :mod:`.labels`: class labels to indices ``0..k-1`` (:func:`encode_labels`), the originals kept;
* :mod:`.datasets`: scikit-learn's bundled sets, the :class:`Data` record and :func:`load_data`,
  which loads a data set from a command-line spec;
* :mod:`.synthetic`: the Playground's 2-D sets (:func:`make_2d`);
* :mod:`.preprocessing`: the scalers, :func:`infer_task` and :func:`one_hot`;
* :mod:`.splits`: train/test and train/validation/test splits;
* :mod:`.batches`: mini-batches of arrays or memory maps (:func:`iter_batches`).

Conventions used throughout this package:

* Samples are rows: ``X`` has shape ``(n_samples, n_features)`` and ``y`` has
  shape ``(n_samples,)``.
* Randomness only comes from an explicit ``seed`` argument, which may be an
  ``int`` or a :class:`numpy.random.Generator`; nothing here touches NumPy's
  global random state.
* Bad values raise :class:`ValueError`, wrong types raise :class:`TypeError`,
  missing files raise :class:`FileNotFoundError`.
* The only runtime dependency is NumPy.  :func:`load_sklearn` imports
  scikit-learn lazily (``pip install glassnet[data]``).

Classification labels are always ``int64`` class indices ``0 .. n_classes-1``
(:func:`load_data` maps a file's labels there and keeps the originals in ``Data.classes``);
regression targets are ``float64``.  The task of a target is inferred from its
dtype: an integer (or bool) ``y``, or text labels (a CSV target of ``cat``, ``dog``), is
classification, a floating ``y`` is regression (see :func:`infer_task`).

Data reaches a network's dtype through one conversion, :func:`._checks.as_dtype`: a value
beyond the dtype's range (``1e39`` for float32) is refused naming where it is, never turned
into an infinity; the readers check the same as they read (``range_of``).
"""

from ._checks import check_real_dtype
from .batches import iter_batches
from .csvfile import read_csv
from .datasets import SKLEARN_DATASETS, Data, load_data, load_sklearn
from .files import load_arrays, load_mnist, load_npz, open_memmap_dataset, read_idx
from .labels import encode_labels
from .preprocessing import MinMaxScaler, StandardScaler, infer_task, one_hot, scaler_from_dict
from .splits import train_test_split, train_val_test_split
from .synthetic import SYNTHETIC_2D, SYNTHETIC_TASKS, make_2d

__all__ = [
    "Data",
    "MinMaxScaler",
    "SKLEARN_DATASETS",
    "SYNTHETIC_2D",
    "SYNTHETIC_TASKS",
    "StandardScaler",
    "check_real_dtype",
    "encode_labels",
    "infer_task",
    "iter_batches",
    "load_arrays",
    "load_data",
    "load_mnist",
    "load_npz",
    "load_sklearn",
    "make_2d",
    "one_hot",
    "open_memmap_dataset",
    "read_csv",
    "read_idx",
    "scaler_from_dict",
    "train_test_split",
    "train_val_test_split",
]
