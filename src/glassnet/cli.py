"""The ``glassnet`` command line: ``train``, ``gradcheck``, ``vanishing``, ``explain``, ``plot``.

Every subcommand has ``--help``. Bad arguments give a one-line error and exit status 2; a
failed gradient check exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

import numpy as np

from . import __version__
from .activations import ACTIVATIONS
from .gradcheck import gradcheck
from .io import load, save
from .losses import LOSSES
from .network import Network, mlp
from .training import Callback

__all__ = ["main"]


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and sys.exit(2)
        raise UsageError(f"{self.prog}: {message}")


def _int_list(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,32; got {text!r}")
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be integers > 0; got {text!r}")
    return sizes


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}; got {text!r}")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0; got {text}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="glassnet", description="Fully connected networks, back-propagation "
                     "written out by hand and verified.")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train a network (default: handwritten digits)",
                           description="Train a network and save it. With no arguments: "
                           "scikit-learn's 8x8 digits, 80/20 stratified split, standardised inputs.")
    train.add_argument("--data", default="digits", help="data set (default: digits)")
    train.add_argument("--hidden", type=_int_list, default=[128], metavar="SIZES",
                       help="hidden layer sizes, comma-separated (default: 128)")
    train.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS),
                       help="hidden activation (default: relu)")
    train.add_argument("--loss", default=None, choices=sorted(LOSSES),
                       help="loss (default: cross_entropy for classes, mse for regression)")
    train.add_argument("--epochs", type=_positive(int), default=30, help="default: 30")
    train.add_argument("--batch-size", type=_positive(int), default=32, help="default: 32")
    train.add_argument("--lr", type=_positive(float), default=0.05,
                       help="learning rate of gradient descent (default: 0.05)")
    train.add_argument("--seed", type=int, default=0, help="seed of weights, split and shuffling")
    train.add_argument("--out", default="glassnet-model.npz", help="where to save the model "
                       "(default: glassnet-model.npz)")
    train.add_argument("--quiet", action="store_true", help="print only the summary lines")
    # glassbox: --monitor and --plots (gradient diagnostics and figures; see _glassbox_* below)
    train.add_argument("--monitor", action="store_true",
                       help="print a per-layer table of delta and gradient norms each epoch")
    train.add_argument("--plots", metavar="DIR", default=None,
                       help="after training, write figures and history.json into DIR")
    train.set_defaults(run=_cmd_train)

    check = sub.add_parser("gradcheck", help="check back-propagation against finite differences",
                           description="Build a network from the flags (or load MODEL) and "
                           "compare every gradient with central finite differences on random "
                           "data. Exit status 1 when a check fails.")
    check.add_argument("model", nargs="?", help="a saved model to check instead of building one")
    check.add_argument("--sizes", type=_int_list, default=[4, 5, 3], metavar="SIZES",
                       help="layer sizes including input and output (default: 4,5,3)")
    check.add_argument("--activation", default="tanh", choices=sorted(ACTIVATIONS),
                       help="hidden activation (default: tanh)")
    check.add_argument("--output", default=None, choices=sorted(ACTIVATIONS),
                       help="output activation (default: the loss's own, else identity)")
    check.add_argument("--loss", default="mse", choices=sorted(LOSSES), help="default: mse")
    check.add_argument("--residual", action="store_true",
                       help="make equal-width hidden layers residual blocks")
    check.add_argument("--samples", type=_positive(int), default=8, help="default: 8")
    check.add_argument("--eps", type=_positive(float), default=1e-4, help="default: 1e-4")
    check.add_argument("--tol", type=_positive(float), default=1e-6, help="default: 1e-6")
    check.add_argument("--fast", action="store_true", help="random directions, not every entry")
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=_cmd_gradcheck)
    _add_glassbox_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return int(args.run(args))
    except UsageError as err:
        print(f"{err}\nRun 'glassnet --help' for usage.", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:
        print(f"glassnet: error: {err}", file=sys.stderr)
        return 2


def _accuracy(net: Network, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(net.predict(X) == y))


def _cmd_train(args: argparse.Namespace) -> int:
    from .data import StandardScaler, load_data, train_test_split

    data = load_data(args.data)
    classify = data.task == "classification"
    if data.X_test is not None:
        X_train, X_test, y_train, y_test = data.X, data.X_test, data.y, data.y_test
    else:
        X_train, X_test, y_train, y_test = train_test_split(
            data.X, data.y, test_size=0.2, stratify=classify, seed=args.seed)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    n_out = int(np.max(y_train)) + 1 if classify else (1 if np.ndim(y_train) == 1 else y_train.shape[1])
    loss = args.loss or ("cross_entropy" if classify else "mse")
    net = mlp([X_train.shape[1], *args.hidden, n_out], activation=args.activation, loss=loss,
              seed=args.seed)
    print(f"data: {data.name}, {len(X_train)} train / {len(X_test)} test samples, "
          f"{X_train.shape[1]} features; network: {net}")

    class Report(Callback):
        def on_epoch_end(self, net: Network, epoch: int, record: dict[str, Any]) -> None:
            line = f"epoch {epoch:3d}/{args.epochs}  loss {record['loss']:.4f}"
            if classify:
                line += (f"  train acc {_accuracy(net, X_train, y_train):.4f}"
                         f"  test acc {_accuracy(net, X_test, y_test):.4f}")
            else:
                line += f"  test loss {net.loss(X_test, y_test):.4f}"
            print(line)

    callbacks = [] if args.quiet else [Report()]
    callbacks += _glassbox_callbacks(args)
    history = net.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                      learning_rate=args.lr, seed=args.seed, callbacks=callbacks)
    _glassbox_plots(args, net, history, X_test, y_test, classify)
    if classify:
        print(f"test accuracy: {_accuracy(net, X_test, y_test):.4f}")
    else:
        print(f"test loss: {net.loss(X_test, y_test):.6f}")
    n_check = min(20, len(X_test))
    check = gradcheck(net, X_test[:n_check], y_test[:n_check])
    print(f"gradcheck on {n_check} test samples, {net.n_params} parameters: "
          f"{'PASSED' if check.passed else 'FAILED'}, worst relative error {check.max_rel_error:.1e}")
    save(net, args.out, extra={"scaler": scaler.to_dict(), "data": args.data})
    print(f"saved model to {args.out}")
    return 0


def _random_targets(net: Network, n: int, rng: np.random.Generator) -> np.ndarray:
    name = net.loss_fn.name
    if name == "cross_entropy":
        return rng.integers(0, net.n_out, n)
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, (n, net.n_out))
    return rng.standard_normal((n, net.n_out))


def _cmd_gradcheck(args: argparse.Namespace) -> int:
    if args.model:
        net = load(args.model)
    else:
        if len(args.sizes) < 2:
            raise UsageError("glassnet gradcheck: --sizes needs at least an input and an output size")
        net = mlp(args.sizes, activation=args.activation, output=args.output, loss=args.loss,
                  residual=args.residual, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.samples, net.n_in))
    y = _random_targets(net, args.samples, rng)
    print(net.summary())
    report = gradcheck(net, X, y, eps=args.eps, tol=args.tol, fast=args.fast, seed=args.seed)
    print(report.table())
    return 0 if report.passed else 1


# ---------------------------------------------------------------------- glassbox: look inside
def _glassbox_callbacks(args: argparse.Namespace) -> list[Callback]:
    """``train --monitor``/``--plots``: a GradientMonitor, and a printer of its table."""
    if not (args.monitor or args.plots):
        return []
    from .diagnostics import GradientMonitor

    monitor = GradientMonitor()

    class PrintTable(Callback):
        def on_epoch_end(self, net: Network, epoch: int, record: dict[str, Any]) -> None:
            print(_monitor_table(record["gradients"][-1]))

    return [monitor, PrintTable()] if args.monitor else [monitor]


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


def _glassbox_plots(args: argparse.Namespace, net: Network, history: Any, X_test: np.ndarray,
                    y_test: np.ndarray, classify: bool) -> None:
    """``train --plots DIR``: training curves, gradient norms, histograms, saliency or boundary."""
    if not args.plots:
        return
    from pathlib import Path

    from . import plots

    out = Path(args.plots)
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "history.json", history.to_json())
    written = ["history.json"]
    figures = {"training_curves.png": lambda p: plots.plot_training_curves(history, path=p),
               "gradient_norms.png": lambda p: plots.plot_gradient_norms(history, path=p),
               "histograms.png": lambda p: plots.plot_histograms(net, X_test[:500], path=p)}
    if classify and net.n_in == 2:
        figures["decision_boundary.png"] = lambda p: plots.plot_decision_boundary(
            net, X_test, y_test, path=p)
    if classify and int(round(np.sqrt(net.n_in))) ** 2 == net.n_in and net.n_in > 4:
        figures["saliency.png"] = lambda p: plots.plot_saliency(net, X_test, y_test, path=p)
    for name, draw in figures.items():
        draw(out / name)
        written.append(name)
    print(f"wrote {', '.join(written)} to {out}")


def _write_text(path: Any, text: str) -> None:
    from .io import atomic_write

    atomic_write(path, lambda f: f.write(text.encode()))


def _add_glassbox_commands(sub: Any) -> None:
    vanish = sub.add_parser(
        "vanishing", help="measure ||delta^l|| by depth: vanishing gradients and identity skips",
        description="For each depth, activation and residual setting, build a stack of hidden "
        "layers, measure the per-sample ||delta^l|| of every hidden layer at initialisation and "
        "after STEPS steps of gradient descent, and write lab.csv, lab.json and plots to DIR.")
    vanish.add_argument("--depths", type=_int_list, default=[2, 4, 8, 16, 32], metavar="LIST",
                        help="numbers of hidden layers (default: 2,4,8,16,32)")
    vanish.add_argument("--activations", type=_name_list(ACTIVATIONS), metavar="LIST",
                        default=["sigmoid", "tanh", "relu"],
                        help="hidden activations (default: sigmoid,tanh,relu)")
    vanish.add_argument("--residual", type=_on_off_list, default=[False, True], metavar="LIST",
                        help="off, on or off,on: plain stacks, identity skips (default: off,on)")
    vanish.add_argument("--width", type=_positive(int), default=32, help="default: 32")
    vanish.add_argument("--data", default="digits", help="classification data (default: digits)")
    vanish.add_argument("--steps", type=int, default=100, help="training steps (default: 100)")
    vanish.add_argument("--lr", type=_positive(float), default=0.05, help="default: 0.05")
    vanish.add_argument("--seed", type=int, default=0)
    vanish.add_argument("--out", default="vanishing", metavar="DIR",
                        help="output folder (default: vanishing)")
    vanish.set_defaults(run=_cmd_vanishing)

    expl = sub.add_parser(
        "explain", help="back-propagation worked out with the numbers, for one sample",
        description="Write the whole derivation (forward pass, deltas, gradients beside their "
        "finite differences, one gradient-descent step) for one sample. Default: the 2-3-2 "
        "sigmoid network with fixed weights; or a small saved model and a sample of its data.")
    expl.add_argument("--format", choices=["text", "markdown"], default="text")
    expl.add_argument("--from-model", metavar="FILE", help="a saved model (at most 16 units "
                      "per layer and 6 layers)")
    expl.add_argument("--sample", type=int, default=0, help="index of the sample (default: 0)")
    expl.add_argument("--data", default=None, help="data spec (default: the model's own)")
    expl.add_argument("--lr", type=_positive(float), default=0.5,
                      help="learning rate of the step shown (default: 0.5)")
    expl.set_defaults(run=_cmd_explain)

    plot = sub.add_parser("plot", help="redraw the training figures from a saved history.json",
                          description="Draw the training curves (and the per-layer gradient "
                          "norms when the history has them) from HISTORY, as written by "
                          "'glassnet train --plots DIR'.")
    plot.add_argument("history", help="a history JSON file: {\"epochs\": [...]}")
    plot.add_argument("--out", default=".", metavar="DIR", help="output folder (default: .)")
    plot.set_defaults(run=_cmd_plot)


def _name_list(valid: Any) -> Any:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        bad = [n for n in names if n not in valid]
        if not names or bad:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated names from {', '.join(sorted(valid))}; got {text!r}")
        return names
    return parse


def _on_off_list(text: str) -> list[bool]:
    words = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not words or any(w not in ("on", "off") for w in words):
        raise argparse.ArgumentTypeError(f"expected off, on or off,on; got {text!r}")
    return [w == "on" for w in words]


def _cmd_vanishing(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import plots
    from .diagnostics import lab_table_csv, lab_table_json, vanishing_lab

    if args.steps < 0:
        raise UsageError(f"glassnet vanishing: --steps must be >= 0; got {args.steps}")
    rows = vanishing_lab(args.depths, args.activations, args.residual, args.width, args.data,
                         args.steps, args.seed, learning_rate=args.lr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "lab.csv", lab_table_csv(rows))
    _write_text(out / "lab.json", lab_table_json(rows))
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
    plots.plot_delta_by_depth(rows, "init", path=out / "delta_by_depth.png")
    if args.steps > 0:
        plots.plot_delta_by_depth(rows, "trained", path=out / "delta_by_depth_trained.png")
        deepest = [r for r in rows if r["depth"] == max(args.depths)]
        plots.plot_learning_speed(deepest, path=out / "learning_speed.png")
        written += ["delta_by_depth_trained.png", "learning_speed.png"]
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain

    if args.from_model is None:
        if args.data is not None:
            raise UsageError("glassnet explain: --data needs --from-model FILE")
        result = explain(learning_rate=args.lr)
    else:
        from .data import StandardScaler, load_data
        from .io import load_with_extra

        net, extra, _ = load_with_extra(args.from_model)
        spec = args.data or extra.get("data")
        if spec is None:
            raise UsageError("glassnet explain: the model does not name its data; pass --data SPEC")
        data = load_data(spec)
        if not 0 <= args.sample < len(data.X):
            raise UsageError(f"glassnet explain: --sample must be in 0..{len(data.X) - 1}; "
                             f"got {args.sample}")
        x = data.X[args.sample:args.sample + 1]
        if "scaler" in extra:
            x = StandardScaler.from_dict(extra["scaler"]).transform(x)
        result = explain(net, x, data.y[args.sample], learning_rate=args.lr)
    print(result.markdown() if args.format == "markdown" else result.text(), end="")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from . import plots

    path = Path(args.history)
    if not path.exists():
        raise FileNotFoundError(f"No history file at {path}.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not JSON ({err}). Pass the history.json that "
                         "'glassnet train --plots DIR' writes.") from None
    if not isinstance(data, dict) or not isinstance(data.get("epochs"), list):
        raise ValueError(f"{path} is not a glassnet history: expected {{\"epochs\": [...]}}.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plots.plot_training_curves(data, path=out / "training_curves.png")
    written = ["training_curves.png"]
    if any(record.get("gradients") for record in data["epochs"]):
        plots.plot_gradient_norms(data, path=out / "gradient_norms.png")
        written.append("gradient_norms.png")
    print(f"wrote {', '.join(written)} to {out}")
    return 0
