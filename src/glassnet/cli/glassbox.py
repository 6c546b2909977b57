"""Looking inside: ``gradcheck``, ``vanishing``, ``explain``, ``plot``, ``train --monitor``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..activations import ACTIVATIONS
from ..archive import open_regular
from ..gradcheck import gradcheck
from ..io import load
from ..losses import LOSSES
from ..network import Network, mlp
from ..training import Callback
from . import preflight
from .args import choice, count, int_list, name_list, non_negative_int, on_off_list, positive, seed
from .data import data_file, training_settings
from .errors import RunFailed, UsageError

__all__ = ["PLOT_FILES", "add_parsers", "monitor_callbacks", "write_figure", "write_plots",
           "write_text"]

PLOT_FILES = {"history.json": preflight.HISTORY, **{name: preflight.FIGURE for name in (
    "training_curves.png", "gradient_norms.png", "histograms.png", "decision_boundary.png",
    "saliency.png")}}
"""What ``train --plots DIR`` may write into DIR."""
_VANISHING_FILES = {"lab.csv": preflight.TABLE, "lab.json": preflight.JSON, **{
    name: preflight.FIGURE for name in ("delta_by_depth.png", "delta_by_depth_trained.png",
                                        "learning_speed.png")}}
_REDRAWN_FILES = {name: preflight.FIGURE for name in ("training_curves.png",
                                                        "gradient_norms.png")}


def add_parsers(sub: Any) -> None:
    """Add ``gradcheck``, ``vanishing``, ``explain`` and ``plot`` to the subcommands."""
    check = sub.add_parser("gradcheck", help="check back-propagation against finite differences",
                           description="Build a network from the flags (or load MODEL) and "
                           "compare every gradient with central finite differences on random "
                           "data. Exit status 1 when a check fails.")
    check.add_argument("model", nargs="?", help="a saved model to check instead of building one")
    check.add_argument("--sizes", type=int_list, default=None, metavar="SIZES",
                       help="layer sizes including input and output (default: 4,5,3; not "
                       "with MODEL)")
    check.add_argument("--activation", default=None,
                       type=choice(sorted(ACTIVATIONS), "activation"),
                       help="hidden activation (default: tanh; not with MODEL)")
    check.add_argument("--output", default=None, type=choice(sorted(ACTIVATIONS), "activation"),
                       help="output activation (default: the loss's own, else identity; not "
                       "with MODEL)")
    check.add_argument("--loss", default=None, type=choice(sorted(LOSSES), "loss"),
                       help="default: mse; not with MODEL")
    check.add_argument("--residual", action="store_true", default=None,
                       help="make equal-width hidden layers residual blocks (not with MODEL)")
    check.add_argument("--samples", type=count(10 ** 5, "each finite difference runs on all"),
                       default=8, help="default: 8")
    check.add_argument("--eps", type=positive(float), default=1e-4, help="default: 1e-4")
    check.add_argument("--tol", type=positive(float), default=1e-6, help="default: 1e-6")
    check.add_argument("--fast", action="store_true", help="random directions, not every entry")
    check.add_argument("--seed", type=seed, default=0)
    check.set_defaults(run=_cmd_gradcheck)

    vanish = sub.add_parser(
        "vanishing", help="measure ||delta^l|| by depth: vanishing gradients and identity skips",
        description="For each depth, activation and residual setting, build a stack of hidden "
        "layers, measure the per-sample ||delta^l|| of every hidden layer at initialisation and "
        "after STEPS steps of gradient descent, and write lab.csv, lab.json and plots to DIR.")
    vanish.add_argument("--depths", type=int_list, default=[2, 4, 8, 16, 32], metavar="LIST",
                        help="numbers of hidden layers (default: 2,4,8,16,32)")
    vanish.add_argument("--activations", type=name_list(ACTIVATIONS), metavar="LIST",
                        default=["sigmoid", "tanh", "relu"],
                        help="hidden activations (default: sigmoid,tanh,relu)")
    vanish.add_argument("--residual", type=on_off_list, default=[False, True], metavar="LIST",
                        help="off, on or off,on: plain stacks, identity skips (default: off,on)")
    vanish.add_argument("--width", type=positive(int), default=32, help="default: 32")
    vanish.add_argument("--data", default="digits", help="classification data (default: digits)")
    vanish.add_argument("--steps", type=count(10 ** 6, "a million steps of each stack", low=0),
                        default=100, help="training steps (default: 100)")
    vanish.add_argument("--lr", type=positive(float), default=0.05, help="default: 0.05")
    vanish.add_argument("--seed", type=seed, default=0)
    vanish.add_argument("--out", default="vanishing", metavar="DIR",
                        help="output folder (default: vanishing)")
    vanish.set_defaults(run=_cmd_vanishing)

    expl = sub.add_parser(
        "explain", help="back-propagation worked out with the numbers, for one sample",
        description="Write the whole derivation (forward pass, deltas, gradients beside their "
        "finite differences, one gradient-descent step) for one sample. Default: the 2-3-2 "
        "sigmoid network with fixed weights; or a small saved model and one sample: of its "
        "test split (a model written by 'glassnet train' records its data), or of --data. "
        "The sample is scaled with the model's input scaler first, as in training.")
    expl.add_argument("--format", choices=["text", "markdown"], default="text")
    expl.add_argument("--from-model", metavar="FILE", help="a saved model (layers wider than "
                      "16 units are summarised)")
    expl.add_argument("--sample", type=non_negative_int, default=0,
                      help="index of the sample (default: 0)")
    expl.add_argument("--data", default=None, help="data spec (default: the test split of the "
                      "model's own data)")
    expl.add_argument("--lr", type=positive(float), default=0.5,
                      help="learning rate of the step shown (default: 0.5)")
    expl.set_defaults(run=_cmd_explain)

    plot = sub.add_parser("plot", help="redraw the training figures from a saved history.json",
                          description="Draw the training curves (and the per-layer gradient "
                          "norms when the history has them) from HISTORY, as written by "
                          "'glassnet train --plots DIR'.")
    plot.add_argument("history", help="a history JSON file: {\"epochs\": [...]}")
    plot.add_argument("--out", default=".", metavar="DIR", help="output folder (default: .)")
    plot.set_defaults(run=_cmd_plot)


def write_text(path: Any, text: str) -> None:
    from ..atomic import atomic_write

    atomic_write(path, lambda f: f.write(text.encode()))


def write_figure(path: Any, draw: Any) -> None:
    """``draw(file)`` (a :mod:`glassnet.plots` function's ``path=``) written atomically."""
    from ..atomic import atomic_write

    atomic_write(path, draw)


# ---------------------------------------------------------------------- gradcheck
def _random_targets(net: Network, n: int, rng: np.random.Generator) -> np.ndarray:
    name = net.loss_fn.name
    if name == "cross_entropy":
        return rng.integers(0, net.n_out, n)
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, (n, net.n_out))
    return rng.standard_normal((n, net.n_out))


