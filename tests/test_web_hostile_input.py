"""Malformed and hostile input to every playground handler: a 4xx JSON error, never a 500,
and the session exactly as it was.

The client re-raises any server exception (TestClient's default), so a handler that breaks
fails the test before its status is even looked at.
"""

import json
import re
import tempfile

import numpy as np
import pytest
from web_client import csv_body, page_client

import glassnet.web.session
from glassnet.web.app import create_app
from glassnet.web.bodies import MAX_DEPTH
from glassnet.web.settings import FEATURES, LIMITS

SMALL = {"layers": [{"units": 3, "activation": "tanh"}], "n_samples": 60}
TEMP = tempfile.gettempdir()


@pytest.fixture
def client():
    with page_client(create_app()) as c:
        yield c


@pytest.fixture
def sid(client):
    sid = client.post("/api/sessions", json=SMALL).json()["session"]
    client.post(f"/api/sessions/{sid}/step")
    return sid


def state_of(client, sid):
    session = client.app.state.store.live[sid].session
    snap = client.get(f"/api/sessions/{sid}").json()
    return (snap["settings"], snap["epoch"], snap["sizes"], snap["train"], snap["test"],
            snap["history"], snap["custom_rows"], snap["domain"], session.net, session.optimizer,
            [p.tobytes() for p in session.net.params().values()])  # NaN equals itself


def assert_4xx(response, field=None, pattern=""):
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"] and re.search(pattern, body["error"])
    assert TEMP not in body["error"]
    if field is not None:
        assert body["field"] == field, body
    return body


def rows(n=40, scale=1.0, label=lambda i: i % 2):
    return "x1,x2,label\n" + "".join(f"{scale * ((i % 7) - 3)},{(i % 5) - 2},{label(i)}\n"
                                     for i in range(n))


# ---------------------------------------------------------------- JSON bodies
DEEP = MAX_DEPTH + 1
BAD_JSON = [
    ("[" * 8000 + "]" * 8000, "nests .* more than 8 levels"),      # past Python's recursion limit
    ('{"a":' * 2500 + "1" + "}" * 2500, "nests"),
    ("[" * DEEP + "]" * DEEP, "nests"),
    (json.dumps({"layers": [[[[[[[[[{"units": 2}]]]]]]]]]}), "nests"),
    ('{"seed": ' + "9" * 5000 + "}", "integer of 5000 digits"),      # past int's digit limit
    ('{"seed": -' + "9" * 4000 + "}", "integer of 4000 digits"),
    ('{"n_samples": ' + "1" * 25 + "}", "integer of 25 digits"),
    ('{"layers": [{"units": ' + "7" * 300 + "}]}", "integer of 300 digits"),
    ('{"noise": NaN}', "NaN is not a JSON number"),
    ('{"learning_rate": Infinity}', "Infinity is not a JSON number"),
    ('{"learning_rate": -Infinity}', "Infinity is not a JSON number"),
    ("{not json", "not valid JSON"),
    ('{"noise": 0.1', "not valid JSON"),
    ("", "not valid JSON"),
    ("\ufeff{}", "not valid JSON"),
]


@pytest.mark.parametrize("body, pattern", BAD_JSON, ids=range(len(BAD_JSON)))
def test_malformed_json_is_a_400_on_every_json_route(client, sid, body, pattern):
    before = state_of(client, sid)
    n_sessions = len(client.app.state.store.live)
    for method, path in (("PUT", "settings"), ("POST", "explain"), ("POST", "data"),
                         ("POST", "drivers")):
        assert_4xx(client.request(method, f"/api/sessions/{sid}/{path}", content=body.encode()),
                   "body", pattern)
    if body:  # an empty body is the defaults for a new session
        assert_4xx(client.post("/api/sessions", content=body.encode()), "body", pattern)
    assert state_of(client, sid) == before and len(client.app.state.store.live) == n_sessions


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b'{"noise": "\xe9"}', b"\x00" * 10])
def test_a_body_that_is_not_utf8_is_a_400(client, sid, raw):
    for path in ("settings", "explain", "data", "drivers"):
        method = "PUT" if path == "settings" else "POST"
        assert_4xx(client.request(method, f"/api/sessions/{sid}/{path}", content=raw), "body")


