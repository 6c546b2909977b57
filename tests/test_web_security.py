"""Who may drive the playground: Host, Origin and Content-Type rules, and the session cap.

Every state-changing route is found from the app's own route table, so a route added later is
tested too. The same rules through a real uvicorn and a real Chromium page on a second loopback
origin are in test_web_browser_security.py.
"""

import asyncio
import re

import httpx
import pytest
from starlette.routing import Route
from web_client import ORIGIN, WebSocketDenialResponse, page_client

from glassnet.web.app import create_app
from glassnet.web.guard import SAFE_METHODS
from glassnet.web.settings import Limits

SMALL = {"layers": [{"units": 3, "activation": "tanh"}], "n_samples": 40}


@pytest.fixture
def client():
    with page_client(create_app(Limits(max_sessions=8))) as c:
        yield c


@pytest.fixture
def sid(client):
    return client.post("/api/sessions", json=SMALL).json()["session"]


def store(client):
    return client.app.state.store


def state_of(client, sid):
    """What a session looks like from outside and inside, to compare before and after."""
    session = store(client).live[sid].session
    snap = client.get(f"/api/sessions/{sid}").json()
    return (snap["settings"], snap["epoch"], snap["sizes"], snap["train"], snap["history"],
            session.net, session.optimizer, [p.copy().tolist() for p in session.net.params().values()])


def writes(app, sid):
    """(method, path, body) of every route that is not GET/HEAD, from the route table."""
    bodies = {"settings": {"noise": 0.1}, "explain": {"index": 0}, "data": {"csv": "1,2,0\n"},
              "drivers": {"layer": 1, "j": 0, "k": 0}, "sessions": SMALL}
    out = []
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        for method in sorted(route.methods - SAFE_METHODS):
            path = route.path.replace("{sid}", sid)
            out.append((method, path, bodies.get(path.rsplit("/", 1)[-1])))
    return out


def reads(app, sid):
    """Every GET route's path, from the route table, and the static files the page loads."""
    paths = [route.path.replace("{sid}", sid) for route in app.routes
             if isinstance(route, Route) and "GET" in route.methods]
    return paths + ["/static/app.js", "/static/stepper.js", "/static/drivers.js",
                    "/static/style.css"]


def test_the_route_table_has_the_reads_we_know(client, sid):
    assert {p.replace(sid, "{sid}") for p in reads(client.app, sid)} >= {
        "/", "/api/options", "/api/sessions/{sid}", "/api/sessions/{sid}/export",
        "/api/sessions/{sid}/export.py", "/static/stepper.js", "/static/drivers.js"}


def assert_refused(response, status, field, pattern):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field and re.search(pattern, body["error"]), body


def test_the_route_table_has_the_writes_we_know(client, sid):
    found = {(m, p.replace(sid, "{sid}")) for m, p, _ in writes(client.app, sid)}
    assert found == {("POST", "/api/sessions"), ("DELETE", "/api/sessions/{sid}"),
                     ("PUT", "/api/sessions/{sid}/settings")} | {
        ("POST", f"/api/sessions/{{sid}}/{name}")
        for name in ("play", "pause", "step", "reset", "data", "explain", "gradcheck",
                     "drivers")}


# ---------------------------------------------------------------- Host
FOREIGN_HOSTS = [
    "evil.example", "evil.example:8000", "127.0.0.1:8001", "localhost:80", "127.0.0.1",
    "localhost.evil.example:8000", "127.0.0.1.nip.io:8000", "0.0.0.0:8000", "[::2]:8000",
    "127.0.0.2:8000", "", "127.0.0.1:8000@evil.example", "127.0.0.1:8000 evil.example",
]


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_a_foreign_host_is_refused_on_every_route(client, sid, host):
    before = state_of(client, sid)
    n_sessions = len(store(client).live)
    for path in reads(client.app, sid):
        assert_refused(client.get(path, headers={"host": host}), 421, "host",
                       "answers only to .*127.0.0.1:8000")
    for method, path, body in writes(client.app, sid):
        response = client.request(method, path, json=body, headers={"host": host})
        assert_refused(response, 421, "host", "answers only to")
    assert len(store(client).live) == n_sessions and state_of(client, sid) == before


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000",
                                  "LOCALHOST:8000"])
