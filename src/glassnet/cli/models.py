"""Commands on a saved model: ``evaluate``, ``predict`` and ``info``."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..io import load
from . import preflight
from .args import show
from .data import model_inputs, model_labels, predicted_labels, task_of, training_settings
from .model_data import check_features, model_data

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add ``evaluate``, ``predict`` and ``info`` to the subcommands."""
    evaluate = sub.add_parser("evaluate", help="metrics and a confusion matrix of a saved model",
                              description="Evaluate MODEL on a data set: the test split it was "
                              "trained beside (the same seed), or all of it with --all.")
    evaluate.add_argument("model")
    evaluate.add_argument("--data", default=None,
                          help="data set (default: the one it was trained on)")
    evaluate.add_argument("--all", action="store_true", help="use every sample, not the test split")
    evaluate.set_defaults(run=_cmd_evaluate)

    predict = sub.add_parser("predict", help="predict with a saved model",
                             description="Read inputs from a .csv (every column a feature) or "
                             ".npy file and write predictions to a .csv or .npy file.")
    predict.add_argument("model")
    predict.add_argument("--input", required=True, help="FILE.csv or FILE.npy")
    predict.add_argument("--output", required=True, help="FILE.csv or FILE.npy")
    predict.add_argument("--force", action="store_true",
                         help="replace an existing --output file (never one of the inputs)")
    predict.add_argument("--proba", action="store_true",
                         help="write the output units (probabilities) instead of labels")
    predict.set_defaults(run=_cmd_predict)

    info = sub.add_parser("info", help="describe a saved model",
                          description="Summary, training settings and history of MODEL.")
    info.add_argument("model")
    info.set_defaults(run=_cmd_info)


def _csv_text(out: np.ndarray) -> str:
    """Predictions as CSV that reads back as written: labels quoted where the csv module needs
    it (a label ``big, red`` stays one field), and numbers with the digits that round-trip
    their dtype (9 significant digits for float32, 17 for float64)."""
    import csv
    import io

    digits = 9 if out.dtype == np.float32 else 17
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in out:
        writer.writerow([f"{v:.{digits}g}" if isinstance(v, float) else v
                         for v in np.atleast_1d(row).tolist()])
    return buffer.getvalue()


def _cmd_predict(args: argparse.Namespace) -> int:
    from ..atomic import atomic_write

    kind = preflight.FORCED_PREDICTIONS if args.force else preflight.PREDICTIONS
    preflight.outputs(files=[("--output", args.output, kind)],
                      inputs=[("--input", args.input), ("model", args.model)])
    net = load(args.model)
    X = model_inputs(net, args.input)
    check_features(net, args.model, X, f"--input {args.input}",
                   "pass inputs of the kind it was trained on")
    out = net.predict_output(X) if args.proba else model_labels(net, X)
    if args.output.endswith(".npy"):
        atomic_write(args.output, lambda f: np.save(f, out))
    else:
        atomic_write(args.output, lambda f: f.write(_csv_text(out).encode()))
    print(f"wrote {len(out)} predictions to {args.output}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..metrics import confusion_matrix, get_metric

    net = load(args.model)
    classify = task_of(net) == "classification"
    X, y, y_loss, spec, _ = model_data(net, args.model, args.data, "evaluate",
                                       "all" if args.all else "test")
    seed = training_settings(net).get("seed", 0)
    part = "all samples" if args.all else f"test split (seed {seed})"
    a = net.predict_output(X)
    Y = net.loss_fn.targets(y_loss, net.n_out, np.float64)
    print(f"model: {args.model}  {net}")
    print(f"data: {spec}, {part}, {len(X)} samples")
    print(f"loss: {net.loss(net.scale_inputs(X), y_loss):.6f} ({net.loss_fn.name}, "
          f"{net.loss_fn.definition}: the training objective, without the penalty)")
    names = ["accuracy", "balanced_accuracy", "log_loss"] if classify else ["mse", "mae", "r2"]
    for name in names:
        metric = get_metric(name)
        print(f"{name}: {metric(Y, a):.4f} ({metric.definition})")
    if classify and y.ndim == 1:
        n_classes = max(net.n_out, 2)
        matrix = confusion_matrix(np.asarray(y, dtype=np.int64),
                                  np.asarray(predicted_labels(net, X)), n_classes)
        width = max(len(str(matrix.max())), 3)
        names = [str(c) for c in (net.classes if net.classes is not None else range(n_classes))]
        width = max(width, *map(len, names))
        side = max(map(len, names))
        print("confusion matrix (rows: true class, columns: predicted class)")
        print(" " * (side + 1) + " ".join(f"{c:>{width}}" for c in names))
        for name, row in zip(names, matrix):
            print(f"{name:>{side}} " + " ".join(f"{v:>{width}}" for v in row))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .train import epoch_line

    net = load(args.model)
    print(f"model: {args.model}")
    print(net.summary())
    if net.scaler is not None:
        print(f"input scaling: {type(net.scaler).__name__}")
    if net.optimizer is not None:
        print(f"optimizer: {net.optimizer!r} after {net.optimizer.iterations} steps")
    settings = training_settings(net)
    for key, value in settings.items():
        print(f"  {key}: {show(value)}")
    if net.history is not None and len(net.history):
        full_batch = settings.get("optimizer") == "lbfgs"
        print(f"history: {len(net.history)} epochs")
        for record in net.history.epochs[-5:]:
            print("  " + epoch_line(record, None, full_batch))
    return 0