BAD_VALUES = [
    ('{"noise": 1e309}', "noise"),                   # inf once parsed
    ('{"learning_rate": 1e-400}', "learning_rate"),  # 0 once parsed
    ({"noise": 10**19}, "noise"),
    ({"seed": 2**63}, "seed"),
    ({"seed": -(2**63)}, "seed"),
    ({"layers": [{"units": 10**18}]}, "layers[0].units"),
    ({"layers": [{"units": 4, "activation": "x" * 10_000}]}, "layers[0].activation"),
    ({"dataset": ["circles"]}, "dataset"),
    ({"features": {"x1": True}}, "features"),
    ({"residual": None}, "residual"),
    ({"x" * 5000: 1}, None),
    ('{"layers": [{"units": 4, "dropout": 1e309}]}', "layers[0].dropout"),   # inf once parsed
    ({"layers": [{"units": 4, "dropout": 10**19}]}, "layers[0].dropout"),
    ({"layers": [{"units": 4, "dropout": -0.0001}]}, "layers[0].dropout"),
    ({"layers": [{"units": 4, "dropout": 0.9000001}]}, "layers[0].dropout"),
    ({"layers": [{"units": 4, "dropout": {"p": 0.1}}]}, "layers[0].dropout"),
    ({"layers": [{"units": 4, "dropout": "1/2"}]}, "layers[0].dropout"),
    ({"layers": [{"units": 4, "dropout": 0.1, "dropout ": 0.2}]}, "layers"),
]


@pytest.mark.parametrize("body, field", BAD_VALUES, ids=range(len(BAD_VALUES)))
def test_out_of_range_values_are_422s_with_short_messages(client, sid, body, field):
    raw = (body if isinstance(body, str) else json.dumps(body)).encode()
    before = state_of(client, sid)
    for response in (client.post("/api/sessions", content=raw),
                     client.put(f"/api/sessions/{sid}/settings", content=raw)):
        error = assert_4xx(response, field)
        assert response.status_code == 422 and len(error["error"]) < 600
    assert state_of(client, sid) == before


@pytest.mark.parametrize("index", [10**19, -(10**19), 1.5, None, True, "0", [0], {"i": 0}, 1e300])
def test_explain_refuses_a_bad_index(client, sid, index):
    before = state_of(client, sid)
    assert_4xx(client.post(f"/api/sessions/{sid}/explain", json={"index": index}), "index")
    assert state_of(client, sid) == before


# ---------------------------------------------------------------- CSV uploads
LONG_FIELD = "1" * 140_000                      # past csv.field_size_limit() (131072)
QUOTED_LONG = '"' + ("1" * 150 + "\n") * 1000 + '"'  # short lines, one field past the limit
BAD_CSV = [
    (rows(39) + "1.7976931348623157e308,0,1\n", "line 41, column 'x1': .* out of range"),
    (rows(39) + "0,-1.7e308,1\n", "column 'x2'"),
    (rows(39) + "1e308,1e308,0\n", "out of range"),
    (rows(39) + "0,0,1e308\n", "column 'label'"),
    (rows(40, scale=1e200), "out of range"),       # finite, but x1^2 overflows
    (rows(40, scale=1e155), "out of range"),       # finite, but x1*x2 and the grid overflow
    (rows(40, scale=2e6), r"within ±1e\+06"),
    (rows(39) + "1e999,0,1\n", "out of range"),
    (rows(39) + "nan,0,1\n", "'nan' is not a number"),
    (rows(39) + "inf,0,1\n", "'inf' is not a number"),
    (rows(39) + "1_000,0,1\n", "'1_000' is not a number"),
    (rows(39) + "0x10,0,1\n", "not a number"),
    (rows(39) + "1,2\n", "line 41 has 2 fields"),
    (rows(39) + "1,2,3,4\n", "line 41 has 4 fields"),
    (rows(39) + ",2,1\n", "'' is not a number"),
    (rows(39) + "1\x00,2,1\n", "not a number"),
    ("x1,x2,label\n" + LONG_FIELD + ",1,0\n" + rows(20)[12:], "line 2 has 140004 characters"),
    (rows(20) + QUOTED_LONG + ",1,0\n", "field larger than field limit"),
    (rows(20, label=lambda i: 0), "every label is 0; .* at least two classes"),
    (rows(20, label=lambda i: -1), "every label is -1; .* at least two classes"),
    (rows(LIMITS.max_samples + 1), "more than 2000 rows"),
    (rows(9), "between 10 and 2000 rows of data; it has 9"),
    ("x1,x2,label\n", "it has 0"),
    ("\n\n\n", "it has 0"),
    ("x1,x2\n1,2\n", "header \\(line 1\\) names 2 columns"),
]


