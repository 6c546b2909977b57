"""Loss functions ``C`` and their gradients ``dC/da``.

Every loss is, per sample, a sum over the output units, and a batch's loss is the mean over its
``n`` samples: ``C = (1/n) sum_i c(a_i, y_i)``. So ``dC/da = (1/n) dc/da``: the ``1/n`` lives in
the gradient only.

Two pairings simplify, as the derivation shows, and glassnet uses the simplified ("fused")
form for them, computed from the logits ``z`` so that no ``log(0)`` or overflow can occur:

* softmax + cross-entropy: ``delta^L = dC/dz^L = (a - y) / n``;
* sigmoid + binary cross-entropy: ``delta^L = (a - y) / n``.

``cross_entropy`` needs softmax outputs and ``binary_cross_entropy`` sigmoid outputs; the
network refuses other pairings with a message that says so.

Second order (:mod:`glassnet.second_order`): ``hvp(a, Y, da, w)`` is the loss's Hessian with
respect to its input ``a`` times a tangent ``da``, ``(w_i / n) (d^2 c_i / da_i^2) da_i`` row by
row (each loss writes the per-sample ``unit_hvp``); a fused loss also gives
``hvp_logits(z, a, Y, dz, w)``, the derivative of its fused delta with respect to the logits
``z`` times ``dz``. These seed the R-operator's backward pass as ``grad`` and ``value_and_delta``
seed the ordinary one.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .activations import row_max, row_sum
from .data._checks import as_dtype
from .validation import derived_from_own

__all__ = [
    "LOSSES",
    "BinaryCrossEntropy",
    "CrossEntropy",
    "Huber",
    "FusedLoss",
    "Loss",
    "MSE",
    "get_loss",
]


def _whole(y: np.ndarray) -> bool:
    """Whether every entry of ``y`` is a whole number (class labels, perhaps)."""
    finite = y[np.isfinite(y)] if np.issubdtype(y.dtype, np.floating) else y
    return finite.size > 0 and bool(np.all(np.mod(finite, 1) == 0))


class Loss:
    """Base class. ``output_activation`` names the activation a fused loss needs (else None)."""

    name = "loss"
    output_activation: str | None = None
    classifier = False
    per_sample_formula = "c(a, y)"
    """One sample's loss ``c(a_i, y_i)`` in words; the loss is its mean over the samples."""
    nonsmooth: tuple[float, ...] = ()
    """Values of the residual ``a - y`` where a unit's loss is not smooth (its second
    derivative jumps): a finite difference across them means nothing (gradcheck skips it)."""

    @property
    def definition(self) -> str:
        """``'the mean over samples of 0.5 ||a - y||^2'`` and so on."""
        return f"the mean over samples of {self.per_sample_formula}"

    def targets(self, y: np.ndarray, n_out: int, dtype: Any) -> np.ndarray:
        """Turn user targets into an array ``Y`` of shape (n_samples, n_out) and check them."""
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
            raise TypeError(f"y must hold real numbers; got dtype {y.dtype}.")
        if y.ndim == 1 and n_out == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != n_out:
            raise ValueError(
                f"The {self.name} loss expects y of shape (n_samples, {n_out})"
                + (" or (n_samples,)" if n_out == 1 else "")
                + f"; got {y.shape}. Match y to the network's {n_out} output unit(s)."
                + (f" For class labels 0..{n_out - 1} one-hot encode them (np.eye({n_out})[y])"
                   " or use loss='cross_entropy'." if y.ndim == 1 and _whole(y) else "")
            )
        return as_dtype(y, dtype, "y", fix="Remove or impute those targets first.")

    def per_sample(self, a: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``c(a_i, y_i)`` for each sample: shape (n_samples,)."""
        raise NotImplementedError

    def value(self, a: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> float:
        """``C = (1/n) sum_i w_i c(a_i, y_i)`` (``w_i = 1`` unless sample weights are given)."""
        return _weighted_mean(self.per_sample(a, Y), w)

    def grad(self, a: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
        """``dC/da`` of shape (n_samples, n_out), the ``1/n`` (and the weights) included."""
        return _scale_rows(self.unit_grad(a, Y), w, len(a))

    def unit_grad(self, a: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``dc/da`` of each sample's own loss (no ``1/n``)."""
        raise NotImplementedError

    def value_and_grad(self, a: np.ndarray, Y: np.ndarray,
                       w: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """``(C, dC/da)``: what the output layer's backward is seeded with."""
        return self.value(a, Y, w), self.grad(a, Y, w)

    def hvp(self, a: np.ndarray, Y: np.ndarray, da: np.ndarray,
            w: np.ndarray | None = None) -> np.ndarray:
        """``R{dC/da} = (w_i / n) H_i da_i`` row by row, ``H_i = d^2 c(a_i, y_i) / da_i^2``.

        The tangent of :meth:`grad` when the outputs move by ``da``; shape (n_samples, n_out).
        """
        if not self.derived_from_own("unit_hvp"):
            raise NotImplementedError(
                f"{type(self).__name__} changes per_sample or unit_grad but keeps the "
                "unit_hvp it inherits, which is the Hessian of another loss: write its own "
                "unit_hvp(a, Y, da) to use hvp, hessian and sharpness with it.")
        return _scale_rows(self.unit_hvp(a, Y, da), w, len(a), in_place=True)

    def unit_hvp(self, a: np.ndarray, Y: np.ndarray, da: np.ndarray) -> np.ndarray:
        """``(d^2 c / da^2) da`` of each sample's own loss (no ``1/n``); a new array."""
        raise NotImplementedError(
            f"The {self.name} loss has no unit_hvp(a, Y, da): write its Hessian-vector product "
            "to use hvp, hessian and sharpness with it.")

    def config(self) -> dict[str, Any]:
        return {"name": self.name}

    def derived_from_own(self, shortcut: str, base: type | None = None) -> bool:
        """Whether ``shortcut`` (MSE's ``value_and_grad``, a fused ``value_from_logits``, a
        ``unit_hvp``) still computes what this object's own ``per_sample`` and ``unit_grad``
        say (:func:`glassnet.validation.derived_from_own`; ``base`` defaults to
        :class:`Loss`): a subclass that changes the loss runs the general path, through its own
        methods, instead."""
        return derived_from_own(self, shortcut, ("per_sample", "unit_grad"), base or Loss)

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({extra})"


class MSE(Loss):
    """Squared error: ``C = (1/n) sum_i 0.5 ||a_i - y_i||^2``; ``dC/da = (a - y) / n``."""

    name = "mse"
    per_sample_formula = "0.5 ||a - y||^2"

    def per_sample(self, a, Y):
        r = a - Y
        return 0.5 * np.sum(r * r, axis=1)

    def unit_grad(self, a, Y):
        return a - Y

    def unit_hvp(self, a, Y, da):
        """``d^2 c / da^2 = I``: the tangent of ``a - y`` is ``da``."""
        return da.copy()

    def value_and_grad(self, a, Y, w=None):
        if not self.derived_from_own("value_and_grad"):  # a subclass changed the loss
            return super().value_and_grad(a, Y, w)
        r = a - Y  # the residual, once for both
        per_sample = 0.5 * np.einsum("ij,ij->i", r, r)
        return _weighted_mean(per_sample, w), _scale_rows(r, w, len(a), in_place=True)


class Huber(Loss):
    """Huber loss per unit: ``0.5 r^2`` if ``|r| <= delta`` else ``delta (|r| - delta/2)``, r = a - y.

    ``dC/da = clip(a - y, -delta, delta) / n``.

    Parameters
    ----------
    delta : float, default=1.0
        Where the quadratic turns linear; must be > 0.
    """

    name = "huber"
    per_sample_formula = "sum_j huber(a_j - y_j)"

    def __init__(self, delta: float = 1.0):
        from .validation import check_scalar

        self.delta = check_scalar(delta, "delta", "Huber", low=0.0, low_open=True)
        self.nonsmooth = (-self.delta, self.delta)  # the quadratic turns linear: c'' jumps

    def per_sample(self, a, Y):
        r = np.abs(a - Y)
        d = self.delta
        return np.sum(np.where(r <= d, 0.5 * r * r, d * (r - 0.5 * d)), axis=1)

    def unit_grad(self, a, Y):
        return np.clip(a - Y, -self.delta, self.delta)

    def unit_hvp(self, a, Y, da):
        """``d^2 c / da_j^2 = 1`` where ``|a_j - y_j| <= delta`` (the quadratic part), else 0."""
        return np.where(np.abs(a - Y) <= self.delta, da, 0).astype(da.dtype, copy=False)

    def config(self):
        return {"name": self.name, "delta": self.delta}


class FusedLoss(Loss):
    """A loss whose pairing with its output activation simplifies: ``delta^L = w (a - y) / n``.

    ``output_activation`` names the activation it needs (the network refuses others);
    :meth:`value_and_delta` gives the loss, computed from the logits ``z^L`` so that no
    ``log(0)`` can occur, and the fused delta, without forming ``dC/da`` at all.
    """

    def value_from_logits(self, z: np.ndarray, Y: np.ndarray,
                          w: np.ndarray | None = None) -> float:
        raise NotImplementedError

    def value_and_delta(self, z: np.ndarray, a: np.ndarray, Y: np.ndarray,
                        w: np.ndarray | None = None,
                        out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """``(C, delta^L)`` with ``delta^L = dC/dz^L = w (a - y) / n``, written into ``out``.

        Parameters
        ----------
        z, a : ndarray of shape (n_samples, n_out)
            The output layer's logits and outputs.
        Y : ndarray of shape (n_samples, n_out)
        w : ndarray of shape (n_samples,), optional
            Per-sample weights.
        out : ndarray of shape (n_samples, n_out), optional
        """
        delta = np.subtract(a, Y, out=out)
        return self.value_from_logits(z, Y, w), _scale_rows(delta, w, len(a), in_place=True)

    def hvp_logits(self, z: np.ndarray, a: np.ndarray, Y: np.ndarray, dz: np.ndarray,
                   w: np.ndarray | None = None) -> np.ndarray:
        """``R{delta^L} = (w_i / n) (da_i / dz_i) dz_i``: the tangent of the fused delta.

        ``delta^L = w (a - y) / n`` and ``y`` does not move, so its tangent is the output
        activation's Jacobian times ``dz`` (symmetric here: this is also the loss's Hessian with
        respect to the logits); shape (n_samples, n_out).
        """
        if not self.derived_from_own("unit_hvp_logits", FusedLoss):
            raise NotImplementedError(
                f"{type(self).__name__} changes per_sample or unit_grad but keeps the "
                "unit_hvp_logits it inherits: write its own to use hvp with it.")
        return _scale_rows(self.unit_hvp_logits(z, a, Y, dz), w, len(a), in_place=True)

    def unit_hvp_logits(self, z: np.ndarray, a: np.ndarray, Y: np.ndarray,
                        dz: np.ndarray) -> np.ndarray:
        """``(da/dz) dz`` per sample (no ``1/n``); a new array."""
        raise NotImplementedError(
            f"The {self.name} loss has no unit_hvp_logits(z, a, Y, dz): write the tangent of its "
            "fused delta to use hvp, hessian and sharpness with it.")


class CrossEntropy(FusedLoss):
    """Categorical cross-entropy on softmax outputs: ``C = -(1/n) sum_i sum_j y_ij log a_ij``.

    ``y`` is either integer class labels of shape (n_samples,) in ``[0, n_out)`` or rows of
    probabilities (one-hot or soft) of shape (n_samples, n_out).

    Notes
    -----
    With ``a = softmax(z)``, ``dC/dz = (a - y) / n`` (the fused delta). The value is computed
    from the logits as ``log a = z - logsumexp(z)``, so it is finite for any finite ``z``.
    """

    name = "cross_entropy"
    output_activation = "softmax"
    per_sample_formula = "-sum_j y_j log a_j"
    classifier = True

    def targets(self, y, n_out, dtype):
        y = np.asarray(y)
        if y.ndim == 2:
            Y = super().targets(y, n_out, dtype)
            if np.any(Y < 0) or not np.allclose(Y.sum(axis=1), 1, atol=1e-4):
                raise ValueError(
                    "cross_entropy expects 2-D y to hold probability rows (non-negative, each "
                    "summing to 1), such as one-hot rows. Pass integer labels of shape "
                    "(n_samples,) otherwise."
                )
            return Y
        labels = _integer_labels(y, n_out, self.name)
        Y = np.zeros((len(labels), n_out), dtype=dtype)
        Y[np.arange(len(labels)), labels] = 1
        return Y

    def per_sample(self, a, Y):
        log_a = np.log(np.maximum(a, np.finfo(a.dtype).tiny))
        return -np.sum(Y * log_a, axis=1)

    def unit_grad(self, a, Y):
        return -Y / np.maximum(a, np.finfo(a.dtype).tiny)

    def unit_hvp(self, a, Y, da):
        """``d^2 c / da_j^2 = y_j / a_j^2`` (diagonal), from ``dc/da_j = -y_j / a_j``."""
        a = np.maximum(a, np.finfo(a.dtype).tiny)
        return Y / (a * a) * da

    def unit_hvp_logits(self, z, a, Y, dz):
        """``(diag(a) - a a^T) dz = a * (dz - sum(dz * a))``: the softmax Jacobian.

        Exact for rows of ``y`` summing to 1 (what :meth:`targets` accepts), for which the fused
        delta ``a - y`` is the gradient.
        """
        return a * (dz - row_sum(dz * a)[:, None])

    def value_from_logits(self, z, Y, w=None):
        """``C`` from the logits: ``-(1/n) sum_i w_i sum_j Y_ij (z_ij - logsumexp(z_i))``.

        As ``c_i = lse_i sum_j Y_ij - sum_j Y_ij z_ij`` with ``lse_i = m_i + log sum_j
        exp(z_ij - m_i)``, ``m_i`` the row maximum: ``exp`` never overflows.
        """
        m = row_max(z)
        e = np.subtract(z, m[:, None])
        with np.errstate(under="ignore"):
            np.exp(e, out=e)
        lse = np.log(row_sum(e))
        lse += m
        if w is None:  # sum_i c_i as two dot products
            return float((lse @ row_sum(Y) - np.vdot(Y, z)) / len(z))
        return _weighted_mean(lse * row_sum(Y) - np.einsum("ij,ij->i", Y, z), w)


class BinaryCrossEntropy(FusedLoss):
    """Binary cross-entropy on sigmoid outputs, summed over the output units.

    ``C = -(1/n) sum_i sum_j [y_ij log a_ij + (1 - y_ij) log(1 - a_ij)]``; ``y`` in [0, 1] of
    shape (n_samples,) for one output unit or (n_samples, n_out) for several (multi-label).

    Notes
    -----
    With ``a = sigmoid(z)``, ``dC/dz = (a - y) / n`` (the fused delta). From the logits the
    per-unit loss is ``log(1 + exp(z)) - y z`` (``np.logaddexp(0, z) - y z``): finite for any
    finite ``z``.
    """

    name = "binary_cross_entropy"
    output_activation = "sigmoid"
    per_sample_formula = "-sum_j [y_j log a_j + (1 - y_j) log(1 - a_j)]"
    classifier = True

    def targets(self, y, n_out, dtype):
        Y = super().targets(y, n_out, dtype)
        if np.any((Y < 0) | (Y > 1)):
            bad = Y[(Y < 0) | (Y > 1)][0]
            raise ValueError(
                f"binary_cross_entropy expects labels in [0, 1] (0/1 labels); got {bad}. "
                "Encode the classes as 0 and 1."
            )
        return Y

    def per_sample(self, a, Y):
        tiny = np.finfo(a.dtype).tiny
        s = Y * np.log(np.maximum(a, tiny)) + (1 - Y) * np.log(np.maximum(1 - a, tiny))
        return -np.sum(s, axis=1)

    def unit_grad(self, a, Y):
        return (a - Y) / np.maximum(a * (1 - a), np.finfo(a.dtype).tiny)

    def unit_hvp(self, a, Y, da):
        """``d^2 c / da_j^2 = y_j / a_j^2 + (1 - y_j) / (1 - a_j)^2`` (diagonal)."""
        tiny = np.finfo(a.dtype).tiny
        a, b = np.maximum(a, tiny), np.maximum(1 - a, tiny)
        return (Y / (a * a) + (1 - Y) / (b * b)) * da

    def unit_hvp_logits(self, z, a, Y, dz):
        """``a (1 - a) dz``: the sigmoid's derivative, element-wise."""
        return a * (1 - a) * dz

    def value_from_logits(self, z, Y, w=None):
        """``C`` from the logits: ``(1/n) sum_i w_i sum_j [log(1 + exp(z)) - y z]``.

        ``log(1 + exp(z))`` is ``np.logaddexp(0, z)``, finite for any finite ``z``.
        """
        with np.errstate(under="ignore"):  # exp(-|z|) may underflow to 0, harmlessly
            softplus = np.logaddexp(0, z)
        if w is None:
            return (float(softplus.sum()) - float(np.vdot(Y, z))) / len(z)
        return _weighted_mean(row_sum(softplus) - np.einsum("ij,ij->i", Y, z), w)


def _weighted_mean(per_sample: np.ndarray, w: np.ndarray | None) -> float:
    """``(1/n) sum_i w_i c_i``: the plain mean when ``w`` is None."""
    total = per_sample.sum() if w is None else w @ per_sample
    return float(total) / len(per_sample)


def _scale_rows(g: np.ndarray, w: np.ndarray | None, n: int, in_place: bool = False) -> np.ndarray:
    """``w_i g_i / n`` row by row (``g / n`` when ``w`` is None); in ``g`` itself if ``in_place``."""
    scale = g.dtype.type(1 / n) if w is None else (w * (1 / n)).astype(g.dtype)[:, None]
    return np.multiply(g, scale, out=g if in_place else None)


def _integer_labels(y: np.ndarray, n_classes: int, loss_name: str) -> np.ndarray:
    if y.ndim != 1:
        raise ValueError(
            f"{loss_name} expects y as integer labels of shape (n_samples,) or probability rows "
            f"of shape (n_samples, {n_classes}); got shape {y.shape}."
        )
    if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
        raise TypeError(f"{loss_name} expects integer class labels; got dtype {y.dtype}.")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf. Remove or impute those targets first.")
        if np.any(y != np.round(y)):
            bad = y[y != np.round(y)][0]
            raise ValueError(
                f"{loss_name} expects integer class labels 0..{n_classes - 1}; got {bad}, which "
                "is not an integer. Map the classes to 0..k-1 first."
            )
    labels = y.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise ValueError(
            f"{loss_name} expects class labels in 0..{n_classes - 1} for a network with "
            f"{n_classes} outputs; got label {bad}. Map the classes to 0..k-1, or give the "
            "output layer one unit per class."
        )
    return labels


LOSSES: dict[str, Callable[..., Loss]] = {
    cls.name: cls for cls in (MSE, CrossEntropy, BinaryCrossEntropy, Huber)
}
"""Name -> loss class. ``get_loss`` looks names up here."""


def get_loss(spec: str | dict | Loss) -> Loss:
    """Return the loss named by ``spec`` (a name, a config dict or a :class:`Loss`).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> get_loss("huber")
    Huber(delta=1.0)
    """
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None)
        if name not in LOSSES:
            raise ValueError(f"Unknown loss {name!r}. Valid losses: {', '.join(LOSSES)}.")
        return LOSSES[name](**spec)
    raise TypeError(f"A loss must be a name, a config dict or a Loss; got {type(spec).__name__}.")