def test_the_loopback_names_with_the_port_are_served(client, host):
    assert client.get("/api/options", headers={"host": host}).status_code == 200
    assert client.post("/api/sessions", json=SMALL, headers={
        "host": host, "origin": f"http://{host.lower()}"}).status_code == 201


def test_a_repeated_host_header_is_refused(client):
    response = client.get("/api/options", headers=[("host", "127.0.0.1:8000"),
                                                   ("host", "evil.example")])
    assert_refused(response, 421, "host", "repeated")


def test_the_port_in_host_is_the_port_the_request_came_to():
    with page_client(create_app(), origin="http://localhost") as c:  # port 80
        assert c.get("/api/options", headers={"host": "localhost"}).status_code == 200
        assert c.get("/api/options", headers={"host": "localhost:80"}).status_code == 200
        assert c.get("/api/options", headers={"host": "localhost:8000"}).status_code == 421


def test_an_extra_host_name_is_served_when_given():
    with page_client(create_app(hosts=["127.0.0.1", "192.168.1.5"])) as c:
        assert c.get("/api/options", headers={"host": "192.168.1.5:8000"}).status_code == 200
        assert c.get("/api/options", headers={"host": "localhost:8000"}).status_code == 421


def test_a_foreign_host_cannot_open_a_stream(client, sid):
    with pytest.raises(WebSocketDenialResponse) as info:
        with client.websocket_connect(f"/api/sessions/{sid}/stream",
                                      headers={"host": "evil.example:8000"}):
            pass
    assert info.value.status_code == 421 and info.value.json()["field"] == "host"
    assert store(client).live[sid].streams == 0


# ---------------------------------------------------------------- Origin
FOREIGN_ORIGINS = [
    "http://evil.example", "http://127.0.0.1:8001", "http://localhost:9999", "null",
    "https://127.0.0.1:8000", "http://127.0.0.1:8000.evil.example", "http://127.0.0.1",
    "http://evil.example:8000", "file://", "http://127.0.0.1:8000/", "",
]


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_a_foreign_origin_changes_nothing(client, sid, origin):
    before = state_of(client, sid)
    n_sessions = len(store(client).live)
    for method, path, body in writes(client.app, sid):
        response = client.request(method, path, json=body, headers={"origin": origin})
        assert_refused(response, 403, "origin", "only the playground's own page")
    assert len(store(client).live) == n_sessions and state_of(client, sid) == before
    assert not store(client).live[sid].playing


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_a_foreign_origin_cannot_open_a_stream(client, sid, origin):
    with pytest.raises(WebSocketDenialResponse) as info:
        with client.websocket_connect(f"/api/sessions/{sid}/stream", headers={"origin": origin}):
            pass
    assert info.value.status_code == 403 and "own page" in info.value.json()["error"]
    assert store(client).live[sid].streams == 0


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS[:4])
def test_a_foreign_origin_cannot_read_either(client, sid, origin):
    for path in reads(client.app, sid):
        assert_refused(client.get(path, headers={"origin": origin}), 403, "origin", "refused")


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8000", "http://localhost:8000",
                                    "http://[::1]:8000", "HTTP://LOCALHOST:8000"])
def test_the_servers_own_origins_are_served(client, origin):
    assert client.post("/api/sessions", json=SMALL, headers={"origin": origin}).status_code == 201


def test_a_state_change_or_a_stream_without_origin_is_refused_and_reads_are_served(client, sid):
    before = state_of(client, sid)
    n_sessions = len(store(client).live)
    del client.headers["origin"]
    for method, path, body in writes(client.app, sid):
        response = client.request(method, path, json=body)
        assert "origin" not in response.request.headers
        assert_refused(response, 403, "origin", "needs an Origin header")
    with pytest.raises(WebSocketDenialResponse) as info:
        with client.websocket_connect(f"/api/sessions/{sid}/stream"):
            pass
    assert info.value.status_code == 403 and "needs an Origin" in info.value.json()["error"]
    assert len(store(client).live) == n_sessions and state_of(client, sid) == before
    assert client.get(f"/api/sessions/{sid}").status_code == 200  # reading changes nothing


