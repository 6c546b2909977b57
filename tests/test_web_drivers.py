"""POST /api/sessions/{id}/drivers: which training points drive a weight, through the API.

The answer must be glassnet.per_sample.weight_drivers' own numbers, its terms must be
``delta_ij a_prev_ik`` of the engine's backward pass, and over every training point they must
add up to the ``dW[j, k]`` that ``net.backprop`` leaves on the layer. Hostile requests are 4xx
answers that change nothing.
"""

import json
import math
import re

import numpy as np
import pytest

import glassnet.web.session
from glassnet.layers import walk
from glassnet.per_sample import weight_drivers
from glassnet.web.app import create_app
from web_client import page_client

NETWORKS = {
    "2-4-2-1 tanh": {},
    "residual": {"residual": True, "layers": [{"units": 3, "activation": "relu"}] * 3},
    "3 classes, softmax, dropout": {"dataset": "spiral3", "residual": True, "layers": [
        {"units": 5, "activation": "tanh", "dropout": 0.3},
        {"units": 5, "activation": "sigmoid", "dropout": 0.5}]},
    "regression": {"problem": "regression", "dataset": "multi_gauss",
                   "layers": [{"units": 4, "activation": "elu"}]},
    "no hidden layer": {"layers": [], "features": ["x1", "x2", "x1^2"]},
    "wide": {"layers": [{"units": 40, "activation": "relu"}], "n_samples": 200},
}


@pytest.fixture
def client():
    with page_client(create_app()) as c:
        yield c


def new_session(client, settings, epochs=1):
    sid = client.post("/api/sessions", json={"n_samples": 80, **settings}).json()["session"]
    for _ in range(epochs):
        client.post(f"/api/sessions/{sid}/step")
    return sid, client.app.state.store.live[sid].session


def weight_keys(net):
    """The weight matrices of net.params(), in forward order: W^1, W^2, ... (the columns)."""
    return [key for key in net.params() if key.endswith(".W")]


def drivers(client, sid, **body):
    return client.post(f"/api/sessions/{sid}/drivers", json=body)


def state_of(client, sid):
    session = client.app.state.store.live[sid].session
    snap = client.get(f"/api/sessions/{sid}").json()
    return (snap["settings"], snap["epoch"], snap["history"], snap["train"], session.net,
            session.optimizer, session.net.training, session.position,
            session.rng.bit_generator.state["state"],
            [p.tobytes() for p in session.net.params().values()])  # NaN equals itself


