"""The playground's JSON API through Starlette's TestClient: validation, limits, sessions, export."""

import io
import json
import re

import numpy as np
import pytest
from web_client import csv_body, page_client

import glassnet
import glassnet.web.session
from glassnet.cli import main
from glassnet.web.app import create_app
from glassnet.web.settings import Limits

SMALL = {"layers": [{"units": 4, "activation": "tanh"}], "n_samples": 100}


class Clock:
    """A settable clock for the expiry tests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(clock):
    limits = Limits(max_sessions=3, session_ttl_s=60, max_json_bytes=2000, max_csv_bytes=4000)
    with page_client(create_app(limits, clock=clock)) as c:
        yield c


@pytest.fixture
def sid(client):
    response = client.post("/api/sessions", json=SMALL)
    assert response.status_code == 201
    return response.json()["session"]


def store(client):
    return client.app.state.store


# ---------------------------------------------------------------- the page and the options
def test_index_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "glassnet playground" in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text  # no CDN


def test_options_list_the_limits_and_choices(client):
    options = client.get("/api/options").json()
    assert options["limits"]["max_hidden_layers"] == 10
    assert options["limits"]["max_units"] == 128
    assert set(options["datasets"]) >= {"circles", "xor", "gauss", "spiral", "moons", "plane",
                                        "multi_gauss"}
    assert options["features"] == ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
    assert options["optimizers"] == ["sgd", "momentum", "adam", "rmsprop", "adagrad"]


def test_a_new_session_has_the_requested_network(client):
    snap = client.post("/api/sessions", json=SMALL).json()
    assert snap["sizes"] == [2, 4, 1]
    assert snap["epoch"] == 0 and len(snap["train"]) == 50 and len(snap["test"]) == 50
    assert len(snap["delta_norms"]) == 2 and len(snap["neurons"]) == 2
    assert len(snap["boundary"]) == 4 * ((50 * 50 + 2) // 3)  # base64 of 50x50 bytes


def test_an_empty_body_gives_the_defaults(client):
    snap = client.post("/api/sessions").json()
    assert snap["settings"]["dataset"] == "circles" and snap["sizes"] == [2, 4, 2, 1]


# ---------------------------------------------------------------- validation: one case per rule
BAD_SETTINGS = [
    ({"colour": "red"}, "colour", "Unknown setting"),
    ({"dataset": "mnist"}, "dataset", "must be one of"),
    ({"dataset": "plane"}, "dataset", "is for regression"),
    ({"problem": "regression"}, "dataset", "is for classification"),
    ({"problem": "ranking"}, "problem", "must be one of"),
    ({"optimizer": "adamw"}, "optimizer",
     "must be one of 'sgd', 'momentum', 'adam', 'rmsprop', 'adagrad'; got 'adamw'"),
    ({"optimizer": "Adam"}, "optimizer", "must be one of"),
    ({"regularization": "l3"}, "regularization", "must be one of"),
    ({"n_samples": 9}, "n_samples", r"in \[10, 2000\]"),
    ({"n_samples": 2001}, "n_samples", r"in \[10, 2000\]"),
    ({"n_samples": 100.5}, "n_samples", "must be an integer"),
    ({"n_samples": True}, "n_samples", "must be an integer"),
    ({"seed": -1}, "seed", "must be an integer"),
    ({"batch_size": 0}, "batch_size", r"in \[1, 1000\]"),
    ({"batch_size": 1001}, "batch_size", r"in \[1, 1000\]"),
    ({"grid": 9}, "grid", r"in \[10, 100\]"),
    ({"grid": 101}, "grid", r"in \[10, 100\]"),
    ({"noise": -0.1}, "noise", r"in \[0, 0.5\]"),
    ({"noise": 0.6}, "noise", r"in \[0, 0.5\]"),
    ({"noise": "lots"}, "noise", "must be a number"),
    ({"train_ratio": 0.05}, "train_ratio", r"in \[0.1, 0.9\]"),
    ({"train_ratio": 0.95}, "train_ratio", r"in \[0.1, 0.9\]"),
    ({"learning_rate": 0}, "learning_rate", r"in \(0, 10\]"),
    ({"learning_rate": 11}, "learning_rate", r"in \(0, 10\]"),
    ({"regularization_rate": 2}, "regularization_rate", r"in \[0, 1\]"),
    ({"residual": "yes"}, "residual", "true or false"),
    ({"features": []}, "features", "non-empty list"),
    ({"features": ["x1", "x3"]}, "features", "must be one of"),
    ({"features": ["x1", "x1"]}, "features", "twice"),
    ({"layers": "4,2"}, "layers", "must be a list"),
    ({"layers": [{"units": 2}] * 11}, "layers", "at most 10 hidden layers; got 11 layers"),
    ({"layers": [{"units": 0}]}, "layers[0].units", r"in \[1, 128\]"),
    ({"layers": [{"units": 129}]}, "layers[0].units", r"in \[1, 128\]"),
    ({"layers": [{"units": 4, "activation": "softmax"}]}, "layers[0].activation", "must be one of"),
    ({"layers": [{"units": 4, "bias": False}]}, "layers", "must be an object"),
    ({"layers": [4]}, "layers", "must be an object"),
    ({"layers": [{"units": 4, "dropout": -0.1}]}, "layers[0].dropout", r"in \[0, 0.9\]"),
    ({"layers": [{"units": 4, "dropout": 0.95}]}, "layers[0].dropout", r"in \[0, 0.9\]"),
    ({"layers": [{"units": 4, "dropout": 1}]}, "layers[0].dropout", r"in \[0, 0.9\]"),
    ({"layers": [{"units": 4}, {"units": 2, "dropout": "0.2"}]}, "layers[1].dropout",
     "must be a number"),
    ({"layers": [{"units": 4, "dropout": True}]}, "layers[0].dropout", "must be a number"),
    ({"layers": [{"units": 4, "dropout": None}]}, "layers[0].dropout", "must be a number"),
    ({"layers": [{"units": 4, "dropout": [0.2]}]}, "layers[0].dropout", "must be a number"),
    ({"dataset": "spiral3", "problem": "regression"}, "dataset", "is for classification"),
]


@pytest.mark.parametrize("body, field, message", BAD_SETTINGS,
                         ids=[f"{i}-{case[1]}" for i, case in enumerate(BAD_SETTINGS)])
def test_bad_settings_are_refused_with_the_field_and_a_message(client, sid, body, field, message):
    for response in (client.post("/api/sessions", json=body),
                     client.put(f"/api/sessions/{sid}/settings", json=body)):
        assert response.status_code == 422
        error = response.json()
        assert error["field"] == field
        assert re.search(message, error["error"])


def test_a_refused_change_leaves_the_session_as_it_was(client, sid):
    before = client.get(f"/api/sessions/{sid}").json()
    client.put(f"/api/sessions/{sid}/settings", json={"layers": [{"units": 500}]})
    after = client.get(f"/api/sessions/{sid}").json()
    assert after["settings"] == before["settings"] and after["sizes"] == before["sizes"]


def test_the_largest_network_is_allowed(client, sid):
    layers = [{"units": 128, "activation": "relu"}] * 10
    snap = client.put(f"/api/sessions/{sid}/settings", json={"layers": layers}).json()
    assert snap["sizes"] == [2] + [128] * 10 + [1]
    assert all(len(maps) <= 16 for maps in snap["neurons"])  # the diagram draws 16 a layer


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe"])
def test_malformed_json_is_a_400(client, sid, body):
    response = client.put(f"/api/sessions/{sid}/settings", content=body)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


def test_settings_must_be_an_object(client):
    response = client.post("/api/sessions", json=[1, 2])
    assert response.status_code == 422 and "JSON object" in response.json()["error"]


def test_oversized_json_is_refused_from_its_content_length(client, sid):
    body = json.dumps({"features": ["x1"] * 1000})
    for response in (client.post("/api/sessions", content=body),
                     client.put(f"/api/sessions/{sid}/settings", content=body)):
        assert response.status_code == 413
        assert "6014 bytes; the limit is 2000" in response.json()["error"]


def test_oversized_json_without_a_length_is_cut_off_while_read(client, sid):
    chunks = iter([b"[" + b"1," * 600, b"1," * 600 + b"1]"])  # chunked: no Content-Length
    response = client.put(f"/api/sessions/{sid}/settings", content=chunks)
    assert response.status_code == 413 and "over the limit of 2000" in response.json()["error"]


def test_the_number_of_sessions_is_bounded(client):
    for _ in range(3):
        assert client.post("/api/sessions", json=SMALL).status_code == 201
    response = client.post("/api/sessions", json=SMALL)
    assert response.status_code == 503 and "its limit" in response.json()["error"]


def test_unknown_sessions_and_routes_are_json_404s(client):
    response = client.get("/api/sessions/nope")
    assert response.status_code == 404 and response.json()["field"] == "session"
    assert client.post("/api/sessions/nope/step").status_code == 404
    response = client.get("/api/nothing")
    assert response.status_code == 404 and response.json()["error"] == "Not Found"


def test_a_session_cannot_start_on_uploaded_data(client):
    response = client.post("/api/sessions", json={"dataset": "custom"})
    assert response.status_code == 422 and "upload a CSV" in response.json()["error"]


def test_custom_data_needs_an_upload_first(client, sid):
    response = client.put(f"/api/sessions/{sid}/settings", json={"dataset": "custom"})
    assert response.status_code == 422 and "uploaded CSV first" in response.json()["error"]


# ---------------------------------------------------------------- CSV upload
def csv_text(rows):
    return "x1,x2,label\n" + "\n".join(",".join(map(str, row)) for row in rows) + "\n"


def good_rows(n=40, regression=False):
    rng = np.random.default_rng(0)
    points = rng.uniform(-3, 3, (n, 2))
    labels = points.sum(1) / 6 if regression else (points[:, 0] * points[:, 1] > 0).astype(int)
    return [[round(a, 3), round(b, 3), round(c, 3) if regression else c]
            for (a, b), c in zip(points, labels)]


@pytest.mark.parametrize("body, message", [
    ("x1,label\n1,0\n2,1\n", "header (line 1) names 2 columns; it needs 3"),
    ("1,0\n2,1\n", "line 1 has 2 fields; every row needs 3"),
    (csv_text(good_rows(5)), "between 10 and 2000 rows"),
    (csv_text([[1, "abc", 0]] * 20), "line 2, column 'x2': 'abc' is not a number"),
    ("", "between 10 and 2000 rows of data; it has 0"),
])
def test_bad_csv_uploads_are_422s(client, sid, body, message):
    response = client.post(f"/api/sessions/{sid}/data", json=csv_body(body))
    assert response.status_code == 422
    assert response.json()["field"] == "csv" and message in response.json()["error"]


def test_an_oversized_csv_is_a_413(client, sid):
    response = client.post(f"/api/sessions/{sid}/data", json=csv_body("1,2,0\n" * 1000))
    assert response.status_code == 413
    assert "The CSV is 6000 bytes; the limit is 4000" in response.json()["error"]


def test_a_good_csv_becomes_the_data_set(client, sid):
    snap = client.post(f"/api/sessions/{sid}/data", json=csv_body(csv_text(good_rows()))).json()
    assert snap["settings"]["dataset"] == "custom" and snap["settings"]["problem"] == "classification"
    assert len(snap["train"]) + len(snap["test"]) == 40 and snap["custom_rows"] == 40
    assert snap["domain"] <= 3.5
    snap = client.post(f"/api/sessions/{sid}/data",
                       json=csv_body(csv_text(good_rows(regression=True)))).json()
    assert snap["settings"]["problem"] == "regression"
    assert client.post(f"/api/sessions/{sid}/step").json()["epoch"] == 1


@pytest.mark.parametrize("labels, classes", [
    ([0, 1, 2], [0, 1, 2]), ([-1, 0, 1], [-1, 0, 1]), ([3, 7, 9], [3, 7, 9]),
    ([0, 1, 2, 3, 4, 5, 6, 7], list(range(8))), ([-1, 1], [-1, 1]), ([5, 2], [2, 5]),
])
def test_an_upload_with_several_classes_is_a_classification_of_those_classes(client, sid, labels,
                                                                             classes):
    rows = [[round(0.1 * i, 3), round(0.07 * i % 3, 3), labels[i % len(labels)]]
            for i in range(8 * len(labels))]
    snap = client.post(f"/api/sessions/{sid}/data", json=csv_body(csv_text(rows))).json()
    assert snap["settings"]["problem"] == "classification" and snap["classes"] == classes
    assert snap["sizes"][-1] == (1 if len(classes) == 2 else len(classes))
    session = store(client).live[sid].session
    assert session.net.classes == classes
    original = {tuple(r[:2]): r[2] for r in rows}
    for x1, x2, index in snap["train"] + snap["test"]:  # points carry the class index
        assert classes[int(index)] == original[(x1, x2)]
    assert set(session.net.predict(session.X_test)) <= set(classes)
    assert client.post(f"/api/sessions/{sid}/step").json()["error"] is None
    regression = client.put(f"/api/sessions/{sid}/settings", json={"problem": "regression"})
    assert regression.json()["classes"] is None  # the labels' own values as the target
    assert sorted({y for *_, y in regression.json()["train"]}) == sorted(set(labels))


@pytest.mark.parametrize("labels, reason", [
    (list(range(9)), "nine classes: more than the palette's 8"),
    ([0.5, 1.5], "not whole numbers"),
    ([0] * 36 + [1, 2, 3, 4], "most values once: an ID or a quantity (not_labels)"),
])
def test_labels_that_are_not_a_few_classes_make_a_regression(client, sid, labels, reason):
    rows = [[round(0.1 * i, 3), 0.5, labels[i % len(labels)]] for i in range(max(40, len(labels)))]
    snap = client.post(f"/api/sessions/{sid}/data", json=csv_body(csv_text(rows))).json()
    assert snap["settings"]["problem"] == "regression" and snap["classes"] is None, reason
    response = client.put(f"/api/sessions/{sid}/settings", json={"problem": "classification"})
    assert response.status_code == 422 and "not class labels" in response.json()["error"]


def test_a_failed_upload_leaves_the_session_working(client, sid):
    client.post(f"/api/sessions/{sid}/data", json=csv_body("garbage"))
    snap = client.post(f"/api/sessions/{sid}/step").json()
    assert snap["epoch"] == 1 and snap["settings"]["dataset"] == "circles"


# ---------------------------------------------------------------- sessions
def test_sessions_are_isolated(client):
    a = client.post("/api/sessions", json=SMALL).json()["session"]
    b = client.post("/api/sessions", json=SMALL).json()["session"]
    client.put(f"/api/sessions/{a}/settings", json={"layers": [{"units": 7, "activation": "relu"}]})
    for _ in range(3):
        client.post(f"/api/sessions/{a}/step")
    snap_a, snap_b = client.get(f"/api/sessions/{a}").json(), client.get(f"/api/sessions/{b}").json()
    assert snap_a["sizes"] == [2, 7, 1] and snap_b["sizes"] == [2, 4, 1]
    assert snap_a["epoch"] == 3 and snap_b["epoch"] == 0
    net_a, net_b = (store(client).live[s].session.net for s in (a, b))
    assert net_a is not net_b
    fresh = glassnet.web.session.build_network(store(client).live[b].session.settings)
    for key, value in net_b.params().items():  # b's weights are still its initial ones
        np.testing.assert_array_equal(value, fresh.params()[key])


def test_idle_sessions_expire(client, clock, sid):
    clock.now += 59
    assert client.get(f"/api/sessions/{sid}").status_code == 200  # touched: 60 s more
    clock.now += 61
    response = client.get(f"/api/sessions/{sid}")
    assert response.status_code == 404 and "expired" in response.json()["error"]
    assert sid not in store(client).live


def test_expired_sessions_free_their_places(client, clock):
    for _ in range(3):
        client.post("/api/sessions", json=SMALL)
    clock.now += 61
    assert client.post("/api/sessions", json=SMALL).status_code == 201
    assert len(store(client).live) == 1


def test_a_session_with_an_open_stream_does_not_expire(client, clock, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream"):
        clock.now += 1000
        client.post("/api/sessions", json=SMALL)  # sweeps
        assert sid in store(client).live
    clock.now += 1000
    assert client.get(f"/api/sessions/{sid}").status_code == 404


def test_a_stream_to_an_unknown_session_is_closed(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as info, \
            client.websocket_connect("/api/sessions/nope/stream") as ws:
        ws.receive_text()
    assert info.value.code == 4404


def test_delete_ends_a_session(client, sid):
    assert client.delete(f"/api/sessions/{sid}").status_code == 200
    assert client.get(f"/api/sessions/{sid}").status_code == 404


# ---------------------------------------------------------------- training
def test_step_trains_one_epoch_and_reset_starts_again(client, sid):
    first = client.get(f"/api/sessions/{sid}").json()
    snap = client.post(f"/api/sessions/{sid}/step").json()
    assert snap["epoch"] == 1 and snap["loss_train"] != first["loss_train"]
    assert len(snap["history"]) == 2
    snap = client.post(f"/api/sessions/{sid}/reset").json()
    assert snap["epoch"] == 0 and snap["loss_train"] == pytest.approx(first["loss_train"])
    assert snap["history"] == [[0, first["loss_train"], first["loss_test"]]]


def test_play_streams_frames_until_pause(client, sid):
    assert client.post(f"/api/sessions/{sid}/play").json()["playing"] is True
    epochs = []
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        while len(epochs) < 5 or (epochs[-1] == epochs[0] and len(epochs) < 500):
            frame = json.loads(ws.receive_text())  # on a busy machine an epoch takes more frames
            epochs.append(frame["epoch"])
            ws.send_text("ack")
    assert frame["type"] == "frame" and frame["playing"] is True
    assert epochs == sorted(epochs) and epochs[-1] > epochs[0]
    snap = client.post(f"/api/sessions/{sid}/pause").json()
    assert snap["playing"] is False and snap["epoch"] >= epochs[-1]
    assert client.get(f"/api/sessions/{sid}").json()["epoch"] == snap["epoch"]  # stopped


def test_changing_the_learning_rate_keeps_the_weights(client, sid):
    client.post(f"/api/sessions/{sid}/step")
    snap = client.put(f"/api/sessions/{sid}/settings", json={"learning_rate": 0.1}).json()
    assert snap["epoch"] == 1 and snap["settings"]["learning_rate"] == 0.1
    snap = client.put(f"/api/sessions/{sid}/settings", json={"noise": 0.2}).json()
    assert snap["epoch"] == 0  # new data: new weights


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "rmsprop", "adagrad"])
def test_every_optimiser_trains_circles_to_a_lower_loss(client, sid, optimizer):
    snap = client.put(f"/api/sessions/{sid}/settings",
                      json={"optimizer": optimizer, "learning_rate": 0.03}).json()
    assert snap["settings"]["optimizer"] == optimizer and snap["epoch"] == 0
    start = snap["loss_train"]
    for _ in range(5):
        snap = client.post(f"/api/sessions/{sid}/step").json()
    assert snap["epoch"] == 5 and snap["error"] is None
    assert snap["loss_train"] < start
    assert client.get(f"/api/sessions/{sid}").json()["settings"]["optimizer"] == optimizer


def test_changing_the_optimiser_keeps_the_weights(client, sid):
    client.post(f"/api/sessions/{sid}/step")
    snap = client.put(f"/api/sessions/{sid}/settings", json={"optimizer": "adam"}).json()
    assert snap["epoch"] == 1 and snap["settings"]["optimizer"] == "adam"
    assert store(client).live[sid].session.optimizer.iterations == 0


def test_divergence_stops_training_with_a_message(client, sid):
    session = store(client).live[sid].session
    session.net.layers[0].W[...] = np.nan
    snap = client.post(f"/api/sessions/{sid}/step").json()
    assert "diverged" in snap["error"]
    response = client.post(f"/api/sessions/{sid}/play")
    assert response.status_code == 409 and "Lower the learning rate" in response.json()["error"]
    assert client.post(f"/api/sessions/{sid}/reset").json()["error"] is None


# ---------------------------------------------------------------- tools
def test_gradcheck_reports_every_tensor(client, sid):
    report = client.post(f"/api/sessions/{sid}/gradcheck").json()
    assert report["passed"] and not report["fast"]
    assert [(r["layer"], r["tensor"]) for r in report["rows"]] == [
        ("0", "W"), ("0", "b"), ("1", "W"), ("1", "b"), ("-", "input")]
    assert "gradcheck PASSED" in report["table"]


def test_explain_answers_glassnet_explain_of_the_point(client, sid):
    client.post(f"/api/sessions/{sid}/step")
    e = client.post(f"/api/sessions/{sid}/explain", json={"index": 3}).json()
    session = store(client).live[sid].session
    x, y, part = session.point(3)
    assert e["source"] == "glassnet.explain" and e["part"] == part == "train"
    assert e["epoch"] == 1 and e["x"] == x.tolist() and e["y"] == y
    expected = glassnet.explain(session.net, x, y, learning_rate=session.settings.learning_rate)
    assert e["text"] == str(expected)
    test_index = len(session.X_train)
    assert client.post(f"/api/sessions/{sid}/explain", json={"index": test_index}).json()["part"] == "test"


def test_explain_passes_the_point_and_the_learning_rate(client, sid, monkeypatch):
    calls = []

    def fake_explain(net, x, y, learning_rate):
        calls.append((net, x.shape, learning_rate))
        return glassnet.explain(net, x, y, learning_rate=learning_rate)

    monkeypatch.setattr(glassnet.web.session, "glassnet_explain", fake_explain)
    client.put(f"/api/sessions/{sid}/settings", json={"learning_rate": 0.3})
    e = client.post(f"/api/sessions/{sid}/explain", json={"index": 0}).json()
    assert e["explanation"]["learning_rate"] == 0.3 and len(calls) == 1
    assert calls[0][0] is store(client).live[sid].session.net and calls[0][1:] == ((2,), 0.3)


@pytest.mark.parametrize("body, message", [
    ({"index": -1}, "in \\[0, 99\\]"), ({"index": 100}, "in \\[0, 99\\]"),
    ({"index": "3"}, "must be an integer"), ({"point": 3}, "Send"), ([3], "Send"),
])
def test_explain_validates_the_index(client, sid, body, message):
    response = client.post(f"/api/sessions/{sid}/explain", json=body)
    assert response.status_code == 422
    assert re.search(message, response.json()["error"])


def test_export_round_trip(client, sid, tmp_path):
    client.post(f"/api/sessions/{sid}/step")
    response = client.get(f"/api/sessions/{sid}/export")
    assert response.status_code == 200
    assert 'filename="glassnet-playground-circles.npz"' in response.headers["content-disposition"]
    path = tmp_path / "model.npz"
    path.write_bytes(response.content)
    net = glassnet.load(path)
    session = store(client).live[sid].session
    np.testing.assert_allclose(net.forward(session.X_test), session.net.forward(session.X_test))
    _, extra, _ = glassnet.io.load_with_extra(path)
    assert extra["features"] == ["x1", "x2"] and extra["epoch"] == 1
    assert np.load(io.BytesIO(response.content), allow_pickle=False)["0.W"].shape == (4, 2)


# ---------------------------------------------------------------- the command
def test_the_command_refuses_a_public_host_without_the_flag(capsys):
    assert main(["playground", "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_the_command_serves_on_loopback_and_warns_for_other_hosts(capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(glassnet.web, "serve", lambda host, port: calls.append((host, port)))
    assert main(["playground"]) == 0
    assert calls[-1] == ("127.0.0.1", 8000) and "warning" not in capsys.readouterr().err
    assert main(["playground", "--host", "0.0.0.0", "--port", "9000", "--allow-remote"]) == 0
    assert calls[-1] == ("0.0.0.0", 9000) and "warning" in capsys.readouterr().err


# ---------------------------------------------------------------- residual blocks
def test_the_residual_switch_keeps_the_first_layers_gradient_alive(client, sid):
    """The 9-layer sigmoid stack: ||delta^1|| is orders of magnitude larger with the skips."""
    nine = {"layers": [{"units": 4, "activation": "sigmoid"}] * 9, "n_samples": 200}
    plain = client.put(f"/api/sessions/{sid}/settings", json={**nine, "residual": False}).json()
    skip = client.put(f"/api/sessions/{sid}/settings", json={**nine, "residual": True}).json()
    assert skip["residual"] == [False] + [True] * 8 + [False]
    assert plain["delta_norms"][0] < 1e-6 and skip["delta_norms"][0] > 1e-4
    assert skip["delta_norms"][0] / plain["delta_norms"][0] > 1e4
    for _ in range(3):
        snap = client.post(f"/api/sessions/{sid}/step").json()
    assert snap["delta_norms"][0] > 1e-4 and snap["error"] is None
