"""The playground server: a Starlette ASGI app with a JSON API and a WebSocket of live frames.

Routes (all JSON unless said otherwise; errors are ``{"error": message, "field": name}`` with
an HTTP 4xx status):

=======  ==================================  ===============================================
GET      /                                   the page (static/index.html)
GET      /static/...                         app.js, style.css (package data, no CDN)
GET      /api/options                        limits and the choices for every setting
POST     /api/sessions                       new session from settings -> snapshot (201)
GET      /api/sessions/{id}                  snapshot
PUT      /api/sessions/{id}/settings         change settings -> snapshot
POST     /api/sessions/{id}/play | pause     start or stop the background training
POST     /api/sessions/{id}/step | reset     one epoch / fresh weights -> snapshot
POST     /api/sessions/{id}/data             ``{"csv": text}`` (x1, x2, label) -> snapshot
POST     /api/sessions/{id}/explain          ``{"index": i}`` -> glassnet.explain for one point:
                                            the text, the steps (``to_dict``) and where each
                                            step lies on the diagram (the step-through mode)
POST     /api/sessions/{id}/gradcheck        the per-tensor gradient check table
POST     /api/sessions/{id}/drivers          ``{"layer": l, "j": j, "k": k}`` (and optionally
                                            ``"top": m``, default 5) -> which training points
                                            drive ``dW^l[j, k]``: glassnet.per_sample.
                                            weight_drivers at the current weights
GET      /api/sessions/{id}/export           the network as a glassnet .npz (attachment)
GET      /api/sessions/{id}/export.py        the network as Python code that rebuilds it
                                            with glassnet, weights exact (attachment)
DELETE   /api/sessions/{id}                  end the session
WS       /api/sessions/{id}/stream           frames while training; send "ack" for the next
=======  ==================================  ===============================================

Before any route, :class:`~glassnet.web.guard.LoopbackGuard` refuses foreign ``Host`` and
``Origin`` values and state-changing requests that are not ``application/json``; GET routes
never change state. Bodies are read only through :func:`~glassnet.web.bodies.read_json`
(limits on size, depth and number literals), and a refused request changes nothing.

Training runs in a per-session asyncio task that hands each slice of work (about 10 ms of
mini-batch steps) to a worker thread, so the event loop keeps serving other requests. A new
frame is built only after the page has acknowledged the previous one: a slow page gets fewer
frames instead of a growing queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .bodies import ApiError, JSONAnswer, read_json
from .guard import LOOPBACK_NAMES, LoopbackGuard
from .settings import (
    ACTIVATION_CHOICES,
    DATASETS,
    FEATURES,
    LIMITS,
    OPTIMIZERS,
    PROBLEMS,
    REGULARIZATIONS,
    Limits,
    Settings,
    SettingsError,
    parse_settings,
)
from .store import Live, SessionStore
from .upload import parse_csv

__all__ = ["MAX_WS_MESSAGE", "STATIC_DIR", "ApiError", "SessionStore", "create_app", "serve"]

STATIC_DIR = Path(__file__).with_name("static")
MAX_WS_MESSAGE = 1024
"""Largest WebSocket message the server takes (the page only ever sends "ack")."""


def create_app(limits: Limits = LIMITS, clock: Callable[[], float] = time.monotonic,
               sweep_every_s: float = 30.0, hosts: Iterable[str] = LOOPBACK_NAMES) -> Starlette:
    """The playground's ASGI app.

    Parameters
    ----------
    limits : Limits, default=LIMITS
        Bounds on sessions, bodies and settings.
    clock : callable, default=time.monotonic
        The sessions' clock, for their expiry.
    sweep_every_s : float, default=30.0
        How often idle sessions are looked for.
    hosts : iterable of str, default=LOOPBACK_NAMES
        The host names the server answers to (see :class:`~glassnet.web.guard.LoopbackGuard`).
    """
    store = SessionStore(limits, clock)
    defaults = Settings(limits=limits)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def sweeper() -> None:
            while True:
                await asyncio.sleep(sweep_every_s)
                await store.sweep()

        task = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()
            await store.close()

    async def settings_from(request: Request, base: Settings, allow_empty: bool = False) -> Settings:
        """The request's JSON body, within the limits, validated into settings on ``base``."""
        body = await read_json(request, limits.max_json_bytes, allow_empty=allow_empty)
        return parse_settings({} if body is None else body, base)

    async def field_from(request: Request, name: str, example: str, limit: int) -> Any:
        """The value of a body that must be exactly ``{name: value}``."""
        body = await read_json(request, limit)
        if not isinstance(body, dict) or set(body) != {name}:
            raise ApiError(422, f"Send {example}.", name)
        return body[name]

    async def live_of(request: Request) -> Live:
        return await store.get(request.path_params["sid"])

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def options(request: Request) -> Response:
        return JSONAnswer({
            "limits": asdict(limits),
            "defaults": defaults.to_json(),
            "datasets": DATASETS,
            "features": list(FEATURES),
            "activations": list(ACTIVATION_CHOICES),
            "problems": list(PROBLEMS),
            "optimizers": list(OPTIMIZERS),
            "regularizations": list(REGULARIZATIONS),
        })

    async def create(request: Request) -> Response:
        settings = await settings_from(request, defaults, allow_empty=True)
        if settings.dataset == "custom":
            raise ApiError(422, "A new session cannot start on the 'custom' data set: upload a "
                           "CSV to the session first.", "dataset")
        live = await store.create(settings)
        return JSONAnswer(await live.run(live.session.snapshot), status_code=201)

    async def read(request: Request) -> Response:
        return await _snapshot(await live_of(request))

    async def delete(request: Request) -> Response:
        await live_of(request)
        await store.remove(request.path_params["sid"])
        return JSONAnswer({"deleted": request.path_params["sid"]})

    async def change(request: Request) -> Response:
        live = await live_of(request)
        settings = await settings_from(request, live.session.settings)
        await live.run(live.session.apply, settings)
        return await _snapshot(live)

    async def play(request: Request) -> Response:
        live = await live_of(request)
        if live.session.error is not None:
            raise ApiError(409, live.session.error, "learning_rate")
        live.play()
        return JSONAnswer({"playing": True, "epoch": live.session.epoch})

    async def pause(request: Request) -> Response:
        live = await live_of(request)
        await live.pause()
        return await _snapshot(live)

    async def step(request: Request) -> Response:
        live = await live_of(request)
        await live.pause()
        await live.run(live.session.step)
        return await _snapshot(live)

    async def reset(request: Request) -> Response:
        live = await live_of(request)
        await live.pause()
        await live.run(live.session.reset)
        return await _snapshot(live)

    async def upload(request: Request) -> Response:
        live = await live_of(request)
        text = await field_from(request, "csv", '{"csv": "<the text of the CSV file>"}',
                                2 * limits.max_csv_bytes + 64)  # room for JSON's escapes
        if not isinstance(text, str):
            raise ApiError(422, f"'csv' must be the text of the file; got {type(text).__name__}.",
                           "csv")
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limits.max_csv_bytes:
            raise ApiError(413, f"The CSV is {size} bytes; the limit is {limits.max_csv_bytes}.",
                           "csv")
        checked = parse_csv(text, limits)  # the whole file, before the session is touched
        await live.run(live.session.use_upload, checked)
        return await _snapshot(live)

    async def explain(request: Request) -> Response:
        live = await live_of(request)
        index = await field_from(request, "index", '{"index": i}, the index of a train (then '
                                 "test) point", limits.max_json_bytes)
        return JSONAnswer(await live.run(live.session.explain, index))

    async def drivers(request: Request) -> Response:
        live = await live_of(request)
        body = await read_json(request, limits.max_json_bytes)
        return JSONAnswer(await live.run(live.session.drivers, body))

    async def check(request: Request) -> Response:
        live = await live_of(request)
        return JSONAnswer(await live.run(live.session.gradcheck))

    async def export(request: Request) -> Response:
        live = await live_of(request)
        data = await live.run(live.session.export)
        name = f"glassnet-playground-{live.session.settings.dataset}.npz"
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def export_python(request: Request) -> Response:
        live = await live_of(request)
        code = await live.run(live.session.export_python)
        name = f"glassnet_playground_{live.session.settings.dataset}.py"
        return Response(code, media_type="text/x-python; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            live = await store.get(websocket.path_params["sid"])
        except ApiError as err:
            await websocket.close(code=4404, reason=err.message[:120])
            return
        live.streams += 1
        live.frame_wanted = True
        send_task = asyncio.create_task(_send_frames(websocket, live))
        try:
            await _receive_acks(websocket, live, store.clock)
        finally:
            send_task.cancel()
            with suppress(asyncio.CancelledError):
                await send_task
            live.streams -= 1

    async def _snapshot(live: Live) -> Response:
        snapshot = await live.run(live.session.snapshot)
        return JSONAnswer({**snapshot, "playing": live.playing})

    routes = [
        Route("/", index),
        Route("/api/options", options),
        Route("/api/sessions", create, methods=["POST"]),
        Route("/api/sessions/{sid}", read, methods=["GET"]),
        Route("/api/sessions/{sid}", delete, methods=["DELETE"]),
        Route("/api/sessions/{sid}/settings", change, methods=["PUT"]),
        Route("/api/sessions/{sid}/play", play, methods=["POST"]),
        Route("/api/sessions/{sid}/pause", pause, methods=["POST"]),
        Route("/api/sessions/{sid}/step", step, methods=["POST"]),
        Route("/api/sessions/{sid}/reset", reset, methods=["POST"]),
        Route("/api/sessions/{sid}/data", upload, methods=["POST"]),
        Route("/api/sessions/{sid}/explain", explain, methods=["POST"]),
        Route("/api/sessions/{sid}/gradcheck", check, methods=["POST"]),
        Route("/api/sessions/{sid}/drivers", drivers, methods=["POST"]),
        Route("/api/sessions/{sid}/export", export, methods=["GET"]),
        Route("/api/sessions/{sid}/export.py", export_python, methods=["GET"]),
        WebSocketRoute("/api/sessions/{sid}/stream", stream),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    handlers = {ApiError: _api_error, SettingsError: _settings_error, HTTPException: _http_error,
                Exception: _internal_error}
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(LoopbackGuard, names=hosts)],
                    exception_handlers=handlers)  # type: ignore[arg-type]
    app.state.store = store
    return app


