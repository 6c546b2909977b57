"""The playground under a real uvicorn, attacked from a real Chromium page on a second loopback
origin, from a rebound DNS name, and with raw httpx and websockets clients.

The hostile page is served by a second server on 127.0.0.1 (another port: another origin). It
knows a live session's id, as an attacker who guessed it would, and tries every way a page can
reach the playground: simple POSTs (text/plain, forms, beacons), CORS requests, a WebSocket.
None of them may change anything, while the playground's own page keeps working.
"""

import asyncio
import http.server
import json
import shutil
import threading
from contextlib import contextmanager

import httpx
import pytest
from web_client import CHROMIUM_ARGS, uvicorn_server

pytest.importorskip("uvicorn", reason="the playground tests need the web extra (uvicorn)")
websockets = pytest.importorskip("websockets", reason="the stream tests need websockets")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

from glassnet.web.app import create_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REBOUND = "rebound.test"  # resolved to 127.0.0.1 by Chromium's resolver rules below
SMALL = {"layers": [{"units": 3, "activation": "tanh"}], "n_samples": 40}


@pytest.fixture(scope="module")
def server():
    app = create_app()
    with uvicorn_server(app) as url:
        yield {"url": url, "app": app, "port": int(url.rsplit(":", 1)[1])}


@pytest.fixture
def victim(server):
    """A live session, created as the playground's own page would; its id and the store."""
    response = httpx.post(server["url"] + "/api/sessions", json=SMALL,
                          headers={"origin": server["url"]})
    assert response.status_code == 201
    sid = response.json()["session"]
    yield sid
    httpx.delete(f"{server['url']}/api/sessions/{sid}",
                 headers={"origin": server["url"], "content-type": "application/json"})


def watch(server, sid):
    """What an attack must not change: the number of sessions and the victim's state."""
    store = server["app"].state.store
    live = store.live[sid]
    session = live.session
    return (len(store.live), session.epoch, session.settings, session.net, live.playing,
            live.streams, session.custom)


# ---------------------------------------------------------------- raw clients on uvicorn
@pytest.mark.parametrize("headers, status", [
    ({"host": "evil.example"}, 421), ({"host": f"{REBOUND}:{{port}}"}, 421),
    ({"origin": "http://evil.example"}, 403), ({"origin": "http://127.0.0.1:1"}, 403),
    ({"origin": "null"}, 403), ({"content-type": "text/plain", "origin": "{origin}"}, 415),
    ({}, 403),  # no Origin at all: not the playground's own page
])
def test_uvicorn_refuses_foreign_requests_with_json(server, victim, headers, status):
    headers = {k: v.format(port=server["port"], origin=server["url"]) for k, v in headers.items()}
    before = watch(server, victim)
    for method, path in (("POST", "/api/sessions"), ("POST", f"/api/sessions/{victim}/step"),
                         ("PUT", f"/api/sessions/{victim}/settings")):
        response = httpx.request(method, server["url"] + path, content=b'{"noise": 0.2}',
                                 headers={"content-type": "application/json", **headers})
        assert response.status_code == status and response.json()["error"]
    assert watch(server, victim) == before


def ws_url(server, sid):
    return f"ws://127.0.0.1:{server['port']}/api/sessions/{sid}/stream"


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", "null",
                                    f"http://{REBOUND}"])
def test_uvicorn_refuses_a_foreign_stream_with_a_json_403(server, victim, origin):
    async def attempt():
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(server, victim), origin=origin):
                pass
        return info.value.response

    response = asyncio.run(attempt())
    assert response.status_code == 403
    assert "own page" in json.loads(response.body)["error"]
    assert server["app"].state.store.live[victim].streams == 0


def test_uvicorn_closes_a_stream_on_a_binary_frame_with_1003(server, victim):
    async def attempt():
        async with connect(ws_url(server, victim), origin=server["url"]) as ws:
            await ws.send(b"\x00\x01")
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await ws.recv()
            return info.value.rcvd

    close = asyncio.run(attempt())
    assert close.code == 1003 and "text messages only" in close.reason


