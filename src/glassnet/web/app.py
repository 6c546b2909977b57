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
POST     /api/sessions/{id}/data             upload a CSV (x1, x2, label) -> snapshot
POST     /api/sessions/{id}/explain          ``{"index": i}`` -> the derivation for one point
POST     /api/sessions/{id}/gradcheck        the per-tensor gradient check table
GET      /api/sessions/{id}/export           the network as a glassnet .npz (attachment)
DELETE   /api/sessions/{id}                  end the session
WS       /api/sessions/{id}/stream           frames while training; send "ack" for the next
=======  ==================================  ===============================================

Training runs in a per-session asyncio task that hands each slice of work (about 10 ms of
mini-batch steps) to a worker thread, so the event loop keeps serving other requests. A new
frame is built only after the page has acknowledged the previous one: a slow page gets fewer
frames instead of a growing queue.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .session import Session
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

__all__ = ["STATIC_DIR", "ApiError", "SessionStore", "create_app", "serve"]

STATIC_DIR = Path(__file__).with_name("static")
TRAIN_SLICE_S = 0.01
"""Training work per hand-off to the worker thread; a frame can follow each slice."""


class ApiError(Exception):
    """An error answered as JSON with ``status``."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


class Live:
    """A session's asynchronous side: its lock, training task and frame hand-off."""

    def __init__(self, session: Session):
        self.session = session
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None
        self.stop = False
        self.frame_wanted = False
        self.frame_ready = asyncio.Event()
        self.frame_text = ""
        self.streams = 0

    @property
    def playing(self) -> bool:
        return self.task is not None and not self.task.done()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread, under the session's lock."""
        async with self.lock:
            return await asyncio.to_thread(fn, *args)

    def play(self) -> None:
        if not self.playing:
            self.stop = False
            self.task = asyncio.create_task(self._train())

    async def pause(self) -> None:
        """Stop training after the current slice (a slice is never cut off mid-step)."""
        if self.task is not None:
            self.stop = True
            await self.task
            self.task = None

    def _wants_frame(self) -> bool:
        """Read by the worker thread between steps: a page waits for a frame."""
        return self.frame_wanted

    async def _train(self) -> None:
        try:
            await self._train_slices()
        except Exception as err:  # noqa: BLE001 -- shown in the page, not lost in a dead task
            self.session.error = f"Training stopped: {type(err).__name__}: {err}"
            self.frame_text = json.dumps({"type": "frame", "playing": False,
                                          **self.session.frame()})
            self.frame_ready.set()

    async def _train_slices(self) -> None:
        session = self.session
        while not self.stop and session.error is None:
            async with self.lock:
                await asyncio.to_thread(session.train_for, TRAIN_SLICE_S, self._wants_frame)
                if self.frame_wanted or session.error is not None:
                    self.frame_wanted = False
                    frame = await asyncio.to_thread(session.frame)
                    self.frame_text = json.dumps({"type": "frame", "playing": True, **frame})
                    self.frame_ready.set()
            await asyncio.sleep(0)


