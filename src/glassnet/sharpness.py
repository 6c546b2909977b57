"""Sharpness: the largest eigenvalues of the Hessian, from Hessian-vector products alone.

``lambda_max(H)`` is the curvature of the cost along its sharpest direction. Gradient descent
with learning rate ``eta`` on a quadratic with curvature ``lambda`` multiplies the error along
that direction by ``1 - eta lambda`` per step: it is stable only while ``lambda < 2 / eta``.
Full-batch gradient descent on a network typically sharpens until ``lambda_max`` reaches
``2 / eta`` and then hovers there, "at the edge of stability" (Cohen et al., 2021);
:class:`Sharpness` records ``lambda_max`` during ``fit`` so that this can be watched, and
:func:`glassnet.plots.plot_sharpness` draws it beside the loss with the line ``2 / eta``.

Two methods, both on :meth:`glassnet.second_order.Curvature.hvp` (each product one R-forward
and one R-backward pass):

* Lanczos (the default): ``m`` products build an orthonormal basis ``Q`` of the Krylov space
  ``{v, Hv, H^2 v, ...}`` in which ``Q^T H Q = T`` is tridiagonal; the eigenvalues of the small
  ``T`` (Ritz values) approach the extreme eigenvalues of ``H`` first. Full
  reorthogonalisation keeps ``Q`` orthonormal in floating point. The residual
  ``||H x - theta x|| = beta_m |y_m|`` of each Ritz pair bounds its error.
* power iteration: ``v <- H v / ||H v||``; converges to the eigenvalue of largest *magnitude*,
  which is ``lambda_max`` unless a negative eigenvalue is larger in size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .init import make_rng
from .second_order import Curvature
from .training import Callback

if TYPE_CHECKING:
    from .network import Network
    from .training import History

__all__ = ["EIGEN_METHODS", "Eigen", "Sharpness", "hessian_eigenvalues", "lanczos",
           "power_iteration", "sharpness", "stability_edge"]

EIGEN_METHODS = ("lanczos", "power")


@dataclass
class Eigen:
    """The top eigenvalues of a symmetric operator, largest first, and what they cost."""

    values: np.ndarray
    vectors: np.ndarray
    """Shape (k, n): row ``i`` is the unit eigenvector of ``values[i]``."""
    residuals: np.ndarray
    """``||H x_i - lambda_i x_i||`` of each pair."""
    n_products: int


def _start(n: int, v0: Any, seed: Any) -> np.ndarray:
    """A unit start vector: ``v0`` normalised, or random when it is None or 0."""
    v = np.zeros(n) if v0 is None else np.asarray(v0, dtype=np.float64).reshape(-1)
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise ValueError(f"The start vector v0 must be finite and of shape ({n},); got shape "
                         f"{v.shape}.")
    if not np.linalg.norm(v) > 0:
        v = make_rng(seed).standard_normal(n)
    return v / np.linalg.norm(v)


def lanczos(matvec: Callable[[np.ndarray], np.ndarray], n: int, k: int = 1, iters: int = 20,
            v0: np.ndarray | None = None, seed: Any = 0) -> Eigen:
    """The ``k`` largest eigenvalues of the symmetric ``n x n`` operator ``matvec``, by Lanczos.

    Parameters
    ----------
    matvec : callable
        ``v -> H v`` for vectors of shape (n,).
    n : int
        The dimension.
    k : int, default=1
    iters : int, default=20
        Lanczos steps ``m`` (clipped to ``n``): ``m`` products. With ``m = n`` the result is
        exact up to rounding.
    v0 : ndarray of shape (n,), optional
        The starting vector (a warm start: the last top eigenvector); default random.
    seed : int or Generator, default=0
        For the random start.

    Notes
    -----
    ``beta_0 q_0 = 0``, ``q_1 = v0 / ||v0||``; for ``j = 1..m``:
    ``w = H q_j - beta_{j-1} q_{j-1}``, ``alpha_j = q_j . w``, ``w -= alpha_j q_j``,
    ``w -= Q (Q^T w)`` (twice: full reorthogonalisation), ``beta_j = ||w||``,
    ``q_{j+1} = w / beta_j``. ``T = tridiag(beta, alpha, beta)``; ``T y = theta y`` gives the
    Ritz pairs ``(theta, Q y)``, with residuals ``beta_m |y_m|``. When ``beta_j`` vanishes the
    Krylov space is invariant; the iteration goes on from a random vector orthogonal to ``Q``
    (``beta_j = 0``), so a repeated eigenvalue is found as often as it repeats.
    """
    m = min(int(iters), n)
    k = min(int(k), m)
    q = _start(n, v0, seed)
    Q = np.zeros((m + 1, n))
    Q[0] = q
    alpha, beta = np.zeros(m), np.zeros(m)
    rng = make_rng(seed)
    for j in range(m):
        w = np.asarray(matvec(Q[j]), dtype=np.float64)
        if j:
            w -= beta[j - 1] * Q[j - 1]
        alpha[j] = Q[j] @ w
        w -= alpha[j] * Q[j]
        _orthogonalise(w, Q[:j + 1])
        beta[j] = np.linalg.norm(w)
        if j == m - 1:
            break
        scale = max(np.abs(alpha[:j + 1]).max(), np.abs(beta[:j]).max() if j else 0.0, 1e-300)
        if beta[j] <= 1e-12 * scale:
            # an invariant subspace (its Ritz values are exact); go on in a fresh direction
            # orthogonal to it, with no coupling (beta_j = 0), so that a repeated eigenvalue
            # can appear again
            beta[j] = 0.0
            w = rng.standard_normal(n)
            _orthogonalise(w, Q[:j + 1])
            Q[j + 1] = w / np.linalg.norm(w)
        else:
            Q[j + 1] = w / beta[j]
    T = np.diag(alpha) + np.diag(beta[:m - 1], 1) + np.diag(beta[:m - 1], -1)
    theta, Y = np.linalg.eigh(T)
    top = np.argsort(theta)[::-1][:k]
    return Eigen(values=theta[top], vectors=(Y[:, top].T @ Q[:m]),
                 residuals=beta[m - 1] * np.abs(Y[m - 1, top]), n_products=m)


def _orthogonalise(w: np.ndarray, Q: np.ndarray) -> None:
    """``w -= Q^T (Q w)``, twice ("twice is enough": full reorthogonalisation), in place."""
    for _ in range(2):
        w -= Q.T @ (Q @ w)


def power_iteration(matvec: Callable[[np.ndarray], np.ndarray], n: int, iters: int = 100,
                    tol: float = 1e-8, v0: np.ndarray | None = None, seed: Any = 0) -> Eigen:
    """The eigenvalue of largest magnitude, by ``v <- H v / ||H v||``, ``lambda = v . H v``.

    Stops when ``lambda`` changes by less than ``tol |lambda|`` or after ``iters`` products.
    """
    v = _start(n, v0, seed)
    lam, Hv, count = 0.0, np.zeros(n), 0
    for count in range(1, int(iters) + 1):
        Hv = np.asarray(matvec(v), dtype=np.float64)
        new = float(v @ Hv)
        norm = np.linalg.norm(Hv)
        done = abs(new - lam) <= tol * abs(new)
        lam = new
        if done or norm == 0 or count == int(iters):
            break
        v = Hv / norm
    residual = np.linalg.norm(Hv - lam * v)  # of the v that Hv belongs to
    return Eigen(values=np.array([lam]), vectors=v[None, :], residuals=np.array([residual]),
                 n_products=count)


def hessian_eigenvalues(net: "Network", X: Any, y: Any, k: int = 1, *,
                        method: str = "lanczos", iters: int = 20, v0: Any = None,
                        sample_weight: Any = None, seed: Any = 0) -> Eigen:
    """The ``k`` largest eigenvalues of the Hessian of the cost on ``(X, y)`` (power: one).

    Parameters
    ----------
    net : Network
    X, y : array-like
        The batch (inputs already scaled), e.g. a few hundred training samples.
    k : int, default=1
    method : {'lanczos', 'power'}, default='lanczos'
    iters : int, default=20
        Lanczos steps, or the most power-iteration steps.
    v0 : ndarray of shape (n_params,), optional
        Start vector.
    sample_weight : array-like, optional
    seed : int or Generator, default=0

    Returns
    -------
    Eigen
        ``values`` largest first, ``vectors`` laid out like ``net.theta``; ``residuals``
        ``||H x - lambda x||`` measured with one more product per pair (counted in
        ``n_products``).
    """
    if method not in EIGEN_METHODS:
        raise ValueError(f"The 'method' parameter of hessian_eigenvalues must be one of "
                         f"{', '.join(EIGEN_METHODS)}; got {method!r}.")
    for name, value in (("k", k), ("iters", iters)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"The {name!r} parameter of hessian_eigenvalues must be an int >= 1; "
                             f"got {value!r}.")
    cv = Curvature(net, X, y, sample_weight=sample_weight)
    if method == "power":
        eig = power_iteration(cv.hvp, net.n_params, iters=iters, v0=v0, seed=seed)
    else:
        eig = lanczos(cv.hvp, net.n_params, k=k, iters=iters, v0=v0, seed=seed)
    # the residuals measured, one more product per pair (Lanczos' beta_m |y_m| assumes exact
    # arithmetic and falls far below rounding once a pair has converged)
    eig.residuals = np.array([np.linalg.norm(cv.hvp(x) - lam * x)
                              for lam, x in zip(eig.values, eig.vectors)])
    eig.n_products += len(eig.values)
    return eig


def sharpness(net: "Network", X: Any, y: Any, **kwargs: Any) -> float:
    """``lambda_max`` of the Hessian of the cost on ``(X, y)``; see :func:`hessian_eigenvalues`."""
    return float(hessian_eigenvalues(net, X, y, **kwargs).values[0])


def stability_edge(optimizer: Any) -> float | None:
    """The largest Hessian eigenvalue at which the optimiser's step is stable on a quadratic.

    ``sgd``: ``2 / eta``; heavy-ball momentum ``mu``: ``(2 + 2 mu) / eta``; Nesterov:
    ``(2 + 2 mu) / ((1 + 2 mu) eta)``; less its ``weight_decay`` (which adds to every
    curvature). None for the adaptive optimisers, whose edge is preconditioned.

    Notes
    -----
    Along an eigenvector with eigenvalue ``lambda`` gradient descent maps the error ``e`` to
    ``(1 - eta lambda) e``: it shrinks while ``|1 - eta lambda| < 1``, that is
    ``lambda < 2 / eta``. With momentum the map is 2 x 2; its eigenvalue reaches -1 at the
    edges above.
    """
    lr = getattr(optimizer, "learning_rate", None)
    if getattr(optimizer, "name", None) != "sgd" or lr is None or not lr > 0:
        return None
    mu = float(getattr(optimizer, "momentum", 0.0))
    edge = (2 + 2 * mu) / ((1 + 2 * mu) * lr) if getattr(optimizer, "nesterov", False) \
        else (2 + 2 * mu) / lr
    return edge - float(getattr(optimizer, "weight_decay", 0.0) or 0.0)


class Sharpness(Callback):
    """Record ``lambda_max`` of the Hessian on a fixed batch every ``every`` steps during ``fit``.

    ``fit(..., callbacks=[Sharpness(X_probe, y_probe, every=10)])``. Each measurement is a dict
    ``{"step", "sharpness", "loss", "learning_rate", "edge"}`` (``loss``: the training batch's
    loss of that step; ``edge``: :func:`stability_edge` of the optimiser), kept in
    ``self.records`` and added to the epoch's History record under ``"sharpness"``.

    Parameters
    ----------
    X, y : array-like
        The probe batch, raw like ``fit``'s inputs (``net.scaler`` is applied to them).
    every : int, default=1
        Measure every ``every`` mini-batch steps.
    iters : int, default=20
        Lanczos steps (warm-started from the last top eigenvector, so fewer suffice).
    method : {'lanczos', 'power'}, default='lanczos'

    Notes
    -----
    The products run on a copy of the network (weights copied in at each measurement, Dropout
    off), so the training network's caches, gradients and random state are untouched: other
    callbacks see the training batch's values.
    """

    def __init__(self, X: Any, y: Any, every: int = 1, *, iters: int = 20,
                 method: str = "lanczos", seed: Any = 0):
        for name, value in (("every", every), ("iters", iters)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"The {name!r} parameter of Sharpness must be an int >= 1; got "
                                 f"{value!r}.")
        if method not in EIGEN_METHODS:
            raise ValueError(f"The 'method' parameter of Sharpness must be one of "
                             f"{', '.join(EIGEN_METHODS)}; got {method!r}.")
        self.X, self.y = X, y
        self.every, self.iters, self.method, self.seed = int(every), int(iters), method, seed
        self.records: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._probe: Any = None
        self._v0: np.ndarray | None = None

    def on_train_begin(self, net: "Network", history: "History") -> None:
        self.records, self._pending, self._v0 = [], [], None
        self._probe = net.copy()
        X = self._probe.check_X(net.scale_inputs(self.X))
        self._Xy = self._probe.check_Xy(X, self.y)

    def on_batch_end(self, net: "Network", step: int, loss: float) -> None:
        if step % self.every:
            return
        probe = self._probe
        probe.theta[...] = net.theta
        probe.l2, probe.l1 = net.l2, net.l1
        eig = hessian_eigenvalues(probe, *self._Xy, method=self.method, iters=self.iters,
                                  v0=self._v0, seed=self.seed)
        self._v0 = eig.vectors[0]
        opt = net.optimizer
        self._pending.append({
            "step": int(step), "sharpness": float(eig.values[0]), "loss": float(loss),
            "learning_rate": float(getattr(opt, "learning_rate", float("nan"))),
            "edge": stability_edge(opt)})

    def on_epoch_end(self, net: "Network", epoch: int, record: dict[str, Any]) -> None:
        for r in self._pending:
            r["epoch"] = epoch
        record["sharpness"] = self._pending
        self.records.extend(self._pending)
        self._pending = []
