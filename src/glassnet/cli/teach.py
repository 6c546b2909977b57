"""The teaching subcommands of ``glassnet``: ``check`` (your own backprop) and ``worksheet``.

Registered through :data:`glassnet.cli.COMMAND_GROUPS`; like the rest of the command line they
fail with one line ``glassnet: error: ...``: exit 2 for a bad command line, 1 for a check that
fails (:class:`~glassnet.cli.errors.RunFailed`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import preflight
from .args import count, network_sizes, positive, seed
from .errors import RunFailed

__all__ = ["add_parsers"]

_LOSSES = ["mse", "cross_entropy", "binary_cross_entropy", "huber"]

_WORKSHEET_FILES = {"exercise.md": preflight.MARKDOWN, "solution.md": preflight.MARKDOWN,
                    "worksheet.json": preflight.JSON, "exercise.pdf": preflight.PDF,
                    "solution.pdf": preflight.PDF, "network.npz": preflight.MODEL}
"""What ``glassnet worksheet`` writes into its folder."""


def add_parsers(sub: Any) -> None:
    """Add ``check`` and ``worksheet`` to the ``glassnet`` subcommands."""
    from ..activations import ACTIVATIONS
    from ..check import PIECES

    check = sub.add_parser(
        "check", help="check your own back-propagation code, equation by equation",
        description="Run a piece of back-propagation you wrote inside a glassnet network and "
        "compare it with glassnet's own, equation by equation (delta^L, the delta recursion, "
        "dW, db, the input gradient). STUDENT.py defines one or more of "
        f"{', '.join(f'{p}()' for p in PIECES)}: derivative(z, a) returns f'(z); "
        "loss_grad(a, y) returns dC/da for the batch mean; backward(layer, grad_a) returns "
        "(delta, dW, db, grad_a_prev); jvp(layer, da_prev) returns da. Optional module "
        "constants ACTIVATION and LOSS name what the piece is for. Exit status 1 when an "
        "equation is wrong.")
    check.add_argument("student", metavar="STUDENT.py", help="your Python file")
    check.add_argument("--activation", choices=sorted(set(ACTIVATIONS) - {"softmax"}),
                       help="default: the file's ACTIVATION, else sigmoid")
    check.add_argument("--loss", choices=_LOSSES, help="default: the file's LOSS, else mse")
    check.add_argument("--sizes", type=network_sizes, default=[3, 4, 4, 2], metavar="LIST",
                       help="the network (default: 3,4,4,2)")
    check.add_argument("--samples", type=count(10 ** 5, "a batch to check by hand"), default=5,
                       help="batch size (default: 5)")
    check.add_argument("--seed", type=seed, default=0)
    check.set_defaults(run=_cmd_check)

    sheet = sub.add_parser(
        "worksheet", help="write a back-propagation exercise and its solution",
        description="Write a worksheet: a small network with its weights, an input and a "
        "target (multiples of 0.1), questions on the forward pass, delta^L, delta^l, the "
        "gradients and one gradient-descent step, and the full solution computed by glassnet. "
        "Files in DIR: exercise.md, solution.md (Markdown with LaTeX), exercise.pdf and "
        "solution.pdf (with matplotlib), worksheet.json (every number) and network.npz "
        "(glassnet.load reads it).")
    sheet.add_argument("--seed", type=seed, default=0, help="default: 0")
    sheet.add_argument("--sizes", type=network_sizes, default=[2, 3, 2], metavar="LIST",
                       help="layer sizes, input first (default: 2,3,2)")
    sheet.add_argument("--activation", choices=sorted(set(ACTIVATIONS) - {"softmax"}),
                       default="sigmoid", help="default: sigmoid")
    sheet.add_argument("--loss", choices=_LOSSES, default="mse", help="default: mse")
    sheet.add_argument("--lr", type=positive(float), default=0.5,
                       help="learning rate of the step (default: 0.5)")
    sheet.add_argument("--out", default="worksheet", metavar="DIR",
                       help="output folder (default: worksheet)")
    sheet.add_argument("--force", action="store_true",
                       help="overwrite the files of an earlier worksheet in DIR")
    sheet.set_defaults(run=_cmd_worksheet)


def _cmd_check(args: argparse.Namespace) -> int:
    from ..check import StudentError, check_backprop

    preflight.network_size(args.sizes, args.samples, "check", "Choose smaller --sizes.",
                           itemsize=8)
    try:
        reports = check_backprop(args.student, activation=args.activation, loss=args.loss,
                                 sizes=tuple(args.sizes), n_samples=args.samples, seed=args.seed)
    except StudentError as err:  # the file itself is broken: the check ran and failed
        raise RunFailed(str(err)) from err
    for report in reports:
        print(report.text())
    failed = [r for r in reports if not r.passed]
    if failed:
        names = sorted({m for r in failed for m in r.mistakes if m not in ("inherited", "unknown")})
        raise RunFailed(f"check failed for {', '.join(r.piece for r in failed)}"
                        + (f" (recognised: {', '.join(names)})" if names else "")
                        + "; the report above says which equations and entries.")
    return 0


def _cmd_worksheet(args: argparse.Namespace) -> int:
    from ..atomic import atomic_write
    from ..io import save
    from ..worksheet import make_worksheet

    out = Path(args.out)
    preflight.outputs(folders=[("--out", args.out, _WORKSHEET_FILES)])
    existing = [name for name in _WORKSHEET_FILES if (out / name).exists()]
    if existing and not args.force:
        raise ValueError(f"{out / existing[0]} exists (an earlier worksheet); pass --force to "
                         f"overwrite it, or choose another --out")
    sheet = make_worksheet(seed=args.seed, sizes=args.sizes, activation=args.activation,
                           loss=args.loss, learning_rate=args.lr)
    texts: dict[str, Any] = {
        "exercise.md": sheet.exercise_markdown(), "solution.md": sheet.solution_markdown(),
        "worksheet.json": json.dumps(sheet.to_dict(), indent=1) + "\n"}
    try:
        texts["exercise.pdf"], texts["solution.pdf"] = sheet.exercise_pdf(), sheet.solution_pdf()
    except ImportError:
        print("glassnet worksheet: matplotlib is not installed, so no PDF "
              "(pip install 'glassnet[plot]')", file=sys.stderr)
    names = [*texts, "network.npz"]
    out.mkdir(parents=True, exist_ok=True)
    for name, content in texts.items():
        data = content.encode() if isinstance(content, str) else content
        atomic_write(out / name, lambda f, data=data: f.write(data))
    save(sheet.network, out / "network.npz", extra={"worksheet": {"seed": args.seed}})
    print(f"wrote {', '.join(names)} to {out}")
    return 0
