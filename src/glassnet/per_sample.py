"""Per-sample gradients from one backward pass, without a loop over the samples.

The batch loss is a mean, ``C = (1/n) sum_i w_i c_i`` (``w_i = 1`` without sample weights), so
row ``i`` of a Dense layer's ``delta = dC/dz`` is ``(w_i / n) dc_i/dz_i``: sample ``i``'s own
delta, divided by ``n``. The gradient of sample ``i``'s (weighted) loss ``w_i c_i`` is therefore
the outer product of two rows the backward pass has already cached::

    g_i^W = n delta_i a_prev_i^T        shape (n_out, n_in)
    g_i^b = n delta_i                   shape (n_out,)

and the batch gradient is their mean: ``dW = delta.T @ a_prev = (1/n) sum_i g_i^W`` (the
penalty's gradient, which belongs to no sample, comes on top in ``net.grad``). The norms need
no outer product at all, because the Frobenius norm of ``u v^T`` is ``||u|| ||v||``::

    ||g_i^W||^2 = n^2 ||delta_i||^2 ||a_prev_i||^2,    ||g_i^b||^2 = n^2 ||delta_i||^2

and ``||g_i||^2`` of the whole network is the sum over its layers. That costs one ordinary
forward and backward pass plus two row norms per layer.

Uses, each from the same cached ``delta`` and ``a_prev``:

* gradient noise (:func:`gradient_noise`): the variance of the per-sample gradients over a
  batch, ``tr S = (sum_i ||g_i||^2 - n ||g_bar||^2) / (n - 1)``, and the signal-to-noise ratio
  ``||g_bar||^2 / tr S``, per layer;
* which samples drive a weight (:func:`weight_drivers`): ``dW[j, k] = sum_i delta_ij a_prev_ik``
  term by term;
* DP-SGD (:class:`PrivateGradient`, ``fit(per_sample_clip=C, noise_multiplier=s)``): each
  ``g_i`` clipped to norm ``C`` before averaging, and Gaussian noise added.

Layers are dispatched through :data:`PER_SAMPLE`, keyed by :func:`~glassnet.layers.layer_kind`; a type
it does not know is refused by name (a layer that mixed samples would make "per sample"
meaningless, so nothing is assumed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from .device import to_numpy
from .layers import Layer, layer_kind, walk

if TYPE_CHECKING:
    from .network import Network

__all__ = [
    "PER_SAMPLE",
    "DenseRule",
    "Drivers",
    "PrivateGradient",
    "gradient_noise",
    "layer_gradient_noise",
    "layer_rule",
    "layer_rules",
    "per_sample_grad_norms",
    "per_sample_grads",
    "weight_drivers",
]


def _row_sq(x: np.ndarray) -> np.ndarray:
    """``||x_i||^2`` of every row, as one pass (``einsum('ij,ij->i')``)."""
    return (x * x).sum(axis=1)


class DenseRule:
    """Per-sample quantities of a Dense layer from its cached ``a_prev`` and ``delta``.

    Every method takes ``a_prev`` of shape (n_samples, n_in), ``delta = dC/dz`` of shape
    (n_samples, n_out) and the batch size ``n`` by which ``delta`` was divided.
    """

    names = ("W", "b")

    @staticmethod
    def cached(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
        """``(a_prev, delta)`` of the last backward pass."""
        a_prev, delta = getattr(layer, "a_prev", None), getattr(layer, "delta", None)
        if a_prev is None or delta is None:
            raise RuntimeError(f"{layer!r} has no cached a_prev and delta. Run a forward and a "
                               "backward pass (net.backprop(X, y)) first.")
        return a_prev, delta

    @staticmethod
    def grads(a_prev: np.ndarray, delta: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """``g_i^W = n delta_i a_prev_i^T``, (n, n_out, n_in); ``g_i^b = n delta_i``, (n, n_out)."""
        return {"W": n * delta[:, :, None] * a_prev[:, None, :], "b": n * delta}

    @staticmethod
    def sq_norms(a_prev: np.ndarray, delta: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """``||g_i^W||^2 = n^2 ||delta_i||^2 ||a_prev_i||^2``; ``||g_i^b||^2 = n^2 ||delta_i||^2``.

        No outer product: ``||u v^T||_F = ||u|| ||v||``.
        """
        d2 = (n * n) * _row_sq(delta)
        return {"W": d2 * _row_sq(a_prev), "b": d2}

    @staticmethod
    def mean(a_prev: np.ndarray, delta: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """``g_bar = (1/n) sum_i g_i``: ``delta.T @ a_prev`` and ``delta.sum(0)``."""
        return {"W": delta.T @ a_prev, "b": delta.sum(axis=0)}

    @staticmethod
    def sum_of_squares(a_prev: np.ndarray, delta: np.ndarray) -> dict[str, np.ndarray]:
        """``sum_i (delta_i a_prev_i^T)^2``, entry by entry: ``(delta^2).T @ a_prev^2``.

        With ``delta`` unscaled (no ``n``); :func:`glassnet.second_order.ggn_diagonal` uses it.
        """
        d2 = delta * delta
        return {"W": d2.T @ (a_prev * a_prev), "b": d2.sum(axis=0)}

    @staticmethod
    def entry(a_prev: np.ndarray, delta: np.ndarray, n: int, name: str,
              index: tuple[int, ...]) -> np.ndarray:
        """``g_i[index]`` of every sample: ``n delta_ij a_prev_ik`` for ``W[j, k]``, else
        ``n delta_ij``."""
        if name == "W":
            j, k = index
            return n * delta[:, j] * a_prev[:, k]
        return n * delta[:, index[0]]


PER_SAMPLE: dict[str, Any] = {
    "Dense": DenseRule,
    "Residual": None,  # no parameters of its own; its inner layers are walked
    "Dropout": None,   # no parameters; its mask is in the inner delta already
}
"""Layer type -> its per-sample rule (None: the layer has no parameters of its own)."""


def layer_rules(layers: Any,
                what: str = "per-sample gradients") -> Iterator[tuple[str, Layer, Any]]:
    """``(key, layer, rule)`` for every layer with parameters, in forward order.

    Raises
    ------
    ValueError
        For a layer type :data:`PER_SAMPLE` does not know.
    """
    for key, layer in walk(layers):
        rule = layer_rule(key, layer, what)
        if rule is not None:
            yield key, layer, rule


def layer_rule(key: str, layer: Layer, what: str = "per-sample gradients") -> Any:
    """The :data:`PER_SAMPLE` rule of ``layer`` (None: it has no parameters); refuses others."""
    kind = layer_kind(layer)
    if kind not in PER_SAMPLE:
        raise ValueError(
            f"{what} know the layer types {', '.join(PER_SAMPLE)}; layer {key} is {kind!r}. "
            "Add its rule to glassnet.per_sample.PER_SAMPLE.")
    return PER_SAMPLE[kind]


def _backprop(net: "Network", X: Any, y: Any, sample_weight: Any) -> int:
    """One checked forward and backward pass; returns the batch size ``n``.

    Every layer's type is checked against :data:`PER_SAMPLE` first.
    """
    for _ in layer_rules(net.layers):
        pass
    net.backprop(X, y, sample_weight=sample_weight)
    return len(X)  # backprop checked X: a 2-D array-like of n rows


def per_sample_grads(net: "Network", X: Any, y: Any, *,
                     sample_weight: Any = None) -> dict[str, np.ndarray]:
    """``g_i = d(w_i c_i)/dtheta`` for every sample, every parameter, from one backward pass.

    Parameters
    ----------
    net : Network
    X : array-like of shape (n_samples, n_in)
        Inputs as ``net.backprop`` takes them (already scaled).
    y : array-like
        Targets.
    sample_weight : array-like of shape (n_samples,), optional
        ``w_i``: ``g_i`` is then the gradient of ``w_i c_i``.

    Returns
    -------
    dict of str to ndarray
        Keys as ``net.params()``: ``'0.W'`` of shape (n_samples, n_out, n_in), ``'0.b'`` of
        shape (n_samples, n_out), ... Their mean over the samples is the batch gradient of the
        loss (``net.grad`` less the penalty's gradient). NumPy arrays in the network's dtype.

    Notes
    -----
    ``g_i^W = n delta_i a_prev_i^T`` and ``g_i^b = n delta_i``: ``n`` because the batch loss is
    the mean ``(1/n) sum_i w_i c_i``, whose ``delta`` rows are ``(w_i / n) dc_i/dz_i``. This
    forms ``n`` outer products per layer; :func:`per_sample_grad_norms` needs none.

    Examples
    --------
    >>> from glassnet import mlp
    >>> net = mlp([3, 4, 2], activation="tanh", dtype="float64")
    >>> X, y = np.ones((5, 3)), np.zeros((5, 2))
    >>> g = per_sample_grads(net, X, y)
    >>> g["0.W"].shape
    (5, 4, 3)
    >>> bool(np.allclose(g["0.W"].mean(axis=0), net.grads()["0.W"]))
    True
    """
    n = _backprop(net, X, y, sample_weight)
    out: dict[str, np.ndarray] = {}
    for key, layer, rule in layer_rules(net.layers):
        for name, g in rule.grads(*rule.cached(layer), n).items():
            out[f"{key}.{name}"] = to_numpy(g)
    return out


def per_sample_grad_norms(net: "Network", X: Any, y: Any, *, sample_weight: Any = None,
                          per_parameter: bool = False) -> Any:
    """``||g_i||`` for every sample, without forming any per-sample gradient.

    Parameters
    ----------
    net, X, y, sample_weight
        As for :func:`per_sample_grads`.
    per_parameter : bool, default=False
        Return the norms of each parameter's share ``||g_i^{key}||`` instead.

    Returns
    -------
    ndarray of shape (n_samples,), or dict of str to ndarray of shape (n_samples,)
        ``||g_i|| = sqrt(sum_l n^2 ||delta_i^l||^2 (||a_prev_i^l||^2 + 1))`` over the layers
        ``l`` (the ``+ 1`` is the bias), or per parameter key.

    Examples
    --------
    >>> from glassnet import mlp
    >>> net = mlp([3, 4, 2], activation="tanh", dtype="float64")
    >>> X, y = np.arange(15.0).reshape(5, 3) / 10, np.zeros((5, 2))
    >>> norms = per_sample_grad_norms(net, X, y)
    >>> full = per_sample_grads(net, X, y)
    >>> squares = sum((g.reshape(5, -1) ** 2).sum(axis=1) for g in full.values())
    >>> bool(np.allclose(norms, np.sqrt(squares)))
    True
    """
    n = _backprop(net, X, y, sample_weight)
    sq = squared_norms(net.layers, n)
    if per_parameter:
        return {key: np.sqrt(to_numpy(v)) for key, v in sq.items()}
    return np.sqrt(to_numpy(sum(sq.values())))


def squared_norms(layers: Any, n: int) -> dict[str, np.ndarray]:
    """``||g_i^{key}||^2`` of every parameter from the layers' cached values (after a backward)."""
    out: dict[str, np.ndarray] = {}
    for key, layer, rule in layer_rules(layers):
        for name, v in rule.sq_norms(*rule.cached(layer), n).items():
            out[f"{key}.{name}"] = v
    return out


# ---------------------------------------------------------------------- gradient noise


def layer_gradient_noise(layer: Layer) -> dict[str, float | None]:
    """The spread of the per-sample gradients of one layer's parameters over the last batch.

    Returns
    -------
    dict
        ``grad_var``: ``tr S = (sum_i ||g_i||^2 - n ||g_bar||^2) / (n - 1)``, the trace of the
        sample covariance of the per-sample gradients (all the layer's parameters together);
        ``grad_snr``: ``||g_bar||^2 / tr S``, the gradient's signal-to-noise ratio per sample
        (a mini-batch mean of ``B`` samples has ``B`` times it). Both None for a batch of one
        sample, or for a layer without parameters; ``grad_snr`` None when ``tr S`` is 0.

    Notes
    -----
    ``g_bar = (1/n) sum_i g_i`` is the batch gradient of the loss (no penalty), computed fresh
    from ``delta`` and ``a_prev`` (``delta.T @ a_prev``): after an optimiser step ``dW`` may
    hold the penalty's gradient too.
    """
    rule = layer_rule(type(layer).__name__, layer, "gradient noise")
    if rule is None:
        return {"grad_var": None, "grad_snr": None}
    a_prev, delta = rule.cached(layer)
    n = len(delta)
    if n < 2:
        return {"grad_var": None, "grad_snr": None}
    total = float(sum(v.sum() for v in rule.sq_norms(a_prev, delta, n).values()))
    mean_sq = float(sum((m * m).sum() for m in rule.mean(a_prev, delta, n).values()))
    var = max(total - n * mean_sq, 0.0) / (n - 1)
    return {"grad_var": var, "grad_snr": mean_sq / var if var > 0 else None}


def gradient_noise(net: "Network", X: Any, y: Any, *,
                   sample_weight: Any = None) -> dict[str, dict[str, float | None]]:
    """:func:`layer_gradient_noise` of every layer with parameters, keyed ``'0'``, ``'1.0'``, ...

    One forward and backward pass on ``(X, y)``.
    """
    _backprop(net, X, y, sample_weight)
    return {key: layer_gradient_noise(layer) for key, layer, _ in layer_rules(net.layers)}


# ---------------------------------------------------------------------- the drivers of a weight


@dataclass
class Drivers:
    """The terms of one gradient entry, ``dW[j, k] = (1/n) sum_i g_i[j, k]``, largest first."""

    key: str
    index: tuple[int, ...]
    total: float
    """The batch gradient's entry (the loss only, no penalty): the mean of ``per_sample``."""
    samples: np.ndarray
    """Sample indices, by ``|g_i[index]|`` from the largest."""
    per_sample: np.ndarray
    """``g_i[index]`` of those samples."""
    delta: np.ndarray
    """``n delta_ij`` (sample ``i``'s own delta at unit ``j``)."""
    a_prev: np.ndarray | None
    """``a_prev_ik`` (None for a bias)."""
    n: int
    abs_total: float = 0.0
    """``sum_i |g_i[index]|`` over all the samples: the share column's denominator."""

    @property
    def contributions(self) -> np.ndarray:
        """``g_i[index] / n``: the listed samples' terms of :attr:`total` (for ``W[j, k]``,
        ``delta_ij a_prev_ik`` with the batch's ``delta``, whose rows carry the ``1/n``)."""
        return self.per_sample / self.n

    @property
    def shares(self) -> np.ndarray:
        """``|g_i[index]| / sum_i |g_i[index]|``: the listed samples' shares of the terms' sizes."""
        return np.abs(self.per_sample) / (self.abs_total or 1.0)

    def text(self) -> str:
        """The entry written out, sample by sample, with each term's share of the sum."""
        name = self.key.rsplit(".", 1)[1]
        where = ", ".join(str(i) for i in self.index)
        rule = ("g_i = n delta_ij a_prev_ik" if name == "W" else "g_i = n delta_ij")
        lines = [f"Which samples drive dC/d{self.key}[{where}] (j, k from 0), over {self.n} "
                 "samples:",
                 f"  dC/d{name}[{where}] = (1/n) sum_i g_i,  {rule}  = {self.total:.6g}",
                 f"  {'sample':>6}  {'n delta_ij':>12}  " + (f"{'a_prev_ik':>12}  " if
                                                              name == "W" else "")
                 + f"{'g_i':>12}  {'g_i / n':>12}  {'share':>7}"]
        contributions, shares = self.contributions, self.shares
        for r, i in enumerate(self.samples):
            cells = [f"{i:>6d}", f"{self.delta[r]: .5e}"]
            if self.a_prev is not None:
                cells.append(f"{self.a_prev[r]: .5e}")
            cells += [f"{self.per_sample[r]: .5e}", f"{contributions[r]: .5e}",
                      f"{shares[r]:7.1%}"]
            lines.append("  " + "  ".join(cells))
        return "\n".join(lines) + "\n"


def weight_drivers(net: "Network", X: Any, y: Any, key: str, index: Any, *, top: int = 5,
                   sample_weight: Any = None) -> Drivers:
    """The samples whose per-sample gradients contribute most to one gradient entry.

    Parameters
    ----------
    net, X, y, sample_weight
        As for :func:`per_sample_grads`.
    key : str
        A parameter key of ``net.params()``: ``'0.W'``, ``'1.0.b'``, ...
    index : int or tuple of int
        The entry (0-based): ``(j, k)`` for ``W[j, k]``, ``j`` for ``b[j]``.
    top : int, default=5
        How many samples to keep (all of them if fewer).

    Returns
    -------
    Drivers
        Sorted by ``|g_i[index]|``; ``.text()`` writes the table. The share column is
        ``|g_i| / sum_i |g_i|`` over all the samples: the terms may have either sign.

    Raises
    ------
    ValueError
        For an unknown ``key`` or an ``index`` outside the parameter.
    """
    params = net.params()
    if key not in params:
        raise ValueError(f"weight_drivers: unknown parameter {key!r}; the network has "
                         f"{', '.join(params)}.")
    idx = (index,) if isinstance(index, (int, np.integer)) else tuple(int(i) for i in index)
    shape = params[key].shape
    if len(idx) != len(shape) or any(not 0 <= i < s for i, s in zip(idx, shape)):
        raise ValueError(f"weight_drivers: index {idx} is outside {key} of shape {shape} "
                         "(0-based).")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"The 'top' parameter of weight_drivers must be an int >= 1; got {top!r}.")
    n = _backprop(net, X, y, sample_weight)
    layer_key, name = key.rsplit(".", 1)
    layer = dict(walk(net.layers))[layer_key]
    rule = next(rule for k, _, rule in layer_rules(net.layers) if k == layer_key)
    a_prev, delta = (to_numpy(x) for x in rule.cached(layer))
    g = rule.entry(a_prev, delta, n, name, idx)
    order = np.argsort(-np.abs(g), kind="stable")[:top]
    return Drivers(key=key, index=idx, total=float(g.sum() / n), samples=order,
                   per_sample=g[order], delta=n * delta[order, idx[0]],
                   a_prev=a_prev[order, idx[1]] if name == "W" else None, n=n,
                   abs_total=float(np.abs(g).sum()))