def some_entries(shape):
    n_out, n_in = shape
    return sorted({(0, 0), (n_out - 1, n_in - 1), (n_out // 2, n_in // 3)})


# ---------------------------------------------------------------- the numbers
@pytest.mark.parametrize("name", NETWORKS)
def test_the_terms_are_weight_drivers_own_and_add_up_to_backprops_dW(client, name):
    sid, session = new_session(client, NETWORKS[name])
    net, n = session.net, len(session.X_train)
    keys = weight_keys(net)
    assert len(keys) == len(session.drawn_layers()) == len(net.sizes) - 1
    for layer, key in enumerate(keys, 1):
        for j, k in some_entries(net.params()[key].shape):
            response = drivers(client, sid, layer=layer, j=j, k=k, top=n)
            assert response.status_code == 200, response.text
            got = response.json()
            expected = weight_drivers(net, session.X_train, session.y_train, key, (j, k), top=n)
            assert (got["key"], got["n"], got["layer"], got["j"], got["k"]) == (key, n, layer, j, k)
            assert got["total"] == expected.total and got["abs_total"] == expected.abs_total
            rows = got["drivers"]
            assert [r["index"] for r in rows] == expected.samples.tolist()
            assert [r["g"] for r in rows] == expected.per_sample.tolist()
            assert [r["contribution"] for r in rows] == expected.contributions.tolist()
            assert [r["share"] for r in rows] == expected.shares.tolist()
            assert [r["delta"] for r in rows] == expected.delta.tolist()
            assert [r["a_prev"] for r in rows] == expected.a_prev.tolist()
            assert got["text"] == expected.text()
            for r in rows:  # the point is the training point of that index
                assert r["point"] == session.points_train[r["index"]].tolist()
                assert r["y"] == float(session.y_train[r["index"]])
            # the engine's own backward pass on the whole training set
            net.backprop(session.X_train, session.y_train)
            dense = dict(walk(net.layers))[key.rsplit(".", 1)[0]]
            dW = float(dense.dW[j, k])
            assert got["grad"] == dW == float(net.grads()[key][j, k])
            terms = [r["contribution"] for r in rows]
            assert abs(math.fsum(terms) - dW) <= 1e-12 * got["abs_total"]
            own = dense.delta[:, j] * dense.a_prev[:, k]  # delta_ij a_prev_ik, row by row
            np.testing.assert_allclose(terms, own[[r["index"] for r in rows]], rtol=1e-12,
                                       atol=1e-15 * got["abs_total"])
            assert got["equation"] == f"dW^{layer}[{j},{k}] = sum_i delta_ij a_prev_ik"
            assert got["weight"] == float(net.params()[key][j, k])


def test_by_default_the_five_largest_terms_come_first(client):
    sid, session = new_session(client, {}, epochs=3)
    short = drivers(client, sid, layer=1, j=2, k=1).json()
    full = drivers(client, sid, layer=1, j=2, k=1, top=len(session.X_train)).json()
    assert short["top"] == 5 and len(short["drivers"]) == 5
    assert short["drivers"] == full["drivers"][:5]
    sizes = [abs(r["contribution"]) for r in full["drivers"]]
    assert sizes == sorted(sizes, reverse=True)
    assert [r["rank"] for r in short["drivers"]] == [1, 2, 3, 4, 5]
    assert math.fsum(r["share"] for r in full["drivers"]) == pytest.approx(1.0, rel=1e-12)
    assert short["epoch"] == 3 and short["source"] == "glassnet.per_sample.weight_drivers"
    assert short["call"] == "weight_drivers(net, X_train, y_train, '0.W', (2, 1), top=5)"


def test_a_residual_blocks_weight_is_its_inner_dense_layer(client):
    sid, _ = new_session(client, NETWORKS["residual"])
    assert [drivers(client, sid, layer=l, j=0, k=0).json()["key"] for l in (1, 2, 3, 4)] == [
        "0.W", "1.0.W", "2.0.W", "3.W"]


def test_a_points_index_is_the_one_explain_takes(client):
    sid, session = new_session(client, {})
    first = drivers(client, sid, layer=2, j=1, k=3).json()["drivers"][0]
    e = client.post(f"/api/sessions/{sid}/explain", json={"index": first["index"]}).json()
    assert e["part"] == "train"
    assert e["x"] == session.X_train[first["index"]].tolist() and e["y"] == first["y"]


@pytest.mark.parametrize("name", ["2-4-2-1 tanh", "residual", "3 classes, softmax, dropout"])
def test_each_term_is_the_gradient_explain_shows_for_that_point_alone(client, name):
    """explain(x_i, y_i) is the batch of one point: its dC/dW^l[j, k] is g_i = n delta_ij
    a_prev_ik and its delta^l[j] is n delta_ij, the numbers the drivers list for point i."""
    sid, session = new_session(client, NETWORKS[name])
    for layer in range(1, len(session.net.sizes)):
        j, k = session.net.sizes[layer] - 1, 0
        got = drivers(client, sid, layer=layer, j=j, k=k, top=3).json()
        for r in got["drivers"]:
            e = client.post(f"/api/sessions/{sid}/explain", json={"index": r["index"]}).json()
            values = {key: v for step in e["explanation"]["steps"]
                      for key, v in step["values"].items()}
            assert values[f"dC/dW^{layer}"]["values"][j][k] == pytest.approx(r["g"], rel=1e-12,
                                                                              abs=1e-15)
            assert values[f"delta^{layer}"]["values"][j] == pytest.approx(r["delta"],
                                                                          rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("regularization, rate", [("l2", 0.03), ("l1", 0.01)])
def test_the_penalty_comes_on_top_of_the_points_terms(client, regularization, rate):
    sid, session = new_session(client, {"regularization": regularization,
                                        "regularization_rate": rate})
    got = drivers(client, sid, layer=1, j=1, k=0, top=len(session.X_train)).json()
    W = session.net.params()["0.W"][1, 0]
    penalty = rate * W if regularization == "l2" else rate * np.sign(W)
    assert got["penalised"] and got["weight"] == W
    assert got["grad"] - got["total"] == pytest.approx(penalty, rel=1e-9)
    assert math.fsum(r["contribution"] for r in got["drivers"]) == pytest.approx(
        got["total"], rel=1e-12, abs=1e-15)
    sign = "sign(W^1[1,0])" if regularization == "l1" else "W^1[1,0]"
    assert got["equation"] == f"dW^1[1,0] = sum_i delta_ij a_prev_ik + {rate:g} {sign}"


def test_dropout_is_the_identity_the_answer_is_repeatable(client):
    sid, session = new_session(client, {"layers": [{"units": 6, "activation": "tanh",
                                                    "dropout": 0.9}]})
    before = state_of(client, sid)
    answers = [drivers(client, sid, layer=2, j=0, k=4, top=20).json() for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert state_of(client, sid) == before and session.net.training is False
    net = session.net
    expected = weight_drivers(net, session.X_train, session.y_train, "2.W", (0, 4), top=20)
    assert [r["contribution"] for r in answers[0]["drivers"]] == expected.contributions.tolist()


def test_a_request_changes_nothing_and_training_goes_on(client):
    sid, _ = new_session(client, {})
    before = state_of(client, sid)
    assert drivers(client, sid, layer=1, j=0, k=0).status_code == 200
    assert state_of(client, sid) == before
    assert client.post(f"/api/sessions/{sid}/step").json()["epoch"] == 2


# ---------------------------------------------------------------- hostile requests
SHAPES = {1: (4, 2), 2: (2, 4), 3: (1, 2)}  # the default 2-4-2-1 network; 40 training points
BAD = [
    ({}, "layer", "'layer' field is missing"),
    ({"layer": 1, "j": 0}, "k", "'k' field is missing"),
    ({"j": 0, "k": 0}, "layer", "missing"),
    ({"layer": 1, "j": 0, "k": 0, "x": 1}, "x", "Unknown field 'x'"),
    ({"layer": 1, "j": 0, "k": 0, "index": 0}, "index", "Unknown field"),
    ({"layer": 1, "j": 0, "k": 0, "Top": 3}, "Top", "Unknown field"),
    ({"layer": 1, "j": 0, "k": 0, "y" * 5000: 1}, "y" * 60, "Unknown field"),
    ({"layer": "1", "j": 0, "k": 0}, "layer", r"integer in \[1, 3\].* got '1'"),
    ({"layer": 1.0, "j": 0, "k": 0}, "layer", "got 1.0"),
    ({"layer": 1.5, "j": 0, "k": 0}, "layer", "integer"),
    ({"layer": True, "j": 0, "k": 0}, "layer", "got True"),
    ({"layer": 1, "j": False, "k": 0}, "j", "got False"),
    ({"layer": 1, "j": 0, "k": None}, "k", "got None"),
    ({"layer": 1, "j": [0], "k": 0}, "j", "integer"),
    ({"layer": 1, "j": {"j": 0}, "k": 0}, "j", "integer"),
    ({"layer": 1, "j": 0, "k": 1e300}, "k", "integer"),
    ({"layer": 0, "j": 0, "k": 0}, "layer", "input features, which have no weights"),
    ({"layer": 4, "j": 0, "k": 0}, "layer", r"\[1, 3\]"),
    ({"layer": -1, "j": 0, "k": 0}, "layer", r"\[1, 3\]"),
    ({"layer": 10**19, "j": 0, "k": 0}, "layer", "10000000000000000000"),
    ({"layer": -(10**19), "j": 0, "k": 0}, "layer", "integer"),
    ({"layer": 1, "j": 4, "k": 0}, "j", r"\[0, 3\] \(the neuron of layer 1 the weight leads to"),
    ({"layer": 1, "j": 0, "k": 2}, "k", r"\[0, 1\] \(the neuron of layer 0 it comes from"),
    ({"layer": 3, "j": 1, "k": 0}, "j", r"\[0, 0\]"),
    ({"layer": 2, "j": 0, "k": 4}, "k", r"\[0, 3\]"),
    ({"layer": 1, "j": -1, "k": 0}, "j", "integer"),
    ({"layer": 1, "j": 0, "k": 10**19}, "k", "integer"),
    ({"layer": 1, "j": 0, "k": 0, "top": 0}, "top", r"\[1, 40\]"),
    ({"layer": 1, "j": 0, "k": 0, "top": 41}, "top", r"\[1, 40\]"),
    ({"layer": 1, "j": 0, "k": 0, "top": True}, "top", "got True"),
    ({"layer": 1, "j": 0, "k": 0, "top": "all"}, "top", "integer"),
    ([1, 0, 0], "body", "Send"),
    ("layer 1", "body", "Send"),
    (7, "body", "Send"),
    (None, "body", "Send"),
]


@pytest.mark.parametrize("body, field, pattern", BAD, ids=range(len(BAD)))
def test_a_request_that_names_no_weight_is_a_422_that_changes_nothing(client, body, field,
                                                                      pattern):
    sid, session = new_session(client, {})
    assert {i + 1: p.shape for i, p in enumerate(session.net.params()[k]
                                                 for k in weight_keys(session.net))} == SHAPES
    before = state_of(client, sid)
    response = client.post(f"/api/sessions/{sid}/drivers", content=json.dumps(body).encode())
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"] == field and re.search(pattern, error["error"]), error
    assert len(error["error"]) < 400
    assert state_of(client, sid) == before


@pytest.mark.parametrize("raw, pattern", [
    (b'{"layer": 1, "j": 0, "k": NaN}', "NaN is not a JSON number"),
    (b'{"layer": 1, "j": Infinity, "k": 0}', "Infinity is not a JSON number"),
    (b'{"layer": ' + b"9" * 25 + b', "j": 0, "k": 0}', "integer of 25 digits"),
    (b'{"layer": 1, "j": 0, "k": 0', "not valid JSON"),
    (b"", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 50 + b"]" * 50, "nests"),
])
def test_malformed_json_is_a_400_that_changes_nothing(client, raw, pattern):
    sid, _ = new_session(client, {})
    before = state_of(client, sid)
    response = client.post(f"/api/sessions/{sid}/drivers", content=raw)
    assert response.status_code == 400 and response.json()["field"] == "body"
    assert re.search(pattern, response.json()["error"])
    assert state_of(client, sid) == before


def test_dropout_is_not_a_column(client):
    sid, session = new_session(client, {"layers": [{"units": 3, "activation": "tanh",
                                                    "dropout": 0.5}]})
    assert [layer.config()["type"] for layer in session.net.layers] == ["Dense", "Dropout",
                                                                        "Dense"]
    assert drivers(client, sid, layer=2, j=0, k=2).json()["key"] == "2.W"
    response = drivers(client, sid, layer=3, j=0, k=0)
    assert response.status_code == 422 and response.json()["field"] == "layer"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["0.W", "2.b"])
def test_diverged_weights_are_a_422_that_changes_nothing(client, bad, where):
    sid, session = new_session(client, {})
    session.net.params()[where].flat[0] = bad
    before = state_of(client, sid)
    response = drivers(client, sid, layer=1, j=0, k=0)
    assert response.status_code == 422 and response.json()["field"] == "network"
    assert "not finite" in response.json()["error"] and "gradient to take apart" in \
        response.json()["error"]
    assert state_of(client, sid) == before


@pytest.mark.parametrize("value", [1e300, -1e154, 1e30])
def test_huge_finite_weights_answer_strict_json(client, value):
    sid, session = new_session(client, {})
    session.net.params()["0.W"][...] = value
    response = drivers(client, sid, layer=2, j=0, k=0, top=40)
    assert response.status_code == 200
    json.loads(response.text, parse_constant=lambda name: pytest.fail(f"{name} in the answer"))


def test_a_refusal_by_weight_drivers_is_a_422_with_its_reason(client, monkeypatch):
    sid, _ = new_session(client, {})

    def refuse(*args, **kwargs):
        raise ValueError("per-sample gradients know the layer types Dense")

    monkeypatch.setattr(glassnet.web.session, "weight_drivers", refuse)
    response = drivers(client, sid, layer=1, j=0, k=0)
    assert response.status_code == 422 and response.json()["field"] == "network"
    assert "know the layer types Dense" in response.json()["error"]


def test_an_unknown_session_is_a_404(client):
    response = client.post("/api/sessions/nope/drivers", json={"layer": 1, "j": 0, "k": 0})
    assert response.status_code == 404 and response.json()["field"] == "session"
