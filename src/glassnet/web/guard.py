"""The one gate every request passes before a route sees it: who may talk to the playground.

The server has no accounts, so it must not be drivable by the other web pages the user visits.
:class:`LoopbackGuard` wraps the whole ASGI app (HTTP and WebSocket alike) and refuses, with a
JSON ``{"error": message, "field": name}``:

* **421** a ``Host`` that is not one of the server's own names with the server's port
  (``127.0.0.1``, ``localhost``, ``[::1]``, and the address given to ``serve``). After DNS
  rebinding a foreign page is same-origin with the server, but its requests still carry the
  foreign name in ``Host``.
* **403** an ``Origin`` that is not the server's own origin (``http://<one of those names>:<port>``),
  on any request, and a WebSocket handshake or a state-changing request without ``Origin``.
  Browsers send ``Origin`` on every WebSocket handshake and on every request that can change
  state, so a page elsewhere can neither open a session's stream nor drive it; a script that
  drives the server sends the server's own origin, as the page does.
* **415** a state-changing request (any method but GET, HEAD and OPTIONS) whose
  ``Content-Type`` is not ``application/json``. A cross-origin page may send ``text/plain``,
  form or multipart bodies without asking first; ``application/json`` needs a CORS preflight,
  which this server never grants.

The rule follows the method, not a list of routes, so a new route cannot forget it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LOOPBACK_NAMES", "SAFE_METHODS", "LoopbackGuard"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that never change state; every other method must send JSON."""
DEFAULT_PORTS = {"http": 80, "https": 443}
REPEATED = "(repeated)"
"""What a Host or Origin header sent twice reads as: a value no rule accepts."""


class LoopbackGuard:
    """ASGI middleware: serve only the server's own ``Host`` and ``Origin``, and JSON writes.

    Parameters
    ----------
    app : ASGI app
        The app behind the gate.
    names : iterable of str, default=LOOPBACK_NAMES
        The host names the server answers to (IPv6 addresses in brackets). The port is the one
        the request arrived on (the ASGI ``server`` of the connection).
    """

    def __init__(self, app: ASGIApp, names: Iterable[str] = LOOPBACK_NAMES):
        self.app = app
        self.names = frozenset(name.lower() for name in names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = self.problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await _send_json(send, *problem)
        else:
            await _deny_websocket(scope, receive, send, *problem)

    def problem(self, scope: Scope) -> tuple[int, str, str] | None:
        """``(status, message, field)`` of the first rule the request breaks, or None."""
        headers = _headers(scope)
        secure = scope.get("scheme") in ("https", "wss")
        port = (scope.get("server") or (None, None))[1]
        own_hosts = self.hosts(port, secure)
        host = headers.get("host", "").lower()
        if host not in own_hosts:
            return (421, f"This server answers only to {_listed(own_hosts)} (it serves this "
                    f"computer alone); the request was for Host {_short(host)!r}.", "host")
        origin = headers.get("origin")
        changes = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
        if origin is None and changes:
            what = "A WebSocket" if scope["type"] == "websocket" else f"A {scope['method']} request"
            return (403, f"{what} needs an Origin header, the playground's own page "
                    f"({_listed({f'http://{h}' for h in own_hosts})}).", "origin")
        if origin is not None:
            scheme = "https" if secure else "http"
            if origin.lower() not in {f"{scheme}://{h}" for h in own_hosts}:
                return (403, f"Requests from the page at {_short(origin)!r} are refused: only "
                        "the playground's own page may use this server.", "origin")
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json":
                return (415, f"A {scope['method']} request must have Content-Type "
                        f"application/json; got {_short(media) or 'none'!r}.", "content-type")
        return None

    def hosts(self, port: int | None, secure: bool) -> set[str]:
        """The ``Host`` values of this server on ``port`` (also without it for the default)."""
        if port is None:  # a Unix socket: no port to compare
            return set(self.names)
        hosts = {f"{name}:{port}" for name in self.names}
        if port == DEFAULT_PORTS["https" if secure else "http"]:
            hosts |= self.names
        return hosts


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name; a repeated Host or Origin reads as invalid."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1").strip()
        out[name] = REPEATED if name in ("host", "origin") and name in out else value
    return out


def _listed(hosts: set[str]) -> str:
    return ", ".join(sorted(hosts))


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _body(status: int, message: str, field: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"error": message, "field": field}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return headers, body


async def _send_json(send: Send, status: int, message: str, field: str) -> None:
    headers, body = _body(status, message, field)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _deny_websocket(scope: Scope, receive: Receive, send: Send, status: int, message: str,
                          field: str) -> None:
    """Refuse the handshake: an HTTP answer with the JSON where the server can send one."""
    message_in: dict[str, Any] = dict(await receive())
    if message_in.get("type") != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        headers, body = _body(status, message, field)
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # the server answers 403 to a close before accept
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