def test_a_repeated_origin_header_is_refused(client):
    response = client.post("/api/sessions", json=SMALL, headers=[
        ("origin", ORIGIN), ("origin", "http://evil.example")])
    assert_refused(response, 403, "origin", "repeated")


# ---------------------------------------------------------------- Content-Type
SIMPLE_TYPES = ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x", None, "application/jsonp", "text/json",
                "application/json-seq", "text/csv"]


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
def test_a_write_that_is_not_json_changes_nothing(client, sid, content_type):
    before = state_of(client, sid)
    n_sessions = len(store(client).live)
    del client.headers["content-type"]
    headers = {} if content_type is None else {"content-type": content_type}
    for method, path, body in writes(client.app, sid):
        response = client.request(method, path, content=b'{"noise": 0.1}', headers=headers)
        assert ("content-type" in response.request.headers) == (content_type is not None)
        assert_refused(response, 415, "content-type", "must have Content-Type application/json")
    assert len(store(client).live) == n_sessions and state_of(client, sid) == before


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON"])
def test_json_writes_are_served(client, sid, content_type):
    response = client.put(f"/api/sessions/{sid}/settings", content=b'{"noise": 0.1}',
                          headers={"content-type": content_type})
    assert response.status_code == 200 and response.json()["settings"]["noise"] == 0.1


def test_a_cors_preflight_is_never_granted(client):
    response = client.options("/api/sessions", headers={
        "origin": ORIGIN, "access-control-request-method": "POST",
        "access-control-request-headers": "content-type"})
    assert response.status_code == 405
    assert not any(h.startswith("access-control-") for h in response.headers)


def test_no_answer_carries_cors_headers(client, sid):
    for response in (client.get("/api/options"), client.get(f"/api/sessions/{sid}"),
                     client.post(f"/api/sessions/{sid}/step")):
        assert not any(h.startswith("access-control-") for h in response.headers)


def test_get_routes_change_nothing(client, sid):
    client.post(f"/api/sessions/{sid}/step")
    before = state_of(client, sid)
    for route in client.app.routes:
        if isinstance(route, Route) and route.methods == {"GET", "HEAD"}:
            assert client.get(route.path.replace("{sid}", sid)).status_code == 200
    assert state_of(client, sid) == before


# ---------------------------------------------------------------- the session cap
def create_many(app, n, before=0):
    """``before`` sessions one by one, then ``n`` creations at once; their status codes."""
    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN,
                                     headers={"origin": ORIGIN}) as c:
            for _ in range(before):
                assert (await c.post("/api/sessions", json=SMALL)).status_code == 201
            responses = await asyncio.gather(*[c.post("/api/sessions", json=SMALL)
                                               for _ in range(n)])
        return [r.status_code for r in responses]

    return asyncio.run(run())


def test_50_concurrent_creations_against_a_cap_of_32_create_exactly_32():
    app = create_app()  # the default cap
    codes = create_many(app, 50)
    assert sorted(codes) == [201] * 32 + [503] * 18
    assert len(app.state.store.live) == 32 and app.state.store.reserved == 0


@pytest.mark.parametrize("cap, before, n", [(5, 0, 20), (5, 4, 10), (5, 5, 3), (1, 0, 8)])
def test_concurrent_creations_never_pass_the_cap(cap, before, n):
    app = create_app(Limits(max_sessions=cap))
    codes = create_many(app, n, before)
    assert codes.count(201) == cap - before and codes.count(503) == n - (cap - before)
    assert len(app.state.store.live) == cap


def test_a_failed_creation_gives_its_place_back(monkeypatch):
    import glassnet.web.store

    app = create_app(Limits(max_sessions=2))

    def broken(*args):
        raise MemoryError("no room")

    with page_client(app, raise_server_exceptions=False) as c:
        monkeypatch.setattr(glassnet.web.store, "Session", broken)
        assert c.post("/api/sessions", json=SMALL).status_code == 500
        assert "no room" not in c.post("/api/sessions", json=SMALL).text
        monkeypatch.undo()
        assert app.state.store.reserved == 0
        assert [c.post("/api/sessions", json=SMALL).status_code for _ in range(3)] == [201, 201, 503]
