"""``glassnet train``: the flags, the TOML config, the default recipe and the run.

The order of a run: settings (defaults, then the TOML file, then the flags); every output path
checked (:mod:`.preflight`); the data loaded and its task settled (:mod:`.data`); the network's
size checked against memory; then training, the test score, a gradient check, and the saves.
A failed gradient check still saves the model, then fails the run (exit status 1).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..activations import ACTIVATIONS
from ..archive import open_regular
from ..data.datasets import SPEC_FORMS, absolute_spec
from ..data.labels import label_array
from ..gradcheck import gradcheck
from ..io import save
from ..losses import LOSSES
from ..network import Network, mlp
from ..optim import OPTIMIZERS
from ..recipes import SCALES, describe, fit_summary, resolve
from ..schedules import SCHEDULES
from ..training import Callback, TrainingDivergedError
from . import preflight
from .args import (
    choice,
    count,
    epochs,
    fraction,
    int_list,
    non_negative,
    positive,
    seed,
    show,
    steps,
)
from .data import (
    load_for_task,
    loss_targets,
    n_outputs,
    predicted_labels,
    record_columns,
    split_data,
)
from .errors import RunFailed, UsageError

__all__ = ["TRAIN_DEFAULTS", "add_parsers", "build_recipe"]

TRAIN_DEFAULTS: dict[str, Any] = {
    "data": "digits", "task": "auto", "hidden": "auto", "activation": "relu", "output": None,
    "loss": None, "residual": False, "optimizer": "adam", "lr": 5e-3, "schedule": "constant",
    "epochs": "auto", "batch_size": "auto", "weight_decay": "auto", "l1": 0.0, "dropout": 0.0,
    "clip_norm": None, "early_stopping": "auto", "val_split": "auto", "scale": "auto",
    "metrics": "accuracy", "seed": 0, "out": "glassnet-model.npz", "checkpoint_dir": None,
    "resume": False, "quiet": False, "history_json": None, "distributed": False, "device": "cpu",
    "val_data": None, "checkpoint_every": None, "monitor": False, "plots": None,
}
"""The default recipe of ``glassnet train``; ``"auto"`` values come from the data by
:func:`glassnet.recipes.resolve` (bench/recipes.py measures the result). L-BFGS, a full-batch
method, takes the whole training set as its batch unless ``--batch-size`` is given."""

_TRAIN_FLAGS: list[tuple[str, Any, str]] = [
    ("--data", str, SPEC_FORMS.replace("%", "%%") + "; for npy: without test files the last "
     "20%% of the rows are the test set"),
    ("--task", choice(["auto", "classification", "regression"], "task"),
     "what the target is; auto: whole numbers are class labels, other numbers quantities"),
    ("--hidden", int_list, "hidden layer sizes, comma-separated"),
    ("--activation", choice(sorted(ACTIVATIONS), "activation"), "hidden activation"),
    ("--output", choice(sorted(ACTIVATIONS), "activation"), ("output activation; None: softmax "
     "for cross_entropy, sigmoid for the other losses on class labels, identity for quantities")),
    ("--loss", choice(sorted(LOSSES), "loss"), ("loss; None: cross_entropy for classes, mse else; "
     "the other losses take class labels one-hot encoded")),
    ("--residual", bool, ("make consecutive hidden layers of equal width identity-skip blocks "
     "a = x + f(W x + b)")),
    ("--optimizer", choice(sorted(OPTIMIZERS), "optimizer"), "optimiser"),
    ("--lr", positive(float), ("base learning rate (not used by lbfgs, whose line search chooses "
     "the step)")),
    ("--schedule", choice(sorted(SCHEDULES), "schedule"), "learning-rate schedule over epochs"),
    ("--epochs", epochs, "epochs"),
    ("--batch-size", count(10 ** 8, "a hundred million samples; a batch larger than the "
                           "training set is the whole set"),
     "mini-batch size; auto: from the data's size, or the whole training set for lbfgs"),
    ("--weight-decay", non_negative, "L2 penalty on the weights (decoupled for adamw)"),
    ("--l1", non_negative, "L1 penalty on the weights"),
    ("--dropout", fraction, "dropout after each hidden layer"),
    ("--clip-norm", positive(float), ("rescale the gradients when their global L2 norm exceeds "
     "this")),
    ("--scale", choice(SCALES, "scale"), "input scaling: standard (with a variance floor), "
     "minmax (pixels: one range for all), none; auto: minmax for pixels, else standard"),
    ("--early-stopping", epochs, "stop after PATIENCE epochs without improvement"),
    ("--val-split", fraction, "share of the training data held out for validation"),
    ("--val-data", str, ("validation data of its own, a --data spec (its training part when "
     "it has a test part); excludes --val-split")),
    ("--metrics", str, "comma-separated metrics"),
    ("--seed", seed, "seed of weights, split, shuffling and dropout"),
    ("--out", str, "where to save the model"),
    ("--checkpoint-dir", str, ("write a checkpoint there after every epoch; on SIGTERM or "
     "SIGUSR1 after the step, then exit with status 75 (resumable)")),
    ("--checkpoint-every", steps, "also write the checkpoint every N steps (mid-epoch)"),
    ("--resume", bool, "continue from the checkpoint in --checkpoint-dir"),
    ("--quiet", bool, "no per-epoch lines, no progress bar"),
    ("--history-json", str, "also write the training history to this JSON file"),
    ("--distributed", bool, ("data-parallel over the ranks of mpiexec -n N (glassnet[mpi]); "
     "--batch-size is the global batch")),
    ("--device", choice(["cpu", "cuda"], "device"), ("train on the CPU, or on a CUDA GPU with "
     "CuPy (glassnet[gpu])")),
    # glassbox: gradient diagnostics and figures (see glassbox.py)
    ("--monitor", bool, "print a per-layer table of delta and gradient norms each epoch"),
    ("--plots", str, "after training, write figures and history.json into this folder"),
]


def add_parsers(sub: Any) -> None:
    """Add ``train`` to the subcommands."""
    train = sub.add_parser("train", help="train a network (default: handwritten digits)",
                           description="Train a network and save it. With no arguments: "
                           "scikit-learn's 8x8 digits, stratified 80/20 split, standardised "
                           "inputs, the default recipe below. A TOML file given with --config "
                           "may set any flag (same names, '-' or '_'); flags override it. "
                           "Every output path is checked before training starts.")
    train.add_argument("--config", metavar="TOML", help="read settings from a TOML file")
    for flag, kind, help_text in _TRAIN_FLAGS:
        default = TRAIN_DEFAULTS[flag.lstrip("-").replace("-", "_")]
        if kind is bool:
            train.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            train.add_argument(flag, type=kind, default=None,
                               help=f"{help_text} (default: {show(default)})")
    train.set_defaults(run=_cmd_train)


def _train_settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """Defaults, then the TOML file, then the flags: the later wins.

    Returns the settings and, for each one the user gave, where: ``"--lr"`` or ``"lr in
    r.toml"`` (what :func:`_check_applicable` names).
    """
    settings = dict(TRAIN_DEFAULTS)
    given: dict[str, str] = {}
    if args.config:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            with open_regular(args.config, "TOML file") as f:
                config = tomllib.load(f)
        except OSError as err:
            raise UsageError(f"train: cannot read --config {args.config}: {err.strerror}")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise UsageError(f"train: --config {args.config} is not valid TOML (UTF-8 text): "
                             f"{err}") from None
        for key, value in config.items():
            name = key.replace("-", "_")
            if name not in settings:
                raise UsageError(f"train: unknown setting {key!r} in {args.config}; "
                                 f"valid: {', '.join(sorted(settings))}")
            if name in given:
                first = given[name].split()[0]
                raise UsageError(f"train: {args.config} sets {name} twice ({first} and {key}); "
                                 "keep one")
            flag = next(f for f in _TRAIN_FLAGS if f[0] == "--" + name.replace("_", "-"))
            kind = flag[1]
            if kind is bool and not isinstance(value, bool):
                raise UsageError(f"train: {key} in {args.config} must be true or false; "
                                 f"got {value!r}")
            if not isinstance(value, (bool, int, float, str, list)) or \
                    (kind is str and not isinstance(value, str)):
                raise UsageError(f"train: {key} in {args.config} must be "
                                 f"{'a string' if kind is str else 'a value'}, as its flag "
                                 f"takes; got {value!r}")
            try:
                settings[name] = value if kind in (bool, str) or value is None else \
                    kind(",".join(map(str, value)) if isinstance(value, list) else str(value))
            except argparse.ArgumentTypeError as err:
                raise UsageError(f"train: {key} in {args.config}: {err}")
            given[name] = f"{key} in {args.config}"
    for name in TRAIN_DEFAULTS:
        value = getattr(args, name, None)
        if value is not None:
            settings[name] = value
            given[name] = "--" + name.replace("_", "-")
    return settings, given


def _full_batch(s: dict[str, Any]) -> bool:
    return s["optimizer"] == "lbfgs"


def _loss(s: dict[str, Any]) -> str | None:
    """The loss train will use, once the task is known (None before)."""
    if s["loss"] or s["task"] == "auto":
        return s["loss"]
    return "cross_entropy" if s["task"] == "classification" else "mse"


_OUTPUT_OF = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
_CLASS_METRICS = ("accuracy", "balanced_accuracy")

# setting -> when it applies (None: not known until the data is loaded) -> why not, otherwise.
# Checked for every setting the user gave, by flag or in the TOML file (_check_applicable).
APPLIES: dict[str, tuple[Any, Any]] = {
    "lr": (lambda s: not _full_batch(s),
           lambda s: "does not apply with --optimizer lbfgs: its line search chooses the step "
           "length; drop it, or choose a first-order optimizer"),
    "schedule": (lambda s: not _full_batch(s),
                 lambda s: "does not apply with --optimizer lbfgs: there is no learning rate to "
                 "schedule; drop it, or choose a first-order optimizer"),
    "clip_norm": (lambda s: not _full_batch(s),
                  lambda s: "does not apply with --optimizer lbfgs, whose steps are its own "
                  "(never clipped); drop it, or choose a first-order optimizer"),
    "checkpoint_every": (lambda s: s["checkpoint_dir"] is not None,
                         lambda s: "needs --checkpoint-dir, the folder of the checkpoint"),
    "resume": (lambda s: not s["resume"] or s["checkpoint_dir"] is not None,
               lambda s: "needs --checkpoint-dir, the folder of the checkpoint"),
    "val_data": (lambda s: s["val_split"] in ("auto", 0, 0.0),
                 lambda s: "and --val-split exclude each other: validate on data of its own, or "
                 "on a share of the training data"),
    "residual": (lambda s: not s["residual"] or (None if s["hidden"] == "auto" else any(
        a == b for a, b in itertools.pairwise(s["hidden"]))),
                 lambda s: "makes blocks of consecutive hidden layers of equal width, and "
                 f"--hidden {show(s['hidden'])} has none; try --hidden "
                 f"{s['hidden'][0]},{s['hidden'][0]},{s['hidden'][0]}"),
    "device": (lambda s: s["device"] == "cpu" or not (s["distributed"] or _full_batch(s)),
               lambda s: "does not apply with "
               f"{'--distributed' if s['distributed'] else '--optimizer lbfgs'}, which trains "
               "on the CPU; drop one of them"),
    "output": (lambda s: None if _loss(s) is None else _OUTPUT_OF.get(_loss(s)) in (None,
                                                                                 s["output"]),
               lambda s: f"does not apply with the {_loss(s)} loss, which needs a "
               f"{_OUTPUT_OF[_loss(s)]} output layer; drop --output, or choose --loss mse"),
    "metrics": (lambda s: None if s["task"] == "auto" else s["task"] == "classification" or not any(
        m in _CLASS_METRICS for m in (s["metrics"] or "").split(",")),
                lambda s: "accuracy and balanced_accuracy need class labels, and this is a "
                "regression; choose --metrics r2, mse or mae"),
}
"""Which settings apply when: ``{setting: (applies(s), why_not(s))}``. ``applies`` returns
True, False, or None where the answer waits for the data (``hidden: auto``, ``task: auto``);
a setting the user gave that does not apply is refused, naming it (flag or TOML key) and why."""


def _check_applicable(s: dict[str, Any], given: dict[str, str]) -> None:
    """Refuse every given setting that would do nothing, or could not train (:data:`APPLIES`)."""
    for name, (applies, why_not) in APPLIES.items():
        if name in given and applies(s) is False:
            value = "" if isinstance(s[name], bool) or name in _NAMED_ALONE else \
                f" {show(s[name])}" if given[name].startswith("--") else f" ({show(s[name])})"
            raise UsageError(f"train: {given[name]}{value} {why_not(s)}")


_NAMED_ALONE = ("checkpoint_every", "val_data", "lr", "schedule", "clip_norm", "metrics",
                "residual")
"""Settings whose refusal does not depend on their value: named without it."""


def build_recipe(s: dict[str, Any], X_train: np.ndarray, n_out: int, classify: bool,
                 y_train: np.ndarray | None = None) -> tuple[Network, dict[str, Any]]:
    """The network (scaler fitted on ``X_train``) and the ``fit`` arguments for settings ``s``.

    ``"auto"`` settings are chosen by :func:`glassnet.recipes.resolve`. With ``y_train``, a
    regression network's outputs start with the targets' mean and spread
    (:func:`glassnet.recipes.init_output`). ``glassnet train``, bench/recipes.py and
    bench/digits_recipe.py train through this. With a loss other than cross-entropy on class
    labels, ``fit`` takes the labels one-hot encoded (:func:`glassnet.cli.data.loss_targets`).
    """
    from ..optim import get_optimizer
    from ..recipes import init_output, make_scaler, resolve
    from ..schedules import get_schedule

    if s["val_data"]:
        s["val_split"] = 0.0
    s = resolve(s, X_train, n_out)
    loss = s["loss"] or ("cross_entropy" if classify else "mse")
    output = s.get("output") or ("sigmoid" if classify and loss in ("mse", "huber") else None)
    decoupled = s["optimizer"] == "adamw"
    full_batch = s["optimizer"] == "lbfgs"
    net = mlp([X_train.shape[1], *s["hidden"], n_out], activation=s["activation"], output=output,
              loss=loss, residual=s.get("residual", False), dropout=s["dropout"],
              l2=0.0 if decoupled else s["weight_decay"], l1=s.get("l1", 0.0), seed=s["seed"],
              device=s.get("device", "cpu"))
    net.scaler = make_scaler(s["scale"], X_train, s["data_kind"])
    if y_train is not None and not classify:
        init_output(net, X_train, y_train)
    metrics = [m for m in s["metrics"].split(",") if m] if s["metrics"] else []
    if not classify:
        metrics = [m for m in metrics if m not in ("accuracy", "balanced_accuracy")] or ["r2"]
    optimizer = get_optimizer(s["optimizer"], learning_rate=s["lr"],
                              **({"weight_decay": s["weight_decay"]} if decoupled else {}))
    schedule = None if full_batch else get_schedule(s["schedule"], epochs=s["epochs"])
    batch_size = s["batch_size"]
    return net, {"epochs": s["epochs"], "batch_size": batch_size, "optimizer": optimizer,
                 "lr_schedule": schedule, "validation_split": s["val_split"], "metrics": metrics,
                 "early_stopping": s["early_stopping"], "clip_norm": s.get("clip_norm"),
                 "seed": s["seed"]}


def _check_outputs(s: dict[str, Any], args: argparse.Namespace) -> None:
    """Every path the run will write, checked before any work starts."""
    from ..training import CHECKPOINT_NAME
    from .data import data_file
    from .glassbox import PLOT_FILES

    if s["resume"]:
        _check_resumable(s["checkpoint_dir"])
    preflight.outputs(
        files=[("--out", s["out"], preflight.MODEL),
               ("--history-json", s["history_json"], preflight.HISTORY)],
        folders=[("--checkpoint-dir", s["checkpoint_dir"], {CHECKPOINT_NAME: preflight.MODEL}),
                 ("--plots", s["plots"], PLOT_FILES)],
        inputs=[("--config", args.config), ("--data", data_file(s["data"])),
                ("--val-data", data_file(s["val_data"]) if s["val_data"] else None)])


def _check_resumable(folder: str) -> None:
    """``--resume`` needs a checkpoint written by ``--checkpoint-dir``, not any model file
    (that ``--checkpoint-dir`` is given is checked by :data:`APPLIES`)."""
    from ..io import load_with_extra
    from ..training import CHECKPOINT_NAME

    if Path(folder).is_file():
        raise UsageError(f"train: --checkpoint-dir {folder} is a file; --resume continues from "
                         f"DIR/{CHECKPOINT_NAME}, written by an earlier run with "
                         "--checkpoint-dir DIR")
    path = Path(folder) / CHECKPOINT_NAME
    if not path.exists():
        raise UsageError(f"train: --resume: no checkpoint at {path}; train with "
                         f"--checkpoint-dir {folder} first, or drop --resume")
    _, extra, _ = load_with_extra(path)
    if "checkpoint" not in extra:
        raise UsageError(f"train: --resume: {path} is a saved model, not a checkpoint (it has no "
                         "optimiser and random state to continue from); checkpoints are written "
                         "by --checkpoint-dir")


_NOT_RECORDED = ("quiet", "resume", "monitor", "plots")
"""Settings of how a run shows itself, not of what it trains: left out of the model's record."""

