"""The figures and numbers of docs/second_order.md: run from the repository root.

    PYTHONPATH=src python docs/examples/second_order_figures.py [--out docs/img]

Prints every number the page quotes (besides the worked example, which is `glassnet hvp`, and
the timings, which are bench/second_order.py) and writes the PNGs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from glassnet import GradientMonitor, mlp, plots
from glassnet.data import StandardScaler, load_data, make_2d
from glassnet.landscape import Trajectory, lab_landscapes, line, plane, trajectory_plane
from glassnet.sharpness import Sharpness


def edge_of_stability(out: Path) -> None:
    """Full-batch gradient descent on two moons, mse, learning rate 0.3: 2 / eta = 6.67."""
    X, y = make_2d("moons", 200, noise=0.1, seed=1)
    X, Y = X / 3, np.eye(2)[y]
    for lr in (0.1, 0.3):
        net = mlp([2, 32, 32, 2], activation="tanh", loss="mse", seed=1, dtype="float64")
        probe = Sharpness(X, Y, every=10, iters=20)
        net.fit(X, Y, epochs=3000, batch_size=200, optimizer="sgd", learning_rate=lr,
                shuffle=False, callbacks=[probe], progress=False)
        s = np.array([r["sharpness"] for r in probe.records])
        print(f"edge of stability, lr {lr}: 2/lr = {2 / lr:.3g}; sharpness at step 10 "
              f"{s[0]:.3g}, max {s.max():.3g} (step {probe.records[int(s.argmax())]['step']}), "
              f"mean over the last half {s[len(s) // 2:].mean():.3g}; loss "
              f"{probe.records[0]['loss']:.3g} -> {probe.records[-1]['loss']:.3g}")
        plots.plot_sharpness(probe.records, path=out / f"sharpness_lr{lr}.png")


def digits_landscapes(out: Path) -> None:
    data = load_data("digits")
    X = StandardScaler().fit_transform(data.X.astype(np.float64))
    y = data.y
    kwargs = dict(epochs=15, batch_size=32, optimizer="sgd", learning_rate=0.05,
                  progress=False)
    a = mlp([64, 64, 10], activation="relu", loss="cross_entropy", seed=0, dtype="float64")
    start = a.theta.copy()
    path = Trajectory(every=20)
    a.fit(X, y, callbacks=[path], seed=0, **kwargs)
    b = mlp([64, 64, 10], activation="relu", loss="cross_entropy", seed=1, dtype="float64")
    b.fit(X, y, seed=1, **kwargs)
    probe = np.random.default_rng(0).choice(len(X), 500, replace=False)
    Xp, yp = X[probe], y[probe]
    to_init = line(a, Xp, yp, start, label="initial (t=0) -> trained (t=1)")
    between = line(a, Xp, yp, b, label="another trained net, seed 1 (t=0) -> trained (t=1)")
    for ln in (to_init, between):
        inside = ln.loss[(ln.t >= 0) & (ln.t <= 1)]
        print(f"line {ln.label}: loss {np.interp(0, ln.t, ln.loss):.3g} at t=0, "
              f"{np.interp(1, ln.t, ln.loss):.3g} at t=1, max between {inside.max():.3g}, "
              f"barrier {ln.barrier:.3g}")
    plots.plot_loss_line([to_init, between], path=out / "loss_lines.png")
    p = plane(a, Xp, yp, span=1.0, resolution=25, seed=0, label="64-64-10 relu on digits")
    print(f"plane: loss at the trained weights {p.center_loss:.3g}, at the corners "
          f"{p.loss[0, 0]:.3g} {p.loss[0, -1]:.3g} {p.loss[-1, 0]:.3g} {p.loss[-1, -1]:.3g}")
    plots.plot_landscape(p, "surface", path=out / "landscape_surface.png")
    tp = trajectory_plane(a, Xp, yp, path.thetas, resolution=25,
                          label="the training path on its principal directions")
    print(f"trajectory: {len(path.thetas)} weight vectors, the first two principal directions "
          f"explain {tp.explained[0]:.1%} and {tp.explained[1]:.1%} of its spread")
    plots.plot_landscape(tp, "contour", path=out / "landscape_trajectory.png")


def lab(out: Path) -> None:
    plain, res = lab_landscapes(depth=16, activation="relu", width=32, epochs=20,
                                resolution=25)
    for p in (plain, res):
        print(f"lab {p.label}: loss at the trained weights {p.center_loss:.3g}, median over the "
              f"plane {np.median(p.loss):.3g}, max {p.loss.max():.3g}")
    plots.plot_landscape_pair(plain, res, path=out / "landscape_plain_vs_residual.png")


def gradient_noise(out: Path) -> None:
    """GradientMonitor(noise=True) on digits; 1792 = 28 x 64 samples, so every batch is full
    (the SNR of a batch of 5 would be estimated from 5 gradients)."""
    data = load_data("digits")
    X = StandardScaler().fit_transform(data.X[:1792].astype(np.float64))
    net = mlp([64, 64, 32, 10], activation="tanh", loss="cross_entropy", seed=0,
              dtype="float64")
    history = net.fit(X, data.y[:1792], epochs=10, batch_size=64, optimizer="sgd",
                      learning_rate=0.1, callbacks=[GradientMonitor(every=4, noise=True)],
                      progress=False, seed=0)
    for key in history.epochs[0]["gradients"][0]["layers"]:
        first, last = ([s["layers"][key]["grad_snr"] for s in history.epochs[e]["gradients"]]
                       for e in (0, -1))
        print(f"gradient noise, layer {key}: median SNR {np.median(first):.3g} in epoch 1, "
              f"{np.median(last):.3g} in epoch 10")
    plots.plot_gradient_norms(history, quantity="grad_snr", path=out / "gradient_snr.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img")
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    with np.errstate(over="ignore", under="ignore"):
        edge_of_stability(out)
        digits_landscapes(out)
        lab(out)
        gradient_noise(out)


if __name__ == "__main__":
    main()
