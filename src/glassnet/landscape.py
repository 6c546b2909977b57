"""Loss landscapes: the loss along a line and over a plane through weight space.

Everything here evaluates the loss ``C(theta)`` of one network (the data term, no penalty, in
inference mode: Dropout off) at weights ``theta`` other than its own, through ``net.theta``:

* :func:`line`: ``C((1 - t) theta_a + t theta_b)`` for ``t`` in a range around [0, 1], e.g.
  from the initial to the trained weights, or between two trained models (a bump between them
  is a barrier; none means they sit in one connected valley);
* :func:`plane`: ``C(theta* + alpha d_1 + beta d_2)`` on a grid, through the trained weights
  ``theta*``, along two *filter-normalised* random directions (Li et al., 2018): each row
  ``d_j`` of a direction's ``W`` part (the incoming weights of neuron ``j``, its "filter") is
  rescaled to the norm of the same row of ``W``, ``d_j <- d_j ||W_j|| / ||d_j||``, and the
  bias parts are zero. Without this, a network whose weights are scaled differently (relu is
  scale-invariant: ``relu(c z) = c relu(z)``) would look sharper or flatter for no reason;
* :func:`trajectory_plane`: the plane of the first two principal directions of a training
  trajectory ``theta_0, ..., theta_T`` (``SVD`` of ``theta_t - theta_T``), with the path
  projected on it (:class:`Trajectory` records it during ``fit``).

The results are plain data (:class:`LossLine`, :class:`LossPlane`, with ``to_dict``); the
figures are :func:`glassnet.plots.plot_loss_line`, :func:`~glassnet.plots.plot_landscape` and
:func:`~glassnet.plots.plot_landscape_pair`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .device import to_numpy
from .init import make_rng
from .training import Callback

if TYPE_CHECKING:
    from .network import Network
    from .training import History

__all__ = ["LossLine", "LossPlane", "Trajectory", "filter_normalized_direction", "lab_landscapes",
           "line", "plane", "trajectory_plane"]


@dataclass
class LossLine:
    """``loss[i] = C((1 - t[i]) theta_a + t[i] theta_b)``."""

    t: np.ndarray
    loss: np.ndarray
    label: str = ""

    @property
    def barrier(self) -> float:
        """The highest loss between the two ends above the higher end (0: no barrier)."""
        inside = (self.t >= 0) & (self.t <= 1)
        ends = max(np.interp(0, self.t, self.loss), np.interp(1, self.t, self.loss))
        return float(max(self.loss[inside].max() - ends, 0.0)) if inside.any() else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t.tolist(), "loss": self.loss.tolist(), "label": self.label,
                "barrier": self.barrier}


@dataclass
class LossPlane:
    """``loss[i, j] = C(theta* + alphas[i] d_1 + betas[j] d_2)``."""

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    label: str = ""
    directions: str = "filter-normalised random"
    path: np.ndarray | None = None
    """``(T, 2)``: a trajectory's coordinates on the plane (None without one)."""
    explained: list[float] = field(default_factory=list)
    """For principal directions: the share of the path's variance each one explains."""

    @property
    def center_loss(self) -> float:
        """``C(theta*)``, the loss at the grid point nearest the origin."""
        i, j = np.argmin(np.abs(self.alphas)), np.argmin(np.abs(self.betas))
        return float(self.loss[i, j])

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("alphas", "betas", "loss", "path"):
            out[key] = None if out[key] is None else np.asarray(out[key]).tolist()
        return out


def _theta(net: "Network", theta: Any, name: str) -> np.ndarray:
    """A weight vector from an array or a network of the same layout, as float64 on the host."""
    if hasattr(theta, "theta") and hasattr(theta, "config"):
        if theta.config()["layers"] != net.config()["layers"]:
            raise ValueError(f"The network given as {name} has another architecture than this "
                             "one; a line between them means nothing.")
        theta = theta.theta
    flat = np.array(to_numpy(theta), dtype=np.float64)  # a copy: net.theta itself will move
    if flat.shape != (net.n_params,) or not np.all(np.isfinite(flat)):
        raise ValueError(f"{name} must be a finite weight vector of shape ({net.n_params},) like "
                         f"net.theta, or a network of the same architecture; got shape "
                         f"{flat.shape}.")
    return flat


class _Evaluator:
    """``C(theta)`` on a fixed batch, through ``net.theta``; the weights are put back after."""

    def __init__(self, net: "Network", X: Any, y: Any):
        self.net = net
        self.X, self.Y = (net.to_device(a) for a in net.check_Xy(X, y))
        self.saved = net.theta.copy()

    def __call__(self, theta: np.ndarray) -> float:
        net = self.net
        net.theta[...] = net.to_device(theta.astype(net.dtype))
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            total = 0.0
            for i in range(0, len(self.X), 4096):
                net.propagate(self.X[i:i + 4096])
                total += net.output_loss(self.Y[i:i + 4096]) * len(self.X[i:i + 4096])
        return total / len(self.X)

    def restore(self) -> None:
        self.net.theta[...] = self.saved


