"""Second order by hand: Hessian-vector products by the R-operator, and Gauss-Newton products.

The R-operator (Pearlmutter, 1994) is the directional derivative along a direction ``v`` in
parameter space: ``R{x} = d/de x(theta + e v)`` at ``e = 0``. It obeys the ordinary rules of
differentiation, with ``R{theta} = v`` and ``R{X} = R{y} = 0``. Applied to the gradient it gives
the Hessian-vector product, ``R{dC/dtheta} = H v``, at the cost of a few passes and without
forming ``H``. Applied line by line to the forward and the backward pass it reads (Dense layer,
``V`` and ``v_b`` the parts of ``v`` for its ``W`` and ``b``):

R-forward (tangents, from the input up; ``R{a^0} = R{X} = 0``)::

    z = a_prev W^T + b          R{z} = R{a_prev} W^T + a_prev V^T + v_b
    a = f(z)                    R{a} = f'(z) * R{z}                 (softmax: its JVP)

R-backward (the back-propagation of the back-propagation, from the output down)::

    g^L = dC/da^L               R{g^L} = (w/n) H_a R{a^L}            Loss.hvp
    delta^L = w (a - y) / n     R{delta^L} = (w/n) (da/dz) R{z^L}    FusedLoss.hvp_logits
    delta = g * f'(z)           R{delta} = R{g} * f'(z) + g * f''(z) * R{z}
    dW = delta^T a_prev         R{dW} = R{delta}^T a_prev + delta^T R{a_prev}
    db = sum_i delta_i          R{db} = sum_i R{delta}_i
    g_prev = delta W            R{g_prev} = R{delta} W + delta V
    penalty dW += l2 W          R{dW} += l2 V

(``R{delta}`` across an activation is :meth:`Activation.backward_tangent`.) A residual block
``a = x + F(x)`` gives ``R{a} = R{x} + R{F(x)}`` forward and ``R{g_x} = R{g} + R{(dF/dx)^T g}``
backward; Dropout multiplies tangents by its fixed mask. The collected ``R{dW}, R{db}`` are
``H v``, laid out like ``net.theta``.

The Gauss-Newton matrix ``G = J^T H_out J`` (``J`` the Jacobian of the network's output,
``H_out`` the loss's Hessian with respect to it: the logits for the fused losses) is positive
semi-definite for every glassnet loss. ``G v`` is the same R-backward with every term that
multiplies a tangent by a first-order backward quantity (``g f''(z) R{z}``,
``delta^T R{a_prev}``, ``delta V``) left out: those terms are ``sum_k (dC/do_k) d^2 o_k``, the
part of ``H`` that the network's own curvature contributes. What is left is the ordinary
backward pass seeded with ``H_out J v``.

Every layer kind has its rules in :data:`R_RULES`, keyed by :func:`~glassnet.layers.layer_kind`; an
unknown kind is refused by name. :class:`Curvature` runs the forward pass and the ordinary
backward pass once (each layer's own ``backward``) and keeps what the R-passes read, so that
each further product costs one R-forward and one R-backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .activations import Activation
from .device import to_numpy
from .layers import Layer, layer_kind, walk
from .per_sample import DenseRule
from .validation import check_sample_weight, derived_from_own

if TYPE_CHECKING:
    from .network import Network

__all__ = ["R_RULES", "Curvature", "ggn_diagonal", "gnvp", "hessian", "hvp"]

MAX_HESSIAN_PARAMS = 5000
""":func:`hessian` forms ``n_params`` columns; past this it refuses (use :func:`hvp`)."""


def _add(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
    """``x + y`` where None stands for a zero tangent."""
    if x is None:
        return y
    return x if y is None else x + y


@dataclass
class _Saved:
    """What the R-passes read of one layer: its caches, copied after the ordinary backward."""

    a_prev: Any = None
    z: Any = None
    a: Any = None
    delta: Any = None
    grad_a: Any = None  # dC/da handed to its backward (None for a fused output layer)
    mask: Any = None
    Rz: Any = None      # R{z}, R{a_prev}, R{a} of the last R-forward pass,
    Ra_prev: Any = None
    Ra: Any = None
    Rg: Any = None      # R{grad_a} and R{delta} of the last R-backward pass (for explain_hvp)
    R_delta: Any = None


class _DenseR:
    """The R-operator of ``z = a_prev W^T + b``, ``a = f(z)`` (see the module docstring)."""

    @staticmethod
    def save(cv: "Curvature", key: str, layer: Any, grad_a: Any, need: bool,
             delta: Any = None) -> Any:
        """The layer's own backward (``backward_delta`` from a fused delta); keeps its caches."""
        if delta is None:
            grad_prev = layer.backward(grad_a, need)
        else:
            grad_prev = layer.backward_delta(delta, need)
        keep = cv.keep
        cv.saved[key] = _Saved(a_prev=keep(layer.a_prev), z=keep(layer.z), a=keep(layer.a),
                               delta=keep(layer.delta),
                               grad_a=None if grad_a is None else keep(grad_a))
        return grad_prev

    @staticmethod
    def forward(cv: "Curvature", key: str, layer: Any, Ra_prev: Any) -> Any:
        s, V, v_b = cv.saved[key], cv.v[key + ".W"], cv.v[key + ".b"]
        Rz = s.a_prev @ V.T + v_b                        # R{z} = a_prev V^T + v_b
        if Ra_prev is not None:
            Rz += Ra_prev @ layer.W.T                    #      + R{a_prev} W^T
        s.Rz, s.Ra_prev = Rz, Ra_prev
        s.Ra = layer.activation.jvp(s.z, s.a, Rz)        # R{a} = f'(z) * R{z}
        return s.Ra

    @staticmethod
    def backward(cv: "Curvature", key: str, layer: Any, Rg: Any, need: bool, mode: str,
                 R_delta: Any = None) -> Any:
        s, act = cv.saved[key], layer.activation
        if R_delta is None:
            if mode == "hessian":  # R{delta} = R{g} * f'(z) + g * f''(z) * R{z}
                R_delta = act.backward_tangent(s.z, s.a, s.grad_a, s.Rz, Rg)
            else:                  # Gauss-Newton: the first term only
                R_delta = act.backward(s.z, s.a, Rg)
        s.Rg, s.R_delta = Rg, R_delta
        out_W, out_b = cv.out[key + ".W"], cv.out[key + ".b"]
        if mode == "squares":  # sum_i (R{delta}_i a_prev_i^T)^2 for the Gauss-Newton diagonal
            sq = DenseRule.sum_of_squares(s.a_prev, R_delta)
            out_W += sq["W"]
            out_b += sq["b"]
        else:
            out_W[...] = R_delta.T @ s.a_prev            # R{dW} = R{delta}^T a_prev
            if mode == "hessian" and s.Ra_prev is not None:
                out_W += s.delta.T @ s.Ra_prev           #       + delta^T R{a_prev}
            out_b[...] = R_delta.sum(axis=0)             # R{db} = sum_i R{delta}_i
        if not need:
            return None
        Rg_prev = R_delta @ layer.W                      # R{g_prev} = R{delta} W
        if mode == "hessian":
            Rg_prev += s.delta @ cv.v[key + ".W"]        #          + delta V
        return Rg_prev


