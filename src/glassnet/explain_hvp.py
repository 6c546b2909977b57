"""The Hessian-vector product worked with a network's numbers, for one sample.

The second-order companion of :func:`glassnet.explain`: for a small Dense network and one
sample it writes out the R-operator's passes (:mod:`glassnet.second_order`) in the derivation's
column-vector notation, ``R{x}`` the derivative of ``x`` along the direction ``v``:

* R-forward: ``R{z^l} = W^l R{a^(l-1)} + V^l a^(l-1) + v_b^l``, ``R{a^l} = f'(z^l) ⊙ R{z^l}``,
  with ``R{a^0} = 0``;
* R-backward: ``R{delta^l} = R{g^l} ⊙ f'(z^l) + g^l ⊙ f''(z^l) ⊙ R{z^l}`` (``g^l = dC/da^l``),
  ``R{dC/dW^l} = R{delta^l} (a^(l-1))^T + delta^l (R{a^(l-1)})^T``, ``R{dC/db^l} = R{delta^l}``,
  ``R{g^(l-1)} = (W^l)^T R{delta^l} + (V^l)^T delta^l``;
* every entry of ``H v`` beside the central finite difference of gradients,
  ``(grad C(theta + eps v) - grad C(theta - eps v)) / (2 eps)`` (fourth order);
* with ``v`` the gradient ``g``: the second-order Taylor prediction of one gradient-descent
  step, ``C(theta - eta g) ~ C - eta g.g + (eta^2 / 2) g.Hg``, beside the loss the step gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import notation as nt
from .explain import sample_or_default
from .layers import layer_kind
from .explanation import _SYMBOLS
from .validation import check_scalar
from .gradcheck import _central
from .second_order import Curvature

if TYPE_CHECKING:
    from .network import Network

__all__ = ["HVPExplanation", "HVPLayer", "explain_hvp"]


@dataclass
class HVPLayer:
    """The R-quantities of layer ``l`` for one sample (column vectors as 1-D arrays)."""

    l: int
    activation: str
    W: np.ndarray
    V: np.ndarray
    v_b: np.ndarray
    a_prev: np.ndarray
    Ra_prev: np.ndarray
    z: np.ndarray
    Rz: np.ndarray
    fprime: np.ndarray
    fsecond: np.ndarray | None
    Ra: np.ndarray
    g: np.ndarray | None
    """``dC/da^l`` (None for a fused output layer)."""
    Rg: np.ndarray | None
    delta: np.ndarray
    R_delta: np.ndarray
    HW: np.ndarray
    Hb: np.ndarray
    HW_numeric: np.ndarray
    Hb_numeric: np.ndarray

    @property
    def symbol(self) -> str:
        return _SYMBOLS.get(self.activation, (self.activation,))[0]

    @property
    def tex(self) -> str:
        return _SYMBOLS.get(self.activation, ("", rf"\operatorname{{{self.activation}}}"))[1]


@dataclass
class HVPExplanation:
    """The worked Hessian-vector product; ``text()`` and ``markdown()`` write it out."""

    x: np.ndarray
    y: np.ndarray
    loss_name: str
    fused: bool
    loss: float
    direction: str
    vHv: float
    vv: float
    layers: list[HVPLayer] = field(default_factory=list)
    step: dict[str, float] | None = None
    """For ``v = g``: ``eta``, the loss after the step, its first- and second-order predictions."""

    def _output_rule(self) -> str:
        L = len(self.layers)
        if self.fused:
            jac = "(diag(a^L) - a^L (a^L)^T)" if self.loss_name == "cross_entropy" \
                else "diag(a^L ⊙ (1 - a^L))"
            return (f"R{{delta^{L}}} = {jac} R{{z^{L}}}    (the fused delta a^{L} - y moves "
                    "with a^L only)")
        rule = "R{g^L} = R{a^L}    (mse: H_a = I)" if self.loss_name == "mse" else \
            "R{g^L} = H_a R{a^L}    (the loss's Hessian in a^L, Loss.hvp)"
        return rule.replace("L", str(L))

    def text(self) -> str:
        """The passes and the table, plain text."""
        sizes = "-".join(str(n) for n in [len(self.x)] + [len(t.Hb) for t in self.layers])
        out = [f"Hessian-vector product worked out for one sample: network {sizes}, loss "
               f"{self.loss_name}, direction v = {self.direction}", "",
               "R{x} = d/de x(theta + e v) at e = 0: the derivative of x along v.",
               f"x = a^0 = {nt.text(self.x)},  y = {nt.text(self.y)},  C = {self.loss:.6g}", "",
               "Direction v (V^l for W^l, v_b^l for b^l):"]
        for t in self.layers:
            out += [f"  V^{t.l} = {nt.text(t.V)}", f"  v_b^{t.l} = {nt.text(t.v_b)}"]
        out += ["", "R-forward:  R{z^l} = W^l R{a^(l-1)} + V^l a^(l-1) + v_b^l,  "
                "R{a^l} = f'(z^l) ⊙ R{z^l},  R{a^0} = 0"]
        for t in self.layers:
            out.append(f"  R{{z^{t.l}}} = W^{t.l} {nt.text(t.Ra_prev)} + V^{t.l} {nt.text(t.a_prev)} + "
                       f"v_b^{t.l} = {nt.text(t.Rz)}")
            out.append(f"  R{{a^{t.l}}} = {t.symbol}'(z^{t.l}) ⊙ R{{z^{t.l}}} = "
                       f"{nt.text(t.fprime)} ⊙ {nt.text(t.Rz)} = {nt.text(t.Ra)}")
        out += ["", "R-backward (the back-propagation of the back-propagation), g^l = dC/da^l:"]
        seed = self._output_rule()
        last = self.layers[-1]
        for t in reversed(self.layers):
            if t is last:
                out.append(f"  {seed}")
                if t.Rg is not None:
                    out.append(f"         = {nt.text(t.Rg)}")
            else:
                out.append(f"  R{{g^{t.l}}} = (W^{t.l + 1})^T R{{delta^{t.l + 1}}} + "
                           f"(V^{t.l + 1})^T delta^{t.l + 1} = {nt.text(t.Rg)}")
            if t.g is not None:
                sym = t.symbol
                out.append(f"  R{{delta^{t.l}}} = R{{g^{t.l}}} ⊙ {sym}'(z^{t.l}) + g^{t.l} ⊙ "
                           f"{sym}''(z^{t.l}) ⊙ R{{z^{t.l}}}" if t.fsecond is not None else
                           f"  R{{delta^{t.l}}} = the tangent of softmax's backward "
                           "(Softmax.backward_tangent)")
                if t.fsecond is not None:
                    out.append(f"    = {nt.text(t.Rg)} ⊙ {nt.text(t.fprime)} + {nt.text(t.g)} ⊙ "
                               f"{nt.text(t.fsecond)} ⊙ {nt.text(t.Rz)}")
            out.append(f"    = {nt.text(t.R_delta)}")
            out.append(f"  R{{dC/dW^{t.l}}} = R{{delta^{t.l}}} (a^{t.l - 1})^T + delta^{t.l} "
                       f"(R{{a^{t.l - 1}}})^T = {nt.text(t.HW)}")
            out.append(f"  R{{dC/db^{t.l}}} = R{{delta^{t.l}}} = {nt.text(t.Hb)}")
        out += ["", "H v, entry by entry (finite difference of gradients along v in brackets):"]
        for t in self.layers:
            for (j, k), h in np.ndenumerate(t.HW):
                out.append(f"  W^{t.l}[{j + 1},{k + 1}]  {h: .6e}  ({t.HW_numeric[j, k]: .6e})")
            for j, h in enumerate(t.Hb):
                out.append(f"  b^{t.l}[{j + 1}]    {h: .6e}  ({t.Hb_numeric[j]: .6e})")
        out += ["", f"Curvature along v: v.Hv / v.v = {self.vHv:.6g} / {self.vv:.6g} = "
                f"{self.vHv / self.vv:.6g}"]
        if self.step is not None:
            s = self.step
            out += [f"Gradient-descent step theta - eta g with eta = {s['eta']:g} (v = g):",
                    f"  first order   C - eta g.g                  = {s['first']:.6g}",
                    f"  second order  C - eta g.g + eta^2/2 g.Hg   = {s['second']:.6g}",
                    f"  actual        C(theta - eta g)             = {s['actual']:.6g}"]
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        """The same, as Markdown with LaTeX equations."""
        md = ["# The Hessian-vector product, worked for one sample", "",
              f"Loss `{self.loss_name}`, direction $v$ = {self.direction}. "
              r"$R\{x\} = \frac{d}{d\epsilon} x(\theta + \epsilon v)\big|_{\epsilon=0}$.", "",
              f"$$x = a^{{0}} = {nt.tex(self.x)}, \\qquad y = {nt.tex(self.y)}, \\qquad C = "
              f"{self.loss:.6g}$$", "", "## R-forward", ""]
        for t in self.layers:
            md += [f"$$R\\{{z^{{{t.l}}}\\}} = W^{{{t.l}}} R\\{{a^{{{t.l - 1}}}\\}} + "
                   f"V^{{{t.l}}} a^{{{t.l - 1}}} + v_b^{{{t.l}}} = {nt.tex(t.W)} {nt.tex(t.Ra_prev)} + "
                   f"{nt.tex(t.V)} {nt.tex(t.a_prev)} + {nt.tex(t.v_b)} = {nt.tex(t.Rz)}$$", "",
                   f"$$R\\{{a^{{{t.l}}}\\}} = {t.tex}'(z^{{{t.l}}}) \\odot R\\{{z^{{{t.l}}}\\}} = "
                   f"{nt.tex(t.Ra)}$$", ""]
        md += ["## R-backward", ""]
        for t in reversed(self.layers):
            if t.g is not None and t.fsecond is not None:
                md += [f"$$R\\{{\\delta^{{{t.l}}}\\}} = R\\{{g^{{{t.l}}}\\}} \\odot {t.tex}'"
                       f"(z^{{{t.l}}}) + g^{{{t.l}}} \\odot {t.tex}''(z^{{{t.l}}}) \\odot "
                       f"R\\{{z^{{{t.l}}}\\}} = {nt.tex(t.Rg)} \\odot {nt.tex(t.fprime)} + {nt.tex(t.g)} "
                       f"\\odot {nt.tex(t.fsecond)} \\odot {nt.tex(t.Rz)} = {nt.tex(t.R_delta)}$$", ""]
            else:  # a fused output layer, or softmax (Softmax.backward_tangent)
                md += [f"$$R\\{{\\delta^{{{t.l}}}\\}} = {nt.tex(t.R_delta)}$$", ""]
            md += [f"$$R\\{{\\partial C / \\partial W^{{{t.l}}}\\}} = R\\{{\\delta^{{{t.l}}}\\}} "
                   f"(a^{{{t.l - 1}}})^T + \\delta^{{{t.l}}} (R\\{{a^{{{t.l - 1}}}\\}})^T = "
                   f"{nt.tex(t.HW)}$$", ""]
        md += ["## H v beside finite differences of gradients", "",
               "| entry | R-operator | finite difference |", "|---|---|---|"]
        for t in self.layers:
            for (j, k), h in np.ndenumerate(t.HW):
                md.append(f"| $W^{{{t.l}}}_{{{j + 1}{k + 1}}}$ | {h:.6e} | "
                          f"{t.HW_numeric[j, k]:.6e} |")
            for j, h in enumerate(t.Hb):
                md.append(f"| $b^{{{t.l}}}_{{{j + 1}}}$ | {h:.6e} | {t.Hb_numeric[j]:.6e} |")
        md += ["", f"Curvature along $v$: $v^T H v / v^T v = {self.vHv / self.vv:.6g}$.", ""]
        if self.step is not None:
            s = self.step
            md += [f"One gradient-descent step, $\\eta = {s['eta']:g}$: first order "
                   f"{s['first']:.6g}, second order {s['second']:.6g}, actual "
                   f"{s['actual']:.6g}.", ""]
        return "\n".join(md)

    def __str__(self) -> str:
        return self.text()


def explain_hvp(net: "Network | None" = None, x: Any = None, y: Any = None, v: Any = "gradient",
                *, learning_rate: float = 0.5, eps: float = 1e-4) -> HVPExplanation:
    """``H v`` for one sample, every R-quantity kept and each entry beside its finite difference.

    Parameters
    ----------
    net : Network, optional
        Dense layers only, within :data:`glassnet.explain.MAX_UNITS` and ``MAX_LAYERS``;
        computed on a float64 copy. Default: the 2-3-2 sigmoid network of :func:`glassnet.explain`.
    x, y : array-like, optional
        One sample and its target (defaults with the default network).
    v : 'gradient', 'ones' or array-like of shape (n_params,), default='gradient'
        The direction: the gradient of the cost at the sample, all ones, or given.
    learning_rate : float, default=0.5
        ``eta`` of the step whose Taylor prediction is checked (``v = 'gradient'`` only).
    eps : float, default=1e-4
        Step of the fourth-order central differences of gradients.

    Examples
    --------
    >>> e = explain_hvp()
    >>> bool(np.allclose(e.layers[0].HW, e.layers[0].HW_numeric, atol=1e-9))
    True
    """
    net, x, y = sample_or_default(net, x, y, "explain_hvp")
    _check_small(net)
    learning_rate = check_scalar(learning_rate, "learning_rate", "explain_hvp", low=0.0,
                                 low_open=True)
    net64 = net.astype("float64").to("cpu")
    X = np.asarray(x, dtype=np.float64)
    X = X.reshape(1, -1) if X.ndim == 1 else X
    if X.ndim != 2 or len(X) != 1:
        raise ValueError(f"explain_hvp works on one sample: x of shape ({net.n_in},) or "
                         f"(1, {net.n_in}); got {X.shape}. Pick one row, e.g. X[i].")
    y_arr = np.asarray(y)
    X, Y = net64.check_Xy(X, y_arr.reshape(1) if y_arr.ndim == 0 else y_arr.reshape(1, -1))
    cv = Curvature(net64, X, Y)
    if isinstance(v, str):
        if v not in ("gradient", "ones"):
            raise ValueError(f"explain_hvp: v must be 'gradient', 'ones' or a vector of "
                             f"{net64.n_params} numbers; got {v!r}.")
        direction, v = v, (cv.grad.copy() if v == "gradient" else np.ones(net64.n_params))
    else:
        direction = "given"
    Hv = cv.hvp(v)
    vec = cv.direction(v)
    theta = net64.theta.copy()

    def grad_at(step: float) -> np.ndarray:
        net64.theta[...] = theta + step * vec
        net64.backprop(X, Y)
        return net64.grad.copy()

    numeric = _central([grad_at(s) for s in (eps, -eps, 2 * eps, -2 * eps)], eps)
    net64.theta[...] = theta
    H, N = cv.views(Hv), cv.views(numeric)
    layers = []
    for l, layer in enumerate(net64.layers, start=1):
        s, key, act = cv.saved[str(l - 1)], str(l - 1), layer.activation
        fused_out = net64.fused and l == len(net64.layers)
        layers.append(HVPLayer(
            l=l, activation=act.name, W=layer.W.copy(), V=cv.v[key + ".W"].copy(),
            v_b=cv.v[key + ".b"].copy(), a_prev=s.a_prev[0],
            Ra_prev=np.zeros(layer.n_in) if s.Ra_prev is None else s.Ra_prev[0], z=s.z[0],
            Rz=s.Rz[0], fprime=act.derivative(s.z, s.a)[0],
            fsecond=(None if fused_out or act.name == "softmax"
                     else act.second_derivative(s.z, s.a)[0]),
            Ra=s.Ra[0], g=None if fused_out else s.grad_a[0],
            Rg=None if fused_out else s.Rg[0], delta=s.delta[0], R_delta=s.R_delta[0],
            HW=H[key + ".W"], Hb=H[key + ".b"], HW_numeric=N[key + ".W"],
            Hb_numeric=N[key + ".b"]))
    vec_host = np.asarray(vec)
    step = None
    if direction == "gradient":
        g = cv.grad
        eta = float(learning_rate)
        C = cv.loss + net64.penalty()
        net64.theta[...] = theta - eta * g
        actual = net64.cost(X, Y)
        net64.theta[...] = theta
        step = {"eta": eta, "first": C - eta * float(g @ g),
                "second": C - eta * float(g @ g) + 0.5 * eta ** 2 * float(g @ Hv),
                "actual": float(actual)}
    return HVPExplanation(x=X[0], y=Y[0], loss_name=net64.loss_fn.name, fused=net64.fused,
                          loss=cv.loss + net64.penalty(), direction=direction,
                          vHv=float(vec_host @ Hv), vv=float(vec_host @ vec_host),
                          layers=layers, step=step)


def _check_small(net: "Network") -> None:
    """The worked HVP writes out every number: Dense layers of at most ``notation.MAX_UNITS``."""
    for i, layer in enumerate(net.layers):
        kind = layer_kind(layer)
        if kind != "Dense":
            raise TypeError(f"explain_hvp writes out Dense layers only; layer {i} is a {kind}. "
                            "Use glassnet.hvp for the product on any network.")
    if max(net.sizes) > nt.MAX_UNITS:
        raise ValueError(f"explain_hvp writes out every number, so it takes at most "
                         f"{nt.MAX_UNITS} units per layer (inputs included); got sizes "
                         f"{'-'.join(map(str, net.sizes))}. Use glassnet.hvp for larger networks.")
