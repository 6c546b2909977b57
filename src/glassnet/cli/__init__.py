"""The ``glassnet`` command line.

Subcommands, one module per group: :mod:`.train` (``train``), :mod:`.models` (``evaluate``,
``predict``, ``info``), :mod:`.glassbox` (``gradcheck``, ``vanishing``, ``explain``, ``plot``),
:mod:`.second_order` (``hvp``, ``sharpness``, ``per-sample``, ``landscape``), :mod:`.teach`
(``check``, ``worksheet``), :mod:`.playground` and :mod:`.launch` (restarts from a checkpoint). Each module has ``add_parsers(sub)``; :data:`COMMAND_GROUPS` lists them
in the order ``glassnet --help`` shows them.

Every subcommand has ``--help``. Every failure is one line ``glassnet: error: ...`` on standard
error with exit status 2 for a usage error and 1 for a run that failed (:mod:`.errors`), never
a traceback unless ``--debug`` is given. Output paths are checked before any work starts
(:mod:`.preflight`: each output's kind, suffix and what it would replace), every command on a
saved model reads its data one way (:mod:`.model_data`), and a closed pipe on the output never
stops a run (:mod:`.streams`).
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Sequence

from .. import __version__
from . import glassbox, launch, models, playground, second_order, teach, train
from .args import Parser, add_limits, check_flags
from .errors import RunFailed, UsageError, failure, one_line_warning
from .streams import pipe_safe
from .train import TRAIN_DEFAULTS, build_recipe

__all__ = ["COMMAND_GROUPS", "TRAIN_DEFAULTS", "RunFailed", "UsageError", "build_parser",
           "build_recipe", "main"]

COMMAND_GROUPS = [train, models, glassbox, second_order, teach, playground, launch]
"""The modules whose ``add_parsers(sub)`` add the subcommands, in the order of ``--help``."""

_DEBUG_HELP = "on an error, print the traceback too"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="glassnet", description="Fully connected networks, back-propagation "
                    "written out by hand and verified.")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
    for command in sub.choices.values():  # --debug after the command works too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=_DEBUG_HELP)
        add_limits(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # read before parsing, so that parsing errors honour it too
    with pipe_safe(), warnings.catch_warnings():
        warnings.showwarning = one_line_warning
        try:
            parser = build_parser()
            check_flags(parser, argv)
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help()
                return 2
            return int(args.run(args))
        except SystemExit:  # --help and --version
            raise
        except BaseException as err:  # noqa: BLE001 - every failure becomes one line
            return _report(err, debug)


def _report(err: BaseException, debug: bool) -> int:
    from ..distributed import RankFailedError
    from ..training import TrainingInterrupted

    status, message = failure(err)
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    if isinstance(err, RankFailedError) and err.rank != 0:
        return 1  # every rank stops; rank 0 alone says which failed and why
    if isinstance(err, TrainingInterrupted) and not err.root:
        return status  # every rank stops with 75; rank 0 alone says where the checkpoint is
    print(f"glassnet: error: {message}", file=sys.stderr)
    return status