_BUILD = {"sizes": [4, 5, 3], "activation": "tanh", "output": None, "loss": "mse",
          "residual": False}
"""gradcheck's flags that build a network, with their defaults: a saved model has its own."""

FULL_CHECK_LIMIT = 10 ** 5
"""The most parameters gradcheck compares entry by entry (two forward passes each); above it,
--fast (random directions) is the check that ends in reasonable time."""


def _cmd_gradcheck(args: argparse.Namespace) -> int:
    given = [name for name in _BUILD if getattr(args, name) is not None]
    if args.model and given:
        shown = ", ".join("--" + name for name in given)
        them = "it" if len(given) == 1 else "them"
        raise UsageError(f"gradcheck: {shown} build a network and do not apply with MODEL "
                         f"{args.model}, which has its own; drop {them} or the model")
    for name, default in _BUILD.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.model:
        net = load(args.model)
    else:
        if len(args.sizes) < 2:
            raise UsageError("gradcheck: --sizes needs at least an input and an output size")
        preflight.network_size(args.sizes, args.samples, "gradcheck", "Choose smaller --sizes.",
                               itemsize=8)
        net = mlp(args.sizes, activation=args.activation, output=args.output, loss=args.loss,
                  residual=args.residual, seed=args.seed)
    if not args.fast and net.n_params > FULL_CHECK_LIMIT:
        raise UsageError(f"gradcheck: the network has {net.n_params} parameters; comparing every "
                         f"entry (two forward passes each) is for at most {FULL_CHECK_LIMIT}; pass "
                         "--fast to check random directions of every tensor instead")
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.samples, net.n_in))
    y = _random_targets(net, args.samples, rng)
    print(net.summary())
    report = gradcheck(net, X, y, eps=args.eps, tol=args.tol, fast=args.fast, seed=args.seed)
    print(report.table())
    if report.failed:
        failed = [f"{row.layer}.{row.name}" for row in report.failed]
        raise RunFailed(f"gradcheck FAILED for {', '.join(failed)}: worst relative error "
                        f"{report.max_rel_error:.2e} > tolerance {report.tol:.0e}")
    if report.unresolved:
        names = [f"{row.layer}.{row.name}" for row in report.unresolved]
        raise RunFailed(f"gradcheck could not judge {', '.join(names)} (NOT RESOLVED): "
                        f"{report.unresolved[0].unresolved}")
    return 0


