"""Figures of training and of what back-propagation sees, drawn with matplotlib.

Every function returns a :class:`matplotlib.figure.Figure` and, given ``path``, also writes it as
a PNG. Figures are made without ``pyplot`` (no global state, no windows; the PNG goes through the
Agg renderer). matplotlib is imported inside the functions only: install it with
``pip install glassnet[plot]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .device import to_numpy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .network import Network
    from .training import History

__all__ = [
    "plot_decision_boundary",
    "plot_delta_by_depth",
    "plot_gradient_norms",
    "plot_histograms",
    "plot_landscape",
    "plot_landscape_pair",
    "plot_learning_speed",
    "plot_loss_line",
    "plot_saliency",
    "plot_sharpness",
    "plot_training_curves",
]

_SKIP_KEYS = {"epoch", "time", "learning_rate", "gradients", "sharpness"}
_QUANTITY_LABELS = {"grad_W_norm": "||dC/dW^l||", "grad_b_norm": "||dC/db^l||",
                    "delta_norm": "mean ||dC/dz^l|| per sample",
                    "update_ratio": "||dW^l|| / ||W^l||",
                    "grad_var": "tr Cov(g_i), per-sample gradients",
                    "grad_snr": "||g_bar||^2 / tr Cov(g_i)"}


def _figure(**kwargs: Any) -> "Figure":
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("glassnet's plots need matplotlib: pip install glassnet[plot]") from None
    return Figure(**kwargs)


def _finish(fig: "Figure", path: Any) -> "Figure":
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, format="png", dpi=80)
    return fig


def _as_history(history: "History | dict[str, Any]") -> list[dict[str, Any]]:
    if isinstance(history, dict):
        return list(history.get("epochs", []))
    return list(history.epochs)


def plot_training_curves(history: "History | dict[str, Any]", path: Any = None) -> "Figure":
    """Loss (train, validation: every key with "loss" in it) and other metrics over the epochs.

    Parameters
    ----------
    history : History or dict
        A :class:`~glassnet.training.History` or its ``to_dict()`` form ``{"epochs": [...]}``.
    path : str or Path, optional
        Where to write the PNG.

    Returns
    -------
    Figure
        One axes for the losses (log scale) and, when the records hold other numbers such as
        accuracies, a second one for them.
    """
    epochs = _as_history(history)
    if not epochs:
        raise ValueError("plot_training_curves needs a history with at least one epoch; got none.")
    keys = [k for k in dict.fromkeys(k for r in epochs for k in r)
            if k not in _SKIP_KEYS and all(isinstance(r.get(k), (int, float)) for r in epochs)]
    loss_keys = [k for k in keys if "loss" in k]
    metric_keys = [k for k in keys if "loss" not in k]
    x = [r.get("epoch", i + 1) for i, r in enumerate(epochs)]
    fig = _figure(figsize=(9 if metric_keys else 5, 3.6))
    axes = fig.subplots(1, 2 if metric_keys else 1, squeeze=False)[0]
    for key in loss_keys:
        axes[0].plot(x, [r[key] for r in epochs], marker=".", label=key)
    axes[0].set(title="Loss", xlabel="epoch", ylabel="loss", yscale="log")
    axes[0].legend()
    if metric_keys:
        for key in metric_keys:
            axes[1].plot(x, [r[key] for r in epochs], marker=".", label=key)
        axes[1].set(title="Metrics", xlabel="epoch", ylabel="value")
        axes[1].legend()
    return _finish(fig, path)


def plot_gradient_norms(history: "History | dict[str, Any]", quantity: str = "grad_W_norm",
                        path: Any = None) -> "Figure":
    """One line per layer: ``quantity`` (default ``||dC/dW^l||``) over the training steps, log scale.

    Reads the ``"gradients"`` snapshots that :class:`~glassnet.diagnostics.GradientMonitor`
    adds to each epoch's record.
    """
    snaps = [s for r in _as_history(history) for s in r.get("gradients", [])]
    if not snaps:
        raise ValueError("plot_gradient_norms needs a history recorded with GradientMonitor; "
                         "its records have no 'gradients'. Pass callbacks=[GradientMonitor()].")
    fig = _figure(figsize=(6, 4))
    ax = fig.subplots()
    steps = [s["step"] for s in snaps]
    for key in snaps[0]["layers"]:
        values = [s["layers"].get(key, {}).get(quantity) for s in snaps]
        if all(v is not None for v in values):
            ax.plot(steps, values, marker=".", label=f"layer {key}")
    label = _QUANTITY_LABELS.get(quantity, quantity)
    ax.set(title=f"Per-layer {label} during training", xlabel="training step", ylabel=label,
           yscale="log")
    ax.legend(fontsize="small")
    return _finish(fig, path)


def _config_label(row: dict[str, Any]) -> str:
    skip = ", skips" if row["residual"] else ""
    return f"{row['activation']}{skip}, depth {row['depth']}"


def plot_delta_by_depth(rows: Sequence[dict[str, Any]], phase: str = "init",
                        path: Any = None) -> "Figure":
    """``||delta^l||`` against the layer ``l``, one line per lab configuration, log scale.

    ``rows`` come from :func:`glassnet.diagnostics.vanishing_lab`; ``phase`` is ``'init'`` or
    ``'trained'``. Solid lines for plain stacks, dashed for identity skips.
    """
    if phase not in ("init", "trained"):
        raise ValueError(f"phase must be 'init' or 'trained'; got {phase!r}.")
    fig = _figure(figsize=(7, 4.5))
    ax = fig.subplots()
    colors = {a: f"C{i}" for i, a in enumerate(dict.fromkeys(r["activation"] for r in rows))}
    for row in rows:
        norms = row[f"delta_{phase}"]
        ax.plot(range(1, len(norms) + 1), norms, color=colors[row["activation"]],
                linestyle="--" if row["residual"] else "-",
                alpha=0.35 + 0.65 * row["depth"] / max(r["depth"] for r in rows),
                label=_config_label(row))
    when = "at initialisation" if phase == "init" else f"after {rows[0]['steps']} steps"
    ax.set(title=f"Per-sample ||delta^l|| by layer, {when}", xlabel="hidden layer l (1 = input side)",
           ylabel="mean ||dC/dz^l||", yscale="log")
    ax.legend(fontsize="x-small", ncol=2)
    return _finish(fig, path)


def plot_learning_speed(rows: Sequence[dict[str, Any]], path: Any = None) -> "Figure":
    """The "speed of learning": ``||dC/db^l||`` of each hidden layer over the training steps.

    One panel per lab configuration in ``rows`` (pick a few, e.g. the deepest), one line per
    hidden layer coloured from the input side (dark) to the output side (light); log scale.
    """
    rows = [r for r in rows if r["db_norms"]]
    if not rows:
        raise ValueError("plot_learning_speed needs lab rows trained for steps > 0.")
    n_cols = min(len(rows), 3)
    n_rows = int(np.ceil(len(rows) / n_cols))
    fig = _figure(figsize=(4.2 * n_cols, 3.4 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes[len(rows):]:
        ax.axis("off")
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for ax, row in zip(axes, rows):
        curves = np.asarray(row["db_norms"])
        n_layers = curves.shape[1]
        for l in range(n_layers):
            label = f"layer {l + 1}" if l in (0, n_layers - 1) else None
            ax.plot(np.arange(1, len(curves) + 1), curves[:, l], lw=1,
                    color=cmap(l / max(n_layers - 1, 1)), label=label)
        ax.set(title=_config_label(row), xlabel="training step", ylabel="||dC/db^l||",
               yscale="log")
        ax.legend(fontsize="small")
    fig.suptitle("Speed of learning per hidden layer")
    return _finish(fig, path)


def plot_decision_boundary(net: "Network", X: Any, y: Any, resolution: int = 200,
                           path: Any = None) -> "Figure":
    """The predicted class over the plane of a 2-D classifier, with the points on top."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2 or net.n_in != 2:
        raise ValueError(f"plot_decision_boundary needs 2-D inputs and a network with n_in=2; "
                         f"got X of shape {X.shape} and n_in={net.n_in}.")
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0) + 1e-12)
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    labels = np.asarray(net.predict(np.c_[g0.ravel(), g1.ravel()]))
    if labels.ndim > 1:
        labels = labels.argmax(axis=1)
    fig = _figure(figsize=(5, 4.5))
    ax = fig.subplots()
    ax.contourf(g0, g1, labels.reshape(g0.shape).astype(float), alpha=0.3, cmap="coolwarm")
    scatter = ax.scatter(X[:, 0], X[:, 1], c=np.asarray(y), cmap="coolwarm", s=12,
                         edgecolors="k", linewidths=0.3)
    ax.legend(*scatter.legend_elements(), title="class", fontsize="small")
    ax.set(title="Decision boundary", xlabel="x1", ylabel="x2")
    return _finish(fig, path)


