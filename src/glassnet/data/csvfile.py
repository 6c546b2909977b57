"""A numeric CSV reader that checks while it streams: bounded memory for any file.

The file is read line by line, each line at most ``max_line_bytes`` long and split into at most
``max_fields`` fields (counted before the line is split), so neither a 200 MB line of one field
nor a line of a hundred million fields is ever held as strings: the reader stops at the limit
with a ``ValueError``. Feature values go straight into float64 blocks of about 4 MiB; a row of
the wrong length is refused at the line where it occurs. The target column is read exactly:
integers as integers (never through float), text as class labels. Every error names the file, the 1-based line and,
where one is to blame, the 0-based column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

from ..archive import open_regular
from ._checks import _check_positive_int, beyond_range
from .files import PathLike, _as_path

__all__ = ["MAX_FIELDS", "MAX_LINE_BYTES", "read_csv"]

MAX_LINE_BYTES = 1 << 24
"""Default longest line, in bytes (16 MiB)."""
MAX_FIELDS = 1 << 20
"""Default most fields in one line (1048576)."""
MAX_EXACT_INT = 2**53
"""Whole numbers written as floats (``3.0``) up to this size are read as int64 targets; larger
ones stay float64. Integers written as integers are read exactly, whatever their size."""
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1

_MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
_BOM = b"\xef\xbb\xbf"
_BLOCK_BYTES = 1 << 22


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
    delimiter: str | None = None,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_fields: int = MAX_FIELDS,
    range_of: Any = "float32",
    columns: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a numeric CSV file into features and a target.

    Parameters
    ----------
    path : str or os.PathLike
        CSV file (UTF-8; a byte-order mark is ignored). Blank lines are skipped. A field may be
        quoted, but may not span lines.
    target : int, str or None, default -1
        Target column: a 0-based index (negative counts from the end) or a
        column name (needs a header row). None: every column is a feature and
        ``y`` is None (inputs for prediction).
    header : {"auto", True, False}, default "auto"
        Whether the first row holds column names.  ``"auto"`` treats the first
        row as a header if a field of it is text where the second row has a number (in a
        file of one row: if any field is text); a column of text in every row, such as class
        labels, is data.
    delimiter : str, optional
        Field separator, one character. None: from the first line, ``,`` where it has one,
        else ``;`` or a tab, whichever it has more of (a semicolon-separated file, as written
        where the decimal mark is a comma, or a TSV file, reads as it is).
    max_line_bytes : int, default 16777216
        Longest line accepted (without its line ending).
    max_fields : int, default 1048576
        Most fields accepted in a line.
    range_of : {'float32', 'float64'} or None, default 'float32'
        The dtype of the network that will take the features (float32, a network's default):
        a feature beyond its range (``1e39`` for float32) is refused at its line and column,
        as :func:`~glassnet.data._checks.as_dtype` would refuse it later. The values stay
        float64. None: no check.
    columns : list of str, optional
        The feature columns to read, by header name and in this order (a model's, as
        ``glassnet train`` records them); every other column (a target) is skipped unread.
        Needs ``target=None``. A file without a header row must have exactly these columns,
        in order; a name missing from the header is refused, naming it.

    Returns
    -------
    X : ndarray of float64, shape (n_samples, n_columns - 1)
        All columns but the target.
    y : ndarray, shape (n_samples,)
        The target column, read exactly: text (``cat``, ``dog``) as a str array of class
        labels; integers as ``int64`` (an object array of Python ints beyond int64); other
        numbers as ``float64``, or ``int64`` when every one is a whole number of magnitude at
        most ``2**53`` (``3.0``). Integer and text targets are class labels
        (:func:`~glassnet.data.infer_task`), floats quantities.
    feature_names : list of str, length n_columns - 1
        Names from the header, or ``"col<i>"`` (``i`` the 0-based column index)
        without one.

    Raises
    ------
    FileNotFoundError
        When nothing is at ``path``.
    ValueError
        Naming the file, the line and the column: a missing, non-numeric (in a feature) or
        non-finite value, text among the numbers of a target column or the reverse,
        bytes that are not UTF-8, a row with the wrong number of fields, a line longer than
        ``max_line_bytes`` or with more than ``max_fields`` fields, an unterminated quote; also
        an unknown target, a path that is not a regular file, or a file with no data rows.
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
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1
                                  or delimiter in "\"\r\n"):
        raise ValueError(f"delimiter must be one character other than a quote or a line end, "
                         f"got {delimiter!r}.")
    if columns is not None and target is not None:
        raise ValueError("read_csv: columns= selects the features of a file read for "
                         f"prediction; pass target=None with it (got target={target!r}).")
    max_line_bytes = _check_positive_int(max_line_bytes, "max_line_bytes", "read_csv")
    max_fields = _check_positive_int(max_fields, "max_fields", "read_csv")

    with open_regular(p, "CSV file") as fh:
        if delimiter is None:
            delimiter = _sniff_delimiter(fh.readline(min(max_line_bytes, 1 << 20)))
            fh.seek(0)
        rows = _rows(p, fh, delimiter, max_line_bytes, max_fields)
        first = next(rows, None)
        if first is None:
            raise ValueError(f"{p}: the file has no rows; expected a CSV file with data.")
        first_line, first_row = first
        second = next(rows, None)
        has_header = (_looks_like_header(first_row, None if second is None else second[1])
                      if header == "auto" else bool(header))
        n_cols = len(first_row)
        names = first_row if has_header else [f"col{i}" for i in range(n_cols)]
        twice = next((name for name in names if names.count(name) > 1), None) \
            if has_header else None
        if twice is not None:  # a target, a feature or a model's column by name: ambiguous
            where = [j for j, name in enumerate(names) if name == twice]
            raise ValueError(f"{p}, line {first_line}: the header names {twice!r} in columns "
                             f"{', '.join(map(str, where))}; give every column a name of its "
                             "own.")
        if n_cols < (1 if target is None else 2):
            raise ValueError(
                f"{p}: expected at least 2 columns (features and a target), got {n_cols}; "
                f"the fields are separated by {delimiter!r} (from the first line; glassnet "
                "reads files separated by commas, semicolons or tabs)."
            )
        t = _target_index(p, target, names, has_header)
        keep = None if columns is None else _named_columns(p, columns, names, has_header)
        table = _Table(p, n_cols, names if has_header else None, first_line, t, keep)
        if range_of is not None:
            table.limit_features(range_of)
        if not has_header:
            table.append(first_line, first_row)
        if second is not None:
            table.append(*second)
        for line, row in rows:
            table.append(line, row)
    X = table.values()
    if len(X) == 0:
        raise ValueError(f"{p}: only a header row was found; expected data rows below it.")
    feature_names = [names[j] for j in table.features]
    if target is None:
        return X, None, feature_names  # type: ignore[return-value]
    return X, table.target_values(), feature_names


def _named_columns(p: Any, columns: list[str], names: list[str], has_header: bool) -> list[int]:
    """The indices of ``columns`` among the header's ``names``; refused when one is missing."""
    if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"columns must be a list of column names (str), got {columns!r}.")
    wanted = ", ".join(map(repr, columns[:20])) + (", ..." if len(columns) > 20 else "")
    if not has_header:
        if len(names) == len(columns):
            return list(range(len(names)))
        raise ValueError(
            f"{p}: the file has no header row, so its {len(names)} columns cannot be matched "
            f"by name to the {len(columns)} feature columns needed ({wanted}); add the header "
            "row, or give exactly those columns in that order.")
    missing = [c for c in columns if c not in names]
    if missing:
        shown = ", ".join(map(repr, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise ValueError(
            f"{p}: no column named {shown}; reading by name needs the feature columns "
            f"{wanted}, and the header has {', '.join(map(repr, names[:20]))}"
            f"{', ...' if len(names) > 20 else ''}. Give a file with those columns (any others, "
            "such as the target, are skipped).")
    return [names.index(c) for c in columns]  # the header's names are distinct (read_csv)


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """Whether the first row holds column names: a field of it is text where the second row
    has a number (or, in a file of one row, any field is text). A column of text in every row
    is data (class labels), not a header."""
    def text(field: str) -> bool:
        return field.lower() not in _MISSING_TOKENS and not _is_number(field)

    if second is None or len(second) != len(first):
        return any(text(f) for f in first)
    return any(text(a) and not text(b) for a, b in zip(first, second))


def _target_index(p: Any, target: int | str | None, names: list[str], has_header: bool) -> int:
    n_cols = len(names)
    listing = ", ".join(f"{j}: {n!r}" for j, n in enumerate(names[:50]))
    listing += ", ..." if n_cols > 50 else ""
    if target is None:
        return n_cols  # no target column
    if isinstance(target, str):
        if not has_header:
            raise ValueError(
                f"{p}: target {target!r} is a column name, but the file has no header "
                f"row; pass a column index instead (0..{n_cols - 1}, or -1 for the last)."
            )
        matches = [j for j, n in enumerate(names) if n == target]
        if not matches:
            raise ValueError(f"{p}: no column named {target!r}; the columns are {listing}.")
        if len(matches) > 1:
            raise ValueError(
                f"{p}: column name {target!r} appears {len(matches)} times (indices "
                f"{matches}); pass a column index instead."
            )
        return matches[0]
    t = int(target)
    if not -n_cols <= t < n_cols:
        raise ValueError(
            f"{p}: target index {t} is out of range for {n_cols} columns; expected "
            f"{-n_cols}..{n_cols - 1}; the columns are {listing}."
        )
    return t % n_cols


# ---------------------------------------------------------------------------- streaming
def _lines(p: Any, fh: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes without the line end)``; no line longer than the limit is kept."""
    line_no = 0
    while True:
        raw = fh.readline(max_line_bytes + 2)  # room for "\r\n"
        if not raw:
            return
        line_no += 1
        if line_no == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        content = raw.rstrip(b"\r\n") if raw.endswith(b"\n") else raw
        if len(content) > max_line_bytes:
            raise ValueError(
                f"{p}, line {line_no}: the line is longer than {max_line_bytes} bytes; this is "
                "not a CSV file of numbers (or pass a larger max_line_bytes)."
            )
        yield line_no, content


def _sniff_delimiter(first: bytes) -> str:
    """``,`` where the first line has one, else ``;`` or a tab, whichever it has more of."""
    if b"," in first:
        return ","
    counts = {";": first.count(b";"), "\t": first.count(b"\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _rows(p: Any, fh: BinaryIO, delimiter: str, max_line_bytes: int,
          max_fields: int) -> Iterator[tuple[int, list[str]]]:
    """``(line number, stripped fields)`` of every non-blank line."""
    sep = delimiter.encode()
    for line_no, content in _lines(p, fh, max_line_bytes):
        n_fields = content.count(sep) + 1
        if n_fields > max_fields:
            raise ValueError(
                f"{p}, line {line_no}: the line has more than {max_fields} fields "
                f"({n_fields}); pass a larger max_fields if that is meant."
            )
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as err:
            column = content[:err.start].count(sep)
            raise ValueError(
                f"{p}, line {line_no}, column {column}: the bytes "
                f"{content[err.start:err.end].hex(' ')} (byte {err.start + 1} of the line) are "
                "not UTF-8; save the file as UTF-8."
            ) from None
        if '"' in text:
            try:
                fields = next(csv.reader([text], delimiter=delimiter, strict=True))
            except csv.Error as err:
                raise ValueError(f"{p}, line {line_no}: {err}; a quoted field must close on "
                                 "its own line.") from None
        else:
            fields = text.split(delimiter)
        fields = [f.strip() for f in fields]
        if not any(fields):
            continue
        yield line_no, fields


class _Table:
    """Rows of feature floats collected in float64 blocks of about 4 MiB, each row checked as it
    comes; the target column's fields kept as text until they are all read (:meth:`target_values`
    reads them exactly: integers as integers, text as class labels)."""

    def __init__(self, p: Any, n_cols: int, names: list[str] | None, first_line: int,
                 target: int, keep: list[int] | None = None):
        self.p, self.n_cols, self.names, self.first_line = p, n_cols, names, first_line
        self.t = target  # n_cols: no target column
        self.features = keep if keep is not None else [j for j in range(n_cols) if j != target]
        self.every_other = keep is None  # the features are every column but the target
        self.blocks: list[np.ndarray] = []
        self.filled = 0
        self.limit: float | None = None
        self.target_fields: list[str] = []
        self.target_kind: tuple[bool, int, str] | None = None  # (a number?, line, field)

    def limit_features(self, dtype: Any) -> None:
        """Refuse feature values beyond the range of ``dtype``."""
        self.dtype = np.dtype(dtype)
        self.limit = float(np.finfo(self.dtype).max)

    def append(self, line: int, row: list[str]) -> None:
        if len(row) != self.n_cols:
            raise ValueError(
                f"{self.p}, line {line}: expected {self.n_cols} fields (as in line "
                f"{self.first_line}), got {len(row)}; check for a stray or missing delimiter."
            )
        if self.t < self.n_cols:
            self._target(line, row[self.t])
        if not self.every_other:
            row = [row[j] for j in self.features]
        elif self.t < self.n_cols:
            row = row[:self.t] + row[self.t + 1:]
        if not self.blocks or self.filled == len(self.blocks[-1]):
            rows = max(1, _BLOCK_BYTES // (8 * max(1, len(self.features))))
            self.blocks.append(np.empty((rows, len(self.features))))
            self.filled = 0
        values = self.blocks[-1][self.filled]
        try:
            values[:] = [float(f) for f in row]
            ok = bool(np.all(np.isfinite(values)))
        except ValueError:
            ok = False
        if not ok:
            self._explain(line, row)
        if self.limit is not None and values.size and np.max(np.abs(values)) > self.limit:
            self._beyond_range(line, values)
        self.filled += 1

    def _target(self, line: int, field: str) -> None:
        """Keep the target's ``field``; refuse a missing or infinite one, or one of the other
        kind than the first (text among numbers, a number among text labels)."""
        where = f"{self.p}, line {line}, {self._column(self.t)}"
        if field.lower() in _MISSING_TOKENS:
            raise ValueError(f"{where}: missing value {field!r}; expected a class label or a "
                             "number. Fill in or drop the row.")
        number = _is_number(field)
        if number and not math.isfinite(float(field)):
            raise ValueError(f"{where}: value {field!r} is not finite; expected a finite "
                             "number.")
        if self.target_kind is None:
            self.target_kind = (number, line, field)
        elif number != self.target_kind[0]:
            first = f"{_short(self.target_kind[2])} on line {self.target_kind[1]}"
            if number:
                raise ValueError(f"{where}: the number {_short(field)} in a target column of "
                                 f"text class labels (such as {first}); a column holds text "
                                 "labels or numbers, not both. Fix the value.")
            raise ValueError(f"{where}: non-numeric value {_short(field)} in a target column "
                             f"of numbers (such as {first}); a column holds text class labels "
                             "or numbers, not both. Fix the value.")
        self.target_fields.append(field)

    def target_values(self) -> np.ndarray:
        """The target column, read exactly.

        Text: class labels, a str array. Integers (``"100000000000000001"``): int64, or an
        object array of Python ints beyond int64, never through float. Other numbers: float64,
        as int64 when every value is a whole number of magnitude at most ``2**53``
        (``"3.0"``) and so stored exactly."""
        fields = self.target_fields
        if self.target_kind is not None and not self.target_kind[0]:
            return np.array(fields, dtype=str)
        try:
            ints = [int(f) for f in fields]
        except ValueError:
            y = np.array([float(f) for f in fields])
            whole = np.all(y == np.round(y)) and np.all(np.abs(y) <= MAX_EXACT_INT)
            return y.astype(np.int64) if whole else y
        if all(INT64_MIN <= v <= INT64_MAX for v in ints):
            return np.array(ints, dtype=np.int64)
        return np.array(ints, dtype=object)

    def _beyond_range(self, line: int, values: np.ndarray) -> None:
        assert self.limit is not None
        for j, v in zip(self.features, values.tolist()):
            if abs(v) > self.limit:
                raise ValueError(f"{self.p}, line {line}, {self._column(j)}: "
                                 f"{beyond_range(v, self.dtype)}")

    def _explain(self, line: int, row: list[str]) -> None:
        for j, field in zip(self.features, row):
            where = f"{self.p}, line {line}, {self._column(j)}"
            if field.lower() in _MISSING_TOKENS:
                raise ValueError(f"{where}: missing value {field!r}; expected a number. Fill in "
                                 "or drop the row.")
            try:
                v = float(field)
            except ValueError:
                raise ValueError(f"{where}: non-numeric value {_short(field)}; expected a "
                                 "number. Encode categories as numbers first.") from None
            if not math.isfinite(v):
                raise ValueError(f"{where}: value {field!r} is not finite; expected a finite "
                                 "number.")
        raise AssertionError("unreachable: every field is a finite number")  # pragma: no cover

    def _column(self, j: int) -> str:
        return f"column {j} ({self.names[j]!r})" if self.names else f"column {j}"

    def values(self) -> np.ndarray:
        if not self.blocks:
            return np.empty((0, len(self.features)))
        self.blocks[-1] = self.blocks[-1][:self.filled]
        return self.blocks[0] if len(self.blocks) == 1 else np.concatenate(self.blocks)


def _short(field: str) -> str:
    text = repr(field)
    return text if len(text) <= 60 else text[:57] + "...'"
