"""The live sessions and their training tasks: what the server holds between requests.

:class:`SessionStore` holds at most ``limits.max_sessions`` sessions. A place is reserved in the
same step as the count is checked (no ``await`` between them), so concurrent creations can never
overshoot the limit. :class:`Live` is one session's asynchronous side: its lock, the training
task that hands slices of work to a worker thread, and the frame hand-off to the page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .bodies import ApiError, dumps
from .session import Session
from .settings import LIMITS, Limits, Settings

__all__ = ["TRAIN_SLICE_S", "Live", "SessionStore"]

TRAIN_SLICE_S = 0.01
"""Training work per hand-off to the worker thread; a frame can follow each slice."""


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
            self.frame_text = dumps({"type": "frame", "playing": False,
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
                    self.frame_text = dumps({"type": "frame", "playing": True, **frame})
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
        self.reserved = 0  # places taken by sessions still being built

    async def create(self, settings: Settings) -> Live:
        """A new session; 503 when the live and the reserved places reach the limit."""
        await self.sweep()
        held = len(self.live) + self.reserved
        if held >= self.limits.max_sessions:
            raise ApiError(503, f"The server already holds {held} sessions, its limit. "
                           "Close another playground tab, or wait for idle sessions to expire "
                           f"({self.limits.session_ttl_s:g} s).")
        self.reserved += 1  # in the same step as the check: no await in between
        try:
            session = await asyncio.to_thread(Session, settings, self.clock())
        finally:
            self.reserved -= 1
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
