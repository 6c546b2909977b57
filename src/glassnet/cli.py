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
from .distributed import RankFailedError
from .gradcheck import gradcheck
from .io import load, save
from .losses import LOSSES
from .network import Network, mlp
from .optim import OPTIMIZERS
from .schedules import SCHEDULES
from .training import Callback, TrainingInterrupted

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


def _number(kind: type, valid: Any, rule: str) -> Any:
    """An argparse type: ``kind(text)`` that passes ``valid``; else a one-line error with ``rule``."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}; got {text!r}")
        if not valid(value):
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text}")
        return value
    parse.__name__ = f"{kind.__name__} {rule}"
    return parse


def _positive(kind: type) -> Any:
    return _number(kind, lambda value: value > 0, "> 0")


TRAIN_DEFAULTS: dict[str, Any] = {
    "data": "digits", "hidden": [1024], "activation": "relu", "loss": None,
    "optimizer": "adam", "lr": 2e-3, "schedule": "constant", "epochs": 20, "batch_size": 64,
    "weight_decay": 1e-3, "dropout": 0.0, "early_stopping": None, "val_split": 0.0,
    "metrics": "accuracy", "seed": 0, "out": "glassnet-model.npz", "checkpoint_dir": None,
    "resume": False, "quiet": False, "history_json": None, "distributed": False, "device": "cpu",
    "val_data": None, "checkpoint_every": None,  # distributed / preemption (issue 18)
}
"""The default recipe of ``glassnet train`` (bench/digits_recipe.py measures it)."""


def _choice(options: Any, what: str) -> Any:
    def parse(text: str) -> str:
        if text not in options:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose from {', '.join(options)}")
        return text
    parse.__name__ = what
    return parse


_fraction = _number(float, lambda value: 0 <= value < 1, "in [0, 1)")
_non_negative = _number(float, lambda value: value >= 0, ">= 0")


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


_TRAIN_FLAGS: list[tuple[str, Any, str]] = [
    ("--data", str, "digits|iris|wine|breast_cancer|diabetes|circles|xor|gauss|spiral|moons|"
     "mnist:DIR|fashion-mnist:DIR|csv:FILE[:TARGET]|npz:FILE|npy:X.npy,y.npy[,X_test.npy,"
     "y_test.npy] (memory-mapped; without test files the last 20%% of the rows are the test "
     "set)"),
    ("--hidden", _int_list, "hidden layer sizes, comma-separated"),
    ("--activation", _choice(sorted(ACTIVATIONS), "activation"), "hidden activation"),
    ("--loss", _choice(sorted(LOSSES), "loss"), "loss; None: cross_entropy for classes, mse else"),
    ("--optimizer", _choice(sorted(OPTIMIZERS), "optimizer"), "optimiser"),
    ("--lr", _positive(float), "base learning rate"),
    ("--schedule", _choice(sorted(SCHEDULES), "schedule"), "learning-rate schedule over epochs"),
    ("--epochs", _positive(int), "epochs"),
    ("--batch-size", _positive(int), "mini-batch size"),
    ("--weight-decay", _non_negative, "L2 penalty on the weights (decoupled for adamw)"),
    ("--dropout", _fraction, "dropout after each hidden layer"),
    ("--early-stopping", _positive(int), "stop after PATIENCE epochs without improvement"),
    ("--val-split", _fraction, "share of the training data held out for validation"),
    ("--metrics", str, "comma-separated metrics"),
    ("--seed", int, "seed of weights, split, shuffling and dropout"),
    ("--out", str, "where to save the model"),
    ("--checkpoint-dir", str, "write a checkpoint there after every epoch"),
    ("--resume", bool, "continue from the checkpoint in --checkpoint-dir"),
    ("--quiet", bool, "no per-epoch lines, no progress bar"),
    ("--history-json", str, "also write the training history to this JSON file"),
    ("--distributed", bool, "data-parallel over the ranks of mpiexec -n N (glassnet[mpi]); "
     "--batch-size is the global batch"),
    ("--device", _choice(["cpu", "cuda"], "device"), "train on the CPU, or on a CUDA GPU with "
     "CuPy (glassnet[gpu])"),
    # issue 18: validation data of its own (npy:X.npy,y.npy memory-mapped), mid-epoch checkpoints
    ("--val-data", str, "validation data, a --data spec (npy:X.npy,y.npy is memory-mapped whole)"),
    ("--checkpoint-every", _positive(int), "also write the checkpoint every N steps "
     "(mid-epoch); SIGTERM/SIGUSR1 always write one, then exit with status 75"),
]


def _train_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the TOML file, then the flags: the later wins."""
    settings = dict(TRAIN_DEFAULTS)
    if args.config:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            with open(args.config, "rb") as f:
                config = tomllib.load(f)
        except OSError as err:
            raise UsageError(f"glassnet train: cannot read --config {args.config}: {err.strerror}")
        except tomllib.TOMLDecodeError as err:
            raise UsageError(f"glassnet train: {args.config} is not valid TOML: {err}")
        for key, value in config.items():
            name = key.replace("-", "_")
            if name not in settings:
                raise UsageError(f"glassnet train: unknown setting {key!r} in {args.config}; "
                                 f"valid: {', '.join(sorted(settings))}")
            flag = next(f for f in _TRAIN_FLAGS if f[0] == "--" + name.replace("_", "-"))
            kind = flag[1]
            try:
                settings[name] = value if kind in (bool, str) or value is None else \
                    kind(",".join(map(str, value)) if isinstance(value, list) else str(value))
            except argparse.ArgumentTypeError as err:
                raise UsageError(f"glassnet train: {key} in {args.config}: {err}")
    for name in TRAIN_DEFAULTS:
        value = getattr(args, name, None)
        if value is not None:
            settings[name] = value
    return settings


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="glassnet", description="Fully connected networks, back-propagation "
                     "written out by hand and verified.")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train a network (default: handwritten digits)",
                           description="Train a network and save it. With no arguments: "
                           "scikit-learn's 8x8 digits, stratified 80/20 split, standardised "
                           "inputs, the default recipe below. A TOML file given with --config "
                           "may set any flag (same names, '-' or '_'); flags override it.")
    train.add_argument("--config", metavar="TOML", help="read settings from a TOML file")
    for flag, kind, help_text in _TRAIN_FLAGS:
        default = TRAIN_DEFAULTS[flag.lstrip("-").replace("-", "_")]
        if kind is bool:
            train.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            train.add_argument(flag, type=kind, default=None,
                               help=f"{help_text} (default: {_show(default)})")
    # glassbox: --monitor and --plots (gradient diagnostics and figures; see _glassbox_* below)
    train.add_argument("--monitor", action="store_true",
                       help="print a per-layer table of delta and gradient norms each epoch")
    train.add_argument("--plots", metavar="DIR", default=None,
                       help="after training, write figures and history.json into DIR")
    train.set_defaults(run=_cmd_train)

    evaluate = sub.add_parser("evaluate", help="metrics and a confusion matrix of a saved model",
                              description="Evaluate MODEL on a data set: the test split it was "
                              "trained beside (the same seed), or all of it with --all.")
    evaluate.add_argument("model")
    evaluate.add_argument("--data", default=None, help="data set (default: the one it was trained on)")
    evaluate.add_argument("--all", action="store_true", help="use every sample, not the test split")
    evaluate.set_defaults(run=_cmd_evaluate)

    predict = sub.add_parser("predict", help="predict with a saved model",
                             description="Read inputs from a .csv (every column a feature) or "
                             ".npy file and write predictions to a .csv or .npy file.")
    predict.add_argument("model")
    predict.add_argument("--input", required=True, help="FILE.csv or FILE.npy")
    predict.add_argument("--output", required=True, help="FILE.csv or FILE.npy")
    predict.add_argument("--proba", action="store_true",
                         help="write the output units (probabilities) instead of labels")
    predict.set_defaults(run=_cmd_predict)

    info = sub.add_parser("info", help="describe a saved model",
                          description="Summary, training settings and history of MODEL.")
    info.add_argument("model")
    info.set_defaults(run=_cmd_info)

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

    # issue 18: glassnet launch --max-restarts N -- COMMAND (logic in glassnet.launch)
    launch = sub.add_parser("launch", help="run a training command, again from its checkpoint "
                            "when it fails", description="Run COMMAND (e.g. mpiexec -n 4 glassnet "
                            "train --distributed --checkpoint-dir ck ...); when it fails and its "
                            "checkpoint exists, run it again with --resume, up to --max-restarts "
                            "times. Signals to this command are passed on and end it.")
    launch.add_argument("--max-restarts", type=_positive(int), default=3, help="default: 3")
    launch.add_argument("--checkpoint-dir", default=None,
                        help="default: the --checkpoint-dir of COMMAND")
    launch.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    launch.set_defaults(run=_cmd_launch)
    return parser


