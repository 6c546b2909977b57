"""``glassnet playground``: serve the interactive page on this machine."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import preflight
from .args import port
from .errors import UsageError

__all__ = ["add_parsers"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parsers(sub: Any) -> None:
    """Add ``playground`` to the subcommands."""
    play = sub.add_parser("playground", help="the interactive playground in the browser",
                          description="Serve the playground page (needs the web extra: "
                          "pip install 'glassnet[web]'). It listens on 127.0.0.1 only, unless "
                          "--host names another address and --allow-remote is given.")
    play.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    play.add_argument("--port", type=port, default=8000, help="default: 8000")
    play.add_argument("--open", action="store_true", help="open the page in a web browser")
    play.add_argument("--allow-remote", action="store_true",
                      help="allow a --host other than the loopback address: anyone who can reach "
                      "it can use the server's CPU")
    play.set_defaults(run=_cmd_playground)


def _cmd_playground(args: argparse.Namespace) -> int:
    local = args.host in LOOPBACK
    if not local and not args.allow_remote:
        raise UsageError(f"playground: --host {args.host} would let other machines use "
                         "this server; add --allow-remote if that is what you want")
    try:
        from .. import web
    except ImportError as err:
        raise ImportError(f"the playground needs the web extra ({err}); "
                          "install it with: pip install 'glassnet[web]'") from None
    preflight.port_free(args.host, args.port)
    if not local:
        print(f"glassnet playground: warning: listening on {args.host}, reachable from other "
              "machines; there is no authentication.", file=sys.stderr)
    url = f"http://{'localhost' if local else args.host}:{args.port}/"
    print(f"glassnet playground on {url} (Ctrl+C to stop)")
    if args.open:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, [url]).start()
    web.serve(args.host, args.port)
    return 0
