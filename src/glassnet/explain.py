"""The derivation, worked with a network's actual numbers for one sample.

:func:`explain` runs one forward and one backward pass in float64 on a single sample and keeps
every intermediate quantity, in the derivation's column-vector notation (``a^0 = x``, layers
``l = 1..L``):

* forward: ``z^l = W^l a^{l-1} + b^l``, ``a^l = f(z^l)``;
* output layer: ``delta^L = (a^L - y) ⊙ f'(z^L)`` for mse (in general ``∇_a C ⊙ f'(z^L)``),
  or the fused ``delta^L = a^L - y`` for softmax + cross-entropy and sigmoid + binary
  cross-entropy, where the loss's ``1 / a`` terms cancel against ``f'``;
* hidden layers: ``delta^l = ((W^{l+1})^T delta^{l+1}) ⊙ f'(z^l)``;
* gradients: ``dC/dW^l = delta^l (a^{l-1})^T``, ``dC/db^l = delta^l``, each entry beside its
  central finite difference;
* one gradient-descent step ``W^l <- W^l - eta dC/dW^l`` and the loss before and after.

With one sample the batch mean ``1/n`` is 1, so these are also the per-sample equations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .gradcheck import _numeric_gradient
from .layers import Dense

if TYPE_CHECKING:
    from .network import Network

__all__ = ["MAX_LAYERS", "MAX_UNITS", "Explanation", "LayerTrace", "default_network", "explain"]

MAX_UNITS = 16
"""explain writes out every number, so no layer may have more inputs or units than this."""
MAX_LAYERS = 6

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


def default_network() -> "Network":
    """The 2-3-2 sigmoid network with mse and the fixed weights of the worked example."""
    from .network import Network

    layers = []
    for W, b in DEFAULT_WEIGHTS:
        layer = Dense(len(W[0]), len(W), "sigmoid", init="zeros", dtype="float64")
        layer.W[...], layer.b[...] = W, b
        layers.append(layer)
    return Network(layers, loss="mse", dtype="float64")


@dataclass
class LayerTrace:
    """Every quantity of layer ``l`` (column vectors stored as 1-D arrays)."""

    l: int
    activation: str
    W: np.ndarray
    b: np.ndarray
    a_prev: np.ndarray
    z: np.ndarray
    a: np.ndarray
    fprime: np.ndarray
    """``f'(z^l)``, the diagonal of ``da/dz`` (for softmax, only its diagonal)."""
    delta: np.ndarray
    dW: np.ndarray
    db: np.ndarray
    dW_numeric: np.ndarray
    db_numeric: np.ndarray
    W_new: np.ndarray
    b_new: np.ndarray

    @property
    def symbol(self) -> tuple[str, str]:
        return _SYMBOLS.get(self.activation, (self.activation, rf"\operatorname{{{self.activation}}}"))