async def _send_frames(websocket: WebSocket, live: Live) -> None:
    """Send each frame the trainer makes ready, until the socket closes."""
    with suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            await live.frame_ready.wait()
            live.frame_ready.clear()
            await websocket.send_text(live.frame_text)


async def _receive_acks(websocket: WebSocket, live: Live, clock: Callable[[], float]) -> None:
    """Read the page's messages: "ack" asks for the next frame; a binary frame ends the stream."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is None:
            await websocket.close(code=1003, reason="This stream takes text messages only: "
                                  "send 'ack' when a frame is drawn.")
            return
        live.session.last_seen = clock()
        if message["text"] == "ack":
            live.frame_wanted = True


async def _api_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, ApiError)
    return JSONAnswer({"error": err.message, "field": err.field}, status_code=err.status)


async def _settings_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, SettingsError)
    return JSONAnswer({"error": str(err), "field": err.field}, status_code=422)


async def _http_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, HTTPException)
    return JSONAnswer({"error": err.detail, "field": None}, status_code=err.status_code,
                        headers=err.headers)


async def _internal_error(request: Request, err: Exception) -> Response:
    """A bug, not bad input: a JSON 500 that shows no server detail (the log has the traceback)."""
    return JSONAnswer({"error": "The server failed on this request (a bug in glassnet; the "
                         "server's log has the details).", "field": None}, status_code=500)


def serve(host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "warning") -> None:
    """Run the playground with uvicorn until interrupted.

    The server answers to the loopback names and to ``host`` itself (an IPv6 address in
    brackets), on ``port``.
    """
    import uvicorn

    name = f"[{host}]" if ":" in host else host
    hosts = LOOPBACK_NAMES if name in LOOPBACK_NAMES else (*LOOPBACK_NAMES, name)
    uvicorn.run(create_app(hosts=hosts), host=host, port=port, log_level=log_level,
                ws="websockets-sansio", ws_max_size=MAX_WS_MESSAGE)