class SessionStore:
    """The live sessions, at most ``limits.max_sessions``; idle ones expire.

    A session is idle when no request has touched it for ``limits.session_ttl_s`` seconds and
    no page holds its stream open. ``clock`` is injectable for tests.
    """

    def __init__(self, limits: Limits = LIMITS, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.clock = clock
        self.live: dict[str, Live] = {}

    async def create(self, settings: Settings) -> Live:
        await self.sweep()
        if len(self.live) >= self.limits.max_sessions:
            raise ApiError(503, f"The server already holds {len(self.live)} sessions, its limit. "
                           "Close another playground tab, or wait for idle sessions to expire "
                           f"({self.limits.session_ttl_s:g} s).")
        session = await asyncio.to_thread(Session, settings, self.clock())
        live = Live(session)
        self.live[session.id] = live
        return live

    async def get(self, session_id: str) -> Live:
        await self.sweep()
        live = self.live.get(session_id)
        if live is None:
            raise ApiError(404, f"No session {session_id!r}: it expired or never existed. "
                           "Reload the page to start a new one.", "session")
        live.session.last_seen = self.clock()
        return live

    async def remove(self, session_id: str) -> None:
        live = self.live.pop(session_id, None)
        if live is not None:
            await live.pause()

    async def sweep(self) -> list[str]:
        """End the sessions idle for longer than the time-to-live; return their ids."""
        deadline = self.clock() - self.limits.session_ttl_s
        expired = [sid for sid, live in self.live.items()
                   if live.streams == 0 and live.session.last_seen < deadline]
        for sid in expired:
            await self.remove(sid)
        return expired

    async def close(self) -> None:
        for sid in list(self.live):
            await self.remove(sid)


def create_app(limits: Limits = LIMITS, clock: Callable[[], float] = time.monotonic,
               sweep_every_s: float = 30.0) -> Starlette:
    """The playground's ASGI app. ``limits`` bounds sessions, bodies and settings."""
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

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def options(request: Request) -> Response:
        return JSONResponse({
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
        body = await _json_body(request, limits.max_json_bytes, allow_empty=True)
        settings = parse_settings(body or {}, defaults)
        if settings.dataset == "custom":
            raise ApiError(422, "A new session cannot start on the 'custom' data set: upload a "
                           "CSV to the session first.", "dataset")
        live = await store.create(settings)
        return JSONResponse(await live.run(live.session.snapshot), status_code=201)

    async def read(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        return await _snapshot(live)

    async def delete(request: Request) -> Response:
        await store.get(request.path_params["sid"])
        await store.remove(request.path_params["sid"])
        return JSONResponse({"deleted": request.path_params["sid"]})

    async def change(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        body = await _json_body(request, limits.max_json_bytes)
        settings = parse_settings(body, live.session.settings)
        await live.run(live.session.apply, settings)
        return await _snapshot(live)

    async def play(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        if live.session.error is not None:
            raise ApiError(409, live.session.error, "learning_rate")
        live.play()
        return JSONResponse({"playing": True, "epoch": live.session.epoch})

    async def pause(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        await live.pause()
        return await _snapshot(live)

    async def step(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        await live.pause()
        await live.run(live.session.step)
        return await _snapshot(live)

    async def reset(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        await live.pause()
        await live.run(live.session.reset)
        return await _snapshot(live)

    async def upload(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        raw = await _body(request, limits.max_csv_bytes, "CSV upload")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, "The CSV must be UTF-8 text.", "csv") from None
        await live.pause()
        await live.run(live.session.use_csv, text, limits.max_samples, limits.min_samples)
        return await _snapshot(live)

    async def explain(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        body = await _json_body(request, limits.max_json_bytes)
        if not isinstance(body, dict) or set(body) != {"index"}:
            raise ApiError(422, 'Send {"index": i}, the index of a train (then test) point.',
                           "index")
        import glassnet  # the library may or may not have grown explain() yet

        return JSONResponse(await live.run(live.session.explain, body["index"],
                                           getattr(glassnet, "explain", None)))

    async def check(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        return JSONResponse(await live.run(live.session.gradcheck))

    async def export(request: Request) -> Response:
        live = await store.get(request.path_params["sid"])
        data = await live.run(live.session.export)
        name = f"glassnet-playground-{live.session.settings.dataset}.npz"
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def stream(websocket: WebSocket) -> None:
        try:
            live = await store.get(websocket.path_params["sid"])
        except ApiError as err:
            await websocket.close(code=4404, reason=err.message[:120])
            return
        await websocket.accept()
        live.streams += 1
        live.frame_wanted = True

        async def sender() -> None:
            while True:
                await live.frame_ready.wait()
                live.frame_ready.clear()
                await websocket.send_text(live.frame_text)

        send_task = asyncio.create_task(sender())
        try:
            while True:
                message = await websocket.receive_text()
                live.session.last_seen = store.clock()
                if message == "ack":
                    live.frame_wanted = True
        except WebSocketDisconnect:
            pass
        finally:
            send_task.cancel()
            live.streams -= 1

    async def _snapshot(live: Live) -> Response:
        snapshot = await live.run(live.session.snapshot)
        return JSONResponse({**snapshot, "playing": live.playing})

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
        Route("/api/sessions/{sid}/export", export, methods=["GET"]),
        WebSocketRoute("/api/sessions/{sid}/stream", stream),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    handlers = {ApiError: _api_error, SettingsError: _settings_error, HTTPException: _http_error}
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers=handlers)  # type: ignore[arg-type]
    app.state.store = store
    return app


async def _body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"The {what} is {int(declared)} bytes; the limit is {limit}.", "body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"The {what} is over the limit of {limit} bytes.", "body")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_body(request: Request, limit: int, allow_empty: bool = False) -> Any:
    raw = await _body(request, limit, "request body")
    if not raw.strip() and allow_empty:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, f"The request body is not valid JSON: {err}.", "body") from None


async def _api_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, ApiError)
    return JSONResponse({"error": err.message, "field": err.field}, status_code=err.status)


async def _settings_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, SettingsError)
    return JSONResponse({"error": str(err), "field": err.field}, status_code=422)


async def _http_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, HTTPException)
    return JSONResponse({"error": err.detail, "field": None}, status_code=err.status_code,
                        headers=err.headers)


def serve(host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "warning") -> None:
    """Run the playground with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level=log_level, ws="websockets-sansio")