def test_uvicorn_serves_the_pages_own_stream(server, victim):
    async def attempt():
        async with connect(ws_url(server, victim), origin=server["url"]) as ws:
            return json.loads(await ws.recv())

    httpx.post(f"{server['url']}/api/sessions/{victim}/play",
               headers={"origin": server["url"], "content-type": "application/json"})
    assert asyncio.run(attempt())["type"] == "frame"


def test_uvicorn_creates_exactly_the_cap_under_50_concurrent_creations():
    app = create_app()  # cap 32

    async def flood(url):
        async with httpx.AsyncClient(base_url=url, headers={"origin": url}) as client:
            responses = await asyncio.gather(*[client.post("/api/sessions", json=SMALL)
                                               for _ in range(50)])
        return sorted(r.status_code for r in responses)

    with uvicorn_server(app) as url:
        assert asyncio.run(flood(url)) == [201] * 32 + [503] * 18
        assert len(app.state.store.live) == 32


# ---------------------------------------------------------------- a hostile page in Chromium
ATTACKS = """
const P = "%(playground)s", SID = "%(sid)s", S = P + "/api/sessions/" + SID;
window.results = {};
async function attempt(name, run) {
  try { results[name] = await run(); } catch (err) { results[name] = "refused: " + err.name; }
}
const simple = (path, body, type) => fetch(P + path, {method: "POST", mode: "no-cors",
  headers: type ? {"Content-Type": type} : {}, body}).then((r) => "sent, " + r.type);
const cors = (method, path, body) => fetch(P + path, {method, body,
  headers: body ? {"Content-Type": "application/json"} : {}}).then(async (r) => "read " + r.status + " " + await r.text());
(async () => {
  await attempt("create_text_plain", () => simple("/api/sessions", "{}", "text/plain"));
  await attempt("create_form", () => simple("/api/sessions", new URLSearchParams({a: "1"})));
  await attempt("create_multipart", () => simple("/api/sessions", new FormData()));
  await attempt("step_text_plain", () => simple("/api/sessions/" + SID + "/step", "", "text/plain"));
  await attempt("play_no_body", () => simple("/api/sessions/" + SID + "/play"));
  await attempt("upload_text_plain", () => simple("/api/sessions/" + SID + "/data",
    JSON.stringify({csv: "x1,x2,label\\n" + "1,2,0\\n3,4,1\\n".repeat(10)}), "text/plain"));
  await attempt("beacon", () => navigator.sendBeacon(P + "/api/sessions/" + SID + "/reset", "{}") ? "queued" : "not queued");
  await attempt("create_json", () => cors("POST", "/api/sessions", "{}"));
  await attempt("settings_json", () => cors("PUT", "/api/sessions/" + SID + "/settings", '{"noise": 0.2}'));
  await attempt("delete", () => cors("DELETE", "/api/sessions/" + SID));
  await attempt("read_options", () => cors("GET", "/api/options"));
  await attempt("read_snapshot", () => cors("GET", "/api/sessions/" + SID));
  await attempt("stream", () => new Promise((resolve) => {
    const ws = new WebSocket(P.replace("http", "ws") + "/api/sessions/" + SID + "/stream");
    ws.onopen = () => resolve("opened");
    ws.onclose = (e) => resolve("closed " + e.code);
  }));
  const form = document.createElement("form");  // a navigation, in a hidden frame
  form.method = "POST"; form.enctype = "text/plain"; form.target = "sink";
  form.action = P + "/api/sessions/" + SID + "/reset";
  const field = document.createElement("input"); field.name = '{"a":"'; field.value = '"}';
  form.appendChild(field); document.body.appendChild(form);
  await attempt("form_post", () => new Promise((resolve) => {
    document.querySelector("iframe").onload = () => resolve("submitted"); form.submit();
  }));
  window.done = true;
})();
"""