@dataclass
class Explanation:
    """The worked derivation; ``text()`` and ``markdown()`` write it out."""

    x: np.ndarray
    y: np.ndarray
    loss_name: str
    fused: bool
    loss: float
    loss_after: float
    learning_rate: float
    layers: list[LayerTrace] = field(default_factory=list)
    grad_a: np.ndarray | None = None
    """``∇_a C`` at the output (None for the fused losses)."""

    @property
    def L(self) -> int:
        return len(self.layers)

    def _output_rule(self) -> tuple[str, str, str]:
        """(text, LaTeX, why) of the output layer's delta."""
        out = self.layers[-1]
        sym, tex = out.symbol
        L = self.L
        if self.fused:
            act = "softmax" if self.loss_name == "cross_entropy" else "sigmoid"
            why = (f"fused form: for {act} with {self.loss_name.replace('_', ' ')} the loss's "
                   f"derivative and {act}'s cancel, dC/dz^L = (a^L - y)/n, and n = 1 here.")
            return (f"delta^{L} = a^{L} - y", rf"\delta^{{{L}}} = a^{{{L}}} - y", why)
        if out.activation == "softmax":
            return (f"delta^{L} = (diag(a^{L}) - a^{L} (a^{L})^T) ∇_a C",
                    rf"\delta^{{{L}}} = \left(\operatorname{{diag}}(a^{{{L}}}) - a^{{{L}}}"
                    rf"(a^{{{L}}})^{{T}}\right) \nabla_{{a}} C",
                    "softmax is not element-wise: its Jacobian is diag(a) - a a^T.")
        if self.loss_name == "mse":
            return (f"delta^{L} = (a^{L} - y) ⊙ {sym}'(z^{L})",
                    rf"\delta^{{{L}}} = (a^{{{L}}} - y) \odot {tex}'(z^{{{L}}})",
                    "for C = 1/2 ||a - y||^2, dC/da^L = a^L - y.")
        return (f"delta^{L} = ∇_a C ⊙ {sym}'(z^{L})",
                rf"\delta^{{{L}}} = \nabla_{{a}} C \odot {tex}'(z^{{{L}}})", "")

    # ------------------------------------------------------------------ plain text
    def text(self) -> str:
        """The derivation as plain text (Unicode symbols, 6 significant digits)."""
        eta = self.learning_rate
        sizes = "-".join(str(n) for n in [len(self.x)] + [len(t.b) for t in self.layers])
        out = [f"Back-propagation worked out for one sample: network {sizes}, loss "
               f"{self.loss_name}", "", f"x = a^0 = {_v(self.x)}", f"y = {_v(self.y)}", "",
               "Forward pass:  z^l = W^l a^(l-1) + b^l,  a^l = f(z^l)"]
        for t in self.layers:
            sym = t.symbol[0]
            out += [f"  W^{t.l} = {_m(t.W)}", f"  b^{t.l} = {_v(t.b)}",
                    f"  z^{t.l} = W^{t.l} a^{t.l - 1} + b^{t.l} = {_v(t.z)}",
                    f"  a^{t.l} = {sym}(z^{t.l}) = {_v(t.a)}"]
        out += ["", f"Loss:  {_LOSS_TEXT.get(self.loss_name, ('C',))[0]} = {self.loss:.6g}", "",
                "Backward pass:  delta^l = dC/dz^l"]
        rule, _, why = self._output_rule()
        last = self.layers[-1]
        out.append(f"  {rule}" + (f"    ({why})" if why else ""))
        if self.grad_a is not None and last.activation != "softmax":
            out.append(f"         = {_v(self.grad_a)} ⊙ {_v(last.fprime)}")
        out.append(f"         = {_v(last.delta)}")
        for t in reversed(self.layers[:-1]):
            nxt = self.layers[t.l]  # layer l+1
            sym = t.symbol[0]
            out += [f"  delta^{t.l} = ((W^{t.l + 1})^T delta^{t.l + 1}) ⊙ {sym}'(z^{t.l})",
                    f"          = {_v(nxt.W.T @ nxt.delta)} ⊙ {_v(t.fprime)}",
                    f"          = {_v(t.delta)}"]
        out += ["", "Gradients:  dC/dW^l = delta^l (a^(l-1))^T,  dC/db^l = delta^l  "
                "(finite difference in brackets)"]
        for t in self.layers:
            out.append(f"  dC/dW^{t.l} = delta^{t.l} (a^{t.l - 1})^T:")
            for (j, k), g in np.ndenumerate(t.dW):
                out.append(f"    [{j + 1},{k + 1}]  {g: .6e}  ({t.dW_numeric[j, k]: .6e})")
            out.append(f"  dC/db^{t.l} = delta^{t.l}:")
            for j, g in enumerate(t.db):
                out.append(f"    [{j + 1}]    {g: .6e}  ({t.db_numeric[j]: .6e})")
        out += ["", f"Gradient descent, learning rate eta = {eta:g}:  W^l <- W^l - eta dC/dW^l,"
                "  b^l <- b^l - eta dC/db^l"]
        for t in self.layers:
            out += [f"  W^{t.l} <- {_m(t.W_new)}", f"  b^{t.l} <- {_v(t.b_new)}"]
        out.append(f"  loss before {self.loss:.6g}, after {self.loss_after:.6g}")
        return "\n".join(out) + "\n"

    # ------------------------------------------------------------------ markdown with LaTeX
    def markdown(self) -> str:
        """The derivation as Markdown, each step an equation in ``$$ ... $$`` LaTeX."""
        L, eta = self.L, self.learning_rate
        md = ["# Back-propagation, worked for one sample", "",
              f"Network {'-'.join(str(n) for n in [len(self.x)] + [len(t.b) for t in self.layers])},"
              f" loss `{self.loss_name}`. Column vectors; $a^{{0}} = x$.", "",
              f"$$x = a^{{0}} = {_tv(self.x)}, \\qquad y = {_tv(self.y)}$$", "",
              "## Forward pass", ""]
        for t in self.layers:
            tex = t.symbol[1]
            md += [f"$$z^{{{t.l}}} = W^{{{t.l}}} a^{{{t.l - 1}}} + b^{{{t.l}}} = {_tm(t.W)} "
                   f"{_tv(t.a_prev)} + {_tv(t.b)} = {_tv(t.z)}$$", "",
                   f"$$a^{{{t.l}}} = {tex}(z^{{{t.l}}}) = {_tv(t.a)}$$", ""]
        loss_tex = _LOSS_TEXT.get(self.loss_name, ("", "C"))[1].replace("{L}", f"{{{L}}}")
        md += [f"$${loss_tex} = {self.loss:.6g}$$", "", "## Backward pass", "",
               r"$\delta^{l} = \partial C / \partial z^{l}$.", ""]
        _, rule, why = self._output_rule()
        last = self.layers[-1]
        if why:
            md += [f"Output layer, {why}", ""]
        middle = ""
        if self.grad_a is not None and last.activation != "softmax":
            middle = f" = {_tv(self.grad_a)} \\odot {_tv(last.fprime)}"
        md += [f"$${rule}{middle} = {_tv(last.delta)}$$", ""]
        for t in reversed(self.layers[:-1]):
            nxt, tex = self.layers[t.l], t.symbol[1]
            md += [f"$$\\delta^{{{t.l}}} = \\left((W^{{{t.l + 1}}})^{{T}} \\delta^{{{t.l + 1}}}"
                   f"\\right) \\odot {tex}'(z^{{{t.l}}}) = {_tv(nxt.W.T @ nxt.delta)} \\odot "
                   f"{_tv(t.fprime)} = {_tv(t.delta)}$$", ""]
        md += ["## Gradients", "", "Each entry beside its central finite difference.", ""]
        for t in self.layers:
            md += [f"$$\\frac{{\\partial C}}{{\\partial W^{{{t.l}}}}} = \\delta^{{{t.l}}} "
                   f"(a^{{{t.l - 1}}})^{{T}} = {_tm(t.dW)}$$", "",
                   f"$$\\frac{{\\partial C}}{{\\partial b^{{{t.l}}}}} = \\delta^{{{t.l}}} = "
                   f"{_tv(t.db)}$$", "",
                   "| entry | back-propagation | finite difference |", "|---|---|---|"]
            for (j, k), g in np.ndenumerate(t.dW):
                md.append(f"| $W^{{{t.l}}}_{{{j + 1}{k + 1}}}$ | {g:.6e} | {t.dW_numeric[j, k]:.6e} |")
            for j, g in enumerate(t.db):
                md.append(f"| $b^{{{t.l}}}_{{{j + 1}}}$ | {g:.6e} | {t.db_numeric[j]:.6e} |")
            md.append("")
        md += ["## Gradient descent", "", f"Learning rate $\\eta = {eta:g}$.", ""]
        for t in self.layers:
            md += [f"$$W^{{{t.l}}} \\leftarrow W^{{{t.l}}} - \\eta \\frac{{\\partial C}}"
                   f"{{\\partial W^{{{t.l}}}}} = {_tm(t.W_new)}$$", "",
                   f"$$b^{{{t.l}}} \\leftarrow b^{{{t.l}}} - \\eta \\frac{{\\partial C}}"
                   f"{{\\partial b^{{{t.l}}}}} = {_tv(t.b_new)}$$", ""]
        md += [f"Loss before the step {self.loss:.6g}, after {self.loss_after:.6g}.", ""]
        return "\n".join(md)

    def __str__(self) -> str:
        return self.text()