class _ResidualR:
    """``a = x + F(x)``: tangents and their backward go through ``F`` and the skip, and add."""

    @staticmethod
    def save(cv: "Curvature", key: str, layer: Any, grad_a: Any, need: bool) -> Any:
        g = grad_a
        for j in range(len(layer.layers) - 1, -1, -1):
            g = cv.rule(f"{key}.{j}", layer.layers[j]).save(cv, f"{key}.{j}", layer.layers[j], g,
                                                            True)
        return _add(grad_a, g) if need else None          # dC/dx = g + (dF/dx)^T g

    @staticmethod
    def forward(cv: "Curvature", key: str, layer: Any, Ra_prev: Any) -> Any:
        h = Ra_prev
        for j, inner in enumerate(layer.layers):
            h = cv.rule(f"{key}.{j}", inner).forward(cv, f"{key}.{j}", inner, h)
        return _add(Ra_prev, h)                           # R{a} = R{x} + R{F(x)}

    @staticmethod
    def backward(cv: "Curvature", key: str, layer: Any, Rg: Any, need: bool, mode: str) -> Any:
        h = Rg
        for j in range(len(layer.layers) - 1, -1, -1):
            inner = layer.layers[j]
            h = cv.rule(f"{key}.{j}", inner).backward(cv, f"{key}.{j}", inner, h, True, mode)
        return _add(Rg, h) if need else None               # R{g_x} = R{g} + R{(dF/dx)^T g}


