"""An uploaded CSV (x1, x2, label), read from memory and checked whole before a session sees it.

:func:`parse_csv` is a pure function: text in, arrays out, or a :class:`SettingsError` (HTTP 422,
field ``csv``) that names the line and the column. Nothing is written to disk, so no message can
show a server path. The checks make every later step safe: at most ``limits.max_samples`` rows of
exactly three numbers, each of magnitude at most ``limits.max_abs_value`` (so the derived
features such as ``x1^2`` and the drawing grid stay far inside the float range). A label
column of whole numbers that look like class labels (2 to ``limits.max_classes`` distinct
values, by :func:`glassnet.data.labels.not_labels`, the rule ``glassnet train`` uses) makes a
classification problem, with the labels kept as the classes; any other numbers a regression.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import numpy as np

from ..data.labels import not_labels
from .settings import Limits, SettingsError

__all__ = ["MAX_LINE_CHARS", "Upload", "parse_csv"]

MAX_LINE_CHARS = 200
"""A row of three numbers is short; a longer line is refused before the csv module reads it."""
COLUMNS = ("x1", "x2", "label")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Upload:
    """A checked upload: ``points`` of shape (n_samples, 2) and the label column ``values``.

    ``classes`` holds the distinct labels, ascending, when they are class labels (None for a
    regression target); ``indices`` then holds each row's class index ``0 .. k-1``.
    """

    points: np.ndarray
    values: np.ndarray
    classes: tuple[int, ...] | None = None

    @property
    def problem(self) -> str:
        """What the labels make by default: ``'classification'`` or ``'regression'``."""
        return "regression" if self.classes is None else "classification"

    @property
    def indices(self) -> np.ndarray:
        """Each row's class index into ``classes``."""
        if self.classes is None:
            raise ValueError("A regression upload has no classes.")
        return np.searchsorted(np.asarray(self.classes, dtype=np.float64), self.values)


def parse_csv(text: str, limits: Limits) -> Upload:
    """Read ``text`` as a CSV of x1, x2, label rows (an optional header row first).

    Raises
    ------
    SettingsError
        Field ``'csv'``, for anything but ``limits.min_samples`` to ``limits.max_samples`` rows
        of three finite numbers within ``±limits.max_abs_value``, or for a one-class label
        column; the message names the line (1-based) and the column.
    """
    lines = text.lstrip("\ufeff").splitlines()
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE_CHARS:
            _refuse(f"line {number} has {len(line)} characters; a row x1,x2,label needs at "
                    f"most {MAX_LINE_CHARS}.")
    rows: list[list[float]] = []
    header_seen = False
    reader = csv.reader(lines)
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            if not rows and not header_seen and not all(_NUMBER.fullmatch(f.strip()) for f in fields):
                header_seen = True  # a first row with a name in it: the header
                if len(fields) != 3:
                    _refuse(f"its header (line {reader.line_num}) names {len(fields)} columns; "
                            "it needs 3 (x1, x2, label).")
                continue
            rows.append(_row(fields, reader.line_num, limits))
            if len(rows) > limits.max_samples:
                _refuse(f"it has more than {limits.max_samples} rows, the limit.")
    except csv.Error as err:
        _refuse(f"line {reader.line_num}: {err}.")
    if len(rows) < limits.min_samples:
        _refuse(f"it needs between {limits.min_samples} and {limits.max_samples} rows of data; "
                f"it has {len(rows)}.")
    data = np.array(rows, dtype=np.float64)
    points, values = data[:, :2], data[:, 2]
    distinct = np.unique(values)
    if np.any(distinct != np.round(distinct)):
        return Upload(points, values)
    if len(distinct) < 2:
        _refuse(f"every label is {distinct[0]:g}; a classifier needs points of at least two "
                "classes.")
    if len(distinct) > limits.max_classes or not_labels(values) is not None:
        return Upload(points, values)  # whole numbers, but a quantity: regression
    return Upload(points, values, tuple(int(v) for v in distinct))


def _row(fields: list[str], line: int, limits: Limits) -> list[float]:
    if len(fields) != 3:
        _refuse(f"line {line} has {len(fields)} field{'s' * (len(fields) != 1)}; every row "
                "needs 3 (x1, x2, label).")
    values = []
    for column, field in zip(COLUMNS, fields):
        field = field.strip()
        if not _NUMBER.fullmatch(field):
            shown = field if len(field) <= 20 else field[:20] + "..."
            _refuse(f"line {line}, column {column!r}: {shown!r} is not a number.")
        value = float(field)
        if not abs(value) <= limits.max_abs_value:
            _refuse(f"line {line}, column {column!r}: {field if len(field) <= 20 else value} is "
                    f"out of range; the playground takes values within ±{limits.max_abs_value:g}. "
                    "Scale the data first.")
        values.append(value)
    return values


def _refuse(reason: str) -> None:
    raise SettingsError("csv", f"The CSV cannot be used: {reason}")