def plot_histograms(net: "Network", X: Any = None, bins: int = 40, path: Any = None) -> "Figure":
    """Histograms of each weighted layer's weights and, given ``X``, of its activations."""
    from .diagnostics import monitored_layers

    dense = [(key, layer) for key, layer in monitored_layers(net) if "W" in layer.param_names]
    if X is not None:
        net.forward(X)
    n_rows = 2 if X is not None else 1
    fig = _figure(figsize=(2.6 * len(dense), 2.4 * n_rows))
    axes = fig.subplots(n_rows, len(dense), squeeze=False)
    for j, (key, layer) in enumerate(dense):
        axes[0, j].hist(to_numpy(layer.W).ravel(), bins=bins, color="C0")
        axes[0, j].set(title=f"W of layer {key}", xlabel="weight", ylabel="count")
        if X is not None:
            axes[1, j].hist(to_numpy(layer.a).ravel(), bins=bins, color="C1")
            axes[1, j].set(title=f"a of layer {key} ({layer.activation.name})",
                           xlabel="activation", ylabel="count")
    return _finish(fig, path)


def plot_saliency(net: "Network", X: Any, y: Any = None, image_shape: tuple[int, int] | None = None,
                  path: Any = None) -> "Figure":
    """``dy_c/dx`` as an image per output unit ``c``, from :func:`glassnet.jacobian`.

    Panel ``c`` shows the Jacobian row ``c`` averaged over the samples of class ``c`` (over all
    of ``X`` when ``y`` is None), reshaped to ``image_shape`` (default: square, 8x8 for
    digits). Red raises the output, blue lowers it.
    """
    from .jacobian import jacobian

    X = np.asarray(X)
    if image_shape is None:
        side = int(round(np.sqrt(net.n_in)))
        if side * side != net.n_in:
            raise ValueError(f"plot_saliency needs image inputs; {net.n_in} features are not a "
                             "square image. Pass image_shape=(height, width).")
        image_shape = (side, side)
    J = jacobian(net, X)
    n_out = net.n_out
    n_cols = min(n_out, 5)
    n_rows = int(np.ceil(n_out / n_cols))
    fig = _figure(figsize=(2.1 * n_cols, 2.2 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for c in range(n_rows * n_cols):
        ax = axes.flat[c]
        ax.set_xticks([])
        ax.set_yticks([])
        if c >= n_out:
            ax.axis("off")
            continue
        rows = J[np.asarray(y) == c, c] if y is not None and np.any(np.asarray(y) == c) else J[:, c]
        image = rows.mean(axis=0).reshape(image_shape)
        limit = float(np.abs(image).max()) or 1.0
        shown = ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"dy_{c}/dx")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.suptitle("Saliency: d output / d input pixel")
    return _finish(fig, path)


# ---------------------------------------------------------------------- second order and landscapes


def plot_sharpness(history: "History | dict[str, Any] | Sequence[dict[str, Any]]",
                   path: Any = None) -> "Figure":
    """The loss and the sharpness ``lambda_max`` over the steps, with the stability edge.

    Reads the ``"sharpness"`` records that :class:`glassnet.sharpness.Sharpness` adds to each
    epoch (or a list of such records). Left: the training batch's loss at the measured steps.
    Right: ``lambda_max`` of the Hessian on the probe batch, and dashed, the optimiser's
    stability edge (``2 / learning_rate`` for plain gradient descent), where it has one.
    """
    if isinstance(history, (list, tuple)):
        records = list(history)
    else:
        records = [s for r in _as_history(history) for s in r.get("sharpness", [])]
    if not records:
        raise ValueError("plot_sharpness needs records from the Sharpness callback; the history "
                         "has no 'sharpness'. Pass callbacks=[Sharpness(X, y, every=k)].")
    steps = [r["step"] for r in records]
    fig = _figure(figsize=(9, 3.6))
    ax_loss, ax_sharp = fig.subplots(1, 2)
    ax_loss.plot(steps, [r["loss"] for r in records], color="C0")
    ax_loss.set(title="Training loss", xlabel="step", ylabel="batch loss", yscale="log")
    ax_sharp.plot(steps, [r["sharpness"] for r in records], color="C3", label="lambda_max(H)")
    edges = [r.get("edge") for r in records]
    if any(e is not None for e in edges):
        ax_sharp.plot(steps, [np.nan if e is None else e for e in edges], color="k",
                      linestyle="--", label="stability edge (2 / learning_rate for GD)")
    ax_sharp.set(title="Sharpness", xlabel="step", ylabel="largest Hessian eigenvalue")
    ax_sharp.legend(fontsize="small")
    return _finish(fig, path)


def plot_loss_line(lines: Any, path: Any = None) -> "Figure":
    """The loss along one or more :class:`glassnet.landscape.LossLine` (t = 0 and t = 1 marked)."""
    lines = [lines] if not isinstance(lines, (list, tuple)) else list(lines)
    if not lines:
        raise ValueError("plot_loss_line needs at least one LossLine.")
    fig = _figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for i, ln in enumerate(lines):
        ax.plot(ln.t, ln.loss, color=f"C{i}", label=ln.label or None)
        ends = [float(np.interp(t, ln.t, ln.loss)) for t in (0.0, 1.0)]
        ax.plot([0.0, 1.0], ends, "o", color=f"C{i}")
    ax.set(title="Loss along the line (1 - t) theta_a + t theta_b", xlabel="t", ylabel="loss",
           yscale="log")
    if any(ln.label for ln in lines):
        ax.legend(fontsize="small")
    return _finish(fig, path)


def _contour(ax: Any, fig: "Figure", plane: Any, levels: Any = 30, colorbar: bool = True) -> None:
    A, B = np.meshgrid(plane.alphas, plane.betas, indexing="ij")
    loss = np.log10(np.maximum(plane.loss, 1e-12))
    shown = ax.contourf(A, B, loss, levels=levels, cmap="viridis")
    ax.contour(A, B, loss, levels=levels, colors="k", linewidths=0.3, alpha=0.5)
    if colorbar:
        fig.colorbar(shown, ax=ax, label="log10 loss")
    if plane.path is not None:
        ax.plot(plane.path[:, 0], plane.path[:, 1], "o-", color="w", markersize=3, lw=1)
        ax.plot(plane.path[0, 0], plane.path[0, 1], "s", color="r", label="start")
        ax.plot(plane.path[-1, 0], plane.path[-1, 1], "*", color="r", markersize=10, label="end")
        ax.legend(fontsize="small", loc="upper right")
    else:
        ax.plot(0, 0, "*", color="r", markersize=10)
    xlabel, ylabel = ("alpha (direction 1)", "beta (direction 2)")
    if plane.explained:
        xlabel = f"PC 1 ({plane.explained[0]:.0%} of the path)"
        ylabel = f"PC 2 ({plane.explained[1]:.0%})"
    ax.set(xlabel=xlabel, ylabel=ylabel, title=plane.label or plane.directions)


def plot_landscape(plane: Any, kind: str = "contour", path: Any = None) -> "Figure":
    """A :class:`glassnet.landscape.LossPlane` as contours (log scale) or a 3-D surface.

    ``kind='contour'`` draws the trajectory when the plane has one; ``'surface'`` the loss
    itself over the plane.
    """
    if kind not in ("contour", "surface"):
        raise ValueError(f"kind must be 'contour' or 'surface'; got {kind!r}.")
    fig = _figure(figsize=(5.5, 4.5))
    if kind == "contour":
        _contour(fig.subplots(), fig, plane)
        return _finish(fig, path)
    ax = fig.add_subplot(projection="3d")
    A, B = np.meshgrid(plane.alphas, plane.betas, indexing="ij")
    ax.plot_surface(A, B, plane.loss, cmap="viridis", linewidth=0, antialiased=True)
    ax.set(xlabel="alpha", ylabel="beta", zlabel="loss", title=plane.label or plane.directions)
    return _finish(fig, path)


def plot_landscape_pair(left: Any, right: Any, path: Any = None) -> "Figure":
    """Two planes side by side on one colour scale (the lab's plain and residual stacks)."""
    fig = _figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2)
    low = np.log10(max(min(left.loss.min(), right.loss.min()), 1e-12))
    high = np.log10(max(left.loss.max(), right.loss.max(), 1e-12))
    levels = np.linspace(low, high + 1e-9, 30)
    for ax, plane in zip(axes, (left, right)):
        _contour(ax, fig, plane, levels=levels, colorbar=ax is axes[1])
    fig.suptitle("Loss around the trained weights, filter-normalised directions")
    return _finish(fig, path)
