"""What :func:`glassnet.explain` returns: the traced quantities, the steps, their rendering.

:class:`Explanation` holds, for one sample, every Dense layer's ``z``, ``a``, ``delta``, ``dW``,
``db`` (:class:`LayerTrace`), the residual blocks (:class:`BlockTrace`) and the derivation as
:class:`Step` objects, one equation each; ``text()`` and ``markdown()`` write the steps out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import notation as nt

__all__ = ["BlockTrace", "Explanation", "LayerTrace", "Step"]

_SYMBOLS = {"sigmoid": ("σ", r"\sigma"), "tanh": ("tanh", r"\tanh"),
            "identity": ("id", r"\operatorname{id}")}
_LOSS_TEXT = {
    "mse": ("C = 1/2 ||a^L - y||^2", r"C = \tfrac{1}{2}\lVert a^{L} - y \rVert^{2}"),
    "cross_entropy": ("C = -Σ_j y_j log a^L_j", r"C = -\sum_j y_j \log a^{L}_j"),
    "binary_cross_entropy": ("C = -Σ_j [y_j log a^L_j + (1 - y_j) log(1 - a^L_j)]",
                             r"C = -\sum_j \left[y_j \log a^{L}_j + (1 - y_j)"
                             r"\log(1 - a^{L}_j)\right]"),
    "huber": ("C = Σ_j huber(a^L_j - y_j)", r"C = \sum_j \operatorname{huber}(a^{L}_j - y_j)"),
}
_HEADINGS = {
    "forward": ("Forward pass:  z^l = W^l a^(l-1) + b^l,  a^l = f(z^l)", "Forward pass"),
    "loss": ("", ""),
    "backward": ("Backward pass:  delta^l = dC/dz^l", "Backward pass"),
    "gradient": ("Gradients:  dC/dW^l = delta^l (a^(l-1))^T,  dC/db^l = delta^l  "
                 "(finite difference in brackets)", "Gradients"),
    "input": ("Input gradient:", "Input gradient"),
    "update": ("", "Gradient descent"),
}



def _number(value: float) -> float | None:
    """A float for JSON: NaN and infinity (not JSON numbers) become None, as in ``jsonable``."""
    value = float(value)
    return value if np.isfinite(value) else None


def _symbol(activation: str) -> tuple[str, str]:
    """(text, LaTeX) of an activation: ``('σ', r'\\sigma')``, else its name."""
    return _SYMBOLS.get(activation, (activation, rf"\operatorname{{{activation}}}"))


def _sym(base: str, label: str) -> tuple[str, str]:
    """(text, LaTeX) of ``base^label``."""
    return (f"{base}^{label}" if label else base), nt.tex_sym(base, label)


@dataclass
class LayerTrace:
    """Every quantity of one Dense layer (column vectors stored as 1-D arrays)."""

    label: str
    """``'2'``; inside residual block 3 with several layers ``'3.1'``, ``'3.2'``."""
    activation: str
    W: np.ndarray
    b: np.ndarray
    a_prev: np.ndarray
    z: np.ndarray
    a: np.ndarray
    fprime: np.ndarray
    """``f'(z)``, the diagonal of ``da/dz`` (for softmax, only its diagonal)."""
    delta: np.ndarray
    dW: np.ndarray
    db: np.ndarray
    src: tuple[str, str] = ("a", "0")
    """The symbol of ``a_prev`` as (base, label): ``('a', '1')`` is ``a^1``."""
    out: tuple[str, str] = ("a", "1")
    """The symbol of ``a``: ``('a', '2')``, or ``('F', '3')`` for a residual branch."""
    dW_numeric: np.ndarray = field(default_factory=lambda: np.empty(0))
    """Central finite differences of ``dW``; NaN where not computed (wide layers)."""
    db_numeric: np.ndarray = field(default_factory=lambda: np.empty(0))
    W_new: np.ndarray = field(default_factory=lambda: np.empty(0))
    b_new: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def symbol(self) -> tuple[str, str]:
        return _symbol(self.activation)


@dataclass
class BlockTrace:
    """A residual block ``a^l = a^{l-1} + F^l(a^{l-1})``; ``F^l`` is its Dense layers."""

    label: str
    inner: list[LayerTrace]
    x: np.ndarray
    F: np.ndarray
    a: np.ndarray
    activation: str | None = None
    """An activation after the sum, ``a^l = f(s^l)`` with ``s^l = a^{l-1} + F^l`` (None: none)."""
    s: np.ndarray | None = None
    fprime: np.ndarray | None = None
    delta: np.ndarray | None = None
    """``dC/ds^l`` when there is an activation after the sum."""


