"""The ``glassnet`` command line: ``glassnet train``, ``glassnet gradcheck``.

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

    play = sub.add_parser("playground", help="the interactive playground in the browser",
                          description="Serve the playground page (needs the web extra: "
                          "pip install 'glassnet[web]'). It listens on 127.0.0.1 only, unless "
                          "--host names another address and --allow-remote is given.")
    play.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    play.add_argument("--port", type=_positive(int), default=8000, help="default: 8000")
    play.add_argument("--open", action="store_true", help="open the page in a web browser")
    play.add_argument("--allow-remote", action="store_true",
                      help="allow a --host other than the loopback address: anyone who can reach "
                      "it can use the server's CPU")
    play.set_defaults(run=_cmd_playground)
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

    net.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.lr, seed=args.seed, callbacks=() if args.quiet else [Report()])
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


def _cmd_playground(args: argparse.Namespace) -> int:
    local = args.host in ("127.0.0.1", "localhost", "::1")
    if not local and not args.allow_remote:
        raise UsageError(f"glassnet playground: --host {args.host} would let other machines use "
                         "this server; add --allow-remote if that is what you want")
    try:
        from .web import serve
    except ImportError as err:
        raise ImportError(f"the playground needs the web extra ({err}); "
                          "install it with: pip install 'glassnet[web]'") from None
    if not local:
        print(f"glassnet playground: warning: listening on {args.host}, reachable from other "
              "machines; there is no authentication.", file=sys.stderr)
    url = f"http://{'localhost' if local else args.host}:{args.port}/"
    print(f"glassnet playground on {url} (Ctrl+C to stop)")
    if args.open:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, [url]).start()
    serve(args.host, args.port)
    return 0