# ---------------------------------------------------------------------- train --monitor, --plots
def monitor_callbacks(s: dict[str, Any]) -> list[Callback]:
    """``train --monitor``/``--plots`` (settings ``s``): a GradientMonitor, and a printer of its
    table."""
    if not (s["monitor"] or s["plots"]):
        return []
    from ..diagnostics import GradientMonitor

    monitor = GradientMonitor()

    class PrintTable(Callback):
        def on_epoch_end(self, net: Network, epoch: int, record: dict[str, Any]) -> None:
            print(_monitor_table(record["gradients"][-1]))

    return [monitor, PrintTable()] if s["monitor"] else [monitor]


def _fmt_cell(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _monitor_table(snapshot: dict[str, Any]) -> str:
    """The per-layer table of one GradientMonitor snapshot."""
    header = ("layer", "|delta|", "|dW|", "|dW|/|W|", "dead", "satur.", "a mean", "a std")
    rows = [header]
    for key, st in snapshot["layers"].items():
        rows.append((key, _fmt_cell(st["delta_norm"], ".2e"), _fmt_cell(st["grad_W_norm"], ".2e"),
                     _fmt_cell(st["update_ratio"], ".2e"), _fmt_cell(st["dead_share"], ".0%"),
                     _fmt_cell(st["saturated_share"], ".0%"), _fmt_cell(st["a_mean"], ".3f"),
                     _fmt_cell(st["a_std"], ".3f")))
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["    " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    ratio = snapshot["ratio"]
    lines.append(f"    |dW first| / |dW last| = {_fmt_cell(ratio, '.2e')}")
    return "\n".join(lines)


def write_plots(s: dict[str, Any], net: Network, history: Any, X_test: np.ndarray,
                y_test: np.ndarray, classify: bool) -> None:
    """``train --plots DIR`` (settings ``s``): training curves, gradient norms, histograms,
    saliency or decision boundary."""
    if not s["plots"]:
        return
    from .. import plots

    out = Path(s["plots"])
    out.mkdir(parents=True, exist_ok=True)
    # predict applies the model's scaler to raw inputs; forward and jacobian take scaled ones
    X_net = net.scale_inputs(X_test)
    write_text(out / "history.json", history.to_json())
    written = ["history.json"]
    figures = {"training_curves.png": lambda p: plots.plot_training_curves(history, path=p),
               "gradient_norms.png": lambda p: plots.plot_gradient_norms(history, path=p),
               "histograms.png": lambda p: plots.plot_histograms(net, X_net[:500], path=p)}
    if classify and net.n_in == 2:
        figures["decision_boundary.png"] = lambda p: plots.plot_decision_boundary(
            net, X_test, y_test, path=p)
    if classify and int(round(np.sqrt(net.n_in))) ** 2 == net.n_in and net.n_in > 4:
        figures["saliency.png"] = lambda p: plots.plot_saliency(net, X_net, y_test, path=p)
    for name, draw in figures.items():
        write_figure(out / name, draw)
        written.append(name)
    print(f"wrote {', '.join(written)} to {out}")


# ---------------------------------------------------------------------- vanishing
def _cmd_vanishing(args: argparse.Namespace) -> int:
    from .. import plots
    from ..diagnostics import lab_table_csv, lab_table_json, vanishing_lab

    preflight.outputs(folders=[("--out", args.out, _VANISHING_FILES)],
                      inputs=[("--data", data_file(args.data))])
    preflight.network_size([args.width] * (max(args.depths) + 1), 256, "vanishing",
                           "Choose a smaller --width or fewer --depths.")
    rows = vanishing_lab(args.depths, args.activations, args.residual, args.width, args.data,
                         args.steps, args.seed, learning_rate=args.lr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "lab.csv", lab_table_csv(rows))
    write_text(out / "lab.json", lab_table_json(rows))
    print(f"{'activation':<10} {'skips':<5} {'depth':>5} {'|delta^1|/|delta^D| init':>25} "
          f"{'per layer':>9} {'trained':>10} {'loss':>7}")
    for r in rows:
        first_last = r["delta_init"][0] / r["delta_init"][-1]
        trained = r["delta_trained"][0] / r["delta_trained"][-1]
        decay = "-" if r["decay_per_layer"] is None else f"{r['decay_per_layer']:.3f}"
        loss = "diverged" if r["diverged"] else f"{r['final_loss']:.3f}"
        print(f"{r['activation']:<10} {'on' if r['residual'] else 'off':<5} {r['depth']:>5} "
              f"{first_last:>25.2e} {decay:>9} {trained:>10.2e} {loss:>7}")
    written = ["lab.csv", "lab.json", "delta_by_depth.png"]
    write_figure(out / "delta_by_depth.png",
                 lambda f: plots.plot_delta_by_depth(rows, "init", path=f))
    if args.steps > 0:
        write_figure(out / "delta_by_depth_trained.png",
                     lambda f: plots.plot_delta_by_depth(rows, "trained", path=f))
        deepest = [r for r in rows if r["depth"] == max(args.depths)]
        write_figure(out / "learning_speed.png",
                     lambda f: plots.plot_learning_speed(deepest, path=f))
        written += ["delta_by_depth_trained.png", "learning_speed.png"]
    print(f"wrote {', '.join(written)} to {out}")
    return 0


# ---------------------------------------------------------------------- explain
def _explained_sample(args: argparse.Namespace, net: Network) -> tuple[np.ndarray, Any, str]:
    """The raw sample ``x`` (1, n_in), its target as the loss takes it, and where it came from.

    From ``--data``: that data's sample ``--sample``. Else from the data the model records
    (``glassnet train`` writes it): its test split, samples the model was not trained on.
    """
    from .model_data import model_data

    X, y, Y, spec, _ = model_data(net, args.from_model, args.data, "explain",
                                  "all" if args.data is not None else "test")
    if args.data is not None:
        where = f"of {spec}"
    else:
        seed = training_settings(net).get("seed", 0)
        where = f"of the test split of {spec} (seed {seed}), held out from training"
    if not 0 <= args.sample < len(X):
        raise UsageError(f"explain: --sample must be in 0..{len(X) - 1}; got {args.sample}")
    i = args.sample
    return X[i:i + 1], Y[i], f"sample {i} {where}, target {_plain(y[i])}"


def _plain(values: Any) -> str:
    flat = np.atleast_1d(np.asarray(values)).ravel()
    return ", ".join(f"{v:.4g}" for v in flat.tolist())


def _cmd_explain(args: argparse.Namespace) -> int:
    from ..explain import explain

    if args.from_model is None:
        if args.data is not None:
            raise UsageError("explain: --data needs --from-model FILE")
        result = explain(learning_rate=args.lr)
        print(result.markdown() if args.format == "markdown" else result.text(), end="")
        return 0
    net = load(args.from_model)
    x_raw, target, where = _explained_sample(args, net)
    x = net.scale_inputs(x_raw)
    result = explain(net, x, target, learning_rate=args.lr)
    lines = [f"explaining {where}"]
    if net.scaler is not None:
        lines.append(f"input x = [{_plain(x_raw)}] scaled by the model's "
                     f"{type(net.scaler).__name__} to x = [{_plain(x)}]: the network sees "
                     "scaled inputs, in training and in predict, so the numbers below use them")
    print("\n".join(lines) + "\n")
    print(result.markdown() if args.format == "markdown" else result.text(), end="")
    return 0


# ---------------------------------------------------------------------- plot
def _cmd_plot(args: argparse.Namespace) -> int:
    import json

    from .. import plots

    path = Path(args.history)
    if not path.exists():
        raise FileNotFoundError(f"No history file at {path}.")
    preflight.outputs(folders=[("--out", args.out, _REDRAWN_FILES)],
                      inputs=[("history", args.history)])
    try:
        with open_regular(path, "history file") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"{path} is not JSON ({err}). Pass the history.json that "
                         "'glassnet train --plots DIR' writes.") from None
    if not isinstance(data, dict) or not isinstance(data.get("epochs"), list) \
            or not all(isinstance(record, dict) for record in data["epochs"]):
        raise ValueError(f"{path} is not a glassnet history: expected {{\"epochs\": [{{...}}, "
                         "...]}.")
    if not data["epochs"]:
        raise ValueError(f"{path} holds no epochs: there is nothing to draw.")
    for i, record in enumerate(data["epochs"], start=1):
        loss = record.get("loss")
        if isinstance(loss, bool) or not isinstance(loss, (int, float)):
            raise ValueError(f"{path} is not a glassnet history: epoch {i} has no numeric "
                             f"'loss' (got {loss!r}). Pass the history.json that 'glassnet "
                             "train --plots DIR' or --history-json writes.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_figure(out / "training_curves.png", lambda f: plots.plot_training_curves(data, path=f))
    written = ["training_curves.png"]
    if any(record.get("gradients") for record in data["epochs"]):
        write_figure(out / "gradient_norms.png",
                     lambda f: plots.plot_gradient_norms(data, path=f))
        written.append("gradient_norms.png")
    print(f"wrote {', '.join(written)} to {out}")
    return 0