class _DropoutR:
    """``a = a_prev * m``, ``m`` fixed: tangents are multiplied by ``m`` both ways."""

    @staticmethod
    def save(cv: "Curvature", key: str, layer: Any, grad_a: Any, need: bool) -> Any:
        cv.saved[key] = _Saved(mask=None if layer.mask is None else cv.keep(layer.mask))
        return layer.backward(grad_a, need)

    @staticmethod
    def _times_mask(cv: "Curvature", key: str, x: Any) -> Any:
        mask = cv.saved[key].mask
        return x if x is None or mask is None else x * mask

    @classmethod
    def forward(cls, cv: "Curvature", key: str, layer: Any, Ra_prev: Any) -> Any:
        return cls._times_mask(cv, key, Ra_prev)

    @classmethod
    def backward(cls, cv: "Curvature", key: str, layer: Any, Rg: Any, need: bool,
                 mode: str) -> Any:
        return cls._times_mask(cv, key, Rg) if need else None


R_RULES: dict[str, Any] = {"Dense": _DenseR, "Residual": _ResidualR, "Dropout": _DropoutR}
"""Layer type -> its R-operator rules: ``save`` (the layer's own backward, keeping its caches),
``forward`` (R-forward) and ``backward`` (R-backward, or Gauss-Newton)."""


