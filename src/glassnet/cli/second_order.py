"""The command-line entries for per-sample gradients, second order and loss landscapes.

``glassnet hvp`` (the Hessian-vector product worked with numbers), ``glassnet sharpness MODEL``,
``glassnet per-sample MODEL`` and ``glassnet landscape MODEL``, registered through
:data:`glassnet.cli.COMMAND_GROUPS`; their failures reach ``main`` as ValueError, TypeError or
FileNotFoundError and become one ``glassnet: error: ...`` line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..activations import ACTIVATIONS
from . import preflight
from .args import count, epochs, non_negative_int, positive, seed
from .args import samples as samples_type

__all__ = ["add_parsers"]

_LANDSCAPE_FILES = {"line.png": preflight.FIGURE, "contour.png": preflight.FIGURE,
                    "surface.png": preflight.FIGURE, "landscape.json": preflight.JSON}
_LAB_FILES = {"lab.png": preflight.FIGURE, "lab.json": preflight.JSON}


def _weight_entry(text: str) -> tuple[str, tuple[int, ...]]:
    """``0.W:3,5`` -> ``('0.W', (3, 5))``; ``2.b:1`` -> ``('2.b', (1,))``."""
    key, sep, index = text.partition(":")
    try:
        idx = tuple(int(part) for part in index.split(","))
    except ValueError:
        idx = ()
    if not sep or not key or not idx:
        raise argparse.ArgumentTypeError(f"expected KEY:j,k such as 0.W:3,5 or 2.b:1 (0-based); "
                                         f"got {text!r}")
    return key, idx


def _model_flags(parser: argparse.ArgumentParser, samples: int) -> None:
    parser.add_argument("model", help="a model saved by glassnet train (or glassnet.save)")
    parser.add_argument("--data", default=None,
                        help="data spec (default: the data set the model was trained on)")
    parser.add_argument("--samples", type=samples_type, default=samples,
                        help=f"random samples of the data to use (default: {samples})")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the sample choice and of "
                        "random directions (default: 0)")


def add_parsers(sub: Any) -> None:
    """Add ``hvp``, ``sharpness``, ``per-sample`` and ``landscape`` to the subparsers ``sub``."""
    hvp = sub.add_parser(
        "hvp", help="the Hessian-vector product worked out with the numbers, for one sample",
        description="Write out the R-operator (Pearlmutter 1994) for one sample: the R-forward "
        "pass of tangents, the R-backward pass (the back-propagation of the back-propagation) "
        "and every entry of H v beside its finite difference of gradients. Default: the 2-3-2 "
        "sigmoid network of 'glassnet explain'; or a small saved model and a sample of its data.")
    hvp.add_argument("--from-model", metavar="FILE", help="a saved model (Dense layers, at most "
                     "16 units per layer and 6 layers)")
    hvp.add_argument("--data", default=None, help="data spec (default: the model's own)")
    hvp.add_argument("--sample", type=non_negative_int, default=0,
                     help="index of the sample (default: 0)")
    hvp.add_argument("--direction", choices=["gradient", "ones"], default="gradient",
                     help="v: the gradient (default; also checks the Taylor prediction of one "
                     "gradient step) or all ones")
    hvp.add_argument("--lr", type=positive(float), default=0.5,
                     help="learning rate of the step checked (default: 0.5)")
    hvp.add_argument("--format", choices=["text", "markdown"], default="text")
    hvp.set_defaults(run=_cmd_hvp)

    sharp = sub.add_parser(
        "sharpness", help="the largest Hessian eigenvalues of a trained model",
        description="Lanczos (or power iteration) on Hessian-vector products: the largest "
        "eigenvalues of the Hessian of the cost on a sample of the data, computed in float64, "
        "and how the largest compares with the optimiser's stability edge (2 / learning_rate "
        "for plain gradient descent).")
    _model_flags(sharp, 512)
    sharp.add_argument("--top", type=count(100, "Lanczos finds the largest few"), default=3,
                       help="how many eigenvalues (default: 3)")
    sharp.add_argument("--iters", type=count(10 ** 4, "a vector of all weights a step"),
                       default=30,
                       help="Lanczos steps, one Hessian-vector product each (default: 30)")
    sharp.add_argument("--method", choices=["lanczos", "power"], default="lanczos")
    sharp.set_defaults(run=_cmd_sharpness)

    per = sub.add_parser(
        "per-sample",
        help="per-sample gradient norms, gradient noise, which samples drive a weight",
        description="From one backward pass: every sample's gradient norm "
        "||g_i|| = n ||delta_i|| (||a_prev_i||^2 + 1)^(1/2) summed over the layers, each "
        "layer's gradient noise (the variance of the per-sample gradients and the "
        "signal-to-noise ratio), and the samples that contribute most to one gradient entry.")
    _model_flags(per, 1000)
    per.add_argument("--weight", type=_weight_entry, default=None, metavar="KEY:j,k",
                     help="the gradient entry to take apart, e.g. 0.W:3,5 or 2.b:1 (0-based; "
                     "default: the largest |dC/dW| entry of the first layer)")
    per.add_argument("--top", type=count(10 ** 4, "a list to read"), default=5,
                     help="how many samples to list (default: 5)")
    per.set_defaults(run=_cmd_per_sample)

    land = sub.add_parser(
        "landscape", help="the loss along a line and over a plane through a model's weights",
        description="Write contour and surface plots of the loss on a plane through MODEL's "
        "weights along two filter-normalised random directions (Li et al. 2018), and, with "
        "--other or --from-init, the loss along the line between two weight vectors. With "
        "--lab instead of MODEL: the vanishing lab's plain and residual stacks, trained alike, "
        "side by side.")
    land.add_argument("model", nargs="?", help="a saved model (omit with --lab)")
    land.add_argument("--data", default=None,
                      help="data spec (default: the model's own; digits for --lab)")
    land.add_argument("--samples", type=samples_type, default=1000,
                      help="random samples of the data to evaluate the loss on (default: 1000)")
    land.add_argument("--seed", type=seed, default=0,
                      help="seed of the samples and the directions (default: 0)")
    ends = land.add_mutually_exclusive_group()
    ends.add_argument("--other", metavar="FILE",
                      help="a second model of the same architecture: the line between them")
    ends.add_argument("--from-init", action="store_true",
                      help="the line from the model's initial weights (rebuilt from the recipe "
                      "glassnet train recorded) to its trained ones")
    land.add_argument("--span", type=positive(float), default=1.0,
                      help="the plane spans [-SPAN, SPAN] along each direction (default: 1)")
    land.add_argument("--resolution",
                      type=count(1001, "resolution^2 losses; at least 2 per side", low=2),
                      default=21,
                      help="grid points per axis (default: 21)")
    land.add_argument("--lab", action="store_true",
                      help="compare the vanishing lab's plain and residual stacks instead")
    land.add_argument("--depth", type=count(1000, "hidden layers"), default=8,
                      help="--lab depth (default: 8)")
    land.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS),
                      help="--lab activation (default: relu)")
    land.add_argument("--width", type=positive(int), default=32, help="--lab width (default: 32)")
    land.add_argument("--epochs", type=epochs, default=20,
                      help="--lab training epochs (default: 20)")
    land.add_argument("--out", default="landscape", metavar="DIR",
                      help="output folder (default: landscape)")
    land.set_defaults(run=_cmd_landscape)


"""The same, under the name the command groups of a ``glassnet.cli`` package use."""


# ---------------------------------------------------------------------- shared


def _model_and_data(args: argparse.Namespace, net: Any = None) -> tuple[Any, ...]:
    """The model, and ``(X, Y)``: a random subset of ``--samples`` rows of its data
    (:func:`.model_data.model_data`), ``X`` scaled as the model's, ``Y`` as its loss takes it."""
    from ..io import load
    from .model_data import model_data

    net = load(args.model) if net is None else net
    X, _, Y, spec, _ = model_data(net, args.model, args.data, args.command, "all")
    n = min(args.samples, len(X))
    rows = np.sort(np.random.default_rng(args.seed).choice(len(X), size=n, replace=False))
    return net, net.scale_inputs(X[rows]), Y[rows], spec