_MAY_CHANGE_ON_RESUME = {"epochs", "out", "checkpoint_dir", "checkpoint_every", "history_json",
                         *_NOT_RECORDED}
"""What a resumed run may set anew: how long it goes on and where it writes. Anything else
(the data, the split's seed, the network, the optimiser and its rate, the batch size) would
continue another run than the one the checkpoint holds."""


def _check_resume_settings(s: dict[str, Any], now: dict[str, Any]) -> None:
    """``--resume`` continues the checkpoint's run: its settings, resolved as they were, must be
    this run's, and ``--epochs`` must go past the epochs it has finished."""
    from ..io import load_with_extra
    from ..training import CHECKPOINT_NAME

    path = Path(s["checkpoint_dir"]) / CHECKPOINT_NAME
    saved, extra, _ = load_with_extra(path)
    then = saved.info.get("training", {}) if isinstance(saved.info, dict) else {}
    differ = [key for key in sorted(set(then) | set(now)) if key not in _MAY_CHANGE_ON_RESUME
              and json.dumps(then.get(key), sort_keys=True, default=str)
              != json.dumps(now.get(key), sort_keys=True, default=str)]
    if differ:
        shown = "; ".join(f"--{k.replace('_', '-')} {show(now.get(k))} (the checkpoint's run: "
                          f"{show(then.get(k))})" for k in differ[:4])
        raise UsageError(f"train: --resume continues the run in {path}, but {shown}; resume with "
                         "that run's settings (only --epochs, --out and the output flags may "
                         "change), or train afresh without --resume")
    done = int(extra.get("checkpoint", {}).get("epoch", 0))
    if s["epochs"] <= done:
        raise UsageError(f"train: --resume: the checkpoint in {path} has finished {done} epochs, "
                         f"so --epochs {s['epochs']} leaves nothing to train; give --epochs > "
                         f"{done}")


