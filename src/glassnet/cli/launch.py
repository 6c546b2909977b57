"""``glassnet launch``: run a training command, and again from its checkpoint when it fails.

The logic is :func:`glassnet.launch.run_with_restarts`; this module is its command line.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .args import count

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add ``launch`` to the subcommands."""
    launch = sub.add_parser(
        "launch", help="run a training command, again from its checkpoint when it fails",
        description="Run COMMAND (e.g. mpiexec -n 4 glassnet train --distributed "
        "--checkpoint-dir ck ...); when it fails and its checkpoint exists, run it again with "
        "--resume, up to --max-restarts times. A usage error (status 2) is never retried. "
        "Signals sent to this command are passed on to COMMAND and end it.")
    launch.add_argument("--max-restarts", type=count(1000, "beyond, the failure is not a fluke",
                                                     low=0),
                        default=3,
                        help="how many times to run COMMAND again at most (default: 3)")
    launch.add_argument("--checkpoint-dir", default=None,
                        help="where COMMAND writes its checkpoint (default: its own "
                        "--checkpoint-dir)")
    launch.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    launch.set_defaults(run=_cmd_launch)


def _cmd_launch(args: argparse.Namespace) -> int:
    from ..launch import run_with_restarts

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return run_with_restarts(command, args.max_restarts, args.checkpoint_dir,
                             log=lambda line: print(f"glassnet launch: {line}", file=sys.stderr))
