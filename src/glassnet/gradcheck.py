"""Gradient checking: back-propagation against central finite differences.

For every entry ``theta`` of every parameter (and of the input ``X``), the fourth-order
central difference::

    numeric = (8 (C(theta + eps) - C(theta - eps)) - (C(theta + 2 eps) - C(theta - 2 eps))) / (12 eps)

and the analytic gradient of ``backprop`` must agree. Its truncation error is ``O(eps^4)``
against the two-point formula's ``O(eps^2)``, which allows a step of 1e-4 where rounding
costs little: about ``1e-16 / eps`` absolute. The two-point formula at its usual 1e-6 step
rounds to about 1e-10 absolute, too coarse for the small gradients of deep or saturated
networks (measured in ``tests/test_gradcheck.py``). The check runs on a float64 copy of the
network, so the original is never touched.

The error of a tensor is reported two ways: the largest absolute difference, and the relative
error ``max|analytic - numeric| / max(max|analytic|, max|numeric|)``, that difference measured
against the size of the tensor's gradient (so that entries that are nearly zero do not divide
by nearly zero). A tensor passes when, as in ``numpy.allclose`` and torch's gradcheck,

    max|analytic - numeric| <= atol * max(1, |C|) + tol * max(max|analytic|, max|numeric|),

so the tiny gradients of a vanishing network (a deep sigmoid stack's input gradient of 5e-8)
are judged against the differences' rounding (about 1e-12 for a loss near 1) instead of against
themselves, while a wrong gradient of any size still fails.

Where a step moves some unit across a point where its activation is not smooth (the kink
``z = 0`` of relu and leaky_relu, and ELU's ``z = 0``, where ``f''`` jumps: each activation lists
these in ``nonsmooth``), or some output across a point where the loss is not (Huber's
``|a - y| = delta``: ``Loss.nonsmooth``), the difference quotient means nothing: such entries
are counted in the report's ``skipped`` column instead of compared.

A tensor gets no verdict ("not resolved") when the check cannot tell a right gradient from a
wrong one: when every entry was skipped (nothing compared), or when its gradients are so small
against the loss that the absolute allowance ``atol * max(1, |C|)`` exceeds a tenth of them
(:data:`RESOLUTION`), so that an error of 10% or more could pass unseen (a loss of 1e18 from
huge targets, a dead layer whose gradients are all 0). Such a report is not PASSED: the text
says which tensors and why, and what to change (scale the data, a smaller ``atol`` or
``eps``). With ``fast=True`` a few random unit directions ``v`` are checked instead of
every entry: ``v . grad`` against ``(C(theta + eps v) - C(theta - eps v)) / (2 eps)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .layers import iter_layers
from .validation import check_scalar

if TYPE_CHECKING:
    from .network import Network

__all__ = ["GradcheckReport", "GradcheckRow", "gradcheck"]


RESOLUTION = 0.1
"""A tensor is judged only when ``atol * max(1, |C|) <= RESOLUTION * max|gradient|``: errors of
a tenth of its gradient or more must be visible above the absolute allowance."""


@dataclass
class GradcheckRow:
    """One tensor's comparison: ``verdict`` is ``'passed'``, ``'FAILED'`` or ``'not resolved'``."""

    layer: str
    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    passed: bool
    skipped: int = 0
    """Entries not compared because a kink (relu's z = 0) lay within the step."""
    allowed: float = 0.0
    """The absolute error this tensor may have: ``atol * max(1, |C|) + tol * scale``."""
    unresolved: str = ""
    """Why the check cannot judge this tensor ('' when it can); ``passed`` is then False."""

    @property
    def verdict(self) -> str:
        return "not resolved" if self.unresolved else "passed" if self.passed else "FAILED"