def _float64(net: Any) -> Any:
    net64 = net.astype("float64").to("cpu")
    net64.optimizer = net.optimizer
    return net64


def _write_json(path: Path, data: Any) -> None:
    from ..atomic import atomic_write

    atomic_write(path, lambda f: f.write(json.dumps(data).encode()))


# ---------------------------------------------------------------------- the commands


def _cmd_hvp(args: argparse.Namespace) -> int:
    from ..explain_hvp import explain_hvp

    if args.from_model is None:
        if args.data is not None:
            raise ValueError("glassnet hvp: --data needs --from-model FILE.")
        result = explain_hvp(v=args.direction, learning_rate=args.lr)
    else:
        from ..io import load
        from .model_data import model_data

        net = load(args.from_model)
        X, _, Y, _, _ = model_data(net, args.from_model, args.data, "hvp", "all")
        if not 0 <= args.sample < len(X):
            raise ValueError(f"glassnet hvp: --sample must be in 0..{len(X) - 1}; got "
                             f"{args.sample}.")
        x = net.scale_inputs(X[args.sample:args.sample + 1])
        result = explain_hvp(net, x, Y[args.sample], args.direction, learning_rate=args.lr)
    print(result.markdown() if args.format == "markdown" else result.text(), end="")
    return 0


def _cmd_sharpness(args: argparse.Namespace) -> int:
    from ..sharpness import hessian_eigenvalues, stability_edge

    net, X, y, spec = _model_and_data(args)
    net64 = _float64(net)
    eig = hessian_eigenvalues(net64, X, y, k=args.top if args.method == "lanczos" else 1,
                              method=args.method, iters=args.iters, seed=args.seed)
    loss = net64.loss(X, y)
    print(f"model: {args.model}  {net}")
    print(f"data: {spec}, {len(X)} samples (random, seed {args.seed})")
    print(f"Hessian of the cost on them (loss {loss:.6g} + penalty {net64.penalty():.6g}), "
          f"{net.n_params} parameters, {args.method}, {eig.n_products} Hessian-vector products "
          f"(the last {len(eig.values)} measure the residuals):")
    for i, (value, res) in enumerate(zip(eig.values, eig.residuals), start=1):
        print(f"  lambda_{i} = {value:.6g}   (residual ||H x - lambda x|| = {res:.1e})")
    opt, top = net.optimizer, float(eig.values[0])
    edge = stability_edge(opt)
    if opt is None:
        print("optimizer: none saved; the stability edge of gradient descent is 2 / learning_rate")
    elif edge is None:
        print(f"optimizer: {opt.name} (learning rate {opt.learning_rate:g}): adaptive, no fixed "
              "stability edge (its steps are preconditioned)")
    else:
        print(f"optimizer: {opt.name} (learning rate {opt.learning_rate:g}): stability edge "
              f"{edge:.6g}; lambda_max is {top / edge:.3g} times it"
              + (" (past the edge: plain gradient descent would not be stable here)"
                 if top > edge else ""))
    return 0