# ---------------------------------------------------------------------- DP-SGD


class PrivateGradient:
    """A batch's gradient with every per-sample gradient clipped, plus Gaussian noise (DP-SGD).

    ``g~ = (1/n) (sum_i g_i min(1, C / ||g_i||) + s C xi)``, ``xi ~ N(0, I)`` (Abadi et al.,
    2016), plus the penalty's gradient. ``fit(per_sample_clip=C, noise_multiplier=s)`` runs
    every mini-batch's gradient through this in place of :func:`glassnet.training.gradient`.

    Parameters
    ----------
    clip : float > 0
        ``C``, the largest norm a sample's gradient (over all parameters) may keep.
    noise_multiplier : float >= 0, default=0.0
        ``s``: the noise's standard deviation is ``s C / n`` per parameter.
    rng : numpy.random.Generator, optional
        Source of the noise (``fit`` passes its own Generator, so that a resumed run draws
        the same noise).

    Notes
    -----
    No per-sample gradient is formed. One forward and one backward pass give the norms
    ``||g_i||`` (see the module docstring) and the scales ``s_i = min(1, C / ||g_i||)``;
    because ``delta_i`` is linear in the weight ``w_i`` that seeds it, a second backward pass
    with the weights ``w_i s_i`` gives ``(1/n) sum_i s_i g_i``, the mean of the clipped
    gradients, exactly. The loss returned is the first pass's, unclipped.
    """

    def __init__(self, clip: float, noise_multiplier: float = 0.0,
                 rng: np.random.Generator | None = None):
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not 0 < clip < np.inf:
            raise ValueError(f"The 'per_sample_clip' parameter of fit must be a float > 0; got "
                             f"{clip!r}.")
        if isinstance(noise_multiplier, bool) or not isinstance(noise_multiplier, (int, float)) \
                or not 0 <= noise_multiplier < np.inf:
            raise ValueError(f"The 'noise_multiplier' parameter of fit must be a float >= 0; got "
                             f"{noise_multiplier!r}.")
        if noise_multiplier and rng is None:
            raise ValueError("PrivateGradient with noise needs rng, a numpy Generator.")
        self.clip, self.noise_multiplier, self.rng = float(clip), float(noise_multiplier), rng
        self.last_norms: np.ndarray | None = None
        """``||g_i||`` of the last batch, before clipping."""

    def __call__(self, net: "Network", X_b: np.ndarray, Y_b: np.ndarray,
                 w_b: np.ndarray | None = None,
                 after_layer: Callable[[int], None] | None = None) -> float:
        """Like :func:`glassnet.training.gradient`: ``after_layer(i)`` is called once layer
        ``i``'s clipped (and noised) gradient is final, last layer first."""
        net.propagate(X_b)
        loss = net.backward(Y_b, w_b)
        n = len(X_b)
        norms = sum(squared_norms(net.layers, n).values()) ** 0.5  # ||g_i||
        xp = net.xp
        scale = xp.minimum(1, self.clip / xp.maximum(norms, np.finfo(net.dtype).tiny))
        scale = scale.astype(net.dtype, copy=False)
        net.backward(Y_b, scale if w_b is None else w_b * scale,  # (1/n) sum_i s_i g_i
                     after_layer=None if self.noise_multiplier else after_layer)
        if self.noise_multiplier:
            xi = self.rng.standard_normal(net.n_params, dtype=net.dtype)  # type: ignore[union-attr]
            net.grad += net.to_device(xi) * net.dtype.type(self.noise_multiplier * self.clip / n)
            if after_layer is not None:
                for i in reversed(range(len(net.layers))):
                    after_layer(i)
        self.last_norms = norms
        return loss


def private_step(per_sample_clip: Any, noise_multiplier: Any,
                 rng: Any) -> Callable[..., float]:
    """The step ``fit`` uses for ``per_sample_clip`` / ``noise_multiplier`` (checked here)."""
    if per_sample_clip is None:
        raise ValueError(f"noise_multiplier={noise_multiplier!r} needs per_sample_clip: the "
                         "noise is scaled by the clipping norm C. Pass per_sample_clip=C too.")
    if noise_multiplier and not hasattr(rng, "standard_normal"):
        raise ValueError("fit(noise_multiplier=...) draws the noise from its seed; pass seed as "
                         "an int or a numpy Generator, not an order source.")
    return PrivateGradient(per_sample_clip, noise_multiplier or 0.0,
                           rng if noise_multiplier else None)
