"""Looking inside training: per-layer delta and gradient norms, vanishing/exploding detection,
the vanishing-gradient lab, and the worked derivation (:func:`explain`).

What is measured, per layer ``l`` (keys as in :meth:`Network.params`: ``'0'``, ``'1'``, and
``'1.0'`` for the first inner layer of a residual block at position 1), from the values the
last ``backprop`` left in the layers:

``delta_norm``
    ``mean_i ||dc_i/dz^l||``: the mean over the batch of the per-sample delta's Euclidean norm.
    The batch loss is ``C = (1/n) sum_i c_i``, so row ``i`` of the layer's ``delta = dC/dz`` is
    ``(1/n) dc_i/dz``; it is multiplied back by ``n`` so that the number is the per-sample
    delta of the derivation and does not change with the batch size.
``grad_W_norm``, ``grad_b_norm``, ``W_norm``
    Frobenius norms of ``dW^l = dC/dW^l``, ``db^l`` and ``W^l`` (Dense layers only).
``update_ratio``
    ``||dW^l|| / ||W^l||``. A gradient-descent step changes ``W^l`` by ``learning_rate`` times
    this, relative to its size (around 1e-3 per step is the usual healthy range).
``dead_share``
    For relu units: the share of units with ``z <= 0`` for every sample of the batch (they pass
    no gradient at all on this batch). None for other activations.
``saturated_share``
    For sigmoid and tanh: the share of the batch's activations ``a_ij`` in the flat tails, where
    ``f'`` is below about 0.01 times its peak: sigmoid ``a < 0.01`` or ``a > 0.99``, tanh
    ``|a| > 0.99``. None for other activations.
``a_mean``, ``a_std``
    Mean and standard deviation of the layer's activations over the batch and its units.
``grad_var``, ``grad_snr`` (``GradientMonitor(noise=True)``)
    Gradient noise from the per-sample gradients (:mod:`glassnet.per_sample`): the trace of
    their covariance over the batch, ``tr S = (sum_i ||g_i||^2 - n ||g_bar||^2) / (n - 1)``,
    and the signal-to-noise ratio ``||g_bar||^2 / tr S``, the layer's parameters together.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .explain import Explanation, explain
from .init import make_rng
from .layers import Dense, Layer, Residual
from .optim import SGD
from .validation import check_bool, check_scalar
from .training import Callback, gradient, update

if TYPE_CHECKING:
    from .network import Network
    from .training import History

__all__ = [
    "Explanation",
    "ExplodingGradientWarning",
    "GradientMonitor",
    "VanishingGradientWarning",
    "explain",
    "lab_network",
    "lab_table_csv",
    "lab_table_json",
    "layer_stats",
    "monitored_layers",
    "vanishing_lab",
    "weight_layer",
]

SATURATION = {"sigmoid": 0.01, "tanh": 0.01}
"""How close to the bounds (0 and 1 for sigmoid, -1 and 1 for tanh) counts as saturated."""


class VanishingGradientWarning(UserWarning):
    """``||dW^1|| / ||dW^L||`` fell below the monitor's ``vanish_ratio``: the first layer learns
    orders of magnitude more slowly than the last (see docs/derivation.md)."""


class ExplodingGradientWarning(UserWarning):
    """``||dW^1|| / ||dW^L||`` rose above the monitor's ``explode_ratio``."""


def monitored_layers(net: "Network") -> list[tuple[str, Layer]]:
    """``(key, layer)`` for every layer, inner layers of residual blocks included, in forward order.

    Keys follow :meth:`Network.params`: ``'2'`` for ``net.layers[2]``, ``'2.0'`` for its first
    inner layer. Layers with no delta of their own (Dropout) are left out.
    """
    out: list[tuple[str, Layer]] = []
    for i, layer in enumerate(net.layers):
        out.append((str(i), layer))
        for j, inner in enumerate(getattr(layer, "layers", [])):
            out.append((f"{i}.{j}", inner))
    return [(key, layer) for key, layer in out if hasattr(layer, "delta")]


def _norm(x: np.ndarray) -> float:
    return float(np.linalg.norm(x))


