"""Numbers written out: vectors and matrices as text, LaTeX and JSON, in full or summarised.

:func:`glassnet.explain`, the worksheets and the backprop checker write every quantity with
these helpers, so that one network's numbers read the same everywhere. An array whose longest
side has at most :data:`MAX_UNITS` entries is written in full; a longer one (a wide layer) as a
summary: its norm and its few largest entries, each with its index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MAX_UNITS", "fmt", "is_small", "jsonable", "largest", "tex", "tex_sym", "text"]

MAX_UNITS = 16
"""Arrays with at most this many rows and columns are written in full."""
N_LARGEST = 3
"""How many of a wide array's largest entries a summary names."""
MAX_JSON_ENTRIES = 4096
"""``jsonable`` includes every value of arrays up to this size."""


def fmt(value: float, digits: int = 6) -> str:
    """``value`` to ``digits`` significant digits (``0.3775``, ``-0.0196407``, ``1.2e-08``)."""
    return f"{float(value):.{digits}g}"


def is_small(*arrays: np.ndarray) -> bool:
    """Whether every array is short enough to write in full."""
    return all(max(np.shape(a), default=1) <= MAX_UNITS for a in arrays)


def largest(arr: np.ndarray, k: int = N_LARGEST) -> list[tuple[tuple[int, ...], float]]:
    """The ``k`` entries of largest magnitude, as ``(index, value)``, largest first (0-based)."""
    flat = np.abs(np.asarray(arr, dtype=np.float64)).ravel()
    order = np.argsort(-flat, kind="stable")[:k]
    return [(tuple(int(i) for i in np.unravel_index(o, np.shape(arr))), float(np.ravel(arr)[o]))
            for o in order]


def _index(idx: tuple[int, ...]) -> str:
    return ",".join(str(i + 1) for i in idx)


def text(arr: Any, name: str = "", digits: int = 6) -> str:
    """A vector ``[a, b]`` or matrix ``[[a, b], [c, d]]``; a wide one summarised under ``name``."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 0:
        return fmt(arr, digits)
    if not is_small(arr):
        norm = "||" + (name or ".") + "||"
        top = ", ".join(f"[{_index(i)}] {fmt(v)}" for i, v in largest(arr))
        shape = "x".join(map(str, arr.shape))
        return f"({norm} = {fmt(np.linalg.norm(arr))}; largest of {shape}: {top})"
    if arr.ndim == 1:
        return "[" + ", ".join(fmt(v, digits) for v in arr) + "]"
    return "[" + ", ".join(text(row, digits=digits) for row in arr) + "]"


def tex_sym(base: str, label: str) -> str:
    """``a^{2}``; an empty label gives ``base`` alone."""
    return f"{base}^{{{label}}}" if label else base


def tex(arr: Any, name: str = r"\cdot", digits: int = 6) -> str:
    """A column vector or matrix as a LaTeX ``bmatrix``; a wide one summarised under ``name``."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 0:
        return fmt(arr, digits)
    if not is_small(arr):
        top = r",\ ".join(f"({name})_{{{_index(i)}}} = {fmt(v)}" for i, v in largest(arr))
        shape = r" \times ".join(map(str, arr.shape))
        return (rf"\left(\lVert {name} \rVert = {fmt(np.linalg.norm(arr))};\ "
                rf"\text{{largest of }} {shape}:\ {top}\right)")
    if arr.ndim == 1:
        return r"\begin{bmatrix}" + r" \\ ".join(fmt(v, digits) for v in arr) + r"\end{bmatrix}"
    return (r"\begin{bmatrix}" + r" \\ ".join(" & ".join(fmt(v, digits) for v in row)
                                              for row in arr) + r"\end{bmatrix}")


def jsonable(arr: Any) -> dict[str, Any]:
    """``{"shape", "norm", "largest", "values"}``: plain Python numbers, non-finite ones as None.

    ``largest`` lists ``{"index": [...], "value": v}`` with 0-based indices; ``values`` (the
    nested list) is there for arrays of at most ``MAX_JSON_ENTRIES`` entries.
    """
    arr = np.asarray(arr, dtype=np.float64)
    finite = np.where(np.isfinite(arr), arr, 0.0)
    out: dict[str, Any] = {
        "shape": list(arr.shape),
        "norm": float(np.linalg.norm(finite)),
        "largest": [{"index": list(i), "value": _num(v)} for i, v in largest(finite)],
    }
    if arr.size <= MAX_JSON_ENTRIES:
        out["values"] = _nested(arr)
    return out


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _nested(arr: np.ndarray) -> Any:
    if arr.ndim == 0:
        return _num(float(arr))
    return [_nested(row) for row in arr]