def _check_positive_int(name: str, value: Any, owner: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"The {name!r} parameter of {owner} must be an int >= {low}; got "
                         f"{value!r}.")
    return int(value)


def line(net: "Network", X: Any, y: Any, theta_a: Any, theta_b: Any = None, *,
         n_points: int = 41, t_range: tuple[float, float] = (-0.25, 1.25),
         label: str = "") -> LossLine:
    """The loss along the straight line from ``theta_a`` (t = 0) to ``theta_b`` (t = 1).

    Parameters
    ----------
    net : Network
        Its architecture and loss; its own weights are restored afterwards.
    X, y : array-like
        The data (inputs already scaled, as ``net.loss`` takes them).
    theta_a, theta_b : ndarray of shape (n_params,) or Network
        The two ends; ``theta_b`` defaults to ``net.theta``.
    n_points : int, default=41
    t_range : (float, float), default=(-0.25, 1.25)
        A little beyond both ends shows whether each is a minimum along the line.

    Examples
    --------
    >>> from glassnet import mlp
    >>> net = mlp([2, 3, 1], dtype="float64")
    >>> l = line(net, np.ones((4, 2)), np.zeros(4), np.zeros(net.n_params), n_points=5)
    >>> l.t.tolist()
    [-0.25, 0.125, 0.5, 0.875, 1.25]
    """
    n_points = _check_positive_int("n_points", n_points, "line", low=2)
    lo, hi = (float(v) for v in t_range)
    if not lo < hi:
        raise ValueError(f"The 't_range' parameter of line must be (low, high) with low < high; "
                         f"got {t_range!r}.")
    a = _theta(net, theta_a, "theta_a")
    b = _theta(net, net.theta if theta_b is None else theta_b, "theta_b")
    C = _Evaluator(net, X, y)
    t = np.linspace(lo, hi, n_points)
    try:
        loss = np.array([C((1 - ti) * a + ti * b) for ti in t])
    finally:
        C.restore()
    return LossLine(t=t, loss=loss, label=label)


def filter_normalized_direction(net: "Network", seed: Any = 0) -> np.ndarray:
    """A random direction laid out like ``net.theta``, each weight row scaled to its row of ``W``.

    ``d_j <- d_j ||W_j|| / ||d_j||`` for every row ``j`` of every weight matrix (Li et al.,
    2018, "filter normalisation"); biases get 0.
    """
    rng = make_rng(seed)
    parts = []
    for p in net.params().values():
        p = np.asarray(to_numpy(p), dtype=np.float64)
        if p.ndim == 2:
            d = rng.standard_normal(p.shape)
            d_norm = np.maximum(np.linalg.norm(d, axis=1), 1e-300)
            d *= (np.linalg.norm(p, axis=1) / d_norm)[:, None]  # d_j ||W_j|| / ||d_j||
        else:
            d = np.zeros(p.shape)
        parts.append(d.ravel())
    return np.concatenate(parts)


