"""How many training updates per second reach the playground page, and does it stay interactive?

Starts the playground server on a free port of 127.0.0.1, opens the page in Chromium (Debian's
``chromium``, driven by Playwright) with a 2-8-8-1 tanh network on circles and a 50x50 boundary
grid, presses play, and for ``--seconds`` counts the frames the page has drawn. Meanwhile it
measures what "interactive" means here:

* main-thread lag: a 50 ms ``setInterval`` in the page records how late each tick fires;
* long tasks: the page's PerformanceObserver reports any task over 50 ms;
* API round trip: the page fetches ``/api/options`` every 100 ms while training runs.

Usage::

    python bench/playground_updates.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import threading
import time

import uvicorn
from playwright.sync_api import sync_playwright

from glassnet.web.app import create_app

PROBE = """() => {
  window.bench = { lags: [], longTasks: [], fetches: [] };
  let last = performance.now();
  setInterval(() => { const now = performance.now(); window.bench.lags.push(now - last - 50); last = now; }, 50);
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.bench.longTasks.push(e.duration); })
    .observe({ entryTypes: ["longtask"] });
  setInterval(async () => {
    const t = performance.now();
    await fetch("/api/options");
    window.bench.fetches.push(performance.now() - t);
  }, 100);
}"""


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    load = os.getloadavg()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port,
                                           log_level="warning", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)

    url = f"http://127.0.0.1:{port}/#dataset=circles&layers=8:tanh,8:tanh&grid=50"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.wait_for_function("window.glassnet.ready")
        assert page.evaluate("window.glassnet.state.snapshot.sizes") == [2, 8, 8, 1]
        page.evaluate(PROBE)
        page.click("#play")
        page.wait_for_function("window.glassnet.frames > 0")
        frames0, epoch0, t0 = page.evaluate("window.glassnet.frames"), page.inner_text("#epoch"), time.perf_counter()
        time.sleep(args.seconds)
        frames1, t1 = page.evaluate("window.glassnet.frames"), time.perf_counter()
        bench = page.evaluate("window.bench")
        epoch1, loss = page.inner_text("#epoch"), page.inner_text("#loss-test")
        page.click("#play")
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)

    rate = (frames1 - frames0) / (t1 - t0)
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} before the run; "
          "network 2-8-8-1 tanh, circles, 50x50 boundary grid")
    print(f"updates drawn by the page: {rate:.1f} per second ({frames1 - frames0} in {t1 - t0:.1f} s)")
    print(f"epochs trained: {epoch0} -> {epoch1}; test loss {loss}")
    print(f"main-thread lag of a 50 ms timer: median {percentile(bench['lags'], 0.5):.1f} ms, "
          f"p95 {percentile(bench['lags'], 0.95):.1f} ms, max {max(bench['lags'], default=0):.1f} ms")
    print(f"long tasks (> 50 ms) in the page: {len(bench['longTasks'])}")
    print(f"API round trip while training: median {percentile(bench['fetches'], 0.5):.1f} ms, "
          f"p95 {percentile(bench['fetches'], 0.95):.1f} ms ({len(bench['fetches'])} requests)")


if __name__ == "__main__":
    main()