def _cmd_per_sample(args: argparse.Namespace) -> int:
    from ..per_sample import gradient_noise, per_sample_grad_norms, weight_drivers

    net, X, y, spec = _model_and_data(args)
    net64 = _float64(net)
    norms = per_sample_grad_norms(net64, X, y)
    print(f"model: {args.model}  {net}")
    print(f"data: {spec}, {len(X)} samples (random, seed {args.seed})")
    print("per-sample gradient norms ||g_i|| (from one backward pass, no outer products):")
    q = np.quantile(norms, [0.0, 0.5, 0.9, 1.0])
    print(f"  mean {norms.mean():.4g}  min {q[0]:.4g}  median {q[1]:.4g}  90% {q[2]:.4g}  "
          f"max {q[3]:.4g} (sample {int(np.argmax(norms))})")
    print("gradient noise per layer: tr S = variance of the per-sample gradients, "
          "SNR = ||g_bar||^2 / tr S")
    print(f"  {'layer':>6}  {'tr S':>11}  {'SNR':>11}")
    for key, stats in gradient_noise(net64, X, y).items():
        snr = stats["grad_snr"]
        print(f"  {key:>6}  {stats['grad_var'] or 0:11.4e}  "
              + ("-" if snr is None else f"{snr:11.4e}"))
    if args.weight is None:
        dW = net64.grads()["0.W"]  # after the backward pass above, the loss's gradient
        key, index = "0.W", tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(dW)), dW.shape))
    else:
        key, index = args.weight
    print(weight_drivers(net64, X, y, key, index, top=args.top).text(), end="")
    return 0