@pytest.mark.parametrize("text, pattern", BAD_CSV, ids=range(len(BAD_CSV)))
def test_a_bad_csv_is_a_422_and_the_session_is_unchanged(client, sid, text, pattern):
    before = state_of(client, sid)
    error = assert_4xx(client.post(f"/api/sessions/{sid}/data", json=csv_body(text)), "csv",
                       "^The CSV cannot be used: .*" + pattern)
    assert len(error["error"]) < 400
    assert state_of(client, sid) == before
    assert client.post(f"/api/sessions/{sid}/step").json()["epoch"] == 2


def test_a_bad_csv_after_a_good_one_keeps_the_good_one(client, sid):
    good = client.post(f"/api/sessions/{sid}/data", json=csv_body(rows(30))).json()
    before = state_of(client, sid)
    for text, _ in BAD_CSV[:6]:
        assert_4xx(client.post(f"/api/sessions/{sid}/data", json=csv_body(text)), "csv")
    assert state_of(client, sid) == before and before[0]["dataset"] == "custom"
    assert good["custom_rows"] == 30


@pytest.mark.parametrize("body", [{"csv": 42}, {"csv": None}, {"csv": ["1,2,0"]},
                                  {"file": "1,2,0"}, {"csv": "1,2,0", "x": 1}, ["1,2,0"]])
def test_an_upload_body_of_the_wrong_shape_is_a_422(client, sid, body):
    before = state_of(client, sid)
    assert_4xx(client.post(f"/api/sessions/{sid}/data", json=body), "csv")
    assert state_of(client, sid) == before


def test_an_oversized_upload_is_a_413_and_changes_nothing(client, sid):
    before = state_of(client, sid)
    text = rows(40) + "0" * (LIMITS.max_csv_bytes - len(rows(40)) + 1)
    response = client.post(f"/api/sessions/{sid}/data", json=csv_body(text))
    assert response.status_code == 413 and "limit is 262144" in response.json()["error"]
    response = client.post(f"/api/sessions/{sid}/data",
                           content=b'{"csv": "' + b"\\n" * (LIMITS.max_csv_bytes + 1) + b'"}')
    assert response.status_code == 413
    assert state_of(client, sid) == before


@pytest.mark.parametrize("features", [list(FEATURES), ["x1^2"], ["x1*x2", "x2^2"]])
def test_values_at_the_bound_train_with_every_derived_feature(client, sid, features):
    """1e6 is accepted: x1^2 = 1e12 is finite, so a step either trains or says it diverged."""
    client.put(f"/api/sessions/{sid}/settings", json={"features": features})
    snap = client.post(f"/api/sessions/{sid}/data", json=csv_body(rows(40, scale=1e6 / 3))).json()
    assert snap["settings"]["features"] == sorted(features, key=list(FEATURES).index)
    for _ in range(3):
        snap = client.post(f"/api/sessions/{sid}/step").json()
    assert snap["error"] is None or "diverged" in snap["error"]
    bodies = {"explain": {"index": 0}, "drivers": {"layer": 1, "j": 0, "k": 0}}
    for name in ("gradcheck", "explain", "drivers", "reset"):
        assert client.post(f"/api/sessions/{sid}/{name}", json=bodies.get(name)).status_code < 500


@pytest.mark.parametrize("labels, problem", [
    (lambda i: i % 3, "classification"), (lambda i: i % 8 - 3, "classification"),
    (lambda i: i % 9, "regression"), (lambda i: 1e6 * (i % 2), "classification"),
    (lambda i: -1e6 + (i % 3), "classification"), (lambda i: (i % 2) + 0.5, "regression"),
    (lambda i: i, "regression"), (lambda i: "1e0" if i % 2 else "0e5", "classification"),
])
def test_label_columns_of_many_classes_train_and_explain_without_a_500(client, sid, labels,
                                                                       problem):
    snap = client.post(f"/api/sessions/{sid}/data", json=csv_body(rows(48, label=labels))).json()
    assert snap["settings"]["problem"] == problem
    for name in ("step", "gradcheck", "explain", "reset"):
        body = {"index": 5} if name == "explain" else None
        assert client.post(f"/api/sessions/{sid}/{name}", json=body).status_code == 200
    assert client.get(f"/api/sessions/{sid}/export.py").status_code == 200


