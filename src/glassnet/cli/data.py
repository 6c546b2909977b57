"""What the commands do with a data set: its task, its target column, the split, the targets.

``train`` decides the task once (class labels or quantities) and records it in the model's
``info["training"]["task"]``; ``evaluate``, ``predict`` and ``explain`` read it back, so that
a model trained on class labels with, say, ``mse`` is evaluated and predicts as a classifier.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from ..archive import open_regular
from ..data.labels import label_array
from .errors import UsageError

__all__ = ["data_file", "load_for_task", "loss_targets", "model_columns", "model_indices",
           "model_inputs", "model_labels", "n_outputs", "predicted_labels", "record_columns",
           "split_data", "task_of", "training_settings"]

def _csv_default_target(spec: str) -> str | None:
    """For ``csv:FILE`` without ``:TARGET``, the FILE (its last column is the target)."""
    from ..data.datasets import prefixed_spec

    s = prefixed_spec(spec)
    if not s.lower().startswith("csv:"):
        return None
    rest = s[4:]
    named = not Path(rest).is_file() and ":" in rest  # as glassnet.data.load_data reads it
    return None if named else rest


def data_file(spec: str) -> str | None:
    """The file a ``csv:FILE[:TARGET]`` or ``npz:FILE`` spec reads (None for other specs)."""
    from ..data.datasets import prefixed_spec

    csv_file = _csv_default_target(spec)
    if csv_file is not None:
        return csv_file
    prefix, _, rest = prefixed_spec(spec).partition(":")
    if prefix.lower() == "csv":
        return rest.rsplit(":", 1)[0]
    return rest if prefix.lower() == "npz" else None


def _last_column(path: str) -> str:
    """``"column 4 ('label'), the last one"``: the name from the header of ``path`` when the
    file has one, by read_csv's own rules (its delimiter and its header test)."""
    from ..data.csvfile import _looks_like_header, _sniff_delimiter

    try:
        with open_regular(path, "CSV file") as f:
            lines = [f.readline(1 << 20), f.readline(1 << 20)]
        sep = _sniff_delimiter(lines[0])
        rows = [next(csv.reader([line.decode("utf-8-sig")], delimiter=sep), None)
                for line in lines if line.strip()]
    except (OSError, ValueError, csv.Error, UnicodeDecodeError):
        return "the last column"
    if not rows or not rows[0]:
        return "the last column"
    first = rows[0]
    header = _looks_like_header(first, rows[1] if len(rows) > 1 else None)
    name = f" ({first[-1].strip()!r})" if header else ""
    return f"column {len(first) - 1}{name}, the last one"


def load_for_task(spec: str, task: str = "auto", asked_by: str = "--task classification",
                  range_of: str = "float32") -> tuple[Any, str, str | None]:
    """Load ``spec`` and settle its task; returns ``(data, task, note)``.

    Parameters
    ----------
    spec : str
        A data spec of :func:`glassnet.data.load_data`.
    task : {'auto', 'classification', 'regression'}
        As :func:`glassnet.data.load_data` takes it: ``auto`` refuses whole-number targets that
        look like a feature (:func:`glassnet.data.labels.not_labels`).
    asked_by : str
        Who wants the task, for the message that refuses non-integer class labels.
    range_of : str, default='float32'
        The dtype of the network (the command line's are float32): a feature beyond its range
        is refused naming the file, the line and the column.

    Returns
    -------
    data : glassnet.data.Data
        With float targets for a regression.
    task : {'classification', 'regression'}
    note : str or None
        For ``csv:FILE`` without a target: which column was taken as the target.
    """
    from ..data import load_data
    from ..data.labels import NotClassLabels, NotQuantities

    csv_file = _csv_default_target(spec)
    column = _last_column(csv_file) if csv_file is not None else None
    try:
        data = load_data(spec, task=task, range_of=range_of)
    except NotQuantities as err:
        raise UsageError(f"{spec}: --task regression needs numbers as targets; {err.reason}. "
                         "Leave out --task regression, or name a numeric target column "
                         "(csv:FILE:COLUMN)") from err
    except NotClassLabels as err:
        if task == "classification":
            raise UsageError(f"{spec}: {asked_by} needs whole-number class labels; "
                             f"{err.reason}") from err
        where = f"no target column was named, so {column}, was taken; " if column else ""
        fix = f"--data csv:{csv_file}:COLUMN (a name or an index)" if column else \
            "the class column"
        raise UsageError(f"{spec}: {where}{err.reason}. Name the target column: {fix}; pass "
                         "--task regression to predict it as a quantity, or --task "
                         f"classification to train {err.n_classes} classes anyway") from err
    task = data.task
    note = None
    if column is not None:
        kind = "class labels" if task == "classification" else "a quantity (regression)"
        note = f"target: {column} ({kind}); name another with csv:FILE:COLUMN"
    return data, task, note


def record_columns(net: Any, data: Any) -> None:
    """Record in ``net`` the names of the feature columns of the CSV file it is trained on
    (``net.info["training"]["columns"]``), so that :func:`model_inputs` picks them out of a
    file by name; nothing for data without named columns."""
    if data.columns is not None:
        net.info.setdefault("training", {})["columns"] = list(data.columns)