class Curvature:
    """The curvature of the cost on one batch: ``H v``, ``G v``, ``diag(G)`` and ``H``.

    Building it runs the forward pass and the ordinary backward pass (each layer's own
    ``backward``) once; each product then costs one R-forward and one R-backward pass.

    Parameters
    ----------
    net : Network
        Dense, Residual and Dropout layers (Dropout as it is now: the identity unless
        ``net.training``; a training-mode mask is drawn once and kept). Every activation needs
        ``second_derivative`` for :meth:`hvp`.
    X : array-like of shape (n_samples, n_in)
        Inputs as ``net.backprop`` takes them (already scaled).
    y : array-like
        Targets.
    sample_weight : array-like of shape (n_samples,), optional
    copy : bool, default=True
        Keep copies of the layers' cached arrays, so that products stay right whatever the
        network does next (until its weights change, which is checked). False keeps the layers'
        own buffers, valid only until the network's next pass: the one-product functions
        :func:`hvp` and :func:`gnvp` use that.

    Attributes
    ----------
    loss : float
        The loss on the batch (no penalty); ``loss + net.penalty()`` is the cost.
    grad : ndarray of shape (n_params,)
        The gradient of the cost, as ``net.grad`` holds it after ``net.backprop``.

    Raises
    ------
    ValueError
        For a layer type without rules in :data:`R_RULES`.
    TypeError
        For an activation without a second derivative (:meth:`hvp` needs it).
    RuntimeError
        From a product when ``net``'s weights changed since the Curvature was built.

    Examples
    --------
    >>> from glassnet import mlp
    >>> net = mlp([2, 3, 1], activation="tanh", dtype="float64")
    >>> cv = Curvature(net, [[0.5, -1.0]], [[0.2]])
    >>> H = cv.hessian()
    >>> H.shape, bool(np.allclose(H, H.T))
    ((13, 13), True)
    """

    def __init__(self, net: "Network", X: Any, y: Any, *, sample_weight: Any = None,
                 copy: bool = True):
        self.keep = (lambda x: x.copy()) if copy else (lambda x: x)
        for key, layer in walk(net.layers):
            self.rule(key, layer)
            act = getattr(layer, "activation", None)
            if act is not None:
                self._check_second_order(key, act)
        X, Y = (net.to_device(a) for a in net.check_Xy(X, y))
        w = None
        if sample_weight is not None:
            w = check_sample_weight(sample_weight, len(X), "Curvature").astype(net.dtype)
            w = net.to_device(w)
        self.net, self.Y, self.w = net, Y, w
        self.saved: dict[str, _Saved] = {}
        self.v: dict[str, Any] = {}
        self.out: dict[str, Any] = {}
        self.layout = [(key, p.size, p.shape) for key, p in net.params().items()]
        self.a_out = self.keep(net.propagate(X))
        self.loss = self._save_backward()
        self.theta = net.theta.copy() if copy else None
        self.grad = self.keep(to_numpy(net.grad))
        self.penalized = [f"{key}.{name}" for key, layer in walk(net.layers)
                          for name in layer.penalized]
        self.n_products = 0

    # ------------------------------------------------------------------ set-up
    def rule(self, key: str, layer: Layer) -> Any:
        kind = layer_kind(layer)
        if kind not in R_RULES:
            raise ValueError(
                f"Second order knows the layer types {', '.join(R_RULES)}; layer {key} is "
                f"{kind!r}. Add its rules to glassnet.second_order.R_RULES.")
        return R_RULES[kind]

    def _check_second_order(self, key: str, act: Any) -> None:
        for method in ("second_derivative", "backward_tangent"):
            if isinstance(act, Activation) and not derived_from_own(
                    act, method, ("forward", "derivative"), Activation):
                raise TypeError(
                    f"Layer {key}'s activation {act.name!r} ({type(act).__name__}) changes "
                    f"forward or derivative but keeps the {method} it inherits, which belongs "
                    f"to another function: write its own {method} to use hvp, hessian and "
                    "sharpness with it.")
        z = np.zeros((1, 2))
        try:
            act.backward_tangent(z, act.forward(z.copy()), z, z, z)
        except NotImplementedError as err:
            raise TypeError(f"Layer {key}'s activation {act.name!r} has no second derivative: "
                            f"{err}") from None

    def _save_backward(self) -> float:
        """The ordinary backward pass, layer by layer, each layer's R-inputs kept."""
        net, layers = self.net, self.net.layers
        last = len(layers) - 1
        out, key = layers[-1], str(last)
        if net.fused:  # delta^L = w (a - y) / n from the logits
            if layer_kind(out) != "Dense":
                raise ValueError(f"A fused loss needs a Dense output layer; layer {key} is "
                                 f"{layer_kind(out)!r}.")
            loss, delta = net.loss_fn.value_and_delta(out.z, out.a, self.Y, self.w)
            g = _DenseR.save(self, key, out, None, last > 0, delta=delta)
        else:
            loss, grad_a = net.loss_fn.value_and_grad(self.a_out, self.Y, self.w)
            g = self.rule(key, out).save(self, key, out, grad_a, last > 0)
        for i in range(last - 1, -1, -1):
            g = self.rule(str(i), layers[i]).save(self, str(i), layers[i], g, i > 0)
        params, grads = net.params(), net.grads()
        for key, layer in walk(layers):  # the penalty's gradient, as net.backward adds it
            for name in layer.penalized:
                if net.l2:
                    grads[f"{key}.{name}"] += net.l2 * params[f"{key}.{name}"]
                if net.l1:
                    grads[f"{key}.{name}"] += net.l1 * np.sign(params[f"{key}.{name}"])
        return float(loss)

    def views(self, flat: Any) -> dict[str, Any]:
        """``flat`` (laid out like ``net.theta``) split into views keyed like ``net.params()``."""
        views, offset = {}, 0
        for key, size, shape in self.layout:
            views[key] = flat[offset:offset + size].reshape(shape)
            offset += size
        return views

    def direction(self, v: Any) -> Any:
        """``v`` (flat, or a dict like ``net.params()``) checked, flat in the network's dtype."""
        net = self.net
        if isinstance(v, dict):
            missing = [key for key, _, _ in self.layout if key not in v]
            if missing:
                raise ValueError(f"The direction v lacks the parameters {missing}; give every "
                                 "key of net.params(), or a flat vector like net.theta.")
            bad = [f"{key} {np.shape(v[key])} (wants {shape})" for key, _, shape in self.layout
                   if np.shape(v[key]) != shape]
            if bad:
                raise ValueError(f"The direction v has parts of the wrong shape: "
                                 f"{', '.join(bad)}.")
            v = np.concatenate([np.asarray(to_numpy(v[key]), dtype=np.float64).ravel()
                                for key, _, _ in self.layout])
        flat = np.asarray(to_numpy(v))
        if not np.issubdtype(flat.dtype, np.number) or \
                np.issubdtype(flat.dtype, np.complexfloating):
            raise TypeError(f"The direction v must hold real numbers; got dtype {flat.dtype}.")
        if flat.shape != (net.n_params,):
            raise ValueError(f"The direction v must have shape ({net.n_params},) like net.theta "
                             f"(or be a dict like net.params()); got shape {flat.shape}.")
        with np.errstate(over="ignore", invalid="ignore"):  # a finite sum: no NaN or inf
            finite = np.isfinite(flat.sum()) or np.all(np.isfinite(flat))
        if not finite:
            raise ValueError("The direction v contains NaN or inf.")
        return net.to_device(flat.astype(net.dtype, copy=False))

    def _check_weights(self) -> None:
        if self.theta is None:
            raise RuntimeError("This Curvature was built with copy=False: it held the layers' "
                               "buffers for one product only. Build one with copy=True.")
        if not bool(self.net.xp.array_equal(self.net.theta, self.theta)):
            raise RuntimeError("The network's weights changed since this Curvature was built. "
                               "Build a new one: Curvature(net, X, y).")

    # ------------------------------------------------------------------ the products
    def _r_forward(self) -> Any:
        Ra = None
        for i, layer in enumerate(self.net.layers):
            Ra = self.rule(str(i), layer).forward(self, str(i), layer, Ra)
        return Ra

    def _r_backward(self, seed: Any, mode: str) -> None:
        """From the seed ``R{g^L}`` (``R{delta^L}`` for a fused loss) down to the first layer."""
        layers, last = self.net.layers, len(self.net.layers) - 1
        key = str(last)
        if self.net.fused:
            Rg = _DenseR.backward(self, key, layers[-1], None, last > 0, mode, R_delta=seed)
        else:
            Rg = self.rule(key, layers[-1]).backward(self, key, layers[-1], seed, last > 0, mode)
        for i in range(last - 1, -1, -1):
            Rg = self.rule(str(i), layers[i]).backward(self, str(i), layers[i], Rg, i > 0, mode)

    def _output_hvp(self, R_out: Any) -> Any:
        """``R{g^L} = (w/n) H_a R{a^L}``, or for a fused loss ``R{delta^L}`` from ``R{z^L}``."""
        loss = self.net.loss_fn
        if self.net.fused:
            s = self.saved[str(len(self.net.layers) - 1)]
            return loss.hvp_logits(s.z, s.a, self.Y, R_out, self.w)  # type: ignore[attr-defined]
        return loss.hvp(self.a_out, self.Y, R_out, self.w)

    def _product(self, v: Any, mode: str, check: bool = True) -> np.ndarray:
        """``H v`` or ``G v``; ``check=False`` only where the weights cannot have changed."""
        if check:
            self._check_weights()
        flat_v = self.direction(v)
        self.v = self.views(flat_v)
        out = self.net.xp.zeros(self.net.theta.shape, self.net.dtype)
        self.out = self.views(out)
        Ra = self._r_forward()
        R_out = self.saved[str(len(self.net.layers) - 1)].Rz if self.net.fused else Ra
        self._r_backward(self._output_hvp(R_out), mode)
        if self.net.l2:  # the penalty (l2/2) ||W||^2 adds l2 I on the weights; l1 adds 0
            for key in self.penalized:
                self.out[key] += self.net.l2 * self.v[key]
        self.n_products += 1
        return to_numpy(out)

    def hvp(self, v: Any) -> np.ndarray:
        """``H v``: the Hessian of the cost times ``v`` (flat like ``net.theta``, or a dict).

        Returns a NumPy array of shape (n_params,), laid out like ``net.theta``.
        """
        return self._product(v, "hessian")

    def gnvp(self, v: Any) -> np.ndarray:
        """``G v = J^T H_out J v`` (plus ``l2 v`` on the weights): positive semi-definite."""
        return self._product(v, "gauss_newton")

    def ggn_diagonal(self) -> np.ndarray:
        """``diag(G)``, exactly: ``sum_i sum_k (J_i^T s_ik)^2`` with ``H_out,i = S_i S_i^T``.

        ``S_i`` comes from the eigen-decomposition of sample ``i``'s output Hessian (formed
        from ``n_out`` loss Hessian-vector products); one Gauss-Newton backward pass per
        column ``k``, squaring the per-sample gradients (``(delta^2)^T a_prev^2``) instead
        of summing them. Cost: ``n_out`` backward passes.
        """
        self._check_weights()
        net, n_out = self.net, self.net.n_out
        n = len(self.a_out)
        H = np.empty((n, n_out, n_out))
        for k in range(n_out):  # column k of every sample's output Hessian
            e = net.xp.zeros((n, n_out), dtype=net.dtype)
            e[:, k] = 1
            H[:, :, k] = to_numpy(self._output_hvp(e))
        lam, U = np.linalg.eigh(0.5 * (H + H.transpose(0, 2, 1)))
        S = U * np.sqrt(np.maximum(lam, 0))[:, None, :]  # H_i = S_i S_i^T
        out = net.xp.zeros(net.theta.shape, net.dtype)
        self.out = self.views(out)
        for k in range(n_out):
            self._r_backward(net.to_device(S[:, :, k].astype(net.dtype)), "squares")
        if net.l2:
            for key in self.penalized:
                self.out[key] += net.l2
        return to_numpy(out)

    def hessian(self, max_params: int = MAX_HESSIAN_PARAMS) -> np.ndarray:
        """The full Hessian ``H`` of shape (n_params, n_params), column by column (``H e_p``)."""
        P = self.net.n_params
        if P > max_params:
            raise ValueError(f"hessian forms {P} x {P} entries, one Hessian-vector product per "
                             f"column; this network has more than max_params={max_params} "
                             "parameters. Use hvp, or raise max_params.")
        H = np.empty((P, P))
        e = np.zeros(P)
        for p in range(P):
            e[p] = 1
            H[:, p] = self.hvp(e)
            e[p] = 0
        return H