@pytest.mark.parametrize("method, route, body", [
    ("get", "export.py", None),
    ("post", "gradcheck", None),  # a finite difference of NaN would "pass": no verdict instead
    ("post", "explain", {"index": 3}),
    ("post", "drivers", {"layer": 1, "j": 0, "k": 0}),
])
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_what_reads_diverged_weights_is_a_422_that_changes_nothing(client, sid, method, route,
                                                                   body, bad):
    session = client.app.state.store.live[sid].session
    session.net.layers[-1].b[...] = bad
    before = state_of(client, sid)
    answer = getattr(client, method)(f"/api/sessions/{sid}/{route}",
                                     **({"json": body} if body else {}))
    error = assert_4xx(answer, "network", "not finite")
    assert TEMP not in error["error"] and state_of(client, sid) == before
    assert_4xx(getattr(client, method)(f"/api/sessions/nope/{route}",
                                       **({"json": body} if body else {})), "session")


def test_a_csv_with_a_byte_order_mark_and_blank_lines_is_read(client, sid):
    text = "\ufeff" + rows(20).replace("\n", "\n\n", 3)
    snap = client.post(f"/api/sessions/{sid}/data", json=csv_body(text)).json()
    assert snap["custom_rows"] == 20 and snap["settings"]["problem"] == "classification"


def test_regression_labels_cannot_be_classified(client, sid):
    text = rows(30, label=lambda i: round(0.37 * i, 2))
    assert client.post(f"/api/sessions/{sid}/data", json=csv_body(text)).json()[
        "settings"]["problem"] == "regression"
    before = state_of(client, sid)
    assert_4xx(client.put(f"/api/sessions/{sid}/settings", json={"problem": "classification"}),
               "problem", "make a regression problem")
    assert state_of(client, sid) == before
    assert client.post(f"/api/sessions/{sid}/step").json()["error"] is None


def test_class_labels_can_be_regressed(client, sid):
    client.post(f"/api/sessions/{sid}/data", json=csv_body(rows(30)))
    snap = client.put(f"/api/sessions/{sid}/settings", json={"problem": "regression"}).json()
    assert snap["settings"]["problem"] == "regression" and snap["settings"]["dataset"] == "custom"
    assert client.post(f"/api/sessions/{sid}/step").json()["epoch"] == 1


def test_no_error_shows_a_server_path(client, sid):
    """The upload is read from memory (no temp file to name); export refuses before saving."""
    texts = [client.post(f"/api/sessions/{sid}/data", json=csv_body(t)).json()["error"]
             for t, _ in BAD_CSV]
    assert not any(TEMP in t or "/tmp" in t for t in texts)
    client.app.state.store.live[sid].session.net.layers[0].W[...] = np.nan
    error = assert_4xx(client.get(f"/api/sessions/{sid}/export"), "network", "not finite")
    assert TEMP not in error["error"]


# ---------------------------------------------------------------- explain
@pytest.mark.parametrize("settings, reason", [
    ({"layers": [{"units": 20, "activation": "tanh"}]}, "units"),
    ({"layers": [{"units": 128, "activation": "relu"}] * 10}, ""),
    ({"layers": [{"units": 4, "activation": "sigmoid"}] * 9}, "layers"),
    ({"residual": True, "layers": [{"units": 4, "activation": "tanh"}] * 2}, "Residual|residual"),
    ({"residual": True, "layers": [{"units": 4, "activation": "sigmoid"}] * 9}, ""),
])
def test_explain_on_a_network_it_cannot_write_out_is_a_422(client, sid, settings, reason):
    """Until explain writes out every network the page can build, these are refused with
    explain's own reason; once it can, they are answered. Never a 500, never a change."""
    client.put(f"/api/sessions/{sid}/settings", json=settings)
    before = state_of(client, sid)
    response = client.post(f"/api/sessions/{sid}/explain", json={"index": 1})
    if response.status_code == 200:
        assert response.json()["text"]
    else:
        assert response.status_code == 422
        assert_4xx(response, "network", "^Explain this step cannot show this network: .*" + reason)
    assert state_of(client, sid) == before