def model_columns(net: Any) -> list[str] | None:
    """The feature columns ``train`` recorded (:func:`record_columns`), or None."""
    columns = training_settings(net).get("columns")
    if isinstance(columns, list) and len(columns) == net.n_in \
            and all(isinstance(c, str) for c in columns):
        return columns
    return None


def model_inputs(net: Any, path: str) -> np.ndarray:
    """The inputs ``predict`` reads for ``net`` from ``path`` (``.csv``, ``.npy`` or ``.npz``).

    A CSV file is read by the model's column names when ``train`` recorded them: the feature
    columns in the model's order, any other column (the target of the very file it was trained
    on) skipped, a missing one refused naming it; else every column is a feature.
    """
    from ..data import load_arrays, read_csv

    if path.endswith(".csv"):
        return read_csv(path, target=None, range_of=net.dtype, columns=model_columns(net))[0]
    if path.endswith((".npy", ".npz")):
        return load_arrays(path)[0]
    raise UsageError(f"predict: --input must be a .csv, .npy or .npz file; got {path}")


def task_of(net: Any) -> str:
    """The task a model was trained for: as ``train`` recorded it, else from its loss."""
    recorded = _recorded_task(net)
    if recorded is not None:
        return recorded
    return "classification" if net.loss_fn.classifier else "regression"


def training_settings(net: Any) -> dict[str, Any]:
    """The settings ``train`` recorded in the model (``{}`` for a model made otherwise)."""
    training = net.info.get("training") if isinstance(net.info, dict) else None
    return training if isinstance(training, dict) else {}


def _recorded_task(net: Any) -> str | None:
    task = training_settings(net).get("task")
    return task if task in ("classification", "regression") else None


def model_labels(net: Any, X: np.ndarray) -> np.ndarray:
    """What ``predict`` writes: class labels for a model ``train`` made on class labels
    (whatever its loss), in the original labels the model keeps (``net.classes``), else
    :meth:`Network.predict` (labels for the classification losses, outputs otherwise)."""
    if _recorded_task(net) == "classification":
        index = predicted_labels(net, X)
        return index if net.classes is None else label_array(net.classes)[index]
    return net.predict(X)


def model_indices(net: Any, data: Any, y: np.ndarray) -> np.ndarray:
    """The data's class labels ``y`` (indices into ``data.classes``) as indices of the model's
    classes (``net.classes``), so that a data set holding only some of the classes, or in
    another order, is compared with the model label for label."""
    if net.classes is None or data.classes is None:
        return y
    original = label_array(data.classes)[y]
    known = {label: i for i, label in enumerate(label_array(net.classes).tolist())}
    unknown = sorted({v for v in original.tolist() if v not in known}, key=str)
    if unknown:
        raise UsageError(f"the data has class labels the model was not trained on: "
                         f"{', '.join(map(str, unknown[:5]))}; the model knows "
                         f"{', '.join(map(str, list(known)[:10]))}")
    return np.array([known[v] for v in original.tolist()], dtype=np.int64)


def split_data(data: Any, seed: int) -> tuple[np.ndarray, ...]:
    """The fixed train/test split: the data set's own test part, else stratified 80/20 (for a
    memory map: its last 20% of rows, see :func:`glassnet.data.npy_source.memmap_split`)."""
    from ..data import train_test_split
    from ..data.npy_source import memmap_split

    if data.X_test is not None:
        return data.X, data.X_test, data.y, data.y_test
    if isinstance(data.X, np.memmap):
        return memmap_split(data.X, data.y, data.name)
    return train_test_split(data.X, data.y, test_size=0.2,
                            stratify=data.y.dtype.kind in "biu", seed=seed)


def n_outputs(y_train: np.ndarray, y_test: np.ndarray, classify: bool) -> int:
    """Output units: one per class (labels 0..k-1), else one per target column."""
    if classify:
        return int(max(np.max(y_train), np.max(y_test))) + 1
    return 1 if np.ndim(y_train) == 1 else int(y_train.shape[1])


def loss_targets(net: Any, y: np.ndarray, classify: bool) -> np.ndarray:
    """``y`` as the network's loss takes it: class labels for cross-entropy and for a single
    sigmoid unit (its 0/1 targets), one-hot rows for the other losses on class labels (mse,
    huber, binary cross-entropy on one unit per class), else ``y`` itself."""
    if classify and np.ndim(y) == 1 and net.loss_fn.name != "cross_entropy" and net.n_out > 1:
        from ..data import one_hot

        return one_hot(y, net.n_out, dtype="float64")
    return y


def predicted_labels(net: Any, X: np.ndarray) -> np.ndarray:
    """Class labels of a classifier: the largest output unit (a 0.5 threshold for one unit)."""
    a = net.predict_output(X)
    return (a[:, 0] > 0.5).astype(np.int64) if a.shape[1] == 1 else a.argmax(axis=1)