def layer_stats(layer: Layer) -> dict[str, Any]:
    """The statistics listed in the module docstring for one layer, as JSON-able floats.

    Reads the layer's cached ``z``, ``a``, ``delta`` (and, for Dense, ``W``, ``dW``, ``db``) from
    the last ``backprop``; raises RuntimeError before that.
    """
    delta = getattr(layer, "delta", None)
    if delta is None or getattr(layer, "a", None) is None:
        raise RuntimeError(
            f"layer_stats({type(layer).__name__}) needs the values of a backward pass. "
            "Run net.backprop(X, y) first."
        )
    z, a = layer.z, layer.a  # type: ignore[attr-defined]
    n = len(delta)
    stats: dict[str, Any] = {
        "type": type(layer).__name__,
        "delta_norm": float(np.mean(np.linalg.norm(n * delta, axis=1))),
        "grad_W_norm": None, "grad_b_norm": None, "W_norm": None, "update_ratio": None,
    }
    if "W" in layer.param_names:
        W_norm = _norm(layer.W)
        stats.update(grad_W_norm=_norm(layer.dW), grad_b_norm=_norm(layer.db), W_norm=W_norm,
                     update_ratio=_norm(layer.dW) / W_norm if W_norm > 0 else None)
    name = getattr(getattr(layer, "activation", None), "name", "identity")
    stats["activation"] = name
    stats["dead_share"] = float(np.mean(np.all(z <= 0, axis=0))) if name == "relu" else None
    if name == "sigmoid":
        tol = SATURATION["sigmoid"]
        stats["saturated_share"] = float(np.mean((a < tol) | (a > 1 - tol)))
    elif name == "tanh":
        stats["saturated_share"] = float(np.mean(np.abs(a) > 1 - SATURATION["tanh"]))
    else:
        stats["saturated_share"] = None
    stats["a_mean"], stats["a_std"] = float(np.mean(a)), float(np.std(a))
    return stats


class GradientMonitor(Callback):
    """A :class:`~glassnet.training.Callback` that records :func:`layer_stats` during ``fit``.

    Every ``every`` steps (or, with ``every=None``, once per epoch, from the epoch's last
    mini-batch) it takes a snapshot ``{"step": s, "epoch": e, "ratio": r, "layers": {key: stats}}``
    where ``r = ||dW^first|| / ||dW^last||`` over the Dense layers. The epoch's snapshots are
    added to its History record under ``"gradients"`` (a list), so they are saved with it.

    Parameters
    ----------
    every : int, optional
        Record every ``every`` mini-batch steps; None (default) records once per epoch.
    vanish_ratio : float, default=1e-3
        Warn with :class:`VanishingGradientWarning` when ``r`` falls below it.
    explode_ratio : float, default=1e3
        Warn with :class:`ExplodingGradientWarning` when ``r`` rises above it.
    noise : bool, default=False
        Also record each layer's gradient noise ``grad_var`` and ``grad_snr`` (see the module
        docstring): two row norms and one ``delta.T @ a_prev`` per layer and snapshot.

    Notes
    -----
    Each warning is given at most once per ``fit``. ``W`` is read after the step's update,
    ``dW`` and ``delta`` are that step's gradients.

    Examples
    --------
    >>> from glassnet import mlp
    >>> net = mlp([2, 4, 1], activation="tanh", seed=0)
    >>> history = net.fit(np.ones((8, 2)), np.zeros(8), epochs=2, callbacks=[GradientMonitor()])
    >>> sorted(history.epochs[0]["gradients"][0]["layers"])
    ['0', '1']
    """

    def __init__(self, every: int | None = None, vanish_ratio: float = 1e-3,
                 explode_ratio: float = 1e3, noise: bool = False):
        self.noise = check_bool(noise, "noise", "GradientMonitor")
        if every is not None:  # None: once per epoch
            check_scalar(every, "every", "GradientMonitor", kind=int, low=1)
        for name, value in (("vanish_ratio", vanish_ratio), ("explode_ratio", explode_ratio)):
            check_scalar(value, name, "GradientMonitor", low=0.0, low_open=True)
        if not vanish_ratio < explode_ratio:
            raise ValueError(f"GradientMonitor needs vanish_ratio < explode_ratio; got "
                             f"{vanish_ratio} and {explode_ratio}. Swap them.")
        self.every = every
        self.vanish_ratio = float(vanish_ratio)
        self.explode_ratio = float(explode_ratio)
        self.snapshots: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._warned: set[type] = set()
        self._step = 0

    def on_train_begin(self, net: "Network", history: "History") -> None:
        self.snapshots, self._pending, self._warned, self._step = [], [], set(), 0

    def on_batch_end(self, net: "Network", step: int, loss: float) -> None:
        self._step = step
        if self.every is not None and step % self.every == 0:
            self._pending.append(self.snapshot(net, step))

    def on_epoch_end(self, net: "Network", epoch: int, record: dict[str, Any]) -> None:
        if self.every is None:
            self._pending.append(self.snapshot(net, self._step))
        for snap in self._pending:
            snap["epoch"] = epoch
        record["gradients"] = self._pending
        self.snapshots.extend(self._pending)
        self._pending = []

    def snapshot(self, net: "Network", step: int) -> dict[str, Any]:
        """Stats of every layer from its cached values, and the first/last ``||dW||`` ratio."""
        layers = {key: layer_stats(layer) for key, layer in monitored_layers(net)}
        if self.noise:
            from .per_sample import layer_gradient_noise

            for key, layer in monitored_layers(net):
                layers[key].update(layer_gradient_noise(layer))
        dense = [s["grad_W_norm"] for s in layers.values() if s["grad_W_norm"] is not None]
        ratio = dense[0] / dense[-1] if len(dense) > 1 and dense[-1] > 0 else None
        if ratio is not None:
            self._check(ratio, step)
        return {"step": int(step), "ratio": ratio, "layers": layers}

    def _check(self, ratio: float, step: int) -> None:
        if ratio < self.vanish_ratio and VanishingGradientWarning not in self._warned:
            self._warned.add(VanishingGradientWarning)
            warnings.warn(
                f"Vanishing gradients at step {step}: ||dW|| of the first layer is {ratio:.1e} "
                f"times that of the last (threshold vanish_ratio={self.vanish_ratio:g}). The "
                "first layers barely learn. Try relu/tanh instead of sigmoid, residual blocks, "
                "or a fitting initialiser.", VanishingGradientWarning, stacklevel=2)
        if ratio > self.explode_ratio and ExplodingGradientWarning not in self._warned:
            self._warned.add(ExplodingGradientWarning)
            warnings.warn(
                f"Exploding gradients at step {step}: ||dW|| of the first layer is {ratio:.1e} "
                f"times that of the last (threshold explode_ratio={self.explode_ratio:g}). Lower "
                "the learning rate, scale the inputs or use a smaller initialisation.",
                ExplodingGradientWarning, stacklevel=2)