def explain(net: "Network | None" = None, x: Any = None, y: Any = None, *,
            learning_rate: float = 0.5, eps: float = 1e-4) -> Explanation:
    """Back-propagation for one sample, every number kept: ``delta^l``, ``dC/dW^l``, the step.

    Parameters
    ----------
    net : Network, optional
        Dense layers only, at most ``MAX_LAYERS`` layers of at most ``MAX_UNITS`` inputs and
        units. Computed on a float64 copy; ``net`` is not changed. Default: the 2-3-2 sigmoid
        network with mse and fixed weights (:func:`default_network`).
    x : array-like of shape (n_in,) or (1, n_in), optional
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
        ``.layers[l - 1]`` holds ``z, a, delta, dW, db`` and their finite differences;
        ``.text()`` and ``.markdown()`` write the derivation out.

    Raises
    ------
    ValueError
        For a network past the size limit, or a sample of the wrong shape.
    TypeError
        For layers other than Dense.

    Examples
    --------
    >>> e = explain()
    >>> round(float(e.layers[1].dW[0, 0]), 6)
    0.074393
    """
    if net is None:
        net = default_network()
        x = DEFAULT_X if x is None else x
        y = DEFAULT_Y if y is None else y
    if x is None or y is None:
        raise ValueError("explain(net, x, y) needs one sample x and its target y; got None. "
                         "Call explain() with no arguments for the built-in example.")
    _check_small(net)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
            or not learning_rate > 0:
        raise ValueError(f"The 'learning_rate' parameter of explain must be a float > 0; "
                         f"got {learning_rate!r}.")
    net64 = net.astype("float64").to("cpu")  # finite differences run on a host copy
    X = np.asarray(x, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or len(X) != 1:
        raise ValueError(f"explain works on one sample: x of shape ({net.n_in},) or "
                         f"(1, {net.n_in}); got {X.shape}. Pick one row, e.g. X[i].")
    y_arr = np.asarray(y)
    y_arr = y_arr.reshape(1) if y_arr.ndim == 0 else y_arr.reshape(1, -1)
    X, Y = net64.check_Xy(X, y_arr)
    loss = net64.backprop(X, Y) + net64.penalty()
    out = net64.layers[-1]
    grad_a = None if net64.fused else net64.loss_fn.grad(out.a, Y)[0]  # type: ignore[attr-defined]

    def C() -> float:
        return net64.cost(X, Y)

    traces = []
    for l, layer in enumerate(net64.layers, start=1):
        trace = LayerTrace(
            l=l, activation=layer.activation.name, W=layer.W.copy(), b=layer.b.copy(),
            a_prev=layer.a_prev[0].copy(), z=layer.z[0].copy(), a=layer.a[0].copy(),
            fprime=layer.activation.derivative(layer.z, layer.a)[0],
            delta=layer.delta[0].copy(), dW=layer.dW.copy(), db=layer.db.copy(),
            dW_numeric=np.empty(0), db_numeric=np.empty(0),
            W_new=layer.W - learning_rate * layer.dW, b_new=layer.b - learning_rate * layer.db)
        traces.append(trace)
    for trace, layer in zip(traces, net64.layers):
        trace.dW_numeric = _numeric_gradient(layer.W, C, eps)  # type: ignore[attr-defined]
        trace.db_numeric = _numeric_gradient(layer.b, C, eps)  # type: ignore[attr-defined]
    for trace, layer in zip(traces, net64.layers):
        layer.W[...], layer.b[...] = trace.W_new, trace.b_new  # type: ignore[attr-defined]
    loss_after = C()
    return Explanation(x=X[0], y=Y[0], loss_name=net64.loss_fn.name, fused=net64.fused,
                       loss=float(loss), loss_after=float(loss_after),
                       learning_rate=float(learning_rate), layers=traces, grad_a=grad_a)


def _check_small(net: "Network") -> None:
    for i, layer in enumerate(net.layers):
        if not isinstance(layer, Dense):
            raise TypeError(f"explain writes out Dense layers only; layer {i} is "
                            f"{type(layer).__name__}. Explain a network without residual blocks.")
    if len(net.layers) > MAX_LAYERS:
        raise ValueError(f"explain writes out every number, so it takes at most {MAX_LAYERS} "
                         f"layers; got {len(net.layers)}. Explain a smaller network.")
    widest = max(net.sizes)
    if widest > MAX_UNITS:
        raise ValueError(f"explain writes out every number, so it takes at most {MAX_UNITS} units "
                         f"per layer (inputs included); got sizes {'-'.join(map(str, net.sizes))}. "
                         "Explain a smaller network, e.g. mlp([2, 3, 2], ...).")


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _v(v: np.ndarray) -> str:
    return "[" + ", ".join(_fmt(x) for x in v) + "]"


def _m(M: np.ndarray) -> str:
    return "[" + ", ".join(_v(row) for row in M) + "]"


def _tv(v: np.ndarray) -> str:
    """A column vector in LaTeX."""
    return r"\begin{bmatrix}" + r" \\ ".join(_fmt(x) for x in v) + r"\end{bmatrix}"


def _tm(M: np.ndarray) -> str:
    return (r"\begin{bmatrix}" + r" \\ ".join(" & ".join(_fmt(x) for x in row) for row in M)
            + r"\end{bmatrix}")
