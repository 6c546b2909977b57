"""Where each step of :func:`glassnet.explain` lies on the playground's diagram.

The page draws the network as columns: column 0 the input features, column ``l`` the neurons
of layer ``l`` (explain's label ``l``; a residual block's inner layers ``l.1, l.2`` are drawn
as its column), and the weights ``W^l`` as the links into column ``l``. :func:`diagram` reads
each step's symbols (its ``uses``, the right-hand side, and its left-hand side, the result)
and says which neurons and links the equation touches. The numbers are never recomputed: the
page shows the result's values from the same step's ``to_dict()``, under ``result['key']``.

Symbols and what they are on the diagram:

============================================================  ==============================
``x``, ``a^0``, ``dC/dx``                                       the input neurons (column 0)
``b^l, z^l, a^l, F^l, s^l, delta^l, delta_s^l, dC/da^l, dC/db^l``  the neurons of column ``l``
``W^l``, ``dC/dW^l``                                            the links into column ``l``
``y``, ``C``                                                    the output column ``L``
============================================================  ==============================

A residual block's identity-skip steps (the sum ``a^l = a^{l-1} + F^l`` and the gradient
``dC/da^{l-1} = dC/da^l + (W^l)^T delta^l``) also mark the skip into column ``l``.
"""

from __future__ import annotations

import re
from typing import Any

from ..explanation import BlockTrace, Explanation, Step

__all__ = ["diagram", "place"]

_SYMBOL = re.compile(r"^(?:dC/d)?(?P<base>[A-Za-z_]+)\^(?P<label>\d+)(?:\.\d+)*$")
_NEURONS = {"a", "b", "z", "F", "s", "delta", "delta_s"}
_SKIP_QUANTITIES = {"sum", "skip", "grad_x"}


def place(symbol: str, L: int) -> tuple[str, int] | None:
    """``('neurons', column)``, ``('links', column)`` or ``('scalar', L)`` for a symbol of a
    network of ``L`` layers; None for a symbol the diagram has no place for."""
    if symbol in ("x", "dC/dx"):
        return ("neurons", 0)
    if symbol == "y":
        return ("neurons", L)
    if symbol == "C":
        return ("scalar", L)
    match = _SYMBOL.match(symbol)
    if match is None:
        return None
    base, column = match["base"], int(match["label"])
    if base == "W":
        return ("links", column)
    return ("neurons", column) if base in _NEURONS else None


def _result_key(step: Step) -> str:
    """The left-hand side of the step's equation, as the key of its value in ``values``."""
    lhs = re.split(r" = | <- ", step.rule, maxsplit=1)[0].strip()
    for key in step.values:
        if key == lhs or key.startswith(lhs + " ("):  # 'W^2 (new)' for the update W^2 <- ...
            return key
    raise ValueError(f"Step {step.index} ({step.rule!r}) has no value for its left-hand side "
                     f"{lhs!r}; its values are {list(step.values)}.")


def diagram(e: Explanation) -> list[dict[str, Any]]:
    """For each of ``e.steps()``: the neurons and links it touches, and where its result goes.

    Returns
    -------
    list of dict
        One per step: ``neurons`` (the columns whose neurons the right-hand side uses),
        ``links`` (the columns whose incoming weights it uses), ``skip`` (the column a residual
        block's identity skip enters, or None), and ``result``: ``{"key", "on", "column"}``,
        the key of the result in the step's values and where it is drawn (``on`` is
        ``'neurons'``, ``'links'`` or ``'scalar'``).
    """
    L = e.L
    blocks = {unit.label for unit in e.units if isinstance(unit, BlockTrace)}
    out = []
    for step in e.steps():
        key = _result_key(step)
        lhs = key.split(" (")[0]
        where = place(lhs, L)
        if where is None:
            raise ValueError(f"Step {step.index} ({step.rule!r}): no place on the diagram for "
                             f"{lhs!r}.")
        neurons: list[int] = []
        links: list[int] = []
        for symbol in step.uses:
            used = place(symbol, L)
            if used is None:
                continue
            target = links if used[0] == "links" else neurons
            if used[1] not in target:
                target.append(used[1])
        skip = (int(step.layer) if step.quantity in _SKIP_QUANTITIES and step.layer in blocks
                else None)
        out.append({"neurons": sorted(neurons), "links": sorted(links), "skip": skip,
                    "result": {"key": key, "on": where[0], "column": where[1]}})
    return out