# ---------------------------------------------------------------------- the vanishing-gradient lab
def standardised(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a data spec (``'digits'``) or of an ``(X, y)`` pair, ``X`` standardised
    in float64: the data the vanishing lab and its landscapes train on."""
    from .data import StandardScaler, load_data

    if isinstance(data, str):
        loaded = load_data(data)
        X, y = loaded.X, loaded.y
    else:
        X, y = data
    return StandardScaler().fit_transform(np.asarray(X, dtype=np.float64)), np.asarray(y)


def lab_network(n_in: int, n_out: int, depth: int, activation: str, residual: bool, width: int,
                seed: Any) -> "Network":
    """``depth`` hidden layers of ``width`` units, softmax output, cross-entropy loss.

    Without ``residual``: ``a^l = f(W^l a^{l-1} + b^l)`` for every hidden layer. With it, the
    first hidden layer is that Dense layer and each following one is an identity skip as in
    docs/derivation.md, ``x^{l+1} = x^l + f(W^l x^l + b^l)``: ``Residual(Dense(width, width, f))``
    with no activation after the sum, so that ``dC/dx^l = dC/dx^{l+1} + (W^l)^T delta`` keeps
    the "1 +" path free of any ``f'`` factor. The branch weights ``W^l`` of the blocks start
    scaled by ``1 / sqrt(depth)``: unscaled, each relu block multiplies the gradient's norm by
    about ``sqrt(2)`` (He init keeps ``||(W^l)^T delta|| ~ ||dC/dx^{l+1}||``), ``2^(depth/2)``
    over the stack, and training diverges.

    :func:`glassnet.mlp` with ``residual=True`` builds the same identity skips
    ``a = x + f(W x + b)``, without the branch scaling.
    """
    from .network import Network

    rng = make_rng(seed)
    layers: list[Layer] = [Dense(n_in, width, activation, seed=rng, dtype="float64")]
    for _ in range(depth - 1):
        dense = Dense(width, width, activation, seed=rng, dtype="float64")
        if residual:
            dense.W *= 1 / np.sqrt(depth)
        layers.append(Residual(dense) if residual else dense)
    layers.append(Dense(width, n_out, "softmax", seed=rng, dtype="float64"))
    return Network(layers, loss="cross_entropy", dtype="float64", device="cpu")


def _hidden_delta_norms(net: "Network") -> list[float]:
    """``mean_i ||dc_i/dz^l||`` of every hidden layer (see :func:`weight_layer`)."""
    return [layer_stats(weight_layer(layer))["delta_norm"] for layer in net.layers[:-1]]


def vanishing_lab(
    depths: Sequence[int] = (2, 4, 8, 16, 32),
    activations: Sequence[str] = ("sigmoid", "tanh", "relu"),
    residual: Sequence[bool] = (False, True),
    width: int = 32,
    data: Any = "digits",
    steps: int = 100,
    seed: int = 0,
    *,
    learning_rate: float = 0.05,
    batch_size: int = 32,
    n_measure: int = 256,
) -> list[dict[str, Any]]:
    """``||delta^l||`` of every hidden layer, at initialisation and after ``steps`` SGD steps.

    For each configuration (depth, activation, residual) a :func:`lab_network` is built, its
    hidden deltas measured on a fixed batch of ``n_measure`` samples, trained for ``steps``
    mini-batch steps of gradient descent (``W <- W - learning_rate * dW``), and measured again.
    With sigmoid, ``delta^l = ((W^{l+1})^T delta^{l+1}) * sigmoid'(z^l)`` and
    ``sigmoid' <= 1/4``, so the plain stack's deltas shrink roughly geometrically towards the
    input; identity skips keep them from collapsing.

    Parameters
    ----------
    depths : sequence of int, default=(2, 4, 8, 16, 32)
        Numbers of hidden layers, each >= 1.
    activations : sequence of str, default=('sigmoid', 'tanh', 'relu')
    residual : sequence of bool, default=(False, True)
    width : int, default=32
    data : str or (X, y), default='digits'
        A :func:`glassnet.data.load_data` spec, or arrays with integer class labels ``y``.
        Inputs are standardised.
    steps : int, default=100
        Training steps (0: measure at initialisation only).
    seed : int, default=0
        Weights, the measuring batch and the mini-batches all come from it.

    Returns
    -------
    list of dict
        One row per configuration: ``depth``, ``activation``, ``residual``, ``delta_init`` and
        ``delta_trained`` (lists over the hidden layers, input side first), ``decay_per_layer``
        (``(delta_init[0] / delta_init[-1]) ** (1 / (depth - 1))``, the geometric mean factor
        per layer; None for depth 1), ``db_norms`` (``||dC/db^l||`` of every hidden layer at
        every training step, the "speed of learning"), ``final_loss`` on the measuring batch,
        and ``diverged`` (True when the training loss overflowed; training stopped there).
    """
    X, y = standardised(data)
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"vanishing_lab needs integer class labels y; got dtype {y.dtype}. Pass a "
                         "classification data set such as 'digits'.")
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"vanishing_lab depths must be ints >= 1; got {list(depths)}.")
    n_classes = int(y.max()) + 1
    rows = []
    for activation in activations:
        for res in residual:
            for depth in depths:
                rng = np.random.default_rng(seed)
                net = lab_network(X.shape[1], n_classes, depth, activation, bool(res), width, rng)
                measure = rng.choice(len(X), size=min(n_measure, len(X)), replace=False)
                X_m, Y_m = net.check_Xy(X[measure], y[measure])
                gradient(net, X_m, Y_m)
                delta_init = _hidden_delta_norms(net)
                X_all, Y_all = net.check_Xy(X, y)
                sgd, db_norms, diverged = SGD(learning_rate), [], False
                with np.errstate(over="ignore", invalid="ignore"):
                    for _ in range(steps):
                        batch = rng.choice(len(X), size=batch_size, replace=False)
                        if not np.isfinite(gradient(net, X_all[batch], Y_all[batch])):
                            diverged = True  # the loss overflowed: nothing left to measure
                            break
                        db_norms.append([_norm(weight_layer(layer).db)
                                         for layer in net.layers[:-1]])
                        update(net, sgd)  # gradient descent: theta -= learning_rate * grad
                    final_loss = gradient(net, X_m, Y_m)
                    delta_trained = _hidden_delta_norms(net)
                decay = ((delta_init[0] / delta_init[-1]) ** (1 / (depth - 1))
                         if depth > 1 and delta_init[-1] > 0 else None)
                rows.append({
                    "depth": int(depth), "activation": activation, "residual": bool(res),
                    "width": int(width), "steps": int(steps),
                    "delta_init": delta_init, "delta_trained": delta_trained,
                    "decay_per_layer": decay, "db_norms": db_norms,
                    "final_loss": float(final_loss), "diverged": diverged,
                })
    return rows


def weight_layer(layer: Layer) -> Dense:
    """The Dense layer that holds hidden layer ``l``'s ``W^l`` and ``b^l``: the layer itself, or
    the first inner layer of a residual block. Its ``delta`` is ``dC/dz^l`` with
    ``z^l = W^l x + b^l``, one ``f'`` factor included in both cases, so plain and residual
    stacks are compared like for like."""
    return layer.children()[0] if layer.children() else layer  # type: ignore[return-value]


def lab_table_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The lab's rows as CSV, one line per configuration and hidden layer."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["activation", "residual", "depth", "layer", "delta_init", "delta_trained"])
    for row in rows:
        for l, (d0, d1) in enumerate(zip(row["delta_init"], row["delta_trained"]), start=1):
            writer.writerow([row["activation"], "on" if row["residual"] else "off", row["depth"],
                             l, f"{d0:.6e}", f"{d1:.6e}"])
    return out.getvalue()


def lab_table_json(rows: Sequence[dict[str, Any]]) -> str:
    """The lab's rows as JSON (the ``db_norms`` curves included)."""
    return json.dumps({"rows": list(rows)})
