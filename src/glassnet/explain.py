"""The derivation, worked with a network's actual numbers for one sample, one step at a time.

:func:`explain` runs one forward and one backward pass of the network (on a float64 copy, in
inference mode) for a single sample, copies every quantity the layers cached (``z``, ``a``,
``delta``, ``dW``, ``db``) and the input gradient, and writes the derivation out in its
column-vector notation (``a^0 = x``, layers ``l = 1..L``):

* forward: ``z^l = W^l a^{l-1} + b^l``, ``a^l = f(z^l)``; a residual block adds its input,
  ``a^l = a^{l-1} + F^l`` with ``F^l = f(z^l)``;
* output layer: ``delta^L = (a^L - y) ⊙ f'(z^L)`` for mse (in general ``∇_a C ⊙ f'(z^L)``), or
  the fused ``delta^L = a^L - y`` for softmax + cross-entropy and sigmoid + binary
  cross-entropy;
* hidden layers: ``delta^l = ((W^{l+1})^T delta^{l+1}) ⊙ f'(z^l)``; below a residual block the
  identity skip adds its term, ``dC/da^{l-1} = dC/da^l + (W^l)^T delta^l``;
* gradients ``dC/dW^l = delta^l (a^{l-1})^T``, ``dC/db^l = delta^l`` beside central finite
  differences; the input gradient ``dC/dx``; one gradient-descent step.

:meth:`Explanation.steps` lists these as :class:`Step` objects, one equation each, with the
numbers (JSON-able through ``to_dict``); ``text`` and ``markdown`` write them out. A layer wider
than ``MAX_UNITS`` is summarised: norms and its largest entries instead of every number. With
one sample the batch mean ``1/n`` is 1. Dropout is the identity outside training; a weight
penalty is left out (the derivation's ``C`` is the data loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import notation as nt
from .device import to_numpy
from .layers import Dense

if TYPE_CHECKING:
    from .network import Network

__all__ = ["MAX_UNITS", "BlockTrace", "Explanation", "LayerTrace", "Step", "default_network",
           "explain"]

MAX_UNITS = nt.MAX_UNITS
"""Layers with at most this many inputs and units are written out in full; wider ones summarised."""

# The classic 2-3-2 sigmoid example (also tests/test_derivation.py).
DEFAULT_X = [0.05, 0.10]
DEFAULT_Y = [0.01, 0.99]
DEFAULT_WEIGHTS = [
    ([[0.15, 0.20], [0.25, 0.30], [0.35, 0.40]], [0.35, 0.35, 0.35]),
    ([[0.40, 0.45, 0.50], [0.55, 0.60, 0.65]], [0.60, 0.60]),
]

_SYMBOLS = {"sigmoid": ("σ", r"\sigma"), "tanh": ("tanh", r"\tanh"),
            "identity": ("id", r"\operatorname{id}")}
_LOSS_TEXT = {
    "mse": ("C = 1/2 ||a^L - y||^2", r"C = \tfrac{1}{2}\lVert a^{L} - y \rVert^{2}"),
    "cross_entropy": ("C = -Σ_j y_j log a^L_j", r"C = -\sum_j y_j \log a^{L}_j"),
    "binary_cross_entropy": ("C = -Σ_j [y_j log a^L_j + (1 - y_j) log(1 - a^L_j)]",
                             r"C = -\sum_j \left[y_j \log a^{L}_j + (1 - y_j)\log(1 - a^{L}_j)\right]"),
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


def default_network() -> "Network":
    """The 2-3-2 sigmoid network with mse and the fixed weights of the worked example."""
    from .network import Network

    layers = []
    for W, b in DEFAULT_WEIGHTS:
        layer = Dense(len(W[0]), len(W), "sigmoid", init="zeros", dtype="float64")
        layer.W[...], layer.b[...] = W, b
        layers.append(layer)
    return Network(layers, loss="mse", dtype="float64")


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
        return _SYMBOLS.get(self.activation, (self.activation, rf"\operatorname{{{self.activation}}}"))


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
                "table": [{"entry": e, "backprop": float(g), "finite_difference":
                           float(n) if np.isfinite(n) else None} for e, g, n in self.table]}


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
                "x": nt.jsonable(self.x), "y": nt.jsonable(self.y), "loss": self.loss,
                "loss_after": self.loss_after, "learning_rate": self.learning_rate,
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


def explain(net: "Network | None" = None, x: Any = None, y: Any = None, *,
            learning_rate: float = 0.5, eps: float = 1e-4) -> Explanation:
    """Back-propagation for one sample, every number kept: ``delta^l``, ``dC/dW^l``, the step.

    Parameters
    ----------
    net : Network, optional
        Any network of Dense layers, residual blocks and Dropout (the identity here). Computed
        on a float64 copy without its weight penalty; ``net`` is not changed. Default: the
        2-3-2 sigmoid network with mse and fixed weights (:func:`default_network`).
    x : array-like of shape (n_in,) or (1, n_in), optional
        The sample as the first layer sees it (already scaled, like ``net.backprop``).
        Default (with the default network): ``[0.05, 0.10]``.
    y : array-like
        The sample's target: a row of shape (n_out,), or a class label for cross-entropy.
        Default (with the default network): ``[0.01, 0.99]``.
    learning_rate : float, default=0.5
        ``eta`` of the gradient-descent step that ends the derivation.
    eps : float, default=1e-4
        Step of the fourth-order central finite differences.

    Returns
    -------
    Explanation
        ``.steps()`` the equations one by one; ``.layers[i]`` each Dense layer's ``z, a, delta,
        dW, db`` and their finite differences; ``.text()`` and ``.markdown()``.

    Raises
    ------
    ValueError
        For a sample of the wrong shape or a learning rate <= 0.
    TypeError
        For a layer type explain does not know.

    Examples
    --------
    >>> e = explain()
    >>> round(float(e.layers[1].dW[0, 0]), 6)
    0.074393
    >>> [s.quantity for s in e.steps()][:5]
    ['z', 'a', 'z', 'a', 'C']
    """
    if net is None:
        net = default_network()
        x = DEFAULT_X if x is None else x
        y = DEFAULT_Y if y is None else y
    if x is None or y is None:
        raise ValueError("explain(net, x, y) needs one sample x and its target y; got None. "
                         "Call explain() with no arguments for the built-in example.")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
            or not learning_rate > 0:
        raise ValueError(f"The 'learning_rate' parameter of explain must be a float > 0; "
                         f"got {learning_rate!r}.")
    net64 = net.astype("float64").to("cpu")  # finite differences run on a host copy
    net64.l2 = net64.l1 = 0.0  # the derivation's C is the data loss
    net64.training = False
    X = np.asarray(x, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or len(X) != 1:
        raise ValueError(f"explain works on one sample: x of shape ({net.n_in},) or "
                         f"(1, {net.n_in}); got {X.shape}. Pick one row, e.g. X[i].")
    y_arr = np.asarray(y)
    y_arr = y_arr.reshape(1) if y_arr.ndim == 0 else y_arr.reshape(1, -1)
    X, Y = net64.check_Xy(X, y_arr)
    loss = net64.backprop(X, Y, input_grad=True)
    input_grad = _copy(net64.grad_X)[0]
    out = net64.layers[-1]
    grad_a = None if net64.fused else _copy(net64.loss_fn.grad(out.a, Y))[0]
    units, notes = _trace(net64)
    layers = [t for u in units for t in (u.inner if isinstance(u, BlockTrace) else [u])]
    dense = [layer for layer in _dense_layers(net64)]
    if net.l2 or net.l1:
        notes.append(f"The network's weight penalty (l2={net.l2:g}, l1={net.l1:g}) is left out: "
                     "training adds its gradient to dW.")

    def C() -> float:
        return float(net64.loss(X, Y))

    for trace, layer in zip(layers, dense):
        trace.dW_numeric = _numeric(layer.W, trace.dW, C, eps)
        trace.db_numeric = _numeric(layer.b, trace.db, C, eps)
        trace.W_new = trace.W - learning_rate * trace.dW
        trace.b_new = trace.b - learning_rate * trace.db
    for trace, layer in zip(layers, dense):
        layer.W[...], layer.b[...] = trace.W_new, trace.b_new
    e = Explanation(x=X[0].copy(), y=Y[0].copy(), sizes=list(net.sizes),
                    loss_name=net64.loss_fn.name, fused=net64.fused, loss=float(loss),
                    loss_after=C(), learning_rate=float(learning_rate), layers=layers,
                    units=units, input_grad=input_grad, grad_a=grad_a, notes=notes)
    e._steps = _Steps(e).build()
    return e


# ---------------------------------------------------------------------- tracing the engine
def _copy(v: Any) -> np.ndarray:
    """A float64 host copy: the engine may reuse its buffers in the next pass."""
    return np.array(to_numpy(v), dtype=np.float64, copy=True)


def _dense(layer: Any, label: str, src: tuple[str, str], out: tuple[str, str]) -> LayerTrace:
    return LayerTrace(
        label=label, activation=layer.activation.name, W=_copy(layer.W), b=_copy(layer.b),
        a_prev=_copy(layer.a_prev)[0], z=_copy(layer.z)[0], a=_copy(layer.a)[0],
        fprime=_copy(layer.activation.derivative(layer.z, layer.a))[0],
        delta=_copy(layer.delta)[0], dW=_copy(layer.dW), db=_copy(layer.db), src=src, out=out)


def _inner_dense(block: Any) -> list[Any]:
    inner = []
    for layer in block.layers:
        kind = layer.config()["type"]
        if kind == "Dense":
            inner.append(layer)
        elif kind != "Dropout":
            raise TypeError(f"explain knows Dense and Dropout layers inside a residual block; "
                            f"got {kind}. Explain a network built from Dense, Residual, Dropout.")
    if not inner:
        raise TypeError("explain needs a Dense layer inside each residual block.")
    return inner


def _residual(block: Any, label: str, src: tuple[str, str], out: tuple[str, str]) -> BlockTrace:
    inner = _inner_dense(block)
    traces, prev = [], src
    for k, layer in enumerate(inner, start=1):
        sub = label if len(inner) == 1 else f"{label}.{k}"
        last = k == len(inner)
        traces.append(_dense(layer, sub, prev, ("F", label) if last else ("a", sub)))
        prev = traces[-1].out
    x, F = traces[0].a_prev, traces[-1].a
    act = getattr(block, "activation", None)
    a = _copy(block.a)[0] if getattr(block, "a", None) is not None else x + F
    trace = BlockTrace(label=label, inner=traces, x=x, F=F, a=a)
    if act is not None and act.name != "identity":
        trace.activation, trace.s = act.name, _copy(block.z)[0]
        trace.fprime = _copy(act.derivative(block.z, block.a))[0]
        trace.delta = _copy(block.delta)[0]
    return trace


_TRACERS: dict[str, Callable[..., Any] | None] = {"Dense": _dense, "Residual": _residual,
                                                  "Dropout": None}
"""Layer type (``layer.config()['type']``) -> its tracer; None: the identity in inference."""


def _trace(net: "Network") -> tuple[list[LayerTrace | BlockTrace], list[str]]:
    units: list[LayerTrace | BlockTrace] = []
    notes: list[str] = []
    for layer in net.layers:
        kind = layer.config()["type"]
        if kind not in _TRACERS:
            raise TypeError(f"explain knows the layer types {', '.join(_TRACERS)}; got {kind}.")
        tracer = _TRACERS[kind]
        if tracer is None:
            note = "Dropout is the identity outside training, so it is left out."
            if note not in notes:
                notes.append(note)
            continue
        label = str(len(units) + 1)
        units.append(tracer(layer, label, ("a", str(len(units))), ("a", label)))
    return units, notes


def _dense_layers(net: "Network") -> list[Any]:
    """The live Dense layers in forward order, inside residual blocks too (as the traces)."""
    out: list[Any] = []
    for layer in net.layers:
        kind = layer.config()["type"]
        if kind == "Dense":
            out.append(layer)
        elif kind == "Residual":
            out.extend(_inner_dense(layer))
    return out


def _numeric(param: np.ndarray, grad: np.ndarray, C: Callable[[], float],
             eps: float) -> np.ndarray:
    """Fourth-order central differences of ``C`` for the entries shown (all, or the largest)."""
    numeric = np.full(grad.shape, np.nan)
    entries = (list(np.ndindex(grad.shape)) if nt.is_small(grad)
               else [i for i, _ in nt.largest(grad)])
    for idx in entries:
        old = float(param[idx])
        values = []
        for step in (eps, -eps, 2 * eps, -2 * eps):
            param[idx] = old + step
            values.append(C())
        param[idx] = old
        c1, c_1, c2, c_2 = values
        numeric[idx] = (8 * (c1 - c_1) - (c2 - c_2)) / (12 * eps)
    return numeric


# ---------------------------------------------------------------------- the steps
@dataclass
class _Incoming:
    """The gradient reaching a layer's output from above: numbers and how it is written."""

    g: np.ndarray | None
    text: str
    tex: str
    uses: list[str]
    kind: str  # 'loss', 'fused', 'dense' or 'skip'


