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

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import notation as nt
from .device import to_numpy
from .explain_steps import build_steps
from .explanation import BlockTrace, Explanation, LayerTrace, Step
from .layers import Dense, layer_kind

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

def sample_or_default(net: "Network | None", x: Any, y: Any, who: str
                      ) -> tuple["Network", Any, Any]:
    """``(net, x, y)``, the derivation's worked example filling in what is None (all of it, or
    the sample of :func:`default_network`); a network of one's own needs its own sample."""
    if net is None:
        net = default_network()
        x = DEFAULT_X if x is None else x
        y = DEFAULT_Y if y is None else y
    if x is None or y is None:
        raise ValueError(f"{who}(net, x, y) needs one sample x and its target y; got None. "
                         f"Call {who}() with no arguments for the built-in example.")
    return net, x, y


def default_network() -> "Network":
    """The 2-3-2 sigmoid network with mse and the fixed weights of the worked example."""
    from .network import Network

    layers = []
    for W, b in DEFAULT_WEIGHTS:
        layer = Dense(len(W[0]), len(W), "sigmoid", init="zeros", dtype="float64")
        layer.W[...], layer.b[...] = W, b
        layers.append(layer)
    return Network(layers, loss="mse", dtype="float64")


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
    net, x, y = sample_or_default(net, x, y, "explain")
    from .validation import check_scalar

    learning_rate = check_scalar(learning_rate, "learning_rate", "explain", low=0.0,
                                 low_open=True)
    eps = check_scalar(eps, "eps", "explain", low=0.0, low_open=True)
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
    e._steps = build_steps(e)
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
        kind = layer_kind(layer)
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
"""Layer type (:func:`~glassnet.layers.layer_kind`) -> its tracer; None: the identity in inference."""


def _trace(net: "Network") -> tuple[list[LayerTrace | BlockTrace], list[str]]:
    units: list[LayerTrace | BlockTrace] = []
    notes: list[str] = []
    for layer in net.layers:
        kind = layer_kind(layer)
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
        kind = layer_kind(layer)
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
