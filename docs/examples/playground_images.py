"""Draw the playground pictures of docs/playground.md and docs/teaching.md (run by hand).

    PYTHONPATH=src python docs/examples/playground_images.py

Starts the playground on a free port of 127.0.0.1, drives it in Chromium (Debian's package,
through Playwright) and writes:

* docs/img/playground.png: a 2-4-2-1 tanh network trained on circles;
* docs/img/playground_classes.png: three classes (the three-arm spiral), regions per class;
* docs/img/playground_stepper.png: the step-through mode on a residual network, at the
  identity-skip step of the backward pass.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from glassnet.web.app import create_app
from web_client import CHROMIUM_ARGS, uvicorn_server

IMG = Path("docs/img")


def train(page, until: str, timeout_ms: int = 60_000) -> None:
    """Press play until the JavaScript condition ``until`` holds, then pause."""
    page.click("#play")
    page.wait_for_function(until, timeout=timeout_ms)
    page.click("#play")
    page.wait_for_timeout(300)


def main() -> None:
    with uvicorn_server(create_app()) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        page.goto(url + "/#dataset=circles")
        page.wait_for_function("window.glassnet.ready")
        train(page, "Number(document.querySelector('#loss-test').textContent) < 0.06")
        page.screenshot(path=str(IMG / "playground.png"))

        page.goto(url + "/#dataset=spiral3&layers=8:tanh,8:tanh&optimizer=adam")
        page.reload()
        page.wait_for_function("window.glassnet.ready")
        train(page, "Number(document.querySelector('#loss-train').textContent) < 0.3", 120_000)
        page.screenshot(path=str(IMG / "playground_classes.png"))

        page.goto(url + "/#dataset=gauss3&layers=3:tanh,3:tanh:0.1&residual=1&lr=0.1")
        page.reload()
        page.wait_for_function("window.glassnet.ready")
        for _ in range(5):
            page.click("#step")
            page.wait_for_timeout(150)
        page.get_by_role("button", name="Step through the forward and backward pass").click()
        page.wait_for_function("window.glassnet.stepper.data !== null")
        rules = [s["rule"] for s in page.evaluate("window.glassnet.stepper.data.explanation.steps")]
        for _ in range(rules.index("dC/da^1 = dC/da^2 + (W^2)^T delta^2")):
            page.keyboard.press("ArrowRight")
        page.wait_for_timeout(200)
        page.screenshot(path=str(IMG / "playground_stepper.png"),
                        clip={"x": 250, "y": 100, "width": 1030, "height": 700})
        browser.close()


if __name__ == "__main__":
    main()