def check_loss_task(s: dict[str, Any], y: np.ndarray | None = None) -> None:
    """A loss the task's targets cannot feed, refused before the network is built.

    Cross-entropy needs class labels, so it cannot train a regression; binary cross-entropy
    trains a regression only on targets in [0, 1] (probabilities), which needs the targets
    ``y``. The regression losses (mse, huber) train a classifier on one-hot labels.
    """
    loss, task = s["loss"], s["task"]
    if loss is None or task != "regression":
        return
    from ..losses import LOSSES

    if loss == "binary_cross_entropy" and y is not None:
        low, high = float(np.min(y)), float(np.max(y))
        if low >= 0 and high <= 1:
            return
        raise UsageError(f"train: --loss binary_cross_entropy takes targets in [0, 1], and the "
                         f"--task regression targets of {s['data']} range over {low:g}..{high:g}; "
                         "use --loss mse or huber, or --task classification for class labels")
    if LOSSES[loss]().classifier and loss != "binary_cross_entropy":
        raise UsageError(f"train: --loss {loss} needs class labels, and --task regression trains "
                         "on quantities; use --loss mse or huber (or drop --loss), or pass "
                         "--task classification")


def _check_architecture(s: dict[str, Any], sizes: list[int], n_train: int) -> None:
    """Before any weight is allocated: the network fits in memory."""
    preflight.network_size(sizes, min(n_train, s["batch_size"]), "train",
                           "Choose smaller --hidden sizes.")