def _cmd_launch(args: argparse.Namespace) -> int:
    from .launch import run_with_restarts

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return run_with_restarts(command, args.max_restarts, args.checkpoint_dir,
                             log=lambda line: print(f"glassnet launch: {line}", file=sys.stderr))


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
    except TrainingInterrupted as err:  # issue 18: preempted; the checkpoint is written
        if err.root:
            print(f"glassnet: error: {err}", file=sys.stderr)
        return err.exit_status
    except RankFailedError as err:  # every rank stops; rank 0 says which failed and why
        if err.rank == 0:
            print(f"glassnet: error: {err}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:
        print(f"glassnet: error: {err}", file=sys.stderr)
        return 2


def _accuracy(net: Network, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(net.predict(X) == y))


def _split_data(data: Any, seed: int) -> tuple[np.ndarray, ...]:
    """The fixed train/test split: the data set's own test part, else stratified 80/20."""
    from .data import train_test_split

    if data.X_test is not None:
        return data.X, data.X_test, data.y, data.y_test
    return train_test_split(data.X, data.y, test_size=0.2,
                            stratify=data.task == "classification", seed=seed)


def build_recipe(s: dict[str, Any], X_train: np.ndarray, n_out: int,
                 classify: bool) -> tuple[Network, dict[str, Any]]:
    """The network (scaler fitted on ``X_train``) and the ``fit`` arguments for settings ``s``.

    ``glassnet train`` and bench/digits_recipe.py both train through this.
    """
    from .data.npy_source import fit_scaler
    from .optim import get_optimizer
    from .schedules import Cosine, Exponential, Step, get_schedule

    loss = s["loss"] or ("cross_entropy" if classify else "mse")
    decoupled = s["optimizer"] == "adamw"
    net = mlp([X_train.shape[1], *s["hidden"], n_out], activation=s["activation"], loss=loss,
              dropout=s["dropout"], l2=0.0 if decoupled else s["weight_decay"], seed=s["seed"],
              device=s.get("device", "cpu"))
    net.scaler = fit_scaler(X_train)  # a memory map by chunks, never whole
    metrics = [m for m in s["metrics"].split(",") if m] if s["metrics"] else []
    if not classify:
        metrics = [m for m in metrics if m not in ("accuracy", "balanced_accuracy")] or ["r2"]
    optimizer = get_optimizer(s["optimizer"], learning_rate=s["lr"],
                              **({"weight_decay": s["weight_decay"]} if decoupled else {}))
    per_epoch = {"cosine": lambda: Cosine(total=s["epochs"]),
                 "step": lambda: Step(step_size=max(1, s["epochs"] // 3)),
                 "exponential": lambda: Exponential(gamma=0.95)}
    schedule = per_epoch[s["schedule"]]() if s["schedule"] in per_epoch else get_schedule(s["schedule"])
    return net, {"epochs": s["epochs"], "batch_size": s["batch_size"], "optimizer": optimizer,
                 "lr_schedule": schedule, "validation_split": s["val_split"], "metrics": metrics,
                 "early_stopping": s["early_stopping"], "seed": s["seed"]}


def _cmd_train(args: argparse.Namespace) -> int:
    from .data.npy_source import load_spec, load_validation
    from .training import ProgressBar, format_record

    s = _train_settings(args)
    root = True
    if s["distributed"]:  # every rank trains; rank 0 alone prints and writes (distributed.py)
        from .distributed import quiet_other_ranks

        root = quiet_other_ranks()
        s["quiet"] = s["quiet"] or not root
    if s["resume"] and not s["checkpoint_dir"]:
        raise UsageError("glassnet train: --resume needs --checkpoint-dir")
    data = load_spec(s["data"])  # issue 18: npy:X.npy,y.npy memory-mapped, else load_data
    classify = data.task == "classification"
    X_train, X_test, y_train, y_test = _split_data(data, s["seed"])
    if classify:
        n_out = int(max(np.max(y_train), np.max(y_test))) + 1
    else:
        n_out = 1 if np.ndim(y_train) == 1 else y_train.shape[1]
    net, fit_kwargs = build_recipe(s, X_train, n_out, classify)
    net.info["training"] = {k: v for k, v in s.items() if k not in ("quiet", "resume")}
    print(f"data: {data.name}, {len(X_train)} train / {len(X_test)} test samples, "
          f"{X_train.shape[1]} features; network: {net}")

    class Report(Callback):
        def on_epoch_end(self, net: Network, epoch: int, record: dict[str, Any]) -> None:
            if classify:
                record["test_accuracy"] = _accuracy(net, X_test, y_test)
            else:
                record["test_loss"] = net.loss(net.scale_inputs(X_test), y_test)
            print(format_record(record, s["epochs"]), flush=True)

    callbacks: list[Callback] = [] if s["quiet"] else [Report()]
    n_fit = len(X_train) * (1 - s["val_split"])
    if not s["quiet"]:
        callbacks.append(ProgressBar(-(-int(n_fit) // s["batch_size"]), s["batch_size"], summary=False))
    callbacks += _glassbox_callbacks(args)
    if s["val_data"] and s["val_split"]:  # issue 18
        raise UsageError("glassnet train: --val-data and --val-split exclude each other")
    fit_kwargs["validation_data"] = load_validation(s["val_data"]) if s["val_data"] else None
    history = net.fit(X_train, y_train, callbacks=callbacks, progress=False,
                      checkpoint_dir=s["checkpoint_dir"], resume=s["resume"], distributed=s["distributed"],
                      checkpoint_every=s["checkpoint_every"], **fit_kwargs)
    _glassbox_plots(args, net, history, X_test, y_test, classify)
    if classify:
        print(f"test accuracy: {_accuracy(net, X_test, y_test):.4f}")
    else:
        print(f"test loss: {net.loss(net.scale_inputs(X_test), y_test):.6f}")
    n_check, fast = min(20, len(X_test)), net.n_params > 2_000
    check = gradcheck(net, net.scale_inputs(X_test[:n_check]), y_test[:n_check], fast=fast)
    print(f"gradcheck on {n_check} test samples, {net.n_params} parameters"
          f"{' (3 random directions per tensor)' if fast else ''}: "
          f"{'PASSED' if check.passed else 'FAILED'}, worst relative error {check.max_rel_error:.1e}")
    if root:
        save(net, s["out"])
    print(f"saved model to {s['out']}")
    if s["history_json"] and root:
        _write_text(s["history_json"], history.to_json())
        print(f"saved history to {s['history_json']}")
    return 0


def _load_inputs(path: str) -> np.ndarray:
    from .data import load_arrays, read_csv

    if path.endswith(".csv"):
        return read_csv(path, target=None)[0]
    if path.endswith((".npy", ".npz")):
        return load_arrays(path)[0]
    raise UsageError(f"glassnet predict: --input must be a .csv or .npy file; got {path}")


def _cmd_predict(args: argparse.Namespace) -> int:
    from .io import atomic_write

    net = load(args.model)
    X = _load_inputs(args.input)
    out = net.predict_output(X) if args.proba else net.predict(X)
    if args.output.endswith(".npy"):
        atomic_write(args.output, lambda f: np.save(f, out))
    elif args.output.endswith(".csv"):
        text = "\n".join(",".join(f"{v:.8g}" if isinstance(v, float) else str(v)
                                  for v in np.atleast_1d(row).tolist()) for row in out) + "\n"
        atomic_write(args.output, lambda f: f.write(text.encode()))
    else:
        raise UsageError(f"glassnet predict: --output must end in .csv or .npy; got {args.output}")
    print(f"wrote {len(out)} predictions to {args.output}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import load_data
    from .metrics import confusion_matrix, get_metric

    net = load(args.model)
    settings = net.info.get("training", {})
    spec = args.data or settings.get("data")
    if spec is None:
        raise UsageError("glassnet evaluate: the model records no data set; pass --data")
    data = load_data(spec)
    if args.all:
        X, y, part = data.X, data.y, "all samples"
    else:
        _, X, _, y = _split_data(data, settings.get("seed", 0))
        part = f"test split (seed {settings.get('seed', 0)})"
    a = net.predict_output(X)
    Y = net.loss_fn.targets(y, net.n_out, np.float64)
    print(f"model: {args.model}  {net}")
    print(f"data: {spec}, {part}, {len(X)} samples")
    print(f"loss ({net.loss_fn.name}): {net.loss(net.scale_inputs(X), y):.6f}")
    names = ["accuracy", "balanced_accuracy", "log_loss"] if net.loss_fn.classifier else ["mse", "mae", "r2"]
    for name in names:
        print(f"{name}: {get_metric(name)(Y, a):.4f}")
    if net.loss_fn.classifier and y.ndim == 1:
        n_classes = max(net.n_out, 2)
        matrix = confusion_matrix(np.asarray(y, dtype=np.int64), np.asarray(net.predict(X)), n_classes)
        width = max(len(str(matrix.max())), 3)
        print("confusion matrix (rows: true class, columns: predicted class)")
        print("     " + " ".join(f"{c:>{width}}" for c in range(n_classes)))
        for c, row in enumerate(matrix):
            print(f"{c:>4} " + " ".join(f"{v:>{width}}" for v in row))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .training import format_record

    net = load(args.model)
    print(f"model: {args.model}")
    print(net.summary())
    if net.scaler is not None:
        print(f"input scaling: {type(net.scaler).__name__}")
    if net.optimizer is not None:
        print(f"optimizer: {net.optimizer!r} after {net.optimizer.iterations} steps")
    for key, value in net.info.get("training", {}).items():
        print(f"  {key}: {_show(value)}")
    if net.history is not None and len(net.history):
        print(f"history: {len(net.history)} epochs")
        for record in net.history.epochs[-5:]:
            print("  " + format_record(record))
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
    # predict applies the model's scaler to raw inputs; forward and jacobian take scaled ones
    X_net = net.scale_inputs(X_test)
    _write_text(out / "history.json", history.to_json())
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