@contextmanager
def hostile_site(playground, sid):
    """A second server on 127.0.0.1 (another port, so another origin) serving the attacks."""
    page = ("<!doctype html><title>evil</title><iframe name=sink></iframe><script>"
            + ATTACKS % {"playground": playground, "sid": sid} + "</script>").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            *CHROMIUM_ARGS, f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.mark.browser
def test_a_page_on_another_loopback_origin_cannot_drive_the_playground(server, victim, page):
    before = watch(server, victim)
    with hostile_site(server["url"], victim) as evil:
        assert evil.rsplit(":", 1)[1] != str(server["port"])
        page.goto(evil)
        page.wait_for_function("window.done === true", timeout=20_000)
        results = page.evaluate("window.results")
    simple = ("create_text_plain", "create_form", "create_multipart", "step_text_plain",
              "play_no_body", "upload_text_plain")
    assert all(results[name] == "sent, opaque" for name in simple), results  # sent, and...
    assert watch(server, victim) == before, results                          # ...refused
    for name in ("create_json", "settings_json", "delete", "read_options", "read_snapshot"):
        assert results[name] == "refused: TypeError", (name, results[name])  # CORS blocks it
    assert results["stream"].startswith("closed") and results["stream"] != "opened"
    assert results["form_post"] == "submitted"
    assert watch(server, victim) == before


@pytest.mark.browser
def test_a_rebound_name_gets_nothing_even_same_origin(server, victim, page):
    """DNS rebinding: a page at http://rebound.test:<port>/ that now resolves to 127.0.0.1 is
    same-origin with the server, so the browser lets it read answers; the Host check refuses."""
    before = watch(server, victim)
    response = page.goto(f"http://{REBOUND}:{server['port']}/")
    assert response.status == 421 and "answers only to" in response.json()["error"]
    results = page.evaluate("""async (sid) => {
        const out = {};
        for (const [name, path, init] of [
            ["options", "/api/options", {}],
            ["snapshot", "/api/sessions/" + sid, {}],
            ["create", "/api/sessions", {method: "POST", body: "{}",
                                         headers: {"Content-Type": "application/json"}}],
            ["step", "/api/sessions/" + sid + "/step", {method: "POST",
                                                      headers: {"Content-Type": "application/json"}}],
        ]) {
            const r = await fetch(path, init);
            out[name] = [r.status, (await r.json()).field];
        }
        out.stream = await new Promise((resolve) => {
            const ws = new WebSocket("ws://" + location.host + "/api/sessions/" + sid + "/stream");
            ws.onopen = () => resolve("opened"); ws.onclose = (e) => resolve("closed " + e.code);
        });
        return out;
    }""", victim)
    for name in ("options", "snapshot", "create", "step"):
        assert results[name] == [421, "host"], (name, results[name])
    assert results["stream"].startswith("closed")
    assert watch(server, victim) == before


@pytest.mark.browser
def test_the_playgrounds_own_page_still_works_beside_the_attacks(server, victim, page):
    with hostile_site(server["url"], victim) as evil:
        page.goto(evil)
        page.wait_for_function("window.done === true", timeout=20_000)
        own = page.context.new_page()
        own.goto(server["url"] + "/")
        own.wait_for_function("window.glassnet && window.glassnet.ready", timeout=10_000)
        own.click("#step")
        own.wait_for_function("document.querySelector('#epoch').textContent === '000,001'")
        own.click("#play")
        own.wait_for_function("window.glassnet.frames >= 3")  # the stream works
        own.click("#play")
        own.set_input_files("#csv", files=[{"name": "ok.csv", "mimeType": "text/csv", "buffer": (
            "x1,x2,label\n" + "".join(f"{i % 5},{i % 3},{i % 2}\n" for i in range(30))).encode()}])
        own.wait_for_function("window.glassnet.state.settings.dataset === 'custom'")
        assert own.evaluate("window.glassnet.errors") == []
    assert server["app"].state.store.live[victim].session.epoch == 0
