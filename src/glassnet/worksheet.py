"""Back-propagation worksheets: an exercise on a small network and its full solution.

:func:`make_worksheet` draws a network's weights, an input and a target from a grid of
multiples of 0.1 (so the givens are short to write), and the solution is glassnet's own forward
and backward pass on them (:func:`glassnet.explain`), to 4 significant digits. The questions
follow the derivation: the forward pass and the loss, ``delta^L``, the deltas of the hidden
layers, the gradients, and one gradient-descent step. Each part is Markdown with LaTeX, and a
PDF typeset with matplotlib's mathtext when matplotlib is installed.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import notation as nt
from .explain import Explanation, explain
from .layers import Dense
from .losses import get_loss
from .network import Network

__all__ = ["DIGITS", "Worksheet", "make_worksheet"]

DIGITS = 4
"""Significant digits of the solution's numbers."""
_SYMBOL = {"sigmoid": r"\sigma", "tanh": r"\tanh", "identity": r"\mathrm{id}",
           "relu": r"\mathrm{relu}", "softmax": r"\mathrm{softmax}"}
_LOSS = {"mse": r"C = \frac{1}{2}\|a^{L} - y\|^{2}",
         "cross_entropy": r"C = -\sum_j y_j \log a^{L}_j",
         "binary_cross_entropy": r"C = -\sum_j [y_j \log a^{L}_j + (1 - y_j) \log(1 - a^{L}_j)]",
         "huber": r"C = \sum_j \mathrm{huber}(a^{L}_j - y_j)"}


def _output(activation: str, loss: str) -> str:
    required = get_loss(loss).output_activation
    if required:
        return required
    return activation if activation in ("sigmoid", "tanh") else "identity"