class _Steps:
    """Writes an Explanation's steps, one equation each, in the order of the derivation."""

    def __init__(self, e: Explanation):
        self.e = e
        self.steps: list[Step] = []

    def add(self, phase: str, layer: str, quantity: str, rule: str, text: list[str], latex: str,
            values: dict[str, np.ndarray], uses: list[str], **extra: Any) -> None:
        self.steps.append(Step(phase, layer, quantity, rule, text, latex, values, uses,
                               index=len(self.steps), **extra))

    def build(self) -> list[Step]:
        e = self.e
        for unit in e.units:
            if isinstance(unit, BlockTrace):
                for t in unit.inner:
                    self.forward(t)
                self.block_sum(unit)
            else:
                self.forward(unit)
        self.loss()
        incoming = self.output_incoming()
        for i in range(len(e.units) - 1, -1, -1):
            incoming = self.backward(e.units[i], incoming, first=i == 0)
        for unit in reversed(e.units):
            for t in reversed(unit.inner if isinstance(unit, BlockTrace) else [unit]):
                self.gradients(t)
        first = e.units[0]
        if isinstance(first, LayerTrace):
            self.input_dense(first)
        else:
            self.skip(first, incoming, input_step=True)
        for t in e.layers:
            self.update(t)
        return self.steps

    # ---------------------------------------------------------------- forward
    def forward(self, t: LayerTrace) -> None:
        l = t.label
        (W, Wx), (b, bx), (z, zx) = _sym("W", l), _sym("b", l), _sym("z", l)
        (src, srcx), (out, outx) = _sym(*t.src), _sym(*t.out)
        rule = f"{z} = {W} {src} + {b}"
        small = nt.is_small(t.W)
        lines = ([f"{W} = {nt.text(t.W)}", f"{b} = {nt.text(t.b)}"] if small else
                 [f"{W}: {t.W.shape[0]}x{t.W.shape[1]}, ||{W}|| = {nt.fmt(np.linalg.norm(t.W))}"])
        lines.append(f"{rule} = {nt.text(t.z, z)}")
        numbers = f"{nt.tex(t.W)} {nt.tex(t.a_prev)} + {nt.tex(t.b)} = " if small else ""
        self.add("forward", l, "z", rule, lines,
                 f"{zx} = {Wx} {srcx} + {bx} = {numbers}{nt.tex(t.z, zx)}",
                 {W: t.W, src: t.a_prev, b: t.b, z: t.z}, [W, src, b])
        sym, symx = t.symbol
        rule = f"{out} = {sym}({z})"
        self.add("forward", l, "a", rule, [f"{rule} = {nt.text(t.a, out)}"],
                 f"{outx} = {symx}({zx}) = {nt.tex(t.a, outx)}", {z: t.z, out: t.a}, [z])

    def block_sum(self, u: BlockTrace) -> None:
        l, prev = u.label, str(int(u.label) - 1)
        (x, xx), (F, Fx), (a, ax) = _sym("a", prev), _sym("F", l), _sym("a", l)
        (s, sx) = _sym("s", l) if u.activation else (a, ax)
        rule = f"{s} = {x} + {F}"
        numbers = (f"{nt.tex(u.x)} + {nt.tex(u.F)} = " if nt.is_small(u.x) else "")
        summed = u.s if u.s is not None else u.a
        self.add("forward", l, "sum", rule,
                 [f"{rule} = {nt.text(u.x)} + {nt.text(u.F)} = {nt.text(summed, s)}"
                  if nt.is_small(u.x) else f"{rule} = {nt.text(summed, s)}"],
                 f"{sx} = {xx} + {Fx} = {numbers}{nt.tex(summed, sx)}",
                 {x: u.x, F: u.F, s: summed}, [x, F],
                 note=f"Residual block {l}: the identity skip adds the block's input to "
                      f"its branch F^{l}.")
        if u.activation:
            sym, symx = _SYMBOLS.get(u.activation, (u.activation, rf"\operatorname{{{u.activation}}}"))
            rule = f"{a} = {sym}({s})"
            self.add("forward", l, "a", rule, [f"{rule} = {nt.text(u.a, a)}"],
                     f"{ax} = {symx}({sx}) = {nt.tex(u.a, ax)}", {s: summed, a: u.a}, [s])

    def loss(self) -> None:
        e, L = self.e, str(len(self.e.units))
        rule, tex = _LOSS_TEXT.get(e.loss_name, ("C", "C"))
        rule, tex = rule.replace("^L", f"^{L}"), tex.replace("{L}", f"{{{L}}}")
        self.add("loss", "", "C", rule, [f"Loss:  {rule} = {e.loss:.6g}"],
                 f"{tex} = {e.loss:.6g}", {f"a^{L}": _last_a(e), "y": e.y, "C": np.float64(e.loss)},
                 [f"a^{L}", "y"])

    # ---------------------------------------------------------------- backward
    def output_incoming(self) -> _Incoming:
        e, L = self.e, str(len(self.e.units))
        if e.fused:
            return _Incoming(None, "", "", [f"a^{L}", "y"], "fused")
        if e.loss_name == "mse":
            return _Incoming(e.grad_a, f"(a^{L} - y)", rf"(a^{{{L}}} - y)", [f"a^{L}", "y"], "loss")
        return _Incoming(e.grad_a, "∇_a C", r"\nabla_{a} C", [f"a^{L}", "y"], "loss")

    def backward(self, unit: LayerTrace | BlockTrace, inc: _Incoming, first: bool) -> _Incoming:
        """The delta step(s) of one layer; returns the gradient it hands to the layer below."""
        if isinstance(unit, LayerTrace):
            self.delta(unit, inc)
            return _from_dense(unit)
        if unit.activation:
            inc = self.delta_sum(unit, inc)
        branch = inc
        for t in reversed(unit.inner):
            self.delta(t, branch)
            branch = _from_dense(t)
        return inc if first else self.skip(unit, inc)

    def delta(self, t: LayerTrace, inc: _Incoming) -> None:
        l, e = t.label, self.e
        (d, dx), (z, zx), (a, ax) = _sym("delta", l), _sym("z", l), _sym(*t.out)
        dx = nt.tex_sym(r"\delta", l)
        sym, symx = t.symbol
        if inc.kind == "fused":
            act = "softmax" if e.loss_name == "cross_entropy" else "sigmoid"
            rule = f"{d} = {a} - y"
            note = (f"Output layer, fused form: for {act} with {e.loss_name.replace('_', ' ')} "
                    f"the loss's derivative and {act}'s cancel, dC/dz^L = (a^L - y)/n, and n = 1 "
                    "here.")
            small = nt.is_small(t.a)
            lines = [f"{rule}    ({note[len('Output layer, '):]})",
                     *([f"{' ' * len(d)} = {nt.text(t.a)} - {nt.text(e.y)}"] if small else []),
                     f"{' ' * len(d)} = {nt.text(t.delta, d)}"]
            numbers = f"{nt.tex(t.a)} - {nt.tex(e.y)} = " if small else ""
            self.add("backward", l, "delta", rule, lines,
                     f"{dx} = {ax} - y = {numbers}{nt.tex(t.delta, dx)}",
                     {a: t.a, "y": e.y, d: t.delta}, [a, "y"], note=note)
            return
        assert inc.g is not None
        if t.activation == "softmax":
            rule = f"{d} = (diag({a}) - {a} ({a})^T) {inc.text}"
            latex_rule = (rf"{dx} = \left(\operatorname{{diag}}({ax}) - {ax}({ax})^{{T}}\right) "
                          f"{inc.tex}")
            note = "softmax is not element-wise: its Jacobian is diag(a) - a a^T."
            factor, factor_name = t.a, a
        else:
            rule = f"{d} = {inc.text} ⊙ {sym}'({z})"
            latex_rule = f"{dx} = {inc.tex} \\odot {symx}'({zx})"
            note = ("for C = 1/2 ||a - y||^2, dC/da^L = a^L - y." if inc.kind == "loss"
                    and e.loss_name == "mse" else "")
            factor, factor_name = t.fprime, f"{sym}'({z})"
        small = nt.is_small(t.delta)
        pad = " " * (len(d) + 1)
        op = "applied to" if t.activation == "softmax" else "⊙"
        lines = [rule + (f"    ({note})" if note else "")]
        if small:
            lines.append(f"{pad}= {nt.text(inc.g)} {op} {nt.text(factor)}")
        else:
            lines.append(f"{pad}: ||{inc.text}|| = {nt.fmt(np.linalg.norm(inc.g))}, "
                         f"max |{factor_name}| = {nt.fmt(np.max(np.abs(factor)))}")
        lines.append(f"{pad}= {nt.text(t.delta, d)}")
        texop = r"\text{ applied to }" if t.activation == "softmax" else r"\odot"
        numbers = f"{nt.tex(inc.g)} {texop} {nt.tex(factor)} = " if small else ""
        self.add("backward", l, "delta", rule, lines, f"{latex_rule} = {numbers}{nt.tex(t.delta, dx)}",
                 {inc.text: inc.g, factor_name: factor, d: t.delta},
                 [*inc.uses, z], note=("Output layer, " + note) if note else "")

    def delta_sum(self, u: BlockTrace, inc: _Incoming) -> _Incoming:
        l = u.label
        assert u.delta is not None and u.fprime is not None
        d, dx = f"delta_s^{l}", nt.tex_sym(r"\delta_{s}", l)
        sym, symx = _SYMBOLS.get(u.activation or "", (u.activation, rf"\operatorname{{{u.activation}}}"))
        if inc.kind == "fused":
            rule, latex = f"{d} = a^{l} - y", rf"{dx} = a^{{{l}}} - y"
            g = u.a - self.e.y
        else:
            assert inc.g is not None
            rule = f"{d} = {inc.text} ⊙ {sym}'(s^{l})"
            latex = rf"{dx} = {inc.tex} \odot {symx}'(s^{{{l}}})"
            g = inc.g
        factor = u.fprime if inc.kind != "fused" else np.ones_like(u.fprime)
        self.add("backward", l, "delta", rule, [f"{rule} = {nt.text(u.delta, d)}"],
                 f"{latex} = {nt.tex(u.delta, dx)}",
                 {inc.text or "a - y": g, f"{sym}'(s^{l})": factor, d: u.delta}, inc.uses)
        return _Incoming(u.delta, d, dx, [d], "skip")

    def skip(self, u: BlockTrace, inc: _Incoming, input_step: bool = False) -> _Incoming:
        """The identity-skip gradient: ``dC/da^{l-1} = dC/da^l + (W^l)^T delta^l``."""
        l, prev = u.label, str(int(u.label) - 1)
        t = u.inner[0]
        upper = inc.g if inc.g is not None else t.delta  # fused output with no activation: n/a
        branch = t.delta @ t.W
        total = self.e.input_grad if input_step else upper + branch
        up_text = f"dC/da^{l}" if not u.activation else f"delta_s^{l}"
        up_tex = (rf"\frac{{\partial C}}{{\partial a^{{{l}}}}}" if not u.activation
                  else nt.tex_sym(r"\delta_{s}", l))
        lhs, lhsx = ((("dC/dx", r"\frac{\partial C}{\partial x}")) if input_step else
                     (f"dC/da^{prev}", rf"\frac{{\partial C}}{{\partial a^{{{prev}}}}}"))
        rule = f"{lhs} = {up_text} + (W^{t.label})^T delta^{t.label}"
        latex_rule = (f"{lhsx} = {up_tex} + (W^{{{t.label}}})^{{T}} "
                      + nt.tex_sym(r"\delta", t.label))
        small = nt.is_small(branch)
        lines = [rule]
        if small:
            lines.append(f"   = {nt.text(upper)} + {nt.text(branch)}")
        else:
            lines.append(f"   : ||{up_text}|| = {nt.fmt(np.linalg.norm(upper))}, "
                         f"||(W^{t.label})^T delta^{t.label}|| = {nt.fmt(np.linalg.norm(branch))}")
        lines.append(f"   = {nt.text(total, lhs)}")
        numbers = f"{nt.tex(upper)} + {nt.tex(branch)} = " if small else ""
        note = (f"Identity skip of block {l}: the 1 in d(a^{prev} + F^{l})/da^{prev} = 1 + dF/da^{prev} "
                f"hands {up_text} down unchanged, however small the branch's term is.")
        self.add("input" if input_step else "backward", l, "grad_x" if input_step else "skip",
                 rule, lines, f"{latex_rule} = {numbers}{nt.tex(total, lhsx)}",
                 {up_text: upper, f"(W^{t.label})^T delta^{t.label}": branch, lhs: total},
                 [up_text, f"W^{t.label}", f"delta^{t.label}"], note=note)
        return _Incoming(total, lhs, lhsx, [lhs], "skip")

    def input_dense(self, t: LayerTrace) -> None:
        rule = f"dC/dx = (W^{t.label})^T delta^{t.label}"
        g = self.e.input_grad
        self.add("input", t.label, "grad_x", rule, [f"{rule} = {nt.text(g, 'dC/dx')}"],
                 rf"\frac{{\partial C}}{{\partial x}} = (W^{{{t.label}}})^{{T}} "
                 rf"\delta^{{{t.label}}} = {nt.tex(g, 'dC/dx')}",
                 {"dC/dx": g}, [f"W^{t.label}", f"delta^{t.label}"],
                 note="The input gradient: the recursion carried one layer further down.")

    # ---------------------------------------------------------------- gradients, update
    def gradients(self, t: LayerTrace) -> None:
        l = t.label
        (src, srcx) = _sym(*t.src)
        dx = nt.tex_sym(r"\delta", l)
        for name, grad, numeric in (("W", t.dW, t.dW_numeric), ("b", t.db, t.db_numeric)):
            rule = (f"dC/d{name}^{l} = delta^{l} ({src})^T" if name == "W" else
                    f"dC/db^{l} = delta^{l}")
            rhs = rf"{dx} ({srcx})^{{T}}" if name == "W" else dx
            shown = [i for i in np.ndindex(grad.shape) if np.isfinite(numeric[i])]
            lines = [f"{rule}:" if nt.is_small(grad) else
                     f"{rule}: ||dC/d{name}^{l}|| = {nt.fmt(np.linalg.norm(grad))}; the "
                     f"{len(shown)} largest of {'x'.join(map(str, grad.shape))} entries:"]
            table = []
            for i in shown:
                idx = ",".join(str(k + 1) for k in i)
                pad = " " * max(0, 3 - len(idx))
                lines.append(f"  [{idx}]{pad}  {grad[i]: .6e}  ({numeric[i]: .6e})")
                table.append((f"{name}^{{{l}}}_{{{''.join(str(k + 1) for k in i)}}}"
                              if nt.is_small(grad) else f"{name}^{{{l}}}_{{{idx}}}",
                              float(grad[i]), float(numeric[i])))
            gsym = f"dC/d{name}^{l}"
            self.add("gradient", l, f"d{name}", rule, lines,
                     rf"\frac{{\partial C}}{{\partial {name}^{{{l}}}}} = {rhs} = "
                     f"{nt.tex(grad, gsym)}",
                     {gsym: grad, "finite difference": numeric},
                     [f"delta^{l}"] + ([src] if name == "W" else []), table=table)

    def update(self, t: LayerTrace) -> None:
        l = t.label
        for name, new in (("W", t.W_new), ("b", t.b_new)):
            rule = f"{name}^{l} <- {name}^{l} - eta dC/d{name}^{l}"
            self.add("update", l, name, rule, [f"{name}^{l} <- {nt.text(new, name + '^' + l)}"],
                     rf"{name}^{{{l}}} \leftarrow {name}^{{{l}}} - \eta \frac{{\partial C}}"
                     rf"{{\partial {name}^{{{l}}}}} = {nt.tex(new, name)}",
                     {f"{name}^{l} (new)": new}, [f"{name}^{l}", f"dC/d{name}^{l}"])
        if t is self.e.layers[-1]:
            self.steps[-1].text.append(f"loss before {self.e.loss:.6g}, after "
                                       f"{self.e.loss_after:.6g}")


def _from_dense(t: LayerTrace) -> _Incoming:
    """What a Dense layer hands down: ``(W^l)^T delta^l`` (in rows, ``delta @ W``)."""
    l = t.label
    return _Incoming(t.delta @ t.W, f"((W^{l})^T delta^{l})",
                     rf"\left((W^{{{l}}})^{{T}} \delta^{{{l}}}\right)", [f"W^{l}", f"delta^{l}"],
                     "dense")


def _last_a(e: Explanation) -> np.ndarray:
    last = e.units[-1]
    return last.a