def epoch_line(record: dict[str, Any], epochs: int | None, full_batch: bool) -> str:
    """The epoch's summary; without the learning rate where the optimiser ignores it."""
    from ..training import format_record

    line = format_record(record, epochs)
    return re.sub(r"  lr \S+", "", line) if full_batch else line


def _cmd_train(args: argparse.Namespace) -> int:
    from ..training import ProgressBar
    from .glassbox import monitor_callbacks, write_plots

    s, given = _train_settings(args)
    _check_applicable(s, given)
    root = True
    if s["distributed"]:  # every rank trains; rank 0 alone prints and writes (distributed.py)
        from ..distributed import quiet_other_ranks

        root = quiet_other_ranks()
        s["quiet"] = s["quiet"] or not root
    _check_outputs(s, args)
    check_loss_task(s)
    data, s["task"], note = load_for_task(s["data"], s["task"])
    classify = s["task"] == "classification"
    X_train, X_test, y_train, y_test = split_data(data, s["seed"])
    check_loss_task(s, y_train)
    if len(X_train) == 0 or len(X_test) == 0:
        raise UsageError(f"train: {data.name} gives {len(X_train)} training and {len(X_test)} "
                         "test samples; both parts need samples")
    n_out = n_outputs(y_train, y_test, classify)
    full_batch = s["optimizer"] == "lbfgs"
    if full_batch and s["batch_size"] == "auto":
        s["batch_size"] = len(X_train)  # a full-batch method: the whole set
    s = resolve(s, X_train, n_out)
    _check_applicable(s, given)
    _check_architecture(s, [X_train.shape[1], *s["hidden"], n_out], len(X_train))
    net, fit_kwargs = build_recipe(s, X_train, n_out, classify, y_train)
    if classify and data.classes is not None:
        net.classes = label_array(data.classes).tolist()  # predict answers in these
    net.info["training"] = {k: v for k, v in s.items()
                            if k not in _NOT_RECORDED}
    for key in ("data", "val_data"):  # found again from any folder by the model's commands
        if s.get(key):
            net.info["training"][key] = absolute_spec(s[key])
    record_columns(net, data)
    if s["resume"]:
        _check_resume_settings(s, net.info["training"])
    print(f"data: {data.name}, {len(X_train)} train / {len(X_test)} test samples, "
          f"{X_train.shape[1]} features; network: {net}")
    print(describe(s))
    if note:
        print(note)
    if full_batch:
        steps = "mini-batches of" if s["batch_size"] < len(X_train) else "one full batch of"
        print(f"optimizer: lbfgs on {steps} {s['batch_size']} samples (--batch-size); its line "
              "search chooses the step length, so --lr and --schedule do not apply")
    Y_train, Y_test = loss_targets(net, y_train, classify), loss_targets(net, y_test, classify)
    if s["val_data"]:
        fit_kwargs["validation_data"] = _validation_data(s, net, classify)

    class Report(Callback):
        seconds = 0.0  # spent on the test set, not on training

        def on_epoch_end(self, net: Network, epoch: int, record: dict[str, Any]) -> None:
            start = time.perf_counter()
            if classify:
                record["test_accuracy"] = float(np.mean(predicted_labels(net, X_test) == y_test))
            else:
                record["test_loss"] = net.loss(net.scale_inputs(X_test), y_test)
            print(epoch_line(record, s["epochs"], full_batch), flush=True)
            Report.seconds += time.perf_counter() - start

    callbacks: list[Callback] = [] if s["quiet"] else [Report()]
    n_fit = len(X_train) * (1 - s["val_split"])
    if not s["quiet"]:
        callbacks.append(ProgressBar(-(-int(n_fit) // s["batch_size"]), s["batch_size"],
                                     summary=False))
    callbacks += monitor_callbacks(s)
    start = time.perf_counter()
    try:
        history = net.fit(X_train, Y_train, callbacks=callbacks, progress=False,
                          checkpoint_dir=s["checkpoint_dir"], resume=s["resume"],
                          distributed=s["distributed"], checkpoint_every=s["checkpoint_every"],
                          **fit_kwargs)
    except TrainingDivergedError as err:
        kept = f"; the checkpoint of the last finished epoch is in {s['checkpoint_dir']}" \
            if s["checkpoint_dir"] else ""
        raise RunFailed(f"training diverged: {err} No model was saved to {s['out']}{kept}.") \
            from err
    print(fit_summary(history, s, time.perf_counter() - start - Report.seconds, Report.seconds))
    write_plots(s, net, history, X_test, y_test, classify)
    if classify:
        print(f"test accuracy: {np.mean(predicted_labels(net, X_test) == y_test):.4f}")
    else:
        print(f"test loss: {net.loss(net.scale_inputs(X_test), y_test):.6f}")
    check = _gradient_check(net, X_test, Y_test)
    if root:
        save(net, s["out"])
    print(f"saved model to {s['out']}")
    if s["history_json"] and root:
        from .glassbox import write_text

        write_text(s["history_json"], history.to_json())
        print(f"saved history to {s['history_json']}")
    if check.failed:
        raise RunFailed(f"the gradient check FAILED (worst relative error "
                        f"{check.max_rel_error:.1e}, tolerance {check.tol:.0e}): "
                        "back-propagation disagrees with finite differences; the model was "
                        f"saved to {s['out']} all the same ('glassnet gradcheck {s['out']}' "
                        "shows every tensor)")
    return 0


def _validation_data(s: dict[str, Any], net: Network, classify: bool
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(X, Y)`` of ``--val-data``: its class labels as the model's (``net.classes``), its
    targets as the loss takes them; a memory map stays one."""
    from .data import model_indices

    data, task, _ = load_for_task(s["val_data"], s["task"], asked_by="--val-data")
    if task != s["task"]:
        raise UsageError(f"train: --val-data {s['val_data']} holds {task} targets; --data "
                         f"{s['data']} holds {s['task']} targets; pass --task to settle it")
    if data.X.shape[1:] != (net.n_in,):
        raise UsageError(f"train: --val-data {s['val_data']} has {data.X.shape[1:]} features "
                         f"per sample; the training data has {net.n_in}")
    y = model_indices(net, data, data.y) if classify else data.y
    return data.X, loss_targets(net, y, classify)


def _gradient_check(net: Network, X_test: np.ndarray, Y_test: np.ndarray) -> Any:
    """Back-propagation against finite differences on up to 20 test samples; prints the verdict.

    An L1 penalty is left out of the check: ``|W|`` has no derivative at ``W = 0``, where L1
    drives weights, so a finite difference across it means nothing.
    """
    n_check, fast = min(20, len(X_test)), net.n_params > 2_000
    probe = net
    if net.l1:
        probe = net.copy()
        probe.l1 = 0.0
    start = time.perf_counter()
    check = gradcheck(probe, net.scale_inputs(X_test[:n_check]), Y_test[:n_check], fast=fast)
    seconds = time.perf_counter() - start
    notes = (["3 random directions per tensor"] if fast else []) + \
        (["without the L1 penalty, which has no derivative at W = 0"] if net.l1 else [])
    how = f" ({'; '.join(notes)})" if notes else ""
    tail = {"PASSED": "", "FAILED": f" (tolerance {check.tol:.0e}); the model is saved all the "
            "same, and the run fails",
            "NOT RESOLVED": f"; {len(check.unresolved)} tensor(s) could not be judged, so "
            f"nothing is claimed for them ({check.unresolved[0].unresolved if check.unresolved else ''})"
            }[check.verdict]
    print(f"gradcheck on {n_check} test samples, {net.n_params} parameters{how}: "
          f"{check.verdict}, worst relative error "
          f"{check.max_rel_error:.1e}{tail} ({seconds:.2f} s, not part of the training time)")
    return check