def make_worksheet(seed: int = 0, sizes: Any = (2, 3, 2), activation: str = "sigmoid",
                   loss: str = "mse", learning_rate: float = 0.5) -> "Worksheet":
    """A worksheet on a ``sizes`` network with weights, input and target drawn from ``seed``.

    Parameters
    ----------
    seed : int, default=0
        Different seeds give different numbers.
    sizes : sequence of int, default=(2, 3, 2)
        Input first; at most 6 units per layer and 4 layers keep it a worksheet.
    activation : str, default='sigmoid'
        Of the hidden layers (and of the output for mse with sigmoid or tanh).
    loss : {'mse', 'cross_entropy', 'binary_cross_entropy', 'huber'}, default='mse'
    learning_rate : float, default=0.5

    Raises
    ------
    ValueError
        For a network too big for a worksheet, or a seed that is not an integer >= 0.

    Examples
    --------
    >>> w = make_worksheet(seed=1)
    >>> w.network.sizes
    [2, 3, 2]
    >>> "## Questions" in w.exercise_markdown()
    True
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or len(sizes) > 5 or max(sizes) > 6 or min(sizes) < 1:
        raise ValueError(f"A worksheet needs 2 to 5 layer sizes of 1 to 6 units (the numbers "
                         f"are worked by hand); got {','.join(map(str, sizes))}. Try 2,3,2.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"The 'seed' parameter of make_worksheet must be an int >= 0; "
                         f"got {seed!r}.")
    rng = np.random.default_rng(seed)
    out = _output(activation, loss)

    def grid(shape: Any, low: int, high: int, nonzero: bool = False) -> np.ndarray:
        values = [v for v in range(low, high + 1) if v or not nonzero]
        return rng.choice(values, size=shape) / 10

    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layer = Dense(n_in, n_out, out if i == len(sizes) - 2 else activation, init="zeros",
                      dtype="float64")
        layer.W[...] = grid((n_out, n_in), -9, 9, nonzero=True)
        layer.b[...] = grid(n_out, -5, 5)
        layers.append(layer)
    net = Network(layers, loss=loss, dtype="float64")
    x = grid(sizes[0], -10, 10)
    n_out = sizes[-1]
    if loss == "cross_entropy":
        y: Any = int(rng.integers(0, n_out))
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, n_out).astype(np.float64)
    elif out == "sigmoid":
        y = grid(n_out, 0, 10)
    else:
        y = grid(n_out, -10, 10)
    return Worksheet(seed, net, x, y, explain(net, x, y, learning_rate=learning_rate))


@dataclass
class Worksheet:
    """The exercise and its solution; the numbers are the engine's (``explanation``)."""

    seed: int
    network: Network
    x: np.ndarray
    y: Any
    explanation: Explanation

    # ---------------------------------------------------------------- content
    def _blocks(self, solution: bool) -> list[tuple[str, Any]]:
        """The document as blocks: ('h1'|'h2'|'p', text) or ('eq', (LaTeX, [mathtext lines]))."""
        e, net = self.explanation, self.network
        L = len(e.layers)
        acts = sorted({t.activation for t in e.layers[:-1]})
        title = "Solution" if solution else "Exercise"
        blocks: list[tuple[str, Any]] = [
            ("h1", f"Back-propagation worksheet {self.seed}: {title.lower()}"),
            ("p", f"A {'-'.join(map(str, net.sizes))} network: hidden layers "
                  f"{', '.join(acts) or '(none)'}, output {e.layers[-1].activation}, loss "
                  f"{e.loss_name}. Column vectors; a^0 = x, z^l = W^l a^(l-1) + b^l, "
                  f"a^l = f(z^l), delta^l = dC/dz^l."),
            ("eq", (_LOSS[e.loss_name].replace("{L}", f"{{{L}}}"),
                    [_LOSS[e.loss_name].replace("{L}", f"{{{L}}}")])),
            ("h2", "Given")]
        for t in e.layers:
            blocks.append(("eq", _matrix(f"W^{{{t.label}}}", t.W)))
            blocks.append(("eq", _vector(f"b^{{{t.label}}}", t.b)))
        blocks += [("eq", _vector("x = a^{0}", e.x)), ("eq", _vector("y", e.y)),
                   ("p", f"Learning rate eta = {e.learning_rate:g}. Give every number to "
                         f"{DIGITS} significant digits."), ("h2", "Questions")]
        questions = self._questions()
        if not solution:
            return blocks + [("p", f"{i}. {q}") for i, (q, _) in enumerate(questions, 1)]
        blocks[-1] = ("h2", "Answers")
        for i, (q, answers) in enumerate(questions, 1):
            blocks.append(("p", f"{i}. {q}"))
            blocks += [("eq", a) for a in answers]
        return blocks

    def _questions(self) -> list[tuple[str, list[tuple[str, list[str]]]]]:
        e = self.explanation
        L, ts = len(e.layers), e.layers
        f = _SYMBOL
        forward = []
        for t in ts:
            s = f.get(t.activation, rf"\mathrm{{{t.activation}}}")
            forward.append(_vector(f"z^{{{t.label}}} = W^{{{t.label}}} a^{{{int(t.label) - 1}}} "
                                   f"+ b^{{{t.label}}}", t.z))
            forward.append(_vector(f"a^{{{t.label}}} = {s}(z^{{{t.label}}})", t.a))
        loss = _LOSS[e.loss_name].replace("{L}", f"{{{L}}}")
        value = f"{loss} = {nt.fmt(e.loss, DIGITS)}"
        forward.append((value, [value]))
        out = ts[-1]
        s_out = f.get(out.activation, out.activation)
        if e.fused:
            rule, how = rf"\delta^{{{L}}} = a^{{{L}}} - y", (
                f"the output delta^{L} = dC/dz^{L} (for {out.activation} with "
                f"{e.loss_name.replace('_', ' ')} it simplifies to a^{L} - y)")
        elif e.loss_name == "mse":
            rule = rf"\delta^{{{L}}} = (a^{{{L}}} - y) \odot {s_out}'(z^{{{L}}})"
            how = f"the output delta^{L} = dC/dz^{L}"
        else:
            rule = rf"\delta^{{{L}}} = \nabla_a C \odot {s_out}'(z^{{{L}}})"
            how = f"the output delta^{L} = dC/dz^{L}"
        deltas = []
        for t in reversed(ts[:-1]):
            nxt = ts[int(t.label)]
            s = f.get(t.activation, t.activation)
            deltas.append(_vector(rf"\delta^{{{t.label}}} = ((W^{{{nxt.label}}})^{{T}} "
                                  rf"\delta^{{{nxt.label}}}) \odot {s}'(z^{{{t.label}}})", t.delta))
        grads = []
        for t in reversed(ts):
            src = f"a^{{{int(t.label) - 1}}}"
            grads.append(_matrix(rf"\frac{{\partial C}}{{\partial W^{{{t.label}}}}} = "
                                 rf"\delta^{{{t.label}}} ({src})^{{T}}", t.dW))
            grads.append(_vector(rf"\frac{{\partial C}}{{\partial b^{{{t.label}}}}} = "
                                 rf"\delta^{{{t.label}}}", t.db))
        step = []
        for t in ts:
            step.append(_matrix(rf"W^{{{t.label}}} \leftarrow W^{{{t.label}}} - \eta "
                                rf"\frac{{\partial C}}{{\partial W^{{{t.label}}}}}", t.W_new))
            step.append(_vector(rf"b^{{{t.label}}} \leftarrow b^{{{t.label}}} - \eta "
                                rf"\frac{{\partial C}}{{\partial b^{{{t.label}}}}}", t.b_new))
        after = f"C after the step = {nt.fmt(e.loss_after, DIGITS)}"
        step.append((rf"\text{{{after}}}", [after.replace(" ", r"\ ")]))
        layers = ", ".join(f"z^{t.label}, a^{t.label}" for t in ts)
        hidden = ", ".join(f"delta^{t.label}" for t in reversed(ts[:-1]))
        return [
            (f"Forward pass: compute {layers} and the loss C.", forward),
            (f"Compute {how}.", [_vector(rule, out.delta)]),
            *([(f"Back-propagate: compute {hidden} with delta^l = ((W^(l+1))^T delta^(l+1)) ⊙ "
                "f'(z^l).", deltas)] if deltas else []),
            ("Compute the gradients dC/dW^l = delta^l (a^(l-1))^T and dC/db^l = delta^l of "
             "every layer.", grads),
            (f"Take one gradient-descent step with eta = {e.learning_rate:g}: the new W^l and "
             "b^l, and the loss after the step.", step),
        ]

    # ---------------------------------------------------------------- Markdown
    def _markdown(self, solution: bool) -> str:
        out = []
        for kind, content in self._blocks(solution):
            if kind == "h1":
                out += [f"# {content}", ""]
            elif kind == "h2":
                out += [f"## {content}", ""]
            elif kind == "p":
                out += [content, ""]
            else:
                out += [f"$${content[0]}$$", ""]
        return "\n".join(out)

    def exercise_markdown(self) -> str:
        """The givens and the questions, Markdown with ``$$ ... $$`` LaTeX."""
        return self._markdown(False)

    def solution_markdown(self) -> str:
        """The givens, the questions and every answer worked out."""
        return self._markdown(True)

    # ---------------------------------------------------------------- PDF
    def figures(self, solution: bool = True) -> list[Any]:
        """The pages as matplotlib Figures (A4), typeset with mathtext."""
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("the worksheet PDF needs matplotlib: pip install "
                              "'glassnet[plot]'") from None
        lines: list[tuple[str, float]] = []  # (text, font size)
        for kind, content in self._blocks(solution):
            if kind in ("h1", "h2"):
                lines += [("", 6), (content, 15 if kind == "h1" else 12.5)]
            elif kind == "p":
                lines += [(part, 10) for part in textwrap.wrap(content, 92)]
            else:
                lines += [(f"${m}$", 10.5) for m in content[1]]
        pages: list[Any] = []
        y = 0.0
        for text, size in lines:
            height = size * 2.0 / 842
            if not pages or y - height < 0.06:
                pages.append(Figure(figsize=(8.27, 11.69)))
                y = 0.95
            y -= height
            if text:
                pages[-1].text(0.08, y, text, fontsize=size, va="baseline",
                               weight="bold" if size > 11 else "normal")
        return pages

    def _pdf(self, solution: bool) -> bytes:
        pages = self.figures(solution)
        from matplotlib.backends.backend_pdf import PdfPages

        buf = io.BytesIO()
        with PdfPages(buf, metadata={"Title": self._blocks(solution)[0][1],
                                     "Creator": "glassnet worksheet"}) as pdf:
            for page in pages:
                pdf.savefig(page)
        return buf.getvalue()

    def exercise_pdf(self) -> bytes:
        """The exercise as a PDF, typeset with matplotlib's mathtext."""
        return self._pdf(False)

    def solution_pdf(self) -> bytes:
        """The solution as a PDF."""
        return self._pdf(True)

    # ---------------------------------------------------------------- data
    def to_dict(self) -> dict[str, Any]:
        """The givens and every answer at full precision (JSON-able)."""
        e = self.explanation
        layers = e.layers
        return {
            "seed": int(self.seed), "sizes": list(self.network.sizes),
            "activations": [t.activation for t in layers], "loss": e.loss_name,
            "learning_rate": e.learning_rate, "x": e.x.tolist(), "y": e.y.tolist(),
            "W": [t.W.tolist() for t in layers], "b": [t.b.tolist() for t in layers],
            "solution": {"z": [t.z.tolist() for t in layers], "a": [t.a.tolist() for t in layers],
                         "C": e.loss, "delta": [t.delta.tolist() for t in layers],
                         "dW": [t.dW.tolist() for t in layers],
                         "db": [t.db.tolist() for t in layers],
                         "W_new": [t.W_new.tolist() for t in layers],
                         "b_new": [t.b_new.tolist() for t in layers], "C_after": e.loss_after},
        }


def _vector(lhs: str, v: np.ndarray) -> tuple[str, list[str]]:
    """``lhs = (column vector)``: LaTeX, and one mathtext line (a transposed row)."""
    row = r",\ ".join(nt.fmt(x, DIGITS) for x in v)
    return (f"{lhs} = {nt.tex(v, digits=DIGITS)}", [rf"{lhs} = [{row}]^{{T}}"])


def _matrix(lhs: str, M: np.ndarray) -> tuple[str, list[str]]:
    """``lhs = (matrix)``: LaTeX, and mathtext lines (one row each)."""
    rows = [r"[" + r",\ ".join(nt.fmt(x, DIGITS) for x in row) + "]" for row in M]
    lines = [f"{lhs} = {rows[0]}"] + [r"\qquad" + r"\ " * 4 + r for r in rows[1:]]
    return (f"{lhs} = {nt.tex(M, digits=DIGITS)}",
            lines if len(rows) > 1 else [f"{lhs} = {rows[0]}"])
