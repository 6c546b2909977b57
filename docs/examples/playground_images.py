"""Draw the playground pictures of docs/playground.md and docs/teaching.md (run by hand).

    PYTHONPATH=src python docs/examples/playground_images.py [NAME ...]

Starts the playground on a free port of 127.0.0.1, drives it in Chromium (Debian's package,
through Playwright) and writes (all of them, or only the NAMEs given):

* docs/img/playground.png: a 2-4-2-1 tanh network trained on circles;
* docs/img/playground_classes.png: three classes (the three-arm spiral), regions per class;
* docs/img/playground_stepper.png: the step-through mode on a residual network, at the
  identity-skip step of the backward pass;
* docs/img/playground_drivers.png: the training points that drive the gradient of one weight
  (W^1[1, 1]) of a network trained on exclusive or, ringed on the data and listed under the
  diagram: the largest terms nearly cancel.
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


def open_page(page, url: str, hash_: str) -> None:
    page.goto(url + "/" + hash_)
    page.reload()
    page.wait_for_function("window.glassnet.ready")


def playground(page, url: str) -> None:
    open_page(page, url, "#dataset=circles")
    train(page, "Number(document.querySelector('#loss-test').textContent) < 0.06")
    page.screenshot(path=str(IMG / "playground.png"))


def playground_classes(page, url: str) -> None:
    open_page(page, url, "#dataset=spiral3&layers=8:tanh,8:tanh&optimizer=adam")
    train(page, "Number(document.querySelector('#loss-train').textContent) < 0.3", 120_000)
    page.screenshot(path=str(IMG / "playground_classes.png"))


def playground_stepper(page, url: str) -> None:
    open_page(page, url, "#dataset=gauss3&layers=3:tanh,3:tanh:0.1&residual=1&lr=0.1")
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


def playground_drivers(page, url: str) -> None:
    open_page(page, url, "#dataset=xor&layers=4:tanh,2:tanh&lr=0.03&noise=0.1")
    for _ in range(3):
        page.click("#step")
        page.wait_for_timeout(150)
    page.fill("#drivers-layer", "1")
    page.fill("#drivers-j", "1")
    page.fill("#drivers-k", "1")
    page.keyboard.press("Enter")
    page.wait_for_function("window.glassnet.drivers.data !== null")
    page.locator("#drivers").focus()  # the number field's spinner out of the picture
    page.wait_for_timeout(200)
    page.screenshot(path=str(IMG / "playground_drivers.png"),
                    clip={"x": 250, "y": 100, "width": 1030, "height": 760})


PICTURES = {f.__name__: f for f in (playground, playground_classes, playground_stepper,
                                    playground_drivers)}


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(PICTURES))
    if unknown:
        sys.exit(f"playground_images.py: no picture {unknown[0]!r}; the pictures are "
                 f"{', '.join(PICTURES)}")
    with uvicorn_server(create_app()) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name in names or PICTURES:
            PICTURES[name](page, url)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:])