@pytest.mark.parametrize("error", [ValueError("too wide"), TypeError("not Dense")])
def test_any_refusal_of_explain_is_a_422_with_its_reason(client, sid, monkeypatch, error):
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(glassnet.web.session, "glassnet_explain", refuse)
    assert_4xx(client.post(f"/api/sessions/{sid}/explain", json={"index": 0}), "network",
               str(error))


# ---------------------------------------------------------------- the stream
@pytest.mark.parametrize("payload", [b"ack", b"", b"\x00" * 1000, bytes(range(256))])
def test_a_binary_frame_closes_the_stream_with_a_code_and_a_reason(client, sid, payload):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        ws.send_text("ack")
        ws.send_bytes(payload)
        message = ws.receive()
        while message["type"] == "websocket.send":  # frames sent before the close
            message = ws.receive()
    assert message["type"] == "websocket.close" and message["code"] == 1003
    assert "text messages only" in message["reason"]
    live = client.app.state.store.live[sid]
    assert live.streams == 0
    assert client.post(f"/api/sessions/{sid}/step").json()["epoch"] == 2


def test_unknown_text_messages_are_ignored(client, sid):
    client.post(f"/api/sessions/{sid}/play")
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        for text in ("hello", "", "{}", "x" * 500):
            ws.send_text(text)
        frame = json.loads(ws.receive_text())
        ws.send_text("ack")
        assert json.loads(ws.receive_text())["epoch"] >= frame["epoch"]
    client.post(f"/api/sessions/{sid}/pause")


def test_a_stream_to_an_unknown_session_is_closed_with_4404(client):
    with client.websocket_connect("/api/sessions/nope/stream") as ws:
        message = ws.receive()
    assert message["type"] == "websocket.close" and message["code"] == 4404
    assert "expired or never existed" in message["reason"]


# ---------------------------------------------------------------- weights past the float range
@pytest.mark.parametrize("value", [1e300, -1e300, 1e154, np.nan, np.inf])
def test_explain_and_the_exports_of_extreme_weights_answer_strict_json(client, sid, value):
    """Finite weights so large that z overflows are explained (inf and NaN as null); weights
    that are not finite are refused with a 422. Every answer is JSON a browser can parse."""
    session = client.app.state.store.live[sid].session
    session.net.layers[0].W[...] = value
    before = state_of(client, sid)
    for method, path, body in (("POST", "explain", {"index": 0}),
                               ("POST", "drivers", {"layer": 2, "j": 0, "k": 0, "top": 30}),
                               ("GET", "export.py", None),
                               ("GET", "export", None), ("GET", "", None)):
        response = client.request(method, f"/api/sessions/{sid}/{path}".rstrip("/"), json=body)
        assert response.status_code in (200, 422), (path, response.text[:300])
        if response.headers["content-type"].startswith("application/json"):
            json.loads(response.text, parse_constant=lambda name: pytest.fail(f"{name} in {path}"))
    assert state_of(client, sid)[:8] == before[:8]
    explained = client.post(f"/api/sessions/{sid}/explain", json={"index": 0})
    assert (explained.status_code == 200) == bool(np.isfinite(value))


def test_finite_weights_whose_loss_overflows_say_so_and_gradcheck_is_a_422(client):
    """Weights can stay finite while the loss does not (a last step to 1e200): the snapshot
    says training diverged, and gradcheck has no verdict to give (a 422, not a 500)."""
    sid = client.post("/api/sessions", json={**SMALL, "problem": "regression",
                                             "dataset": "plane"}).json()["session"]
    session = client.app.state.store.live[sid].session
    out = session.net.layers[-1]
    out.W[...], out.b[...] = 0.0, 1e200  # finite; 0.5 (a - y)^2 = 5e399 is not
    assert all(np.all(np.isfinite(p)) for p in session.net.params().values())
    snap = client.get(f"/api/sessions/{sid}").json()
    assert snap["loss_train"] is None and "diverged" in snap["error"]
    assert_4xx(client.post(f"/api/sessions/{sid}/gradcheck"), "network", "not finite")
