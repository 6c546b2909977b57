"""Shared helpers of the playground tests: a TestClient that talks as the playground's own page.

The server answers only to its loopback names with its own Origin, and takes only JSON on the
routes that change state (glassnet/web/guard.py), so the client sends what the page sends.
"""

import warnings
from urllib.parse import urljoin

import pytest

pytest.importorskip("starlette", reason="the playground tests need the web extra (starlette)")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")
with warnings.catch_warnings():
    # Starlette >= 1.9 prefers the httpx2 fork and warns once, at import, when given httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

ORIGIN = "http://127.0.0.1:8000"
"""The server's own origin in the TestClient (its base URL)."""
PAGE_HEADERS = {"Origin": ORIGIN, "Content-Type": "application/json"}


class PageClient(TestClient):
    """A TestClient whose relative WebSocket URLs go to ``ORIGIN`` too (not ws://testserver)."""

    def websocket_connect(self, url, *args, **kwargs):
        return super().websocket_connect(urljoin("ws" + ORIGIN[4:], url), *args, **kwargs)


def page_client(app, **kwargs) -> PageClient:
    """A client on ``ORIGIN`` sending the page's Origin and Content-Type by default."""
    return PageClient(app, base_url=ORIGIN, headers=PAGE_HEADERS, **kwargs)


def csv_body(text: str) -> dict:
    """The JSON body of an upload."""
    return {"csv": text}