def _grid(C: _Evaluator, center: np.ndarray, d1: np.ndarray, d2: np.ndarray,
          alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    loss = np.empty((len(alphas), len(betas)))
    try:
        for i, alpha in enumerate(alphas):
            for j, beta in enumerate(betas):
                loss[i, j] = C(center + alpha * d1 + beta * d2)
    finally:
        C.restore()
    return loss


def plane(net: "Network", X: Any, y: Any, *, span: float = 1.0, resolution: int = 21,
          directions: tuple[Any, Any] | None = None, seed: Any = 0,
          label: str = "") -> LossPlane:
    """The loss on a square grid through ``net``'s weights, along two filter-normalised directions.

    Parameters
    ----------
    net : Network
        The centre ``theta*``; its weights are restored afterwards.
    X, y : array-like
        Inputs already scaled.
    span : float, default=1.0
        ``alpha, beta`` run over ``[-span, span]``: 1 is a step the size of each filter.
    resolution : int, default=21
        Grid points per axis (``resolution**2`` loss evaluations).
    directions : (d_1, d_2), optional
        Your own directions (flat, like ``net.theta``); default two
        :func:`filter_normalized_direction` draws from ``seed``.
    seed : int or Generator, default=0
    """
    if isinstance(span, bool) or not isinstance(span, (int, float)) or not 0 < span < np.inf:
        raise ValueError(f"The 'span' parameter of plane must be a float > 0; got {span!r}.")
    resolution = _check_positive_int("resolution", resolution, "plane", low=2)
    if directions is None:
        rng = make_rng(seed)
        directions = (filter_normalized_direction(net, rng), filter_normalized_direction(net, rng))
    d1, d2 = (_theta(net, d, f"directions[{i}]") for i, d in enumerate(directions))
    axis = np.linspace(-span, span, resolution)
    C = _Evaluator(net, X, y)
    return LossPlane(alphas=axis, betas=axis.copy(),
                     loss=_grid(C, C.saved.astype(np.float64), d1, d2, axis, axis), label=label)


def trajectory_plane(net: "Network", X: Any, y: Any, trajectory: Sequence[Any], *,
                     resolution: int = 21, margin: float = 0.25, label: str = "") -> LossPlane:
    """The loss on the plane of a training path's two principal directions, the path on it.

    Parameters
    ----------
    net : Network
        Its weights are the end of the path ``theta_T`` (the plane's origin).
    trajectory : sequence of weight vectors (n_params,)
        ``theta_0 .. theta_T``, e.g. :attr:`Trajectory.thetas`; at least 3.
    resolution : int, default=21
    margin : float, default=0.25
        The grid reaches this share of the path's extent beyond it on each side.

    Notes
    -----
    With ``M`` the matrix of rows ``theta_t - theta_T`` and ``M = U S V^T``, the directions are
    the first two rows of ``V^T`` (orthonormal) and the path's coordinates are ``M V[:, :2]``;
    ``explained`` is ``S_k^2 / sum S^2``.
    """
    resolution = _check_positive_int("resolution", resolution, "trajectory_plane", low=2)
    if len(trajectory) < 3:
        raise ValueError(f"trajectory_plane needs at least 3 weight vectors; got "
                         f"{len(trajectory)}. Record them with callbacks=[Trajectory()].")
    center = _theta(net, net.theta, "net.theta")
    M = np.stack([_theta(net, th, f"trajectory[{i}]") for i, th in enumerate(trajectory)]) - center
    _, S, Vt = np.linalg.svd(M, full_matrices=False)
    if len(S) < 2 or not S[1] > 0:
        raise ValueError("The trajectory spans less than two directions (the weights barely "
                         "moved); record more steps.")
    d1, d2 = Vt[0], Vt[1]
    path = M @ np.stack([d1, d2], axis=1)
    lo, hi = path.min(axis=0), path.max(axis=0)
    pad = margin * np.maximum(hi - lo, 1e-12)
    alphas = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    betas = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    C = _Evaluator(net, X, y)
    return LossPlane(alphas=alphas, betas=betas, loss=_grid(C, center, d1, d2, alphas, betas),
                     label=label, directions="principal directions of the trajectory",
                     path=path, explained=(S[:2] ** 2 / np.sum(S ** 2)).tolist())


class Trajectory(Callback):
    """Record ``net.theta`` during ``fit``: at the start, every ``every`` steps (default: after
    each epoch) and at the end.

    ``thetas`` holds float64 host copies, ``steps`` their step numbers.
    """

    def __init__(self, every: int | None = None):
        if every is not None:
            _check_positive_int("every", every, "Trajectory")
        self.every = every
        self.thetas: list[np.ndarray] = []
        self.steps: list[int] = []
        self._step = 0

    def _keep(self, net: "Network", step: int) -> None:
        self.thetas.append(np.asarray(to_numpy(net.theta), dtype=np.float64).copy())
        self.steps.append(int(step))

    def on_train_begin(self, net: "Network", history: "History") -> None:
        if not self.thetas:
            self._keep(net, 0)

    def on_batch_end(self, net: "Network", step: int, loss: float) -> None:
        self._step = step
        if self.every is not None and step % self.every == 0:
            self._keep(net, step)

    def on_epoch_end(self, net: "Network", epoch: int, record: dict[str, Any]) -> None:
        if self.every is None:
            self._keep(net, self._step)

    def on_train_end(self, net: "Network", history: "History") -> None:
        if self.steps[-1] != self._step:  # the weights fit ends with, as the last point
            self._keep(net, self._step)


def lab_landscapes(depth: int = 8, activation: str = "relu", width: int = 32, data: Any = "digits",
                   epochs: int = 20, learning_rate: float = 0.05, n_samples: int = 500, *,
                   span: float = 1.0, resolution: int = 21, seed: int = 0
                   ) -> tuple[LossPlane, LossPlane]:
    """The vanishing lab's plain and residual stacks, trained alike, each one's landscape.

    Builds :func:`glassnet.diagnostics.lab_network` twice (``residual`` off and on; the same
    depth, width, activation and seed), trains both with SGD on the standardised data, and
    returns :func:`plane` around each trained network with the same filter-normalised seed,
    on the same ``n_samples`` samples. Identity skips typically leave a smoother, more convex
    bowl (Li et al., 2018, Fig. 5); the figure is :func:`glassnet.plots.plot_landscape_pair`.
    """
    from .diagnostics import lab_network, standardised

    X, y_all = standardised(data)
    rng = np.random.default_rng(seed)
    probe = rng.choice(len(X), size=min(n_samples, len(X)), replace=False)
    planes = []
    for residual in (False, True):
        net = lab_network(X.shape[1], int(y_all.max()) + 1, depth, activation, residual, width,
                          seed)
        net.fit(X, y_all, epochs=epochs, batch_size=32, optimizer="sgd",
                learning_rate=learning_rate, seed=seed, progress=False)
        kind = "residual" if residual else "plain"
        planes.append(plane(net, X[probe], y_all[probe], span=span, resolution=resolution,
                            seed=seed, label=f"{kind}, {activation}, depth {depth}"))
    return planes[0], planes[1]