@dataclass
class Step:
    """One equation of the derivation with its numbers.

    ``phase`` is ``'forward'``, ``'loss'``, ``'backward'``, ``'gradient'``, ``'input'`` or
    ``'update'``; ``layer`` the layer label (``''`` for the loss); ``quantity`` what the step
    computes (``'z'``, ``'a'``, ``'sum'``, ``'C'``, ``'delta'``, ``'skip'``, ``'dW'``, ``'db'``,
    ``'grad_x'``, ``'W'``, ``'b'``); ``uses`` the symbols on the right-hand side; ``values`` the
    arrays the step shows, by symbol.
    """

    phase: str
    layer: str
    quantity: str
    rule: str
    text: list[str]
    latex: str
    values: dict[str, np.ndarray]
    uses: list[str] = field(default_factory=list)
    note: str = ""
    table: list[tuple[str, float, float]] = field(default_factory=list)
    """Gradient steps: ``(entry, back-propagation, finite difference)`` rows."""
    index: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON-able data; arrays through :func:`glassnet.notation.jsonable`."""
        return {"index": self.index, "phase": self.phase, "layer": self.layer,
                "quantity": self.quantity, "rule": self.rule, "text": list(self.text),
                "latex": self.latex, "uses": list(self.uses), "note": self.note,
                "values": {k: nt.jsonable(v) for k, v in self.values.items()},
                "table": [{"entry": e, "backprop": _number(g), "finite_difference": _number(n)}
                          for e, g, n in self.table]}


@dataclass
class Explanation:
    """The worked derivation: ``steps()`` one equation at a time; ``text()``, ``markdown()``."""

    x: np.ndarray
    y: np.ndarray
    sizes: list[int]
    loss_name: str
    fused: bool
    loss: float
    loss_after: float
    learning_rate: float
    layers: list[LayerTrace]
    """Every Dense layer, those inside residual blocks included, in forward order."""
    units: list[LayerTrace | BlockTrace]
    """The network's layers as traced: Dense layers and residual blocks (Dropout left out)."""
    input_grad: np.ndarray
    """``dC/dx`` from the network's own backward pass."""
    grad_a: np.ndarray | None = None
    """``∇_a C`` at the output (None for the fused losses)."""
    notes: list[str] = field(default_factory=list)
    _steps: list[Step] = field(default_factory=list, repr=False)

    @property
    def L(self) -> int:
        return len(self.units)

    def steps(self) -> list[Step]:
        """The derivation as steps: forward ``z``, ``a`` per layer, the loss, ``delta^L``,
        ``delta^l`` (and the identity-skip sums), ``dW``, ``db``, ``dC/dx``, the update."""
        return list(self._steps)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-able data: the network's sizes, the sample, the loss, the steps."""
        return {"sizes": list(self.sizes), "loss_name": self.loss_name, "fused": self.fused,
                "x": nt.jsonable(self.x), "y": nt.jsonable(self.y), "loss": _number(self.loss),
                "loss_after": _number(self.loss_after), "learning_rate": self.learning_rate,
                "notes": list(self.notes), "steps": [s.to_dict() for s in self._steps]}

    def _title(self) -> str:
        return "-".join(map(str, self.sizes))

    def text(self) -> str:
        """The derivation as plain text (Unicode symbols, 6 significant digits)."""
        out = [f"Back-propagation worked out for one sample: network {self._title()}, loss "
               f"{self.loss_name}", *self.notes, "", f"x = a^0 = {nt.text(self.x, 'x')}",
               f"y = {nt.text(self.y, 'y')}"]
        phase = None
        for step in self._steps:
            if step.phase != phase:
                phase = step.phase
                heading = _HEADINGS[phase][0]
                if phase == "update":
                    heading = (f"Gradient descent, learning rate eta = {self.learning_rate:g}:  "
                               "W^l <- W^l - eta dC/dW^l,  b^l <- b^l - eta dC/db^l")
                out += ["", heading] if heading else [""]
            indent = "" if phase == "loss" else "  "
            out += [indent + line for line in step.text]
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        """The derivation as Markdown, each step an equation in ``$$ ... $$`` LaTeX."""
        md = ["# Back-propagation, worked for one sample", "",
              f"Network {self._title()}, loss `{self.loss_name}`. Column vectors; $a^{{0}} = x$.",
              "", *(f"{note}\n" for note in self.notes),
              f"$$x = a^{{0}} = {nt.tex(self.x, 'x')}, \\qquad y = {nt.tex(self.y, 'y')}$$", ""]
        phase = None
        for step in self._steps:
            if step.phase != phase:
                phase = step.phase
                heading = _HEADINGS[phase][1]
                if heading:
                    md += [f"## {heading}", ""]
                if phase == "backward":
                    md += [r"$\delta^{l} = \partial C / \partial z^{l}$.", ""]
                if phase == "gradient":
                    md += ["Each entry beside its central finite difference.", ""]
                if phase == "update":
                    md += [f"Learning rate $\\eta = {self.learning_rate:g}$.", ""]
            if step.note:
                md += [step.note, ""]
            md += [f"$${step.latex}$$", ""]
            if step.table:
                md += ["| entry | back-propagation | finite difference |", "|---|---|---|"]
                md += [f"| ${e}$ | {g:.6e} | {n:.6e} |" for e, g, n in step.table]
                md.append("")
        md += [f"Loss before the step {self.loss:.6g}, after {self.loss_after:.6g}.", ""]
        return "\n".join(md)

    def __str__(self) -> str:
        return self.text()

    def _repr_markdown_(self) -> str:
        from .display import explanation_markdown
        return explanation_markdown(self)

    def _repr_latex_(self) -> str:
        from .display import explanation_latex
        return explanation_latex(self)
