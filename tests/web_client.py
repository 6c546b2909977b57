"""Shared helpers of the playground tests: a TestClient that talks as the playground's own page.

The server answers only to its loopback names with its own Origin, and takes only JSON on the
routes that change state (glassnet/web/guard.py), so the client sends what the page sends.
"""

import contextlib
import socket
import threading
import time
import warnings
from urllib.parse import urljoin

import pytest

pytest.importorskip("starlette", reason="the playground tests need the web extra (starlette)")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")
with warnings.catch_warnings():
    # Starlette >= 1.9 prefers the httpx2 fork and warns once, at import, when given httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient, WebSocketDenialResponse

__all__ = ["CHROMIUM_ARGS", "ORIGIN", "PAGE_HEADERS", "PageClient", "TestClient",
           "WebSocketDenialResponse", "csv_body", "page_client", "uvicorn_server"]

ORIGIN = "http://127.0.0.1:8000"
"""The server's own origin in the TestClient (its base URL)."""
PAGE_HEADERS = {"Origin": ORIGIN, "Content-Type": "application/json"}


class PageClient(TestClient):
    """A TestClient whose relative WebSocket URLs go to ``ORIGIN`` too (not ws://testserver)."""

    origin = ORIGIN

    def websocket_connect(self, url, *args, **kwargs):
        return super().websocket_connect(urljoin("ws" + self.origin[4:], url), *args, **kwargs)


def page_client(app, origin: str = ORIGIN, **kwargs) -> PageClient:
    """A client on ``origin`` sending that Origin and the page's Content-Type by default."""
    client = PageClient(app, base_url=origin, headers={**PAGE_HEADERS, "Origin": origin}, **kwargs)
    client.origin = origin
    return client


def csv_body(text: str) -> dict:
    """The JSON body of an upload."""
    return {"csv": text}


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextlib.contextmanager
def uvicorn_server(app):
    """``app`` under uvicorn in a thread on a free port of 127.0.0.1; yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the playground server did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
