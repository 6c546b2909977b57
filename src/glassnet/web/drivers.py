"""Which training points drive a weight: weight_drivers as the playground asks for it and draws it.

The page names a weight as it draws it: ``layer`` is the diagram's column ``l = 1 .. L`` (the
label of ``W^l`` in explain and the step-through; Dropout, the identity when drawing, is not a
column), ``j`` the neuron the link leads to (the row of ``W^l``) and ``k`` the neuron it comes
from (the column), both from 0. The batch gradient of that entry over the ``n`` training points
is a sum of one term per point,

    dW^l[j, k] = sum_i delta_ij a_prev_ik = (1/n) sum_i g_i,    g_i = n delta_ij a_prev_ik,

(``delta = dC/dz`` of the whole batch, whose rows carry the ``1/n`` of the mean loss; ``g_i``
the gradient of point ``i``'s own loss, which explain shows for that point alone).
:func:`answer` turns weight_drivers' result into the JSON the page draws; every number in it is
weight_drivers' own or the engine's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..layers import Layer, walk
from ..network import Network
from ..per_sample import Drivers
from .settings import SettingsError, shown

__all__ = ["FIELDS", "DriversRequest", "answer", "parameter_key", "parse_request"]

FIELDS = ("layer", "j", "k", "top")
"""The keys a request may have; ``top`` is optional (5, or every point if there are fewer)."""
DEFAULT_TOP = 5


class DriversRequest(NamedTuple):
    """A checked request: the weight ``W^layer[j, k]`` and how many points to list."""

    layer: int
    j: int
    k: int
    top: int


def parse_request(body: Any, shapes: list[tuple[int, ...]], n_train: int) -> DriversRequest:
    """Check ``{"layer": l, "j": j, "k": k[, "top": m]}`` against the network's weights.

    Parameters
    ----------
    body : any
        The request's JSON value.
    shapes : list of (n_out, n_in)
        The shape of ``W^l`` of each drawn layer ``l = 1 .. L``.
    n_train : int
        The number of training points (``top`` may be at most this).

    Raises
    ------
    SettingsError
        Field ``'body'`` for a body that is not an object, the key's name for a missing or an
        unknown key, and the field itself for a value that is not an integer in its range.
    """
    example = '{"layer": l, "j": j, "k": k}, optionally with "top": m'
    if not isinstance(body, dict):
        raise SettingsError("body", f"Send {example}; got {shown(body)}.")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise SettingsError(unknown[0][:60], f"Unknown field {shown(unknown[0])}: send {example}.")
    missing = [name for name in FIELDS[:3] if name not in body]
    if missing:
        raise SettingsError(missing[0], f"The {missing[0]!r} field is missing: send {example}.")
    L = len(shapes)
    layer = _integer("layer", body["layer"], 1, L,
                     "the column of the diagram; 0 is the input features, which have no weights")
    n_out, n_in = shapes[layer - 1]
    j = _integer("j", body["j"], 0, n_out - 1, f"the neuron of layer {layer} the weight leads to")
    k = _integer("k", body["k"], 0, n_in - 1, f"the neuron of layer {layer - 1} it comes from")
    top = _integer("top", body.get("top", min(DEFAULT_TOP, n_train)), 1, n_train,
                   "how many training points to list")
    return DriversRequest(layer, j, k, top)


def _integer(name: str, value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(name, f"The {name!r} field must be an integer in [{low}, {high}] "
                            f"({what}); got {shown(value)}.")
    return value


def parameter_key(net: Network, dense: Layer) -> str:
    """The ``net.params()`` key of ``dense``'s weight matrix: ``'0.W'``, ``'1.0.W'``, ..."""
    return next(f"{key}.W" for key, layer in walk(net.layers) if layer is dense)


def answer(d: Drivers, request: DriversRequest, points: np.ndarray, labels: np.ndarray,
           net: Network) -> dict[str, Any]:
    """The JSON of the page's drivers panel, from weight_drivers' result ``d``.

    ``points[i]`` and ``labels[i]`` are training point ``i``'s coordinates and label (a class
    index or a value). ``contribution`` is ``g_i / n = delta_ij a_prev_ik``, the point's term in
    ``dW``; ``share`` is ``|g_i| / sum_i |g_i|`` over all the points. ``total`` is the sum of
    every point's term (the loss's gradient); ``grad`` is the engine's ``dW^l[j, k]`` after the
    same backward pass, which also holds the L1/L2 penalty's gradient when the session has one.
    """
    l, j, k = request.layer, request.j, request.k
    grad = float(net.grads()[d.key][j, k])
    penalised = bool(net.l1 or net.l2)
    entry = f"W^{l}[{j},{k}]"
    equation = f"d{entry} = sum_i delta_ij a_prev_ik"
    if net.l2:
        equation += f" + {net.l2:g} {entry}"
    if net.l1:
        equation += f" + {net.l1:g} sign({entry})"
    contributions, shares = d.contributions, d.shares
    rows = [{"rank": r + 1, "index": int(i), "point": [float(v) for v in points[i]],
             "y": float(labels[i]), "delta": float(d.delta[r]),
             "a_prev": None if d.a_prev is None else float(d.a_prev[r]),
             "g": float(d.per_sample[r]), "contribution": float(contributions[r]),
             "share": float(shares[r])}
            for r, i in enumerate(d.samples)]
    return {"layer": l, "j": j, "k": k, "top": request.top, "key": d.key, "n": d.n,
            "weight": float(net.params()[d.key][j, k]), "total": d.total, "grad": grad,
            "penalised": penalised, "abs_total": d.abs_total, "equation": equation,
            "call": f"weight_drivers(net, X_train, y_train, {d.key!r}, ({j}, {k}), "
                    f"top={request.top})",
            "source": "glassnet.per_sample.weight_drivers", "text": d.text(), "drivers": rows}