def hvp(net: "Network", X: Any, y: Any, v: Any, *, sample_weight: Any = None) -> np.ndarray:
    """``H v``, the Hessian of the cost on ``(X, y)`` times ``v``, by the R-operator.

    Parameters
    ----------
    net : Network
    X : array-like of shape (n_samples, n_in)
    y : array-like
    v : ndarray of shape (n_params,) or dict
        A direction laid out like ``net.theta``, or keyed like ``net.params()``.
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    ndarray of shape (n_params,)
        Laid out like ``net.theta``; split it with the keys of ``net.params()``.

    Notes
    -----
    One forward, one backward, one R-forward and one R-backward pass; the equations are in
    the module docstring. For several products on the same batch build one
    :class:`Curvature` and call its :meth:`~Curvature.hvp`. Afterwards ``net.grad`` holds
    the batch's gradient, as after ``net.backprop``.

    Examples
    --------
    >>> from glassnet import mlp
    >>> net = mlp([2, 2, 1], activation="tanh", dtype="float64")
    >>> v = np.zeros(net.n_params); v[0] = 1.0
    >>> Hv = hvp(net, [[1.0, 2.0]], [[0.5]], v)
    >>> Hv.shape
    (9,)
    """
    cv = Curvature(net, X, y, sample_weight=sample_weight, copy=False)  # one product: no copies
    return cv._product(v, "hessian", check=False)


def gnvp(net: "Network", X: Any, y: Any, v: Any, *, sample_weight: Any = None) -> np.ndarray:
    """``G v = J^T H_out J v``: the Gauss-Newton matrix of the cost times ``v``.

    See :class:`Curvature` and the module docstring.
    """
    cv = Curvature(net, X, y, sample_weight=sample_weight, copy=False)
    return cv._product(v, "gauss_newton", check=False)


def ggn_diagonal(net: "Network", X: Any, y: Any, *, sample_weight: Any = None) -> np.ndarray:
    """The diagonal of the Gauss-Newton matrix, exactly (see :meth:`Curvature.ggn_diagonal`)."""
    return Curvature(net, X, y, sample_weight=sample_weight).ggn_diagonal()


def hessian(net: "Network", X: Any, y: Any, *, sample_weight: Any = None,
            max_params: int = MAX_HESSIAN_PARAMS) -> np.ndarray:
    """The full Hessian of the cost, ``n_params`` Hessian-vector products (small networks)."""
    return Curvature(net, X, y, sample_weight=sample_weight).hessian(max_params)