def _initial_network(net: Any) -> Any:
    """The weights ``glassnet train`` started from: its recorded recipe, rebuilt (same seed),
    for the recorded task (a classifier trained with mse has a sigmoid output layer), on the
    CPU."""
    from .data import task_of, training_settings
    from .train import TRAIN_DEFAULTS, build_recipe

    settings = training_settings(net)
    if not settings:
        raise ValueError("--from-init needs a model written by glassnet train (it records the "
                         "recipe and seed of the initial weights); pass --other MODEL instead.")
    classify = task_of(net) == "classification"
    if not classify:
        raise ValueError("--from-init: a regression model's first output layer was fitted to its "
                         "training targets (glassnet.recipes.init_output), which the model does "
                         "not record; pass --other MODEL instead.")
    recipe = {**TRAIN_DEFAULTS, **settings, "device": "cpu"}  # older models record fewer
    start, _ = build_recipe(recipe, np.zeros((2, net.n_in)), net.n_out, classify)
    if start.config()["layers"] != net.config()["layers"]:
        raise ValueError("--from-init: the recorded recipe builds another architecture than the "
                         "saved model's; pass --other MODEL instead.")
    return start


def _cmd_landscape(args: argparse.Namespace) -> int:
    from .. import plots
    from ..landscape import lab_landscapes, line, plane
    from .data import data_file
    from .glassbox import write_figure

    out = Path(args.out)
    if args.lab and (args.model or args.other or args.from_init):
        raise ValueError("glassnet landscape --lab builds its own networks; drop MODEL, "
                         "--other and --from-init.")
    if args.model is None and not args.lab:
        raise ValueError("glassnet landscape needs MODEL (or --lab).")
    preflight.outputs(folders=[("--out", args.out, _LAB_FILES if args.lab else _LANDSCAPE_FILES)],
                      inputs=[("model", args.model), ("--other", args.other),
                              ("--data", data_file(args.data) if args.data else None)])
    if args.lab:
        preflight.network_size([args.width] * (args.depth + 1), args.samples, "landscape",
                               "Choose a smaller --width or --depth.")
        plain, res = lab_landscapes(args.depth, args.activation, args.width,
                                    args.data or "digits", epochs=args.epochs,
                                    n_samples=args.samples, span=args.span,
                                    resolution=args.resolution, seed=args.seed)
        out.mkdir(parents=True, exist_ok=True)
        write_figure(out / "lab.png", lambda f: plots.plot_landscape_pair(plain, res, path=f))
        _write_json(out / "lab.json", {"plain": plain.to_dict(), "residual": res.to_dict()})
        for p in (plain, res):
            print(f"{p.label}: loss at the trained weights {p.center_loss:.4g}, on the plane "
                  f"min {p.loss.min():.4g}, median {np.median(p.loss):.4g}, max {p.loss.max():.4g}")
        print(f"wrote lab.png, lab.json to {out}")
        return 0
    from ..io import load

    net, other = load(args.model), None
    if args.other:
        other, label = load(args.other), f"{args.other} (t=0) -> {args.model} (t=1)"
        if other.config()["layers"] != net.config()["layers"]:
            raise ValueError(f"{args.other} has another architecture than {args.model}; a line "
                             "between them means nothing.")
    elif args.from_init:
        other, label = _initial_network(net), f"initial (t=0) -> {args.model} (t=1)"
    net, X, y, spec = _model_and_data(args, net)
    net64 = _float64(net)
    result: dict[str, Any] = {"model": args.model, "data": spec, "samples": len(X)}
    written = []
    out.mkdir(parents=True, exist_ok=True)
    if other is not None:
        ln = line(net64, X, y, other.astype("float64"), label=label)
        result["line"] = ln.to_dict()
        write_figure(out / "line.png", lambda f: plots.plot_loss_line(ln, path=f))
        written.append("line.png")
        print(f"line {label}: loss {ln.loss[np.argmin(np.abs(ln.t))]:.4g} at t=0, "
              f"{ln.loss[np.argmin(np.abs(ln.t - 1))]:.4g} at t=1, barrier {ln.barrier:.4g}")
    p = plane(net64, X, y, span=args.span, resolution=args.resolution, seed=args.seed,
              label=f"{Path(args.model).name}, filter-normalised directions")
    result["plane"] = p.to_dict()
    write_figure(out / "contour.png", lambda f: plots.plot_landscape(p, "contour", path=f))
    write_figure(out / "surface.png", lambda f: plots.plot_landscape(p, "surface", path=f))
    _write_json(out / "landscape.json", result)
    written += ["contour.png", "surface.png", "landscape.json"]
    print(f"plane through {args.model} ({args.resolution}x{args.resolution}, span {args.span:g}): "
          f"loss at the centre {p.center_loss:.4g}, min {p.loss.min():.4g}, "
          f"max {p.loss.max():.4g}")
    print(f"wrote {', '.join(written)} to {out}")
    return 0