@dataclass
class GradcheckReport:
    """All rows, the overall verdict and a text table (``str(report)``)."""

    rows: list[GradcheckRow] = field(default_factory=list)
    tol: float = 1e-6
    fast: bool = False
    atol: float = 1e-9

    @property
    def passed(self) -> bool:
        """Every tensor was compared and agrees."""
        return all(row.passed for row in self.rows)

    @property
    def failed(self) -> list[GradcheckRow]:
        """The tensors whose gradients disagree with the differences."""
        return [row for row in self.rows if row.verdict == "FAILED"]

    @property
    def unresolved(self) -> list[GradcheckRow]:
        """The tensors the check could not judge (see the module docstring)."""
        return [row for row in self.rows if row.unresolved]

    @property
    def verdict(self) -> str:
        """``'PASSED'``, ``'FAILED'`` (some tensor disagrees) or ``'NOT RESOLVED'`` (none
        disagrees, but some could not be judged)."""
        return "FAILED" if self.failed else "NOT RESOLVED" if self.unresolved else "PASSED"

    @property
    def skipped(self) -> int:
        return sum(row.skipped for row in self.rows)

    @property
    def max_rel_error(self) -> float:
        return max((row.max_rel_error for row in self.rows), default=0.0)

    @property
    def max_abs_error(self) -> float:
        return max((row.max_abs_error for row in self.rows), default=0.0)

    def table(self) -> str:
        header = ("layer", "tensor", "shape", "max abs err", "max rel err", "ok", "at kinks")
        body = [
            (r.layer, r.name, "x".join(map(str, r.shape)), f"{r.max_abs_error:.2e}",
             f"{r.max_rel_error:.2e}", _OK[r.verdict], str(r.skipped or ""))
            for r in self.rows
        ]
        widths = [max(len(row[c]) for row in [header, *body]) for c in range(7)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                 for row in [header, *body]]
        lines.insert(1, "-" * len(lines[0]))
        mode = "random directions" if self.fast else "every entry"
        lines.append(f"gradcheck {self.verdict}: worst relative error {self.max_rel_error:.2e}, "
                     f"worst absolute error {self.max_abs_error:.2e} (a tensor passes when "
                     f"abs err <= {self.atol:.0e} * max(1, |C|) + {self.tol:.0e} * max|gradient|; "
                     f"{mode})")
        if self.skipped:
            lines.append(f"{self.skipped} entries not compared: a point where an activation "
                         "or the loss is not smooth (z = 0 for relu, |a - y| = delta for huber) "
                         "lay within the finite-difference step.")
        for row in self.unresolved:
            lines.append(f"not resolved, {row.layer}.{row.name}: {row.unresolved}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        from .display import gradcheck_html
        return gradcheck_html(self)

    def _repr_markdown_(self) -> str:
        from .display import gradcheck_markdown
        return gradcheck_markdown(self)


def gradcheck(
    net: "Network",
    X: Any,
    y: Any,
    *,
    eps: float = 1e-4,
    tol: float = 1e-6,
    atol: float = 1e-9,
    fast: bool = False,
    n_directions: int = 3,
    seed: int = 0,
) -> GradcheckReport:
    """Compare every parameter's gradient, and the input gradient, with finite differences.

    Parameters
    ----------
    net : Network
        Checked through a float64 copy; ``net`` itself is not modified.
    X : array-like of shape (n_samples, n_in)
    y : array-like
        Targets as the network's loss takes them.
    eps : float, default=1e-4
        Step of the (fourth-order) central differences.
    tol : float, default=1e-6
        The relative tolerance: see ``atol``.
    atol : float, default=1e-9
        The absolute tolerance, per unit of loss: a tensor passes when
        ``max|analytic - numeric| <= atol * max(1, |C|) + tol * max|gradient|``.
    fast : bool, default=False
        Check ``n_directions`` random directions per tensor instead of every entry.
    seed : int, default=0
        Source of the random directions.

    Returns
    -------
    GradcheckReport

    Examples
    --------
    >>> from glassnet import mlp
    >>> net = mlp([3, 4, 2], activation="tanh", seed=0)
    >>> report = gradcheck(net, np.ones((5, 3)), np.zeros((5, 2)))
    >>> report.passed
    True
    """
    eps = check_scalar(eps, "eps", "gradcheck", low=0.0, low_open=True)
    tol = check_scalar(tol, "tol", "gradcheck", low=0.0, low_open=True)
    atol = check_scalar(atol, "atol", "gradcheck", low=0.0)
    n_directions = check_scalar(n_directions, "n_directions", "gradcheck", kind=int, low=1)
    net64 = net.astype("float64").to("cpu")  # finite differences run on a host copy
    X64, Y = net64.check_Xy(X, y)
    X64 = X64.copy()
    if not np.all(np.isfinite(net64.theta)):
        raise ValueError("gradcheck: the network's weights are not finite: a finite difference "
                         "of NaN or inf says nothing. Check a network before it diverges "
                         "(lower the learning rate, or reinitialise it).")
    net64.propagate(X64)
    cost = net64.backward(Y, input_grad=True) + net64.penalty()
    analytic = {key: g.copy() for key, g in net64.grads().items()}
    analytic_X = net64.grad_X.copy()  # type: ignore[union-attr]
    if not (np.isfinite(cost) and np.all(np.isfinite(net64.grad))):
        raise ValueError(f"gradcheck: at these weights and inputs the cost ({cost!r}) or a "
                         "gradient is not finite (an overflow): a finite difference of it says "
                         "nothing. Scale the inputs, or check a network before it diverges.")

    kinked = [layer for layer in iter_layers(net64.layers)
              if getattr(getattr(layer, "activation", None), "nonsmooth", ())]

    loss_kinks = np.asarray(getattr(net64.loss_fn, "nonsmooth", ()), dtype=np.float64)

    def pattern() -> list[np.ndarray]:
        """Which side of each non-smooth point every unit is on (empty for smooth networks):
        the activations' points of ``z``, and the loss's of the residual ``a^L - y``."""
        sides = [np.sign(layer.z[..., None] - np.asarray(layer.activation.nonsmooth))
                 for layer in kinked]
        if loss_kinks.size:
            sides.append(np.sign((net64.layers[-1].a - Y)[..., None] - loss_kinks))
        return sides

    base = pattern()

    def loss() -> float | None:
        """C at the current parameters; None when a unit crossed a kink (no derivative there)."""
        net64.propagate(X64)
        value = net64.output_loss(Y) + net64.penalty()
        crossed = any(np.any(p != q) for p, q in zip(pattern(), base))
        return None if crossed else value

    rng = np.random.default_rng(seed)
    report = GradcheckReport(tol=tol, fast=fast, atol=atol)
    floor = atol * max(1.0, abs(cost))
    tensors = [(key, param, analytic[key]) for key, param in net64.params().items()]
    tensors.append(("input", X64, analytic_X))
    for key, tensor, grad in tensors:
        if fast:
            computed, numeric = _directional(tensor, grad, loss, eps, n_directions, rng)
        else:
            computed, numeric = grad, _numeric_gradient(tensor, loss, eps)
        layer, _, name = key.rpartition(".")
        report.rows.append(_row(layer or "-", name, tensor.shape, computed, numeric, tol, floor))
    return report


def _numeric_gradient(tensor: np.ndarray, loss: Callable[[], float | None],
                      eps: float) -> np.ndarray:
    """Central differences, one entry at a time, restoring each entry afterwards."""
    numeric = np.empty_like(tensor)
    flat, out = tensor.reshape(-1), numeric.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        values = []
        for step in (eps, -eps, 2 * eps, -2 * eps):
            flat[i] = old + step
            values.append(loss())
        flat[i] = old
        out[i] = _central(values, eps)
    return numeric


KINK = np.nan
"""The numeric derivative where a step crossed a kink (relu's 0): there is none, it is skipped.
A non-finite loss at a step is not a kink: its difference is inf and the tensor fails."""


def _central(values: list[Any], eps: float) -> Any:
    """Fourth-order central difference from C(+eps), C(-eps), C(+2eps), C(-2eps) (floats, or
    arrays entry by entry); a NaN or inf difference is inf, a kink (a value None) ``KINK``."""
    if any(v is None for v in values):
        return KINK
    c1, c_1, c2, c_2 = values
    d = (8 * (c1 - c_1) - (c2 - c_2)) / (12 * eps)  # type: ignore[operator]
    if np.ndim(d):  # values that are arrays (explain_hvp's gradients): entry by entry
        return np.where(np.isfinite(d), d, np.inf)
    return d if np.isfinite(d) else np.inf


def _directional(
    tensor: np.ndarray, grad: np.ndarray, loss: Callable[[], float | None], eps: float,
    n_directions: int, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``v . grad`` and the directional difference, for random unit directions ``v``."""
    computed, numeric = np.empty(n_directions), np.empty(n_directions)
    old = tensor.copy()
    for d in range(n_directions):
        v = rng.standard_normal(tensor.shape)
        v /= np.linalg.norm(v)
        values = []
        for step in (eps, -eps, 2 * eps, -2 * eps):
            tensor[...] = old + step * v
            values.append(loss())
        tensor[...] = old
        computed[d] = np.sum(v * grad)
        numeric[d] = _central(values, eps)
    return computed, numeric


_OK = {"passed": "yes", "FAILED": "NO", "not resolved": "n/a"}


def _row(layer: str, name: str, shape: tuple[int, ...], computed: np.ndarray,
         numeric: np.ndarray, tol: float, floor: float) -> GradcheckRow:
    skipped = np.isnan(numeric)  # a kink of relu & co. lay within the step: no derivative there
    computed, numeric = computed[~skipped], numeric[~skipped]
    finite = np.isfinite(numeric)  # inf: the loss was not finite at a step (an overflow)
    abs_err = float(np.max(np.abs(computed - numeric))) if computed.size else 0.0
    scale = max(float(np.max(np.abs(computed), initial=0.0)),
                float(np.max(np.abs(numeric[finite]), initial=0.0)))
    # A gradient that is zero both ways (a dead unit, an unused input) has no scale: compare
    # the absolute difference with the tolerance instead.
    rel_err = abs_err / scale if scale > 1e-12 else abs_err
    allowed = floor + tol * scale
    within = bool(finite.all()) and abs_err <= allowed
    unresolved = ""
    if not computed.size:
        unresolved = (f"every one of its {int(skipped.sum())} entries' steps crossed a point "
                      "where an activation or the loss is not smooth, so nothing was compared; "
                      "use a smaller eps")
    elif within and floor > RESOLUTION * scale:
        unresolved = (f"its gradients (largest {scale:.1e}) are too small against the "
                      f"absolute allowance atol * max(1, |C|) = {floor:.1e} to tell a right "
                      "gradient from a wrong one; scale the data so that the loss is near 1, "
                      "or pass a smaller atol")
    return GradcheckRow(layer, name, tuple(shape), abs_err, rel_err,
                        within and not unresolved, int(skipped.sum()), allowed, unresolved)
