"""The browser tests' shared fixtures: the app under uvicorn, Chromium, and a page opener.

Skipped, with the reason, when Playwright or Chromium is missing: ``pip install -e '.[test]'``
and ``apt-get install chromium`` (Playwright's own browser download is not used).
"""

import shutil
from pathlib import Path

import pytest

from web_client import CHROMIUM_ARGS, uvicorn_server

pytest.importorskip("starlette", reason="the playground tests need the web extra (starlette)")
pytest.importorskip("uvicorn", reason="the playground tests need the web extra (uvicorn)")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser tests need Playwright: pip install playwright")

from glassnet.web.app import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NO_CHROMIUM = ("no chromium on PATH (apt-get install chromium); Playwright's own browser "
               "download is not used")


@pytest.fixture(scope="module")
def server():
    """The app under uvicorn in a thread, on a free port of 127.0.0.1."""
    app = create_app()
    with uvicorn_server(app) as url:
        yield {"url": url + "/", "app": app}


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield context
    context.close()


@pytest.fixture
def open_page(context, server, request):
    """``open_page(hash='')`` -> a loaded page; console errors fail the test; a screenshot after.

    A test that provokes an HTTP error on purpose lists its text in ``open_page.expected``.
    """
    pages, problems = [], []

    def open_(hash_: str = ""):
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.goto(server["url"] + hash_)
        page.wait_for_function("window.glassnet && window.glassnet.ready", timeout=10_000)
        pages.append(page)
        return page

    open_.expected = []  # type: ignore[attr-defined]
    yield open_
    ARTIFACTS.mkdir(exist_ok=True)
    for i, page in enumerate(pages):
        suffix = f"-{i}" if i else ""
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}{suffix}.png"))
    unexpected = [p for p in problems if not any(e in p for e in open_.expected)]
    assert unexpected == [], f"errors in the browser console: {unexpected}"


def session_of(server, page):
    return server["app"].state.store.live[page.evaluate("window.glassnet.state.session")].session


